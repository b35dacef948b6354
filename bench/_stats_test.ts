import assert from "node:assert/strict";
import { formatBytes, formatCount, formatRate, median } from "./_stats.ts";

Deno.test("median() of odd and even counts, input left unsorted", () => {
  const xs = [5, 1, 3];
  assert.equal(median(xs), 3);
  assert.deepEqual(xs, [5, 1, 3]);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  assert.throws(() => median([]), RangeError);
});

Deno.test("formatRate() prints millions per second", () => {
  assert.equal(formatRate(2_134_000), "2.13 M/s");
  assert.equal(formatRate(530_000), "0.530 M/s");
});

Deno.test("formatBytes() picks a binary unit", () => {
  assert.equal(formatBytes(41.25), "41.3 B");
  assert.equal(formatBytes(1.7 * 2 ** 30), "1.70 GiB");
  assert.equal(formatBytes(2 ** 30), "1.00 GiB");
});

Deno.test("formatCount() shows exact binary multiples as K or M", () => {
  assert.equal(formatCount(1_048_576), "1M");
  assert.equal(formatCount(4_194_304), "4M");
  assert.equal(formatCount(65_536), "64K");
  assert.equal(formatCount(1000), "1000");
});
