/**
 * Non-cooperative userfaultfd events (fs/userfaultfd.c userfaultfd_remove(),
 * userfaultfd_unmap_prep()/_complete(), dup_userfaultfd_complete(), v6.18):
 * UFFD_EVENT_REMOVE from MADV_DONTNEED, MADV_FREE and MADV_REMOVE,
 * UFFD_EVENT_UNMAP from munmap and mmap(MAP_FIXED), and the EAGAIN every
 * range ioctl returns while an event is unread (ctx->mmap_changing), as
 * uffd-unit-tests' "events" monitors rely on.
 */
import assert from "node:assert/strict";
import { constants as C, Errno, type Process, simulate, type Userfaultfd } from "../../lib/mod.ts";
import { errnoOf } from "../_outcome.ts";

const P = C.PAGE_SIZE;
const RW = C.PROT_READ | C.PROT_WRITE;
const ANON = C.MAP_PRIVATE | C.MAP_ANONYMOUS;
const SHARED = C.MAP_SHARED | C.MAP_ANONYMOUS;
const EVENTS = C.UFFD_FEATURE_EVENT_REMOVE | C.UFFD_FEATURE_EVENT_UNMAP;

function monitor(p: Process, area: number, len: number, features = EVENTS): Userfaultfd {
  const uffd = p.userfaultfd(C.O_CLOEXEC | C.O_NONBLOCK);
  uffd.api({ api: C.UFFD_API, features });
  uffd.register({ range: { start: area, len }, mode: C.UFFDIO_REGISTER_MODE_MISSING });
  return uffd;
}

function populated(p: Process, len: number, flags = ANON): number {
  const a = p.mmap(0, len, RW, flags);
  for (let off = 0; off < len; off += P) p.write(a + off, 0x5a);
  return a;
}

Deno.test("UFFDIO_API reports EVENT_REMOVE and EVENT_UNMAP", () => {
  const p = simulate().spawn();
  const uffd = p.userfaultfd(C.O_CLOEXEC);
  const { features } = uffd.api({ api: C.UFFD_API, features: 0 });
  assert.equal(features & EVENTS, EVENTS);
});

Deno.test("MADV_DONTNEED on a registered range sends UFFD_EVENT_REMOVE, clipped to the VMA", () => {
  const k = simulate();
  const p = k.spawn();
  const a = populated(p, 4 * P);
  const uffd = monitor(p, a + P, 2 * P);
  // The advice spans the registered VMA and its unregistered neighbours.
  p.madvise(a, 4 * P, C.MADV_DONTNEED);
  assert.deepEqual(uffd.read(), {
    event: C.UFFD_EVENT_REMOVE,
    arg: { remove: { start: a + P, end: a + 3 * P } },
  });
  assert.equal(uffd.read(), null);
  k.check();
});

Deno.test("MADV_DONTNEED over two registered VMAs sends one UFFD_EVENT_REMOVE for each", () => {
  const p = simulate().spawn();
  const a = populated(p, 4 * P);
  const uffd = p.userfaultfd(C.O_CLOEXEC | C.O_NONBLOCK);
  uffd.api({ api: C.UFFD_API, features: EVENTS });
  uffd.register({ range: { start: a + P, len: P }, mode: C.UFFDIO_REGISTER_MODE_MISSING });
  uffd.register({ range: { start: a + 3 * P, len: P }, mode: C.UFFDIO_REGISTER_MODE_MISSING });
  p.madvise(a, 4 * P, C.MADV_DONTNEED);
  const ranges = [uffd.read(), uffd.read()].map((m) =>
    m?.event === C.UFFD_EVENT_REMOVE && m.arg.remove
  );
  assert.deepEqual(ranges, [{ start: a + P, end: a + 2 * P }, {
    start: a + 3 * P,
    end: a + 4 * P,
  }]);
  assert.equal(uffd.read(), null);
});

Deno.test("without UFFD_FEATURE_EVENT_REMOVE no event is queued and nothing is refused", () => {
  const p = simulate().spawn();
  const a = populated(p, 2 * P);
  const src = populated(p, P);
  const uffd = monitor(p, a, 2 * P, C.UFFD_FEATURE_EVENT_UNMAP);
  p.madvise(a, 2 * P, C.MADV_DONTNEED);
  assert.equal(uffd.read(), null);
  assert.equal(uffd.copy({ dst: a, src, len: P, mode: 0 }), P);
});

Deno.test("while an event is unread every range ioctl fails with EAGAIN, -EAGAIN in the result", () => {
  const k = simulate();
  const p = k.spawn();
  const a = populated(p, 4 * P);
  const src = populated(p, P);
  const uffd = p.userfaultfd(C.O_CLOEXEC | C.O_NONBLOCK);
  uffd.api({
    api: C.UFFD_API,
    features: EVENTS | C.UFFD_FEATURE_POISON | C.UFFD_FEATURE_MOVE,
  });
  uffd.register({
    range: { start: a, len: 4 * P },
    mode: C.UFFDIO_REGISTER_MODE_MISSING | C.UFFDIO_REGISTER_MODE_WP,
  });
  p.madvise(a, 2 * P, C.MADV_DONTNEED);
  const calls: [string, () => unknown][] = [
    ["copy", () => uffd.copy({ dst: a, src, len: P, mode: 0 })],
    ["zeropage", () => uffd.zeropage({ range: { start: a, len: P } })],
    ["poison", () => uffd.poison({ range: { start: a, len: P } })],
    ["move", () => uffd.move({ dst: a, src, len: P, mode: 0 })],
  ];
  for (const [name, call] of calls) {
    try {
      call();
      assert.fail(`${name} succeeded while the event was unread`);
    } catch (e) {
      assert.ok(e instanceof Errno, name);
      assert.equal(e.errno, "EAGAIN", name);
      assert.equal(e.result, -11, name);
    }
  }
  assert.equal(
    errnoOf(() =>
      uffd.writeprotect({ range: { start: a, len: P }, mode: C.UFFDIO_WRITEPROTECT_MODE_WP })
    ),
    "EAGAIN",
  );
  assert.equal(uffd.read()?.event, C.UFFD_EVENT_REMOVE);
  // Read: the address space is stable again.
  assert.equal(uffd.copy({ dst: a, src, len: P, mode: 0 }), P);
  assert.equal(p.read(a), 0x5a);
  k.check();
});

Deno.test("MADV_FREE sends UFFD_EVENT_REMOVE before it refuses a shared mapping", () => {
  const p = simulate().spawn();
  const a = populated(p, 2 * P, SHARED);
  const uffd = p.userfaultfd(C.O_CLOEXEC | C.O_NONBLOCK);
  uffd.api({ api: C.UFFD_API, features: EVENTS | C.UFFD_FEATURE_MISSING_SHMEM });
  uffd.register({ range: { start: a, len: 2 * P }, mode: C.UFFDIO_REGISTER_MODE_MISSING });
  assert.equal(errnoOf(() => p.madvise(a, 2 * P, C.MADV_FREE)), "EINVAL");
  assert.deepEqual(uffd.read(), {
    event: C.UFFD_EVENT_REMOVE,
    arg: { remove: { start: a, end: a + 2 * P } },
  });
});

Deno.test("MADV_REMOVE on shared memory sends UFFD_EVENT_REMOVE, then punches the hole", () => {
  const k = simulate();
  const p = k.spawn();
  const a = populated(p, 2 * P, SHARED);
  const uffd = p.userfaultfd(C.O_CLOEXEC | C.O_NONBLOCK);
  uffd.api({ api: C.UFFD_API, features: EVENTS | C.UFFD_FEATURE_MISSING_SHMEM });
  uffd.register({ range: { start: a, len: 2 * P }, mode: C.UFFDIO_REGISTER_MODE_MISSING });
  p.madvise(a + P, P, C.MADV_REMOVE);
  assert.deepEqual(uffd.read(), {
    event: C.UFFD_EVENT_REMOVE,
    arg: { remove: { start: a + P, end: a + 2 * P } },
  });
  assert.equal(p.pagemap(a + P).present, false);
  assert.equal(p.read(a), 0x5a);
  k.check();
});

Deno.test("munmap sends one UFFD_EVENT_UNMAP per userfaultfd with the whole range", () => {
  const k = simulate();
  const p = k.spawn();
  const a = populated(p, 6 * P);
  const uffd = p.userfaultfd(C.O_CLOEXEC | C.O_NONBLOCK);
  uffd.api({ api: C.UFFD_API, features: EVENTS });
  // Two registered VMAs of the same userfaultfd (the middle page is not registered).
  uffd.register({ range: { start: a + P, len: P }, mode: C.UFFDIO_REGISTER_MODE_MISSING });
  uffd.register({ range: { start: a + 3 * P, len: P }, mode: C.UFFDIO_REGISTER_MODE_MISSING });
  p.munmap(a, 5 * P + 1);
  assert.deepEqual(uffd.read(), {
    event: C.UFFD_EVENT_UNMAP,
    arg: { remove: { start: a, end: a + 6 * P } },
  });
  assert.equal(uffd.read(), null);
  k.check();
});

Deno.test("munmap of a range with no registered VMA, or without EVENT_UNMAP, sends nothing", () => {
  const p = simulate().spawn();
  const a = populated(p, 4 * P);
  const uffd = monitor(p, a, P);
  p.munmap(a + 2 * P, 2 * P);
  assert.equal(uffd.read(), null);
  const b = populated(p, 2 * P);
  const quiet = monitor(p, b, 2 * P, C.UFFD_FEATURE_EVENT_REMOVE);
  p.munmap(b, 2 * P);
  assert.equal(quiet.read(), null);
});

Deno.test("mmap(MAP_FIXED) over a registered range sends UFFD_EVENT_UNMAP for the new mapping's range", () => {
  const k = simulate();
  const p = k.spawn();
  const a = populated(p, 4 * P);
  const uffd = monitor(p, a, 4 * P);
  p.mmap(a + P, 2 * P, RW, ANON | C.MAP_FIXED);
  assert.deepEqual(uffd.read(), {
    event: C.UFFD_EVENT_UNMAP,
    arg: { remove: { start: a + P, end: a + 3 * P } },
  });
  // The new mapping is not registered: a missing fault is an ordinary one.
  assert.equal(p.read(a + P), 0);
  k.check();
});

Deno.test("an unread UFFD_EVENT_FORK makes the parent's ioctls fail with EAGAIN until read", () => {
  const k = simulate();
  const p = k.spawn();
  const a = populated(p, 2 * P);
  const src = populated(p, P);
  const uffd = monitor(p, a, 2 * P, C.UFFD_FEATURE_EVENT_FORK);
  p.madvise(a, P, C.MADV_DONTNEED);
  const child = p.fork();
  assert.equal(errnoOf(() => uffd.copy({ dst: a, src, len: P, mode: 0 })), "EAGAIN");
  const msg = uffd.read();
  assert.equal(msg?.event, C.UFFD_EVENT_FORK);
  assert.equal(uffd.copy({ dst: a, src, len: P, mode: 0 }), P);
  child.exit();
  k.check();
});

Deno.test("closing the userfaultfd drops unread events", () => {
  const p = simulate().spawn();
  const a = populated(p, 2 * P);
  const uffd = monitor(p, a, 2 * P);
  p.madvise(a, 2 * P, C.MADV_DONTNEED);
  uffd.close();
  assert.equal(errnoOf(() => uffd.read()), "EBADF");
  assert.equal(p.read(a), 0);
});
