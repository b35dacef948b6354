import assert from "node:assert/strict";
import { explore } from "./explore.ts";
import { deviceExclusiveRace } from "./device_exclusive.ts";

Deno.test("without the ttp->address check the explorer finds the GUP-then-rmap-walk race", () => {
  const r = explore(deviceExclusiveRace("no-check"));
  assert.equal(r.verdict, "counterexample");
  if (r.verdict !== "counterexample") return;
  // GUP, the zap (A maps nothing when the walk runs), then the walk and the verdict.
  assert.deepEqual(r.trace.schedule, [
    "device",
    "device",
    "device",
    "cpu",
    "cpu",
    "device",
    "device",
  ]);
  assert.match(r.trace.failure.message, /success reported for pfn 0x101, which is not at A/);
});

Deno.test("with the ttp->address check, and with the PTE sealed in the first walk, every interleaving is safe", () => {
  for (const v of ["ttp-address", "seal", "second-walk"] as const) {
    const r = explore(deviceExclusiveRace(v));
    assert.equal(r.verdict, "safe", `${v}: ${r.message}`);
  }
});
