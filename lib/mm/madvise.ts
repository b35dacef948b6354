/**
 * madvise() (mm/madvise.c, v6.18): validation, the walk over VMAs (holes give
 * -ENOMEM after the mapped parts are done), and the advice the model acts on.
 *
 * Simplifications: MADV_COLD only checks its arguments (the model has no
 * LRU lists to move pages on); MADV_WILLNEED has nothing to read ahead;
 * MADV_PAGEOUT is the model's only reclaim, with no swap device (see
 * vmscan.ts). Advice the model does not implement yet fails with EINVAL
 * and says so.
 * @module
 */
import { ERRNO } from "../kernel/errno.ts";
import * as C from "../kernel/constants.ts";
import {
  type MmStruct,
  VM_DONTCOPY,
  VM_DONTDUMP,
  VM_DONTEXPAND,
  VM_HUGEPAGE,
  VM_HUGETLB,
  VM_IO,
  VM_LOCKED,
  VM_MAYWRITE,
  VM_MERGEABLE,
  VM_MIXEDMAP,
  VM_NOHUGEPAGE,
  VM_PFNMAP,
  VM_RAND_READ,
  VM_READ,
  VM_SEQ_READ,
  VM_SHARED,
  VM_WIPEONFORK,
  VM_WRITE,
  type Vma,
  vmFlagsMod,
} from "./mm_types.ts";
import { mergeAround, pageAlign, splitAt } from "./mmap.ts";
import {
  FAULT_FLAG_ALLOW_RETRY,
  FAULT_FLAG_KILLABLE,
  FAULT_FLAG_WRITE,
  handleMmFault,
  lookupPteTable,
  pteAlloc,
  pteIndex,
  VM_FAULT_HWPOISON,
  VM_FAULT_HWPOISON_LARGE,
  VM_FAULT_OOM,
  VM_FAULT_RETRY,
  VM_FAULT_SIGBUS,
  VM_FAULT_SIGSEGV,
  vmNormalPage,
  zapPageRange,
} from "./memory.ts";
import { shmemUndoRange } from "./shmem.ts";
import { anonVmaPrepare, folioTestAnon } from "./rmap.ts";
import {
  _PAGE_ACCESSED,
  _PAGE_DIRTY,
  _PAGE_PRESENT,
  _PAGE_PROTNONE,
  _PAGE_RW,
} from "../arch/x86/pgtable_types.ts";
import { pteFromHalves } from "../arch/x86/pgtable.ts";
import { PTE_MARKER_GUARD, pteToSwpEntry } from "../pgtable/swapops.ts";
import { PG_dirty, PG_swapbacked } from "./memmap.ts";
import { walkPteRange } from "./pagewalk.ts";
import {
  MMU_NOTIFY_CLEAR,
  mmuNotifierInvalidateRangeEnd,
  mmuNotifierInvalidateRangeStart,
  mmuNotifierRangeInit,
  withMmuNotifier,
} from "./mmu_notifier.ts";
import { hugePmdAt, splitHugePmdToPtes } from "./huge_memory.ts";
import { madviseCollapse } from "./khugepaged.ts";
import { shrinkFolio } from "./vmscan.ts";
import { userfaultfdRemove, userfaultfdWait } from "../userfaultfd/userfaultfd.ts";
import {
  memoryFailure,
  MF_ACTION_REQUIRED,
  MF_COUNT_INCREASED,
  MF_SW_SIMULATED,
  type MfCurrent,
} from "./memory_failure.ts";
import type { Signal } from "../kernel/signal.ts";

const E = (name: keyof typeof ERRNO) => -ERRNO[name];

/** Advice values madvise_behavior_valid() accepts on this configuration. */
export function madviseBehaviorValid(mm: MmStruct, advice: number): boolean {
  const cfg = mm.core.config;
  switch (advice) {
    case C.MADV_DOFORK:
    case C.MADV_DONTFORK:
    case C.MADV_NORMAL:
    case C.MADV_SEQUENTIAL:
    case C.MADV_RANDOM:
    case C.MADV_REMOVE:
    case C.MADV_WILLNEED:
    case C.MADV_DONTNEED:
    case C.MADV_DONTNEED_LOCKED:
    case C.MADV_FREE:
    case C.MADV_COLD:
    case C.MADV_PAGEOUT:
    case C.MADV_POPULATE_READ:
    case C.MADV_POPULATE_WRITE:
    case C.MADV_GUARD_INSTALL:
    case C.MADV_GUARD_REMOVE:
    case C.MADV_WIPEONFORK:
    case C.MADV_KEEPONFORK:
    case C.MADV_DONTDUMP:
    case C.MADV_DODUMP:
      return true;
    case C.MADV_MERGEABLE:
    case C.MADV_UNMERGEABLE:
      return cfg.KSM;
    case C.MADV_HUGEPAGE:
    case C.MADV_NOHUGEPAGE:
    case C.MADV_COLLAPSE:
      return cfg.TRANSPARENT_HUGEPAGE;
    case C.MADV_HWPOISON:
    case C.MADV_SOFT_OFFLINE:
      return cfg.MEMORY_FAILURE;
    default:
      return false;
  }
}

/** Advice this model does not carry out yet (valid in the kernel). */
const NOT_MODELLED = new Set([
  C.MADV_SOFT_OFFLINE,
]);

/** Result of doMadvise: 0 or -errno, and a reason for EINVAL where useful. */
export interface MadviseResult {
  ret: number;
  detail?: string;
  /** A signal the call left pending for the caller (MADV_HWPOISON's kill). */
  signal?: Signal;
}

/** The calling task, for advice that needs its identity or privileges. */
export interface MadviseTask extends MfCurrent {
  readonly capSysAdmin: boolean;
}

/** do_madvise(). */
export function doMadvise(
  mm: MmStruct,
  start: number,
  lenIn: number,
  advice: number,
  task: MadviseTask | null = null,
): MadviseResult {
  if (start % C.PAGE_SIZE) return { ret: E("EINVAL"), detail: "start not page aligned" };
  if (!madviseBehaviorValid(mm, advice)) return { ret: E("EINVAL"), detail: `advice ${advice}` };
  const len = pageAlign(lenIn);
  if (lenIn && !len) return { ret: E("EINVAL") };
  const end = start + len;
  if (end >= 2 ** 64) return { ret: E("EINVAL") }; // start + len wrapped: end < start
  if (end === start) return { ret: 0 };
  if (NOT_MODELLED.has(advice)) {
    return { ret: E("EINVAL"), detail: `advice ${advice} is not modelled by this kernel model` };
  }
  if (advice === C.MADV_HWPOISON) return madviseInjectError(mm, start, end, task);
  if (advice === C.MADV_POPULATE_READ || advice === C.MADV_POPULATE_WRITE) {
    return { ret: madvisePopulate(mm, start, end, advice === C.MADV_POPULATE_WRITE) };
  }
  // madvise_walk_vmas(): act on each VMA piece, remember holes.
  let unmappedError = 0;
  let addr = start;
  while (addr < end) {
    const vma = mm.findVma(addr);
    if (!vma || vma.vm_start >= end) {
      unmappedError = E("ENOMEM");
      break;
    }
    if (vma.vm_start > addr) {
      unmappedError = E("ENOMEM");
      addr = vma.vm_start;
    }
    const stop = Math.min(vma.vm_end, end);
    const ret = madviseVmaBehavior(mm, vma, addr, stop, advice);
    if (ret) return { ret };
    addr = stop;
  }
  return { ret: unmappedError };
}

function madviseVmaBehavior(
  mm: MmStruct,
  vma: Vma,
  start: number,
  end: number,
  advice: number,
): number {
  switch (advice) {
    case C.MADV_DONTNEED:
    case C.MADV_DONTNEED_LOCKED:
      return madviseDontneed(vma, start, end, advice === C.MADV_DONTNEED_LOCKED);
    case C.MADV_FREE:
      return madviseFree(vma, start, end);
    case C.MADV_REMOVE:
      return madviseRemove(vma, start, end);
    case C.MADV_WILLNEED:
      return 0;
    case C.MADV_COLD:
    case C.MADV_PAGEOUT:
      // can_madv_lru_vma()
      if (vma.vm_flags & (VM_LOCKED | VM_PFNMAP | VM_HUGETLB)) return E("EINVAL");
      if (advice === C.MADV_PAGEOUT) madvisePageout(vma, start, end);
      return 0;
    case C.MADV_NORMAL:
      return updateFlags(mm, vma, start, end, 0, VM_RAND_READ | VM_SEQ_READ);
    case C.MADV_SEQUENTIAL:
      return updateFlags(mm, vma, start, end, VM_SEQ_READ, VM_RAND_READ);
    case C.MADV_RANDOM:
      return updateFlags(mm, vma, start, end, VM_RAND_READ, VM_SEQ_READ);
    case C.MADV_DONTFORK:
      if (vma.vm_flags & VM_IO) return E("EINVAL");
      return updateFlags(mm, vma, start, end, VM_DONTCOPY, 0);
    case C.MADV_DOFORK:
      return updateFlags(mm, vma, start, end, 0, VM_DONTCOPY);
    case C.MADV_WIPEONFORK:
      if (vma.vm_file || (vma.vm_flags & VM_SHARED)) return E("EINVAL");
      return updateFlags(mm, vma, start, end, VM_WIPEONFORK, 0);
    case C.MADV_KEEPONFORK:
      return updateFlags(mm, vma, start, end, 0, VM_WIPEONFORK);
    case C.MADV_DONTDUMP:
      return updateFlags(mm, vma, start, end, VM_DONTDUMP, 0);
    case C.MADV_DODUMP:
      return updateFlags(mm, vma, start, end, 0, VM_DONTDUMP);
    case C.MADV_MERGEABLE:
      return vma.vm_flags & VM_SHARED ? 0 : updateFlags(mm, vma, start, end, VM_MERGEABLE, 0);
    case C.MADV_UNMERGEABLE:
      return updateFlags(mm, vma, start, end, 0, VM_MERGEABLE);
    case C.MADV_HUGEPAGE:
      return updateFlags(mm, vma, start, end, VM_HUGEPAGE, VM_NOHUGEPAGE);
    case C.MADV_COLLAPSE:
      return madviseCollapse(vma, start, end).ret;
    case C.MADV_NOHUGEPAGE:
      return updateFlags(mm, vma, start, end, VM_NOHUGEPAGE, VM_HUGEPAGE);
    case C.MADV_GUARD_INSTALL:
      return madviseGuardInstall(vma, start, end);
    case C.MADV_GUARD_REMOVE:
      return madviseGuardRemove(vma, start, end);
  }
  return E("EINVAL");
}

/**
 * is_valid_guard_vma(): guard regions go in ordinary anonymous and file
 * mappings, not in VM_SPECIAL or hugetlb ones, nor (to install) in
 * mlocked ones.
 */
function isValidGuardVma(vma: Vma, allowLocked: boolean): boolean {
  const disallowed = VM_IO | VM_DONTEXPAND | VM_PFNMAP | VM_MIXEDMAP | VM_HUGETLB |
    (allowLocked ? 0 : VM_LOCKED);
  return (vma.vm_flags & disallowed) === 0;
}

/**
 * madvise_guard_install(): turn every page of the range into a guard PTE
 * marker (PTE_MARKER_GUARD); an access then raises SIGSEGV. Pages already
 * there are zapped first (their contents are lost), as the kernel does when
 * its install walk meets a populated PTE; guard markers already there stay.
 * The VMA gets an anon_vma so that fork() copies the page tables, and with
 * them the markers (vma_needs_copy()).
 *
 * Simplification: a uffd-wp marker that zapping keeps (file VMAs) is left in
 * place instead of making the install retry and fail.
 */
function madviseGuardInstall(vma: Vma, start: number, end: number): number {
  if (!isValidGuardVma(vma, false)) return E("EINVAL");
  const mm = vma.vm_mm;
  const core = mm.core;
  if (!anonVmaPrepare(core, vma)) return E("ENOMEM");
  // The install walk zaps (zap_page_range_single(): MMU_NOTIFY_CLEAR) only
  // when it met a populated PTE; markers alone need no zap.
  if (rangeHasPages(vma, start, end)) {
    withMmuNotifier(
      MMU_NOTIFY_CLEAR,
      mm,
      start,
      end,
      () => zapPageRange(vma, start, end, { evenCows: true, dropMarkers: false, reclaimPt: false }),
    );
  }
  const guard = core.swapops.makePteMarker(PTE_MARKER_GUARD);
  for (let addr = start; addr < end; addr += C.PAGE_SIZE) {
    const pt = pteAlloc(mm, addr);
    if (!pt) return E("ENOMEM");
    const i = pteIndex(addr);
    pt.ptl!.lock("guard_install_set_pte");
    if (pt.isNone(i)) pt.set(i, guard);
    pt.ptl!.unlock();
  }
  return 0;
}

/** madvise_guard_remove(): clear the guard markers of the range, nothing else. */
function madviseGuardRemove(vma: Vma, start: number, end: number): number {
  if (!isValidGuardVma(vma, true)) return E("EINVAL");
  const ops = vma.vm_mm.core.swapops;
  walkPteRange(vma.vm_mm, start, end, "guard_remove_pte_entry", (pt, i) => {
    const pte = pt.get(i);
    if (ops.isPteMarker(pte) && ops.isGuardSwpEntry(pteToSwpEntry(pte))) pt.setHalves(i, 0, 0);
  });
  return 0;
}

/** madvise_update_vma(): split to the range, set flags, merge back. */
function updateFlags(
  mm: MmStruct,
  vma: Vma,
  start: number,
  end: number,
  set: number,
  clear: number,
): number {
  const flags = vmFlagsMod(vma.vm_flags, set, clear);
  if (flags === vma.vm_flags) return 0;
  splitAt(mm, start);
  splitAt(mm, end);
  const target = mm.vmaLookup(start)!;
  target.vm_flags = flags;
  mergeAround(mm, target);
  return 0;
}

/**
 * madvise_dontneed_single_vma(): zap the range. Private anonymous memory
 * reads back as zeroes; file memory faults the page cache back in. With
 * CONFIG_PT_RECLAIM, PTE tables the zap empties are freed.
 */
function madviseDontneed(vma: Vma, start: number, end: number, allowLocked: boolean): number {
  const bad = VM_PFNMAP | (allowLocked ? 0 : VM_LOCKED);
  if (vma.vm_flags & bad) return E("EINVAL");
  // madvise_dontneed_free(): a userfaultfd monitor hears of it first.
  userfaultfdRemove(vma, start, end);
  // zap_page_range_single_batched(): MMU_NOTIFY_CLEAR around the zap.
  withMmuNotifier(MMU_NOTIFY_CLEAR, vma.vm_mm, start, end, () =>
    zapPageRange(vma, start, end, {
      evenCows: true,
      dropMarkers: false,
      reclaimPt: vma.vm_mm.core.config.PT_RECLAIM,
    }));
  return 0;
}

/**
 * madvise_free_single_vma() → madvise_free_pte_range(): clean and age the
 * PTEs of the range and mark their folios lazyfree (folio_mark_lazyfree()
 * clears PG_swapbacked), so that reclaim may drop them instead of swapping
 * them out, unless they are written again first. A folio that is already
 * dirty is only handled if this is its one mapping. Poison entries are
 * cleared.
 */
function madviseFree(vma: Vma, start: number, end: number): number {
  // madvise_dontneed_free_valid_vma(), then: anonymous memory only.
  if (vma.vm_flags & (VM_PFNMAP | VM_LOCKED)) return E("EINVAL");
  // madvise_dontneed_free() sends UFFD_EVENT_REMOVE before
  // madvise_free_single_vma() looks at the kind of VMA.
  userfaultfdRemove(vma, start, end);
  if (!vma.isAnonymous) return E("EINVAL");
  const core = vma.vm_mm.core;
  const m = core.memmap;
  const range = mmuNotifierRangeInit(MMU_NOTIFY_CLEAR, 0, vma.vm_mm, start, end);
  mmuNotifierInvalidateRangeStart(range);
  walkPteRange(vma.vm_mm, start, end, "madvise_free_pte_range", (pt, i) => {
    const lo = pt.e[2 * i], hi = pt.e[2 * i + 1];
    if (!(lo & (_PAGE_PRESENT | _PAGE_PROTNONE))) {
      const entry = pteToSwpEntry(pteFromHalves(lo, hi));
      if (core.swapops.isHwpoisonEntry(entry) || core.swapops.isPoisonedSwpEntry(entry)) {
        pt.setHalves(i, 0, 0);
      }
      return;
    }
    const pfn = vmNormalPage(lo, hi);
    if (pfn < 0 || !folioTestAnon(core, pfn)) return;
    if (m.flags[pfn] & PG_dirty) {
      if (m.mapcount[pfn] !== 1) return;
      m.flags[pfn] &= ~PG_dirty;
    }
    pt.e[2 * i] = lo & ~(_PAGE_DIRTY | _PAGE_ACCESSED);
    m.flags[pfn] &= ~PG_swapbacked;
  });
  mmuNotifierInvalidateRangeEnd(range);
  return 0;
}

/** Whether [start, end) holds a PTE other than a guard marker (a page or another entry). */
function rangeHasPages(vma: Vma, start: number, end: number): boolean {
  const ops = vma.vm_mm.core.swapops;
  let found = false;
  walkPteRange(vma.vm_mm, start, end, "guard_install_pte_entry", (pt, i) => {
    const pte = pt.get(i);
    if (!(ops.isPteMarker(pte) && ops.isGuardSwpEntry(pteToSwpEntry(pte)))) found = true;
  });
  return found;
}

/**
 * madvise_cold_or_pageout_pte_range() for MADV_PAGEOUT, then reclaim_pages():
 * every page of the range mapped only here (folio_maybe_mapped_shared()
 * says no) is aged and reclaimed at once. The zero page is left alone.
 */
function madvisePageout(vma: Vma, start: number, end: number): void {
  const core = vma.vm_mm.core;
  walkPteRange(vma.vm_mm, start, end, "madvise_cold_or_pageout_pte_range", (pt, i, addr) => {
    const lo = pt.e[2 * i];
    if (!(lo & (_PAGE_PRESENT | _PAGE_PROTNONE))) return;
    const pfn = vmNormalPage(lo, pt.e[2 * i + 1]);
    if (pfn < 0 || core.memmap.mapcount[pfn] > 1) return;
    pt.e[2 * i] = lo & ~_PAGE_ACCESSED;
    shrinkFolio(vma, pt, i, pfn, addr);
  });
}

/**
 * madvise_remove(): punch a hole in the shmem file behind a shared mapping.
 * The mapping must be shared and may-write (vma_is_shared_maywrite()): a
 * shared mapping made read-only by mprotect() still qualifies.
 */
function madviseRemove(vma: Vma, start: number, end: number): number {
  if (vma.vm_flags & VM_LOCKED) return E("EINVAL");
  if (!vma.vm_file) return E("EINVAL");
  if ((vma.vm_flags & (VM_SHARED | VM_MAYWRITE)) !== (VM_SHARED | VM_MAYWRITE)) return E("EACCES");
  userfaultfdRemove(vma, start, end);
  const first = vma.linearPageIndex(start);
  const last = vma.linearPageIndex(end);
  shmemUndoRange(vma.vm_mm.core, vma.vm_file.inode, first, last, false);
  return 0;
}

/**
 * madvise_inject_error() for MADV_HWPOISON: for each page, take it with
 * get_user_pages_fast() (a read fault if it is not mapped yet), then
 * memory_failure(pfn, MF_ACTION_REQUIRED | MF_COUNT_INCREASED |
 * MF_SW_SIMULATED). Needs CAP_SYS_ADMIN. A kill of the caller is returned
 * as a pending signal, delivered when the syscall returns.
 */
function madviseInjectError(
  mm: MmStruct,
  start: number,
  end: number,
  task: MadviseTask | null,
): MadviseResult {
  if (!(task?.capSysAdmin ?? true)) return { ret: E("EPERM") };
  const core = mm.core;
  let signal: Signal | undefined;
  for (let addr = start; addr < end; addr += C.PAGE_SIZE) {
    const pfn = gupFastOne(mm, addr);
    if (pfn < 0) return { ret: pfn, signal };
    const pinned = pfn !== core.zeroPfn; // the zero page is not refcounted
    if (pinned) core.memmap.refcount[pfn]++;
    core.printk(
      `Injecting memory failure for pfn 0x${pfn.toString(16)} at process virtual address 0x${
        addr.toString(16)
      }`,
    );
    const flags = MF_ACTION_REQUIRED | MF_COUNT_INCREASED | MF_SW_SIMULATED;
    const r = memoryFailure(core, pfn, flags, task ?? { mm, comm: "a.out", pid: mm.owner });
    if (r.ret !== 0 && pinned) core.memmap.put(pfn); // memory_failure() refused: put_page()
    signal ??= r.signal ?? undefined;
    if (r.ret && r.ret !== E("EOPNOTSUPP")) return { ret: r.ret, signal };
  }
  return { ret: 0, signal };
}

/**
 * get_user_pages_fast(addr, 1, 0): the pfn of the normal page mapped at
 * `addr`, after a read fault if needed; -errno if there is none.
 */
function gupFastOne(mm: MmStruct, addr: number): number {
  const vma = mm.vmaLookup(addr);
  if (!vma || (vma.vm_flags & (VM_PFNMAP | VM_IO))) return E("EFAULT");
  if (!(vma.vm_flags & VM_READ)) return E("EFAULT");
  for (let tries = 0; tries < 2; tries++) {
    // memory_failure() splits a THP before it poisons one of its pages
    // (try_to_split_thp_page()); the model splits the PMD and the folio first.
    if (hugePmdAt(mm, addr)) splitHugePmdToPtes(vma, addr);
    const pt = lookupPteTable(mm, addr);
    const i = pteIndex(addr);
    const lo = pt ? pt.e[2 * i] : 0, hi = pt ? pt.e[2 * i + 1] : 0;
    if (lo & _PAGE_PRESENT) {
      const pfn = vmNormalPage(lo, hi);
      return pfn >= 0 ? pfn : mm.core.zeroPfn;
    }
    const ret = handleMmFault(vma, addr, 0);
    if (ret & VM_FAULT_OOM) return E("ENOMEM");
    if (ret & (VM_FAULT_HWPOISON | VM_FAULT_HWPOISON_LARGE)) return E("EHWPOISON");
    if (ret & (VM_FAULT_SIGBUS | VM_FAULT_SIGSEGV)) return E("EFAULT");
  }
  return E("EFAULT");
}

/**
 * madvise_populate() → faultin_page_range(): fault the range in page by
 * page, for read or write, the way GUP does with FOLL_MADV_POPULATE. No VMA
 * is -ENOMEM; a VMA this access is not allowed in (check_vma_flags(): no
 * VM_READ for a read, no VM_WRITE for a write, VM_IO/VM_PFNMAP) is -EINVAL;
 * a fault that would raise SIGBUS or SIGSEGV is -EFAULT, poison -EHWPOISON
 * (vm_fault_to_errno() with FOLL_HWPOISON). Pages before the failing one
 * stay populated.
 */
function madvisePopulate(mm: MmStruct, start: number, end: number, write: boolean): number {
  let flags = FAULT_FLAG_ALLOW_RETRY | FAULT_FLAG_KILLABLE;
  if (write) flags |= FAULT_FLAG_WRITE;
  for (let addr = start; addr < end; addr += C.PAGE_SIZE) {
    mm.uffdHandlerCalls = 0;
    // __get_user_pages(): fault until follow_page finds what the access
    // needs. A write may take two faults: a uffd-wp marker in a WP_ASYNC
    // VMA first maps the page write-protected, then do_wp_page() resolves it.
    for (let tries = 0; tries < 3;) {
      // The VMA is looked up again after a retry: mmap_lock was dropped.
      const vma = mm.vmaLookup(addr);
      if (!vma) return E("ENOMEM");
      if (vma.vm_flags & (VM_PFNMAP | VM_IO)) return E("EINVAL");
      if (!(vma.vm_flags & (write ? VM_WRITE : VM_READ))) return E("EINVAL");
      const ret = handleMmFault(vma, addr, flags);
      // faultin_page() may retry (madvise_populate() passes `locked`), so a
      // userfaultfd fault drops mmap_lock, waits for the monitor (the
      // handler) and faults again. It is not FAULT_FLAG_USER: a
      // UFFD_USER_MODE_ONLY userfaultfd refuses it (SIGBUS, so EFAULT).
      if (ret & VM_FAULT_RETRY && mm.uffdWait) {
        mm.mmap_lock.upWrite();
        try {
          userfaultfdWait(mm);
        } finally {
          mm.mmap_lock.downWrite("madvise");
        }
        continue;
      }
      tries++;
      if (ret & VM_FAULT_OOM) return E("ENOMEM");
      if (ret & (VM_FAULT_HWPOISON | VM_FAULT_HWPOISON_LARGE)) return E("EHWPOISON");
      if (ret & (VM_FAULT_SIGBUS | VM_FAULT_SIGSEGV)) return E("EFAULT");
      const pt = lookupPteTable(mm, addr);
      const lo = pt ? pt.e[2 * pteIndex(addr)] : 0;
      if (!write || !(lo & _PAGE_PRESENT) || (lo & _PAGE_RW)) break;
    }
  }
  return 0;
}
