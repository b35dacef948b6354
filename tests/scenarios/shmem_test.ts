/**
 * Shared memory (mm/shmem.c, mm/memfd.c, mm/truncate.c): visibility across
 * fork() and across mappings, ftruncate() shrinking and growing, hole
 * punching, and the memfd_create()/ftruncate() errnos. Checked on Linux
 * 6.18.
 */
import assert from "node:assert/strict";
import { constants as C, Signal, simulate } from "../../lib/mod.ts";
import { errnoOf } from "../_outcome.ts";

const P = C.PAGE_SIZE;
const RW = C.PROT_READ | C.PROT_WRITE;

/** A byte read, or the signal as "SIGNO/CODE". */
function readOf(p: { read(a: number): number }, addr: number): number | string {
  try {
    return p.read(addr);
  } catch (e) {
    if (e instanceof Signal) return `${e.signo}/${e.code}`;
    throw e;
  }
}

Deno.test("shared anonymous memory is visible across fork, both ways", () => {
  const k = simulate();
  const parent = k.spawn();
  const a = parent.mmap(0, 2 * P, RW, C.MAP_SHARED | C.MAP_ANONYMOUS);
  parent.write(a, 1);
  const child = parent.fork();
  assert.equal(child.read(a), 1);
  child.write(a + P, 2);
  parent.write(a, 3);
  assert.equal(parent.read(a + P), 2);
  assert.equal(child.read(a), 3);
  k.check();
});

Deno.test("two mappings of one memfd see each other's writes; a private one stops after its first write", () => {
  const k = simulate();
  const p = k.spawn();
  const fd = p.memfdCreate("shm");
  p.ftruncate(fd, P);
  const x = p.mmap(0, P, RW, C.MAP_SHARED, fd);
  const y = p.mmap(0, P, RW, C.MAP_SHARED, fd);
  const z = p.mmap(0, P, RW, C.MAP_PRIVATE, fd);
  p.write(x, 1);
  assert.deepEqual([p.read(y), p.read(z)], [1, 1]);
  p.write(z, 9);
  p.write(y, 2);
  assert.deepEqual([p.read(x), p.read(z)], [2, 9]);
  k.check();
});

Deno.test("ftruncate() shrinking a memfd makes the cut-off pages SIGBUS, private COW copies too", () => {
  const k = simulate();
  const p = k.spawn();
  const fd = p.memfdCreate("shm");
  p.ftruncate(fd, 4 * P);
  const s = p.mmap(0, 4 * P, RW, C.MAP_SHARED, fd);
  const q = p.mmap(0, 4 * P, RW, C.MAP_PRIVATE, fd);
  p.write(s + 3 * P, 1);
  p.write(q + 3 * P, 9);
  p.ftruncate(fd, 2 * P);
  assert.equal(readOf(p, s + 3 * P), "SIGBUS/BUS_ADRERR");
  assert.equal(readOf(p, q + 3 * P), "SIGBUS/BUS_ADRERR");
  assert.equal(k.vmstat.nr_shmem, 0);
  assert.equal(p.rss().MM_ANONPAGES, 0);
  p.ftruncate(fd, 4 * P);
  assert.deepEqual([p.read(s + 3 * P), p.read(q + 3 * P)], [0, 0], "growing back gives zeroes");
  k.check();
});

Deno.test("MADV_REMOVE punches a hole in the file but keeps private COW copies", () => {
  const k = simulate();
  const p = k.spawn();
  const fd = p.memfdCreate("shm");
  p.ftruncate(fd, 2 * P);
  const s = p.mmap(0, 2 * P, RW, C.MAP_SHARED, fd);
  const q = p.mmap(0, 2 * P, RW, C.MAP_PRIVATE, fd);
  p.write(s, 2);
  p.write(q, 8);
  p.madvise(s, P, C.MADV_REMOVE);
  assert.deepEqual([p.read(s), p.read(q)], [0, 8]);
  k.check();
});

Deno.test("a memfd's pages live while mapped after close(), and go with the last mapping", () => {
  const k = simulate();
  const p = k.spawn();
  const fd = p.memfdCreate("shm");
  p.ftruncate(fd, P);
  const s = p.mmap(0, P, RW, C.MAP_SHARED, fd);
  p.write(s, 0x61);
  p.close(fd);
  assert.equal(p.read(s), 0x61);
  assert.equal(k.vmstat.nr_shmem, 1);
  p.munmap(s, P);
  assert.equal(k.vmstat.nr_shmem, 0);
  k.check();
});

Deno.test("shared anonymous memory goes when the last process mapping it exits", () => {
  const k = simulate();
  const parent = k.spawn();
  const a = parent.mmap(0, P, RW, C.MAP_SHARED | C.MAP_ANONYMOUS);
  parent.write(a, 1);
  const child = parent.fork();
  parent.exit();
  assert.equal(child.read(a), 1);
  assert.equal(k.vmstat.nr_shmem, 1);
  child.exit();
  assert.equal(k.vmstat.nr_shmem, 0);
  k.check();
});

Deno.test("ftruncate() and memfd_create() errno cases, one row each", async (t) => {
  const p = simulate().spawn();
  const fd = p.memfdCreate("shm");
  const rows: [string, () => unknown, string][] = [
    ["ftruncate to a negative length", () => p.ftruncate(fd, -1), "EINVAL"],
    ["the length is checked before the fd", () => p.ftruncate(99, -1), "EINVAL"],
    ["ftruncate a bad fd", () => p.ftruncate(99, P), "EBADF"],
    ["an off_t of 2^63 is negative", () => p.ftruncate(fd, 2 ** 63), "EINVAL"],
    ["a huge memfd is fine", () => p.ftruncate(fd, 2 ** 62), "ok"],
    ["memfd_create with an unknown flag", () => p.memfdCreate("x", 0x100), "EINVAL"],
    [
      "MFD_EXEC with MFD_NOEXEC_SEAL",
      () => p.memfdCreate("x", C.MFD_EXEC | C.MFD_NOEXEC_SEAL),
      "EINVAL",
    ],
    ["a name longer than 249 bytes", () => p.memfdCreate("x".repeat(250)), "EINVAL"],
    ["close of a bad fd", () => p.close(99), "EBADF"],
  ];
  for (const [name, fn, want] of rows) await t.step(name, () => assert.equal(errnoOf(fn), want));
});

Deno.test("a huge memfd can be mapped and used at a large offset", () => {
  const k = simulate();
  const p = k.spawn();
  const fd = p.memfdCreate("big");
  p.ftruncate(fd, 2 ** 62);
  const a = p.mmap(0, P, RW, C.MAP_SHARED, fd, 2 ** 61);
  p.write(a, 7);
  assert.equal(p.read(a), 7);
  k.check();
});
