/**
 * Page-table geometries as data: the levels of each architecture the hugepd
 * lesson compares, the huge page sizes hugetlbfs offers on it, and how each
 * size is represented in the tables, with hugepd (Linux ≤ v6.10) and without
 * (≥ v6.11, after Christophe Leroy's "Reimplement huge pages without hugepd
 * on powerpc (8xx, e500, book3s/64)", 003_04fde8f735f91402.txt).
 *
 * `simulate()` (lib/kernel) stays the x86-64 process model; these
 * geometries are reached through {@linkcode geometry}, whose variant option
 * `{ hugepd }` has the meaning a `simulate({ variants })` option would have:
 * `hugepd: true` is the layout of v6.10 and earlier, `hugepd: false` (the
 * default) that of v6.11 and later, up to the v6.18 the kit pins.
 *
 * Sources (read, not copied): arch/x86/include/asm/pgtable_64_types.h;
 * arch/arm64/include/asm/pgtable-hwdef.h (CONT_PTE_SHIFT = 4 + PAGE_SHIFT,
 * CONT_PMD_SHIFT = 4 + PMD_SHIFT with 4K pages) and arch/arm64/mm/hugetlbpage.c;
 * arch/powerpc/include/asm/nohash/32/pte-8xx.h (`_PAGE_SPS`, `_PAGE_HUGE`,
 * `_PMD_PAGE_512K`, `_PMD_PAGE_8M`, `number_of_cells_per_pte()`),
 * arch/powerpc/mm/nohash/8xx.c; for e500, arch/powerpc/include/asm/nohash/pte-e500.h
 * (`_PAGE_PSIZE_MSK` 0xf00, `_PAGE_PSIZE_SHIFT` 7, `_PAGE_PSIZE_SHIFT_OFFSET` 10,
 * `pte_huge_size()`, `pmd_leaf()`, `pud_leaf()`), hugetlb-e500.h
 * (`arch_make_huge_pte()`, `check_and_get_huge_psize()`: power-of-4 sizes only),
 * arch/powerpc/mm/nohash/tlb.c (`mmu_psize_defs`: 4M, 16M, 64M, 256M, 1G),
 * nohash/64/pgtable-4k.h (`PTE_INDEX_SIZE` 9, `PMD_INDEX_SIZE` 7, `PUD_INDEX_SIZE` 9,
 * `PGD_INDEX_SIZE` 9) and asm/task_size_64.h (`TASK_SIZE_USER64` 64TB with 4K
 * pages); arch/powerpc/include/asm/book3s/64/hash-4k.h
 * (`H_PTE_INDEX_SIZE` 9, `H_PMD_INDEX_SIZE` 7, `H_PUD_INDEX_SIZE` 9,
 * `H_PGD_INDEX_SIZE` 9), radix-4k.h; `huge_pte_alloc()` in
 * arch/powerpc/mm/hugetlbpage.c and `set_huge_pte_at()` in
 * arch/powerpc/mm/pgtable.c (v6.11+), and `huge_pte_alloc()` /
 * `__hugepte_alloc()` in hugetlbpage.c (v6.10) for where a hugepd sits.
 *
 * Simplifications: the p4d level is folded everywhere it is modelled (as on
 * all these configurations except x86 5-level); e500 is the 32-bit e500
 * (85xx with 64-bit PTEs), where every huge size is a first-level entry, and
 * e500_64 the 64-bit e500 (e5500/e6500, nohash/64 with 4K pages), where the
 * sizes below PUD_SIZE (256M) are PMD-level entries and the others PUD-level
 * ones; book3s64 is shown with 4K base pages only.
 * @module
 */

/** A page-table level, as the kernel names it. On the two-level powerpc
 * platforms the first level is the PMD folded into the PGD
 * (include/asm-generic/pgtable-nopmd.h), so it is called "pmd" here, as the
 * kernel's own helpers (`pmd_off()`, `pmd_leaf()`) call it. */
export type LevelName = "pgd" | "pud" | "pmd" | "pte";

/** One level of a geometry. */
export interface LevelSpec {
  level: LevelName;
  /** Bit position of this level's index in an address (`PMD_SHIFT`, …). */
  shift: number;
  /** log2 of the number of entries per table (`PTRS_PER_*`). */
  bits: number;
  /** Size of one entry in bytes (`sizeof(pmd_t)`, …). */
  entryBytes: number;
}

/** The platforms modelled. */
export const PLATFORMS = [
  "x86_64",
  "arm64_4k",
  "ppc8xx",
  "e500",
  "e500_64",
  "book3s64_hash_4k",
  "book3s64_radix_4k",
] as const;
export type Platform = typeof PLATFORMS[number];

/** The two kernels the lesson compares. */
export interface GeometryVariants {
  /** CONFIG_ARCH_HAS_HUGEPD as in v6.10 and earlier (powerpc only); default false (v6.11+). */
  hugepd?: boolean;
}

/**
 * How one huge page size is laid out in the page tables.
 * - `pte`: one or several PTEs in a normal PTE table (`replicas` of them;
 *   a contiguous PTE block on arm64, replicated cells on 8xx);
 * - `leaf`: one or several leaf entries at `level` (`pmd_leaf()`,
 *   `pud_leaf()`), contiguous when `replicas` > 1;
 * - `hugepd`: `replicas` entries at `level` hold a hugepd pointer to one
 *   hugepte table of `hugepdEntries` entries, `hugepdEntriesUsed` of which map
 *   this page;
 * - `pte-tables`: the 8xx 8M page without hugepd: `replicas` PMD entries,
 *   each pointing to a whole PTE table whose every entry maps this page.
 */
export interface Representation {
  size: number;
  kind: "pte" | "leaf" | "hugepd" | "pte-tables";
  /** Level of the entries that map the page (for hugepd, of the directory entries). */
  level: LevelName;
  /** How many entries at `level` the page occupies. */
  replicas: number;
  /** Entries of a hugepte table (hugepd only). */
  hugepdEntries?: number;
  /** Entries of the hugepte table that belong to this page (hugepd only). */
  hugepdEntriesUsed?: number;
  /** PTEs written per table (pte-tables only). */
  ptesPerTable?: number;
  /** Entries written for the page in total (every replica, every table). */
  entriesWritten: number;
  /** The bits or fields of the leaf entries that tell the hardware (or the
   * kernel) the size; with hugepd the size is in the directory entry
   * (`hugepd_shift()`), and on 8xx 8M also in the PMD's `_PMD_PAGE_8M`. */
  sizeBits: readonly string[];
}

/** A geometry: levels, sizes and layouts of one platform in one variant. */
export interface Geometry {
  platform: Platform;
  /** Shown in headings, e.g. "powerpc 8xx (hugepd, ≤ v6.10)". */
  name: string;
  /** Whether hugepd is in use (only ever true on powerpc with `hugepd: true`). */
  hugepd: boolean;
  /** Width of a user virtual address. */
  vaBits: number;
  pageShift: number;
  /** Top level first, the PTE level last. */
  levels: readonly LevelSpec[];
  /** The hugetlbfs page sizes (bytes), smallest first. */
  hugeSizes: readonly number[];
  /** The THP size (PMD-mapped anonymous folio), or null without THP. */
  thpSize: number | null;
  /** Where the numbers come from. */
  source: string;
}

export const SZ_4K = 2 ** 12;
export const SZ_16K = 2 ** 14;
export const SZ_64K = 2 ** 16;
export const SZ_512K = 2 ** 19;
export const SZ_2M = 2 ** 21;
export const SZ_4M = 2 ** 22;
export const SZ_8M = 2 ** 23;
export const SZ_16M = 2 ** 24;
export const SZ_32M = 2 ** 25;
export const SZ_64M = 2 ** 26;
export const SZ_256M = 2 ** 28;
export const SZ_1G = 2 ** 30;
export const SZ_16G = 2 ** 34;

/** CONFIG_ARCH_HAS_HUGEPD: selected by powerpc only (v6.10 and earlier). */
export const ARCH_HAS_HUGEPD: Readonly<Record<Platform, boolean>> = {
  x86_64: false,
  arm64_4k: false,
  ppc8xx: true,
  e500: true,
  e500_64: true,
  book3s64_hash_4k: true,
  // PPC_BOOK3S_64 selected it, but the radix MMU never used a hugepd entry.
  book3s64_radix_4k: false,
};

const lv = (level: LevelName, shift: number, bits: number, entryBytes: number): LevelSpec => ({
  level,
  shift,
  bits,
  entryBytes,
});

/**
 * The geometry of `platform` in a variant. Throws a RangeError for an unknown
 * platform.
 */
export function geometry(platform: Platform, variants: GeometryVariants = {}): Geometry {
  const wantHugepd = variants.hugepd ?? false;
  if (!(PLATFORMS as readonly string[]).includes(platform)) {
    throw new RangeError(
      `unknown platform ${JSON.stringify(platform)}: one of ${PLATFORMS.join(", ")}`,
    );
  }
  const hugepd = wantHugepd && ARCH_HAS_HUGEPD[platform];
  const era = ARCH_HAS_HUGEPD[platform] ? (hugepd ? " (hugepd, ≤ v6.10)" : " (v6.11+)") : "";
  switch (platform) {
    case "x86_64":
      return {
        platform,
        name: "x86-64 4-level",
        hugepd,
        vaBits: 48,
        pageShift: 12,
        levels: [
          lv("pgd", 39, 9, 8),
          lv("pud", 30, 9, 8),
          lv("pmd", 21, 9, 8),
          lv("pte", 12, 9, 8),
        ],
        hugeSizes: [SZ_2M, SZ_1G],
        thpSize: SZ_2M,
        source: "arch/x86/include/asm/pgtable_64_types.h",
      };
    case "arm64_4k":
      return {
        platform,
        name: "arm64 4K, 48-bit VA",
        hugepd,
        vaBits: 48,
        pageShift: 12,
        levels: [
          lv("pgd", 39, 9, 8),
          lv("pud", 30, 9, 8),
          lv("pmd", 21, 9, 8),
          lv("pte", 12, 9, 8),
        ],
        hugeSizes: [SZ_64K, SZ_2M, SZ_32M, SZ_1G],
        thpSize: SZ_2M,
        source: "arch/arm64/include/asm/pgtable-hwdef.h, arch/arm64/mm/hugetlbpage.c",
      };
    case "ppc8xx":
      return {
        platform,
        name: `powerpc 8xx 4K${era}`,
        hugepd,
        vaBits: 32,
        pageShift: 12,
        // PGDIR_SHIFT 22: one first-level entry covers 4M; 1024 4-byte PTEs per table.
        levels: [lv("pmd", 22, 10, 4), lv("pte", 12, 10, 4)],
        hugeSizes: [SZ_16K, SZ_512K, SZ_8M],
        thpSize: null,
        source: "arch/powerpc/include/asm/nohash/32/pte-8xx.h, arch/powerpc/mm/nohash/8xx.c",
      };
    case "e500":
      return {
        platform,
        name: `powerpc e500/32, 64-bit PTEs${era}`,
        hugepd,
        vaBits: 32,
        pageShift: 12,
        // PTE_64BIT: 512 8-byte PTEs per table, so one first-level entry covers 2M.
        // "powerpc/85xx: Switch to 64 bits PGD" (v6.11) made first-level entries 8 bytes.
        levels: [lv("pmd", 21, 11, hugepd ? 4 : 8), lv("pte", 12, 9, 8)],
        hugeSizes: [SZ_4M, SZ_16M, SZ_64M, SZ_256M, SZ_1G],
        thpSize: null,
        source: "arch/powerpc/include/asm/nohash/pte-e500.h, hugetlb-e500.h, 32/pgtable.h",
      };
    case "e500_64":
      return {
        platform,
        name: `powerpc e500/64 4K${era}`,
        hugepd,
        // TASK_SIZE_USER64 = TASK_SIZE_64TB without 64K pages (task_size_64.h).
        vaBits: 46,
        pageShift: 12,
        // nohash/64/pgtable-4k.h: PMD_SHIFT = 12 + 9 = 21, PUD_SHIFT = 21 + 7 = 28,
        // PGDIR_SHIFT = 28 + 9 = 37, the p4d folded (pgtable-nop4d.h); pmd_t, pud_t
        // and pgd_t are unsigned long on PPC64 (pgtable-types.h), pte_t 64-bit.
        levels: [
          lv("pgd", 37, 9, 8),
          lv("pud", 28, 9, 8),
          lv("pmd", 21, 7, 8),
          lv("pte", 12, 9, 8),
        ],
        hugeSizes: [SZ_4M, SZ_16M, SZ_64M, SZ_256M, SZ_1G],
        // PPC_THP depends on PPC_BOOK3S_64 (platforms/Kconfig.cputype): no THP on 64e.
        thpSize: null,
        source: "arch/powerpc/include/asm/nohash/64/pgtable-4k.h, pte-e500.h, hugetlb-e500.h",
      };
    case "book3s64_hash_4k":
      return {
        platform,
        name: `powerpc book3s64 hash 4K${era}`,
        hugepd,
        vaBits: 46,
        pageShift: 12,
        levels: [
          lv("pgd", 37, 9, 8),
          lv("pud", 28, 9, 8),
          lv("pmd", 21, 7, 8),
          lv("pte", 12, 9, 8),
        ],
        hugeSizes: [SZ_16M, SZ_16G],
        // hash__pmd_trans_huge() is 0 with 4K pages: no THP under the hash MMU.
        thpSize: null,
        source: "arch/powerpc/include/asm/book3s/64/hash-4k.h, arch/powerpc/mm/hugetlbpage.c",
      };
    case "book3s64_radix_4k":
      return {
        platform,
        name: "powerpc book3s64 radix 4K",
        hugepd,
        vaBits: 52,
        pageShift: 12,
        levels: [
          lv("pgd", 39, 13, 8),
          lv("pud", 30, 9, 8),
          lv("pmd", 21, 9, 8),
          lv("pte", 12, 9, 8),
        ],
        hugeSizes: [SZ_2M, SZ_1G],
        thpSize: SZ_2M,
        source: "arch/powerpc/include/asm/book3s/64/radix-4k.h",
      };
  }
}

/**
 * Every platform in each page-table layout it has had: with hugepd (≤ v6.10)
 * and without (v6.11+) where the architecture had hugepd, once elsewhere.
 */
export function allGeometries(): Geometry[] {
  return PLATFORMS.flatMap((platform) =>
    ARCH_HAS_HUGEPD[platform]
      ? [geometry(platform, { hugepd: true }), geometry(platform, { hugepd: false })]
      : [geometry(platform)]
  );
}

/** The spec of `level` in `g`; throws when the geometry has no such level. */
export function levelSpec(g: Geometry, level: LevelName): LevelSpec {
  const spec = g.levels.find((l) => l.level === level);
  if (spec === undefined) throw new RangeError(`${g.name} has no ${level} level`);
  return spec;
}

/** Bytes mapped by one entry at `level`. */
export function levelSize(g: Geometry, level: LevelName): number {
  return 2 ** levelSpec(g, level).shift;
}

/** Bytes of one page table at `level`. */
export function tableBytes(g: Geometry, level: LevelName): number {
  const s = levelSpec(g, level);
  return s.entryBytes * 2 ** s.bits;
}

/** Human size: 4K, 512K, 8M, 1G, 16G. */
export function sizeName(bytes: number): string {
  const units: [number, string][] = [[2 ** 30, "G"], [2 ** 20, "M"], [2 ** 10, "K"]];
  for (const [unit, suffix] of units) if (bytes >= unit) return `${bytes / unit}${suffix}`;
  return `${bytes}B`;
}

/**
 * The page size field of an e500 huge leaf (v6.11+), as `_PAGE_PSIZE_MSK=<value>`:
 * hugetlb-e500.h `arch_make_huge_pte()` stores `shift - _PAGE_PSIZE_SHIFT_OFFSET`
 * (10) shifted left by `_PAGE_PSIZE_SHIFT` (7) into `_PAGE_PSIZE_MSK` (0xf00), and
 * pte-e500.h `pte_huge_size()` reads it back: 4M → 0x600, 16M → 0x700, 64M →
 * 0x800, 256M → 0x900, 1G → 0xa00 (a 4K PTE has `_PAGE_TSIZE_4K`, 0x100).
 */
export function e500PageSize(size: number): string {
  const field = ((Math.log2(size) - 10) << 7) & 0xf00;
  return `_PAGE_PSIZE_MSK=0x${field.toString(16)}`;
}

/**
 * Which entries map a huge page of `size` bytes on `g`: the layout
 * `huge_pte_alloc()` and `set_huge_pte_at()` produce. Throws a RangeError for
 * a size the platform does not offer.
 *
 * Models, per platform: arm64 `num_contig_ptes()` (hugetlbpage.c); 8xx
 * `number_of_cells_per_pte()` and `pmd_populate_size()` (pte-8xx.h), and,
 * with hugepd, `__hugepte_alloc()`'s `num_hugepd = 1 << (pshift - pdshift)`
 * directory entries sharing one table; e500 `set_huge_pte_at()` writing
 * `sz / PMD_SIZE` entries (v6.11) or a hugepd in the PGD entries (v6.10);
 * e500/64 the same with `sz / PUD_SIZE` PUD entries from 256M up (v6.11), or
 * a hugepd in the PMD entries below 256M and in the PUD entries from 256M (v6.10);
 * book3s64 hash-4K contiguous PMD/PUD entries (v6.11) or a hugepd in the PUD
 * (16M) and PGD (16G) entries (`huge_pte_alloc()` with `pshift > PMD_SHIFT`
 * and `pshift > PUD_SHIFT`, v6.10).
 */
export function representation(g: Geometry, size: number): Representation {
  if (!g.hugeSizes.includes(size)) {
    throw new RangeError(
      `${g.name} has no ${sizeName(size)} huge pages: ${g.hugeSizes.map(sizeName).join(", ")}`,
    );
  }
  const leaf = (level: LevelName, sizeBits: string[]): Representation => {
    const replicas = size / levelSize(g, level);
    return { size, kind: "leaf", level, replicas, entriesWritten: replicas, sizeBits };
  };
  const hugepdAt = (level: LevelName, sizeBits: string[]): Representation => {
    const pdshift = levelSpec(g, level).shift;
    const pshift = Math.log2(size);
    const replicas = pshift >= pdshift ? 2 ** (pshift - pdshift) : 1;
    const hugepdEntries = pshift >= pdshift ? 1 : 2 ** (pdshift - pshift);
    return {
      size,
      kind: "hugepd",
      level,
      replicas,
      hugepdEntries,
      hugepdEntriesUsed: 1,
      entriesWritten: replicas + 1,
      sizeBits,
    };
  };
  switch (g.platform) {
    case "x86_64":
    case "book3s64_radix_4k":
      return leaf(size === SZ_1G ? "pud" : "pmd", [
        g.platform === "x86_64" ? "_PAGE_PSE" : "_PAGE_PTE",
      ]);
    case "arm64_4k":
      if (size === SZ_64K) {
        return {
          size,
          kind: "pte",
          level: "pte",
          replicas: 16,
          entriesWritten: 16,
          sizeBits: ["PTE_CONT"],
        };
      }
      if (size === SZ_32M) return leaf("pmd", ["PMD_TYPE_SECT", "PTE_CONT"]);
      return leaf(size === SZ_1G ? "pud" : "pmd", ["PMD_TYPE_SECT"]);
    case "ppc8xx":
      if (size === SZ_16K) {
        return {
          size,
          kind: "pte",
          level: "pte",
          replicas: 4,
          entriesWritten: 4,
          sizeBits: ["_PAGE_SPS"],
        };
      }
      if (size === SZ_512K) {
        return {
          size,
          kind: "pte",
          level: "pte",
          replicas: 128,
          entriesWritten: 128,
          // _PAGE_HUGE is copied to the level-1 PS field at TLB load (_PMD_PAGE_512K).
          sizeBits: ["_PAGE_SPS", "_PAGE_HUGE"],
        };
      }
      if (g.hugepd) return hugepdAt("pmd", ["_PMD_PAGE_8M", "_PAGE_SPS", "_PAGE_HUGE"]);
      return {
        size,
        kind: "pte-tables",
        level: "pmd",
        replicas: 2,
        ptesPerTable: 1024,
        entriesWritten: 2 + 2 * 1024,
        sizeBits: ["_PMD_PAGE_8M", "_PAGE_SPS", "_PAGE_HUGE"],
      };
    case "e500":
      if (g.hugepd) return hugepdAt("pmd", []);
      return leaf("pmd", [e500PageSize(size)]);
    case "e500_64": {
      // v6.11+: huge_pte_alloc() returns the PUD entry from PUD_SIZE (256M) up, else
      // the PMD entry; set_huge_pte_at() writes sz / PMD_SIZE or sz / PUD_SIZE of them.
      // v6.10: the same levels hold a hugepd (pshift >= PUD_SHIFT: the PUD entry,
      // else the PMD entry; pshift >= PGDIR_SHIFT, 128G, is beyond every size).
      const level: LevelName = size >= levelSize(g, "pud") ? "pud" : "pmd";
      if (g.hugepd) return hugepdAt(level, []);
      return leaf(level, [e500PageSize(size)]);
    }
    case "book3s64_hash_4k":
      if (g.hugepd) return hugepdAt(size === SZ_16G ? "pgd" : "pud", []);
      return leaf(size === SZ_16G ? "pud" : "pmd", ["_PAGE_PTE"]);
  }
}
