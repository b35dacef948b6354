/**
 * The child side of {@link runLiveScenarios}: reads a batch of scenarios as
 * JSON on stdin, runs them one after the other on this process's real
 * address space, and writes one JSON line per step to stdout as soon as the
 * step is done, so that the parent knows how far a scenario got when a
 * SIGSEGV or SIGBUS ends this process.
 *
 * Lines: `{"s":n,"at":addr}` before a memory access, `{"s":n,"i":k,"o":outcome}`
 * per step, `{"s":n,"end":true}` once scenario n is cleaned up. A fatal
 * fault also leaves a fault report on stderr (lib/live/fault_report.ts). Run with `--allow-ffi` only: /proc/self is read through libc.
 * @module
 */

import { LiveProcess } from "./process.ts";
import { munmap, pageSize, readProcFile } from "./libc.ts";
import { runScenario, type ScenarioOp, type StepGuard } from "./scenario.ts";
import { startFaultServer } from "./uffd_server.ts";
import { installFaultReporter } from "./fault_report.ts";
import type { LiveUserfaultfd } from "./userfaultfd.ts";
import { MAP_FIXED, MAP_FIXED_NOREPLACE } from "./mman.ts";
import { MREMAP_DONTUNMAP, MREMAP_FIXED } from "../kernel/constants.ts";

const ps = pageSize();
const encoder = new TextEncoder();

function line(value: unknown): void {
  const bytes = encoder.encode(JSON.stringify(value) + "\n");
  for (let n = 0; n < bytes.length;) n += Deno.stdout.writeSync(bytes.subarray(n));
}

/** [start, end) of each mapping in /proc/self/maps. */
function procMaps(): [number, number][] {
  return procMapsLines().map(([s, e]) => [s, e]);
}

/** [start, end, the whole line] of each mapping in /proc/self/maps. */
function procMapsLines(): [number, number, string][] {
  return new TextDecoder().decode(readProcFile("/proc/self/maps")).trim().split("\n").map((l) => {
    const [s, e] = l.split(" ")[0].split("-");
    return [parseInt(s, 16), parseInt(e, 16), l];
  });
}

/**
 * Keeps a scenario to the pages it mapped itself: a step whose range
 * includes a page the scenario does not own, while some other mapping of
 * this Deno process (V8's heap, a thread stack) sits there, is refused.
 */
class OwnPages implements StepGuard {
  readonly pages = new Set<number>();

  /** `accessing` learns the address of each read or write let through, before it is made. */
  constructor(private readonly accessing: (addr: number) => void = () => {}) {}

  private ranges(op: ScenarioOp, a: (number | string)[]): [number, number][] {
    const n = (i: number) => a[i] as number;
    if (op.op === "mremap") {
      // The old range with room to grow in place, and a MREMAP_FIXED target.
      const old: [number, number] = [n(0), Math.max(n(1), n(2))];
      return n(3) & MREMAP_FIXED ? [old, [n(4), n(2)]] : [old];
    }
    const r = this.range(op, a);
    return r ? [r] : [];
  }

  private range(op: ScenarioOp, a: (number | string)[]): [number, number] | null {
    const n = (i: number) => a[i] as number;
    switch (op.op) {
      case "mmap":
        return n(3) & (MAP_FIXED | MAP_FIXED_NOREPLACE) ? [n(0), n(1)] : null;
      case "munmap":
      case "mprotect":
      case "madvise":
        return [n(0), n(1)];
      case "read":
        return [n(0), a.length > 1 ? n(1) : 1];
      case "write":
        return [n(0), 1];
      case "pagemap":
        return [n(0), a.length > 1 ? n(1) * ps : 1];
      case "pagemapScan":
      case "uffdWpAsync":
      case "uffdMissing":
      case "uffdWriteprotect":
      case "uffdZeropage":
      case "uffdPoison":
        return [n(0), n(1)];
      default:
        return null;
    }
  }

  /** /proc/self/maps just before an mremap, for {@link failed}. */
  private mremapBefore: [number, number, string][] | null = null;

  before(op: ScenarioOp, a: (number | string)[]): string | null {
    this.mremapBefore = op.op === "mremap" ? procMapsLines() : null;
    const why = this.foreign(op, a);
    if (why === null && (op.op === "read" || op.op === "write")) this.accessing(a[0] as number);
    return why;
  }

  /** Why the step's range holds a page of the Deno process's own, or null. */
  private foreign(op: ScenarioOp, a: (number | string)[]): string | null {
    let maps: [number, number][] | undefined;
    for (const r of this.ranges(op, a)) {
      const first = Math.floor(r[0] / ps), last = Math.floor((r[0] + Math.max(r[1], 1) - 1) / ps);
      if (last - first > 1 << 16) return `range of ${last - first + 1} pages is too large to check`;
      for (let pg = first; pg <= last; pg++) {
        if (this.pages.has(pg)) continue;
        maps ??= procMaps();
        const addr = pg * ps;
        if (maps.some(([s, e]) => s <= addr && addr < e)) {
          return `page 0x${addr.toString(16)} is mapped by the Deno process itself`;
        }
      }
    }
    return null;
  }

  /**
   * A step whose range holds the Deno process's own mapping once it is
   * done: the mapping appeared after {@link before} looked (V8 maps heap
   * pages from any thread, and a hole the scenario just unmapped is where
   * the kernel's top-down search puts them), so the outcome may be V8's.
   */
  recheck(op: ScenarioOp, a: (number | string)[]): string | null {
    const why = this.foreign(op, a);
    return why === null ? null : `done, and now ${why}`;
  }

  after(op: ScenarioOp, a: (number | string)[], result: unknown): void {
    const pagesOf = (addr: number, len: number) => {
      const first = Math.floor(addr / ps), end = Math.ceil((addr + len) / ps);
      return Array.from({ length: end - first }, (_, i) => first + i);
    };
    if (op.op === "mmap") {
      for (const pg of pagesOf(result as number, a[1] as number)) this.pages.add(pg);
    }
    if (op.op === "mmapAligned") {
      for (const pg of pagesOf(result as number, a[0] as number)) this.pages.add(pg);
    }
    if (op.op === "munmap") {
      for (const pg of pagesOf(a[0] as number, a[1] as number)) this.pages.delete(pg);
    }
    if (op.op === "mremap") {
      if (!((a[3] as number) & MREMAP_DONTUNMAP)) {
        for (const pg of pagesOf(a[0] as number, a[1] as number)) this.pages.delete(pg);
      }
      for (const pg of pagesOf(result as number, a[2] as number)) this.pages.add(pg);
    }
  }

  /**
   * A failed mremap may have moved the VMAs before the one it stopped at
   * (remap_move()): the pages of the old range whose mapping changed are
   * not the scenario's any more, and what is mapped at the target now is
   * (before() made sure nothing of Deno's was there).
   */
  failed(op: ScenarioOp, a: (number | string)[]): void {
    if (op.op !== "mremap" || !this.mremapBefore) return;
    const n = (i: number) => a[i] as number;
    const before = this.mremapBefore, now = procMapsLines();
    this.mremapBefore = null;
    const entry = (maps: [number, number, string][], pg: number) =>
      maps.find(([s, e]) => s <= pg * ps && pg * ps < e)?.[2];
    const pagesOf = (addr: number, len: number) =>
      Array.from({ length: Math.ceil(len / ps) }, (_, i) => Math.floor(addr / ps) + i);
    // A page of the old range whose mapping is not the one it had: moved
    // away, and maybe already taken by another thread's mmap.
    for (const pg of pagesOf(n(0), n(1))) {
      if (entry(now, pg) !== entry(before, pg)) this.pages.delete(pg);
    }
    if (n(3) & MREMAP_FIXED) {
      for (const pg of pagesOf(n(4), n(2))) if (entry(now, pg) !== undefined) this.pages.add(pg);
    }
  }

  /** munmap every page still owned, in runs. */
  release(): void {
    const sorted = [...this.pages].sort((x, y) => x - y);
    for (let i = 0; i < sorted.length;) {
      let j = i;
      while (j + 1 < sorted.length && sorted[j + 1] === sorted[j] + 1) j++;
      munmap(sorted[i] * ps, (j - i + 1) * ps);
      i = j + 1;
    }
    this.pages.clear();
  }
}

/**
 * Where a scenario's mappings go. The kernel places an mmap without an
 * address top-down from mmap_base, into the highest gap that fits: in a
 * Deno process that is a hole between V8's and the runtime's mappings,
 * whose neighbours a scenario may not touch (a grow in place would run into
 * them) and whose holes the runtime's next mmap fills. So the child asks
 * for addresses itself, as hints (never MAP_FIXED), top-down from
 * {@link ARENA_TOP}, far below everything else: the scenario's mappings sit
 * side by side as the model's do below its mmap_base, and the kernel still
 * decides (a hint whose range is taken is ignored).
 */
const ARENA_TOP = 0x2000_0000_0000;

/** The process with its mmap() given arena hints (see {@link ARENA_TOP}). */
function arenaPlacement(live: LiveProcess): LiveProcess {
  let cursor = ARENA_TOP;
  return new Proxy(live, {
    get(target, key, receiver) {
      if (key !== "mmap") {
        const v = Reflect.get(target, key, receiver);
        return typeof v === "function" ? v.bind(target) : v;
      }
      return (addr: number, len: number, prot: number, flags: number, fd = -1, off = 0) => {
        const size = Math.ceil(len / ps) * ps;
        if (
          addr === 0 && !(flags & (MAP_FIXED | MAP_FIXED_NOREPLACE)) && size > 0 && size < 2 ** 40
        ) {
          cursor -= size;
          addr = cursor;
        }
        return target.mmap(addr, len, prot, flags, fd, off);
      };
    },
  });
}

const input = JSON.parse(await new Response(Deno.stdin.readable).text()) as {
  first: number;
  scenarios: ScenarioOp[][];
};
// si_code and si_addr of a fatal SIGSEGV or SIGBUS go to stderr for the
// parent; a machine without the handler is reported once, also on stderr.
const noReport = installFaultReporter();
if (noReport !== null) console.error(noReport);
using p = new LiveProcess();
// The monitor thread, started only for a batch that registers missing
// faults: resolves them with UFFDIO_ZEROPAGE.
const needsServer = input.scenarios.some((ops) => ops.some((op) => op.op === "uffdMissing"));
const server = needsServer ? await startFaultServer({ resolve: "zeropage" }) : null;
const hooks = {
  uffdOpened: (uffd: unknown) => server?.serve(uffd as LiveUserfaultfd),
  uffdClosing: () => server?.serve(null),
  uffdMessages: () => server?.takeMessages() ?? [],
};
input.scenarios.forEach((ops, k) => {
  const s = input.first + k;
  // Before each access the child names its address: if the access kills
  // the child, the parent reads si_addr relative to it.
  const guard = new OwnPages((at) => line({ s, at }));
  const arena = arenaPlacement(p);
  const { context } = runScenario(arena, ops, ps, (i, o) => line({ s, i, o }), guard, hooks);
  context.exitChildren();
  context.closeUffd();
  guard.release();
  for (const fd of context.openFds()) p.close(fd);
  line({ s, end: true });
});
await server?.stop();
