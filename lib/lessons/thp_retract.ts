/**
 * Lesson 06, "THP retract: freeing page tables without mmap_lock"
 * (notebooks/06_thp_retract.ipynb): the helpers its cells use — a THP and a
 * collapse in the simulated kernel, khugepaged's outcome by max_ptes_none,
 * one chosen interleaving of Jann Horn's race run to the end, the search
 * sizes with and without reduction — and its three checked exercises.
 *
 * Every expected answer is computed by the model (the explorer or the
 * simulated kernel), not typed in by hand.
 * @module
 */
import { simulate } from "../kernel/kernel.ts";
import * as C from "../kernel/constants.ts";
import type { ScanResult } from "../mm/khugepaged.ts";
import { explore } from "../race/explore.ts";
import { Execution } from "../race/run.ts";
import { independent } from "../race/textbook.ts";
import {
  type CollapseVariant,
  collapseVersusUffdCopy,
  type KhugepagedRaceState,
  RECHECK_PLACEMENTS,
  type RecheckPlacement,
  type RetractRacer,
  retractVersusUffd,
} from "../race/khugepaged.ts";
import { defineExercise, type Exercise, type ExerciseCase } from "../exercise/exercise.ts";

const P = C.PAGE_SIZE;
const PMD = C.PMD_SIZE;

// --- khugepaged by max_ptes_none ---------------------------------------------------------

/** One run of {@link collapseOutcomes}. */
export interface CollapseOutcomeRow {
  max_ptes_none: number;
  /** Pages written (present PTEs) in the 2 MiB block before the scan. */
  present: number;
  /** What one khugepaged pass returned for the block. */
  result: ScanResult;
}

/**
 * For each khugepaged/max_ptes_none and each number of present pages: a
 * fresh simulated kernel (enabled = madvise), `present` pages written in a
 * 2 MiB region before MADV_HUGEPAGE (so they are small pages), then one
 * khugepaged pass (k.khugepaged(), hpage_collapse_scan_pmd()).
 */
export function collapseOutcomes(
  maxPtesNone: readonly number[],
  present: readonly number[],
): CollapseOutcomeRow[] {
  const rows: CollapseOutcomeRow[] = [];
  for (const max of maxPtesNone) {
    for (const n of present) {
      const k = simulate({ thp: { enabled: "madvise", max_ptes_none: max } });
      const p = k.spawn();
      const a = p.mmap(0, PMD, C.PROT_READ | C.PROT_WRITE, C.MAP_PRIVATE | C.MAP_ANONYMOUS);
      for (let i = 0; i < n; i++) p.write(a + i * P, 1);
      p.madvise(a, PMD, C.MADV_HUGEPAGE);
      const pass = k.khugepaged();
      rows.push({ max_ptes_none: max, present: n, result: pass[0]?.result ?? "SCAN_PMD_NULL" });
    }
  }
  return rows;
}

// --- the search, with and without reduction ---------------------------------------------

/** One row of {@link reductionRows}. */
export interface ReductionRow {
  threads: number;
  steps: number;
  mode: "naive" | "hashing + sleep sets";
  states: number;
  interleavings: number;
}

/**
 * States and interleavings the explorer visits for `independent(threads,
 * steps)` (threads that share nothing, so every order is equivalent), naive
 * and reduced, as the threads and their steps grow.
 */
export function reductionRows(
  threads: readonly number[],
  steps: readonly number[],
): ReductionRow[] {
  const rows: ReductionRow[] = [];
  for (const t of threads) {
    for (const s of steps) {
      for (const naive of [true, false]) {
        const r = explore(independent(t, s), { naive });
        if (r.verdict === "incomplete") continue;
        rows.push({
          threads: t,
          steps: s,
          mode: naive ? "naive" : "hashing + sleep sets",
          states: r.states,
          interleavings: r.interleavings,
        });
      }
    }
  }
  return rows;
}

// --- one interleaving of Jann Horn's race ----------------------------------------------

/** Which interleaving: the variant, and the collapse step after which UFFDIO_COPY runs. */
export interface InterleavingInput {
  variant: CollapseVariant;
  /** A step label of collapse_pte_mapped_thp() (see {@link COLLAPSE_STEPS}). */
  copyAfter: string;
}

/** How the interleaving ends. */
export interface InterleavingOutcome {
  /** collapse_pte_mapped_thp()'s scan result. */
  collapse: string;
  /** UFFDIO_COPY's: "copied" or "-EEXIST". */
  copy: string;
  /** Whether check_mm() prints "BUG: Bad rss-counter state" at exit. */
  badRss: boolean;
}

/**
 * The step labels of collapse_pte_mapped_thp() in `variant`, in order, as
 * the explorer shows them (from a run where nothing races with it).
 */
export function collapseSteps(variant: CollapseVariant): string[] {
  const run = new Execution(collapseVersusUffdCopy({ variant }));
  while (run.pending[0] !== null) run.exec(0);
  return run.steps.map((s) => s.label);
}

/** The collapse steps of both variants (what {@link InterleavingInput.copyAfter} may name). */
export const COLLAPSE_STEPS: Readonly<Record<CollapseVariant, readonly string[]>> = {
  "pre-a98460494b16": collapseSteps("pre-a98460494b16"),
  "v6.18": collapseSteps("v6.18"),
};

/**
 * Run the race with one schedule: collapse_pte_mapped_thp() up to and
 * including the step `copyAfter`, then UFFDIO_COPY as far as it can go
 * (while it waits for a lock the collapse holds, the collapse takes one
 * step), then both to the end. Returns the final state and the outcome.
 */
export function runInterleaving(
  input: InterleavingInput,
): { state: KhugepagedRaceState; outcome: InterleavingOutcome; labels: string[] } {
  const run = new Execution(collapseVersusUffdCopy({ variant: input.variant }));
  const [COLLAPSE, COPY] = [0, 1];
  const steps = COLLAPSE_STEPS[input.variant];
  const stop = steps.indexOf(input.copyAfter);
  if (stop < 0) throw new RangeError(`no collapse step "${input.copyAfter}" in ${input.variant}`);
  while (run.pcs[COLLAPSE] <= stop && run.enabled(COLLAPSE)) run.exec(COLLAPSE);
  while (!run.finished && run.failure === null) {
    if (run.enabled(COPY)) run.exec(COPY);
    else if (run.enabled(COLLAPSE)) run.exec(COLLAPSE);
    else break;
  }
  const s = run.state;
  return {
    state: s,
    outcome: {
      collapse: s.local.collapse?.result ?? "",
      copy: s.local.uffdio_copy?.result ?? "",
      badRss: s.dmesg.length > 0,
    },
    labels: run.steps.map((t) => `${t.thread}: ${t.label}`),
  };
}

// --- exercise (a): where the recheck goes --------------------------------------------

/** The placements at which retract_page_tables()'s recheck makes every interleaving safe. */
export function safeRecheckPlacements(racer: RetractRacer): RecheckPlacement[] {
  return RECHECK_PLACEMENTS.filter((at) =>
    explore(retractVersusUffd({ racer, recheck: at })).verdict === "safe"
  );
}

/**
 * A case of exercise (a) whose answer is explored on first use: every
 * lesson's setup cell imports lib/lessons/mod.ts, and exploring all the
 * placements at import time would cost each of them a third of a second.
 */
function recheckCase(
  name: string,
  input: RetractRacer,
  hidden = false,
): ExerciseCase<RetractRacer, RecheckPlacement[]> {
  let answer: RecheckPlacement[] | undefined;
  return {
    name,
    input,
    hidden,
    get expected() {
      return answer ??= safeRecheckPlacements(input);
    },
  };
}

/**
 * Exercise (a): given the racer, return every {@link RecheckPlacement} at
 * which the recheck of anon_vma and userfaultfd_wp() leaves no
 * counterexample (try them in the explorer first).
 */
export const recheckExercise: Exercise<RetractRacer, RecheckPlacement[]> = defineExercise({
  id: "thp-retract-recheck",
  title: "where must retract_page_tables() check anon_vma and userfaultfd_wp() again?",
  cases: [
    recheckCase("against uffd-wp markers", "uffd_wp"),
    recheckCase("against UFFDIO_COPY", "uffdio_copy", true),
  ],
});

// --- exercise (b): predict an interleaving -------------------------------------------

function interleavingCases(): { name: string; input: InterleavingInput; hidden?: boolean }[] {
  const at = (variant: CollapseVariant, copyAfter: string, hidden = false) => ({
    name: `${variant}, copy after "${copyAfter}"`,
    input: { variant, copyAfter },
    hidden,
  });
  return [
    at("pre-a98460494b16", "filemap_lock_folio()"),
    at("pre-a98460494b16", "step 3: add_mm_counter(-nr_ptes)"),
    at("pre-a98460494b16", "pte_unmap_unlock()"),
    at("v6.18", "step 2: ptep_clear()"),
    at("pre-a98460494b16", "spin_unlock(ptl)", true),
    at("v6.18", "pte_free_defer()", true),
    at("v6.18", "find_pmd_or_thp_or_none()", true),
  ];
}

/**
 * Exercise (b): predict how one interleaving of collapse_pte_mapped_thp()
 * and UFFDIO_COPY ends: the scan result, the copy's result, and whether
 * exit prints "Bad rss-counter state".
 */
export const interleavingExercise: Exercise<InterleavingInput, InterleavingOutcome> =
  defineExercise({
    id: "thp-retract-interleaving",
    title: "predict the outcome of an interleaving of collapse_pte_mapped_thp() and UFFDIO_COPY",
    cases: interleavingCases().map((c) => ({ ...c, expected: runInterleaving(c.input).outcome })),
  });

// --- exercise (c): the invariant -------------------------------------------------------

/** The final state exercise (c) checks: what check_mm() can see. */
export interface MmAtExit {
  /** The PTE table the PMD points at, 0 for none. */
  pmd: number;
  /** Each table's two slots. */
  tables: Record<
    number,
    ["none" | "shmem" | "anon" | "marker", "none" | "shmem" | "anon" | "marker"]
  >;
  /** The rss counters as the mm recorded them. */
  rss: { MM_SHMEMPAGES: number; MM_ANONPAGES: number };
}

/** The part of a final race state exercise (c) gives the student (no locks, no threads). */
export function mmAtExit(s: KhugepagedRaceState): MmAtExit {
  const tables: MmAtExit["tables"] = {};
  for (const [id, t] of Object.entries(s.tables)) tables[Number(id)] = [...t.pte];
  return { pmd: s.pmd, tables, rss: { ...s.rss } };
}

/** exit_mmap() + check_mm() on an {@link MmAtExit}: the first line it prints, or null. */
export function checkMmLine(m: MmAtExit): string | null {
  const rss = { ...m.rss };
  for (const e of m.pmd ? m.tables[m.pmd] : []) {
    if (e === "shmem") rss.MM_SHMEMPAGES--;
    if (e === "anon") rss.MM_ANONPAGES--;
  }
  for (const [type, val] of Object.entries(rss)) {
    if (val !== 0) return `BUG: Bad rss-counter state mm:1 type:${type} val:${val}`;
  }
  return null;
}

/**
 * Exercise (c): write check_mm(): zap what the PMD still maps, then return
 * the first "BUG: Bad rss-counter state mm:1 type:… val:…" line, or null.
 */
export const checkMmExercise: Exercise<MmAtExit, string | null> = defineExercise({
  id: "thp-retract-check-mm",
  title: "checkMm(state): the line check_mm() prints at exit, or null",
  cases: interleavingCases().map((c) => {
    const input = mmAtExit(runInterleaving(c.input).state);
    return { name: c.name, input, expected: checkMmLine(input), hidden: c.hidden };
  }).concat([{
    name: "two leftover anonymous pages",
    input: { pmd: 0, tables: { 1: ["none", "anon"] }, rss: { MM_SHMEMPAGES: 0, MM_ANONPAGES: 2 } },
    expected: "BUG: Bad rss-counter state mm:1 type:MM_ANONPAGES val:2",
    hidden: true,
  }]),
});
