/**
 * Reverse-map accounting of folios (mm/rmap.c, include/linux/rmap.h, v6.18):
 * mapcounts, PageAnonExclusive, page->mapping, and the NR_ANON_MAPPED
 * statistic. The model's folios are single pages, so the *_pte variants
 * are the whole story.
 * @module
 */
import type { MmCore } from "./core.ts";
import {
  FOLIO_MAPPING_ANON,
  PG_anon_exclusive,
  PG_dirty,
  PG_lru,
  PG_swapbacked,
  PG_uptodate,
} from "./memmap.ts";
import {
  AnonVma,
  MM_ANONPAGES,
  MM_FILEPAGES,
  MM_SHMEMPAGES,
  VM_EXEC,
  VM_READ,
  VM_SOFTDIRTY,
  VM_WRITE,
  type Vma,
} from "./mm_types.ts";
import { VmBugError } from "../kernel/bug.ts";

/** folio_test_anon(). */
export function folioTestAnon(core: MmCore, pfn: number): boolean {
  return (core.memmap.flags[pfn] & FOLIO_MAPPING_ANON) !== 0;
}

/** PageAnonExclusive(). */
export function pageAnonExclusive(core: MmCore, pfn: number): boolean {
  return (core.memmap.flags[pfn] & PG_anon_exclusive) !== 0;
}

export function setPageAnonExclusive(core: MmCore, pfn: number): void {
  core.memmap.flags[pfn] |= PG_anon_exclusive;
}

export function clearPageAnonExclusive(core: MmCore, pfn: number): void {
  core.memmap.flags[pfn] &= ~PG_anon_exclusive;
}

/** mm_counter(): which rss counter a folio is charged to. */
export function mmCounter(core: MmCore, pfn: number): number {
  const f = core.memmap.flags[pfn];
  if (f & FOLIO_MAPPING_ANON) return MM_ANONPAGES;
  return f & PG_swapbacked ? MM_SHMEMPAGES : MM_FILEPAGES;
}

/** folio_mark_dirty(). */
export function folioMarkDirty(core: MmCore, pfn: number): void {
  core.memmap.flags[pfn] |= PG_dirty;
}

/**
 * anon_vma_prepare(): give the VMA an anon_vma before its first anonymous
 * page. Returns false when out of memory (the caller returns VM_FAULT_OOM).
 */
export function anonVmaPrepare(core: MmCore, vma: Vma): boolean {
  if (vma.anon_vma) return true;
  const av = findMergeableAnonVma(vma) ??
    core.register((id) => new AnonVma(id, null)) as AnonVma;
  vma.anon_vma = av;
  vma.anonVmaChain = [av];
  return true;
}

/**
 * anon_vma_compatible(): adjacent VMAs `a` then `b` that could one day be
 * merged again (same file, flags equal but for access and soft-dirty bits,
 * contiguous page offsets).
 */
function anonVmaCompatible(a: Vma, b: Vma): boolean {
  const ignore = VM_READ | VM_WRITE | VM_EXEC | VM_SOFTDIRTY;
  return a.vm_end === b.vm_start && a.vm_file === b.vm_file &&
    ((a.vm_flags ^ b.vm_flags) & ~ignore) === 0 &&
    b.vm_pgoff === a.vm_pgoff + (b.vm_start - a.vm_start) / 4096;
}

/**
 * find_mergeable_anon_vma(): reuse the anon_vma of the next, then the
 * previous VMA, when it is compatible and not a fork child's (its chain
 * holds only that anon_vma), so that mprotect() can merge the VMAs again
 * later.
 */
function findMergeableAnonVma(vma: Vma): AnonVma | null {
  const vmas = vma.vm_mm.vmas;
  const i = vmas.indexOf(vma);
  const reusable = (old: Vma | undefined, a: Vma | undefined, b: Vma | undefined) =>
    old && a && b && anonVmaCompatible(a, b) && old.anon_vma && old.anonVmaChain.length === 1
      ? old.anon_vma
      : null;
  const next = vmas[i + 1], prev = i > 0 ? vmas[i - 1] : undefined;
  return reusable(next, vma, next) ?? reusable(prev, prev, vma);
}

/**
 * Allocates a new anonymous folio for `vma` (vma_alloc_zeroed_movable_folio)
 * with the flags an anonymous folio carries; not yet mapped. Returns -1 when
 * memory is exhausted.
 */
export function allocAnonFolio(core: MmCore): number {
  const pfn = core.memmap.allocPage();
  if (pfn < 0) return -1;
  core.memmap.flags[pfn] = PG_uptodate | PG_swapbacked | PG_lru;
  return pfn;
}

/**
 * folio_add_new_anon_rmap(): first mapping of a new anonymous folio;
 * with RMAP_EXCLUSIVE it is PageAnonExclusive.
 */
export function folioAddNewAnonRmap(
  core: MmCore,
  pfn: number,
  vma: Vma,
  addr: number,
  exclusive: boolean,
): void {
  const m = core.memmap;
  if (!vma.anon_vma) {
    throw new VmBugError("anon_vma", "anonymous folio mapped into a VMA without anon_vma");
  }
  m.flags[pfn] = (m.flags[pfn] | FOLIO_MAPPING_ANON | (exclusive ? PG_anon_exclusive : 0)) >>> 0;
  m.mapping[pfn] = vma.anon_vma.id;
  m.index[pfn] = vma.linearPageIndex(addr);
  m.mapcount[pfn] = 1;
  core.vmstat.nr_anon_pages++;
}

/** folio_move_anon_rmap(): an exclusive folio moves to this VMA's own anon_vma. */
export function folioMoveAnonRmap(core: MmCore, pfn: number, vma: Vma): void {
  if (vma.anon_vma) core.memmap.mapping[pfn] = vma.anon_vma.id;
}

/** folio_add_file_rmap_pte(). */
export function folioAddFileRmapPte(core: MmCore, pfn: number): void {
  core.memmap.mapcount[pfn]++;
}

/**
 * folio_try_dup_anon_rmap_pte() (fork): share an anonymous page with the
 * child. A PageAnonExclusive page that may be pinned cannot be shared
 * (returns false: the caller copies it); otherwise the exclusive marker is
 * cleared and the mapcount raised.
 */
export function folioTryDupAnonRmapPte(core: MmCore, pfn: number, maybePinned: boolean): boolean {
  if (pageAnonExclusive(core, pfn) && maybePinned) return false;
  clearPageAnonExclusive(core, pfn);
  core.memmap.mapcount[pfn]++;
  return true;
}

/** folio_dup_file_rmap_pte(). */
export function folioDupFileRmapPte(core: MmCore, pfn: number): void {
  core.memmap.mapcount[pfn]++;
}

/** folio_remove_rmap_pte(): one PTE less maps the page. */
export function folioRemoveRmapPte(core: MmCore, pfn: number): void {
  const m = core.memmap;
  const n = --m.mapcount[pfn];
  if (n < 0) {
    throw new VmBugError("mapcount underflow", "folio_remove_rmap_pte() below zero", { pfn });
  }
  if (n === 0 && (m.flags[pfn] & FOLIO_MAPPING_ANON)) core.vmstat.nr_anon_pages--;
}
