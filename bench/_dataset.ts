/**
 * Dataset files written by the benchmarks: `{ provenance, rows }` JSON with
 * the machine and runtime they were measured on, written atomically.
 * @module
 */

import { type DatasetName, parseDataset } from "../lib/datasets/mod.ts";
import type { HostProbe } from "../lib/live/mod.ts";
import type { SimulatedProvenance } from "../lib/datasets/provenance.ts";

/** The host a dataset was measured on, as recorded in its provenance. */
export interface Machine {
  /** CPU model name from /proc/cpuinfo. */
  cpu: string | null;
  /** Logical CPUs. */
  cores: number | null;
  /** MemTotal in bytes. */
  memoryBytes: number | null;
  /** Kernel release (uname -r). */
  kernel: string | null;
  /**
   * THP knobs, keyed by their path under /sys/kernel/mm/transparent_hugepage
   * (`enabled`, `defrag`, `hugepages-<size>kB/enabled`), each with the file's
   * contents (`"always [madvise] never"`).
   */
  thp: Record<string, string> | null;
}

/** Where a measured dataset came from. */
export interface MeasuredProvenance {
  kind: "measured";
  /** The script that measured it, relative to the repository root. */
  script: string;
  /** The command that regenerates it. */
  command: string;
  /** When the run started (ISO 8601). */
  date: string;
  machine: Machine;
  runtime: { deno: string; v8: string };
  /** Setup, method and caveats, in prose. */
  notes: string;
}

/** A dataset file: provenance plus rows. */
export interface Dataset<Row> {
  provenance: MeasuredProvenance | SimulatedProvenance;
  rows: Row[];
}

/** The probe's THP files, path under /sys/kernel/mm/transparent_hugepage → contents. */
export function thpRecord(thp: HostProbe["thp"]): Record<string, string> | null {
  return thp === null ? null : { ...thp.files };
}

/** The provenance `machine` of a host probe. */
export function machineOf(probe: HostProbe): Machine {
  return {
    cpu: probe.cpuModel,
    cores: probe.cores,
    memoryBytes: probe.memTotalBytes,
    kernel: probe.kernelRelease,
    thp: thpRecord(probe.thp),
  };
}

/** Provenance for a dataset measured by `script` in this run of `deno task bench`. */
export function measuredProvenance(
  script: string,
  date: Date,
  probe: HostProbe,
  notes: string,
): MeasuredProvenance {
  return {
    kind: "measured",
    script,
    command: "deno task bench",
    date: date.toISOString(),
    machine: machineOf(probe),
    runtime: { deno: Deno.version.deno, v8: Deno.version.v8 },
    notes,
  };
}

/** The datasets/ directory at the repository root, whatever the working directory. */
export const DATASETS_DIR = new URL("../datasets/", import.meta.url);

/**
 * Validate `dataset` against the schema registered for `name`
 * (lib/datasets/registry.ts), then write it as JSON to `dir/name`
 * atomically: into a temporary file in the same directory, then rename(2)
 * over the target, so a reader never sees a half-written file and an
 * interrupted or invalid run leaves the old dataset intact. Returns the URL
 * written. A schema mismatch throws the loader's DatasetError naming row,
 * field and value.
 */
export async function writeDatasetAtomic<Row>(
  name: DatasetName,
  dataset: Dataset<Row>,
  dir: URL = DATASETS_DIR,
): Promise<URL> {
  const text = JSON.stringify(dataset, null, 2) + "\n";
  parseDataset(name, text);
  await Deno.mkdir(dir, { recursive: true });
  const url = new URL(name, dir);
  const tmp = new URL(`.${name}.tmp-${Deno.pid}`, dir);
  try {
    await Deno.writeTextFile(tmp, text);
    await Deno.rename(tmp, url);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw e;
  }
  return url;
}
