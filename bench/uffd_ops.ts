/**
 * The simulator's cost per page of the userfaultfd ioctls that resolve a
 * range — UFFDIO_COPY, UFFDIO_ZEROPAGE, UFFDIO_POISON, UFFDIO_MOVE — by
 * batch size (pages per ioctl). Each repetition: a fresh simulate() and
 * spawn(), a destination of `pages` pages registered MISSING, then the
 * timed loop of ioctls over it, `batch` pages at a time. COPY copies from a
 * written source buffer of one batch; MOVE moves from a written source
 * region of `pages` pages. Only the ioctl loop is timed.
 * @module
 */
import { constants as C, simulate } from "../lib/mod.ts";
import type { UffdOpsRow } from "../lib/datasets/schemas/uffd_ops_sim.ts";

export const UFFD_OPS = ["COPY", "ZEROPAGE", "POISON", "MOVE"] as const;
export type UffdOp = typeof UFFD_OPS[number];
export const BATCHES = [1, 4, 16, 64, 256] as const;

export interface UffdOpsOptions {
  /** Pages resolved per repetition (a multiple of the largest batch). */
  pages: number;
  repetitions: number;
  progress?: (line: string) => void;
}

const P = C.PAGE_SIZE;

/** One timed loop of `op` over `pages` pages, `batch` pages per ioctl; seconds. */
export function timeUffdOp(op: UffdOp, batch: number, pages: number): number {
  if (pages % batch) throw new RangeError(`pages ${pages} is not a multiple of batch ${batch}`);
  const k = simulate({ memory: (2 * pages + 4096) * P });
  const p = k.spawn({ comm: "uffd-bench" });
  const rw = C.PROT_READ | C.PROT_WRITE, anon = C.MAP_PRIVATE | C.MAP_ANONYMOUS;
  const dst = p.mmap(0, pages * P, rw, anon);
  const srcLen = op === "MOVE" ? pages : op === "COPY" ? batch : 0;
  const src = srcLen ? p.mmap(0, srcLen * P, rw, anon) : 0;
  for (let i = 0; i < srcLen; i++) p.write(src + i * P, 1 + (i & 0x7f));
  const uffd = p.userfaultfd(C.O_CLOEXEC);
  const features = op === "MOVE"
    ? C.UFFD_FEATURE_MOVE
    : op === "POISON"
    ? C.UFFD_FEATURE_POISON
    : 0;
  uffd.api({ api: C.UFFD_API, features });
  uffd.register({ range: { start: dst, len: pages * P }, mode: C.UFFDIO_REGISTER_MODE_MISSING });
  const len = batch * P;
  const t0 = performance.now();
  for (let off = 0; off < pages * P; off += len) {
    if (op === "COPY") uffd.copy({ dst: dst + off, src, len, mode: 0 });
    else if (op === "ZEROPAGE") uffd.zeropage({ range: { start: dst + off, len }, mode: 0 });
    else if (op === "POISON") uffd.poison({ range: { start: dst + off, len }, mode: 0 });
    else uffd.move({ dst: dst + off, src: src + off, len, mode: 0 });
  }
  const seconds = (performance.now() - t0) / 1000;
  k.check();
  return seconds;
}

/** Every op at every batch size: one warm-up, then `repetitions` recorded runs. */
export function benchUffdOps(o: UffdOpsOptions): UffdOpsRow[] {
  const rows: UffdOpsRow[] = [];
  for (const op of UFFD_OPS) {
    for (const batch of BATCHES) {
      o.progress?.(`[uffd] ${op} × ${batch} pages per ioctl`);
      timeUffdOp(op, batch, o.pages);
      for (let r = 1; r <= o.repetitions; r++) {
        const seconds = timeUffdOp(op, batch, o.pages);
        rows.push({
          op,
          batchPages: batch,
          pages: o.pages,
          seconds,
          nsPerPage: (seconds / o.pages) * 1e9,
          repetition: r,
        });
      }
    }
  }
  return rows;
}

/** The median ns per page of each (op, batch), as printed lines. */
export function uffdOpsSummary(rows: readonly UffdOpsRow[]): string {
  const lines = [`uffd ioctls (simulator), median ns per page by pages per ioctl:`];
  lines.push(`  ${"op".padEnd(9)}${BATCHES.map((b) => String(b).padStart(9)).join("")}`);
  for (const op of UFFD_OPS) {
    const cells = BATCHES.map((b) => {
      const xs = rows.filter((r) => r.op === op && r.batchPages === b).map((r) => r.nsPerPage)
        .sort((x, y) => x - y);
      return xs.length
        ? Math.round(xs[Math.floor(xs.length / 2)]).toString().padStart(9)
        : "        —";
    });
    lines.push(`  ${op.padEnd(9)}${cells.join("")}`);
  }
  return lines.join("\n");
}
