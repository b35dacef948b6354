import assert from "node:assert/strict";
import {
  type PageTablePath,
  pageTablePathSvg,
  pageTablePathText,
  type WalkLevel,
  X86_64_4LEVEL,
} from "./page_table_path.ts";

const ADDR = 0x7f1234567123;

function level(
  name: WalkLevel["level"],
  index: number,
  tablePfn: number,
  entry: bigint,
  more: Partial<WalkLevel> = {},
): WalkLevel {
  return {
    level: name,
    index,
    tablePfn,
    entry,
    present: true,
    leaf: false,
    flags: ["present"],
    ...more,
  };
}

/** A 4 KiB mapping of ADDR: indexes 254/72/418/359, offset 0x123. */
const MAPPED: PageTablePath = {
  addr: ADDR,
  pageOffset: 0x123,
  pfn: 0x12345,
  levels: [
    level("pgd", 254, 0x1000, 0x2001067n),
    level("pud", 72, 0x2001, 0x2002067n),
    level("pmd", 418, 0x2002, 0x2003067n),
    level("pte", 359, 0x2003, 0x8000000012345867n, { leaf: true, flags: ["present", "rw", "nx"] }),
  ],
};

Deno.test("pageTablePathText() lists each table, the folded p4d and the frame", () => {
  assert.equal(
    pageTablePathText(MAPPED),
    [
      "virtual address 0x7f1234567123 (x86-64 4-level)",
      "  pgd[254]  table pfn 0x1000  entry 0x0000000002001067  present",
      "  p4d       folded into the level above",
      "  pud[72]   table pfn 0x2001  entry 0x0000000002002067  present",
      "  pmd[418]  table pfn 0x2002  entry 0x0000000002003067  present",
      "  pte[359]  table pfn 0x2003  entry 0x8000000012345867  present rw nx",
      "  → pfn 0x12345 (4 KiB page) + offset 0x123 = physical 0x12345123",
    ].join("\n"),
  );
});

Deno.test("pageTablePathSvg() draws the index fields, every table and the frame", () => {
  const svg = pageTablePathSvg(MAPPED).svg;
  for (const index of ["254", "72", "418", "359", "0x123"]) {
    assert.match(svg, new RegExp(`>${index}</text>`));
  }
  for (const name of ["pgd", "pud", "pmd", "pte"]) {
    assert.match(svg, new RegExp(`data-level="${name}"`));
  }
  assert.match(svg, /p4d: folded into pgd/);
  assert.match(svg, /pte_val = 0x8000000012345867/);
  assert.match(svg, /present rw nx/);
  assert.match(svg, /data-outcome="frame"/);
  assert.match(svg, /physical 0x12345123/);
});

Deno.test("pageTablePathSvg() stops at a non-present entry", () => {
  const path: PageTablePath = {
    addr: 0x1000,
    pageOffset: 0,
    pfn: null,
    levels: [
      level("pgd", 0, 0x1000, 0x2001067n),
      level("pud", 0, 0x2001, 0n, { present: false, flags: [] }),
    ],
  };
  const svg = pageTablePathSvg(path).svg;
  assert.match(svg, /data-outcome="not-present"/);
  assert.match(svg, /the walk stops at pud\[0\]/);
  assert.doesNotMatch(svg, /data-level="pmd"/);
});

Deno.test("pageTablePathSvg() treats the bits below a huge leaf as the page offset", () => {
  const addr = 0x7f1234405123;
  const path: PageTablePath = {
    addr,
    pageOffset: 0x5123,
    pfn: 0x40000,
    levels: [
      level("pgd", 254, 0x1000, 0x2001067n),
      level("p4d", 0, 0x1000, 0x2001067n),
      level("pud", 72, 0x2001, 0x2002067n),
      level("pmd", 418, 0x2002, 0x400000e7n, { leaf: true }),
    ],
  };
  const figure = pageTablePathSvg(path);
  assert.match(figure.svg, />offset in 2 MiB<\/text>/);
  assert.match(figure.svg, />0x5123<\/text>/);
  assert.match(figure.svg, /leaf: maps a 2 MiB page/);
  assert.match(figure.svg, /data-level="p4d"/);
  assert.match(figure.text, /physical 0x40005123/);
});

Deno.test("pageTablePathSvg() rejects inconsistent paths, quoting the values", async (t) => {
  await t.step("index that does not match the address", () => {
    const bad = { ...MAPPED, levels: [level("pgd", 1, 0x1000, 0n)] };
    assert.throws(
      () => pageTablePathSvg(bad),
      /pgd index 1 does not match bits 47:39 of 0x7f1234567123 \(254\)/,
    );
  });
  await t.step("levels out of order", () => {
    const bad = { ...MAPPED, levels: [MAPPED.levels[1], MAPPED.levels[0]] };
    assert.throws(() => pageTablePathSvg(bad), /from the top down .* got pud, pgd/);
  });
  await t.step("no levels", () => {
    assert.throws(() => pageTablePathSvg({ ...MAPPED, levels: [] }), /has no levels/);
  });
  await t.step("negative address", () => {
    assert.throws(() => pageTablePathSvg({ ...MAPPED, addr: -1 }), /got -1/);
  });
});

Deno.test("X86_64_4LEVEL folds p4d into pgd", () => {
  const p4d = X86_64_4LEVEL.levels.find((l) => l.level === "p4d")!;
  const pgd = X86_64_4LEVEL.levels.find((l) => l.level === "pgd")!;
  assert.deepEqual([p4d.bits, p4d.shift], [0, pgd.shift]);
});
