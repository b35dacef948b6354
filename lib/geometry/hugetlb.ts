/**
 * hugetlb on every geometry: page tables built from {@linkcode Geometry}
 * data, hugetlbfs files, VMAs, folios, the hugetlb fault
 * (`hugetlb_fault()`, `hugetlb_no_page()`, `hugetlb_wp()` in mm/hugetlb.c),
 * `huge_pte_alloc()` / `huge_pte_offset()` / `set_huge_pte_at()` as each
 * architecture implements them, PMD-mapped THP where the platform has it,
 * and fork of a private hugetlb mapping (`copy_hugetlb_page_range()`).
 *
 * Entries are structured values rather than raw bits: a leaf records its
 * frame, its write/dirty state, the size of the page it belongs to and the
 * names of the bits that encode that size on the platform (`PTE_CONT`,
 * `_PAGE_SPS`, `_PAGE_HUGE`, `_PMD_PAGE_8M`, e500 `_PAGE_PSIZE_MSK`, …). On
 * book3s64 hash the kernel takes a contiguous entry's size from the VMA's
 * hstate; the model keeps it in the entry for every platform.
 *
 * Cost counters ({@linkcode Costs}) count what a walk touches: entries read,
 * tables visited, lock round-trips (one lock + unlock of a page-table lock or
 * of `mm->page_table_lock`), and the hugepd special cases taken.
 *
 * Simplifications: one CPU, no TLB, no reservations or hugetlb pool limits,
 * no munmap (tables are never freed), page contents are one number per
 * folio, hugetlb VMA sharing of PMD tables is not modelled.
 * @module
 */
import {
  type Geometry,
  type LevelName,
  levelSize,
  levelSpec,
  type Representation,
  representation,
  sizeName,
} from "./geometry.ts";
import { FAULT_FLAG_UNSHARE, FAULT_FLAG_WRITE, VM_FAULT_SIGSEGV } from "../mm/memory.ts";
import { VM_HUGETLB, VM_MAYSHARE, VM_READ, VM_SHARED, VM_WRITE } from "../mm/mm_types.ts";

/** A leaf entry: a PTE, a leaf PMD/PUD, or a hugepte in a hugepd table. */
export interface LeafEntry {
  type: "leaf";
  /** Frame mapped by this entry (the folio's first frame plus this entry's offset). */
  pfn: number;
  /** Size of the page this entry belongs to (`pte_leaf_size()`, `huge_page_size()`). */
  size: number;
  write: boolean;
  dirty: boolean;
  /** Names of the bits or fields set in the entry besides present/write/dirty. */
  flags: readonly string[];
}

/** A non-leaf entry pointing to the next level's table. */
export interface TableEntry {
  type: "table";
  table: PageTable;
  /** Bits set in the directory entry (8xx `_PMD_PAGE_8M`). */
  flags: readonly string[];
}

/** A hugepd directory entry (`hugepd_t`, ≤ v6.10): a pointer to a hugepte
 * table and the shift of the pages in it (`hugepd_shift()`). */
export interface HugepdEntry {
  type: "hugepd";
  table: PageTable;
  shift: number;
}

export type Entry = LeafEntry | TableEntry | HugepdEntry;

let nextTableId = 1;

/** A page table (or a hugepte table) with its entries by index. */
export class PageTable {
  readonly id = nextTableId++;
  readonly entries = new Map<number, Entry>();

  constructor(
    /** The level of its entries; "hugepd" for a hugepte table. */
    readonly level: LevelName | "hugepd",
    readonly nrEntries: number,
    readonly entryBytes: number,
  ) {}

  get bytes(): number {
    return this.nrEntries * this.entryBytes;
  }
}

/** What a walk costs. */
export interface Costs {
  /** Entries read (every level, every replica looked at). */
  entries: number;
  /** Tables whose entries were read. */
  tables: number;
  /** Lock round-trips: page-table locks and mm->page_table_lock. */
  locks: number;
  /** Branches taken only because of hugepd (is_hugepd(), the hugepd walkers). */
  hugepdCases: number;
}

export function newCosts(): Costs {
  return { entries: 0, tables: 0, locks: 0, hugepdCases: 0 };
}

/** A folio (struct folio): a huge page, a THP or a 4K page. */
export interface Folio {
  readonly id: number;
  readonly pfn: number;
  /** Bytes. */
  readonly size: number;
  readonly hugetlb: boolean;
  anon: boolean;
  /** PageAnonExclusive (on the head page for hugetlb). */
  anonExclusive: boolean;
  refcount: number;
  /** Pins taken with FOLL_PIN (folio_maybe_dma_pinned()). */
  pincount: number;
  mapcount: number;
  /** The page cache file and index, for a file folio. */
  mapping: HugetlbFile | null;
  /** The data, one number standing for the folio's contents. */
  data: number;
}

/** A hugetlbfs file (or memfd with MFD_HUGETLB): its page cache. */
export class HugetlbFile {
  readonly pages = new Map<number, Folio>();
  constructor(readonly name: string, readonly hugeSize: number) {}
}

/** vm_flags bits used here (include/linux/mm.h), as lib/mm defines them. */
export { VM_HUGETLB, VM_MAYSHARE, VM_READ, VM_SHARED, VM_WRITE };

/** A VMA (struct vm_area_struct), reduced to what hugetlb and GUP look at. */
export interface Vma {
  start: number;
  end: number;
  vmFlags: number;
  /** hstate size for a hugetlb VMA, else the base page size. */
  pageSize: number;
  file: HugetlbFile | null;
  /** Offset in the file, in bytes. */
  fileOffset: number;
  /** THP: anonymous faults in this VMA map PMD-sized folios. */
  thp: boolean;
}

/** is_vm_hugetlb_page() */
export function isVmHugetlbPage(vma: Vma): boolean {
  return (vma.vmFlags & VM_HUGETLB) !== 0;
}

/** is_cow_mapping(): private and may be written. */
export function isCowMapping(vmFlags: number): boolean {
  return (vmFlags & (VM_SHARED | VM_MAYSHARE)) === 0 && (vmFlags & VM_WRITE) !== 0;
}

/** Options of {@linkcode GeoMm.mmap}. */
export interface MmapOptions {
  len: number;
  /** PROT_WRITE: VM_WRITE. Reading is always allowed. */
  write: boolean;
  shared: boolean;
  /** A hugetlbfs file (hugetlb VMA of the file's page size). */
  file?: HugetlbFile;
  /** MAP_HUGETLB for an anonymous mapping: the hstate size. */
  hugetlb?: number;
  /** MADV_HUGEPAGE on an anonymous mapping (THP where the platform has it). */
  thp?: boolean;
}

/** The vm_fault_t value and fault flags (include/linux/mm_types.h) the fault
 * model uses, as lib/mm defines them. */
export { FAULT_FLAG_UNSHARE, FAULT_FLAG_WRITE, VM_FAULT_SIGSEGV };

/** A location of a (huge) entry: the table and index `huge_pte_offset()` returns. */
export interface Ptep {
  table: PageTable;
  index: number;
  /** 8xx without hugepd: the "PTE" pointer of an 8M page is really its first PMD
   * entry (`ptep_is_8m_pmdp()`), and `huge_ptep_get()` must follow it. */
  pmdCast: boolean;
}

/**
 * An address space (struct mm_struct) on one geometry, with the machine's
 * memory (a frame allocator and folios) shared by forked children.
 */
export class GeoMm {
  readonly pgd: PageTable;
  readonly vmas: Vma[] = [];
  /** Every page table and hugepte table allocated for this mm. */
  readonly tables = new Set<PageTable>();
  private nextAddr: number;

  constructor(readonly g: Geometry, readonly memory: Memory = new Memory()) {
    const top = g.levels[0];
    this.pgd = this.allocTable(top.level, 2 ** top.bits, top.entryBytes);
    this.nextAddr = 0x10000; // mmap_min_addr
  }

  allocTable(level: LevelName | "hugepd", nr: number, entryBytes: number): PageTable {
    const t = new PageTable(level, nr, entryBytes);
    this.tables.add(t);
    return t;
  }

  /** Bytes of page tables (and hugepte tables) this mm holds. */
  get pgtableBytes(): number {
    let n = 0;
    for (const t of this.tables) n += t.bytes;
    return n;
  }

  /** mmap(): a new VMA aligned to its page size; returns its start. */
  mmap(o: MmapOptions): number {
    const hugeSize = o.file?.hugeSize ?? o.hugetlb ?? 0;
    if (hugeSize !== 0 && !this.g.hugeSizes.includes(hugeSize)) {
      throw new RangeError(`${this.g.name} has no ${sizeName(hugeSize)} hstate`);
    }
    const pageSize = hugeSize || 2 ** this.g.pageShift;
    if (o.len <= 0 || o.len % pageSize !== 0) {
      throw new RangeError(`mmap length ${o.len} is not a multiple of ${sizeName(pageSize)}`);
    }
    // A hugepd directory entry covers a whole region of one page size (on
    // powerpc the slice, or the PMD/PGD entry, holds one size only): such a
    // VMA gets that region to itself.
    let align = Math.max(pageSize, this.g.thpSize ?? 0);
    if (hugeSize !== 0) {
      const r = representation(this.g, hugeSize);
      if (r.kind === "hugepd") align = Math.max(align, levelSize(this.g, r.level));
    }
    const start = Math.ceil(this.nextAddr / align) * align;
    if (start + o.len > 2 ** this.g.vaBits) {
      throw new RangeError(`no room for ${sizeName(o.len)} in a ${this.g.vaBits}-bit space`);
    }
    this.nextAddr = Math.ceil((start + o.len) / align) * align;
    const file = o.file ?? (hugeSize ? new HugetlbFile("anon_hugepage", hugeSize) : null);
    let vmFlags = VM_READ | (o.write ? VM_WRITE : 0);
    if (o.shared) vmFlags |= VM_SHARED | VM_MAYSHARE;
    if (hugeSize) vmFlags |= VM_HUGETLB;
    this.vmas.push({
      start,
      end: start + o.len,
      vmFlags,
      pageSize,
      file,
      fileOffset: 0,
      thp: (o.thp ?? false) && this.g.thpSize !== null && !hugeSize,
    });
    return start;
  }

  /** find_vma(): the VMA containing `addr`, or null. */
  findVma(addr: number): Vma | null {
    return this.vmas.find((v) => v.start <= addr && addr < v.end) ?? null;
  }

  /** The representation of this VMA's huge pages. */
  representation(vma: Vma): Representation {
    return representation(this.g, vma.pageSize);
  }
}

/** Physical memory: a frame allocator (naturally aligned) and the folios. */
export class Memory {
  private nextPfn = 0x10000;
  private nextFolio = 1;
  readonly folios = new Map<number, Folio>();

  /** A new folio of `size` bytes; `data` is its initial content. */
  allocFolio(size: number, hugetlb: boolean, data = 0): Folio {
    const nr = size / 4096;
    const pfn = Math.ceil(this.nextPfn / nr) * nr;
    this.nextPfn = pfn + nr;
    const folio: Folio = {
      id: this.nextFolio++,
      pfn,
      size,
      hugetlb,
      anon: false,
      anonExclusive: false,
      refcount: 1,
      pincount: 0,
      mapcount: 0,
      mapping: null,
      data,
    };
    this.folios.set(pfn, folio);
    return folio;
  }

  /** page_folio(pfn_to_page(pfn)) */
  folioOf(pfn: number): Folio {
    for (const f of this.folios.values()) {
      if (f.pfn <= pfn && pfn < f.pfn + f.size / 4096) return f;
    }
    throw new RangeError(`pfn ${pfn.toString(16)} belongs to no folio`);
  }
}

// --- indexes ---------------------------------------------------------------------

/** Index of `addr` in a table at `level` (pgd_index(), pmd_index(), …). */
export function indexAt(g: Geometry, level: LevelName, addr: number): number {
  const s = levelSpec(g, level);
  return Math.floor(addr / 2 ** s.shift) % 2 ** s.bits;
}

/** hugepte_offset(): index of `addr` in the hugepte table of a hugepd at a level of
 * shift `pdshift`. A table for pages larger than the directory entry has one entry. */
export function hugepteIndex(hpd: HugepdEntry, addr: number, pdshift: number): number {
  if (hpd.shift >= pdshift) return 0;
  return Math.floor((addr % 2 ** pdshift) / 2 ** hpd.shift);
}

/** The level below `level`. */
export function childLevel(g: Geometry, level: LevelName): LevelName | null {
  const i = g.levels.findIndex((l) => l.level === level);
  return i >= 0 && i + 1 < g.levels.length ? g.levels[i + 1].level : null;
}

// --- allocation: huge_pte_alloc() ---------------------------------------------------

/** pXd_alloc()/pte_alloc(): the table below the entry at (`table`, `index`),
 * allocated if none; `flags` go into a new directory entry. */
function tableBelow(
  mm: GeoMm,
  table: PageTable,
  index: number,
  level: LevelName,
  flags: readonly string[] = [],
): PageTable {
  const e = table.entries.get(index);
  if (e?.type === "table") return e.table;
  if (e !== undefined) throw new Error(`${level} entry ${index} is not a table: ${e.type}`);
  const child = childLevel(mm.g, level)!;
  const s = levelSpec(mm.g, child);
  const t = mm.allocTable(child, 2 ** s.bits, s.entryBytes);
  table.entries.set(index, { type: "table", table: t, flags });
  return t;
}

/** Walks down from the pgd to the table at `level` covering `addr`, allocating. */
function allocDownTo(mm: GeoMm, addr: number, level: LevelName, flags: readonly string[] = []) {
  let table = mm.pgd;
  for (const l of mm.g.levels) {
    if (l.level === level) return table;
    const below = childLevel(mm.g, l.level)!;
    table = tableBelow(
      mm,
      table,
      indexAt(mm.g, l.level, addr),
      l.level,
      below === "pte" ? flags : [],
    );
  }
  throw new Error(`no ${level} level`);
}

/**
 * huge_pte_alloc(): the slots that will map the huge page at `addr`
 * (aligned down to its size), creating tables, hugepd tables and directory
 * entries as the architecture does. Returns every slot that
 * `set_huge_pte_at()` writes, first slot first.
 */
export function hugePteAlloc(mm: GeoMm, addr: number, size: number): Ptep[] {
  const g = mm.g;
  const r = representation(g, size);
  const base = addr - (addr % size);
  const slots: Ptep[] = [];
  switch (r.kind) {
    case "pte": {
      const t = allocDownTo(mm, base, "pte");
      const i0 = indexAt(g, "pte", base);
      for (let i = 0; i < r.replicas; i++) slots.push({ table: t, index: i0 + i, pmdCast: false });
      return slots;
    }
    case "leaf": {
      const t = allocDownTo(mm, base, r.level);
      const i0 = indexAt(g, r.level, base);
      for (let i = 0; i < r.replicas; i++) slots.push({ table: t, index: i0 + i, pmdCast: false });
      return slots;
    }
    case "pte-tables": {
      // 8xx 8M (v6.11): pte_alloc_huge() → pmd_populate_size() with _PMD_PAGE_8M on
      // both PMD entries, each to its own PTE table of 1024 cells.
      for (let half = 0; half < r.replicas; half++) {
        const a = base + half * levelSize(g, "pmd");
        const t = allocDownTo(mm, a, "pte", ["_PMD_PAGE_8M"]);
        for (let i = 0; i < r.ptesPerTable!; i++) {
          slots.push({ table: t, index: i, pmdCast: false });
        }
      }
      return slots;
    }
    case "hugepd": {
      // __hugepte_alloc(): one hugepte table, pointed to by `replicas` directory entries.
      const dir = allocDownTo(mm, base, r.level);
      const i0 = indexAt(g, r.level, base);
      const pdshift = levelSpec(g, r.level).shift;
      const existing = dir.entries.get(i0);
      let hpd: HugepdEntry;
      if (existing?.type === "hugepd") {
        hpd = existing;
      } else {
        const entryBytes = levelSpec(g, "pte").entryBytes;
        const t = mm.allocTable("hugepd", r.hugepdEntries!, entryBytes);
        hpd = { type: "hugepd", table: t, shift: Math.log2(size) };
        for (let i = 0; i < r.replicas; i++) dir.entries.set(i0 + i, hpd);
      }
      slots.push({ table: hpd.table, index: hugepteIndex(hpd, base, pdshift), pmdCast: false });
      return slots;
    }
  }
}

/** The entry value for frame `pfn` of a page of `size`, with the platform's size bits. */
export function makeHugePte(
  g: Geometry,
  pfn: number,
  size: number,
  write: boolean,
  dirty: boolean,
): LeafEntry {
  const r = representation(g, size);
  // 8xx: _PMD_PAGE_8M lives in the PMD entries; arch_make_huge_pte() drops
  // _PAGE_HUGE for 16K, pte_mkhuge() sets _PAGE_SPS | _PAGE_HUGE otherwise.
  const flags = r.sizeBits.filter((b) => b !== "_PMD_PAGE_8M");
  return { type: "leaf", pfn, size, write, dirty, flags };
}

/** set_huge_pte_at(): writes the page into every slot, advancing the frame by
 * what each slot covers (8xx `__set_huge_pte_at()`, e500 `set_huge_pte_at()`,
 * arm64 `set_huge_pte_at()` with `num_contig_ptes()`). */
export function setHugePteAt(mm: GeoMm, slots: Ptep[], e: LeafEntry): void {
  const r = representation(mm.g, e.size);
  const step = r.kind === "leaf" ? levelSize(mm.g, r.level) : r.kind === "hugepd" ? e.size : 4096;
  slots.forEach((s, i) => {
    s.table.entries.set(s.index, { ...e, pfn: e.pfn + (i * step) / 4096 });
  });
}

// --- lookup: huge_pte_offset() ------------------------------------------------------

/**
 * huge_pte_offset() (hugetlb_walk()): the slot of the huge page of `size`
 * covering `addr`, or null when a table on the way is missing. Counts each
 * entry read. On 8xx without hugepd an 8M page gives its first PMD entry,
 * flagged `pmdCast`: the pointer is a PMD, not a PTE (`ptep_is_8m_pmdp()`).
 */
export function hugePteOffset(mm: GeoMm, addr: number, size: number, c = newCosts()): Ptep | null {
  const g = mm.g;
  const r = representation(g, size);
  const base = addr - (addr % size);
  let table = mm.pgd;
  for (const l of g.levels) {
    const i = indexAt(g, l.level, base);
    c.tables++;
    if (r.kind === "pte-tables" && l.level === "pmd") {
      return { table, index: i, pmdCast: true };
    }
    if (r.kind !== "pte" && r.kind !== "pte-tables" && l.level === r.level) {
      if (r.kind === "hugepd") {
        c.entries++;
        const e = table.entries.get(i);
        if (e?.type !== "hugepd") return null;
        c.hugepdCases++;
        c.tables++;
        return { table: e.table, index: hugepteIndex(e, base, l.shift), pmdCast: false };
      }
      return { table, index: i, pmdCast: false };
    }
    if (l.level === "pte") return { table, index: i, pmdCast: false };
    c.entries++;
    const e = table.entries.get(i);
    if (e?.type !== "table") return null;
    table = e.table;
  }
  return null;
}

/** huge_ptep_get(mm, addr, ptep): the entry at a slot; an 8xx 8M PMD pointer is
 * followed to the first cell of its PTE table ("mm: Provide mm_struct and
 * address to huge_ptep_get()", v6.11). */
export function hugePtepGet(ptep: Ptep, c = newCosts()): Entry | undefined {
  c.entries++;
  const e = ptep.table.entries.get(ptep.index);
  if (ptep.pmdCast && e?.type === "table") {
    c.tables++;
    c.entries++;
    return e.table.entries.get(0);
  }
  return e;
}

/**
 * huge_pte_lockptr() (include/linux/hugetlb.h): which lock helper protects a
 * huge page's entries. v6.18: `pud_lockptr()` from PUD_SIZE up,
 * `pmd_lockptr()` from PMD_SIZE up, else `ptep_lockptr()` (the PTE table's
 * lock) — "hugetlb must use the exact same PT locks as core-mm page table
 * walkers would". v6.10 (the hugepd variant): `pmd_lockptr()` for exactly
 * PMD_SIZE, `mm->page_table_lock` for every other size. Whether a helper
 * gives a split lock or `mm->page_table_lock` depends on the configuration
 * (the 8xx is uniprocessor: no split locks at all); the model counts lock
 * round-trips, not which lock.
 */
export function hugePteLockName(g: Geometry, size: number): string {
  const pmdSize = levelSize(g, g.levels.at(-2)!.level);
  // PUD_SIZE: the PUD level's span, or with the PUD folded, that of the level above.
  const pudSize = g.levels.some((l) => l.level === "pud") ? levelSize(g, "pud") : pmdSize;
  if (g.hugepd) return size === pmdSize ? "pmd_lockptr" : "mm->page_table_lock";
  if (size >= pudSize) return "pud_lockptr";
  if (size >= pmdSize) return "pmd_lockptr";
  return "ptep_lockptr";
}

// --- faults ---------------------------------------------------------------------------

/** The folio that `vma` maps at `addr`, after a fault: the page cache of a
 * shared file mapping, an existing page-cache folio for a private one, else
 * a new anonymous folio (hugetlb_no_page()). */
function noPageFolio(mm: GeoMm, vma: Vma, addr: number): { folio: Folio; anonNew: boolean } {
  const idx = Math.floor((addr - vma.start + vma.fileOffset) / vma.pageSize);
  const cached = vma.file?.pages.get(idx);
  if (cached !== undefined) {
    cached.refcount++;
    return { folio: cached, anonNew: false };
  }
  const folio = mm.memory.allocFolio(vma.pageSize, isVmHugetlbPage(vma));
  if ((vma.vmFlags & VM_MAYSHARE) !== 0 && vma.file !== null) {
    folio.mapping = vma.file;
    folio.refcount++; // the page cache's reference
    vma.file.pages.set(idx, folio);
    return { folio, anonNew: false };
  }
  folio.anon = true;
  folio.anonExclusive = true;
  return { folio, anonNew: true };
}

/** Result of a fault: 0 or VM_FAULT_SIGSEGV, and what happened. */
export interface FaultResult {
  ret: number;
  action: "none" | "no_page" | "reuse" | "copy" | "mkwrite";
}

/**
 * handle_mm_fault() on a hugetlb VMA (hugetlb_fault()): installs the page
 * when none is mapped (hugetlb_no_page()), and on a write or unshare fault
 * of a read-only entry runs hugetlb_wp(): reuse an exclusive anonymous
 * folio, make a shared mapping writable, or copy. Called with the lock of
 * the huge entry taken once (counted in `c.locks`).
 */
export function hugetlbFault(
  mm: GeoMm,
  vma: Vma,
  addr: number,
  flags: number,
  c = newCosts(),
): FaultResult {
  const size = vma.pageSize;
  const base = addr - (addr % size);
  const write = (flags & FAULT_FLAG_WRITE) !== 0;
  const unshare = (flags & FAULT_FLAG_UNSHARE) !== 0;
  if (write && (vma.vmFlags & VM_WRITE) === 0) return { ret: VM_FAULT_SIGSEGV, action: "none" };
  c.locks++;
  const slots = hugePteAlloc(mm, base, size);
  const cur = hugePtepGet(slots[0], c);
  const g = mm.g;
  if (cur === undefined) {
    const { folio, anonNew } = noPageFolio(mm, vma, base);
    folio.mapcount++;
    // make_huge_pte(): writable only for a writable shared mapping; a private
    // write fault then runs hugetlb_wp() (which reuses the new exclusive folio).
    const shared = (vma.vmFlags & VM_SHARED) !== 0;
    let w = shared && (vma.vmFlags & VM_WRITE) !== 0;
    const action: FaultResult["action"] = "no_page";
    if (write && !shared) {
      if (anonNew) w = true;
      else return copyOnWrite(mm, vma, slots, folio, false);
    }
    setHugePteAt(mm, slots, makeHugePte(g, folio.pfn, size, w, write));
    return { ret: 0, action };
  }
  if (cur.type !== "leaf") throw new Error(`hugetlb entry at ${base} is a ${cur.type}`);
  if (!(write || unshare) || cur.write) {
    if (write && !cur.dirty) setHugePteAt(mm, slots, { ...cur, dirty: true });
    return { ret: 0, action: "none" };
  }
  // hugetlb_wp()
  const folio = mm.memory.folioOf(cur.pfn);
  if ((vma.vmFlags & VM_MAYSHARE) !== 0) {
    setHugePteAt(mm, slots, { ...cur, write: true, dirty: true });
    return { ret: 0, action: "mkwrite" };
  }
  if (folio.anon && (folio.anonExclusive || folio.mapcount === 1)) {
    folio.anonExclusive = true;
    if (!unshare) setHugePteAt(mm, slots, { ...cur, write: true, dirty: true });
    return { ret: 0, action: "reuse" };
  }
  return copyOnWrite(mm, vma, slots, folio, unshare);
}

/** hugetlb_wp()'s copy: a new exclusive anonymous folio replaces `old`;
 * writable unless this is an unshare fault. */
function copyOnWrite(
  mm: GeoMm,
  vma: Vma,
  slots: Ptep[],
  old: Folio,
  unshare: boolean,
): FaultResult {
  const folio = mm.memory.allocFolio(vma.pageSize, true, old.data);
  folio.anon = true;
  folio.anonExclusive = true;
  folio.mapcount = 1;
  old.mapcount--;
  old.refcount--;
  setHugePteAt(mm, slots, makeHugePte(mm.g, folio.pfn, vma.pageSize, !unshare, !unshare));
  return { ret: 0, action: "copy" };
}

/**
 * A fault on a non-hugetlb VMA: a 4K anonymous page (do_anonymous_page()),
 * or, in a THP VMA, a PMD-mapped THP (do_huge_pmd_anonymous_page()); write
 * faults on a read-only entry reuse or copy (do_wp_page(),
 * do_huge_pmd_wp_page(), which on copy splits in the kernel: the model
 * copies the whole folio, a simplification).
 */
export function anonFault(
  mm: GeoMm,
  vma: Vma,
  addr: number,
  flags: number,
  c = newCosts(),
): FaultResult {
  const g = mm.g;
  const write = (flags & FAULT_FLAG_WRITE) !== 0;
  const unshare = (flags & FAULT_FLAG_UNSHARE) !== 0;
  if (write && (vma.vmFlags & VM_WRITE) === 0) return { ret: VM_FAULT_SIGSEGV, action: "none" };
  const thp = vma.thp && g.thpSize !== null;
  const size = thp ? g.thpSize! : 4096;
  const level: LevelName = thp ? "pmd" : "pte";
  const base = addr - (addr % size);
  c.locks++;
  const t = allocDownTo(mm, base, level);
  const i = indexAt(g, level, base);
  const cur = t.entries.get(i);
  const leafFlags = thp ? (g.platform === "x86_64" ? ["_PAGE_PSE"] : ["PMD_TYPE_SECT"]) : [];
  if (cur === undefined) {
    const folio = mm.memory.allocFolio(size, false);
    folio.anon = true;
    folio.anonExclusive = true;
    folio.mapcount = 1;
    const w = (vma.vmFlags & VM_WRITE) !== 0;
    t.entries.set(i, {
      type: "leaf",
      pfn: folio.pfn,
      size,
      write: w,
      dirty: write,
      flags: leafFlags,
    });
    return { ret: 0, action: "no_page" };
  }
  if (cur.type !== "leaf" || !(write || unshare) || cur.write) return { ret: 0, action: "none" };
  const folio = mm.memory.folioOf(cur.pfn);
  if (folio.anonExclusive || folio.mapcount === 1) {
    folio.anonExclusive = true;
    if (!unshare) t.entries.set(i, { ...cur, write: true, dirty: true });
    return { ret: 0, action: "reuse" };
  }
  const copy = mm.memory.allocFolio(size, false, folio.data);
  copy.anon = true;
  copy.anonExclusive = true;
  copy.mapcount = 1;
  folio.mapcount--;
  folio.refcount--;
  t.entries.set(i, { ...cur, pfn: copy.pfn, write: !unshare, dirty: !unshare });
  return { ret: 0, action: "copy" };
}

/** handle_mm_fault(): hugetlb or anonymous. */
export function handleFault(mm: GeoMm, addr: number, flags: number, c = newCosts()): FaultResult {
  const vma = mm.findVma(addr);
  if (vma === null) return { ret: VM_FAULT_SIGSEGV, action: "none" };
  if (isVmHugetlbPage(vma)) return hugetlbFault(mm, vma, addr, flags, c);
  return anonFault(mm, vma, addr, flags, c);
}

/** A write to `addr` from user space: fault if needed, then store `data`
 * into the folio (the whole folio stands for its contents). */
export function userWrite(mm: GeoMm, addr: number, data: number): void {
  const r = handleFault(mm, addr, FAULT_FLAG_WRITE);
  if (r.ret !== 0) throw new Error(`write fault at ${addr.toString(16)}: SIGSEGV`);
  mm.memory.folioOf(translate(mm, addr)!).data = data;
}

/** A read from `addr` from user space: fault if needed, then the folio's data. */
export function userRead(mm: GeoMm, addr: number): number {
  if (translate(mm, addr) === null) handleFault(mm, addr, 0);
  return mm.memory.folioOf(translate(mm, addr)!).data;
}

/** The frame mapping `addr`, or null: a plain walk that understands every
 * representation (used by tests and user accesses; the walkers in
 * pagewalk.ts are what the lesson measures). */
export function translate(mm: GeoMm, addr: number): number | null {
  const g = mm.g;
  let table = mm.pgd;
  for (const l of g.levels) {
    const e = table.entries.get(indexAt(g, l.level, addr));
    if (e === undefined) return null;
    if (e.type === "leaf") {
      const span = 2 ** l.shift;
      return e.pfn + Math.floor((addr % span) / 4096);
    }
    if (e.type === "hugepd") {
      const h = e.table.entries.get(hugepteIndex(e, addr, l.shift));
      if (h?.type !== "leaf") return null;
      return h.pfn + Math.floor((addr % 2 ** e.shift) / 4096);
    }
    table = e.table;
  }
  return null;
}

/**
 * fork() of the hugetlb and anonymous mappings (copy_hugetlb_page_range(),
 * copy_page_range()): the child gets new tables; a private anonymous folio
 * is shared read-only in both and loses PageAnonExclusive, unless it may be
 * pinned (folio_maybe_dma_pinned()), when the child gets a copy at once.
 * Shared mappings keep their entries.
 */
export function fork(parent: GeoMm): GeoMm {
  const child = new GeoMm(parent.g, parent.memory);
  for (const vma of parent.vmas) {
    child.vmas.push({ ...vma });
    const step = isVmHugetlbPage(vma) ? vma.pageSize : vma.thp ? parent.g.thpSize! : 4096;
    for (let a = vma.start; a < vma.end; a += step) {
      const pfn = translate(parent, a);
      if (pfn === null) continue;
      const folio = parent.memory.folioOf(pfn);
      const shared = (vma.vmFlags & VM_SHARED) !== 0;
      let childFolio = folio;
      if (!shared && folio.anon && folio.pincount > 0) {
        childFolio = parent.memory.allocFolio(folio.size, folio.hugetlb, folio.data);
        childFolio.anon = true;
        childFolio.anonExclusive = true;
      } else {
        folio.refcount++;
        if (!shared && folio.anon) folio.anonExclusive = false;
      }
      childFolio.mapcount++;
      const writable = shared ? (vma.vmFlags & VM_WRITE) !== 0 : childFolio !== folio;
      if (!shared && childFolio === folio) wrprotect(parent, vma, a);
      installCopy(child, vma, a, childFolio, writable);
    }
  }
  return child;
}

function wrprotect(mm: GeoMm, vma: Vma, addr: number): void {
  if (isVmHugetlbPage(vma)) {
    const slots = hugePteAlloc(mm, addr, vma.pageSize);
    const e = hugePtepGet(slots[0]);
    if (e?.type === "leaf") setHugePteAt(mm, slots, { ...e, write: false });
    return;
  }
  const level: LevelName = vma.thp ? "pmd" : "pte";
  const t = allocDownTo(mm, addr, level);
  const i = indexAt(mm.g, level, addr);
  const e = t.entries.get(i);
  if (e?.type === "leaf") t.entries.set(i, { ...e, write: false });
}

function installCopy(mm: GeoMm, vma: Vma, addr: number, folio: Folio, write: boolean): void {
  if (isVmHugetlbPage(vma)) {
    const slots = hugePteAlloc(mm, addr, vma.pageSize);
    setHugePteAt(mm, slots, makeHugePte(mm.g, folio.pfn, vma.pageSize, write, false));
    return;
  }
  const level: LevelName = vma.thp ? "pmd" : "pte";
  const t = allocDownTo(mm, addr, level);
  const flags = vma.thp ? (mm.g.platform === "x86_64" ? ["_PAGE_PSE"] : ["PMD_TYPE_SECT"]) : [];
  t.entries.set(indexAt(mm.g, level, addr), {
    type: "leaf",
    pfn: folio.pfn,
    size: folio.size,
    write,
    dirty: false,
    flags,
  });
}

/** mprotect() of the whole VMA at `addr` to read-only or read-write: changes
 * VM_WRITE and write-protects the entries when dropping it (change_protection();
 * entries are not made writable when adding it: the next write fault does). */
export function mprotect(mm: GeoMm, addr: number, write: boolean): void {
  const vma = mm.findVma(addr);
  if (vma === null) throw new RangeError(`no VMA at ${addr.toString(16)}`);
  vma.vmFlags = write ? vma.vmFlags | VM_WRITE : vma.vmFlags & ~VM_WRITE;
  if (write) return;
  const step = isVmHugetlbPage(vma) ? vma.pageSize : vma.thp ? mm.g.thpSize! : 4096;
  for (let a = vma.start; a < vma.end; a += step) {
    if (translate(mm, a) !== null) wrprotect(mm, vma, a);
  }
}

/** exit_mmap(): drops every mapping of `mm` (mapcounts and references). */
export function exitMm(mm: GeoMm): void {
  for (const vma of mm.vmas) {
    const step = isVmHugetlbPage(vma) ? vma.pageSize : vma.thp ? mm.g.thpSize! : 4096;
    for (let a = vma.start; a < vma.end; a += step) {
      const pfn = translate(mm, a);
      if (pfn === null) continue;
      const folio = mm.memory.folioOf(pfn);
      folio.mapcount--;
      folio.refcount--;
    }
  }
  mm.vmas.length = 0;
}
