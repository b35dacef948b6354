/**
 * /proc/pid/pagemap bits (fs/proc/task_mmu.c pte_to_pagemap_entry(),
 * pagemap_pte_hole(); Documentation/admin-guide/mm/pagemap.rst): present,
 * file, exclusive (mapped once), soft-dirty with and without
 * CONFIG_MEM_SOFT_DIRTY, PFNs for privileged readers only. Checked on
 * Linux 6.18 (which runs without MEM_SOFT_DIRTY) where the host allows.
 */
import assert from "node:assert/strict";
import { constants as C, simulate } from "../../lib/mod.ts";

const P = C.PAGE_SIZE;
const RW = C.PROT_READ | C.PROT_WRITE;
const ANON = C.MAP_PRIVATE | C.MAP_ANONYMOUS;

/** The set bits of an entry by name, PFN left out. */
function bits(
  e: { present: boolean; swapped: boolean; file: boolean; exclusive: boolean },
): string {
  return ["present", "swapped", "file", "exclusive"].filter((n) => e[n as keyof typeof e])
    .join(",");
}

Deno.test("pagemap: an untouched page is not present; a written anonymous page is present and exclusive", () => {
  const p = simulate({ config: { MEM_SOFT_DIRTY: false } }).spawn();
  const a = p.mmap(0, 2 * P, RW, ANON);
  assert.equal(bits(p.pagemap(a)), "");
  p.write(a, 1);
  assert.equal(bits(p.pagemap(a)), "present,exclusive");
  assert.equal(p.pagemap(a).raw, (1n << 63n) | (1n << 56n) | BigInt(p.pagemap(a).pfn!));
});

Deno.test("pagemap: the shared zero page is present, neither file nor exclusive", () => {
  const p = simulate().spawn();
  const a = p.mmap(0, P, C.PROT_READ, ANON);
  p.read(a);
  assert.equal(bits(p.pagemap(a)), "present");
});

Deno.test("pagemap: shmem pages are file pages, for memfd and shared anonymous mappings", () => {
  const p = simulate().spawn();
  const fd = p.memfdCreate("pm");
  p.ftruncate(fd, P);
  const m = p.mmap(0, P, RW, C.MAP_SHARED, fd);
  const s = p.mmap(0, P, RW, C.MAP_SHARED | C.MAP_ANONYMOUS);
  p.write(m, 1);
  p.write(s, 1);
  assert.equal(bits(p.pagemap(m)), "present,file,exclusive");
  assert.equal(bits(p.pagemap(s)), "present,file,exclusive");
});

Deno.test("pagemap: a page-cache page read through a private mapping is a file page until written", () => {
  const p = simulate().spawn();
  const fd = p.memfdCreate("pm");
  p.ftruncate(fd, P);
  const q = p.mmap(0, P, RW, C.MAP_PRIVATE, fd);
  p.read(q);
  assert.equal(bits(p.pagemap(q)), "present,file,exclusive");
  p.write(q, 1);
  assert.equal(bits(p.pagemap(q)), "present,exclusive");
});

Deno.test("pagemap: PM_MMAP_EXCLUSIVE clears while fork shares a page and returns after COW", () => {
  const k = simulate();
  const parent = k.spawn();
  const a = parent.mmap(0, P, RW, ANON);
  parent.write(a, 1);
  const child = parent.fork();
  assert.equal(bits(parent.pagemap(a)), "present");
  assert.equal(bits(child.pagemap(a)), "present");
  child.write(a, 2);
  assert.equal(bits(parent.pagemap(a)), "present,exclusive");
  assert.equal(bits(child.pagemap(a)), "present,exclusive");
});

Deno.test("pagemap: a shared mapping's page is not exclusive once the child maps it too", () => {
  const parent = simulate().spawn();
  const a = parent.mmap(0, P, RW, C.MAP_SHARED | C.MAP_ANONYMOUS);
  parent.write(a, 1);
  const child = parent.fork();
  assert.equal(bits(child.pagemap(a)), "", "fork does not copy shared file PTEs");
  assert.equal(bits(parent.pagemap(a)), "present,file,exclusive");
  child.read(a);
  assert.equal(bits(child.pagemap(a)), "present,file");
  assert.equal(bits(parent.pagemap(a)), "present,file");
});

Deno.test("pagemap: a PROT_NONE page stays present", () => {
  const p = simulate().spawn();
  const a = p.mmap(0, P, RW, ANON);
  p.write(a, 1);
  p.mprotect(a, P, C.PROT_NONE);
  assert.equal(bits(p.pagemap(a)), "present,exclusive");
});

Deno.test("pagemap: outside any VMA and past the user address space the entry is empty", () => {
  const p = simulate().spawn();
  assert.equal(p.pagemap(0x10000).raw, 0n);
  assert.equal(p.pagemap(C.TASK_SIZE).raw, 0n);
  assert.equal(p.pagemap(2 ** 63).raw, 0n);
});

Deno.test("pagemap: PFNs read as 0 without CAP_SYS_ADMIN, the flags do not change", () => {
  const k = simulate();
  const p = k.spawn({ capSysAdmin: false });
  const a = p.mmap(0, P, RW, ANON);
  p.write(a, 1);
  assert.equal(p.pagemap(a).pfn, 0);
  assert.equal(bits(p.pagemap(a)), "present,exclusive");
});

Deno.test("pagemap: soft-dirty with CONFIG_MEM_SOFT_DIRTY: a new VMA is soft-dirty throughout", () => {
  const p = simulate({ config: { MEM_SOFT_DIRTY: true } }).spawn();
  const a = p.mmap(0, 2 * P, RW, ANON);
  assert.equal(p.pagemap(a).softDirty, true, "VM_SOFTDIRTY covers the holes too");
  p.write(a, 1);
  assert.equal(p.pagemap(a).softDirty, true);
  assert.equal(p.pagemap(a + P).softDirty, true);
  assert.equal(p.pagemap(a).raw & C.PM_SOFT_DIRTY, C.PM_SOFT_DIRTY);
});

Deno.test("pagemap: soft-dirty without CONFIG_MEM_SOFT_DIRTY: always 0", () => {
  const p = simulate({ config: { MEM_SOFT_DIRTY: false } }).spawn();
  const a = p.mmap(0, 2 * P, RW, ANON);
  p.write(a, 1);
  assert.equal(p.pagemap(a).softDirty, false);
  assert.equal(p.pagemap(a + P).softDirty, false);
  const s = p.mmap(0, P, RW, C.MAP_SHARED | C.MAP_ANONYMOUS);
  p.write(s, 1);
  assert.equal(p.pagemap(s).raw & C.PM_SOFT_DIRTY, 0n);
});

Deno.test("pagemap: no page is ever swapped without a swap device", () => {
  const p = simulate().spawn();
  const a = p.mmap(0, 4 * P, RW, ANON);
  p.write(a, 1);
  p.madvise(a, 4 * P, C.MADV_PAGEOUT);
  p.madvise(a, 4 * P, C.MADV_COLD);
  for (let i = 0; i < 4; i++) assert.equal(p.pagemap(a + i * P).swapped, false);
});
