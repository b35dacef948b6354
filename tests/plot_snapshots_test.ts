/**
 * Snapshots of the figures lessons rely on, from small literal fixtures.
 * Generated class names are normalised, numbers rounded to one decimal, and
 * the markup is broken into one element per line so that a diff is readable.
 *
 * Update after an intended change with:
 *   deno test -A tests/plot_snapshots_test.ts -- --update-snapshots
 * (or `deno test -A --update-snapshots tests/plot_snapshots_test.ts`).
 */
import {
  type BitField,
  entryBitsSvg,
  type PageTablePath,
  pageTablePathSvg,
  Plot,
  plot,
} from "../lib/plot/mod.ts";

/** Stable, diffable markup. */
function normalise(markup: string): string {
  return markup
    .replace(/plot-[0-9a-f]{6}/g, "plot")
    .replace(/-?\d+\.\d+/g, (n) => String(Number(Number(n).toFixed(1))))
    .replace(/></g, ">\n<");
}

const snapshot = { serializer: (markup: string) => normalise(markup) };

/** x86-64 pte bits (arch/x86/include/asm/pgtable_types.h, v6.18). */
const X86_PTE_FIELDS: readonly BitField[] = [
  { name: "present", lo: 0, hi: 0, description: "_PAGE_BIT_PRESENT" },
  { name: "rw", lo: 1, hi: 1, description: "_PAGE_BIT_RW" },
  { name: "user", lo: 2, hi: 2, description: "_PAGE_BIT_USER" },
  { name: "accessed", lo: 5, hi: 5, description: "_PAGE_BIT_ACCESSED" },
  { name: "dirty", lo: 6, hi: 6, description: "_PAGE_BIT_DIRTY" },
  { name: "soft_dirty", lo: 11, hi: 11, description: "_PAGE_BIT_SOFT_DIRTY" },
  { name: "pfn", lo: 12, hi: 51, description: "PTE_PFN_MASK" },
  { name: "nx", lo: 63, hi: 63, description: "_PAGE_BIT_NX" },
];

/** A 4 KiB mapping of 0x7f1234567123 (indexes 254/72/418/359), p4d folded. */
const PATH: PageTablePath = {
  addr: 0x7f1234567123,
  pageOffset: 0x123,
  pfn: 0x12345,
  levels: [
    {
      level: "pgd",
      index: 254,
      tablePfn: 0x1000,
      entry: 0x2001067n,
      present: true,
      leaf: false,
      flags: ["present", "rw", "user", "accessed", "dirty"],
    },
    {
      level: "pud",
      index: 72,
      tablePfn: 0x2001,
      entry: 0x2002067n,
      present: true,
      leaf: false,
      flags: ["present", "rw", "user", "accessed", "dirty"],
    },
    {
      level: "pmd",
      index: 418,
      tablePfn: 0x2002,
      entry: 0x2003067n,
      present: true,
      leaf: false,
      flags: ["present", "rw", "user", "accessed", "dirty"],
    },
    {
      level: "pte",
      index: 359,
      tablePfn: 0x2003,
      entry: 0x8000000012345867n,
      present: true,
      leaf: true,
      flags: ["present", "rw", "user", "accessed", "dirty", "soft_dirty", "nx"],
    },
  ],
};

Deno.test("entryBitsSvg() of an x86-64 pte", async (t) => {
  await t.assertSnapshot(
    entryBitsSvg(0x8000000012345867n, X86_PTE_FIELDS, { title: "pte" }).svg,
    snapshot,
  );
});

Deno.test("pageTablePathSvg() of a 4 KiB mapping", async (t) => {
  await t.assertSnapshot(pageTablePathSvg(PATH).svg, snapshot);
});

Deno.test("plot() of faults per second by system", async (t) => {
  const rows = [
    { system: "simulator", repetition: 1, faultsPerSecond: 2.1e6 },
    { system: "simulator", repetition: 2, faultsPerSecond: 2.3e6 },
    { system: "kernel", repetition: 1, faultsPerSecond: 1.3e6 },
    { system: "kernel", repetition: 2, faultsPerSecond: 1.2e6 },
  ];
  const figure = plot({
    width: 320,
    height: 200,
    y: { grid: true, label: "faults/s" },
    marks: [Plot.dot(rows, { x: "system", y: "faultsPerSecond" }), Plot.ruleY([0])],
  });
  await t.assertSnapshot(figure.svg, snapshot);
});
