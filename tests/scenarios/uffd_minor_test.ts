/**
 * Minor faults on shmem (after selftests/mm/uffd-unit-tests.c "minor"):
 * the page cache is populated through a second mapping; accesses through
 * the registered one trap with UFFD_PAGEFAULT_FLAG_MINOR, the handler
 * changes the page through the alias and maps it with UFFDIO_CONTINUE.
 */
import assert from "node:assert/strict";
import { constants as C, simulate, type UffdMsgPagefault } from "../../lib/mod.ts";
import { errnoOf } from "../_outcome.ts";

const P = C.PAGE_SIZE;
const RW = C.PROT_READ | C.PROT_WRITE;
const NR_PAGES = 8;
const MINOR = C.UFFDIO_REGISTER_MODE_MINOR;

function setup(mapFlags: number) {
  const k = simulate();
  const p = k.spawn();
  const fd = p.memfdCreate("uffd-minor");
  p.ftruncate(fd, NR_PAGES * P);
  const dst = p.mmap(0, NR_PAGES * P, RW, mapFlags, fd);
  const alias = p.mmap(0, NR_PAGES * P, RW, C.MAP_SHARED, fd);
  for (let i = 0; i < NR_PAGES; i++) p.write(alias + i * P, i);
  const uffd = p.userfaultfd(0);
  const { features } = uffd.api({ api: C.UFFD_API, features: C.UFFD_FEATURE_MINOR_SHMEM });
  assert.ok(features & C.UFFD_FEATURE_MINOR_SHMEM);
  const { ioctls } = uffd.register({ range: { start: dst, len: NR_PAGES * P }, mode: MINOR });
  assert.ok(ioctls & (1 << C._UFFDIO_CONTINUE));
  return { k, p, dst, alias, uffd };
}

Deno.test("minor faults on shmem: the handler edits the page through an alias, then CONTINUE", () => {
  const { k, p, dst, alias, uffd } = setup(C.MAP_SHARED);
  const msgs: UffdMsgPagefault[] = [];
  uffd.handler = (msg) => {
    msgs.push(msg);
    const off = msg.arg.pagefault.address - dst;
    p.write(alias + off, p.read(alias + off) + 100);
    assert.equal(uffd.continue({ range: { start: dst + off, len: P }, mode: 0 }), P);
  };
  for (let i = 0; i < NR_PAGES; i++) assert.equal(p.read(dst + i * P), i + 100);
  assert.equal(msgs.length, NR_PAGES);
  assert.equal(msgs[0].arg.pagefault.flags, C.UFFD_PAGEFAULT_FLAG_MINOR);
  p.write(dst, 0xaa);
  assert.equal(p.read(alias), 0xaa);
  assert.equal(msgs.length, NR_PAGES);
  k.check();
});

Deno.test("a write minor fault carries UFFD_PAGEFAULT_FLAG_WRITE too", () => {
  const { k, p, dst, uffd } = setup(C.MAP_SHARED);
  let flags = -1;
  uffd.handler = (msg) => {
    flags = msg.arg.pagefault.flags;
    uffd.continue({ range: { start: msg.arg.pagefault.address, len: P } });
  };
  p.write(dst + 3 * P, 1);
  assert.equal(flags, C.UFFD_PAGEFAULT_FLAG_MINOR | C.UFFD_PAGEFAULT_FLAG_WRITE);
  k.check();
});

Deno.test("CONTINUE in a private shmem mapping maps the cache page read-only; a write copies", () => {
  const { k, p, dst, alias, uffd } = setup(C.MAP_PRIVATE);
  uffd.handler = (msg) => uffd.continue({ range: { start: msg.arg.pagefault.address, len: P } });
  assert.equal(p.read(dst + P), 1);
  p.write(dst + P, 0x55);
  assert.equal(p.read(dst + P), 0x55);
  assert.equal(p.read(alias + P), 1);
  k.check();
});

Deno.test("UFFDIO_CONTINUE errno cases", async (t) => {
  const rows: [string, (s: ReturnType<typeof setup>) => number, string][] = [
    ["a cached page", ({ dst, uffd }) => uffd.continue({ range: { start: dst, len: P } }), "ok"],
    [
      "an unknown mode bit",
      ({ dst, uffd }) => uffd.continue({ range: { start: dst, len: P }, mode: 4 }),
      "EINVAL",
    ],
    [
      "start not page aligned",
      ({ dst, uffd }) => uffd.continue({ range: { start: dst + 1, len: P } }),
      "EINVAL",
    ],
    [
      "already mapped",
      ({ dst, uffd }) => {
        uffd.continue({ range: { start: dst, len: P } });
        return uffd.continue({ range: { start: dst, len: P } });
      },
      "EEXIST",
    ],
    [
      "CONTINUE_MODE_WP without WP registration",
      ({ dst, uffd }) =>
        uffd.continue({ range: { start: dst, len: P }, mode: C.UFFDIO_CONTINUE_MODE_WP }),
      "EINVAL",
    ],
    [
      "no page in the page cache",
      ({ p, dst, uffd }) => {
        p.madvise(dst + P, P, C.MADV_REMOVE);
        return uffd.continue({ range: { start: dst + P, len: P } });
      },
      "EFAULT",
    ],
    [
      "an anonymous VMA",
      ({ p, uffd }) => {
        const a = p.mmap(0, P, RW, C.MAP_PRIVATE | C.MAP_ANONYMOUS);
        uffd.register({ range: { start: a, len: P }, mode: C.UFFDIO_REGISTER_MODE_MISSING });
        return uffd.continue({ range: { start: a, len: P } });
      },
      "EINVAL",
    ],
    [
      "not registered",
      ({ alias, uffd }) => uffd.continue({ range: { start: alias, len: P } }),
      "ENOENT",
    ],
  ];
  for (const [name, call, want] of rows) {
    await t.step(name, () => {
      const s = setup(C.MAP_SHARED);
      assert.equal(errnoOf(() => call(s)), want);
      s.k.check();
    });
  }
});
