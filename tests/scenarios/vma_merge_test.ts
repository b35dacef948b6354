/**
 * When neighbouring VMAs become one (mm/vma.c is_mergeable_vma(),
 * is_mergeable_anon_vma(), mm/rmap.c find_mergeable_anon_vma(),
 * mm/mprotect.c mprotect_fixup()'s commit accounting), seen the way a
 * program sees it: in /proc/pid/maps, and in what fork() copies. Each case
 * was checked on Linux 6.18.
 */
import assert from "node:assert/strict";
import { constants as C, simulate } from "../../lib/mod.ts";

const P = C.PAGE_SIZE;
const RW = C.PROT_READ | C.PROT_WRITE;
const ANON = C.MAP_PRIVATE | C.MAP_ANONYMOUS;
const BASE = 0x100000000000;

/** The address ranges of /proc/pid/maps, one "start-end perms" a line. */
function ranges(maps: string): string[] {
  return maps.split("\n").filter((l) => l).map((l) => l.split(" ").slice(0, 2).join(" "));
}

Deno.test("mprotect() read-only gives back VM_ACCOUNT only where no anon_vma exists yet", () => {
  const p = simulate().spawn();
  p.mmap(BASE, 3 * P, RW, ANON | C.MAP_FIXED);
  p.mprotect(BASE + 2 * P, P, C.PROT_READ); // never faulted: uncharged
  p.write(BASE, 1); // the first VMA gets an anon_vma
  p.mprotect(BASE, 2 * P, C.PROT_READ); // stays charged
  assert.deepEqual(ranges(p.maps()), [
    "100000000000-100000002000 r--p",
    "100000002000-100000003000 r--p",
  ]);
});

Deno.test("mprotect() merges a VMA back once both halves are writable again", () => {
  const p = simulate().spawn();
  p.mmap(BASE, 3 * P, RW, ANON | C.MAP_FIXED);
  p.mprotect(BASE + 2 * P, P, C.PROT_READ);
  p.write(BASE, 1);
  p.mprotect(BASE + 2 * P, P, RW); // charged again: VM_ACCOUNT comes back
  assert.deepEqual(ranges(p.maps()), ["100000000000-100000003000 rw-p"]);
});

Deno.test("a second VMA's first fault reuses its neighbour's anon_vma, so mprotect() can merge them", () => {
  const p = simulate().spawn();
  p.mmap(BASE, 2 * P, RW, ANON | C.MAP_FIXED);
  p.mprotect(BASE + P, P, RW | C.PROT_EXEC);
  p.write(BASE, 1);
  p.write(BASE + P, 1); // find_mergeable_anon_vma() finds the first VMA's
  p.mprotect(BASE + P, P, RW);
  assert.deepEqual(ranges(p.maps()), ["100000000000-100000002000 rw-p"]);
});

Deno.test("a fork child's anonymous VMA does not merge with a new neighbour", () => {
  const parent = simulate().spawn();
  parent.mmap(BASE, 2 * P, RW, ANON | C.MAP_FIXED);
  parent.write(BASE, 1);
  const child = parent.fork();
  child.mmap(BASE + 2 * P, 2 * P, RW, ANON | C.MAP_FIXED);
  parent.mmap(BASE + 2 * P, 2 * P, RW, ANON | C.MAP_FIXED);
  assert.deepEqual(ranges(child.maps()), [
    "100000000000-100000002000 rw-p",
    "100000002000-100000004000 rw-p",
  ]);
  assert.deepEqual(ranges(parent.maps()), ["100000000000-100000004000 rw-p"]);
});

Deno.test("MAP_STACK (VM_NOHUGEPAGE) and MAP_SYNC (VM_SYNC) mappings keep apart from plain ones", () => {
  const p = simulate().spawn();
  p.mmap(BASE, 2 * P, RW, ANON | C.MAP_FIXED);
  p.mmap(BASE + 2 * P, 2 * P, RW, ANON | C.MAP_FIXED | C.MAP_STACK);
  p.mmap(BASE + 4 * P, 2 * P, RW, ANON | C.MAP_FIXED | C.MAP_SYNC);
  p.mmap(BASE + 6 * P, 2 * P, RW, ANON | C.MAP_FIXED | C.MAP_SYNC | C.MAP_NORESERVE);
  assert.equal(ranges(p.maps()).length, 4);
});

Deno.test("fork() does not copy zero-page PTEs of a VMA that never had an anon_vma", () => {
  const k = simulate();
  const p = k.spawn();
  p.mmap(BASE, 8 * P, RW | C.PROT_EXEC, ANON | C.MAP_FIXED);
  p.read(BASE + 6 * P); // the zero page
  p.mprotect(BASE + 6 * P, P, C.PROT_WRITE);
  p.write(BASE + P, 1);
  p.write(BASE + 7 * P, 1);
  p.mprotect(BASE + 4 * P, 3 * P, C.PROT_EXEC); // VM_ACCOUNT keeps page 6 apart
  assert.equal(p.pagemap(BASE + 6 * P).present, true);
  const child = p.fork();
  assert.equal(child.pagemap(BASE + 6 * P).present, false);
  k.check();
});
