/**
 * Resolving userfaults from the monitor side (mm/userfaultfd.c, v6.18):
 * mfill_atomic() for UFFDIO_COPY, UFFDIO_ZEROPAGE, UFFDIO_CONTINUE and
 * UFFDIO_POISON; mwriteprotect_range() for UFFDIO_WRITEPROTECT; move_pages()
 * for UFFDIO_MOVE.
 *
 * Lock order: mmap_lock (read) → PTE lock. The source page of a copy is
 * read before mmap_lock is taken (the kernel's copy_from_user() retry path
 * outside the lock), so reading it may fault like any user access.
 *
 * Simplification: the destination VMA is looked up and validated again for
 * every page (the kernel does so only after dropping the lock to copy), which
 * gives the same results on one CPU.
 * @module
 */
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
import { lookupPteTable, pteAlloc, pteIndex, vmNormalPage } from "../mm/memory.ts";
import { PG_hwpoison } from "../mm/memmap.ts";
import { canChangePteWritable, chgMaskLo } from "../mm/mprotect.ts";
import type { PageTable } from "../pgtable/pgtable.ts";
import { pfnHi, pfnLo } from "../pgtable/pgtable.ts";
import {
  _PAGE_DIRTY,
  _PAGE_PRESENT,
  _PAGE_PROTNONE,
  _PAGE_RW,
  _PAGE_SPECIAL,
} from "../arch/x86/pgtable_types.ts";
import { pteFromHalves } from "../arch/x86/pgtable.ts";
import { PTE_MARKER_POISONED, PTE_MARKER_UFFD_WP, pteToSwpEntry } from "../pgtable/swapops.ts";
import {
  allocAnonFolio,
  anonVmaPrepare,
  folioAddFileRmapPte,
  folioAddNewAnonRmap,
  folioMoveAnonRmap,
  folioTestAnon,
  mmCounter,
  pageAnonExclusive,
} from "../mm/rmap.ts";
import { filemapGetFolio, shmemAddFolio, shmemDeleteFolio } from "../mm/shmem.ts";
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
 * mfill_atomic_install_pte(): map `pfn` dirty, writable if the VMA is (but
 * never a page-cache page in a private mapping), uffd-wp if asked. -EEXIST
 * unless pte_none_mostly(): a PTE marker may be overwritten (meant for
 * MISSING|WP: a none PTE write-protected first, then filled; in v6.18 this
 * lets a poison or guard marker go too, which later kernels refuse);
 * -EFAULT beyond i_size.
 */
function mfillAtomicInstallPte(
  vma: Vma,
  pt: PageTable,
  addr: number,
  pfn: number,
  pageInCache: boolean,
  flags: number,
): number {
  const mm = vma.vm_mm;
  const core = mm.core;
  const i = pteIndex(addr);
  let lo = (pfnLo(pfn) | vma.protLo | _PAGE_DIRTY | core.softDirtyLo) >>> 0;
  const hi = pfnHi(pfn) | vma.protHi;
  let writable = (vma.vm_flags & VM_WRITE) !== 0;
  if (pageInCache && !(vma.vm_flags & VM_SHARED)) writable = false;
  if (writable) lo |= _PAGE_RW;
  if (flags & MFILL_ATOMIC_WP) lo = (lo & ~_PAGE_RW) | core.uffdWpLo;
  pt.ptl!.lock("mfill_atomic_install_pte");
  try {
    if (mfillFileOverSize(vma, addr)) return E("EFAULT");
    if (!pteNoneMostly(vma, pt, i)) return E("EEXIST");
    if (pageInCache) {
      core.memmap.refcount[pfn]++;
      folioAddFileRmapPte(core, pfn);
    } else {
      folioAddNewAnonRmap(core, pfn, vma, addr, true);
    }
    mm.rss[mmCounter(core, pfn)]++;
    pt.setHalves(i, lo >>> 0, hi);
    return 0;
  } finally {
    pt.ptl!.unlock();
  }
}

/** mfill_atomic_pte_copy(): a new anonymous folio holding the source page. */
function mfillAtomicPteCopy(
  vma: Vma,
  pt: PageTable,
  addr: number,
  srcPfn: number,
  flags: number,
): number {
  const core = vma.vm_mm.core;
  const pfn = allocAnonFolio(core);
  if (pfn < 0) return E("ENOMEM");
  core.memmap.copyPage(pfn, srcPfn);
  const ret = mfillAtomicInstallPte(vma, pt, addr, pfn, false, flags);
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
  if (pgoff >= Math.ceil(inode.size / PAGE_SIZE)) return E("EFAULT");
  const pfn = filemapGetFolio(inode, pgoff);
  if (pfn < 0) return E("EFAULT");
  if (vma.vm_mm.core.memmap.flags[pfn] & PG_hwpoison) return E("EIO");
  return mfillAtomicInstallPte(vma, pt, addr, pfn, true, flags);
}

/**
 * shmem_mfill_atomic_pte(): a new page-cache folio (the source page or
 * zeroes) at the file offset, then its PTE. -EFAULT beyond i_size, -EEXIST
 * if the page cache already holds the index.
 */
function shmemMfillAtomicPte(
  vma: Vma,
  pt: PageTable,
  addr: number,
  srcPfn: number,
  flags: number,
): number {
  const core = vma.vm_mm.core;
  const inode = vma.vm_file!.inode;
  const pgoff = vma.linearPageIndex(addr);
  const pfn = core.memmap.allocPage();
  if (pfn < 0) return E("ENOMEM");
  if (srcPfn >= 0) core.memmap.copyPage(pfn, srcPfn);
  if (pgoff >= Math.ceil(inode.size / PAGE_SIZE)) {
    core.memmap.put(pfn);
    return E("EFAULT");
  }
  if (filemapGetFolio(inode, pgoff) >= 0) {
    core.memmap.put(pfn);
    return E("EEXIST");
  }
  shmemAddFolio(core, inode, pgoff, pfn);
  const ret = mfillAtomicInstallPte(vma, pt, addr, pfn, true, flags);
  if (ret) shmemDeleteFolio(core, inode, pgoff);
  return ret;
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
  const core = mm.core;
  const ops = core.swapops;
  const useMarkers = enableWp && userfaultfdWpUseMarkers(vma);
  const tryWritable = !enableWp && (vma.vm_flags & VM_WRITE) !== 0;
  const keepLo = chgMaskLo(vma);
  for (let addr = start; addr < end;) {
    const next = Math.min(end, (Math.floor(addr / PMD_SIZE) + 1) * PMD_SIZE);
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

/**
 * move_pages(): move the anonymous pages of [src, src+len) to
 * [dst, dst+len) without copying, page by page (move_pages_pte()). Returns
 * the bytes moved if any, else -errno:
 *  - -ENOENT: a VMA is missing, or a source hole without ALLOW_SRC_HOLES;
 *  - -EINVAL: a range leaves its VMA, a shared VMA, validate_move_areas();
 *  - -EEXIST: the destination PTE is populated;
 *  - -EBUSY: the source page is not PageAnonExclusive (shared with a fork
 *    child, say);
 *  - -EFAULT: the source holds a marker or another non-swap entry.
 *
 * Simplification: no THP (every step is one page) and no swap entries.
 */
export function movePages(
  ctx: UserfaultfdCtx,
  dst: number,
  src: number,
  len: number,
  mode: number,
): number {
  const mm = ctx.mm;
  mm.mmap_lock.downRead();
  let moved = 0;
  let err = 0;
  try {
    // uffd_move_lock() → find_vmas_mm_locked().
    const dstVma = mm.vmaLookup(dst);
    if (!dstVma) return E("ENOENT");
    if (!(dstVma.vm_flags & VM_SHARED) && !anonVmaPrepare(mm.core, dstVma)) return E("ENOMEM");
    const srcVma = mm.vmaLookup(src);
    if (!srcVma) return E("ENOENT");
    if (srcVma.vm_flags & VM_SHARED || src + len > srcVma.vm_end) return E("EINVAL");
    if (dstVma.vm_flags & VM_SHARED || dst + len > dstVma.vm_end) return E("EINVAL");
    err = validateMoveAreas(ctx, srcVma, dstVma);
    if (err) return err;
    const allowHoles = (mode & UFFDIO_MOVE_MODE_ALLOW_SRC_HOLES) !== 0;
    while (moved < len) {
      const srcAddr = src + moved, dstAddr = dst + moved;
      const spt = lookupPteTable(mm, srcAddr);
      if (!spt && !allowHoles) {
        err = E("ENOENT");
        break;
      }
      const dpt = pteAlloc(mm, dstAddr);
      if (!dpt) {
        err = E("ENOMEM");
        break;
      }
      if (spt) err = movePagesPte(dstVma, dpt, spt, dstAddr, srcAddr, allowHoles);
      if (err) break;
      moved += PAGE_SIZE;
    }
  } finally {
    mm.mmap_lock.upRead();
  }
  return moved ? moved : err;
}

/**
 * move_pages_pte() for one page, both PTE locks held (the source's first,
 * as the kernel's double_pt_lock() orders them by address; one CPU here).
 */
function movePagesPte(
  dstVma: Vma,
  dpt: PageTable,
  spt: PageTable,
  dstAddr: number,
  srcAddr: number,
  allowHoles: boolean,
): number {
  const core = dstVma.vm_mm.core;
  const di = pteIndex(dstAddr), si = pteIndex(srcAddr);
  const locks = dpt === spt ? [spt.ptl!] : [spt.ptl!, dpt.ptl!];
  for (const l of locks) l.lock("move_pages_pte");
  try {
    if (!dpt.isNone(di)) return E("EEXIST");
    const lo = spt.e[2 * si], hi = spt.e[2 * si + 1];
    if (lo === 0 && hi === 0) return allowHoles ? 0 : E("ENOENT");
    if (!(lo & (_PAGE_PRESENT | _PAGE_PROTNONE))) return E("EFAULT");
    const frame = (hi & 0xfffff) * 0x100000 + (lo >>> 12);
    if (frame === core.zeroPfn) {
      // move_zeropage_pte()
      spt.setHalves(si, 0, 0);
      const zlo = (pfnLo(core.zeroPfn) | dstVma.protLo | _PAGE_SPECIAL) >>> 0;
      dpt.setHalves(di, zlo, pfnHi(core.zeroPfn) | dstVma.protHi);
      return 0;
    }
    const pfn = vmNormalPage(lo, hi);
    if (pfn < 0 || !folioTestAnon(core, pfn) || !pageAnonExclusive(core, pfn)) return E("EBUSY");
    // move_present_pte(): the folio changes anon_vma and index, the PTE
    // moves, soft-dirty so that userspace can notice, writable.
    spt.setHalves(si, 0, 0);
    folioMoveAnonRmap(core, pfn, dstVma);
    core.memmap.index[pfn] = dstVma.linearPageIndex(dstAddr);
    let nlo = (pfnLo(pfn) | dstVma.protLo | core.softDirtyLo) >>> 0;
    if (lo & _PAGE_DIRTY) nlo |= _PAGE_DIRTY;
    nlo |= _PAGE_RW;
    dpt.setHalves(di, nlo >>> 0, pfnHi(pfn) | dstVma.protHi);
    return 0;
  } finally {
    for (const l of locks.reverse()) l.unlock();
  }
}
