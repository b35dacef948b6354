/**
 * The userfaultfd ioctls that resolve a range — UFFDIO_COPY, ZEROPAGE,
 * CONTINUE, MOVE, POISON — timed on the host kernel by batch size (pages
 * per ioctl), with the simulator's cost of the same calls beside them.
 *
 * Each repetition on either system: a fresh destination of `pages` pages,
 * then the timed loop of ioctls over it, `batch` pages at a time.
 * COPY, ZEROPAGE, POISON: an anonymous private destination registered
 * MISSING (COPY copies from a written source of one batch). MOVE: the same
 * destination, the pages moved from a written anonymous source of `pages`
 * pages. CONTINUE: a memfd of `pages` pages written through one shared
 * mapping (so the page cache holds every page), a second shared mapping of
 * it registered MINOR, and the ioctls map the cached pages into it. Only
 * the ioctl loop is timed; the kernel's destinations are MADV_NOHUGEPAGE.
 * @module
 */
import { constants as C, simulate } from "../lib/mod.ts";
import { liveProcess } from "../lib/live/process.ts";
import { pageSize } from "../lib/live/libc.ts";
import type { UffdOpsLiveRow } from "../lib/datasets/schemas/uffd_ops_live.ts";
import { median } from "./_stats.ts";

export const LIVE_UFFD_OPS = ["COPY", "ZEROPAGE", "CONTINUE", "MOVE", "POISON"] as const;
export type LiveUffdOp = typeof LIVE_UFFD_OPS[number];
export const LIVE_BATCHES = [1, 4, 16, 64, 256] as const;

export interface UffdLiveOptions {
  /** Pages per repetition on the kernel and on the simulator (multiples of 256). */
  kernelPages: number;
  simulatorPages: number;
  repetitions: number;
  progress?: (line: string) => void;
}

const P = C.PAGE_SIZE;
const RW = C.PROT_READ | C.PROT_WRITE;
const ANON = C.MAP_PRIVATE | C.MAP_ANONYMOUS;

/** The facade calls both systems share for this benchmark. */
interface Sys {
  mmap(addr: number, len: number, prot: number, flags: number, fd?: number, off?: number): number;
  munmap(addr: number, len: number): number;
  madvise(addr: number, len: number, advice: number): number;
  write(addr: number, data: number): void;
  memfdCreate(name: string, flags?: number): number;
  ftruncate(fd: number, len: number): number;
  close(fd: number): number;
  userfaultfd(flags?: number): {
    api(a: { api: number; features?: number }): unknown;
    register(a: { range: { start: number; len: number }; mode: number }): unknown;
    copy(a: { dst: number; src: number; len: number; mode?: number }): number;
    zeropage(a: { range: { start: number; len: number }; mode?: number }): number;
    continue(a: { range: { start: number; len: number }; mode?: number }): number;
    move(a: { dst: number; src: number; len: number; mode?: number }): number;
    poison(a: { range: { start: number; len: number }; mode?: number }): number;
    close(): number;
  };
}

const FEATURES: Record<LiveUffdOp, number> = {
  COPY: 0,
  ZEROPAGE: 0,
  CONTINUE: C.UFFD_FEATURE_MINOR_SHMEM,
  MOVE: C.UFFD_FEATURE_MOVE,
  POISON: C.UFFD_FEATURE_POISON,
};

/** One timed loop of `op` on `p`; seconds. Everything it maps is unmapped again. */
export function timeOp(p: Sys, op: LiveUffdOp, batch: number, pages: number, thp: boolean): number {
  if (pages % batch) throw new RangeError(`pages ${pages} is not a multiple of batch ${batch}`);
  const len = pages * P, step = batch * P;
  const cleanup: (() => void)[] = [];
  try {
    let dst: number, src = 0;
    if (op === "CONTINUE") {
      const fd = p.memfdCreate("uffd-bench");
      cleanup.push(() => p.close(fd));
      p.ftruncate(fd, len);
      const filler = p.mmap(0, len, RW, C.MAP_SHARED, fd, 0);
      cleanup.push(() => p.munmap(filler, len));
      for (let i = 0; i < pages; i++) p.write(filler + i * P, 1);
      dst = p.mmap(0, len, RW, C.MAP_SHARED, fd, 0);
    } else {
      dst = p.mmap(0, len, RW, ANON);
      if (thp) p.madvise(dst, len, C.MADV_NOHUGEPAGE);
    }
    cleanup.push(() => p.munmap(dst, len));
    const srcLen = op === "MOVE" ? len : op === "COPY" ? step : 0;
    if (srcLen) {
      src = p.mmap(0, srcLen, RW, ANON);
      cleanup.push(() => p.munmap(src, srcLen));
      if (thp) p.madvise(src, srcLen, C.MADV_NOHUGEPAGE);
      for (let off = 0; off < srcLen; off += P) p.write(src + off, 1);
    }
    const uffd = p.userfaultfd(C.O_CLOEXEC | C.O_NONBLOCK);
    cleanup.push(() => uffd.close());
    uffd.api({ api: C.UFFD_API, features: FEATURES[op] });
    const mode = op === "CONTINUE" ? C.UFFDIO_REGISTER_MODE_MINOR : C.UFFDIO_REGISTER_MODE_MISSING;
    uffd.register({ range: { start: dst, len }, mode });
    const t0 = performance.now();
    for (let off = 0; off < len; off += step) {
      const range = { start: dst + off, len: step };
      let done: number;
      if (op === "COPY") done = uffd.copy({ dst: dst + off, src, len: step });
      else if (op === "ZEROPAGE") done = uffd.zeropage({ range });
      else if (op === "CONTINUE") done = uffd.continue({ range });
      else if (op === "MOVE") done = uffd.move({ dst: dst + off, src: src + off, len: step });
      else done = uffd.poison({ range });
      if (done !== step) throw new Error(`UFFDIO_${op} resolved ${done} of ${step} bytes`);
    }
    return (performance.now() - t0) / 1000;
  } finally {
    for (const f of cleanup.reverse()) f();
  }
}

/** Every op at every batch size on the kernel and on the simulator. */
export function benchUffdLive(o: UffdLiveOptions, kernel: boolean): UffdOpsLiveRow[] {
  const rows: UffdOpsLiveRow[] = [];
  if (kernel && pageSize() !== P) throw new RangeError(`page size ${pageSize()} is not ${P}`);
  using live = kernel ? liveProcess() : undefined;
  for (const op of LIVE_UFFD_OPS) {
    for (const batch of LIVE_BATCHES) {
      const systems: ["kernel" | "simulator", () => Sys, number][] = [];
      if (live) systems.push(["kernel", () => live, o.kernelPages]);
      systems.push([
        "simulator",
        () => simulate({ memory: (3 * o.simulatorPages + 4096) * P }).spawn({ comm: "uffd" }),
        o.simulatorPages,
      ]);
      for (const [system, make, pages] of systems) {
        o.progress?.(`[uffd live] ${system} ${op} × ${batch} pages per ioctl`);
        timeOp(make(), op, batch, pages, system === "kernel");
        for (let rep = 1; rep <= o.repetitions; rep++) {
          const seconds = timeOp(make(), op, batch, pages, system === "kernel");
          rows.push({
            system,
            op,
            batchPages: batch,
            pages,
            seconds,
            nsPerPage: seconds / pages * 1e9,
            repetition: rep,
          });
        }
      }
    }
  }
  return rows;
}

/** Median ns per page by (system, op) and batch, as printed lines. */
export function uffdLiveSummary(rows: readonly UffdOpsLiveRow[]): string {
  const lines = ["uffd ioctls, kernel vs simulator, median ns per page by pages per ioctl:"];
  lines.push(`  ${"".padEnd(20)}${LIVE_BATCHES.map((b) => String(b).padStart(9)).join("")}`);
  for (const op of LIVE_UFFD_OPS) {
    for (const system of ["kernel", "simulator"] as const) {
      const cells = LIVE_BATCHES.map((b) => {
        const xs = rows.filter((r) => r.system === system && r.op === op && r.batchPages === b)
          .map((r) => r.nsPerPage);
        return xs.length ? median(xs).toPrecision(3).padStart(9) : "        —";
      });
      lines.push(`  ${`${op} ${system}`.padEnd(20)}${cells.join("")}`);
    }
  }
  return lines.join("\n");
}

/** Prose for the dataset's provenance. */
export function uffdLiveNotes(o: UffdLiveOptions, load: string): string {
  return `For each ioctl and each batch size (${LIVE_BATCHES.join(", ")} pages per call): ` +
    `kernel ${o.kernelPages} pages per repetition through libc via Deno FFI (the calling ` +
    `Deno process, MADV_NOHUGEPAGE on anonymous regions), simulator ${o.simulatorPages} ` +
    `pages in a fresh simulate() per repetition. COPY, ZEROPAGE, POISON: anonymous private ` +
    `destination registered UFFDIO_REGISTER_MODE_MISSING (COPY from a written one-batch ` +
    `source); MOVE: from a written anonymous source of the same size (UFFD_FEATURE_MOVE); ` +
    `CONTINUE: a memfd filled through one shared mapping, a second shared mapping ` +
    `registered MINOR (UFFD_FEATURE_MINOR_SHMEM). Only the loop of ioctls is timed; each ` +
    `call must resolve its whole batch. One unrecorded warm-up, then ${o.repetitions} ` +
    `recorded repetitions. Host load: ${load}.`;
}
