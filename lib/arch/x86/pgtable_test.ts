import assert from "node:assert/strict";
import {
  __swpEntryPte,
  __swpOffset,
  __swpType,
  _PAGE_NX,
  isSwapPte,
  PAGE_COPY,
  PAGE_NONE,
  PAGE_READONLY,
  PAGE_SHARED,
  pfnPte,
  protection_map,
  pteBits,
  pteClearSoftDirty,
  pteFromHalves,
  pteMkclean,
  pteMkdirty,
  pteMkold,
  pteMkuffdWp,
  pteMkwrite,
  pteMkyoung,
  pteModify,
  ptePfn,
  ptePresent,
  pteProtnone,
  pteSoftDirty,
  pteToHalves,
  pteUffdWp,
  pteWrite,
  pteWrprotect,
} from "./pgtable.ts";
import { X86_PTE_FIELDS, X86_SWP_PTE_FIELDS } from "./pgtable_types.ts";

Deno.test("X86_PTE_FIELDS cover bits 0-63 once, in order", () => {
  for (const fields of [X86_PTE_FIELDS, X86_SWP_PTE_FIELDS]) {
    let next = 0;
    for (const f of fields) {
      assert.equal(f.lo, next, `${f.name} starts at ${next}`);
      next = f.hi + 1;
    }
    assert.equal(next, 64);
  }
});

Deno.test("pte halves join and split losslessly", () => {
  for (const v of [0n, 1n, 0x8000000000000067n, 0xffffffffffffffffn, 0x123456789abcdef0n]) {
    const [lo, hi] = pteToHalves(v);
    assert.equal(pteFromHalves(lo, hi), v);
  }
});

Deno.test("pfn_pte() and pte_pfn() round-trip and keep the protection", () => {
  const pte = pfnPte(0x12345, PAGE_SHARED);
  assert.equal(ptePfn(pte), 0x12345);
  assert.equal(pte & ~(0xfffffffffn << 12n), PAGE_SHARED & ~(0xfffffffffn << 12n));
  assert.ok(pteWrite(pte));
});

Deno.test("protection_map: private writable mappings get read-only PTEs (COW)", async (t) => {
  const rows: [number, bigint][] = [
    [0x0, PAGE_NONE],
    [0x1, PAGE_READONLY],
    [0x2, PAGE_COPY],
    [0x3, PAGE_COPY],
    [0x9, PAGE_READONLY],
    [0xa, PAGE_SHARED],
    [0xb, PAGE_SHARED],
  ];
  for (const [flags, prot] of rows) {
    await t.step(
      `vm_flags 0x${flags.toString(16)}`,
      () => assert.equal(protection_map[flags], prot),
    );
  }
  assert.ok(!pteWrite(PAGE_COPY));
  assert.ok((PAGE_COPY & _PAGE_NX) !== 0n);
});

Deno.test("PAGE_NONE is present to the kernel (PROTNONE) but not to the MMU", () => {
  const pte = pfnPte(7, PAGE_NONE);
  assert.ok(ptePresent(pte));
  assert.ok(pteProtnone(pte));
  assert.equal(pte & 1n, 0n);
});

Deno.test("pte_mkdirty() also sets soft-dirty only when MEM_SOFT_DIRTY is configured", () => {
  const on = pteBits({ MEM_SOFT_DIRTY: true, HAVE_ARCH_USERFAULTFD_WP: true });
  const off = pteBits({ MEM_SOFT_DIRTY: false, HAVE_ARCH_USERFAULTFD_WP: true });
  const pte = pfnPte(1, PAGE_COPY);
  assert.ok(pteSoftDirty(pteMkdirty(pte, on), on));
  assert.ok(!pteSoftDirty(pteMkdirty(pte, off), off));
  assert.ok(!pteSoftDirty(pteClearSoftDirty(pteMkdirty(pte, on), on), on));
  assert.equal(pteMkclean(pteMkdirty(pte, off)), pte);
});

Deno.test("pte_mkuffd_wp() write-protects and marks", () => {
  const pte = pteMkuffdWp(pteMkwrite(pfnPte(1, PAGE_SHARED)));
  assert.ok(pteUffdWp(pte));
  assert.ok(!pteWrite(pte));
});

Deno.test("pte_mkyoung/pte_mkold and pte_wrprotect/pte_mkwrite are inverses", () => {
  const pte = pfnPte(3, PAGE_SHARED);
  assert.equal(pteMkyoung(pteMkold(pte)), pte);
  assert.equal(pteMkwrite(pteWrprotect(pte)), pte);
});

Deno.test("pte_modify() keeps pfn, dirty and accessed, takes the new protection", () => {
  const pte = pteMkdirty(pfnPte(0x42, PAGE_SHARED));
  const ro = pteModify(pte, PAGE_READONLY);
  assert.equal(ptePfn(ro), 0x42);
  assert.ok(!pteWrite(ro));
  assert.ok((ro & 0x40n) !== 0n);
  const none = pteModify(pte, PAGE_NONE);
  assert.ok(pteProtnone(none));
  assert.equal(ptePfn(none), 0x42);
});

Deno.test("__swp_entry() stores the type in bits 59-63 and the offset inverted in 9-58", () => {
  for (const [type, offset] of [[0, 0n], [1, 1n], [31, 0x3ffffffffffffn], [24, 0x1234n]] as const) {
    const pte = __swpEntryPte(type, offset);
    assert.equal(__swpType(pte), type);
    assert.equal(__swpOffset(pte), offset);
    assert.ok(isSwapPte(pte), `type ${type} offset ${offset} is a swap pte`);
    assert.equal(pte & 0x1ffn, 0n, "bits 0-8 stay clear");
  }
});
