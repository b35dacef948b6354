/**
 * Checked exercises: `todo()` for stubs, `defineExercise()` for the cases,
 * `check()` for the notebook cell, `runCases()` for the test suite.
 *
 * @module
 */
export { check, defineExercise, ExerciseFailed, isTodo, runCases, Todo, todo } from "./exercise.ts";
export type {
  CaseResult,
  CaseStatus,
  Exercise,
  ExerciseCase,
  ExerciseResult,
  ExerciseSpec,
  ExerciseStatus,
} from "./exercise.ts";
export { EXERCISE_MEDIA_TYPE, ExerciseReport } from "./report.ts";
export type { ExerciseRecord } from "./report.ts";
export { deepEqual } from "./equal.ts";
export { formatValue } from "./format.ts";
