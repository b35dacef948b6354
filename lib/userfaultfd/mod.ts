/**
 * userfaultfd: the file and its ioctls (fs/userfaultfd.c) and the
 * mfill/writeprotect/move paths (mm/userfaultfd.c), v6.18.
 * @module
 */
export * from "./constants.ts";
export * from "./userfaultfd.ts";
export {
  folioMaybeDmaPinned,
  GUP_PIN_COUNTING_BIAS,
  MFILL_ATOMIC_WP,
  mfillAtomic,
  mfillAtomicInstallPte,
  migrationEntryWait,
  movePages,
  mwriteprotectRange,
  shmemMfillAtomicPte,
} from "./mfill.ts";
export type { MfillMode, MoveTraceEvent } from "./mfill.ts";
