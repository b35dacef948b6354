import assert from "node:assert/strict";
import { liveTestsEnabled } from "./_testing.ts";
import { mapAnonymous, pageSize } from "./libc.ts";
import { MADV_NOHUGEPAGE } from "./mman.ts";
import { parseVmstat, readMthpStatTotal, readVmstat } from "./vmstat.ts";

Deno.test("parseVmstat() reads name value lines", () => {
  assert.deepEqual(parseVmstat("pgfault 9747767\nthp_fault_alloc 0\n\n"), {
    pgfault: 9747767,
    thp_fault_alloc: 0,
  });
});

Deno.test("writing 64 pages raises pgfault by at least 64 and allocates no THP", {
  ignore: !liveTestsEnabled(),
}, () => {
  using region = mapAnonymous(64 * pageSize(), { advice: [MADV_NOHUGEPAGE] });
  const before = { vm: readVmstat(), mthp: readMthpStatTotal("anon_fault_alloc") };
  for (let i = 0; i < 64; i++) region.view[i * pageSize()] = 1;
  const after = { vm: readVmstat(), mthp: readMthpStatTotal("anon_fault_alloc") };
  assert.ok(after.vm.pgfault - before.vm.pgfault >= 64);
  assert.equal(after.vm.thp_fault_alloc - before.vm.thp_fault_alloc, 0);
  assert.equal(after.mthp - before.mthp, 0);
});
