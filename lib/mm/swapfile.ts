/**
 * One swap device (mm/swapfile.c, mm/page_io.c, v6.18): swapon(2) and
 * swapoff(2), the swap map that counts the users of each slot
 * (swap_duplicate(), swap_entry_put()), writeout and read-in of a page, and
 * try_to_unuse() → unuse_pte(), which turns a slot that cannot be read back
 * into a poisoned PTE marker (make_poisoned_swp_entry()): a "swapin error".
 *
 * Simplifications: one device, swap type 0, no swap cache. A page is written
 * out and freed in one step (shrink_folio_list() with the writeback already
 * done), and a swap-in always reads a fresh folio, as the kernel does for a
 * SWP_SYNCHRONOUS_IO device (zram) when the slot has one user; a slot that
 * fork() shared is read into a separate copy for each process instead of
 * one swap-cache folio mapped by both, so the two no longer share a frame
 * (what each reads is the same). Read errors are injected per slot
 * (`badSlots`), as a failing disk would produce them. Anonymous memory only:
 * shmem folios are not written to swap.
 * @module
 */
import type { MmCore } from "./core.ts";
import type { PageContents } from "./memmap.ts";
import { ERRNO } from "../kernel/errno.ts";
import { VmBugError } from "../kernel/bug.ts";
import { MM_ANONPAGES, MM_SWAPENTS, type Vma } from "./mm_types.ts";
import type { PageTable } from "../pgtable/pgtable.ts";
import { pfnHi, pfnLo } from "../pgtable/pgtable.ts";
import { PTE_MARKER_POISONED, pteToSwpEntry } from "../pgtable/swapops.ts";
import {
  isSwapPte,
  type Pte,
  pteFromHalves,
  pteSwpExclusive,
  pteSwpSoftDirty,
  pteSwpUffdWp,
} from "../arch/x86/pgtable.ts";
import { _PAGE_RW } from "../arch/x86/pgtable_types.ts";
import { allocAnonFolio, anonVmaPrepare, folioAddNewAnonRmap } from "./rmap.ts";
import { walkPteRange } from "./pagewalk.ts";

/** SWAP_MAP_MAX: how many users one slot's count may reach without a continuation. */
export const SWAP_MAP_MAX = 0x3e;

/** struct swap_info_struct, reduced to what the model needs. */
export class SwapInfo {
  /** The swap type of this device (the first one). */
  readonly type = 0;
  /** swap_map[]: the users of each slot; slot 0, the header page, is never handed out. */
  readonly swapMap: Uint8Array;
  /** The page each slot holds (what writeout stored). */
  readonly contents = new Map<number, PageContents>();
  /** Slots whose read fails (an I/O error): swap_read_folio() leaves the folio !uptodate. */
  readonly badSlots = new Set<number>();
  /** Slots in use (si->inuse_pages). */
  inusePages = 0;
  /** pswpin / pswpout: pages read from and written to this device. */
  pswpin = 0;
  pswpout = 0;
  private cursor = 1;

  constructor(readonly pages: number) {
    if (!Number.isSafeInteger(pages) || pages < 2) {
      throw new RangeError(
        `a swap device needs at least 2 pages (one is the header), got ${pages}`,
      );
    }
    this.swapMap = new Uint8Array(pages);
  }

  /** Free slots (what /proc/swaps shows as Size - Used, in pages). */
  get freePages(): number {
    return this.pages - 1 - this.inusePages;
  }

  /** Whether `offset` is a slot of this device that some PTE holds. */
  inUse(offset: number): boolean {
    return offset > 0 && offset < this.pages && this.swapMap[offset] > 0;
  }

  /** folio_alloc_swap() → the next free slot with one user, or -1 when the device is full. */
  allocSlot(): number {
    for (let n = 0; n < this.pages - 1; n++) {
      const offset = 1 + (this.cursor - 1 + n) % (this.pages - 1);
      if (this.swapMap[offset] === 0) {
        this.swapMap[offset] = 1;
        this.inusePages++;
        this.cursor = offset + 1 >= this.pages ? 1 : offset + 1;
        return offset;
      }
    }
    return -1;
  }

  /** swap_duplicate(): one more PTE holds the slot (fork()). */
  duplicate(offset: number): void {
    this.checkInUse(offset, "swap_duplicate");
    if (this.swapMap[offset] >= SWAP_MAP_MAX) {
      throw new RangeError(
        `slot ${offset}: more than ${SWAP_MAP_MAX} users need swap count continuation`,
      );
    }
    this.swapMap[offset]++;
  }

  /** swap_entry_put(): one user less; the last one frees the slot and its data. */
  put(offset: number): void {
    this.checkInUse(offset, "swap_entry_put");
    if (--this.swapMap[offset] > 0) return;
    this.contents.delete(offset);
    this.badSlots.delete(offset);
    this.inusePages--;
  }

  /** swap_writepage() of `pfn` into `offset`. */
  writePage(core: MmCore, offset: number, pfn: number): void {
    this.contents.set(offset, core.memmap.saveContents(pfn));
    this.pswpout++;
  }

  /**
   * swap_read_folio() of `offset` into `pfn`: false when the read fails
   * (the folio stays !uptodate).
   */
  readPage(core: MmCore, offset: number, pfn: number): boolean {
    this.checkInUse(offset, "swap_read_folio");
    if (this.badSlots.has(offset)) return false;
    const c = this.contents.get(offset);
    if (c) core.memmap.restoreContents(pfn, c);
    else core.memmap.clearPage(pfn);
    this.pswpin++;
    return true;
  }

  private checkInUse(offset: number, fn: string): void {
    if (!this.inUse(offset)) {
      throw new RangeError(`${fn}: swap slot ${offset} is not in use`);
    }
  }
}

/** swapon(2): the one swap device of `pages` pages (slot 0 is its header). */
export function swapon(core: MmCore, pages: number): SwapInfo | number {
  if (core.swap) return -ERRNO.EBUSY;
  if (!Number.isSafeInteger(pages) || pages < 2) return -ERRNO.EINVAL;
  core.swap = new SwapInfo(pages);
  return core.swap;
}

/** What swapoff(2) did: pages read back, and swapin errors left as poison markers. */
export interface SwapoffResult {
  unused: number;
  poisoned: number;
}

/**
 * swapoff(2) → try_to_unuse(): every PTE that holds a slot of the device
 * gets its page back (unuse_pte(): a new anonymous folio, mapped
 * read-only and old as mk_pte(page, vm_page_prot) makes it, exclusive if
 * the entry was). A slot that cannot be read becomes a PTE_MARKER_POISONED
 * marker (make_poisoned_swp_entry()): the data is gone, and the next access
 * gets VM_FAULT_HWPOISON. -ENOMEM (the device stays) if memory runs out,
 * -EINVAL if there is no device.
 */
export function swapoff(core: MmCore): SwapoffResult | number {
  const si = core.swap;
  if (!si) return -ERRNO.EINVAL;
  const result: SwapoffResult = { unused: 0, poisoned: 0 };
  for (const mm of core.mms) {
    for (const vma of mm.vmas) {
      let err = 0;
      walkPteRange(mm, vma.vm_start, vma.vm_end, "unuse_pte_range", (pt, i, addr) => {
        if (err) return;
        const lo = pt.e[2 * i], hi = pt.e[2 * i + 1];
        const pte = pteFromHalves(lo, hi);
        if (!isSwapPte(pte)) return;
        const entry = pteToSwpEntry(pte);
        if (!core.swapops.isSwapDeviceEntry(entry) || entry.type !== si.type) return;
        const offset = Number(entry.offset);
        if (!si.inUse(offset)) return;
        err = unusePte(vma, pt, i, addr, pte, offset, result);
      });
      if (err) return err;
    }
  }
  if (si.inusePages) {
    throw new VmBugError("swapoff", "slots still in use after try_to_unuse()", {
      inuse: si.inusePages,
    });
  }
  core.swap = null;
  return result;
}

/** unuse_pte(). Returns 0 or -ENOMEM. */
function unusePte(
  vma: Vma,
  pt: PageTable,
  i: number,
  addr: number,
  pte: Pte,
  offset: number,
  result: SwapoffResult,
): number {
  const mm = vma.vm_mm;
  const core = mm.core;
  const si = core.swap!;
  if (!anonVmaPrepare(core, vma)) return -ERRNO.ENOMEM;
  const pfn = allocAnonFolio(core);
  if (pfn < 0) return -ERRNO.ENOMEM;
  if (!si.readPage(core, offset, pfn)) {
    core.memmap.put(pfn);
    mm.rss[MM_SWAPENTS]--;
    pt.set(i, core.swapops.makePteMarker(PTE_MARKER_POISONED));
    si.put(offset);
    result.poisoned++;
    return 0;
  }
  let lo = (pfnLo(pfn) | vma.protLo) >>> 0;
  if (pteSwpSoftDirty(pte, core.bits)) lo = (lo | core.softDirtyLo) >>> 0;
  if (pteSwpUffdWp(pte, core.bits) && core.uffdWpLo) lo = ((lo & ~_PAGE_RW) | core.uffdWpLo) >>> 0;
  mm.rss[MM_SWAPENTS]--;
  mm.rss[MM_ANONPAGES]++;
  folioAddNewAnonRmap(core, pfn, vma, addr, pteSwpExclusive(pte));
  pt.setHalves(i, lo, pfnHi(pfn) | vma.protHi);
  si.put(offset);
  result.unused++;
  return 0;
}
