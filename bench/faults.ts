/**
 * Fault throughput, simulator vs real kernel, in the same run: write one byte
 * to every 4 KiB page of a fresh anonymous private mapping and time the loop,
 * so every write takes one anonymous write fault (do_anonymous_page in
 * mm/memory.c) on the kernel and on the simulator alike.
 *
 * Real kernel: the live facade (lib/live `liveProcess()`, the same mmap,
 * madvise and munmap methods as the simulator's `Process`), MADV_NOHUGEPAGE
 * so that neither PMD THP nor mTHP serves a fault, and the CPU's own stores
 * through a Uint8Array view (a facade `write()` per page would time
 * JavaScript, not the fault).
 * Simulator: a fresh `simulate()` and process per repetition, `p.write()` per page.
 * Only the write loop is timed: mmap/munmap, simulate() and spawn() are not.
 * @module
 */

import {
  liveProcess,
  MADV_NOHUGEPAGE,
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  pageSize,
  PROT_READ,
  PROT_WRITE,
  readMthpStatTotal,
  readVmstat,
  smapsOf,
} from "../lib/live/mod.ts";
import type { Simulator } from "./_simulator.ts";
import { formatBytes, formatRate, median } from "./_stats.ts";

/** One row of datasets/faults_sim_vs_kernel.json. */
export interface FaultRow {
  system: "simulator" | "kernel";
  /** Pages written, one fault each. */
  pages: number;
  /** Wall time of the write loop. */
  seconds: number;
  faultsPerSecond: number;
  /** 1-based; warm-up runs are not recorded. */
  repetition: number;
}

/** How big and how often. */
export interface FaultBenchOptions {
  /** Bytes mapped and touched per repetition (a multiple of the 4 KiB page size). */
  bytes: number;
  /** Measured repetitions per system, after one unrecorded warm-up. */
  repetitions: number;
  /** Progress lines (which system, which repetition). */
  progress: (line: string) => void;
}

/**
 * What the host kernel says happened during one measured run: the region's
 * smaps entry after the loop and system-wide counter deltas over the loop.
 */
export interface KernelRunCheck {
  rssKb: number;
  anonHugePagesKb: number;
  /** pgfault delta in /proc/vmstat (system-wide, so ≥ the pages written). */
  pgfault: number;
  /** thp_fault_alloc delta: PMD-size THPs allocated at fault time (system-wide). */
  thpFaultAlloc: number;
  /** anon_fault_alloc delta summed over all mTHP sizes (system-wide). */
  mthpAnonFaultAlloc: number;
}

/** Write one byte to the start of each page: one write fault per page on first touch. */
function touchEachPage(view: Uint8Array, step: number): void {
  for (let off = 0; off < view.length; off += step) view[off] = 1;
}

/** Counters read around the loop to confirm every fault was a 4 KiB one. */
function faultCounters(): { pgfault: number; thp: number; mthp: number } {
  const vm = readVmstat();
  return {
    pgfault: vm.pgfault,
    thp: vm.thp_fault_alloc,
    mthp: readMthpStatTotal("anon_fault_alloc"),
  };
}

/**
 * One real-kernel run: mmap `bytes`, MADV_NOHUGEPAGE, time the write loop,
 * read smaps for the region, munmap. Throws if the region is not fully
 * resident in 4 KiB pages afterwards (then the figure would not be what it says).
 */
export function kernelFaultRun(bytes: number): { seconds: number; check: KernelRunCheck } {
  using p = liveProcess();
  const addr = p.mmap(0, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
  const buffer = Deno.UnsafePointerView.getArrayBuffer(
    Deno.UnsafePointer.create(BigInt(addr))!,
    bytes,
  );
  type Counters = ReturnType<typeof faultCounters>;
  let smaps: ReturnType<typeof smapsOf>, seconds: number, before: Counters, after: Counters;
  try {
    p.madvise(addr, bytes, MADV_NOHUGEPAGE);
    before = faultCounters();
    const t0 = performance.now();
    touchEachPage(new Uint8Array(buffer), pageSize());
    seconds = (performance.now() - t0) / 1000;
    after = faultCounters();
    smaps = smapsOf(addr);
  } finally {
    buffer.transfer(0); // detach the view before the memory goes away
    p.munmap(addr, bytes);
  }
  const check: KernelRunCheck = {
    rssKb: smaps.kB.Rss,
    anonHugePagesKb: smaps.kB.AnonHugePages,
    pgfault: after.pgfault - before.pgfault,
    thpFaultAlloc: after.thp - before.thp,
    mthpAnonFaultAlloc: after.mthp - before.mthp,
  };
  if (check.rssKb !== bytes / 1024 || check.anonHugePagesKb !== 0) {
    throw new Error(
      `kernel run: expected Rss ${bytes / 1024} kB and AnonHugePages 0 kB for the region, ` +
        `smaps says Rss ${check.rssKb} kB, AnonHugePages ${check.anonHugePagesKb} kB`,
    );
  }
  return { seconds, check };
}

/**
 * One simulator run: a fresh simulated kernel and process, mmap `bytes`
 * anonymous private, time one `p.write()` per page, munmap. Where the model
 * keeps vmstat, its pgfault delta over the loop is returned, and it must equal
 * the page count (one fault per page), as the kernel's smaps check does.
 */
export function simulatorFaultRun(
  sim: Simulator,
  bytes: number,
): { seconds: number; pgfault: number | null } {
  const C = sim.constants;
  const pages = bytes / C.PAGE_SIZE;
  const k = sim.simulate();
  const p = k.spawn();
  const a = p.mmap(0, bytes, C.PROT_READ | C.PROT_WRITE, C.MAP_PRIVATE | C.MAP_ANONYMOUS);
  const before = k.vmstat?.pgfault;
  const t0 = performance.now();
  for (let i = 0; i < pages; i++) p.write(a + i * C.PAGE_SIZE, 1);
  const seconds = (performance.now() - t0) / 1000;
  const after = k.vmstat?.pgfault;
  p.munmap(a, bytes);
  const pgfault = before === undefined || after === undefined ? null : after - before;
  if (pgfault !== null && pgfault !== pages) {
    throw new Error(`simulator run: expected ${pages} faults (vmstat pgfault), got ${pgfault}`);
  }
  return { seconds, pgfault };
}

/** Check the size argument: whole 4 KiB pages. */
function pagesOf(bytes: number, pageBytes: number): number {
  if (!Number.isSafeInteger(bytes) || bytes <= 0 || bytes % pageBytes !== 0) {
    throw new RangeError(`bytes must be a positive multiple of ${pageBytes}, got ${bytes}`);
  }
  return bytes / pageBytes;
}

/** A measured row from one run. */
function row(system: FaultRow["system"], pages: number, seconds: number, rep: number): FaultRow {
  return { system, pages, seconds, faultsPerSecond: pages / seconds, repetition: rep };
}

/** Warm-up plus `repetitions` measured runs of `run`, with progress lines. */
function repeat(
  system: FaultRow["system"],
  pages: number,
  options: FaultBenchOptions,
  run: () => number,
): FaultRow[] {
  options.progress(`[faults] ${system}: warm-up`);
  run();
  const rows: FaultRow[] = [];
  for (let rep = 1; rep <= options.repetitions; rep++) {
    const r = row(system, pages, run(), rep);
    options.progress(
      `[faults] ${system} ${rep}/${options.repetitions}: ${formatRate(r.faultsPerSecond)} ` +
        `(${r.seconds.toFixed(3)} s)`,
    );
    rows.push(r);
  }
  return rows;
}

/** The real-kernel side: rows plus what the kernel reported for each measured run. */
export function benchKernelFaults(
  options: FaultBenchOptions,
): { rows: FaultRow[]; checks: KernelRunCheck[] } {
  const pages = pagesOf(options.bytes, pageSize());
  const checks: KernelRunCheck[] = [];
  let warm = true;
  const rows = repeat("kernel", pages, options, () => {
    const { seconds, check } = kernelFaultRun(options.bytes);
    if (!warm) checks.push(check);
    warm = false;
    return seconds;
  });
  return { rows, checks };
}

/**
 * The simulator side: rows plus the simulated pgfault delta of each measured
 * run (null where the model keeps no vmstat).
 */
export function benchSimulatorFaults(
  sim: Simulator,
  options: FaultBenchOptions,
): { rows: FaultRow[]; pgfaults: (number | null)[] } {
  const pages = pagesOf(options.bytes, sim.constants.PAGE_SIZE);
  const pgfaults: (number | null)[] = [];
  let warm = true;
  const rows = repeat("simulator", pages, options, () => {
    const { seconds, pgfault } = simulatorFaultRun(sim, options.bytes);
    if (!warm) pgfaults.push(pgfault);
    warm = false;
    return seconds;
  });
  return { rows, pgfaults };
}

/** The median faults/s of one system's rows, or null if it has none. */
export function medianRate(rows: readonly FaultRow[], system: FaultRow["system"]): number | null {
  const rates = rows.filter((r) => r.system === system).map((r) => r.faultsPerSecond);
  return rates.length === 0 ? null : median(rates);
}

/**
 * The one-line figure: `4K anon write faults/s: simulator 2.13 M/s, kernel
 * 1.30 M/s, ratio 1.64 (1.00 GiB, 262144 pages, median of 5)`; a missing side
 * shows as "not run".
 */
export function faultSummary(rows: readonly FaultRow[], options: FaultBenchOptions): string {
  const sim = medianRate(rows, "simulator");
  const kernel = medianRate(rows, "kernel");
  const show = (rate: number | null) => (rate === null ? "not run" : formatRate(rate));
  const ratio = sim !== null && kernel !== null ? `, ratio ${(sim / kernel).toPrecision(3)}` : "";
  const pages = rows[0]?.pages ?? options.bytes / 4096;
  return `4K anon write faults/s: simulator ${show(sim)}, kernel ${show(kernel)}${ratio} ` +
    `(${formatBytes(options.bytes)}, ${pages} pages, median of ${options.repetitions})`;
}

/** What the simulator's counters showed, for the dataset notes and the printout. */
export function describeSimulatorChecks(pgfaults: readonly (number | null)[]): string {
  if (pgfaults.length === 0 || pgfaults.some((n) => n === null)) {
    return "the simulator's fault count was not checked (no vmstat)";
  }
  return `the simulator's vmstat pgfault rose by exactly ${pgfaults[0]} in every repetition`;
}

/** What the kernel checks showed, for the dataset notes and the printout. */
export function describeChecks(checks: readonly KernelRunCheck[]): string {
  if (checks.length === 0) return "no kernel runs were checked";
  const max = (f: (c: KernelRunCheck) => number) => Math.max(...checks.map(f));
  const min = (f: (c: KernelRunCheck) => number) => Math.min(...checks.map(f));
  return `every kernel repetition left the region fully resident (Rss ${checks[0].rssKb} kB) ` +
    `with AnonHugePages 0 kB in /proc/self/smaps; over each write loop /proc/vmstat pgfault ` +
    `rose by ${min((c) => c.pgfault)}–${max((c) => c.pgfault)} (system-wide), ` +
    `thp_fault_alloc by at most ${max((c) => c.thpFaultAlloc)} and mTHP anon_fault_alloc ` +
    `by at most ${max((c) => c.mthpAnonFaultAlloc)}`;
}
