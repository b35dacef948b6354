import assert from "node:assert/strict";
import {
  failureText,
  indexHtml,
  type LessonResult,
  progressOutcome,
  progressPrefix,
  summaryTable,
} from "./report.ts";

const ok: LessonResult = {
  lesson: "00_tour",
  path: "notebooks/00_tour.ipynb",
  status: "ok",
  seconds: 12.44,
  exercises: [
    { exercise: "pte bits", status: "unsolved", passed: 0, total: 3 },
    { exercise: "walk", status: "solved", passed: 2, total: 2 },
  ],
  files: { notebook: "00_tour.ipynb", html: "00_tour.html" },
};

const failed: LessonResult = {
  lesson: "01_<fork>",
  path: "notebooks/01_<fork>.ipynb",
  status: "failed",
  seconds: 3.06,
  failure: {
    cell: 4,
    firstLine: "p.read(a)",
    error: "Error: <boom>",
    details: ["    at <anonymous>:1:3"],
  },
  exercises: [],
  files: {},
};

Deno.test("progress lines show status, time and exercises", () => {
  assert.equal(progressPrefix(1, 3, "00_tour"), "[1/3] 00_tour … ");
  assert.equal(progressOutcome(ok), "ok 12.4 s, exercises 1/2 solved");
  assert.equal(
    progressOutcome(failed),
    "FAILED 3.1 s, no exercises\n    cell 4 (p.read(a)): Error: <boom>\n          at <anonymous>:1:3",
  );
});

Deno.test("failureText() works without a cell", () => {
  assert.equal(failureText({ error: "not JSON", details: [] }), "not JSON");
});

Deno.test("summaryTable() lines up one row per lesson", () => {
  assert.equal(
    summaryTable([ok, failed], "out/index.html"),
    [
      "Lessons (report: out/index.html):",
      "  lesson     status  time    exercises   failing cell",
      "  00_tour    ok      12.4 s  1/2 solved",
      "  01_<fork>  FAILED  3.1 s   –           cell 4 (p.read(a)): Error: <boom>",
      "2 lessons: 1 ok, 1 failed",
    ].join("\n"),
  );
});

Deno.test("summaryTable() says 1 lesson", () => {
  assert.match(summaryTable([ok], "index.html"), /\n1 lesson: 1 ok, 0 failed$/);
});

Deno.test("indexHtml() escapes text and links only files that exist", () => {
  const html = indexHtml([ok, failed], new Date("2025-01-02T03:04:05Z"));
  assert.match(html, /<a href="00_tour\.html">HTML<\/a> <a href="00_tour\.ipynb">notebook<\/a>/);
  assert.match(html, /<td>01_&#60;fork&#62;<\/td>/);
  assert.match(html, /<code>cell 4 \(p\.read\(a\)\): Error: &#60;boom&#62;<\/code>/);
  assert.match(html, /<li class="unsolved">pte bits: unsolved \(0\/3\)<\/li>/);
  assert.match(html, /2 lessons: 1 ok, 1 failed\.\nRun 2025-01-02T03:04:05\.000Z/);
  assert.equal((html.match(/<a /g) ?? []).length, 2);
});
