import assert from "node:assert/strict";
import {
  allGeometries,
  ARCH_HAS_HUGEPD,
  geometry,
  type GeometryVariants,
  type Platform,
  PLATFORMS,
  representation,
  sizeName,
  tableBytes,
} from "./geometry.ts";

/** Levels as [level, shift, bits, entry bytes], per platform and variant. */
const LEVELS: [Platform, GeometryVariants, [string, number, number, number][]][] = [
  ["x86_64", {}, [["pgd", 39, 9, 8], ["pud", 30, 9, 8], ["pmd", 21, 9, 8], ["pte", 12, 9, 8]]],
  ["arm64_4k", {}, [["pgd", 39, 9, 8], ["pud", 30, 9, 8], ["pmd", 21, 9, 8], ["pte", 12, 9, 8]]],
  ["ppc8xx", { hugepd: true }, [["pmd", 22, 10, 4], ["pte", 12, 10, 4]]],
  ["ppc8xx", { hugepd: false }, [["pmd", 22, 10, 4], ["pte", 12, 10, 4]]],
  ["e500", { hugepd: true }, [["pmd", 21, 11, 4], ["pte", 12, 9, 8]]],
  ["e500", { hugepd: false }, [["pmd", 21, 11, 8], ["pte", 12, 9, 8]]],
  // nohash/64/pgtable-4k.h: the 64-bit e500 has four levels in both kernels.
  ["e500_64", { hugepd: true }, [["pgd", 37, 9, 8], ["pud", 28, 9, 8], ["pmd", 21, 7, 8], [
    "pte",
    12,
    9,
    8,
  ]]],
  ["e500_64", { hugepd: false }, [["pgd", 37, 9, 8], ["pud", 28, 9, 8], ["pmd", 21, 7, 8], [
    "pte",
    12,
    9,
    8,
  ]]],
  ["book3s64_hash_4k", {}, [["pgd", 37, 9, 8], ["pud", 28, 9, 8], ["pmd", 21, 7, 8], [
    "pte",
    12,
    9,
    8,
  ]]],
  ["book3s64_radix_4k", {}, [["pgd", 39, 13, 8], ["pud", 30, 9, 8], ["pmd", 21, 9, 8], [
    "pte",
    12,
    9,
    8,
  ]]],
];

Deno.test("geometry(): levels of every platform, row by row", async (t) => {
  for (const [platform, variants, levels] of LEVELS) {
    await t.step(`${platform} ${JSON.stringify(variants)}`, () => {
      const g = geometry(platform, variants);
      assert.deepEqual(g.levels.map((l) => [l.level, l.shift, l.bits, l.entryBytes]), levels);
    });
  }
});

Deno.test("geometry(): table sizes quoted in the headers", () => {
  const hash = geometry("book3s64_hash_4k");
  // hash-4k.h: "size: 8B << 7 = 1KB, maps: 2^7 x 2MB = 256MB"
  assert.equal(tableBytes(hash, "pmd"), 1024);
  assert.equal(tableBytes(hash, "pte"), 4096);
  assert.equal(tableBytes(geometry("ppc8xx"), "pte"), 4096);
  assert.equal(tableBytes(geometry("e500", { hugepd: true }), "pmd"), 8192);
  assert.equal(tableBytes(geometry("e500"), "pmd"), 16384);
  // PMD_TABLE_SIZE = sizeof(pmd_t) << PMD_INDEX_SIZE = 8 << 7 on the 64-bit e500.
  assert.equal(tableBytes(geometry("e500_64"), "pmd"), 1024);
  assert.equal(tableBytes(geometry("e500_64"), "pud"), 4096);
});

/** [platform, hugepd, size, kind, level, replicas, entries written, hugepte table entries]. */
type Row = [Platform, boolean, string, string, string, number, number, number | undefined];
const REPRESENTATIONS: Row[] = [
  ["x86_64", false, "2M", "leaf", "pmd", 1, 1, undefined],
  ["x86_64", false, "1G", "leaf", "pud", 1, 1, undefined],
  ["arm64_4k", false, "64K", "pte", "pte", 16, 16, undefined],
  ["arm64_4k", false, "2M", "leaf", "pmd", 1, 1, undefined],
  ["arm64_4k", false, "32M", "leaf", "pmd", 16, 16, undefined],
  ["arm64_4k", false, "1G", "leaf", "pud", 1, 1, undefined],
  ["ppc8xx", true, "16K", "pte", "pte", 4, 4, undefined],
  ["ppc8xx", true, "512K", "pte", "pte", 128, 128, undefined],
  ["ppc8xx", true, "8M", "hugepd", "pmd", 2, 3, 1],
  ["ppc8xx", false, "16K", "pte", "pte", 4, 4, undefined],
  ["ppc8xx", false, "512K", "pte", "pte", 128, 128, undefined],
  ["ppc8xx", false, "8M", "pte-tables", "pmd", 2, 2050, undefined],
  ["e500", true, "4M", "hugepd", "pmd", 2, 3, 1],
  ["e500", true, "16M", "hugepd", "pmd", 8, 9, 1],
  ["e500", true, "64M", "hugepd", "pmd", 32, 33, 1],
  ["e500", true, "256M", "hugepd", "pmd", 128, 129, 1],
  ["e500", true, "1G", "hugepd", "pmd", 512, 513, 1],
  ["e500", false, "4M", "leaf", "pmd", 2, 2, undefined],
  ["e500", false, "16M", "leaf", "pmd", 8, 8, undefined],
  ["e500", false, "64M", "leaf", "pmd", 32, 32, undefined],
  ["e500", false, "256M", "leaf", "pmd", 128, 128, undefined],
  ["e500", false, "1G", "leaf", "pmd", 512, 512, undefined],
  // e500/64, v6.10: __hugepte_alloc() with pshift >= pdshift: 1 << (pshift - pdshift)
  // directory entries to one single-entry hugepte table, in the PMD below 256M,
  // in the PUD from 256M (PUD_SHIFT 28).
  ["e500_64", true, "4M", "hugepd", "pmd", 2, 3, 1],
  ["e500_64", true, "16M", "hugepd", "pmd", 8, 9, 1],
  ["e500_64", true, "64M", "hugepd", "pmd", 32, 33, 1],
  ["e500_64", true, "256M", "hugepd", "pud", 1, 2, 1],
  ["e500_64", true, "1G", "hugepd", "pud", 4, 5, 1],
  // e500/64, v6.11+: contiguous leaf PMDs below PUD_SIZE, leaf PUDs from it.
  ["e500_64", false, "4M", "leaf", "pmd", 2, 2, undefined],
  ["e500_64", false, "16M", "leaf", "pmd", 8, 8, undefined],
  ["e500_64", false, "64M", "leaf", "pmd", 32, 32, undefined],
  ["e500_64", false, "256M", "leaf", "pud", 1, 1, undefined],
  ["e500_64", false, "1G", "leaf", "pud", 4, 4, undefined],
  ["book3s64_hash_4k", true, "16M", "hugepd", "pud", 1, 2, 16],
  ["book3s64_hash_4k", true, "16G", "hugepd", "pgd", 1, 2, 8],
  ["book3s64_hash_4k", false, "16M", "leaf", "pmd", 8, 8, undefined],
  ["book3s64_hash_4k", false, "16G", "leaf", "pud", 64, 64, undefined],
  ["book3s64_radix_4k", false, "2M", "leaf", "pmd", 1, 1, undefined],
  ["book3s64_radix_4k", false, "1G", "leaf", "pud", 1, 1, undefined],
];

Deno.test("representation(): every platform × size × variant, row by row", async (t) => {
  for (
    const [platform, hugepd, size, kind, level, replicas, written, hugepdEntries] of REPRESENTATIONS
  ) {
    await t.step(`${platform} ${hugepd ? "hugepd" : "v6.11+"} ${size}`, () => {
      const g = geometry(platform, { hugepd });
      const s = g.hugeSizes.find((x) => sizeName(x) === size)!;
      const r = representation(g, s);
      assert.deepEqual(
        [r.kind, r.level, r.replicas, r.entriesWritten, r.hugepdEntries],
        [kind, level, replicas, written, hugepdEntries],
      );
    });
  }
});

Deno.test("representation(): the table above covers every size of every platform", () => {
  for (const platform of PLATFORMS) {
    for (const hugepd of [true, false]) {
      for (const s of geometry(platform, { hugepd }).hugeSizes) {
        const covered = REPRESENTATIONS.some(([p, h, size]) =>
          p === platform && sizeName(s) === size &&
          (h === hugepd || !["ppc8xx", "e500", "e500_64", "book3s64_hash_4k"].includes(p))
        );
        assert.ok(covered, `${platform} ${hugepd} ${sizeName(s)} has no row`);
      }
    }
  }
});

Deno.test("representation(): size bits of the leaves", () => {
  assert.deepEqual(representation(geometry("arm64_4k"), 2 ** 16).sizeBits, ["PTE_CONT"]);
  assert.deepEqual(representation(geometry("ppc8xx"), 2 ** 14).sizeBits, ["_PAGE_SPS"]);
  assert.deepEqual(representation(geometry("ppc8xx"), 2 ** 19).sizeBits, [
    "_PAGE_SPS",
    "_PAGE_HUGE",
  ]);
  assert.deepEqual(representation(geometry("ppc8xx"), 2 ** 23).sizeBits, [
    "_PMD_PAGE_8M",
    "_PAGE_SPS",
    "_PAGE_HUGE",
  ]);
  // arch_make_huge_pte(): (shift - 10) << 7 in _PAGE_PSIZE_MSK: 4M → 0x600, 1G → 0xa00.
  assert.deepEqual(representation(geometry("e500"), 2 ** 22).sizeBits, ["_PAGE_PSIZE_MSK=0x600"]);
  assert.deepEqual(representation(geometry("e500"), 2 ** 30).sizeBits, ["_PAGE_PSIZE_MSK=0xa00"]);
  const e64 = geometry("e500_64");
  assert.deepEqual(
    e64.hugeSizes.map((s) => representation(e64, s).sizeBits[0]),
    ["0x600", "0x700", "0x800", "0x900", "0xa00"].map((v) => `_PAGE_PSIZE_MSK=${v}`),
  );
  assert.deepEqual(representation(geometry("e500_64", { hugepd: true }), 2 ** 30).sizeBits, []);
});

Deno.test("the hugepd variant changes exactly what the series changed", () => {
  const changed: string[] = [];
  for (const platform of PLATFORMS) {
    const a = geometry(platform, { hugepd: true });
    const b = geometry(platform, { hugepd: false });
    if (JSON.stringify(a.levels) !== JSON.stringify(b.levels)) changed.push(`${platform} levels`);
    for (const s of a.hugeSizes) {
      if (JSON.stringify(representation(a, s)) !== JSON.stringify(representation(b, s))) {
        changed.push(`${platform} ${sizeName(s)}`);
      }
    }
  }
  assert.deepEqual(changed, [
    "ppc8xx 8M",
    "e500 levels",
    "e500 4M",
    "e500 16M",
    "e500 64M",
    "e500 256M",
    "e500 1G",
    "e500_64 4M",
    "e500_64 16M",
    "e500_64 64M",
    "e500_64 256M",
    "e500_64 1G",
    "book3s64_hash_4k 16M",
    "book3s64_hash_4k 16G",
  ]);
});

Deno.test("geometry() and representation() reject what does not exist", () => {
  assert.throws(() => geometry("sparc" as Platform), /unknown platform "sparc"/);
  assert.throws(() => representation(geometry("x86_64"), 2 ** 16), /has no 64K huge pages/);
});

Deno.test("allGeometries(): each platform once, powerpc's hugepd platforms twice", () => {
  const names = allGeometries().map((g) => [g.platform, g.hugepd]);
  const withHugepd = PLATFORMS.filter((p) => ARCH_HAS_HUGEPD[p]);
  assert.equal(names.length, PLATFORMS.length + withHugepd.length);
  for (const p of PLATFORMS) {
    const kinds = names.filter(([q]) => q === p).map(([, h]) => h);
    assert.deepEqual(kinds, ARCH_HAS_HUGEPD[p] ? [true, false] : [false]);
  }
});
