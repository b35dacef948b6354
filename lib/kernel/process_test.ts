import assert from "node:assert/strict";
import { simulate } from "./kernel.ts";
import * as C from "./constants.ts";
import { errnoOf, signalOf } from "../../tests/_outcome.ts";

const RW = C.PROT_READ | C.PROT_WRITE;
const ANON = C.MAP_PRIVATE | C.MAP_ANONYMOUS;

Deno.test("mmap() errno cases", async (t) => {
  const k = simulate();
  const p = k.spawn();
  const a = p.mmap(0, C.PAGE_SIZE, RW, ANON);
  const rows: [string, () => unknown, string][] = [
    ["length 0", () => p.mmap(0, 0, RW, ANON), "EINVAL"],
    ["no MAP_PRIVATE or MAP_SHARED", () => p.mmap(0, C.PAGE_SIZE, RW, C.MAP_ANONYMOUS), "EINVAL"],
    ["unaligned MAP_FIXED", () => p.mmap(a + 1, C.PAGE_SIZE, RW, ANON | C.MAP_FIXED), "EINVAL"],
    ["unaligned offset", () => p.mmap(0, C.PAGE_SIZE, RW, ANON, -1, 100), "EINVAL"],
    [
      "MAP_FIXED_NOREPLACE over a mapping",
      () => p.mmap(a, C.PAGE_SIZE, RW, ANON | C.MAP_FIXED_NOREPLACE),
      "EEXIST",
    ],
    [
      "MAP_HUGETLB with no huge pages",
      () => p.mmap(0, C.PMD_SIZE, RW, ANON | C.MAP_HUGETLB),
      "ENOMEM",
    ],
    ["bad fd", () => p.mmap(0, C.PAGE_SIZE, RW, C.MAP_SHARED, 42), "EBADF"],
    ["length beyond the address space", () => p.mmap(0, 2 ** 48, RW, ANON), "ENOMEM"],
    [
      "MAP_FIXED beyond TASK_SIZE",
      () => p.mmap(C.TASK_SIZE, C.PAGE_SIZE, RW, ANON | C.MAP_FIXED),
      "ENOMEM",
    ],
    [
      "MAP_SHARED_VALIDATE with an unknown flag",
      () => p.mmap(0, C.PAGE_SIZE, RW, C.MAP_SHARED_VALIDATE | 0x400000, p.memfdCreate("v")),
      "EOPNOTSUPP",
    ],
    [
      "MAP_SHARED_VALIDATE on anonymous memory",
      () => p.mmap(0, C.PAGE_SIZE, RW, C.MAP_SHARED_VALIDATE | C.MAP_ANONYMOUS),
      "EINVAL",
    ],
  ];
  for (const [name, fn, want] of rows) await t.step(name, () => assert.equal(errnoOf(fn), want));
});

Deno.test("munmap(), mprotect(), madvise() errno cases", async (t) => {
  const k = simulate();
  const p = k.spawn();
  const a = p.mmap(0, 4 * C.PAGE_SIZE, RW, ANON);
  p.munmap(a + C.PAGE_SIZE, C.PAGE_SIZE);
  const rows: [string, () => unknown, string][] = [
    ["munmap unaligned", () => p.munmap(a + 1, C.PAGE_SIZE), "EINVAL"],
    ["munmap length 0", () => p.munmap(a, 0), "EINVAL"],
    ["munmap of a hole succeeds", () => p.munmap(a + C.PAGE_SIZE, C.PAGE_SIZE), "ok"],
    ["mprotect unaligned", () => p.mprotect(a + 1, C.PAGE_SIZE, C.PROT_READ), "EINVAL"],
    ["mprotect unknown prot bit", () => p.mprotect(a, C.PAGE_SIZE, 0x10), "EINVAL"],
    ["mprotect across a hole", () => p.mprotect(a, 3 * C.PAGE_SIZE, C.PROT_READ), "ENOMEM"],
    ["mprotect length 0", () => p.mprotect(a, 0, C.PROT_READ), "ok"],
    ["madvise unaligned", () => p.madvise(a + 1, C.PAGE_SIZE, C.MADV_DONTNEED), "EINVAL"],
    ["madvise unknown advice", () => p.madvise(a, C.PAGE_SIZE, 77), "EINVAL"],
    ["madvise over a hole", () => p.madvise(a, 3 * C.PAGE_SIZE, C.MADV_DONTNEED), "ENOMEM"],
    ["MADV_WIPEONFORK on shared memory", () => {
      const s = p.mmap(0, C.PAGE_SIZE, RW, C.MAP_SHARED | C.MAP_ANONYMOUS);
      p.madvise(s, C.PAGE_SIZE, C.MADV_WIPEONFORK);
    }, "EINVAL"],
    ["MADV_REMOVE on private memory", () => p.madvise(a, C.PAGE_SIZE, C.MADV_REMOVE), "EINVAL"],
  ];
  for (const [name, fn, want] of rows) await t.step(name, () => assert.equal(errnoOf(fn), want));
});

Deno.test("memory accesses raise the signal a real process would get", async (t) => {
  const k = simulate();
  const p = k.spawn();
  const a = p.mmap(0, C.PAGE_SIZE, C.PROT_READ, ANON);
  const n = p.mmap(0, C.PAGE_SIZE, C.PROT_NONE, ANON);
  const fd = p.memfdCreate("f");
  p.ftruncate(fd, C.PAGE_SIZE);
  const f = p.mmap(0, 2 * C.PAGE_SIZE, RW, C.MAP_SHARED, fd, 0);
  const rows: [string, () => unknown, string][] = [
    ["read of an unmapped address", () => p.read(0x10000), "SIGSEGV/SEGV_MAPERR"],
    ["write to a read-only mapping", () => p.write(a, 1), "SIGSEGV/SEGV_ACCERR"],
    ["read of a PROT_NONE mapping", () => p.read(n), "SIGSEGV/SEGV_ACCERR"],
    ["read beyond the end of a memfd", () => p.read(f + C.PAGE_SIZE), "SIGBUS/BUS_ADRERR"],
    ["a non-canonical address", () => p.read(2 ** 50), "SIGSEGV/SI_KERNEL"],
    ["read of a read-only mapping", () => p.read(a), "ok"],
  ];
  for (const [name, fn, want] of rows) await t.step(name, () => assert.equal(signalOf(fn), want));
  k.check();
});

Deno.test("arguments outside the ABI are TypeError/RangeError quoting the value", () => {
  const p = simulate().spawn();
  assert.throws(() => p.mmap("0" as unknown as number, 4096, 3, ANON), /addr must be a number.*0/);
  assert.throws(() => p.mmap(0, 4096.5, 3, ANON), /length must be an integer.*4096\.5/);
  assert.throws(() => p.write(0, 256), /0-255, got 256/);
});

Deno.test("negative lengths wrap as in C: munmap(addr, -1) is EINVAL", () => {
  const p = simulate().spawn();
  assert.equal(errnoOf(() => p.munmap(0x10000, -1)), "EINVAL");
});

Deno.test("mprotect() upgrades an exclusive anon PTE to writable without a fault", () => {
  const k = simulate();
  const p = k.spawn();
  const a = p.mmap(0, C.PAGE_SIZE, RW, ANON);
  p.write(a, 1);
  p.mprotect(a, C.PAGE_SIZE, C.PROT_READ);
  assert.ok(!k.walk(p, a).levels.at(-1)!.flags.includes("RW"));
  p.mprotect(a, C.PAGE_SIZE, RW);
  assert.ok(k.walk(p, a).levels.at(-1)!.flags.includes("RW"));
  const faults = k.vmstat.pgfault;
  p.write(a, 2);
  assert.equal(k.vmstat.pgfault, faults);
  k.check();
});

Deno.test("ftruncate() shrinking a memfd unmaps the tail: later access is SIGBUS", () => {
  const k = simulate();
  const p = k.spawn();
  const fd = p.memfdCreate("f");
  p.ftruncate(fd, 2 * C.PAGE_SIZE);
  const f = p.mmap(0, 2 * C.PAGE_SIZE, RW, C.MAP_SHARED, fd, 0);
  p.write(f + C.PAGE_SIZE, 1);
  p.ftruncate(fd, C.PAGE_SIZE);
  assert.equal(signalOf(() => p.read(f + C.PAGE_SIZE)), "SIGBUS/BUS_ADRERR");
  k.check();
});

Deno.test("memfd_create() flag validation", () => {
  const p = simulate().spawn();
  assert.equal(errnoOf(() => p.memfdCreate("x", 0x100)), "EINVAL");
  assert.equal(errnoOf(() => p.memfdCreate("x".repeat(250))), "EINVAL");
  assert.equal(errnoOf(() => p.ftruncate(99, 0)), "EBADF");
  assert.equal(errnoOf(() => p.close(99)), "EBADF");
});

Deno.test("a shared anonymous mapping stays shared across fork", () => {
  const k = simulate();
  const p = k.spawn();
  const s = p.mmap(0, C.PAGE_SIZE, RW, C.MAP_SHARED | C.MAP_ANONYMOUS);
  const c = p.fork();
  c.write(s, 5);
  assert.equal(p.read(s), 5);
  assert.ok(p.pagemap(s).file);
  k.check();
});

Deno.test("maps(): anonymous mappings print device 00:00 and inode 0, as Linux does", () => {
  const p = simulate().spawn();
  const a = p.mmap(0, C.PAGE_SIZE, C.PROT_READ, C.MAP_PRIVATE | C.MAP_ANONYMOUS);
  assert.match(
    p.maps(),
    new RegExp(`^${a.toString(16).padStart(8, "0")}-[0-9a-f]+ r--p 00000000 00:00 0$`),
  );
});
