/**
 * UFFDIO_MOVE (after selftests/mm/uffd-unit-tests.c "move", "move-pmd" and
 * "move-pmd-split"): missing faults resolved by moving the source pages
 * instead of copying them, a THP moved whole or split first, and the errno
 * of each case move_pages() refuses.
 */
import assert from "node:assert/strict";
import { constants as C, Errno, type Process, simulate } from "../../lib/mod.ts";
import type { Userfaultfd } from "../../lib/userfaultfd/userfaultfd.ts";
import {
  dmaPin,
  type MoveCase,
  moveCase,
  movedPte,
  moveRace,
  startMigration,
  swapOut,
} from "../../lib/lessons/mod.ts";
import { explore } from "../../lib/race/mod.ts";

const P = C.PAGE_SIZE;
const RW = C.PROT_READ | C.PROT_WRITE;
const ANON = C.MAP_PRIVATE | C.MAP_ANONYMOUS;
const NR_PAGES = 8;

interface Setup {
  p: Process;
  src: number;
  dst: number;
  uffd: Userfaultfd;
}

function setup(): Setup {
  const k = simulate();
  const p = k.spawn();
  const src = p.mmap(0, NR_PAGES * P, RW, ANON);
  for (let i = 0; i < NR_PAGES; i++) p.write(src + i * P, 0x40 + i);
  const dst = p.mmap(src - 64 * P, NR_PAGES * P, RW, ANON | C.MAP_FIXED);
  const uffd = p.userfaultfd(0);
  const { features } = uffd.api({ api: C.UFFD_API, features: C.UFFD_FEATURE_MOVE });
  assert.ok(features & C.UFFD_FEATURE_MOVE);
  uffd.register({ range: { start: dst, len: NR_PAGES * P }, mode: C.UFFDIO_REGISTER_MODE_MISSING });
  return { p, src, dst, uffd };
}

function outcome(fn: () => number): string {
  try {
    return `ok:${fn()}`;
  } catch (e) {
    if (e instanceof Errno) return `${e.errno}:${e.result}`;
    throw e;
  }
}

Deno.test("move: missing faults resolved by UFFDIO_MOVE take the source pages themselves", () => {
  const { p, src, dst, uffd } = setup();
  const pfns = Array.from({ length: NR_PAGES }, (_, i) => p.pagemap(src + i * P).pfn);
  uffd.handler = (msg) => {
    const off = msg.arg.pagefault.address - dst;
    assert.equal(uffd.move({ dst: dst + off, src: src + off, len: P, mode: 0 }), P);
  };
  for (let i = 0; i < NR_PAGES; i++) {
    assert.equal(p.read(dst + i * P), 0x40 + i);
    assert.equal(p.pagemap(dst + i * P).pfn, pfns[i]);
    assert.equal(p.pagemap(src + i * P).present, false);
  }
  assert.equal(p.rss().MM_ANONPAGES, NR_PAGES);
  p.write(dst, 1); // still exclusive and writable
  assert.equal(p.read(src), 0); // the source is a hole now
  p.kernel.check();
});

Deno.test("UFFDIO_MOVE errno cases", async (t) => {
  const rows: [string, (s: Setup) => number, string][] = [
    ["all pages", ({ src, dst, uffd }) => uffd.move({ dst, src, len: NR_PAGES * P }), "ok:32768"],
    [
      "an unknown mode bit",
      ({ src, dst, uffd }) => uffd.move({ dst, src, len: P, mode: 4 }),
      "EINVAL:undefined",
    ],
    [
      "dst not page aligned",
      ({ src, dst, uffd }) => uffd.move({ dst: dst + 1, src, len: P }),
      "EINVAL:undefined",
    ],
    [
      "src not page aligned",
      ({ src, dst, uffd }) => uffd.move({ dst, src: src + 1, len: P }),
      "EINVAL:undefined",
    ],
    [
      "dst in no VMA",
      ({ src, dst, uffd }) => uffd.move({ dst: dst + 32 * P, src, len: P }),
      "ENOENT:-2",
    ],
    [
      "src in no VMA",
      ({ src, dst, uffd }) => uffd.move({ dst, src: src + 32 * P, len: P }),
      "ENOENT:-2",
    ],
    [
      "dst not registered with this uffd",
      ({ src, uffd }) => uffd.move({ dst: src + P, src, len: P }),
      "EINVAL:-22",
    ],
    [
      "src range past its VMA",
      ({ src, dst, uffd }) => uffd.move({ dst, src: src + 7 * P, len: 2 * P }),
      "EINVAL:-22",
    ],
    [
      "the destination is populated",
      ({ src, dst, uffd }) => {
        uffd.move({ dst, src, len: P });
        return uffd.move({ dst, src: src + P, len: P });
      },
      "EEXIST:-17",
    ],
    [
      "a source hole",
      ({ p, src, dst, uffd }) => {
        p.madvise(src, P, C.MADV_DONTNEED);
        return uffd.move({ dst, src, len: 2 * P });
      },
      "ENOENT:-2",
    ],
    [
      "a source hole with ALLOW_SRC_HOLES",
      ({ p, src, dst, uffd }) => {
        p.madvise(src, P, C.MADV_DONTNEED);
        return uffd.move({ dst, src, len: 2 * P, mode: C.UFFDIO_MOVE_MODE_ALLOW_SRC_HOLES });
      },
      "ok:8192",
    ],
    [
      "a page shared with a fork child is EBUSY",
      ({ p, src, dst, uffd }) => {
        p.fork();
        return uffd.move({ dst, src, len: P });
      },
      "EBUSY:-16",
    ],
    [
      "stopping at a shared page after one moved is EAGAIN",
      ({ p, src, dst, uffd }) => {
        const child = p.fork();
        child.exit();
        p.write(src, 1); // reuse: exclusive again
        p.fork();
        p.write(src, 2); // COW: the first page is exclusive again
        return uffd.move({ dst, src, len: 2 * P });
      },
      "EAGAIN:4096",
    ],
    [
      "a shmem source",
      ({ p, dst, uffd }) => {
        const fd = p.memfdCreate("m");
        p.ftruncate(fd, P);
        const s = p.mmap(0, P, RW, C.MAP_PRIVATE, fd);
        p.write(s, 1);
        return uffd.move({ dst, src: s, len: P });
      },
      "EINVAL:-22",
    ],
    [
      "different protections",
      ({ p, dst, uffd }) => {
        const s = p.mmap(0, P, C.PROT_READ, ANON);
        return uffd.move({ dst, src: s, len: P });
      },
      "EINVAL:-22",
    ],
  ];
  for (const [name, call, want] of rows) {
    await t.step(name, () => {
      const s = setup();
      assert.equal(outcome(() => call(s)), want);
      s.p.kernel.check();
    });
  }
});

Deno.test("UFFDIO_MOVE against the kernel's cases: pins, migration, swap, markers, other mm", () => {
  // [case, errno or "ok", uffdio_move.move, move_pages_pte() steps]
  const want: [MoveCase, string, number | null, string][] = [
    ["one page", "ok", P, "present:4096"],
    ["dst populated", "EEXIST", -17, "exists:-17"],
    ["src hole", "EAGAIN", P, "present:4096 hole:-2"],
    ["src hole, ALLOW_SRC_HOLES", "ok", 2 * P, "present:4096 hole:0"],
    ["src shared with a fork child", "EBUSY", -16, "busy:-16"],
    ["src pinned", "EBUSY", -16, "present:-16"],
    ["src under migration", "ok", P, "migration_entry_wait:-11 present:4096"],
    ["src swapped out", "ok", P, "swap:4096"],
    ["src swap entry shared with a fork child", "EBUSY", -16, "busy:-16"],
    ["src poisoned (UFFDIO_POISON marker)", "EFAULT", -14, "fault:-14"],
    ["src is shmem", "EINVAL", -22, ""],
    ["dst not page-aligned", "EINVAL", null, ""],
    ["uffd of a fork child (another mm)", "EINVAL", null, ""],
    ["overlapping ranges", "ok", 2 * P, "present:4096 present:4096"],
  ];
  for (const [which, errno, move, steps] of want) {
    const seen: string[] = [];
    const out = moveCase(which, (e) => seen.push(`${e.what}:${e.ret}`));
    assert.deepEqual([which, out.errno, out.move, seen.join(" ")], [which, errno, move, steps]);
  }
});

Deno.test("a pinned page is not moved, and moves once unpinned", () => {
  const { p, src, dst, uffd } = setup();
  const unpin = dmaPin(p, src);
  assert.equal(outcome(() => uffd.move({ dst, src, len: P })), "EBUSY:-16");
  assert.equal(p.pagemap(src).present, true);
  p.kernel.check();
  unpin();
  assert.equal(uffd.move({ dst, src, len: P }), P);
  assert.equal(p.read(dst), 0x40);
  p.kernel.check();
});

Deno.test("a swap entry moves as it is: same offset, swap soft-dirty, MM_SWAPENTS unchanged", () => {
  const { p, src, dst, uffd } = setup();
  const offset = swapOut(p, src);
  const before = p.rss();
  assert.equal(uffd.move({ dst, src, len: P }), P);
  const e = p.pagemap(dst);
  assert.deepEqual([e.swapped, e.swapType, e.swapOffset, e.softDirty], [true, 0, offset, true]);
  assert.equal(p.pagemap(src).swapped, false);
  assert.deepEqual(p.rss(), before);
  p.kernel.check();
});

Deno.test("a migration entry at the source: migration_entry_wait(), -EAGAIN inside, then the move", () => {
  const { p, src, dst, uffd } = setup();
  const pfn = p.pagemap(src).pfn;
  startMigration(p, src);
  assert.equal(p.pagemap(src).present, false);
  const steps: string[] = [];
  uffd.moveTrace = (e) => steps.push(e.what);
  assert.equal(uffd.move({ dst, src, len: P }), P);
  assert.deepEqual(steps, ["migration_entry_wait", "present"]);
  assert.equal(p.pagemap(dst).pfn, pfn);
  p.kernel.check();
});

Deno.test("the moved PTE is writable, soft-dirty, and dirty only if the source was", () => {
  assert.deepEqual(movedPte({ source: "clean", MEM_SOFT_DIRTY: true }), {
    writable: true,
    dirty: false,
    softDirty: true,
    samePfn: true,
  });
  assert.deepEqual(movedPte({ source: "write", MEM_SOFT_DIRTY: false }), {
    writable: true,
    dirty: true,
    softDirty: false,
    samePfn: true,
  });
});

Deno.test("the race explorer: MOVE's pte_same() re-check against a concurrent COPY or zap", async (t) => {
  for (const other of ["copy-dst", "zap-src"] as const) {
    await t.step(other, () => {
      assert.equal(explore(moveRace({ other })).verdict, "safe");
      const bad = explore(moveRace({ other, recheck: false }));
      assert.equal(bad.verdict, "counterexample");
      assert.match(bad.message, other === "copy-dst" ? /rss counter|refcount/ : /rss counter/);
    });
  }
  await t.step("migrate-src: safe even without the re-check (the folio reference stops it)", () => {
    assert.equal(explore(moveRace({ other: "migrate-src" })).verdict, "safe");
    assert.equal(explore(moveRace({ other: "migrate-src", recheck: false })).verdict, "safe");
  });
});

const HPAGE = C.PMD_SIZE;

/** A 2 MiB-aligned THP source (MADV_HUGEPAGE, written) and a registered destination PMD. */
function pmdSetup(dstAdvice: number) {
  const k = simulate();
  const p = k.spawn();
  const a = p.mmap(0, 8 * HPAGE, RW, ANON);
  const src = Math.ceil(a / HPAGE) * HPAGE, dst = src + 2 * HPAGE;
  p.madvise(src, HPAGE, C.MADV_HUGEPAGE);
  for (let i = 0; i < 512; i += 64) p.write(src + i * P, 1 + i / 64);
  assert.equal(k.core.vmstat.nr_anon_transparent_hugepages, 1);
  p.madvise(dst, HPAGE, dstAdvice);
  const uffd = p.userfaultfd(0);
  uffd.api({ api: C.UFFD_API, features: C.UFFD_FEATURE_MOVE });
  uffd.register({ range: { start: dst, len: HPAGE }, mode: C.UFFDIO_REGISTER_MODE_MISSING });
  const steps: string[] = [];
  uffd.moveTrace = (e) => steps.push(e.what);
  return { k, p, src, dst, uffd, steps, head: p.pagemap(src).pfn };
}

Deno.test("move-pmd: a THP moves whole into an empty, aligned destination PMD", () => {
  const { k, p, src, dst, uffd, steps, head } = pmdSetup(C.MADV_HUGEPAGE);
  assert.equal(uffd.move({ dst, src, len: HPAGE }), HPAGE);
  assert.deepEqual(steps, ["pmd"]);
  assert.equal(k.walk(p, dst).levels.length, 3); // mapped at the PMD level
  assert.equal(p.pagemap(dst).pfn, head);
  assert.equal(p.pagemap(src).present, false);
  assert.deepEqual([k.core.vmstat.nr_anon_transparent_hugepages, k.core.vmstat.thp_split_pmd], [
    1,
    0,
  ]);
  assert.equal(p.read(dst + 128 * P), 3);
  k.check();
});

Deno.test("move-pmd-split: a faulted destination (MADV_NOHUGEPAGE) makes the source THP split", () => {
  const { k, p, src, dst, uffd, steps } = pmdSetup(C.MADV_NOHUGEPAGE);
  uffd.handler = (msg) => {
    const at = msg.arg.pagefault.address - (msg.arg.pagefault.address % HPAGE);
    assert.equal(uffd.move({ dst: at, src: src + (at - dst), len: HPAGE }), HPAGE);
  };
  assert.equal(p.read(dst + 64 * P), 2); // the fault allocated dst's PTE table first
  assert.deepEqual([steps[0], steps.length], ["split_huge_pmd", 513]);
  assert.deepEqual([k.core.vmstat.nr_anon_transparent_hugepages, k.core.vmstat.thp_split_pmd], [
    0,
    1,
  ]);
  for (let i = 0; i < 512; i += 64) assert.equal(p.read(dst + i * P), 1 + i / 64);
  k.check();
});

Deno.test("move-pmd: a range shorter than the THP splits it; a THP shared by fork is EBUSY", () => {
  const short = pmdSetup(C.MADV_HUGEPAGE);
  assert.equal(short.uffd.move({ dst: short.dst, src: short.src, len: P }), P);
  assert.deepEqual(short.steps, ["split_huge_pmd", "present"]);
  short.k.check();
  const shared = pmdSetup(C.MADV_HUGEPAGE);
  shared.p.fork();
  assert.equal(
    outcome(() => shared.uffd.move({ dst: shared.dst, src: shared.src, len: HPAGE })),
    "EBUSY:-16",
  );
  shared.k.check();
});

Deno.test("move-pmd-huge-zeropage: the huge zero folio moves as a read-only special PMD", () => {
  const k = simulate();
  const p = k.spawn();
  const a = p.mmap(0, 8 * HPAGE, RW, ANON);
  const src = Math.ceil(a / HPAGE) * HPAGE, dst = src + 2 * HPAGE;
  p.madvise(src, 3 * HPAGE, C.MADV_HUGEPAGE);
  assert.equal(p.read(src + 5 * P), 0); // a read fault maps the huge zero folio
  const zero = p.pagemap(src).pfn;
  const uffd = p.userfaultfd(0);
  uffd.api({ api: C.UFFD_API, features: C.UFFD_FEATURE_MOVE });
  uffd.register({ range: { start: dst, len: HPAGE }, mode: C.UFFDIO_REGISTER_MODE_MISSING });
  assert.equal(uffd.move({ dst, src, len: HPAGE }), HPAGE);
  assert.deepEqual([p.pagemap(dst).pfn, k.walk(p, dst).levels.length], [zero, 3]);
  assert.deepEqual([p.rss().MM_ANONPAGES, k.core.vmstat.nr_anon_transparent_hugepages], [0, 0]);
  p.write(dst + 5 * P, 3); // do_huge_pmd_wp_page(): a THP of its own
  assert.deepEqual([p.read(dst + 5 * P), p.rss().MM_ANONPAGES], [3, 512]);
  k.check();
});
