import assert from "node:assert/strict";
import fc from "fast-check";
import {
  type BitField,
  entryBitsSvg,
  entryBitsTable,
  entryBitsText,
  fieldValue,
} from "./entry_bits.ts";

/** A few x86-64 pte bits (arch/x86/include/asm/pgtable_types.h). */
const PTE_FIELDS: readonly BitField[] = [
  { name: "present", lo: 0, hi: 0 },
  { name: "rw", lo: 1, hi: 1 },
  { name: "dirty", lo: 6, hi: 6 },
  { name: "pfn", lo: 12, hi: 51 },
  { name: "nx", lo: 63, hi: 63 },
];

Deno.test("entryBitsTable() gives bits as 1/0 and wider fields in hex", () => {
  assert.deepEqual(entryBitsTable(0x8000000012345043n, PTE_FIELDS), [
    { field: "present", bits: "0", value: "1" },
    { field: "rw", bits: "1", value: "1" },
    { field: "dirty", bits: "6", value: "1" },
    { field: "pfn", bits: "51:12", value: "0x12345" },
    { field: "nx", bits: "63", value: "1" },
  ]);
});

Deno.test("entryBitsText() heads the table with the raw value", () => {
  const lines = entryBitsText(0x41n, PTE_FIELDS, "pte").split("\n");
  assert.equal(lines[0], "pte 0x0000000000000041");
  assert.equal(lines[1], "field    bits   value");
  assert.equal(lines[3], "present  0      1");
});

Deno.test("fieldValue() of fields covering all 64 bits reassembles the entry", () => {
  fc.assert(
    fc.property(
      fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
      fc.integer({ min: 1, max: 63 }),
      (v, cut) => {
        const high = { name: "high", lo: cut, hi: 63 };
        const low = { name: "low", lo: 0, hi: cut - 1 };
        assert.equal((fieldValue(v, high) << BigInt(cut)) | fieldValue(v, low), v);
      },
    ),
  );
});

Deno.test("entryBitsSvg() labels every field and shows multi-bit values in hex", () => {
  const figure = entryBitsSvg(0x8000000012345043n, PTE_FIELDS, { title: "pte" });
  const svg = figure.svg;
  for (const field of PTE_FIELDS) assert.match(svg, new RegExp(`>${field.name}</text>`));
  assert.match(svg, />0x12345<\/text>/);
  assert.match(svg, /pte 0x8000000012345043/);
  assert.equal(figure.text, entryBitsText(0x8000000012345043n, PTE_FIELDS, "pte"));
});

Deno.test("entryBitsSvg() fills exactly the set bits", () => {
  const value = 0x8000000012345043n;
  const svg = entryBitsSvg(value, PTE_FIELDS).svg;
  const ones = [...svg.matchAll(/<text [^>]*fill="white"[^>]*>1<\/text>/g)].length;
  assert.equal(ones, value.toString(2).split("").filter((b) => b === "1").length);
});

Deno.test("entryBitsSvg() rejects a value outside 64 bits, quoting it", () => {
  assert.throws(() => entryBitsSvg(-1n, PTE_FIELDS), /\[0, 2\^64\), got -1n/);
  assert.throws(() => entryBitsSvg(1n << 64n, PTE_FIELDS), /got 18446744073709551616n/);
});

Deno.test("entryBitsTable() rejects bad and overlapping fields, naming them", async (t) => {
  await t.step("lo > hi", () => {
    assert.throws(
      () => entryBitsTable(0n, [{ name: "pfn", lo: 51, hi: 12 }]),
      /"pfn" must have integers 0 <= lo <= hi <= 63, got lo 51, hi 12/,
    );
  });
  await t.step("past bit 63", () => {
    assert.throws(() => entryBitsTable(0n, [{ name: "x", lo: 60, hi: 64 }]), /got lo 60, hi 64/);
  });
  await t.step("overlap", () => {
    assert.throws(
      () => entryBitsTable(0n, [{ name: "pse", lo: 7, hi: 7 }, { name: "pat", lo: 7, hi: 7 }]),
      /"pse" \[7\] and "pat" \[7\] overlap at bit 7/,
    );
  });
  await t.step("empty name", () => {
    assert.throws(() => entryBitsTable(0n, [{ name: "", lo: 0, hi: 0 }]), /got ""/);
  });
});

Deno.test("entryBitsSvg() escapes field names", () => {
  const svg = entryBitsSvg(0n, [{ name: "a<b", lo: 0, hi: 3, description: "x & y" }]).svg;
  assert.match(svg, />a&lt;b<\/text>/);
  assert.match(svg, /x &amp; y/);
});
