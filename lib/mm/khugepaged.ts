/**
 * khugepaged and MADV_COLLAPSE for anonymous memory (mm/khugepaged.c,
 * v6.18): hpage_collapse_scan_pmd() decides whether the 512 PTEs under one
 * PMD may become a THP, collapse_huge_page() copies them into a new
 * PMD-sized folio and maps it with one huge PMD, madvise_collapse() runs
 * that over a range and turns the last scan result into an errno, and
 * khugepagedScan() is one pass of the khugepaged thread.
 *
 * Lock order, as the kernel documents it: mmap_lock → anon_vma lock →
 * PMD lock → PTE lock. collapse_huge_page() holds mmap_lock for write,
 * takes the PMD lock to detach the PTE table (pmdp_collapse_flush()),
 * works on that table under its PTE lock, and installs the huge PMD under
 * the PMD lock again; the old table becomes the new PMD's deposit.
 *
 * Simplifications: swapped-out PTEs count against max_ptes_swap, but the
 * model does not swap them back in to collapse (__collapse_huge_page_swapin()):
 * a block with any left ends with SCAN_PTE_NON_PRESENT; for anonymous
 * memory nothing locks pages or takes them off the LRU behind the scan's
 * back, so SCAN_PAGE_LOCK and SCAN_PAGE_LRU do not occur there
 * (SCAN_PAGE_COUNT does, for pages with GUP references); khugepaged's mm slots are every live mm (the
 * kernel registers an mm at MADV_HUGEPAGE or its first THP-eligible VMA,
 * khugepaged_enter_vma()), scanned in creation order.
 *
 * Shmem (hpage_collapse_scan_file(), collapse_file(), retract_page_tables(),
 * collapse_pte_mapped_thp()): the page cache's 512 small folios of an
 * aligned index range become one PMD-sized folio; every PTE that mapped
 * them is zapped (try_to_unmap()), then retract_page_tables() frees the
 * emptied PTE tables of the VMAs that can take a PMD, without their
 * mmap_lock, and the next fault maps the folio with one PMD (do_set_pmd()).
 * Lock order there: folio lock → i_mmap_rwsem → PMD lock → PTE lock. One
 * CPU: nothing runs between the steps, so the races of these paths (a
 * UFFDIO_COPY slipping in, Peter Xu's uffd-wp question) are explored in
 * lib/race/khugepaged.ts; i_mmap_rwsem is not a lock object here, and
 * pte_free_defer() frees at once (no lockless walker can hold the table).
 * No shmem swap, so SCAN_EXCEED_SWAP_PTE does not occur for shmem.
 * @module
 */
import type { MmCore } from "./core.ts";
import {
  type AddressSpace,
  type Inode,
  MM_ANONPAGES,
  type MmStruct,
  type Vma,
} from "./mm_types.ts";
import { halvesPfn, type PageTable } from "../pgtable/pgtable.ts";
import { pteFromHalves } from "../arch/x86/pgtable.ts";
import {
  _PAGE_ACCESSED,
  _PAGE_DIRTY,
  _PAGE_PRESENT,
  _PAGE_PROTNONE,
  _PAGE_PSE,
  _PAGE_RW,
  _PAGE_SPECIAL,
} from "../arch/x86/pgtable_types.ts";
import { PG_dirty, PG_lru, PG_swapbacked, PG_uptodate } from "./memmap.ts";
import { HPAGE_PMD_NR, HPAGE_PMD_ORDER, PMD_SIZE } from "../kernel/constants.ts";
import { ERRNO } from "../kernel/errno.ts";
import { VmBugError } from "../kernel/bug.ts";
import { allocAnonFolio, folioRemoveRmapPte, folioTestAnon, mmCounter } from "./rmap.ts";
import { folioLock, folioTestLocked, folioUnlock } from "./filemap.ts";
import { unmapMappingRange, vmNormalPage } from "./memory.ts";
import { shmemInodeAcctBlocks, shmemRecalcInode } from "./shmem.ts";
import { MMU_NOTIFY_CLEAR, withMmuNotifier } from "./mmu_notifier.ts";
import {
  doSetPmd,
  mapAnonFolioPmdNopf,
  pmdOffset,
  pmdTransHugeAt,
  populatePmd,
  thpVmaAllowableOrder,
  thpVmaSuitableOrder,
} from "./huge_memory.ts";
import {
  pteSwpUffdWpAny,
  userfaultfdMinor,
  userfaultfdMissing,
  userfaultfdWp,
} from "../userfaultfd/userfaultfd.ts";

/** userfaultfd_armed() (include/linux/userfaultfd_k.h): any __VM_UFFD_FLAGS set. */
function userfaultfdArmed(vma: Vma): boolean {
  return userfaultfdMissing(vma) || userfaultfdWp(vma) || userfaultfdMinor(vma);
}

/** enum scan_result (mm/khugepaged.c), in the kernel's order. */
export const SCAN_RESULTS = [
  "SCAN_FAIL",
  "SCAN_SUCCEED",
  "SCAN_PMD_NULL",
  "SCAN_PMD_NONE",
  "SCAN_PMD_MAPPED",
  "SCAN_EXCEED_NONE_PTE",
  "SCAN_EXCEED_SWAP_PTE",
  "SCAN_EXCEED_SHARED_PTE",
  "SCAN_PTE_NON_PRESENT",
  "SCAN_PTE_UFFD_WP",
  "SCAN_PTE_MAPPED_HUGEPAGE",
  "SCAN_PAGE_RO",
  "SCAN_LACK_REFERENCED_PAGE",
  "SCAN_PAGE_NULL",
  "SCAN_SCAN_ABORT",
  "SCAN_PAGE_COUNT",
  "SCAN_PAGE_LRU",
  "SCAN_PAGE_LOCK",
  "SCAN_PAGE_ANON",
  "SCAN_PAGE_COMPOUND",
  "SCAN_ANY_PROCESS",
  "SCAN_VMA_NULL",
  "SCAN_VMA_CHECK",
  "SCAN_ADDRESS_RANGE",
  "SCAN_DEL_PAGE_LRU",
  "SCAN_ALLOC_HUGE_PAGE_FAIL",
  "SCAN_CGROUP_CHARGE_FAIL",
  "SCAN_TRUNCATED",
  "SCAN_PAGE_HAS_PRIVATE",
  "SCAN_STORE_FAILED",
  "SCAN_COPY_MC",
  "SCAN_PAGE_FILLED",
] as const;
/** A scan_result, by its kernel name. */
export type ScanResult = typeof SCAN_RESULTS[number];

/** struct collapse_control: who collapses (khugepaged obeys the max_ptes_* limits). */
export interface CollapseControl {
  is_khugepaged: boolean;
}

/**
 * find_pmd_or_thp_or_none(): what the PMD slot of `address` holds:
 * SCAN_PMD_NULL (no PMD table), SCAN_PMD_NONE, SCAN_PMD_MAPPED (a huge
 * PMD) or SCAN_SUCCEED (a PTE table).
 */
export function findPmdOrThpOrNone(mm: MmStruct, address: number): ScanResult {
  const at = pmdOffset(mm, address);
  if (!at) return "SCAN_PMD_NULL";
  if (at.pmd.isNone(at.i)) return "SCAN_PMD_NONE";
  if (pmdTransHugeAt(at.pmd, at.i)) return "SCAN_PMD_MAPPED";
  return "SCAN_SUCCEED";
}

/**
 * hugepage_vma_revalidate(): the VMA still covers the whole 2 MiB block
 * and may hold a THP for this caller.
 */
export function hugepageVmaRevalidate(
  mm: MmStruct,
  address: number,
  cc: CollapseControl,
): ScanResult {
  const vma = mm.vmaLookup(address);
  if (!vma) return "SCAN_VMA_NULL";
  if (address < vma.vm_start || address + PMD_SIZE > vma.vm_end) return "SCAN_ADDRESS_RANGE";
  if (!thpVmaAllowableOrder(vma, cc.is_khugepaged ? "TVA_KHUGEPAGED" : "TVA_FORCED_COLLAPSE")) {
    return "SCAN_VMA_CHECK";
  }
  if (!vma.isAnonymous || !vma.anon_vma) return "SCAN_VMA_CHECK";
  return "SCAN_SUCCEED";
}

/** What the scan of one PTE table found. */
export interface ScanPmdResult {
  result: ScanResult;
  /** PTEs that were none or mapped the zero page. */
  none_or_zero: number;
  /** Pages mapped by more than one mm (folio_maybe_mapped_shared()). */
  shared: number;
  /** Young PTEs or referenced pages. */
  referenced: number;
  /** Swap-format PTEs (swapped out, or a marker). */
  unmapped: number;
  writable: boolean;
}

/**
 * The per-PTE checks that hpage_collapse_scan_pmd() and
 * __collapse_huge_page_isolate() share, over the table at `haddr`. Called
 * with the PTE lock held.
 */
function scanPtes(vma: Vma, pt: PageTable, cc: CollapseControl): ScanPmdResult {
  const core = vma.vm_mm.core;
  const m = core.memmap;
  const thp = core.thp;
  const out: ScanPmdResult = {
    result: "SCAN_SUCCEED",
    none_or_zero: 0,
    shared: 0,
    referenced: 0,
    unmapped: 0,
    writable: false,
  };
  const fail = (result: ScanResult) => ({ ...out, result });
  for (let i = 0; i < HPAGE_PMD_NR; i++) {
    const lo = pt.e[2 * i], hi = pt.e[2 * i + 1];
    const present = (lo & (_PAGE_PRESENT | _PAGE_PROTNONE)) !== 0;
    if (!present && (lo !== 0 || hi !== 0)) {
      // is_swap_pte(): counted against max_ptes_swap (khugepaged only);
      // pte_swp_uffd_wp_any() → SCAN_PTE_UFFD_WP.
      out.unmapped++;
      if (cc.is_khugepaged && out.unmapped > thp.max_ptes_swap) {
        core.vmstat.thp_scan_exceed_swap_pte++;
        return fail("SCAN_EXCEED_SWAP_PTE");
      }
      if (pteSwpUffdWpAny(core, pteFromHalves(lo, hi))) return fail("SCAN_PTE_UFFD_WP");
      continue;
    }
    if (!present || halvesPfn(lo, hi) === core.zeroPfn) {
      // pte_none_or_zero()
      out.none_or_zero++;
      if (!userfaultfdArmed(vma) && (!cc.is_khugepaged || out.none_or_zero <= thp.max_ptes_none)) {
        continue;
      }
      core.vmstat.thp_scan_exceed_none_pte++;
      return fail("SCAN_EXCEED_NONE_PTE");
    }
    if (lo & core.uffdWpLo) return fail("SCAN_PTE_UFFD_WP");
    if (lo & _PAGE_RW) out.writable = true;
    if (lo & _PAGE_SPECIAL) return fail("SCAN_PAGE_NULL");
    const pfn = halvesPfn(lo, hi);
    if (!folioTestAnon(core, pfn)) return fail("SCAN_PAGE_ANON");
    if (m.mapcount[pfn] > 1) {
      out.shared++;
      if (cc.is_khugepaged && out.shared > thp.max_ptes_shared) {
        core.vmstat.thp_scan_exceed_share_pte++;
        return fail("SCAN_EXCEED_SHARED_PTE");
      }
    }
    if (m.order[pfn] || m.compoundHead[pfn]) return fail("SCAN_PAGE_COMPOUND");
    // is_refcount_suitable(): one reference per mapping, nothing else (no GUP pin).
    if (m.refcount[pfn] !== m.mapcount[pfn]) return fail("SCAN_PAGE_COUNT");
    if (lo & _PAGE_ACCESSED) out.referenced++;
  }
  if (
    cc.is_khugepaged && (!out.referenced || (out.unmapped && out.referenced < HPAGE_PMD_NR / 2))
  ) {
    return fail("SCAN_LACK_REFERENCED_PAGE");
  }
  // Linux 6.18 (this workplace's live kernel) collapses read-only PTEs on
  // MADV_COLLAPSE; the model keeps SCAN_PAGE_RO for khugepaged only, as the
  // code before had it for both (khugepaged's timing makes it hard to check live).
  if (!out.writable && cc.is_khugepaged) return fail("SCAN_PAGE_RO");
  // Simplification: the swap-in collapse_huge_page() would do first is not modelled.
  if (out.unmapped) return fail("SCAN_PTE_NON_PRESENT");
  return out;
}

/**
 * hpage_collapse_scan_pmd(): scan the PTE table at `haddr` under its lock;
 * on SCAN_SUCCEED go on to collapse_huge_page(). Called with mmap_lock
 * held.
 */
export function hpageCollapseScanPmd(
  mm: MmStruct,
  vma: Vma,
  haddr: number,
  cc: CollapseControl,
): ScanResult {
  const found = findPmdOrThpOrNone(mm, haddr);
  if (found !== "SCAN_SUCCEED") return found;
  const at = pmdOffset(mm, haddr)!;
  const pt = at.pmd.children![at.i]!;
  pt.ptl!.lock("hpage_collapse_scan_pmd");
  const scan = scanPtes(vma, pt, cc);
  pt.ptl!.unlock();
  if (scan.result !== "SCAN_SUCCEED") return scan.result;
  return collapseHugePage(mm, haddr, cc);
}

/**
 * collapse_huge_page(), numbered as the kernel's comments go:
 *  1. allocate the PMD-sized folio (SCAN_ALLOC_HUGE_PAGE_FAIL);
 *  2. revalidate the VMA and the PMD (mmap_lock now held for write);
 *  3. detach the PTE table under the PMD lock (pmdp_collapse_flush()), so
 *     that no fault or GUP-fast can use it;
 *  4. isolate: the scan's checks again, under the PTE lock; on failure put
 *     the table back (pmd_populate());
 *  5. copy every page (zeroes for none and zero-page PTEs), clear the PTEs,
 *     drop the small pages, count the new ones in MM_ANONPAGES;
 *  6. map the folio with one huge PMD under the PMD lock, depositing the
 *     old table.
 * Called with mmap_lock held for write (the model's madvise() holds it so
 * throughout; the kernel drops the read lock and takes the write lock).
 */
export function collapseHugePage(mm: MmStruct, haddr: number, cc: CollapseControl): ScanResult {
  const core = mm.core;
  const m = core.memmap;
  // 1.
  const head = allocAnonFolio(core, HPAGE_PMD_ORDER);
  if (head < 0) {
    core.vmstat.thp_collapse_alloc_failed++;
    return "SCAN_ALLOC_HUGE_PAGE_FAIL";
  }
  core.vmstat.thp_collapse_alloc++;
  // 2.
  let result = hugepageVmaRevalidate(mm, haddr, cc);
  if (result === "SCAN_SUCCEED") result = findPmdOrThpOrNone(mm, haddr);
  if (result !== "SCAN_SUCCEED") {
    m.put(head);
    return result;
  }
  if (!mm.mmap_lock.locked) {
    throw new VmBugError("lock not held", "collapse_huge_page() without mmap_lock", {});
  }
  const vma = mm.vmaLookup(haddr)!;
  const { pmd, i } = pmdOffset(mm, haddr)!;
  const pt = pmd.children![i]!;
  // 3. (MMU_NOTIFY_CLEAR over the block: secondary MMUs drop the small pages)
  withMmuNotifier(MMU_NOTIFY_CLEAR, mm, haddr, haddr + PMD_SIZE, () => {
    pmd.ptl!.lock("collapse_huge_page");
    pmdpCollapseFlush(mm, pmd, i);
    pmd.ptl!.unlock();
  });
  // 4.
  pt.ptl!.lock("__collapse_huge_page_isolate");
  const isolate = scanPtes(vma, pt, cc);
  if (isolate.result !== "SCAN_SUCCEED") {
    pt.ptl!.unlock();
    pmd.ptl!.lock("collapse_huge_page");
    populatePmd(mm, pmd, i, pt);
    pmd.ptl!.unlock();
    m.put(head);
    return isolate.result;
  }
  // 5. __collapse_huge_page_copy() + __collapse_huge_page_copy_succeeded()
  for (let k = 0; k < HPAGE_PMD_NR; k++) {
    const lo = pt.e[2 * k], hi = pt.e[2 * k + 1];
    const pfn = halvesPfn(lo, hi);
    if ((lo & _PAGE_PRESENT) && pfn !== core.zeroPfn) {
      m.copyPage(head + k, pfn);
      pt.setHalves(k, 0, 0);
      folioRemoveRmapPte(core, pfn);
      m.put(pfn);
    } else {
      m.clearPage(head + k);
      pt.setHalves(k, 0, 0);
      mm.rss[MM_ANONPAGES]++;
    }
  }
  pt.ptl!.unlock();
  // 6.
  pmd.ptl!.lock("collapse_huge_page");
  mapAnonFolioPmdNopf(vma, haddr, pmd, i, head, pt);
  pmd.ptl!.unlock();
  return "SCAN_SUCCEED";
}

/** madvise_collapse_errno(): the errno MADV_COLLAPSE reports for its last failure. */
export function madviseCollapseErrno(r: ScanResult): number {
  switch (r) {
    case "SCAN_ALLOC_HUGE_PAGE_FAIL":
      return -ERRNO.ENOMEM;
    case "SCAN_CGROUP_CHARGE_FAIL":
    case "SCAN_EXCEED_NONE_PTE":
      return -ERRNO.EBUSY;
    case "SCAN_PAGE_COUNT":
    case "SCAN_PAGE_LOCK":
    case "SCAN_PAGE_LRU":
    case "SCAN_DEL_PAGE_LRU":
    case "SCAN_PAGE_FILLED":
      return -ERRNO.EAGAIN;
    default:
      return -ERRNO.EINVAL;
  }
}

/** The results madvise_collapse() carries on after (its whitelist). */
const CONTINUE_AFTER: ReadonlySet<ScanResult> = new Set<ScanResult>([
  "SCAN_PMD_NULL",
  "SCAN_PTE_NON_PRESENT",
  "SCAN_PTE_UFFD_WP",
  "SCAN_PAGE_RO",
  "SCAN_LACK_REFERENCED_PAGE",
  "SCAN_PAGE_NULL",
  "SCAN_PAGE_COUNT",
  "SCAN_PAGE_LOCK",
  "SCAN_PAGE_COMPOUND",
  "SCAN_PAGE_LRU",
  "SCAN_DEL_PAGE_LRU",
]);

/** What madvise_collapse() did: its return value and each 2 MiB block's result. */
export interface MadviseCollapseResult {
  ret: number;
  results: { addr: number; result: ScanResult }[];
  detail?: string;
}

/**
 * madvise_collapse() for [start, end) of one VMA: every whole 2 MiB block
 * inside is collapsed (a block with no PTE table at all, SCAN_PMD_NONE, is
 * not: the kernel fails it too, as "other error"). 0 if every block ends
 * up PMD-mapped, else madvise_collapse_errno() of the last failure.
 * Called with mmap_lock held.
 */
export function madviseCollapse(vma: Vma, start: number, end: number): MadviseCollapseResult {
  const mm = vma.vm_mm;
  const results: MadviseCollapseResult["results"] = [];
  if (!thpVmaAllowableOrder(vma, "TVA_FORCED_COLLAPSE")) return { ret: -ERRNO.EINVAL, results };
  const cc: CollapseControl = { is_khugepaged: false };
  const hstart = Math.ceil(start / PMD_SIZE) * PMD_SIZE;
  const hend = Math.floor(end / PMD_SIZE) * PMD_SIZE;
  let thps = 0;
  let lastFail: ScanResult = "SCAN_FAIL";
  for (let addr = hstart; addr < hend; addr += PMD_SIZE) {
    const result = vma.isAnonymous
      ? hpageCollapseScanPmd(mm, vma, addr, cc)
      : madviseCollapseFile(mm, vma, addr, cc);
    results.push({ addr, result });
    if (result === "SCAN_SUCCEED" || result === "SCAN_PMD_MAPPED") {
      thps++;
      continue;
    }
    lastFail = result;
    if (!CONTINUE_AFTER.has(result)) break;
  }
  const ret = thps === (hend - hstart) / PMD_SIZE ? 0 : madviseCollapseErrno(lastFail);
  return { ret, results };
}

/**
 * madvise_collapse()'s shmem branch for the block at `addr`: the address
 * must suit a PMD of the file (hugepage_vma_revalidate()'s
 * thp_vma_suitable_order(): SCAN_ADDRESS_RANGE), then
 * hpage_collapse_scan_file(), and on SCAN_PTE_MAPPED_HUGEPAGE
 * collapse_pte_mapped_thp(install_pmd = true) maps the folio here.
 */
function madviseCollapseFile(
  mm: MmStruct,
  vma: Vma,
  addr: number,
  cc: CollapseControl,
): ScanResult {
  if (!thpVmaSuitableOrder(vma, addr)) return "SCAN_ADDRESS_RANGE";
  const inode = vma.vm_file!.inode;
  const result = hpageCollapseScanFile(mm, addr, inode, vma.linearPageIndex(addr), cc);
  if (result !== "SCAN_PTE_MAPPED_HUGEPAGE") return result;
  return collapsePteMappedThp(mm, addr, true);
}

/**
 * khugepaged_scan_mm_slot()'s shmem branch: hpage_collapse_scan_file(),
 * and where the page cache already holds the THP,
 * collapse_pte_mapped_thp(install_pmd = false) frees this mm's PTE table
 * (the next fault maps the PMD); SCAN_PMD_MAPPED counts as success.
 */
function khugepagedScanFile(mm: MmStruct, vma: Vma, addr: number, cc: CollapseControl): ScanResult {
  const inode = vma.vm_file!.inode;
  let result = hpageCollapseScanFile(mm, addr, inode, vma.linearPageIndex(addr), cc);
  if (result === "SCAN_PTE_MAPPED_HUGEPAGE") {
    result = collapsePteMappedThp(mm, addr, false);
    if (result === "SCAN_PMD_MAPPED") result = "SCAN_SUCCEED";
  }
  return result;
}

/** One collapse attempt of a khugepaged pass. */
export interface KhugepagedScanEntry {
  pid: number;
  addr: number;
  result: ScanResult;
}

/**
 * khugepaged_do_scan() → khugepaged_scan_mm_slot(): one pass over every
 * live mm, every VMA khugepaged may collapse (thp_vma_allowable_order()
 * with TVA_KHUGEPAGED; an anonymous one needs an anon_vma, a shmem one
 * `shmem_enabled` to allow it), every whole 2 MiB block, until
 * `pages_to_scan` pages are scanned (a block counts HPAGE_PMD_NR; one
 * already PMD-mapped counts 1, as the kernel's progress does). Takes each
 * mm's mmap_lock. Returns what each block gave.
 */
export function khugepagedScan(
  core: MmCore,
  pages = core.thp.pages_to_scan,
): KhugepagedScanEntry[] {
  const out: KhugepagedScanEntry[] = [];
  const cc: CollapseControl = { is_khugepaged: true };
  let progress = 0;
  for (const mm of [...core.mms]) {
    if (mm.dead) continue; // hpage_collapse_test_exit()
    mm.mmap_lock.downWrite("khugepaged");
    try {
      for (const vma of [...mm.vmas]) {
        if (vma.isAnonymous && !vma.anon_vma) continue;
        if (!thpVmaAllowableOrder(vma, "TVA_KHUGEPAGED")) continue;
        // thp_vma_suitable_orders(): a file VMA whose offset cannot line up with PMDs
        if (!vma.isAnonymous && (vma.vm_start / 4096 - vma.vm_pgoff) % HPAGE_PMD_NR !== 0) continue;
        const hstart = Math.ceil(vma.vm_start / PMD_SIZE) * PMD_SIZE;
        const hend = Math.floor(vma.vm_end / PMD_SIZE) * PMD_SIZE;
        for (let addr = hstart; addr < hend; addr += PMD_SIZE) {
          if (progress >= pages) return out;
          const result = vma.isAnonymous
            ? hpageCollapseScanPmd(mm, vma, addr, cc)
            : khugepagedScanFile(mm, vma, addr, cc);
          progress += result === "SCAN_PMD_MAPPED" ? 1 : HPAGE_PMD_NR;
          out.push({ pid: mm.owner, addr, result });
        }
      }
    } finally {
      mm.mmap_lock.upWrite();
    }
  }
  return out;
}

// --- shmem: collapse_file(), retract_page_tables(), collapse_pte_mapped_thp() ---

/**
 * hpage_collapse_scan_file() for shmem: look at the page cache of
 * [start, start + HPAGE_PMD_NR). A PMD-sized folio already there gives
 * SCAN_PTE_MAPPED_HUGEPAGE (the caller maps it: collapse_pte_mapped_thp());
 * a page off the LRU SCAN_PAGE_LRU, one with references beyond its
 * mappings and the page cache (is_refcount_suitable(): a GUP pin)
 * SCAN_PAGE_COUNT; khugepaged wants at least HPAGE_PMD_NR - max_ptes_none
 * pages present (SCAN_EXCEED_NONE_PTE). Then collapse_file().
 */
export function hpageCollapseScanFile(
  mm: MmStruct,
  addr: number,
  inode: Inode,
  start: number,
  cc: CollapseControl,
): ScanResult {
  const core = mm.core;
  const m = core.memmap;
  let present = 0;
  for (let index = start; index < start + HPAGE_PMD_NR; index++) {
    const pfn = inode.mapping.pages.get(index);
    if (pfn === undefined) continue;
    const head = m.pageFolio(pfn);
    if (m.order[head] === HPAGE_PMD_ORDER && m.index[head] === start) {
      return "SCAN_PTE_MAPPED_HUGEPAGE";
    }
    if (m.order[head]) return "SCAN_PAGE_COMPOUND";
    if (!(m.flags[pfn] & PG_lru)) return "SCAN_PAGE_LRU";
    if (m.refcount[pfn] !== m.mapcount[pfn] + 1) return "SCAN_PAGE_COUNT";
    present++;
  }
  if (cc.is_khugepaged && present < HPAGE_PMD_NR - core.thp.max_ptes_none) {
    core.vmstat.thp_scan_exceed_none_pte++;
    return "SCAN_EXCEED_NONE_PTE";
  }
  return collapseFile(mm, addr, inode, start, cc);
}

/**
 * collapse_file() for shmem, numbered as the kernel's comments go:
 *  1. allocate the PMD-sized folio and lock it (SCAN_ALLOC_HUGE_PAGE_FAIL);
 *  2. walk the range: an entirely empty range was truncated or punched
 *     (SCAN_TRUNCATED); holes are counted (nr_none) and filled with zeroes;
 *     each small folio is unmapped from every VMA (try_to_unmap()) and must
 *     then hold only the page cache's reference (SCAN_PAGE_COUNT);
 *  3. copy the pages (clear_highpage() for holes) and store the new folio
 *     at every index; shmem_charge() the holes, NR_FILE_PAGES and NR_SHMEM
 *     grow by nr_none; the new folio is uptodate and dirty, with the page
 *     cache's HPAGE_PMD_NR references;
 *  4. retract_page_tables(); MADV_COLLAPSE turns SCAN_SUCCEED into
 *     SCAN_PTE_MAPPED_HUGEPAGE so that its caller maps the folio in its
 *     own mm (collapse_pte_mapped_thp());
 *  5. unlock the new folio and free the old ones.
 * The kernel calls it without mmap_lock (madvise_collapse() drops it for
 * shmem); the model's madvise() keeps it, which changes nothing here:
 * collapse_file() touches other mms only through the file's i_mmap.
 */
export function collapseFile(
  mm: MmStruct,
  _addr: number,
  inode: Inode,
  start: number,
  cc: CollapseControl,
): ScanResult {
  const core = mm.core;
  const m = core.memmap;
  const mapping = inode.mapping;
  const end = start + HPAGE_PMD_NR;
  // 1.
  const head = m.allocFolio(HPAGE_PMD_ORDER);
  if (head < 0) {
    core.vmstat.thp_collapse_alloc_failed++;
    return "SCAN_ALLOC_HUGE_PAGE_FAIL";
  }
  core.vmstat.thp_collapse_alloc++;
  folioLock(core, head);
  // 2.
  let nrNone = 0;
  const old: number[] = [];
  for (let index = start; index < end; index++) {
    const pfn = mapping.pages.get(index);
    if (pfn === undefined) nrNone++;
    else old.push(pfn);
  }
  const fail = (result: ScanResult): ScanResult => {
    folioUnlock(core, head);
    m.put(head);
    return result;
  };
  if (nrNone === HPAGE_PMD_NR) return fail("SCAN_TRUNCATED");
  for (const pfn of old) {
    if (m.order[m.pageFolio(pfn)]) return fail("SCAN_PAGE_COMPOUND");
    // folio_trylock(): the model does not lock the old folios (nothing runs
    // meanwhile), but one locked by someone else stops the collapse.
    if (folioTestLocked(core, pfn)) return fail("SCAN_PAGE_LOCK");
    if (m.refcount[pfn] !== m.mapcount[pfn] + 1) return fail("SCAN_PAGE_COUNT");
  }
  // try_to_unmap() of each small folio: its PTEs go from every mm (private
  // COW copies stay: they are not the file's pages).
  unmapMappingRange(core, mapping, start, end, false);
  for (const pfn of old) {
    if (m.refcount[pfn] !== 1) return fail("SCAN_PAGE_COUNT");
  }
  // 3.
  for (let k = 0; k < HPAGE_PMD_NR; k++) {
    const pfn = mapping.pages.get(start + k);
    if (pfn === undefined) m.clearPage(head + k);
    else m.copyPage(head + k, pfn);
  }
  for (let k = 0; k < HPAGE_PMD_NR; k++) mapping.pages.set(start + k, head + k);
  // uptodate, and dirty as every shmem THP is (folio_mark_dirty())
  m.flags[head] = (m.flags[head] | PG_uptodate | PG_swapbacked | PG_lru | PG_dirty) >>> 0;
  m.mapping[head] = mapping.id;
  m.index[head] = start;
  m.refcount[head] = HPAGE_PMD_NR; // folio_ref_add(HPAGE_PMD_NR - 1): the page cache's
  if (nrNone) {
    shmemInodeAcctBlocks(inode, nrNone); // shmem_charge()
    shmemRecalcInode(inode, nrNone, 0);
    core.vmstat.nr_file_pages += nrNone;
    core.vmstat.nr_shmem += nrNone;
  }
  // 4.
  retractPageTables(core, mapping, start);
  const result: ScanResult = cc.is_khugepaged ? "SCAN_SUCCEED" : "SCAN_PTE_MAPPED_HUGEPAGE";
  // 5.
  folioUnlock(core, head);
  for (const pfn of old) {
    m.mapping[pfn] = 0;
    m.put(pfn);
  }
  return result;
}

/**
 * retract_page_tables() as since v6.6 (Hugh Dickins, seed
 * 003_04fde8f735f91402.txt): for every VMA of the file that maps the
 * collapsed range at a PMD-aligned address and holds a PTE table there,
 * free that table so that the next fault maps the THP by a PMD. No
 * mmap_lock: what keeps the table empty is the new folio's lock (no fault
 * maps a page of the range meanwhile); a VMA with an anon_vma may hold COW
 * copies, a userfaultfd_wp() one may hold uffd-wp markers, so both are
 * skipped, and checked again under the PMD and PTE locks, since a racing
 * UFFDIO_COPY or UFFDIO_REGISTER does not take the folio lock. Then
 * pmdp_collapse_flush() (inside MMU_NOTIFY_CLEAR) and pte_free_defer().
 * Called with the new folio locked.
 */
export function retractPageTables(_core: MmCore, mapping: AddressSpace, pgoff: number): void {
  for (const vma of [...mapping.i_mmap]) {
    const pages = (vma.vm_end - vma.vm_start) / 4096;
    if (pgoff < vma.vm_pgoff || pgoff >= vma.vm_pgoff + pages) continue; // vma_interval_tree_foreach
    if (vma.anon_vma) continue;
    const addr = vma.vm_start + (pgoff - vma.vm_pgoff) * 4096;
    if (addr % PMD_SIZE || vma.vm_end < addr + PMD_SIZE) continue;
    const mm = vma.vm_mm;
    if (findPmdOrThpOrNone(mm, addr) !== "SCAN_SUCCEED") continue;
    if (mm.dead) continue; // hpage_collapse_test_exit()
    if (userfaultfdWp(vma)) continue;
    const { pmd, i } = pmdOffset(mm, addr)!;
    const pt = pmd.children![i]!;
    let success = false;
    withMmuNotifier(MMU_NOTIFY_CLEAR, mm, addr, addr + PMD_SIZE, () => {
      pmd.ptl!.lock("retract_page_tables");
      pt.ptl!.lock("retract_page_tables");
      if (!vma.anon_vma && !userfaultfdWp(vma)) {
        pmdpCollapseFlush(mm, pmd, i);
        success = true;
      }
      pt.ptl!.unlock();
      pmd.ptl!.unlock();
    });
    if (success) pteFreeDefer(mm, pt, addr);
  }
}

/** pmdp_collapse_flush(): detach the PTE table from the PMD. Called with the PMD lock held. */
function pmdpCollapseFlush(mm: MmStruct, pmd: PageTable, i: number): void {
  pmd.children![i] = null;
  pmd.setHalves(i, 0, 0);
  mm.flushPteCache();
}

/**
 * page_table_check_pte_clear_range() + mm_dec_nr_ptes() + pte_free_defer():
 * the detached table must be empty (a PTE left in it would map a page that
 * no page table reaches any more: "Bad rss-counter state" at exit).
 */
function pteFreeDefer(mm: MmStruct, pt: PageTable, addr: number): void {
  if (pt.nr !== 0) {
    throw new VmBugError("pgtable", "a PTE left in a page table being freed", {
      pid: mm.owner,
      addr,
      ptes: pt.nr,
    });
  }
  mm.core.freeTable(mm, pt);
}

/**
 * collapse_pte_mapped_thp() (v6.18): map the PMD-sized page-cache folio
 * at `addr` in `mm` by a PMD. With mmap_lock held (for read in the kernel):
 *  1. every present PTE of the table must map the folio's own page at its
 *     place (a COW copy or a stray page: SCAN_FAIL; a swap entry or marker:
 *     SCAN_PTE_NON_PRESENT);
 *  2. clear those PTEs and drop their rmap;
 *  3. their references and MM_SHMEMPAGES;
 *  4. remove the table (pmdp_collapse_flush(), pte_free_defer());
 *  5. with `installPmd`, map the folio (set_huge_pmd() → do_set_pmd()).
 * A uffd-wp VMA keeps its table (SCAN_PTE_UFFD_WP). Since a98460494b16
 * ("mm/khugepaged: fix collapse_pte_mapped_thp() versus uffd", v6.6) steps
 * 2 to 4 hold the PMD lock and the PTE lock throughout; the
 * `collapsePteMappedThpPreFix` variant clears the PTEs under the PTE lock
 * alone and takes the PMD lock only for step 4, the window in which
 * Jann Horn's UFFDIO_COPY installed a PTE (lib/race/khugepaged.ts).
 */
export function collapsePteMappedThp(
  mm: MmStruct,
  addr: number,
  installPmd: boolean,
): ScanResult {
  const core = mm.core;
  const m = core.memmap;
  const haddr = addr - (addr % PMD_SIZE);
  const vma = mm.vmaLookup(haddr);
  if (!vma || !vma.vm_file || haddr < vma.vm_start || haddr + PMD_SIZE > vma.vm_end) {
    return "SCAN_VMA_CHECK";
  }
  let result = findPmdOrThpOrNone(mm, haddr);
  if (result === "SCAN_PMD_MAPPED") return result;
  if (!thpVmaAllowableOrder(vma, "TVA_FORCED_COLLAPSE")) return "SCAN_VMA_CHECK";
  if (userfaultfdWp(vma)) return "SCAN_PTE_UFFD_WP";
  const pfn = vma.vm_file.inode.mapping.pages.get(vma.linearPageIndex(haddr));
  if (pfn === undefined) return "SCAN_PAGE_NULL";
  const head = m.pageFolio(pfn);
  if (m.order[head] !== HPAGE_PMD_ORDER || head !== pfn) return "SCAN_PAGE_COMPOUND";
  folioLock(core, head);
  try {
    result = findPmdOrThpOrNone(mm, haddr);
    if (result === "SCAN_PMD_NULL") return result;
    if (result === "SCAN_SUCCEED") {
      result = removePteMappedTable(vma, haddr, head);
      if (result !== "SCAN_SUCCEED") return result;
    } else if (result !== "SCAN_PMD_NONE") return result;
    // 5. maybe_install_pmd
    if (!installPmd) return "SCAN_SUCCEED";
    const { pmd, i } = pmdOffset(mm, haddr)!;
    return doSetPmd(vma, haddr, pmd, i, head, false) === 0 ? "SCAN_SUCCEED" : "SCAN_FAIL";
  } finally {
    folioUnlock(core, head);
  }
}

/** Steps 1-4 of collapse_pte_mapped_thp(). Called with the folio locked. */
function removePteMappedTable(vma: Vma, haddr: number, head: number): ScanResult {
  const mm = vma.vm_mm;
  const core = mm.core;
  const preFix = core.variants.collapsePteMappedThpPreFix;
  const { pmd, i } = pmdOffset(mm, haddr)!;
  const pt = pmd.children![i]!;
  const ptl = pt.ptl!, pml = pmd.ptl!;
  // 1.
  ptl.lock("collapse_pte_mapped_thp");
  const check = checkPtesOfFolio(core, pt, head);
  ptl.unlock();
  if (check !== "SCAN_SUCCEED") return check;
  return withMmuNotifier(MMU_NOTIFY_CLEAR, mm, haddr, haddr + PMD_SIZE, () => {
    if (!preFix) pml.lock("collapse_pte_mapped_thp");
    ptl.lock("collapse_pte_mapped_thp");
    // 2. (the PTEs are checked again: the PTE lock was dropped meanwhile)
    const again = checkPtesOfFolio(core, pt, head);
    if (again !== "SCAN_SUCCEED") {
      ptl.unlock();
      if (!preFix) pml.unlock();
      return again;
    }
    let nr = 0;
    for (let k = 0; k < HPAGE_PMD_NR; k++) {
      if (pt.isNone(k)) continue;
      pt.setHalves(k, 0, 0); // ptep_clear()
      core.memmap.mapcount[head + k]--; // folio_remove_rmap_pte()
      nr++;
    }
    if (preFix) ptl.unlock();
    // 3.
    if (nr) {
      core.memmap.refcount[head] -= nr;
      mm.rss[mmCounter(core, head)] -= nr;
    }
    // 4.
    if (preFix) {
      pml.lock("collapse_pte_mapped_thp");
      ptl.lock("collapse_pte_mapped_thp");
    }
    pmdpCollapseFlush(mm, pmd, i);
    ptl.unlock();
    pml.unlock();
    pteFreeDefer(mm, pt, haddr);
    return "SCAN_SUCCEED" as ScanResult;
  });
}

/**
 * Step 1's check: each present PTE maps folio_page(folio, i); none may be
 * a swap entry or marker. Called with the PTE lock held.
 */
function checkPtesOfFolio(_core: MmCore, pt: PageTable, head: number): ScanResult {
  for (let k = 0; k < HPAGE_PMD_NR; k++) {
    const lo = pt.e[2 * k], hi = pt.e[2 * k + 1];
    if (lo === 0 && hi === 0) continue;
    if (!(lo & (_PAGE_PRESENT | _PAGE_PROTNONE))) return "SCAN_PTE_NON_PRESENT";
    if (vmNormalPage(lo, hi) !== head + k) return "SCAN_FAIL";
  }
  return "SCAN_SUCCEED";
}
