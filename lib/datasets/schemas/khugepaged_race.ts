/**
 * datasets/khugepaged_race.json: the khugepaged races of seed
 * 003_04fde8f735f91402.txt checked by the interleaving explorer
 * (lib/race/khugepaged.ts) with and without its reductions, and the
 * collapse_pte_mapped_thp() race by SPIN on the same model in Promela,
 * measured by `deno task bench` (bench/khugepaged_race.ts).
 *
 * @module
 */
import { z } from "zod";
import { datasetSchema } from "../dataset.ts";
import { MeasuredProvenance } from "../provenance.ts";

/** One checker on one scenario and one kernel variant. */
export const KhugepagedRaceRow = z.strictObject({
  scenario: z.enum([
    "collapse_pte_mapped_thp vs UFFDIO_COPY",
    "retract_page_tables vs uffd-wp",
  ]).describe("the race: kernel function against the userfaultfd operation racing it"),
  variant: z.enum(["pre-a98460494b16", "v6.18", "no-recheck", "recheck"]).describe(
    "the kernel code: collapse_pte_mapped_thp() before or after commit a98460494b16, " +
      "retract_page_tables() without or with the recheck under the PTE lock",
  ),
  tool: z.enum(["explorer", "explorer-naive", "spin"]).describe(
    "explorer: lib/race explore() with state hashing and sleep sets; explorer-naive: " +
      "explore({ naive: true }), every interleaving as a tree; spin: SPIN 6 on the Promela model, -DBFS",
  ),
  verdict: z.enum(["safe", "counterexample", "incomplete"]).describe(
    "safe: every interleaving checked; counterexample: a shortest failing one found; " +
      "incomplete: the naive search hit its time bound first",
  ),
  states: z.int().nonnegative().describe(
    "states visited (explorer; tree nodes for naive) or stored (SPIN), a count",
  ),
  transitions: z.int().nonnegative().describe("transitions executed, a count"),
  counterexampleSteps: z.int().positive().nullable().describe(
    "steps of the counterexample (SPIN: search depth reached), null when none",
  ),
  ms: z.number().positive().describe(
    "median wall time in milliseconds: the explore() call; for SPIN spin -a, gcc and ./pan together",
  ),
  repetitions: z.int().positive().describe(
    "runs the median is over (after one warm-up for the explorer)",
  ),
});

export type KhugepagedRaceRow = z.infer<typeof KhugepagedRaceRow>;

export const KhugepagedRace = datasetSchema(
  MeasuredProvenance,
  KhugepagedRaceRow,
  "the khugepaged retract/collapse races: explorer (reduced and naive) and SPIN, time and states",
);

export type KhugepagedRace = z.infer<typeof KhugepagedRace>;
