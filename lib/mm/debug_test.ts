import assert from "node:assert/strict";
import { simulate } from "../kernel/kernel.ts";
import * as C from "../kernel/constants.ts";
import { VmBugError } from "../kernel/bug.ts";
import { lookupPteTable, pteIndex } from "./memory.ts";

function populated() {
  const k = simulate();
  const p = k.spawn();
  const a = p.mmap(0, C.PAGE_SIZE, C.PROT_READ | C.PROT_WRITE, C.MAP_PRIVATE | C.MAP_ANONYMOUS);
  p.write(a, 1);
  return { k, p, a };
}

function invariant(fn: () => void): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof VmBugError) return e.invariant;
    throw e;
  }
  return "none";
}

Deno.test("check() names the rss counter that drifted", () => {
  const { k, p } = populated();
  p.mm.rss[1]++;
  assert.equal(invariant(() => k.check()), "rss counter");
});

Deno.test("check() catches a mapcount that disagrees with the PTEs", () => {
  const { k, p, a } = populated();
  k.core.memmap.mapcount[p.pagemap(a).pfn!]++;
  assert.equal(invariant(() => k.check()), "mapcount");
});

Deno.test("check() catches a leaked reference", () => {
  const { k, p, a } = populated();
  k.core.memmap.refcount[p.pagemap(a).pfn!]++;
  assert.equal(invariant(() => k.check()), "refcount");
});

Deno.test("check() catches a writable PTE on a shared anonymous page", () => {
  const { k, p, a } = populated();
  const c = p.fork();
  const pt = lookupPteTable(c.mm, a)!;
  pt.e[2 * pteIndex(a)] |= 2;
  assert.equal(invariant(() => k.check()), "anon exclusive");
});

Deno.test("check() catches a page-table lock left held", () => {
  const { k, p, a } = populated();
  lookupPteTable(p.mm, a)!.ptl!.lock("test");
  assert.equal(invariant(() => k.check()), "lock held");
});

Deno.test("check() catches a PTE that maps a freed page", () => {
  const { k, p, a } = populated();
  const pfn = p.pagemap(a).pfn!;
  k.core.memmap.refcount[pfn] = 0;
  k.core.memmap.mapcount[pfn] = 0;
  k.core.memmap.freePage(pfn);
  assert.equal(invariant(() => k.check()), "pgtable");
});

Deno.test("exit with a drifted counter logs the kernel's Bad rss-counter line", () => {
  const { k, p } = populated();
  p.mm.rss[1]++;
  p.exit();
  assert.deepEqual(k.dmesg, ["BUG: Bad rss-counter state mm:1 type:MM_ANONPAGES val:1"]);
});
