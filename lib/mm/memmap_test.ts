import assert from "node:assert/strict";
import { MemMap, pageFlagNames, PG_anon_exclusive, PG_dirty, PGTY_buddy } from "./memmap.ts";

Deno.test("allocPage() hands out zeroed pages with refcount 1; put() frees at zero", () => {
  const m = new MemMap(1 << 20);
  const pfn = m.allocPage();
  assert.equal(m.refcount[pfn], 1);
  assert.ok(m.isZeroFilled(pfn));
  m.writeByte(pfn, 10, 7);
  m.put(pfn);
  assert.equal(m.pageType[pfn], PGTY_buddy);
  const again = m.allocPage();
  assert.equal(again, pfn, "the free list is LIFO");
  assert.equal(m.readByte(again, 10), 0, "a reused page is cleared");
});

Deno.test("allocPage() returns -1 when simulated RAM is exhausted", () => {
  const m = new MemMap(64 * 4096);
  for (let i = 0; i < 64; i++) assert.ok(m.allocPage() >= 0);
  assert.equal(m.allocPage(), -1);
  assert.equal(m.nrFreePages, 0);
});

Deno.test("page contents: one differing byte stays compact, two promote to a full page", () => {
  const m = new MemMap(1 << 20);
  const a = m.allocPage(), b = m.allocPage();
  m.writeByte(a, 100, 1);
  assert.equal(m.readByte(a, 100), 1);
  assert.equal(m.readByte(a, 101), 0);
  m.writeByte(a, 200, 2);
  assert.deepEqual([m.readByte(a, 100), m.readByte(a, 200), m.readByte(a, 0)], [1, 2, 0]);
  m.copyPage(b, a);
  m.writeByte(a, 100, 9);
  assert.equal(m.readByte(b, 100), 1, "a copy is independent");
  m.fillPage(b, 0xff);
  assert.equal(m.readByte(b, 4095), 0xff);
});

Deno.test("freeing a referenced page is a VM_BUG", () => {
  const m = new MemMap(1 << 20);
  const pfn = m.allocPage();
  assert.throws(() => m.freePage(pfn), /free page in use/);
});

Deno.test("pageFlagNames() decodes PG_ bits", () => {
  assert.deepEqual(pageFlagNames(PG_dirty | PG_anon_exclusive), ["PG_dirty", "PG_anon_exclusive"]);
});

Deno.test("allocFolio(): an mTHP order reuses an aligned block of freed pages before new frames", () => {
  const m = new MemMap(4 << 20);
  const head = m.allocFolio(4); // 16 frames, aligned to 16
  assert.equal(head % 16, 0);
  const top = m.highestPfn;
  // Split into small folios and freed one by one, as an unmapped mTHP is.
  m.splitFolioPages(head);
  for (let pfn = head; pfn < head + 16; pfn++) {
    m.refcount[pfn] = 1;
    m.put(pfn);
  }
  const free = m.nrFreePages;
  assert.equal(m.allocFolio(2), head + 12, "the newest free frames, aligned to 4");
  assert.equal(m.nrFreePages, free - 4);
  assert.equal(m.allocFolio(3), head, "8 aligned frames are still free at the start");
  assert.equal(m.highestPfn, top, "no new frames were taken");
  // Not enough aligned free frames left: new ones from the top.
  assert.ok(m.allocFolio(4) >= top);
  // Single pages still come off the free list.
  assert.equal(m.allocPage(), head + 11);
});
