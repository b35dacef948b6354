/**
 * Anonymous mTHP on a write fault (alloc_anon_folio() in mm/memory.c,
 * v6.18): the largest enabled order whose aligned block fits the VMA and
 * has only none PTEs; order 0 in a VMA armed for userfaultfd. The last test
 * runs one sequence on the model and on this host's kernel, with
 * hugepages-16kB and hugepages-64kB set to "madvise" for its duration
 * (root only; the knobs are restored afterwards), and compares the pages
 * mapped and the per-size anon_fault_alloc counts.
 */
import assert from "node:assert/strict";
import { constants as C, simulate } from "../../lib/mod.ts";
import type { ThpSettings } from "../../lib/mm/huge_memory.ts";
import { ffiStatus } from "../../lib/live/libc.ts";
import { mthpKnobsUnavailable, withMthpKnobs } from "../../lib/live/thp_knobs.ts";
import { LiveProcess } from "../../lib/live/process.ts";
import { hostModelConfig, hostModelThp } from "../../lib/live/normalize.ts";
import { readMthpStat } from "../../lib/live/vmstat.ts";

const P = C.PAGE_SIZE;
const RW = C.PROT_READ | C.PROT_WRITE;
const ANON = C.MAP_PRIVATE | C.MAP_ANONYMOUS;

function model(thp: Partial<ThpSettings>) {
  const k = simulate({ thp });
  return { k, p: k.spawn() };
}

/** The pages of [a, a + n pages) that are present, as a string of # and . */
function presence(p: { pagemap(addr: number): { present: boolean } }, a: number, n: number) {
  return Array.from({ length: n }, (_, i) => (p.pagemap(a + i * P).present ? "#" : ".")).join("");
}

Deno.test("mTHP: with hugepages-64kB always one write maps the 16 pages of its aligned block", () => {
  const { k, p } = model({ hugepages: { 64: "always" } });
  const a = p.mmap(0, 64 * P, RW, ANON);
  const base = Math.ceil(a / (16 * P)) * 16 * P;
  p.write(base + 5 * P + 9, 7);
  assert.equal(presence(p, base, 32), "#".repeat(16) + ".".repeat(16));
  assert.equal(p.rss().MM_ANONPAGES, 16);
  assert.equal(k.vmstat.pgfault, 1, "one fault");
  assert.equal(k.core.mthpStats.get(64)?.anon_fault_alloc, 1);
  // Consecutive frames, the first aligned to the folio's size; each page exclusive.
  const pfns = Array.from({ length: 16 }, (_, i) => p.pagemap(base + i * P).pfn!);
  assert.equal(pfns[0] % 16, 0);
  assert.deepEqual(pfns, pfns.map((_, i) => pfns[0] + i));
  assert.ok(Array.from({ length: 16 }, (_, i) => p.pagemap(base + i * P).exclusive).every(Boolean));
  assert.deepEqual([p.read(base + 5 * P + 9), p.read(base + 6 * P)], [7, 0]);
  k.check();
});

Deno.test("mTHP: the default (every size below the PMD never) maps one page", () => {
  const { k, p } = model({ enabled: "always" });
  const a = p.mmap(0, 64 * P, RW, ANON);
  p.write(a, 1);
  assert.equal(p.rss().MM_ANONPAGES, 1);
  assert.equal(k.core.mthpStats.size, 0);
});

Deno.test("mTHP: a block with a PTE in it, or past the VMA, falls to a smaller order", () => {
  const { k, p } = model({ hugepages: { 16: "always", 64: "always" } });
  const a = p.mmap(0, 64 * P, RW, ANON);
  const base = Math.ceil(a / (16 * P)) * 16 * P;
  p.write(base + 3 * P, 1); // 64 kB: pages 0-15
  p.madvise(base + 4 * P, 4 * P, C.MADV_DONTNEED); // a hole of 4 pages in the middle
  p.write(base + 5 * P, 2); // 64 kB block not none; 32 kB never; 16 kB: pages 4-7
  assert.equal(presence(p, base, 16), "#".repeat(16));
  assert.deepEqual(
    [...k.core.mthpStats].map(([kb, s]) => [kb, s.anon_fault_alloc]).sort((x, y) => x[0] - y[0]),
    [[16, 1], [64, 1]],
  );
  // A VMA of 3 pages holds no 16 kB block: small pages.
  const small = p.mmap(0, 3 * P, RW, ANON);
  p.write(small, 1);
  assert.equal(presence(p, small, 3), "#..");
  k.check();
});

Deno.test("mTHP: a VMA registered with userfaultfd faults page by page", () => {
  const { p } = model({ hugepages: { 64: "always" } });
  const a = p.mmap(0, 64 * P, RW, ANON);
  const uffd = p.userfaultfd(C.O_CLOEXEC | C.O_NONBLOCK);
  uffd.api({ api: C.UFFD_API, features: C.UFFD_FEATURE_WP_ASYNC });
  uffd.register({ range: { start: a, len: 64 * P }, mode: C.UFFDIO_REGISTER_MODE_WP });
  p.write(a, 1);
  assert.equal(p.rss().MM_ANONPAGES, 1);
});

Deno.test("mTHP: settings are checked as sysfs would", () => {
  assert.throws(() => simulate({ thp: { hugepages: { 8: "always" } } }), /no hugepages-8kB/);
  assert.throws(
    () => simulate({ thp: { hugepages: { 64: "sometimes" as "always" } } }),
    /hugepages-64kB must be one of always, inherit, madvise, never/,
  );
});

/** The sequence of the live comparison, on either facade. */
interface Proc {
  mmap(addr: number, len: number, prot: number, flags: number): number;
  munmap(addr: number, len: number): number;
  madvise(addr: number, len: number, advice: number): number;
  write(addr: number, data: number): void;
  pagemap(addr: number): { present: boolean };
}

/**
 * A 64-page VMA alone in its 2 MiB block (so no PMD THP), MADV_HUGEPAGE:
 * two writes (64 kB each), half of one folio zapped, a write into the hole.
 */
function sequence(p: Proc): string[] {
  const hp = C.PMD_SIZE;
  const raw = p.mmap(0, 2 * hp, RW, ANON);
  const a = Math.ceil(raw / hp) * hp + hp / 2;
  if (a > raw) p.munmap(raw, a - raw);
  p.munmap(a + 64 * P, raw + 2 * hp - (a + 64 * P));
  const seen: string[] = [];
  try {
    p.madvise(a, 64 * P, C.MADV_HUGEPAGE);
    p.write(a + 20 * P, 1); // 64 kB: pages 16-31
    p.write(a + 5 * P, 2); // 64 kB: pages 0-15
    seen.push(presence(p, a, 64));
    p.madvise(a + 16 * P, 8 * P, C.MADV_DONTNEED);
    p.write(a + 17 * P, 3); // the 64 kB block is not none: 16 kB, pages 16-19
    seen.push(presence(p, a, 64));
  } finally {
    p.munmap(a, 64 * P);
  }
  return seen;
}

const EXPECTED = [
  "#".repeat(32) + ".".repeat(32),
  "#".repeat(16) + "####....########" + ".".repeat(32),
];

Deno.test("mTHP: the sequence on the model", () => {
  const { k, p } = model({ hugepages: KNOBS });
  assert.deepEqual(sequence(p), EXPECTED);
  assert.deepEqual(
    [16, 64].map((kb) => k.core.mthpStats.get(kb)?.anon_fault_alloc),
    [1, 2],
  );
  k.check();
});

const KNOBS = { 16: "madvise", 64: "madvise" } as const;

function liveUnavailable(): string | null {
  if (Deno.build.os !== "linux") return `the host OS is ${Deno.build.os}`;
  const ffi = ffiStatus();
  if (!ffi.usable) return ffi.reason;
  return mthpKnobsUnavailable(KNOBS);
}

Deno.test("mTHP: the model agrees with this kernel", async () => {
  const why = liveUnavailable();
  if (why !== null) {
    console.log(`live half not run: ${why}`);
    return;
  }
  const stat = (kb: number) => readMthpStat(kb, "anon_fault_alloc");
  const { kernel, allocs } = await withMthpKnobs(KNOBS, () => {
    const before = [16, 64].map(stat);
    const kernel = sequence(new LiveProcess());
    return { kernel, allocs: [16, 64].map((kb, i) => stat(kb) - before[i]) };
  });
  assert.deepEqual(kernel, EXPECTED);
  // System-wide counters: at least this process's folios (another process
  // could add some meanwhile only by asking for MADV_HUGEPAGE too).
  assert.ok(allocs[0] >= 1 && allocs[1] >= 2, JSON.stringify(allocs));
  const host = hostModelConfig();
  const k = simulate({
    config: "config" in host ? host.config : {},
    thp: { ...hostModelThp(), hugepages: KNOBS },
  });
  assert.deepEqual(sequence(k.spawn()), kernel);
});
