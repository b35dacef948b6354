/**
 * Reverse-map accounting of folios (mm/rmap.c, include/linux/rmap.h, v6.18):
 * mapcounts, PageAnonExclusive, page->mapping, and the NR_ANON_MAPPED
 * statistic. Every PTE-mapped folio of the model is a single page, so the
 * *_pte variants here see small folios only; PMD-sized folios and their
 * *_pmd rmap live in lib/mm/huge_memory.ts.
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
import type { MmStruct } from "./mm_types.ts";
import { assertLocked } from "../kernel/locking.ts";
import { ERRNO } from "../kernel/errno.ts";
import { lookupPteTable, pteIndex, vmNormalPage } from "./memory.ts";
import {
  FOLL_GET,
  FOLL_SPLIT_PMD,
  FOLL_WRITE,
  getUserPages,
  getUserPageVmaRemote,
  putPage,
} from "./gup.ts";
import { folioLock, folioTrylock, folioUnlock } from "./filemap.ts";
import {
  MMU_NOTIFY_EXCLUSIVE,
  mmuNotifierInvalidateRangeEnd,
  mmuNotifierInvalidateRangeStart,
  mmuNotifierRangeInitOwner,
} from "./mmu_notifier.ts";
import { _PAGE_DIRTY, _PAGE_PRESENT, _PAGE_RW } from "../arch/x86/pgtable_types.ts";
import { pteSwpMksoftDirty, pteSwpMkuffdWp } from "../arch/x86/pgtable.ts";
import { swpEntryToPte } from "../pgtable/swapops.ts";

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
 * Allocates a new anonymous folio of 2^order pages
 * (vma_alloc_zeroed_movable_folio(), vma_alloc_folio() for a large one)
 * with the flags an anonymous folio carries; not yet mapped. Returns its
 * head, or -1 when memory is exhausted.
 */
export function allocAnonFolio(core: MmCore, order = 0): number {
  const m = core.memmap;
  const head = order ? m.allocFolio(order) : m.allocPage();
  if (head < 0) return -1;
  m.flags[head] |= PG_uptodate | PG_swapbacked | PG_lru;
  return head;
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

/**
 * folio_add_anon_rmap_pte() with RMAP_NONE: one more PTE maps an anonymous
 * page that is already in its anon_vma (PageAnonExclusive left as it is).
 */
export function folioAddAnonRmapPte(core: MmCore, pfn: number): void {
  if (++core.memmap.mapcount[pfn] === 1) core.vmstat.nr_anon_pages++;
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

// --- device-exclusive entries ---------------------------------------------------------

/** What make_device_exclusive() hands back: the page, locked and referenced. */
export interface DeviceExclusivePage {
  /** The pfn now behind a device-exclusive entry; the caller holds its folio lock and a GUP reference. */
  page: number;
}

/**
 * make_device_exclusive() (mm/rmap.c, v6.15+): make the page at `addr`
 * exclusive to a device, so that the device can do atomics on it that the
 * CPU cannot observe half-done. Called with mmap_lock held. Steps:
 *
 *  1. get_user_page_vma_remote() with FOLL_GET | FOLL_WRITE |
 *     FOLL_SPLIT_PMD: fault the page in writable (breaking COW; an entry
 *     that is already device-exclusive is restored by that fault first);
 *  2. anonymous folios only (-EOPNOTSUPP otherwise); lock the folio;
 *  3. MMU_NOTIFY_EXCLUSIVE with `owner` over the page, so that other
 *     secondary MMUs drop it and the caller can recognise its own event;
 *  4. walk the page table again: if the page is no longer mapped there
 *     writable, undo and start over (step 1);
 *  5. clear the PTE (its dirty bit goes to the folio) and install a
 *     device-exclusive entry naming the pfn, soft-dirty kept. The mapping
 *     itself stays: mapcount, refcount and rss are unchanged.
 *
 * Returns the page, with the folio locked and a reference held (the caller
 * does folio_unlock() and folio_put() once its device maps the page), or
 * -errno.
 */
export function makeDeviceExclusive(
  mm: MmStruct,
  addr: number,
  owner: unknown,
): DeviceExclusivePage | number {
  const core = mm.core;
  assertLocked(mm.mmap_lock, "make_device_exclusive");
  if (core.variants.deviceExclusiveRange) {
    throw new VmBugError("variant", "make_device_exclusive() is v6.15+; use the range API");
  }
  addr -= addr % 4096;
  for (;;) {
    // step 1
    const r = getUserPageVmaRemote(mm, addr, FOLL_GET | FOLL_WRITE | FOLL_SPLIT_PMD);
    if (typeof r === "number") return r;
    const { page: pfn } = r;
    // step 2
    if (!folioTestAnon(core, pfn)) {
      putPage(core, pfn);
      return -ERRNO.EOPNOTSUPP;
    }
    folioLock(core, pfn);
    // step 3
    const range = mmuNotifierRangeInitOwner(MMU_NOTIFY_EXCLUSIVE, 0, mm, addr, addr + 4096, owner);
    mmuNotifierInvalidateRangeStart(range);
    // step 4: folio_walk_start()
    const pt = lookupPteTable(mm, addr);
    const i = pteIndex(addr);
    if (pt) pt.ptl!.lock("make_device_exclusive");
    const lo = pt ? pt.e[2 * i] : 0, hi = pt ? pt.e[2 * i + 1] : 0;
    if (!pt || !(lo & _PAGE_PRESENT) || vmNormalPage(lo, hi) !== pfn || !(lo & _PAGE_RW)) {
      if (pt) pt.ptl!.unlock();
      mmuNotifierInvalidateRangeEnd(range);
      folioUnlock(core, pfn);
      putPage(core, pfn);
      continue;
    }
    // step 5: ptep_clear_flush(), then the entry.
    if (lo & _PAGE_DIRTY) folioMarkDirty(core, pfn);
    let swp = swpEntryToPte(core.swapops.makeDeviceExclusiveEntry(pfn));
    if (lo & core.softDirtyLo) swp = pteSwpMksoftDirty(swp, core.bits);
    // The PTE was writable, so uffd-wp does not apply.
    pt.set(i, swp);
    pt.ptl!.unlock();
    mmuNotifierInvalidateRangeEnd(range);
    return { page: pfn };
  }
}

/** struct make_exclusive_args (≤ v6.14). */
export interface MakeExclusiveArgs {
  mm: MmStruct;
  address: number;
  owner: unknown;
  /** Set when the walk met the PTE the caller asked for, writable. */
  valid: boolean;
}

/**
 * page_make_device_exclusive_one() (≤ v6.14): the rmap walk's step for one
 * VMA mapping the folio at `address`. MMU_NOTIFY_EXCLUSIVE with the
 * owner, then each present PTE of the folio becomes a WRITE or READ
 * device-exclusive entry and the mapcount drops (the reference stays with
 * the entry). `args.valid` is set only if this is the mm and the address
 * the caller asked about, and the PTE was writable: the check after GUP
 * that 001_5dec3032e006ff91.txt discusses (`ttp->address`). Returns false
 * if a mapping was not present.
 */
export function pageMakeDeviceExclusiveOne(
  pfn: number,
  vma: Vma,
  address: number,
  args: MakeExclusiveArgs,
): boolean {
  const mm = vma.vm_mm;
  const core = mm.core;
  const ops = core.swapops;
  const range = mmuNotifierRangeInitOwner(
    MMU_NOTIFY_EXCLUSIVE,
    0,
    mm,
    address,
    Math.min(vma.vm_end, address + 4096),
    args.owner,
  );
  mmuNotifierInvalidateRangeStart(range);
  let ret = true;
  const pt = lookupPteTable(mm, address);
  const i = pteIndex(address);
  if (pt) {
    pt.ptl!.lock("page_make_device_exclusive_one");
    const lo = pt.e[2 * i], hi = pt.e[2 * i + 1];
    if (!(lo & _PAGE_PRESENT)) {
      ret = false;
    } else if (vmNormalPage(lo, hi) === pfn) {
      if (lo & _PAGE_DIRTY) folioMarkDirty(core, pfn);
      const write = (lo & _PAGE_RW) !== 0;
      if (args.mm === mm && args.address === address && write) args.valid = true;
      let swp = swpEntryToPte(
        write
          ? ops.makeWritableDeviceExclusiveEntry(pfn)
          : ops.makeReadableDeviceExclusiveEntry(pfn),
      );
      if (lo & core.softDirtyLo) swp = pteSwpMksoftDirty(swp, core.bits);
      if (lo & core.uffdWpLo) swp = pteSwpMkuffdWp(swp, core.bits);
      pt.set(i, swp);
      folioRemoveRmapPte(core, pfn);
    }
    pt.ptl!.unlock();
  }
  mmuNotifierInvalidateRangeEnd(range);
  return ret;
}

/**
 * rmap_walk_anon() over the folio `pfn`: every VMA whose anon_vma chain
 * holds the folio's anon_vma, at the address its index maps to.
 */
export function rmapWalkAnon(
  core: MmCore,
  pfn: number,
  rmapOne: (vma: Vma, address: number) => boolean,
): void {
  const av = core.memmap.mapping[pfn];
  const index = core.memmap.index[pfn];
  for (const mm of core.mms) {
    for (const vma of mm.vmas) {
      if (!vma.anonVmaChain.some((a) => a.id === av)) continue;
      const address = vma.vm_start + (index - vma.vm_pgoff) * 4096;
      if (address < vma.vm_start || address >= vma.vm_end) continue;
      if (!rmapOne(vma, address)) return;
      if (core.memmap.mapcount[pfn] === 0) return; // .done = folio_not_mapped
    }
  }
}

/**
 * folio_make_device_exclusive() (≤ v6.14): anonymous folios only; walk
 * the rmap converting every mapping; success only if the walk met the
 * expected PTE (`valid`) and nothing maps the folio any more.
 */
export function folioMakeDeviceExclusive(
  pfn: number,
  mm: MmStruct,
  address: number,
  owner: unknown,
): boolean {
  const core = mm.core;
  if (!folioTestAnon(core, pfn)) return false;
  const args: MakeExclusiveArgs = { mm, address, owner, valid: false };
  rmapWalkAnon(core, pfn, (vma, a) => pageMakeDeviceExclusiveOne(pfn, vma, a, args));
  return args.valid && core.memmap.mapcount[pfn] === 0;
}

/**
 * make_device_exclusive_range() (v5.14-v6.14, the reviewed series): GUP
 * the whole range writable first (FOLL_GET | FOLL_WRITE | FOLL_SPLIT_PMD),
 * then for each page trylock the folio and convert it through the rmap
 * walk. A page that could not be made exclusive is left as it was and its
 * slot is null; the others come back locked and referenced. Called with
 * mmap_lock held. Returns the slots (one per page GUP returned) or -errno.
 */
export function makeDeviceExclusiveRange(
  mm: MmStruct,
  start: number,
  end: number,
  owner: unknown,
): (number | null)[] | number {
  const core = mm.core;
  assertLocked(mm.mmap_lock, "make_device_exclusive_range");
  if (!core.variants.deviceExclusiveRange) {
    throw new VmBugError(
      "variant",
      "make_device_exclusive_range() is ≤ v6.14; simulate() it with variants: { deviceExclusiveRange: true }",
    );
  }
  const got = getUserPages(mm, start, (end - start) / 4096, FOLL_WRITE | FOLL_SPLIT_PMD, {
    locked: true,
  });
  if (typeof got === "number") return got;
  const pages: (number | null)[] = [...got];
  for (let k = 0; k < pages.length; k++) {
    const pfn = pages[k]!;
    if (!folioTrylock(core, pfn)) {
      putPage(core, pfn);
      pages[k] = null;
      continue;
    }
    if (!folioMakeDeviceExclusive(pfn, mm, start + k * 4096, owner)) {
      folioUnlock(core, pfn);
      putPage(core, pfn);
      pages[k] = null;
    }
  }
  return pages;
}
