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

/** The anonymous mTHP sizes of the host in kB (directories with an `enabled` file), ascending. */
export function anonSizesKb(root = THP_SYSFS): number[] {
  const out: number[] = [];
  for (const e of Deno.readDirSync(root)) {
    const m = /^hugepages-(\d+)kB$/.exec(e.name);
    if (!m) continue;
    try {
      Deno.statSync(`${root}/${e.name}/enabled`);
      out.push(Number(m[1]));
    } catch {
      // a size only shmem may use (no anonymous `enabled`)
    }
  }
  return out.sort((a, b) => a - b);
}

/**
 * The `enabled` knobs of some sizes as they were when this was made:
 * `set()` changes them, `restore()` writes back what each file said.
 */
export class SavedMthpKnobs {
  /** Each knob's file and its bracketed choice when saved. */
  readonly saved = new Map<string, string>();

  constructor(readonly sizesKb: readonly number[], readonly root = THP_SYSFS) {
    for (const kb of sizesKb) {
      const path = `${root}/hugepages-${kb}kB/enabled`;
      this.saved.set(path, parseSysfsChoice(Deno.readTextFileSync(path)));
    }
  }

  /** Write the given sizes' settings. */
  set(knobs: MthpKnobs): void {
    for (const [kb, value] of Object.entries(knobs)) {
      Deno.writeTextFileSync(`${this.root}/hugepages-${kb}kB/enabled`, value);
    }
  }

  /** Write back what every saved knob said. */
  restore(): void {
    for (const [path, value] of this.saved) Deno.writeTextFileSync(path, value);
  }
}

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
  const saved = new SavedMthpKnobs(Object.keys(knobs).map(Number), root);
  try {
    saved.set(knobs);
    return await fn();
  } finally {
    saved.restore();
  }
}
