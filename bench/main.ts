/**
 * `deno task bench`: measure, print each figure with its setup, and write
 * the datasets.
 *
 *   1. Fault throughput, simulator vs real kernel (bench/faults.ts)
 *      → datasets/faults_sim_vs_kernel.json
 *   2. Heap per resident simulated page (bench/sim_memory.ts)
 *      → datasets/sim_memory.json
 *   3. Simulator cost per page of the uffd ioctls by batch size
 *      (bench/uffd_ops.ts) → datasets/uffd_ops_sim.json
 *   4. PAGEMAP_SCAN versus /proc/self/pagemap reads, kernel and simulator
 *      (bench/pagemap_scan.ts) → datasets/pagemap_scan_vs_read.json
 *   5. The uffd ioctls on the kernel by batch size, simulator beside
 *      (bench/uffd_ops_live.ts) → datasets/uffd_ops_live.json
 *   6. Anonymous fault cost by folio size (4 KiB, each mTHP size, PMD) and
 *      MADV_COLLAPSE on the kernel, the model beside where it has the path
 *      (bench/thp_faults.ts, root: it sets and restores the THP knobs)
 *      → datasets/thp_fault_cost.json
 *   7. CPU/device ping-pong on a device-exclusive page: the model's event
 *      counts per access (bench/device_pingpong.ts) → datasets/device_pingpong.json
 *   8. The khugepaged race of seed 003, explorer vs SPIN
 *      (bench/khugepaged_race.ts) → datasets/khugepaged_race.json; without
 *      `spin` installed the bench says so and fails at the end
 *
 * `deno task bench --quick` runs smaller sizes and writes nothing;
 * `--only=NAME,…` runs only the named benchmarks (faults, memory, uffd,
 * pagemap_scan, uffd_live, thp_faults, device_pingpong, khugepaged_race).
 * Without FFI (not Linux, or no --allow-ffi) the kernel side is skipped, the
 * simulator side still runs, and the command fails at the end saying why;
 * likewise the other way round when lib/mod.ts has no simulator.
 * @module
 */

import { type HostProbe, probeHost } from "../lib/live/mod.ts";
import { measuredProvenance, writeDatasetAtomic } from "./_dataset.ts";
import type { DatasetName } from "../lib/datasets/mod.ts";
import { loadSimulator, type SimulatorStatus } from "./_simulator.ts";
import { formatBytes, formatCount } from "./_stats.ts";
import {
  benchKernelFaults,
  benchSimulatorFaults,
  describeChecks,
  describeSimulatorChecks,
  type FaultBenchOptions,
  type FaultRow,
  faultSummary,
  type KernelRunCheck,
} from "./faults.ts";
import {
  measureResident,
  memoryLine,
  type MemoryRow,
  memoryRow,
  memorySummary,
  simulatedMemoryFor,
  TARGET_BYTES_PER_PAGE,
  TARGET_HEAP_AT_4M_PAGES,
} from "./sim_memory.ts";
import { benchUffdOps, uffdOpsSummary } from "./uffd_ops.ts";
import {
  benchKernelScan,
  benchSimulatorScan,
  type ScanBenchOptions,
  scanNotes,
  scanSummary,
} from "./pagemap_scan.ts";
import { benchUffdLive, uffdLiveNotes, uffdLiveSummary } from "./uffd_ops_live.ts";
import { benchThpFaults, ThpKnobs, thpNotes, thpSummary } from "./thp_faults.ts";
import { geteuid } from "../lib/live/libc.ts";
import { devicePingPongDataset } from "./device_pingpong.ts";
import { raceNotes, runKhugepagedRace } from "./khugepaged_race.ts";

/** The benchmarks by name, for --only. */
export const BENCHMARKS = [
  "faults",
  "memory",
  "uffd",
  "pagemap_scan",
  "uffd_live",
  "thp_faults",
  "device_pingpong",
  "khugepaged_race",
] as const;
export type BenchName = typeof BENCHMARKS[number];

/** Sizes and counts of one bench run. */
export interface BenchConfig {
  quick: boolean;
  /** Bytes mapped and touched per fault repetition. */
  faultBytes: number;
  repetitions: number;
  /** Resident page counts for the memory benchmark, one child process each. */
  memoryPages: number[];
  /** Pages resolved per uffd ioctl repetition, and recorded repetitions. */
  uffdPages: number;
  uffdRepetitions: number;
  /** Region sizes (pages) of the PAGEMAP_SCAN benchmark; the simulator stops at scanSimMax. */
  scanSizes: number[];
  scanSimMax: number;
  /** Pages per repetition of the live uffd benchmark on the kernel. */
  uffdLivePages: number;
  /** The benchmarks to run (--only), all by default. */
  only: readonly BenchName[];
}

/** The full run: 1 GiB, median of 5; 4 GiB and 16 GiB simulated resident. */
export const FULL: BenchConfig = {
  quick: false,
  faultBytes: 2 ** 30,
  repetitions: 5,
  memoryPages: [2 ** 20, 4 * 2 ** 20],
  uffdPages: 16384,
  uffdRepetitions: 7,
  scanSizes: [256, 1024, 4096, 16384, 65536, 262144],
  scanSimMax: 65536,
  uffdLivePages: 16384,
  only: BENCHMARKS,
};

/** --quick: small enough to finish in seconds; prints only. */
export const QUICK: BenchConfig = {
  quick: true,
  faultBytes: 64 * 2 ** 20,
  repetitions: 3,
  memoryPages: [2 ** 16, 2 ** 18],
  uffdPages: 512,
  uffdRepetitions: 3,
  scanSizes: [256, 4096],
  scanSimMax: 4096,
  uffdLivePages: 1024,
  only: BENCHMARKS,
};

/**
 * Parse the command line: nothing, or `--quick`; a `--` separator (as in
 * `deno task bench -- --quick`) is skipped. A TypeError quotes anything else.
 */
export function parseArgs(args: readonly string[]): BenchConfig {
  let config = FULL;
  let only: readonly BenchName[] | null = null;
  for (const arg of args) {
    if (arg === "--") continue;
    if (arg === "--quick") config = QUICK;
    else if (arg.startsWith("--only=")) {
      const names = arg.slice(7).split(",");
      for (const n of names) {
        if (!(BENCHMARKS as readonly string[]).includes(n)) {
          throw new TypeError(
            `unknown benchmark ${JSON.stringify(n)} in --only (one of ${BENCHMARKS.join(", ")})`,
          );
        }
      }
      only = names as BenchName[];
    } else {
      throw new TypeError(
        `unknown argument ${
          JSON.stringify(arg)
        } (usage: deno task bench [--quick] [--only=NAME,…])`,
      );
    }
  }
  return only ? { ...config, only } : config;
}

/**
 * The 1-, 5- and 15-minute load averages from /proc/loadavg (fs/proc/loadavg.c),
 * recorded because other work on the host slows both systems; null if unreadable.
 */
export function loadavg(): string | null {
  try {
    return Deno.readTextFileSync("/proc/loadavg").split(" ").slice(0, 3).join(" ");
  } catch {
    return null;
  }
}

/** Progress lines go to stderr, figures to stdout. */
function progress(line: string): void {
  console.error(line);
}

/** The setup every figure was measured on, as printed above the figures. */
function setupLines(probe: HostProbe, config: BenchConfig): string[] {
  const thp = probe.thp
    ? `THP enabled=${probe.thp.enabled} defrag=${probe.thp.defrag}`
    : `THP unknown (${probe.missing.thp})`;
  return [
    `machine: ${probe.cpuModel ?? "unknown CPU"}, ${probe.cores ?? "?"} cores, ` +
    `${probe.memTotalBytes === null ? "? memory" : formatBytes(probe.memTotalBytes)}, ` +
    `Linux ${probe.kernelRelease ?? "?"}, ${thp}`,
    `runtime: Deno ${Deno.version.deno}, V8 ${Deno.version.v8}`,
    `mode: ${config.quick ? "--quick (datasets are not written)" : "full"}: faults over ` +
    `${formatBytes(config.faultBytes)} × ${config.repetitions} repetitions per system; ` +
    `memory at ${config.memoryPages.map(formatCount).join(" and ")} resident pages`,
  ];
}

/** Prose for the faults dataset's provenance. */
function faultNotes(
  config: BenchConfig,
  checks: KernelRunCheck[],
  pgfaults: (number | null)[],
  load: string,
): string {
  return `Each repetition maps ${formatBytes(config.faultBytes)} of anonymous private memory ` +
    `and writes one byte to each 4 KiB page, timing only the write loop (mmap, munmap, ` +
    `simulate() and spawn() are outside it). Kernel: mmap, madvise and munmap through the ` +
    `live facade (liveProcess(), libc via Deno FFI), ` +
    `madvise(MADV_NOHUGEPAGE) on the whole region so no fault is served by a PMD THP or an ` +
    `mTHP, writes through a Uint8Array view of the mapping. Simulator: a fresh simulate() ` +
    `and spawn() per repetition, p.write(addr, 1) per page. Each system runs one unrecorded ` +
    `warm-up first, then ${config.repetitions} recorded repetitions; kernel runs first, in ` +
    `the same process. Checks: ${describeChecks(checks)}; ${describeSimulatorChecks(pgfaults)}. ` +
    `Host load: ${load}.`;
}

/** Prose for the memory dataset's provenance. */
function memoryNotes(
  config: BenchConfig,
  reports: { setup: number; rss: number }[],
  load: string,
): string {
  const sizes = config.memoryPages.map((n, i) =>
    `${formatCount(n)} pages: simulate({ memory: ${simulatedMemoryFor(n)} }), fixed cost ` +
    `${reports[i].setup} B, process RSS ${reports[i].rss} B after the writes`
  ).join("; ");
  return `Each size runs in a fresh child Deno process (--v8-flags=--expose-gc, no ` +
    `permissions) that creates a simulator, spawns a process, mmaps one anonymous private ` +
    `region of N pages and writes one byte to each page. Heap readings are ` +
    `Deno.memoryUsage().heapUsed + external (external includes ArrayBuffer backing stores), ` +
    `each after two forced gc() calls. heapBytes: the reading after the writes. ` +
    `bytesPerPage: (reading after the writes − reading just before them) / N. Fixed cost: ` +
    `the growth from before simulate() to after mmap(), i.e. what the simulated kernel ` +
    `allocates up front. Targets: ≤ ${TARGET_BYTES_PER_PAGE} B per page, < ` +
    `${formatBytes(TARGET_HEAP_AT_4M_PAGES)} heap at 4M pages. ${sizes}. Host load: ${load}.`;
}

/** Benchmark 1. Returns the rows measured and the problems that kept a side from running. */
function runFaults(
  config: BenchConfig,
  probe: HostProbe,
  sim: SimulatorStatus,
  problems: string[],
): { rows: FaultRow[]; checks: KernelRunCheck[]; pgfaults: (number | null)[] } {
  const options: FaultBenchOptions = {
    bytes: config.faultBytes,
    repetitions: config.repetitions,
    progress,
  };
  const rows: FaultRow[] = [];
  let checks: KernelRunCheck[] = [];
  if (probe.ffi.usable) {
    const kernel = benchKernelFaults(options);
    rows.push(...kernel.rows);
    checks = kernel.checks;
  } else {
    problems.push(`real-kernel faults not measured: ${probe.ffi.reason}`);
  }
  let pgfaults: (number | null)[] = [];
  if (sim.ok) {
    const simulated = benchSimulatorFaults(sim.sim, options);
    rows.push(...simulated.rows);
    pgfaults = simulated.pgfaults;
  } else {
    problems.push(`simulator faults not measured: ${sim.reason}`);
  }
  console.log(faultSummary(rows, options));
  if (checks.length > 0) console.log(`  ${describeChecks(checks)}`);
  if (pgfaults.length > 0) console.log(`  ${describeSimulatorChecks(pgfaults)}`);
  return { rows, checks, pgfaults };
}

/** Benchmark 2: one child process per size. */
async function runMemory(
  config: BenchConfig,
  sim: SimulatorStatus,
  problems: string[],
): Promise<{ rows: MemoryRow[]; reports: { setup: number; rss: number }[] }> {
  const rows: MemoryRow[] = [];
  const reports: { setup: number; rss: number }[] = [];
  if (!sim.ok) {
    problems.push(`simulator memory not measured: ${sim.reason}`);
    return { rows, reports };
  }
  for (const pages of config.memoryPages) {
    progress(`[memory] ${formatCount(pages)} pages in a child process`);
    const report = await measureResident(pages);
    const row = memoryRow(report);
    console.log(memoryLine(row, report));
    rows.push(row);
    reports.push({ setup: report.setupBytes - report.baselineBytes, rss: report.rssBytes });
  }
  console.log(memorySummary(rows));
  return { rows, reports };
}

/** Prose for the uffd ioctl dataset's provenance. */
export function uffdNotes(config: BenchConfig, load: string): string {
  return `Simulator only (lib/, not the real kernel). For each ioctl and each batch size ` +
    `(1, 4, 16, 64, 256 pages per call): a fresh simulate() and spawn(), a private ` +
    `anonymous destination of ${config.uffdPages} pages registered ` +
    `UFFDIO_REGISTER_MODE_MISSING, then the timed loop of ioctls over the destination; ` +
    `COPY reads from a written one-batch source buffer, MOVE from a written source region ` +
    `of the same size; k.check() runs after the timed loop. One unrecorded warm-up, then ` +
    `${config.uffdRepetitions} recorded repetitions. Host load: ${load}.`;
}

async function main(): Promise<void> {
  const config = parseArgs(Deno.args);
  const started = new Date();
  const probe = probeHost();
  for (const line of setupLines(probe, config)) console.log(line);
  const sim = await loadSimulator();
  const problems: string[] = [];

  const loadBefore = loadavg();
  const run = (name: BenchName) => config.only.includes(name);
  const faults = run("faults")
    ? runFaults(config, probe, sim, problems)
    : { rows: [], checks: [], pgfaults: [] };
  const memory = run("memory") ? await runMemory(config, sim, problems) : { rows: [], reports: [] };
  const uffdRows = sim.ok && run("uffd")
    ? benchUffdOps({ pages: config.uffdPages, repetitions: config.uffdRepetitions, progress })
    : [];
  if (uffdRows.length > 0) console.log(uffdOpsSummary(uffdRows));
  const scanOptions: ScanBenchOptions = {
    sizes: config.scanSizes,
    simulatorMaxPages: config.scanSimMax,
    repetitions: config.repetitions,
    progress,
  };
  const scanRows = run("pagemap_scan")
    ? [
      ...(probe.ffi.usable ? benchKernelScan(scanOptions) : []),
      ...(sim.ok ? benchSimulatorScan(scanOptions) : []),
    ]
    : [];
  if (run("pagemap_scan") && !probe.ffi.usable) {
    problems.push(`PAGEMAP_SCAN on the kernel not measured: ${probe.ffi.reason}`);
  }
  if (scanRows.length > 0) console.log(scanSummary(scanRows));
  const uffdLiveOptions = {
    kernelPages: config.uffdLivePages,
    simulatorPages: Math.min(config.uffdLivePages, 4096),
    repetitions: config.repetitions,
    progress,
  };
  const uffdLiveRows = run("uffd_live") && probe.ffi.usable && sim.ok
    ? benchUffdLive(uffdLiveOptions, true)
    : [];
  if (run("uffd_live") && !probe.ffi.usable) {
    problems.push(`uffd ioctls on the kernel not measured: ${probe.ffi.reason}`);
  }
  if (uffdLiveRows.length > 0) console.log(uffdLiveSummary(uffdLiveRows));
  const thpOptions = {
    regionBytes: config.quick ? 8 * 2 ** 20 : 64 * 2 ** 20,
    repetitions: config.repetitions,
    progress,
  };
  let thpRows: ReturnType<typeof benchThpFaults> = [];
  let thpBefore = "";
  if (run("thp_faults")) {
    if (!probe.ffi.usable || !probe.thp) {
      problems.push(
        `THP fault costs not measured: ${probe.ffi.usable ? probe.missing.thp : probe.ffi.reason}`,
      );
    } else if (geteuid() !== 0) {
      problems.push("THP fault costs not measured: setting the THP knobs needs root");
    } else {
      thpBefore = [...new ThpKnobs().saved].map(([path, v]) => `${path.split("/").at(-2)}=${v}`)
        .join(", ");
      thpRows = benchThpFaults(thpOptions);
      console.log(thpSummary(thpRows));
    }
  }
  const pingPong = run("device_pingpong") && sim.ok ? devicePingPongDataset(started) : null;
  if (pingPong) {
    console.log(
      `device ping-pong (model event counts): ${pingPong.rows.length} schedules of ` +
        `${pingPong.rows[0].accesses} accesses`,
    );
  }
  const raceOptions = {
    repetitions: config.quick ? 3 : 11,
    naiveTimeoutMs: config.quick ? 5_000 : 60_000,
    spinRepetitions: config.quick ? 1 : 3,
    progress,
  };
  const race = run("khugepaged_race") ? await runKhugepagedRace(raceOptions) : null;
  if (race?.spinReason) {
    problems.push(`SPIN side of the khugepaged race not measured: ${race.spinReason}`);
  }
  const load = `load averages (1, 5, 15 min, /proc/loadavg) ${loadBefore ?? "unknown"} at ` +
    `the start and ${loadavg() ?? "unknown"} at the end, on ${probe.cores ?? "?"} cores`;
  console.log(`host: ${load}`);

  /** Writes `rows` to datasets/`name` with the provenance of `script` in this run. */
  const write = async <Row>(name: DatasetName, script: string, notes: string, rows: Row[]) => {
    const provenance = measuredProvenance(script, started, probe, notes);
    const url = await writeDatasetAtomic(name, { provenance, rows });
    console.log(`wrote ${url.pathname}`);
  };
  if (!config.quick) {
    const complete = faults.rows.some((r) => r.system === "kernel") &&
      faults.rows.some((r) => r.system === "simulator");
    if (complete) {
      await write(
        "faults_sim_vs_kernel.json",
        "bench/faults.ts",
        faultNotes(config, faults.checks, faults.pgfaults, load),
        faults.rows,
      );
    }
    if (memory.rows.length > 0) {
      await write(
        "sim_memory.json",
        "bench/sim_memory.ts",
        memoryNotes(config, memory.reports, load),
        memory.rows,
      );
    }
    if (uffdRows.length > 0) {
      await write("uffd_ops_sim.json", "bench/uffd_ops.ts", uffdNotes(config, load), uffdRows);
    }
    if (
      scanRows.some((r) => r.system === "kernel") && scanRows.some((r) => r.system !== "kernel")
    ) {
      await write(
        "pagemap_scan_vs_read.json",
        "bench/pagemap_scan.ts",
        scanNotes(scanOptions, load),
        scanRows,
      );
    }
    if (thpRows.length > 0) {
      await write(
        "thp_fault_cost.json",
        "bench/thp_faults.ts",
        thpNotes(thpOptions, thpBefore, load),
        thpRows,
      );
    }
    if (pingPong) {
      const url = await writeDatasetAtomic("device_pingpong.json", pingPong);
      console.log(`wrote ${url.pathname}`);
    }
    if (race && !race.spinReason) {
      await write(
        "khugepaged_race.json",
        "bench/khugepaged_race.ts",
        raceNotes(raceOptions, race.spin, load),
        race.rows,
      );
    }
    if (uffdLiveRows.length > 0) {
      await write(
        "uffd_ops_live.json",
        "bench/uffd_ops_live.ts",
        uffdLiveNotes(uffdLiveOptions, load),
        uffdLiveRows,
      );
    }
  }

  if (problems.length > 0) {
    for (const p of problems) console.error(`bench: ${p}`);
    if (!config.quick) console.error("bench: datasets with a missing side were not written");
    Deno.exit(1);
  }
}

if (import.meta.main) await main();
