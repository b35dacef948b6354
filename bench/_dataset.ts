/**
 * Dataset files written by the benchmarks: `{ provenance, rows }` JSON with
 * the machine and runtime they were measured on, written atomically.
 * @module
 */

import type { HostProbe } from "../lib/live/mod.ts";

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
   * THP knobs, keyed by their path under /sys/kernel/mm/transparent_hugepage:
   * `enabled`, `defrag`, and `hugepages-<size>kB/enabled` for each mTHP size.
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
  provenance: MeasuredProvenance;
  rows: Row[];
}

/** The probe's THP settings flattened to sysfs-relative paths (see {@link Machine.thp}). */
export function thpRecord(thp: HostProbe["thp"]): Record<string, string> | null {
  if (thp === null) return null;
  const record: Record<string, string> = { enabled: thp.enabled, defrag: thp.defrag };
  for (const [dir, value] of Object.entries(thp.hugepages)) record[`${dir}/enabled`] = value;
  return record;
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
 * Write `dataset` as JSON to `url` atomically: into a temporary file in the
 * same directory, then rename(2) over the target, so a reader never sees a
 * half-written file and an interrupted run leaves the old dataset intact.
 */
export async function writeDatasetAtomic<Row>(url: URL, dataset: Dataset<Row>): Promise<void> {
  const dir = new URL(".", url);
  await Deno.mkdir(dir, { recursive: true });
  const name = url.pathname.split("/").pop();
  const tmp = new URL(`.${name}.tmp-${Deno.pid}`, dir);
  try {
    await Deno.writeTextFile(tmp, JSON.stringify(dataset, null, 2) + "\n");
    await Deno.rename(tmp, url);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw e;
  }
}
