/**
 * The folio lock (mm/filemap.c folio_lock(), folio_unlock();
 * include/linux/pagemap.h folio_trylock(), folio_test_locked()), v6.18:
 * PG_locked, taken by whoever must keep a folio's mappings from changing
 * under it (make_device_exclusive(), the restore of a device-exclusive
 * entry, fork's try_restore_exclusive_pte()).
 *
 * Simplification: one CPU, so nobody ever waits. folio_lock() on a locked
 * folio would sleep until the holder lets go; in the model that holder can
 * only be a caller that kept the lock on purpose (a test, a lesson standing
 * in for another thread), and taking it again is reported as a deadlock.
 * Callers that must not sleep use folioTrylock() and back off.
 * @module
 */
import type { MmCore } from "./core.ts";
import { PG_locked } from "./memmap.ts";
import { VmBugError } from "../kernel/bug.ts";

/** folio_test_locked(). */
export function folioTestLocked(core: MmCore, pfn: number): boolean {
  return (core.memmap.flags[pfn] & PG_locked) !== 0;
}

/** folio_trylock(): take PG_locked if free. */
export function folioTrylock(core: MmCore, pfn: number): boolean {
  if (folioTestLocked(core, pfn)) return false;
  core.memmap.flags[pfn] |= PG_locked;
  return true;
}

/** folio_lock(): take PG_locked; a held lock would never be released here. */
export function folioLock(core: MmCore, pfn: number): void {
  if (!folioTrylock(core, pfn)) {
    throw new VmBugError("lock held", "folio_lock() on a folio nobody will unlock", { pfn });
  }
}

/** folio_unlock(). */
export function folioUnlock(core: MmCore, pfn: number): void {
  if (!folioTestLocked(core, pfn)) {
    throw new VmBugError("lock not held", "folio_unlock() of an unlocked folio", { pfn });
  }
  core.memmap.flags[pfn] &= ~PG_locked;
}
