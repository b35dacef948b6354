import assert from "node:assert/strict";
import { loadDataset } from "../datasets/mod.ts";
import { runCases } from "../exercise/exercise.ts";
import {
  contPtePrediction,
  costMetrics,
  costRow,
  costRows,
  drawHugePage,
  gupTable,
  HUGEPD_SPECIAL_CASES,
  hugepteExercise,
  impliedPassCost,
  leafStep,
  leafStepExercise,
  replayHugepdGupBug,
  replayPrivateUnshare,
  tables8xx,
  tables8xxExercise,
  walkerComparison,
} from "./hugepd.ts";
import { gupMustUnshare } from "../geometry/gup.ts";
import type { Folio, Vma } from "../geometry/hugetlb.ts";

Deno.test("tables8xx() (the model) agrees with every case of exercise (a)", () => {
  assert.equal(runCases(tables8xxExercise, tables8xx).status, "solved");
});

Deno.test("leafStep() agrees with exercise (b), and a walker that reads every entry fails", () => {
  assert.equal(runCases(leafStepExercise, leafStep).status, "solved");
  const everyEntry = (i: { addr: number; entrySpan: number; leafSize: number }) => ({
    leafStart: i.addr - (i.addr % i.leafSize),
    next: i.addr - (i.addr % i.entrySpan) + i.entrySpan,
    entriesSkipped: 0,
  });
  assert.equal(runCases(leafStepExercise, everyEntry).status, "failed");
});

Deno.test("exercise (c) follows gup_must_unshare() as the model has it", () => {
  const solved = runCases(hugepteExercise, (i) => {
    if (i.foll.write && !i.pteWrite) return 0 as const;
    const flags = (i.foll.write ? 1 : 0) | (i.foll.pin ? 1 << 19 : 0) |
      (i.foll.longterm ? 1 << 8 : 0);
    const vma: Vma | null = i.vma === "none" ? null : {
      start: 0,
      end: 1,
      vmFlags: i.vma === "shared" ? 0x1 | 0x8 | 0x80 : 0x1 | 0x2,
      pageSize: 4096,
      file: null,
      fileOffset: 0,
      thp: false,
    };
    const folio = { ...i.folio } as Folio;
    return !i.pteWrite && gupMustUnshare(vma, flags, folio) ? -31 as const : 1 as const;
  });
  assert.equal(solved.status, "solved");
});

Deno.test("costRow(): 8xx 8M needs 8 KiB of PTE tables without hugepd, 4 bytes with it", () => {
  const before = costRow("ppc8xx", 2 ** 23, true);
  const after = costRow("ppc8xx", 2 ** 23, false);
  assert.equal(after.pgtableBytes - before.pgtableBytes, 8192 - 4);
  assert.deepEqual([before.slowGupIterations, after.slowGupIterations], [1, 2048]);
  assert.deepEqual([before.hugepdCases > 0, after.hugepdCases], [true, 0]);
});

Deno.test("costRows() and costMetrics(): one row per mapping and variant, six metrics each", () => {
  const rows = costRows();
  assert.equal(rows.length, 20);
  assert.equal(costMetrics(rows).length, 20 * 6);
});

Deno.test("costRow(): e500/64 1G is four PUD entries; e500/32 1G is 512 first-level ones", () => {
  const before = costRow("e500_64", 2 ** 30, true);
  const after = costRow("e500_64", 2 ** 30, false);
  assert.deepEqual([before.kind, after.kind], ["hugepd", "leaf"]);
  assert.deepEqual([before.entriesWritten, after.entriesWritten], [5, 4]);
  // pgd + PUD table, plus the 8-byte hugepte table with hugepd.
  assert.deepEqual([before.pgtableBytes, after.pgtableBytes], [8192 + 8, 8192]);
  assert.deepEqual([before.slowGupIterations, after.slowGupIterations], [1, 4]);
  assert.equal(costRow("e500", 2 ** 30, false).slowGupIterations, 512);
  assert.match(drawHugePage("e500_64", 2 ** 30, false).text, /4× leaf/);
  assert.match(drawHugePage("e500_64", 2 ** 30, true).text, /pud table .*4× → hugepd shift 30/);
});

Deno.test("contPtePrediction(): 16 times the loop passes for 64K cont-PTE after the switch", () => {
  const [passes, entries] = contPtePrediction(1024);
  assert.deepEqual([passes.ratio, entries.ratio], [16, 16]);
  assert.ok(Math.abs(impliedPassCost(15) - 2.4 / 14.85) < 1e-12);
});

Deno.test("replayHugepdGupBug(): hangs without the vma, pins with it", () => {
  const bug = replayHugepdGupBug({ hugepdGupVma: false });
  assert.deepEqual([bug.ret, bug.livelock], [0, true]);
  assert.match(gupTable(bug).caption!, /livelock/);
  const fixed = replayHugepdGupBug({});
  assert.deepEqual([fixed.ret, fixed.livelock], [1, false]);
});

Deno.test("drawHugePage() and the special-case table", () => {
  assert.match(drawHugePage("ppc8xx", 2 ** 23, false).text, /_PMD_PAGE_8M/);
  assert.equal(HUGEPD_SPECIAL_CASES.length, 6);
});

Deno.test("the quoted dataset: Peter Xu's 15%, twice", () => {
  const { provenance, rows } = loadDataset("gup_cont_pte_quote.json");
  assert.equal(provenance.kind, "quoted");
  assert.deepEqual(rows.map((r) => [r.date, r.slowdownPercent]), [["2023-11-30", 15], [
    "2024-03-21",
    15,
  ]]);
});

const SEED = new URL("../../../shared/seeds/003_04fde8f735f91402.txt", import.meta.url);
const haveSeed = (() => {
  try {
    return Deno.statSync(SEED).isFile;
  } catch {
    return false;
  }
})();

Deno.test({
  name: "the quoted dataset: each quote is at its seed lines, verbatim",
  ignore: !haveSeed,
  fn() {
    const lines = Deno.readTextFileSync(SEED).split("\n");
    for (const r of loadDataset("gup_cont_pte_quote.json").rows) {
      const [first, last] = r.seedLines.split("-").map(Number);
      const text = lines.slice(first - 1, last).map((l) => l.replace(/^[> ]*/, "").trim()).join(
        " ",
      );
      assert.ok(text.includes(r.quote), `${r.seedLines}: ${text}`);
    }
  },
});

Deno.test("replayPrivateUnshare(): fixed, the pin gets a private copy through one unshare fault", () => {
  const fixed = replayPrivateUnshare({});
  assert.deepEqual([fixed.result.ret, fixed.result.costs.unshareFaults], [1, 1]);
  assert.notEqual(fixed.pinnedPfn, fixed.pageCachePfn);
  assert.equal(fixed.pinnedPfn, fixed.mappedPfn);
  const bug = replayPrivateUnshare({ hugepdGupVma: false });
  assert.deepEqual([bug.result.ret, bug.result.livelock, bug.pinnedPfn], [0, true, null]);
});

Deno.test("walkerComparison(): the walkers agree everywhere; hugepd branches only with hugepd", () => {
  const rows = walkerComparison(2);
  assert.ok(rows.every((r) => r.agree === true));
  for (const r of rows) {
    const viaHugepd = (r["legacy: hugepd branches"] as number) > 0;
    assert.equal(viaHugepd, (r["generic: hugepd branches"] as number) > 0);
    if (!String(r.platform).includes("hugepd")) assert.equal(viaHugepd, false);
  }
  assert.ok(rows.some((r) => (r["generic: hugepd branches"] as number) > 0));
});
