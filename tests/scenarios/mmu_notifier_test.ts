/**
 * MMU notifiers: each path that changes PTEs sends the event v6.18 sends,
 * over the range it sends it for (mm/memory.c, mm/mprotect.c,
 * mm/madvise.c, mm/mmap.c, mm/userfaultfd.c, mm/rmap.c).
 */
import assert from "node:assert/strict";
import {
  constants as C,
  MMU_NOTIFY_EVENTS,
  MmuIntervalNotifier,
  mmuIntervalNotifierInsert,
  mmuIntervalReadBegin,
  mmuIntervalReadRetry,
  mmuIntervalSetSeq,
  MmuNotifier,
  mmuNotifierRegister,
  mmuNotifierUnregister,
  type Process,
  simulate,
  uffd as U,
} from "../../lib/mod.ts";

const P = C.PAGE_SIZE;
const RW = C.PROT_READ | C.PROT_WRITE;
const ANON = C.MAP_PRIVATE | C.MAP_ANONYMOUS;

interface Seen {
  event: string;
  start: number;
  end: number;
}

/** Registers a notifier on `p` that records every invalidate_range_start(). */
function record(p: Process): { seen: Seen[]; ends: number; released: number } {
  const log = { seen: [] as Seen[], ends: 0, released: 0 };
  const sub = new MmuNotifier({
    invalidateRangeStart(_s, r) {
      log.seen.push({ event: MMU_NOTIFY_EVENTS[r.event], start: r.start, end: r.end });
      return 0;
    },
    invalidateRangeEnd() {
      log.ends++;
    },
    release() {
      log.released++;
    },
  });
  mmuNotifierRegister(sub, p.mm);
  return log;
}

function setup(pages = 4) {
  const k = simulate();
  const p = k.spawn();
  const a = p.mmap(0, pages * P, RW, ANON);
  for (let i = 0; i < pages; i++) p.write(a + i * P, i + 1);
  const log = record(p);
  return { k, p, a, log };
}

Deno.test("munmap() sends one MMU_NOTIFY_UNMAP over the unmapped range", () => {
  const { k, p, a, log } = setup();
  p.munmap(a + P, 2 * P);
  assert.deepEqual(log.seen, [{ event: "MMU_NOTIFY_UNMAP", start: a + P, end: a + 3 * P }]);
  assert.equal(log.ends, 1);
  k.check();
});

Deno.test("MADV_DONTNEED sends MMU_NOTIFY_CLEAR (zap_page_range_single)", () => {
  const { p, a, log } = setup();
  p.madvise(a, 2 * P, C.MADV_DONTNEED);
  assert.deepEqual(log.seen, [{ event: "MMU_NOTIFY_CLEAR", start: a, end: a + 2 * P }]);
});

Deno.test("MADV_FREE sends MMU_NOTIFY_CLEAR", () => {
  const { p, a, log } = setup();
  p.madvise(a, P, C.MADV_FREE);
  assert.deepEqual(log.seen.map((s) => s.event), ["MMU_NOTIFY_CLEAR"]);
});

Deno.test("mprotect() sends MMU_NOTIFY_PROTECTION_VMA from the first populated PMD", () => {
  const { p, a, log } = setup();
  p.mprotect(a, 4 * P, C.PROT_READ);
  assert.deepEqual(log.seen, [{ event: "MMU_NOTIFY_PROTECTION_VMA", start: a, end: a + 4 * P }]);
});

Deno.test("mprotect() of a range without page tables notifies nobody", () => {
  const k = simulate();
  const p = k.spawn();
  const a = p.mmap(0, 4 * P, RW, ANON);
  const log = record(p);
  p.mprotect(a, 4 * P, C.PROT_READ);
  assert.deepEqual(log.seen, []);
});

Deno.test("fork() of a COW mapping sends MMU_NOTIFY_PROTECTION_PAGE over the VMA", () => {
  const { p, a, log } = setup();
  p.fork();
  assert.deepEqual(log.seen, [{ event: "MMU_NOTIFY_PROTECTION_PAGE", start: a, end: a + 4 * P }]);
});

Deno.test("fork() of a shared mapping copies no PTEs and notifies nobody", () => {
  const k = simulate();
  const p = k.spawn();
  const a = p.mmap(0, P, RW, C.MAP_SHARED | C.MAP_ANONYMOUS);
  p.write(a, 1);
  const log = record(p);
  p.fork();
  assert.deepEqual(log.seen, []);
});

Deno.test("a COW write (wp_page_copy) sends MMU_NOTIFY_CLEAR for the page; a reuse sends nothing", () => {
  const { k, p, a, log } = setup();
  const child = p.fork();
  log.seen.length = 0;
  p.write(a + P, 0x42); // shared with the child: copied
  assert.deepEqual(log.seen, [{ event: "MMU_NOTIFY_CLEAR", start: a + P, end: a + 2 * P }]);
  child.exit();
  log.seen.length = 0;
  p.write(a + 2 * P, 0x43); // the child is gone: reused in place
  assert.deepEqual(log.seen, []);
  k.check();
});

Deno.test("UFFDIO_WRITEPROTECT sends MMU_NOTIFY_PROTECTION_VMA; UFFDIO_MOVE sends MMU_NOTIFY_CLEAR", () => {
  const { p, a, log } = setup(2);
  const dst = p.mmap(0, 2 * P, RW, ANON);
  const u = p.userfaultfd(0);
  u.api({ api: U.UFFD_API, features: 0 });
  u.register({ range: { start: a, len: 2 * P }, mode: U.UFFDIO_REGISTER_MODE_WP });
  u.register({ range: { start: dst, len: 2 * P }, mode: U.UFFDIO_REGISTER_MODE_MISSING });
  u.writeprotect({ range: { start: a, len: 2 * P }, mode: U.UFFDIO_WRITEPROTECT_MODE_WP });
  assert.deepEqual(log.seen, [{ event: "MMU_NOTIFY_PROTECTION_VMA", start: a, end: a + 2 * P }]);
  u.writeprotect({ range: { start: a, len: 2 * P }, mode: 0 });
  log.seen.length = 0;
  u.move({ dst, src: a, len: P, mode: 0 });
  assert.deepEqual(log.seen, [{ event: "MMU_NOTIFY_CLEAR", start: a, end: a + P }]);
});

Deno.test("exit: ->release first, then nothing more for the unregistered-by-release notifier", () => {
  const { p, log } = setup();
  p.exit();
  assert.equal(log.released, 1);
  assert.deepEqual(log.seen, []);
});

Deno.test("exit: an interval notifier sees MMU_NOTIFY_RELEASE, then the UNMAP of everything", () => {
  const k = simulate();
  const p = k.spawn();
  const a = p.mmap(0, P, RW, ANON);
  p.write(a, 1);
  const seen: string[] = [];
  const mni = new MmuIntervalNotifier({
    invalidate(m, r, seq) {
      mmuIntervalSetSeq(m, seq);
      seen.push(`${MMU_NOTIFY_EVENTS[r.event]} ${r.start}-${r.end}`);
      return true;
    },
  });
  mmuIntervalNotifierInsert(mni, p.mm, a, P);
  p.exit();
  assert.deepEqual(seen, [`MMU_NOTIFY_RELEASE 0-${2 ** 64}`, `MMU_NOTIFY_UNMAP 0-${2 ** 64}`]);
});

Deno.test("an interval notifier only hears about ranges overlapping it; read_retry() tells", () => {
  const k = simulate();
  const p = k.spawn();
  const a = p.mmap(0, 4 * P, RW, ANON);
  for (let i = 0; i < 4; i++) p.write(a + i * P, 1);
  let calls = 0;
  const mni = new MmuIntervalNotifier({
    invalidate(m, _r, seq) {
      calls++;
      mmuIntervalSetSeq(m, seq);
      return true;
    },
  });
  mmuIntervalNotifierInsert(mni, p.mm, a + 2 * P, P);
  const seq = mmuIntervalReadBegin(mni);
  p.madvise(a, P, C.MADV_DONTNEED);
  assert.equal(calls, 0);
  assert.equal(mmuIntervalReadRetry(mni, seq), false);
  p.madvise(a + 2 * P, P, C.MADV_DONTNEED);
  assert.equal(calls, 1);
  assert.equal(mmuIntervalReadRetry(mni, seq), true);
});

Deno.test("memfd truncation sends MMU_NOTIFY_CLEAR (unmap_mapping_range)", () => {
  const k = simulate();
  const p = k.spawn();
  const fd = p.memfdCreate("t");
  p.ftruncate(fd, 2 * P);
  const a = p.mmap(0, 2 * P, RW, C.MAP_SHARED, fd, 0);
  p.write(a + P, 1);
  const log = record(p);
  p.ftruncate(fd, P);
  assert.deepEqual(log.seen.map((s) => s.event), ["MMU_NOTIFY_CLEAR"]);
  k.check();
});

Deno.test("MADV_HWPOISON unmaps through try_to_unmap(): MMU_NOTIFY_CLEAR for the page", () => {
  const { p, a, log } = setup(1);
  try {
    p.madvise(a, P, C.MADV_HWPOISON);
  } catch { /* the access that follows is what would kill */ }
  assert.deepEqual(log.seen, [{ event: "MMU_NOTIFY_CLEAR", start: a, end: a + P }]);
});

Deno.test("mmu_notifier_unregister() calls ->release once", () => {
  const k = simulate();
  const p = k.spawn();
  let released = 0;
  const sub = new MmuNotifier({ release: () => void released++ });
  mmuNotifierRegister(sub, p.mm);
  mmuNotifierUnregister(sub, p.mm);
  p.exit();
  assert.equal(released, 1);
});

Deno.test("PAGEMAP_SCAN with PM_SCAN_WP_MATCHING sends MMU_NOTIFY_PROTECTION_VMA over the walk", () => {
  const k = simulate();
  const p = k.spawn();
  const a = p.mmap(0, 2 * P, RW, ANON);
  const u = p.userfaultfd(0);
  u.api({ api: U.UFFD_API, features: C.UFFD_FEATURE_WP_ASYNC });
  u.register({ range: { start: a, len: 2 * P }, mode: U.UFFDIO_REGISTER_MODE_WP });
  p.write(a, 1);
  const log = record(p);
  const scan = { start: a, end: a + 2 * P, categoryMask: C.PAGE_IS_WRITTEN, returnMask: 0 };
  p.pagemapScan({ ...scan, returnMask: C.PAGE_IS_WRITTEN });
  assert.equal(log.seen.length, 0); // a read-only scan changes nothing
  p.pagemapScan({ ...scan, vecLen: 0, flags: C.PM_SCAN_WP_MATCHING | C.PM_SCAN_CHECK_WPASYNC });
  const first = log.seen[0];
  assert.deepEqual(first, { event: "MMU_NOTIFY_PROTECTION_VMA", start: a, end: a + 2 * P });
  k.check();
});
