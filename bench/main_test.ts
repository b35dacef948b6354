import assert from "node:assert/strict";
import { FULL, parseArgs, QUICK } from "./main.ts";

Deno.test("parseArgs() picks the full run by default and the quick one with --quick", () => {
  assert.equal(parseArgs([]), FULL);
  assert.equal(parseArgs(["--quick"]), QUICK);
  assert.equal(parseArgs(["--", "--quick"]), QUICK);
  assert.deepEqual(
    { faultBytes: FULL.faultBytes, repetitions: FULL.repetitions, pages: FULL.memoryPages },
    { faultBytes: 2 ** 30, repetitions: 5, pages: [1_048_576, 4_194_304] },
  );
  assert.equal(QUICK.quick, true);
});

Deno.test("parseArgs() rejects an unknown argument, quoting it", () => {
  assert.throws(() => parseArgs(["--fast"]), {
    name: "TypeError",
    message: 'unknown argument "--fast" (usage: deno task bench [--quick] [--only=NAME,…])',
  });
});

Deno.test("parseArgs() --only names the benchmarks to run, and rejects an unknown one", () => {
  assert.deepEqual(parseArgs(["--only=pagemap_scan,uffd_live"]).only, [
    "pagemap_scan",
    "uffd_live",
  ]);
  assert.deepEqual(parseArgs(["--quick", "--only=faults"]).only, ["faults"]);
  assert.throws(() => parseArgs(["--only=scan"]), TypeError);
});
