import assert from "node:assert/strict";
import type { ScenarioOp } from "../../lib/live/scenario.ts";
import { dropOp, shrink } from "./shrink.ts";
import { Random } from "../_random.ts";

const OPS: ScenarioOp[] = [
  { op: "memfdCreate", args: ["a", 0] },
  { op: "mmap", args: [0, 4096, 3, 0x22, -1, 0] },
  { op: "ftruncate", args: [{ fd: 0 }, 4096] },
  { op: "read", args: [{ m: 1, page: 0 }] },
];

Deno.test("dropOp() renumbers later references and keeps ops others refer to", () => {
  assert.equal(dropOp(OPS, 0), null, "ftruncate refers to the memfd");
  assert.equal(dropOp(OPS, 1), null, "read refers to the mapping");
  assert.deepEqual(dropOp(OPS, 2), [OPS[0], OPS[1], OPS[3]]);
  assert.deepEqual(dropOp([OPS[1], OPS[0], { op: "close", args: [{ fd: 1 }] }], 0), [
    OPS[0],
    { op: "close", args: [{ fd: 0 }] },
  ]);
});

Deno.test("shrink() drops every op the failure does not need", async () => {
  // "Fails" while the scenario still reads from its mapping.
  const fails = (c: ScenarioOp[][]) =>
    Promise.resolve(c.map((s) => s.some((o) => o.op === "read")));
  assert.deepEqual(await shrink(OPS, fails, 10), [OPS[1], {
    op: "read",
    args: [{ m: 0, page: 0 }],
  }]);
});

Deno.test("Random is reproducible from its seed", () => {
  const a = new Random(7), b = new Random(7);
  const draws = Array.from({ length: 5 }, () => a.u32());
  assert.deepEqual(draws, Array.from({ length: 5 }, () => b.u32()));
  assert.ok(draws.every((x) => Number.isInteger(x) && x >= 0 && x < 2 ** 32));
});
