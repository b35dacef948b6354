import assert from "node:assert/strict";
import { loadSimulator } from "./_simulator.ts";
import { measureResident, memoryLine, memoryRow, simulatedMemoryFor } from "./sim_memory.ts";

const REPORT = {
  residentPages: 1_048_576,
  baselineBytes: 10_000_000,
  setupBytes: 12_000_000,
  afterBytes: 10_000_000 + 41 * 1_048_576,
  rssBytes: 200 * 2 ** 20,
  seconds: 1.5,
};

Deno.test("memoryRow() charges the whole growth since before simulate() to the pages", () => {
  assert.deepEqual(memoryRow(REPORT), {
    residentPages: 1_048_576,
    heapBytes: 10_000_000 + 41 * 1_048_576,
    bytesPerPage: 41,
    seconds: 1.5,
  });
});

Deno.test("memoryLine() shows bytes per page, heap, and the target", () => {
  assert.equal(
    memoryLine(memoryRow(REPORT), REPORT),
    "heap per resident 4K page at 1M pages: 41.0 B; heap 50.5 MiB, RSS 200 MiB, " +
      "setup 1.91 MiB, 1.50 s to write (target ≤ 72 B/page)",
  );
});

Deno.test("simulatedMemoryFor() leaves room for twice the resident pages", () => {
  assert.equal(simulatedMemoryFor(4 * 2 ** 20), 32 * 2 ** 30);
});

const simulator = await loadSimulator();

Deno.test("measureResident() reports a growing heap from a child process", {
  ignore: !simulator.ok,
}, async () => {
  const report = await measureResident(4096);
  assert.equal(report.residentPages, 4096);
  assert.ok(report.afterBytes > report.baselineBytes);
  assert.ok(report.seconds > 0);
});
