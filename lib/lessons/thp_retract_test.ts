import assert from "node:assert/strict";
import {
  checkMmLine,
  COLLAPSE_STEPS,
  collapseOutcomes,
  mmAtExit,
  recheckExercise,
  reductionRows,
  runInterleaving,
  safeRecheckPlacements,
} from "./thp_retract.ts";

Deno.test("collapseOutcomes(): khugepaged collapses iff present + max_ptes_none ≥ 512", () => {
  const rows = collapseOutcomes([0, 64], [447, 448, 512]);
  assert.deepEqual(rows.map((r) => `${r.max_ptes_none}/${r.present}:${r.result}`), [
    "0/447:SCAN_EXCEED_NONE_PTE",
    "0/448:SCAN_EXCEED_NONE_PTE",
    "0/512:SCAN_SUCCEED",
    "64/447:SCAN_EXCEED_NONE_PTE",
    "64/448:SCAN_SUCCEED",
    "64/512:SCAN_SUCCEED",
  ]);
});

Deno.test("COLLAPSE_STEPS: the fix takes pmd_lock() before step 2 and drops ptl once", () => {
  const pre = COLLAPSE_STEPS["pre-a98460494b16"], fixed = COLLAPSE_STEPS["v6.18"];
  assert.ok(!pre.includes("pmd_lock() (uffd private)"));
  assert.ok(fixed.indexOf("pmd_lock() (uffd private)") < fixed.indexOf("step 2: ptep_clear()"));
  assert.equal(pre.filter((l) => l === "spin_unlock(ptl)").length, 2);
  assert.equal(fixed.filter((l) => l === "spin_unlock(ptl)").length, 1);
});

Deno.test("runInterleaving(): the copy in the pre-fix window leaves a Bad rss-counter line", () => {
  const r = runInterleaving({
    variant: "pre-a98460494b16",
    copyAfter: "step 3: add_mm_counter(-nr_ptes)",
  });
  assert.deepEqual(r.outcome, { collapse: "SCAN_SUCCEED", copy: "copied", badRss: true });
  assert.equal(
    checkMmLine(mmAtExit(r.state)),
    "BUG: Bad rss-counter state mm:1 type:MM_ANONPAGES val:1",
  );
  const fixed = runInterleaving({ variant: "v6.18", copyAfter: "step 2: ptep_clear()" });
  assert.deepEqual(fixed.outcome, { collapse: "SCAN_SUCCEED", copy: "copied", badRss: false });
  assert.equal(fixed.state.pmd, 2, "the copy retried into a new table");
  assert.throws(() => runInterleaving({ variant: "v6.18", copyAfter: "no such step" }), RangeError);
});

Deno.test("safeRecheckPlacements(): only under the PTE lock", () => {
  assert.deepEqual(safeRecheckPlacements("uffd_wp"), ["after spin_lock_nested(ptl)"]);
  assert.deepEqual(recheckExercise.cases.map((c) => c.expected), [
    ["after spin_lock_nested(ptl)"],
    ["after spin_lock_nested(ptl)"],
  ]);
});

Deno.test("reductionRows(): independent threads reduce to one interleaving", () => {
  const rows = reductionRows([2], [2]);
  assert.deepEqual(rows, [
    { threads: 2, steps: 2, mode: "naive", states: 19, interleavings: 6 },
    { threads: 2, steps: 2, mode: "hashing + sleep sets", states: 9, interleavings: 1 },
  ]);
});
