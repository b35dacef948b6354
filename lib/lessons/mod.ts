/**
 * What the lesson notebooks use beyond the front door (lib/mod.ts): each
 * lesson's checked exercises and its small display helpers.
 *
 * @module
 */
export {
  cellText,
  decodePagemapExercise,
  faultinPage,
  forkExclusiveExercise,
  forkScenario,
  PAGEMAP_FIELDS,
  pagemapFields,
  pagemapRow,
  pageRows,
  pageState,
  pgtablesBytes,
  pteAndFolioFlags,
  ptepGet,
  Table,
  table,
} from "./tour.ts";
export type {
  ExclusiveFlags,
  ForkScenario,
  ForkWrite,
  PagemapFields,
  PageUse,
  Row,
} from "./tour.ts";
export {
  accessOutcome,
  classifyPteExercise,
  compareEntries,
  faultResult,
  forgeHwpoisonPfn,
  migrationExercise,
  outcomeExercise,
  pteClass,
  runMigration,
  setupEntry,
  simulateOutcome,
  sourceView,
  swapEntryKind,
} from "./uffd_poison.ts";
export type {
  AccessOutcome,
  ClassifyInput,
  EntryKind,
  EntrySetup,
  MigrationFault,
  MigrationHandler,
  MigrationResult,
  MigrationScenario,
  Outcome,
  OutcomeInput,
  PteClass,
  SwapConfig,
} from "./uffd_poison.ts";
export {
  dmaPin,
  MOVE_CASES,
  moveCase,
  movedPte,
  movedPteExercise,
  moveErrnoExercise,
  moveErrnoTable,
  moveOrCopyExercise,
  moveRace,
  moveSetup,
  runMoveOrCopy,
  startMigration,
  swapOut,
} from "./uffd_move.ts";
export type {
  MoveCase,
  MovedPte,
  MovedPteInput,
  MoveOrCopyFault,
  MoveOrCopyResult,
  MoveOrCopyScenario,
  MoveOutcome,
  MoveRaceOptions,
  MoveRaceState,
  MoveSetup,
} from "./uffd_move.ts";
