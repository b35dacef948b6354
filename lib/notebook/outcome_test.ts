import assert from "node:assert/strict";
import type { Cell, Notebook, Output } from "./ipynb.ts";
import { UNHANDLED_ERROR_NAME } from "./instrument.ts";
import { assess, cellLabel, EXERCISE_MIME, exerciseSummary } from "./outcome.ts";

function notebook(...outputs: Output[][]): Notebook {
  const cells: Cell[] = outputs.map((out, index) => ({
    cell_type: "code",
    metadata: {},
    source: `// cell ${index + 1}\nwork()`,
    outputs: out,
    execution_count: index + 1,
  }));
  return { cells, metadata: {}, nbformat: 4, nbformat_minor: 5 };
}

function exercise(data: unknown): Output {
  return { output_type: "display_data", data: { [EXERCISE_MIME]: data, "text/plain": "table" } };
}

const value = (text: string): Output => ({
  output_type: "execute_result",
  execution_count: 1,
  data: { "text/plain": text },
});

Deno.test("assess() passes a lesson whose outputs are values and streams", () => {
  const nb = notebook([value("\x1b[33m1\x1b[39m")], [{ output_type: "stream", text: "hi\n" }]);
  assert.deepEqual(assess(nb), { failure: undefined, exercises: [] });
});

Deno.test("assess() reports the first error output with its cell, ANSI stripped", () => {
  const nb = notebook([value("1")], [{
    output_type: "error",
    ename: "Error",
    evalue: "\x1b[31mboom\x1b[39m",
    traceback: ["Stack trace:", "Error: boom", "    at <anonymous>:1:7"],
  }], [{ output_type: "error", ename: "TypeError", evalue: "later", traceback: [] }]);
  assert.deepEqual(assess(nb).failure, {
    cell: 2,
    firstLine: "// cell 2",
    error: "Error: boom",
    details: ["    at <anonymous>:1:7"],
  });
});

Deno.test("assess() reports an unhandled rejection found by a check cell", () => {
  const nb = notebook([{
    output_type: "error",
    ename: UNHANDLED_ERROR_NAME,
    evalue: "unhandled promise rejection: Error: x\n    at <anonymous>:1:16\n(found after cell 1)",
    traceback: [],
  }]);
  assert.deepEqual(assess(nb).failure, {
    cell: 1,
    firstLine: "// cell 1",
    error: "unhandled promise rejection: Error: x",
    details: ["    at <anonymous>:1:16", "(found after cell 1)"],
  });
});

Deno.test("assess() treats a rejected promise as a cell value as a failure", () => {
  const nb = notebook([value("Promise {\n  \x1b[36m<rejected>\x1b[39m Error: a\n}")]);
  assert.equal(
    assess(nb).failure?.error,
    "unhandled promise rejection: the cell's value is a rejected promise",
  );
  assert.equal(assess(notebook([value("Promise { 1 }")])).failure, undefined);
});

Deno.test("assess() collects exercise results; a re-run check replaces its result", () => {
  const nb = notebook(
    [exercise({ exercise: "ex1", status: "unsolved", passed: 0, total: 2 })],
    [exercise({ exercise: "ex2", status: "solved", passed: 3, total: 3 })],
    [exercise({ exercise: "ex1", status: "failed", passed: 1, total: 2 })],
  );
  assert.deepEqual(assess(nb), {
    failure: undefined,
    exercises: [
      { exercise: "ex1", status: "failed", passed: 1, total: 2 },
      { exercise: "ex2", status: "solved", passed: 3, total: 3 },
    ],
  });
});

Deno.test("assess() fails on a malformed exercise result, quoting it", () => {
  const bad = { exercise: "ex1", status: "done", passed: 0, total: 2 };
  const failure = assess(notebook([exercise(bad)])).failure;
  assert.match(failure!.error, /^malformed exercise result \(field "status": .*\): \{"exercise"/);
  const tooMany = { exercise: "ex1", status: "solved", passed: 3, total: 2 };
  assert.match(assess(notebook([exercise(tooMany)])).failure!.error, /passed is more than total/);
});

Deno.test("assess() fails a cell that calls Deno.test, which the kernel never runs", () => {
  const nb = notebook([], []);
  nb.cells[1].source = '// not Deno.test("x")\nDeno.test("adds", () => {});';
  assert.deepEqual(assess(nb).failure, {
    cell: 2,
    firstLine: '// not Deno.test("x")',
    error: "Deno.test in a cell: the Deno kernel does not run it, so it cannot fail the " +
      "lesson; check exercises with the library's exercise checks instead",
    details: [],
  });
  nb.cells[1].source = '// Deno.test("x") would not run here\nconst x = 1;';
  assert.equal(assess(nb).failure, undefined);
});

Deno.test("exerciseSummary() counts solved exercises", () => {
  assert.equal(exerciseSummary([]), "no exercises");
  assert.equal(
    exerciseSummary([
      { exercise: "a", status: "solved", passed: 1, total: 1 },
      { exercise: "b", status: "unsolved", passed: 0, total: 1 },
    ]),
    "exercises 1/2 solved",
  );
});

Deno.test("cellLabel() names a cell by number and first line", () => {
  assert.equal(cellLabel(4, "p.read(a)"), "cell 4 (p.read(a))");
  assert.equal(cellLabel(4, ""), "cell 4");
});
