/**
 * madvise(2) (mm/madvise.c): errno cases, and what MADV_DONTNEED,
 * MADV_REMOVE, MADV_DONTFORK, MADV_WIPEONFORK, MADV_FREE and MADV_PAGEOUT do
 * to what a program reads, to pagemap and to the rss counters, with no swap
 * device (mm/vmscan.c shrink_folio_list() for MADV_PAGEOUT). Each case was
 * checked on Linux 6.18.
 */
import assert from "node:assert/strict";
import { constants as C, simulate } from "../../lib/mod.ts";
import { errnoOf, signalOf } from "../_outcome.ts";

const P = C.PAGE_SIZE;
const RW = C.PROT_READ | C.PROT_WRITE;
const ANON = C.MAP_PRIVATE | C.MAP_ANONYMOUS;

Deno.test("madvise() errno cases, one row each", async (t) => {
  const p = simulate().spawn();
  const a = p.mmap(0, 2 * P, RW, ANON);
  const locked = p.mmap(0, P, RW, ANON | C.MAP_LOCKED);
  const fd = p.memfdCreate("m");
  p.ftruncate(fd, 2 * P);
  const priv = p.mmap(0, P, RW, C.MAP_PRIVATE, fd);
  const shared = p.mmap(0, P, RW, C.MAP_SHARED, fd);
  const sharedLocked = p.mmap(0, P, RW, C.MAP_SHARED | C.MAP_LOCKED, fd);
  const shAnon = p.mmap(0, P, RW, C.MAP_SHARED | C.MAP_ANONYMOUS);
  const rows: [string, () => unknown, string][] = [
    ["unaligned start", () => p.madvise(a + 1, P, C.MADV_DONTNEED), "EINVAL"],
    ["unknown advice", () => p.madvise(a, P, 77), "EINVAL"],
    ["a range wrapping past 2^64", () => p.madvise(P, -P, C.MADV_NORMAL), "EINVAL"],
    ["length -1 rounds up to 0", () => p.madvise(a, -1, C.MADV_NORMAL), "EINVAL"],
    ["length 0 on nothing mapped", () => p.madvise(0x10000, 0, C.MADV_DONTNEED), "ok"],
    ["a hole in the range", () => p.madvise(a, 3 * P, C.MADV_NORMAL), "ENOMEM"],
    ["MADV_DONTNEED on VM_LOCKED memory", () => p.madvise(locked, P, C.MADV_DONTNEED), "EINVAL"],
    [
      "MADV_DONTNEED_LOCKED on VM_LOCKED memory",
      () => p.madvise(locked, P, C.MADV_DONTNEED_LOCKED),
      "ok",
    ],
    ["MADV_FREE on VM_LOCKED memory", () => p.madvise(locked, P, C.MADV_FREE), "EINVAL"],
    ["MADV_FREE on a memfd mapping", () => p.madvise(priv, P, C.MADV_FREE), "EINVAL"],
    ["MADV_PAGEOUT on VM_LOCKED memory", () => p.madvise(locked, P, C.MADV_PAGEOUT), "EINVAL"],
    ["MADV_COLD on VM_LOCKED memory", () => p.madvise(locked, P, C.MADV_COLD), "EINVAL"],
    ["MADV_REMOVE on private anonymous memory", () => p.madvise(a, P, C.MADV_REMOVE), "EINVAL"],
    ["MADV_REMOVE on a private memfd mapping", () => p.madvise(priv, P, C.MADV_REMOVE), "EACCES"],
    [
      "MADV_REMOVE on a VM_LOCKED mapping",
      () => p.madvise(sharedLocked, P, C.MADV_REMOVE),
      "EINVAL",
    ],
    ["MADV_REMOVE on a shared memfd mapping", () => p.madvise(shared, P, C.MADV_REMOVE), "ok"],
    [
      "MADV_WIPEONFORK on shared anonymous memory",
      () => p.madvise(shAnon, P, C.MADV_WIPEONFORK),
      "EINVAL",
    ],
    [
      "MADV_WIPEONFORK on a private memfd mapping",
      () => p.madvise(priv, P, C.MADV_WIPEONFORK),
      "EINVAL",
    ],
    ["MADV_WILLNEED on anonymous memory", () => p.madvise(a, P, C.MADV_WILLNEED), "ok"],
  ];
  for (const [name, fn, want] of rows) await t.step(name, () => assert.equal(errnoOf(fn), want));
});

Deno.test("madvise() over a hole still applies the advice to the mapped parts", () => {
  const k = simulate();
  const p = k.spawn();
  const a = p.mmap(0, 3 * P, RW, ANON);
  p.write(a, 1);
  p.write(a + 2 * P, 2);
  p.munmap(a + P, P);
  assert.equal(errnoOf(() => p.madvise(a, 3 * P, C.MADV_DONTNEED)), "ENOMEM");
  assert.equal(p.read(a), 0);
  assert.equal(p.read(a + 2 * P), 0);
  k.check();
});

Deno.test("MADV_REMOVE works on a shared mapping made read-only (VM_MAYWRITE is what counts)", () => {
  const k = simulate();
  const p = k.spawn();
  const fd = p.memfdCreate("m");
  p.ftruncate(fd, P);
  const a = p.mmap(0, P, RW, C.MAP_SHARED, fd);
  p.write(a, 0x33);
  p.mprotect(a, P, C.PROT_READ);
  assert.equal(errnoOf(() => p.madvise(a, P, C.MADV_REMOVE)), "ok");
  assert.equal(p.read(a), 0);
  k.check();
});

Deno.test("MADV_DONTNEED on private anonymous memory reads back zeroes and frees the page", () => {
  const k = simulate();
  const p = k.spawn();
  const a = p.mmap(0, P, RW, ANON);
  p.write(a, 0x41);
  p.madvise(a, P, C.MADV_DONTNEED);
  assert.equal(p.pagemap(a).present, false);
  assert.equal(p.rss().MM_ANONPAGES, 0);
  assert.equal(p.read(a), 0);
  k.check();
});

Deno.test("MADV_DONTNEED on shmem unmaps the page but keeps the data", () => {
  const k = simulate();
  const p = k.spawn();
  const a = p.mmap(0, P, RW, C.MAP_SHARED | C.MAP_ANONYMOUS);
  p.write(a, 0x42);
  p.madvise(a, P, C.MADV_DONTNEED);
  assert.equal(p.pagemap(a).present, false);
  assert.equal(p.rss().MM_SHMEMPAGES, 0);
  assert.equal(p.read(a), 0x42);
  k.check();
});

Deno.test("MADV_DONTNEED on a private memfd mapping drops the COW copy and shows the file again", () => {
  const k = simulate();
  const p = k.spawn();
  const fd = p.memfdCreate("m");
  p.ftruncate(fd, P);
  const shared = p.mmap(0, P, RW, C.MAP_SHARED, fd);
  const priv = p.mmap(0, P, RW, C.MAP_PRIVATE, fd);
  p.write(shared, 1);
  p.write(priv, 2);
  assert.equal(p.read(shared), 1);
  p.madvise(priv, P, C.MADV_DONTNEED);
  assert.equal(p.read(priv), 1);
  k.check();
});

Deno.test("MADV_REMOVE punches a hole: every mapping of the file reads zeroes", () => {
  const k = simulate();
  const p = k.spawn();
  const a = p.mmap(0, 2 * P, RW, C.MAP_SHARED | C.MAP_ANONYMOUS);
  p.write(a, 5);
  p.write(a + P, 6);
  const child = p.fork();
  p.madvise(a, P, C.MADV_REMOVE);
  assert.equal(child.read(a), 0);
  assert.equal(child.read(a + P), 6);
  assert.equal(k.vmstat.nr_shmem, 2, "the hole refilled by the child's read, and page 1");
  k.check();
});

Deno.test("MADV_DONTFORK leaves the range out of the child", () => {
  const k = simulate();
  const p = k.spawn();
  const a = p.mmap(0, 2 * P, RW, ANON);
  p.write(a, 1);
  p.madvise(a + P, P, C.MADV_DONTFORK);
  const child = p.fork();
  assert.equal(child.read(a), 1);
  assert.equal(signalOf(() => child.read(a + P)), "SIGSEGV/SEGV_MAPERR");
  p.madvise(a + P, P, C.MADV_DOFORK);
  assert.equal(p.fork().read(a + P), 0);
  k.check();
});

Deno.test("MADV_WIPEONFORK gives the child zeroes and leaves the parent's data", () => {
  const k = simulate();
  const p = k.spawn();
  const a = p.mmap(0, P, RW, ANON);
  p.write(a, 0x77);
  p.madvise(a, P, C.MADV_WIPEONFORK);
  const child = p.fork();
  assert.equal(child.read(a), 0);
  assert.equal(child.pagemap(a).present, true, "the read mapped the zero page");
  assert.equal(child.rss().MM_ANONPAGES, 0);
  assert.equal(p.read(a), 0x77);
  assert.equal(p.pagemap(a).exclusive, true);
  p.madvise(a, P, C.MADV_KEEPONFORK);
  assert.equal(p.fork().read(a), 0x77);
  k.check();
});

Deno.test("MADV_PAGEOUT keeps anonymous pages where there is no swap", () => {
  const k = simulate();
  const p = k.spawn();
  const a = p.mmap(0, P, RW, ANON);
  p.write(a, 0x41);
  p.madvise(a, P, C.MADV_PAGEOUT);
  assert.equal(p.pagemap(a).present, true);
  assert.equal(p.read(a), 0x41);
  k.check();
});

Deno.test("MADV_FREE then MADV_PAGEOUT discards a clean anonymous page", () => {
  const k = simulate();
  const p = k.spawn();
  const a = p.mmap(0, P, RW, ANON);
  p.write(a, 0x42);
  p.madvise(a, P, C.MADV_FREE);
  assert.equal(p.read(a), 0x42, "lazily freed: still there until reclaim");
  p.madvise(a, P, C.MADV_PAGEOUT);
  assert.equal(p.pagemap(a).present, false);
  assert.equal(p.rss().MM_ANONPAGES, 0);
  assert.equal(p.read(a), 0);
  k.check();
});

Deno.test("MADV_FREE then a write keeps the page through MADV_PAGEOUT", () => {
  const k = simulate();
  const p = k.spawn();
  const a = p.mmap(0, P, RW, ANON);
  p.write(a, 0x43);
  p.madvise(a, P, C.MADV_FREE);
  p.write(a + 1, 1);
  p.madvise(a, P, C.MADV_PAGEOUT);
  p.madvise(a, P, C.MADV_PAGEOUT);
  assert.equal(p.pagemap(a).present, true);
  assert.equal(p.read(a), 0x43);
  k.check();
});

Deno.test("MADV_FREE while a fork child shares the page, then MADV_PAGEOUT once it is gone, discards it", () => {
  const k = simulate();
  const p = k.spawn();
  const a = p.mmap(0, P, RW, ANON);
  p.write(a, 0x44);
  const child = p.fork();
  p.madvise(a, P, C.MADV_FREE);
  p.madvise(a, P, C.MADV_PAGEOUT);
  assert.equal(p.read(a), 0x44, "MADV_PAGEOUT skips a page mapped twice");
  child.exit();
  p.madvise(a, P, C.MADV_PAGEOUT);
  assert.equal(p.read(a), 0);
  k.check();
});

Deno.test("MADV_PAGEOUT unmaps shmem pages: clean ones leave the page cache, dirty ones stay", () => {
  const k = simulate();
  const p = k.spawn();
  const fd = p.memfdCreate("m");
  p.ftruncate(fd, 2 * P);
  const a = p.mmap(0, 2 * P, RW, C.MAP_SHARED, fd);
  p.read(a); // a clean page
  p.write(a + P, 0x45); // a dirty page
  assert.equal(k.vmstat.nr_shmem, 2);
  p.madvise(a, 2 * P, C.MADV_PAGEOUT);
  assert.equal(p.pagemap(a).present, false);
  assert.equal(p.pagemap(a + P).present, false);
  assert.equal(p.rss().MM_SHMEMPAGES, 0);
  assert.equal(k.vmstat.nr_shmem, 1);
  assert.equal(p.read(a + P), 0x45);
  assert.equal(p.read(a), 0);
  k.check();
});

Deno.test("MADV_PAGEOUT leaves a page mapped by two processes alone", () => {
  const k = simulate();
  const p = k.spawn();
  const a = p.mmap(0, P, RW, C.MAP_SHARED | C.MAP_ANONYMOUS);
  p.write(a, 1);
  const child = p.fork();
  child.read(a);
  p.madvise(a, P, C.MADV_PAGEOUT);
  assert.equal(p.pagemap(a).present, true);
  k.check();
});
