/**
 * PAGEMAP_SCAN versus reading /proc/self/pagemap, on the host kernel and
 * on the simulator: the time to find the present pages of an anonymous
 * region in which every page (dense) or every 64th page (sparse) was
 * written, for regions of growing size.
 *
 * Kernel: one mmap per (density, size), MADV_NOHUGEPAGE so that every page
 * is a 4 KiB PTE, the pages written through a Uint8Array view, then each
 * method timed on the whole region. PAGEMAP_SCAN asks for category_mask
 * PAGE_IS_PRESENT with a page_region array as long as the region; the read
 * method preads all the region's 8-byte entries at once and counts runs of
 * PM_PRESENT. Simulator: the same region in a fresh simulate(), timing
 * p.pagemapScan() and p.pagemap() per page.
 * @module
 */
import { constants as C, type PagemapScanResult, type PmScanArg, simulate } from "../lib/mod.ts";
import { liveProcess } from "../lib/live/process.ts";
import { mapAnonymous, open, pageSize, pread } from "../lib/live/libc.ts";
import { close } from "../lib/live/libc.ts";
import type { PagemapScanRow } from "../lib/datasets/schemas/pagemap_scan_vs_read.ts";
import { median } from "./_stats.ts";

export const DENSITIES = { sparse: 64, dense: 1 } as const;
export type Density = keyof typeof DENSITIES;

export interface ScanBenchOptions {
  /** Region sizes in pages. */
  sizes: number[];
  /** The largest size also run on the simulator (it costs far more per page). */
  simulatorMaxPages: number;
  repetitions: number;
  progress?: (line: string) => void;
}

const P = C.PAGE_SIZE;

/** Runs of set bits in the PM_PRESENT bit of `n` little-endian pagemap entries. */
export function presentRuns(entries: Uint8Array, n: number): number {
  const v = new DataView(entries.buffer, entries.byteOffset, n * 8);
  let runs = 0, prev = false;
  for (let i = 0; i < n; i++) {
    // PM_PRESENT is bit 63: the top bit of the entry's last byte.
    const present = (v.getUint8(i * 8 + 7) & 0x80) !== 0;
    if (present && !prev) runs++;
    prev = present;
  }
  return runs;
}

function row(
  system: PagemapScanRow["system"],
  method: PagemapScanRow["method"],
  density: Density,
  pages: number,
  regions: number,
  seconds: number,
  repetition: number,
): PagemapScanRow {
  return {
    system,
    method,
    density,
    pages,
    regions,
    seconds,
    nsPerPage: seconds / pages * 1e9,
    repetition,
  };
}

/** PAGEMAP_SCAN for the present pages of [start, start + pages): the number of regions. */
function scanPresent(
  p: { pagemapScan(arg: PmScanArg): PagemapScanResult },
  start: number,
  pages: number,
): number {
  return p.pagemapScan({
    start,
    end: start + pages * P,
    vecLen: pages,
    categoryMask: C.PAGE_IS_PRESENT,
    returnMask: C.PAGE_IS_PRESENT,
  }).regions.length;
}

/**
 * One unrecorded warm-up of each method, then `o.repetitions` timed runs of
 * each, as rows; throws if the runs found (regions) are not all the same.
 */
function timeMethods(
  rows: PagemapScanRow[],
  o: ScanBenchOptions,
  system: PagemapScanRow["system"],
  density: Density,
  pages: number,
  scan: () => number,
  readAll: () => number,
): void {
  for (const [method, f] of [["PAGEMAP_SCAN", scan], ["pagemap read", readAll]] as const) {
    f();
    for (let rep = 1; rep <= o.repetitions; rep++) {
      const t0 = performance.now();
      const regions = f();
      const seconds = (performance.now() - t0) / 1000;
      rows.push(row(system, method, density, pages, regions, seconds, rep));
    }
  }
  const found = new Set(rows.slice(-2 * o.repetitions).map((r) => r.regions));
  if (found.size > 1) {
    throw new Error(
      `${system} ${density} ${pages} pages: the methods found different runs (${[...found]})`,
    );
  }
}

/** The kernel side: every size and density, one warm-up and `repetitions` recorded runs each. */
export function benchKernelScan(o: ScanBenchOptions): PagemapScanRow[] {
  if (pageSize() !== P) throw new RangeError(`page size ${pageSize()} is not ${P}`);
  const rows: PagemapScanRow[] = [];
  using p = liveProcess();
  const fd = open("/proc/self/pagemap");
  try {
    for (const density of Object.keys(DENSITIES) as Density[]) {
      for (const pages of o.sizes) {
        o.progress?.(`[pagemap scan] kernel ${density} ${pages} pages`);
        using r = mapAnonymous(pages * P, { advice: [C.MADV_NOHUGEPAGE] });
        for (let i = 0; i < pages; i += DENSITIES[density]) r.view[i * P] = 1;
        const buf = new Uint8Array(pages * 8);
        const readAll = () => {
          if (pread(fd, buf, (r.addr / P) * 8) !== buf.length) {
            throw new Error("short pagemap read");
          }
          return presentRuns(buf, pages);
        };
        const scan = () => scanPresent(p, r.addr, pages);
        timeMethods(rows, o, "kernel", density, pages, scan, readAll);
      }
    }
  } finally {
    close(fd);
  }
  return rows;
}

/** The simulator side, for sizes up to `simulatorMaxPages`. */
export function benchSimulatorScan(o: ScanBenchOptions): PagemapScanRow[] {
  const rows: PagemapScanRow[] = [];
  for (const density of Object.keys(DENSITIES) as Density[]) {
    for (const pages of o.sizes.filter((n) => n <= o.simulatorMaxPages)) {
      o.progress?.(`[pagemap scan] simulator ${density} ${pages} pages`);
      const k = simulate({ memory: (pages + 8192) * P });
      const p = k.spawn({ comm: "scan-bench" });
      const a = p.mmap(0, pages * P, C.PROT_READ | C.PROT_WRITE, C.MAP_PRIVATE | C.MAP_ANONYMOUS);
      for (let i = 0; i < pages; i += DENSITIES[density]) p.write(a + i * P, 1);
      const readAll = () => {
        let runs = 0, prev = false;
        for (let i = 0; i < pages; i++) {
          const present = p.pagemap(a + i * P).present;
          if (present && !prev) runs++;
          prev = present;
        }
        return runs;
      };
      timeMethods(rows, o, "simulator", density, pages, () => scanPresent(p, a, pages), readAll);
      k.check();
    }
  }
  return rows;
}

/** Median ns per page of each (system, method, density) by size, as printed lines. */
export function scanSummary(rows: readonly PagemapScanRow[]): string {
  const sizes = [...new Set(rows.map((r) => r.pages))].sort((a, b) => a - b);
  const lines = ["PAGEMAP_SCAN vs pagemap read, median ns per page by region pages:"];
  lines.push(`  ${"".padEnd(36)}${sizes.map((s) => String(s).padStart(9)).join("")}`);
  for (const system of ["kernel", "simulator"] as const) {
    for (const method of ["PAGEMAP_SCAN", "pagemap read"] as const) {
      for (const density of Object.keys(DENSITIES) as Density[]) {
        const cells = sizes.map((s) => {
          const xs = rows.filter((r) =>
            r.system === system && r.method === method && r.density === density && r.pages === s
          ).map((r) => r.nsPerPage);
          return xs.length ? median(xs).toPrecision(3).padStart(9) : "        —";
        });
        lines.push(`  ${`${system} ${method} ${density}`.padEnd(36)}${cells.join("")}`);
      }
    }
  }
  return lines.join("\n");
}

/** Prose for the dataset's provenance. */
export function scanNotes(o: ScanBenchOptions, load: string): string {
  return `Region sizes ${o.sizes.join(", ")} pages (4 KiB), dense (every page written) and ` +
    `sparse (every 64th page written). Kernel: anonymous private mmap through libc via Deno ` +
    `FFI with madvise(MADV_NOHUGEPAGE), pages written through a Uint8Array view, then ` +
    `ioctl(PAGEMAP_SCAN) on /proc/self/pagemap with category_mask = return_mask = ` +
    `PAGE_IS_PRESENT and a page_region array of one entry per page; versus one pread() of ` +
    `the region's 8-byte pagemap entries and a scan of their PM_PRESENT bits for runs. ` +
    `Simulator (lib/, sizes up to ${o.simulatorMaxPages} pages): p.pagemapScan() with the ` +
    `same masks versus p.pagemap() per page. Each (system, method, density, size): one ` +
    `unrecorded warm-up, then ${o.repetitions} recorded repetitions; both methods must find ` +
    `the same number of runs (regions). Host load: ${load}.`;
}
