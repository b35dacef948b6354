/**
 * Lesson 05, "device-exclusive: letting a GPU own a page for atomics"
 * (notebooks/05_device_exclusive.ipynb): the helpers its cells use — a
 * process with a device attached, the state of one page, the CPU-access
 * sequence drawn from a run, the fork experiment of both versions, the
 * ping-pong cost measured from the model's counters — and its three
 * checked exercises.
 *
 * Every answer comes from the simulated kernel: expected results are what
 * the model computes, not values typed in by hand.
 * @module
 */
import { simulate } from "../kernel/kernel.ts";
import type { Kernel } from "../kernel/kernel.ts";
import type { Process } from "../kernel/process.ts";
import { Errno } from "../kernel/errno.ts";
import { Signal } from "../kernel/signal.ts";
import * as C from "../kernel/constants.ts";
import { isSwapPte, ptePfn, ptePresent, pteWrite } from "../arch/x86/pgtable.ts";
import { pteToSwpEntry } from "../pgtable/swapops.ts";
import { pageAnonExclusive } from "../mm/rmap.ts";
import { folioLock, folioUnlock } from "../mm/filemap.ts";
import { MMU_NOTIFY_EVENTS, MmuNotifier, mmuNotifierRegister } from "../mm/mmu_notifier.ts";
import type { Dmirror } from "../hmm/test_hmm.ts";
import { defineExercise, type Exercise } from "../exercise/exercise.ts";
import { Figure } from "../plot/figure.ts";
import { arrow, charWidth, el, svgRoot, text } from "../plot/_svg.ts";
import { ptepGet, type Row } from "./tour.ts";

const P = C.PAGE_SIZE;
const RW = C.PROT_READ | C.PROT_WRITE;
const ANON = C.MAP_PRIVATE | C.MAP_ANONYMOUS;

/** Which kernel: v6.18 (make_device_exclusive()) or ≤ v6.14 (the range API). */
export type DeviceExclusiveVersion = "v6.18" | "v6.14";

/** A kernel of that version, a process with `pages` written pages at `a`, and a device. */
export interface DeviceLab {
  k: Kernel;
  p: Process;
  a: number;
  d: Dmirror;
  /** Every invalidate_range_start() seen on p's mm: "EVENT" or "EVENT owner=device". */
  events: string[];
}

/** Sets up a DeviceLab: page i of the buffer holds the byte i + 1. */
export function deviceLab(version: DeviceExclusiveVersion = "v6.18", pages = 1): DeviceLab {
  const k = simulate({ variants: { deviceExclusiveRange: version === "v6.14" } });
  const p = k.spawn({ comm: "gpu-app" });
  const a = p.mmap(0, pages * P, RW, ANON);
  for (let i = 0; i < pages; i++) p.write(a + i * P, i + 1);
  const d = k.device(p);
  const events: string[] = [];
  mmuNotifierRegister(
    new MmuNotifier({
      invalidateRangeStart(_s, r) {
        events.push(`${MMU_NOTIFY_EVENTS[r.event]}${r.owner === d ? " owner=device" : ""}`);
        return 0;
      },
    }),
    p.mm,
  );
  return { k, p, a, d, events };
}

/**
 * The name of the swap type of a device-exclusive entry in `pte`, or else
 * "none", "present" or the entry's kind (SwapOps.entryKind()).
 */
export function deviceEntryName(k: Kernel, pte: bigint): string {
  if (pte === 0n) return "none";
  if (!isSwapPte(pte)) return "present";
  const e = pteToSwpEntry(pte);
  const t = k.core.swapops.types;
  if (e.type === t.SWP_DEVICE_EXCLUSIVE) return "SWP_DEVICE_EXCLUSIVE";
  if (e.type === t.SWP_DEVICE_EXCLUSIVE_WRITE) return "SWP_DEVICE_EXCLUSIVE_WRITE";
  if (e.type === t.SWP_DEVICE_EXCLUSIVE_READ) return "SWP_DEVICE_EXCLUSIVE_READ";
  return k.core.swapops.entryKind(e);
}

/** The pfn behind `pte`: a present PTE's, or a pfn swap entry's; null otherwise. */
function entryPfn(k: Kernel, pte: bigint): number | null {
  if (pte === 0n) return null;
  if (!isSwapPte(pte)) return ptePresent(pte) ? ptePfn(pte) : null;
  const ops = k.core.swapops;
  const e = pteToSwpEntry(pte);
  return ops.isPfnSwapEntry(e) ? ops.swpOffsetPfn(e) : null;
}

/**
 * One page as the kernel and the device see it: the PTE's kind (swap type
 * for device-exclusive entries), writable, the page's mapcount and
 * refcount, PageAnonExclusive, MM_ANONPAGES of the process, and whether
 * the device holds it ATOMIC.
 */
export function pageRow(
  lab: { k: Kernel; p: Process; d?: Dmirror },
  addr: number,
  label = "",
): Row {
  const { k, p, d } = lab;
  const pte = ptepGet(k, p, addr);
  const pfn = entryPfn(k, pte);
  const m = k.core.memmap;
  const row: Record<string, unknown> = {};
  if (label) row.what = label;
  row.pte = deviceEntryName(k, pte);
  row.writable = !isSwapPte(pte) && pte !== 0n ? pteWrite(pte) : null;
  row.pfn = pfn === null ? null : `0x${pfn.toString(16)}`;
  row.mapcount = pfn === null ? null : m.mapcount[pfn];
  row.refcount = pfn === null ? null : m.refcount[pfn];
  row.anonExclusive = pfn === null ? null : pageAnonExclusive(k.core, pfn);
  row.MM_ANONPAGES = p.rss().MM_ANONPAGES;
  if (d) row.deviceAtomic = d.isAtomic(addr);
  return row as Row;
}

// --- the CPU access sequence ----------------------------------------------------------------

/** One message of a sequence diagram. */
export interface SequenceStep {
  from: "CPU" | "kernel" | "device";
  to: "CPU" | "kernel" | "device";
  label: string;
}

/**
 * Runs the sequence of section 2 on a fresh lab and records it from what
 * the model did: the device takes the page (make_device_exclusive(), the
 * MMU_NOTIFY_EXCLUSIVE it filters), does an atomic, then the CPU reads the
 * page: a fault, the restore's notification (what the device's notifier
 * received), the PTE restored, the read retried.
 */
export function cpuAccessSequence(version: DeviceExclusiveVersion = "v6.18"): SequenceStep[] {
  const lab = deviceLab(version);
  const { k, p, a, d } = lab;
  const steps: SequenceStep[] = [];
  const api = version === "v6.18"
    ? "make_device_exclusive(A, owner)"
    : "make_device_exclusive_range(A, owner)";
  steps.push({ from: "device", to: "kernel", label: api });
  d.atomicAdd(a, 1);
  const ev0 = lab.events.splice(0);
  steps.push({ from: "kernel", to: "device", label: `${ev0.join(", ")} (filtered)` });
  steps.push({ from: "kernel", to: "kernel", label: `PTE → ${pageRow(lab, a).pte}` });
  steps.push({ from: "device", to: "device", label: "atomic add on the page" });
  const faults = k.vmstat.pgfault;
  const lost = d.stats.exclusiveLost;
  const value = p.read(a);
  steps.push({
    from: "CPU",
    to: "kernel",
    label: `load A: #PF (${k.vmstat.pgfault - faults} fault)`,
  });
  steps.push({
    from: "kernel",
    to: "kernel",
    label: "do_swap_page → remove_device_exclusive_entry",
  });
  const ev1 = lab.events.splice(0);
  steps.push({
    from: "kernel",
    to: "device",
    label: `${ev1.join(", ")}: drop ATOMIC (${d.stats.exclusiveLost - lost} lost)`,
  });
  steps.push({
    from: "kernel",
    to: "kernel",
    label: `restore_exclusive_pte → PTE ${pageRow(lab, a).pte}`,
  });
  steps.push({ from: "kernel", to: "CPU", label: `retry: load A = ${value}` });
  return steps;
}

/** Draws sequence steps as an SVG sequence diagram (three lanes). */
export function sequenceSvg(
  steps: readonly SequenceStep[],
  title = "a CPU access to a device-exclusive page",
): Figure {
  const lanes = ["CPU", "kernel", "device"] as const;
  const fs = 11;
  const laneX = { CPU: 80, kernel: 380, device: 690 };
  const top = 50, dy = 34;
  const height = top + steps.length * dy + 30;
  const width = 780;
  const parts: string[] = [];
  parts.push(text(title, { x: 10, y: 18, "font-weight": "bold" }));
  for (const l of lanes) {
    parts.push(text(l, { x: laneX[l], y: 38, "text-anchor": "middle", "font-weight": "bold" }));
    parts.push(
      el("line", {
        x1: laneX[l],
        y1: 44,
        x2: laneX[l],
        y2: height - 10,
        stroke: "#bbb",
        "stroke-dasharray": "4 3",
      }),
    );
  }
  steps.forEach((s, i) => {
    const y = top + i * dy + 16;
    const x1 = laneX[s.from], x2 = laneX[s.to];
    if (x1 === x2) {
      parts.push(el("rect", { x: x1 - 4, y: y - 10, width: 8, height: 14, fill: "#888" }));
      // The device lane is the last: its notes go to the left of it.
      const left = s.from === "device";
      parts.push(
        text(s.label, {
          x: x1 + (left ? -10 : 10),
          y: y + 1,
          "text-anchor": left ? "end" : "start",
        }),
      );
    } else {
      parts.push(
        arrow(x1, y, x2 + (x2 > x1 ? -2 : 2), y, s.from === "kernel" ? "#b03030" : "#305080"),
      );
      const mid = (x1 + x2) / 2;
      const w = s.label.length * charWidth(fs);
      parts.push(
        el("rect", { x: mid - w / 2 - 2, y: y - 14, width: w + 4, height: 12, fill: "white" }),
      );
      parts.push(text(s.label, { x: mid, y: y - 4, "text-anchor": "middle" }));
    }
  });
  const body = svgRoot(width, height, parts, { title, fontSize: fs });
  return new Figure(body, { text: steps.map((s) => `${s.from} → ${s.to}: ${s.label}`).join("\n") });
}

// --- fork ------------------------------------------------------------------------------------

/** The input of the fork experiment and of exercise (b). */
export interface ForkInput {
  version: DeviceExclusiveVersion;
  /** Another thread holds the folio lock while fork() runs. */
  contended: boolean;
}

/** What fork() of a COW mapping holding a device-exclusive entry leaves behind. */
export interface ForkOutcome {
  /** "ok", or the errno fork() failed with. */
  fork: string;
  /** The parent's PTE afterwards ("present" or the entry's type). */
  parent: string;
  /** The child's PTE ("present", "none" when there is no child). */
  child: string;
  /** Whether parent and child map the same page (COW-shared). */
  shared: boolean;
  /** Whether the device still holds the page ATOMIC. */
  deviceAtomic: boolean;
}

/** Runs it: the device takes the page, then fork() (with the folio lock held, if contended). */
export function forkExclusive(input: ForkInput): ForkOutcome {
  const lab = deviceLab(input.version);
  const { k, p, a, d } = lab;
  d.exclusive(a, P);
  const pfn = entryPfn(k, ptepGet(k, p, a))!;
  if (input.contended) folioLock(k.core, pfn);
  let child: Process | null = null;
  let fork = "ok";
  try {
    child = p.fork();
  } catch (e) {
    if (!(e instanceof Errno)) throw e;
    fork = e.errno;
  }
  if (input.contended) folioUnlock(k.core, pfn);
  k.check();
  const pte = ptepGet(k, p, a);
  const childPte = child ? ptepGet(k, child, a) : 0n;
  return {
    fork,
    parent: deviceEntryName(k, pte),
    child: deviceEntryName(k, childPte),
    shared: child !== null && entryPfn(k, childPte) === entryPfn(k, pte),
    deviceAtomic: d.isAtomic(a),
  };
}

// --- ping-pong -------------------------------------------------------------------------------

/** One point of the ping-pong measurement. */
export interface PingPongRow {
  /** Version of the kernel. */
  version: DeviceExclusiveVersion;
  /** Consecutive accesses by the same side. */
  run: number;
  /** Share of the accesses made by the CPU (the rest are device atomics). */
  cpuShare: number;
  /** Accesses in the run. */
  accesses: number;
  /** Per access: CPU page faults (vmstat pgfault). */
  faultsPerAccess: number;
  /** Per access: invalidations the device's notifier received. */
  invalidationsPerAccess: number;
  /** Per access: restores of a device-exclusive entry (the device lost the page). */
  restoresPerAccess: number;
  /** Per access: make_device_exclusive() calls the device needed. */
  acquisitionsPerAccess: number;
}

/**
 * The accesses of a run: `accesses` accesses to one page, a share
 * `cpuShare` of them by the CPU (a read-modify-write), the rest device
 * atomics, in runs of `run` consecutive accesses by the same side, spread
 * evenly (run j is the CPU's when floor((j + 1) · share) > floor(j · share)).
 * "C" for the CPU, "D" for the device.
 */
export function pingPongSchedule(cpuShare: number, accesses: number, run = 1): string {
  let s = "";
  for (let j = 0; s.length < accesses; j++) {
    const cpu = Math.floor((j + 1) * cpuShare + 1e-9) > Math.floor(j * cpuShare + 1e-9);
    s += (cpu ? "C" : "D").repeat(Math.min(run, accesses - s.length));
  }
  return s;
}

/** What a schedule costs, from the model's counters. */
export interface ScheduleCost {
  /** CPU page faults. */
  faults: number;
  /** Invalidations the device received (its own filtered EXCLUSIVE events included). */
  invalidations: number;
  /** Restores: the device lost exclusive access. */
  restores: number;
  /** make_device_exclusive() calls. */
  acquisitions: number;
}

/** Runs a schedule of "C"/"D" accesses on a fresh lab and reads the counters. */
export function runSchedule(
  schedule: string,
  version: DeviceExclusiveVersion = "v6.18",
): ScheduleCost {
  const { k, p, a, d } = deviceLab(version);
  const faults0 = k.vmstat.pgfault;
  for (const who of schedule) {
    if (who === "C") p.write(a, (p.read(a) + 1) & 0xff);
    else if (who === "D") d.atomicAdd(a, 1);
    else throw new RangeError(`a schedule is made of "C" and "D", got ${JSON.stringify(who)}`);
  }
  k.check();
  return {
    faults: k.vmstat.pgfault - faults0,
    invalidations: d.stats.invalidations,
    restores: d.stats.exclusiveLost,
    acquisitions: d.stats.atomicFaults,
  };
}

/**
 * The ping-pong measurement over CPU shares, for both versions and each
 * run length, from the model's counters.
 */
export function pingPong(
  shares: readonly number[] = [0, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1],
  accesses = 400,
  runs: readonly number[] = [1, 10],
): PingPongRow[] {
  const rows: PingPongRow[] = [];
  for (const version of ["v6.18", "v6.14"] as const) {
    for (const run of runs) {
      for (const cpuShare of shares) {
        const c = runSchedule(pingPongSchedule(cpuShare, accesses, run), version);
        rows.push({
          version,
          run,
          cpuShare,
          accesses,
          faultsPerAccess: c.faults / accesses,
          invalidationsPerAccess: c.invalidations / accesses,
          restoresPerAccess: c.restores / accesses,
          acquisitionsPerAccess: c.acquisitions / accesses,
        });
      }
    }
  }
  return rows;
}

// --- exercise (a): which notifier event? ---------------------------------------------------

/** The paths of exercise (a). */
export type NotifierPath =
  | "munmap"
  | "MADV_DONTNEED"
  | "mprotect"
  | "fork"
  | "COW write"
  | "make_device_exclusive"
  | "CPU fault on a device-exclusive entry"
  | "first write to a missing page";

/** The input of exercise (a). */
export interface NotifierInput {
  path: NotifierPath;
  version: DeviceExclusiveVersion;
}

/**
 * Runs one path on a fresh lab (one written page, made exclusive first for
 * the device-exclusive fault) and returns the events it sent, in order
 * ("EVENT" or "EVENT owner=device").
 */
export function observeNotifierEvents(input: NotifierInput): string[] {
  const lab = deviceLab(input.version, 2);
  const { p, a, d, events } = lab;
  const run: Record<NotifierPath, () => void> = {
    "munmap": () => p.munmap(a, P),
    "MADV_DONTNEED": () => p.madvise(a, P, C.MADV_DONTNEED),
    "mprotect": () => p.mprotect(a, P, C.PROT_READ),
    "fork": () => p.fork(),
    "COW write": () => {
      p.fork();
      events.length = 0;
      p.write(a, 9);
    },
    "make_device_exclusive": () => d.exclusive(a, P),
    "CPU fault on a device-exclusive entry": () => {
      d.exclusive(a, P);
      events.length = 0;
      p.read(a);
    },
    "first write to a missing page": () => {
      p.madvise(a, P, C.MADV_DONTNEED);
      events.length = 0;
      p.write(a, 1);
    },
  };
  run[input.path]();
  return [...events];
}

const NOTIFIER_INPUTS: { input: NotifierInput; hidden?: boolean }[] = [
  { input: { path: "munmap", version: "v6.18" } },
  { input: { path: "MADV_DONTNEED", version: "v6.18" } },
  { input: { path: "fork", version: "v6.18" } },
  { input: { path: "make_device_exclusive", version: "v6.18" } },
  { input: { path: "CPU fault on a device-exclusive entry", version: "v6.18" } },
  { input: { path: "mprotect", version: "v6.18" }, hidden: true },
  { input: { path: "COW write", version: "v6.18" }, hidden: true },
  { input: { path: "first write to a missing page", version: "v6.18" }, hidden: true },
  { input: { path: "CPU fault on a device-exclusive entry", version: "v6.14" }, hidden: true },
];

/** Exercise (a): the MMU notifier events each path sends. */
export const notifierEventExercise: Exercise<NotifierInput, string[]> = defineExercise({
  id: "device-exclusive-notifier-events",
  title: "notifierEvents({ path, version }): the invalidate_range_start() events, in order",
  cases: NOTIFIER_INPUTS.map((c) => ({
    name: `${c.input.path} (${c.input.version})`,
    input: c.input,
    hidden: c.hidden,
    expected: observeNotifierEvents(c.input),
  })),
});

// --- exercise (b): fork ------------------------------------------------------------------------

const FORK_INPUTS: { input: ForkInput; hidden?: boolean }[] = [
  { input: { version: "v6.18", contended: false } },
  { input: { version: "v6.18", contended: true } },
  { input: { version: "v6.14", contended: false }, hidden: true },
  { input: { version: "v6.14", contended: true }, hidden: true },
];

/** Exercise (b): what fork() of a COW mapping with a device-exclusive entry does. */
export const forkDeviceExclusiveExercise: Exercise<ForkInput, ForkOutcome> = defineExercise({
  id: "device-exclusive-fork",
  title: "predictFork({ version, contended }): fork result, both PTEs, sharing, device",
  cases: FORK_INPUTS.map((c) => ({
    name: `${c.input.version}${c.input.contended ? ", folio lock contended" : ""}`,
    input: c.input,
    hidden: c.hidden,
    expected: forkExclusive(c.input),
  })),
});

// --- exercise (c): the cost of a schedule -------------------------------------------------------

const SCHEDULES: { input: string; hidden?: boolean }[] = [
  { input: "DDDD" },
  { input: "DCDC" },
  { input: "CCDD" },
  { input: "DDCCDD", hidden: true },
  { input: "CDCDCD", hidden: true },
  { input: "DCCCCD", hidden: true },
];

/** Exercise (c): faults, invalidations, restores and acquisitions of a schedule (v6.18). */
export const pingPongExercise: Exercise<string, ScheduleCost> = defineExercise({
  id: "device-exclusive-ping-pong",
  title: "scheduleCost(schedule): faults, invalidations, restores, acquisitions (v6.18)",
  cases: SCHEDULES.map((c) => ({
    name: c.input,
    input: c.input,
    hidden: c.hidden,
    expected: runSchedule(c.input),
  })),
});

/** What a CPU access to `addr` of `p` raises, or null (for the mprotect cell). */
export function accessSignal(p: Process, addr: number, write: boolean): string | null {
  try {
    if (write) p.write(addr, 1);
    else p.read(addr);
    return null;
  } catch (e) {
    if (e instanceof Signal) return `${e.signo} ${e.code}`;
    throw e;
  }
}
