/**
 * mremap(2) (mm/mremap.c, v6.18) on the simulated kernel: the errno cases,
 * shrink, grow in place, move, MREMAP_FIXED and MREMAP_DONTUNMAP, what moves
 * with the entries (swap entries, soft-dirty), and the userfaultfd events a
 * monitor gets (REMAP, then UNMAP). Each expectation was checked against
 * Linux 6.18 with the same calls from C.
 */
import assert from "node:assert/strict";
import { constants as C, simulate } from "../../lib/mod.ts";
import { errnoOf, signalOf } from "../_outcome.ts";

const P = C.PAGE_SIZE;
const RW = C.PROT_READ | C.PROT_WRITE;
const ANON = C.MAP_PRIVATE | C.MAP_ANONYMOUS;
const { MREMAP_MAYMOVE: MAYMOVE, MREMAP_FIXED: FIXED, MREMAP_DONTUNMAP: DONTUNMAP } = C;

/** A 4-page private mapping filled with 7, followed by a 2-page read-only one. */
function layout() {
  const k = simulate();
  const p = k.spawn();
  const base = p.mmap(0, 64 * P, C.PROT_NONE, ANON);
  p.munmap(base, 64 * P);
  const a = p.mmap(base, 4 * P, RW, ANON | C.MAP_FIXED);
  for (let i = 0; i < 4; i++) p.write(a + i * P, 7);
  const b = p.mmap(base + 4 * P, 2 * P, C.PROT_READ, ANON | C.MAP_FIXED);
  return { k, p, base, a, b };
}

Deno.test("mremap() errno cases, as Linux 6.18 returns them", () => {
  const { k, p, base, a } = layout();
  const rows: [string, () => unknown, string][] = [
    ["grow into a neighbour without MAYMOVE", () => p.mremap(a, 4 * P, 8 * P), "ENOMEM"],
    ["same size across two VMAs", () => p.mremap(a, 6 * P, 6 * P), "ok"],
    ["grow across two VMAs", () => p.mremap(a, 6 * P, 8 * P, MAYMOVE), "EFAULT"],
    ["FIXED without MAYMOVE", () => p.mremap(a, 4 * P, 4 * P, FIXED, base + 32 * P), "EINVAL"],
    ["unaligned old address", () => p.mremap(a + 1, 4 * P, 4 * P), "EINVAL"],
    ["new size 0", () => p.mremap(a, 4 * P, 0), "EINVAL"],
    [
      "overlapping FIXED target",
      () => p.mremap(a, 4 * P, 4 * P, MAYMOVE | FIXED, a + 2 * P),
      "EINVAL",
    ],
    ["nothing mapped there", () => p.mremap(base + 40 * P, P, 2 * P, MAYMOVE), "EFAULT"],
    [
      "DONTUNMAP with a size change",
      () => p.mremap(a, 4 * P, 2 * P, MAYMOVE | DONTUNMAP, base + 32 * P),
      "EINVAL",
    ],
    ["old size 0 of a private mapping", () => p.mremap(a, 0, P, MAYMOVE), "EINVAL"],
    ["unknown flag", () => p.mremap(a, 4 * P, 4 * P, 8), "EINVAL"],
  ];
  assert.deepEqual(
    rows.map(([what, call]) => [what, errnoOf(call)]),
    rows.map(([what, , want]) => [what, want]),
  );
  k.check();
});

Deno.test("shrink unmaps the tail, even across VMAs; grow in place reads zeroes", () => {
  const { k, p, a, b } = layout();
  assert.equal(p.mremap(a, 6 * P, 2 * P), a);
  assert.equal(signalOf(() => p.read(b)), "SIGSEGV/SEGV_MAPERR");
  assert.equal(p.rss().MM_ANONPAGES, 2);
  assert.equal(p.mremap(a, 2 * P, 3 * P, MAYMOVE), a);
  assert.deepEqual([p.read(a), p.read(a + 2 * P)], [7, 0]);
  k.check();
});

Deno.test("a move takes the pages along: same frames, old range gone, rss unchanged", () => {
  const { k, p, a } = layout();
  const pfns = [0, 1, 2, 3].map((i) => p.pagemap(a + i * P).pfn);
  const to = p.mremap(a, 4 * P, 8 * P, MAYMOVE);
  assert.notEqual(to, a);
  assert.deepEqual([0, 1, 2, 3].map((i) => p.pagemap(to + i * P).pfn), pfns);
  assert.deepEqual([p.read(to + 3 * P), p.read(to + 4 * P)], [7, 0]);
  assert.equal(signalOf(() => p.read(a)), "SIGSEGV/SEGV_MAPERR");
  assert.equal(p.rss().MM_ANONPAGES, 4);
  // The moved pages are still COW-shared correctly after a fork.
  const child = p.fork();
  child.write(to, 1);
  assert.deepEqual([p.read(to), child.read(to)], [7, 1]);
  k.check();
});

Deno.test("MREMAP_DONTUNMAP leaves the old range mapped and empty", () => {
  const { k, p, base, a } = layout();
  const to = p.mremap(a, 2 * P, 2 * P, MAYMOVE | DONTUNMAP, base + 40 * P);
  assert.equal(to, base + 40 * P);
  assert.deepEqual([p.read(to), p.read(a)], [7, 0]);
  k.check();
});

Deno.test("growing shared anonymous memory past its shmem size: SIGBUS in the new part", () => {
  const { k, p, base } = layout();
  const s = p.mmap(base + 16 * P, 2 * P, RW, C.MAP_SHARED | C.MAP_ANONYMOUS | C.MAP_FIXED);
  p.write(s, 1);
  assert.equal(p.mremap(s, 2 * P, 4 * P), s);
  assert.equal(p.read(s), 1);
  assert.equal(signalOf(() => p.read(s + 3 * P)), "SIGBUS/BUS_ADRERR");
  k.check();
});

Deno.test("swap entries move as they are and read back at the new address", () => {
  const { k, p, a } = layout();
  k.swapon(16);
  p.madvise(a, 4 * P, C.MADV_PAGEOUT);
  const to = p.mremap(a, 4 * P, 4 * P, MAYMOVE);
  assert.equal(p.pagemap(to + P).swapped, true);
  assert.equal(p.read(to + P), 7);
  assert.equal(p.rss().MM_SWAPENTS, 3);
  k.check();
});

Deno.test("userfaultfd: UFFD_EVENT_REMAP then UFFD_EVENT_UNMAP; without EVENT_REMAP the new VMA is not registered", () => {
  for (
    const features of [
      C.UFFD_FEATURE_EVENT_REMAP | C.UFFD_FEATURE_EVENT_UNMAP,
      C.UFFD_FEATURE_EVENT_UNMAP,
    ]
  ) {
    const { k, p, base, a } = layout();
    const uffd = p.userfaultfd(C.O_CLOEXEC | C.O_NONBLOCK);
    uffd.api({ api: C.UFFD_API, features });
    uffd.register({ range: { start: a, len: 4 * P }, mode: C.UFFDIO_REGISTER_MODE_MISSING });
    const to = p.mremap(a + P, 2 * P, 2 * P, MAYMOVE | FIXED, base + 32 * P);
    const msgs = [uffd.read(), uffd.read(), uffd.read()];
    const remap = features & C.UFFD_FEATURE_EVENT_REMAP;
    assert.deepEqual(msgs, [
      ...(remap
        ? [{ event: C.UFFD_EVENT_REMAP, arg: { remap: { from: a + P, to, len: 2 * P } } }]
        : []),
      { event: C.UFFD_EVENT_UNMAP, arg: { remove: { start: a + P, end: a + 3 * P } } },
      null,
      ...(remap ? [] : [null]),
    ]);
    p.madvise(to, P, C.MADV_DONTNEED);
    assert.equal(
      errnoOf(() => uffd.zeropage({ range: { start: to, len: P } })),
      remap ? "ok" : "ENOENT",
    );
    k.check();
  }
});

Deno.test("userfaultfd: a shrink sends UFFD_EVENT_UNMAP for the tail only", () => {
  const { p, a } = layout();
  const uffd = p.userfaultfd(C.O_CLOEXEC | C.O_NONBLOCK);
  uffd.api({ api: C.UFFD_API, features: C.UFFD_FEATURE_EVENT_REMAP | C.UFFD_FEATURE_EVENT_UNMAP });
  uffd.register({ range: { start: a, len: 4 * P }, mode: C.UFFDIO_REGISTER_MODE_MISSING });
  p.mremap(a, 4 * P, 2 * P);
  assert.deepEqual(uffd.read(), {
    event: C.UFFD_EVENT_UNMAP,
    arg: { remove: { start: a + 2 * P, end: a + 4 * P } },
  });
  assert.equal(uffd.read(), null);
});

/** The VMAs in [base, base + 40 pages) as [first page, end page, "rwx"]. */
function vmasNear(p: ReturnType<ReturnType<typeof simulate>["spawn"]>, base: number) {
  return p.mm.vmas.filter((v) => v.vm_end > base && v.vm_start < base + 40 * P).map((v) => {
    const perm = (v.vm_flags & 1 ? "r" : "-") + (v.vm_flags & 2 ? "w" : "-") +
      (v.vm_flags & 4 ? "x" : "-");
    return [(v.vm_start - base) / P, (v.vm_end - base) / P, perm];
  });
}

Deno.test("MREMAP_FIXED of the same size moves several VMAs (v6.17+), as this 6.18 kernel does", () => {
  // Each case as a C program ran it on Linux 6.18: the result and the
  // VMAs around afterwards.
  const fresh = () => {
    const k = simulate();
    const p = k.spawn();
    const base = p.mmap(0, 64 * P, C.PROT_NONE, ANON);
    p.munmap(base, 64 * P);
    const at = (page: number, n: number, prot: number) =>
      p.mmap(base + page * P, n * P, prot, ANON | C.MAP_FIXED);
    return { k, p, base, at };
  };
  const R = C.PROT_READ, X = C.PROT_EXEC;
  {
    // A gap in the middle: kept as a gap; what was mapped opposite it stays.
    const { k, p, base, at } = fresh();
    at(0, 2, RW), at(3, 2, R), at(32, 6, X);
    p.write(base, 1), p.write(base + P, 2);
    assert.equal(p.mremap(base, 5 * P, 5 * P, MAYMOVE | FIXED, base + 32 * P), base + 32 * P);
    assert.deepEqual(vmasNear(p, base), [[32, 34, "rw-"], [34, 35, "--x"], [35, 37, "r--"], [
      37,
      38,
      "--x",
    ]]);
    assert.deepEqual([p.read(base + 32 * P), p.read(base + 33 * P)], [1, 2]);
    k.check();
  }
  {
    // A gap at the end is allowed; a gap at the start is EFAULT.
    const { p, base, at } = fresh();
    at(0, 2, RW), at(2, 1, R);
    assert.equal(p.mremap(base, 5 * P, 5 * P, MAYMOVE | FIXED, base + 32 * P), base + 32 * P);
    assert.deepEqual(vmasNear(p, base), [[32, 34, "rw-"], [34, 35, "r--"]]);
    const b = fresh();
    b.at(1, 2, RW), b.at(3, 1, R);
    assert.equal(
      errnoOf(() => b.p.mremap(b.base, 4 * P, 4 * P, MAYMOVE | FIXED, b.base + 32 * P)),
      "EFAULT",
    );
  }
  {
    // DONTUNMAP leaves every source VMA in place; the middle of three VMAs.
    const { p, base, at } = fresh();
    at(0, 2, RW), at(2, 2, R);
    const to = base + 32 * P;
    assert.equal(p.mremap(base, 4 * P, 4 * P, MAYMOVE | FIXED | DONTUNMAP, to), to);
    assert.deepEqual(vmasNear(p, base), [[0, 2, "rw-"], [2, 4, "r--"], [32, 34, "rw-"], [
      34,
      36,
      "r--",
    ]]);
    const c = fresh();
    c.at(0, 2, RW), c.at(2, 2, R), c.at(4, 2, RW);
    c.p.write(c.base, 7), c.p.write(c.base + 4 * P, 9);
    assert.equal(c.p.mremap(c.base + P, 4 * P, 4 * P, MAYMOVE | FIXED, to), to);
    assert.deepEqual(vmasNear(c.p, c.base), [[0, 1, "rw-"], [5, 6, "rw-"], [32, 33, "rw-"], [
      33,
      35,
      "r--",
    ], [35, 36, "rw-"]]);
    assert.deepEqual([c.p.read(to), c.p.read(to + 3 * P)], [0, 9]);
    c.k.check();
  }
  {
    // A VMA armed for userfaultfd moves only as the one VMA of the range.
    const { p, base, at } = fresh();
    at(0, 2, RW), at(2, 2, R);
    const uffd = p.userfaultfd(C.O_CLOEXEC | C.O_NONBLOCK);
    uffd.api({ api: C.UFFD_API });
    uffd.register({ range: { start: base, len: 2 * P }, mode: C.UFFDIO_REGISTER_MODE_MISSING });
    assert.equal(
      errnoOf(() => p.mremap(base, 4 * P, 4 * P, MAYMOVE | FIXED, base + 32 * P)),
      "EFAULT",
    );
    assert.equal(p.mremap(base, 2 * P, 2 * P, MAYMOVE | FIXED, base + 32 * P), base + 32 * P);
    // Armed second: EFAULT, after the first VMA has moved.
    at(48, 2, RW), at(50, 2, R);
    uffd.register({
      range: { start: base + 50 * P, len: 2 * P },
      mode: C.UFFDIO_REGISTER_MODE_MISSING,
    });
    assert.equal(
      errnoOf(() => p.mremap(base + 48 * P, 4 * P, 4 * P, MAYMOVE | FIXED, base + 8 * P)),
      "EFAULT",
    );
    const all = p.mm.vmas.filter((v) => v.vm_end > base && v.vm_start < base + 64 * P)
      .map((v) => [(v.vm_start - base) / P, (v.vm_end - base) / P]);
    assert.deepEqual(all, [[2, 4], [8, 10], [32, 34], [50, 52]]);
  }
});
