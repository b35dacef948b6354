/**
 * Resolving userfaults from the monitor side (mm/userfaultfd.c, v6.18):
 * mfill_atomic() for UFFDIO_COPY, UFFDIO_ZEROPAGE, UFFDIO_CONTINUE and
 * UFFDIO_POISON; mwriteprotect_range() for UFFDIO_WRITEPROTECT; move_pages()
 * for UFFDIO_MOVE.
 *
 * Lock order: mmap_lock (read) → PTE lock; for move_pages(): mmap_lock
 * (read) → folio lock → anon_vma lock → both PTE (or PMD) locks, taken in
 * one order for everyone (double_pt_lock()). The source page of a copy is
 * read before mmap_lock is taken (the kernel's copy_from_user() retry path
 * outside the lock), so reading it may fault like any user access.
 *
 * Simplification: the destination VMA is looked up and validated again for
 * every page (the kernel does so only after dropping the lock to copy), which
 * gives the same results on one CPU.
 * @module
 */
import { withProtectionNotifier } from "../mm/mprotect.ts";
import { MMU_NOTIFY_CLEAR, withMmuNotifier } from "../mm/mmu_notifier.ts";
import { folioMaybeDmaPinned } from "../mm/gup.ts";
import { ERRNO } from "../kernel/errno.ts";
import { Blocked, Signal } from "../kernel/signal.ts";
import { PAGE_SIZE, PMD_SIZE } from "../kernel/constants.ts";
import {
  VM_EXEC,
  VM_HUGETLB,
  VM_IO,
  VM_LOCKED,
  VM_MIXEDMAP,
  VM_PFNMAP,
  VM_READ,
  VM_SHARED,
  VM_UFFD_WP,
  VM_WRITE,
  type Vma,
} from "../mm/mm_types.ts";
import { lookupPteTable, pmdAlloc, pteAlloc, pteIndex, vmNormalPage } from "../mm/memory.ts";
import { PG_hwpoison, PG_locked, PG_swapbacked, PG_uptodate } from "../mm/memmap.ts";
import type { MmCore } from "../mm/core.ts";
import {
  changeHugePmd,
  hugePmdAt,
  isHugeZeroPmd,
  pgtableTransHugeDeposit,
  pgtableTransHugeWithdraw,
  pmdOffset,
  pmdPfnAt,
  pmdTransHugeAt,
  shmemSplitHugeFolio,
  splitHugePmd,
} from "../mm/huge_memory.ts";
import { canChangePteWritable, chgMaskLo } from "../mm/mprotect.ts";
import type { PageTable } from "../pgtable/pgtable.ts";
import { levelIndex, pfnHi, pfnLo } from "../pgtable/pgtable.ts";
import {
  _PAGE_DIRTY,
  _PAGE_PRESENT,
  _PAGE_PROTNONE,
  _PAGE_PSE,
  _PAGE_RW,
  _PAGE_SPECIAL,
} from "../arch/x86/pgtable_types.ts";
import { pteFromHalves, pteSwpExclusive, pteSwpMksoftDirty } from "../arch/x86/pgtable.ts";
import { PTE_MARKER_POISONED, PTE_MARKER_UFFD_WP, pteToSwpEntry } from "../pgtable/swapops.ts";
import {
  anonVmaPrepare,
  folioAddFileRmapPte,
  folioAddNewAnonRmap,
  folioMoveAnonRmap,
  folioTestAnon,
  mmCounter,
  pageAnonExclusive,
} from "../mm/rmap.ts";
import {
  filemapGetFolio,
  shmemAddFolio,
  shmemDeleteFolio,
  shmemInodeAcctBlocks,
  shmemInodeUnacctBlocks,
  shmemRecalcInode,
} from "../mm/shmem.ts";
import { folioAddLru, folioAddLruVma } from "../mm/swap.ts";
import { UFFDIO_MOVE_MODE_ALLOW_SRC_HOLES } from "./constants.ts";
import { type UserfaultfdCtx, userfaultfdWp, userfaultfdWpUseMarkers } from "./userfaultfd.ts";

const E = (name: keyof typeof ERRNO) => -ERRNO[name];

/** enum mfill_atomic_mode, by name. */
export type MfillMode = "copy" | "zeropage" | "continue" | "poison";
/** MFILL_ATOMIC_WP: install the page write-protected with the uffd-wp bit. */
export const MFILL_ATOMIC_WP = 1;

/**
 * uffd_mfill_lock() → uffd_lock_vma() + validate_dst_vma(): the VMA holding
 * `dst`, given an anon_vma if private, covering the whole range and
 * registered with a userfaultfd; else -ENOENT (-ENOMEM for the anon_vma).
 */
function uffdMfillLock(ctx: UserfaultfdCtx, dst: number, len: number): Vma | number {
  const mm = ctx.mm;
  const vma = mm.vmaLookup(dst);
  if (!vma) return E("ENOENT");
  if (!(vma.vm_flags & VM_SHARED) && !anonVmaPrepare(mm.core, vma)) return E("ENOMEM");
  if (dst + len > vma.vm_end) return E("ENOENT");
  if (!vma.vm_userfaultfd_ctx) return E("ENOENT");
  return vma;
}

/**
 * mfill_atomic(): fill [dst, dst+len) page by page. Returns the bytes done
 * if any, else -errno (the ioctl turns a short count into -EAGAIN).
 */
export function mfillAtomic(
  ctx: UserfaultfdCtx,
  mode: MfillMode,
  dst: number,
  src: number,
  len: number,
  flags: number,
): number {
  const mm = ctx.mm;
  let copied = 0;
  let err = 0;
  while (copied < len) {
    const dstAddr = dst + copied;
    // Step 1: for a copy, read the source page (copy_from_user()).
    let srcPfn = -1;
    if (mode === "copy") {
      srcPfn = pageOfUser(ctx, src + copied);
      if (srcPfn < 0) {
        err = srcPfn;
        break;
      }
    }
    mm.mmap_lock.downRead();
    try {
      // Step 2: validate the destination VMA and the mode against it.
      const vma = uffdMfillLock(ctx, dst, len);
      if (typeof vma === "number") {
        err = vma;
        break;
      }
      if ((flags & MFILL_ATOMIC_WP) && !(vma.vm_flags & VM_UFFD_WP)) {
        err = E("EINVAL");
        break;
      }
      if (mode === "continue" && vma.isAnonymous) {
        err = E("EINVAL");
        break;
      }
      // Step 3: the page table, then the entry itself.
      const pt = pteAlloc(mm, dstAddr);
      if (!pt) {
        err = E("ENOMEM");
        break;
      }
      err = mfillAtomicPte(vma, pt, dstAddr, mode, srcPfn, flags);
    } finally {
      mm.mmap_lock.upRead();
    }
    if (err) break;
    copied += PAGE_SIZE;
  }
  return copied ? copied : err;
}

/**
 * The source page of a copy, faulted in as a user read would; -EFAULT
 * where that access would raise a signal or block.
 */
function pageOfUser(ctx: UserfaultfdCtx, addr: number): number {
  try {
    return ctx.owner.pageOfUser(addr);
  } catch (e) {
    if (e instanceof Signal || e instanceof Blocked) return E("EFAULT");
    throw e;
  }
}

/** mfill_atomic_pte(): dispatch one page by mode and by mapping type. */
function mfillAtomicPte(
  vma: Vma,
  pt: PageTable,
  addr: number,
  mode: MfillMode,
  srcPfn: number,
  flags: number,
): number {
  if (mode === "continue") return mfillAtomicPteContinue(vma, pt, addr, flags);
  if (mode === "poison") return mfillAtomicPtePoison(vma, pt, addr);
  // A hole in a private shmem mapping is filled with anonymous memory,
  // without touching the file.
  if (!(vma.vm_flags & VM_SHARED)) {
    if (mode === "copy") return mfillAtomicPteCopy(vma, pt, addr, srcPfn, flags);
    return mfillAtomicPteZeropage(vma, pt, addr);
  }
  return shmemMfillAtomicPte(vma, pt, addr, mode === "copy" ? srcPfn : -1, flags);
}

/** mfill_file_over_size(): a file page at or beyond i_size. */
function mfillFileOverSize(vma: Vma, addr: number): boolean {
  if (vma.isAnonymous) return false;
  const inode = vma.vm_file!.inode;
  return vma.linearPageIndex(addr) >= Math.ceil(inode.size / PAGE_SIZE);
}

/** pte_none_mostly(): none, or any PTE marker. */
function pteNoneMostly(vma: Vma, pt: PageTable, i: number): boolean {
  if (pt.isNone(i)) return true;
  return vma.vm_mm.core.swapops.isPteMarker(pteFromHalves(pt.e[2 * i], pt.e[2 * i + 1]));
}

/**
 * mfill_atomic_install_pte(): map the folio `pfn` at `addr`, for
 * UFFDIO_COPY and UFFDIO_CONTINUE, anonymous memory and shmem, shared and
 * private VMAs alike (Axel Rasmussen's one helper; seed
 * 002_ff0d4858feac7159.txt). The caller has the folio ready: a new
 * anonymous folio (COPY into a private VMA), a new page-cache folio already
 * added to the cache and accounted (COPY into shared shmem), or the cached
 * folio it looked up (CONTINUE); `newlyAllocated` says whether it is new.
 *
 *  1. Build the PTE: dirty, writable if the VMA is, except a page-cache
 *     folio in a private mapping (a later write must COW it), uffd-wp for
 *     MFILL_ATOMIC_WP. (With the mcopyInstallPtesV2 variant the PTE is
 *     dirty only when writable, as in 2021.)
 *  2. Under the PTE lock: -EFAULT at or beyond i_size (truncation is
 *     serialized by this lock), -EEXIST unless pte_none_mostly(): a PTE
 *     marker may be overwritten (meant for MISSING|WP: a none PTE
 *     write-protected first, then filled; in v6.18 this lets a poison or
 *     guard marker go too, which later kernels refuse).
 *  3. rmap and LRU: a page-cache folio gets a file rmap, and if new
 *     folio_add_lru(); an anonymous one folio_add_new_anon_rmap(EXCLUSIVE)
 *     and folio_add_lru_vma(), which mlocks it in a VM_LOCKED VMA.
 *  4. The rss counter (after the rmap: mm_counter() looks at the folio's
 *     mapping), then set_pte_at().
 *
 * A page-cache folio gets one reference for the PTE (the kernel takes it
 * in the lookup or the allocation and hands it over on success).
 */
export function mfillAtomicInstallPte(
  vma: Vma,
  pt: PageTable,
  addr: number,
  pfn: number,
  newlyAllocated: boolean,
  flags: number,
): number {
  const mm = vma.vm_mm;
  const core = mm.core;
  const m = core.memmap;
  const i = pteIndex(addr);
  // Step 1.
  const pageInCache = !folioTestAnon(core, pfn) && m.mapping[pfn] !== 0;
  let writable = (vma.vm_flags & VM_WRITE) !== 0;
  if (pageInCache && !(vma.vm_flags & VM_SHARED)) writable = false;
  const dirty = !core.variants.mcopyInstallPtesV2 || writable;
  let lo = (pfnLo(pfn) | vma.protLo | (dirty ? _PAGE_DIRTY : 0) | core.softDirtyLo) >>> 0;
  const hi = pfnHi(pfn) | vma.protHi;
  if (writable) lo |= _PAGE_RW;
  if (flags & MFILL_ATOMIC_WP) lo = (lo & ~_PAGE_RW) | core.uffdWpLo;
  pt.ptl!.lock("mfill_atomic_install_pte");
  try {
    // Step 2.
    if (mfillFileOverSize(vma, addr)) return E("EFAULT");
    if (!pteNoneMostly(vma, pt, i)) return E("EEXIST");
    // Step 3.
    if (pageInCache) {
      if (newlyAllocated) folioAddLru(core, pfn);
      m.refcount[pfn]++;
      folioAddFileRmapPte(core, pfn);
    } else {
      folioAddNewAnonRmap(core, pfn, vma, addr, true);
      folioAddLruVma(core, pfn, vma);
    }
    // Step 4.
    mm.rss[mmCounter(core, pfn)]++;
    pt.setHalves(i, lo >>> 0, hi);
    return 0;
  } finally {
    pt.ptl!.unlock();
  }
}

/**
 * mfill_atomic_pte_copy(): a new anonymous folio (vma_alloc_folio(), not
 * yet on an LRU list) holding the source page, then its PTE.
 */
function mfillAtomicPteCopy(
  vma: Vma,
  pt: PageTable,
  addr: number,
  srcPfn: number,
  flags: number,
): number {
  const core = vma.vm_mm.core;
  const pfn = core.memmap.allocPage();
  if (pfn < 0) return E("ENOMEM");
  core.memmap.copyPage(pfn, srcPfn);
  // __folio_mark_uptodate(); PG_swapbacked is what folio_add_new_anon_rmap()
  // sets in the kernel.
  core.memmap.flags[pfn] = PG_uptodate | PG_swapbacked;
  const ret = mfillAtomicInstallPte(vma, pt, addr, pfn, true, flags);
  if (ret) core.memmap.put(pfn);
  return ret;
}

/** mfill_atomic_pte_zeropage(): map the shared zero page (pte_special); PTE must be none. */
function mfillAtomicPteZeropage(vma: Vma, pt: PageTable, addr: number): number {
  const core = vma.vm_mm.core;
  const i = pteIndex(addr);
  const lo = (pfnLo(core.zeroPfn) | vma.protLo | _PAGE_SPECIAL) >>> 0;
  const hi = pfnHi(core.zeroPfn) | vma.protHi;
  pt.ptl!.lock("mfill_atomic_pte_zeropage");
  try {
    if (mfillFileOverSize(vma, addr)) return E("EFAULT");
    if (!pt.isNone(i)) return E("EEXIST");
    pt.setHalves(i, lo, hi);
    return 0;
  } finally {
    pt.ptl!.unlock();
  }
}

/**
 * mfill_atomic_pte_poison(): install PTE_MARKER_POISONED. Refuses to
 * overwrite any PTE, even a marker (-EEXIST).
 */
function mfillAtomicPtePoison(vma: Vma, pt: PageTable, addr: number): number {
  const core = vma.vm_mm.core;
  const i = pteIndex(addr);
  pt.ptl!.lock("mfill_atomic_pte_poison");
  try {
    if (mfillFileOverSize(vma, addr)) return E("EFAULT");
    if (!pt.isNone(i)) return E("EEXIST");
    pt.set(i, core.swapops.makePteMarker(PTE_MARKER_POISONED));
    return 0;
  } finally {
    pt.ptl!.unlock();
  }
}

/**
 * mfill_atomic_pte_continue(): map the page the page cache already holds
 * (a minor fault resolved); -EFAULT if there is none, -EIO if it is
 * poisoned.
 */
function mfillAtomicPteContinue(vma: Vma, pt: PageTable, addr: number, flags: number): number {
  const inode = vma.vm_file!.inode;
  const pgoff = vma.linearPageIndex(addr);
  // shmem_get_folio(SGP_NOALLOC) refuses an index at or beyond i_size with
  // -EINVAL (shmem_get_folio_gfp()); only its -ENOENT, a hole, becomes -EFAULT.
  if (mfillFileOverSize(vma, addr)) return E("EINVAL");
  let pfn = filemapGetFolio(inode, pgoff);
  if (pfn < 0) return E("EFAULT");
  // Simplification, as in the model's fault path (doFaultGetFolio()): only
  // small folios are PTE-mapped, so a large page-cache folio (a collapsed
  // shmem THP) is split first; the kernel maps its one page
  // (folio_file_page()) and leaves the folio whole.
  const core = vma.vm_mm.core;
  const head = core.memmap.pageFolio(pfn);
  if (core.memmap.order[head]) {
    shmemSplitHugeFolio(core, head);
    pfn = filemapGetFolio(inode, pgoff);
  }
  if (core.memmap.flags[pfn] & PG_hwpoison) return E("EIO");
  return mfillAtomicInstallPte(vma, pt, addr, pfn, false, flags);
}

/**
 * shmem_mfill_atomic_pte() (mm/shmem.c): UFFDIO_COPY or UFFDIO_ZEROPAGE
 * into a shared shmem mapping: a new page-cache folio at the file offset,
 * then its PTE through mfill_atomic_install_pte(). The accounting is done
 * before the PTE is set up and undone if anything fails after it:
 *
 *  1. shmem_inode_acct_blocks(inode, 1): charge the block first;
 *  2. allocate the folio and fill it (the source page, or zeroes);
 *  3. -EFAULT at or beyond i_size; shmem_add_to_page_cache(), -EEXIST if
 *     the cache already holds the index;
 *  4. mfill_atomic_install_pte(), newly allocated;
 *  5. on success shmem_recalc_inode(inode, 1, 0) counts the page in
 *     info->alloced; on failure the folio leaves the cache
 *     (filemap_remove_folio()) and the block is given back
 *     (shmem_inode_unacct_blocks(), the shmem_uncharge() of 2021).
 *
 * Nothing here marks the folio dirty in v6.18: the PTE is installed dirty,
 * and reclaim or zap move that bit to the folio (folio_mark_dirty()) when
 * the PTE goes. In 2021 the PTE was dirty only if writable, which is why
 * Hugh Dickins asked for SetPageDirty() here; the mcopyInstallPtesV2
 * variant leaves both out.
 */
export function shmemMfillAtomicPte(
  vma: Vma,
  pt: PageTable,
  addr: number,
  srcPfn: number,
  flags: number,
): number {
  const core = vma.vm_mm.core;
  const inode = vma.vm_file!.inode;
  const pgoff = vma.linearPageIndex(addr);
  // Step 1.
  if (shmemInodeAcctBlocks(inode, 1)) return E("ENOMEM");
  // Step 2.
  const pfn = core.memmap.allocPage();
  if (pfn < 0) {
    shmemInodeUnacctBlocks(inode, 1);
    return E("ENOMEM");
  }
  if (srcPfn >= 0) core.memmap.copyPage(pfn, srcPfn);
  // Step 3.
  let ret = 0;
  if (mfillFileOverSize(vma, addr)) ret = E("EFAULT");
  else if (filemapGetFolio(inode, pgoff) >= 0) ret = E("EEXIST");
  if (ret) {
    core.memmap.put(pfn);
    shmemInodeUnacctBlocks(inode, 1);
    return ret;
  }
  shmemAddFolio(core, inode, pgoff, pfn, false);
  // Step 4.
  ret = mfillAtomicInstallPte(vma, pt, addr, pfn, true, flags);
  // Step 5.
  if (ret) {
    shmemDeleteFolio(core, inode, pgoff);
    shmemInodeUnacctBlocks(inode, 1);
    return ret;
  }
  shmemRecalcInode(inode, 1, 0);
  return 0;
}

/**
 * mwriteprotect_range(): set or clear uffd-wp on every VMA in
 * [start, start+len) (holes are skipped). Each VMA must be registered for
 * WP, and at least one must be there: else -ENOENT.
 */
export function mwriteprotectRange(
  ctx: UserfaultfdCtx,
  start: number,
  len: number,
  enableWp: boolean,
): number {
  const mm = ctx.mm;
  const end = start + len;
  mm.mmap_lock.downRead();
  try {
    // A non-cooperative event not yet read by the monitor: retry later.
    if (ctx.mmapChanging) return E("EAGAIN");
    let err = E("ENOENT");
    for (const vma of mm.vmas.filter((v) => v.vm_end > start && v.vm_start < end)) {
      if (!userfaultfdWp(vma)) return E("ENOENT");
      err = uffdWpRange(vma, Math.max(start, vma.vm_start), Math.min(end, vma.vm_end), enableWp);
      if (err < 0) break;
    }
    return err;
  } finally {
    mm.mmap_lock.upRead();
  }
}

/**
 * uffd_wp_range() → change_protection() with MM_CP_UFFD_WP (enable) or
 * MM_CP_UFFD_WP_RESOLVE (clear) → change_pte_range():
 *  - a present PTE: pte_modify() to vm_page_prot, then pte_mkuffd_wp() or
 *    pte_clear_uffd_wp(); when clearing in a writable VMA, made writable at
 *    once where can_change_pte_writable() allows (MM_CP_TRY_CHANGE_WRITABLE);
 *  - a none PTE, when protecting with markers (shmem; anon with
 *    WP_UNPOPULATED): a uffd-wp marker (page tables allocated for it);
 *  - a uffd-wp marker, when clearing: dropped; poison and guard markers
 *    are left alone.
 */
export function uffdWpRange(vma: Vma, start: number, end: number, enableWp: boolean): number {
  const mm = vma.vm_mm;
  const useMarkers = enableWp && userfaultfdWpUseMarkers(vma);
  const tryWritable = !enableWp && (vma.vm_flags & VM_WRITE) !== 0;
  const keepLo = chgMaskLo(vma);
  // change_pmd_range(): MMU_NOTIFY_PROTECTION_VMA, as for mprotect().
  let err = 0;
  withProtectionNotifier(mm, start, end, useMarkers, () => {
    err = uffdWpPteRange(vma, start, end, enableWp, useMarkers, tryWritable, keepLo);
  });
  return err;
}

function uffdWpPteRange(
  vma: Vma,
  start: number,
  end: number,
  enableWp: boolean,
  useMarkers: boolean,
  tryWritable: boolean,
  keepLo: number,
): number {
  const mm = vma.vm_mm;
  const core = mm.core;
  const ops = core.swapops;
  for (let addr = start; addr < end;) {
    const next = Math.min(end, (Math.floor(addr / PMD_SIZE) + 1) * PMD_SIZE);
    // change_pmd_range(): a huge PMD the range covers whole keeps its size
    // and gets or loses uffd-wp in change_huge_pmd(); one covered in part,
    // or one of a file VMA (pgtable_split_needed()), is split first.
    const huge = hugePmdAt(mm, addr);
    if (huge && next - addr === PMD_SIZE && vma.isAnonymous) {
      const cp = enableWp ? { uffdWp: true } : { uffdWpResolve: true };
      changeHugePmd(vma, huge.pmd, huge.i, keepLo, tryWritable, cp);
      addr = next;
      continue;
    }
    if (huge) splitHugePmd(vma, addr);
    const pt = useMarkers ? pteAlloc(mm, addr) : lookupPteTable(mm, addr);
    if (useMarkers && !pt) return E("ENOMEM");
    if (pt) {
      pt.ptl!.lock("change_pte_range");
      for (let a = addr; a < next; a += PAGE_SIZE) {
        const i = pteIndex(a);
        const lo = pt.e[2 * i], hi = pt.e[2 * i + 1];
        if (lo & (_PAGE_PRESENT | _PAGE_PROTNONE)) {
          let nlo = ((lo & keepLo) | (vma.protLo & ~keepLo)) >>> 0;
          const nhi = ((hi & 0xfffff) | (vma.protHi & ~0xfffff)) >>> 0;
          if (enableWp) nlo = (nlo & ~_PAGE_RW) | core.uffdWpLo;
          else nlo &= ~core.uffdWpLo;
          if (tryWritable && !(nlo & _PAGE_RW) && canChangePteWritable(vma, nlo, nhi)) {
            nlo |= _PAGE_RW;
          }
          pt.e[2 * i] = nlo >>> 0;
          pt.e[2 * i + 1] = nhi;
        } else if (lo === 0 && hi === 0) {
          if (useMarkers) pt.set(i, ops.makePteMarker(PTE_MARKER_UFFD_WP));
        } else {
          const entry = pteToSwpEntry(pteFromHalves(lo, hi));
          if (!ops.isPteMarkerEntry(entry)) continue;
          if (ops.isPoisonedSwpEntry(entry) || ops.isGuardSwpEntry(entry)) continue;
          if (!enableWp) pt.setHalves(i, 0, 0);
        }
      }
      pt.ptl!.unlock();
    }
    addr = next;
  }
  return 0;
}

/**
 * validate_move_areas(): same access flags, protection and mlock state,
 * writable, movable content, the destination registered with this
 * userfaultfd, both anonymous. 0 or -EINVAL.
 */
function validateMoveAreas(ctx: UserfaultfdCtx, src: Vma, dst: Vma): number {
  const access = VM_READ | VM_WRITE | VM_EXEC;
  if ((src.vm_flags & access) !== (dst.vm_flags & access)) return E("EINVAL");
  if (src.vm_page_prot !== dst.vm_page_prot) return E("EINVAL");
  if ((src.vm_flags & VM_LOCKED) !== (dst.vm_flags & VM_LOCKED)) return E("EINVAL");
  if (!(src.vm_flags & VM_WRITE)) return E("EINVAL");
  const unmovable = VM_PFNMAP | VM_IO | VM_HUGETLB | VM_MIXEDMAP;
  if ((src.vm_flags & unmovable) || (dst.vm_flags & unmovable)) return E("EINVAL");
  if (dst.vm_userfaultfd_ctx !== ctx) return E("EINVAL");
  if (!src.isAnonymous || !dst.isAnonymous) return E("EINVAL");
  return 0;
}

// GUP_PIN_COUNTING_BIAS and folio_maybe_dma_pinned() live with GUP.
export { folioMaybeDmaPinned, GUP_PIN_COUNTING_BIAS } from "../mm/gup.ts";

/** One step of move_pages() as a lesson can watch it (see movePages' `trace`). */
export interface MoveTraceEvent {
  /** The source address the step worked on. */
  src: number;
  /** What move_pages_pte() found and did. */
  what:
    | "present"
    | "zeropage"
    | "hole"
    | "swap"
    | "migration_entry_wait"
    | "pmd"
    | "split_huge_pmd"
    | "busy"
    | "exists"
    | "fault";
  /** Its result: bytes done (PAGE_SIZE or 0 for a hole) or -errno; -EAGAIN is retried. */
  ret: number;
}

/**
 * move_pages(): move the anonymous pages of [src, src+len) to
 * [dst, dst+len) without copying (mm/userfaultfd.c, v6.18). Returns the
 * bytes moved if any, else -errno:
 *
 *  1. uffd_move_lock(): mmap_lock for reading, the VMA of `dst` (-ENOENT if
 *     none; given an anon_vma, -ENOMEM), then that of `src` (-ENOENT);
 *  2. -EINVAL: a shared VMA, a range that leaves its VMA, or
 *     validate_move_areas();
 *  3. step by step: a huge destination PMD is -EEXIST; a THP at the
 *     source is moved whole (move_pages_huge_pmd()) when both addresses
 *     are PMD-aligned, a whole PMD remains and the destination PMD is
 *     none, else split and moved page by page; otherwise the source PTE
 *     table (none: -ENOENT, or with UFFDIO_MOVE_MODE_ALLOW_SRC_HOLES
 *     allocated empty), the destination one, then move_pages_pte(). An
 *     -EAGAIN means "look again": the loop retries the same address; any
 *     other error stops it.
 *
 * `trace`, when given, receives each move_pages_pte() outcome.
 *
 * Simplifications: no PMD migration entries (the model migrates no THP);
 * v6.18's move_present_ptes()
 * moves a run of PTEs under one TLB flush, here one PTE per step (the same
 * outcome, fewer flushes); no swap cache (a swap entry has no folio
 * behind it to move along).
 */
export function movePages(
  ctx: UserfaultfdCtx,
  dst: number,
  src: number,
  len: number,
  mode: number,
  trace?: (e: MoveTraceEvent) => void,
): number {
  const mm = ctx.mm;
  mm.mmap_lock.downRead();
  let moved = 0;
  let err = 0;
  try {
    // Step 1: uffd_move_lock() → find_vmas_mm_locked().
    const dstVma = mm.vmaLookup(dst);
    if (!dstVma) return E("ENOENT");
    if (!(dstVma.vm_flags & VM_SHARED) && !anonVmaPrepare(mm.core, dstVma)) return E("ENOMEM");
    const srcVma = src >= dstVma.vm_start && src < dstVma.vm_end ? dstVma : mm.vmaLookup(src);
    if (!srcVma) return E("ENOENT");
    // Step 2.
    if (srcVma.vm_flags & VM_SHARED || src + len > srcVma.vm_end) return E("EINVAL");
    if (dstVma.vm_flags & VM_SHARED || dst + len > dstVma.vm_end) return E("EINVAL");
    err = validateMoveAreas(ctx, srcVma, dstVma);
    if (err) return err;
    // Step 3.
    const allowHoles = (mode & UFFDIO_MOVE_MODE_ALLOW_SRC_HOLES) !== 0;
    while (moved < len) {
      const srcAddr = src + moved, dstAddr = dst + moved;
      // 3a: the PMDs (mm_find_pmd(), mm_alloc_pmd()); a huge destination
      // PMD is refused: "be strict".
      let spmd = pmdOffset(mm, srcAddr);
      if (!spmd) {
        if (!allowHoles) {
          err = E("ENOENT");
          break;
        }
        const t = pmdAlloc(mm, srcAddr);
        spmd = t ? { pmd: t, i: levelIndex(srcAddr, "pmd") } : null;
      }
      const dtab = spmd ? pmdAlloc(mm, dstAddr) : null;
      if (!spmd || !dtab) {
        err = E("ENOMEM");
        break;
      }
      const dpmd = { pmd: dtab, i: levelIndex(dstAddr, "pmd") };
      if (pmdTransHugeAt(dpmd.pmd, dpmd.i)) {
        err = E("EEXIST");
        break;
      }
      let step = PAGE_SIZE;
      if (pmdTransHugeAt(spmd.pmd, spmd.i)) {
        // 3b: a THP at the source: moved whole when both addresses are
        // PMD-aligned, a whole PMD remains and the destination PMD is none;
        // else split (split_huge_pmd(); the folio is split with it in the
        // model) and moved page by page on the next round.
        if (moveSplitsHugePmd(dstAddr, srcAddr, src + len) || !dpmd.pmd.isNone(dpmd.i)) {
          const at = spmd;
          const head = pmdPfnAt(at.pmd, at.i);
          const zero = isHugeZeroPmd(mm.core, at.pmd.e[2 * at.i], at.pmd.e[2 * at.i + 1]);
          if (!zero && !pageAnonExclusive(mm.core, head)) {
            trace?.({ src: srcAddr, what: "busy", ret: E("EBUSY") });
            err = E("EBUSY");
            break;
          }
          trace?.({ src: srcAddr, what: "split_huge_pmd", ret: 0 });
          splitHugePmd(srcVma, srcAddr);
          continue;
        }
        const sp = spmd;
        err = withMmuNotifier(
          MMU_NOTIFY_CLEAR,
          mm,
          srcAddr,
          srcAddr + PMD_SIZE,
          () => movePagesHugePmd(dstVma, dpmd, sp, dstAddr, srcAddr, trace),
        );
        step = PMD_SIZE;
      } else {
        // 3c: the PTE tables, then move_pages_pte().
        let spt = lookupPteTable(mm, srcAddr);
        if (!spt) {
          if (!allowHoles) {
            err = E("ENOENT");
            break;
          }
          spt = pteAlloc(mm, srcAddr);
        }
        const dpt = spt ? pteAlloc(mm, dstAddr) : null;
        if (!spt || !dpt) {
          err = E("ENOMEM");
          break;
        }
        // move_pages_pte(): MMU_NOTIFY_CLEAR over the source page.
        err = withMmuNotifier(
          MMU_NOTIFY_CLEAR,
          mm,
          srcAddr,
          srcAddr + PAGE_SIZE,
          () => movePagesPte(dstVma, srcVma, dpt, spt, dstAddr, srcAddr, allowHoles, trace),
        );
      }
      if (err === E("EAGAIN")) continue;
      if (err) break;
      moved += step;
    }
  } finally {
    mm.mmap_lock.upRead();
  }
  return moved ? moved : err;
}

/**
 * move_splits_huge_pmd(): a source THP cannot be moved whole when either
 * address is not PMD-aligned or less than a whole PMD remains to move.
 */
function moveSplitsHugePmd(dstAddr: number, srcAddr: number, srcEnd: number): boolean {
  return srcAddr % PMD_SIZE !== 0 || dstAddr % PMD_SIZE !== 0 || srcEnd - srcAddr < PMD_SIZE;
}

/**
 * move_pages_huge_pmd() (mm/huge_memory.c, v6.18): move a PMD-mapped THP,
 * or the huge zero folio, to an empty destination PMD.
 *
 *  1. Under the source PMD lock: the PMD must still be huge (the kernel
 *     waits out a PMD migration entry with pmd_migration_entry_wait() and
 *     returns -EAGAIN; the model has none), and a THP PageAnonExclusive
 *     (-EBUSY).
 *  2. Both PMD locks (double_pt_lock()): both PMDs unchanged (-EAGAIN), the
 *     folio not pinned and still exclusive (-EBUSY); clear the source PMD,
 *     move the folio's anon_vma and index, set the destination PMD
 *     (writable, dirty, soft-dirty; the huge zero folio stays read-only),
 *     and hand the deposited PTE table over with it.
 *
 * Simplification: the folio lock and the anon_vma lock the kernel takes
 * between the two steps are left out (one CPU).
 */
function movePagesHugePmd(
  dstVma: Vma,
  dpmd: { pmd: PageTable; i: number },
  spmd: { pmd: PageTable; i: number },
  dstAddr: number,
  srcAddr: number,
  trace?: (e: MoveTraceEvent) => void,
): number {
  const core = dstVma.vm_mm.core;
  const sp = spmd.pmd, si = spmd.i, dp = dpmd.pmd, di = dpmd.i;
  const done = (what: MoveTraceEvent["what"], ret: number) => {
    trace?.({ src: srcAddr, what, ret });
    return ret > 0 ? 0 : ret;
  };
  // Step 1.
  sp.ptl!.lock("move_pages_huge_pmd");
  const slo = sp.e[2 * si], shi = sp.e[2 * si + 1];
  if (!pmdTransHugeAt(sp, si)) {
    sp.ptl!.unlock();
    return done("hole", E("ENOENT"));
  }
  const head = pmdPfnAt(sp, si);
  const zero = isHugeZeroPmd(core, slo, shi);
  if (!zero && !pageAnonExclusive(core, head)) {
    sp.ptl!.unlock();
    return done("busy", E("EBUSY"));
  }
  sp.ptl!.unlock();
  // Step 2.
  const unlock = doublePtLock(dp, sp, "move_pages_huge_pmd");
  try {
    if (sp.e[2 * si] !== slo || sp.e[2 * si + 1] !== shi || !dp.isNone(di)) {
      return done("pmd", E("EAGAIN"));
    }
    let lo: number;
    if (!zero) {
      if (folioMaybeDmaPinned(core, head) || !pageAnonExclusive(core, head)) {
        return done("busy", E("EBUSY"));
      }
      sp.setHalves(si, 0, 0); // pmdp_huge_clear_flush()
      folioMoveAnonRmap(core, head, dstVma);
      core.memmap.index[head] = dstVma.linearPageIndex(dstAddr);
      lo = pfnLo(head) | dstVma.protLo | _PAGE_PSE | _PAGE_DIRTY | _PAGE_RW | core.softDirtyLo;
    } else {
      sp.setHalves(si, 0, 0);
      lo = (pfnLo(head) | dstVma.protLo | _PAGE_PSE | _PAGE_SPECIAL) & ~_PAGE_RW;
    }
    dp.setHalves(di, lo >>> 0, pfnHi(head) | dstVma.protHi);
    pgtableTransHugeDeposit(dp, di, pgtableTransHugeWithdraw(sp, si));
    return done("pmd", PMD_SIZE);
  } finally {
    unlock();
  }
}

/**
 * double_pt_lock(): both PTE locks, in one order for everyone (the kernel
 * orders them by the spinlocks' addresses; the model by the tables' pfns),
 * once if the two PTEs share a table. Returns the unlock.
 */
function doublePtLock(a: PageTable, b: PageTable, who: string): () => void {
  if (a === b) {
    a.ptl!.lock(who);
    return () => a.ptl!.unlock();
  }
  const [first, second] = a.pfn < b.pfn ? [a, b] : [b, a];
  first.ptl!.lock(who);
  second.ptl!.lock(who);
  return () => {
    second.ptl!.unlock();
    first.ptl!.unlock();
  };
}

/**
 * move_pages_pte() for one page (mm/userfaultfd.c, v6.18):
 *
 *  1. the destination PTE must be none (-EEXIST);
 *  2. a none source PTE is a hole: 0 with ALLOW_SRC_HOLES, else -ENOENT;
 *  3. a present one: the zero page is moved as such (move_zeropage_pte());
 *     otherwise the folio must be a normal, PageAnonExclusive anonymous one
 *     (-EBUSY), locked (folio_trylock(), else drop the PTE maps, sleep in
 *     folio_lock() and start over) with its anon_vma locked, then
 *     move_present_pte();
 *  4. a non-present one: a migration entry means waiting for the
 *     migration (migration_entry_wait()) and -EAGAIN; another non-swap
 *     entry (a marker, hwpoison, device) -EFAULT; a swap entry is moved as
 *     it is (move_swap_pte()) if it is exclusive, else -EBUSY.
 *
 * Simplification: one CPU, so the lockless reads in steps 1-3 cannot be
 * raced and every folio_trylock() succeeds; lib/lessons/uffd_move.ts
 * replays those races with the race explorer.
 */
function movePagesPte(
  dstVma: Vma,
  srcVma: Vma,
  dpt: PageTable,
  spt: PageTable,
  dstAddr: number,
  srcAddr: number,
  allowHoles: boolean,
  trace?: (e: MoveTraceEvent) => void,
): number {
  const core = dstVma.vm_mm.core;
  const di = pteIndex(dstAddr), si = pteIndex(srcAddr);
  const done = (what: MoveTraceEvent["what"], ret: number) => {
    trace?.({ src: srcAddr, what, ret });
    return ret > 0 ? 0 : ret;
  };
  // Step 1.
  if (!dpt.isNone(di)) return done("exists", E("EEXIST"));
  // Step 2.
  const lo = spt.e[2 * si], hi = spt.e[2 * si + 1];
  if (lo === 0 && hi === 0) return done("hole", allowHoles ? 0 : E("ENOENT"));
  // Step 3.
  if (lo & (_PAGE_PRESENT | _PAGE_PROTNONE)) {
    const frame = (hi & 0xfffff) * 0x100000 + (lo >>> 12);
    if (frame === core.zeroPfn) {
      return done("zeropage", moveZeropagePte(dstVma, dpt, spt, di, si));
    }
    const pfn = vmNormalPage(lo, hi);
    if (pfn < 0 || !pageAnonExclusive(core, pfn) || !folioTestAnon(core, pfn)) {
      return done("busy", E("EBUSY"));
    }
    return done("present", movePresentPte(dstVma, dpt, spt, dstAddr, di, si, pfn));
  }
  // Step 4.
  const pte = pteFromHalves(lo, hi);
  const entry = pteToSwpEntry(pte);
  const ops = core.swapops;
  if (ops.nonSwapEntry(entry)) {
    if (ops.isMigrationEntry(entry)) {
      migrationEntryWait(srcVma, spt, si);
      return done("migration_entry_wait", E("EAGAIN"));
    }
    return done("fault", E("EFAULT"));
  }
  if (!pteSwpExclusive(pte)) return done("busy", E("EBUSY"));
  return done("swap", moveSwapPte(core, dpt, spt, di, si, pte));
}

/**
 * move_present_pte(), both PTE locks held: the folio must still be
 * exclusive and not pinned (-EBUSY); the source PTE is cleared and
 * flushed, pinning checked once more (GUP-fast may have pinned it
 * meanwhile: then the PTE is put back, -EBUSY); the folio moves to the
 * destination VMA's anon_vma and index, and the new PTE is writable,
 * soft-dirty (so that userspace can notice) and dirty if the old one was.
 */
function movePresentPte(
  dstVma: Vma,
  dpt: PageTable,
  spt: PageTable,
  dstAddr: number,
  di: number,
  si: number,
  pfn: number,
): number {
  const core = dstVma.vm_mm.core;
  const unlock = doublePtLock(dpt, spt, "move_present_pte");
  try {
    if (folioMaybeDmaPinned(core, pfn) || !pageAnonExclusive(core, pfn)) return E("EBUSY");
    const lo = spt.e[2 * si];
    spt.setHalves(si, 0, 0); // ptep_clear_flush()
    folioMoveAnonRmap(core, pfn, dstVma);
    core.memmap.index[pfn] = dstVma.linearPageIndex(dstAddr);
    let nlo = (pfnLo(pfn) | dstVma.protLo | core.softDirtyLo | _PAGE_RW) >>> 0;
    if (lo & _PAGE_DIRTY) nlo |= _PAGE_DIRTY;
    dpt.setHalves(di, nlo >>> 0, pfnHi(pfn) | dstVma.protHi);
    return PAGE_SIZE;
  } finally {
    unlock();
  }
}

/** move_zeropage_pte(): the source's zero-page PTE goes, the destination gets its own. */
function moveZeropagePte(
  dstVma: Vma,
  dpt: PageTable,
  spt: PageTable,
  di: number,
  si: number,
): number {
  const core = dstVma.vm_mm.core;
  const unlock = doublePtLock(dpt, spt, "move_zeropage_pte");
  try {
    spt.setHalves(si, 0, 0);
    const zlo = (pfnLo(core.zeroPfn) | dstVma.protLo | _PAGE_SPECIAL) >>> 0;
    dpt.setHalves(di, zlo, pfnHi(core.zeroPfn) | dstVma.protHi);
    return PAGE_SIZE;
  } finally {
    unlock();
  }
}

/**
 * move_swap_pte(): an exclusive swap entry moves as it is, made
 * swap-soft-dirty; the rss counters do not change (same mm). With no swap
 * cache in the model there is no folio to move along (the kernel moves a
 * swap-cache folio's anon_vma and index too).
 */
function moveSwapPte(
  core: MmCore,
  dpt: PageTable,
  spt: PageTable,
  di: number,
  si: number,
  pte: bigint,
): number {
  const unlock = doublePtLock(dpt, spt, "move_swap_pte");
  try {
    spt.setHalves(si, 0, 0);
    dpt.set(di, pteSwpMksoftDirty(pte, core.bits));
    return PAGE_SIZE;
  } finally {
    unlock();
  }
}

/**
 * migration_entry_wait() (mm/migrate.c): sleep until the migration that
 * owns the entry has finished. One CPU: nothing else runs while the mover
 * sleeps, so the model finishes the migration here as remove_migration_pte()
 * would when the migration fails or is undone: the entry becomes the
 * folio's PTE again (writable if the entry was), and the folio is unlocked.
 */
export function migrationEntryWait(vma: Vma, pt: PageTable, i: number): void {
  const core = vma.vm_mm.core;
  const ops = core.swapops;
  const entry = pteToSwpEntry(pteFromHalves(pt.e[2 * i], pt.e[2 * i + 1]));
  const pfn = Number(entry.offset);
  pt.ptl!.lock("remove_migration_pte");
  try {
    let lo = (pfnLo(pfn) | vma.protLo | _PAGE_DIRTY | core.softDirtyLo) >>> 0;
    if (ops.isWritableMigrationEntry(entry)) lo |= _PAGE_RW;
    else lo &= ~_PAGE_RW;
    pt.setHalves(i, lo >>> 0, pfnHi(pfn) | vma.protHi);
    core.memmap.flags[pfn] &= ~PG_locked;
  } finally {
    pt.ptl!.unlock();
  }
}
