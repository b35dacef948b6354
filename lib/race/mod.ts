/**
 * Races: a deterministic interleaving explorer. Threads are step functions
 * that yield at every lock, unlock and shared-state access; `explore()` runs
 * every interleaving (with state hashing and sleep sets), checks the
 * invariants after each step, and returns "all N interleavings safe" or the
 * shortest counterexample, which `replay()` runs again step by step and
 * `timelineSvg()` draws.
 *
 * ```ts
 * import { explore, replay, timelineSvg, lostUpdate } from "./mod.ts";
 *
 * explore(lostUpdate({ locked: true })).message;
 * // "lost update (2 threads, spin_lock): all 2 interleavings safe (17 states)"
 * const r = explore(lostUpdate());
 * if (r.verdict === "counterexample") {
 *   timelineSvg(r.trace); // a Figure: T0 and T1 both read before either writes
 *   const again = replay(r.trace);
 *   again.step(); // T0 read counter
 *   again.run()?.message; // "VM_BUG_ON: lost update: counter is 1 after 2 increments …"
 * }
 * explore(lostUpdate(), { naive: true }); // no hashing, no reduction: for comparison
 * ```
 *
 * @module
 */
export { structuralHash } from "./hash.ts";
export { dependent, STEP_OPS, stepLabel } from "./step.ts";
export type {
  AccessOp,
  AccessStep,
  LocalStep,
  RwsemOp,
  RwsemStep,
  SpinOp,
  SpinStep,
  Step,
  StepCommon,
  Thread,
} from "./step.ts";
export { Execution } from "./run.ts";
export type {
  BlockedThread,
  Failure,
  FailureKind,
  RaceScenario,
  ScenarioInstance,
  ScenarioLike,
  TraceStep,
} from "./run.ts";
export { explore } from "./explore.ts";
export type {
  CounterexampleResult,
  ExploreOptions,
  ExploreProgress,
  ExploreResult,
  ExploreStats,
  IncompleteResult,
  SafeResult,
  Trace,
} from "./explore.ts";
export { Replay, replay } from "./replay.ts";
export { timelineSvg, timelineText } from "./timeline.ts";
export type { TimelineOptions } from "./timeline.ts";
export { abba, anonFaultRace, independent, lostUpdate } from "./textbook.ts";
export type { AbbaState, AnonFaultState, CounterState, LostUpdateOptions } from "./textbook.ts";
export { exploreModes, ModeTable, SEARCH_MODES } from "./modes.ts";
export {
  collapsePteMappedThp,
  collapseVersusUffdCopy,
  RECHECK_PLACEMENTS,
  retractPageTables,
  retractVersusLocklessWalk,
  retractVersusUffd,
  uffdioCopyPrivate,
  uffdRegisterWpAndProtect,
} from "./khugepaged.ts";
export type {
  CollapseRaceOptions,
  CollapseVariant,
  KhugepagedRaceState,
  PteSlot,
  PteTable,
  RcuWalkState,
  RecheckPlacement,
  RetractRaceOptions,
  RetractRacer,
} from "./khugepaged.ts";
export type { ModeRow } from "./modes.ts";
