/**
 * Reading an executed lesson: did it fail, and how did its exercises do?
 *
 * A lesson fails on the first of: an output of type "error" (a cell threw, an
 * exercise check threw, or a check cell found an unhandled rejection); a cell
 * whose value is a rejected promise; an exercise result that does not match
 * the bundle format below; a cell that calls `Deno.test` (the kernel never
 * runs it, so a wrong answer would pass silently).
 *
 * Exercise checks in the library display a bundle with the MIME type
 * {@link EXERCISE_MIME} and data `{ exercise, status, passed, total }`.
 * @module
 */
import { z } from "zod";
import { stripAnsi } from "./ansi.ts";
import { UNHANDLED_ERROR_NAME } from "./instrument.ts";
import { type Cell, firstLine, joinText, type Notebook, type Output } from "./ipynb.ts";

/** MIME type of the exercise result bundle an exercise check displays. */
export const EXERCISE_MIME = "application/vnd.mm-lab.exercise+json";

/** The data of an exercise result bundle. */
export const ExerciseResultSchema = z.object({
  exercise: z.string().min(1).describe("exercise name, unique within the lesson"),
  status: z.enum(["solved", "unsolved", "failed"]),
  passed: z.number().int().nonnegative().describe("cases the answer passed"),
  total: z.number().int().nonnegative().describe("cases the check ran"),
}).refine((r) => r.passed <= r.total, { message: "passed is more than total" });

/** One exercise's result, as displayed by its check. */
export type ExerciseResult = z.infer<typeof ExerciseResultSchema>;

/** Where and how a lesson failed. */
export interface CellFailure {
  /** Cell number, counted from 1 over all cells. */
  cell: number;
  /** First line of the cell's source. */
  firstLine: string;
  /** One-line error, e.g. `Error: boom`, without ANSI codes. */
  error: string;
  /** Further lines (stack trace), without ANSI codes. */
  details: string[];
}

/** What an executed lesson showed. */
export interface Assessment {
  failure?: CellFailure;
  exercises: ExerciseResult[];
}

const MAX_DETAIL_LINES = 20;

/** The failure (if any) and exercise results of an executed lesson. */
export function assess(nb: Notebook): Assessment {
  const exercises = new Map<string, ExerciseResult>();
  let failure: CellFailure | undefined;
  nb.cells.forEach((cell, index) => {
    const problem = sourceProblem(cell);
    if (problem && !failure) failure = { cell: index + 1, firstLine: firstLine(cell), ...problem };
    for (const output of cell.outputs ?? []) {
      const problem = outputProblem(output) ?? collectExercise(output, exercises);
      if (problem && !failure) {
        failure = { cell: index + 1, firstLine: firstLine(cell), ...problem };
      }
    }
  });
  return { failure, exercises: [...exercises.values()] };
}

type Problem = Pick<CellFailure, "error" | "details">;

// A call of Deno.test outside a line comment.
const DENO_TEST = /^(?:(?!\/\/).)*\bDeno\.test\s*\(/m;

/** A failure visible in the source: a `Deno.test` call, which the kernel ignores. */
function sourceProblem(cell: Cell): Problem | undefined {
  if (cell.cell_type !== "code" || !DENO_TEST.test(joinText(cell.source))) return undefined;
  return {
    error: "Deno.test in a cell: the Deno kernel does not run it, so it cannot fail the " +
      "lesson; check exercises with the library's exercise checks instead",
    details: [],
  };
}

/** A failure shown by one output: an error, or a rejected promise as a value. */
function outputProblem(output: Output): Problem | undefined {
  if (output.output_type === "error") return errorProblem(output);
  const value = stripAnsi(joinText(plainText(output)));
  if (output.output_type === "execute_result" && /^Promise \{\s*<rejected>/.test(value)) {
    return {
      error: "unhandled promise rejection: the cell's value is a rejected promise",
      details: value.split("\n").slice(0, MAX_DETAIL_LINES),
    };
  }
  return undefined;
}

function plainText(output: Output): string | string[] | undefined {
  const text = output.data?.["text/plain"];
  return typeof text === "string" || Array.isArray(text) ? text as string | string[] : undefined;
}

function errorProblem(output: Output): Problem {
  const ename = stripAnsi(output.ename ?? "Error");
  const [message, ...rest] = stripAnsi(output.evalue ?? "").split("\n");
  const error = ename === UNHANDLED_ERROR_NAME ? message : `${ename}: ${message}`;
  const traceback = stripAnsi((output.traceback ?? []).join("\n")).split("\n");
  const details = [...rest, ...traceback].filter((line) =>
    line.trim() !== "" && line !== error && line !== message && line !== "Stack trace:"
  );
  return { error, details: details.slice(0, MAX_DETAIL_LINES) };
}

/** Records an exercise bundle from `output`; a malformed one is a problem. */
function collectExercise(
  output: Output,
  exercises: Map<string, ExerciseResult>,
): Problem | undefined {
  if (!(EXERCISE_MIME in (output.data ?? {}))) return undefined;
  const value = output.data![EXERCISE_MIME];
  const parsed = ExerciseResultSchema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = issue.path.length > 0 ? `field "${issue.path.join(".")}": ` : "";
    return {
      error: `malformed exercise result (${field}${issue.message}): ${JSON.stringify(value)}`,
      details: [],
    };
  }
  // A check run again (say, after the reader fixed the answer) replaces its result.
  exercises.set(parsed.data.exercise, parsed.data);
  return undefined;
}

/** "exercises 1/3 solved", or "no exercises". */
export function exerciseSummary(exercises: readonly ExerciseResult[]): string {
  if (exercises.length === 0) return "no exercises";
  const solved = exercises.filter((e) => e.status === "solved").length;
  return `exercises ${solved}/${exercises.length} solved`;
}

/** How a cell is named in messages: `cell 4 (p.read(a))`. */
export function cellLabel(cell: number, source: Cell | string): string {
  const line = typeof source === "string" ? source : firstLine(source);
  return line === "" ? `cell ${cell}` : `cell ${cell} (${line})`;
}
