/**
 * The khugepaged race of seed 003_04fde8f735f91402.txt (collapse_pte_mapped_thp()
 * against UFFDIO_COPY into a private shmem mapping) checked two ways:
 *
 *  - by the interleaving explorer (lib/race/khugepaged.ts): time to the
 *    shortest counterexample on the kernel before commit a98460494b16, time
 *    to verify every interleaving of the fixed one (v6.18), states per
 *    second, and states against the naive walk (the reduction factor);
 *  - by SPIN on the same race written in Promela ({@link promelaModel}):
 *    `spin -a`, `gcc` and `./pan` timed together, breadth first (-DBFS) so
 *    that SPIN too reports a shortest counterexample.
 *
 * Targets (issue 4): counterexample ≤ 100 ms, fixed verification ≤ 2 s,
 * reduction ≥ 10×, explorer end-to-end time no worse than SPIN's.
 * @module
 */
import { explore, type ExploreResult } from "../lib/race/explore.ts";
import {
  type CollapseVariant,
  collapseVersusUffdCopy,
  retractVersusUffd,
} from "../lib/race/khugepaged.ts";
import type { RaceScenario } from "../lib/race/run.ts";
import { median } from "./_stats.ts";

/** One measured row of datasets/khugepaged_race.json. */
export interface KhugepagedRaceRow {
  /** Which race: "collapse_pte_mapped_thp vs UFFDIO_COPY", or a retract_page_tables one. */
  scenario: string;
  /** Kernel code: "pre-a98460494b16", "v6.18", "no-recheck", "recheck". */
  variant: string;
  /** "explorer" (hashing + sleep sets), "explorer-naive", or "spin". */
  tool: "explorer" | "explorer-naive" | "spin";
  verdict: "safe" | "counterexample" | "incomplete";
  /** States visited (SPIN: states stored). */
  states: number;
  /** Transitions executed (SPIN: transitions). */
  transitions: number;
  /** Steps of the counterexample, null when safe. */
  counterexampleSteps: number | null;
  /** Median wall time in milliseconds (SPIN: spin -a + gcc + pan). */
  ms: number;
  /** Repetitions the median is over. */
  repetitions: number;
}

/** The scenarios measured, with their variant names. */
export function raceScenarios(): {
  scenario: string;
  variant: string;
  make: () => RaceScenario<unknown>;
}[] {
  const collapse = (variant: CollapseVariant) => () =>
    collapseVersusUffdCopy({ variant }) as RaceScenario<unknown>;
  return [
    {
      scenario: "collapse_pte_mapped_thp vs UFFDIO_COPY",
      variant: "pre-a98460494b16",
      make: collapse("pre-a98460494b16"),
    },
    {
      scenario: "collapse_pte_mapped_thp vs UFFDIO_COPY",
      variant: "v6.18",
      make: collapse("v6.18"),
    },
    {
      scenario: "retract_page_tables vs uffd-wp",
      variant: "no-recheck",
      make: () => retractVersusUffd({ racer: "uffd_wp", recheck: false }) as RaceScenario<unknown>,
    },
    {
      scenario: "retract_page_tables vs uffd-wp",
      variant: "recheck",
      make: () => retractVersusUffd({ racer: "uffd_wp" }) as RaceScenario<unknown>,
    },
  ];
}

function explorerRow(
  scenario: string,
  variant: string,
  tool: "explorer" | "explorer-naive",
  results: ExploreResult[],
  times: number[],
): KhugepagedRaceRow {
  const r = results[0];
  const stats = r.verdict === "incomplete" ? r.explored : r;
  return {
    scenario,
    variant,
    tool,
    verdict: r.verdict,
    states: stats.states,
    transitions: stats.transitions,
    counterexampleSteps: r.verdict === "counterexample" ? r.trace.steps.length : null,
    ms: median(times),
    repetitions: times.length,
  };
}

/** Options of {@link benchExplorer}. */
export interface RaceBenchOptions {
  /** Recorded repetitions of each reduced search (after one warm-up). */
  repetitions: number;
  /** Time bound of the one naive search per scenario, in ms. */
  naiveTimeoutMs: number;
  progress?: (line: string) => void;
}

/** The explorer's rows: each scenario reduced (median of runs) and naive (once, bounded). */
export function benchExplorer(options: RaceBenchOptions): KhugepagedRaceRow[] {
  const rows: KhugepagedRaceRow[] = [];
  for (const { scenario, variant, make } of raceScenarios()) {
    options.progress?.(`[khugepaged race] explorer: ${scenario} (${variant})`);
    explore(make()); // warm-up
    const results: ExploreResult[] = [], times: number[] = [];
    for (let i = 0; i < options.repetitions; i++) {
      const t = performance.now();
      results.push(explore(make()));
      times.push(performance.now() - t);
    }
    rows.push(explorerRow(scenario, variant, "explorer", results, times));
    const t = performance.now();
    const naive = explore(make(), { naive: true, timeoutMs: options.naiveTimeoutMs });
    rows.push(explorerRow(scenario, variant, "explorer-naive", [naive], [performance.now() - t]));
  }
  return rows;
}

/**
 * The collapse race in Promela, statement for statement as the explorer's
 * threads: the same locks (folio lock, PMD lock, one PTE lock per table;
 * mmap_lock is taken for read by both and excludes nothing), the same two
 * PTE slots, the same exit check (exit_mmap() zaps what the PMD maps, then
 * check_mm()'s rss counters must be zero). `fixed` takes the PMD lock
 * before step 2, as a98460494b16 does for a private userfaultfd-armed VMA.
 */
export function promelaModel(fixed: boolean): string {
  return `/* collapse_pte_mapped_thp() ${fixed ? "v6.18" : "before a98460494b16"} vs UFFDIO_COPY */
#define NONE 0
#define SHMEM 1
#define ANON 2
byte pmd = 1;
byte slot0[3];
byte slot1[3];
bool freed[3];
short rss_shmem = 1;
short rss_anon = 0;
bool anon_vma = 0;
byte nexttable = 2;
bit folio_lock = 0;
bit pml = 0;
bit ptl[3];

inline lock(l) { atomic { l == 0 -> l = 1 } }
inline unlock(l) { l = 0 }

proctype collapse() {
  byte t; byte nr = 0; bool ok; bool havepml = 0;
  lock(folio_lock);
  t = pmd;
  if
  :: t == 0 -> goto out
  :: else -> skip
  fi;
  lock(ptl[t]);
  ok = (slot0[t] != ANON && slot1[t] != ANON);
  unlock(ptl[t]);
  if
  :: !ok -> goto out
  :: else -> skip
  fi;
${fixed ? "  lock(pml); havepml = 1;\n" : ""}  lock(ptl[t]);
  atomic {
    if
    :: slot0[t] == SHMEM -> slot0[t] = NONE; nr++
    :: else -> skip
    fi;
    if
    :: slot1[t] == ANON -> ok = 0
    :: slot1[t] == SHMEM -> slot1[t] = NONE; nr++
    :: else -> skip
    fi
  }
  if
  :: !ok ->
    rss_shmem = rss_shmem - nr;
    unlock(ptl[t]);
    if
    :: havepml -> unlock(pml)
    :: else -> skip
    fi;
    goto out
  :: else -> skip
  fi;
  if
  :: !havepml -> unlock(ptl[t])
  :: else -> skip
  fi;
  rss_shmem = rss_shmem - nr;
  if
  :: !havepml -> lock(pml); lock(ptl[t])
  :: else -> skip
  fi;
  pmd = 0;
  unlock(ptl[t]);
  unlock(pml);
  freed[t] = 1;
out:
  unlock(folio_lock)
}

proctype uffdio_copy() {
  byte t;
  anon_vma = 1;
retry:
  t = pmd;
  if
  :: t == 0 ->
    lock(pml);
    if
    :: pmd == 0 -> pmd = nexttable; nexttable++
    :: else -> skip
    fi;
    t = pmd;
    unlock(pml)
  :: else -> skip
  fi;
  lock(ptl[t]);
  if
  :: pmd != t -> unlock(ptl[t]); goto retry
  :: else -> skip
  fi;
  if
  :: slot1[t] != NONE -> skip
  :: else -> rss_anon++; slot1[t] = ANON
  fi;
  unlock(ptl[t])
}

init {
  byte t;
  slot0[1] = SHMEM;
  atomic { run collapse(); run uffdio_copy() }
  (_nr_pr == 1);
  t = pmd;
  if
  :: t != 0 ->
    if
    :: slot0[t] == SHMEM -> rss_shmem--
    :: slot0[t] == ANON -> rss_anon--
    :: else -> skip
    fi;
    if
    :: slot1[t] == SHMEM -> rss_shmem--
    :: slot1[t] == ANON -> rss_anon--
    :: else -> skip
    fi
  :: else -> skip
  fi;
  assert(rss_anon == 0 && rss_shmem == 0)
}
`;
}

/** Whether `spin` can be run here, and if not, why. */
export async function spinStatus(): Promise<
  { ok: true; version: string } | { ok: false; reason: string }
> {
  try {
    const out = await new Deno.Command("spin", { args: ["-V"], stdout: "piped", stderr: "piped" })
      .output();
    return { ok: true, version: new TextDecoder().decode(out.stdout).trim() };
  } catch (e) {
    return {
      ok: false,
      reason: `spin is not installed (${(e as Error).message}); on Debian: apt-get install -y spin`,
    };
  }
}

async function run(cmd: string, args: string[], cwd: string): Promise<string> {
  const out = await new Deno.Command(cmd, { args, cwd, stdout: "piped", stderr: "piped" }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  if (!out.success && cmd !== "./pan") throw new Error(`${cmd} ${args.join(" ")} failed: ${text}`);
  return text;
}

/** One SPIN run: spin -a, gcc -DBFS, ./pan; all three timed. */
export async function spinCheck(
  fixed: boolean,
): Promise<Omit<KhugepagedRaceRow, "scenario" | "variant" | "repetitions">> {
  const dir = await Deno.makeTempDir({ prefix: "khugepaged_race_" });
  try {
    await Deno.writeTextFile(`${dir}/race.pml`, promelaModel(fixed));
    const t = performance.now();
    await run("spin", ["-a", "race.pml"], dir);
    await run("gcc", ["-O2", "-DBFS", "-DSAFETY", "-o", "pan", "pan.c"], dir);
    const out = await run("./pan", [], dir);
    const ms = performance.now() - t;
    const num = (re: RegExp) => Number(re.exec(out)?.[1] ?? NaN);
    const errors = num(/errors: (\d+)/);
    const depth = num(/depth reached (\d+)/);
    return {
      tool: "spin",
      verdict: errors > 0 ? "counterexample" : "safe",
      states: num(/(\d+) states, stored/),
      transitions: num(/(\d+) transitions/),
      counterexampleSteps: errors > 0 ? depth : null,
      ms,
    };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** SPIN's rows for the collapse race (median of `repetitions` full runs). */
export async function benchSpin(repetitions: number): Promise<KhugepagedRaceRow[]> {
  const rows: KhugepagedRaceRow[] = [];
  for (const [variant, fixed] of [["pre-a98460494b16", false], ["v6.18", true]] as const) {
    const runs = [];
    for (let i = 0; i < repetitions; i++) runs.push(await spinCheck(fixed));
    rows.push({
      scenario: "collapse_pte_mapped_thp vs UFFDIO_COPY",
      variant,
      ...runs[0],
      ms: median(runs.map((r) => r.ms)),
      repetitions,
    });
  }
  return rows;
}

/** The lines `deno task bench` prints: each target beside its figure. */
export function raceSummary(rows: KhugepagedRaceRow[], spin: string | null): string {
  const find = (
    variant: string,
    tool: KhugepagedRaceRow["tool"],
    scenario = "collapse_pte_mapped_thp vs UFFDIO_COPY",
  ) => rows.find((r) => r.scenario === scenario && r.variant === variant && r.tool === tool);
  const lines = ["khugepaged race (collapse_pte_mapped_thp vs UFFDIO_COPY, seed 003):"];
  const pre = find("pre-a98460494b16", "explorer"), fixed = find("v6.18", "explorer");
  if (pre) {
    lines.push(
      `  pre-fix counterexample: ${
        pre.ms.toFixed(1)
      } ms (target ≤ 100 ms), ${pre.counterexampleSteps} steps, ${pre.states} states`,
    );
  }
  if (fixed) {
    lines.push(
      `  fixed verified: ${fixed.ms.toFixed(1)} ms (target ≤ 2000 ms), ${fixed.states} states, ` +
        `${Math.round(fixed.states / (fixed.ms / 1000))} states/s`,
    );
  }
  for (const r of rows.filter((r) => r.tool === "explorer")) {
    const naive = find(r.variant, "explorer-naive", r.scenario);
    if (!naive) continue;
    const bound = naive.verdict === "incomplete" ? "≥ " : "";
    lines.push(
      `  reduction, ${r.scenario} (${r.variant}): naive ${bound}${naive.states} states vs ${r.states}: ` +
        `${bound}${(naive.states / r.states).toFixed(0)}× (target ≥ 10×)`,
    );
  }
  if (spin === null) {
    for (const v of ["pre-a98460494b16", "v6.18"]) {
      const e = find(v, "explorer"), s = find(v, "spin");
      if (e && s) {
        lines.push(
          `  ${v}: explorer ${e.ms.toFixed(1)} ms vs SPIN ${
            s.ms.toFixed(1)
          } ms (spin -a + gcc + pan): ` +
            `ratio explorer/SPIN ${
              (e.ms / s.ms).toFixed(3)
            } (target ≤ 1); SPIN ${s.verdict}, ${s.states} states`,
        );
      }
    }
  } else {
    lines.push(`  SPIN: not run: ${spin}`);
  }
  return lines.join("\n");
}

/** Prose for the dataset's provenance. */
export function raceNotes(options: RaceBenchOptions, spin: string, load: string): string {
  return `Explorer: lib/race/khugepaged.ts scenarios; each reduced search (state hashing + sleep ` +
    `sets, breadth first) runs once unrecorded, then ${options.repetitions} recorded times, ms is ` +
    `the median of the explore() call; the naive search (explore({ naive: true })) runs once, ` +
    `bounded at ${options.naiveTimeoutMs} ms ("incomplete" rows give a lower bound on its ` +
    `states). SPIN: ${spin}; the Promela model is promelaModel() in bench/khugepaged_race.ts ` +
    `(the same threads, locks, slots and exit check), checked with spin -a, gcc -O2 -DBFS ` +
    `-DSAFETY and ./pan, all three inside the timed span, median of the recorded runs. ` +
    `Host load: ${load}.`;
}

/**
 * Run the race benchmark and return its rows and the summary; `spinReason`
 * is null when SPIN ran, else why it did not (the bench then says so and
 * fails, as for any missing side).
 */
export async function runKhugepagedRace(
  options: RaceBenchOptions & { spinRepetitions: number },
): Promise<{ rows: KhugepagedRaceRow[]; spin: string; spinReason: string | null }> {
  const rows = benchExplorer(options);
  const status = await spinStatus();
  if (status.ok) {
    options.progress?.(`[khugepaged race] SPIN (${status.version})`);
    rows.push(...await benchSpin(options.spinRepetitions));
  }
  console.log(raceSummary(rows, status.ok ? null : status.reason));
  return {
    rows,
    spin: status.ok ? status.version : "not run",
    spinReason: status.ok ? null : status.reason,
  };
}

if (import.meta.main) {
  // `deno run -A bench/khugepaged_race.ts [--quick]`: this benchmark alone.
  const { probeHost } = await import("../lib/live/mod.ts");
  const { measuredProvenance, writeDatasetAtomic } = await import("./_dataset.ts");
  const quick = Deno.args.includes("--quick");
  const started = new Date();
  const options = {
    repetitions: quick ? 3 : 11,
    naiveTimeoutMs: quick ? 5_000 : 60_000,
    spinRepetitions: quick ? 1 : 3,
    progress: (l: string) => console.error(l),
  };
  const load0 = Deno.readTextFileSync("/proc/loadavg").split(" ").slice(0, 3).join(" ");
  const r = await runKhugepagedRace(options);
  const load1 = Deno.readTextFileSync("/proc/loadavg").split(" ").slice(0, 3).join(" ");
  if (r.spinReason) {
    console.error(`bench: SPIN missing: ${r.spinReason}`);
    Deno.exit(1);
  }
  if (!quick) {
    const provenance = measuredProvenance(
      "bench/khugepaged_race.ts",
      started,
      probeHost(),
      raceNotes(options, r.spin, `load averages ${load0} at the start, ${load1} at the end`),
    );
    const url = await writeDatasetAtomic("khugepaged_race.json", { provenance, rows: r.rows });
    console.log(`wrote ${url.pathname}`);
  }
}
