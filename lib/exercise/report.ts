/**
 * The pass/fail table of an exercise check, as HTML, plain text and the
 * JSON record that the lesson runner collects.
 *
 * @module
 */
import { $display, type Displayable, type MediaBundle } from "../plot/display.ts";
import { textTable } from "../plot/_text_table.ts";
import type { CaseResult, CaseStatus, ExerciseResult, ExerciseStatus } from "./exercise.ts";

/** Media type of the record collected by the lesson runner. */
export const EXERCISE_MEDIA_TYPE = "application/vnd.mm-lab.exercise+json";

/** The record under {@linkcode EXERCISE_MEDIA_TYPE}. */
export interface ExerciseRecord {
  exercise: string;
  status: ExerciseStatus;
  passed: number;
  total: number;
}

const MARKS: Record<CaseStatus, string> = { pass: "✓", fail: "✗", error: "✗", todo: "…" };
const MARK_COLORS: Record<CaseStatus, string> = {
  pass: "#2e7d32",
  fail: "#c62828",
  error: "#c62828",
  todo: "#777777",
};

/** One line summing up the run: "solved, 5/5 cases passed". */
export function summary(result: ExerciseResult): string {
  const counts = `${result.passed}/${result.total} cases passed`;
  switch (result.status) {
    case "solved":
      return `solved, ${counts}`;
    case "unsolved":
      return "not solved yet: replace todo() in the stub with your code, then run this cell again";
    case "failed":
      return `failed, ${counts}`;
  }
}

/** The name shown for a case: a hidden case is only "hidden case N". */
function caseName(c: CaseResult): string {
  return c.hidden ? `hidden case ${c.hiddenNumber}` : c.name;
}

/** What the solution produced: its answer, "todo()", or what it threw. */
function outcome(c: CaseResult, format: (value: unknown) => string): string {
  if (c.status === "todo") return "todo()";
  if (c.status === "error") return `threw ${c.error}`;
  return format(c.actual);
}

/** The cells of one table row: mark, case, input, expected, got. Hidden
 * cases show only their mark. */
function cells(c: CaseResult, format: (value: unknown) => string): string[] {
  if (c.hidden) {
    return [
      MARKS[c.status],
      caseName(c),
      "hidden",
      "hidden",
      c.status === "pass" ? "passed" : "failed",
    ];
  }
  return [MARKS[c.status], c.name, format(c.input), format(c.expected), outcome(c, format)];
}

const COLUMNS = ["", "case", "input", "expected", "got"];

/** The table as plain text, headed by the exercise and its status. */
export function reportText(result: ExerciseResult, format: (value: unknown) => string): string {
  const rows = result.cases.map((c) => cells(c, format));
  return `Exercise ${result.exercise}: ${result.title} — ${summary(result)}\n${
    textTable(COLUMNS, rows)
  }`;
}

const HTML_ENTITIES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
};

function escapeHtml(text: string): string {
  return text.replace(/[&<>"]/g, (c) => HTML_ENTITIES[c]);
}

/** The table as HTML, one row per case with a coloured pass/fail mark. */
export function reportHtml(result: ExerciseResult, format: (value: unknown) => string): string {
  const statusColor = result.status === "solved"
    ? MARK_COLORS.pass
    : result.status === "failed"
    ? MARK_COLORS.fail
    : MARK_COLORS.todo;
  const head = COLUMNS.map((c) => `<th style="text-align:left">${escapeHtml(c)}</th>`).join("");
  const rows = result.cases.map((c) => {
    const [mark, ...rest] = cells(c, format);
    const markCell = `<td style="color:${MARK_COLORS[c.status]};font-weight:bold">${mark}</td>`;
    const restCells = rest.map((cell, i) =>
      `<td${i > 0 ? ' style="font-family:monospace"' : ""}>${escapeHtml(cell)}</td>`
    );
    return `<tr data-status="${c.status}">${markCell}${restCells.join("")}</tr>`;
  });
  return [
    `<div class="mm-lab-exercise" data-exercise="${
      escapeHtml(result.exercise)
    }" data-status="${result.status}">`,
    `<p><strong>${escapeHtml(result.title)}</strong> `,
    `<span style="color:${statusColor}">${escapeHtml(summary(result))}</span></p>`,
    `<table><thead><tr>${head}</tr></thead><tbody>${rows.join("")}</tbody></table>`,
    `</div>`,
  ].join("");
}

/** The record the lesson runner collects. */
export function reportRecord(result: ExerciseResult): ExerciseRecord {
  return {
    exercise: result.exercise,
    status: result.status,
    passed: result.passed,
    total: result.total,
  };
}

/** The message of a failed check: the failing visible cases with their
 * input, expected answer and what came back; hidden ones only by number. */
export function failureMessage(result: ExerciseResult, format: (value: unknown) => string): string {
  const failing = result.cases.filter((c) => c.status !== "pass");
  const lines = failing.map((c) =>
    c.hidden
      ? `  ✗ hidden case ${c.hiddenNumber} failed`
      : `  ✗ ${c.name}: input ${format(c.input)}, expected ${format(c.expected)}, got ${
        outcome(c, format)
      }`
  );
  return [
    `Exercise ${result.exercise} (${result.title}): ${failing.length} of ${result.total} cases failed`,
    ...lines,
  ].join("\n");
}

/** What {@linkcode check} returns: displayed by the Deno kernel as the table. */
export class ExerciseReport implements Displayable {
  readonly result: ExerciseResult;
  readonly #format: (value: unknown) => string;

  constructor(result: ExerciseResult, format: (value: unknown) => string) {
    this.result = result;
    this.#format = format;
  }

  /** "solved", "unsolved" or "failed". */
  get status(): ExerciseStatus {
    return this.result.status;
  }

  /** The table as plain text. */
  get text(): string {
    return reportText(this.result, this.#format);
  }

  /** The table as HTML. */
  get html(): string {
    return reportHtml(this.result, this.#format);
  }

  /** The MIME bundle: HTML table, plain text, and the runner's record. */
  bundle(): MediaBundle {
    return {
      "text/html": this.html,
      "text/plain": this.text,
      [EXERCISE_MEDIA_TYPE]: reportRecord(this.result),
    };
  }

  [$display](): MediaBundle {
    return this.bundle();
  }

  /** What `console.log(report)` prints: the plain-text table. */
  [Symbol.for("Deno.customInspect")](): string {
    return this.text;
  }
}
