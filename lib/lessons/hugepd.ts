/**
 * Lesson 01, "hugepd removal: one page-table format for everyone"
 * (notebooks/01_hugepd.ipynb): building one huge page on any geometry, the
 * tables of what it costs to walk and to GUP it in each representation, the
 * hugepd GUP bug replayed, the model's prediction for Peter Xu's 15%
 * slow-GUP figure, what each walker special-cased for hugepd, and the three
 * checked exercises.
 *
 * Every number comes from lib/geometry (the model) or from the quoted
 * dataset datasets/gup_cont_pte_quote.json.
 * @module
 */
import {
  allGeometries,
  ARCH_HAS_HUGEPD,
  geometry,
  type Platform,
  type Representation,
  representation,
  sizeName,
  SZ_16G,
  SZ_16K,
  SZ_16M,
  SZ_1G,
  SZ_2M,
  SZ_32M,
  SZ_4K,
  SZ_512K,
  SZ_64K,
  SZ_8M,
} from "../geometry/geometry.ts";
import {
  FAULT_FLAG_WRITE,
  GeoMm,
  handleFault,
  HugetlbFile,
  newCosts,
  translate,
  userWrite,
} from "../geometry/hugetlb.ts";
import { genericLeaves, legacyLeaves } from "../geometry/pagewalk.ts";
import { pageTableNodes, representationSvg } from "../geometry/diagram.ts";
import {
  FOLL_GET,
  FOLL_LONGTERM,
  getUserPages,
  gupFast,
  type GupResult,
  type GupVariants,
  newGupCosts,
  pinUserPagesFast,
} from "../geometry/gup.ts";
import { defineExercise } from "../exercise/exercise.ts";
import type { Figure } from "../plot/figure.ts";
import { type Row, type Table, table } from "./tour.ts";

/** One huge page of `size`, faulted in (written) through a shared hugetlbfs mapping. */
export interface HugeMapping {
  mm: GeoMm;
  addr: number;
  size: number;
  representation: Representation;
}

/** A shared hugetlbfs mapping of one page of `size` on `platform`, written once. */
export function hugeMapping(platform: Platform, size: number, hugepd: boolean): HugeMapping {
  const mm = new GeoMm(geometry(platform, { hugepd }));
  const addr = mm.mmap({ len: size, write: true, shared: true, file: new HugetlbFile("f", size) });
  handleFault(mm, addr, FAULT_FLAG_WRITE);
  return { mm, addr, size, representation: representation(mm.g, size) };
}

/** The picture of that page in the tables. */
export function drawHugePage(platform: Platform, size: number, hugepd: boolean): Figure {
  const m = hugeMapping(platform, size, hugepd);
  return representationSvg(m.mm, m.addr, size);
}

/** The sizes the lesson follows, on the platform where each is interesting. */
export const LESSON_SIZES: readonly [Platform, number][] = [
  ["ppc8xx", SZ_16K],
  ["ppc8xx", SZ_512K],
  ["ppc8xx", SZ_8M],
  ["e500", SZ_16M],
  ["book3s64_hash_4k", SZ_16M],
  ["e500", SZ_1G],
  ["e500_64", SZ_1G],
  ["book3s64_hash_4k", SZ_16G],
  ["arm64_4k", SZ_64K],
  ["arm64_4k", SZ_32M],
  ["x86_64", SZ_2M],
  ["x86_64", SZ_1G],
];

/** What one representation costs: tables, entries, memory, and what walking
 * and slow-GUPing the whole page read and lock. */
export interface CostRow {
  platform: Platform;
  size: string;
  variant: "hugepd (≤ v6.10)" | "v6.11+";
  kind: Representation["kind"];
  entriesWritten: number;
  /** Page tables and hugepte tables holding the page's entries (not those above). */
  tables: number;
  /** Bytes of all the page tables of the address space (top level included). */
  pgtableBytes: number;
  legacyWalkEntries: number;
  genericWalkEntries: number;
  hugepdCases: number;
  slowGupIterations: number;
  slowGupLocks: number;
  fastGupEntries: number;
}

/** The cost table of `size` on `platform` in one variant. */
export function costRow(platform: Platform, size: number, hugepd: boolean): CostRow {
  const m = hugeMapping(platform, size, hugepd);
  const nodes = pageTableNodes(m.mm, m.addr, size);
  const leafTables = nodes.filter((n) => n.groups.some((g) => g.kind === "leaf"));
  const legacy = newCosts();
  const generic = newCosts();
  legacyLeaves(m.mm, m.addr, m.addr + size, legacy);
  genericLeaves(m.mm, m.addr, m.addr + size, generic);
  const pages = size / 4096;
  const slow = getUserPages(m.mm, m.addr, pages, FOLL_GET);
  const fastCosts = newGupCosts();
  gupFast(m.mm, m.addr, pages, FOLL_GET, fastCosts);
  return {
    platform,
    size: sizeName(size),
    variant: m.mm.g.hugepd ? "hugepd (≤ v6.10)" : "v6.11+",
    kind: m.representation.kind,
    entriesWritten: m.representation.entriesWritten,
    tables: leafTables.length,
    pgtableBytes: m.mm.pgtableBytes,
    legacyWalkEntries: legacy.entries,
    genericWalkEntries: generic.entries,
    hugepdCases: legacy.hugepdCases + generic.hugepdCases,
    slowGupIterations: slow.costs.iterations,
    slowGupLocks: slow.costs.locks,
    fastGupEntries: fastCosts.entries,
  };
}

/** Cost rows for every lesson size, in both variants where they differ. */
export function costRows(): CostRow[] {
  const rows: CostRow[] = [];
  for (const [platform, size] of LESSON_SIZES) {
    const variants = ARCH_HAS_HUGEPD[platform] ? [true, false] : [false];
    for (const hugepd of variants) rows.push(costRow(platform, size, hugepd));
  }
  return rows;
}

/** The same rows, long form, for Observable Plot: one row per metric. */
export function costMetrics(rows: readonly CostRow[]): Row[] {
  const metrics = [
    ["page-table bytes", "pgtableBytes"],
    ["walk: entries read (legacy)", "legacyWalkEntries"],
    ["walk: entries read (generic)", "genericWalkEntries"],
    ["slow GUP: loop passes", "slowGupIterations"],
    ["slow GUP: lock round-trips", "slowGupLocks"],
    ["GUP-fast: entries read", "fastGupEntries"],
  ] as const;
  return rows.flatMap((r) =>
    metrics.map(([metric, key]) => ({
      mapping: `${r.platform} ${r.size}`,
      variant: r.variant,
      metric,
      value: r[key],
    }))
  );
}

// --- the 15% ---------------------------------------------------------------------------

/** What the cost counters say for a slow-GUP loop over `pages` 4K pages of
 * 64K cont-PTE hugetlb on arm64, before (hugetlb_follow_page_mask()) and
 * after (follow_page_mask(), one entry per loop) "Unify hugetlb, part 2". */
export function contPtePrediction(pages = 4096): Row[] {
  const run = (hugetlbFollowPageMask: boolean) => {
    const m = hugeMapping("arm64_4k", SZ_64K, false);
    const mm = m.mm;
    const a = mm.mmap({
      len: pages * 4096,
      write: true,
      shared: true,
      file: new HugetlbFile("f", SZ_64K),
    });
    for (let x = a; x < a + pages * 4096; x += SZ_64K) userWrite(mm, x, 1);
    return getUserPages(mm, a, pages, FOLL_GET, { hugetlbFollowPageMask }).costs;
  };
  const before = run(true);
  const after = run(false);
  const row = (what: string, b: number, a: number) => ({
    counter: what,
    "v6.9 (hugetlb_follow_page_mask)": b,
    "v6.10+ (follow_page_mask)": a,
    ratio: Math.round((a / b) * 100) / 100,
  });
  return [
    row("loop passes", before.iterations, after.iterations),
    row("entries read", before.entries, after.entries),
    row("lock round-trips", before.locks, after.locks),
  ];
}

/**
 * If a slow-GUP call costs `perPage` for each page it returns plus `perPass`
 * for each pass of its loop, going from one pass per 16 pages to one per
 * page makes it (16·perPage + 16·perPass) / (16·perPage + perPass) times
 * slower. Solved for the measured ratio: the per-pass cost as a fraction of
 * the per-page cost that a slowdown of `percent` implies.
 */
export function impliedPassCost(percent: number, pagesPerEntry = 16): number {
  // (n·p + n·w) = r·(n·p + w)  →  w·(n − r) = n·p·(r − 1)  →  w/p = n(r − 1)/(n − r)
  const r = 1 + percent / 100;
  return (pagesPerEntry * (r - 1)) / (pagesPerEntry - r);
}

// --- the GUP bug -------------------------------------------------------------------------

/** The thread's reproducer: book3s64 hash-4K with 16M hugepd, a shared hugetlbfs
 * page mapped read-only, one R/O long-term pin with pin_user_pages_fast(). */
export function replayHugepdGupBug(variants: GupVariants, hugepd = true): GupResult {
  const mm = new GeoMm(geometry("book3s64_hash_4k", { hugepd }));
  const file = new HugetlbFile("hugetlbfs", SZ_16M);
  const a = mm.mmap({ len: SZ_16M, write: false, shared: true, file });
  handleFault(mm, a, 0);
  return pinUserPagesFast(mm, a, 1, FOLL_LONGTERM, variants);
}

/** The -EMLINK path: a private mapping of a hugetlbfs file whose page is in the
 * page cache (written through a shared mapping), read-faulted, then one R/O
 * long-term pin. Fixed, slow GUP gets -EMLINK, faults with FAULT_FLAG_UNSHARE
 * and pins a private anonymous copy; without the vma it loops. */
export function replayPrivateUnshare(
  variants: GupVariants,
): { result: GupResult; pageCachePfn: number; pinnedPfn: number | null; mappedPfn: number } {
  const mm = new GeoMm(geometry("book3s64_hash_4k", { hugepd: true }));
  const file = new HugetlbFile("hugetlbfs", SZ_16M);
  const shared = mm.mmap({ len: SZ_16M, write: true, shared: true, file });
  userWrite(mm, shared, 42);
  const priv = mm.mmap({ len: SZ_16M, write: true, shared: false, file });
  handleFault(mm, priv, 0);
  const result = pinUserPagesFast(mm, priv, 1, FOLL_LONGTERM, variants);
  return {
    result,
    pageCachePfn: translate(mm, shared)!,
    pinnedPfn: result.pfns[0] ?? null,
    mappedPfn: translate(mm, priv)!,
  };
}

/** Both walkers over `pages` huge pages of each size, on every platform and
 * variant: whether they agree, what each reads, and the hugepd branches taken. */
export function walkerComparison(pages = 3): Row[] {
  const rows: Row[] = [];
  for (const g of allGeometries()) {
    for (const size of g.hugeSizes) {
      const mm = new GeoMm(g);
      const a = mm.mmap({
        len: pages * size,
        write: true,
        shared: true,
        file: new HugetlbFile("f", size),
      });
      for (let i = 0; i < pages; i++) handleFault(mm, a + i * size, 0);
      const lc = newCosts();
      const gc = newCosts();
      const l = legacyLeaves(mm, a, a + pages * size, lc);
      const gl = genericLeaves(mm, a, a + pages * size, gc);
      rows.push({
        platform: g.name,
        size: sizeName(size),
        agree: JSON.stringify(l) === JSON.stringify(gl) && l.length === pages,
        "legacy: entries": lc.entries,
        "generic: entries": gc.entries,
        "legacy: hugepd branches": lc.hugepdCases,
        "generic: hugepd branches": gc.hugepdCases,
      });
    }
  }
  return rows;
}

/** A GUP result as a table: one row per step of the log, then the counters. */
export function gupTable(r: GupResult): Table {
  const rows: Row[] = r.log.map((step, i) => ({ step: i + 1, what: step }));
  return table(
    rows,
    `ret ${r.ret}${
      r.livelock ? " (livelock: the kernel hangs here)" : ""
    }, faults ${r.costs.faults}, unshare faults ${r.costs.unshareFaults}`,
  );
}

// --- what disappears -------------------------------------------------------------------------

/** The places that had to know about hugepd (v6.10), and what replaced them (v6.11). */
export const HUGEPD_SPECIAL_CASES: readonly Row[] = [
  {
    where: "mm/pagewalk.c: walk_p4d_range(), walk_pud_range(), walk_pmd_range()",
    "≤ v6.10": "is_hugepd() at each level → walk_hugepd_range()",
    "≥ v6.11": "gone: pud/pmd leaves and PTE tables only",
  },
  {
    where: "mm/gup.c: gup_fast_pgd/p4d/pud/pmd_range()",
    "≤ v6.10": "is_hugepd() → gup_fast_hugepd() / gup_hugepte()",
    "≥ v6.11": "gone: pXd_leaf() or the PTE range",
  },
  {
    where: "mm/gup.c: follow_page_mask() (v6.10)",
    "≤ v6.10": "follow_hugepd(), which had to pass the vma down (the bug)",
    "≥ v6.11": "gone: follow_huge_pud/pmd(), follow_page_pte()",
  },
  {
    where: "arch/powerpc/mm/hugetlbpage.c: huge_pte_alloc(), huge_pte_offset()",
    "≤ v6.10": "__hugepte_alloc(), hugepte_offset(), hugepd_shift()",
    "≥ v6.11": "pte_alloc_huge() / leaf PMD, PUD; 8xx: ptep_is_8m_pmdp()",
  },
  {
    where: "arch/powerpc/mm/pgtable.c: __find_linux_pte()",
    "≤ v6.10": "hugepd branch at every level",
    "≥ v6.11": 'leaf PMD/PUD ("Fix __find_linux_pte() on 32 bits with PMD leaf entries")',
  },
  {
    where: "mm/Kconfig, include/linux/hugetlb.h",
    "≤ v6.10": "CONFIG_ARCH_HAS_HUGEPD, hugepd_t, is_hugepd()",
    "≥ v6.11": 'removed ("mm: Remove CONFIG_ARCH_HAS_HUGEPD")',
  },
];

// --- exercises ---------------------------------------------------------------------------------

/** Input of exercise (a): a huge page size on 8xx, with or without hugepd. */
export interface Tables8xxInput {
  size: number;
  hugepd: boolean;
}

/** What it takes in the tables below the PGD. */
export interface Tables8xx {
  /** First-level (PMD) entries that lead to it. */
  pmdEntries: number;
  /** Second-level tables (PTE tables or hugepte tables) holding its entries. */
  tables: number;
  /** Entries written in those tables. */
  leafEntries: number;
  /** Bytes of those tables. */
  bytes: number;
}

/** The model's answer for exercise (a), read from the tables it builds. */
export function tables8xx(input: Tables8xxInput): Tables8xx {
  const m = hugeMapping("ppc8xx", input.size, input.hugepd);
  const nodes = pageTableNodes(m.mm, m.addr, input.size);
  const top = nodes.find((n) => n.depth === 0)!;
  const below = nodes.filter((n) => n.depth === 1);
  return {
    pmdEntries: top.groups.reduce((s, g) => s + g.count, 0),
    tables: below.length,
    leafEntries: below.reduce((s, n) => s + n.groups.reduce((t, g) => t + g.count, 0), 0),
    bytes: below.reduce((s, n) => s + n.table.bytes, 0),
  };
}

export const tables8xxExercise = defineExercise<Tables8xxInput, Tables8xx>({
  id: "hugepd-8xx-tables",
  title: "An 8xx huge page in the tables: PMD entries, tables, entries, bytes",
  cases: [
    {
      name: "8M with hugepd (≤ v6.10)",
      input: { size: SZ_8M, hugepd: true },
      expected: { pmdEntries: 2, tables: 1, leafEntries: 1, bytes: 4 },
    },
    {
      name: "8M without hugepd (≥ v6.11)",
      input: { size: SZ_8M, hugepd: false },
      expected: { pmdEntries: 2, tables: 2, leafEntries: 2048, bytes: 8192 },
    },
    {
      name: "512K",
      input: { size: SZ_512K, hugepd: false },
      expected: { pmdEntries: 1, tables: 1, leafEntries: 128, bytes: 4096 },
      hidden: true,
    },
    {
      name: "16K with hugepd",
      input: { size: SZ_16K, hugepd: true },
      expected: { pmdEntries: 1, tables: 1, leafEntries: 4, bytes: 4096 },
      hidden: true,
    },
  ],
});

/** Input of exercise (b): the generic walker reads one leaf entry at `addr`. */
export interface LeafStepInput {
  /** Address of the entry read (any address it maps). */
  addr: number;
  /** Bytes one entry of its level maps (PAGE_SIZE, PMD_SIZE, …). */
  entrySpan: number;
  /** Size of the page the entry belongs to (pte_leaf_size(), the cont size). */
  leafSize: number;
}

/** What the walker does with it. */
export interface LeafStep {
  /** The first address of the leaf it reports. */
  leafStart: number;
  /** Where the walk continues. */
  next: number;
  /** Entries of the same page it does not read. */
  entriesSkipped: number;
}

/** The model's step, from forEachPtLeaf()'s rule. */
export function leafStep(input: LeafStepInput): LeafStep {
  const leafStart = input.addr - (input.addr % input.leafSize);
  const next = leafStart + input.leafSize;
  const read = Math.floor((input.addr - leafStart) / input.entrySpan) + 1;
  return { leafStart, next, entriesSkipped: input.leafSize / input.entrySpan - read };
}

export const leafStepExercise = defineExercise<LeafStepInput, LeafStep>({
  id: "hugepd-leaf-step",
  title: "One step of the generic leaf walker on a contiguous entry",
  cases: [
    {
      name: "arm64 64K cont-PTE, first entry",
      input: { addr: 0x4001_0000, entrySpan: SZ_4K, leafSize: SZ_64K },
      expected: { leafStart: 0x4001_0000, next: 0x4002_0000, entriesSkipped: 15 },
    },
    {
      name: "8xx 8M, a cell in the second PTE table",
      input: { addr: 0x00c0_3000, entrySpan: SZ_4K, leafSize: SZ_8M },
      expected: { leafStart: 0x0080_0000, next: 0x0100_0000, entriesSkipped: 1020 },
    },
    {
      name: "hash 16M cont-PMD, first entry",
      input: { addr: 0x1000_0000, entrySpan: SZ_2M, leafSize: SZ_16M },
      expected: { leafStart: 0x1000_0000, next: 0x1100_0000, entriesSkipped: 7 },
      hidden: true,
    },
    {
      name: "e500 1G, entry 511 of 512",
      input: { addr: 0x7fe0_0000, entrySpan: SZ_2M, leafSize: SZ_1G },
      expected: { leafStart: 0x4000_0000, next: 0x8000_0000, entriesSkipped: 0 },
      hidden: true,
    },
  ],
});

/** Input of exercise (c): what gup_hugepte() sees. */
export interface HugepteInput {
  /** The VMA as known to the caller: none (GUP-fast), shared, or private writable (COW). */
  vma: "none" | "shared" | "private";
  foll: { write: boolean; pin: boolean; longterm: boolean };
  pteWrite: boolean;
  folio: { anon: boolean; anonExclusive: boolean };
}

/** gup_hugepte()'s return: 1 (pinned), 0 (no page: fault it in) or -EMLINK (unshare first). */
export type HugepteResult = 1 | 0 | -31;

export const hugepteExercise = defineExercise<HugepteInput, HugepteResult>({
  id: "hugepd-gup-hugepte",
  title: "gup_hugepte() after the fix: 1, 0 or -EMLINK",
  cases: [
    {
      name: "R/O long-term pin of a R/O shared page-cache page, vma known",
      input: {
        vma: "shared",
        foll: { write: false, pin: true, longterm: true },
        pteWrite: false,
        folio: { anon: false, anonExclusive: false },
      },
      expected: 1,
    },
    {
      name: "the same in a private (COW) mapping",
      input: {
        vma: "private",
        foll: { write: false, pin: true, longterm: true },
        pteWrite: false,
        folio: { anon: false, anonExclusive: false },
      },
      expected: -31,
    },
    {
      name: "FOLL_WRITE on a read-only entry",
      input: {
        vma: "private",
        foll: { write: true, pin: true, longterm: true },
        pteWrite: false,
        folio: { anon: true, anonExclusive: true },
      },
      expected: 0,
    },
    {
      name: "GUP-fast (no vma), R/O long-term pin of page cache",
      input: {
        vma: "none",
        foll: { write: false, pin: true, longterm: true },
        pteWrite: false,
        folio: { anon: false, anonExclusive: false },
      },
      expected: -31,
      hidden: true,
    },
    {
      name: "R/O pin of a shared anon page after fork",
      input: {
        vma: "private",
        foll: { write: false, pin: true, longterm: false },
        pteWrite: false,
        folio: { anon: true, anonExclusive: false },
      },
      expected: -31,
      hidden: true,
    },
    {
      name: "FOLL_GET, not a pin",
      input: {
        vma: "private",
        foll: { write: false, pin: false, longterm: true },
        pteWrite: false,
        folio: { anon: true, anonExclusive: false },
      },
      expected: 1,
      hidden: true,
    },
  ],
});
