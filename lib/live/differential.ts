/**
 * Differential runs: the same scenarios on the simulator and on the host
 * kernel, outcomes compared after normalisation (lib/live/normalize.ts).
 *
 * The live side runs in child Deno processes (lib/live/_child.ts), many
 * scenarios per child; a scenario whose memory access raises SIGSEGV or
 * SIGBUS ends that child, its last outcome becomes the signal from the
 * child's exit status, with si_code and si_addr from the child's fault
 * report, and a new child carries on with the next scenario.
 * @module
 */

import { simulate } from "../kernel/kernel.ts";
import type { KernelConfig } from "../kernel/config.ts";
import type { ThpSettings } from "../mm/huge_memory.ts";
import { PAGE_SIZE } from "../kernel/constants.ts";
import { type Outcome, sameOutcome, signalOutcome } from "./normalize.ts";
import { parseFaultReport } from "./fault_report.ts";
import { ffiStatus } from "./libc.ts";
import {
  runScenario,
  type ScenarioHooks,
  type ScenarioOp,
  type UffdFaultSeen,
} from "./scenario.ts";
import type { Userfaultfd } from "../userfaultfd/userfaultfd.ts";
import { Errno } from "../kernel/errno.ts";

/**
 * The model's monitor for the scenarios' missing faults: a handler on the
 * userfaultfd that resolves each fault with UFFDIO_ZEROPAGE of its page,
 * as the live child's worker thread does, and keeps the messages it read
 * for the runner (`uffdMessages`). Scenarios run one at a time, so one log
 * serves them all; opening a userfaultfd starts it afresh.
 */
export const MODEL_UFFD_HOOKS: ScenarioHooks = (() => {
  let log: UffdFaultSeen[] = [];
  return {
    uffdOpened(uffd) {
      log = [];
      const u = uffd as Userfaultfd;
      u.onFault((msg) => {
        const { address, flags } = msg.arg.pagefault;
        log.push({ flags, address });
        const page = Math.floor(address / PAGE_SIZE) * PAGE_SIZE;
        try {
          u.zeropage({ range: { start: page, len: PAGE_SIZE } });
        } catch (e) {
          // A monitor's failed ioctl is its own business: the fault stays unresolved.
          if (!(e instanceof Errno)) throw e;
        }
      });
    },
    uffdMessages() {
      const seen = log;
      log = [];
      return seen;
    },
  };
})();

/** Run each scenario on a fresh simulated process of one kernel configured as `config`. */
export function runModelScenarios(
  scenarios: readonly ScenarioOp[][],
  config: Partial<KernelConfig>,
  thp: Partial<ThpSettings> = {},
): Outcome[][] {
  const k = simulate({ config, thp });
  return scenarios.map((ops) => {
    const p = k.spawn();
    const { outcomes, context } = runScenario(
      p,
      ops,
      PAGE_SIZE,
      undefined,
      undefined,
      MODEL_UFFD_HOOKS,
    );
    context.exitChildren();
    p.exit();
    return outcomes;
  });
}

/**
 * The child's permissions: FFI for the system calls (it reads /proc/self/maps
 * and /proc/self/pagemap through libc too, since Deno asks for all access to
 * open files under /proc), and reading lib/ for the module of the worker
 * thread that serves missing userfaults (lib/live/_uffd_worker.ts).
 */
export const CHILD_PERMISSIONS = [
  "--allow-ffi",
  `--allow-read=${decodeURIComponent(new URL("../", import.meta.url).pathname)}`,
] as const;

/**
 * Why {@link runLiveScenarios} cannot run here (not Linux, libc not
 * reachable through FFI, no permission to start a child Deno), or null.
 */
export function liveChildUnavailable(): string | null {
  if (Deno.build.os !== "linux") return `the host OS is ${Deno.build.os}, not Linux`;
  const ffi = ffiStatus();
  if (!ffi.usable) return ffi.reason;
  if (Deno.permissions.querySync({ name: "run" }).state !== "granted") {
    return "no permission to start a child Deno (--allow-run)";
  }
  return null;
}

/** Options of {@link runLiveScenarios}. */
export interface LiveRunOptions {
  /** Children running at the same time (default: the CPUs, at most 4). */
  parallel?: number;
  /** Scenarios handed to one child at a time (default 200). */
  batch?: number;
}

/** Counters of one {@link runLiveScenarios} call. */
export interface LiveRunStats {
  children: number;
  signals: Record<string, number>;
}

const CHILD = new URL("./_child.ts", import.meta.url);

/** How long a live child may print nothing before its current step counts as blocked. */
export const BLOCKED_MS = 20_000;

/**
 * Run `scenarios[first..]` in one child until it exits; record each
 * scenario's outcomes in `out`. Returns the index of the first scenario not
 * finished, and the signal that ended the child (or null).
 */
async function runChild(
  scenarios: readonly ScenarioOp[][],
  first: number,
  end: number,
  out: Outcome[][],
): Promise<{ next: number; signal: string | null }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...CHILD_PERMISSIONS, "--no-prompt", CHILD.href],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(
    new TextEncoder().encode(JSON.stringify({ first, scenarios: scenarios.slice(first, end) })),
  );
  await writer.close();
  // A step that waits on a userfaultfd nobody serves never returns: after
  // BLOCKED_MS without a line the child is killed and that step is `blocked`.
  let quiet: ReturnType<typeof setTimeout> | undefined;
  let killedQuiet = false;
  const arm = () => {
    clearTimeout(quiet);
    quiet = setTimeout(() => {
      killedQuiet = true;
      child.kill("SIGKILL");
    }, BLOCKED_MS);
  };
  arm();
  let next = first;
  let text = "";
  // The address the current step accesses, from the child's `at` line.
  let accessed: number | undefined;
  const stderr = new Response(child.stderr).bytes();
  for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
    arm();
    text += chunk;
    const lines = text.split("\n");
    text = lines.pop()!;
    for (const l of lines) {
      if (!l) continue;
      const msg = JSON.parse(l) as {
        s: number;
        i?: number;
        o?: Outcome;
        end?: boolean;
        at?: number;
      };
      if (msg.at !== undefined) accessed = msg.at;
      else if (msg.end) next = msg.s + 1;
      else (out[msg.s] ??= [])[msg.i!] = msg.o!;
    }
  }
  const { signal, code } = await child.status;
  clearTimeout(quiet);
  if (signal !== null) {
    if (next >= end) throw new Error(`live child died by ${signal} after its last scenario`);
    (out[next] ??= []).push(killedQuiet ? { blocked: true } : signalSeen(signal, await stderr));
    return { next: next + 1, signal: killedQuiet ? "blocked" : signal };
  }
  if (code !== 0 || next < end) {
    const why = new TextDecoder().decode(await stderr);
    throw new Error(`live child exited with code ${code} at scenario ${next}: ${why}`);
  }
  return { next, signal: null };

  /** The signal with the child's fault report (item 6 of lib/live/normalize.ts), if it made one. */
  function signalSeen(signal: string, err: Uint8Array): Outcome {
    const report = parseFaultReport(err);
    if (report === null || accessed === undefined || report.signo !== signal) return { signal };
    return signalOutcome(signal, report.code, report.addr, accessed, report.addrLsb);
  }
}

/**
 * Run every scenario on the host kernel, in child Denos; the result lists
 * each scenario's outcomes. Needs Linux and permission to run Deno with FFI.
 */
export async function runLiveScenarios(
  scenarios: readonly ScenarioOp[][],
  options: LiveRunOptions = {},
): Promise<{ outcomes: Outcome[][]; stats: LiveRunStats }> {
  const parallel = options.parallel ?? Math.min(4, navigator.hardwareConcurrency || 1);
  const batch = options.batch ?? 200;
  const out: Outcome[][] = scenarios.map(() => []);
  const stats: LiveRunStats = { children: 0, signals: {} };
  let nextBatch = 0;
  const worker = async () => {
    while (nextBatch < scenarios.length) {
      const start = nextBatch;
      const end = Math.min(scenarios.length, start + batch);
      nextBatch = end;
      for (let i = start; i < end;) {
        const r = await runChild(scenarios, i, end, out);
        stats.children++;
        if (r.signal) stats.signals[r.signal] = (stats.signals[r.signal] ?? 0) + 1;
        i = r.next;
      }
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
  return { outcomes: out, stats };
}

/**
 * Whether two runs of one scenario agree. A live run that stopped as
 * `unsafe` is compared on the steps before it only.
 */
export function outcomesAgree(model: readonly Outcome[], live: readonly Outcome[]): boolean {
  const cut = live.findIndex((o) => "unsafe" in o);
  const n = cut < 0 ? Math.max(model.length, live.length) : cut;
  for (let i = 0; i < n; i++) {
    if (!sameOutcome(model[i], live[i])) return false;
  }
  return true;
}
