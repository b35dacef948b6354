import assert from "node:assert/strict";
import { join } from "node:path";
import type { CommandOptions, CommandResult } from "./_command.ts";
import { injectedMarker } from "./instrument.ts";
import { type Notebook, notebookJson } from "./ipynb.ts";
import { listLessons, parseArguments, resolveLessons, runLessons, UsageError } from "./lessons.ts";

async function lessonDir(names: string[]): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "mm-lab-lessons-" });
  for (const name of names) await Deno.writeTextFile(join(dir, name), "{}");
  await Deno.mkdir(join(dir, ".ipynb_checkpoints"));
  return dir;
}

Deno.test("listLessons() lists .ipynb files sorted by name, skipping hidden ones", async () => {
  const dir = await lessonDir(["10_b.ipynb", "00_a.ipynb", "notes.md", ".scratch.ipynb"]);
  try {
    assert.deepEqual(await listLessons(dir), [join(dir, "00_a.ipynb"), join(dir, "10_b.ipynb")]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("resolveLessons() takes lesson names and paths", async () => {
  const dir = await lessonDir(["00_a.ipynb", "10_b.ipynb"]);
  try {
    assert.deepEqual(await resolveLessons([], "/", dir), await listLessons(dir));
    assert.deepEqual(await resolveLessons(["10_b", "./00_a.ipynb"], dir, dir), [
      join(dir, "10_b.ipynb"),
      join(dir, "00_a.ipynb"),
    ]);
    await assert.rejects(
      resolveLessons(["99_x"], dir, dir),
      new UsageError(`no lesson named "99_x" in ${dir} (lessons: 00_a, 10_b)`),
    );
    await assert.rejects(resolveLessons(["x/none.ipynb"], dir, dir), /no notebook at "x\/none/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("parseArguments() reads lessons, --timeout and --out", () => {
  assert.deepEqual(parseArguments(["00_tour", "--timeout=30", "--out=/tmp/o", "01_x"]), {
    lessons: ["00_tour", "01_x"],
    cellTimeout: 30,
    outDir: "/tmp/o",
    help: false,
  });
  assert.equal(parseArguments(["--help"]).help, true);
  assert.equal(parseArguments(["-h"]).help, true);
  assert.deepEqual(parseArguments(["--", "--timeout=9", "00_tour"]), {
    lessons: ["00_tour"],
    cellTimeout: 9,
    help: false,
  });
});

Deno.test("parseArguments() quotes a bad argument", () => {
  assert.throws(() => parseArguments(["--timeout=soon"]), /"--timeout=soon": the timeout must/);
  assert.throws(() => parseArguments(["--timeout"]), /"--timeout": the timeout must/);
  assert.throws(() => parseArguments(["--fast"]), /unknown option "--fast"/);
});

// runLessons() with a fake `jupyter`: the orchestration without a kernel.

const lesson: Notebook = {
  cells: [
    { cell_type: "markdown", metadata: {}, source: "# Fake" },
    { cell_type: "code", metadata: {}, source: "1 + 1", outputs: [], execution_count: null },
    { cell_type: "code", metadata: {}, source: "boom()", outputs: [], execution_count: null },
  ],
  metadata: {},
  nbformat: 4,
  nbformat_minor: 5,
};

type Behaviour = { execute?: "ok" | "error" | "timeout"; html?: "ok" | "fail" };

/**
 * A `jupyter` that "executes" a notebook by giving each lesson cell a value
 * (or, for `boom()`, an error) and "exports" HTML as a stub page.
 */
function fakeJupyter(behaviour: Behaviour) {
  return (_program: string, args: readonly string[], options?: CommandOptions) => {
    const flag = (name: string) => args.find((a) => a.startsWith(`--${name}=`))?.split("=")[1];
    const done = (result: Partial<CommandResult> = {}) =>
      Promise.resolve({ success: true, code: 0, stdout: "", stderr: "", ...result });
    if (args.includes("--execute")) {
      if (behaviour.execute === "timeout") {
        return done({
          success: false,
          code: 1,
          stderr: "mm-lab: executing cell 0\nmm-lab: executing cell 4\n" +
            "nbclient.exceptions.CellTimeoutError: A cell timed out while it was being " +
            "executed, after 9 seconds.\n",
        });
      }
      const nb: Notebook = JSON.parse(options!.stdin!);
      nb.cells.forEach((cell, index) => {
        if (cell.cell_type !== "code") return;
        cell.execution_count = index + 1;
        const fails = behaviour.execute === "error" && cell.source === "boom()";
        cell.outputs = injectedMarker(cell)
          ? []
          : fails
          ? [{ output_type: "error", ename: "ReferenceError", evalue: "boom is not defined" }]
          : [{ output_type: "execute_result", data: { "text/plain": "2" } }];
      });
      Deno.writeTextFileSync(`${flag("output-dir")}/${flag("output")}.ipynb`, notebookJson(nb));
      return done();
    }
    if (behaviour.html === "fail") return done({ success: false, code: 1, stderr: "no template" });
    Deno.writeTextFileSync(`${flag("output-dir")}/${flag("output")}.html`, "<html></html>");
    return done();
  };
}

async function fakeRun(behaviour: Behaviour, notebookText = notebookJson(lesson)) {
  const dir = await Deno.makeTempDir({ prefix: "mm-lab-fake-run-" });
  const path = join(dir, "01_fake.ipynb");
  await Deno.writeTextFile(path, notebookText);
  const outDir = join(dir, "out");
  await Deno.mkdir(outDir);
  await Deno.writeTextFile(join(outDir, "01_fake.html"), "stale");
  let printed = "";
  const [result] = await runLessons([path], {
    outDir,
    setup: false,
    run: fakeJupyter(behaviour),
    print: (text) => printed += text,
  });
  const files = [...Deno.readDirSync(outDir)].map((e) => e.name).sort();
  await Deno.remove(dir, { recursive: true });
  return { result, files, printed };
}

Deno.test("runLessons() writes the executed lesson, its HTML and the index", async () => {
  const { result, files, printed } = await fakeRun({ execute: "ok" });
  assert.equal(result.status, "ok");
  assert.deepEqual(result.files, { notebook: "01_fake.ipynb", html: "01_fake.html" });
  assert.deepEqual(files, ["01_fake.html", "01_fake.ipynb", "index.html"]);
  assert.match(printed, /^\[1\/1\] 01_fake … ok \d+\.\d s, no exercises\n/);
});

Deno.test("runLessons() names the cell of an error output", async () => {
  const { result, files } = await fakeRun({ execute: "error" });
  assert.deepEqual(result.failure, {
    cell: 3,
    firstLine: "boom()",
    error: "ReferenceError: boom is not defined",
    details: [],
  });
  assert.deepEqual(files, ["01_fake.html", "01_fake.ipynb", "index.html"]);
});

Deno.test("runLessons() pins a timeout to the lesson cell and drops stale output", async () => {
  const { result, files } = await fakeRun({ execute: "timeout" });
  // Working-copy cell 4 is lesson cell 3: guard, markdown, cell 2, its check, cell 3.
  assert.equal(result.failure?.cell, 3);
  assert.match(result.failure!.error, /^timed out after 9 s/);
  assert.deepEqual(files, ["index.html"]);
});

Deno.test("runLessons() fails a lesson whose HTML export fails, keeping the notebook", async () => {
  const { result, files } = await fakeRun({ execute: "ok", html: "fail" });
  assert.equal(result.status, "failed");
  assert.equal(result.failure?.error, "HTML export failed: no template");
  assert.deepEqual(result.files, { notebook: "01_fake.ipynb" });
  assert.deepEqual(files, ["01_fake.ipynb", "index.html"]);
});

Deno.test("runLessons() fails a notebook that is not JSON, naming the file", async () => {
  const { result, files } = await fakeRun({ execute: "ok" }, "{ not json");
  assert.match(result.failure!.error, /^SyntaxError: .*01_fake\.ipynb: not JSON/);
  assert.deepEqual(files, ["index.html"]);
});
