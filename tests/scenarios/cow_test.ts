/**
 * Copy-on-write of anonymous memory after fork(), modelled on the basic
 * cases of tools/testing/selftests/mm/cow.c (do_test_cow_in_parent(),
 * do_test_cow_in_parent_mprotect(), the shared zero page and private file
 * mappings), plus the reuse rules of mm/memory.c do_wp_page() and
 * mm/mprotect.c can_change_pte_writable(). Checked on Linux 6.18.
 */
import assert from "node:assert/strict";
import { constants as C, type Process, simulate } from "../../lib/mod.ts";

const P = C.PAGE_SIZE;
const SIZE = 4 * P;
const RW = C.PROT_READ | C.PROT_WRITE;
const ANON = C.MAP_PRIVATE | C.MAP_ANONYMOUS;

function fill(p: Process, addr: number, size: number, value: number): void {
  p.write(addr, new Uint8Array(size).fill(value));
}

function allEqual(p: Process, addr: number, size: number, value: number): boolean {
  return p.read(addr, size).every((b) => b === value);
}

Deno.test("after fork(), the child does not see the parent's later writes", () => {
  const k = simulate();
  const parent = k.spawn();
  const mem = parent.mmap(0, SIZE, RW, ANON);
  fill(parent, mem, SIZE, 0x11);
  const child = parent.fork();
  fill(parent, mem, SIZE, 0xff);
  assert.equal(allEqual(child, mem, SIZE, 0x11), true);
  assert.equal(allEqual(parent, mem, SIZE, 0xff), true);
  k.check();
});

Deno.test("after fork(), the parent does not see the child's writes", () => {
  const k = simulate();
  const parent = k.spawn();
  const mem = parent.mmap(0, SIZE, RW, ANON);
  fill(parent, mem, SIZE, 0x22);
  const child = parent.fork();
  fill(child, mem, SIZE, 0xee);
  assert.equal(allEqual(parent, mem, SIZE, 0x22), true);
  assert.equal(allEqual(child, mem, SIZE, 0xee), true);
  k.check();
});

Deno.test("mprotect() read-only and back after fork() still copies on the parent's write", () => {
  const k = simulate();
  const parent = k.spawn();
  const mem = parent.mmap(0, SIZE, RW, ANON);
  fill(parent, mem, SIZE, 0x33);
  const child = parent.fork();
  parent.mprotect(mem, SIZE, C.PROT_READ);
  parent.mprotect(mem, SIZE, RW);
  const faults = k.vmstat.pgfault;
  fill(parent, mem, SIZE, 0xcc);
  assert.equal(k.vmstat.pgfault - faults, SIZE / P, "every page write-faults and is copied");
  assert.equal(allEqual(child, mem, SIZE, 0x33), true);
  k.check();
});

Deno.test("mprotect() upgrades an exclusive anon PTE to writable without a fault", () => {
  const k = simulate();
  const p = k.spawn();
  const mem = p.mmap(0, P, RW, ANON);
  p.write(mem, 1);
  p.mprotect(mem, P, C.PROT_READ);
  p.mprotect(mem, P, RW);
  const faults = k.vmstat.pgfault;
  p.write(mem + 1, 2);
  assert.equal(k.vmstat.pgfault, faults);
  k.check();
});

Deno.test("a write after the fork child exited reuses the page: same PFN, no copy", () => {
  const k = simulate();
  const parent = k.spawn();
  const mem = parent.mmap(0, P, RW, ANON);
  parent.write(mem, 1);
  parent.fork().exit();
  const before = parent.pagemap(mem);
  assert.equal(before.exclusive, true, "mapped once again");
  const allocs = k.vmstat.pgalloc_normal;
  parent.write(mem + 1, 2);
  assert.equal(parent.pagemap(mem).pfn, before.pfn);
  assert.equal(k.vmstat.pgalloc_normal, allocs);
  k.check();
});

Deno.test("a COW fault gives the writer a new page and leaves the other the old one", () => {
  const k = simulate();
  const parent = k.spawn();
  const mem = parent.mmap(0, P, RW, ANON);
  parent.write(mem, 1);
  const child = parent.fork();
  const shared = parent.pagemap(mem).pfn;
  assert.equal(child.pagemap(mem).pfn, shared);
  child.write(mem, 2);
  assert.notEqual(child.pagemap(mem).pfn, shared);
  assert.equal(parent.pagemap(mem).pfn, shared);
  assert.equal(parent.pagemap(mem).exclusive, true);
  assert.equal(child.pagemap(mem).exclusive, true);
  k.check();
});

Deno.test("the shared zero page is copied on the first write in either process", () => {
  const k = simulate();
  const parent = k.spawn();
  const mem = parent.mmap(0, 2 * P, RW, ANON);
  assert.equal(parent.read(mem), 0);
  parent.write(mem + P, 0); // the VMA gets an anon_vma, so fork copies its PTEs
  const zero = parent.pagemap(mem);
  assert.equal(zero.present && !zero.exclusive, true);
  const child = parent.fork();
  assert.equal(child.pagemap(mem).pfn, zero.pfn);
  child.write(mem, 5);
  parent.write(mem, 6);
  assert.equal(child.read(mem), 5);
  assert.equal(parent.read(mem), 6);
  k.check();
});

Deno.test("a write to a private memfd mapping goes to a copy; the file keeps its data", () => {
  const k = simulate();
  const p = k.spawn();
  const fd = p.memfdCreate("cow");
  p.ftruncate(fd, P);
  const shared = p.mmap(0, P, RW, C.MAP_SHARED, fd);
  p.write(shared, 0x44);
  const priv = p.mmap(0, P, RW, C.MAP_PRIVATE, fd);
  assert.equal(p.read(priv), 0x44);
  assert.equal(p.pagemap(priv).file, true, "read: the page-cache page");
  p.write(priv, 0x55);
  assert.equal(p.pagemap(priv).file, false, "written: an anonymous copy");
  assert.equal(p.read(shared), 0x44);
  p.write(shared, 0x66);
  assert.equal(p.read(priv), 0x55, "the copy no longer follows the file");
  k.check();
});

Deno.test("a child's private memfd mapping and the parent's copy are separate after fork", () => {
  const k = simulate();
  const parent = k.spawn();
  const fd = parent.memfdCreate("cow");
  parent.ftruncate(fd, P);
  const priv = parent.mmap(0, P, RW, C.MAP_PRIVATE, fd);
  parent.write(priv, 1);
  const child = parent.fork();
  child.write(priv, 2);
  assert.equal(parent.read(priv), 1);
  assert.equal(child.read(priv), 2);
  k.check();
});
