/**
 * Child process of bench/sim_memory.ts: make N pages resident in a fresh
 * simulator and report the heap before and after, as one JSON line on stdout.
 *
 * Run as `deno run --v8-flags=--expose-gc bench/_sim_memory_child.ts <pages> <memoryBytes>`;
 * progress goes to stderr.
 * @module
 */

import { loadSimulator } from "./_simulator.ts";

/** What the child prints: readings of heapUsed + external, in bytes. */
export interface ChildReport {
  residentPages: number;
  /** Heap after loading the modules, before simulate(). */
  baselineBytes: number;
  /** Heap after simulate(), spawn() and mmap(), before any write. */
  setupBytes: number;
  /** Heap after the writes. */
  afterBytes: number;
  /** Process RSS after the writes. */
  rssBytes: number;
  /** Wall time of the write loop. */
  seconds: number;
}

// Provided by --v8-flags=--expose-gc.
declare const gc: (() => void) | undefined;

/** heapUsed + external (ArrayBuffer backing stores included) after a full GC. */
function heapBytes(): number {
  if (typeof gc !== "function") throw new Error("run with --v8-flags=--expose-gc");
  gc();
  gc(); // a second pass collects what the first one's finalizers released
  const m = Deno.memoryUsage();
  return m.heapUsed + m.external;
}

/** Parse a positive safe integer argument, quoting it if it is not one. */
function positiveInt(name: string, text: string | undefined): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n <= 0) {
    throw new RangeError(`${name} must be a positive integer, got ${JSON.stringify(text)}`);
  }
  return n;
}

async function main(): Promise<void> {
  const pages = positiveInt("pages", Deno.args[0]);
  const memory = positiveInt("memoryBytes", Deno.args[1]);
  const loaded = await loadSimulator();
  if (!loaded.ok) throw new Error(loaded.reason);
  const { simulate, constants: C } = loaded.sim;

  const baselineBytes = heapBytes();
  const k = simulate({ memory });
  const p = k.spawn();
  const bytes = pages * C.PAGE_SIZE;
  const a = p.mmap(0, bytes, C.PROT_READ | C.PROT_WRITE, C.MAP_PRIVATE | C.MAP_ANONYMOUS);
  const setupBytes = heapBytes();

  const t0 = performance.now();
  const chunk = 1 << 20;
  for (let start = 0; start < pages; start += chunk) {
    const end = Math.min(pages, start + chunk);
    for (let i = start; i < end; i++) p.write(a + i * C.PAGE_SIZE, 1);
    console.error(`[memory] ${end}/${pages} pages resident`);
  }
  const seconds = (performance.now() - t0) / 1000;

  // Keep the kernel and process reachable through the readings below.
  (globalThis as { keep?: unknown }).keep = { k, p };
  const afterBytes = heapBytes();
  const report: ChildReport = {
    residentPages: pages,
    baselineBytes,
    setupBytes,
    afterBytes,
    rssBytes: Deno.memoryUsage().rss,
    seconds,
  };
  console.log(JSON.stringify(report));
}

if (import.meta.main) await main();
