/**
 * Reporting lesson runs: the progress line per lesson, the summary table at
 * the end, and `out/index.html`.
 * @module
 */
import { cellLabel, type ExerciseResult, exerciseSummary } from "./outcome.ts";

/** Why a lesson failed. `cell` is counted from 1 over all cells, when known. */
export interface LessonFailure {
  cell?: number;
  firstLine?: string;
  error: string;
  details: string[];
}

/** The outcome of running one lesson. */
export interface LessonResult {
  lesson: string;
  /** The notebook that was run. */
  path: string;
  status: "ok" | "failed";
  seconds: number;
  failure?: LessonFailure;
  exercises: ExerciseResult[];
  /** File names in the output directory (absent if not written). */
  files: { notebook?: string; html?: string };
}

/** `[2/5] 01_fork … ` — printed before a lesson runs. */
export function progressPrefix(position: number, count: number, lesson: string): string {
  return `[${position}/${count}] ${lesson} … `;
}

/** `ok 12.4 s, exercises 0/2 solved`, then the failure on indented lines. */
export function progressOutcome(result: LessonResult, detailLines = 6): string {
  const head = `${result.status === "ok" ? "ok" : "FAILED"} ${seconds(result)}, ${
    exerciseSummary(result.exercises)
  }`;
  if (!result.failure) return head;
  const details = result.failure.details.slice(0, detailLines).map((line) => `      ${line}`);
  return [head, `    ${failureText(result.failure)}`, ...details].join("\n");
}

/** `cell 4 (p.read(a)): Error: boom`, or just the error if no cell is known. */
export function failureText(failure: LessonFailure): string {
  if (failure.cell === undefined) return failure.error;
  return `${cellLabel(failure.cell, failure.firstLine ?? "")}: ${failure.error}`;
}

function seconds(result: LessonResult): string {
  return `${result.seconds.toFixed(1)} s`;
}

function exerciseColumn(result: LessonResult): string {
  const { exercises } = result;
  return exercises.length === 0 ? "–" : exerciseSummary(exercises).replace(/^exercises /, "");
}

/** The end-of-run table, one row per lesson, plus a count line. */
export function summaryTable(results: readonly LessonResult[], indexPath: string): string {
  const header = ["lesson", "status", "time", "exercises", "failing cell"];
  const rows = results.map((r) => [
    r.lesson,
    r.status === "ok" ? "ok" : "FAILED",
    seconds(r),
    exerciseColumn(r),
    r.failure ? failureText(r.failure) : "",
  ]);
  const widths = header.map((_, c) => Math.max(...[header, ...rows].map((row) => row[c].length)));
  const line = (row: string[]) =>
    ("  " + row.map((cell, c) => cell.padEnd(widths[c])).join("  ")).trimEnd();
  const failed = results.filter((r) => r.status !== "ok").length;
  return [
    `Lessons (report: ${indexPath}):`,
    line(header),
    ...rows.map(line),
    `${lessonCount(results.length)}: ${results.length - failed} ok, ${failed} failed`,
  ].join("\n");
}

function lessonCount(count: number): string {
  return count === 1 ? "1 lesson" : `${count} lessons`;
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function link(file: string | undefined, label: string): string {
  return file ? `<a href="${escapeHtml(encodeURI(file))}">${label}</a>` : "";
}

function exerciseCell(exercises: readonly ExerciseResult[]): string {
  if (exercises.length === 0) return "–";
  const items = exercises.map((e) =>
    `<li class="${e.status}">${escapeHtml(e.exercise)}: ${e.status} (${e.passed}/${e.total})</li>`
  );
  return `${escapeHtml(exerciseSummary(exercises))}<ul>${items.join("")}</ul>`;
}

function failureCell(failure: LessonFailure | undefined): string {
  if (!failure) return "";
  const details = failure.details.length === 0
    ? ""
    : `<pre>${escapeHtml(failure.details.join("\n"))}</pre>`;
  return `<code>${escapeHtml(failureText(failure))}</code>${details}`;
}

/** `out/index.html`: every lesson of the run with status, time, failure, exercises, links. */
export function indexHtml(results: readonly LessonResult[], generated: Date): string {
  const rows = results.map((r) =>
    `<tr class="${r.status}">
  <td>${escapeHtml(r.lesson)}</td>
  <td>${r.status === "ok" ? "ok" : "FAILED"}</td>
  <td>${seconds(r)}</td>
  <td>${failureCell(r.failure)}</td>
  <td>${exerciseCell(r.exercises)}</td>
  <td>${link(r.files.html, "HTML")} ${link(r.files.notebook, "notebook")}</td>
</tr>`
  );
  const failed = results.filter((r) => r.status !== "ok").length;
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>mm-lab lessons</title>
<style>
  body { font-family: system-ui, sans-serif; margin: 2rem; }
  table { border-collapse: collapse; }
  th, td { border: 1px solid #ccc; padding: 0.3rem 0.6rem; text-align: left; vertical-align: top; }
  tr.failed td:nth-child(2) { color: #b00020; font-weight: bold; }
  tr.ok td:nth-child(2) { color: #1b5e20; }
  pre { margin: 0.3rem 0 0; font-size: 85%; white-space: pre-wrap; }
  ul { margin: 0.2rem 0 0; padding-left: 1.2rem; }
  li.solved { color: #1b5e20; } li.failed { color: #b00020; }
</style>
</head>
<body>
<h1>mm-lab lessons</h1>
<p>${lessonCount(results.length)}: ${results.length - failed} ok, ${failed} failed.
Run ${escapeHtml(generated.toISOString())} with <code>deno task lessons</code>.</p>
<table>
<tr><th>Lesson</th><th>Status</th><th>Time</th><th>Failing cell</th><th>Exercises</th><th>Output</th></tr>
${rows.join("\n")}
</table>
</body>
</html>
`;
}
