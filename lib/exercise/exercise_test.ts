import assert from "node:assert/strict";
import { $display } from "../plot/display.ts";
import { check, defineExercise, ExerciseFailed, isTodo, runCases, Todo, todo } from "./exercise.ts";
import { EXERCISE_MEDIA_TYPE } from "./report.ts";

/** pte_index(addr): bits 20:12 of the address (include/linux/pgtable.h). */
const pteIndex = defineExercise<number, number>({
  id: "pte-index",
  title: "Index of an address in its pte table",
  cases: [
    { name: "first page", input: 0x0, expected: 0 },
    { name: "second page", input: 0x1000, expected: 1 },
    { name: "last entry", input: 0x1ff000, expected: 511 },
    { name: "wraps at 2 MiB", input: 0x200000, expected: 0, hidden: true },
    { name: "offset ignored", input: 0x3fff, expected: 3, hidden: true },
  ],
});

/** The error `fn` throws (the test fails if it throws nothing). */
function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  assert.fail("expected an exception");
}

const reference = (addr: number) => Math.floor(addr / 4096) % 512;
const stub = (_addr: number): number => todo();

Deno.test("runCases() finds the stub unsolved", () => {
  const result = runCases(pteIndex, stub);
  assert.equal(result.status, "unsolved");
  assert.equal(result.passed, 0);
  assert.ok(result.cases.every((c) => c.status === "todo"));
});

Deno.test("runCases() accepts the reference solution", () => {
  const result = runCases(pteIndex, reference);
  assert.deepEqual([result.status, result.passed, result.total], ["solved", 5, 5]);
});

Deno.test("check() of an unsolved stub returns a report and does not throw", () => {
  const report = check(pteIndex, stub);
  assert.equal(report.status, "unsolved");
  const bundle = report[$display]();
  assert.deepEqual(bundle[EXERCISE_MEDIA_TYPE], {
    exercise: "pte-index",
    status: "unsolved",
    passed: 0,
    total: 5,
  });
  assert.match(bundle["text/plain"] as string, /not solved yet/);
});

Deno.test("check() of a solution returns a solved report", () => {
  const bundle = check(pteIndex, reference)[$display]();
  assert.deepEqual(bundle[EXERCISE_MEDIA_TYPE], {
    exercise: "pte-index",
    status: "solved",
    passed: 5,
    total: 5,
  });
  assert.match(bundle["text/html"] as string, /✓/);
});

Deno.test("check() of a wrong solution throws, naming visible cases and numbering hidden ones", () => {
  const wrong = (addr: number) => (addr >> 12) & 0xff; // 8 bits instead of 9
  const failed = thrown(() => check(pteIndex, wrong));
  assert.ok(failed instanceof ExerciseFailed);
  assert.equal(
    failed.message,
    [
      "Exercise pte-index (Index of an address in its pte table): 1 of 5 cases failed",
      "  ✗ last entry: input 2093056, expected 511, got 255",
    ].join("\n"),
  );
  assert.equal(failed.result.status, "failed");
});

Deno.test("check() reports a failing hidden case only by its number", () => {
  const noMask = (addr: number) => Math.floor(addr / 4096);
  assert.throws(() => check(pteIndex, noMask), (error: ExerciseFailed) => {
    assert.match(error.message, /✗ hidden case 1 failed/);
    assert.doesNotMatch(error.message, /wraps at 2 MiB|0x200000|2097152/);
    return true;
  });
});

Deno.test("runCases() counts an exception as a failed case with its message", () => {
  const throws = (addr: number) => {
    if (addr === 0x1000) throw new RangeError("bad address 0x1000");
    return reference(addr);
  };
  const result = runCases(pteIndex, throws);
  assert.equal(result.status, "failed");
  const second = result.cases[1];
  assert.deepEqual([second.status, second.error], ["error", "RangeError: bad address 0x1000"]);
  assert.throws(
    () => check(pteIndex, throws),
    /second page: input 4096, expected 1, got threw RangeError: bad address 0x1000/,
  );
});

Deno.test("runCases() counts todo() in some cases only as failed", () => {
  const partial = (addr: number) => addr === 0 ? 0 : todo();
  const result = runCases(pteIndex, partial);
  assert.equal(result.status, "failed");
  assert.deepEqual(result.cases.map((c) => c.status), ["pass", "todo", "todo", "todo", "todo"]);
});

Deno.test("runCases() rejects an answer given as a Promise", () => {
  // deno-lint-ignore require-await
  const asyncSolution = (async (addr: number) => reference(addr)) as unknown as (
    addr: number,
  ) => number;
  const result = runCases(pteIndex, asyncSolution);
  assert.equal(result.cases[0].status, "error");
  assert.match(result.cases[0].error!, /returned a Promise/);
});

Deno.test("runCases() rejects a solution that is not a function, quoting it", () => {
  assert.throws(() => runCases(pteIndex, 3 as unknown as () => number), /got 3/);
});

Deno.test("compare replaces deep equality", () => {
  const close = defineExercise<number, number>({
    id: "close",
    title: "Close enough",
    cases: [{ name: "pi", input: 0, expected: 3.14159 }],
    compare: (actual, expected) => Math.abs(actual - expected) < 1e-3,
  });
  assert.equal(runCases(close, () => 3.1416).status, "solved");
});

Deno.test("bigint answers compare by value and print in hex", () => {
  const mkdirty = defineExercise<bigint, bigint>({
    id: "pte-mkdirty",
    title: "pte_mkdirty",
    cases: [{ name: "sets bit 6", input: 0x1n, expected: 0x41n }],
  });
  assert.equal(runCases(mkdirty, (pte) => pte | 0x40n).status, "solved");
  assert.throws(() => check(mkdirty, (pte) => pte), /input 0x1n, expected 0x41n, got 0x1n/);
});

Deno.test("isTodo() recognises todo() errors, also from another copy of the module", () => {
  assert.ok(isTodo(new Todo()));
  const fromElsewhere = Object.assign(new Error("x"), {
    [Symbol.for("mm-lab.exercise.Todo")]: true,
  });
  assert.ok(isTodo(fromElsewhere));
  assert.ok(!isTodo(new Error("x")));
  assert.throws(
    () => todo("write pteIndex"),
    (e: Todo) => e.name === "Todo" && e.message === "write pteIndex",
  );
});

Deno.test("defineExercise() rejects a bad id, title or case list, quoting it", async (t) => {
  await t.step("id", () => {
    assert.throws(
      () => defineExercise({ id: "two words", title: "t", cases: [] }),
      /got "two words"/,
    );
  });
  await t.step("title", () => {
    assert.throws(
      () => defineExercise({ id: "x", title: " ", cases: [] }),
      /needs a title, got " "/,
    );
  });
  await t.step("no cases", () => {
    assert.throws(
      () => defineExercise({ id: "x", title: "t", cases: [] }),
      /at least one case, got \[\]/,
    );
  });
  await t.step("case without a name", () => {
    assert.throws(
      () => defineExercise({ id: "x", title: "t", cases: [{ name: "", input: 1, expected: 1 }] }),
      /case 1 needs a name, got ""/,
    );
  });
});
