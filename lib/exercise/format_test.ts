import assert from "node:assert/strict";
import { formatValue } from "./format.ts";

Deno.test("formatValue() writes values as a reader would type them", () => {
  assert.equal(formatValue(0x41n), "0x41n");
  assert.equal(formatValue(-16n), "-0x10n");
  assert.equal(formatValue("a"), `"a"`);
  assert.equal(formatValue([1, 2n]), "[1, 0x2n]");
  assert.equal(
    formatValue({ present: true, "soft-dirty": false }),
    `{ present: true, "soft-dirty": false }`,
  );
  assert.equal(formatValue(undefined), "undefined");
  assert.equal(formatValue(new Map([[1, 2]])), "Map(1) { 1 => 2 }");
});

Deno.test("formatValue() cuts long values", () => {
  assert.equal(formatValue("x".repeat(200), 10), `"xxxxxxxx…`);
});
