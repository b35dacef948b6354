import assert from "node:assert/strict";
import {
  categoryNames,
  gcRounds,
  limitsExercise,
  mutatorPages,
  pageCells,
  pageStripPlot,
  regionRows,
  runLiveLesson,
  selectRegions,
  selectRegionsExercise,
  simulateLimits,
  thpCases,
  thpExercise,
  thpWriteProtect,
  trackedRegion,
} from "./pagemap_scan.ts";
import { simulate } from "../kernel/kernel.ts";
import * as C from "../kernel/constants.ts";
import { runCases } from "../exercise/exercise.ts";
import { liveTestsEnabled } from "../live/_testing.ts";

const P = C.PAGE_SIZE;

Deno.test("categoryNames(): the PAGE_IS_* names of a mask, without the prefix", () => {
  assert.equal(categoryNames(C.PAGE_IS_WRITTEN | C.PAGE_IS_PRESENT), "WRITTEN|PRESENT");
  assert.equal(categoryNames(C.PAGE_IS_GUARD), "GUARD");
  assert.equal(categoryNames(0), "—");
});

Deno.test("trackedRegion(): every page starts not written; a write shows up", () => {
  const t = trackedRegion(8);
  const scan = () =>
    t.p.pagemapScan({
      start: t.a,
      end: t.a + 8 * P,
      categoryMask: C.PAGE_IS_WRITTEN,
      returnMask: C.PAGE_IS_WRITTEN,
    });
  assert.deepEqual(scan().regions, []);
  t.p.write(t.a + 3 * P, 1);
  assert.deepEqual(regionRows(scan().regions, t.a), [
    { pages: "3–3", count: 1, categories: "WRITTEN" },
  ]);
});

Deno.test("gcRounds() on the model: each round finds exactly the pages written since the last", () => {
  const rounds = gcRounds(simulate().spawn(), 64, 4);
  assert.equal(rounds.length, 4);
  for (const r of rounds) assert.deepEqual(r.dirty, r.written);
  assert.deepEqual(rounds[0].written, mutatorPages(64, 1));
});

Deno.test("thpWriteProtect(): whole PMD only when all 512 pages are reported", () => {
  const whole = { from: 0, to: 512, maxPagesLeft: null, vecFull: false };
  assert.deepEqual(thpWriteProtect(whole), { split: false, wpPages: 512 });
  assert.deepEqual(thpWriteProtect({ ...whole, maxPagesLeft: 10 }), { split: true, wpPages: 10 });
  assert.deepEqual(thpWriteProtect({ ...whole, from: 100 }), { split: true, wpPages: 412 });
  assert.deepEqual(thpWriteProtect({ ...whole, vecFull: true }), { split: false, wpPages: 0 });
});

Deno.test("selectRegions() agrees with the model's PAGEMAP_SCAN on a mixed region", () => {
  const p = simulate({ config: { MEM_SOFT_DIRTY: false } }).spawn();
  const a = p.mmap(0, 6 * P, C.PROT_READ | C.PROT_WRITE, C.MAP_PRIVATE | C.MAP_ANONYMOUS);
  p.write(a, 1);
  p.read(a + P);
  p.write(a + 2 * P, 1);
  p.madvise(a + 4 * P, P, C.MADV_GUARD_INSTALL);
  const masks = {
    categoryInverted: 0,
    categoryMask: C.PAGE_IS_WRITTEN,
    categoryAnyofMask: 0,
    returnMask: C.PAGE_IS_PRESENT | C.PAGE_IS_PFNZERO,
  };
  const perPage = Array.from(
    { length: 6 },
    (_, i) =>
      p.pagemapScan({ start: a + i * P, end: a + (i + 1) * P, returnMask: C.PM_SCAN_CATEGORIES })
        .regions[0]?.categories ?? 0,
  );
  const whole = p.pagemapScan({ start: a, end: a + 6 * P, ...masks }).regions;
  assert.deepEqual(
    selectRegions({ pages: perPage, masks }),
    whole.map((r) => [(r.start - a) / P, (r.end - a) / P, r.categories]),
  );
});

Deno.test("the exercises' references pass their own checks", () => {
  assert.equal(runCases(selectRegionsExercise, selectRegions).status, "solved");
  assert.equal(runCases(limitsExercise, simulateLimits).status, "solved");
  assert.equal(runCases(thpExercise, thpWriteProtect).status, "solved");
});

Deno.test("simulateLimits(): max_pages cuts a region and sets walk_end", () => {
  assert.deepEqual(simulateLimits({ pages: 16, written: [2, 3, 4, 9], vecLen: 16, maxPages: 2 }), {
    regions: [[2, 4]],
    walkEnd: 4,
  });
});

Deno.test("runLiveLesson(): the kernel's GC rounds and THP cases, as the model predicts", {
  ignore: !liveTestsEnabled(),
}, async () => {
  const live = await runLiveLesson();
  assert.ok(live.ok, live.ok ? "" : live.reason);
  const model = gcRounds(simulate().spawn(), 64, 4);
  assert.deepEqual(live.result.gc, model);
  if (live.result.thp.ran) {
    const [cut, whole] = live.result.thp.cases;
    assert.deepEqual(cut.scan, [[0, 10, "WRITTEN|PRESENT"]]);
    assert.ok(!cut.after.some(([, , c]) => c.includes("HUGE")), "split by the scan");
    assert.deepEqual(whole.after, [[0, 512, "PRESENT|HUGE"]]);
  }
});

Deno.test("pageCells() and pageStripPlot(): one cell per page, labelled by moment", () => {
  const t = trackedRegion(4);
  t.p.write(t.a + P, 1);
  const cells = pageCells(t.p, t.a, 4, "after");
  assert.deepEqual(cells.map((c) => c.state), ["SWAPPED", "WRITTEN|PRESENT", "SWAPPED", "SWAPPED"]);
  const fig = pageStripPlot(cells, "strip");
  assert.match(fig.toString(), /strip/);
});

Deno.test("thpCases() on the model: max_pages 10 splits the THP; no limit keeps the PMD", () => {
  const r = thpCases(simulate().spawn());
  assert.ok(r.ran, r.ran ? "" : r.reason);
  const [cut, whole] = r.cases;
  assert.deepEqual(cut.scan, [[0, 10, "WRITTEN|PRESENT"]]);
  assert.deepEqual(cut.after, [[0, 10, "PRESENT"], [10, 512, "WRITTEN|PRESENT"]]);
  assert.deepEqual(whole.scan, [[0, 512, "WRITTEN|PRESENT|HUGE"]]);
  // Without a limit make_uffd_wp_pmd() protects the PMD itself: still HUGE,
  // until the next write splits it (wp_huge_pmd() under WP_ASYNC).
  assert.deepEqual(whole.after, [[0, 512, "PRESENT|HUGE"]]);
  assert.deepEqual(whole.afterWrite, [[0, 511, "PRESENT"], [511, 512, "WRITTEN|PRESENT"]]);
  for (
    const input of [10, 100, 512].map((n) => ({
      from: 0,
      to: 512,
      maxPagesLeft: n,
      vecFull: false,
    }))
  ) {
    assert.equal(thpWriteProtect(input).wpPages, input.maxPagesLeft);
  }
});
