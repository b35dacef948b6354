/**
 * The part of the simulator's process facade the benchmarks drive
 * (`simulate`, `spawn`, `mmap`, `write`, `munmap`), loaded from lib/mod.ts.
 *
 * Loaded dynamically so that the real-kernel benchmark still runs, and says
 * plainly what is missing, when the simulator cannot be loaded.
 * @module
 */

/** A simulated process, as far as the benchmarks use it. */
export interface SimProcess {
  mmap(addr: number, length: number, prot: number, flags: number): number;
  write(addr: number, value: number): unknown;
  munmap(addr: number, length: number): unknown;
}

/** A simulated kernel, as far as the benchmarks use it. */
export interface SimKernel {
  spawn(): SimProcess;
  /** The simulated /proc/vmstat counters (`pgfault`, …), where the model keeps them. */
  readonly vmstat?: Readonly<Record<string, number>>;
}

/** Options of `simulate()` the benchmarks pass. */
export interface SimulateOptions {
  /** Simulated RAM in bytes. */
  memory?: number;
}

/** The front door's exports the benchmarks need. */
export interface Simulator {
  simulate(options?: SimulateOptions): SimKernel;
  constants: {
    PAGE_SIZE: number;
    PROT_READ: number;
    PROT_WRITE: number;
    MAP_PRIVATE: number;
    MAP_ANONYMOUS: number;
  };
}

/** The simulator, or why it could not be loaded. */
export type SimulatorStatus = { ok: true; sim: Simulator } | { ok: false; reason: string };

/** Import lib/mod.ts and check that it exports `simulate` and `constants`. */
export async function loadSimulator(): Promise<SimulatorStatus> {
  let lib: Partial<Simulator>;
  try {
    lib = await import("../lib/mod.ts");
  } catch (e) {
    return { ok: false, reason: `importing lib/mod.ts failed: ${(e as Error).message}` };
  }
  if (typeof lib.simulate !== "function") {
    return { ok: false, reason: "lib/mod.ts does not export simulate() yet" };
  }
  if (typeof lib.constants?.PAGE_SIZE !== "number") {
    return { ok: false, reason: "lib/mod.ts does not export constants.PAGE_SIZE" };
  }
  return { ok: true, sim: lib as Simulator };
}
