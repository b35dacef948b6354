import assert from "node:assert/strict";
import type { Cell, Notebook } from "./ipynb.ts";
import {
  checkSource,
  injectedMarker,
  instrument,
  lessonCellIndex,
  UNHANDLED_ERROR_NAME,
  uninstrument,
} from "./instrument.ts";

function code(source: string): Cell {
  return { cell_type: "code", metadata: {}, source, outputs: [], execution_count: null };
}

const lesson: Notebook = {
  cells: [
    { cell_type: "markdown", metadata: {}, source: "# Lesson" },
    code("const a = 1;\na"),
    code(""),
    code("Promise.reject(new Error('x'));"),
  ],
  metadata: { kernelspec: { name: "deno" } },
  nbformat: 4,
  nbformat_minor: 5,
};

Deno.test("instrument() adds a guard first and a check after each runnable code cell", () => {
  const working = instrument(lesson);
  assert.deepEqual(working.cells.map((cell) => injectedMarker(cell) ?? cell.source), [
    { injected: "guard" },
    "# Lesson",
    "const a = 1;\na",
    { injected: "check", after: 1 },
    "",
    "Promise.reject(new Error('x'));",
    { injected: "check", after: 3 },
  ]);
  assert.deepEqual(working.metadata, lesson.metadata);
  assert.equal(lesson.cells.length, 4, "the lesson itself is not changed");
});

Deno.test("checkSource() names the lesson cell it checks", () => {
  const source = checkSource(3, lesson.cells[3]);
  assert.match(source, /"cell 4 \(Promise\.reject\(new Error\('x'\)\);\)"/);
  assert.match(source, new RegExp(`error\\.name = "${UNHANDLED_ERROR_NAME}"`));
});

Deno.test("lessonCellIndex() maps working-copy cells back to lesson cells", () => {
  const working = instrument(lesson);
  assert.deepEqual(
    working.cells.map((_, index) => lessonCellIndex(working, index)),
    [undefined, 0, 1, 1, 2, 3, 3],
  );
});

Deno.test("uninstrument() drops injected cells, moves check errors and renumbers", () => {
  const executed = instrument(lesson);
  const error = {
    output_type: "error" as const,
    ename: UNHANDLED_ERROR_NAME,
    evalue: "unhandled promise rejection: Error: x",
    traceback: [],
  };
  executed.cells.forEach((cell, index) => {
    if (cell.cell_type === "code" && index !== 4) cell.execution_count = index + 1;
  });
  executed.cells[2].outputs = [
    { output_type: "execute_result", execution_count: 3, data: { "text/plain": "1" } },
  ];
  executed.cells[6].outputs = [error];

  const result = uninstrument(executed);
  assert.deepEqual(result.cells.map((cell) => cell.source), lesson.cells.map((c) => c.source));
  assert.deepEqual(result.cells.map((cell) => cell.execution_count), [undefined, 1, null, 2]);
  assert.deepEqual(result.cells[1].outputs, [
    { output_type: "execute_result", execution_count: 1, data: { "text/plain": "1" } },
  ]);
  assert.deepEqual(result.cells[3].outputs, [error]);
});
