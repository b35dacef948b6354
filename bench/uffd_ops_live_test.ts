import assert from "node:assert/strict";
import { benchUffdLive, LIVE_UFFD_OPS, uffdLiveSummary } from "./uffd_ops_live.ts";
import { UffdOpsLiveRow } from "../lib/datasets/schemas/uffd_ops_live.ts";
import { liveTestsEnabled } from "../lib/live/_testing.ts";

const o = { kernelPages: 256, simulatorPages: 256, repetitions: 1 };

Deno.test("benchUffdLive(): the simulator side resolves every batch; rows fit the schema", () => {
  const rows = benchUffdLive(o, false);
  assert.equal(rows.length, LIVE_UFFD_OPS.length * 5);
  for (const r of rows) UffdOpsLiveRow.parse(r);
  assert.match(uffdLiveSummary(rows), /CONTINUE simulator/);
});

Deno.test("benchUffdLive(): every ioctl resolves every batch on this kernel", {
  ignore: !liveTestsEnabled(),
}, () => {
  const rows = benchUffdLive(o, true).filter((r) => r.system === "kernel");
  assert.deepEqual(
    [...new Set(rows.map((r) => r.op))],
    ["COPY", "ZEROPAGE", "CONTINUE", "MOVE", "POISON"],
  );
});
