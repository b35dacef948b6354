/**
 * The PAGEMAP_SCAN ioctl (fs/proc/task_mmu.c do_pagemap_scan()), after
 * tools/testing/selftests/mm/pagemap_ioctl.c: argument checks, categories
 * and masks, max_pages and walk_end, the bounce buffer, and
 * UFFD_FEATURE_WP_ASYNC dirty tracking with PM_SCAN_WP_MATCHING. Expected
 * values are those this kit's live kernel (6.18.44) returns for the same
 * calls.
 */
import assert from "node:assert/strict";
import { constants as C, Errno, type Process, simulate } from "../../lib/mod.ts";
import type { Userfaultfd } from "../../lib/userfaultfd/userfaultfd.ts";
import type { PageRegion, PmScanArg } from "../../lib/proc/task_mmu.ts";

const P = C.PAGE_SIZE;
const RW = C.PROT_READ | C.PROT_WRITE;
const ANON = C.MAP_PRIVATE | C.MAP_ANONYMOUS;
const W = C.PAGE_IS_WRITTEN;
const ALL = C.PM_SCAN_CATEGORIES;
const WP_CHECK = C.PM_SCAN_WP_MATCHING | C.PM_SCAN_CHECK_WPASYNC;

/** Regions as [first page, end page, categories] relative to `base`. */
function rel(regions: PageRegion[], base: number): [number, number, number][] {
  return regions.map((r) => [(r.start - base) / P, (r.end - base) / P, r.categories]);
}

function errnoOf(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    if (e instanceof Errno) return e.errno;
    throw e;
  }
  return "no error";
}

/** pagemap_ioctl.c's init_uffd() + wp_init() + wp_addr_range(): a tracked region. */
function tracked(nr: number): { p: Process; mem: number; uffd: Userfaultfd } {
  const p = simulate().spawn();
  const mem = p.mmap(0, nr * P, RW, ANON);
  const uffd = p.userfaultfd(C.O_CLOEXEC | C.O_NONBLOCK | C.UFFD_USER_MODE_ONLY);
  uffd.api({
    api: C.UFFD_API,
    features: C.UFFD_FEATURE_WP_UNPOPULATED | C.UFFD_FEATURE_WP_ASYNC |
      C.UFFD_FEATURE_WP_HUGETLBFS_SHMEM,
  });
  uffd.register({ range: { start: mem, len: nr * P }, mode: C.UFFDIO_REGISTER_MODE_WP });
  uffd.writeprotect({ range: { start: mem, len: nr * P }, mode: C.UFFDIO_WRITEPROTECT_MODE_WP });
  wpAddrRange(p, mem, nr * P);
  return { p, mem, uffd };
}

/** wp_addr_range(): write-protect every written page, no output array. */
function wpAddrRange(p: Process, start: number, len: number): void {
  p.pagemapScan({
    start,
    end: start + len,
    vecLen: 0,
    flags: WP_CHECK,
    categoryMask: W,
    returnMask: W,
  });
}

function written(p: Process, start: number, len: number, more: Partial<PmScanArg> = {}) {
  return p.pagemapScan({ start, end: start + len, categoryMask: W, returnMask: W, ...more });
}

Deno.test("PAGEMAP_SCAN: pagemap_get_args() refuses bad flags and masks with EINVAL", async (t) => {
  const { p, mem } = tracked(10);
  const cases: [string, Partial<PmScanArg>, string][] = [
    ["wrong flag (-1)", { flags: -1 }, "EINVAL"],
    ["flag has extra bits", { flags: WP_CHECK | 0xff }, "EINVAL"],
    ["wrong return mask", { returnMask: 0x1000 }, "EINVAL"],
    ["a category past PAGE_IS_GUARD", { categoryAnyofMask: C.PAGE_IS_GUARD << 1 }, "EINVAL"],
    ["mixture of correct and wrong", { flags: WP_CHECK, categoryMask: 0xfff }, "EINVAL"],
    ["unaligned start", { start: mem + 1 }, "EINVAL"],
    ["end below start", { start: mem + P, end: mem }, "EFAULT"],
    ["end past TASK_SIZE_MAX", { start: 2 ** 47 - 2 * P, end: 2 ** 47 }, "EFAULT"],
  ];
  for (const [name, arg, want] of cases) {
    await t.step(name, () => {
      assert.equal(
        errnoOf(() =>
          p.pagemapScan({ start: mem, end: mem + 10 * P, returnMask: W, categoryMask: W, ...arg })
        ),
        want,
      );
    });
  }
});

Deno.test("PAGEMAP_SCAN: argument cases pagemap_ioctl.c accepts", () => {
  const { p, mem } = tracked(10);
  const len = 10 * P;
  const ok = (arg: Partial<PmScanArg>) => p.pagemapScan({ start: mem, end: mem + len, ...arg });
  assert.deepEqual(ok({ end: mem, categoryMask: ALL, returnMask: ALL }), {
    regions: [],
    walkEnd: mem,
  });
  assert.deepEqual(ok({ vecLen: 0, categoryMask: ALL, returnMask: ALL }).regions, []);
  assert.ok(ok({ returnMask: W }).regions.length >= 0);
  assert.deepEqual(ok({ categoryMask: W, categoryAnyofMask: W }).regions, [], "no return mask");
  assert.deepEqual(
    ok({ flags: WP_CHECK, categoryInverted: ALL, returnMask: W }).walkEnd,
    mem + len,
  );
  // The last page of the user address space is a valid end.
  assert.deepEqual(p.pagemapScan({ start: 2 ** 47 - 2 * P, end: 2 ** 47 - P, returnMask: ALL }), {
    regions: [],
    walkEnd: 2 ** 47 - P,
  });
});

Deno.test("PAGEMAP_SCAN: categories of none, present, zero-page and guard PTEs in a plain VMA", () => {
  const p = simulate({ config: { MEM_SOFT_DIRTY: false } }).spawn();
  const m = p.mmap(0, 8 * P, RW, ANON);
  p.write(m, 1);
  p.write(m + 3 * P, 1);
  p.madvise(m + 5 * P, P, C.MADV_GUARD_INSTALL);
  const r = p.pagemapScan({ start: m, end: m + 8 * P, categoryAnyofMask: ALL, returnMask: ALL });
  const PW = C.PAGE_IS_PRESENT | W;
  const GUARD = C.PAGE_IS_GUARD | C.PAGE_IS_SWAPPED | W;
  // A none PTE in an existing table is "written" (not write-protected).
  assert.deepEqual(rel(r.regions, m), [[0, 1, PW], [1, 3, W], [3, 4, PW], [4, 5, W], [
    5,
    6,
    GUARD,
  ], [6, 8, W]]);
  assert.equal(r.walkEnd, m + 8 * P);
  // The zero page of a read fault.
  p.read(m + 6 * P);
  const z = p.pagemapScan({ start: m + 6 * P, end: m + 7 * P, returnMask: ALL });
  assert.deepEqual(rel(z.regions, m), [[6, 7, C.PAGE_IS_PRESENT | W | C.PAGE_IS_PFNZERO]]);
  // A range without a page table in a VMA not armed for uffd-wp: nothing.
  const far = p.mmap(0, 2 * C.PMD_SIZE, RW, ANON);
  const pmd = Math.ceil(far / C.PMD_SIZE) * C.PMD_SIZE;
  assert.deepEqual(
    p.pagemapScan({ start: pmd, end: pmd + C.PMD_SIZE, categoryAnyofMask: ALL, returnMask: ALL })
      .regions,
    [],
  );
});

Deno.test("PAGEMAP_SCAN: PAGE_IS_FILE for shmem pages, and category_inverted", () => {
  const p = simulate().spawn();
  const fd = p.memfdCreate("scan");
  p.ftruncate(fd, 4 * P);
  const m = p.mmap(0, 4 * P, RW, C.MAP_SHARED, fd, 0);
  p.write(m + P, 7);
  const present = p.pagemapScan({
    start: m,
    end: m + 4 * P,
    categoryMask: C.PAGE_IS_PRESENT,
    returnMask: C.PAGE_IS_FILE | C.PAGE_IS_PRESENT,
  });
  assert.deepEqual(rel(present.regions, m), [[1, 2, C.PAGE_IS_FILE | C.PAGE_IS_PRESENT]]);
  // Inverting PRESENT selects the pages that are not present.
  const absent = p.pagemapScan({
    start: m,
    end: m + 4 * P,
    categoryInverted: C.PAGE_IS_PRESENT,
    categoryMask: C.PAGE_IS_PRESENT,
    returnMask: C.PAGE_IS_PRESENT,
  });
  assert.deepEqual(rel(absent.regions, m), [[0, 1, 0], [2, 4, 0]]);
});

Deno.test("PAGEMAP_SCAN: PM_SCAN_CHECK_WPASYNC is EPERM on a VMA without WP_ASYNC; WP_MATCHING skips it", () => {
  const p = simulate().spawn();
  const m = p.mmap(0, 8 * P, RW, ANON);
  p.write(m, 1);
  assert.equal(errnoOf(() => p.pagemapScan({ start: m, end: m + 8 * P, flags: 2 })), "EPERM");
  const r = p.pagemapScan({
    start: m,
    end: m + 8 * P,
    flags: C.PM_SCAN_WP_MATCHING,
    categoryAnyofMask: ALL,
    returnMask: ALL,
  });
  assert.deepEqual(r, { regions: [], walkEnd: m + 8 * P });
  assert.equal(p.pagemap(m).uffdWp, false);
});

Deno.test("PAGEMAP_SCAN: WP_ASYNC dirty tracking, as the live kernel reports it", () => {
  const p = simulate({ config: { MEM_SOFT_DIRTY: false } }).spawn();
  const m = p.mmap(0, 8 * P, RW, ANON);
  p.write(m, 1);
  const uffd = p.userfaultfd(C.O_CLOEXEC);
  uffd.api({ api: C.UFFD_API, features: C.UFFD_FEATURE_WP_ASYNC | C.UFFD_FEATURE_WP_UNPOPULATED });
  uffd.register({ range: { start: m, len: 8 * P }, mode: C.UFFDIO_REGISTER_MODE_WP });
  const scan = (more: Partial<PmScanArg> = {}) =>
    rel(
      p.pagemapScan({
        start: m,
        end: m + 8 * P,
        categoryAnyofMask: ALL,
        returnMask: ALL,
        ...more,
      }).regions,
      m,
    );
  const A = C.PAGE_IS_WPALLOWED, PR = C.PAGE_IS_PRESENT, SW = C.PAGE_IS_SWAPPED;
  assert.deepEqual(scan(), [[0, 1, A | W | PR], [1, 8, A | W]]);
  uffd.writeprotect({ range: { start: m, len: 8 * P }, mode: C.UFFDIO_WRITEPROTECT_MODE_WP });
  // Markers are swap PTEs to the scan: PAGE_IS_SWAPPED, not written.
  assert.deepEqual(scan(), [[0, 1, A | PR], [1, 8, A | SW]]);
  p.write(m + P, 1);
  p.write(m + 2 * P, 1);
  p.write(m, 2);
  assert.deepEqual(scan(), [[0, 3, A | W | PR], [3, 8, A | SW]]);
  assert.deepEqual(scan({ categoryMask: W, categoryAnyofMask: 0 }), [[0, 3, A | W | PR]]);
  // Get and write-protect one page only: max_pages cuts the output.
  assert.deepEqual(scan({ categoryMask: W, categoryAnyofMask: 0, flags: 1, maxPages: 1 }), [
    [0, 1, A | W | PR],
  ]);
  assert.deepEqual(scan(), [[0, 1, A | PR], [1, 3, A | W | PR], [3, 8, A | SW]]);
  assert.deepEqual(scan({ categoryMask: W, categoryAnyofMask: 0, flags: 1 }), [[
    1,
    3,
    A | W | PR,
  ]]);
  assert.deepEqual(scan(), [[0, 3, A | PR], [3, 8, A | SW]]);
  // MADV_DONTNEED drops anonymous uffd-wp markers: the pages read as written.
  p.madvise(m + 4 * P, 2 * P, C.MADV_DONTNEED);
  assert.deepEqual(scan(), [[0, 3, A | PR], [3, 4, A | SW], [4, 6, A | W], [6, 8, A | SW]]);
  // The exclusive-WP fast path (no output array) protects everything.
  p.write(m + 7 * P, 1);
  assert.deepEqual(scan({ flags: 1, vecLen: 0, categoryAnyofMask: 0, returnMask: 0 }), []);
  assert.deepEqual(scan(), [[0, 3, A | PR], [3, 7, A | SW], [7, 8, A | PR]]);
  assert.deepEqual(scan({ flags: 2 }), scan());
  p.kernel.check();
});

Deno.test("PAGEMAP_SCAN: walk_end (pagemap_ioctl.c walk_end tests)", async (t) => {
  const vecSize = 1000;
  const memSize = vecSize * P;
  const { p, mem } = tracked(vecSize);
  p.write(mem, new Uint8Array(memSize));
  const run = (len: number, vecLen: number, maxPages: number, flags = 0) => {
    const r = written(p, mem, len, { vecLen, maxPages, flags });
    return [r.regions.length, (r.walkEnd - mem) / P];
  };
  const dense: [string, () => number[], number[]][] = [
    ["same start and end", () => run(0, vecSize, 0), [0, 0]],
    ["same start and end with WP", () => run(0, vecSize, 0, WP_CHECK), [0, 0]],
    ["same start and end with 0 output buffer", () => run(0, 0, 0, WP_CHECK), [0, 0]],
    ["big vec", () => run(memSize, vecSize, 0), [1, vecSize]],
    ["vec of minimum length", () => run(memSize, 1, 0), [1, vecSize]],
    ["max pages specified", () => run(memSize, 1, vecSize), [1, vecSize]],
    ["half max pages", () => run(memSize, vecSize, vecSize / 2), [1, vecSize / 2]],
    ["1 max page", () => run(memSize, vecSize, 1), [1, 1]],
    ["max pages -1 (no limit)", () => run(memSize, vecSize, -1), [1, vecSize]],
  ];
  for (const [name, f, want] of dense) {
    await t.step(`dense: ${name}`, () => assert.deepEqual(f(), want));
  }
  wpAddrRange(p, mem, memSize);
  for (let i = 0; i < memSize; i += 2 * P) p.write(mem + i, 1);
  const sparse: [string, () => number[], number[]][] = [
    ["big vec", () => run(memSize, vecSize, 0), [vecSize / 2, vecSize]],
    ["vec of minimum length", () => run(memSize, 1, 0), [1, 2]],
    ["max pages specified", () => run(memSize, 1, vecSize), [1, 2]],
    ["half vec, max pages", () => run(memSize, vecSize / 2, vecSize), [vecSize / 2, vecSize]],
    ["max pages = vec", () => run(memSize, vecSize, vecSize), [vecSize / 2, vecSize]],
    ["half max pages", () => run(memSize, vecSize, vecSize / 2), [vecSize / 2, vecSize]],
    ["1 max page", () => run(memSize, vecSize, 1), [1, 2]],
  ];
  for (const [name, f, want] of sparse) {
    await t.step(`sparse: ${name}`, () => assert.deepEqual(f(), want));
  }
});

Deno.test("PAGEMAP_SCAN: base_tests() of pagemap_ioctl.c on anonymous memory", () => {
  const nr = 20;
  const { p, mem } = tracked(nr);
  const len = nr * P;
  // 1. all new pages must not be written
  const r1 = written(p, mem, len, { vecLen: 1, flags: WP_CHECK, maxPages: nr - 2 });
  assert.equal(r1.regions.length, 0);
  // 2. all pages must be written
  p.write(mem, new Uint8Array(len).fill(0xff));
  const r2 = written(p, mem, len, { vecLen: 1 });
  assert.deepEqual(rel(r2.regions, mem), [[0, nr, W]]);
  // 3. all pages dirty other than first and last one
  written(p, mem, len, { vecLen: 1, flags: WP_CHECK });
  p.write(mem + P, new Uint8Array(len - 2 * P));
  const r3 = written(p, mem, len, { vecLen: 1, flags: WP_CHECK });
  assert.deepEqual(rel(r3.regions, mem), [[1, nr - 1, W]]);
  assert.equal(written(p, mem, len, { vecLen: 1 }).regions.length, 0);
  // 4. only middle page dirty
  p.write(mem + (nr / 2) * P, 1);
  assert.deepEqual(rel(written(p, mem, len, { vecLen: nr }).regions, mem), [[
    nr / 2,
    nr / 2 + 1,
    W,
  ]]);
  // 5. only two middle pages dirty, walk over only them
  written(p, mem, len, { vecLen: 1, flags: WP_CHECK, returnMask: W | C.PAGE_IS_HUGE });
  p.write(mem + (nr / 2) * P, 1);
  p.write(mem + (nr / 2 + 1) * P, 1);
  const r5 = written(p, mem + (nr / 2) * P, 2 * P, { vecLen: 1, returnMask: W | C.PAGE_IS_HUGE });
  assert.deepEqual(rel(r5.regions, mem), [[nr / 2, nr / 2 + 2, W]]);
});

Deno.test("PAGEMAP_SCAN: mprotect_tests() of pagemap_ioctl.c", () => {
  const { p, mem, uffd } = tracked(2);
  p.write(mem, new Uint8Array(2 * P).fill(1));
  assert.deepEqual(rel(written(p, mem, 2 * P, { vecLen: 1 }).regions, mem), [[0, 2, W]]);
  wpAddrRange(p, mem, 2 * P);
  assert.equal(written(p, mem, 2 * P, { vecLen: 1 }).regions.length, 0);
  // Remap the second page; register and protect it again.
  p.mmap(mem + P, P, RW, ANON | C.MAP_FIXED);
  uffd.register({ range: { start: mem + P, len: P }, mode: C.UFFDIO_REGISTER_MODE_WP });
  uffd.writeprotect({ range: { start: mem + P, len: P }, mode: C.UFFDIO_WRITEPROTECT_MODE_WP });
  wpAddrRange(p, mem + P, P);
  p.mprotect(mem, P, C.PROT_NONE);
  p.mprotect(mem, 2 * P, C.PROT_READ);
  p.mprotect(mem, 2 * P, RW);
  p.write(mem, new Uint8Array(2 * P).fill(2));
  p.mprotect(mem, P, C.PROT_NONE);
  p.mprotect(mem, P, C.PROT_READ);
  p.mprotect(mem, P, RW);
  assert.deepEqual(rel(written(p, mem, 2 * P, { vecLen: 1 }).regions, mem), [[0, 2, W]]);
  wpAddrRange(p, mem, 2 * P);
  p.write(mem, new Uint8Array(2 * P).fill(0x41));
  assert.deepEqual(rel(written(p, mem, 2 * P, { vecLen: 1 }).regions, mem), [[0, 2, W]]);
  p.kernel.check();
});

Deno.test("PAGEMAP_SCAN: more regions than the bounce buffer holds come out whole", () => {
  const nr = 1400;
  const { p, mem } = tracked(nr);
  for (let i = 0; i < nr; i += 2) p.write(mem + i * P, 1);
  const r = written(p, mem, nr * P, { vecLen: nr });
  assert.equal(r.regions.length, nr / 2);
  assert.ok(r.regions.every((x, i) => x.start === mem + 2 * i * P && x.end === x.start + P));
});

Deno.test("PAGEMAP_SCAN: a facade argument outside the ABI is a TypeError", () => {
  const p = simulate().spawn();
  // deno-lint-ignore no-explicit-any
  assert.throws(() => p.pagemapScan(null as any), TypeError);
  // deno-lint-ignore no-explicit-any
  assert.throws(() => p.pagemapScan({ start: "0" as any, end: 0 }), TypeError);
});

Deno.test("PAGEMAP_SCAN: a PMD-mapped THP is one HUGE region; max_pages cuts it without a split", () => {
  const p = simulate({ config: { MEM_SOFT_DIRTY: false } }).spawn();
  const hp = C.PMD_SIZE;
  const raw = p.mmap(0, 2 * hp, RW, ANON);
  const a = Math.ceil(raw / hp) * hp;
  p.madvise(a, hp, C.MADV_HUGEPAGE);
  p.write(a, 1);
  const H = C.PAGE_IS_HUGE | C.PAGE_IS_WRITTEN | C.PAGE_IS_PRESENT;
  const scan = (more: Partial<PmScanArg> = {}) =>
    p.pagemapScan({ start: a, end: a + hp, categoryAnyofMask: ALL, returnMask: ALL, ...more });
  assert.deepEqual(rel(scan().regions, a), [[0, 512, H]]);
  const cut = scan({ maxPages: 10 });
  assert.deepEqual([rel(cut.regions, a), (cut.walkEnd - a) / P], [[[0, 10, H]], 10]);
  assert.deepEqual(
    rel(scan().regions, a),
    [[0, 512, H]],
    "a scan without WP_MATCHING splits nothing",
  );
});

Deno.test("PAGEMAP_SCAN: WP_MATCHING on part of a written THP splits it and protects what it reported", () => {
  const p = simulate().spawn();
  const hp = C.PMD_SIZE;
  const raw = p.mmap(0, 2 * hp, RW, ANON);
  const a = Math.ceil(raw / hp) * hp;
  const uffd = p.userfaultfd(C.O_CLOEXEC | C.UFFD_USER_MODE_ONLY);
  uffd.api({ api: C.UFFD_API, features: C.UFFD_FEATURE_WP_ASYNC | C.UFFD_FEATURE_WP_UNPOPULATED });
  p.madvise(a, hp, C.MADV_HUGEPAGE);
  uffd.register({ range: { start: a, len: hp }, mode: C.UFFDIO_REGISTER_MODE_WP });
  p.write(a, 1);
  const ret = W | C.PAGE_IS_HUGE | C.PAGE_IS_PRESENT;
  const r = p.pagemapScan({
    start: a,
    end: a + hp,
    flags: C.PM_SCAN_WP_MATCHING,
    maxPages: 10,
    categoryMask: W,
    returnMask: ret,
  });
  assert.deepEqual(rel(r.regions, a), [[0, 10, W | C.PAGE_IS_PRESENT]]);
  const after = p.pagemapScan({ start: a, end: a + hp, categoryAnyofMask: ALL, returnMask: ret });
  assert.deepEqual(rel(after.regions, a), [[0, 10, C.PAGE_IS_PRESENT], [
    10,
    512,
    W | C.PAGE_IS_PRESENT,
  ]]);
  p.kernel.check();
});
