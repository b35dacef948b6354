/**
 * Missing-page faults on a userfaultfd (after selftests/mm/uffd-unit-tests.c
 * "missing", "sigbus", "events" setup): the uffd_msg a fault queues, the
 * handler that resolves it with UFFDIO_COPY/ZEROPAGE, and what happens with
 * no handler or with UFFD_FEATURE_SIGBUS.
 */
import assert from "node:assert/strict";
import {
  Blocked,
  constants as C,
  type Process,
  simulate,
  type UffdMsgPagefault,
} from "../../lib/mod.ts";
import { errnoOf, signalOf } from "../_outcome.ts";

const P = C.PAGE_SIZE;
const RW = C.PROT_READ | C.PROT_WRITE;
const ANON = C.MAP_PRIVATE | C.MAP_ANONYMOUS;
const NR_PAGES = 8;

/** Fills each page of `nr` pages at `src` with its page number (as uffd-unit-tests' area_src). */
function sourceArea(p: Process, nr: number): number {
  const src = p.mmap(0, nr * P, RW, ANON);
  for (let i = 0; i < nr; i++) p.write(src + i * P, new Uint8Array([i, i, i, i]));
  return src;
}

Deno.test("missing faults on anonymous memory are resolved by UFFDIO_COPY in the handler", () => {
  const k = simulate();
  const p = k.spawn();
  const src = sourceArea(p, NR_PAGES);
  const dst = p.mmap(0, NR_PAGES * P, RW, ANON);
  const uffd = p.userfaultfd(C.O_CLOEXEC | C.O_NONBLOCK);
  uffd.api({ api: C.UFFD_API, features: 0 });
  uffd.register({ range: { start: dst, len: NR_PAGES * P }, mode: C.UFFDIO_REGISTER_MODE_MISSING });
  const msgs: UffdMsgPagefault[] = [];
  uffd.handler = (msg) => {
    msgs.push(msg);
    const off = msg.arg.pagefault.address - dst;
    uffd.copy({ dst: dst + off, src: src + off, len: P, mode: 0 });
  };
  for (let i = 0; i < NR_PAGES; i++) {
    if (i % 2) p.write(dst + i * P + 1, 0xee);
    assert.equal(p.read(dst + i * P), i);
  }
  assert.equal(msgs.length, NR_PAGES);
  assert.deepEqual(msgs[1], {
    event: C.UFFD_EVENT_PAGEFAULT,
    arg: { pagefault: { flags: C.UFFD_PAGEFAULT_FLAG_WRITE, address: dst + P, feat: { ptid: 0 } } },
  });
  assert.equal(msgs[0].arg.pagefault.flags, 0);
  assert.equal(p.read(dst + P + 1), 0xee);
  assert.equal(uffd.read(), null);
  k.check();
});

Deno.test("with no handler the access throws Blocked and read() returns the message", () => {
  const k = simulate();
  const p = k.spawn();
  const dst = p.mmap(0, 2 * P, RW, ANON);
  const uffd = p.userfaultfd(0);
  uffd.api({ api: C.UFFD_API, features: C.UFFD_FEATURE_EXACT_ADDRESS | C.UFFD_FEATURE_THREAD_ID });
  uffd.register({ range: { start: dst, len: 2 * P }, mode: C.UFFDIO_REGISTER_MODE_MISSING });
  assert.throws(
    () => p.write(dst + P + 0x123, 1),
    (e) => e instanceof Blocked && e.addr === dst + P + 0x123,
  );
  assert.deepEqual(uffd.read(), {
    event: C.UFFD_EVENT_PAGEFAULT,
    arg: {
      pagefault: {
        flags: C.UFFD_PAGEFAULT_FLAG_WRITE,
        address: dst + P + 0x123,
        feat: { ptid: p.pid },
      },
    },
  });
  assert.equal(uffd.read(), null);
  uffd.zeropage({ range: { start: dst + P, len: P } });
  p.write(dst + P + 0x123, 1);
  assert.equal(p.read(dst + P + 0x123), 1);
  k.check();
});

Deno.test("a handler that never resolves the fault ends in Blocked, not a hang", () => {
  const k = simulate();
  const p = k.spawn();
  const dst = p.mmap(0, P, RW, ANON);
  const uffd = p.userfaultfd(0);
  uffd.api({ api: C.UFFD_API, features: 0 });
  uffd.register({ range: { start: dst, len: P }, mode: C.UFFDIO_REGISTER_MODE_MISSING });
  let calls = 0;
  uffd.onFault(() => calls++);
  assert.throws(() => p.read(dst), Blocked);
  assert.ok(calls > 0);
  k.check();
});

Deno.test("UFFD_FEATURE_SIGBUS: a missing fault raises SIGBUS (BUS_ADRERR) instead of waiting", () => {
  const k = simulate();
  const p = k.spawn();
  const dst = p.mmap(0, 2 * P, RW, ANON);
  const uffd = p.userfaultfd(0);
  uffd.api({ api: C.UFFD_API, features: C.UFFD_FEATURE_SIGBUS });
  uffd.register({ range: { start: dst, len: 2 * P }, mode: C.UFFDIO_REGISTER_MODE_MISSING });
  uffd.handler = () => assert.fail("no message with UFFD_FEATURE_SIGBUS");
  assert.equal(signalOf(() => p.read(dst)), "SIGBUS/BUS_ADRERR");
  assert.equal(signalOf(() => p.write(dst + P, 1)), "SIGBUS/BUS_ADRERR");
  assert.deepEqual(k.dmesg, []);
  k.check();
});

Deno.test("missing faults on shmem: a hole in the page cache goes to the handler", () => {
  const k = simulate();
  const p = k.spawn();
  const src = sourceArea(p, NR_PAGES);
  const fd = p.memfdCreate("uffd-shmem");
  p.ftruncate(fd, NR_PAGES * P);
  const dst = p.mmap(0, NR_PAGES * P, RW, C.MAP_SHARED, fd);
  const alias = p.mmap(0, NR_PAGES * P, RW, C.MAP_SHARED, fd);
  const uffd = p.userfaultfd(0);
  uffd.api({ api: C.UFFD_API, features: C.UFFD_FEATURE_MISSING_SHMEM });
  uffd.register({ range: { start: dst, len: NR_PAGES * P }, mode: C.UFFDIO_REGISTER_MODE_MISSING });
  let faults = 0;
  uffd.handler = (msg) => {
    faults++;
    const off = msg.arg.pagefault.address - dst;
    uffd.copy({ dst: dst + off, src: src + off, len: P });
  };
  for (let i = 0; i < NR_PAGES; i++) assert.equal(p.read(dst + i * P), i);
  assert.equal(faults, NR_PAGES);
  // The copies went into the page cache: the unregistered alias sees them.
  for (let i = 0; i < NR_PAGES; i++) assert.equal(p.read(alias + i * P), i);
  assert.equal(faults, NR_PAGES);
  assert.equal(p.rss().MM_SHMEMPAGES, 2 * NR_PAGES);
  k.check();
});

Deno.test("shmem: a page already in the page cache is not a missing fault; COPY onto it is EEXIST", () => {
  const k = simulate();
  const p = k.spawn();
  const src = sourceArea(p, 1);
  const fd = p.memfdCreate("uffd-shmem");
  p.ftruncate(fd, 2 * P);
  const alias = p.mmap(0, 2 * P, RW, C.MAP_SHARED, fd);
  p.write(alias, 9);
  p.write(alias + P, 8);
  const dst = p.mmap(0, 2 * P, RW, C.MAP_SHARED, fd);
  const uffd = p.userfaultfd(0);
  uffd.api({ api: C.UFFD_API, features: 0 });
  uffd.register({ range: { start: dst, len: 2 * P }, mode: C.UFFDIO_REGISTER_MODE_MISSING });
  assert.equal(p.read(dst), 9);
  assert.equal(errnoOf(() => uffd.copy({ dst: dst + P, src, len: P })), "EEXIST");
  assert.equal(p.read(dst + P), 8);
  k.check();
});

Deno.test("a handler that touches the faulting range itself ends in Blocked, not a recursion", () => {
  const k = simulate();
  const p = k.spawn();
  const dst = p.mmap(0, P, RW, ANON);
  const uffd = p.userfaultfd(0);
  uffd.api({ api: C.UFFD_API, features: 0 });
  uffd.register({ range: { start: dst, len: P }, mode: C.UFFDIO_REGISTER_MODE_MISSING });
  uffd.handler = (msg) => void p.read(msg.arg.pagefault.address);
  assert.throws(() => p.read(dst), Blocked);
  // The monitor is free again afterwards.
  uffd.handler = (msg) => uffd.zeropage({ range: { start: msg.arg.pagefault.address, len: P } });
  assert.equal(p.read(dst), 0);
  k.check();
});

Deno.test("DONTWAKE leaves the waiter queued; UFFDIO_WAKE (or a waking copy) takes it off", () => {
  const k = simulate();
  const p = k.spawn();
  const src = sourceArea(p, 2);
  const dst = p.mmap(0, 2 * P, RW, ANON);
  const uffd = p.userfaultfd(C.O_NONBLOCK);
  uffd.api({ api: C.UFFD_API, features: 0 });
  uffd.register({ range: { start: dst, len: 2 * P }, mode: C.UFFDIO_REGISTER_MODE_MISSING });
  assert.throws(() => p.read(dst), Blocked);
  uffd.copy({ dst, src, len: P, mode: C.UFFDIO_COPY_MODE_DONTWAKE });
  assert.equal((uffd.read() as UffdMsgPagefault).arg.pagefault.address, dst);
  assert.throws(() => p.read(dst + P), Blocked);
  uffd.zeropage({ range: { start: dst + P, len: P }, mode: C.UFFDIO_ZEROPAGE_MODE_DONTWAKE });
  uffd.wake({ start: dst + P, len: P });
  assert.equal(uffd.read(), null);
  assert.deepEqual([p.read(dst), p.read(dst + P)], [0, 0]);
  k.check();
});

Deno.test("MADV_POPULATE_READ/WRITE wait for the monitor like an access; UFFD_USER_MODE_ONLY refuses them", () => {
  for (const userModeOnly of [false, true]) {
    const k = simulate();
    const p = k.spawn();
    const src = sourceArea(p, 1);
    const dst = p.mmap(0, 4 * P, RW, ANON);
    const uffd = p.userfaultfd(C.O_CLOEXEC | (userModeOnly ? C.UFFD_USER_MODE_ONLY : 0));
    uffd.api({ api: C.UFFD_API, features: 0 });
    uffd.register({ range: { start: dst, len: 4 * P }, mode: C.UFFDIO_REGISTER_MODE_MISSING });
    let faults = 0;
    uffd.handler = (msg) => {
      faults++;
      uffd.copy({ dst: msg.arg.pagefault.address, src, len: P, mode: 0 });
    };
    const read = errnoOf(() => p.madvise(dst, 2 * P, C.MADV_POPULATE_READ));
    const write = errnoOf(() => p.madvise(dst + 2 * P, 2 * P, C.MADV_POPULATE_WRITE));
    // As on Linux 6.18: the populate faults are delivered and resolved, or
    // (a kernel-mode fault on a user-mode-only userfaultfd) fail with EFAULT.
    assert.deepEqual(
      [read, write, faults],
      userModeOnly ? ["EFAULT", "EFAULT", 0] : ["ok", "ok", 4],
    );
    assert.equal(p.pagemap(dst + 3 * P).present, !userModeOnly);
    k.check();
  }
});

Deno.test("MADV_POPULATE_READ on a registered range with no handler throws Blocked", () => {
  const p = simulate().spawn();
  const dst = p.mmap(0, P, RW, ANON);
  const uffd = p.userfaultfd(C.O_CLOEXEC);
  uffd.api({ api: C.UFFD_API, features: 0 });
  uffd.register({ range: { start: dst, len: P }, mode: C.UFFDIO_REGISTER_MODE_MISSING });
  assert.throws(() => p.madvise(dst, P, C.MADV_POPULATE_READ), Blocked);
  assert.equal(uffd.read()?.event, C.UFFD_EVENT_PAGEFAULT);
});
