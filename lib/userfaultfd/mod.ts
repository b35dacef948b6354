/**
 * userfaultfd: the file and its ioctls (fs/userfaultfd.c) and the
 * mfill/writeprotect/move paths (mm/userfaultfd.c), v6.18.
 * @module
 */
export * from "./constants.ts";
export * from "./userfaultfd.ts";
export { MFILL_ATOMIC_WP, mfillAtomic, movePages, mwriteprotectRange } from "./mfill.ts";
export type { MfillMode } from "./mfill.ts";
