import assert from "node:assert/strict";
import { geometry, SZ_16M, SZ_8M } from "./geometry.ts";
import { GeoMm, handleFault, HugetlbFile } from "./hugetlb.ts";
import { pageTableNodes, representationSvg } from "./diagram.ts";

/** One element per line, so that a snapshot diff is readable. */
const snapshot = { serializer: (markup: string) => markup.replace(/></g, ">\n<") };

function page(platform: Parameters<typeof geometry>[0], hugepd: boolean, size: number) {
  const mm = new GeoMm(geometry(platform, { hugepd }));
  const a = mm.mmap({ len: size, write: true, shared: true, file: new HugetlbFile("f", size) });
  handleFault(mm, a, 0);
  return { mm, a };
}

Deno.test("pageTableNodes(): 8xx 8M with hugepd is one directory run and one hugepte table", () => {
  const { mm, a } = page("ppc8xx", true, SZ_8M);
  const nodes = pageTableNodes(mm, a, SZ_8M);
  assert.deepEqual(nodes.map((n) => [n.level, n.depth, n.groups.map((g) => [g.kind, g.count])]), [
    ["pmd", 0, [["hugepd", 2]]],
    ["hugepd", 1, [["leaf", 1]]],
  ]);
});

Deno.test("pageTableNodes(): 8xx 8M without hugepd is two PMD entries to two full PTE tables", () => {
  const { mm, a } = page("ppc8xx", false, SZ_8M);
  const nodes = pageTableNodes(mm, a, SZ_8M);
  assert.deepEqual(nodes.map((n) => [n.level, n.depth, n.groups.map((g) => [g.kind, g.count])]), [
    ["pmd", 0, [["table", 1], ["table", 1]]],
    ["pte", 1, [["leaf", 1024]]],
    ["pte", 1, [["leaf", 1024]]],
  ]);
});

Deno.test("representationSvg() of the 8xx 8M page matches its snapshots", async (t) => {
  for (const hugepd of [true, false]) {
    const { mm, a } = page("ppc8xx", hugepd, SZ_8M);
    await t.assertSnapshot(representationSvg(mm, a, SZ_8M).svg, snapshot);
  }
});

Deno.test("representationSvg() of the hash 16M page matches its snapshots", async (t) => {
  for (const hugepd of [true, false]) {
    const { mm, a } = page("book3s64_hash_4k", hugepd, SZ_16M);
    await t.assertSnapshot(representationSvg(mm, a, SZ_16M).svg, snapshot);
  }
});

Deno.test("pageTableNodes(): e500/64 1G is four PUD hugepds to one hugepte (v6.10), four leaf PUDs (v6.11+)", () => {
  const shape = (hugepd: boolean) => {
    const { mm, a } = page("e500_64", hugepd, 2 ** 30);
    return pageTableNodes(mm, a, 2 ** 30).map((n) => [
      n.level,
      n.depth,
      n.groups.map((g) => [g.kind, g.count]),
    ]);
  };
  assert.deepEqual(shape(true), [
    ["pgd", 0, [["table", 1]]],
    ["pud", 1, [["hugepd", 4]]],
    ["hugepd", 2, [["leaf", 1]]],
  ]);
  assert.deepEqual(shape(false), [
    ["pgd", 0, [["table", 1]]],
    ["pud", 1, [["leaf", 4]]],
  ]);
});
