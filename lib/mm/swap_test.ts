import assert from "node:assert/strict";
import { simulate } from "../kernel/kernel.ts";
import { VmBugError } from "../kernel/bug.ts";
import { pageFlagNames } from "./memmap.ts";
import { VM_IO, VM_LOCKED, type Vma } from "./mm_types.ts";
import { folioAddLru, folioAddLruVma } from "./swap.ts";

const lruFlags = (flags: number) =>
  pageFlagNames(flags).filter((f) => /lru|mlocked|unevictable/.test(f));

Deno.test("folio_add_lru_vma(): VM_LOCKED mlocks and makes unevictable; VM_SPECIAL does not", () => {
  const core = simulate().core;
  const rows = [0, VM_LOCKED, VM_LOCKED | VM_IO].map((vm_flags) => {
    const pfn = core.memmap.allocPage();
    folioAddLruVma(core, pfn, { vm_flags } as Vma);
    return lruFlags(core.memmap.flags[pfn]);
  });
  assert.deepEqual(rows, [["PG_lru"], ["PG_lru", "PG_unevictable", "PG_mlocked"], ["PG_lru"]]);
});

Deno.test("folio_add_lru() of a folio already on a list is a bug", () => {
  const core = simulate().core;
  const pfn = core.memmap.allocPage();
  folioAddLru(core, pfn);
  assert.throws(() => folioAddLru(core, pfn), VmBugError);
});
