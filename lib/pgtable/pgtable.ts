/**
 * Page-table pages and their slots (include/linux/pgtable.h, mm.h's ptdesc
 * helpers, arch/x86/include/asm/pgalloc.h), x86-64 with 4-level paging:
 * pgd → (p4d, folded into the pgd) → pud → pmd → pte, 512 entries a level.
 *
 * Each table is a simulated page frame (PGTY_table in the memmap) and owns
 * a Uint32Array of 1024 words: entry i is words 2i (bits 0-31) and 2i+1
 * (bits 32-63). Upper-level tables also keep direct references to their
 * child tables; check() verifies that each reference agrees with the pfn
 * in the entry, so the shortcut cannot drift from what the kernel encodes.
 *
 * Locks (the kernel's, CONFIG_SPLIT_PTE_PTLOCKS and split PMD ptlocks):
 * each PTE table has its own spinlock (ptlock_ptr), each PMD table its own
 * (pmd_lockptr); pud and pgd entries are populated under
 * mm->page_table_lock.
 * @module
 */
import { SpinLock } from "../kernel/locking.ts";
import { _PAGE_PRESENT, _PAGE_PROTNONE, _PAGE_TABLE } from "../arch/x86/pgtable_types.ts";
import { type Pte, pteFromHalves, pteToHalves } from "../arch/x86/pgtable.ts";

export type Level = "pgd" | "pud" | "pmd" | "pte";
export const LEVELS: readonly Level[] = ["pgd", "pud", "pmd", "pte"];
/** Address shift of each level's index (p4d is folded: same as pgd). */
export const LEVEL_SHIFT: Readonly<Record<Level, number>> = { pgd: 39, pud: 30, pmd: 21, pte: 12 };
export const ENTRIES = 512;

/** A page-table page (struct ptdesc) with its entries. */
export class PageTable {
  /** 512 entries as 1024 32-bit words (lo, hi). */
  readonly e = new Uint32Array(ENTRIES * 2);
  /** Child tables of an upper-level table (null for PTE tables). */
  readonly children: (PageTable | null)[] | null;
  /** ptdesc->ptl for PTE and PMD tables; null above (mm->page_table_lock). */
  readonly ptl: SpinLock | null;
  /** Non-none entries: model bookkeeping for fast emptiness tests. */
  nr = 0;
  /** Set once the table is freed (a use after free is an invariant break). */
  freed = false;
  /**
   * A PMD table's deposited PTE tables, by slot (pmd_huge_pte(): the
   * reserve each anonymous huge PMD keeps for its split; see
   * lib/mm/huge_memory.ts). Empty elsewhere.
   */
  readonly deposited = new Map<number, PageTable>();

  constructor(readonly pfn: number, readonly level: Level) {
    this.children = level === "pte" ? null : new Array<PageTable | null>(ENTRIES).fill(null);
    this.ptl = level === "pte" || level === "pmd" ? new SpinLock(`${level} ptl@pfn${pfn}`) : null;
  }

  /** The entry at `i` as a 64-bit value. */
  get(i: number): Pte {
    return pteFromHalves(this.e[2 * i], this.e[2 * i + 1]);
  }

  /** set_pte()/set_pmd(): store a value, keeping the non-none count. */
  set(i: number, pte: Pte): void {
    const [lo, hi] = pteToHalves(pte);
    this.setHalves(i, lo, hi);
  }

  setHalves(i: number, lo: number, hi: number): void {
    const wasNone = this.e[2 * i] === 0 && this.e[2 * i + 1] === 0;
    const isNone = lo === 0 && hi === 0;
    this.e[2 * i] = lo;
    this.e[2 * i + 1] = hi;
    if (wasNone && !isNone) this.nr++;
    else if (!wasNone && isNone) this.nr--;
  }

  isNone(i: number): boolean {
    return this.e[2 * i] === 0 && this.e[2 * i + 1] === 0;
  }

  isPresent(i: number): boolean {
    return (this.e[2 * i] & (_PAGE_PRESENT | _PAGE_PROTNONE)) !== 0;
  }
}

/** pfn of a value's bits 12-51, from its halves. */
export function halvesPfn(lo: number, hi: number): number {
  return (hi & 0xfffff) * 0x100000 + (lo >>> 12);
}

/** Low half of pfn << 12. */
export function pfnLo(pfn: number): number {
  return ((pfn & 0xfffff) << 12) >>> 0;
}

/** High half of pfn << 12 (bits 32-51). */
export function pfnHi(pfn: number): number {
  return Math.floor(pfn / 0x100000) & 0xfffff;
}

/** The entry an upper level stores to point at `child` (pmd_populate & co). */
export function tableEntryHalves(child: PageTable): [number, number] {
  return [(pfnLo(child.pfn) | _PAGE_TABLE) >>> 0, pfnHi(child.pfn)];
}

/** Index of `addr` at `level` (pgd_index(), pud_index(), pmd_index(), pte_index()). */
export function levelIndex(addr: number, level: Level): number {
  return Math.floor(addr / 2 ** LEVEL_SHIFT[level]) % ENTRIES;
}
