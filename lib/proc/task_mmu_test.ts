import assert from "node:assert/strict";
import { decodePagemapEntry, pagemapPageCategory } from "./task_mmu.ts";
import { lookupPteTable, pteIndex } from "../mm/memory.ts";
import { simulate } from "../kernel/kernel.ts";
import * as C from "../kernel/constants.ts";

Deno.test("decodePagemapEntry(): each flag bit by name", async (t) => {
  const rows = [
    [C.PM_PRESENT, "present"],
    [C.PM_SWAP, "swapped"],
    [C.PM_FILE, "file"],
    [C.PM_MMAP_EXCLUSIVE, "exclusive"],
    [C.PM_SOFT_DIRTY, "softDirty"],
    [C.PM_UFFD_WP, "uffdWp"],
    [C.PM_GUARD_REGION, "guard"],
  ] as const;
  for (const [bit, name] of rows) {
    await t.step(name, () => {
      const e = decodePagemapEntry(bit);
      assert.equal(e[name], true);
      for (const [, other] of rows) if (other !== name) assert.equal(e[other], false, other);
    });
  }
});

Deno.test("decodePagemapEntry(): PFN when present, swap type and offset when swapped", () => {
  assert.equal(decodePagemapEntry(C.PM_PRESENT | 0x1234n).pfn, 0x1234);
  const sw = decodePagemapEntry(C.PM_SWAP | (0x99n << 5n) | 3n);
  assert.deepEqual([sw.swapType, sw.swapOffset, sw.pfn], [3, 0x99, null]);
});

Deno.test("pagemap hides PFNs from a reader without CAP_SYS_ADMIN", () => {
  const k = simulate();
  const p = k.spawn({ capSysAdmin: false });
  const a = p.mmap(0, C.PAGE_SIZE, C.PROT_READ | C.PROT_WRITE, C.MAP_PRIVATE | C.MAP_ANONYMOUS);
  p.write(a, 1);
  const e = p.pagemap(a);
  assert.ok(e.present && e.exclusive);
  assert.equal(e.pfn, 0);
});

Deno.test("pagemap outside any VMA is the empty entry", () => {
  const p = simulate().spawn();
  assert.equal(p.pagemap(0x10000).raw, 0n);
});

Deno.test("pagemapPageCategory(): one row per kind of PTE", () => {
  const k = simulate({ config: { MEM_SOFT_DIRTY: true } });
  const p = k.spawn();
  const P = C.PAGE_SIZE;
  const a = p.mmap(0, 4 * P, C.PROT_READ | C.PROT_WRITE, C.MAP_PRIVATE | C.MAP_ANONYMOUS);
  p.write(a, 1);
  p.read(a + P);
  p.madvise(a + 2 * P, P, C.MADV_GUARD_INSTALL);
  const mm = p.mm;
  const t = lookupPteTable(mm, a)!;
  const cat = (addr: number) => {
    const i = pteIndex(addr);
    return pagemapPageCategory(mm, t.e[2 * i], t.e[2 * i + 1], C.PM_SCAN_CATEGORIES);
  };
  assert.equal(cat(a), C.PAGE_IS_PRESENT | C.PAGE_IS_WRITTEN | C.PAGE_IS_SOFT_DIRTY);
  // The zero page of a read fault is mapped clean: not soft-dirty.
  assert.equal(cat(a + P), C.PAGE_IS_PRESENT | C.PAGE_IS_WRITTEN | C.PAGE_IS_PFNZERO);
  assert.equal(cat(a + 2 * P), C.PAGE_IS_SWAPPED | C.PAGE_IS_WRITTEN | C.PAGE_IS_GUARD);
  assert.equal(cat(a + 3 * P), C.PAGE_IS_WRITTEN);
});

Deno.test("PAGEMAP_SCAN constants: the ioctl number and PM_SCAN_CATEGORIES", () => {
  assert.equal(C.PAGEMAP_SCAN, 0xc0606610);
  assert.equal(C.PM_SCAN_CATEGORIES, 0x1ff);
  assert.equal(C.PM_SCAN_FLAGS, 3);
});

Deno.test("pagemap of a PMD THP: each 4 KiB page has its own frame, present and exclusive", () => {
  const p = simulate().spawn();
  const hp = C.PMD_SIZE;
  const raw = p.mmap(0, 2 * hp, C.PROT_READ | C.PROT_WRITE, C.MAP_PRIVATE | C.MAP_ANONYMOUS);
  const a = Math.ceil(raw / hp) * hp;
  p.madvise(a, hp, C.MADV_HUGEPAGE);
  p.write(a, 1);
  const head = p.pagemap(a);
  assert.ok(head.present && head.exclusive && !head.file);
  for (const i of [1, 7, 511]) {
    const e = p.pagemap(a + i * C.PAGE_SIZE);
    assert.ok(e.present && e.exclusive && !e.file, `page ${i}`);
    assert.equal(e.pfn, head.pfn! + i, `page ${i}`);
  }
});
