/**
 * Memory per resident simulated page: in a fresh child process per size, the
 * heap (heapUsed + external) before and after writing one byte to each of N
 * pages of an anonymous mapping in the simulator, with a forced GC before each
 * reading. bytesPerPage is the growth over the writes divided by N: what
 * making a page resident costs. What simulate(), spawn() and mmap() allocate
 * up front (e.g. the memmap for all of simulated RAM) is the fixed cost,
 * printed beside it and included in heapBytes.
 * @module
 */

import type { ChildReport } from "./_sim_memory_child.ts";
import { formatBytes, formatCount } from "./_stats.ts";

/** One row of datasets/sim_memory.json. */
export interface MemoryRow {
  residentPages: number;
  /** heapUsed + external after the writes, in bytes. */
  heapBytes: number;
  /** (heap after the writes − heap before them) / residentPages. */
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
    bytesPerPage: (r.afterBytes - r.setupBytes) / r.residentPages,
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
    `RSS ${formatBytes(report.rssBytes)}, fixed cost ${fixed}, ` +
    `${row.seconds.toFixed(2)} s to write (${target})`;
}

/**
 * The one-line figure over all sizes: `heap per resident 4K page: 41.3 B at 1M
 * pages (target ≤ 72 B); 4M pages: 1.70 GiB heap (target < 2.00 GiB)`.
 */
export function memorySummary(rows: readonly MemoryRow[]): string {
  const parts = rows.map((r) => {
    const at = formatCount(r.residentPages);
    return r.residentPages === 4 * 2 ** 20
      ? `${at} pages: ${formatBytes(r.heapBytes)} heap, ${r.bytesPerPage.toFixed(1)} B/page ` +
        `(target < ${formatBytes(TARGET_HEAP_AT_4M_PAGES)})`
      : `${r.bytesPerPage.toFixed(1)} B at ${at} pages (target ≤ ${TARGET_BYTES_PER_PAGE} B)`;
  });
  return `heap per resident 4K page: ${parts.join("; ")}`;
}
