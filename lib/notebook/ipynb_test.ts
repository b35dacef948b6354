import assert from "node:assert/strict";
import {
  firstLine,
  isRunnable,
  joinText,
  lessonName,
  notebookJson,
  parseNotebook,
} from "./ipynb.ts";

const minimal = {
  cells: [
    { cell_type: "markdown", metadata: {}, source: ["# Title\n", "text"] },
    { cell_type: "code", metadata: {}, source: "\n  const x = 1;\nx", outputs: [] },
  ],
  metadata: {},
  nbformat: 4,
  nbformat_minor: 5,
};

Deno.test("parseNotebook() accepts nbformat 4 and round-trips through notebookJson()", () => {
  const nb = parseNotebook(JSON.stringify(minimal), "minimal.ipynb");
  assert.deepEqual(nb, minimal);
  assert.deepEqual(JSON.parse(notebookJson(nb)), minimal);
  assert.ok(notebookJson(nb).endsWith("}\n"));
});

Deno.test("parseNotebook() names the file and quotes the bad value", () => {
  assert.throws(() => parseNotebook("{", "a.ipynb"), /^SyntaxError: a\.ipynb: not JSON/);
  assert.throws(() => parseNotebook("[]", "b.ipynb"), /b\.ipynb: not a notebook/);
  assert.throws(
    () => parseNotebook(JSON.stringify({ ...minimal, nbformat: 3 }), "c.ipynb"),
    /c\.ipynb: nbformat 3, expected 4/,
  );
  const badCell = { ...minimal, cells: [{ cell_type: "python", source: "" }] };
  assert.throws(
    () => parseNotebook(JSON.stringify(badCell), "d.ipynb"),
    /d\.ipynb: cell 1: unknown cell_type "python"/,
  );
});

Deno.test("parseNotebook() fills in missing cell metadata", () => {
  const nb = parseNotebook(
    JSON.stringify({ ...minimal, cells: [{ cell_type: "code", source: "1" }] }),
    "e.ipynb",
  );
  assert.deepEqual(nb.cells[0].metadata, {});
});

Deno.test("firstLine() skips blank lines and shortens long ones", () => {
  const nb = parseNotebook(JSON.stringify(minimal), "minimal.ipynb");
  assert.equal(firstLine(nb.cells[0]), "# Title");
  assert.equal(firstLine(nb.cells[1]), "const x = 1;");
  assert.equal(firstLine({ ...nb.cells[1], source: "x".repeat(100) }, 10), "xxxxxxxxx…");
  assert.equal(firstLine({ ...nb.cells[1], source: "" }), "");
});

Deno.test("joinText(), isRunnable() and lessonName()", () => {
  assert.equal(joinText(["a\n", "b"]), "a\nb");
  assert.equal(joinText(undefined), "");
  assert.equal(isRunnable({ cell_type: "code", metadata: {}, source: " \n" }), false);
  assert.equal(isRunnable({ cell_type: "markdown", metadata: {}, source: "x" }), false);
  assert.equal(isRunnable({ cell_type: "code", metadata: {}, source: "x" }), true);
  assert.equal(lessonName("notebooks/00_tour.ipynb"), "00_tour");
});
