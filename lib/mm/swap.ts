/**
 * Putting folios on the LRU lists (mm/swap.c folio_add_lru(),
 * folio_add_lru_vma(); mm/mlock.c mlock_new_folio()), v6.18.
 *
 * Simplification: the model keeps no LRU lists, only the flags that say
 * which list a folio is on: PG_lru for any, PG_unevictable for the
 * unevictable list, PG_mlocked for a folio some VM_LOCKED VMA maps. The
 * per-CPU batches (folio_batch) are left out: a folio is on its list at
 * once.
 * @module
 */
import type { MmCore } from "./core.ts";
import { PG_lru, PG_mlocked, PG_unevictable } from "./memmap.ts";
import { VM_IO, VM_LOCKED, VM_MIXEDMAP, VM_PFNMAP, type Vma } from "./mm_types.ts";
import { VmBugError } from "../kernel/bug.ts";

/** VM_SPECIAL without VM_DONTEXPAND, which the model does not use. */
const VM_SPECIAL = VM_IO | VM_PFNMAP | VM_MIXEDMAP;

/**
 * folio_add_lru(): a new folio joins the LRU; an mlocked one goes to the
 * unevictable list (folio_evictable() is false for it).
 */
export function folioAddLru(core: MmCore, pfn: number): void {
  const m = core.memmap;
  if (m.flags[pfn] & PG_lru) {
    throw new VmBugError("lru", "folio_add_lru() of a folio already on an LRU list", { pfn });
  }
  m.flags[pfn] |= PG_lru | (m.flags[pfn] & PG_mlocked ? PG_unevictable : 0);
}

/** mlock_new_folio(): a new folio mapped into a VM_LOCKED VMA is mlocked and unevictable. */
export function mlockNewFolio(core: MmCore, pfn: number): void {
  core.memmap.flags[pfn] |= PG_mlocked;
  folioAddLru(core, pfn);
}

/**
 * folio_add_lru_vma() (lru_cache_add_inactive_or_unevictable() in 2021):
 * mlock a new folio when the VMA is VM_LOCKED (and not VM_SPECIAL), else
 * folio_add_lru().
 */
export function folioAddLruVma(core: MmCore, pfn: number, vma: Vma): void {
  if ((vma.vm_flags & (VM_LOCKED | VM_SPECIAL)) === VM_LOCKED) mlockNewFolio(core, pfn);
  else folioAddLru(core, pfn);
}
