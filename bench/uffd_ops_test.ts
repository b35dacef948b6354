import assert from "node:assert/strict";
import { benchUffdOps, timeUffdOp, UFFD_OPS, uffdOpsSummary } from "./uffd_ops.ts";
import { UffdOpsRow } from "../lib/datasets/schemas/uffd_ops_sim.ts";

Deno.test("timeUffdOp() resolves every page with each ioctl and leaves a consistent kernel", () => {
  for (const op of UFFD_OPS) assert.ok(timeUffdOp(op, 4, 16) >= 0);
});

Deno.test("benchUffdOps() rows match the dataset schema", () => {
  const rows = benchUffdOps({ pages: 256, repetitions: 1 });
  assert.equal(rows.length, 4 * 5);
  for (const r of rows) UffdOpsRow.parse(r);
  assert.match(uffdOpsSummary(rows), /POISON/);
});
