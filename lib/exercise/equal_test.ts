import assert from "node:assert/strict";
import { deepEqual } from "./equal.ts";

class Point {
  constructor(readonly x: number) {}
}

const EQUAL: [string, unknown, unknown][] = [
  ["bigints by value", 0x8000000000000067n, 0x8000000000000067n],
  ["0 and -0", 0, -0],
  ["NaN and NaN", NaN, NaN],
  ["nested arrays", [1, [2n, "x"]], [1, [2n, "x"]]],
  ["objects, key order aside", { a: 1, b: [1n] }, { b: [1n], a: 1 }],
  ["typed arrays", new Uint8Array([1, 2]), new Uint8Array([1, 2])],
  ["maps", new Map([[1, { a: 1n }]]), new Map([[1, { a: 1n }]])],
  ["sets", new Set([1, "a"]), new Set(["a", 1])],
  ["dates", new Date(0), new Date(0)],
  ["class instances", new Point(1), new Point(1)],
];

const DIFFERENT: [string, unknown, unknown][] = [
  ["bigint and number", 1n, 1],
  ["different bigints", 1n, 2n],
  ["arrays of different length", [1], [1, undefined]],
  ["a missing key and an undefined one", { a: undefined }, { b: undefined }],
  ["array and typed array", [1, 2], new Uint8Array([1, 2])],
  ["plain object and class instance", { x: 1 }, new Point(1)],
  ["null and object", null, {}],
  ["maps with different values", new Map([[1, 1]]), new Map([[1, 2]])],
];

Deno.test("deepEqual() holds for", async (t) => {
  for (const [name, a, b] of EQUAL) {
    await t.step(name, () => assert.ok(deepEqual(a, b)));
  }
});

Deno.test("deepEqual() tells apart", async (t) => {
  for (const [name, a, b] of DIFFERENT) {
    await t.step(name, () => assert.ok(!deepEqual(a, b)));
  }
});
