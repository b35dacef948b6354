import assert from "node:assert/strict";
import { liveTestsEnabled } from "./_testing.ts";
import { decodeUffdMsg, LiveUserfaultfd, UFFD_MSG_SIZE } from "./userfaultfd.ts";
import { liveProcess } from "./process.ts";
import { serveUserfaults } from "./uffd_server.ts";
import { pageSize } from "./libc.ts";
import { hostModelConfig } from "./normalize.ts";
import { simulate } from "../kernel/kernel.ts";
import * as C from "../kernel/constants.ts";
import type { PagemapScanResult, PmScanArg } from "../proc/task_mmu.ts";

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

/** What the two facades share for these scenarios. */
interface ScanFacade {
  mmap(addr: number, length: number, prot: number, flags: number): number;
  munmap(addr: number, length: number): number;
  madvise(addr: number, length: number, advice: number): number;
  write(addr: number, data: number): void;
  pagemapScan(arg: PmScanArg): PagemapScanResult;
  userfaultfd(flags?: number): {
    api(a: { api: number; features?: number }): { features: number };
    register(a: { range: { start: number; len: number }; mode: number }): { ioctls: number };
    writeprotect(a: { range: { start: number; len: number }; mode?: number }): 0;
    close(): 0;
  };
}

/** A WP_ASYNC dirty-tracking sequence; each scan as [page, page, categories] rows. */
function wpAsyncSequence(p: ScanFacade, n: number): unknown[] {
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

function model(): ScanFacade {
  const host = hostModelConfig();
  return simulate({ config: "config" in host ? host.config : {} }).spawn();
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
  const run = (p: ScanFacade) => {
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
    p.write(m + 2 * ps, 7);
    assert.deepEqual([p.read(m + 2 * ps), p.read(m + 2 * ps + 1)], [7, 0x41]);
  } finally {
    await server.stop();
    p.munmap(m, 4 * ps);
  }
  assert.deepEqual([server.served, server.failed], [2, 0]);
});
