import assert from "node:assert/strict";
import {
  anonMthpOrders,
  DEFAULT_THP_SETTINGS,
  makeThpSettings,
  shmemAllowableHugeOrders,
  splitHugePmd,
  thpVmaAllowableOrder,
  thpVmaSuitableOrder,
} from "./huge_memory.ts";
import { MemMap, PG_head } from "./memmap.ts";
import {
  MMU_NOTIFY_CLEAR,
  MmuIntervalNotifier,
  mmuIntervalNotifierInsert,
} from "./mmu_notifier.ts";
import { simulate } from "../kernel/kernel.ts";
import * as C from "../kernel/constants.ts";
import {
  PAGE_COPY,
  pfnPmd,
  pmdLeaf,
  pmdMkhuge,
  pmdPfn,
  pmdPresent,
  pmdTransHuge,
} from "../arch/x86/pgtable.ts";

const PMD = C.PMD_SIZE;
const RW = C.PROT_READ | C.PROT_WRITE;
const ANON = C.MAP_PRIVATE | C.MAP_ANONYMOUS;

Deno.test("DEFAULT_THP_SETTINGS: madvise, shmem never, khugepaged_init()'s limits, no mTHP", () => {
  assert.deepEqual({ ...DEFAULT_THP_SETTINGS }, {
    enabled: "madvise",
    shmem_enabled: "never",
    use_zero_page: true,
    max_ptes_none: 511,
    max_ptes_swap: 64,
    max_ptes_shared: 256,
    pages_to_scan: 4096,
    // Every anonymous size below the PMD's never, the PMD size inherit.
    hugepages: {
      16: "never",
      32: "never",
      64: "never",
      128: "never",
      256: "never",
      512: "never",
      1024: "never",
      2048: "inherit",
    },
  });
  assert.equal(makeThpSettings({ max_ptes_none: 0 }).max_ptes_none, 0);
  // One size set; the others keep their defaults.
  const one = makeThpSettings({ hugepages: { 64: "always" } }).hugepages;
  assert.deepEqual([one[16], one[64], one[2048]], ["never", "always", "inherit"]);
  assert.throws(() => makeThpSettings({ max_ptes_none: -1 }), RangeError);
  assert.throws(() => makeThpSettings({ shmem_enabled: "yes" as "never" }), RangeError);
});

Deno.test("pfn_pmd() + pmd_mkhuge(): a PSE leaf whose pfn is 2 MiB aligned", () => {
  const pmd = pmdMkhuge(pfnPmd(0x200, PAGE_COPY));
  assert.equal(pmd & 0x80n, 0x80n);
  assert.ok(pmdTransHuge(pmd) && pmdLeaf(pmd) && pmdPresent(pmd));
  assert.equal(pmdPfn(pmd), 0x200);
  assert.throws(() => pfnPmd(0x201, PAGE_COPY), RangeError);
  // pmdp_invalidate() clears P but keeps PSE: still pmd_present().
  assert.ok(pmdPresent(pmd & ~1n));
});

Deno.test("MemMap.allocFolio(9): aligned head, idle tails, freed whole", () => {
  const m = new MemMap(64 * 2 ** 20);
  m.allocPage();
  const free = m.nrFreePages;
  const head = m.allocFolio(9);
  assert.equal(head % 512, 0);
  assert.equal(m.flags[head] & PG_head, PG_head);
  assert.deepEqual([m.refcount[head], m.order[head], m.folioNrPages(head)], [1, 9, 512]);
  assert.deepEqual([m.compoundHead[head + 7], m.refcount[head + 7]], [head, 0]);
  assert.equal(m.pageFolio(head + 511), head);
  assert.equal(m.nrFreePages, free - 512);
  m.put(head);
  assert.equal(m.nrFreePages, free);
  assert.ok(m.isFree(head) && m.isFree(head + 511));
});

Deno.test("thp_vma_suitable_order(): the 2 MiB block must lie inside the VMA", () => {
  const k = simulate();
  const p = k.spawn();
  const a = p.mmap(0, 2 * PMD, RW, ANON);
  const vma = p.mm.vmaLookup(a)!;
  assert.ok(thpVmaSuitableOrder(vma, a + 5));
  p.munmap(a + PMD, C.PAGE_SIZE);
  assert.equal(thpVmaSuitableOrder(p.mm.vmaLookup(a)!, a + PMD - 1), true);
  assert.equal(thpVmaSuitableOrder(p.mm.vmaLookup(a + PMD + C.PAGE_SIZE)!, a + PMD + 8192), false);
});

Deno.test("thp_vma_allowable_order(): MADV_COLLAPSE ignores `enabled`, not MADV_NOHUGEPAGE", () => {
  const k = simulate({ thp: { enabled: "never" } });
  const p = k.spawn();
  const a = p.mmap(0, 2 * PMD, RW, ANON);
  const vma = p.mm.vmaLookup(a)!;
  assert.equal(thpVmaAllowableOrder(vma, "TVA_PAGEFAULT"), false);
  assert.equal(thpVmaAllowableOrder(vma, "TVA_FORCED_COLLAPSE"), true);
  p.madvise(a, 2 * PMD, C.MADV_NOHUGEPAGE);
  assert.equal(thpVmaAllowableOrder(p.mm.vmaLookup(a)!, "TVA_FORCED_COLLAPSE"), false);
});

Deno.test("shmem_allowable_huge_orders() per shmem_enabled", async (t) => {
  const rows: [string, boolean, boolean][] = [
    ["never", false, true],
    ["advise", false, true],
    ["always", true, true],
    ["force", true, true],
    ["deny", false, false],
  ];
  for (const [setting, fault, forced] of rows) {
    await t.step(setting, () => {
      const k = simulate({ thp: { shmem_enabled: setting as "never" } });
      const p = k.spawn();
      const fd = p.memfdCreate("s");
      p.ftruncate(fd, 2 * PMD);
      const a = p.mmap(0, 2 * PMD, RW, C.MAP_SHARED, fd);
      const vma = p.mm.vmaLookup(a)!;
      assert.equal(shmemAllowableHugeOrders(vma, false), fault);
      assert.equal(shmemAllowableHugeOrders(vma, true), forced);
    });
  }
});

Deno.test("__split_huge_pmd(): 512 PTEs with the PMD's bits, then small folios", () => {
  const k = simulate();
  const p = k.spawn();
  const a = p.mmap(0, 2 * PMD, RW, ANON);
  p.madvise(a, 2 * PMD, C.MADV_HUGEPAGE);
  p.write(a, 1);
  const head = p.pagemap(a).pfn!;
  splitHugePmd(p.mm.vmaLookup(a)!, a);
  const last = k.walk(p, a + 3 * C.PAGE_SIZE).levels.at(-1)!;
  assert.equal(last.level, "pte");
  assert.ok(last.flags.includes("RW") && last.flags.includes("D"));
  assert.equal(k.core.memmap.order[head], 0);
  assert.deepEqual([k.core.memmap.refcount[head + 3], k.core.memmap.mapcount[head + 3]], [1, 1]);
  assert.equal(p.pagemap(a + 3 * C.PAGE_SIZE).exclusive, true);
  k.check();
});

Deno.test("walkAddress() of a huge PMD: the offset runs over 2 MiB", () => {
  const k = simulate();
  const p = k.spawn();
  const a = p.mmap(0, 2 * PMD, RW, ANON);
  p.madvise(a, 2 * PMD, C.MADV_HUGEPAGE);
  p.write(a + 0x12345, 1);
  const path = k.walk(p, a + 0x12345);
  assert.equal(path.levels.at(-1)!.level, "pmd");
  assert.equal(path.pageOffset, 0x12345);
  assert.equal(path.pfn! % 512, 0);
});

Deno.test("MemMap: a freed 2 MiB block is reused whole, and broken up only when single pages run out", () => {
  const m = new MemMap(8 * 2 ** 20); // 2048 frames
  const head = m.allocFolio(9);
  m.put(head);
  assert.equal(m.allocFolio(9), head, "the next THP takes the freed block");
  m.put(head);
  const free = m.nrFreePages;
  const singles: number[] = [];
  for (let pfn = m.allocPage(); pfn >= 0; pfn = m.allocPage()) singles.push(pfn);
  assert.equal(singles.length, free);
  assert.ok(singles.includes(head + 7), "the block's frames were handed out as single pages");
  assert.equal(m.allocFolio(9), -1);
});

Deno.test("__split_huge_pmd() and collapse_huge_page() tell secondary MMUs (MMU_NOTIFY_CLEAR over 2 MiB)", () => {
  const k = simulate({ thp: { enabled: "madvise" } });
  const p = k.spawn();
  const a = p.mmap(0, 2 * PMD, RW, ANON);
  const seen: string[] = [];
  const mni = new MmuIntervalNotifier({
    invalidate: (_m, r) => {
      seen.push(`${r.event}:${(r.start - a).toString(16)}-${(r.end - a).toString(16)}`);
      return true;
    },
  });
  mmuIntervalNotifierInsert(mni, p.mm, a, 2 * PMD);
  p.madvise(a, 2 * PMD, C.MADV_HUGEPAGE);
  p.write(a, 1);
  splitHugePmd(p.mm.vmaLookup(a)!, a + 5);
  assert.deepEqual(seen, [`${MMU_NOTIFY_CLEAR}:0-200000`]);
  seen.length = 0;
  p.madvise(a, PMD, C.MADV_COLLAPSE);
  assert.deepEqual(seen, [`${MMU_NOTIFY_CLEAR}:0-200000`]);
  k.check();
});

Deno.test("anonMthpOrders(): the orders below the PMD's a fault may try, largest first", () => {
  assert.deepEqual(anonMthpOrders(DEFAULT_THP_SETTINGS), []);
  assert.deepEqual(
    anonMthpOrders(makeThpSettings({ hugepages: { 16: "always", 64: "madvise" } })),
    [
      4,
      2,
    ],
  );
  // "inherit" follows `enabled`: nothing when that is never.
  const inherit = { hugepages: { 32: "inherit" as const } };
  assert.deepEqual(anonMthpOrders(makeThpSettings({ ...inherit, enabled: "madvise" })), [3]);
  assert.deepEqual(anonMthpOrders(makeThpSettings({ ...inherit, enabled: "never" })), []);
});
