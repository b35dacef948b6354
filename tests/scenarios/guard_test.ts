/**
 * Guard regions (mm/madvise.c madvise_guard_install()/madvise_guard_remove(),
 * v6.18), after tools/testing/selftests/mm/guard-regions.c: a guard PTE
 * marker faults with SIGSEGV, survives MADV_DONTNEED, is copied by fork, is
 * dropped by munmap, and shows in pagemap as PM_GUARD_REGION.
 */
import assert from "node:assert/strict";
import { constants as C, simulate } from "../../lib/mod.ts";
import { errnoOf, signalOf } from "../_outcome.ts";

const P = C.PAGE_SIZE;
const RW = C.PROT_READ | C.PROT_WRITE;
const ANON = C.MAP_PRIVATE | C.MAP_ANONYMOUS;

function guarded() {
  const k = simulate();
  const p = k.spawn();
  const a = p.mmap(0, 4 * P, RW, ANON);
  for (let i = 0; i < 4; i++) p.write(a + i * P, i + 1);
  p.madvise(a + P, 2 * P, C.MADV_GUARD_INSTALL);
  return { k, p, a };
}

Deno.test("MADV_GUARD_INSTALL: guard pages raise SIGSEGV, their neighbours keep their data", () => {
  const { k, p, a } = guarded();
  assert.equal(signalOf(() => p.read(a + P)), "SIGSEGV/SEGV_MAPERR");
  assert.equal(signalOf(() => p.write(a + 2 * P, 1)), "SIGSEGV/SEGV_MAPERR");
  assert.deepEqual([p.read(a), p.read(a + 3 * P)], [1, 4]);
  assert.equal(p.rss().MM_ANONPAGES, 2, "the guarded pages were zapped");
  k.check();
});

Deno.test("guard markers show in pagemap as PM_GUARD_REGION", () => {
  const { p, a } = guarded();
  assert.equal(p.pagemap(a + P).guard, true);
  assert.equal(p.pagemap(a + P).present, false);
  assert.equal(p.pagemap(a).guard, false);
});

Deno.test("MADV_DONTNEED leaves guard markers in place", () => {
  const { k, p, a } = guarded();
  p.madvise(a, 4 * P, C.MADV_DONTNEED);
  assert.equal(signalOf(() => p.read(a + P)), "SIGSEGV/SEGV_MAPERR");
  assert.equal(p.read(a), 0);
  k.check();
});

Deno.test("fork copies guard markers (the install gave the VMA an anon_vma)", () => {
  const k = simulate();
  const p = k.spawn();
  const a = p.mmap(0, 2 * P, RW, ANON);
  p.madvise(a, P, C.MADV_GUARD_INSTALL);
  const c = p.fork();
  assert.equal(signalOf(() => c.read(a)), "SIGSEGV/SEGV_MAPERR");
  assert.equal(c.read(a + P), 0);
  k.check();
});

Deno.test("MADV_GUARD_REMOVE clears the markers: the pages read as zero again", () => {
  const { k, p, a } = guarded();
  p.madvise(a, 4 * P, C.MADV_GUARD_REMOVE);
  assert.deepEqual([p.read(a), p.read(a + P), p.read(a + 2 * P), p.read(a + 3 * P)], [1, 0, 0, 4]);
  k.check();
});

Deno.test("munmap drops guard markers: a new mapping there is ordinary memory", () => {
  const { k, p, a } = guarded();
  p.munmap(a, 4 * P);
  const b = p.mmap(a, 4 * P, RW, ANON | C.MAP_FIXED);
  assert.equal(p.read(b + P), 0);
  k.check();
});

Deno.test("guard regions work in shmem mappings too; the file keeps its data", () => {
  const k = simulate();
  const p = k.spawn();
  const fd = p.memfdCreate("g");
  p.ftruncate(fd, 2 * P);
  const s = p.mmap(0, 2 * P, RW, C.MAP_SHARED, fd, 0);
  p.write(s, 7);
  p.madvise(s, P, C.MADV_GUARD_INSTALL);
  assert.equal(signalOf(() => p.read(s)), "SIGSEGV/SEGV_MAPERR");
  const t = p.mmap(0, 2 * P, RW, C.MAP_SHARED, fd, 0);
  assert.equal(p.read(t), 7);
  k.check();
});

Deno.test("MADV_GUARD_INSTALL is EINVAL in an mlocked mapping; REMOVE is allowed there", () => {
  const p = simulate().spawn();
  const a = p.mmap(0, P, RW, ANON | C.MAP_LOCKED);
  assert.equal(errnoOf(() => p.madvise(a, P, C.MADV_GUARD_INSTALL)), "EINVAL");
  assert.equal(errnoOf(() => p.madvise(a, P, C.MADV_GUARD_REMOVE)), "ok");
});
