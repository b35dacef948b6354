import assert from "node:assert/strict";
import type { Notebook } from "./ipynb.ts";
import {
  type Diagnostic,
  extractModule,
  formatDiagnostic,
  modulePath,
  parseCheckOutput,
} from "./typecheck.ts";

const nb: Notebook = {
  cells: [
    { cell_type: "markdown", metadata: {}, source: "# Lesson" },
    { cell_type: "code", metadata: {}, source: ['import { x } from "../lib/mod.ts";\n', "x"] },
    { cell_type: "code", metadata: {}, source: "" },
    { cell_type: "code", metadata: {}, source: "const n: number = 'four';" },
  ],
  metadata: {},
  nbformat: 4,
  nbformat_minor: 5,
};

Deno.test("extractModule() joins code cells and maps every line back", () => {
  const module = extractModule(nb, "00_tour");
  assert.equal(
    module.code,
    [
      "// Code cells of 00_tour, extracted for deno check.",
      "// cell 2",
      'import { x } from "../lib/mod.ts";',
      "x",
      "// cell 4",
      "const n: number = 'four';",
      "export {};",
      "",
    ].join("\n"),
  );
  assert.deepEqual(module.lines, [
    undefined,
    undefined,
    { cell: 2, line: 1 },
    { cell: 2, line: 2 },
    undefined,
    { cell: 4, line: 1 },
    undefined,
  ]);
});

Deno.test("modulePath() is a hidden file beside the notebook", () => {
  assert.equal(
    modulePath("/repo/notebooks/00_tour.ipynb"),
    `/repo/notebooks/.nbcheck-${Deno.pid}-00_tour.ts`,
  );
});

const output = `Check notebooks/.nbcheck-1-00_tour.ts
TS2322 [ERROR]: Type 'A' is not assignable to type '{ x: { y: string; }; }'.
  The types of 'x.y' are incompatible between these types.
    Type 'number' is not assignable to type 'string'.
  const b: { x: { y: string } } = a;
        ^
    at file:///repo/notebooks/.nbcheck-1-00_tour.ts:3:9

    The expected type comes from property 'b' which is declared here on type 'P'
    interface P { a: number; b: string }
                             ^
        at file:///repo/lib/p.ts:3:26

TS2307 [ERROR]: Cannot find module 'file:///repo/lib/nope.ts'.
    at file:///repo/notebooks/.nbcheck-1-00_tour.ts:1:8

Found 2 errors.

error: Type checking failed.
`;

Deno.test("parseCheckOutput() reads multi-line messages and positions", () => {
  assert.deepEqual(parseCheckOutput(output), [
    {
      code: "TS2322",
      message: "Type 'A' is not assignable to type '{ x: { y: string; }; }'. " +
        "The types of 'x.y' are incompatible between these types. " +
        "Type 'number' is not assignable to type 'string'.",
      url: "file:///repo/notebooks/.nbcheck-1-00_tour.ts",
      line: 3,
      column: 9,
    },
    {
      code: "TS2307",
      message: "Cannot find module 'file:///repo/lib/nope.ts'.",
      url: "file:///repo/notebooks/.nbcheck-1-00_tour.ts",
      line: 1,
      column: 8,
    },
  ]);
});

Deno.test("parseCheckOutput() keeps errors that are not TypeScript diagnostics", () => {
  assert.deepEqual(
    parseCheckOutput(
      '\x1b[31merror\x1b[0m: Module not found "file:///repo/lib/x.ts".\n    at file:///repo/a.ts:2:8\n',
    ),
    [{
      code: "error",
      message: 'Module not found "file:///repo/lib/x.ts".',
      url: "file:///repo/a.ts",
      line: 2,
      column: 8,
    }],
  );
});

Deno.test("formatDiagnostic() names lesson, cell and line, or the file", () => {
  const inCell: Diagnostic = {
    code: "TS2322",
    message: "Type 'string' is not assignable to type 'number'.",
    lesson: "00_tour",
    cell: 4,
    cellLine: 1,
    column: 7,
    firstLine: "const n: number = 'four';",
  };
  assert.equal(
    formatDiagnostic(inCell),
    "00_tour cell 4 (const n: number = 'four';), line 1:7: TS2322 Type 'string' is not " +
      "assignable to type 'number'.",
  );
  assert.equal(
    formatDiagnostic({ code: "TS1", message: "m", file: "lib/x.ts", line: 3, column: 1 }),
    "lib/x.ts:3:1: TS1 m",
  );
  assert.equal(formatDiagnostic({ code: "error", message: "m" }), "deno check: error m");
});
