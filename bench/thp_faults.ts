/**
 * Anonymous fault cost by folio size on the host kernel, and MADV_COLLAPSE.
 *
 * For each size — 4 KiB, every anonymous mTHP size in
 * /sys/kernel/mm/transparent_hugepage/hugepages-<N>kB, and the 2 MiB PMD
 * size — the knobs are set so that only that size is allowed
 * (hugepages-<N>kB/enabled = always, every other size never; 4 KiB: all
 * never and MADV_NOHUGEPAGE), a fresh 2 MiB-aligned region is written one
 * byte per 4 KiB page, and the loop is timed; the size's anon_fault_alloc
 * and anon_fault_fallback deltas say what the kernel actually allocated.
 * MADV_COLLAPSE: with every size never, a region is faulted in with 4 KiB
 * pages, then one madvise(MADV_COLLAPSE) over it is timed
 * (thp_collapse_alloc counts the PMD THPs it made).
 *
 * Changing the knobs needs root; the previous values are written back in a
 * finally block, and on SIGINT/SIGTERM. The simulator's figure is beside
 * each row: the same loop on the model with the same knobs.
 * @module
 */
import { constants as C, simulate } from "../lib/mod.ts";
import { ANON_MTHP_SIZES_KB, type MthpSetting } from "../lib/mm/huge_memory.ts";
import { madvise, mmap, munmap } from "../lib/live/libc.ts";
import { Errno } from "../lib/live/errno.ts";
import { readMthpStat, readVmstat } from "../lib/live/vmstat.ts";
import { THP_SYSFS } from "../lib/live/probe.ts";
import { anonSizesKb, SavedMthpKnobs } from "../lib/live/thp_knobs.ts";
import type { ThpFaultRow } from "../lib/datasets/schemas/thp_fault_cost.ts";
import { median } from "./_stats.ts";

const P = C.PAGE_SIZE;
const HP = C.PMD_SIZE;

/** Why the model has no figure for a row: a size the model has no hugepages-<N>kB for. */
export const MODEL_NO_SIZE =
  "x86-64 has no anonymous folios of this size (THP_ORDERS_ALL_ANON, lib/mm/huge_memory.ts)";

export interface ThpBenchOptions {
  regionBytes: number;
  repetitions: number;
  progress?: (line: string) => void;
  root?: string;
}

export { anonSizesKb };

/** Every size's `enabled`, saved; `only()` allows one size, `restore()` writes them back. */
export class ThpKnobs extends SavedMthpKnobs {
  constructor(root = THP_SYSFS) {
    super(anonSizesKb(root), root);
  }

  /** Allow only `kb` (or nothing, for 4). */
  only(kb: number): void {
    this.set(Object.fromEntries(this.sizesKb.map((s) => [s, s === kb ? "always" : "never"])));
  }
}

function stat(root: string, kb: number, name: string): number {
  return kb === 4 ? 0 : readMthpStat(kb, name, root);
}

/** A 2 MiB-aligned anonymous region of `bytes`: [aligned start, raw start, raw length]. */
function alignedRegion(bytes: number): [number, number, number] {
  const rawLen = bytes + HP;
  const raw = mmap(0, rawLen, C.PROT_READ | C.PROT_WRITE, C.MAP_PRIVATE | C.MAP_ANONYMOUS);
  return [Math.ceil(raw / HP) * HP, raw, rawLen];
}

function touch(addr: number, bytes: number): void {
  const ptr = Deno.UnsafePointer.create(BigInt(addr))!;
  const buf = Deno.UnsafePointerView.getArrayBuffer(ptr, bytes);
  const view = new Uint8Array(buf);
  for (let off = 0; off < bytes; off += P) view[off] = 1;
  buf.transfer(0);
}

/** One timed fault loop with only `kb` allowed. */
function faultRun(root: string, kb: number, bytes: number) {
  const [a, raw, rawLen] = alignedRegion(bytes);
  try {
    madvise(a, bytes, kb === 4 ? C.MADV_NOHUGEPAGE : C.MADV_HUGEPAGE);
    const vm0 = readVmstat(), alloc0 = stat(root, kb, "anon_fault_alloc");
    const fb0 = stat(root, kb, "anon_fault_fallback");
    const t0 = performance.now();
    touch(a, bytes);
    const seconds = (performance.now() - t0) / 1000;
    const vm1 = readVmstat();
    const allocated = kb === 4 ? bytes / P : stat(root, kb, "anon_fault_alloc") - alloc0;
    return {
      seconds,
      faults: vm1.pgfault - vm0.pgfault,
      allocated,
      fallbacks: stat(root, kb, "anon_fault_fallback") - fb0,
    };
  } finally {
    munmap(raw, rawLen);
  }
}

/** One timed MADV_COLLAPSE over a region faulted in with 4 KiB pages. */
function collapseRun(bytes: number) {
  const [a, raw, rawLen] = alignedRegion(bytes);
  try {
    touch(a, bytes);
    madvise(a, bytes, C.MADV_HUGEPAGE);
    const vm0 = readVmstat();
    // EAGAIN is transient (a page not yet on an LRU list, say): call again,
    // timing every call; the blocks already collapsed are skipped.
    let seconds = 0;
    for (let tries = 1;; tries++) {
      const t0 = performance.now();
      try {
        madvise(a, bytes, C.MADV_COLLAPSE);
        seconds += (performance.now() - t0) / 1000;
        break;
      } catch (e) {
        seconds += (performance.now() - t0) / 1000;
        if (!(e instanceof Errno && e.errno === "EAGAIN") || tries === 5) throw e;
      }
    }
    const vm1 = readVmstat();
    return {
      seconds,
      faults: vm1.pgfault - vm0.pgfault,
      allocated: vm1.thp_collapse_alloc - vm0.thp_collapse_alloc,
      fallbacks: 0,
    };
  } finally {
    munmap(raw, rawLen);
  }
}

/**
 * The simulator's ns per 4 KiB page (median of `reps`, after a warm-up)
 * for the same operation over `bytes`, with the kernel run's knobs: write
 * faults with only `kb` folios allowed (hugepages-<kb>kB always, every
 * other size never, MADV_HUGEPAGE on a 2 MiB-aligned region; 4 KiB: every
 * size never), or MADV_COLLAPSE of a region faulted in with 4 KiB pages.
 * Throws if the model did not allocate what the row says.
 */
export function simulatorNs(
  operation: ThpFaultRow["operation"],
  kb: number,
  bytes: number,
  reps: number,
): number {
  const xs: number[] = [];
  const fault = operation === "fault";
  const hugepages: Record<number, MthpSetting> = Object.fromEntries(
    ANON_MTHP_SIZES_KB.map((size) => [size, fault && size === kb ? "always" : "never"]),
  );
  for (let r = 0; r <= reps; r++) {
    const k = simulate({ memory: 3 * bytes + 64 * 2 ** 20, thp: { hugepages } });
    const p = k.spawn();
    const raw = p.mmap(0, bytes + HP, C.PROT_READ | C.PROT_WRITE, C.MAP_PRIVATE | C.MAP_ANONYMOUS);
    const a = Math.ceil(raw / HP) * HP;
    if (fault && kb > 4) p.madvise(a, bytes, C.MADV_HUGEPAGE);
    let t0 = performance.now();
    for (let off = 0; off < bytes; off += P) p.write(a + off, 1);
    if (operation === "MADV_COLLAPSE") {
      p.madvise(a, bytes, C.MADV_HUGEPAGE);
      t0 = performance.now();
      p.madvise(a, bytes, C.MADV_COLLAPSE);
    }
    const ns = (performance.now() - t0) * 1e6 / (bytes / P);
    const made = operation === "MADV_COLLAPSE"
      ? k.vmstat.thp_collapse_alloc
      : kb === 4
      ? k.vmstat.pgfault
      : k.core.mthpStats.get(kb)?.anon_fault_alloc ?? 0;
    const want = bytes / (kb * 1024);
    if (made !== want) {
      throw new Error(`the model's ${operation} with ${kb} kB folios made ${made}, not ${want}`);
    }
    if (r > 0) xs.push(ns);
  }
  return median(xs);
}

/** Every size, then MADV_COLLAPSE; the knobs are restored whatever happens. */
export function benchThpFaults(o: ThpBenchOptions): ThpFaultRow[] {
  const root = o.root ?? THP_SYSFS;
  const knobs = new ThpKnobs(root);
  const restore = () => knobs.restore();
  const onSignal = () => {
    restore();
    Deno.exit(130);
  };
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);
  const rows: ThpFaultRow[] = [];
  const simBytes = Math.min(o.regionBytes, 16 * 2 ** 20);
  const model: Record<string, number> = {
    "MADV_COLLAPSE 2048": simulatorNs("MADV_COLLAPSE", 2048, simBytes, o.repetitions),
  };
  const sizes = [4, ...anonSizesKb(root)].filter((kb) =>
    kb === 4 || (ANON_MTHP_SIZES_KB as readonly number[]).includes(kb)
  );
  // One unrecorded pass over every size first, so that no size is timed
  // while the JIT is still compiling the fault paths it shares with the others.
  for (const kb of sizes) simulatorNs("fault", kb, simBytes, 1);
  for (const kb of sizes) {
    o.progress?.(`[thp faults] the model with ${kb} kB folios`);
    model[`fault ${kb}`] = simulatorNs("fault", kb, simBytes, o.repetitions);
  }
  try {
    const row = (
      operation: ThpFaultRow["operation"],
      folioKb: number,
      r: { seconds: number; faults: number; allocated: number; fallbacks: number },
      repetition: number,
    ): ThpFaultRow => ({
      operation,
      folioKb,
      regionBytes: o.regionBytes,
      seconds: r.seconds,
      nsPer4kPage: r.seconds * 1e9 / (o.regionBytes / P),
      faults: r.faults,
      allocated: r.allocated,
      fallbacks: r.fallbacks,
      repetition,
      modelNsPer4kPage: model[`${operation} ${folioKb}`] ?? null,
      modelAbsentReason: `${operation} ${folioKb}` in model ? null : MODEL_NO_SIZE,
    });
    for (const kb of [4, ...anonSizesKb(root)]) {
      o.progress?.(`[thp faults] ${kb} kB folios`);
      knobs.only(kb);
      faultRun(root, kb, o.regionBytes);
      for (let rep = 1; rep <= o.repetitions; rep++) {
        rows.push(row("fault", kb, faultRun(root, kb, o.regionBytes), rep));
      }
    }
    o.progress?.(`[thp faults] MADV_COLLAPSE`);
    knobs.only(4);
    collapseRun(o.regionBytes);
    for (let rep = 1; rep <= o.repetitions; rep++) {
      rows.push(row("MADV_COLLAPSE", 2048, collapseRun(o.regionBytes), rep));
    }
  } finally {
    restore();
    Deno.removeSignalListener("SIGINT", onSignal);
    Deno.removeSignalListener("SIGTERM", onSignal);
  }
  return rows;
}

/** Median ns per 4 KiB page by size, as printed lines. */
export function thpSummary(rows: readonly ThpFaultRow[]): string {
  const lines = [
    "anonymous faults by folio size, and MADV_COLLAPSE (kernel; model beside it):",
  ];
  const keys = [...new Set(rows.map((r) => `${r.operation} ${r.folioKb}`))];
  for (const key of keys) {
    const rs = rows.filter((r) => `${r.operation} ${r.folioKb}` === key);
    const model = rs[0].modelNsPer4kPage;
    lines.push(
      `  ${(key + " kB").padEnd(22)} ${
        median(rs.map((r) => r.nsPer4kPage)).toPrecision(3)
      } ns/4K ` +
        `(allocated ${median(rs.map((r) => r.allocated))}, fallbacks ${
          median(rs.map((r) => r.fallbacks))
        }); model ${model === null ? "—" : `${model.toPrecision(3)} ns/4K`}`,
    );
  }
  return lines.join("\n");
}

/** Prose for the dataset's provenance. */
export function thpNotes(o: ThpBenchOptions, before: string, load: string): string {
  return `Region ${o.regionBytes / 2 ** 20} MiB, 2 MiB-aligned, anonymous private, through ` +
    `libc via Deno FFI. Fault rows: hugepages-<N>kB/enabled set to always for the size under ` +
    `test and never for every other size (top-level enabled left as it was), MADV_HUGEPAGE on ` +
    `the region (MADV_NOHUGEPAGE and every size never for 4 kB), one byte written per 4 KiB ` +
    `page, the loop timed. MADV_COLLAPSE rows: every size never, the region faulted in with ` +
    `4 KiB pages, MADV_HUGEPAGE, then madvise(MADV_COLLAPSE) over it timed (called again, ` +
    `and timed too, after a transient EAGAIN, at most 5 calls). Counters are ` +
    `system-wide deltas. One unrecorded warm-up, then ${o.repetitions} recorded repetitions ` +
    `per size. The knobs were restored afterwards to: ${before}. The model's figure is the ` +
    `simulator's median over a region of at most 16 MiB with the same knobs, checked to have ` +
    `allocated one folio of the row's size per block (or collapsed every 2 MiB). Host load: ` +
    `${load}.`;
}
