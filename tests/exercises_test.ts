/**
 * Every exercise check in a lesson rejects the stub the notebook ships and
 * accepts the reference solution kept in tests/solutions/.
 *
 * The stubs are taken from the notebook itself: its setup cell and the cells
 * that call `check(exercise, solution)` become a module (with the `check`
 * lines left out and `../lib/` pointed at this repository), which the test
 * imports. A stub edited in the notebook is therefore the stub tested here.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import fc from "fast-check";
import { type Exercise, runCases } from "../lib/exercise/mod.ts";
import { swapTypes } from "../lib/pgtable/swapops.ts";
import { joinText, readNotebook } from "../lib/notebook/ipynb.ts";
import { NOTEBOOKS_DIR, REPO_ROOT } from "../lib/notebook/lessons.ts";
import * as lessons from "../lib/lessons/mod.ts";
import type {
  ClassifyInput,
  ForkScenario,
  MigrationScenario,
  OutcomeInput,
  PageUse,
} from "../lib/lessons/mod.ts";
import * as tour from "./solutions/00_tour.ts";
import * as hugepd from "./solutions/01_hugepd.ts";
import * as uffdContinue from "./solutions/02_uffd_continue.ts";
import * as uffdPoison from "./solutions/03_uffd_poison.ts";
import * as uffdMove from "./solutions/04_uffd_move.ts";
import * as deviceExclusive from "./solutions/05_device_exclusive.ts";
import * as pagemapScan from "./solutions/07_pagemap_scan.ts";
import * as thpRetract from "./solutions/06_thp_retract.ts";
import type { RecheckPlacement } from "../lib/race/mod.ts";

// deno-lint-ignore no-explicit-any
type AnyExercise = Exercise<any, any>;
// deno-lint-ignore no-explicit-any
type AnyFunction = (input: any) => unknown;

/** Each lesson with exercises, and the module of its reference solutions. */
const SOLUTIONS: Record<string, Record<string, unknown>> = {
  "00_tour": tour,
  "01_hugepd": hugepd,
  "02_uffd_continue": uffdContinue,
  "03_uffd_poison": uffdPoison,
  "04_uffd_move": uffdMove,
  "05_device_exclusive": deviceExclusive,
  "07_pagemap_scan": pagemapScan,
  "06_thp_retract": thpRetract,
};

const CHECK_CALL = /^check\((\w+), (\w+)\);?\s*$/m;

/** One `check(exercise, solution)` call of a notebook, with the stub it checks. */
interface CheckedStub {
  exerciseName: string;
  solutionName: string;
  stub: AnyFunction;
}

/** The stubs of `lesson`, evaluated from the notebook's own cells. */
async function notebookStubs(lesson: string): Promise<CheckedStub[]> {
  const nb = await readNotebook(join(NOTEBOOKS_DIR, `${lesson}.ipynb`));
  const code = nb.cells.filter((c) => c.cell_type === "code").map((c) => joinText(c.source));
  const lib = pathToFileURL(join(REPO_ROOT, "lib")).href;
  const setup = code[0].replaceAll(`"../lib/`, `"${lib}/`);
  const checked = code.filter((source) => CHECK_CALL.test(source));
  const calls = checked.map((source) => source.match(CHECK_CALL)!);
  const body = checked.map((source) => source.replace(CHECK_CALL, "")).join("\n");
  const names = calls.map((m) => m[2]);
  const dir = await Deno.makeTempDir({ prefix: "mm-lab-stubs-" });
  try {
    const path = join(dir, `${lesson}_stubs.ts`);
    await Deno.writeTextFile(path, `${setup}\n${body}\nexport { ${names.join(", ")} };\n`);
    const module = await import(pathToFileURL(path).href);
    return calls.map((m) => ({ exerciseName: m[1], solutionName: m[2], stub: module[m[2]] }));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function exerciseNamed(name: string): AnyExercise {
  const exercise = (lessons as Record<string, unknown>)[name];
  assert.ok(exercise, `lib/lessons/mod.ts exports no exercise ${name}`);
  return exercise as AnyExercise;
}

for (const [lesson, solutions] of Object.entries(SOLUTIONS)) {
  Deno.test(`${lesson}: each check rejects the notebook's stub and accepts the reference`, async (t) => {
    const stubs = await notebookStubs(lesson);
    assert.ok(stubs.length > 0, `${lesson} has no check(exercise, solution) cell`);
    for (const { exerciseName, solutionName, stub } of stubs) {
      await t.step(exerciseName, () => {
        const exercise = exerciseNamed(exerciseName);
        assert.equal(typeof stub, "function", `the notebook defines ${solutionName}`);
        assert.equal(runCases(exercise, stub).status, "unsolved");
        const reference = solutions[solutionName] as AnyFunction;
        assert.equal(typeof reference, "function", `tests/solutions exports ${solutionName}`);
        const result = runCases(exercise, reference);
        const failing = result.cases.filter((c) => c.status !== "pass").map((c) => c.name);
        assert.equal(result.status, "solved", `failing: ${failing.join(", ")}`);
      });
    }
  });
}

Deno.test("00_tour: the notebook checks both exercises", async () => {
  const stubs = await notebookStubs("00_tour");
  assert.deepEqual(stubs.map((s) => s.exerciseName), [
    "decodePagemapExercise",
    "forkExclusiveExercise",
  ]);
});

Deno.test("00_tour: a 32-bit PFN decoder passes the visible cases but not the hidden ones", () => {
  const truncating = (raw: bigint) => ({
    ...tour.decodePagemap(raw),
    pfn: (raw & (1n << 63n)) !== 0n ? Number(raw & 0xffff_ffffn) : null,
  });
  const result = runCases(lessons.decodePagemapExercise, truncating);
  assert.equal(result.status, "failed");
  assert.ok(result.cases.filter((c) => !c.hidden).every((c) => c.status === "pass"));
});

Deno.test("00_tour: forgetting that the other process becomes exclusive fails", () => {
  const writerOnly = (s: ForkScenario) => {
    const flags = tour.predictExclusive({ before: s.before, writes: [] });
    for (const w of s.writes) flags[w.by][w.page] = true;
    return flags;
  };
  assert.equal(runCases(lessons.forkExclusiveExercise, writerOnly).status, "failed");
});

Deno.test("00_tour: the reference prediction matches the simulator on random scenarios", () => {
  const use = fc.constantFrom<PageUse>("none", "read", "write");
  const scenario = fc.array(use, { minLength: 1, maxLength: 6 }).chain((before) =>
    fc.record({
      before: fc.constant(before),
      writes: fc.array(
        fc.record({
          by: fc.constantFrom<"parent" | "child">("parent", "child"),
          page: fc.nat({ max: before.length - 1 }),
        }),
        { maxLength: 10 },
      ),
    })
  );
  fc.assert(
    fc.property(scenario, (s) => {
      assert.deepEqual(tour.predictExclusive(s), lessons.forkScenario(s));
    }),
    { seed: 0x7041, numRuns: 300 },
  );
});

Deno.test("03_uffd_poison: the notebook checks all three exercises", async () => {
  const stubs = await notebookStubs("03_uffd_poison");
  assert.deepEqual(stubs.map((s) => s.exerciseName), [
    "classifyPteExercise",
    "outcomeExercise",
    "migrationExercise",
  ]);
});

Deno.test("03_uffd_poison: a classifier with Debian's swap types hard-coded fails a hidden case", () => {
  const debianOnly = (i: ClassifyInput) =>
    uffdPoison.classifyPte({
      pte: i.pte,
      config: { MEMORY_FAILURE: true, MIGRATION: true, DEVICE_PRIVATE: true },
    });
  const result = runCases(lessons.classifyPteExercise, debianOnly);
  assert.equal(result.status, "failed");
});

Deno.test("03_uffd_poison: forgetting that the silent bit is the marker's alone fails", () => {
  const silentAll = (i: OutcomeInput) => {
    const o = uffdPoison.predictOutcome(i);
    return i.silentPoison && o.code === "BUS_MCEERR_AR" ? { ...o, logged: false } : o;
  };
  assert.equal(runCases(lessons.outcomeExercise, silentAll).status, "failed");
});

Deno.test("03_uffd_poison: a handler that zero-fills bad pages hides the error from the guest", () => {
  const zeroBad = (s: MigrationScenario) =>
    lessons.runMigration(s, (f) => {
      if (f.poisoned) f.uffd.zeropage({ range: { start: f.address, len: 4096 }, mode: 0 });
      else f.uffd.copy({ dst: f.address, src: f.recv!, len: 4096, mode: 0 });
    }).destination;
  assert.equal(runCases(lessons.migrationExercise, zeroBad).status, "failed");
});

Deno.test("03_uffd_poison: the reference classifier agrees with pteClass() on random PTEs", () => {
  const config = fc.record({
    MEMORY_FAILURE: fc.boolean(),
    MIGRATION: fc.boolean(),
    DEVICE_PRIVATE: fc.boolean(),
  });
  fc.assert(
    fc.property(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), config, (pte, cfg) => {
      // A marker entry with no marker bit is a kernel bug (WARN in handle_pte_marker()).
      const t = swapTypes(cfg);
      fc.pre(!(Number(pte >> 59n) === t.SWP_PTE_MARKER && ((~pte >> 9n) & 7n) === 0n));
      assert.equal(uffdPoison.classifyPte({ pte, config: cfg }), lessons.pteClass(pte, cfg));
    }),
    { seed: 0x0303, numRuns: 500 },
  );
});

Deno.test("01_hugepd: the notebook checks all three exercises", async () => {
  const stubs = await notebookStubs("01_hugepd");
  assert.deepEqual(stubs.map((s) => s.exerciseName), [
    "tables8xxExercise",
    "leafStepExercise",
    "hugepteExercise",
  ]);
});

Deno.test("01_hugepd: returning 0 instead of -EMLINK (the bug) fails exercise (c)", () => {
  const buggy = (i: Parameters<typeof hugepd.gupHugepte>[0]) => {
    const r = hugepd.gupHugepte(i);
    return r === -31 ? 0 : r;
  };
  assert.equal(runCases(lessons.hugepteExercise, buggy).status, "failed");
});

Deno.test("05_device_exclusive: the notebook checks all three exercises", async () => {
  const stubs = await notebookStubs("05_device_exclusive");
  assert.deepEqual(stubs.map((s) => s.exerciseName), [
    "notifierEventExercise",
    "forkDeviceExclusiveExercise",
    "pingPongExercise",
  ]);
});

Deno.test("05_device_exclusive: answering v6.18's CLEAR for the ≤ v6.14 restore fails a hidden case", () => {
  const clearAlways = (i: Parameters<typeof deviceExclusive.notifierEvents>[0]) =>
    deviceExclusive.notifierEvents({ ...i, version: "v6.18" });
  assert.equal(runCases(lessons.notifierEventExercise, clearAlways).status, "failed");
});

Deno.test("05_device_exclusive: the reference cost of random schedules matches the model", () => {
  fc.assert(
    fc.property(fc.stringMatching(/^[CD]{0,12}$/), (schedule) => {
      assert.deepEqual(deviceExclusive.scheduleCost(schedule), lessons.runSchedule(schedule));
    }),
    { seed: 0x0505, numRuns: 60 },
  );
});

Deno.test("06_thp_retract: the notebook checks all three exercises", async () => {
  const stubs = await notebookStubs("06_thp_retract");
  assert.deepEqual(stubs.map((s) => s.exerciseName), [
    "recheckExercise",
    "interleavingExercise",
    "checkMmExercise",
  ]);
});

Deno.test("06_thp_retract: a recheck under the PMD lock alone is not enough", () => {
  const pmdLockToo = (): RecheckPlacement[] => ["after pmd_lock()", "after spin_lock_nested(ptl)"];
  assert.equal(runCases(lessons.recheckExercise, pmdLockToo).status, "failed");
});

Deno.test("06_thp_retract: a check_mm() that ignores what the PMD still maps fails", () => {
  const countersOnly = (m: lessons.MmAtExit) => thpRetract.checkMm({ ...m, pmd: 0 });
  assert.equal(runCases(lessons.checkMmExercise, countersOnly).status, "failed");
});
