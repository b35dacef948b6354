/**
 * Checked exercises: a stub the reader completes, and a check that runs
 * visible and hidden cases against it.
 *
 * In a notebook:
 * ```ts
 * // the stub cell
 * function pteIndex(addr: number): number {
 *   return todo(); // your code here
 * }
 * // the check cell: displays a pass/fail table
 * check(pteIndexExercise, pteIndex);
 * ```
 * A stub that still calls `todo()` on every case is "unsolved": the check
 * shows the table and returns, so that a notebook run headless (CI, the HTML
 * export) goes on. A wrong answer is "failed": the check shows the table and
 * then throws, which fails the cell. The test suite calls
 * {@linkcode runCases} to prove that each check rejects its stub and accepts
 * a reference solution kept outside the notebook.
 *
 * A solution takes the case's `input` as its one argument; for a function of
 * several parameters make `input` a tuple and check `([a, b]) => f(a, b)`.
 *
 * @module
 */
import { displayNow } from "../plot/display.ts";
import { deepEqual } from "./equal.ts";
import { formatValue } from "./format.ts";
import { ExerciseReport, failureMessage } from "./report.ts";

/** Marks an error as a {@linkcode Todo}, across copies of this module (a
 * notebook may import the lib by two different specifiers). */
const TODO_BRAND = Symbol.for("mm-lab.exercise.Todo");

/** Thrown by {@linkcode todo}: the code of this stub is still to be written. */
export class Todo extends Error {
  readonly [TODO_BRAND] = true;

  constructor(message = "not written yet: replace todo() with your code") {
    super(message);
    this.name = "Todo";
  }
}

/** Stand-in for the body of a stub: throws {@linkcode Todo}. */
export function todo(message?: string): never {
  throw new Todo(message);
}

/** True when `error` was thrown by {@linkcode todo}. */
export function isTodo(error: unknown): error is Todo {
  return error instanceof Todo ||
    (typeof error === "object" && error !== null && TODO_BRAND in error);
}

/** One case of an exercise: the input given to the solution and the answer expected. */
export interface ExerciseCase<I, O> {
  /** What the case tests, shown in the table ("address in the second page"). */
  name: string;
  /** The argument passed to the solution. Passed as is: a solution must not change it. */
  input: I;
  /** The answer a correct solution returns. */
  expected: O;
  /** A hidden case is run but its name, input and answer are not shown. */
  hidden?: boolean;
}

/** What {@linkcode defineExercise} takes. */
export interface ExerciseSpec<I, O> {
  /** A stable id, reported to the lesson runner ("pte-index"). */
  id: string;
  /** The title shown above the table. */
  title: string;
  /** The cases, visible and hidden; at least one. */
  cases: readonly ExerciseCase<I, O>[];
  /** Whether an answer is right; defaults to {@linkcode deepEqual}. */
  compare?: (actual: O, expected: O) => boolean;
  /** How inputs and answers are written in the table; defaults to {@linkcode formatValue}. */
  format?: (value: unknown) => string;
}

/** An exercise, ready for {@linkcode check} and {@linkcode runCases}. */
export interface Exercise<I, O> {
  readonly id: string;
  readonly title: string;
  readonly cases: readonly ExerciseCase<I, O>[];
  readonly compare: (actual: O, expected: O) => boolean;
  readonly format: (value: unknown) => string;
}

/** Define an exercise, rejecting an empty id, title or case list. */
export function defineExercise<I, O>(spec: ExerciseSpec<I, O>): Exercise<I, O> {
  if (typeof spec.id !== "string" || !/^\S+$/.test(spec.id)) {
    throw new TypeError(`Exercise id must be a non-empty word, got ${JSON.stringify(spec.id)}`);
  }
  if (typeof spec.title !== "string" || spec.title.trim() === "") {
    throw new TypeError(`Exercise "${spec.id}" needs a title, got ${JSON.stringify(spec.title)}`);
  }
  if (!Array.isArray(spec.cases) || spec.cases.length === 0) {
    throw new RangeError(
      `Exercise "${spec.id}" needs at least one case, got ${formatValue(spec.cases)}`,
    );
  }
  spec.cases.forEach((c, i) => {
    if (typeof c.name !== "string" || c.name === "") {
      throw new TypeError(
        `Exercise "${spec.id}" case ${i + 1} needs a name, got ${JSON.stringify(c.name)}`,
      );
    }
  });
  return Object.freeze({
    id: spec.id,
    title: spec.title,
    cases: Object.freeze([...spec.cases]),
    compare: spec.compare ?? deepEqual,
    format: spec.format ?? ((value: unknown) => formatValue(value)),
  });
}

/** How one case went: "todo" when the solution reached {@linkcode todo}, "error"
 * when it threw anything else. */
export type CaseStatus = "pass" | "fail" | "error" | "todo";

/** The outcome of one case. */
export interface CaseResult<I = unknown, O = unknown> {
  /** The case's position among all cases, from 1. */
  number: number;
  /** For a hidden case, its position among the hidden cases, from 1. */
  hiddenNumber?: number;
  name: string;
  hidden: boolean;
  status: CaseStatus;
  input: I;
  expected: O;
  /** What the solution returned (pass and fail). */
  actual?: unknown;
  /** What the solution threw (error and todo), as "Name: message". */
  error?: string;
}

/** The exercise as a whole: "unsolved" when every case reached {@linkcode todo}. */
export type ExerciseStatus = "solved" | "unsolved" | "failed";

/** The outcome of running every case of an exercise. */
export interface ExerciseResult<I = unknown, O = unknown> {
  exercise: string;
  title: string;
  status: ExerciseStatus;
  passed: number;
  total: number;
  cases: CaseResult<I, O>[];
}

/** Run one case; the solution's exceptions become the case's result. */
function runCase<I, O>(
  exercise: Exercise<I, O>,
  solution: (input: I) => O,
  c: ExerciseCase<I, O>,
): Pick<CaseResult, "status" | "actual" | "error"> {
  try {
    const actual = solution(c.input);
    if (isThenable(actual)) {
      return {
        status: "error",
        error: "returned a Promise: a solution must return its answer directly",
      };
    }
    return { status: exercise.compare(actual, c.expected) ? "pass" : "fail", actual };
  } catch (error) {
    if (isTodo(error)) return { status: "todo", error: `Todo: ${error.message}` };
    return { status: "error", error: describeError(error) };
  }
}

function isThenable(value: unknown): boolean {
  return typeof value === "object" && value !== null &&
    typeof (value as { then?: unknown }).then === "function";
}

function describeError(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : `threw ${formatValue(error)}`;
}

/**
 * Run every case of `exercise` against `solution` and return the results,
 * without displaying or throwing: what tests use.
 */
export function runCases<I, O>(
  exercise: Exercise<I, O>,
  solution: (input: I) => O,
): ExerciseResult<I, O> {
  if (typeof solution !== "function") {
    throw new TypeError(
      `Exercise "${exercise.id}" needs a function to check, got ${formatValue(solution)}`,
    );
  }
  let hidden = 0;
  const cases = exercise.cases.map((c, i): CaseResult<I, O> => ({
    number: i + 1,
    hiddenNumber: c.hidden ? ++hidden : undefined,
    name: c.name,
    hidden: c.hidden === true,
    input: c.input,
    expected: c.expected,
    ...runCase(exercise, solution, c),
  }));
  const passed = cases.filter((c) => c.status === "pass").length;
  const status: ExerciseStatus = cases.every((c) => c.status === "todo")
    ? "unsolved"
    : passed === cases.length
    ? "solved"
    : "failed";
  return {
    exercise: exercise.id,
    title: exercise.title,
    status,
    passed,
    total: cases.length,
    cases,
  };
}

/** Thrown by {@linkcode check} when some case fails; carries the results. */
export class ExerciseFailed extends Error {
  readonly result: ExerciseResult;

  constructor(result: ExerciseResult, message: string) {
    super(message);
    this.name = "ExerciseFailed";
    this.result = result;
  }
}

/**
 * Check a solution: run every case and return a report that the notebook
 * displays as a pass/fail table.
 *
 * Solved and unsolved exercises return normally. When some case fails the
 * table is displayed at once and then {@linkcode ExerciseFailed} is thrown,
 * naming the failing visible cases (a hidden case only as "hidden case N").
 */
export function check<I, O>(exercise: Exercise<I, O>, solution: (input: I) => O): ExerciseReport {
  const result = runCases(exercise, solution);
  const report = new ExerciseReport(result as ExerciseResult, exercise.format);
  if (result.status === "failed") {
    displayNow(report.bundle());
    throw new ExerciseFailed(
      result as ExerciseResult,
      failureMessage(result as ExerciseResult, exercise.format),
    );
  }
  return report;
}
