/**
 * Lesson code is type-checked against lib/ (the Deno kernel runs it
 * unchecked), with each error mapped to lesson, cell and line.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { listLessons, REPO_ROOT } from "../lib/notebook/lessons.ts";
import { formatDiagnostic, typecheckNotebooks } from "../lib/notebook/typecheck.ts";

const FIXTURES = join(REPO_ROOT, "tests", "fixtures", "notebooks");

Deno.test("every lesson in notebooks/ type-checks against lib/", async () => {
  const lessons = await listLessons();
  if (lessons.length === 0) {
    console.log("notebooks/ has no lessons yet: nothing to type-check.");
    return;
  }
  const result = await typecheckNotebooks(lessons);
  const report = result.diagnostics.map(formatDiagnostic).join("\n") || result.output;
  assert.ok(result.ok, `type errors in lessons:\n${report}`);
});

Deno.test("a type error in a notebook is reported with its lesson, cell and line", async () => {
  const result = await typecheckNotebooks([join(FIXTURES, "type_error.ipynb")]);
  assert.equal(result.ok, false);
  // The fixture's unused variable in cell 4 is not reported: cells often declare to display.
  assert.deepEqual(result.diagnostics.map(formatDiagnostic), [
    'type_error cell 3 (const bytes: number = "four kilobytes";), line 1:7: ' +
    "TS2322 Type 'string' is not assignable to type 'number'.",
  ]);
});

Deno.test("relative imports resolve as in the kernel, and nothing is left behind", async () => {
  const clean = ["relative_import", "cell_throws", "exercises"].map((name) =>
    join(FIXTURES, `${name}.ipynb`)
  );
  const result = await typecheckNotebooks(clean);
  assert.deepEqual(result.diagnostics, []);
  assert.equal(result.ok, true, result.output);
  const leftovers = [...Deno.readDirSync(FIXTURES)].filter((e) => e.name.startsWith(".nbcheck-"));
  assert.deepEqual(leftovers, []);
});
