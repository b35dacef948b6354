import assert from "node:assert/strict";
import { errnoOf } from "../../tests/_outcome.ts";
import { VM_MAYWRITE } from "../mm/mm_types.ts";
import { constants as C, type Process, simulate } from "../mod.ts";
import type { Userfaultfd } from "./userfaultfd.ts";

const P = C.PAGE_SIZE;
const RW = C.PROT_READ | C.PROT_WRITE;
const ANON = C.MAP_PRIVATE | C.MAP_ANONYMOUS;
const MISSING = C.UFFDIO_REGISTER_MODE_MISSING;

/** A process with a 4-page anonymous mapping and a userfaultfd past UFFDIO_API. */
function setup(features = 0): { p: Process; a: number; uffd: Userfaultfd } {
  const p = simulate().spawn();
  const a = p.mmap(0, 4 * P, RW, ANON);
  const uffd = p.userfaultfd(C.O_CLOEXEC | C.O_NONBLOCK);
  uffd.api({ api: C.UFFD_API, features });
  return { p, a, uffd };
}

Deno.test("userfaultfd() errno cases", async (t) => {
  const rows: [string, number, boolean, string][] = [
    ["no flags, privileged", 0, true, "ok"],
    ["O_CLOEXEC|O_NONBLOCK|UFFD_USER_MODE_ONLY", C.O_CLOEXEC | C.O_NONBLOCK | 1, true, "ok"],
    ["an unknown flag bit", 0x10, true, "EINVAL"],
    ["O_RDWR is not a userfaultfd flag", C.O_RDWR, true, "EINVAL"],
    ["unprivileged without UFFD_USER_MODE_ONLY", 0, false, "EPERM"],
    ["unprivileged with UFFD_USER_MODE_ONLY", C.UFFD_USER_MODE_ONLY, false, "ok"],
  ];
  for (const [name, flags, cap, want] of rows) {
    await t.step(name, () => {
      const p = simulate().spawn({ capSysAdmin: cap });
      assert.equal(errnoOf(() => p.userfaultfd(flags)), want);
    });
  }
});

Deno.test("UFFDIO_API errno cases", async (t) => {
  const rows: [string, (u: Userfaultfd) => unknown, string][] = [
    ["api is not UFFD_API", (u) => u.api({ api: 0xab, features: 0 }), "EINVAL"],
    ["an unknown feature bit", (u) => u.api({ api: C.UFFD_API, features: 1 << 20 }), "EINVAL"],
    [
      "a feature the model does not implement (MISSING_HUGETLBFS: no hugetlb)",
      (u) => u.api({ api: C.UFFD_API, features: C.UFFD_FEATURE_MISSING_HUGETLBFS }),
      "EINVAL",
    ],
    [
      "a second UFFDIO_API",
      (u) => {
        u.api({ api: C.UFFD_API, features: 0 });
        return u.api({ api: C.UFFD_API, features: 0 });
      },
      "EINVAL",
    ],
    ["the handshake", (u) => u.api({ api: C.UFFD_API, features: C.UFFD_FEATURE_POISON }), "ok"],
  ];
  for (const [name, call, want] of rows) {
    await t.step(name, () => {
      const u = simulate().spawn().userfaultfd(0);
      assert.equal(errnoOf(() => call(u)), want);
    });
  }
});

Deno.test("UFFDIO_API reports the implemented features and the API ioctls", () => {
  const u = simulate().spawn().userfaultfd(0);
  const { features, ioctls } = u.api({ api: C.UFFD_API, features: 0 });
  assert.equal(ioctls, C.UFFD_API_IOCTLS);
  assert.equal((ioctls >> BigInt(C._UFFDIO_REGISTER)) & 1n, 1n);
  assert.equal((ioctls >> BigInt(C._UFFDIO_API)) & 1n, 1n);
  for (const bit of [C.UFFD_FEATURE_POISON, C.UFFD_FEATURE_SIGBUS, C.UFFD_FEATURE_THREAD_ID]) {
    assert.ok(features & bit);
  }
  assert.equal(features & C.UFFD_FEATURE_MISSING_HUGETLBFS, 0);
});

Deno.test("an ioctl before UFFDIO_API is EINVAL", () => {
  const p = simulate().spawn();
  const a = p.mmap(0, P, RW, ANON);
  const u = p.userfaultfd(0);
  assert.equal(errnoOf(() => u.register({ range: { start: a, len: P }, mode: MISSING })), "EINVAL");
});

Deno.test("UFFDIO_REGISTER errno cases", async (t) => {
  const rows: [string, (s: ReturnType<typeof setup>) => unknown, string][] = [
    [
      "the whole mapping",
      ({ a, uffd }) => uffd.register({ range: { start: a, len: 4 * P }, mode: MISSING }),
      "ok",
    ],
    [
      "start not page aligned",
      ({ a, uffd }) => uffd.register({ range: { start: a + 1, len: P }, mode: MISSING }),
      "EINVAL",
    ],
    [
      "len not page aligned",
      ({ a, uffd }) => uffd.register({ range: { start: a, len: P + 1 }, mode: MISSING }),
      "EINVAL",
    ],
    [
      "len 0",
      ({ a, uffd }) => uffd.register({ range: { start: a, len: 0 }, mode: MISSING }),
      "EINVAL",
    ],
    ["mode 0", ({ a, uffd }) => uffd.register({ range: { start: a, len: P }, mode: 0 }), "EINVAL"],
    [
      "an unknown mode bit",
      ({ a, uffd }) => uffd.register({ range: { start: a, len: P }, mode: 8 }),
      "EINVAL",
    ],
    [
      "start below mmap_min_addr",
      ({ uffd }) => uffd.register({ range: { start: 0x1000, len: P }, mode: MISSING }),
      "EINVAL",
    ],
    [
      "range beyond TASK_SIZE",
      ({ uffd }) => uffd.register({ range: { start: C.TASK_SIZE - P, len: 2 * P }, mode: MISSING }),
      "EINVAL",
    ],
    [
      "no VMA in the range",
      ({ a, uffd }) => uffd.register({ range: { start: a + 16 * P, len: P }, mode: MISSING }),
      "EINVAL",
    ],
    [
      "a hole after the VMA is allowed",
      ({ a, uffd }) => uffd.register({ range: { start: a, len: 8 * P }, mode: MISSING }),
      "ok",
    ],
    [
      "MINOR on anonymous memory",
      ({ a, uffd }) =>
        uffd.register({ range: { start: a, len: P }, mode: C.UFFDIO_REGISTER_MODE_MINOR }),
      "EINVAL",
    ],
    [
      "already registered with another userfaultfd",
      ({ p, a, uffd }) => {
        uffd.register({ range: { start: a, len: P }, mode: MISSING });
        const other = p.userfaultfd(0);
        other.api({ api: C.UFFD_API, features: 0 });
        return other.register({ range: { start: a, len: 2 * P }, mode: MISSING });
      },
      "EBUSY",
    ],
    [
      "a VMA without VM_MAYWRITE (a shared mapping of a read-only file)",
      ({ p, a, uffd }) => {
        p.mm.vmaLookup(a)!.vm_flags &= ~VM_MAYWRITE;
        return uffd.register({ range: { start: a, len: P }, mode: MISSING });
      },
      "EPERM",
    ],
    [
      "again with the same userfaultfd and another mode",
      ({ a, uffd }) => {
        uffd.register({ range: { start: a, len: P }, mode: MISSING });
        return uffd.register({
          range: { start: a, len: 2 * P },
          mode: MISSING | C.UFFDIO_REGISTER_MODE_WP,
        });
      },
      "ok",
    ],
  ];
  for (const [name, call, want] of rows) {
    await t.step(name, () => {
      const s = setup();
      assert.equal(errnoOf(() => call(s)), want);
      s.p.kernel.check();
    });
  }
});

Deno.test("UFFDIO_REGISTER returns the range ioctls of its mode", async (t) => {
  const bit = (n: number) => 1 << n;
  const rows: [string, number, number][] = [
    [
      "MISSING: no WRITEPROTECT, no CONTINUE",
      MISSING,
      C.UFFD_API_RANGE_IOCTLS & ~bit(C._UFFDIO_WRITEPROTECT) & ~bit(C._UFFDIO_CONTINUE),
    ],
    [
      "MISSING|WP: WRITEPROTECT too",
      MISSING | C.UFFDIO_REGISTER_MODE_WP,
      C.UFFD_API_RANGE_IOCTLS & ~bit(C._UFFDIO_CONTINUE),
    ],
  ];
  for (const [name, mode, want] of rows) {
    await t.step(name, () => {
      const { a, uffd } = setup();
      assert.equal(uffd.register({ range: { start: a, len: P }, mode }).ioctls, want);
    });
  }
});

Deno.test("UFFDIO_REGISTER splits the VMA; UFFDIO_UNREGISTER merges it back", () => {
  const { p, a, uffd } = setup();
  uffd.register({ range: { start: a + P, len: P }, mode: MISSING });
  assert.equal(p.mm.vmas.length, 3);
  assert.ok(p.mm.vmaLookup(a + P)!.vm_flags & 0x200);
  assert.equal(p.mm.vmaLookup(a)!.vm_userfaultfd_ctx, null);
  uffd.unregister({ start: a, len: 4 * P });
  assert.equal(p.mm.vmas.length, 1);
  assert.equal(p.mm.vmas[0].vm_flags & 0x200, 0);
  p.kernel.check();
});

Deno.test("UFFDIO_UNREGISTER errno cases", async (t) => {
  const rows: [string, (s: ReturnType<typeof setup>) => unknown, string][] = [
    ["the registered range", ({ a, uffd }) => uffd.unregister({ start: a, len: P }), "ok"],
    [
      "a range never registered",
      ({ a, uffd }) => uffd.unregister({ start: a + 2 * P, len: P }),
      "ok",
    ],
    [
      "start not page aligned",
      ({ a, uffd }) => uffd.unregister({ start: a + 8, len: P }),
      "EINVAL",
    ],
    ["len 0", ({ a, uffd }) => uffd.unregister({ start: a, len: 0 }), "EINVAL"],
    [
      "no VMA in the range",
      ({ a, uffd }) => uffd.unregister({ start: a + 64 * P, len: P }),
      "EINVAL",
    ],
  ];
  for (const [name, call, want] of rows) {
    await t.step(name, () => {
      const s = setup();
      s.uffd.register({ range: { start: s.a, len: P }, mode: MISSING });
      assert.equal(errnoOf(() => call(s)), want);
      s.p.kernel.check();
    });
  }
});

Deno.test("read() returns null with nothing queued", () => {
  const { uffd } = setup();
  assert.equal(uffd.read(), null);
});

Deno.test("UFFDIO_API: UFFD_FEATURE_EVENT_FORK needs CAP_SYS_PTRACE (EPERM)", () => {
  const p = simulate().spawn({ capSysAdmin: false });
  const u = p.userfaultfd(C.UFFD_USER_MODE_ONLY);
  assert.equal(
    errnoOf(() => u.api({ api: C.UFFD_API, features: C.UFFD_FEATURE_EVENT_FORK })),
    "EPERM",
  );
});

Deno.test("UFFDIO_API: WP_ASYNC turns on WP_UNPOPULATED", () => {
  const p = simulate().spawn();
  const u = p.userfaultfd(0);
  u.api({ api: C.UFFD_API, features: C.UFFD_FEATURE_WP_ASYNC });
  assert.ok(u.ctx.features & C.UFFD_FEATURE_WP_UNPOPULATED);
});

Deno.test("with WP_ASYNC, WP-only registration is allowed; MINOR stays shmem-only", () => {
  const p = simulate().spawn();
  const a = p.mmap(0, P, RW, ANON);
  const u = p.userfaultfd(0);
  u.api({ api: C.UFFD_API, features: C.UFFD_FEATURE_WP_ASYNC });
  assert.equal(
    errnoOf(() => u.register({ range: { start: a, len: P }, mode: C.UFFDIO_REGISTER_MODE_WP })),
    "ok",
  );
});

Deno.test("UFFDIO_REGISTER over two VMAs and a hole registers both VMAs, unmerged", () => {
  const p = simulate().spawn();
  const a = p.mmap(0, 4 * P, RW, ANON);
  p.mprotect(a + P, P, C.PROT_READ);
  p.munmap(a + 3 * P, P);
  const u = p.userfaultfd(0);
  u.api({ api: C.UFFD_API, features: 0 });
  u.register({ range: { start: a, len: 4 * P }, mode: MISSING });
  assert.deepEqual(
    p.mm.vmas.map((v) => [v.vm_start - a, v.vm_end - a, (v.vm_flags & 0x200) !== 0]),
    [[0, P, true], [P, 2 * P, true], [2 * P, 3 * P, true]],
  );
  assert.ok(p.mm.vmas.every((v) => v.vm_userfaultfd_ctx === u.ctx));
  p.kernel.check();
});

Deno.test("close() unregisters every range and merges the VMAs back; then EBADF", () => {
  const { p, a, uffd } = setup();
  uffd.register({ range: { start: a + P, len: 2 * P }, mode: MISSING });
  assert.equal(p.mm.vmas.length, 3);
  assert.equal(uffd.close(), 0);
  assert.equal(p.mm.vmas.length, 1);
  assert.equal(p.read(a + P), 0);
  assert.equal(errnoOf(() => uffd.close()), "EBADF");
  assert.equal(errnoOf(() => uffd.read()), "EBADF");
  assert.equal(
    errnoOf(() => uffd.register({ range: { start: a, len: P }, mode: MISSING })),
    "EBADF",
  );
  p.kernel.check();
});
