/**
 * Setting THP knobs of the host for the length of one experiment: the
 * hugepages-<size>kB/enabled files under /sys/kernel/mm/transparent_hugepage
 * (root only), each written back as it was afterwards, whatever happens.
 * A knob of the whole machine: every process's faults follow it meanwhile,
 * so experiments set "madvise", which only their MADV_HUGEPAGE regions ask for.
 * @module
 */

import { geteuid } from "./libc.ts";
import { parseSysfsChoice, THP_SYSFS } from "./probe.ts";

/** hugepages-<size>kB/enabled settings, by size in kB. */
export type MthpKnobs = Record<number, "always" | "inherit" | "madvise" | "never">;

/** Why the knobs cannot be set here (not root, no such size), or null. */
export function mthpKnobsUnavailable(knobs: MthpKnobs, root = THP_SYSFS): string | null {
  if (Deno.build.os !== "linux") return `the host OS is ${Deno.build.os}`;
  for (const kb of Object.keys(knobs)) {
    try {
      Deno.statSync(`${root}/hugepages-${kb}kB/enabled`);
    } catch {
      return `this kernel has no ${root}/hugepages-${kb}kB (no mTHP of that size)`;
    }
  }
  if (root === THP_SYSFS && geteuid() !== 0) {
    return "setting hugepages-<size>kB/enabled needs root";
  }
  for (const kb of Object.keys(knobs)) {
    // Opened for writing, nothing written: a read-only sysfs (a container) says no here.
    try {
      Deno.openSync(`${root}/hugepages-${kb}kB/enabled`, { write: true }).close();
    } catch (e) {
      return `${root}/hugepages-${kb}kB/enabled cannot be written: ${(e as Error).message}`;
    }
  }
  return null;
}

/**
 * Run `fn` with the knobs set, then write back what each file said before,
 * even if `fn` throws. Throws if a knob cannot be written.
 */
export async function withMthpKnobs<T>(
  knobs: MthpKnobs,
  fn: () => T | Promise<T>,
  root = THP_SYSFS,
): Promise<T> {
  const path = (kb: string) => `${root}/hugepages-${kb}kB/enabled`;
  const saved = Object.keys(knobs).map((kb) =>
    [path(kb), parseSysfsChoice(Deno.readTextFileSync(path(kb)))] as const
  );
  try {
    for (const [kb, value] of Object.entries(knobs)) Deno.writeTextFileSync(path(kb), value);
    return await fn();
  } finally {
    for (const [file, value] of saved) Deno.writeTextFileSync(file, value);
  }
}
