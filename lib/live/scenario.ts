/**
 * Scenarios as plain JSON, runnable on any process facade: a simulated
 * `Process` or a {@link LiveProcess}. A scenario is a list of ops
 * `{ op: "mmap", args: [...] }` whose arguments are numbers, strings, or
 * symbolic references resolved at run time:
 *
 * - `{ m: i, page?: k, byte?: b }`: the address returned by op `i` (an mmap)
 *   plus `k` pages and `b` bytes;
 * - `{ fd: i }`: the descriptor returned by op `i` (a memfdCreate), or -1
 *   once a `close` op has closed it (so a stale fd is EBADF on both kernels,
 *   never some other file the Deno process opened meanwhile).
 *
 * `mmapAligned` (length, alignment, prot, flags) maps anonymous memory at
 * an address aligned to `alignment` (more than asked, then the rest
 * unmapped), so that where large folios fit in it does not depend on where
 * the kernel put it.
 *
 * `mremap` (old address, old size, new size, flags, new address) is
 * mremap(2); its result is "same" (it stayed), "fixed" (the MREMAP_FIXED
 * address) or "new", and later ops may name the mapping it made.
 *
 * `fork` forks the process; the child does nothing (on the host it runs
 * no code at all, lib/live/fork.ts) and exits when the scenario ends, so
 * what is compared is what fork did to the parent's mappings.
 *
 * `pagemap` takes an optional page count after the address: the entries of
 * that many pages from it, as one step. `pagemapScan` takes the fields of
 * struct pm_scan_arg as a list: start, length in bytes, flags, vecLen,
 * maxPages, categoryInverted, categoryMask, categoryAnyofMask, returnMask.
 * `uffdWpAsync` (start, length) opens the scenario's userfaultfd on first
 * use (UFFDIO_API with WP_ASYNC, WP_UNPOPULATED and POISON) and registers
 * the range for write-protect faults, which the kernel then resolves by
 * itself; `uffdMissing` (start, length) registers it for missing faults,
 * which the runner's monitor resolves with UFFDIO_ZEROPAGE (the simulator's
 * fault handler, or on the host a worker thread: {@link ScenarioHooks}),
 * and the messages it read are part of the step's outcome;
 * `uffdWriteprotect` (start, length, mode), `uffdZeropage` and `uffdPoison`
 * (start, length) are those ioctls on that userfaultfd. Running a scenario
 * gives a list of {@link Outcome}s (lib/live/normalize.ts).
 * @module
 */

import {
  normalizeResult,
  normalizeThrown,
  normalizeUffdMessages,
  type Outcome,
} from "./normalize.ts";
import { MAP_FIXED, MAP_FIXED_NOREPLACE } from "./mman.ts";
import { MREMAP_FIXED } from "../kernel/constants.ts";
import type { PagemapScanResult, PmScanArg } from "../proc/task_mmu.ts";
import {
  O_CLOEXEC,
  O_NONBLOCK,
  UFFD_API,
  UFFD_FEATURE_POISON,
  UFFD_FEATURE_WP_ASYNC,
  UFFD_FEATURE_WP_UNPOPULATED,
  UFFDIO_REGISTER_MODE_MISSING,
  UFFDIO_REGISTER_MODE_WP,
} from "../kernel/constants.ts";

/** The userfaultfd methods scenarios use (the simulator's `Userfaultfd` and `LiveUserfaultfd`). */
export interface ScenarioUffd {
  api(arg: { api: number; features?: number }): unknown;
  register(arg: { range: { start: number; len: number }; mode: number }): { ioctls: number };
  writeprotect(arg: { range: { start: number; len: number }; mode?: number }): number;
  zeropage(arg: { range: { start: number; len: number }; mode?: number }): number;
  poison(arg: { range: { start: number; len: number }; mode?: number }): number;
  close(): number;
}

/** A page-fault message a monitor read from the scenario's userfaultfd. */
export interface UffdFaultSeen {
  /** uffd_msg.arg.pagefault.flags (UFFD_PAGEFAULT_FLAG_WRITE, _WP, _MINOR). */
  flags: number;
  /** uffd_msg.arg.pagefault.address. */
  address: number;
}

/**
 * What the runner tells its caller about the scenario's userfaultfd: once it
 * is open (so that a monitor can serve its missing faults), and just before
 * it is closed (so that the monitor lets go of it). `uffdMessages` hands
 * over the fault messages the monitor has read since it was last asked:
 * the runner asks after each step and adds them to that step's outcome.
 */
export interface ScenarioHooks {
  uffdOpened?(uffd: ScenarioUffd): void;
  uffdClosing?(uffd: ScenarioUffd): void;
  uffdMessages?(): UffdFaultSeen[];
}

/** The facade methods a scenario may call. */
export const SCENARIO_OPS = [
  "mmap",
  "mmapAligned",
  "munmap",
  "mremap",
  "mprotect",
  "madvise",
  "read",
  "write",
  "pagemap",
  "pagemapScan",
  "uffdWpAsync",
  "uffdMissing",
  "uffdWriteprotect",
  "uffdZeropage",
  "uffdPoison",
  "memfdCreate",
  "ftruncate",
  "close",
  "fork",
] as const;
export type ScenarioOpName = (typeof SCENARIO_OPS)[number];

/** An address relative to the mapping op `m` made. */
export interface AddrRef {
  m: number;
  page?: number;
  byte?: number;
}

/** The descriptor op `fd` made. */
export interface FdRef {
  fd: number;
}

export type ScenarioArg = number | string | AddrRef | FdRef;

/** One step of a scenario. */
export interface ScenarioOp {
  op: ScenarioOpName;
  args: ScenarioArg[];
}

/** The part of a process facade scenarios use (`Process` and `LiveProcess` both fit). */
export interface Facade {
  mmap(
    addr: number,
    length: number,
    prot: number,
    flags: number,
    fd?: number,
    offset?: number,
  ): number;
  munmap(addr: number, length: number): number;
  mremap(
    oldAddress: number,
    oldSize: number,
    newSize: number,
    flags?: number,
    newAddress?: number,
  ): number;
  mprotect(addr: number, length: number, prot: number): number;
  madvise(addr: number, length: number, advice: number): number;
  read(addr: number): number;
  read(addr: number, len: number): Uint8Array;
  write(addr: number, data: number): void;
  pagemap(addr: number): unknown;
  pagemapScan(arg: PmScanArg): PagemapScanResult;
  userfaultfd(flags?: number): ScenarioUffd;
  memfdCreate(name: string, flags?: number): number;
  ftruncate(fd: number, length: number): number;
  close(fd: number): number;
  fork(): { exit(): unknown };
}

/**
 * A check the live runner makes before each step with the resolved
 * arguments: a reason to stop (the step would touch memory the scenario
 * does not own), or null. `after` learns each step's result. `recheck`,
 * asked once a step has returned or failed with an errno, may give a
 * reason that makes its outcome not count: another thread of the process
 * mapped memory in the range after `before` looked, as V8 does at any
 * time, so a read may have read V8's page or a pagemap seen it.
 */
export interface StepGuard {
  before(op: ScenarioOp, args: (number | string)[]): string | null;
  after(op: ScenarioOp, args: (number | string)[], result: unknown): void;
  recheck?(op: ScenarioOp, args: (number | string)[]): string | null;
  /** A step failed with an errno: it may still have changed something (a partial mremap). */
  failed?(op: ScenarioOp, args: (number | string)[]): void;
}

/** What the runner remembers of earlier steps to resolve references. */
export class ScenarioContext {
  readonly addrs = new Map<number, number>();
  readonly fds = new Map<number, number>();
  readonly closed = new Set<number>();
  /** The scenario's userfaultfd, once a uffd op opened it. */
  uffd: ScenarioUffd | null = null;

  constructor(readonly pageSize: number, readonly hooks: ScenarioHooks = {}) {}

  /** The scenario's userfaultfd: opened, and UFFDIO_API done, on first use. */
  userfaultfd(p: Facade): ScenarioUffd {
    if (this.uffd) return this.uffd;
    const uffd = p.userfaultfd(O_CLOEXEC | O_NONBLOCK);
    try {
      uffd.api({
        api: UFFD_API,
        features: UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_UNPOPULATED | UFFD_FEATURE_POISON,
      });
    } catch (e) {
      uffd.close();
      throw e;
    }
    this.hooks.uffdOpened?.(uffd);
    return (this.uffd = uffd);
  }

  /** Close the userfaultfd, if one was opened (clean-up). */
  closeUffd(): void {
    if (!this.uffd) return;
    this.hooks.uffdClosing?.(this.uffd);
    this.uffd.close();
    this.uffd = null;
  }

  /** The concrete arguments of `op`, or null if a reference names a failed op. */
  resolve(op: ScenarioOp): (number | string)[] | null {
    const out: (number | string)[] = [];
    for (const a of op.args) {
      if (typeof a === "number" || typeof a === "string") out.push(a);
      else if ("m" in a) {
        const base = this.addrs.get(a.m);
        if (base === undefined) return null;
        out.push(base + (a.page ?? 0) * this.pageSize + (a.byte ?? 0));
      } else {
        const fd = this.fds.get(a.fd);
        if (fd === undefined) return null;
        out.push(this.closed.has(a.fd) ? -1 : fd);
      }
    }
    return out;
  }

  /** Remember what step `index` returned. */
  record(index: number, op: ScenarioOp, result: unknown): void {
    if (op.op === "mmap" || op.op === "mmapAligned" || op.op === "mremap") {
      this.addrs.set(index, result as number);
    }
    if (op.op === "memfdCreate") this.fds.set(index, result as number);
    if (op.op === "close") {
      const ref = op.args[0];
      if (typeof ref === "object" && "fd" in ref) this.closed.add(ref.fd);
    }
  }

  /** The children `fork` ops made, alive until {@link exitChildren}. */
  readonly children: { exit(): unknown }[] = [];

  /** Remember a forked child (it lives until the scenario ends); returns 0 as the op's result. */
  forked(child: { exit(): unknown }): 0 {
    this.children.push(child);
    return 0;
  }

  /** Let every forked child exit (clean-up). */
  exitChildren(): void {
    for (const c of this.children.splice(0)) c.exit();
  }

  /** Descriptors made and not closed yet (for clean-up). */
  openFds(): number[] {
    return [...this.fds].filter(([i]) => !this.closed.has(i)).map(([, fd]) => fd);
  }
}

function call(
  p: Facade,
  name: ScenarioOpName,
  a: (number | string)[],
  pageSize: number,
  context: ScenarioContext,
): unknown {
  const n = (i: number) => a[i] as number;
  switch (name) {
    case "mmap":
      return p.mmap(n(0), n(1), n(2), n(3), n(4) ?? -1, n(5) ?? 0);
    case "mmapAligned": {
      // mmap(len + align), then munmap what lies outside the aligned part.
      const [len, align] = [n(0), n(1)];
      const raw = p.mmap(0, len + align, n(2), n(3), -1, 0);
      const a = Math.ceil(raw / align) * align;
      if (a > raw) p.munmap(raw, a - raw);
      if (raw + align > a) p.munmap(a + len, raw + align - a);
      return a;
    }
    case "munmap":
      return p.munmap(n(0), n(1));
    case "mremap":
      return p.mremap(n(0), n(1), n(2), n(3), n(4) ?? 0);
    case "mprotect":
      return p.mprotect(n(0), n(1), n(2));
    case "madvise":
      return p.madvise(n(0), n(1), n(2));
    case "read":
      return a.length > 1 ? p.read(n(0), n(1)) : p.read(n(0));
    case "write":
      return p.write(n(0), n(1));
    case "pagemap":
      if (a.length < 2) return p.pagemap(n(0));
      // pagemap(addr, pages): the entries of `pages` pages from addr.
      return Array.from({ length: n(1) }, (_, i) => p.pagemap(n(0) + i * pageSize));
    case "pagemapScan":
      return p.pagemapScan({
        start: n(0),
        end: n(0) + n(1),
        flags: n(2),
        vecLen: n(3),
        maxPages: n(4),
        categoryInverted: n(5),
        categoryMask: n(6),
        categoryAnyofMask: n(7),
        returnMask: n(8),
      });
    case "uffdWpAsync":
      return context.userfaultfd(p).register({
        range: { start: n(0), len: n(1) },
        mode: UFFDIO_REGISTER_MODE_WP,
      }).ioctls;
    case "uffdMissing":
      return context.userfaultfd(p).register({
        range: { start: n(0), len: n(1) },
        mode: UFFDIO_REGISTER_MODE_MISSING,
      }).ioctls;
    case "uffdWriteprotect":
      return context.userfaultfd(p).writeprotect({ range: { start: n(0), len: n(1) }, mode: n(2) });
    case "uffdZeropage":
      return context.userfaultfd(p).zeropage({ range: { start: n(0), len: n(1) } });
    case "uffdPoison":
      return context.userfaultfd(p).poison({ range: { start: n(0), len: n(1) } });
    case "memfdCreate":
      return p.memfdCreate(a[0] as string, n(1) ?? 0);
    case "ftruncate":
      return p.ftruncate(n(0), n(1));
    case "close":
      return p.close(n(0));
    case "fork":
      return context.forked(p.fork());
  }
}

/**
 * Run `ops` on `p`, reporting each step's outcome to `emit` as soon as it
 * is known (a live child may die on the next step). Stops after a signal or
 * an `unsafe` step. Returns the outcomes and the context (for clean-up).
 */
export function runScenario(
  p: Facade,
  ops: readonly ScenarioOp[],
  pageSize: number,
  emit: (index: number, outcome: Outcome) => void = () => {},
  guard?: StepGuard,
  hooks: ScenarioHooks = {},
): { outcomes: Outcome[]; context: ScenarioContext } {
  const context = new ScenarioContext(pageSize, hooks);
  const outcomes: Outcome[] = [];
  const push = (i: number, o: Outcome) => {
    outcomes.push(o);
    emit(i, o);
  };
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i];
    const args = context.resolve(op);
    if (args === null) {
      push(i, { unresolved: true });
      continue;
    }
    const unsafe = guard?.before(op, args) ?? null;
    if (unsafe !== null) {
      push(i, { unsafe });
      break;
    }
    let outcome: Outcome;
    try {
      const result = call(p, op.op, args, pageSize, context);
      context.record(i, op, result);
      guard?.after(op, args, result);
      const flags = op.op === "mmap" ? (args[3] as number) : 0;
      const fixed = op.op === "mremap"
        ? (args[3] as number) & MREMAP_FIXED ? (args[4] as number) : undefined
        : flags & (MAP_FIXED | MAP_FIXED_NOREPLACE)
        ? (args[0] as number)
        : undefined;
      outcome = { ok: normalizeResult(op.op, result, fixed, args[0] as number) };
    } catch (e) {
      outcome = normalizeThrown(e, typeof args[0] === "number" ? args[0] : undefined);
      if ("errno" in outcome) guard?.failed?.(op, args);
    }
    const why = "ok" in outcome || "errno" in outcome ? guard?.recheck?.(op, args) ?? null : null;
    if (why !== null) {
      push(i, { unsafe: why });
      break;
    }
    // The monitor's fault messages of this step (a step that dies by a
    // signal takes a live child's with it, so only completed steps carry them).
    const seen = context.uffd ? hooks.uffdMessages?.() ?? [] : [];
    if (seen.length && ("ok" in outcome || "errno" in outcome)) {
      outcome = { ...outcome, uffd: normalizeUffdMessages(seen, args[0]) };
    }
    push(i, outcome);
    if ("signal" in outcome || "blocked" in outcome) break;
  }
  return { outcomes, context };
}
