/**
 * /proc/pid/pagemap (fs/proc/task_mmu.c, v6.18): pagemap_read()'s one 64-bit
 * entry per virtual page, and the PAGEMAP_SCAN ioctl (do_pagemap_scan()).
 * @module
 */
import {
  MAX_SWAPFILES_SHIFT,
  PAGE_IS_FILE,
  PAGE_IS_GUARD,
  PAGE_IS_HUGE,
  PAGE_IS_PFNZERO,
  PAGE_IS_PRESENT,
  PAGE_IS_SOFT_DIRTY,
  PAGE_IS_SWAPPED,
  PAGE_IS_WPALLOWED,
  PAGE_IS_WRITTEN,
  PAGE_SIZE,
  PAGEMAP_WALK_PAGES,
  PM_FILE,
  PM_GUARD_REGION,
  PM_MMAP_EXCLUSIVE,
  PM_PFRAME_MASK,
  PM_PRESENT,
  PM_SCAN_CATEGORIES,
  PM_SCAN_CHECK_WPASYNC,
  PM_SCAN_FLAGS,
  PM_SCAN_WP_MATCHING,
  PM_SOFT_DIRTY,
  PM_SWAP,
  PM_UFFD_WP,
  PMD_SIZE,
  TASK_SIZE,
} from "../kernel/constants.ts";
import type { MmStruct, Vma } from "../mm/mm_types.ts";
import { VM_PFNMAP, VM_SOFTDIRTY } from "../mm/mm_types.ts";
import { lookupPteTable, pteIndex, vmNormalPage } from "../mm/memory.ts";
import { folioTestAnon } from "../mm/rmap.ts";
import {
  hugePmdAt,
  isHugeZeroPmd,
  pmdMkuffdWpLo,
  pmdOffset,
  splitHugePmd,
} from "../mm/huge_memory.ts";
import { _PAGE_PRESENT, _PAGE_PROTNONE } from "../arch/x86/pgtable_types.ts";
import {
  pteFromHalves,
  pteMkuffdWp,
  pteSwpMkuffdWp,
  pteSwpSoftDirty,
  pteSwpUffdWp,
} from "../arch/x86/pgtable.ts";
import { PTE_MARKER_UFFD_WP, pteToSwpEntry } from "../pgtable/swapops.ts";
import { halvesPfn, type PageTable } from "../pgtable/pgtable.ts";
import { ERRNO } from "../kernel/errno.ts";
import { assertLocked } from "../kernel/locking.ts";
import {
  pteSwpUffdWpAny,
  userfaultfdWp,
  userfaultfdWpAsync,
  userfaultfdWpUseMarkers,
} from "../userfaultfd/userfaultfd.ts";
import { MMU_NOTIFY_PROTECTION_VMA, withMmuNotifier } from "../mm/mmu_notifier.ts";
import { uffdWpRange } from "../userfaultfd/mfill.ts";

/** A decoded pagemap entry: the raw value and its named fields. */
export interface PagemapEntry {
  raw: bigint;
  present: boolean;
  swapped: boolean;
  /** PM_FILE: a file page or shared-anonymous (shmem) page. */
  file: boolean;
  /** PM_MMAP_EXCLUSIVE: mapped by exactly one PTE. */
  exclusive: boolean;
  softDirty: boolean;
  uffdWp: boolean;
  guard: boolean;
  /** PFN when present (0 without CAP_SYS_ADMIN), else null. */
  pfn: number | null;
  /** Swap type and offset when swapped, else null. */
  swapType: number | null;
  swapOffset: number | null;
}

/** Decodes a raw pagemap value. */
export function decodePagemapEntry(raw: bigint): PagemapEntry {
  const present = (raw & PM_PRESENT) !== 0n;
  const swapped = (raw & PM_SWAP) !== 0n;
  const frame = raw & PM_PFRAME_MASK;
  return {
    raw,
    present,
    swapped,
    file: (raw & PM_FILE) !== 0n,
    exclusive: (raw & PM_MMAP_EXCLUSIVE) !== 0n,
    softDirty: (raw & PM_SOFT_DIRTY) !== 0n,
    uffdWp: (raw & PM_UFFD_WP) !== 0n,
    guard: (raw & PM_GUARD_REGION) !== 0n,
    pfn: present ? Number(frame) : null,
    swapType: swapped ? Number(frame & 0x1fn) : null,
    swapOffset: swapped ? Number(frame >> BigInt(MAX_SWAPFILES_SHIFT)) : null,
  };
}

/**
 * The pagemap value for `addr` (pte_to_pagemap_entry(), and
 * pagemap_pte_hole() inside a VMA). `showPfn` is the reader's
 * CAP_SYS_ADMIN: without it PFNs read as 0.
 */
export function pagemapEntry(mm: MmStruct, addr: number, showPfn: boolean): bigint {
  if (addr >= TASK_SIZE) return 0n;
  const vma = mm.vmaLookup(addr);
  if (!vma) return 0n;
  const core = mm.core;
  let flags = 0n;
  let frame = 0n;
  const huge = hugePmdAt(mm, addr);
  if (huge) return pagemapPmdEntry(mm, addr, huge.lo, huge.hi, showPfn, vma.vm_flags);
  const pt = lookupPteTable(mm, addr);
  const i = pteIndex(addr);
  const lo = pt ? pt.e[2 * i] : 0, hi = pt ? pt.e[2 * i + 1] : 0;
  if (lo & (_PAGE_PRESENT | _PAGE_PROTNONE)) {
    const pfn = vmNormalPage(lo, hi);
    if (showPfn) frame = BigInt((hi & 0xfffff) * 0x100000 + (lo >>> 12));
    flags |= PM_PRESENT;
    if (lo & core.softDirtyLo) flags |= PM_SOFT_DIRTY;
    if (lo & core.uffdWpLo) flags |= PM_UFFD_WP;
    if (pfn >= 0) {
      if (!folioTestAnon(core, pfn)) flags |= PM_FILE;
      if (core.memmap.mapcount[pfn] === 1) flags |= PM_MMAP_EXCLUSIVE;
    }
  } else if (lo !== 0 || hi !== 0) {
    const pte = pteFromHalves(lo, hi);
    const ops = core.swapops;
    if (pteSwpSoftDirty(pte, core.bits)) flags |= PM_SOFT_DIRTY;
    if (pteSwpUffdWp(pte, core.bits)) flags |= PM_UFFD_WP;
    const entry = pteToSwpEntry(pte);
    if (showPfn) {
      const offset = entry.offset;
      frame = BigInt(entry.type) | (offset << BigInt(MAX_SWAPFILES_SHIFT));
      frame &= PM_PFRAME_MASK;
    }
    flags |= PM_SWAP;
    // Since v6.10 PM_MMAP_EXCLUSIVE is reported with PM_PRESENT only.
    if (ops.isPfnSwapEntry(entry) && !folioTestAnon(core, ops.swpOffsetPfn(entry))) {
      flags |= PM_FILE;
    }
    if (ops.pteMarkerEntryUffdWp(entry)) flags |= PM_UFFD_WP;
    if (ops.isGuardSwpEntry(entry)) flags |= PM_GUARD_REGION;
  }
  if (vma.vm_flags & VM_SOFTDIRTY) flags |= PM_SOFT_DIRTY;
  return flags | frame;
}

// --- PAGEMAP_SCAN ------------------------------------------------------------
//
// The PAGEMAP_SCAN ioctl of /proc/pid/pagemap (fs/proc/task_mmu.c
// do_pagemap_scan() and the pagemap_scan_* walk callbacks). Lock order:
// mmap_lock (read) → PTE lock (in pagemap_scan_pmd_entry()).
//
// Behaviour follows the v6.18 stable kernels (this kit's live oracle runs
// 6.18.44): a none PTE is PAGE_IS_WRITTEN (pagemap_page_category()), and so
// is an unpopulated range (no page table) of a uffd-wp VMA
// (pagemap_scan_pte_hole()), so that "written" means "not write-protected"
// everywhere and the fast PAGE_IS_WRITTEN path agrees with the general one.
//
// A PMD-mapped THP is one entry for 512 pages (pagemap_scan_thp_entry()):
// PAGE_IS_HUGE with the PMD's categories; if it matches, is written, and a
// PM_SCAN_WP_MATCHING scan reports only part of it (max_pages, a full
// array, a range that covers part of it), the PMD is split
// (split_huge_pmd()), what was reported is taken back, and the pages are
// walked as PTEs, so that exactly the pages reported are write-protected.
// A written THP the scan covers whole is write-protected by its PMD
// (make_uffd_wp_pmd()) and stays huge.

/** struct pm_scan_arg, the caller's side (camelCase fields of the C struct). */
export interface PmScanArg {
  /** PM_SCAN_WP_MATCHING, PM_SCAN_CHECK_WPASYNC. */
  flags?: number;
  start: number;
  end: number;
  /** Entries the caller's page_region array holds; 0 = no array (vec NULL). */
  vecLen?: number;
  /** Stop after this many pages are reported (0 = no limit). */
  maxPages?: number;
  /** Categories that match when 0 instead of 1. */
  categoryInverted?: number;
  /** Every one of these categories must match. */
  categoryMask?: number;
  /** At least one of these must match (0 = no such test). */
  categoryAnyofMask?: number;
  /** The categories reported in each page_region. */
  returnMask?: number;
}

/** struct page_region: [start, end) with the categories all its pages share. */
export interface PageRegion {
  start: number;
  end: number;
  categories: number;
}

/** What PAGEMAP_SCAN returns: the regions written to vec, and pm_scan_arg.walk_end. */
export interface PagemapScanResult {
  regions: PageRegion[];
  /** Where the walk stopped: `end` when the whole range was scanned. */
  walkEnd: number;
}

/** struct pagemap_scan_private. */
interface PagemapScanPrivate {
  arg: Required<PmScanArg> & { walkEnd: number };
  masksOfInterest: number;
  curVmaCategory: number;
  /** The bounce buffer (kmalloc'd vec_buf), null without an output array. */
  vecBuf: PageRegion[] | null;
  vecBufLen: number;
  vecBufIndex: number;
  foundPages: number;
  /** The caller's array (vec_out): regions are copied here at each flush. */
  vecOut: PageRegion[] | null;
}

/** pte_present() && pte_uffd_wp(), on a PTE's halves. */
function ptePresentUffdWp(mm: MmStruct, lo: number): boolean {
  return (lo & (_PAGE_PRESENT | _PAGE_PROTNONE)) !== 0 && (lo & mm.core.uffdWpLo) !== 0;
}

/** pagemap_page_category(): the PAGE_IS_* categories of one PTE. */
export function pagemapPageCategory(
  mm: MmStruct,
  lo: number,
  hi: number,
  masksOfInterest: number,
): number {
  const core = mm.core;
  // A none PTE carries no uffd-wp marker: it is not write-protected.
  if (lo === 0 && hi === 0) return PAGE_IS_WRITTEN;
  let categories = 0;
  if (lo & (_PAGE_PRESENT | _PAGE_PROTNONE)) {
    categories |= PAGE_IS_PRESENT;
    if (!(lo & core.uffdWpLo)) categories |= PAGE_IS_WRITTEN;
    if (masksOfInterest & PAGE_IS_FILE) {
      const pfn = vmNormalPage(lo, hi);
      if (pfn >= 0 && !folioTestAnon(core, pfn)) categories |= PAGE_IS_FILE;
    }
    if (halvesPfn(lo, hi) === core.zeroPfn) categories |= PAGE_IS_PFNZERO;
    if (lo & core.softDirtyLo) categories |= PAGE_IS_SOFT_DIRTY;
    return categories;
  }
  const pte = pteFromHalves(lo, hi);
  const ops = core.swapops;
  categories |= PAGE_IS_SWAPPED;
  if (!pteSwpUffdWpAny(mm.core, pte)) categories |= PAGE_IS_WRITTEN;
  const swp = pteToSwpEntry(pte);
  if (ops.isGuardSwpEntry(swp)) categories |= PAGE_IS_GUARD;
  else if (
    (masksOfInterest & PAGE_IS_FILE) && ops.isPfnSwapEntry(swp) &&
    !folioTestAnon(core, ops.swpOffsetPfn(swp))
  ) {
    categories |= PAGE_IS_FILE;
  }
  if (pteSwpSoftDirty(pte, core.bits)) categories |= PAGE_IS_SOFT_DIRTY;
  return categories;
}

/**
 * make_uffd_wp_pte(): write-protect one PTE for uffd-wp: a present PTE
 * gets the uffd-wp bit (pte_mkuffd_wp() also clears _PAGE_RW), a swap PTE
 * or marker its swap uffd-wp bit, a none PTE a uffd-wp marker.
 * Called with the PTE lock held.
 */
function makeUffdWpPte(mm: MmStruct, pt: PageTable, i: number): void {
  assertLocked(pt.ptl!, "make_uffd_wp_pte");
  const core = mm.core;
  const lo = pt.e[2 * i], hi = pt.e[2 * i + 1];
  if (lo & (_PAGE_PRESENT | _PAGE_PROTNONE)) {
    pt.set(i, pteMkuffdWp(pteFromHalves(lo, hi), core.bits));
  } else if (lo !== 0 || hi !== 0) {
    pt.set(i, pteSwpMkuffdWp(pteFromHalves(lo, hi), core.bits));
  } else {
    pt.set(i, core.swapops.makePteMarker(PTE_MARKER_UFFD_WP));
  }
}

/** pagemap_scan_is_interesting_page(). */
function pagemapScanIsInterestingPage(categories: number, p: PagemapScanPrivate): boolean {
  categories ^= p.arg.categoryInverted;
  if ((categories & p.arg.categoryMask) !== p.arg.categoryMask) return false;
  if (p.arg.categoryAnyofMask && !(categories & p.arg.categoryAnyofMask)) return false;
  return true;
}

/** pagemap_scan_is_interesting_vma(): only PAGE_IS_WPALLOWED is decided per VMA. */
function pagemapScanIsInterestingVma(categories: number, p: PagemapScanPrivate): boolean {
  const required = p.arg.categoryMask & PAGE_IS_WPALLOWED;
  categories ^= p.arg.categoryInverted;
  return (categories & required) === required;
}

/**
 * pagemap_scan_test_walk(): 0 to walk the VMA, 1 to skip it, -EPERM for a
 * VMA without WP_ASYNC protection under PM_SCAN_CHECK_WPASYNC. A VMA that
 * cannot be write-protected is skipped silently under PM_SCAN_WP_MATCHING.
 */
function pagemapScanTestWalk(vma: Vma, p: PagemapScanPrivate): number {
  const wpAllowed = userfaultfdWpAsync(vma) && userfaultfdWpUseMarkers(vma);
  if (!wpAllowed) {
    if (p.arg.flags & PM_SCAN_CHECK_WPASYNC) return -ERRNO.EPERM;
    if (p.arg.flags & PM_SCAN_WP_MATCHING) return 1;
  }
  if (vma.vm_flags & VM_PFNMAP) return 1;
  let vmaCategory = 0;
  if (wpAllowed) vmaCategory |= PAGE_IS_WPALLOWED;
  if (vma.vm_flags & VM_SOFTDIRTY) vmaCategory |= PAGE_IS_SOFT_DIRTY;
  if (!pagemapScanIsInterestingVma(vmaCategory, p)) return 1;
  p.curVmaCategory = vmaCategory;
  return 0;
}

/**
 * pagemap_scan_push_range(): extend the current region if [addr, end)
 * continues it with the same categories, else start the next one; false
 * when the bounce buffer is full.
 */
function pagemapScanPushRange(
  categories: number,
  p: PagemapScanPrivate,
  addr: number,
  end: number,
): boolean {
  const buf = p.vecBuf!;
  let cur = buf[p.vecBufIndex];
  if (addr === cur.end && categories === cur.categories) {
    cur.end = end;
    return true;
  }
  if (cur.end) {
    if (p.vecBufIndex >= p.vecBufLen - 1) return false;
    cur = buf[++p.vecBufIndex];
  }
  cur.start = addr;
  cur.end = end;
  cur.categories = categories;
  return true;
}

/**
 * pagemap_scan_output(): report [addr, end) with `categories` (masked by
 * return_mask). Cuts `end` back to respect max_pages, or to `addr` when
 * the buffer is full; either way returns -ENOSPC and records walk_end.
 * Returns the (possibly shortened) end beside the status.
 */
function pagemapScanOutput(
  categories: number,
  p: PagemapScanPrivate,
  addr: number,
  end: number,
): { ret: number; end: number } {
  if (!p.vecBuf) return { ret: 0, end };
  let ret = 0;
  categories &= p.arg.returnMask;
  let nPages = (end - addr) / PAGE_SIZE;
  const totalPages = p.foundPages + nPages;
  if (totalPages > p.arg.maxPages) {
    const nTooMuch = totalPages - p.arg.maxPages;
    end -= nTooMuch * PAGE_SIZE;
    nPages -= nTooMuch;
    ret = -ERRNO.ENOSPC;
  }
  if (!pagemapScanPushRange(categories, p, addr, end)) {
    end = addr;
    nPages = 0;
    ret = -ERRNO.ENOSPC;
  }
  p.foundPages += nPages;
  if (ret) p.arg.walkEnd = end;
  return { ret, end };
}

/**
 * pagemap_scan_pmd_entry() for a PMD that points at a PTE table: the
 * exclusive-WP fast path (WP_MATCHING without an output array), the
 * PAGE_IS_WRITTEN-only fast path, or the general loop. Takes the PTE lock.
 */
function pagemapScanPmdEntry(
  vma: Vma,
  pt: PageTable,
  start: number,
  end: number,
  p: PagemapScanPrivate,
): number {
  const mm = vma.vm_mm;
  const wp = (p.arg.flags & PM_SCAN_WP_MATCHING) !== 0;
  let ret = 0;
  pt.ptl!.lock("pagemap_scan_pmd_entry");
  try {
    const pteAt = (addr: number) => {
      const i = pteIndex(addr);
      return { i, lo: pt.e[2 * i], hi: pt.e[2 * i + 1] };
    };
    const isWp = (lo: number, hi: number) =>
      ptePresentUffdWp(mm, lo) || pteSwpUffdWpAny(mm.core, pteFromHalves(lo, hi));
    if (wp && !p.vecOut) {
      // Fast path for performing exclusive WP.
      for (let addr = start; addr !== end; addr += PAGE_SIZE) {
        const { i, lo, hi } = pteAt(addr);
        if (!isWp(lo, hi)) makeUffdWpPte(mm, pt, i);
      }
      return 0;
    }
    const a = p.arg;
    if (
      !a.categoryAnyofMask && !a.categoryInverted && a.categoryMask === PAGE_IS_WRITTEN &&
      a.returnMask === PAGE_IS_WRITTEN
    ) {
      for (let addr = start; addr < end; addr += PAGE_SIZE) {
        const { i, lo, hi } = pteAt(addr);
        if (isWp(lo, hi)) continue;
        const out = pagemapScanOutput(
          p.curVmaCategory | PAGE_IS_WRITTEN,
          p,
          addr,
          addr + PAGE_SIZE,
        );
        ret = out.ret;
        if (out.end === addr) break;
        if (wp) makeUffdWpPte(mm, pt, i);
      }
      return ret;
    }
    for (let addr = start; addr !== end; addr += PAGE_SIZE) {
      const { i, lo, hi } = pteAt(addr);
      const categories = p.curVmaCategory | pagemapPageCategory(mm, lo, hi, p.masksOfInterest);
      if (!pagemapScanIsInterestingPage(categories, p)) continue;
      const out = pagemapScanOutput(categories, p, addr, addr + PAGE_SIZE);
      ret = out.ret;
      if (out.end === addr) break;
      if (!wp || !(categories & PAGE_IS_WRITTEN)) continue;
      makeUffdWpPte(mm, pt, i);
    }
    return ret;
  } finally {
    pt.ptl!.unlock();
  }
}

/**
 * pagemap_thp_category(): the categories of a present huge PMD (the model
 * has no PMD-level swap or migration entries).
 */
function pagemapThpCategory(mm: MmStruct, lo: number, hi: number, masksOfInterest: number): number {
  const core = mm.core;
  let categories = PAGE_IS_HUGE | PAGE_IS_PRESENT;
  if (!(lo & core.uffdWpLo)) categories |= PAGE_IS_WRITTEN;
  const zero = isHugeZeroPmd(core, lo, hi);
  // vm_normal_page_pmd() is NULL for the huge zero folio.
  if ((masksOfInterest & PAGE_IS_FILE) && !zero && !folioTestAnon(core, halvesPfn(lo, hi))) {
    categories |= PAGE_IS_FILE;
  }
  if (zero) categories |= PAGE_IS_PFNZERO;
  if (lo & core.softDirtyLo) categories |= PAGE_IS_SOFT_DIRTY;
  return categories;
}

/**
 * pagemap_scan_backout_range(): take back the pages [addr, end) that the
 * last pagemap_scan_output() reported.
 */
function pagemapScanBackoutRange(p: PagemapScanPrivate, addr: number, end: number): void {
  if (!p.vecBuf) return;
  const cur = p.vecBuf[p.vecBufIndex];
  if (cur.start !== addr) cur.end = addr;
  else cur.start = cur.end = 0;
  p.foundPages -= (end - addr) / PAGE_SIZE;
}

/**
 * pagemap_scan_thp_entry(): -ENOENT when [start, end) is not mapped by a
 * huge PMD (or was just split: walk the PTEs), else the output status.
 * Takes the PMD lock (pmd_trans_huge_lock()).
 */
function pagemapScanThpEntry(
  vma: Vma,
  start: number,
  end: number,
  p: PagemapScanPrivate,
): number {
  const mm = vma.vm_mm;
  const at = pmdOffset(mm, start);
  if (!at || !hugePmdAt(mm, start)) return -ERRNO.ENOENT;
  const ptl = at.pmd.ptl!;
  ptl.lock("pagemap_scan_thp_entry");
  const lo = at.pmd.e[2 * at.i], hi = at.pmd.e[2 * at.i + 1];
  const categories = p.curVmaCategory | pagemapThpCategory(mm, lo, hi, p.masksOfInterest);
  if (!pagemapScanIsInterestingPage(categories, p)) {
    ptl.unlock();
    return 0;
  }
  const out = pagemapScanOutput(categories, p, start, end);
  if (
    out.end === start || !(p.arg.flags & PM_SCAN_WP_MATCHING) ||
    !(categories & PAGE_IS_WRITTEN)
  ) {
    ptl.unlock();
    return out.ret;
  }
  if (out.end !== start + PMD_SIZE) {
    // Part of the huge page: split it, take back what was reported, and
    // report as if there was no THP (the PTE walk follows).
    ptl.unlock();
    splitHugePmd(vma, start);
    pagemapScanBackoutRange(p, start, out.end);
    return -ERRNO.ENOENT;
  }
  makeUffdWpPmd(mm, at.pmd, at.i);
  ptl.unlock();
  return out.ret;
}

/**
 * make_uffd_wp_pmd(): write-protect a whole huge PMD for the monitor
 * (pmdp_invalidate_ad(), then pmd_mkuffd_wp(): uffd-wp set, write
 * cleared). Called with the PMD lock held.
 */
function makeUffdWpPmd(mm: MmStruct, pmd: PageTable, i: number): void {
  pmd.e[2 * i] = pmdMkuffdWpLo(mm.core, pmd.e[2 * i]);
}

/**
 * pagemap_scan_pte_hole(): a range without a page table inside a VMA. In a
 * uffd-wp VMA it counts as written (protection would have left markers);
 * under WP_MATCHING it is write-protected with uffd_wp_range(), which
 * allocates page tables and installs markers.
 */
function pagemapScanPteHole(vma: Vma, addr: number, end: number, p: PagemapScanPrivate): number {
  let categories = p.curVmaCategory;
  if (userfaultfdWp(vma)) categories |= PAGE_IS_WRITTEN;
  if (!pagemapScanIsInterestingPage(categories, p)) return 0;
  const out = pagemapScanOutput(categories, p, addr, end);
  let ret = out.ret;
  if (addr === out.end) return ret;
  if (!(p.arg.flags & PM_SCAN_WP_MATCHING)) return ret;
  const err = uffdWpRange(vma, addr, out.end, true);
  if (err < 0) ret = err;
  return ret;
}

/**
 * walk_page_range() with pagemap_scan_ops: VMA by VMA (test_walk), then
 * one PMD span at a time, pmd_entry where a PTE table exists and pte_hole
 * where none does. Holes between VMAs report nothing. Stops at the first
 * non-zero return. Called with mmap_lock held for read.
 */
function walkPageRangePagemapScan(
  mm: MmStruct,
  start: number,
  end: number,
  p: PagemapScanPrivate,
): number {
  assertLocked(mm.mmap_lock, "walk_page_range");
  for (const vma of mm.vmas) {
    if (vma.vm_end <= start) continue;
    if (vma.vm_start >= end) break;
    const vs = Math.max(start, vma.vm_start), ve = Math.min(end, vma.vm_end);
    const t = pagemapScanTestWalk(vma, p);
    if (t > 0) continue;
    if (t < 0) return t;
    for (let addr = vs; addr < ve;) {
      const next = Math.min(ve, (Math.floor(addr / PMD_SIZE) + 1) * PMD_SIZE);
      const thp = pagemapScanThpEntry(vma, addr, next, p);
      if (thp !== -ERRNO.ENOENT) {
        if (thp) return thp;
        addr = next;
        continue;
      }
      const pt = lookupPteTable(mm, addr);
      const err = pt
        ? pagemapScanPmdEntry(vma, pt, addr, next, p)
        : pagemapScanPteHole(vma, addr, next, p);
      if (err) return err;
      addr = next;
    }
  }
  return 0;
}

/**
 * pagemap_scan_get_args(): -EINVAL for unknown flags or categories or an
 * unaligned start, -EFAULT when [start, end) is not a user range
 * (access_ok(): end below start, or above TASK_SIZE_MAX). Then end is
 * rounded up to a page and max_pages 0 means no limit.
 */
function pagemapScanGetArgs(arg: Required<PmScanArg>): number {
  if (arg.flags & ~PM_SCAN_FLAGS) return -ERRNO.EINVAL;
  const masks = arg.categoryInverted | arg.categoryMask | arg.categoryAnyofMask | arg.returnMask;
  if (masks & ~PM_SCAN_CATEGORIES) return -ERRNO.EINVAL;
  if (arg.start % PAGE_SIZE) return -ERRNO.EINVAL;
  // x86-64 __access_ok(start, end - start): start + size (= end, mod 2^64)
  // must not pass USER_PTR_MAX (TASK_SIZE_MAX) nor wrap below start.
  if (arg.end > TASK_SIZE || arg.end < arg.start) return -ERRNO.EFAULT;
  return 0;
}

/** pagemap_scan_flush_buffer(): copy the finished regions out; their number. */
function pagemapScanFlushBuffer(p: PagemapScanPrivate): number {
  const buf = p.vecBuf;
  if (!buf) return 0;
  let n = p.vecBufIndex;
  if (buf[n].end !== buf[n].start) n++;
  if (!n) return 0;
  for (let i = 0; i < n; i++) p.vecOut!.push({ ...buf[i] });
  p.arg.vecLen -= n;
  p.vecBufIndex = 0;
  p.vecBufLen = Math.min(p.vecBufLen, p.arg.vecLen);
  buf[0].start = buf[0].end = 0;
  return n;
}

/**
 * do_pagemap_scan(): walk [start, end) in rounds, each under mmap_lock for
 * read, until the range is done, the caller's array is full or max_pages
 * pages were found. A round ends early (-ENOSPC inside the walk) when the
 * bounce buffer of PAGEMAP_WALK_PAGES regions fills up or max_pages cuts
 * the output; that -ENOSPC never reaches the caller, who sees the number
 * of regions and walk_end. Returns that number or -errno, with the regions.
 */
export function doPagemapScan(
  mm: MmStruct,
  input: Required<PmScanArg>,
): { ret: number; regions: PageRegion[]; walkEnd: number } {
  const arg = { ...input, walkEnd: 0 };
  const regions: PageRegion[] = [];
  let ret = pagemapScanGetArgs(arg);
  if (ret) return { ret, regions, walkEnd: 0 };
  arg.end = Math.ceil(arg.end / PAGE_SIZE) * PAGE_SIZE;
  if (!arg.maxPages) arg.maxPages = Infinity;
  const p: PagemapScanPrivate = {
    arg,
    masksOfInterest: arg.categoryMask | arg.categoryAnyofMask | arg.returnMask,
    curVmaCategory: 0,
    vecBuf: null,
    vecBufLen: 0,
    vecBufIndex: 0,
    foundPages: 0,
    vecOut: null,
  };
  // pagemap_scan_init_bounce_buffer()
  if (arg.vecLen) {
    p.vecBufLen = Math.min(PAGEMAP_WALK_PAGES, arg.vecLen);
    p.vecBuf = Array.from({ length: p.vecBufLen }, () => ({ start: 0, end: 0, categories: 0 }));
    p.vecOut = regions;
  }
  let nRangesOut = 0;
  for (let walkStart = arg.start; walkStart < arg.end; walkStart = arg.walkEnd) {
    mm.mmap_lock.downRead();
    try {
      // With PM_SCAN_WP_MATCHING the walk write-protects PTEs: it is
      // bracketed by an MMU_NOTIFY_PROTECTION_VMA invalidation.
      if (arg.flags & PM_SCAN_WP_MATCHING) {
        ret = withMmuNotifier(
          MMU_NOTIFY_PROTECTION_VMA,
          mm,
          walkStart,
          arg.end,
          () => walkPageRangePagemapScan(mm, walkStart, arg.end, p),
        );
      } else {
        ret = walkPageRangePagemapScan(mm, walkStart, arg.end, p);
      }
    } finally {
      mm.mmap_lock.upRead();
    }
    nRangesOut += pagemapScanFlushBuffer(p);
    if (ret !== -ERRNO.ENOSPC) break;
    if (arg.vecLen === 0 || p.foundPages === arg.maxPages) break;
  }
  // -ENOSPC signifies an early stop (buffer full or max_pages) of the walk.
  if (!ret || ret === -ERRNO.ENOSPC) ret = nRangesOut;
  // walk_end is set only when the output was cut short.
  if (!arg.walkEnd) arg.walkEnd = arg.end;
  return { ret, regions, walkEnd: arg.walkEnd };
}

/**
 * pagemap_pmd_range() for a huge PMD: every 4 KiB page reads PM_PRESENT
 * with its own frame (pmd_pfn() + index), the PMD's soft-dirty and uffd-wp
 * bits, PM_FILE unless the folio is anonymous (the huge zero folio is not),
 * and PM_MMAP_EXCLUSIVE when the page is mapped once
 * (__folio_page_mapped_exclusively(): with CONFIG_PAGE_MAPCOUNT, the page's
 * mapcount plus the folio's entire mapcount).
 */
function pagemapPmdEntry(
  mm: MmStruct,
  addr: number,
  lo: number,
  hi: number,
  showPfn: boolean,
  vmFlags: number,
): bigint {
  const core = mm.core;
  const m = core.memmap;
  let flags = 0n;
  let frame = 0n;
  if (vmFlags & VM_SOFTDIRTY) flags |= PM_SOFT_DIRTY;
  const head = halvesPfn(lo, hi);
  const page = head + pteIndex(addr);
  flags |= PM_PRESENT;
  if (lo & core.softDirtyLo) flags |= PM_SOFT_DIRTY;
  if (lo & core.uffdWpLo) flags |= PM_UFFD_WP;
  if (showPfn) frame = BigInt(page);
  if (!folioTestAnon(core, head)) flags |= PM_FILE;
  if (m.mapcount[page] + m.entireMapcount[head] === 1) flags |= PM_MMAP_EXCLUSIVE;
  return flags | frame;
}
