import assert from "node:assert/strict";
import * as C from "./mman.ts";

Deno.test("mman constants have the kernel's x86-64 values", () => {
  assert.deepEqual(
    [C.PROT_NONE, C.PROT_READ, C.PROT_WRITE, C.PROT_EXEC],
    [0x0, 0x1, 0x2, 0x4],
  );
  assert.deepEqual(
    [C.MAP_SHARED, C.MAP_PRIVATE, C.MAP_FIXED, C.MAP_ANONYMOUS, C.MAP_NORESERVE, C.MAP_POPULATE],
    [0x01, 0x02, 0x10, 0x20, 0x4000, 0x8000],
  );
  assert.deepEqual(
    [C.MADV_DONTNEED, C.MADV_FREE, C.MADV_HUGEPAGE, C.MADV_NOHUGEPAGE, C.MADV_COLLAPSE],
    [4, 8, 14, 15, 25],
  );
  assert.deepEqual([C.MADV_GUARD_INSTALL, C.MADV_GUARD_REMOVE], [102, 103]);
});

Deno.test("each table's values are distinct", () => {
  for (const table of [C.PROT, C.MADV]) {
    const values = Object.values(table);
    assert.equal(new Set(values).size, values.length);
  }
});

Deno.test("madvName() names every MADV row and shows an unknown advice as its number", () => {
  for (const [name, value] of Object.entries(C.MADV)) assert.equal(C.madvName(value), name);
  assert.equal(C.madvName(77), "77");
});

Deno.test("protNames() joins names and keeps unknown bits visible", () => {
  assert.equal(C.protNames(C.PROT_NONE), "PROT_NONE");
  assert.equal(C.protNames(C.PROT_READ | C.PROT_WRITE), "PROT_READ|PROT_WRITE");
  assert.equal(C.protNames(C.PROT_READ | 0x100), "PROT_READ|0x100");
});

Deno.test("mapNames() shows the mapping type first, then flags, then unknown bits", () => {
  assert.equal(C.mapNames(C.MAP_PRIVATE | C.MAP_ANONYMOUS), "MAP_PRIVATE|MAP_ANONYMOUS");
  assert.equal(
    C.mapNames(C.MAP_SHARED | C.MAP_FIXED_NOREPLACE | C.MAP_POPULATE),
    "MAP_SHARED|MAP_POPULATE|MAP_FIXED_NOREPLACE",
  );
  assert.equal(C.mapNames(C.MAP_PRIVATE | 0x80000000), "MAP_PRIVATE|0x80000000");
});
