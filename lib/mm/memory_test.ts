import assert from "node:assert/strict";
import { simulate } from "../kernel/kernel.ts";
import * as C from "../kernel/constants.ts";
import { RESERVED_LOW_PAGES } from "./core.ts";

const RW = C.PROT_READ | C.PROT_WRITE;
const ANON = C.MAP_PRIVATE | C.MAP_ANONYMOUS;

function setup(pages = 4) {
  const k = simulate();
  const p = k.spawn();
  const a = p.mmap(0, pages * C.PAGE_SIZE, RW, ANON);
  return { k, p, a };
}

Deno.test("do_anonymous_page(): a read maps the zero page, read-only and special", () => {
  const { k, p, a } = setup();
  assert.equal(p.read(a), 0);
  const pm = p.pagemap(a);
  assert.equal(pm.pfn, k.core.zeroPfn);
  assert.equal(pm.exclusive, false);
  const pte = k.walk(p, a).levels.at(-1)!;
  assert.ok(pte.flags.includes("SPECIAL"));
  assert.ok(!pte.flags.includes("RW"));
  assert.deepEqual(p.rss(), { MM_FILEPAGES: 0, MM_ANONPAGES: 0, MM_SWAPENTS: 0, MM_SHMEMPAGES: 0 });
  k.check();
});

Deno.test("do_anonymous_page(): a write allocates an exclusive, dirty, writable folio", () => {
  const { k, p, a } = setup();
  p.write(a + 5, 0x41);
  const pm = p.pagemap(a);
  assert.ok(pm.present && pm.exclusive);
  assert.ok(pm.pfn! >= RESERVED_LOW_PAGES);
  const pte = k.walk(p, a).levels.at(-1)!;
  for (const bit of ["P", "RW", "US", "A", "D", "SOFT_DIRTY", "NX"]) {
    assert.ok(pte.flags.includes(bit), bit);
  }
  assert.equal(p.read(a + 5), 0x41);
  assert.equal(p.rss().MM_ANONPAGES, 1);
  assert.equal(k.vmstat.nr_anon_pages, 1);
  k.check();
});

Deno.test("a write after a read replaces the zero page (wp_page_copy from the zero page)", () => {
  const { k, p, a } = setup();
  p.read(a);
  p.write(a, 1);
  assert.notEqual(p.pagemap(a).pfn, k.core.zeroPfn);
  assert.equal(p.read(a + 1), 0);
  k.check();
});

Deno.test("fork: both sides read-only and shared; the first writer copies, the last reuses", () => {
  const { k, p, a } = setup();
  p.write(a, 1);
  const original = p.pagemap(a).pfn;
  const c = p.fork();
  assert.equal(c.pagemap(a).pfn, original);
  assert.ok(!p.pagemap(a).exclusive && !c.pagemap(a).exclusive);
  assert.ok(!k.walk(p, a).levels.at(-1)!.flags.includes("RW"));
  p.write(a, 2);
  assert.notEqual(p.pagemap(a).pfn, original, "wp_page_copy gave the parent a new page");
  assert.equal(c.pagemap(a).pfn, original);
  assert.ok(c.pagemap(a).exclusive, "mapcount 1 again: exclusive before the child writes");
  c.write(a, 3);
  assert.equal(c.pagemap(a).pfn, original, "wp_can_reuse_anon_folio(): refcount 1, reused");
  assert.deepEqual([p.read(a), c.read(a)], [2, 3]);
  k.check();
});

Deno.test("fork: the child's PTE is old (pte_mkold in __copy_present_ptes)", () => {
  const { k, p, a } = setup();
  p.write(a, 1);
  const c = p.fork();
  assert.ok(!k.walk(c, a).levels.at(-1)!.flags.includes("A"));
  assert.ok(k.walk(p, a).levels.at(-1)!.flags.includes("A"));
});

Deno.test("MADV_DONTNEED zaps private anon memory: it reads back as zeroes", () => {
  const { k, p, a } = setup();
  p.write(a, 9);
  p.madvise(a, C.PAGE_SIZE, C.MADV_DONTNEED);
  assert.equal(p.pagemap(a).present, false);
  assert.equal(p.read(a), 0);
  assert.equal(k.vmstat.nr_anon_pages, 0);
  k.check();
});

Deno.test("MADV_DONTNEED over a whole PTE table frees it with PT_RECLAIM, keeps it without", () => {
  for (const PT_RECLAIM of [true, false]) {
    const k = simulate({ config: { PT_RECLAIM } });
    const p = k.spawn();
    const len = 2 * C.PMD_SIZE;
    const raw = p.mmap(0, len, RW, ANON);
    const a = Math.ceil(raw / C.PMD_SIZE) * C.PMD_SIZE;
    p.write(a, 1);
    const before = k.vmstat.nr_page_table_pages;
    p.madvise(a, C.PMD_SIZE, C.MADV_DONTNEED);
    assert.equal(
      k.vmstat.nr_page_table_pages,
      PT_RECLAIM ? before - 1 : before,
      `PT_RECLAIM=${PT_RECLAIM}`,
    );
    k.check();
  }
});

Deno.test("shmem: MAP_SHARED writes are visible through every mapping and survive DONTNEED", () => {
  const k = simulate();
  const p = k.spawn();
  const fd = p.memfdCreate("buf");
  p.ftruncate(fd, 4 * C.PAGE_SIZE);
  const s1 = p.mmap(0, 4 * C.PAGE_SIZE, RW, C.MAP_SHARED, fd, 0);
  const s2 = p.mmap(0, 4 * C.PAGE_SIZE, RW, C.MAP_SHARED, fd, 0);
  p.write(s1, 7);
  assert.equal(p.read(s2), 7);
  assert.ok(p.pagemap(s1).file);
  p.madvise(s1, 4 * C.PAGE_SIZE, C.MADV_DONTNEED);
  assert.equal(p.read(s1), 7);
  assert.equal(p.rss().MM_SHMEMPAGES, 2);
  k.check();
});

Deno.test("shmem: a private mapping copies on write (do_cow_fault) and leaves the file alone", () => {
  const k = simulate();
  const p = k.spawn();
  const fd = p.memfdCreate("buf");
  p.ftruncate(fd, C.PAGE_SIZE);
  const s = p.mmap(0, C.PAGE_SIZE, RW, C.MAP_SHARED, fd, 0);
  const q = p.mmap(0, C.PAGE_SIZE, RW, C.MAP_PRIVATE, fd, 0);
  p.write(s, 1);
  p.write(q, 2);
  assert.deepEqual([p.read(s), p.read(q)], [1, 2]);
  assert.equal(p.pagemap(q).file, false, "the COW copy is anonymous");
  assert.deepEqual(p.rss(), { MM_FILEPAGES: 0, MM_ANONPAGES: 1, MM_SWAPENTS: 0, MM_SHMEMPAGES: 1 });
  k.check();
});

Deno.test("read faults on shmem map the cached pages around the address (fault-around)", () => {
  const k = simulate();
  const p = k.spawn();
  const fd = p.memfdCreate("buf");
  p.ftruncate(fd, 32 * C.PAGE_SIZE);
  const s = p.mmap(0, 32 * C.PAGE_SIZE, RW, C.MAP_SHARED, fd, 0);
  for (let i = 0; i < 32; i++) p.write(s + i * C.PAGE_SIZE, i);
  const r = p.mmap(0, 32 * C.PAGE_SIZE, C.PROT_READ, C.MAP_SHARED, fd, 0);
  p.read(r + 5 * C.PAGE_SIZE);
  const mapped = Array.from({ length: 32 }, (_, i) => p.pagemap(r + i * C.PAGE_SIZE).present);
  const window = r / C.PAGE_SIZE % 512;
  const expected = Array.from({ length: 32 }, (_, i) => {
    const idx = window + i;
    const from = Math.max(window + 5 - ((window + 5) % 16), window);
    return idx >= from && idx < from + 16;
  });
  assert.deepEqual(mapped, expected);
  k.check();
});

Deno.test("munmap frees the page tables no VMA can use any more", () => {
  const { k, p, a } = setup(8);
  p.write(a, 1);
  assert.ok(k.vmstat.nr_page_table_pages >= 3);
  p.munmap(a, 8 * C.PAGE_SIZE);
  assert.equal(k.vmstat.nr_page_table_pages, 0);
  assert.equal(p.mm.pgtables_bytes, 0);
  k.check();
});

Deno.test("exit_mmap leaves no pages and no log complaints", () => {
  const { k, p, a } = setup();
  p.write(a, 1);
  const c = p.fork();
  c.exit();
  p.exit();
  k.check();
  assert.deepEqual(k.dmesg, []);
  assert.equal(k.vmstat.nr_anon_pages, 0);
});

Deno.test("fork() with memory exhausted fails with ENOMEM and leaves no half-built mm", () => {
  const k = simulate({ memory: 512 * C.PAGE_SIZE });
  const p = k.spawn();
  const a = p.mmap(0, 64 * C.PAGE_SIZE, RW, ANON);
  for (let i = 0; i < 64; i++) p.write(a + i * C.PAGE_SIZE, 1);
  // Eat the rest of memory with one more mapping, until the write that OOMs.
  const b = p.mmap(0, 1024 * C.PAGE_SIZE, RW, ANON);
  let i = 0;
  try {
    for (; i < 1024; i++) p.write(b + i * C.PAGE_SIZE, 1);
  } catch (e) {
    assert.equal((e as { signo?: string }).signo, "SIGKILL");
  }
  assert.ok(i < 1024, "memory ran out");
  const mms = k.core.mms.size;
  assert.throws(() => p.fork(), (e: unknown) => (e as { errno?: string }).errno === "ENOMEM");
  assert.equal(k.core.mms.size, mms);
  k.check();
});
