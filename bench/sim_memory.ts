/**
 * Memory per resident simulated page: in a fresh child process per size, the
 * heap (heapUsed + external) before and after writing one byte to each of N
 * pages of an anonymous mapping in the simulator, with a forced GC before each
 * reading. bytesPerPage charges the whole growth from before simulate() to
 * after the writes (fixed costs included) to the N pages.
 * @module
 */

import type { ChildReport } from "./_sim_memory_child.ts";
import { formatBytes, formatCount } from "./_stats.ts";

/** One row of datasets/sim_memory.json. */
export interface MemoryRow {
  residentPages: number;
  /** heapUsed + external after the writes, in bytes. */
  heapBytes: number;
  /** (heap after writes − heap before simulate()) / residentPages. */
  bytesPerPage: number;
  /** Wall time of the write loop. */
  seconds: number;
}

/** Targets the simulator is held to. */
export const TARGET_BYTES_PER_PAGE = 72;
export const TARGET_HEAP_AT_4M_PAGES = 2 * 2 ** 30;

const CHILD = new URL("./_sim_memory_child.ts", import.meta.url);
/** The repository's deno.json, so the child resolves the library's imports from any cwd. */
const CONFIG = decodeURIComponent(new URL("../deno.json", import.meta.url).pathname);

/** Simulated RAM for N resident pages: twice their size, so the simulator never reclaims. */
export function simulatedMemoryFor(pages: number): number {
  return 2 * pages * 4096;
}

/**
 * Run the child for `pages` resident pages; its progress goes to our stderr.
 * The child gets no permissions: the simulator needs none.
 */
export async function measureResident(pages: number): Promise<ChildReport> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--no-prompt",
      `--config=${CONFIG}`,
      "--v8-flags=--expose-gc,--max-old-space-size=16384",
      CHILD.href,
      String(pages),
      String(simulatedMemoryFor(pages)),
    ],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  const text = new TextDecoder().decode(out.stdout).trim();
  if (!out.success) {
    throw new Error(
      `memory child for ${pages} pages exited with code ${out.code}` +
        (out.signal ? ` (signal ${out.signal})` : "") + (text ? `; stdout: ${text}` : ""),
    );
  }
  return JSON.parse(text.split("\n").pop()!) as ChildReport;
}

/** The dataset row of a child report. */
export function memoryRow(r: ChildReport): MemoryRow {
  return {
    residentPages: r.residentPages,
    heapBytes: r.afterBytes,
    bytesPerPage: (r.afterBytes - r.baselineBytes) / r.residentPages,
    seconds: r.seconds,
  };
}

/** One printed line per size, with the target it is held to. */
export function memoryLine(row: MemoryRow, report: ChildReport): string {
  const fixed = formatBytes(report.setupBytes - report.baselineBytes);
  const target = row.residentPages === 4 * 2 ** 20
    ? `target < ${formatBytes(TARGET_HEAP_AT_4M_PAGES)} heap`
    : `target ≤ ${TARGET_BYTES_PER_PAGE} B/page`;
  return `heap per resident 4K page at ${formatCount(row.residentPages)} pages: ` +
    `${row.bytesPerPage.toFixed(1)} B; heap ${formatBytes(row.heapBytes)}, ` +
    `RSS ${formatBytes(report.rssBytes)}, setup ${fixed}, ` +
    `${row.seconds.toFixed(2)} s to write (${target})`;
}
