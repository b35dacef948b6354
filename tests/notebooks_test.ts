/**
 * The lesson pipeline end to end, through real Jupyter and the Deno kernel:
 * every lesson in notebooks/ runs cleanly, and fixture notebooks in
 * tests/fixtures/notebooks/ prove the runner catches what it must. The
 * fixtures do not import the library, so they test the runner alone.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { INJECTED_KEY } from "../lib/notebook/instrument.ts";
import { stripAnsi } from "../lib/notebook/ansi.ts";
import { joinText, lessonName, readNotebook } from "../lib/notebook/ipynb.ts";
import { listLessons, REPO_ROOT, runLessons } from "../lib/notebook/lessons.ts";
import { failureText, type LessonResult } from "../lib/notebook/report.ts";
import { setUpJupyter } from "../lib/notebook/setup.ts";

const FIXTURES = join(REPO_ROOT, "tests", "fixtures", "notebooks");
const fixture = (name: string) => join(FIXTURES, `${name}.ipynb`);

/** Runs `paths` into a fresh output directory; returns results, directory and printout. */
async function runInto(paths: string[], cellTimeout?: number) {
  const outDir = await Deno.makeTempDir({ prefix: "mm-lab-notebooks-test-" });
  let printed = "";
  const results = await runLessons(paths, {
    outDir,
    cellTimeout,
    print: (text) => printed += text,
  });
  const byLesson = new Map(results.map((r) => [r.lesson, r]));
  return { results, byLesson, outDir, printed };
}

async function exists(path: string): Promise<boolean> {
  return await Deno.stat(path).then(() => true, () => false);
}

Deno.test("every lesson in notebooks/ executes without errors", async (t) => {
  const lessons = await listLessons();
  if (lessons.length === 0) {
    console.log("notebooks/ has no lessons yet: nothing to execute (fixtures are tested below).");
    return;
  }
  await setUpJupyter();
  const outDir = await Deno.makeTempDir({ prefix: "mm-lab-lessons-" });
  try {
    // One step per lesson, so that deno test reports each as it finishes.
    for (const path of lessons) {
      await t.step(lessonName(path), async () => {
        const [result] = await runLessons([path], { outDir, setup: false, print: () => {} });
        assert.equal(result.status, "ok", `${result.lesson}: ${describe(result)}`);
      });
    }
  } finally {
    await Deno.remove(outDir, { recursive: true });
  }
});

function describe(result: LessonResult): string {
  if (!result.failure) return "ok";
  return [failureText(result.failure), ...result.failure.details].join("\n");
}

Deno.test("the lesson runner catches failures in fixture notebooks", async (t) => {
  const names = ["cell_throws", "unhandled_rejection", "uncaught_in_timer", "exercises"];
  const run = await runInto([
    ...names.map(fixture),
    fixture("late_output"),
    fixture("relative_import"),
  ]);
  const result = (name: string) => run.byLesson.get(name)!;
  try {
    await t.step("a cell that throws fails the lesson, naming the cell", async () => {
      const { failure } = result("cell_throws");
      assert.equal(failure?.cell, 3);
      assert.equal(failure?.firstLine, 'throw new Error("fixture: cell 3 throws");');
      assert.equal(failure?.error, "Error: fixture: cell 3 throws");
      assert.match(failure?.details[0] ?? "", /^ +at <anonymous>:\d+:\d+$/);
      // The executed copy looks like the lesson: no injected cells, the error in cell 3.
      const executed = await readNotebook(join(run.outDir, "cell_throws.ipynb"));
      const source = await readNotebook(fixture("cell_throws"));
      assert.deepEqual(executed.cells.map((c) => c.source), source.cells.map((c) => c.source));
      assert.ok(executed.cells.every((cell) => !(INJECTED_KEY in cell.metadata)));
      assert.equal(executed.cells[2].outputs?.[0].output_type, "error");
      assert.deepEqual(executed.cells.map((c) => c.execution_count), [undefined, 1, 2, 3]);
      assert.ok(await exists(join(run.outDir, "cell_throws.html")));
    });

    await t.step("an unhandled promise rejection fails the lesson at its cell", () => {
      const { failure } = result("unhandled_rejection");
      assert.equal(failure?.cell, 3);
      assert.equal(failure?.firstLine, "// nobody awaits this promise");
      assert.equal(
        failure?.error,
        "unhandled promise rejection: Error: fixture: rejected in cell 3",
      );
    });

    await t.step("an exception thrown in a timer fails the lesson at its cell", () => {
      const { failure } = result("uncaught_in_timer");
      assert.equal(failure?.cell, 2);
      assert.equal(failure?.error, "uncaught exception: Error: fixture: thrown in a timer");
    });

    await t.step("exercise results are collected, the last run of a check counting", () => {
      assert.equal(result("exercises").status, "ok", describe(result("exercises")));
      assert.deepEqual(result("exercises").exercises, [
        { exercise: "fixture: count pages", status: "solved", passed: 3, total: 3 },
        { exercise: "fixture: find the pte", status: "failed", passed: 1, total: 2 },
      ]);
    });

    await t.step("output the Deno kernel publishes late stays in its cell", async () => {
      assert.equal(result("late_output").status, "ok", describe(result("late_output")));
      const executed = await readNotebook(join(run.outDir, "late_output.ipynb"));
      const code = executed.cells.filter((cell) => cell.cell_type === "code");
      assert.deepEqual(
        code.map((cell) => cell.outputs?.map((output) => output.output_type)),
        [...Array(10).fill(["execute_result"]), ["stream", "execute_result"]],
      );
    });

    await t.step(
      "the kernel runs in the lesson's directory, so relative imports work",
      async () => {
        assert.equal(result("relative_import").status, "ok", describe(result("relative_import")));
        const executed = await readNotebook(join(run.outDir, "relative_import.ipynb"));
        const value = executed.cells[2].outputs?.[0].data?.["text/plain"] as string | string[];
        assert.equal(stripAnsi(joinText(value)), "4");
      },
    );

    await t.step("progress, summary and index.html name every lesson", async () => {
      assert.match(run.printed, /^\[1\/6\] cell_throws … FAILED \d+\.\d s, no exercises\n/);
      assert.match(run.printed, /\[4\/6\] exercises … ok \d+\.\d s, exercises 1\/2 solved\n/);
      assert.match(run.printed, /\n6 lessons: 3 ok, 3 failed\n$/);
      const index = await Deno.readTextFile(join(run.outDir, "index.html"));
      for (const name of run.byLesson.keys()) assert.match(index, new RegExp(`<td>${name}`));
      assert.match(index, /<a href="exercises\.html">HTML<\/a>/);
    });
  } finally {
    await Deno.remove(run.outDir, { recursive: true });
  }
});

Deno.test("a cell that runs past the timeout fails the lesson, naming the cell", async () => {
  const run = await runInto([fixture("timeout")], 3);
  try {
    assert.deepEqual(run.results[0].failure, {
      cell: 2,
      firstLine: "await new Promise((resolve) => setTimeout(resolve, 60_000));",
      error: "timed out after 3 s (raise the limit with --timeout=SECONDS)",
      details: [],
    });
    // No executed notebook to show, so none is written.
    assert.deepEqual([...Deno.readDirSync(run.outDir)].map((e) => e.name), ["index.html"]);
  } finally {
    await Deno.remove(run.outDir, { recursive: true });
  }
});

Deno.test("deno task lessons exits non-zero and names the failing cell", async () => {
  const outDir = await Deno.makeTempDir({ prefix: "mm-lab-lessons-cli-" });
  try {
    const command = new Deno.Command(Deno.execPath(), {
      args: ["task", "lessons", `--out=${outDir}`, fixture("exercises"), fixture("cell_throws")],
      cwd: REPO_ROOT,
      env: { NO_COLOR: "1" },
    });
    const { code, stdout } = await command.output();
    const printed = new TextDecoder().decode(stdout);
    assert.equal(code, 1, printed);
    assert.match(printed, /\[2\/2\] cell_throws … FAILED .*\n {4}cell 3 \(throw new Error/);
    assert.match(printed, /2 lessons: 1 ok, 1 failed\n$/);
  } finally {
    await Deno.remove(outDir, { recursive: true });
  }
});
