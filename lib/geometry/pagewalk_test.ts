import assert from "node:assert/strict";
import fc from "fast-check";
import { allGeometries, geometry, PLATFORMS, SZ_16M, SZ_64K, SZ_8M } from "./geometry.ts";
import {
  FAULT_FLAG_WRITE,
  GeoMm,
  handleFault,
  HugetlbFile,
  newCosts,
  translate,
} from "./hugetlb.ts";
import {
  forEachPtLeaf,
  genericLeaves,
  legacyLeaves,
  mmWalkSeekLeaf,
  walkCosts,
} from "./pagewalk.ts";

const scenario = fc.record({
  platform: fc.constantFrom(...PLATFORMS),
  hugepd: fc.boolean(),
  sizeIndex: fc.nat({ max: 4 }),
  shared: fc.boolean(),
  touched: fc.array(fc.constantFrom("none", "read", "write"), { minLength: 1, maxLength: 3 }),
  anonTouched: fc.array(fc.constantFrom("none", "read", "write"), { minLength: 1, maxLength: 4 }),
});

Deno.test("the legacy and the generic walker report the same leaves (every geometry × size × variant)", () => {
  fc.assert(
    fc.property(scenario, (s) => {
      const g = geometry(s.platform, { hugepd: s.hugepd });
      const size = g.hugeSizes[s.sizeIndex % g.hugeSizes.length];
      const mm = new GeoMm(g);
      const file = new HugetlbFile("hugetlbfs", size);
      // Anonymous memory below it: THP-sized folios where the platform has THP.
      const step = g.thpSize ?? 4096;
      const b = mm.mmap({
        len: s.anonTouched.length * step,
        write: true,
        shared: false,
        thp: true,
      });
      const a = mm.mmap({ len: s.touched.length * size, write: true, shared: s.shared, file });
      const expected = [];
      for (
        const [base, unit, how] of [
          ...s.anonTouched.map((t, i) => [b + i * step, step, t] as const),
          ...s.touched.map((t, i) => [a + i * size, size, t] as const),
        ]
      ) {
        if (how === "none") continue;
        handleFault(mm, base + unit / 2, how === "write" ? FAULT_FLAG_WRITE : 0);
        expected.push({ addr: base, size: unit, pfn: translate(mm, base)! });
      }
      const end = a + s.touched.length * size;
      const legacy = legacyLeaves(mm, b, end);
      const generic = genericLeaves(mm, b, end);
      assert.deepEqual(generic, legacy);
      assert.deepEqual(legacy.map(({ addr, size, pfn }) => ({ addr, size, pfn })), expected);
    }),
    { seed: 0x68756765, numRuns: 300 },
  );
});

Deno.test("forEachPtLeaf() takes the hugepd branch only in the ≤ v6.10 layout", () => {
  for (const hugepd of [true, false]) {
    const mm = new GeoMm(geometry("ppc8xx", { hugepd }));
    const a = mm.mmap({ len: SZ_8M, write: true, shared: true, file: new HugetlbFile("f", SZ_8M) });
    handleFault(mm, a, 0);
    const c = newCosts();
    const leaves = [...forEachPtLeaf(mm, a, a + SZ_8M, c)];
    assert.equal(leaves.length, 1);
    assert.equal(c.hugepdCases, hugepd ? 1 : 0);
    assert.equal(leaves[0][1].level, hugepd ? "hugepd" : "pte");
  }
});

Deno.test("forEachPtLeaf() reads one entry of a contiguous block and skips the rest", () => {
  const mm = new GeoMm(geometry("arm64_4k"));
  const a = mm.mmap({ len: SZ_64K, write: true, shared: true, file: new HugetlbFile("f", SZ_64K) });
  handleFault(mm, a, 0);
  const { legacy, generic } = walkCosts(mm, a, a + SZ_64K);
  // pgd, pud, pmd, then the first of the 16 PTE_CONT entries only.
  assert.equal(generic.entries, 4);
  // hugetlb_walk() reads pgd, pud, pmd; huge_ptep_get() reads all 16 PTEs.
  assert.equal(legacy.entries, 3 + 16);
});

Deno.test("forEachPtLeaf() skips the second PTE table of an 8xx 8M page unread", () => {
  const mm = new GeoMm(geometry("ppc8xx"));
  const a = mm.mmap({ len: SZ_8M, write: true, shared: true, file: new HugetlbFile("f", SZ_8M) });
  handleFault(mm, a, FAULT_FLAG_WRITE);
  const c = newCosts();
  genericLeaves(mm, a, a + SZ_8M, c);
  assert.deepEqual([c.entries, c.tables], [2, 2]);
});

Deno.test("mmWalkSeekLeaf(): the state keeps the path from the top", () => {
  const mm = new GeoMm(geometry("book3s64_hash_4k", { hugepd: true }));
  const a = mm.mmap({ len: SZ_16M, write: true, shared: true, file: new HugetlbFile("f", SZ_16M) });
  handleFault(mm, a, 0);
  const found = mmWalkSeekLeaf(mm, a + 12345);
  assert.ok(found);
  const [leaf, state] = found;
  assert.equal(leaf.addr, a);
  assert.deepEqual(state.path.map((p) => p.level), ["pgd", "pud", "hugepd"]);
  assert.equal(mmWalkSeekLeaf(mm, a + SZ_16M * 2), null);
});

Deno.test("e500/64 1G: the generic walker reads one of the four leaf PUDs; with hugepd both walkers branch once", () => {
  for (const hugepd of [false, true]) {
    const mm = new GeoMm(geometry("e500_64", { hugepd }));
    const size = 2 ** 30;
    const a = mm.mmap({ len: size, write: true, shared: true, file: new HugetlbFile("f", size) });
    handleFault(mm, a, 0);
    const { legacy, generic } = walkCosts(mm, a, a + size);
    const [leaf, state] = mmWalkSeekLeaf(mm, a + 3 * 2 ** 28)!;
    assert.equal(leaf.addr, a);
    if (!hugepd) {
      // pgd, then the first PUD entry; the other three are skipped unread.
      assert.equal(generic.entries, 2);
      assert.equal(state.level, "pud");
      assert.deepEqual([legacy.hugepdCases, generic.hugepdCases], [0, 0]);
    } else {
      // pgd, the PUD hugepd, its one hugepte.
      assert.equal(generic.entries, 3);
      assert.equal(state.level, "hugepd");
      assert.deepEqual([legacy.hugepdCases, generic.hugepdCases], [1, 1]);
    }
  }
});

Deno.test("both walkers report a page's first frame when the range starts inside it", () => {
  for (const g of allGeometries()) {
    for (const size of g.hugeSizes) {
      const mm = new GeoMm(g);
      const a = mm.mmap({
        len: size,
        write: true,
        shared: true,
        file: new HugetlbFile("f", size),
      });
      handleFault(mm, a, FAULT_FLAG_WRITE);
      const first = translate(mm, a)!;
      // In the first entry of the page, and in its last one.
      for (const start of [a + 0x3000, a + size - 0x1000]) {
        const expected = [{ addr: a, size, pfn: first, write: true }];
        const where = `${g.name} ${size} from +0x${(start - a).toString(16)}`;
        assert.deepEqual(legacyLeaves(mm, start, a + size), expected, `legacy: ${where}`);
        assert.deepEqual(genericLeaves(mm, start, a + size), expected, `generic: ${where}`);
      }
    }
  }
});
