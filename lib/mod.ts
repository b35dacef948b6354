/**
 * mm-lab: a small, faithful model of Linux memory management (v6.18,
 * x86-64), the pictures and plots the lessons draw, checked exercises and
 * datasets with provenance. Notebooks and tests import this module.
 *
 * ```ts
 * import { simulate, constants as C } from "./mod.ts";
 * const k = simulate();
 * const p = k.spawn();
 * const a = p.mmap(0, 4 * C.PAGE_SIZE, C.PROT_READ | C.PROT_WRITE, C.MAP_PRIVATE | C.MAP_ANONYMOUS);
 * p.write(a, 0x41);
 * p.pagemap(a).present; // true
 * ```
 * @module
 */

// The simulated kernel and its process facade.
export { Kernel, simulate } from "./kernel/kernel.ts";
export type { SimulateOptions } from "./kernel/kernel.ts";
export { Process } from "./kernel/process.ts";
export type { SpawnOptions } from "./kernel/process.ts";
export * as constants from "./kernel/constants.ts";
export { DEFAULT_CONFIG, makeConfig } from "./kernel/config.ts";
export type { KernelConfig } from "./kernel/config.ts";
export { ERRNO, Errno, errnoName } from "./kernel/errno.ts";
export type { ErrnoName } from "./kernel/errno.ts";
export { Blocked, SI_CODE, Signal, SIGNO } from "./kernel/signal.ts";
export type { SiCode, SignalName } from "./kernel/signal.ts";
export { VM_BUG_ON, VmBugError } from "./kernel/bug.ts";

// Entries at bit level.
export * from "./arch/x86/pgtable_types.ts";
export * from "./arch/x86/pgtable.ts";
export * from "./pgtable/swapops.ts";
export { entryFlagNames } from "./pgtable/decode.ts";
export { walkAddress } from "./pgtable/walk.ts";
export { LEVELS, PageTable } from "./pgtable/pgtable.ts";
export type { Level } from "./pgtable/pgtable.ts";

// Core objects and paths, for lessons that look inside.
export * from "./mm/mm_types.ts";
export {
  FOLIO_MAPPING_ANON,
  MemMap,
  pageFlagNames,
  PAGEFLAGS,
  PGTY_buddy,
  PGTY_table,
} from "./mm/memmap.ts";
export type { PageFlagName } from "./mm/memmap.ts";
export { DEFAULT_VARIANTS, makeVariants, MmCore, VMSTAT_ITEMS } from "./mm/core.ts";
export type { KernelVariants, VmstatItem } from "./mm/core.ts";
export {
  FAULT_FLAG_UNSHARE,
  FAULT_FLAG_USER,
  FAULT_FLAG_WRITE,
  handleMmFault,
  VM_FAULT_ERROR,
  VM_FAULT_HWPOISON,
  VM_FAULT_HWPOISON_SILENT,
  VM_FAULT_NOPAGE,
  VM_FAULT_OOM,
  VM_FAULT_RETRY,
  VM_FAULT_SIGBUS,
  VM_FAULT_SIGSEGV,
  vmFaultNames,
  vmNormalPage,
} from "./mm/memory.ts";
export { folioTestAnon, pageAnonExclusive } from "./mm/rmap.ts";
export {
  memoryFailure,
  MF_ACTION_REQUIRED,
  MF_COUNT_INCREASED,
  MF_MUST_KILL,
  MF_SW_SIMULATED,
  pageHWPoison,
} from "./mm/memory_failure.ts";
export type { MemoryFailureResult, MfCurrent } from "./mm/memory_failure.ts";
export type { SwapInfo, SwapoffResult } from "./mm/swapfile.ts";
// Transparent huge pages (mm/huge_memory.c).
export {
  DEFAULT_THP_SETTINGS,
  hugePmdAt,
  makeThpSettings,
  splitHugePmd,
  thpVmaAllowableOrder,
  thpVmaSuitableOrder,
} from "./mm/huge_memory.ts";
export type { ThpSettings, TvaType } from "./mm/huge_memory.ts";
export * as uffd from "./userfaultfd/mod.ts";
export { Userfaultfd } from "./userfaultfd/userfaultfd.ts";
export type {
  UffdHandler,
  UffdMsg,
  UffdMsgFork,
  UffdMsgPagefault,
  UffdMsgRemap,
  UffdMsgRemove,
} from "./userfaultfd/userfaultfd.ts";
export {
  decodePagemapEntry,
  doPagemapScan,
  pagemapEntry,
  pagemapPageCategory,
} from "./proc/task_mmu.ts";
export type { PagemapEntry, PagemapScanResult, PageRegion, PmScanArg } from "./proc/task_mmu.ts";

// Pictures and plots.
export {
  $display,
  displayNow,
  entryBitsSvg,
  entryBitsTable,
  entryBitsText,
  fieldValue,
  Figure,
  headlessDocument,
  isDisplayable,
  pageTablePathSvg,
  pageTablePathText,
  Plot,
  plot,
  X86_64_4LEVEL,
} from "./plot/mod.ts";
export type {
  Displayable,
  EntryBitsOptions,
  EntryBitsRow,
  FigureOptions,
  MediaBundle,
  PageTablePath,
  PageTablePathOptions,
  PlotOptions,
  WalkLevel,
} from "./plot/mod.ts";

// Exercises and datasets.
export * from "./exercise/mod.ts";
export * from "./datasets/mod.ts";

// Races: the interleaving explorer.
export {
  abba,
  anonFaultRace,
  dependent,
  Execution,
  explore,
  exploreModes,
  independent,
  lostUpdate,
  ModeTable,
  Replay,
  replay,
  SEARCH_MODES,
  STEP_OPS,
  stepLabel,
  structuralHash,
  timelineSvg,
  timelineText,
} from "./race/mod.ts";
export type {
  CounterexampleResult,
  ExploreOptions,
  ExploreProgress,
  ExploreResult,
  Failure,
  FailureKind,
  IncompleteResult,
  RaceScenario,
  SafeResult,
  Step,
  Thread,
  Trace,
  TraceStep,
} from "./race/mod.ts";
// The khugepaged races of seed 003 (retract_page_tables(), collapse_pte_mapped_thp()).
export {
  collapseVersusUffdCopy,
  retractVersusLocklessWalk,
  retractVersusUffd,
} from "./race/mod.ts";
export type { CollapseVariant, KhugepagedRaceState } from "./race/mod.ts";

// Page-table geometries (x86-64, arm64, powerpc 8xx/e500/book3s64, with and
// without hugepd), hugetlb on each, the legacy and generic walkers, GUP with costs.
export * as geometries from "./geometry/mod.ts";

// The real kernel through Deno FFI (Linux only; opened on first use).
export * as live from "./live/mod.ts";

// MMU notifiers, GUP, device-exclusive entries and a simulated device.
export * from "./mm/mmu_notifier.ts";
export {
  folioMaybeDmaPinned,
  FOLL_ANON,
  FOLL_FORCE,
  FOLL_GET,
  FOLL_HWPOISON,
  FOLL_LONGTERM,
  FOLL_PIN,
  FOLL_SPLIT_PMD,
  FOLL_TOUCH,
  FOLL_WRITE,
  getUserPages,
  GUP_PIN_COUNTING_BIAS,
  gupMustUnshare,
  gupReferences,
  pinUserPages,
  putPage,
  unpinUserPage,
} from "./mm/gup.ts";
export {
  folioMakeDeviceExclusive,
  makeDeviceExclusive,
  makeDeviceExclusiveRange,
  pageMakeDeviceExclusiveOne,
} from "./mm/rmap.ts";
export type { DeviceExclusivePage, MakeExclusiveArgs } from "./mm/rmap.ts";
export { restoreExclusivePte, tryRestoreExclusivePte } from "./mm/memory.ts";
export { folioLock, folioTestLocked, folioTrylock, folioUnlock } from "./mm/filemap.ts";
export * from "./hmm/mod.ts";
export { deviceExclusiveRace } from "./race/device_exclusive.ts";
export type {
  DeviceExclusiveRaceState,
  DeviceExclusiveRaceVariant,
  RacePte,
} from "./race/device_exclusive.ts";
