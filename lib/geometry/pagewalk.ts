/**
 * Two page-table walkers over the same tables.
 *
 * {@linkcode walkPageRange} is mm/pagewalk.c as of v6.10: a hugetlb VMA is
 * walked by `walk_hugetlb_range()`, which looks every huge page up with
 * `hugetlb_walk()` (`huge_pte_offset()`) and hands it to the
 * `hugetlb_entry()` callback as a `pte_t` whatever level it really lives at
 * ("everything is a PTE"); other VMAs go down `walk_pgd_range()` …
 * `walk_pte_range()` with `pmd_entry()`/`pte_entry()`, and every level checks
 * `is_hugepd()` first and diverts to `walk_hugepd_range()`.
 *
 * {@linkcode forEachPtLeaf} is the generic walk Jason Gunthorpe sketched in
 * "mm/gup: Unify hugetlb, part 2" (003_04fde8f735f91402.txt): one loop over
 * leaves, whatever their level, with a walk state ({@linkcode MmWalkState})
 * that keeps the level and back pointers to the tables above, `pXd_leaf()`
 * tested at every level and a contiguous block (arm64 `PTE_CONT`, powerpc
 * replicated entries, 8xx 8M cells) recognised from the leaf's size and
 * skipped as a whole. It has a hugepd branch only for the ≤ v6.10 layout;
 * without hugepd it has no special case at all.
 *
 * Both count their cost in a {@linkcode Costs}.
 * @module
 */
import { type Geometry, type LevelName, levelSize, representation } from "./geometry.ts";
import {
  childLevel,
  type Costs,
  type Entry,
  type GeoMm,
  hugepteIndex,
  hugePteOffset,
  hugePtepGet,
  indexAt,
  isVmHugetlbPage,
  type LeafEntry,
  newCosts,
  type PageTable,
} from "./hugetlb.ts";

/** One mapped page as a walker reports it: the page's first address, its
 * size, its first frame, and whether it is writable. */
export interface Leaf {
  addr: number;
  size: number;
  pfn: number;
  write: boolean;
}

/** The callbacks of struct mm_walk_ops (v6.10) that the model uses. */
export interface MmWalkOps {
  /** A PTE (also a hugepte met through `walk_hugepd_range()`). */
  pteEntry?: (pte: LeafEntry, addr: number, next: number) => void;
  /** A PMD leaf (THP). */
  pmdEntry?: (pmd: LeafEntry, addr: number, next: number) => void;
  /** A PUD leaf. */
  pudEntry?: (pud: LeafEntry, addr: number, next: number) => void;
  /** A huge page of a hugetlb VMA, as a "PTE" of any level; `hmask` = ~(size - 1). */
  hugetlbEntry?: (pte: LeafEntry, hmask: number, addr: number, next: number) => void;
}

/** Normalises a leaf seen at `addr` to its page's first address and frame.
 * `span` is what the entry read covers (a contiguous block or an 8xx 8M page
 * has one entry per span, each with its own frame); by default the whole
 * page, as for a hugepte or the first entry `huge_pte_offset()` returns. */
function leafAt(e: LeafEntry, addr: number, span = e.size): Leaf {
  const base = addr - (addr % e.size);
  const slot = addr - (addr % span);
  return { addr: base, size: e.size, pfn: e.pfn - (slot - base) / 4096, write: e.write };
}

/**
 * walk_page_range() as in v6.10 (mm/pagewalk.c): VMA by VMA over
 * [start, end). A hugetlb VMA without `hugetlbEntry` is skipped, as there.
 */
export function walkPageRange(
  mm: GeoMm,
  start: number,
  end: number,
  ops: MmWalkOps,
  c: Costs = newCosts(),
): Costs {
  for (const vma of mm.vmas) {
    const s = Math.max(start, vma.start);
    const e = Math.min(end, vma.end);
    if (s >= e) continue;
    if (isVmHugetlbPage(vma)) {
      if (ops.hugetlbEntry) walkHugetlbRange(mm, vma.pageSize, s, e, ops, c);
    } else {
      walkLevel(mm, mm.pgd, mm.g.levels[0].level, s, e, ops, c);
    }
  }
  return c;
}

/**
 * walk_hugetlb_range(): one `hugetlb_walk()` from the top per huge page, the
 * entry read with `huge_ptep_get()` (which on arm64 reads every entry of a
 * contiguous block to gather dirty and young), then `hugetlb_entry()`. The
 * hugetlb VMA lock is taken once for the range.
 */
function walkHugetlbRange(
  mm: GeoMm,
  size: number,
  start: number,
  end: number,
  ops: MmWalkOps,
  c: Costs,
): void {
  const g = mm.g;
  const r = representation(g, size);
  c.locks++; // hugetlb_vma_lock_read()
  for (let addr = start; addr < end;) {
    const next = Math.min(addr - (addr % size) + size, end);
    const ptep = hugePteOffset(mm, addr, size, c);
    if (ptep !== null) {
      const e = hugePtepGet(ptep, c);
      if (g.platform === "arm64_4k" && r.replicas > 1) c.entries += r.replicas - 1;
      if (e?.type === "leaf") ops.hugetlbEntry!(e, -size, addr, next);
    }
    addr = next;
  }
}

/** walk_pgd_range() … walk_pte_range() for a non-hugetlb VMA, with the
 * `is_hugepd()` test at every directory level. */
function walkLevel(
  mm: GeoMm,
  table: PageTable,
  level: LevelName,
  start: number,
  end: number,
  ops: MmWalkOps,
  c: Costs,
): void {
  const g = mm.g;
  const span = levelSize(g, level);
  c.tables++;
  if (level === "pte") c.locks++; // pte_offset_map_lock()
  for (let addr = start; addr < end;) {
    const next = Math.min(addr - (addr % span) + span, end);
    c.entries++;
    const e = table.entries.get(indexAt(g, level, addr));
    if (e !== undefined) {
      if (e.type === "hugepd") {
        c.hugepdCases++;
        walkHugepdRange(mm, e, level, addr, next, ops, c);
      } else if (e.type === "leaf") {
        if (level === "pte") ops.pteEntry?.(e, addr, next);
        else if (level === "pmd") {
          c.locks++; // pmd_trans_huge_lock() in the pmd_entry callback
          ops.pmdEntry?.(e, addr, next);
        } else ops.pudEntry?.(e, addr, next);
      } else {
        walkLevel(mm, e.table, childLevel(g, level)!, addr, next, ops, c);
      }
    }
    addr = next;
  }
}

/** walk_hugepd_range(): every hugepte under the hugepd, as a PTE, under
 * mm->page_table_lock. */
function walkHugepdRange(
  mm: GeoMm,
  hpd: Extract<Entry, { type: "hugepd" }>,
  level: LevelName,
  start: number,
  end: number,
  ops: MmWalkOps,
  c: Costs,
): void {
  const pdshift = Math.log2(levelSize(mm.g, level));
  const sz = 2 ** hpd.shift;
  c.tables++;
  c.locks++;
  for (let addr = start; addr < end;) {
    const next = Math.min(addr - (addr % sz) + sz, end);
    c.entries++;
    const e = hpd.table.entries.get(hugepteIndex(hpd, addr, pdshift));
    if (e?.type === "leaf") ops.pteEntry?.(e, addr, next);
    addr = next;
  }
}

/** The leaves reported by the legacy walker over [start, end): every callback
 * reports what it is given. */
export function legacyLeaves(mm: GeoMm, start: number, end: number, c = newCosts()): Leaf[] {
  const out: Leaf[] = [];
  const push = (e: LeafEntry, addr: number) => {
    const l = leafAt(e, addr);
    // A replicated PTE or hugepte seen again for the same page is the same page.
    const last = out.at(-1);
    if (last === undefined || last.addr !== l.addr || last.size !== l.size) out.push(l);
  };
  walkPageRange(mm, start, end, {
    pteEntry: (e, addr) => push(e, addr),
    pmdEntry: (e, addr) => push(e, addr),
    pudEntry: (e, addr) => push(e, addr),
    hugetlbEntry: (e, _hmask, addr) => push(e, addr),
  }, c);
  return out;
}

// --- the generic walk ----------------------------------------------------------------

/** The level-independent walk state (Jason's `struct mm_walk_state`): the
 * current level and entry, and back pointers to the tables above. */
export interface MmWalkState {
  level: LevelName | "hugepd";
  addr: number;
  entry: Entry;
  /** The tables from the pgd down to the current one, with the index used in each. */
  path: { level: LevelName | "hugepd"; table: PageTable; index: number }[];
}

/**
 * for_each_pt_leaf(): yields each leaf in [start, end) once, with the state
 * it was found in. `pXd_leaf()` at every level; a leaf whose size is larger
 * than its entry's span is a contiguous block (or, on 8xx, an 8M page whose
 * cells fill two PTE tables), reported once and skipped to its end, which
 * may leave the current table and the next ones above unread.
 */
export function* forEachPtLeaf(
  mm: GeoMm,
  start: number,
  end: number,
  c: Costs = newCosts(),
): Generator<[Leaf, MmWalkState]> {
  const g = mm.g;
  const path: MmWalkState["path"] = [];
  function* walk(table: PageTable, level: LevelName, s: number, e: number): Generator<
    [Leaf, MmWalkState],
    number
  > {
    const span = levelSize(g, level);
    c.tables++;
    if (level === "pte") c.locks++; // one PTE table lock per table visited
    let addr = s;
    while (addr < e) {
      const next = Math.min(addr - (addr % span) + span, e);
      const index = indexAt(g, level, addr);
      c.entries++;
      const entry = table.entries.get(index);
      if (entry === undefined) {
        addr = next;
        continue;
      }
      path.push({ level, table, index });
      if (entry.type === "leaf") {
        if (level !== "pte") c.locks++; // pmd_lock()/pud_lock() for a huge leaf
        const leaf = leafAt(entry, addr, span);
        yield [leaf, { level, addr, entry, path: [...path] }];
        addr = leaf.addr + leaf.size; // skip the rest of a contiguous block
      } else if (entry.type === "hugepd") {
        // is_hugepd(): the one special case left, with its own loop over hugeptes.
        c.hugepdCases++;
        const pdshift = Math.log2(span);
        const sz = 2 ** entry.shift;
        c.tables++;
        c.locks++;
        for (let a = addr; a < next;) {
          c.entries++;
          const hi = hugepteIndex(entry, a, pdshift);
          const hp = entry.table.entries.get(hi);
          const base = a - (a % sz);
          if (hp?.type === "leaf") {
            path.push({ level: "hugepd", table: entry.table, index: hi });
            yield [leafAt(hp, a), { level: "hugepd", addr: a, entry: hp, path: [...path] }];
            path.pop();
          }
          a = base + sz;
          addr = a;
        }
      } else {
        addr = yield* walk(entry.table, childLevel(g, level)!, addr, next);
      }
      path.pop();
      if (addr < next) addr = next;
    }
    return addr;
  }
  for (const vma of mm.vmas) {
    const s = Math.max(start, vma.start);
    const e = Math.min(end, vma.end);
    if (s < e) yield* walk(mm.pgd, g.levels[0].level, s, e);
  }
}

/** The leaves the generic walker reports over [start, end). */
export function genericLeaves(mm: GeoMm, start: number, end: number, c = newCosts()): Leaf[] {
  return [...forEachPtLeaf(mm, start, end, c)].map(([leaf]) => leaf);
}

/**
 * mm_walk_seek_leaf(): the leaf mapping `addr`, walked from the top with the
 * generic rules, or null. The single step the lesson's exercise asks for.
 */
export function mmWalkSeekLeaf(
  mm: GeoMm,
  addr: number,
  c = newCosts(),
): [Leaf, MmWalkState] | null {
  const it = forEachPtLeaf(mm, addr, addr + 1, c).next();
  return it.done ? null : it.value;
}

/** What the two walkers cost on the same range, for tables and plots. */
export function walkCosts(
  mm: GeoMm,
  start: number,
  end: number,
): { legacy: Costs; generic: Costs } {
  const legacy = newCosts();
  const generic = newCosts();
  legacyLeaves(mm, start, end, legacy);
  genericLeaves(mm, start, end, generic);
  return { legacy, generic };
}

export type { Geometry };
