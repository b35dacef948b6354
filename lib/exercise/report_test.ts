import assert from "node:assert/strict";
import { defineExercise, runCases, todo } from "./exercise.ts";
import { ExerciseReport, reportHtml, reportText } from "./report.ts";
import { formatValue } from "./format.ts";

const exercise = defineExercise<string, string>({
  id: "upper",
  title: "Upper <case>",
  cases: [
    { name: "a & b", input: "a&b", expected: "A&B" },
    { name: "secret", input: "xyz", expected: "XYZ", hidden: true },
  ],
});

Deno.test("reportText() aligns the table and hides hidden cases", () => {
  const result = runCases(exercise, (s) => s === "xyz" ? "?" : s.toUpperCase());
  assert.equal(
    reportText(result, formatValue),
    [
      "Exercise upper: Upper <case> — failed, 1/2 cases passed",
      "   case           input   expected  got",
      "-  -------------  ------  --------  ------",
      `✓  a & b          "a&b"   "A&B"     "A&B"`,
      "✗  hidden case 1  hidden  hidden    failed",
    ].join("\n"),
  );
});

Deno.test("reportHtml() escapes cells and marks each row's status", () => {
  const html = reportHtml(runCases(exercise, (s) => s.toUpperCase()), formatValue);
  assert.match(html, /<strong>Upper &lt;case&gt;<\/strong>/);
  assert.match(html, /&quot;a&amp;b&quot;/);
  assert.equal([...html.matchAll(/data-status="pass"/g)].length, 2);
  assert.doesNotMatch(html, /xyz|secret/);
});

Deno.test("ExerciseReport prints its text table in the console", () => {
  const report = new ExerciseReport(runCases(exercise, () => todo()), formatValue);
  assert.match(Deno.inspect(report), /^Exercise upper: Upper <case> — not solved yet/);
  assert.match(report.html, /data-status="todo"/);
});
