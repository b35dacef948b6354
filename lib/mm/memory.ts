/**
 * Page faults, zapping and fork's page-table copy (mm/memory.c, v6.18).
 *
 * Lock order used here, outermost first (as mm/rmap.c documents it):
 *   mmap_lock → folio lock → i_mmap_rwsem → mm->page_table_lock / PMD lock
 *   → PTE lock (ptlock_ptr of the PTE table).
 *
 * Simplifications, each said again where it matters: small folios and
 * PMD-mapped THPs only (no mTHP; see huge_memory.ts), no swap device (swap PTEs never appear unless a lesson
 * writes one), no NUMA hinting faults, no KSM merging, and one CPU, so a
 * "retry" of a fault is a plain second call.
 * @module
 */
import type { MmCore } from "./core.ts";
import {
  type AddressSpace,
  isCowMapping,
  MM_ANONPAGES,
  MM_SWAPENTS,
  type MmStruct,
  VM_SHARED,
  VM_UFFD_MISSING,
  VM_UFFD_WP,
  VM_WRITE,
  type Vma,
  vmaSoftDirtyEnabled,
} from "./mm_types.ts";
import {
  halvesPfn,
  type Level,
  levelIndex,
  PageTable,
  pfnHi,
  pfnLo,
  tableEntryHalves,
} from "../pgtable/pgtable.ts";
import {
  _PAGE_ACCESSED,
  _PAGE_DIRTY,
  _PAGE_PRESENT,
  _PAGE_PROTNONE,
  _PAGE_RW,
  _PAGE_SPECIAL,
  _PAGE_SWP_EXCLUSIVE,
} from "../arch/x86/pgtable_types.ts";
import {
  isSwapPte,
  type Pte,
  pteFromHalves,
  pteSwpExclusive,
  pteSwpSoftDirty,
  pteSwpUffdWp,
} from "../arch/x86/pgtable.ts";
import {
  PTE_MARKER_GUARD,
  PTE_MARKER_POISONED,
  PTE_MARKER_UFFD_WP,
  pteToSwpEntry,
  type SwpEntry,
} from "../pgtable/swapops.ts";
import {
  allocAnonFolio,
  anonVmaPrepare,
  folioAddAnonRmapPte,
  folioAddFileRmapPte,
  folioAddNewAnonRmap,
  folioDupFileRmapPte,
  folioMarkDirty,
  folioMoveAnonRmap,
  folioRemoveRmapPte,
  folioTestAnon,
  folioTryDupAnonRmapPte,
  mmCounter,
  pageAnonExclusive,
  setPageAnonExclusive,
} from "./rmap.ts";
import { PG_dirty, PG_hwpoison, PG_referenced } from "./memmap.ts";
import { folioLock, folioTestLocked, folioTrylock, folioUnlock } from "./filemap.ts";
import { folioMaybeDmaPinned } from "./gup.ts";
import { canChangePteWritable } from "./mprotect.ts";
import { assertLocked } from "../kernel/locking.ts";
import {
  MMU_NOTIFY_CLEAR,
  MMU_NOTIFY_EXCLUSIVE,
  MMU_NOTIFY_PROTECTION_PAGE,
  mmuNotifierInvalidateRangeEnd,
  mmuNotifierInvalidateRangeStart,
  mmuNotifierRangeInitOwner,
  withMmuNotifier,
} from "./mmu_notifier.ts";
import { filemapGetFolio, SHMEM_BEYOND_EOF, shmemGetFolio } from "./shmem.ts";
import { VmBugError } from "../kernel/bug.ts";
import {
  anonOrderEnabled,
  copyHugePmd,
  doHugePmdAnonymousPage,
  doHugePmdWpPage,
  doSetPmd,
  hugePmdAt,
  hugePmdSetAccessed,
  pmdTransHugeAt,
  shmemSplitHugeFolio,
  splitHugePmd,
  thpVmaAllowableOrder,
  thpVmaSuitableOrder,
  userfaultfdHugePmdWp,
  VM_NO_KHUGEPAGED,
  vmaThpDisabled,
  zapHugePmd,
} from "./huge_memory.ts";
import { HPAGE_PMD_ORDER } from "../kernel/constants.ts";
import {
  handleUserfault,
  userfaultfdArmed,
  userfaultfdMinor,
  userfaultfdMissing,
  userfaultfdWp,
  userfaultfdWpAsync,
} from "../userfaultfd/userfaultfd.ts";

// enum fault_flag (include/linux/mm_types.h)
export const FAULT_FLAG_WRITE = 1 << 0;
export const FAULT_FLAG_MKWRITE = 1 << 1;
export const FAULT_FLAG_ALLOW_RETRY = 1 << 2;
export const FAULT_FLAG_RETRY_NOWAIT = 1 << 3;
export const FAULT_FLAG_KILLABLE = 1 << 4;
export const FAULT_FLAG_TRIED = 1 << 5;
export const FAULT_FLAG_USER = 1 << 6;
export const FAULT_FLAG_REMOTE = 1 << 7;
export const FAULT_FLAG_INSTRUCTION = 1 << 8;
export const FAULT_FLAG_INTERRUPTIBLE = 1 << 9;
export const FAULT_FLAG_UNSHARE = 1 << 10;
export const FAULT_FLAG_ORIG_PTE_VALID = 1 << 11;
export const FAULT_FLAG_VMA_LOCK = 1 << 12;

// vm_fault_t (include/linux/mm_types.h)
export const VM_FAULT_OOM = 0x000001;
export const VM_FAULT_SIGBUS = 0x000002;
export const VM_FAULT_MAJOR = 0x000004;
export const VM_FAULT_HWPOISON = 0x000010;
export const VM_FAULT_HWPOISON_LARGE = 0x000020;
export const VM_FAULT_SIGSEGV = 0x000040;
export const VM_FAULT_NOPAGE = 0x000100;
export const VM_FAULT_LOCKED = 0x000200;
export const VM_FAULT_RETRY = 0x000400;
export const VM_FAULT_FALLBACK = 0x000800;
export const VM_FAULT_DONE_COW = 0x001000;
export const VM_FAULT_NEEDDSYNC = 0x002000;
export const VM_FAULT_COMPLETED = 0x004000;
/**
 * VM_FAULT_HWPOISON_SILENT: the proposed (never merged) bit for poison that
 * is not a hardware error (a UFFDIO_POISON marker): SIGBUS, no MCE log.
 * Only returned with `variants: { silentPoison: true }`. 0x80 was free in
 * v6.18's vm_fault_t.
 */
export const VM_FAULT_HWPOISON_SILENT = 0x000080;
export const VM_FAULT_ERROR = VM_FAULT_OOM | VM_FAULT_SIGBUS | VM_FAULT_SIGSEGV |
  VM_FAULT_HWPOISON |
  VM_FAULT_HWPOISON_LARGE | VM_FAULT_FALLBACK;

/** Names of the bits of a vm_fault_t, for traces and lessons. */
export function vmFaultNames(ret: number): string[] {
  const names: [string, number][] = [
    ["VM_FAULT_OOM", VM_FAULT_OOM],
    ["VM_FAULT_SIGBUS", VM_FAULT_SIGBUS],
    ["VM_FAULT_MAJOR", VM_FAULT_MAJOR],
    ["VM_FAULT_HWPOISON", VM_FAULT_HWPOISON],
    ["VM_FAULT_HWPOISON_SILENT", VM_FAULT_HWPOISON_SILENT],
    ["VM_FAULT_SIGSEGV", VM_FAULT_SIGSEGV],
    ["VM_FAULT_NOPAGE", VM_FAULT_NOPAGE],
    ["VM_FAULT_LOCKED", VM_FAULT_LOCKED],
    ["VM_FAULT_RETRY", VM_FAULT_RETRY],
    ["VM_FAULT_DONE_COW", VM_FAULT_DONE_COW],
    ["VM_FAULT_COMPLETED", VM_FAULT_COMPLETED],
  ];
  return names.filter(([, bit]) => ret & bit).map(([n]) => n);
}

/** fault_around_bytes default: 64 KiB, i.e. 16 pages. */
export const FAULT_AROUND_PAGES = 16;

// --- page-table walks --------------------------------------------------------

/** The PTE table covering `addr`, or null if a level is missing (no allocation). */
export function lookupPteTable(mm: MmStruct, addr: number): PageTable | null {
  const vpn = Math.floor(addr / 4096);
  const pud = mm.pgd.children![Math.floor(vpn / 134217728) & 511];
  if (!pud) return null;
  const pmd = pud.children![Math.floor(vpn / 262144) & 511];
  if (!pmd) return null;
  return pmd.children![Math.floor(vpn / 512) & 511];
}

/** The PMD table covering `addr`, or null. */
export function lookupPmdTable(mm: MmStruct, addr: number): PageTable | null {
  const pud = mm.pgd.children![levelIndex(addr, "pgd")];
  return pud ? pud.children![levelIndex(addr, "pud")] : null;
}

/**
 * __pud_alloc()/__pmd_alloc()/__pte_alloc(): walk to the PTE table of `addr`,
 * allocating missing levels (each populated under its lock, as the kernel
 * does: pud and pmd entries under mm->page_table_lock, the pmd entry that
 * points at a PTE table under the PMD lock). Null when out of memory.
 */
export function pteAlloc(mm: MmStruct, addr: number): PageTable | null {
  const pmd = pmdAlloc(mm, addr);
  return pmd ? pteAllocIn(mm, pmd, addr) : null;
}

/** __pte_alloc() below a PMD table `pmd` already walked to (see pteAlloc()). */
function pteAllocIn(mm: MmStruct, pmd: PageTable, addr: number): PageTable | null {
  const i = levelIndex(addr, "pmd");
  // Simplification: a caller that needs the PTE level where a huge PMD
  // maps gets it split first (the kernel's callers check pmd_trans_huge()
  // themselves and split, or fail with -EEXIST as mfill_atomic() does,
  // which the model then reports for the PTE it finds).
  if (pmdTransHugeAt(pmd, i)) {
    const vma = mm.vmaLookup(addr);
    if (!vma) throw new VmBugError("pgtable", "huge PMD outside any VMA", { addr });
    splitHugePmd(vma, addr);
  }
  return childAlloc(mm, pmd, i, "pte");
}

/** __pud_alloc() + __pmd_alloc(): the PMD table covering `addr`, allocated if missing. */
export function pmdAlloc(mm: MmStruct, addr: number): PageTable | null {
  const pud = childAlloc(mm, mm.pgd, levelIndex(addr, "pgd"), "pud");
  if (!pud) return null;
  return childAlloc(mm, pud, levelIndex(addr, "pud"), "pmd");
}

function childAlloc(mm: MmStruct, parent: PageTable, i: number, level: Level): PageTable | null {
  const existing = parent.children![i];
  if (existing) return existing;
  const table = mm.core.tryAllocTable(mm, level);
  if (!table) return null;
  const lock = parent.level === "pmd" ? parent.ptl! : mm.page_table_lock;
  lock.lock("pte_alloc");
  parent.children![i] = table;
  const [lo, hi] = tableEntryHalves(table);
  parent.setHalves(i, lo, hi);
  lock.unlock();
  return table;
}

/** pte_index(). */
export function pteIndex(addr: number): number {
  return Math.floor(addr / 4096) & 511;
}

// --- the fault path ------------------------------------------------------------

/** struct vm_fault: what the handlers below pass along. */
interface VmFault {
  vma: Vma;
  /** The page-aligned address. */
  address: number;
  /** real_address: the exact faulting address (for UFFD_FEATURE_EXACT_ADDRESS). */
  realAddress: number;
  flags: number;
  pgoff: number;
  pt: PageTable | null;
  idx: number;
  origLo: number;
  origHi: number;
}

/**
 * handle_mm_fault(): resolve a fault at `address` in `vma`. Called with
 * mmap_lock held for read. Returns a vm_fault_t.
 */
export function handleMmFault(vma: Vma, address: number, flags: number): number {
  const mm = vma.vm_mm;
  const core = mm.core;
  core.vmstat.pgfault++;
  flags = sanitizeFaultFlags(vma, flags);
  if (flags < 0) return VM_FAULT_SIGSEGV;
  // One walk to the PMD level serves both the PMD and the PTE level.
  const pmd = pmdAlloc(mm, address);
  if (!pmd) return VM_FAULT_OOM;
  if (core.config.TRANSPARENT_HUGEPAGE) {
    const ret = handlePmdFault(vma, address, flags, pmd);
    if (ret >= 0) return ret;
  }
  const pt = pteAllocIn(mm, pmd, address);
  if (!pt) return VM_FAULT_OOM;
  const idx = pteIndex(address);
  const vmf: VmFault = {
    vma,
    address: address - (address % 4096),
    realAddress: address,
    flags,
    pgoff: vma.linearPageIndex(address),
    pt,
    idx,
    origLo: pt.e[2 * idx],
    origHi: pt.e[2 * idx + 1],
  };
  return handlePteFault(vmf);
}

/**
 * The PMD level of __handle_mm_fault(): an empty PMD in a VMA that may hold
 * a THP goes to create_huge_pmd() (anonymous VMAs only: shmem has no
 * ->huge_fault and maps its huge folios from finish_fault()); a huge PMD
 * is made young (huge_pmd_set_accessed()) or, for a write to a read-only
 * one, goes to wp_huge_pmd(). `pmd` is the PMD table covering `address`.
 * Returns a vm_fault_t, or -1 to go on at the PTE level (VM_FAULT_FALLBACK).
 */
function handlePmdFault(vma: Vma, address: number, flags: number, pmd: PageTable): number {
  const i = levelIndex(address, "pmd");
  const write = (flags & FAULT_FLAG_WRITE) !== 0;
  let ret = VM_FAULT_FALLBACK;
  if (pmd.isNone(i)) {
    if (!vma.isAnonymous) ret = doFaultPmd(vma, address, flags, pmd, i);
    else if (thpVmaAllowableOrder(vma, "TVA_PAGEFAULT")) {
      ret = doHugePmdAnonymousPage(vma, address, write, pmd, i);
    }
  } else if (pmdTransHugeAt(pmd, i)) {
    const lo = pmd.e[2 * i];
    if ((flags & (FAULT_FLAG_WRITE | FAULT_FLAG_UNSHARE)) && !(lo & _PAGE_RW)) {
      const unshare = (flags & FAULT_FLAG_UNSHARE) !== 0;
      // wp_huge_pmd(): a huge PMD the monitor write-protected
      // (userfaultfd_huge_pmd_wp()) goes to userspace, or with WP_ASYNC is
      // split so that do_wp_page() resolves the one page written.
      if (!unshare && vma.isAnonymous && userfaultfdHugePmdWp(vma, lo)) {
        if (!userfaultfdWpAsync(vma)) {
          const page = address - (address % 4096);
          return handleUserfault({ vma, address: page, realAddress: address, flags }, VM_UFFD_WP);
        }
        splitHugePmd(vma, address);
        return -1;
      }
      ret = doHugePmdWpPage(vma, address, unshare, pmd, i);
    } else {
      hugePmdSetAccessed(vma, pmd, i, write);
      return 0;
    }
  }
  return ret & VM_FAULT_FALLBACK ? -1 : ret;
}

/**
 * do_fault() of a shmem VMA whose PMD is none, as far as it ends in
 * do_set_pmd() (from finish_fault(), or from filemap_map_pmd() in the
 * fault-around of a read): a read or a shared write finding a PMD-sized
 * folio in the page cache maps it whole. Anything else (no folio yet, a
 * small one, a private write, which copies one page) goes on at the PTE
 * level: VM_FAULT_FALLBACK. The kernel looks the folio up before it
 * allocates the PTE table; the model does the same by deciding here.
 */
function doFaultPmd(vma: Vma, address: number, flags: number, pmd: PageTable, i: number): number {
  const write = (flags & FAULT_FLAG_WRITE) !== 0;
  if (write && !(vma.vm_flags & VM_SHARED)) return VM_FAULT_FALLBACK;
  // A cached page in a VMA registered for minor faults goes to userspace
  // first (shmem_get_folio_gfp() → handle_userfault()), at the PTE level.
  if (userfaultfdMinor(vma)) return VM_FAULT_FALLBACK;
  const inode = vma.vm_file!.inode;
  const pgoff = vma.linearPageIndex(address);
  if (pgoff >= Math.ceil(inode.size / 4096)) return VM_FAULT_FALLBACK;
  const pfn = filemapGetFolio(inode, pgoff);
  if (pfn < 0) return VM_FAULT_FALLBACK;
  const core = vma.vm_mm.core;
  const head = core.memmap.pageFolio(pfn);
  if (core.memmap.order[head] !== HPAGE_PMD_ORDER) return VM_FAULT_FALLBACK;
  const ret = doSetPmd(vma, address, pmd, i, head, write);
  if (ret === 0 && write) folioMarkDirty(core, head); // fault_dirty_shared_page()
  return ret;
}

/**
 * sanitize_fault_flags(): an unshare fault only means something in a COW
 * mapping (elsewhere it is dropped), and never together with a write
 * (that is a caller bug: -1, which handleMmFault turns into SIGSEGV).
 */
function sanitizeFaultFlags(vma: Vma, flags: number): number {
  if (!(flags & FAULT_FLAG_UNSHARE)) return flags;
  if (flags & FAULT_FLAG_WRITE) return -1;
  return isCowMapping(vma.vm_flags) ? flags : flags & ~FAULT_FLAG_UNSHARE;
}

/** handle_pte_fault(). */
function handlePteFault(vmf: VmFault): number {
  const { origLo, origHi } = vmf;
  if (origLo === 0 && origHi === 0) return doPteMissing(vmf);
  if ((origLo & (_PAGE_PRESENT | _PAGE_PROTNONE)) === 0) return doSwapPage(vmf);
  // NUMA hinting faults (pte_protnone in an accessible VMA) are not modelled:
  // the model never makes PTEs PROT_NONE for NUMA balancing.
  const pt = vmf.pt!;
  const ptl = pt.ptl!;
  ptl.lock("handle_pte_fault");
  if (pt.e[2 * vmf.idx] !== origLo || pt.e[2 * vmf.idx + 1] !== origHi) {
    ptl.unlock();
    return 0;
  }
  const write = (vmf.flags & FAULT_FLAG_WRITE) !== 0;
  if (write || (vmf.flags & FAULT_FLAG_UNSHARE)) {
    if ((origLo & _PAGE_RW) === 0) return doWpPage(vmf); // drops the PTE lock
    if (write) pt.e[2 * vmf.idx] = origLo | _PAGE_DIRTY | vmf.vma.vm_mm.core.softDirtyLo;
  }
  pt.e[2 * vmf.idx] |= _PAGE_ACCESSED;
  ptl.unlock();
  return 0;
}

/** do_pte_missing(): no entry at all. */
function doPteMissing(vmf: VmFault): number {
  return vmf.vma.isAnonymous ? doAnonymousPage(vmf) : doFault(vmf);
}

/**
 * do_anonymous_page(): a read maps the shared zero page (pte_special, so no
 * struct page is referenced); a write allocates a zeroed, exclusive folio.
 */
function doAnonymousPage(vmf: VmFault): number {
  const { vma } = vmf;
  const mm = vma.vm_mm;
  const core = mm.core;
  const pt = vmf.pt!;
  const i = vmf.idx;
  if (vma.vm_flags & VM_SHARED) return VM_FAULT_SIGBUS;
  const uffdWp = vmfOrigPteUffdWp(vmf);
  if (!(vmf.flags & FAULT_FLAG_WRITE)) {
    const lo = (pfnLo(core.zeroPfn) | vma.protLo | _PAGE_SPECIAL | (uffdWp ? core.uffdWpLo : 0)) >>>
      0;
    const hi = pfnHi(core.zeroPfn) | vma.protHi;
    pt.ptl!.lock("do_anonymous_page");
    if (vmfPteChanged(vmf)) {
      pt.ptl!.unlock();
      return 0;
    }
    // Deliver the page fault to userland, checked inside the PTE lock.
    if (userfaultfdMissing(vma)) {
      pt.ptl!.unlock();
      return handleUserfault(vmf, VM_UFFD_MISSING);
    }
    pt.setHalves(i, lo, hi);
    pt.ptl!.unlock();
    return 0;
  }
  if (!anonVmaPrepare(core, vma)) return VM_FAULT_OOM;
  const large = allocAnonLargeFolio(vmf);
  if (large) return mapAnonLargeFolio(vmf, large.head, large.order);
  const pfn = allocAnonFolio(core);
  if (pfn < 0) return VM_FAULT_OOM;
  let lo = (pfnLo(pfn) | vma.protLo) >>> 0;
  if (vma.vm_flags & VM_WRITE) lo = (lo | _PAGE_RW | _PAGE_DIRTY | core.softDirtyLo) >>> 0;
  if (uffdWp) lo = ((lo & ~_PAGE_RW) | core.uffdWpLo) >>> 0; // pte_mkuffd_wp()
  const hi = pfnHi(pfn) | vma.protHi;
  pt.ptl!.lock("do_anonymous_page");
  if (vmfPteChanged(vmf)) {
    pt.ptl!.unlock();
    core.memmap.put(pfn);
    return 0;
  }
  if (userfaultfdMissing(vma)) {
    pt.ptl!.unlock();
    core.memmap.put(pfn);
    return handleUserfault(vmf, VM_UFFD_MISSING);
  }
  mm.rss[MM_ANONPAGES]++;
  folioAddNewAnonRmap(core, pfn, vma, vmf.address, true);
  pt.setHalves(i, lo, hi);
  pt.ptl!.unlock();
  return 0;
}

/**
 * alloc_anon_folio()'s large half: the highest anonymous mTHP order below
 * PMD_ORDER that the sysfs policy enables for the VMA
 * (thp_vma_allowable_orders()), whose naturally aligned block around the
 * fault lies inside the VMA (thp_vma_suitable_orders()) and whose PTEs are
 * all none (pte_range_none()), allocated; a failed allocation counts
 * anon_fault_fallback and tries the next order down. Null for a small
 * folio: no order fits, or the VMA is armed for userfaultfd, which needs
 * per-page faults.
 */
function allocAnonLargeFolio(vmf: VmFault): { head: number; order: number } | null {
  const { vma } = vmf;
  const core = vma.vm_mm.core;
  // Nothing to try under the default settings: this is every anonymous write fault.
  if (!core.anonMthpOrders.length || !core.config.TRANSPARENT_HUGEPAGE) return null;
  if (userfaultfdArmed(vma) || vmaThpDisabled(vma) || (vma.vm_flags & VM_NO_KHUGEPAGED)) {
    return null;
  }
  for (const order of core.anonMthpOrders) {
    if (!anonOrderEnabled(vma, order)) continue;
    const nr = 2 ** order;
    const addr = vmf.address - (vmf.address % (nr * 4096));
    if (!thpVmaSuitableOrder(vma, addr, order)) continue;
    if (!pteRangeNone(vmf.pt!, pteIndex(addr), nr)) continue;
    const head = allocAnonFolio(core, order);
    if (head >= 0) return { head, order };
    core.countMthpStat(order, "anon_fault_fallback");
  }
  return null;
}

/** pte_range_none(): `nr` PTEs from index `i` are all none. */
function pteRangeNone(pt: PageTable, i: number, nr: number): boolean {
  for (let k = i; k < i + nr; k++) if (pt.e[2 * k] !== 0 || pt.e[2 * k + 1] !== 0) return false;
  return true;
}

/**
 * do_anonymous_page() for a large folio: under the PTE lock, if the block
 * is still all none, folio_add_new_anon_rmap(RMAP_EXCLUSIVE) and set_ptes()
 * of its 2^order pages, dirty and writable in a writable VMA, MM_ANONPAGES
 * up by as many, and anon_fault_alloc counted for the size.
 *
 * Simplification (see lib/mm/huge_memory.ts): the folio is then split into
 * small folios at once (split_folio_to_order(folio, 0) as the deferred
 * split would), so every other path of the model meets small folios; the
 * PTEs, rss counters and pagemap entries are those of the large folio.
 */
function mapAnonLargeFolio(vmf: VmFault, head: number, order: number): number {
  const { vma } = vmf;
  const mm = vma.vm_mm;
  const core = mm.core;
  const m = core.memmap;
  const pt = vmf.pt!;
  const nr = 2 ** order;
  const addr = vmf.address - (vmf.address % (nr * 4096));
  const first = pteIndex(addr);
  pt.ptl!.lock("do_anonymous_page");
  if (!pteRangeNone(pt, first, nr)) {
    pt.ptl!.unlock();
    m.put(head);
    return 0;
  }
  m.splitFolioPages(head);
  let bits = vma.protLo >>> 0;
  if (vma.vm_flags & VM_WRITE) bits = (bits | _PAGE_RW | _PAGE_DIRTY | core.softDirtyLo) >>> 0;
  for (let k = 0; k < nr; k++) {
    const pfn = head + k;
    m.refcount[pfn] = 1; // folio_ref_add(folio, nr_pages - 1), one per page once split
    folioAddNewAnonRmap(core, pfn, vma, addr + k * 4096, true);
    pt.setHalves(first + k, (pfnLo(pfn) | bits) >>> 0, pfnHi(pfn) | vma.protHi);
  }
  mm.rss[MM_ANONPAGES] += nr;
  core.countMthpStat(order, "anon_fault_alloc");
  pt.ptl!.unlock();
  return 0;
}

/**
 * vmf_orig_pte_uffd_wp(): the fault started from a uffd-wp marker in a VMA
 * armed for uffd-wp, so the new PTE must stay write-protected for userfaultfd.
 */
function vmfOrigPteUffdWp(vmf: VmFault): boolean {
  if (!userfaultfdWp(vmf.vma) || (vmf.origLo & _PAGE_PRESENT)) return false;
  if (vmf.origLo === 0 && vmf.origHi === 0) return false;
  const ops = vmf.vma.vm_mm.core.swapops;
  return ops.pteMarkerEntryUffdWp(pteToSwpEntry(pteFromHalves(vmf.origLo, vmf.origHi)));
}

/** vmf_pte_changed(): the entry is no longer what the fault started from. */
function vmfPteChanged(vmf: VmFault): boolean {
  const pt = vmf.pt!;
  return pt.e[2 * vmf.idx] !== vmf.origLo || pt.e[2 * vmf.idx + 1] !== vmf.origHi;
}

/** do_fault(): a file (shmem) VMA with no entry. */
function doFault(vmf: VmFault): number {
  if (!(vmf.flags & FAULT_FLAG_WRITE)) return doReadFault(vmf);
  if (!(vmf.vma.vm_flags & VM_SHARED)) return doCowFault(vmf);
  return doSharedFault(vmf);
}

/**
 * __do_fault() → shmem_fault() → shmem_get_folio_gfp(): the page-cache
 * folio, or a vm_fault_t error (negated). Past i_size is SIGBUS; then a
 * VMA registered MINOR hands a cached page to userfaultfd, one registered
 * MISSING hands over a hole.
 */
function doFaultGetFolio(vmf: VmFault, map = true): number {
  const { vma } = vmf;
  const core = vma.vm_mm.core;
  const inode = vma.vm_file!.inode;
  // Only a VMA registered for MISSING or MINOR faults needs the lookup.
  const armed = userfaultfdMinor(vma) || userfaultfdMissing(vma);
  if (armed && vmf.pgoff < Math.ceil(inode.size / 4096)) {
    const cached = filemapGetFolio(inode, vmf.pgoff) >= 0;
    if (cached && userfaultfdMinor(vma)) return -handleUserfault(vmf, "minor");
    if (!cached && userfaultfdMissing(vma)) return -handleUserfault(vmf, VM_UFFD_MISSING);
  }
  let pfn = shmemGetFolio(core, inode, vmf.pgoff);
  if (pfn === SHMEM_BEYOND_EOF) return -VM_FAULT_SIGBUS;
  if (pfn < 0) return -VM_FAULT_OOM;
  const head = core.memmap.pageFolio(pfn);
  if (core.memmap.order[head] && map) {
    // Only small folios are PTE-mapped in the model (lib/mm/huge_memory.ts).
    shmemSplitHugeFolio(core, head);
    pfn = filemapGetFolio(inode, vmf.pgoff);
  }
  // __do_fault(): a poisoned page-cache page is never mapped again.
  if (core.memmap.flags[pfn] & PG_hwpoison) return -VM_FAULT_HWPOISON;
  return pfn;
}

/**
 * do_read_fault(): first map what the page cache already holds around the
 * address (do_fault_around → filemap_map_pages, 16 pages, never beyond the
 * VMA or the PTE table), then fault the page itself in if still missing.
 */
function doReadFault(vmf: VmFault): number {
  // should_fault_around(): not where uffd-wp or minor faults must be seen
  // page by page (uffd_disable_fault_around()).
  if (!userfaultfdWp(vmf.vma) && !userfaultfdMinor(vmf.vma)) doFaultAround(vmf);
  if (vmfPteChanged(vmf)) return VM_FAULT_NOPAGE;
  const pfn = doFaultGetFolio(vmf);
  if (pfn < 0) return -pfn;
  return finishFault(vmf, pfn, false);
}

/** do_fault_around(): the window of pte indices that filemap_map_pages() scans. */
function doFaultAround(vmf: VmFault): void {
  const { vma } = vmf;
  const nr = FAULT_AROUND_PAGES;
  const pteOff = vmf.idx;
  const vmaOff = vmf.pgoff - vma.vm_pgoff;
  const vmaPages = (vma.vm_end - vma.vm_start) / 4096;
  const from = Math.max(pteOff - (pteOff % nr), pteOff - Math.min(pteOff, vmaOff));
  const to = Math.min(from + nr, 512, pteOff + vmaPages - vmaOff) - 1;
  filemapMapPages(vmf, from, to);
}

/**
 * filemap_map_pages(): map page-cache folios that are already there and up
 * to date into empty PTEs of the window, without waiting for anything.
 */
function filemapMapPages(vmf: VmFault, from: number, to: number): void {
  const { vma } = vmf;
  const inode = vma.vm_file!.inode;
  const pt = vmf.pt!;
  const eofPages = Math.ceil(inode.size / 4096);
  pt.ptl!.lock("filemap_map_pages");
  for (let i = from; i <= to; i++) {
    const pgoff = vmf.pgoff + (i - vmf.idx);
    if (pgoff >= eofPages || !pt.isNone(i)) continue;
    const pfn = filemapGetFolio(inode, pgoff);
    if (pfn < 0 || (vma.vm_mm.core.memmap.flags[pfn] & PG_hwpoison)) continue;
    // A page of a PMD-sized folio is left to the fault itself (see doFaultGetFolio()).
    if (vma.vm_mm.core.memmap.pageFolio(pfn) !== pfn || vma.vm_mm.core.memmap.order[pfn]) continue;
    setPteRange(vmf, pfn, vmf.address + (i - vmf.idx) * 4096, i, false);
  }
  pt.ptl!.unlock();
}

/**
 * set_pte_range() for one page: map `pfn` at `idx`. A write fault in a
 * private mapping maps a new anonymous folio (the COW copy); anything else
 * maps the file folio. Called with the PTE lock held.
 */
function setPteRange(vmf: VmFault, pfn: number, addr: number, idx: number, write: boolean): void {
  const { vma } = vmf;
  const mm = vma.vm_mm;
  const core = mm.core;
  let lo = (pfnLo(pfn) | vma.protLo) >>> 0;
  const hi = pfnHi(pfn) | vma.protHi;
  if (write) {
    lo |= _PAGE_DIRTY | core.softDirtyLo;
    if (vma.vm_flags & VM_WRITE) lo |= _PAGE_RW;
  } else if ((lo & _PAGE_RW) && (core.memmap.flags[pfn] & PG_dirty)) {
    lo |= _PAGE_DIRTY | core.softDirtyLo;
  }
  if (write && !(vma.vm_flags & VM_SHARED)) {
    folioAddNewAnonRmap(core, pfn, vma, addr, true);
  } else {
    core.memmap.refcount[pfn]++;
    folioAddFileRmapPte(core, pfn);
  }
  mm.rss[mmCounter(core, pfn)]++;
  if (idx === vmf.idx && vmfOrigPteUffdWp(vmf)) lo = (lo & ~_PAGE_RW) | core.uffdWpLo;
  vmf.pt!.setHalves(idx, lo >>> 0, hi);
}

/** finish_fault(): install the PTE unless someone else did first. */
function finishFault(vmf: VmFault, pfn: number, write: boolean): number {
  const pt = vmf.pt!;
  pt.ptl!.lock("finish_fault");
  if (vmfPteChanged(vmf)) {
    pt.ptl!.unlock();
    return VM_FAULT_NOPAGE;
  }
  setPteRange(vmf, pfn, vmf.address, vmf.idx, write);
  pt.ptl!.unlock();
  return 0;
}

/**
 * do_cow_fault(): a write to a private file mapping with no PTE: copy the
 * page-cache page into a new anonymous folio and map that, writable.
 */
function doCowFault(vmf: VmFault): number {
  const core = vmf.vma.vm_mm.core;
  if (!anonVmaPrepare(core, vmf.vma)) return VM_FAULT_OOM;
  const cow = allocAnonFolio(core);
  if (cow < 0) return VM_FAULT_OOM;
  const src = doFaultGetFolio(vmf, false);
  if (src < 0) {
    core.memmap.put(cow);
    return -src;
  }
  core.memmap.copyPage(cow, src);
  const ret = finishFault(vmf, cow, true);
  if (ret & VM_FAULT_NOPAGE) core.memmap.put(cow);
  return ret;
}

/** do_shared_fault(): a write to a shared mapping: map the page-cache page dirty. */
function doSharedFault(vmf: VmFault): number {
  const core = vmf.vma.vm_mm.core;
  const pfn = doFaultGetFolio(vmf);
  if (pfn < 0) return -pfn;
  const ret = finishFault(vmf, pfn, true);
  folioMarkDirty(core, pfn); // fault_dirty_shared_page()
  return ret;
}

/**
 * do_wp_page(): a write (or unshare) hit a present, read-only PTE. Called
 * with the PTE lock held; releases it.
 *
 * Shared mappings reuse the page (wp_page_shared). A private anonymous page
 * is reused when PageAnonExclusive, or when wp_can_reuse_anon_folio() finds
 * that this mapping holds the only reference; otherwise wp_page_copy().
 */
function doWpPage(vmf: VmFault): number {
  const { vma } = vmf;
  const core = vma.vm_mm.core;
  const unshare = (vmf.flags & FAULT_FLAG_UNSHARE) !== 0;
  if (!unshare && userfaultfdWp(vma) && (vmf.origLo & core.uffdWpLo)) {
    // userfaultfd_pte_wp(): the monitor write-protected this page.
    if (!userfaultfdWpAsync(vma)) {
      vmf.pt!.ptl!.unlock();
      return handleUserfault(vmf, VM_UFFD_WP);
    }
    // WP_ASYNC: drop the uffd-wp bit and go on to make the page writable.
    vmf.origLo = (vmf.origLo & ~core.uffdWpLo) >>> 0;
    vmf.pt!.e[2 * vmf.idx] = vmf.origLo;
  }
  const pfn = vmNormalPage(vmf.origLo, vmf.origHi);
  if (vma.vm_flags & VM_SHARED) {
    if (pfn >= 0) folioMarkDirty(core, pfn);
    wpPageReuse(vmf);
    return 0;
  }
  if (
    pfn >= 0 && folioTestAnon(core, pfn) &&
    (pageAnonExclusive(core, pfn) || wpCanReuseAnonFolio(vmf, pfn))
  ) {
    if (!pageAnonExclusive(core, pfn)) setPageAnonExclusive(core, pfn);
    if (unshare) {
      vmf.pt!.ptl!.unlock();
      return 0;
    }
    wpPageReuse(vmf);
    return 0;
  }
  vmf.pt!.ptl!.unlock();
  return wpPageCopy(vmf, pfn);
}

/**
 * wp_can_reuse_anon_folio() for a small folio: reusable only if the caller's
 * mapping holds the one and only reference (so no other process, and no
 * GUP pin, can see the page); then the folio moves to this VMA's anon_vma.
 */
function wpCanReuseAnonFolio(vmf: VmFault, pfn: number): boolean {
  const core = vmf.vma.vm_mm.core;
  if (core.memmap.refcount[pfn] !== 1) return false;
  folioMoveAnonRmap(core, pfn, vmf.vma);
  return true;
}

/** wp_page_reuse(): make the existing PTE young, dirty and writable. */
function wpPageReuse(vmf: VmFault): void {
  const pt = vmf.pt!;
  const core = vmf.vma.vm_mm.core;
  let lo = vmf.origLo | _PAGE_ACCESSED | _PAGE_DIRTY | core.softDirtyLo;
  if (vmf.vma.vm_flags & VM_WRITE) lo |= _PAGE_RW;
  pt.e[2 * vmf.idx] = lo >>> 0;
  pt.ptl!.unlock();
}

/**
 * wp_page_copy(): copy-on-write into a new exclusive anonymous folio (from
 * the zero page: just a zeroed one), then drop the old mapping.
 */
function wpPageCopy(vmf: VmFault, oldPfn: number): number {
  const { vma } = vmf;
  const mm = vma.vm_mm;
  const core = mm.core;
  const m = core.memmap;
  if (!anonVmaPrepare(core, vma)) return VM_FAULT_OOM;
  const pfn = allocAnonFolio(core);
  if (pfn < 0) return VM_FAULT_OOM;
  const oldFrame = halvesPfn(vmf.origLo, vmf.origHi);
  if (oldFrame !== core.zeroPfn) m.copyPage(pfn, oldFrame);
  // The PTE will point at another page: secondary MMUs must drop the old one.
  return withMmuNotifier(
    MMU_NOTIFY_CLEAR,
    mm,
    vmf.address,
    vmf.address + 4096,
    () => wpPageCopyInstall(vmf, oldPfn, pfn),
  );
}

/** wp_page_copy() under the PTE lock: replace the old page by the copy `pfn`. */
function wpPageCopyInstall(vmf: VmFault, oldPfn: number, pfn: number): number {
  const { vma } = vmf;
  const mm = vma.vm_mm;
  const core = mm.core;
  const m = core.memmap;
  const unshare = (vmf.flags & FAULT_FLAG_UNSHARE) !== 0;
  const pt = vmf.pt!;
  pt.ptl!.lock("wp_page_copy");
  if (pt.e[2 * vmf.idx] !== vmf.origLo || pt.e[2 * vmf.idx + 1] !== vmf.origHi) {
    pt.ptl!.unlock();
    m.put(pfn);
    return 0;
  }
  if (oldPfn >= 0) {
    if (!folioTestAnon(core, oldPfn)) {
      mm.rss[mmCounter(core, oldPfn)]--;
      mm.rss[MM_ANONPAGES]++;
    }
  } else {
    mm.rss[MM_ANONPAGES]++;
  }
  let lo = (pfnLo(pfn) | vma.protLo) >>> 0;
  if (unshare) {
    lo |= vmf.origLo & core.softDirtyLo;
    if (vmf.origLo & core.uffdWpLo) lo = (lo | core.uffdWpLo) & ~_PAGE_RW;
  } else {
    lo |= _PAGE_DIRTY | core.softDirtyLo;
    if (vma.vm_flags & VM_WRITE) lo |= _PAGE_RW;
  }
  folioAddNewAnonRmap(core, pfn, vma, vmf.address, true);
  pt.setHalves(vmf.idx, lo >>> 0, pfnHi(pfn) | vma.protHi);
  if (oldPfn >= 0) {
    folioRemoveRmapPte(core, oldPfn);
    m.put(oldPfn);
  }
  pt.ptl!.unlock();
  return 0;
}

/**
 * vm_normal_page(): the pfn of the struct page behind a present PTE, or -1
 * for a special mapping (the zero page: x86 has pte_special).
 */
export function vmNormalPage(lo: number, hi: number): number {
  if (lo & _PAGE_SPECIAL) return -1;
  return halvesPfn(lo, hi);
}

/**
 * do_swap_page(): a non-present entry. The model has no swap device, so
 * only the special entries can be met: device-exclusive entries, hwpoison,
 * PTE markers (and migration entries once a lesson installs them).
 */
function doSwapPage(vmf: VmFault): number {
  const core = vmf.vma.vm_mm.core;
  const ops = core.swapops;
  const entry = pteToSwpEntry(pteFromHalves(vmf.origLo, vmf.origHi));
  if (ops.isDeviceExclusiveEntry(entry)) {
    return removeDeviceExclusiveEntry(vmf, ops.swpOffsetPfn(entry));
  }
  if (ops.isHwpoisonEntry(entry)) return VM_FAULT_HWPOISON;
  if (ops.isPteMarkerEntry(entry)) return handlePteMarker(vmf, ops.pteMarkerGet(entry));
  if (ops.isSwapDeviceEntry(entry) && core.swap?.inUse(Number(entry.offset))) {
    return doSwapPageIn(vmf, entry);
  }
  core.printk(
    `BUG: Bad page map in process: pte:${pteFromHalves(vmf.origLo, vmf.origHi).toString(16)}`,
  );
  return VM_FAULT_SIGBUS;
}

// --- device-exclusive entries -------------------------------------------------------

/**
 * remove_device_exclusive_entry(): a CPU access hit a device-exclusive
 * entry; give the page back to the CPU. Steps, as the lesson numbers them:
 *
 *  1. take a reference and the folio lock (folio_lock_or_retry(): a fault
 *     that may retry returns VM_FAULT_RETRY when the lock is held);
 *  2. invalidate_range_start() over the page: an invalid → valid change,
 *     which needs no flush for the CPU, but the device must learn that it
 *     lost exclusive access (the point argued in 001_5dec3032e006ff91.txt).
 *     v6.18 sends MMU_NOTIFY_CLEAR; the ≤ v6.14 variant sent
 *     MMU_NOTIFY_EXCLUSIVE with no owner;
 *  3. under the PTE lock, if the entry is still the one the fault saw,
 *     restore_exclusive_pte();
 *  4. unlock, drop the reference, invalidate_range_end().
 */
function removeDeviceExclusiveEntry(vmf: VmFault, pfn: number): number {
  const { vma } = vmf;
  const mm = vma.vm_mm;
  const core = mm.core;
  const m = core.memmap;
  // step 1: folio_try_get() cannot fail: the entry holds a reference.
  m.refcount[pfn]++;
  if (!folioTrylock(core, pfn)) {
    if (vmf.flags & FAULT_FLAG_ALLOW_RETRY) {
      m.put(pfn);
      return VM_FAULT_RETRY;
    }
    folioLock(core, pfn);
  }
  // step 2
  const legacy = core.variants.deviceExclusiveRange;
  const range = mmuNotifierRangeInitOwner(
    legacy ? MMU_NOTIFY_EXCLUSIVE : MMU_NOTIFY_CLEAR,
    0,
    mm,
    vmf.address,
    vmf.address + 4096,
    null,
  );
  mmuNotifierInvalidateRangeStart(range);
  // step 3
  const pt = vmf.pt!;
  pt.ptl!.lock("remove_device_exclusive_entry");
  if (!vmfPteChanged(vmf)) {
    restoreExclusivePte(vma, pfn, vmf.address, pt, vmf.idx, pteFromHalves(vmf.origLo, vmf.origHi));
  }
  pt.ptl!.unlock();
  // step 4
  folioUnlock(core, pfn);
  m.put(pfn);
  mmuNotifierInvalidateRangeEnd(range);
  return 0;
}

/**
 * restore_exclusive_pte(): put the present PTE back in place of the
 * device-exclusive entry `orig` at `pt[idx]`. Called with the folio lock
 * and the PTE lock held. The new PTE is old (pte_mkold), keeps the
 * entry's soft-dirty and uffd-wp bits, and no page reference is taken:
 * the entry held one.
 *
 *  - v6.18: writable only where the VMA is (VM_WRITE) and
 *    can_change_pte_writable() allows, dirty if the folio is; the mapcount
 *    was never dropped, so the rmap is left alone.
 *  - ≤ v6.14: writable (and dirty) if the entry was the WRITE type and the
 *    VMA is writable (maybe_mkwrite()), unless uffd-wp; the mapcount that
 *    make_device_exclusive_range() dropped comes back
 *    (folio_add_anon_rmap_pte()).
 */
export function restoreExclusivePte(
  vma: Vma,
  pfn: number,
  _address: number,
  pt: PageTable,
  idx: number,
  orig: Pte,
): void {
  const core = vma.vm_mm.core;
  assertLocked(pt.ptl!, "restore_exclusive_pte");
  if (!folioTestLocked(core, pfn)) {
    throw new VmBugError("folio lock", "restore_exclusive_pte() without the folio lock", { pfn });
  }
  let lo = ((pfnLo(pfn) | vma.protLo) & ~_PAGE_ACCESSED) >>> 0;
  const hi = pfnHi(pfn) | vma.protHi;
  if (pteSwpSoftDirty(orig, core.bits)) lo |= core.softDirtyLo;
  const uffdWp = pteSwpUffdWp(orig, core.bits);
  if (uffdWp) lo = (lo | core.uffdWpLo) & ~_PAGE_RW;
  if (core.variants.deviceExclusiveRange) {
    const entry = pteToSwpEntry(orig);
    if (!uffdWp && core.swapops.isWritableDeviceExclusiveEntry(entry)) {
      lo |= _PAGE_DIRTY;
      if (vma.vm_flags & VM_WRITE) lo |= _PAGE_RW;
    }
    if (!folioTestAnon(core, pfn)) {
      core.warnOnce("restore-exclusive-file", "file folio in a device-exclusive entry");
    }
    folioAddAnonRmapPte(core, pfn);
  } else if ((vma.vm_flags & VM_WRITE) && canChangePteWritable(vma, lo | _PAGE_PRESENT, hi)) {
    if (core.memmap.flags[pfn] & PG_dirty) lo |= _PAGE_DIRTY;
    lo |= _PAGE_RW;
  }
  pt.setHalves(idx, lo >>> 0, hi);
}

/**
 * try_restore_exclusive_pte(): fork's way to make a device-exclusive
 * entry present again before copying it. It may not sleep on the folio
 * lock (it holds PTE locks), so a contended lock fails the fork with
 * -EBUSY, the option Peter Xu suggested in 001_5dec3032e006ff91.txt
 * ("failing the fork() directly when trylock_page() failed"). No MMU
 * notifier here: copy_page_range() already sent MMU_NOTIFY_PROTECTION_PAGE
 * for the whole COW mapping. Returns 0 or -EBUSY.
 */
export function tryRestoreExclusivePte(
  vma: Vma,
  address: number,
  pt: PageTable,
  idx: number,
  orig: Pte,
): number {
  const core = vma.vm_mm.core;
  const pfn = core.swapops.swpOffsetPfn(pteToSwpEntry(orig));
  if (!folioTrylock(core, pfn)) return -16; // -EBUSY
  restoreExclusivePte(vma, pfn, address, pt, idx, orig);
  folioUnlock(core, pfn);
  return 0;
}

/**
 * handle_pte_marker(): poison first (data corruption beats everything),
 * then guard regions, then the uffd-wp marker; an empty marker is a bug.
 */
/**
 * do_swap_page() for an entry of the swap device: read the slot into a new
 * folio (a read error leaves it !uptodate: VM_FAULT_SIGBUS, the entry
 * stays), map it, and drop the PTE's hold on the slot. As with a fresh
 * folio the kernel did not expose to the swap cache, the page is exclusive:
 * mapped writable in a writable VMA unless uffd-wp or soft-dirty tracking
 * wants the write to fault (see lib/mm/swapfile.ts for how the model does
 * without a swap cache).
 */
function doSwapPageIn(vmf: VmFault, entry: SwpEntry): number {
  const { vma } = vmf;
  const mm = vma.vm_mm;
  const core = mm.core;
  const si = core.swap!;
  const offset = Number(entry.offset);
  if (!anonVmaPrepare(core, vma)) return VM_FAULT_OOM;
  const pfn = allocAnonFolio(core);
  if (pfn < 0) return VM_FAULT_OOM;
  core.vmstat.pgmajfault++;
  if (!si.readPage(core, offset, pfn)) {
    core.memmap.put(pfn);
    return VM_FAULT_SIGBUS;
  }
  const orig = pteFromHalves(vmf.origLo, vmf.origHi);
  const pt = vmf.pt!;
  let lo = (pfnLo(pfn) | vma.protLo) >>> 0;
  if (pteSwpSoftDirty(orig, core.bits)) lo = (lo | core.softDirtyLo) >>> 0;
  const uffdWp = pteSwpUffdWp(orig, core.bits) && core.uffdWpLo !== 0;
  if (uffdWp) lo = (lo | core.uffdWpLo) >>> 0;
  const softDirtyWp = vmaSoftDirtyEnabled(vma) && !(lo & core.softDirtyLo); // pte_needs_soft_dirty_wp()
  if ((vma.vm_flags & VM_WRITE) && !(uffdWp && userfaultfdWp(vma)) && !softDirtyWp) {
    lo = (lo | _PAGE_RW) >>> 0;
    if (vmf.flags & FAULT_FLAG_WRITE) {
      lo = (lo | _PAGE_DIRTY | core.softDirtyLo) >>> 0;
      vmf.flags &= ~FAULT_FLAG_WRITE;
    }
  }
  const hi = pfnHi(pfn) | vma.protHi;
  pt.ptl!.lock("do_swap_page");
  mm.rss[MM_SWAPENTS]--;
  mm.rss[MM_ANONPAGES]++;
  si.put(offset);
  folioAddNewAnonRmap(core, pfn, vma, vmf.address, true);
  pt.setHalves(vmf.idx, lo, hi);
  // A write fault on a page left read-only goes on to do_wp_page(), which
  // drops the PTE lock.
  // The folio had to be read from the device: a major fault.
  if (vmf.flags & FAULT_FLAG_WRITE) {
    vmf.origLo = lo;
    vmf.origHi = hi;
    return VM_FAULT_MAJOR | doWpPage(vmf);
  }
  pt.ptl!.unlock();
  return VM_FAULT_MAJOR;
}

function handlePteMarker(vmf: VmFault, marker: number): number {
  const core = vmf.vma.vm_mm.core;
  if (marker === 0) {
    core.warnOnce("empty-marker", "empty PTE marker");
    return VM_FAULT_SIGBUS;
  }
  if (marker & PTE_MARKER_POISONED) {
    return VM_FAULT_HWPOISON | (core.variants.silentPoison ? VM_FAULT_HWPOISON_SILENT : 0);
  }
  if (marker & PTE_MARKER_GUARD) return VM_FAULT_SIGSEGV;
  // pte_marker_handle_uffd_wp(): in a VMA armed for uffd-wp, the marker
  // stands for a none PTE that must come back write-protected.
  if ((marker & PTE_MARKER_UFFD_WP) && userfaultfdWp(vmf.vma)) return doPteMissing(vmf);
  // PTE_MARKER_UFFD_WP in a VMA no longer registered for uffd-wp:
  // pte_marker_clear(), then handle the fault as a missing page.
  const pt = vmf.pt!;
  pt.ptl!.lock("pte_marker_clear");
  pt.setHalves(vmf.idx, 0, 0);
  pt.ptl!.unlock();
  vmf.origLo = 0;
  vmf.origHi = 0;
  return doPteMissing(vmf);
}

// --- zap ---------------------------------------------------------------------------

/** struct zap_details. */
export interface ZapDetails {
  /** Also zap private COW (anonymous) pages of file mappings. */
  evenCows: boolean;
  /** ZAP_FLAG_DROP_MARKER: also drop uffd-wp markers of file VMAs. */
  dropMarkers: boolean;
  /** Free PTE tables left empty (MADV_DONTNEED with CONFIG_PT_RECLAIM). */
  reclaimPt: boolean;
  /** Only zap this address space's pages (unmap_mapping_range). */
  mapping?: AddressSpace;
}

/** zap_details for munmap/exit: everything goes, markers too. */
export const ZAP_UNMAP: ZapDetails = { evenCows: true, dropMarkers: true, reclaimPt: false };

/**
 * zap_pte_range() over [start, end) of one VMA: clear every PTE, drop rss
 * counters, mapcounts and references; keep what `details` says to keep.
 * Then, with `reclaimPt`, free PTE tables left empty (mm/pt_reclaim.c).
 */
export function zapPageRange(vma: Vma, start: number, end: number, details: ZapDetails): void {
  const mm = vma.vm_mm;
  for (let addr = start; addr < end;) {
    const tableEnd = Math.min(end, (Math.floor(addr / 2097152) + 1) * 2097152);
    // zap_pmd_range(): a huge PMD goes whole, or is split for a partial zap
    // (in a shmem VMA it maps a folio of the file: unmap_mapping_range() too).
    const huge = hugePmdAt(mm, addr);
    if (huge) {
      if (tableEnd - addr === 2097152) {
        zapHugePmd(vma, huge.pmd, huge.i);
        addr = tableEnd;
        continue;
      }
      splitHugePmd(vma, addr);
    }
    const pt = lookupPteTable(mm, addr);
    if (pt) {
      pt.ptl!.lock("zap_pte_range");
      for (let a = addr; a < tableEnd; a += 4096) zapOne(vma, pt, pteIndex(a), details);
      pt.ptl!.unlock();
      const whole = addr % 2097152 === 0 && tableEnd - addr === 2097152;
      if (details.reclaimPt && pt.nr === 0 && (whole || end - start >= 2097152)) {
        reclaimPteTable(mm, addr);
      }
    }
    addr = tableEnd;
  }
}

function zapOne(vma: Vma, pt: PageTable, i: number, details: ZapDetails): void {
  const lo = pt.e[2 * i], hi = pt.e[2 * i + 1];
  if (lo === 0 && hi === 0) return;
  const mm = vma.vm_mm;
  const core = mm.core;
  if (lo & (_PAGE_PRESENT | _PAGE_PROTNONE)) {
    const pfn = vmNormalPage(lo, hi);
    if (pfn < 0) {
      if (details.mapping) return;
      pt.setHalves(i, 0, 0);
      return;
    }
    const anon = folioTestAnon(core, pfn);
    if (
      details.mapping &&
      (anon ? !details.evenCows : core.memmap.mapping[pfn] !== details.mapping.id)
    ) {
      return;
    }
    if (!details.evenCows && anon && !vma.isAnonymous) return;
    pt.setHalves(i, 0, 0);
    if (!anon) {
      if (lo & _PAGE_DIRTY) folioMarkDirty(core, pfn);
      if (lo & _PAGE_ACCESSED) core.memmap.flags[pfn] |= PG_referenced;
    }
    mm.rss[mmCounter(core, pfn)]--;
    folioRemoveRmapPte(core, pfn);
    core.memmap.put(pfn);
    zapInstallUffdWpIfNeeded(vma, pt, i, lo, details);
    return;
  }
  zapNonpresent(vma, pt, i, details);
}

/**
 * zap_install_uffd_wp_if_needed() → pte_install_uffd_wp_if_needed(): a
 * write-protected page of a file VMA armed for uffd-wp leaves a uffd-wp
 * marker behind (the page cache may still hold the page, and the
 * protection must survive), unless the zap drops markers (munmap, exit).
 */
function zapInstallUffdWpIfNeeded(
  vma: Vma,
  pt: PageTable,
  i: number,
  lo: number,
  details: ZapDetails,
): void {
  if (vma.isAnonymous || details.dropMarkers) return;
  const core = vma.vm_mm.core;
  if (!userfaultfdWp(vma) || !(lo & core.uffdWpLo)) return;
  pt.set(i, core.swapops.makePteMarker(PTE_MARKER_UFFD_WP));
}

/** zap_nonpresent_ptes() for the entries the model can hold. */
function zapNonpresent(vma: Vma, pt: PageTable, i: number, details: ZapDetails): void {
  const core = vma.vm_mm.core;
  const ops = core.swapops;
  const entry = pteToSwpEntry(pt.get(i));
  if (ops.isDeviceExclusiveEntry(entry)) {
    // The entry maps an anonymous folio: zap it only where anonymous
    // folios go (should_zap_folio()). v6.18 kept the mapcount while the
    // device owned the page, so the rmap goes now; ≤ v6.14 dropped it then.
    if (details.mapping && !details.evenCows) return;
    const pfn = ops.swpOffsetPfn(entry);
    vma.vm_mm.rss[mmCounter(core, pfn)]--;
    if (!core.variants.deviceExclusiveRange) folioRemoveRmapPte(core, pfn);
    pt.setHalves(i, 0, 0);
    core.memmap.put(pfn);
    return;
  }
  if (details.mapping) return;
  if (ops.isSwapDeviceEntry(entry)) {
    vma.vm_mm.rss[MM_SWAPENTS]--;
    // free_swap_and_cache_nr(): the slot loses this user.
    const offset = Number(entry.offset);
    if (core.swap?.inUse(offset)) core.swap.put(offset);
  } else if (ops.pteMarkerEntryUffdWp(entry) && !(ops.pteMarkerGet(entry) & ~1)) {
    if (!vma.isAnonymous && !details.dropMarkers) return;
  } else if (ops.isGuardSwpEntry(entry)) {
    if (!details.dropMarkers) return;
  } else if (ops.isHwpoisonEntry(entry) || ops.isPoisonedSwpEntry(entry)) {
    if (!details.evenCows) return;
  }
  pt.setHalves(i, 0, 0);
}

/** Frees the PTE table covering `addr` if it is empty (try_to_free_pte()). */
function reclaimPteTable(mm: MmStruct, addr: number): void {
  const pmd = lookupPmdTable(mm, addr);
  if (!pmd) return;
  const i = levelIndex(addr, "pmd");
  const pt = pmd.children![i];
  if (!pt || pt.nr !== 0) return;
  pmd.ptl!.lock("try_to_free_pte");
  pmd.children![i] = null;
  pmd.setHalves(i, 0, 0);
  pmd.ptl!.unlock();
  mm.core.freeTable(mm, pt);
}

/**
 * free_pgtables() after munmap of [start, end): free every table below the
 * pgd whose whole span lies outside all remaining VMAs (the kernel bounds
 * this by the neighbouring VMAs, floor and ceiling; same result).
 */
export function freePgtables(mm: MmStruct, start: number, end: number): void {
  freeLevel(mm, mm.pgd, 0, start, end);
}

function freeLevel(
  mm: MmStruct,
  table: PageTable,
  base: number,
  start: number,
  end: number,
): boolean {
  const shift = 2 ** { pgd: 39, pud: 30, pmd: 21, pte: 12 }[table.level];
  const first = Math.max(0, Math.floor((start - base) / shift));
  const last = Math.min(511, Math.floor((end - 1 - base) / shift));
  for (let i = first; i <= last; i++) {
    const child = table.children![i];
    if (!child) continue;
    const cStart = base + i * shift;
    const cEnd = cStart + shift;
    const empty = child.level === "pte" ? false : freeLevel(mm, child, cStart, start, end);
    if (spanHasVma(mm, cStart, cEnd)) continue;
    if (child.level === "pte" && child.nr !== 0) {
      throw new VmBugError("pgtable leak", "freeing a PTE table that still maps pages", {
        addr: cStart,
        entries: child.nr,
      });
    }
    if (child.level !== "pte" && !empty) continue;
    const lock = table.level === "pmd" ? table.ptl! : mm.page_table_lock;
    lock.lock("free_pgtables");
    table.children![i] = null;
    table.setHalves(i, 0, 0);
    lock.unlock();
    mm.core.freeTable(mm, child);
  }
  return table.nr === 0;
}

function spanHasVma(mm: MmStruct, start: number, end: number): boolean {
  const vma = mm.findVma(start);
  return vma !== null && vma.vm_start < end;
}

/**
 * unmap_mapping_range(): zap the pages of `mapping` with index in
 * [start, end) from every VMA that maps them (truncate, hole punch).
 */
export function unmapMappingRange(
  _core: MmCore,
  mapping: AddressSpace,
  start: number,
  end: number,
  evenCows: boolean,
): void {
  for (const vma of mapping.i_mmap) {
    const vStart = vma.vm_pgoff;
    const vEnd = vma.vm_pgoff + (vma.vm_end - vma.vm_start) / 4096;
    const s = Math.max(start, vStart), e = Math.min(end, vEnd);
    if (s >= e) continue;
    const a = vma.vm_start + (s - vma.vm_pgoff) * 4096;
    const b = vma.vm_start + (e - vma.vm_pgoff) * 4096;
    // zap_page_range_single(): MMU_NOTIFY_CLEAR.
    withMmuNotifier(
      MMU_NOTIFY_CLEAR,
      vma.vm_mm,
      a,
      b,
      () => zapPageRange(vma, a, b, { evenCows, dropMarkers: false, reclaimPt: false, mapping }),
    );
  }
}

// --- fork ---------------------------------------------------------------------------

/**
 * vma_needs_copy(): fork copies page tables only where the child could not
 * fault the same contents back in: anonymous pages (anon_vma), uffd-wp
 * state. A shared or read-only file mapping is left to fault.
 */
export function vmaNeedsCopy(dst: Vma, src: Vma): boolean {
  return src.anon_vma !== null || (dst.vm_flags & 0x1000) !== 0;
}

/**
 * copy_page_range() → copy_pte_range(): duplicate the parent's PTEs into
 * the child. A private writable page becomes read-only in both
 * (copy-on-write); anonymous pages lose PageAnonExclusive and gain a
 * mapcount; the child's PTEs are old, and clean in shared mappings. A COW
 * mapping is copied inside an MMU_NOTIFY_PROTECTION_PAGE bracket on the
 * parent (its PTEs become read-only). A device-exclusive entry of the
 * parent is first restored (try_restore_exclusive_pte()), then copied as
 * the present PTE it became; when its folio lock is contended the copy
 * stops with -EBUSY and so does fork(). Returns 0 or -errno.
 */
export function copyPageRange(dst: Vma, src: Vma): number {
  if (!vmaNeedsCopy(dst, src)) return 0;
  if (!isCowMapping(src.vm_flags)) return copyPteRanges(dst, src);
  return withMmuNotifier(
    MMU_NOTIFY_PROTECTION_PAGE,
    src.vm_mm,
    src.vm_start,
    src.vm_end,
    () => copyPteRanges(dst, src),
  );
}

function copyPteRanges(dst: Vma, src: Vma): number {
  const srcMm = src.vm_mm, dstMm = dst.vm_mm;
  const cow = isCowMapping(src.vm_flags);
  const keepUffdWp = (dst.vm_flags & 0x1000) !== 0;
  const ops = srcMm.core.swapops;
  for (let addr = src.vm_start; addr < src.vm_end;) {
    const tableEnd = Math.min(src.vm_end, (Math.floor(addr / 2097152) + 1) * 2097152);
    // copy_pmd_range(): a huge PMD (never cut by a VMA edge) goes to copy_huge_pmd().
    const huge = hugePmdAt(srcMm, addr);
    if (huge) {
      const dpmd = pmdAlloc(dstMm, addr);
      if (!dpmd || copyHugePmd(dst, src, huge.pmd, dpmd, huge.i) < 0) return -12;
      addr = tableEnd;
      continue;
    }
    const spt = lookupPteTable(srcMm, addr);
    if (spt && spt.nr > 0) {
      const dpt = pteAlloc(dstMm, addr);
      if (!dpt) return -12; // -ENOMEM
      dpt.ptl!.lock("copy_pte_range dst");
      spt.ptl!.lock("copy_pte_range src");
      let ret = 0;
      for (let a = addr; a < tableEnd; a += 4096) {
        const i = pteIndex(a);
        let lo = spt.e[2 * i], hi = spt.e[2 * i + 1];
        if (lo === 0 && hi === 0) continue;
        if (!(lo & (_PAGE_PRESENT | _PAGE_PROTNONE))) {
          const pte = pteFromHalves(lo, hi);
          if (!(isSwapPte(pte) && ops.isDeviceExclusiveEntry(pteToSwpEntry(pte)))) {
            copyNonpresentPte(dst, spt, dpt, i, lo, hi, keepUffdWp);
            continue;
          }
          // Only COW mappings can hold device-exclusive entries.
          if (!cow) throw new VmBugError("device exclusive", "entry in a non-COW mapping", { a });
          ret = tryRestoreExclusivePte(src, a, spt, i, pte);
          if (ret) break;
          lo = spt.e[2 * i];
          hi = spt.e[2 * i + 1];
        }
        ret = copyPresentPte(dst, src, spt, dpt, i, a, lo, hi, cow, keepUffdWp);
        if (ret) break;
      }
      spt.ptl!.unlock();
      dpt.ptl!.unlock();
      if (ret) return ret;
    }
    addr = tableEnd;
  }
  return 0;
}

/**
 * copy_present_pte(): share the page with the child. An exclusive
 * anonymous page that may be pinned by GUP (folio_maybe_dma_pinned())
 * cannot be shared, or the pin would stop seeing the parent's writes:
 * copy_present_page() gives the child its own copy instead. Returns 0 or
 * -ENOMEM.
 */
function copyPresentPte(
  dst: Vma,
  src: Vma,
  spt: PageTable,
  dpt: PageTable,
  i: number,
  addr: number,
  lo: number,
  hi: number,
  cow: boolean,
  keepUffdWp: boolean,
): number {
  const core = src.vm_mm.core;
  const pfn = vmNormalPage(lo, hi);
  if (pfn >= 0) {
    if (folioTestAnon(core, pfn)) {
      if (!folioTryDupAnonRmapPte(core, pfn, folioMaybeDmaPinned(core, pfn))) {
        return copyPresentPage(dst, dpt, i, addr, pfn, lo, keepUffdWp);
      }
    } else {
      folioDupFileRmapPte(core, pfn);
    }
    core.memmap.refcount[pfn]++;
    dst.vm_mm.rss[mmCounter(core, pfn)]++;
  }
  if (cow && (lo & _PAGE_RW)) {
    spt.e[2 * i] = lo & ~_PAGE_RW; // ptep_set_wrprotect()
    lo &= ~_PAGE_RW;
  }
  if (src.vm_flags & VM_SHARED) lo &= ~_PAGE_DIRTY;
  lo &= ~_PAGE_ACCESSED;
  if (!keepUffdWp) lo &= ~core.uffdWpLo;
  dpt.setHalves(i, lo >>> 0, hi);
  return 0;
}

/**
 * copy_present_page(): the child gets a copy of a pinned exclusive page,
 * mapped dirty and writable (if its VMA is) and exclusive; the parent's
 * PTE is left as it was.
 */
function copyPresentPage(
  dst: Vma,
  dpt: PageTable,
  i: number,
  addr: number,
  pfn: number,
  lo: number,
  keepUffdWp: boolean,
): number {
  const core = dst.vm_mm.core;
  const copy = allocAnonFolio(core);
  if (copy < 0) return -12; // -ENOMEM
  core.memmap.copyPage(copy, pfn);
  folioAddNewAnonRmap(core, copy, dst, addr, true);
  dst.vm_mm.rss[MM_ANONPAGES]++;
  let nlo = (pfnLo(copy) | dst.protLo | _PAGE_DIRTY) >>> 0;
  if (dst.vm_flags & VM_WRITE) nlo |= _PAGE_RW;
  if (keepUffdWp && (lo & core.uffdWpLo)) nlo = (nlo | core.uffdWpLo) & ~_PAGE_RW;
  dpt.setHalves(i, nlo >>> 0, pfnHi(copy) | dst.protHi);
  return 0;
}

/**
 * copy_nonpresent_pte(): swap entries and markers. A PTE marker is copied
 * by copy_pte_marker(): poison and guard markers always, the uffd-wp
 * marker only if the child VMA is uffd-wp armed.
 */
function copyNonpresentPte(
  dst: Vma,
  spt: PageTable,
  dpt: PageTable,
  i: number,
  lo: number,
  hi: number,
  keepUffdWp: boolean,
): void {
  const core = dst.vm_mm.core;
  const ops = core.swapops;
  const pte = pteFromHalves(lo, hi);
  if (!isSwapPte(pte)) return;
  const entry = pteToSwpEntry(pte);
  if (ops.isPteMarkerEntry(entry)) {
    let marker = ops.pteMarkerGet(entry) & (PTE_MARKER_POISONED | PTE_MARKER_GUARD);
    if (keepUffdWp) marker |= ops.pteMarkerGet(entry) & 1;
    if (marker) dpt.set(i, ops.makePteMarker(marker));
    return;
  }
  if (ops.isSwapDeviceEntry(entry)) {
    // swap_duplicate(), and the entry is shared now: neither side's PTE
    // says exclusive any more.
    const offset = Number(entry.offset);
    if (core.swap?.inUse(offset)) core.swap.duplicate(offset);
    if (pteSwpExclusive(pte)) {
      lo = (lo & ~_PAGE_SWP_EXCLUSIVE) >>> 0;
      spt.setHalves(i, lo, hi);
    }
    dst.vm_mm.rss[MM_SWAPENTS]++;
  }
  dpt.setHalves(i, lo, hi);
}
