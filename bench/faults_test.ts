import assert from "node:assert/strict";
import { liveTestsEnabled } from "../lib/live/_testing.ts";
import type { SimProcess, Simulator } from "./_simulator.ts";
import {
  benchSimulatorFaults,
  type FaultRow,
  faultSummary,
  kernelFaultRun,
  medianRate,
  simulatorFaultRun,
} from "./faults.ts";

/** A test double for the facade: records each call, models nothing. */
function recordingSimulator(): { sim: Simulator; calls: string[] } {
  const calls: string[] = [];
  const process: SimProcess = {
    mmap: (addr, length) => {
      calls.push(`mmap ${addr} ${length}`);
      return 0x10000;
    },
    write: (addr) => calls.push(`write ${addr}`),
    munmap: (addr, length) => calls.push(`munmap ${addr} ${length}`),
  };
  const sim: Simulator = {
    simulate: () => {
      calls.push("simulate");
      return { spawn: () => process };
    },
    constants: {
      PAGE_SIZE: 4096,
      PROT_READ: 1,
      PROT_WRITE: 2,
      MAP_PRIVATE: 2,
      MAP_ANONYMOUS: 0x20,
    },
  };
  return { sim, calls };
}

Deno.test("benchSimulatorFaults() writes each page once per run, fresh simulate() per run", () => {
  const { sim, calls } = recordingSimulator();
  const lines: string[] = [];
  const { rows, pgfaults } = benchSimulatorFaults(sim, {
    bytes: 2 * 4096,
    repetitions: 2,
    progress: (l) => lines.push(l),
  });
  const oneRun = ["simulate", "mmap 0 8192", "write 65536", "write 69632", "munmap 65536 8192"];
  assert.deepEqual(calls, [...oneRun, ...oneRun, ...oneRun], "warm-up + 2 repetitions");
  assert.deepEqual(
    rows.map((r) => ({ system: r.system, pages: r.pages, repetition: r.repetition })),
    [
      { system: "simulator", pages: 2, repetition: 1 },
      { system: "simulator", pages: 2, repetition: 2 },
    ],
  );
  for (const r of rows) assert.equal(r.faultsPerSecond, r.pages / r.seconds);
  assert.deepEqual(pgfaults, [null, null], "the double keeps no vmstat");
  assert.equal(lines.length, 3);
  assert.match(lines[1], /^\[faults\] simulator 1\/2: /);
});

Deno.test("simulatorFaultRun() fails when the model's pgfault count disagrees with the pages", () => {
  const { sim } = recordingSimulator();
  const counting: Simulator = {
    ...sim,
    simulate: () => ({ ...sim.simulate(), vmstat: { pgfault: 0 } }),
  };
  assert.throws(() => simulatorFaultRun(counting, 4096), {
    message: "simulator run: expected 1 faults (vmstat pgfault), got 0",
  });
});

Deno.test("benchSimulatorFaults() rejects a size that is not whole pages, quoting it", () => {
  const { sim } = recordingSimulator();
  assert.throws(() => benchSimulatorFaults(sim, { bytes: 5000, repetitions: 1, progress() {} }), {
    name: "RangeError",
    message: "bytes must be a positive multiple of 4096, got 5000",
  });
});

const ROWS: FaultRow[] = [
  { system: "kernel", pages: 262144, seconds: 0.2, faultsPerSecond: 1.3e6, repetition: 1 },
  { system: "kernel", pages: 262144, seconds: 0.2, faultsPerSecond: 1.2e6, repetition: 2 },
  { system: "kernel", pages: 262144, seconds: 0.2, faultsPerSecond: 1.4e6, repetition: 3 },
  { system: "simulator", pages: 262144, seconds: 0.1, faultsPerSecond: 2.1e6, repetition: 1 },
  { system: "simulator", pages: 262144, seconds: 0.1, faultsPerSecond: 2.0e6, repetition: 2 },
  { system: "simulator", pages: 262144, seconds: 0.1, faultsPerSecond: 2.2e6, repetition: 3 },
];

Deno.test("faultSummary() prints both medians and their ratio with the setup", () => {
  const options = { bytes: 2 ** 30, repetitions: 3, progress() {} };
  assert.equal(medianRate(ROWS, "kernel"), 1.3e6);
  assert.equal(
    faultSummary(ROWS, options),
    "4K anon write faults/s: simulator 2.10 M/s, kernel 1.30 M/s, ratio 1.62 " +
      "(1.00 GiB, 262144 pages, median of 3)",
  );
  assert.equal(
    faultSummary(ROWS.slice(0, 3), options),
    "4K anon write faults/s: simulator not run, kernel 1.30 M/s " +
      "(1.00 GiB, 262144 pages, median of 3)",
  );
});

Deno.test("kernelFaultRun() faults every page in as a 4 KiB page", {
  ignore: !liveTestsEnabled(),
}, () => {
  const { seconds, check } = kernelFaultRun(256 * 4096);
  assert.ok(seconds > 0);
  assert.equal(check.rssKb, 1024);
  assert.equal(check.anonHugePagesKb, 0);
  assert.ok(check.pgfault >= 256);
});
