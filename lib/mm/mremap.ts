/**
 * mremap(2) (mm/mremap.c, v6.18): shrink a mapping, grow it in place, or
 * move it (MREMAP_MAYMOVE, MREMAP_FIXED, MREMAP_DONTUNMAP) by moving its
 * page-table entries (move_page_tables() → move_ptes()), with the
 * userfaultfd events a monitor sees: UFFD_EVENT_REMAP for the move, then
 * UFFD_EVENT_UNMAP for what was unmapped (notify_uffd()).
 *
 * An MREMAP_FIXED move that keeps the size may span several VMAs (v6.17+,
 * remap_move()); growing, shrinking or moving elsewhere works on one.
 *
 * Simplifications: old_size 0 (a second mapping of a shared one) is not
 * modelled (EINVAL);
 * no commit accounting (VM_ACCOUNT) and no mlock of the grown part.
 * @module
 */
import { ERRNO } from "../kernel/errno.ts";
import {
  MREMAP_DONTUNMAP,
  MREMAP_FIXED,
  MREMAP_MAYMOVE,
  PAGE_SIZE,
  TASK_SIZE,
} from "../kernel/constants.ts";
import { type MmStruct, VM_LOCKED, VM_PFNMAP, Vma } from "./mm_types.ts";
import {
  doMunmapRange,
  getUnmappedArea,
  insertVma,
  mergeAround,
  pageAlign,
  splitAt,
} from "./mmap.ts";
import { lookupPmdTable, lookupPteTable, pteAlloc, pteIndex } from "./memory.ts";
import { splitHugePmdRange } from "./huge_memory.ts";
import { MMU_NOTIFY_UNMAP, withMmuNotifier } from "./mmu_notifier.ts";
import { isSwapPte, pteFromHalves, pteSwpMksoftDirty, pteToHalves } from "../arch/x86/pgtable.ts";
import { _PAGE_PRESENT, _PAGE_PROTNONE } from "../arch/x86/pgtable_types.ts";
import { PTE_MARKER_UFFD_WP, pteToSwpEntry } from "../pgtable/swapops.ts";
import {
  mremapUserfaultfdComplete,
  mremapUserfaultfdPrep,
  userfaultfdArmed,
  type UserfaultfdCtx,
  userfaultfdResetCtx,
  userfaultfdUnmapComplete,
  type UserfaultfdUnmapCtx,
} from "../userfaultfd/userfaultfd.ts";

const E = (name: keyof typeof ERRNO) => -ERRNO[name];
const KNOWN_FLAGS = MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP;

/** The events one mremap() sends, in the order notify_uffd() sends them. */
interface Notify {
  remap: { ctx: UserfaultfdCtx | null; from: number; to: number; len: number } | null;
  unmapEarly: UserfaultfdUnmapCtx[];
  unmap: UserfaultfdUnmapCtx[];
}

/**
 * do_mremap(): returns the new address or -errno. Called with mmap_lock
 * held for write.
 */
export function doMremap(
  mm: MmStruct,
  addr: number,
  oldLenIn: number,
  newLenIn: number,
  flags: number,
  newAddr: number,
): number {
  // check_mremap_params()
  if (flags & ~KNOWN_FLAGS) return E("EINVAL");
  if (addr % PAGE_SIZE) return E("EINVAL");
  if ((flags & MREMAP_FIXED) && !(flags & MREMAP_MAYMOVE)) return E("EINVAL");
  if ((flags & MREMAP_DONTUNMAP) && (!(flags & MREMAP_MAYMOVE) || oldLenIn !== newLenIn)) {
    return E("EINVAL");
  }
  const oldLen = pageAlign(oldLenIn), newLen = pageAlign(newLenIn);
  if (!newLen) return E("EINVAL");
  if (flags & MREMAP_FIXED) {
    if (newAddr % PAGE_SIZE) return E("EINVAL");
    if (newLen > TASK_SIZE || newAddr > TASK_SIZE - newLen) return E("EINVAL");
    // The ranges may not overlap.
    if (addr + oldLen > newAddr && newAddr + newLen > addr) return E("EINVAL");
  }
  const notify: Notify = { remap: null, unmapEarly: [], unmap: [] };
  let ret: number;
  if ((flags & MREMAP_FIXED) && oldLen === newLen) {
    // vrm_move_only(): a move that may span several VMAs.
    ret = remapMove(mm, addr, oldLen, flags, newAddr, notify);
  } else {
    // check_prep_vma()
    const vma = mm.vmaLookup(addr);
    if (!vma) return E("EFAULT");
    if (!oldLen) return E("EINVAL");
    ret = (flags & (MREMAP_FIXED | MREMAP_DONTUNMAP))
      ? mremapTo(mm, vma, addr, oldLen, newLen, flags, newAddr, notify)
      : mremapAt(mm, vma, addr, oldLen, newLen, flags, notify);
  }
  // notify_uffd()
  if (notify.remap) {
    const { ctx, from, to, len } = notify.remap;
    mremapUserfaultfdComplete(ctx, from, to, len);
  }
  userfaultfdUnmapComplete(notify.unmapEarly);
  userfaultfdUnmapComplete(notify.unmap);
  return ret;
}

/**
 * remap_move() (v6.17+): MREMAP_FIXED without a change of size moves every
 * VMA in [addr, addr + len), each piece by mremap_to(), keeping the gaps
 * between them: no gap at the start (EFAULT), and a VMA armed for
 * userfaultfd (whose events need mmap_lock dropped) only as the one VMA of
 * the range (vma_multi_allowed(); EFAULT otherwise). Each piece unmaps its
 * own target only, so what lies opposite a gap stays mapped. Returns the
 * first piece's new address, or -errno (a failure after the first piece
 * leaves the earlier ones moved, as in the kernel).
 */
function remapMove(
  mm: MmStruct,
  addr: number,
  len: number,
  flags: number,
  newAddr: number,
  notify: Notify,
): number {
  const end = addr + len;
  const pieces = mm.vmas.filter((v) => v.vm_end > addr && v.vm_start < end)
    .map((v) => ({ start: v.vm_start, end: v.vm_end }));
  let res = E("EFAULT");
  let target = newAddr;
  let lastEnd = 0;
  for (const [k, piece] of pieces.entries()) {
    const seen = k > 0;
    if (!seen && addr < piece.start) return E("EFAULT");
    const from = Math.max(piece.start, addr);
    const n = Math.min(end, piece.end) - from;
    const to = target + (seen ? piece.start - lastEnd : 0);
    lastEnd = piece.end;
    const vma = mm.vmaLookup(from)!;
    if (userfaultfdArmed(vma) && (seen || piece.end < end)) return E("EFAULT");
    const r = mremapTo(mm, vma, from, n, n, flags, to, notify);
    if (r < 0) return r;
    if (!seen) res = r;
    target = r + n;
  }
  return res;
}

/** Whether mremap() may map `newLen` bytes from `addr` of `vma` (the checks for growing or moving). */
function checkMapNew(vma: Vma, addr: number, oldLen: number, newLen: number): number {
  // We can't remap across vm area boundaries.
  if (oldLen > vma.vm_end - addr) return E("EFAULT");
  if (newLen > oldLen && (vma.vm_flags & VM_PFNMAP)) return E("EFAULT");
  return 0;
}

/** mremap_at(): no new address asked for: stay, shrink, grow in place, or move if allowed. */
function mremapAt(
  mm: MmStruct,
  vma: Vma,
  addr: number,
  oldLen: number,
  newLen: number,
  flags: number,
  notify: Notify,
): number {
  if (newLen === oldLen) return addr;
  if (newLen < oldLen) {
    // shrink_vma(): unmap the tail, which may span several VMAs.
    doMunmapRange(mm, addr + newLen, addr + oldLen, notify.unmap);
    return addr;
  }
  const err = checkMapNew(vma, addr, oldLen, newLen);
  if (err) return err;
  // vma_expandable(): the VMA ends where the range does and the space after it is free.
  const delta = newLen - oldLen;
  const end = addr + oldLen;
  if (
    vma.vm_end === end && end + delta <= TASK_SIZE &&
    !mm.vmas.some((v) => v.vm_start < end + delta && v.vm_end > end)
  ) {
    vma.vm_end = end + delta;
    mergeAround(mm, vma);
    return addr;
  }
  if (!(flags & MREMAP_MAYMOVE)) return E("ENOMEM");
  const to = getUnmappedArea(mm, 0, newLen, 0);
  if (to < 0) return to;
  return moveVma(mm, addr, oldLen, newLen, to, flags, notify);
}

/** mremap_to(): MREMAP_FIXED (unmap what is at the target first) or MREMAP_DONTUNMAP. */
function mremapTo(
  mm: MmStruct,
  vma: Vma,
  addr: number,
  oldLen: number,
  newLen: number,
  flags: number,
  newAddr: number,
  notify: Notify,
): number {
  const err = checkMapNew(vma, addr, oldLen, Math.max(oldLen, newLen));
  if (err) return err;
  if (flags & MREMAP_FIXED) doMunmapRange(mm, newAddr, newAddr + newLen, notify.unmapEarly);
  if (oldLen > newLen) {
    doMunmapRange(mm, addr + newLen, addr + oldLen, notify.unmap);
    oldLen = newLen;
  }
  if (!(flags & MREMAP_FIXED)) {
    // MREMAP_DONTUNMAP alone: new_address is a hint, as mmap()'s address is.
    newAddr = getUnmappedArea(mm, newAddr, newLen, 0);
    if (newAddr < 0) return newAddr;
  }
  return moveVma(mm, addr, oldLen, newLen, newAddr, flags, notify);
}

/**
 * move_vma(): a new VMA at `to` (copy_vma(): same flags, file, offset and
 * anon_vma), the entries moved into it, then the old range unmapped — or,
 * with MREMAP_DONTUNMAP, left mapped and empty, without its anon_vma.
 */
function moveVma(
  mm: MmStruct,
  addr: number,
  oldLen: number,
  newLen: number,
  to: number,
  flags: number,
  notify: Notify,
): number {
  splitAt(mm, addr);
  splitAt(mm, addr + oldLen);
  const old = mm.vmaLookup(addr)!;
  const ctx = mremapUserfaultfdPrep(old);
  const nv = new Vma(mm, to, to + newLen, old.vm_flags, old.linearPageIndex(addr), old.vm_file);
  nv.setPageProt(old.vm_page_prot);
  nv.anon_vma = old.anon_vma;
  nv.anonVmaChain = old.anonVmaChain;
  nv.vm_flags_hi = old.vm_flags_hi;
  nv.vm_userfaultfd_ctx = old.vm_userfaultfd_ctx;
  // Without UFFD_FEATURE_EVENT_REMAP the monitor would not know where the
  // range went: the new VMA is not registered.
  const clearUffdWp = old.vm_userfaultfd_ctx !== null && ctx === null;
  if (clearUffdWp) userfaultfdResetCtx(nv);
  insertVma(mm, nv);
  withMmuNotifier(
    MMU_NOTIFY_UNMAP,
    mm,
    addr,
    addr + oldLen,
    () => movePageTables(mm, addr, to, oldLen, clearUffdWp),
  );
  if (ctx) notify.remap = { ctx, from: addr, to, len: oldLen };
  if (flags & MREMAP_DONTUNMAP) {
    // The old VMA stays, empty: no mlock, and it forgets its anon_vma.
    old.vm_flags = (old.vm_flags & ~VM_LOCKED) >>> 0;
    old.anon_vma = null;
    old.anonVmaChain = [];
  } else {
    doMunmapRange(mm, addr, addr + oldLen, notify.unmap);
  }
  mergeAround(mm, nv);
  return to;
}

/**
 * move_page_tables() → move_ptes(): every entry of [from, from+len) goes to
 * the same offset at `to`, present or not, under both PTE locks. A moved
 * entry is marked soft-dirty (move_soft_dirty_pte(): the address changed);
 * without EVENT_REMAP its uffd-wp bit is cleared and a bare uffd-wp marker
 * is dropped. Counters do not change: the pages stay in the same mm.
 */
function movePageTables(
  mm: MmStruct,
  from: number,
  to: number,
  len: number,
  clearUffdWp: boolean,
): void {
  const core = mm.core;
  const ops = core.swapops;
  // Simplification: move_page_tables() moves a huge PMD whole when source
  // and destination are 2 MiB aligned (move_huge_pmd()) and splits it
  // otherwise; the model always splits (lib/mm/huge_memory.ts), then moves PTEs.
  const vma = mm.vmaLookup(from);
  if (vma) splitHugePmdRange(vma, from, from + len);
  for (let off = 0; off < len; off += PAGE_SIZE) {
    const spt = lookupPteTable(mm, from + off);
    if (!spt) {
      // Skip to the next table that could exist (get_old_pmd() found none).
      off = nextTableStart(mm, from + off) - from - PAGE_SIZE;
      continue;
    }
    const si = pteIndex(from + off);
    let lo = spt.e[2 * si], hi = spt.e[2 * si + 1];
    if (lo === 0 && hi === 0) continue;
    const dpt = pteAlloc(mm, to + off);
    if (!dpt) throw new RangeError("mremap: out of memory for page tables");
    const present = (lo & (_PAGE_PRESENT | _PAGE_PROTNONE)) !== 0;
    let pte = pteFromHalves(lo, hi);
    if (present) {
      lo = (lo | core.softDirtyLo) >>> 0;
      if (clearUffdWp) lo = (lo & ~core.uffdWpLo) >>> 0;
    } else if (isSwapPte(pte)) {
      const entry = pteToSwpEntry(pte);
      if (
        clearUffdWp && ops.isPteMarkerEntry(entry) && ops.pteMarkerGet(entry) === PTE_MARKER_UFFD_WP
      ) {
        spt.ptl!.lock("move_ptes");
        spt.setHalves(si, 0, 0);
        spt.ptl!.unlock();
        continue;
      }
      if (!ops.isPteMarkerEntry(entry)) {
        if (core.config.MEM_SOFT_DIRTY) pte = pteSwpMksoftDirty(pte, core.bits);
        if (clearUffdWp) pte &= ~core.bits.swpUffdWp;
        [lo, hi] = pteToHalves(pte);
      }
    }
    const lock2 = dpt.ptl !== spt.ptl;
    spt.ptl!.lock("move_ptes");
    if (lock2) dpt.ptl!.lock("move_ptes");
    spt.setHalves(si, 0, 0);
    dpt.setHalves(pteIndex(to + off), lo, hi);
    if (lock2) dpt.ptl!.unlock();
    spt.ptl!.unlock();
  }
}

/** The start of the next PTE, PMD or PUD table span after `addr`, by the first missing level. */
function nextTableStart(mm: MmStruct, addr: number): number {
  const GB = 2 ** 30, PGD_SPAN = 2 ** 39, PMD_SPAN = 2 ** 21;
  const span = !mm.pgd.children![Math.floor(addr / PGD_SPAN) % 512]
    ? PGD_SPAN
    : !lookupPmdTable(mm, addr)
    ? GB
    : PMD_SPAN;
  return (Math.floor(addr / span) + 1) * span;
}
