/**
 * The lesson pipeline: run lessons through Jupyter with the Deno kernel
 * (`deno task lessons`), type-check their code, and the set-up both need.
 * @module
 */
export {
  DEFAULT_CELL_TIMEOUT,
  listLessons,
  main,
  NOTEBOOKS_DIR,
  REPO_ROOT,
  resolveLessons,
  runLessons,
  type RunOptions,
} from "./lessons.ts";
export type { LessonFailure, LessonResult } from "./report.ts";
export {
  assess,
  type CellFailure,
  EXERCISE_MIME,
  type ExerciseResult,
  ExerciseResultSchema,
} from "./outcome.ts";
export {
  type Diagnostic,
  formatDiagnostic,
  typecheckNotebooks,
  type TypecheckResult,
} from "./typecheck.ts";
export { SetupError, type SetupHost, setUpJupyter, systemHost } from "./setup.ts";
