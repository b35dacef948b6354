/**
 * The host kernel's event counters: /proc/vmstat (mm/vmstat.c, vmstat_text)
 * and the per-size mTHP statistics under
 * /sys/kernel/mm/transparent_hugepage/hugepages-<size>kB/stats (mm/huge_memory.c,
 * the mthp_stat attributes), as of v6.18. Counter names are the kernel's
 * (`pgfault`, `thp_fault_alloc`, `anon_fault_alloc`), so measured and simulated
 * counters join on the same names.
 *
 * The counters are system-wide: a delta over a measured interval includes
 * whatever else ran on the host meanwhile.
 * @module
 */

import { THP_SYSFS } from "./probe.ts";

/** Parse /proc/vmstat text ("name value" lines) into name → count. */
export function parseVmstat(text: string): Record<string, number> {
  const counters: Record<string, number> = {};
  for (const line of text.split("\n")) {
    const m = /^(\w+) (\d+)$/.exec(line);
    if (m) counters[m[1]] = Number(m[2]);
  }
  return counters;
}

/** The host's /proc/vmstat counters. Needs `-A` (Deno asks for all access to /proc). */
export function readVmstat(path = "/proc/vmstat"): Record<string, number> {
  return parseVmstat(Deno.readTextFileSync(path));
}

/** One mTHP statistic of one size, e.g. readMthpStat(16, "anon_fault_alloc"). */
export function readMthpStat(sizeKb: number, stat: string, root = THP_SYSFS): number {
  return Number(Deno.readTextFileSync(`${root}/hugepages-${sizeKb}kB/stats/${stat}`).trim());
}

/**
 * One mTHP statistic summed over every size that has it, e.g. `anon_fault_alloc`:
 * how many anonymous faults were served with a large folio of any mTHP size.
 * Sizes without the file (hugepages-8kB has no anon stats) count as 0.
 */
export function readMthpStatTotal(stat: string, root = THP_SYSFS): number {
  let total = 0;
  for (const entry of Deno.readDirSync(root)) {
    if (!entry.isDirectory || !entry.name.startsWith("hugepages-")) continue;
    try {
      total += readMthpStat(Number(entry.name.slice(10, -2)), stat, root);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
  }
  return total;
}
