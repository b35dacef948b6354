/**
 * Lesson 03, "uffd poison: a poisoned address with no bad page"
 * (notebooks/03_uffd_poison.ipynb): the helpers its cells use — a process
 * with a given kind of entry at an address, what an access to it does, the
 * side-by-side comparison of a real hwpoison entry with a UFFDIO_POISON
 * marker, the live-migration scenario — and its three checked exercises.
 *
 * Every answer comes from the simulated kernel: expected results are what
 * the model computes, not values typed in by hand.
 * @module
 */
import { simulate } from "../kernel/kernel.ts";
import type { Kernel, SimulateOptions } from "../kernel/kernel.ts";
import type { Process } from "../kernel/process.ts";
import { Signal } from "../kernel/signal.ts";
import * as C from "../kernel/constants.ts";
import type { KernelConfig } from "../kernel/config.ts";
import { isSwapPte, type Pte, pteNone, ptePresent } from "../arch/x86/pgtable.ts";
import {
  PTE_MARKER_GUARD,
  PTE_MARKER_POISONED,
  PTE_MARKER_UFFD_WP,
  pteToSwpEntry,
  SwapOps,
  swpEntryToPte,
} from "../pgtable/swapops.ts";
import {
  FAULT_FLAG_USER,
  handleMmFault,
  lookupPteTable,
  pteIndex,
  vmFaultNames,
} from "../mm/memory.ts";
import { defineExercise, type Exercise } from "../exercise/exercise.ts";
import type { Userfaultfd } from "../userfaultfd/userfaultfd.ts";
import type { Row } from "./tour.ts";
import type { ScenarioOp } from "../live/scenario.ts";
import type { Outcome as ScenarioOutcome } from "../live/normalize.ts";
import { hostModelConfig } from "../live/normalize.ts";
import { liveChildUnavailable, runLiveScenarios, runModelScenarios } from "../live/differential.ts";

const P = C.PAGE_SIZE;
const RW = C.PROT_READ | C.PROT_WRITE;
const ANON = C.MAP_PRIVATE | C.MAP_ANONYMOUS;

// --- entries ------------------------------------------------------------------------

/** The kinds of PTE the lesson compares. */
export type EntryKind =
  | "none"
  | "present"
  | "hwpoison"
  | "marker:poisoned"
  | "marker:guard"
  | "marker:uffd-wp"
  | "swap"
  | "swap:read-error"
  | "marker:swapin-error";

/** How setupEntry() makes each kind, for the comparison table. */
export const ENTRY_ORIGIN: Record<EntryKind, string> = {
  "none": "nothing mapped yet",
  "present": "a write",
  "hwpoison": "MADV_HWPOISON → memory_failure()",
  "marker:poisoned": "UFFDIO_POISON",
  "marker:guard": "MADV_GUARD_INSTALL",
  "marker:uffd-wp": "zap of a uffd-wp page",
  "swap": "MADV_PAGEOUT to a swap device",
  "swap:read-error": "MADV_PAGEOUT, then the slot fails to read",
  "marker:swapin-error": "the same, then swapoff() → unuse_pte()",
};

/** The PTE classes of exercise (a). */
export type PteClass =
  | "none"
  | "present"
  | "swap"
  | "migration"
  | "device"
  | "hwpoison"
  | "marker:uffd-wp"
  | "marker:poisoned"
  | "marker:guard";

/** The configuration options that decide the swap type numbers. */
export type SwapConfig = Pick<KernelConfig, "MEMORY_FAILURE" | "MIGRATION" | "DEVICE_PRIVATE">;

/**
 * The class of a raw PTE for a configuration, in the order the fault path
 * asks: pte_none(), pte_present(), then the swap entry's type
 * (do_swap_page()), and for a marker the bit handle_pte_marker() acts on
 * first (poison, then guard, then uffd-wp).
 */
export function pteClass(pte: Pte, config: SwapConfig): PteClass {
  if (pteNone(pte)) return "none";
  if (ptePresent(pte)) return "present";
  const ops = new SwapOps(config);
  const e = pteToSwpEntry(pte);
  if (ops.isSwapDeviceEntry(e)) return "swap";
  if (ops.isHwpoisonEntry(e)) return "hwpoison";
  if (ops.isMigrationEntry(e)) return "migration";
  if (ops.isDevicePrivateEntry(e) || ops.isDeviceExclusiveEntry(e)) return "device";
  if (ops.isPoisonedSwpEntry(e)) return "marker:poisoned";
  if (ops.isGuardSwpEntry(e)) return "marker:guard";
  if (ops.pteMarkerEntryUffdWp(e)) return "marker:uffd-wp";
  return "swap";
}

/** A process with `kind` at address `a` (page 0 of a two-page anonymous mapping). */
export interface EntrySetup {
  k: Kernel;
  p: Process;
  a: number;
  /** The pfn of the poisoned page (hwpoison), else null. */
  pfn: number | null;
  /** The signal MADV_HWPOISON sent the caller (hwpoison of a dirty page), else null. */
  injectSignal: Signal | null;
}

/**
 * Sets up `kind` at a fresh address: `hwpoison` by writing the page and
 * madvise(MADV_HWPOISON); `marker:poisoned` by UFFDIO_POISON;
 * `marker:guard` by MADV_GUARD_INSTALL; the uffd-wp marker is stored
 * straight into the PTE (what a zap of a uffd-wp protected page leaves).
 * The swap kinds use a swap device (k.swapon()): `swap` is a page written
 * out by MADV_PAGEOUT; `swap:read-error` the same with its slot made
 * unreadable (k.injectSwapReadError()); `marker:swapin-error` what
 * swapoff() then leaves in the PTE.
 */
export function setupEntry(kind: EntryKind, opts: SimulateOptions = {}): EntrySetup {
  const k = simulate(opts);
  const p = k.spawn({ comm: "guest" });
  const a = p.mmap(0, 2 * P, RW, ANON);
  p.write(a + P, 1); // the PTE table exists
  let pfn: number | null = null;
  let injectSignal: Signal | null = null;
  if (kind === "present") p.write(a, 0x41);
  if (kind === "hwpoison") {
    p.write(a, 0x41);
    pfn = p.pagemap(a).pfn;
    try {
      p.madvise(a, P, C.MADV_HWPOISON);
    } catch (e) {
      if (!(e instanceof Signal)) throw e;
      injectSignal = e;
    }
  }
  if (kind === "marker:poisoned") {
    const uffd = p.userfaultfd(0);
    uffd.api({ api: C.UFFD_API, features: C.UFFD_FEATURE_POISON });
    uffd.register({ range: { start: a, len: P }, mode: C.UFFDIO_REGISTER_MODE_MISSING });
    uffd.poison({ range: { start: a, len: P }, mode: 0 });
    uffd.close();
  }
  if (kind === "marker:guard") p.madvise(a, P, C.MADV_GUARD_INSTALL);
  if (kind === "swap" || kind === "swap:read-error" || kind === "marker:swapin-error") {
    k.swapon(16);
    p.write(a, 0x41);
    p.madvise(a, P, C.MADV_PAGEOUT);
    if (kind !== "swap") k.injectSwapReadError(p, a);
    if (kind === "marker:swapin-error") k.swapoff();
  }
  if (kind === "marker:uffd-wp") {
    const pt = lookupPteTable(p.mm, a)!;
    pt.ptl!.lock("lesson: install marker");
    pt.set(pteIndex(a), k.core.swapops.makePteMarker(PTE_MARKER_UFFD_WP));
    pt.ptl!.unlock();
  }
  return { k, p, a, pfn, injectSignal };
}

/** What one access did: the byte read, or the signal and its si_code; and what was logged. */
export interface AccessOutcome {
  signal: string | null;
  code: string | null;
  /** Lines the access added to the kernel log. */
  log: string[];
}

/** Reads `addr` in `p` and reports the outcome. */
export function accessOutcome(k: Kernel, p: Process, addr: number): AccessOutcome {
  const before = k.dmesg.length;
  try {
    p.read(addr);
    return { signal: null, code: null, log: k.dmesg.slice(before) };
  } catch (e) {
    if (!(e instanceof Signal)) throw e;
    return { signal: e.signo, code: e.code, log: k.dmesg.slice(before) };
  }
}

/**
 * The vm_fault_t that handle_mm_fault() returns for a read of `addr`
 * (the first fault only; the arch handler turns it into a signal).
 */
export function faultResult(p: Process, addr: number): string {
  const vma = p.mm.vmaLookup(addr)!;
  p.mm.mmap_lock.downRead();
  try {
    const names = vmFaultNames(handleMmFault(vma, addr, FAULT_FLAG_USER));
    return names.length ? names.join(" | ") : "0";
  } finally {
    p.mm.mmap_lock.upRead();
  }
}

/**
 * The comparison table: for each entry kind, the raw PTE, what the fault
 * path returns, the signal, the line logged (if any), what fork() gives
 * the child and what MADV_DONTNEED leaves behind.
 */
export function compareEntries(
  kinds: readonly EntryKind[],
  opts: SimulateOptions = {},
): Row[] {
  return kinds.map((kind) => {
    const s = setupEntry(kind, opts);
    const pte = s.k.walk(s.p, s.a).levels.at(-1)!.entry;
    const cls = pteClass(pte, s.k.config);
    const fault = faultResult(s.p, s.a);
    const access = accessOutcome(s.k, s.p, s.a);
    const child = s.p.fork();
    const inChild = accessOutcome(s.k, child, s.a);
    s.p.madvise(s.a, P, C.MADV_DONTNEED);
    const afterDontneed = accessOutcome(s.k, s.p, s.a);
    s.k.check();
    return {
      "made by": ENTRY_ORIGIN[kind],
      entry: cls,
      pte,
      "handle_mm_fault()": fault,
      signal: access.signal ? `${access.signal} ${access.code}` : "none",
      "log line": access.log[0] ?? "—",
      "child after fork()": inChild.signal ? `${inChild.signal} ${inChild.code}` : "reads",
      "after MADV_DONTNEED": afterDontneed.signal ? `${afterDontneed.signal}` : "a fresh page",
    };
  });
}

// --- exercise (a): classify a raw PTE --------------------------------------------------

/** The input of exercise (a). */
export interface ClassifyInput {
  pte: bigint;
  config: SwapConfig;
}

const DEBIAN: SwapConfig = { MEMORY_FAILURE: true, MIGRATION: true, DEVICE_PRIVATE: true };
const NO_MF: SwapConfig = { MEMORY_FAILURE: false, MIGRATION: true, DEVICE_PRIVATE: true };
const BARE: SwapConfig = { MEMORY_FAILURE: false, MIGRATION: false, DEVICE_PRIVATE: false };

function classifyCases(): { name: string; input: ClassifyInput; hidden?: boolean }[] {
  const d = new SwapOps(DEBIAN), n = new SwapOps(NO_MF), b = new SwapOps(BARE);
  return [
    { name: "pte_none", input: { pte: 0n, config: DEBIAN } },
    { name: "a present anonymous page", input: { pte: 0x8000000012345867n, config: DEBIAN } },
    {
      name: "a PROT_NONE page (P clear, G set)",
      input: { pte: 0x8000000012345124n, config: DEBIAN },
    },
    { name: "swap device 0, offset 7", input: { pte: swpPte(0, 7), config: DEBIAN } },
    {
      name: "hwpoison entry, Debian",
      input: { pte: swpPte(d.types.SWP_HWPOISON!, 0x1234), config: DEBIAN },
    },
    {
      name: "poisoned marker, Debian",
      input: { pte: d.makePteMarker(PTE_MARKER_POISONED), config: DEBIAN },
    },
    {
      name: "uffd-wp marker, Debian",
      input: { pte: d.makePteMarker(PTE_MARKER_UFFD_WP), config: DEBIAN },
    },
    {
      name: "guard marker, Debian",
      input: { pte: d.makePteMarker(PTE_MARKER_GUARD), config: DEBIAN },
    },
    {
      name: "write migration entry, Debian",
      input: { pte: swpPte(d.types.SWP_MIGRATION_WRITE!, 0x99), config: DEBIAN },
    },
    {
      name: "Debian's hwpoison type without MEMORY_FAILURE",
      input: { pte: swpPte(d.types.SWP_HWPOISON!, 0x1234), config: NO_MF },
      hidden: true,
    },
    {
      name: "poisoned marker without MEMORY_FAILURE",
      input: { pte: n.makePteMarker(PTE_MARKER_POISONED), config: NO_MF },
      hidden: true,
    },
    {
      name: "poisoned | uffd-wp marker",
      input: { pte: d.makePteMarker(PTE_MARKER_POISONED | PTE_MARKER_UFFD_WP), config: DEBIAN },
      hidden: true,
    },
    {
      name: "guard | uffd-wp marker, bare config",
      input: { pte: b.makePteMarker(PTE_MARKER_GUARD | PTE_MARKER_UFFD_WP), config: BARE },
      hidden: true,
    },
    {
      name: "device-exclusive entry",
      input: { pte: swpPte(d.types.SWP_DEVICE_EXCLUSIVE!, 5), config: DEBIAN },
      hidden: true,
    },
    {
      name: "Debian's marker type in a bare config",
      input: { pte: d.makePteMarker(PTE_MARKER_POISONED), config: BARE },
      hidden: true,
    },
    {
      name: "swap type 27, soft-dirty set",
      input: { pte: swpPte(27, 3) | 2n, config: BARE },
      hidden: true,
    },
  ];
}

/** swp_entry_to_pte(swp_entry(type, offset)). */
function swpPte(type: number, offset: number): bigint {
  return swpEntryToPte({ type, offset: BigInt(offset) });
}

/** Exercise (a): classify any raw PTE with the swap types of its configuration. */
export const classifyPteExercise: Exercise<ClassifyInput, PteClass> = defineExercise({
  id: "uffd-poison-classify",
  title: "classifyPte({ pte, config }): none, present, swap, migration, device, hwpoison or marker",
  cases: classifyCases().map((c) => ({ ...c, expected: pteClass(c.input.pte, c.input.config) })),
});

// --- exercise (b): the outcome of an access ------------------------------------------

/** The input of exercise (b): an entry kind and the configuration. */
export interface OutcomeInput {
  entry: EntryKind;
  MEMORY_FAILURE: boolean;
  silentPoison: boolean;
}

/** What exercise (b) predicts: the signal, its si_code, and whether a line is logged. */
export interface Outcome {
  signal: string | null;
  code: string | null;
  logged: boolean;
}

/** The simulator's answer to exercise (b). */
export function simulateOutcome(input: OutcomeInput): Outcome {
  const s = setupEntry(input.entry, {
    config: { MEMORY_FAILURE: input.MEMORY_FAILURE },
    variants: { silentPoison: input.silentPoison },
  });
  const o = accessOutcome(s.k, s.p, s.a);
  return { signal: o.signal, code: o.code, logged: o.log.length > 0 };
}

const OUTCOME_INPUTS: { input: OutcomeInput; hidden?: boolean }[] = [
  { input: { entry: "hwpoison", MEMORY_FAILURE: true, silentPoison: false } },
  { input: { entry: "marker:poisoned", MEMORY_FAILURE: true, silentPoison: false } },
  { input: { entry: "marker:poisoned", MEMORY_FAILURE: false, silentPoison: false } },
  { input: { entry: "marker:guard", MEMORY_FAILURE: true, silentPoison: false } },
  { input: { entry: "none", MEMORY_FAILURE: true, silentPoison: false } },
  { input: { entry: "marker:poisoned", MEMORY_FAILURE: true, silentPoison: true }, hidden: true },
  { input: { entry: "hwpoison", MEMORY_FAILURE: true, silentPoison: true }, hidden: true },
  { input: { entry: "marker:poisoned", MEMORY_FAILURE: false, silentPoison: true }, hidden: true },
  { input: { entry: "marker:uffd-wp", MEMORY_FAILURE: true, silentPoison: false }, hidden: true },
  { input: { entry: "present", MEMORY_FAILURE: false, silentPoison: false }, hidden: true },
  { input: { entry: "swap:read-error", MEMORY_FAILURE: true, silentPoison: false } },
  { input: { entry: "marker:swapin-error", MEMORY_FAILURE: true, silentPoison: false } },
  {
    input: { entry: "marker:swapin-error", MEMORY_FAILURE: true, silentPoison: true },
    hidden: true,
  },
  { input: { entry: "swap", MEMORY_FAILURE: true, silentPoison: true }, hidden: true },
];

/** Exercise (b): signal, si_code and log line of an access, per entry and configuration. */
export const outcomeExercise: Exercise<OutcomeInput, Outcome> = defineExercise({
  id: "uffd-poison-outcome",
  title: "predictOutcome({ entry, MEMORY_FAILURE, silentPoison }): signal, si_code, logged",
  cases: OUTCOME_INPUTS.map((c) => ({
    name: `${c.input.entry}${c.input.MEMORY_FAILURE ? "" : ", no MEMORY_FAILURE"}${
      c.input.silentPoison ? ", silent variant" : ""
    }`,
    input: c.input,
    hidden: c.hidden,
    expected: simulateOutcome(c.input),
  })),
});

// --- the live-migration scenario ------------------------------------------------------

/** A guest of `pages` pages whose pages listed in `bad` have a real hardware error. */
export interface MigrationScenario {
  pages: number;
  bad: readonly number[];
}

/** One fault of the destination, as its handler sees it. */
export interface MigrationFault {
  /** The destination's userfaultfd. */
  uffd: Userfaultfd;
  /** The page-aligned faulting address in the destination. */
  address: number;
  /** The guest page number. */
  index: number;
  /** The source said "this guest page is bad" (it sends no data for it). */
  poisoned: boolean;
  /** Where the received data of a good page sits in the destination (a buffer), else null. */
  recv: number | null;
}

/** A destination fault handler. */
export type MigrationHandler = (f: MigrationFault) => void;

/** What the guest sees when it reads each page, at the source and at the destination. */
export interface MigrationResult {
  source: string[];
  destination: string[];
  dmesg: { source: string[]; destination: string[] };
}

function describe(o: AccessOutcome, byte: number | null): string {
  return o.signal ? `${o.signal} ${o.code}` : `0x${byte!.toString(16)}`;
}

function readAll(k: Kernel, p: Process, base: number, pages: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < pages; i++) {
    const o = accessOutcome(k, p, base + i * P);
    out.push(describe(o, o.signal ? null : p.read(base + i * P)));
  }
  return out;
}

/**
 * Post-copy live migration with a bad page, on two simulated hosts:
 *
 *  1. the source guest ("qemu-src") writes every page; each bad page then
 *     gets a real memory error (MADV_HWPOISON: memory_failure() unmaps it
 *     into a hwpoison entry; the dirty page's owner gets SIGBUS, which the
 *     hypervisor records as "guest page i is bad");
 *  2. the destination ("qemu-dst") maps the guest memory empty, registered
 *     MISSING, with `handler` resolving each fault from what the source
 *     sends: the data of a good page (copied into `recv`), or "bad";
 *  3. the guest reads every page at the source and at the destination.
 *
 * With MEMORY_FAILURE (as configured here) both sides log their own lines.
 */
export function runMigration(s: MigrationScenario, handler: MigrationHandler): MigrationResult {
  checkMigration(s);
  const opts: SimulateOptions = { config: { MEMORY_FAILURE: true } };
  const ks = simulate(opts), kd = simulate(opts);
  const src = ks.spawn({ comm: "qemu-src" });
  const g = src.mmap(0, s.pages * P, RW, ANON);
  for (let i = 0; i < s.pages; i++) src.write(g + i * P, 0x40 + i);
  const bad = new Set<number>();
  for (const i of s.bad) {
    try {
      src.madvise(g + i * P, P, C.MADV_HWPOISON);
    } catch (e) {
      if (!(e instanceof Signal) || e.code !== "BUS_MCEERR_AR") throw e;
      bad.add((e.addr - g) / P);
    }
  }
  const dst = kd.spawn({ comm: "qemu-dst" });
  const d = dst.mmap(0, s.pages * P, RW, ANON);
  const recv = dst.mmap(0, P, RW, ANON);
  const uffd = dst.userfaultfd(C.O_CLOEXEC);
  uffd.api({ api: C.UFFD_API, features: C.UFFD_FEATURE_POISON });
  uffd.register({ range: { start: d, len: s.pages * P }, mode: C.UFFDIO_REGISTER_MODE_MISSING });
  uffd.handler = (msg) => {
    const address = Math.floor(msg.arg.pagefault.address / P) * P;
    const index = (address - d) / P;
    const poisoned = bad.has(index);
    if (!poisoned) dst.write(recv, src.read(g + index * P, P)); // the page's data arrives
    handler({ uffd, address, index, poisoned, recv: poisoned ? null : recv });
  };
  const source = readAll(ks, src, g, s.pages);
  const destination = readAll(kd, dst, d, s.pages);
  ks.check();
  kd.check();
  return {
    source,
    destination,
    dmesg: { source: [...ks.dmesg], destination: [...kd.dmesg] },
  };
}

function checkMigration(s: MigrationScenario): void {
  if (!Number.isInteger(s?.pages) || s.pages < 1 || s.pages > 64) {
    throw new RangeError(`a migration scenario has 1..64 pages, got ${s?.pages}`);
  }
  for (const i of s.bad) {
    if (!Number.isInteger(i) || i < 0 || i >= s.pages) {
      throw new RangeError(`bad page ${i} is outside 0..${s.pages - 1}`);
    }
  }
}

/** Exercise (c): the guest at the destination sees what it saw at the source. */
export const migrationExercise: Exercise<MigrationScenario, string[]> = defineExercise({
  id: "uffd-poison-migration",
  title: "migrate(scenario): a destination handler that copies good pages and poisons bad ones",
  cases: [
    { name: "4 pages, page 1 bad", input: { pages: 4, bad: [1] } },
    { name: "3 pages, none bad", input: { pages: 3, bad: [] } },
    { name: "8 pages, pages 0 and 7 bad", input: { pages: 8, bad: [0, 7] }, hidden: true },
    { name: "5 pages, all bad", input: { pages: 5, bad: [0, 1, 2, 3, 4] }, hidden: true },
  ].map((c) => ({ ...c, expected: sourceView(c.input) })),
});

/** What the guest reads at the source: the expected answer of exercise (c). */
export function sourceView(s: MigrationScenario): string[] {
  return runMigration(s, (f) => {
    if (f.poisoned) f.uffd.poison({ range: { start: f.address, len: P }, mode: 0 });
    else f.uffd.copy({ dst: f.address, src: f.recv!, len: P, mode: 0 });
  }).source;
}

/** The swap-entry kind of a raw PTE, for tables ("—" when it is not a swap PTE). */
export function swapEntryKind(pte: Pte, config: SwapConfig): string {
  if (!isSwapPte(pte)) return "—";
  return new SwapOps(config).entryKind(pteToSwpEntry(pte));
}

/**
 * Rewrites the hwpoison entry at `s.a` to name another pfn, to show that
 * the fault path does not read it. The result breaks the "hwpoison"
 * invariant on purpose: do not check() this kernel afterwards.
 */
export function forgeHwpoisonPfn(s: EntrySetup, pfn: number): void {
  const pt = lookupPteTable(s.p.mm, s.a)!;
  pt.ptl!.lock("lesson: forge hwpoison pfn");
  pt.set(pteIndex(s.a), swpEntryToPte(s.k.core.swapops.makeHwpoisonEntry(pfn)));
  pt.ptl!.unlock();
}

// --- the same access on this machine's kernel ----------------------------------------------

/** The scenario: a page the monitor serves, then an access to a page UFFDIO_POISON marked. */
export const LIVE_POISON_SCENARIO: readonly ScenarioOp[] = [
  { op: "mmap", args: [0, 2 * P, RW, ANON, -1, 0] },
  { op: "uffdMissing", args: [{ m: 0 }, 2 * P] },
  { op: "uffdPoison", args: [{ m: 0 }, P] },
  { op: "read", args: [{ m: 0, page: 1 }] },
  { op: "read", args: [{ m: 0, byte: 5 }] },
];

/** {@link livePoisonAccess}'s answer: the poisoned read on the kernel and on the model. */
export interface LivePoison {
  /** The host's kernel release. */
  kernel: string;
  /** Why the kernel half could not run, or null. */
  unavailable: string | null;
  /** One row per system: the signal, si_code, si_addr − the address read, si_addr_lsb. */
  rows: Row[];
}

/**
 * Run {@link LIVE_POISON_SCENARIO} in a child Deno on this machine's kernel
 * (the access kills it; its fault report gives si_code and si_addr, see
 * lib/live/fault_report.ts) and on the model configured as this kernel is
 * and as a distribution kernel is (MEMORY_FAILURE on).
 */
export async function livePoisonAccess(): Promise<LivePoison> {
  const kernel = Deno.build.os === "linux" ? Deno.osRelease() : Deno.build.os;
  const last = (o: readonly ScenarioOutcome[]) => {
    const x = o.at(-1);
    if (!x || !("signal" in x)) return { signal: JSON.stringify(x ?? null) };
    return {
      signal: x.signal,
      si_code: x.code ?? "(not reported)",
      "si_addr − address": x.at ?? "",
      si_addr_lsb: x.lsb ?? "",
    };
  };
  const host = hostModelConfig();
  const hostConfig = "config" in host ? host.config : null;
  const rows: Row[] = [{
    system: "model, MEMORY_FAILURE=y",
    ...last(runModelScenarios([[...LIVE_POISON_SCENARIO]], { MEMORY_FAILURE: true })[0]),
  }];
  if (hostConfig) {
    rows.push({
      system: `model configured as ${kernel}`,
      ...last(runModelScenarios([[...LIVE_POISON_SCENARIO]], hostConfig)[0]),
    });
  }
  const why = liveChildUnavailable();
  if (why !== null) return { kernel, unavailable: why, rows };
  try {
    const { outcomes } = await runLiveScenarios([[...LIVE_POISON_SCENARIO]], { parallel: 1 });
    rows.push({ system: `kernel ${kernel}`, ...last(outcomes[0]) });
    return { kernel, unavailable: null, rows };
  } catch (e) {
    return { kernel, unavailable: `the child Deno failed: ${(e as Error).message}`, rows };
  }
}
