/**
 * MADV_POPULATE_READ and MADV_POPULATE_WRITE, after the kernel selftest
 * tools/testing/selftests/mm/madv_populate.c: results, errnos (EINVAL for a
 * mapping the access is not allowed in, ENOMEM for holes, EFAULT where a
 * fault would raise SIGBUS), and what gets populated (mm/madvise.c
 * madvise_populate(), mm/gup.c faultin_page_range(), check_vma_flags()).
 */
import assert from "node:assert/strict";
import { constants as C, type Process, simulate } from "../../lib/mod.ts";
import { errnoOf } from "../_outcome.ts";

const P = C.PAGE_SIZE;
const SIZE = 16 * P;
const RW = C.PROT_READ | C.PROT_WRITE;
const ANON = C.MAP_PRIVATE | C.MAP_ANONYMOUS;

/** range_is_populated(): every page present in pagemap. */
function rangeIsPopulated(p: Process, start: number, size: number): boolean {
  for (let a = start; a < start + size; a += P) if (!p.pagemap(a).present) return false;
  return true;
}

function rangeIsNotPopulated(p: Process, start: number, size: number): boolean {
  for (let a = start; a < start + size; a += P) if (p.pagemap(a).present) return false;
  return true;
}

Deno.test("MADV_POPULATE_READ on PROT_READ memory succeeds, MADV_POPULATE_WRITE fails with EINVAL", () => {
  const k = simulate();
  const p = k.spawn();
  const a = p.mmap(0, SIZE, C.PROT_READ, ANON);
  assert.equal(errnoOf(() => p.madvise(a, SIZE, C.MADV_POPULATE_READ)), "ok");
  assert.equal(errnoOf(() => p.madvise(a, SIZE, C.MADV_POPULATE_WRITE)), "EINVAL");
  k.check();
});

Deno.test("MADV_POPULATE_READ on PROT_WRITE-only memory fails with EINVAL, MADV_POPULATE_WRITE succeeds", () => {
  const k = simulate();
  const p = k.spawn();
  const a = p.mmap(0, SIZE, C.PROT_WRITE, ANON);
  assert.equal(errnoOf(() => p.madvise(a, SIZE, C.MADV_POPULATE_READ)), "EINVAL");
  assert.equal(errnoOf(() => p.madvise(a, SIZE, C.MADV_POPULATE_WRITE)), "ok");
  assert.equal(rangeIsPopulated(p, a, SIZE), true);
  k.check();
});

Deno.test("MADV_POPULATE_* on PROT_NONE memory fails with EINVAL and populates nothing", () => {
  const p = simulate().spawn();
  const a = p.mmap(0, SIZE, C.PROT_NONE, ANON);
  assert.equal(errnoOf(() => p.madvise(a, SIZE, C.MADV_POPULATE_READ)), "EINVAL");
  assert.equal(errnoOf(() => p.madvise(a, SIZE, C.MADV_POPULATE_WRITE)), "EINVAL");
  assert.equal(rangeIsNotPopulated(p, a, SIZE), true);
});

Deno.test("MADV_POPULATE_* over holes fails with ENOMEM after populating what lies before", () => {
  const k = simulate();
  const p = k.spawn();
  const a = p.mmap(0, SIZE, RW, ANON);
  p.munmap(a + SIZE / 2, P);
  for (const advice of [C.MADV_POPULATE_READ, C.MADV_POPULATE_WRITE]) {
    assert.equal(errnoOf(() => p.madvise(a, SIZE, advice)), "ENOMEM");
    assert.equal(rangeIsPopulated(p, a, SIZE / 2), true);
    assert.equal(rangeIsNotPopulated(p, a + SIZE / 2 + P, SIZE / 2 - P), true);
  }
  k.check();
});

Deno.test("MADV_POPULATE_READ maps the shared zero page, MADV_POPULATE_WRITE exclusive anonymous pages", () => {
  const k = simulate();
  const p = k.spawn();
  const a = p.mmap(0, SIZE, RW, ANON);
  p.madvise(a, SIZE, C.MADV_POPULATE_READ);
  assert.equal(rangeIsPopulated(p, a, SIZE), true);
  assert.equal(p.pagemap(a).exclusive, false, "the zero page is not an exclusive page");
  assert.equal(p.rss().MM_ANONPAGES, 0);
  p.madvise(a, SIZE, C.MADV_POPULATE_WRITE);
  for (let i = 0; i < SIZE; i += P) assert.equal(p.pagemap(a + i).exclusive, true);
  assert.equal(p.rss().MM_ANONPAGES, SIZE / P);
  k.check();
});

Deno.test("MADV_POPULATE_WRITE breaks COW after fork, leaving the child's view alone", () => {
  const k = simulate();
  const p = k.spawn();
  const a = p.mmap(0, P, RW, ANON);
  p.write(a, 7);
  const child = p.fork();
  assert.equal(p.pagemap(a).exclusive, false);
  p.madvise(a, P, C.MADV_POPULATE_WRITE);
  assert.equal(p.pagemap(a).exclusive, true);
  assert.equal(child.pagemap(a).exclusive, true);
  p.write(a, 9);
  assert.equal(child.read(a), 7);
  k.check();
});

Deno.test("MADV_POPULATE_* beyond the end of a memfd fails with EFAULT after the pages before it", () => {
  const k = simulate();
  const p = k.spawn();
  const fd = p.memfdCreate("pop");
  p.ftruncate(fd, P);
  const a = p.mmap(0, 3 * P, RW, C.MAP_SHARED, fd);
  assert.equal(errnoOf(() => p.madvise(a, 3 * P, C.MADV_POPULATE_READ)), "EFAULT");
  const e = p.pagemap(a);
  assert.equal(e.present && e.file, true);
  assert.equal(p.pagemap(a + P).present, false);
  assert.equal(errnoOf(() => p.madvise(a, 3 * P, C.MADV_POPULATE_WRITE)), "EFAULT");
  k.check();
});

Deno.test("MADV_POPULATE_WRITE on a shared memfd mapping dirties the page cache, not a copy", () => {
  const k = simulate();
  const p = k.spawn();
  const fd = p.memfdCreate("pop");
  p.ftruncate(fd, 2 * P);
  const a = p.mmap(0, 2 * P, RW, C.MAP_SHARED, fd);
  p.madvise(a, 2 * P, C.MADV_POPULATE_WRITE);
  assert.equal(p.pagemap(a).file, true);
  assert.equal(p.rss().MM_SHMEMPAGES, 2);
  k.check();
});
