import assert from "node:assert/strict";
import * as lib from "../lib/mod.ts";
import { loadSimulator, type Simulator } from "./_simulator.ts";

Deno.test("the front door lib/mod.ts fits the Simulator interface the benchmarks drive", () => {
  // A type check as much as a test: this assignment fails `deno check` if the facade drifts.
  const sim: Simulator = { simulate: lib.simulate, constants: lib.constants };
  assert.equal(sim.constants.PAGE_SIZE, 4096);
});

Deno.test("loadSimulator() finds simulate() and constants in lib/mod.ts", async () => {
  const loaded = await loadSimulator();
  assert.ok(loaded.ok, loaded.ok ? "" : loaded.reason);
});
