/**
 * Physical memory: the memmap of struct page (include/linux/mm_types.h),
 * page flags (include/linux/page-flags.h) and the page allocator
 * (mm/page_alloc.c), v6.18.
 *
 * Simplifications, each for memory and speed (the model keeps millions of
 * pages): struct page is a row of typed arrays indexed by pfn ("struct of
 * arrays"), one zone, and a LIFO free list in place of the buddy allocator.
 * Folios are order 0, or PMD order (a transparent huge page, see
 * {@link MemMap.allocFolio}): a head page (PG_head, folio_order(),
 * _entire_mapcount, the folio's refcount) and 511 tail pages that point at
 * it (compound_head()) and hold no references of their own. Page contents are stored compactly: a fill
 * byte plus at most one differing byte per page, promoted to a full 4 KiB
 * buffer on the second distinct write.
 * @module
 */
import { PAGE_SIZE } from "../kernel/constants.ts";
import { VmBugError } from "../kernel/bug.ts";

/**
 * Page flags modelled, numbered in enum pageflags order (v6.18).
 * PG_anon_exclusive shares its bit with PG_owner_2 as in the kernel.
 */
export const PAGEFLAGS = {
  PG_locked: 0,
  PG_writeback: 1,
  PG_referenced: 2,
  PG_uptodate: 3,
  PG_dirty: 4,
  PG_lru: 5,
  PG_head: 6,
  PG_waiters: 7,
  PG_active: 8,
  PG_workingset: 9,
  PG_owner_priv_1: 10,
  PG_owner_2: 11,
  PG_arch_1: 12,
  PG_reserved: 13,
  PG_private: 14,
  PG_private_2: 15,
  PG_reclaim: 16,
  PG_swapbacked: 17,
  PG_unevictable: 18,
  PG_mlocked: 19,
  PG_hwpoison: 20,
  PG_anon_exclusive: 11,
} as const;
export type PageFlagName = keyof typeof PAGEFLAGS;

export const PG_locked = 1 << PAGEFLAGS.PG_locked;
export const PG_referenced = 1 << PAGEFLAGS.PG_referenced;
export const PG_uptodate = 1 << PAGEFLAGS.PG_uptodate;
export const PG_dirty = 1 << PAGEFLAGS.PG_dirty;
export const PG_lru = 1 << PAGEFLAGS.PG_lru;
export const PG_reserved = 1 << PAGEFLAGS.PG_reserved;
export const PG_swapbacked = 1 << PAGEFLAGS.PG_swapbacked;
export const PG_unevictable = 1 << PAGEFLAGS.PG_unevictable;
export const PG_mlocked = 1 << PAGEFLAGS.PG_mlocked;
export const PG_hwpoison = 1 << PAGEFLAGS.PG_hwpoison;
export const PG_head = 1 << PAGEFLAGS.PG_head;
export const PG_anon_exclusive = 1 << PAGEFLAGS.PG_anon_exclusive;
/**
 * The low bit of page->mapping that marks an anon_vma (PAGE_MAPPING_ANON).
 * The model keeps it as a flag beside the mapping id; it is not a PG_ bit.
 */
export const FOLIO_MAPPING_ANON = 1 << 31;

/** page_type values (include/linux/page-flags.h, enum pagetype). */
export const PGTY_none = 0;
export const PGTY_buddy = 0xf0;
export const PGTY_table = 0xf2;

/** Decodes a flags word into PG_ names. */
export function pageFlagNames(flags: number): string[] {
  const names: string[] = [];
  for (const [name, bit] of Object.entries(PAGEFLAGS)) {
    if (name === "PG_owner_2") continue;
    if (flags & (1 << bit)) names.push(name);
  }
  if (flags & FOLIO_MAPPING_ANON) names.push("PAGE_MAPPING_ANON");
  return names;
}

const INITIAL_PAGES = 1 << 12;

/** The contents of one page, kept outside the memmap (a swap slot's data). */
export interface PageContents {
  readonly fill: number;
  readonly xoff: number;
  readonly xval: number;
  readonly full: Uint8Array | undefined;
}

/**
 * The memmap: one row per page frame. `mapcount` is the number of PTEs
 * mapping the page (the kernel stores _mapcount offset by -1);
 * `mapping` indexes `Kernel.mappings` (an anon_vma or an address_space);
 * `index` is page->index (the page offset in its file or anon linear space).
 */
export class MemMap {
  /** Total page frames of simulated RAM. */
  readonly totalPages: number;
  /** Page frames handed out so far (the arrays cover 0..capacity-1). */
  private top = 0;
  private capacity = 0;
  flags = new Uint32Array(0);
  pageType = new Uint8Array(0);
  refcount = new Int32Array(0);
  mapcount = new Int32Array(0);
  mapping = new Int32Array(0);
  index = new Float64Array(0);
  /** folio_order() of a head page (0 for small folios and tail pages). */
  order = new Uint8Array(0);
  /**
   * compound_head() of a tail page; 0 for a head or small page (pfn 0 is
   * reserved at boot, so it is never a head).
   */
  compoundHead = new Int32Array(0);
  /**
   * folio->_entire_mapcount of a head page: how many PMDs map the whole
   * folio (the kernel stores it offset by -1).
   */
  entireMapcount = new Int32Array(0);
  // Page contents: fill byte, one exception (offset + 1, 0 = none) and its value.
  private fill = new Uint8Array(0);
  private xoff = new Uint16Array(0);
  private xval = new Uint8Array(0);
  private full = new Map<number, Uint8Array>();
  private freeList = new Int32Array(0);
  private nrFree = 0;
  /** Free, 2 MiB-aligned blocks of 512 frames (heads), kept whole for the next THP. */
  private freeHuge: number[] = [];
  /** Pages handed out and given back since boot (vmstat pgalloc_normal, pgfree). */
  allocs = 0;
  frees = 0;

  constructor(totalBytes: number) {
    if (!Number.isSafeInteger(totalBytes) || totalBytes < 64 * PAGE_SIZE) {
      throw new RangeError(`memory must be an integer of at least 256 KiB, got ${totalBytes}`);
    }
    this.totalPages = Math.floor(totalBytes / PAGE_SIZE);
    this.grow(Math.min(INITIAL_PAGES, this.totalPages));
  }

  /** Free page frames (nr_free_pages). */
  get nrFreePages(): number {
    return this.nrFree + this.freeHuge.length * 512 + (this.totalPages - this.top);
  }

  /** Page frames ever handed out: pfns 0..highestPfn-1 may be in use. */
  get highestPfn(): number {
    return this.top;
  }

  /**
   * alloc_page(): a zeroed page frame with refcount 1, or -1 when memory is
   * exhausted (the caller turns that into VM_FAULT_OOM or -ENOMEM).
   */
  allocPage(): number {
    let pfn: number;
    // The buddy allocator would split a free 2 MiB block: the model breaks
    // one up into single pages when it has no free single page left.
    if (this.nrFree === 0 && this.freeHuge.length > 0) {
      const head = this.freeHuge.pop()!;
      for (let i = 511; i >= 0; i--) this.pushFree(head + i);
    }
    if (this.nrFree > 0) {
      pfn = this.freeList[--this.nrFree];
    } else {
      if (this.top >= this.totalPages) return -1;
      if (this.top >= this.capacity) {
        this.grow(Math.min(Math.ceil(this.capacity * 1.25), this.totalPages));
      }
      pfn = this.top++;
    }
    this.allocs++;
    this.pageType[pfn] = PGTY_none;
    this.flags[pfn] = 0;
    this.refcount[pfn] = 1;
    this.mapcount[pfn] = 0;
    this.mapping[pfn] = 0;
    this.index[pfn] = 0;
    return pfn;
  }

  /** free_unref_page(): back to the free list; the page must be unreferenced. */
  freePage(pfn: number): void {
    if (this.refcount[pfn] !== 0 || this.mapcount[pfn] !== 0) {
      throw new VmBugError("free page in use", "freeing a page still referenced", {
        pfn,
        refcount: this.refcount[pfn],
        mapcount: this.mapcount[pfn],
      });
    }
    this.releasePage(pfn);
    this.pushFree(pfn);
  }

  /** The page-level part of freeing: contents, type, flags, mapping; no free list. */
  private releasePage(pfn: number): void {
    this.frees++;
    this.clearPage(pfn);
    this.pageType[pfn] = PGTY_buddy;
    this.flags[pfn] = 0;
    this.mapping[pfn] = 0;
  }

  /**
   * folio_alloc(order) for a PMD-sized folio (order 9): 2^order page frames
   * aligned to their size, the head with refcount 1 and PG_head, the tails
   * pointing at it. Returns the head pfn or -1. The model reuses a whole
   * freed 2 MiB block if it has one, else takes the frames from the
   * never-used top of memory, putting the frames skipped for alignment on
   * the free list (it never gathers free single pages into a block).
   */
  allocFolio(order: number): number {
    if (order === 0) return this.allocPage();
    const nr = 2 ** order;
    if (nr === 512 && this.freeHuge.length > 0) return this.prepFolio(this.freeHuge.pop()!, order);
    if (nr < 512) {
      const reused = this.takeFreeBlock(nr);
      if (reused >= 0) return this.prepFolio(reused, order);
    }
    const head = Math.ceil(this.top / nr) * nr;
    if (head + nr > this.totalPages) return -1;
    while (this.capacity < head + nr) {
      this.grow(Math.min(Math.ceil(this.capacity * 1.25) + nr, this.totalPages));
    }
    while (this.top < head) {
      const pfn = this.top++;
      this.pageType[pfn] = PGTY_buddy;
      this.pushFree(pfn);
    }
    this.top = head + nr;
    return this.prepFolio(head, order);
  }

  /**
   * A block of `nr` (< 512) free frames aligned to its size, taken off the
   * free list, or -1: what the buddy allocator's merging would have made of
   * single pages freed side by side (the pages of an mTHP that was split
   * and unmapped, say). The newest free pages are looked at first.
   */
  private takeFreeBlock(nr: number): number {
    for (let k = this.nrFree - 1; k >= 0; k--) {
      const head = this.freeList[k] - (this.freeList[k] % nr);
      if (head + nr > this.top) continue;
      let free = true;
      for (let pfn = head; pfn < head + nr && free; pfn++) {
        free = this.pageType[pfn] === PGTY_buddy;
      }
      if (!free) continue;
      // Every free frame below `top` outside freeHuge's whole blocks is on
      // the free list, and the block lies in the 512-frame block of a page
      // that is: take its frames off the list.
      let n = 0;
      for (let j = 0; j < this.nrFree; j++) {
        const pfn = this.freeList[j];
        if (pfn < head || pfn >= head + nr) this.freeList[n++] = pfn;
      }
      if (n !== this.nrFree - nr) {
        throw new VmBugError("free list", "a free block's frames are not all on the free list", {
          head,
          nr,
        });
      }
      this.nrFree = n;
      return head;
    }
    return -1;
  }

  /** prep_compound_page(): the head and tails of a new folio at `head`. */
  private prepFolio(head: number, order: number): number {
    const nr = 2 ** order;
    for (let pfn = head; pfn < head + nr; pfn++) {
      this.allocs++;
      this.pageType[pfn] = PGTY_none;
      this.flags[pfn] = 0;
      this.refcount[pfn] = 0;
      this.mapcount[pfn] = 0;
      this.mapping[pfn] = 0;
      this.index[pfn] = 0;
      this.compoundHead[pfn] = pfn === head ? 0 : head;
      this.clearPage(pfn);
    }
    this.flags[head] = PG_head;
    this.order[head] = order;
    this.entireMapcount[head] = 0;
    this.refcount[head] = 1;
    return head;
  }

  /** folio_nr_pages(). */
  folioNrPages(head: number): number {
    return 2 ** this.order[head];
  }

  /** page_folio(): the head pfn of the folio holding `pfn`. */
  pageFolio(pfn: number): number {
    return this.compoundHead[pfn] || pfn;
  }

  /**
   * The page-level half of __split_folio_to_order(..., 0): every tail
   * becomes a small folio with the head's flags (but PG_head), mapping and
   * consecutive index. Refcounts and mapcounts are the caller's to set.
   */
  splitFolioPages(head: number): void {
    const nr = this.folioNrPages(head);
    const f = this.flags[head] & ~PG_head;
    for (let i = 1; i < nr; i++) {
      const pfn = head + i;
      this.compoundHead[pfn] = 0;
      this.flags[pfn] = (f & ~PG_anon_exclusive) | (this.flags[pfn] & PG_anon_exclusive);
      this.mapping[pfn] = this.mapping[head];
      this.index[pfn] = this.index[head] + i;
    }
    this.flags[head] = f | (this.flags[head] & PG_anon_exclusive);
    this.order[head] = 0;
    this.entireMapcount[head] = 0;
  }

  private pushFree(pfn: number): void {
    if (this.nrFree >= this.freeList.length) {
      const bigger = new Int32Array(Math.max(1024, this.freeList.length * 2));
      bigger.set(this.freeList);
      this.freeList = bigger;
    }
    this.freeList[this.nrFree++] = pfn;
  }

  /** Frees every page of an unreferenced large folio (free_frozen_pages() of its order). */
  private freeFolio(head: number): void {
    const nr = this.folioNrPages(head);
    if (this.entireMapcount[head] !== 0) {
      throw new VmBugError("free page in use", "freeing a large folio still mapped", {
        pfn: head,
        entireMapcount: this.entireMapcount[head],
      });
    }
    this.order[head] = 0;
    for (let pfn = head; pfn < head + nr; pfn++) {
      this.compoundHead[pfn] = 0;
      this.releasePage(pfn);
    }
    // Kept whole (as the buddy allocator merges buddies back), so that the
    // next THP can reuse the block.
    if (nr === 512) this.freeHuge.push(head);
    else for (let pfn = head; pfn < head + nr; pfn++) this.pushFree(pfn);
  }

  /** Whether a pfn is free (in the buddy allocator). */
  isFree(pfn: number): boolean {
    return pfn >= this.top || this.pageType[pfn] === PGTY_buddy;
  }

  /**
   * folio_put(): drop a reference; frees the page (or the whole large
   * folio, given its head) when it was the last.
   */
  put(pfn: number): void {
    const r = --this.refcount[pfn];
    if (r === 0 && this.order[pfn]) this.freeFolio(pfn);
    else if (r === 0) this.freePage(pfn);
    else if (r < 0) {
      throw new VmBugError("refcount underflow", "folio_put() on a free page", { pfn });
    }
  }

  // --- contents -------------------------------------------------------------

  /** clear_page(). */
  clearPage(pfn: number): void {
    this.fill[pfn] = 0;
    this.xoff[pfn] = 0;
    if (this.full.size) this.full.delete(pfn);
  }

  /** copy_highpage(). */
  copyPage(dst: number, src: number): void {
    const buf = this.full.get(src);
    if (buf) this.full.set(dst, buf.slice());
    else this.full.delete(dst);
    this.fill[dst] = this.fill[src];
    this.xoff[dst] = this.xoff[src];
    this.xval[dst] = this.xval[src];
  }

  readByte(pfn: number, offset: number): number {
    if (this.full.size) {
      const buf = this.full.get(pfn);
      if (buf) return buf[offset];
    }
    return this.xoff[pfn] === offset + 1 ? this.xval[pfn] : this.fill[pfn];
  }

  writeByte(pfn: number, offset: number, value: number): void {
    const x = this.xoff[pfn];
    if (x === 0) {
      if (this.full.size && this.full.has(pfn)) {
        this.full.get(pfn)![offset] = value;
      } else if (value !== this.fill[pfn]) {
        this.xoff[pfn] = offset + 1;
        this.xval[pfn] = value;
      }
    } else if (x === offset + 1) {
      this.xval[pfn] = value;
    } else {
      const buf = new Uint8Array(PAGE_SIZE).fill(this.fill[pfn]);
      buf[x - 1] = this.xval[pfn];
      buf[offset] = value;
      this.full.set(pfn, buf);
      this.xoff[pfn] = 0;
    }
  }

  /** What a page holds, as swap writeout stores it (swap_writepage()). */
  saveContents(pfn: number): PageContents {
    const buf = this.full.get(pfn);
    return { fill: this.fill[pfn], xoff: this.xoff[pfn], xval: this.xval[pfn], full: buf?.slice() };
  }

  /** Puts back what saveContents() returned (swap_read_folio()). */
  restoreContents(pfn: number, c: PageContents): void {
    this.fill[pfn] = c.fill;
    this.xoff[pfn] = c.xoff;
    this.xval[pfn] = c.xval;
    if (c.full) this.full.set(pfn, c.full.slice());
    else this.full.delete(pfn);
  }

  /** Fills a whole page with one byte value. */
  fillPage(pfn: number, value: number): void {
    this.full.delete(pfn);
    this.fill[pfn] = value;
    this.xoff[pfn] = 0;
  }

  /** Whether the page holds only zero bytes. */
  isZeroFilled(pfn: number): boolean {
    const buf = this.full.get(pfn);
    if (buf) return buf.every((v) => v === 0);
    return this.fill[pfn] === 0 && (this.xoff[pfn] === 0 || this.xval[pfn] === 0);
  }

  private grow(newCapacity: number): void {
    const n = Math.max(newCapacity, this.capacity + 1);
    const g = <T extends Uint8Array | Uint16Array | Uint32Array | Int32Array | Float64Array>(
      a: T,
      make: (n: number) => T,
    ): T => {
      const b = make(n);
      b.set(a as never);
      return b;
    };
    this.flags = g(this.flags, (n) => new Uint32Array(n));
    this.pageType = g(this.pageType, (n) => new Uint8Array(n).fill(PGTY_buddy));
    this.refcount = g(this.refcount, (n) => new Int32Array(n));
    this.mapcount = g(this.mapcount, (n) => new Int32Array(n));
    this.mapping = g(this.mapping, (n) => new Int32Array(n));
    this.index = g(this.index, (n) => new Float64Array(n));
    this.order = g(this.order, (n) => new Uint8Array(n));
    this.compoundHead = g(this.compoundHead, (n) => new Int32Array(n));
    this.entireMapcount = g(this.entireMapcount, (n) => new Int32Array(n));
    this.fill = g(this.fill, (n) => new Uint8Array(n));
    this.xoff = g(this.xoff, (n) => new Uint16Array(n));
    this.xval = g(this.xval, (n) => new Uint8Array(n));
    this.capacity = n;
  }
}
