/**
 * khugepaged and MADV_COLLAPSE on anonymous memory (mm/khugepaged.c), after
 * the cases of tools/testing/selftests/mm/khugepaged.c: collapse_full,
 * collapse_empty, collapse_single_pte_entry, collapse_max_ptes_none,
 * collapse_fork with max_ptes_shared, and the userfaultfd and read-only
 * refusals, with the errno MADV_COLLAPSE reports (madvise_collapse_errno())
 * and the rss counters at exit.
 */
import assert from "node:assert/strict";
import { constants as C, simulate } from "../../lib/mod.ts";
import type { Kernel } from "../../lib/kernel/kernel.ts";
import type { Process } from "../../lib/kernel/process.ts";
import { madviseCollapseErrno, SCAN_RESULTS } from "../../lib/mm/khugepaged.ts";
import { ERRNO } from "../../lib/kernel/errno.ts";
import { errnoOf } from "../_outcome.ts";

const P = C.PAGE_SIZE;
const PMD = C.PMD_SIZE;
const NR = C.HPAGE_PMD_NR;
const RW = C.PROT_READ | C.PROT_WRITE;
const ANON = C.MAP_PRIVATE | C.MAP_ANONYMOUS;

function pmdMapped(k: Kernel, p: Process, addr: number): boolean {
  const last = k.walk(p, addr).levels.at(-1)!;
  return last.level === "pmd" && last.leaf && last.present;
}

/**
 * A 2 MiB-aligned region filled with small pages, as the selftest's
 * fill_memory() with THP faults disabled (enabled = never): `pages` pages
 * written from the start, each with its index as its first byte.
 */
function smallPages(pages: number, thp: Parameters<typeof simulate>[0] = {}) {
  const k = simulate({ ...thp, thp: { enabled: "never", ...thp.thp } });
  const p = k.spawn();
  const a = p.mmap(0, PMD, RW, ANON);
  assert.equal(a % PMD, 0);
  for (let i = 0; i < pages; i++) p.write(a + i * P, i & 0xff || 1);
  return { k, p, a };
}

Deno.test("collapse_full: MADV_COLLAPSE of 512 small pages maps one THP with their contents", () => {
  const { k, p, a } = smallPages(NR);
  assert.equal(pmdMapped(k, p, a), false);
  p.madvise(a, PMD, C.MADV_COLLAPSE);
  assert.ok(pmdMapped(k, p, a));
  const head = p.pagemap(a).pfn!;
  assert.equal(head % NR, 0);
  assert.equal(p.pagemap(a + 300 * P).pfn, head + 300);
  for (const i of [0, 1, 255, 511]) assert.equal(p.read(a + i * P), i & 0xff || 1);
  assert.equal(p.rss().MM_ANONPAGES, NR);
  assert.equal(k.vmstat.thp_collapse_alloc, 1);
  k.check();
  p.write(a + 3 * P, 0x77); // the huge PMD is writable: no fault
  assert.equal(p.read(a + 3 * P), 0x77);
  p.exit();
  assert.deepEqual(k.dmesg, []);
  k.check();
});

Deno.test("collapse_empty: nothing mapped, nothing to collapse: EINVAL", () => {
  const k = simulate();
  const p = k.spawn();
  const a = p.mmap(0, PMD, RW, ANON);
  assert.equal(errnoOf(() => p.madvise(a, PMD, C.MADV_COLLAPSE)), "EINVAL");
  assert.equal(pmdMapped(k, p, a), false);
  k.check();
});

Deno.test("collapse_single_pte_entry: MADV_COLLAPSE ignores max_ptes_none", () => {
  const { k, p, a } = smallPages(1, { thp: { max_ptes_none: 0 } });
  p.madvise(a, PMD, C.MADV_COLLAPSE);
  assert.ok(pmdMapped(k, p, a));
  assert.equal(p.read(a), 1);
  assert.equal(p.read(a + 100 * P), 0);
  assert.equal(p.rss().MM_ANONPAGES, NR);
  k.check();
});

Deno.test("collapse_max_ptes_none: khugepaged collapses only with at most max_ptes_none empty PTEs", async (t) => {
  const maxPtesNone = NR / 8;
  await t.step("enabled = never: khugepaged does not look at the VMA", () => {
    const { k, p, a } = smallPages(NR - maxPtesNone - 1, {
      thp: { enabled: "never", max_ptes_none: maxPtesNone },
    });
    p.madvise(a, PMD, C.MADV_HUGEPAGE);
    assert.deepEqual(k.khugepaged(), []);
    assert.equal(pmdMapped(k, p, a), false);
  });
  await t.step("one PTE too many is empty, then exactly max_ptes_none: collapsed", () => {
    const k = simulate({ thp: { enabled: "madvise", max_ptes_none: maxPtesNone } });
    const p = k.spawn();
    const a = p.mmap(0, PMD, RW, ANON);
    // Small pages first (no MADV_HUGEPAGE yet), then advise and scan.
    for (let i = 0; i < NR - maxPtesNone - 1; i++) p.write(a + i * P, 1);
    p.madvise(a, PMD, C.MADV_HUGEPAGE);
    assert.deepEqual(k.khugepaged().map((e) => e.result), ["SCAN_EXCEED_NONE_PTE"]);
    assert.equal(k.vmstat.thp_scan_exceed_none_pte, 1);
    p.write(a + (NR - maxPtesNone - 1) * P, 1);
    assert.deepEqual(k.khugepaged().map((e) => e.result), ["SCAN_SUCCEED"]);
    assert.ok(pmdMapped(k, p, a));
    assert.equal(p.rss().MM_ANONPAGES, NR);
    k.check();
  });
});

Deno.test("collapse_fork: khugepaged refuses more than max_ptes_shared pages shared with a child", () => {
  const k = simulate({ thp: { enabled: "madvise", max_ptes_shared: 10 } });
  const p = k.spawn();
  const a = p.mmap(0, PMD, RW, ANON);
  for (let i = 0; i < NR; i++) p.write(a + i * P, 1);
  p.madvise(a, PMD, C.MADV_HUGEPAGE);
  const c = p.fork();
  for (let i = 0; i < NR - 11; i++) c.write(a + i * P, 2); // COW: 11 pages stay shared
  assert.deepEqual(
    k.khugepaged().map((e) => `${e.pid}:${e.result}`),
    [`${p.pid}:SCAN_EXCEED_SHARED_PTE`, `${c.pid}:SCAN_EXCEED_SHARED_PTE`],
  );
  c.write(a + (NR - 11) * P, 2);
  // The child copied every page; the parent's PTEs are still the read-only
  // ones fork left (copy_pte_range() write-protected them): SCAN_PAGE_RO
  // until the parent writes one.
  let pass = k.khugepaged().map((e) => `${e.pid}:${e.result}`);
  assert.deepEqual(pass, [`${p.pid}:SCAN_PAGE_RO`, `${c.pid}:SCAN_SUCCEED`]);
  p.write(a + P, 1);
  pass = k.khugepaged().map((e) => `${e.pid}:${e.result}`);
  assert.deepEqual(pass, [`${p.pid}:SCAN_SUCCEED`, `${c.pid}:SCAN_PMD_MAPPED`]);
  assert.equal(p.read(a), 1);
  assert.equal(c.read(a), 2);
  k.check();
  c.exit();
  p.exit();
  assert.deepEqual(k.dmesg, []);
});

Deno.test("a userfaultfd-armed VMA with an empty PTE: SCAN_EXCEED_NONE_PTE, EBUSY", () => {
  const { k, p, a } = smallPages(NR - 1);
  const uffd = p.userfaultfd(C.O_CLOEXEC);
  uffd.api({ api: C.UFFD_API, features: 0 });
  uffd.register({ range: { start: a, len: PMD }, mode: C.UFFDIO_REGISTER_MODE_MISSING });
  assert.equal(errnoOf(() => p.madvise(a, PMD, C.MADV_COLLAPSE)), "EBUSY");
  assert.equal(pmdMapped(k, p, a), false);
  k.check();
});

Deno.test("read-only PTEs: MADV_COLLAPSE collapses them (as Linux 6.18 does), khugepaged does not", () => {
  const { k, p, a } = smallPages(NR, { thp: { enabled: "madvise" } });
  p.mprotect(a, PMD, C.PROT_READ);
  p.madvise(a, PMD, C.MADV_HUGEPAGE); // now khugepaged looks at it
  assert.deepEqual(k.khugepaged().map((e) => e.result), ["SCAN_PAGE_RO"]);
  p.madvise(a, PMD, C.MADV_COLLAPSE);
  assert.ok(pmdMapped(k, p, a));
  assert.throws(() => p.write(a, 2), { signo: "SIGSEGV" });
  p.mprotect(a, PMD, RW);
  p.write(a, 2);
  assert.equal(p.read(a), 2);
  k.check();
});

Deno.test("MADV_COLLAPSE of an already PMD-mapped THP succeeds (SCAN_PMD_MAPPED)", () => {
  const k = simulate();
  const p = k.spawn();
  const a = p.mmap(0, PMD, RW, ANON);
  p.madvise(a, PMD, C.MADV_HUGEPAGE);
  p.write(a, 1);
  p.madvise(a, PMD, C.MADV_COLLAPSE);
  assert.equal(k.vmstat.thp_collapse_alloc, 0);
  k.check();
});

Deno.test("MADV_NOHUGEPAGE refuses MADV_COLLAPSE (EINVAL)", () => {
  const { k, p, a } = smallPages(NR);
  p.madvise(a, PMD, C.MADV_NOHUGEPAGE);
  assert.equal(errnoOf(() => p.madvise(a, PMD, C.MADV_COLLAPSE)), "EINVAL");
  k.check();
});

Deno.test("madvise_collapse_errno(): one row per scan_result family", () => {
  const rows: [(typeof SCAN_RESULTS)[number], number][] = [
    ["SCAN_ALLOC_HUGE_PAGE_FAIL", -ERRNO.ENOMEM],
    ["SCAN_CGROUP_CHARGE_FAIL", -ERRNO.EBUSY],
    ["SCAN_EXCEED_NONE_PTE", -ERRNO.EBUSY],
    ["SCAN_PAGE_COUNT", -ERRNO.EAGAIN],
    ["SCAN_PAGE_LOCK", -ERRNO.EAGAIN],
    ["SCAN_PAGE_LRU", -ERRNO.EAGAIN],
    ["SCAN_DEL_PAGE_LRU", -ERRNO.EAGAIN],
    ["SCAN_PAGE_FILLED", -ERRNO.EAGAIN],
    ["SCAN_PAGE_RO", -ERRNO.EINVAL],
    ["SCAN_PTE_UFFD_WP", -ERRNO.EINVAL],
    ["SCAN_PMD_NULL", -ERRNO.EINVAL],
  ];
  for (const [r, e] of rows) assert.equal(madviseCollapseErrno(r), e, r);
  assert.equal(SCAN_RESULTS.length, 32);
});

Deno.test("MADV_COLLAPSE of an empty shmem range: EINVAL (shmem: khugepaged_shmem_test.ts)", () => {
  const k = simulate();
  const p = k.spawn();
  const fd = p.memfdCreate("s");
  p.ftruncate(fd, PMD);
  const a = p.mmap(0, PMD, RW, C.MAP_SHARED, fd);
  assert.equal(errnoOf(() => p.madvise(a, PMD, C.MADV_COLLAPSE)), "EINVAL");
});

Deno.test("khugepaged counts swapped-out PTEs against max_ptes_swap (SCAN_EXCEED_SWAP_PTE)", () => {
  const k = simulate({ thp: { enabled: "madvise", max_ptes_swap: 8 } });
  k.swapon(1024);
  const p = k.spawn();
  const a = p.mmap(0, PMD, RW, ANON);
  for (let i = 0; i < NR; i++) p.write(a + i * P, 1);
  p.madvise(a, 9 * P, C.MADV_PAGEOUT);
  assert.equal(p.pagemap(a).swapped, true);
  p.madvise(a, PMD, C.MADV_HUGEPAGE);
  assert.deepEqual(k.khugepaged().map((e) => e.result), ["SCAN_EXCEED_SWAP_PTE"]);
  assert.equal(k.vmstat.thp_scan_exceed_swap_pte, 1);
  k.check();
});
