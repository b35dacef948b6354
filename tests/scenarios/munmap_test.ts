/**
 * munmap(2) (mm/vma.c do_vmi_munmap()): errno cases, partial unmaps that
 * split VMAs, unmaps spanning several VMAs and holes, and the page tables
 * freed behind them (free_pgtables()). Checked on Linux 6.18.
 */
import assert from "node:assert/strict";
import { constants as C, Signal, simulate } from "../../lib/mod.ts";
import { errnoOf } from "../_outcome.ts";

const P = C.PAGE_SIZE;
const RW = C.PROT_READ | C.PROT_WRITE;
const ANON = C.MAP_PRIVATE | C.MAP_ANONYMOUS;
const BASE = 0x100000000000;

function ranges(maps: string): string[] {
  return maps.split("\n").filter((l) => l).map((l) => l.split(" ").slice(0, 2).join(" "));
}

Deno.test("munmap() errno cases, one row each", async (t) => {
  const p = simulate().spawn();
  const a = p.mmap(BASE, 2 * P, RW, ANON | C.MAP_FIXED);
  const rows: [string, () => unknown, string][] = [
    ["unaligned address", () => p.munmap(a + 1, P), "EINVAL"],
    ["address -1", () => p.munmap(-1, P), "EINVAL"],
    ["length 0", () => p.munmap(a, 0), "EINVAL"],
    ["length -1", () => p.munmap(a, -1), "EINVAL"],
    ["a start past TASK_SIZE", () => p.munmap(C.TASK_SIZE + P, P), "EINVAL"],
    ["a range ending past TASK_SIZE", () => p.munmap(C.TASK_SIZE - P, 2 * P), "EINVAL"],
    ["a range with nothing mapped", () => p.munmap(BASE + 64 * P, 4 * P), "ok"],
    ["an unaligned length is rounded up", () => p.munmap(a, 1), "ok"],
  ];
  for (const [name, fn, want] of rows) await t.step(name, () => assert.equal(errnoOf(fn), want));
  assert.deepEqual(ranges(p.maps()), ["100000001000-100000002000 rw-p"]);
});

Deno.test("munmap() in the middle of a VMA splits it in two", () => {
  const k = simulate();
  const p = k.spawn();
  const a = p.mmap(BASE, 4 * P, RW, ANON | C.MAP_FIXED);
  for (let i = 0; i < 4; i++) p.write(a + i * P, i + 1);
  p.munmap(a + P, 2 * P);
  assert.deepEqual(ranges(p.maps()), [
    "100000000000-100000001000 rw-p",
    "100000003000-100000004000 rw-p",
  ]);
  assert.deepEqual([p.read(a), p.read(a + 3 * P)], [1, 4]);
  assert.throws(() => p.read(a + P), (e) => e instanceof Signal && e.code === "SEGV_MAPERR");
  assert.equal(p.rss().MM_ANONPAGES, 2);
  k.check();
});

Deno.test("munmap() across several VMAs and holes removes all of them", () => {
  const k = simulate();
  const p = k.spawn();
  const fd = p.memfdCreate("m");
  p.ftruncate(fd, 4 * P);
  p.mmap(BASE, 2 * P, RW, ANON | C.MAP_FIXED);
  p.mmap(BASE + 3 * P, 2 * P, RW, C.MAP_SHARED | C.MAP_FIXED, fd);
  p.mmap(BASE + 6 * P, 2 * P, C.PROT_READ, ANON | C.MAP_FIXED);
  for (const off of [0, 3, 4]) p.write(BASE + off * P, 1);
  p.munmap(BASE + P, 6 * P);
  assert.deepEqual(ranges(p.maps()), [
    "100000000000-100000001000 rw-p",
    "100000007000-100000008000 r--p",
  ]);
  assert.equal(p.rss().MM_SHMEMPAGES, 0);
  assert.equal(k.vmstat.nr_shmem, 2, "the memfd keeps its pages while the fd is open");
  k.check();
});

Deno.test("munmap() frees the page tables nothing else uses", () => {
  const k = simulate();
  const p = k.spawn();
  const before = k.vmstat.nr_page_table_pages;
  const a = p.mmap(BASE, 2 * C.PMD_SIZE, RW, ANON | C.MAP_FIXED);
  p.write(a, 1);
  p.write(a + C.PMD_SIZE, 1);
  assert.equal(k.vmstat.nr_page_table_pages - before, 4, "a PUD, a PMD and two PTE tables");
  p.munmap(a + C.PMD_SIZE, C.PMD_SIZE);
  assert.equal(k.vmstat.nr_page_table_pages - before, 3);
  p.munmap(a, C.PMD_SIZE);
  assert.equal(k.vmstat.nr_page_table_pages, before);
  k.check();
});

Deno.test("MAP_FIXED over part of a mapping replaces just that part", () => {
  const k = simulate();
  const p = k.spawn();
  const a = p.mmap(BASE, 3 * P, RW, ANON | C.MAP_FIXED);
  for (let i = 0; i < 3; i++) p.write(a + i * P, 0x10 + i);
  p.mmap(a + P, P, C.PROT_READ, ANON | C.MAP_FIXED);
  assert.deepEqual([p.read(a), p.read(a + P), p.read(a + 2 * P)], [0x10, 0, 0x12]);
  assert.deepEqual(ranges(p.maps()), [
    "100000000000-100000001000 rw-p",
    "100000001000-100000002000 r--p",
    "100000002000-100000003000 rw-p",
  ]);
  k.check();
});
