import assert from "node:assert/strict";
import { liveTestsEnabled } from "./_testing.ts";
import { decodeUffdMsg, LiveUserfaultfd, UFFD_MSG_SIZE } from "./userfaultfd.ts";
import { liveProcess } from "./process.ts";
import { type ScanProcess, thpCase } from "../lessons/pagemap_scan.ts";
import { serveUserfaults } from "./uffd_server.ts";
import { pageSize } from "./libc.ts";
import { hostModelConfig, hostModelThp } from "./normalize.ts";
import { simulate } from "../kernel/kernel.ts";
import * as C from "../kernel/constants.ts";
import type { PmScanArg } from "../proc/task_mmu.ts";

// The live tests make real system calls on this Deno process: Linux and -A.
const ignore = !liveTestsEnabled();
const RW = C.PROT_READ | C.PROT_WRITE;
const ANON = C.MAP_PRIVATE | C.MAP_ANONYMOUS;
const ALL = C.PM_SCAN_CATEGORIES;

Deno.test("decodeUffdMsg(): a page-fault message, field by field", () => {
  const b = new Uint8Array(UFFD_MSG_SIZE);
  const v = new DataView(b.buffer);
  v.setUint8(0, C.UFFD_EVENT_PAGEFAULT);
  v.setBigUint64(8, BigInt(C.UFFD_PAGEFAULT_FLAG_WRITE), true);
  v.setBigUint64(16, 0x7f0000001000n, true);
  v.setUint32(24, 4242, true);
  assert.deepEqual(decodeUffdMsg(b), {
    event: C.UFFD_EVENT_PAGEFAULT,
    arg: { pagefault: { flags: 1, address: 0x7f0000001000, feat: { ptid: 4242 } } },
  });
  v.setUint8(0, 0x77);
  assert.throws(() => decodeUffdMsg(b), TypeError);
});

/** A WP_ASYNC dirty-tracking sequence; each scan as [page, page, categories] rows. */
function wpAsyncSequence(p: ScanProcess, n: number): unknown[] {
  const ps = C.PAGE_SIZE;
  const m = p.mmap(0, n * ps, RW, ANON);
  const out: unknown[] = [];
  const scan = (more: Partial<PmScanArg> = {}) => {
    const r = p.pagemapScan({
      start: m,
      end: m + n * ps,
      vecLen: n,
      categoryAnyofMask: ALL,
      returnMask: ALL,
      ...more,
    });
    out.push({
      regions: r.regions.map((x) => [(x.start - m) / ps, (x.end - m) / ps, x.categories]),
      walkEnd: (r.walkEnd - m) / ps,
    });
  };
  const uffd = p.userfaultfd(C.O_CLOEXEC | C.O_NONBLOCK);
  try {
    uffd.api({
      api: C.UFFD_API,
      features: C.UFFD_FEATURE_WP_ASYNC | C.UFFD_FEATURE_WP_UNPOPULATED,
    });
    p.write(m, 1);
    uffd.register({ range: { start: m, len: n * ps }, mode: C.UFFDIO_REGISTER_MODE_WP });
    scan();
    uffd.writeprotect({ range: { start: m, len: n * ps }, mode: C.UFFDIO_WRITEPROTECT_MODE_WP });
    scan();
    for (let i = 0; i < n; i += 3) p.write(m + i * ps, 2);
    scan();
    scan({ categoryMask: C.PAGE_IS_WRITTEN, categoryAnyofMask: 0, returnMask: C.PAGE_IS_WRITTEN });
    scan({ categoryMask: C.PAGE_IS_WRITTEN, categoryAnyofMask: 0, maxPages: 2, flags: 1 });
    scan();
    p.madvise(m + ps, 2 * ps, C.MADV_DONTNEED);
    scan({ categoryMask: C.PAGE_IS_WRITTEN, categoryAnyofMask: 0, vecLen: 2 });
    scan({ flags: C.PM_SCAN_WP_MATCHING, vecLen: 0, categoryAnyofMask: 0, returnMask: 0 });
    scan();
  } finally {
    uffd.close();
    p.munmap(m, n * ps);
  }
  return out;
}

function model(): ScanProcess {
  const host = hostModelConfig();
  return simulate({ config: "config" in host ? host.config : {} }).spawn();
}

/** A simulated process on a kernel configured, and with THP knobs set, as this host's. */
function hostModel() {
  const host = hostModelConfig();
  return simulate({ config: "config" in host ? host.config : {}, thp: hostModelThp() }).spawn();
}

Deno.test("PAGEMAP_SCAN with WP_ASYNC: the model agrees with this kernel", { ignore }, () => {
  using p = liveProcess();
  assert.equal(pageSize(), C.PAGE_SIZE);
  assert.deepEqual(wpAsyncSequence(model(), 12), wpAsyncSequence(p, 12));
});

Deno.test("PAGEMAP_SCAN past the bounce buffer: the model's walk_end agrees with this kernel", {
  ignore,
}, () => {
  // 700 one-page regions: the kernel's bounce buffer holds 512, so the walk
  // stops, copies them out and goes on; walk_end keeps the address where
  // the first round stopped.
  const run = (p: ScanProcess) => {
    const ps = C.PAGE_SIZE, n = 1400;
    const m = p.mmap(0, n * ps, RW, ANON);
    try {
      for (let i = 0; i < n; i += 2) p.write(m + i * ps, 1);
      const r = p.pagemapScan({
        start: m,
        end: m + n * ps,
        vecLen: n,
        categoryMask: C.PAGE_IS_PRESENT,
        returnMask: C.PAGE_IS_PRESENT,
      });
      return { n: r.regions.length, walkEnd: (r.walkEnd - m) / ps };
    } finally {
      p.munmap(m, n * ps);
    }
  };
  using live = liveProcess();
  const fromLive = run(live);
  assert.equal(fromLive.n, 700);
  assert.deepEqual(run(model()), fromLive);
});

Deno.test(
  "LiveUserfaultfd: ZEROPAGE, COPY, MOVE and POISON fill a MISSING range",
  { ignore },
  () => {
    using p = liveProcess();
    const ps = pageSize();
    const m = p.mmap(0, 8 * ps, RW, ANON);
    const src = p.mmap(0, 2 * ps, RW, ANON);
    using uffd = LiveUserfaultfd.open(C.O_CLOEXEC | C.O_NONBLOCK);
    try {
      const { features } = uffd.api({
        api: C.UFFD_API,
        features: C.UFFD_FEATURE_MOVE | C.UFFD_FEATURE_POISON,
      });
      assert.ok(features & C.UFFD_FEATURE_MOVE);
      const { ioctls } = uffd.register({
        range: { start: m, len: 8 * ps },
        mode: C.UFFDIO_REGISTER_MODE_MISSING,
      });
      assert.equal(ioctls & (1 << C._UFFDIO_COPY), 1 << C._UFFDIO_COPY);
      p.write(src, 0x5a);
      p.write(src + ps, 0x6b);
      assert.equal(uffd.zeropage({ range: { start: m, len: ps } }), ps);
      assert.equal(uffd.copy({ dst: m + ps, src, len: ps }), ps);
      assert.equal(uffd.move({ dst: m + 2 * ps, src: src + ps, len: ps }), ps);
      assert.equal(uffd.poison({ range: { start: m + 3 * ps, len: ps } }), ps);
      assert.deepEqual([p.read(m), p.read(m + ps), p.read(m + 2 * ps)], [0, 0x5a, 0x6b]);
      assert.equal(p.pagemap(src + ps).present, false, "MOVE took the source page");
      assert.equal(p.pagemap(m + 3 * ps).swapped, true, "a poison marker is a swap PTE");
      assert.throws(() => uffd.copy({ dst: m + ps, src, len: ps }), { errno: "EEXIST" });
      assert.equal(uffd.read(), null, "no fault was taken");
    } finally {
      p.munmap(m, 8 * ps);
      p.munmap(src, 2 * ps);
    }
  },
);

Deno.test("serveUserfaults(): a worker thread resolves this thread's missing faults", {
  ignore,
}, async () => {
  using p = liveProcess();
  const ps = pageSize();
  const m = p.mmap(0, 4 * ps, RW, ANON);
  using uffd = LiveUserfaultfd.open(C.O_CLOEXEC | C.O_NONBLOCK);
  uffd.api({ api: C.UFFD_API });
  uffd.register({ range: { start: m, len: 4 * ps }, mode: C.UFFDIO_REGISTER_MODE_MISSING });
  const server = await serveUserfaults(uffd, { resolve: "copy", fill: 0x41 });
  try {
    assert.equal(p.read(m + 5), 0x41, "the first touch waited for UFFDIO_COPY");
    // The message names the page (no UFFD_FEATURE_EXACT_ADDRESS), read fault: flags 0.
    assert.deepEqual(server.takeMessages(), [{ flags: 0, address: m }]);
    p.write(m + 2 * ps, 7);
    assert.deepEqual([p.read(m + 2 * ps), p.read(m + 2 * ps + 1)], [7, 0x41]);
    assert.deepEqual(server.takeMessages(), [
      { flags: C.UFFD_PAGEFAULT_FLAG_WRITE, address: m + 2 * ps },
    ]);
    assert.deepEqual(server.takeMessages(), []);
  } finally {
    await server.stop();
    p.munmap(m, 4 * ps);
  }
  assert.deepEqual([server.served, server.failed], [2, 0]);
});

/** Scans of a written PMD THP and a huge zero folio, as [page, page, categories] rows. */
function thpScans(p: ScanProcess & { read(addr: number): number }): unknown[] {
  const ps = C.PAGE_SIZE, hp = C.PMD_SIZE;
  const raw = p.mmap(0, 3 * hp, RW, ANON);
  const a = Math.ceil(raw / hp) * hp;
  const out: unknown[] = [];
  const scan = (from: number, to: number, more: Partial<PmScanArg> = {}) => {
    const r = p.pagemapScan({
      start: a + from * ps,
      end: a + to * ps,
      vecLen: 1024,
      categoryAnyofMask: C.PAGE_IS_PRESENT,
      returnMask: C.PAGE_IS_HUGE | C.PAGE_IS_WRITTEN | C.PAGE_IS_PRESENT | C.PAGE_IS_PFNZERO,
      ...more,
    });
    out.push({
      regions: r.regions.map((x) => [(x.start - a) / ps, (x.end - a) / ps, x.categories]),
      walkEnd: (r.walkEnd - a) / ps,
    });
  };
  try {
    p.madvise(a, 2 * hp, C.MADV_HUGEPAGE);
    p.write(a, 1);
    p.read(a + hp);
    scan(0, 1024);
    scan(0, 1024, { maxPages: 10 });
    scan(100, 300);
    scan(0, 1024, { vecLen: 1 });
  } finally {
    p.munmap(raw, 3 * hp);
  }
  return out;
}

Deno.test("PAGEMAP_SCAN of a PMD THP and the huge zero folio: the model agrees with this kernel", {
  ignore,
}, () => {
  using live = liveProcess();
  const model = hostModel();
  const fromLive = thpScans(live);
  const H = C.PAGE_IS_HUGE | C.PAGE_IS_WRITTEN | C.PAGE_IS_PRESENT;
  assert.deepEqual((fromLive[0] as { regions: unknown[] }).regions, [
    [0, 512, H],
    [512, 1024, H | C.PAGE_IS_PFNZERO],
  ]);
  assert.deepEqual(thpScans(model), fromLive);
});

Deno.test(
  "PAGEMAP_SCAN with WP_MATCHING on a written THP: split for max_pages, as this kernel does",
  {
    ignore,
  },
  () => {
    // Lesson 07's experiment (thpCase()): a THP faulted in after
    // UFFDIO_REGISTER (WP_ASYNC) is written and huge; PM_SCAN_WP_MATCHING
    // with max_pages 10 splits it and protects 10 pages.
    using live = liveProcess();
    const cut = thpCase(live, 10);
    assert.ok(typeof cut !== "string", String(cut));
    assert.deepEqual([cut.before, cut.scan, cut.after], [
      [[0, 512, "WRITTEN|PRESENT|HUGE"]],
      [[0, 10, "WRITTEN|PRESENT"]],
      [[0, 10, "PRESENT"], [10, 512, "WRITTEN|PRESENT"]],
    ]);
    assert.deepEqual(thpCase(hostModel(), 10), cut);
    // Without a limit the kernel write-protects the PMD itself
    // (make_uffd_wp_pmd()): the THP stays HUGE, and so does the model's.
    const whole = thpCase(live, 0);
    assert.ok(typeof whole !== "string", String(whole));
    assert.deepEqual([whole.before, whole.scan], [
      [[0, 512, "WRITTEN|PRESENT|HUGE"]],
      [[0, 512, "WRITTEN|PRESENT|HUGE"]],
    ]);
    assert.deepEqual(whole.after, [[0, 512, "PRESENT|HUGE"]]);
    assert.deepEqual(thpCase(hostModel(), 0), whole);
  },
);

/**
 * A whole huge PMD under uffd-wp, step by step: faulted in by a write (a
 * THP) or a read (the huge zero folio), write-protected whole, written
 * (WP_ASYNC only), unprotected, written again. After each step the scan's
 * [first page, end page, categories] rows and the uffd-wp bit of pages 0,
 * 3 and 4.
 */
function hugeWpSteps(
  p: ScanProcess & { pagemap(addr: number): unknown; read(addr: number): number },
  first: "write" | "read",
  async: boolean,
): unknown[] {
  const ps = C.PAGE_SIZE, hp = C.PMD_SIZE;
  const raw = p.mmap(0, 2 * hp, RW, ANON);
  const a = Math.ceil(raw / hp) * hp;
  const out: unknown[] = [];
  const look = () => {
    const r = p.pagemapScan({
      start: a,
      end: a + hp,
      vecLen: 512,
      categoryAnyofMask: C.PAGE_IS_PRESENT,
      returnMask: C.PAGE_IS_HUGE | C.PAGE_IS_WRITTEN | C.PAGE_IS_PRESENT | C.PAGE_IS_PFNZERO,
    });
    const wp = [0, 3, 4].map((k) => (p.pagemap(a + k * ps) as { uffdWp: boolean }).uffdWp);
    out.push([r.regions.map((x) => [(x.start - a) / ps, (x.end - a) / ps, x.categories]), wp]);
  };
  const uffd = p.userfaultfd(C.O_CLOEXEC | C.O_NONBLOCK | C.UFFD_USER_MODE_ONLY);
  try {
    uffd.api({ api: C.UFFD_API, features: async ? C.UFFD_FEATURE_WP_ASYNC : 0 });
    p.madvise(a, hp, C.MADV_HUGEPAGE);
    uffd.register({ range: { start: a, len: hp }, mode: C.UFFDIO_REGISTER_MODE_WP });
    if (first === "write") p.write(a, 1);
    else p.read(a);
    look();
    uffd.writeprotect({ range: { start: a, len: hp }, mode: C.UFFDIO_WRITEPROTECT_MODE_WP });
    look(); // change_huge_pmd(): still one huge PMD, now uffd-wp
    if (async) {
      p.write(a + 3 * ps, 2); // wp_huge_pmd(): WP_ASYNC splits, the written page is resolved
      look();
    }
    uffd.writeprotect({ range: { start: a, len: hp }, mode: 0 });
    look();
    p.write(a + 4 * ps, 2);
    look();
  } finally {
    uffd.close();
    p.munmap(raw, 2 * hp);
  }
  return out;
}

Deno.test("UFFDIO_WRITEPROTECT of a whole THP keeps the PMD, as this kernel does", {
  ignore,
}, () => {
  using live = liveProcess();
  const model = hostModel();
  const kernel = hugeWpSteps(live, "write", true);
  const H = C.PAGE_IS_HUGE | C.PAGE_IS_PRESENT, W = C.PAGE_IS_WRITTEN | C.PAGE_IS_PRESENT;
  assert.deepEqual(kernel, [
    [[[0, 512, H | W]], [false, false, false]],
    [[[0, 512, H]], [true, true, true]],
    [[[0, 3, C.PAGE_IS_PRESENT], [3, 4, W], [4, 512, C.PAGE_IS_PRESENT]], [true, false, true]],
    [[[0, 512, W]], [false, false, false]],
    [[[0, 512, W]], [false, false, false]],
  ]);
  assert.deepEqual(hugeWpSteps(model, "write", true), kernel);
});

Deno.test("the huge zero folio under uffd-wp: the model's steps are this kernel's", {
  ignore,
}, () => {
  using live = liveProcess();
  const Z = C.PAGE_IS_PRESENT | C.PAGE_IS_PFNZERO | C.PAGE_IS_HUGE;
  for (const async of [true, false]) {
    const kernel = hugeWpSteps(live, "read", async);
    // Read-faulted: one huge zero PMD, written (not protected); then protected, still huge.
    assert.deepEqual(kernel.slice(0, 2), [
      [[[0, 512, Z | C.PAGE_IS_WRITTEN]], [false, false, false]],
      [[[0, 512, Z]], [true, true, true]],
    ]);
    assert.deepEqual(hugeWpSteps(hostModel(), "read", async), kernel, `WP_ASYNC ${async}`);
  }
});
