/**
 * Shmem THP collapse (mm/khugepaged.c collapse_file(), retract_page_tables(),
 * collapse_pte_mapped_thp(); mm/memory.c do_set_pmd()), after the file and
 * shmem cases of tools/testing/selftests/mm/khugepaged.c: collapse_full,
 * collapse_empty, collapse_single_pte_entry, collapse_max_ptes_none; then
 * two processes sharing the file, and the VMAs retract_page_tables() must
 * leave alone: one registered for uffd-wp, and a private mapping with an
 * anon_vma.
 */
import assert from "node:assert/strict";
import { constants as C, simulate } from "../../lib/mod.ts";
import type { Kernel } from "../../lib/kernel/kernel.ts";
import type { Process } from "../../lib/kernel/process.ts";
import { errnoOf } from "../_outcome.ts";
import { pmdOffset } from "../../lib/mm/huge_memory.ts";
import { folioLock, folioUnlock } from "../../lib/mm/filemap.ts";

const P = C.PAGE_SIZE;
const PMD = C.PMD_SIZE;
const NR = C.HPAGE_PMD_NR;
const RW = C.PROT_READ | C.PROT_WRITE;

/** What the last level of the walk of `addr` is: "pmd" (huge), "pte", or "none" (no table). */
function mappedBy(k: Kernel, p: Process, addr: number): "pmd" | "pte" | "none" {
  const last = k.walk(p, addr).levels.at(-1)!;
  if (last.level === "pmd" && last.leaf && last.present) return "pmd";
  if (last.level === "pte") return "pte";
  return "none";
}

/**
 * A 2 MiB memfd mapped shared at a 2 MiB-aligned address, `pages` of its
 * pages written from the start, each with its index as its first byte
 * (the selftest's fill_memory() on a shmem region).
 */
function shmemRegion(pages: number, opts: Parameters<typeof simulate>[0] = {}) {
  const k = simulate(opts);
  const p = k.spawn();
  const fd = p.memfdCreate("khugepaged");
  p.ftruncate(fd, PMD);
  const a = p.mmap(0, PMD, RW, C.MAP_SHARED, fd);
  assert.equal(a % PMD, 0);
  for (let i = 0; i < pages; i++) p.write(a + i * P, i & 0xff || 1);
  return { k, p, fd, a };
}

Deno.test("shmem collapse_full: MADV_COLLAPSE makes one THP of 512 cached pages, mapped by a PMD", () => {
  const { k, p, a } = shmemRegion(NR);
  assert.equal(mappedBy(k, p, a), "pte");
  const tables = p.rss() && k.vmstat.nr_page_table_pages;
  p.madvise(a, PMD, C.MADV_COLLAPSE);
  assert.equal(mappedBy(k, p, a), "pmd");
  const head = p.pagemap(a).pfn!;
  assert.equal(head % NR, 0);
  assert.equal(p.pagemap(a + 300 * P).pfn, head + 300);
  assert.equal(p.pagemap(a + 300 * P).file, true);
  for (const i of [0, 1, 255, 511]) assert.equal(p.read(a + i * P), i & 0xff || 1);
  assert.equal(p.rss().MM_SHMEMPAGES, NR);
  assert.equal(k.vmstat.nr_shmem, NR);
  assert.equal(k.vmstat.thp_collapse_alloc, 1);
  assert.equal(k.vmstat.nr_page_table_pages, tables - 1, "the PTE table was freed");
  k.check();
  p.write(a + 3 * P, 0x77);
  assert.equal(p.read(a + 3 * P), 0x77);
  assert.equal(mappedBy(k, p, a), "pmd");
  p.exit();
  assert.deepEqual(k.dmesg, []);
  k.check();
  assert.equal(k.vmstat.nr_shmem, 0);
});

Deno.test("shmem collapse_empty: an empty page cache range is not collapsed (SCAN_TRUNCATED: EINVAL)", () => {
  const { k, p, a } = shmemRegion(0);
  assert.equal(errnoOf(() => p.madvise(a, PMD, C.MADV_COLLAPSE)), "EINVAL");
  assert.notEqual(mappedBy(k, p, a), "pmd");
  assert.equal(k.vmstat.nr_shmem, 0);
  assert.equal(k.vmstat.thp_collapse_alloc, 1, "collapse_file() allocated, then gave up");
  k.check();
});

Deno.test("shmem collapse_single_pte_entry: MADV_COLLAPSE fills 511 holes whatever max_ptes_none", () => {
  const { k, p, a } = shmemRegion(1, { thp: { max_ptes_none: 0 } });
  p.madvise(a, PMD, C.MADV_COLLAPSE);
  assert.equal(mappedBy(k, p, a), "pmd");
  assert.equal(p.read(a), 1);
  assert.equal(p.read(a + 100 * P), 0);
  assert.equal(k.vmstat.nr_shmem, NR, "the holes are charged to the file (shmem_charge())");
  assert.equal(p.rss().MM_SHMEMPAGES, NR);
  k.check();
});

Deno.test("shmem collapse_max_ptes_none: khugepaged collapses only with at most max_ptes_none holes", async (t) => {
  const thp = { shmem_enabled: "advise" as const, max_ptes_none: NR / 2 };
  await t.step("too many holes: SCAN_EXCEED_NONE_PTE", () => {
    const { k, p, a } = shmemRegion(NR / 2 - 1, { thp });
    p.madvise(a, PMD, C.MADV_HUGEPAGE);
    assert.deepEqual(k.khugepaged().map((e) => e.result), ["SCAN_EXCEED_NONE_PTE"]);
    assert.equal(mappedBy(k, p, a), "pte");
    k.check();
  });
  await t.step("max_ptes_none holes: collapsed; the next fault maps the PMD", () => {
    const { k, p, a } = shmemRegion(NR / 2, { thp });
    p.madvise(a, PMD, C.MADV_HUGEPAGE);
    assert.deepEqual(k.khugepaged().map((e) => e.result), ["SCAN_SUCCEED"]);
    assert.equal(mappedBy(k, p, a), "none", "retract_page_tables() freed the table");
    assert.equal(p.rss().MM_SHMEMPAGES, 0);
    k.check();
    assert.equal(p.read(a + 7 * P), 7);
    assert.equal(p.read(a + 400 * P), 0);
    assert.equal(mappedBy(k, p, a), "pmd");
    assert.equal(p.rss().MM_SHMEMPAGES, NR);
    // The next pass finds the PMD mapped.
    assert.deepEqual(k.khugepaged().map((e) => e.result), ["SCAN_SUCCEED"]);
    k.check();
  });
  await t.step("shmem_enabled=never: khugepaged leaves shmem alone", () => {
    const { k, p, a } = shmemRegion(NR);
    p.madvise(a, PMD, C.MADV_HUGEPAGE);
    assert.deepEqual(k.khugepaged(), []);
    assert.equal(mappedBy(k, p, a), "pte");
  });
});

Deno.test("two processes sharing the file read exactly what they read before the collapse", () => {
  const { k, p, fd, a } = shmemRegion(NR);
  const q = p.fork();
  const b = q.mmap(0, PMD, C.PROT_READ, C.MAP_SHARED, fd); // a second VMA in the child, read-only
  const sample = [0, 1, 2, 100, 255, 256, 300, 511];
  const before = sample.map((i) => [p.read(a + i * P), q.read(a + i * P), q.read(b + i * P)]);
  assert.equal(mappedBy(k, q, a), "pte");
  assert.equal(mappedBy(k, q, b), "pte");
  p.madvise(a, PMD, C.MADV_COLLAPSE);
  k.check();
  // The child's tables went too (retract_page_tables()); its faults map the PMD.
  assert.equal(mappedBy(k, q, a), "none");
  assert.equal(mappedBy(k, q, b), "none");
  assert.equal(q.rss().MM_SHMEMPAGES, 0);
  const after = sample.map((i) => [p.read(a + i * P), q.read(a + i * P), q.read(b + i * P)]);
  assert.deepEqual(after, before);
  assert.equal(mappedBy(k, q, a), "pmd");
  assert.equal(mappedBy(k, q, b), "pmd");
  assert.equal(q.pagemap(b + 5 * P).pfn, p.pagemap(a + 5 * P).pfn);
  assert.equal(q.rss().MM_SHMEMPAGES, 2 * NR);
  q.write(a + 9 * P, 0x55);
  assert.equal(p.read(a + 9 * P), 0x55);
  assert.equal(q.read(b + 9 * P), 0x55);
  k.check();
  q.exit();
  p.exit();
  assert.deepEqual(k.dmesg, []);
  k.check();
});

Deno.test("fork, mprotect, partial munmap of a shmem PMD", () => {
  const { k, p, a } = shmemRegion(NR);
  p.madvise(a, PMD, C.MADV_COLLAPSE);
  const q = p.fork(); // copy_huge_pmd() skips file PMDs: the child refaults
  assert.equal(mappedBy(k, q, a), "none");
  assert.equal(q.read(a + 3 * P), 3);
  assert.equal(mappedBy(k, q, a), "pmd");
  p.mprotect(a, PMD, C.PROT_READ);
  assert.equal(mappedBy(k, p, a), "pmd");
  assert.throws(() => p.write(a, 1), /SIGSEGV/);
  k.check();
  p.munmap(a + PMD - P, P); // __split_huge_pmd() of a file PMD just clears it
  assert.notEqual(mappedBy(k, p, a), "pmd");
  assert.equal(mappedBy(k, q, a), "pmd", "the other process keeps its PMD");
  k.check();
  // A PTE fault on the THP: the model splits the folio first (see
  // lib/mm/huge_memory.ts), so q's PMD goes too; contents stay.
  assert.equal(p.read(a + 4 * P), 4);
  assert.equal(q.read(a + 4 * P), 4);
  assert.equal(mappedBy(k, q, a), "pte");
  q.exit();
  p.exit();
  k.check();
});

Deno.test("a uffd-wp VMA keeps its PTE table (SCAN_PTE_UFFD_WP)", () => {
  const { k, p, fd, a } = shmemRegion(NR);
  const q = p.fork();
  const b = q.mmap(0, PMD, RW, C.MAP_SHARED, fd);
  assert.equal(q.read(b + 5 * P), 5);
  const uffd = q.userfaultfd(C.O_CLOEXEC | C.O_NONBLOCK);
  uffd.api({ api: C.UFFD_API, features: C.UFFD_FEATURE_WP_HUGETLBFS_SHMEM });
  uffd.register({ range: { start: b, len: PMD }, mode: C.UFFDIO_REGISTER_MODE_WP });
  p.madvise(a, PMD, C.MADV_COLLAPSE);
  k.check();
  assert.equal(mappedBy(k, p, a), "pmd");
  assert.equal(mappedBy(k, q, a), "none", "an unregistered VMA of q lost its table");
  assert.equal(mappedBy(k, q, b), "pte", "the uffd-wp VMA kept its (now empty) table");
  assert.equal(q.pagemap(b + 5 * P).present, false);
  // In q itself, MADV_COLLAPSE reaches collapse_pte_mapped_thp(), which
  // refuses to free a uffd-wp table.
  assert.equal(errnoOf(() => q.madvise(b, PMD, C.MADV_COLLAPSE)), "EINVAL");
  assert.equal(mappedBy(k, q, b), "pte");
  assert.equal(q.read(b + 5 * P), 5);
  k.check();
});

Deno.test("a private mapping with an anon_vma keeps its table and its COW copy", () => {
  const { k, p, fd, a } = shmemRegion(NR);
  const q = p.fork();
  const b = q.mmap(0, PMD, RW, C.MAP_PRIVATE, fd);
  assert.equal(q.read(b + 5 * P), 5);
  q.write(b + 6 * P, 0x66); // COW: an anonymous page, and an anon_vma
  p.madvise(a, PMD, C.MADV_COLLAPSE);
  k.check();
  assert.equal(mappedBy(k, p, a), "pmd");
  assert.equal(mappedBy(k, q, b), "pte");
  assert.equal(q.pagemap(b + 6 * P).file, false, "the COW copy is still mapped");
  assert.equal(q.pagemap(b + 5 * P).present, false, "the file's page was unmapped");
  assert.equal(q.rss().MM_ANONPAGES, 1);
  assert.equal(q.read(b + 6 * P), 0x66);
  assert.equal(q.read(b + 5 * P), 5);
  // MADV_COLLAPSE in q: collapse_pte_mapped_thp() finds the COW page: SCAN_FAIL.
  assert.equal(errnoOf(() => q.madvise(b, PMD, C.MADV_COLLAPSE)), "EINVAL");
  assert.equal(q.read(b + 6 * P), 0x66);
  k.check();
});

Deno.test("a private mapping without an anon_vma loses its table like a shared one", () => {
  const { k, p, fd, a } = shmemRegion(NR);
  const b = p.mmap(0, PMD, C.PROT_READ, C.MAP_PRIVATE, fd);
  assert.equal(p.read(b + 8 * P), 8);
  p.madvise(a, PMD, C.MADV_COLLAPSE);
  assert.equal(mappedBy(k, p, b), "none");
  assert.equal(p.read(b + 8 * P), 8);
  assert.equal(mappedBy(k, p, b), "pmd");
  k.check();
});

/**
 * MADV_COLLAPSE of a private shmem mapping that has an anon_vma but no
 * anonymous page in the block: retract_page_tables() skips it, so
 * collapse_pte_mapped_thp() frees its (emptied) table and installs the PMD.
 * Returns the PMD and PTE lock operations collapse_pte_mapped_thp() made.
 */
function collapseWithAnonVma(collapsePteMappedThpPreFix: boolean): string[] {
  const { k, p, fd } = shmemRegion(NR, { variants: { collapsePteMappedThpPreFix } });
  const b = p.mmap(0, PMD, RW, C.MAP_PRIVATE, fd);
  assert.equal(b % PMD, 0);
  for (let i = 0; i < NR; i += 64) assert.equal(p.read(b + i * P), i & 0xff || 1);
  p.write(b + P, 0x42); // an anon_vma, and one COW page ...
  p.madvise(b + P, P, C.MADV_DONTNEED); // ... gone again
  const at = pmdOffset(p.mm, b)!;
  const ops: string[] = [];
  for (
    const [name, lock] of [["pmd", at.pmd.ptl!], ["pte", at.pmd.children![at.i]!.ptl!]] as const
  ) {
    const { lock: take, unlock: drop } = lock;
    lock.lock = (who = "task") => {
      if (who === "collapse_pte_mapped_thp") ops.push(`${name} lock`);
      take.call(lock, who);
    };
    lock.unlock = () => {
      if (lock.holder === "collapse_pte_mapped_thp") ops.push(`${name} unlock`);
      drop.call(lock);
    };
  }
  p.madvise(b, PMD, C.MADV_COLLAPSE);
  assert.equal(mappedBy(k, p, b), "pmd");
  assert.equal(p.read(b + 3 * P), 3);
  assert.equal(p.rss().MM_ANONPAGES, 0);
  k.check();
  return ops;
}

Deno.test("collapse_pte_mapped_thp(): PMD and PTE locks held throughout since a98460494b16, not before", () => {
  // Step 1 checks the PTEs under the PTE lock; then steps 2 (clear) to 4 (free the table).
  assert.deepEqual(collapseWithAnonVma(false), [
    "pte lock",
    "pte unlock",
    "pmd lock",
    "pte lock",
    "pte unlock",
    "pmd unlock",
  ]);
  // Before the fix the PTEs were cleared under the PTE lock alone, which was
  // dropped before pmd_lock(): Jann Horn's window for UFFDIO_COPY.
  assert.deepEqual(collapseWithAnonVma(true), [
    "pte lock",
    "pte unlock",
    "pte lock",
    "pte unlock",
    "pmd lock",
    "pte lock",
    "pte unlock",
    "pmd unlock",
  ]);
});

Deno.test("truncation through a shmem THP unmaps it and frees the truncated pages", () => {
  const { k, p, fd, a } = shmemRegion(NR);
  p.madvise(a, PMD, C.MADV_COLLAPSE);
  p.ftruncate(fd, 100 * P);
  assert.equal(k.vmstat.nr_shmem, 100);
  assert.equal(p.read(a + 99 * P), 99);
  assert.throws(() => p.read(a + 100 * P), /SIGBUS/);
  k.check();
});

Deno.test("UFFDIO_CONTINUE into a MINOR-registered VMA after MADV_COLLAPSE of its alias", () => {
  const k = simulate();
  const p = k.spawn();
  const fd = p.memfdCreate("minor");
  p.ftruncate(fd, PMD);
  const area = p.mmap(0, PMD, RW, C.MAP_SHARED, fd);
  const alias = p.mmap(0, PMD, RW, C.MAP_SHARED, fd);
  const uffd = p.userfaultfd(C.O_CLOEXEC | C.O_NONBLOCK);
  uffd.api({ api: C.UFFD_API, features: C.UFFD_FEATURE_MINOR_SHMEM });
  uffd.register({ range: { start: area, len: PMD }, mode: C.UFFDIO_REGISTER_MODE_MINOR });
  for (let i = 0; i < NR; i++) p.write(alias + i * P, i & 0xff || 1);
  p.madvise(alias, PMD, C.MADV_COLLAPSE);
  assert.equal(mappedBy(k, p, alias), "pmd");
  k.check();
  uffd.continue({ range: { start: area, len: PMD }, mode: 0 });
  k.check();
  for (const i of [0, 7, 511]) assert.equal(p.read(area + i * P), i & 0xff || 1);
  assert.equal(mappedBy(k, p, area), "pte");
  k.check();
});

Deno.test("one page of a PMD-mapped shmem THP reached alone: MADV_HWPOISON as on a small page", () => {
  const { k, p, a } = shmemRegion(NR);
  p.madvise(a, PMD, C.MADV_COLLAPSE);
  assert.throws(() => p.madvise(a + 3 * P, P, C.MADV_HWPOISON), /SIGBUS.*BUS_MCEERR_AR/);
  assert.notEqual(mappedBy(k, p, a), "pmd");
  assert.equal(p.read(a + 4 * P), 4);
  k.check();
});

Deno.test("pagemap of a shmem PMD: file pages, exclusive only while one PMD maps the folio", () => {
  const { k, p, a } = shmemRegion(NR);
  p.madvise(a, PMD, C.MADV_COLLAPSE);
  assert.equal(p.pagemap(a + 9 * P).exclusive, true);
  const q = p.fork();
  q.read(a);
  assert.equal(mappedBy(k, q, a), "pmd");
  for (const who of [p, q]) {
    const e = who.pagemap(a + 9 * P);
    assert.deepEqual([e.present, e.file, e.exclusive], [true, true, false]);
  }
  k.check();
});

Deno.test("MADV_COLLAPSE refuses shmem it may not or cannot map by a PMD (EINVAL)", async (t) => {
  await t.step("a file offset that cannot line up with a PMD: SCAN_ADDRESS_RANGE", () => {
    const k = simulate();
    const p = k.spawn();
    const fd = p.memfdCreate("off");
    p.ftruncate(fd, 2 * PMD);
    const hint = p.mmap(0, 2 * PMD, RW, C.MAP_SHARED, fd);
    p.munmap(hint, 2 * PMD);
    const a = hint + (hint % PMD ? PMD - (hint % PMD) : 0);
    const b = p.mmap(a, PMD, RW, C.MAP_SHARED | C.MAP_FIXED, fd, P);
    for (let i = 0; i < NR; i++) p.write(b + i * P, 1);
    assert.equal(errnoOf(() => p.madvise(b, PMD, C.MADV_COLLAPSE)), "EINVAL");
    assert.equal(k.vmstat.thp_collapse_alloc, 0);
    assert.equal(mappedBy(k, p, b), "pte");
    k.check();
  });
  await t.step("MADV_NOHUGEPAGE", () => {
    const { k, p, a } = shmemRegion(NR);
    p.madvise(a, PMD, C.MADV_NOHUGEPAGE);
    assert.equal(errnoOf(() => p.madvise(a, PMD, C.MADV_COLLAPSE)), "EINVAL");
    assert.equal(mappedBy(k, p, a), "pte");
  });
  await t.step("shmem_enabled=deny", () => {
    const { k, p, a } = shmemRegion(NR, { thp: { shmem_enabled: "deny" } });
    assert.equal(errnoOf(() => p.madvise(a, PMD, C.MADV_COLLAPSE)), "EINVAL");
    assert.equal(k.vmstat.thp_collapse_alloc, 0);
  });
});

Deno.test("a VMA registered for MISSING faults maps the cached THP by a PMD: no fault reaches userfaultfd", () => {
  const { k, p, fd, a } = shmemRegion(NR);
  const b = p.mmap(0, PMD, RW, C.MAP_SHARED, fd);
  const uffd = p.userfaultfd(C.O_CLOEXEC | C.O_NONBLOCK);
  uffd.api({ api: C.UFFD_API, features: 0 });
  uffd.register({ range: { start: b, len: PMD }, mode: C.UFFDIO_REGISTER_MODE_MISSING });
  p.madvise(a, PMD, C.MADV_COLLAPSE);
  assert.equal(p.read(b + 11 * P), 11);
  assert.equal(mappedBy(k, p, b), "pmd");
  k.check();
});

Deno.test("a page locked by someone else stops collapse_file() (SCAN_PAGE_LOCK: EAGAIN)", () => {
  const { k, p, a } = shmemRegion(NR);
  const pfn = p.pagemap(a + 7 * P).pfn!;
  folioLock(k.core, pfn);
  assert.equal(errnoOf(() => p.madvise(a, PMD, C.MADV_COLLAPSE)), "EAGAIN");
  folioUnlock(k.core, pfn);
  assert.equal(mappedBy(k, p, a), "pte");
  k.check();
  p.madvise(a, PMD, C.MADV_COLLAPSE);
  assert.equal(mappedBy(k, p, a), "pmd");
  k.check();
});
