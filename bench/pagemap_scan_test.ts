import assert from "node:assert/strict";
import { benchKernelScan, benchSimulatorScan, presentRuns, scanSummary } from "./pagemap_scan.ts";
import { PagemapScanRow } from "../lib/datasets/schemas/pagemap_scan_vs_read.ts";
import { liveTestsEnabled } from "../lib/live/_testing.ts";

Deno.test("presentRuns() counts runs of PM_PRESENT entries", () => {
  const b = new Uint8Array(5 * 8);
  for (const i of [0, 1, 3]) b[i * 8 + 7] = 0x80;
  assert.equal(presentRuns(b, 5), 2);
  assert.equal(presentRuns(b, 1), 1);
});

Deno.test("benchSimulatorScan(): both methods find the same regions; rows fit the schema", () => {
  const rows = benchSimulatorScan({ sizes: [128, 1024], simulatorMaxPages: 128, repetitions: 1 });
  assert.equal(rows.length, 2 * 2);
  for (const r of rows) PagemapScanRow.parse(r);
  const sparse = rows.filter((r) => r.density === "sparse").map((r) => r.regions);
  assert.deepEqual(sparse, [2, 2]);
  assert.deepEqual(rows.filter((r) => r.density === "dense").map((r) => r.regions), [1, 1]);
  assert.match(scanSummary(rows), /simulator PAGEMAP_SCAN sparse/);
});

Deno.test("benchKernelScan(): both methods find the same regions on this kernel", {
  ignore: !liveTestsEnabled(),
}, () => {
  const rows = benchKernelScan({ sizes: [640], simulatorMaxPages: 0, repetitions: 1 });
  assert.deepEqual(rows.map((r) => [r.method, r.density, r.regions]), [
    ["PAGEMAP_SCAN", "sparse", 10],
    ["pagemap read", "sparse", 10],
    ["PAGEMAP_SCAN", "dense", 1],
    ["pagemap read", "dense", 1],
  ]);
});
