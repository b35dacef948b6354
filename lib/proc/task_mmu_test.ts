import assert from "node:assert/strict";
import { decodePagemapEntry } from "./task_mmu.ts";
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
