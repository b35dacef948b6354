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
 * a block with any left ends with SCAN_PTE_NON_PRESENT; nothing pins or locks pages behind the scan's back, so
 * SCAN_PAGE_LOCK and SCAN_PAGE_LRU do not occur (SCAN_PAGE_COUNT does, for
 * pages with GUP references); khugepaged's mm slots are every live mm (the
 * kernel registers an mm at MADV_HUGEPAGE or its first THP-eligible VMA,
 * khugepaged_enter_vma()), scanned in creation order. Shmem and file VMAs
 * (hpage_collapse_scan_file(), collapse_file(), retract_page_tables(),
 * collapse_pte_mapped_thp()) are modelled as race scenarios in
 * lib/race/khugepaged.ts, not in this facade: MADV_COLLAPSE of a shmem VMA
 * fails with EINVAL and says so.
 * @module
 */
import type { MmCore } from "./core.ts";
import { MM_ANONPAGES, type MmStruct, VM_WRITE, type Vma } from "./mm_types.ts";
import { halvesPfn, type PageTable, pfnHi, pfnLo, tableEntryHalves } from "../pgtable/pgtable.ts";
import { pteToSwpEntry } from "../pgtable/swapops.ts";
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
import {
  FOLIO_MAPPING_ANON,
  PG_anon_exclusive,
  PG_lru,
  PG_swapbacked,
  PG_uptodate,
} from "./memmap.ts";
import { HPAGE_PMD_NR, HPAGE_PMD_ORDER, PMD_SIZE } from "../kernel/constants.ts";
import { ERRNO } from "../kernel/errno.ts";
import { VmBugError } from "../kernel/bug.ts";
import { folioRemoveRmapPte, folioTestAnon } from "./rmap.ts";
import { MMU_NOTIFY_CLEAR, withMmuNotifier } from "./mmu_notifier.ts";
import {
  pgtableTransHugeDeposit,
  pmdOffset,
  pmdTransHugeAt,
  thpVmaAllowableOrder,
} from "./huge_memory.ts";
import { userfaultfdMinor, userfaultfdMissing, userfaultfdWp } from "../userfaultfd/userfaultfd.ts";

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
      if (isUffdWpSwp(core, lo, hi)) return fail("SCAN_PTE_UFFD_WP");
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

/** pte_swp_uffd_wp_any(): a swap PTE with _PAGE_SWP_UFFD_WP, or a uffd-wp marker. */
function isUffdWpSwp(core: MmCore, lo: number, hi: number): boolean {
  const pte = pteFromHalves(lo, hi);
  if (pte & core.bits.swpUffdWp) return true;
  return core.swapops.pteMarkerEntryUffdWp(pteToSwpEntry(pte));
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
  const head = m.allocFolio(HPAGE_PMD_ORDER);
  if (head < 0) {
    core.vmstat.thp_collapse_alloc_failed++;
    return "SCAN_ALLOC_HUGE_PAGE_FAIL";
  }
  m.flags[head] |= PG_uptodate | PG_swapbacked | PG_lru;
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
    pmd.children![i] = null;
    pmd.setHalves(i, 0, 0);
    pmd.ptl!.unlock();
  });
  mm.flushPteCache();
  // 4.
  pt.ptl!.lock("__collapse_huge_page_isolate");
  const isolate = scanPtes(vma, pt, cc);
  if (isolate.result !== "SCAN_SUCCEED") {
    const [tlo, thi] = tableEntryHalves(pt);
    pt.ptl!.unlock();
    pmd.ptl!.lock("collapse_huge_page");
    pmd.children![i] = pt;
    pmd.setHalves(i, tlo, thi);
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
  let lo = (pfnLo(head) | vma.protLo | _PAGE_PSE | _PAGE_DIRTY | core.softDirtyLo) >>> 0;
  if (vma.vm_flags & VM_WRITE) lo = (lo | _PAGE_RW) >>> 0;
  pmd.ptl!.lock("collapse_huge_page");
  m.flags[head] = (m.flags[head] | FOLIO_MAPPING_ANON | PG_anon_exclusive) >>> 0;
  m.mapping[head] = vma.anon_vma!.id;
  m.index[head] = vma.linearPageIndex(haddr);
  m.entireMapcount[head] = 1;
  core.vmstat.nr_anon_pages += HPAGE_PMD_NR;
  core.vmstat.nr_anon_transparent_hugepages++;
  pgtableTransHugeDeposit(pmd, i, pt);
  pmd.setHalves(i, lo, pfnHi(head) | vma.protHi);
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
  if (!vma.isAnonymous) {
    return {
      ret: -ERRNO.EINVAL,
      results,
      detail: "MADV_COLLAPSE of a shmem or file VMA is not modelled (see lib/race/khugepaged.ts)",
    };
  }
  const cc: CollapseControl = { is_khugepaged: false };
  const hstart = Math.ceil(start / PMD_SIZE) * PMD_SIZE;
  const hend = Math.floor(end / PMD_SIZE) * PMD_SIZE;
  let thps = 0;
  let lastFail: ScanResult = "SCAN_FAIL";
  for (let addr = hstart; addr < hend; addr += PMD_SIZE) {
    const result = hpageCollapseScanPmd(mm, vma, addr, cc);
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

/** One collapse attempt of a khugepaged pass. */
export interface KhugepagedScanEntry {
  pid: number;
  addr: number;
  result: ScanResult;
}

/**
 * khugepaged_do_scan() → khugepaged_scan_mm_slot(): one pass over every
 * live mm, every VMA khugepaged may collapse (thp_vma_allowable_order()
 * with TVA_KHUGEPAGED, an anon_vma), every whole 2 MiB block, until
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
        if (!vma.isAnonymous || !vma.anon_vma) continue;
        if (!thpVmaAllowableOrder(vma, "TVA_KHUGEPAGED")) continue;
        const hstart = Math.ceil(vma.vm_start / PMD_SIZE) * PMD_SIZE;
        const hend = Math.floor(vma.vm_end / PMD_SIZE) * PMD_SIZE;
        for (let addr = hstart; addr < hend; addr += PMD_SIZE) {
          if (progress >= pages) return out;
          const result = hpageCollapseScanPmd(mm, vma, addr, cc);
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
