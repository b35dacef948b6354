import assert from "node:assert/strict";
import { IsoDate, Provenance } from "./provenance.ts";

const QUOTED = {
  kind: "quoted",
  seed: "003_04fde8f735f91402.txt",
  context: "fault latency quoted in the thread",
  quote: "…",
  author: "A. Developer",
  date: "2024-05-01",
};

const SIMULATED = {
  kind: "simulated",
  script: "bench/x.ts",
  command: "deno run bench/x.ts",
  date: "2025-11-21T14:13:00Z",
  kernelModel: "v6.18 x86_64 defaults",
};

Deno.test("Provenance accepts each kind", async (t) => {
  await t.step("quoted", () => assert.ok(Provenance.safeParse(QUOTED).success));
  await t.step("simulated", () => assert.ok(Provenance.safeParse(SIMULATED).success));
});

Deno.test("Provenance rejects a seed that is not a seed file name", () => {
  assert.ok(!Provenance.safeParse({ ...QUOTED, seed: "../etc/passwd" }).success);
});

Deno.test("Provenance rejects fields of another kind", () => {
  assert.ok(!Provenance.safeParse({ ...SIMULATED, machine: {} }).success);
});

Deno.test("IsoDate accepts dates and date-times, and rejects impossible ones", () => {
  for (const ok of ["2025-11-21", "2025-11-21T14:13Z", "2025-11-21T14:13:00.123+01:00"]) {
    assert.ok(IsoDate.safeParse(ok).success, ok);
  }
  for (const bad of ["21/11/2025", "2025-13-45", "yesterday", ""]) {
    assert.ok(!IsoDate.safeParse(bad).success, bad);
  }
});
