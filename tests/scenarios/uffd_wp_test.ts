/**
 * userfaultfd write-protect (after selftests/mm/uffd-unit-tests.c "wp-fork",
 * "wp-fork-with-event", "wp-unpopulated", "wp-async"): UFFDIO_WRITEPROTECT,
 * the WP fault message, UFFDIO_COPY_MODE_WP, the uffd-wp bit across fork,
 * markers on none PTEs, and WP_ASYNC.
 */
import assert from "node:assert/strict";
import {
  Blocked,
  constants as C,
  type Process,
  simulate,
  type UffdMsgPagefault,
} from "../../lib/mod.ts";
import type { Userfaultfd } from "../../lib/userfaultfd/userfaultfd.ts";

const P = C.PAGE_SIZE;
const RW = C.PROT_READ | C.PROT_WRITE;
const ANON = C.MAP_PRIVATE | C.MAP_ANONYMOUS;
const WP = C.UFFDIO_REGISTER_MODE_WP;
const MISSING = C.UFFDIO_REGISTER_MODE_MISSING;

function setup(
  features: number,
  mode: number,
  nr = 4,
): { p: Process; a: number; uffd: Userfaultfd } {
  const k = simulate();
  const p = k.spawn();
  const a = p.mmap(0, nr * P, RW, ANON);
  const uffd = p.userfaultfd(C.O_CLOEXEC | C.O_NONBLOCK);
  uffd.api({ api: C.UFFD_API, features });
  uffd.register({ range: { start: a, len: nr * P }, mode });
  return { p, a, uffd };
}

const wpOn = (uffd: Userfaultfd, start: number, len: number) =>
  uffd.writeprotect({ range: { start, len }, mode: C.UFFDIO_WRITEPROTECT_MODE_WP });
const wpOff = (uffd: Userfaultfd, start: number, len: number) =>
  uffd.writeprotect({ range: { start, len }, mode: 0 });

Deno.test("a write to a write-protected page sends a WP message; clearing WP lets it through", () => {
  const { p, a, uffd } = setup(C.UFFD_FEATURE_PAGEFAULT_FLAG_WP, MISSING | WP);
  uffd.handler = (msg) => uffd.zeropage({ range: { start: msg.arg.pagefault.address, len: P } });
  p.write(a, 1); // missing, then WP-free write: zero page, then COW
  assert.equal(p.read(a), 1);
  wpOn(uffd, a, P);
  assert.deepEqual([p.pagemap(a).present, p.pagemap(a).uffdWp], [true, true]);
  assert.equal(p.read(a), 1); // reads are not trapped
  const msgs: UffdMsgPagefault[] = [];
  uffd.handler = (msg) => {
    msgs.push(msg);
    wpOff(uffd, msg.arg.pagefault.address, P);
  };
  p.write(a, 2);
  assert.equal(p.read(a), 2);
  assert.equal(msgs.length, 1);
  assert.equal(msgs[0].arg.pagefault.flags, C.UFFD_PAGEFAULT_FLAG_WRITE | C.UFFD_PAGEFAULT_FLAG_WP);
  assert.equal(msgs[0].arg.pagefault.address, a);
  assert.equal(p.pagemap(a).uffdWp, false);
  p.kernel.check();
});

Deno.test("with no handler a WP fault throws Blocked and queues the WP message", () => {
  const { p, a, uffd } = setup(0, WP);
  p.write(a, 1);
  wpOn(uffd, a, P);
  assert.throws(() => p.write(a + 5, 3), Blocked);
  const msg = uffd.read() as UffdMsgPagefault;
  assert.equal(msg.arg.pagefault.flags, C.UFFD_PAGEFAULT_FLAG_WRITE | C.UFFD_PAGEFAULT_FLAG_WP);
  wpOff(uffd, a, P);
  p.write(a + 5, 3);
  assert.equal(p.read(a + 5), 3);
  p.kernel.check();
});

Deno.test("UFFDIO_COPY_MODE_WP installs the page write-protected", () => {
  const { p, a, uffd } = setup(0, MISSING | WP);
  const src = p.mmap(0, P, RW, ANON);
  p.write(src, 0x77);
  uffd.copy({ dst: a, src, len: P, mode: C.UFFDIO_COPY_MODE_WP });
  assert.deepEqual([p.pagemap(a).present, p.pagemap(a).uffdWp], [true, true]);
  assert.equal(p.read(a), 0x77);
  assert.throws(() => p.write(a, 1), Blocked);
  p.kernel.check();
});

/** selftests' pagemap_test_fork(): the child's view of the uffd-wp bit. */
function wpFork(withEvent: boolean) {
  const { p, a, uffd } = setup(withEvent ? C.UFFD_FEATURE_EVENT_FORK : 0, WP, 1);
  p.write(a, 1);
  wpOn(uffd, a, P);
  assert.equal(p.pagemap(a).uffdWp, true);
  const child = p.fork();
  const childWp = child.pagemap(a).uffdWp;
  const event = uffd.read();
  p.kernel.check();
  return { p, a, child, childWp, event };
}

Deno.test("wp-fork: without UFFD_FEATURE_EVENT_FORK the child loses the uffd-wp bit", () => {
  const { p, a, child, childWp, event } = wpFork(false);
  assert.equal(childWp, false);
  assert.equal(event, null);
  assert.equal(p.pagemap(a).uffdWp, true);
  // The child's VMA is not registered: its write just copies on write.
  child.write(a, 9);
  assert.equal(child.read(a), 9);
  assert.equal(p.read(a), 1);
  p.kernel.check();
});

Deno.test("wp-fork-with-event: the child keeps the uffd-wp bit and the parent reads a fork event", () => {
  const { a, child, childWp, event } = wpFork(true);
  assert.equal(childWp, true);
  assert.ok(event && event.event === C.UFFD_EVENT_FORK);
  if (event?.event !== C.UFFD_EVENT_FORK) return;
  const childUffd = event.arg.fork.ufd;
  const msgs: UffdMsgPagefault[] = [];
  childUffd.handler = (msg) => {
    msgs.push(msg);
    wpOff(childUffd, a, P);
  };
  child.write(a, 5);
  assert.equal(msgs.length, 1);
  assert.equal(child.read(a), 5);
  child.kernel.check();
});

Deno.test("wp-unpopulated: WP on none PTEs installs markers; a read maps the zero page still protected", () => {
  const { p, a, uffd } = setup(C.UFFD_FEATURE_WP_UNPOPULATED, WP);
  wpOn(uffd, a, 4 * P);
  let pm = p.pagemap(a + P);
  assert.deepEqual([pm.present, pm.uffdWp], [false, true]);
  wpOff(uffd, a, 4 * P);
  assert.equal(p.pagemap(a + P).uffdWp, false);
  wpOn(uffd, a, 4 * P);
  assert.equal(p.read(a + P), 0);
  pm = p.pagemap(a + P);
  assert.deepEqual([pm.present, pm.uffdWp], [true, true]);
  // A write to a marker maps a page that is still protected, so it traps.
  const msgs: UffdMsgPagefault[] = [];
  uffd.handler = (msg) => {
    msgs.push(msg);
    wpOff(uffd, msg.arg.pagefault.address, P);
  };
  p.write(a + 2 * P, 7);
  p.write(a + P, 8);
  assert.deepEqual(msgs.map((m) => m.arg.pagefault.address), [a + 2 * P, a + P]);
  assert.deepEqual([p.read(a + 2 * P), p.read(a + P)], [7, 8]);
  p.kernel.check();
});

Deno.test("without WP_UNPOPULATED, WP skips none PTEs of anonymous memory", () => {
  const { p, a, uffd } = setup(0, WP);
  wpOn(uffd, a, 4 * P);
  assert.equal(p.pagemap(a).uffdWp, false);
  p.write(a, 1); // no trap: nothing was protected
  assert.equal(p.read(a), 1);
  p.kernel.check();
});

Deno.test("wp-async: a write to a protected page resolves itself, with no message", () => {
  const { p, a, uffd } = setup(C.UFFD_FEATURE_WP_ASYNC, WP);
  uffd.handler = () => assert.fail("WP_ASYNC sends no message");
  p.write(a, 1);
  wpOn(uffd, a, 4 * P);
  assert.deepEqual([p.pagemap(a).uffdWp, p.pagemap(a + P).uffdWp], [true, true]);
  p.write(a, 2);
  p.write(a + P, 3);
  assert.deepEqual([p.pagemap(a).uffdWp, p.pagemap(a + P).uffdWp], [false, false]);
  assert.equal(p.pagemap(a + 2 * P).uffdWp, true);
  assert.deepEqual([p.read(a), p.read(a + P)], [2, 3]);
  assert.equal(uffd.read(), null);
  p.kernel.check();
});

Deno.test("uffd-wp on shmem: markers on holes, traps on writes through a shared mapping", () => {
  const k = simulate();
  const p = k.spawn();
  const fd = p.memfdCreate("uffd-wp");
  p.ftruncate(fd, 2 * P);
  const a = p.mmap(0, 2 * P, RW, C.MAP_SHARED, fd);
  p.write(a, 1);
  const uffd = p.userfaultfd(0);
  uffd.api({ api: C.UFFD_API, features: C.UFFD_FEATURE_WP_HUGETLBFS_SHMEM });
  uffd.register({ range: { start: a, len: 2 * P }, mode: WP });
  wpOn(uffd, a, 2 * P);
  assert.deepEqual([p.pagemap(a).uffdWp, p.pagemap(a + P).uffdWp], [true, true]);
  const msgs: number[] = [];
  uffd.handler = (msg) => {
    msgs.push(msg.arg.pagefault.address);
    wpOff(uffd, msg.arg.pagefault.address, P);
  };
  p.write(a, 2);
  p.write(a + P, 3);
  assert.deepEqual(msgs, [a, a + P]);
  assert.deepEqual([p.read(a), p.read(a + P)], [2, 3]);
  k.check();
});

Deno.test("MADV_DONTNEED on protected shmem leaves a uffd-wp marker; the protection survives", () => {
  const k = simulate();
  const p = k.spawn();
  const fd = p.memfdCreate("uffd-wp-zap");
  p.ftruncate(fd, P);
  const a = p.mmap(0, P, RW, C.MAP_SHARED, fd);
  p.write(a, 4);
  const uffd = p.userfaultfd(0);
  uffd.api({ api: C.UFFD_API, features: 0 });
  uffd.register({ range: { start: a, len: P }, mode: WP });
  wpOn(uffd, a, P);
  p.madvise(a, P, C.MADV_DONTNEED);
  assert.deepEqual([p.pagemap(a).present, p.pagemap(a).uffdWp], [false, true]);
  assert.equal(p.read(a), 4);
  assert.deepEqual([p.pagemap(a).present, p.pagemap(a).uffdWp], [true, true]);
  assert.throws(() => p.write(a, 5), Blocked);
  k.check();
});

Deno.test("mprotect() of a shared uffd-wp VMA keeps writes trapping", () => {
  const k = simulate();
  const p = k.spawn();
  const fd = p.memfdCreate("uffd-wp-mprotect");
  p.ftruncate(fd, 2 * P);
  const a = p.mmap(0, 2 * P, C.PROT_READ, C.MAP_SHARED, fd);
  const uffd = p.userfaultfd(0);
  uffd.api({ api: C.UFFD_API, features: 0 });
  uffd.register({ range: { start: a, len: 2 * P }, mode: WP });
  p.mprotect(a, 2 * P, RW);
  wpOn(uffd, a, 2 * P);
  assert.equal(p.read(a + P), 0);
  assert.throws(() => p.write(a + P, 1), Blocked);
  k.check();
});

Deno.test("wp-unpopulated, the selftest's sequence: marker, unprotect, zap, fault, zero page", () => {
  const { p, a, uffd } = setup(C.UFFD_FEATURE_WP_UNPOPULATED, WP, 1);
  const wp = () => p.pagemap(a).uffdWp;
  wpOn(uffd, a, P);
  assert.equal(wp(), true); // a marker on an unpopulated anon PTE
  wpOff(uffd, a, P);
  assert.equal(wp(), false); // unprotect drops the marker
  wpOn(uffd, a, P);
  p.madvise(a, P, C.MADV_DONTNEED);
  assert.equal(wp(), false); // zap drops an anon marker
  p.write(a, 1);
  assert.equal(wp(), false); // faulted in after the marker went: no trap
  p.madvise(a, P, C.MADV_DONTNEED);
  wpOn(uffd, a, P);
  assert.equal(p.read(a), 0); // read-zero-page upon a marker
  assert.deepEqual([p.pagemap(a).present, wp()], [true, true]);
  p.kernel.check();
});

Deno.test("wp on a THP: the huge PMD carries uffd-wp, traps a write, and is made writable again whole", () => {
  const k = simulate({ thp: { enabled: "always" } });
  const p = k.spawn();
  const H = C.PMD_SIZE;
  const raw = p.mmap(0, 2 * H, RW, ANON);
  const a = Math.ceil(raw / H) * H;
  const uffd = p.userfaultfd(C.O_CLOEXEC | C.O_NONBLOCK);
  uffd.api({ api: C.UFFD_API });
  uffd.register({ range: { start: a, len: H }, mode: WP });
  p.write(a, 1);
  const splits = () => k.vmstat.thp_split_pmd;
  const huge = () =>
    p.pagemapScan({
      start: a,
      end: a + H,
      categoryAnyofMask: C.PAGE_IS_PRESENT,
      returnMask: C.PAGE_IS_HUGE,
      vecLen: 4,
    }).regions.map((r) => [(r.start - a) / P, (r.end - a) / P, r.categories]);
  assert.deepEqual(huge(), [[0, 512, C.PAGE_IS_HUGE]]);
  // change_huge_pmd() with MM_CP_UFFD_WP: the PMD stays huge, read-only, uffd-wp.
  wpOn(uffd, a, H);
  assert.deepEqual(huge(), [[0, 512, C.PAGE_IS_HUGE]]);
  assert.equal(p.pagemap(a + 7 * P).uffdWp, true);
  assert.equal(splits(), 0);
  // wp_huge_pmd(): userfaultfd_huge_pmd_wp() sends the fault to the monitor
  // (the page's address, not the PMD's); resolving the whole PMD
  // (MM_CP_UFFD_WP_RESOLVE | MM_CP_TRY_CHANGE_WRITABLE) makes it writable
  // again, so the retried write needs no split.
  const msgs: UffdMsgPagefault[] = [];
  uffd.handler = (msg) => {
    msgs.push(msg);
    wpOff(uffd, a, H);
  };
  p.write(a + 5 * P + 9, 2);
  assert.deepEqual(
    msgs.map((m) => [m.arg.pagefault.flags, m.arg.pagefault.address]),
    [[C.UFFD_PAGEFAULT_FLAG_WRITE | C.UFFD_PAGEFAULT_FLAG_WP, a + 5 * P]],
  );
  assert.deepEqual(huge(), [[0, 512, C.PAGE_IS_HUGE]]);
  assert.equal(p.pagemap(a + 7 * P).uffdWp, false);
  assert.equal(splits(), 0);
  // Protecting part of it splits the PMD first (change_pmd_range()).
  wpOn(uffd, a, 2 * P);
  assert.deepEqual(huge(), [[0, 512, 0]]);
  assert.deepEqual([0, 1, 2].map((i) => p.pagemap(a + i * P).uffdWp), [true, true, false]);
  assert.equal(splits(), 1);
  k.check();
});
