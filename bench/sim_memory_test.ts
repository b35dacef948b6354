import assert from "node:assert/strict";
import { loadSimulator } from "./_simulator.ts";
import {
  measureResident,
  memoryLine,
  memoryRow,
  memorySummary,
  simulatedMemoryFor,
} from "./sim_memory.ts";

const REPORT = {
  residentPages: 1_048_576,
  baselineBytes: 10_000_000,
  setupBytes: 12_000_000,
  afterBytes: 12_000_000 + 41 * 1_048_576,
  rssBytes: 200 * 2 ** 20,
  seconds: 1.5,
};

Deno.test("memoryRow() divides the growth over the writes by the pages", () => {
  assert.deepEqual(memoryRow(REPORT), {
    residentPages: 1_048_576,
    heapBytes: 12_000_000 + 41 * 1_048_576,
    bytesPerPage: 41,
    seconds: 1.5,
  });
});

Deno.test("memoryLine() shows bytes per page, heap, and the target", () => {
  assert.equal(
    memoryLine(memoryRow(REPORT), REPORT),
    "heap per resident 4K page at 1M pages: 41.0 B; heap 52.4 MiB, RSS 200 MiB, " +
      "fixed cost 1.91 MiB, 1.50 s to write (target ≤ 72 B/page)",
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

Deno.test("memorySummary() gives bytes per page and, at 4M pages, the heap", () => {
  const rows = [
    { residentPages: 2 ** 20, heapBytes: 60e6, bytesPerPage: 41.25, seconds: 1 },
    { residentPages: 4 * 2 ** 20, heapBytes: 1.7 * 2 ** 30, bytesPerPage: 40, seconds: 4 },
  ];
  assert.equal(
    memorySummary(rows),
    "heap per resident 4K page: 41.3 B at 1M pages (target ≤ 72 B); " +
      "4M pages: 1.70 GiB heap, 40.0 B/page (target < 2.00 GiB)",
  );
});
