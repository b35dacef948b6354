/**
 * Anonymous transparent huge pages (mm/huge_memory.c): the THP fault under
 * each `enabled` policy, the huge zero folio, splits on partial munmap,
 * mprotect and MADV_DONTNEED, fork's copy_huge_pmd() and the COW fault
 * after it, pagemap of a PMD-mapped THP, and the rss counters at exit. The
 * pagemap and alignment facts were checked on this workplace's Linux 6.18
 * (enabled = madvise, use_zero_page = 1).
 */
import assert from "node:assert/strict";
import { constants as C, simulate } from "../../lib/mod.ts";
import type { Kernel } from "../../lib/kernel/kernel.ts";
import type { Process } from "../../lib/kernel/process.ts";

const P = C.PAGE_SIZE;
const PMD = C.PMD_SIZE;
const RW = C.PROT_READ | C.PROT_WRITE;
const ANON = C.MAP_PRIVATE | C.MAP_ANONYMOUS;

/** Whether `addr` is mapped by a PMD leaf (the walk ends at a PSE entry). */
function pmdMapped(k: Kernel, p: Process, addr: number): boolean {
  const last = k.walk(p, addr).levels.at(-1)!;
  return last.level === "pmd" && last.leaf && last.present;
}

/** A 2 MiB-aligned 4 MiB region with MADV_HUGEPAGE. */
function hugeRegion(k: Kernel, p: Process): number {
  const a = p.mmap(0, 2 * PMD, RW, ANON);
  assert.equal(a % PMD, 0, "a 2 MiB-multiple anonymous mapping is PMD aligned");
  p.madvise(a, 2 * PMD, C.MADV_HUGEPAGE);
  void k;
  return a;
}

Deno.test("a write fault in a MADV_HUGEPAGE region maps a THP with one PMD", () => {
  const k = simulate();
  const p = k.spawn();
  const a = hugeRegion(k, p);
  p.write(a + 5 * P, 0x41);
  assert.ok(pmdMapped(k, p, a));
  const first = p.pagemap(a), next = p.pagemap(a + 511 * P);
  assert.equal(first.pfn! % 512, 0);
  assert.equal(next.pfn, first.pfn! + 511);
  assert.deepEqual([first.present, first.exclusive, first.file], [true, true, false]);
  assert.equal(p.read(a + 5 * P), 0x41);
  assert.equal(p.read(a + 6 * P), 0);
  assert.equal(p.rss().MM_ANONPAGES, 512);
  assert.equal(k.vmstat.thp_fault_alloc, 1);
  assert.equal(k.vmstat.nr_anon_transparent_hugepages, 1);
  k.check();
});

Deno.test("the enabled policy decides which VMAs get a THP on fault", async (t) => {
  const cases: [string, "always" | "madvise" | "never", boolean, boolean][] = [
    ["madvise, with MADV_HUGEPAGE", "madvise", true, true],
    ["madvise, without advice", "madvise", false, false],
    ["always, without advice", "always", false, true],
    ["never, with MADV_HUGEPAGE", "never", true, false],
  ];
  for (const [name, enabled, advise, huge] of cases) {
    await t.step(name, () => {
      const k = simulate({ thp: { enabled } });
      const p = k.spawn();
      const a = p.mmap(0, 2 * PMD, RW, ANON);
      if (advise) p.madvise(a, 2 * PMD, C.MADV_HUGEPAGE);
      p.write(a, 1);
      assert.equal(pmdMapped(k, p, a), huge);
      assert.equal(p.rss().MM_ANONPAGES, huge ? 512 : 1);
      k.check();
    });
  }
});

Deno.test("MADV_NOHUGEPAGE and a region smaller than 2 MiB get small pages", () => {
  const k = simulate({ thp: { enabled: "always" } });
  const p = k.spawn();
  const a = p.mmap(0, 2 * PMD, RW, ANON);
  p.madvise(a, PMD, C.MADV_NOHUGEPAGE);
  p.write(a, 1);
  p.write(a + PMD, 1);
  assert.equal(pmdMapped(k, p, a), false);
  assert.equal(pmdMapped(k, p, a + PMD), true);
  const small = p.mmap(0, PMD - P, RW, ANON);
  p.write(small, 1);
  assert.equal(pmdMapped(k, p, small), false);
  k.check();
});

Deno.test("a read fault maps the huge zero folio; a write then gets a THP", () => {
  const k = simulate();
  const p = k.spawn();
  const a = hugeRegion(k, p);
  assert.equal(p.read(a + 7 * P), 0);
  assert.ok(pmdMapped(k, p, a));
  const z = p.pagemap(a + 7 * P);
  // As on Linux 6.18: present, PM_FILE (the folio is not anonymous), not exclusive.
  assert.deepEqual([z.present, z.file, z.exclusive], [true, true, false]);
  assert.equal(p.pagemap(a + 8 * P).pfn, z.pfn! + 1);
  assert.equal(p.rss().MM_ANONPAGES, 0);
  p.write(a + 9 * P, 2); // do_huge_zero_wp_pmd()
  assert.ok(pmdMapped(k, p, a));
  assert.notEqual(p.pagemap(a).pfn, z.pfn! - 7);
  assert.equal(p.rss().MM_ANONPAGES, 512);
  assert.equal(p.read(a + 9 * P), 2);
  k.check();
});

Deno.test("munmap of one page splits the PMD and keeps the other 511 pages", () => {
  const k = simulate();
  const p = k.spawn();
  const a = hugeRegion(k, p);
  p.write(a + 3 * P, 7);
  const pfn = p.pagemap(a).pfn!;
  p.munmap(a + 100 * P, P);
  assert.equal(pmdMapped(k, p, a), false);
  assert.equal(p.pagemap(a + 3 * P).pfn, pfn + 3);
  assert.equal(p.pagemap(a + 101 * P).pfn, pfn + 101);
  assert.equal(p.pagemap(a + 3 * P).exclusive, true);
  assert.equal(p.read(a + 3 * P), 7);
  assert.equal(p.rss().MM_ANONPAGES, 511);
  assert.equal(k.vmstat.thp_split_pmd, 1);
  k.check();
});

Deno.test("mprotect() of a whole PMD keeps it huge; of part of it splits it", () => {
  const k = simulate();
  const p = k.spawn();
  const a = hugeRegion(k, p);
  p.write(a, 1);
  p.write(a + PMD, 1);
  p.mprotect(a, PMD, C.PROT_READ);
  assert.ok(pmdMapped(k, p, a));
  assert.throws(() => p.write(a, 2), { signo: "SIGSEGV", code: "SEGV_ACCERR" });
  p.mprotect(a + PMD + 4 * P, P, C.PROT_READ);
  assert.equal(pmdMapped(k, p, a + PMD), false);
  assert.equal(p.rss().MM_ANONPAGES, 1024);
  p.mprotect(a, PMD, RW);
  p.write(a + P, 3);
  k.check();
});

Deno.test("MADV_DONTNEED of a whole PMD zaps it; the next read maps the huge zero folio", () => {
  const k = simulate();
  const p = k.spawn();
  const a = hugeRegion(k, p);
  p.write(a, 9);
  p.madvise(a, PMD, C.MADV_DONTNEED);
  assert.equal(p.rss().MM_ANONPAGES, 0);
  assert.equal(p.read(a), 0);
  assert.equal(p.pagemap(a).file, true);
  k.check();
});

Deno.test("fork shares the THP read-only; a write in the child copies one small page", () => {
  const k = simulate();
  const p = k.spawn();
  const a = hugeRegion(k, p);
  p.write(a, 1);
  const pfn = p.pagemap(a).pfn!;
  const c = p.fork();
  assert.ok(pmdMapped(k, c, a));
  assert.equal(c.pagemap(a + P).pfn, pfn + 1);
  assert.equal(p.pagemap(a).exclusive, false);
  assert.equal(c.rss().MM_ANONPAGES, 512);
  k.check();
  c.write(a, 2);
  assert.notEqual(c.pagemap(a).pfn, pfn);
  assert.equal(c.pagemap(a + P).pfn, pfn + 1);
  assert.equal(p.read(a), 1);
  assert.equal(c.read(a), 2);
  assert.equal(p.pagemap(a).pfn, pfn);
  k.check();
  p.write(a + 2 * P, 5); // the parent's page is shared with the child: COW
  assert.equal(c.read(a + 2 * P), 0);
  k.check();
  c.exit();
  p.exit();
  assert.ok(!k.dmesg.some((l) => l.includes("Bad rss-counter")));
  k.check();
});

Deno.test("a THP that is the only mapping is reused in place on a write after fork exits", () => {
  const k = simulate();
  const p = k.spawn();
  const a = hugeRegion(k, p);
  p.write(a, 1);
  const c = p.fork();
  c.exit();
  p.write(a, 2); // do_huge_pmd_wp_page(): refcount 1, reuse
  assert.ok(pmdMapped(k, p, a));
  assert.equal(p.pagemap(a).exclusive, true);
  k.check();
});

Deno.test("exit frees THPs and their deposited tables without a Bad rss-counter line", () => {
  const k = simulate();
  const free = k.vmstat.nr_free_pages;
  const p = k.spawn();
  const a = hugeRegion(k, p);
  p.write(a, 1);
  p.write(a + PMD, 1);
  p.exit();
  assert.deepEqual(k.dmesg, []);
  assert.equal(k.vmstat.nr_free_pages, free);
  assert.equal(k.vmstat.nr_anon_transparent_hugepages, 0);
  k.check();
});

Deno.test("Kernel.check() names a THP whose entire mapcount is off", () => {
  const k = simulate();
  const p = k.spawn();
  const a = hugeRegion(k, p);
  p.write(a, 1);
  const head = p.pagemap(a).pfn!;
  k.core.memmap.entireMapcount[head]++;
  assert.throws(() => k.check(), /_entire_mapcount/);
});

Deno.test("simulate({ thp }) rejects unknown knobs and values", () => {
  assert.throws(() => simulate({ thp: { enabled: "sometimes" as "always" } }), RangeError);
  assert.throws(() => simulate({ thp: { max_ptes_none: 512 } }), RangeError);
  assert.throws(() => simulate({ thp: { defrag: "always" } as never }), RangeError);
});

Deno.test("MADV_HWPOISON of one page of a THP splits it first; the other pages stay", () => {
  const k = simulate();
  const p = k.spawn();
  const a = hugeRegion(k, p);
  p.write(a + 2 * P, 5);
  // memory_failure() kills the process that asked (MF_ACTION_REQUIRED): SIGBUS.
  assert.throws(() => p.madvise(a + P, P, C.MADV_HWPOISON), { signo: "SIGBUS" });
  assert.equal(pmdMapped(k, p, a), false);
  assert.throws(() => p.read(a + P), { signo: "SIGBUS" });
  assert.equal(p.read(a + 2 * P), 5);
  k.check();
});

Deno.test("mremap() of a THP moves its 512 pages (split on the way) and keeps their contents", () => {
  const k = simulate();
  const p = k.spawn();
  const a = hugeRegion(k, p);
  p.write(a + 7 * P, 0x33);
  const pfn = p.pagemap(a + 7 * P).pfn;
  const b = p.mremap(a, PMD, PMD, C.MREMAP_MAYMOVE | C.MREMAP_FIXED, a + 4 * PMD);
  assert.equal(b, a + 4 * PMD);
  assert.equal(p.read(b + 7 * P), 0x33);
  assert.equal(p.pagemap(b + 7 * P).pfn, pfn);
  assert.equal(p.rss().MM_ANONPAGES, 512);
  k.check();
});
