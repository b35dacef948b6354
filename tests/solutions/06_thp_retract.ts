/**
 * Reference solutions of the exercises in notebooks/06_thp_retract.ipynb,
 * kept out of the notebook. tests/exercises_test.ts proves that each check
 * accepts them and rejects the notebook's stubs.
 * @module
 */
import type { RecheckPlacement, RetractRacer } from "../../lib/race/mod.ts";
import {
  COLLAPSE_STEPS,
  type InterleavingInput,
  type InterleavingOutcome,
  type MmAtExit,
} from "../../lib/lessons/mod.ts";

/**
 * Exercise (a): both racers write their PTE or marker under the PTE lock
 * only, and set anon_vma or VM_UFFD_WP before that; a recheck holding the
 * PTE lock therefore sees the flag of any entry already in the table, and
 * no entry can be added until the table is gone. Under the PMD lock alone
 * the racer can still take the PTE lock in between.
 */
export function recheckPlaces(_racer: RetractRacer): RecheckPlacement[] {
  return ["after spin_lock_nested(ptl)"];
}

/**
 * Exercise (b): the copy lands before step 2 (the collapse then finds an
 * anonymous PTE and aborts), or in the pre-fix window between dropping ptl
 * after step 2 and taking it again for step 4 (the table goes with the PTE:
 * Bad rss-counter state), or after the PMD was cleared (pte_offset_map_lock()
 * sees pmd_same() fail and the copy retries into a new table).
 */
export function predictInterleaving(i: InterleavingInput): InterleavingOutcome {
  const steps = COLLAPSE_STEPS[i.variant];
  const at = steps.indexOf(i.copyAfter);
  if (at < steps.indexOf("spin_lock(ptl)")) {
    return { collapse: "SCAN_FAIL", copy: "copied", badRss: false };
  }
  if (i.variant === "pre-a98460494b16" && at < steps.indexOf("spin_lock_nested(ptl)")) {
    return { collapse: "SCAN_SUCCEED", copy: "copied", badRss: true };
  }
  return { collapse: "SCAN_SUCCEED", copy: "copied", badRss: false };
}

/** Exercise (c): exit_mmap() zaps the table the PMD maps, then check_mm() reads the counters. */
export function checkMm(m: MmAtExit): string | null {
  let shmem = m.rss.MM_SHMEMPAGES, anon = m.rss.MM_ANONPAGES;
  if (m.pmd !== 0) {
    for (const e of m.tables[m.pmd]) {
      if (e === "shmem") shmem--;
      if (e === "anon") anon--;
    }
  }
  if (shmem !== 0) return `BUG: Bad rss-counter state mm:1 type:MM_SHMEMPAGES val:${shmem}`;
  if (anon !== 0) return `BUG: Bad rss-counter state mm:1 type:MM_ANONPAGES val:${anon}`;
  return null;
}
