import assert from "node:assert/strict";
import { constants as C, Errno, type Process, simulate } from "../mod.ts";
import type { Userfaultfd } from "./userfaultfd.ts";

const P = C.PAGE_SIZE;
const RW = C.PROT_READ | C.PROT_WRITE;
const ANON = C.MAP_PRIVATE | C.MAP_ANONYMOUS;
const MISSING = C.UFFDIO_REGISTER_MODE_MISSING;

/** "ok:<result>" or "<errno>:<result field>" of one ioctl. */
function outcome(fn: () => number): string {
  try {
    return `ok:${fn()}`;
  } catch (e) {
    if (e instanceof Errno) return `${e.errno}:${e.result}`;
    throw e;
  }
}

interface Setup {
  p: Process;
  /** 4 registered pages (MISSING). */
  a: number;
  /** A source page holding 0x5a. */
  src: number;
  uffd: Userfaultfd;
}

function setup(mode = MISSING): Setup {
  const p = simulate().spawn();
  const a = p.mmap(0, 4 * P, RW, ANON);
  const src = p.mmap(0, P, RW, ANON);
  p.write(src, 0x5a);
  const uffd = p.userfaultfd(0);
  uffd.api({ api: C.UFFD_API, features: 0 });
  uffd.register({ range: { start: a, len: 4 * P }, mode });
  return { p, a, src, uffd };
}

type Row = [string, (s: Setup) => number, string];

async function runRows(t: Deno.TestContext, rows: Row[]): Promise<void> {
  for (const [name, call, want] of rows) {
    await t.step(name, () => {
      const s = setup();
      assert.equal(outcome(() => call(s)), want);
      s.p.kernel.check();
    });
  }
}

Deno.test("UFFDIO_COPY errno cases", async (t) => {
  await runRows(t, [
    ["two pages", ({ a, src, uffd }) => uffd.copy({ dst: a, src, len: 2 * P, mode: 0 }), "ok:8192"],
    [
      "dst not page aligned",
      ({ a, src, uffd }) => uffd.copy({ dst: a + 1, src, len: P }),
      "EINVAL:undefined",
    ],
    [
      "len not page aligned",
      ({ a, src, uffd }) => uffd.copy({ dst: a, src, len: 100 }),
      "EINVAL:undefined",
    ],
    ["len 0", ({ a, src, uffd }) => uffd.copy({ dst: a, src, len: 0 }), "EINVAL:undefined"],
    [
      "an unknown mode bit",
      ({ a, src, uffd }) => uffd.copy({ dst: a, src, len: P, mode: 4 }),
      "EINVAL:undefined",
    ],
    [
      "COPY_MODE_WP on a range not registered for WP",
      ({ a, src, uffd }) => uffd.copy({ dst: a, src, len: P, mode: C.UFFDIO_COPY_MODE_WP }),
      "EINVAL:-22",
    ],
    [
      "dst in no VMA",
      ({ a, src, uffd }) => uffd.copy({ dst: a + 64 * P, src, len: P }),
      "ENOENT:-2",
    ],
    ["dst not registered", ({ src, uffd }) => uffd.copy({ dst: src, src, len: P }), "ENOENT:-2"],
    [
      "the range runs past the VMA",
      ({ a, src, uffd }) => uffd.copy({ dst: a + 3 * P, src, len: 2 * P }),
      "ENOENT:-2",
    ],
    [
      "the first page is populated",
      ({ p, a, src, uffd }) => {
        p.mm.vmaLookup(a)!.vm_flags &= ~MISSING_FLAG;
        p.write(a, 1);
        return uffd.copy({ dst: a, src, len: 2 * P });
      },
      "EEXIST:-17",
    ],
    [
      "the second page is populated: a short copy is EAGAIN",
      ({ a, src, uffd }) => {
        uffd.copy({ dst: a + P, src, len: P });
        return uffd.copy({ dst: a, src, len: 2 * P });
      },
      "EAGAIN:4096",
    ],
    [
      "over a poison marker (v6.18's pte_none_mostly() lets any marker go)",
      ({ a, src, uffd }) => {
        uffd.poison({ range: { start: a, len: P } });
        return uffd.copy({ dst: a, src, len: P });
      },
      "ok:4096",
    ],
    [
      "the source is not mapped",
      ({ a, uffd }) => uffd.copy({ dst: a, src: a + 64 * P, len: P }),
      "EFAULT:-14",
    ],
  ]);
});

/** VM_UFFD_MISSING, to take a VMA out of MISSING mode without unregistering. */
const MISSING_FLAG = 0x200;

Deno.test("UFFDIO_ZEROPAGE errno cases", async (t) => {
  await runRows(t, [
    [
      "one page",
      ({ a, uffd }) => uffd.zeropage({ range: { start: a, len: P }, mode: 0 }),
      "ok:4096",
    ],
    [
      "start not page aligned",
      ({ a, uffd }) => uffd.zeropage({ range: { start: a + 1, len: P } }),
      "EINVAL:undefined",
    ],
    [
      "an unknown mode bit",
      ({ a, uffd }) => uffd.zeropage({ range: { start: a, len: P }, mode: 2 }),
      "EINVAL:undefined",
    ],
    [
      "not registered",
      ({ src, uffd }) => uffd.zeropage({ range: { start: src, len: P } }),
      "ENOENT:-2",
    ],
    [
      "already populated",
      ({ a, src, uffd }) => {
        uffd.copy({ dst: a, src, len: P });
        return uffd.zeropage({ range: { start: a, len: P } });
      },
      "EEXIST:-17",
    ],
  ]);
});

Deno.test("UFFDIO_POISON errno cases", async (t) => {
  await runRows(t, [
    ["one page", ({ a, uffd }) => uffd.poison({ range: { start: a, len: P }, mode: 0 }), "ok:4096"],
    [
      "len not page aligned",
      ({ a, uffd }) => uffd.poison({ range: { start: a, len: 5 } }),
      "EINVAL:undefined",
    ],
    [
      "an unknown mode bit",
      ({ a, uffd }) => uffd.poison({ range: { start: a, len: P }, mode: 2 }),
      "EINVAL:undefined",
    ],
    [
      "not registered",
      ({ src, uffd }) => uffd.poison({ range: { start: src, len: P } }),
      "ENOENT:-2",
    ],
    [
      "a populated page",
      ({ a, src, uffd }) => {
        uffd.copy({ dst: a, src, len: P });
        return uffd.poison({ range: { start: a, len: P } });
      },
      "EEXIST:-17",
    ],
    [
      "a page already holding a marker",
      ({ a, uffd }) => {
        uffd.poison({ range: { start: a, len: P } });
        return uffd.poison({ range: { start: a, len: P } });
      },
      "EEXIST:-17",
    ],
  ]);
});

Deno.test("UFFDIO_COPY maps a private, exclusive, writable copy of the source page", () => {
  const { p, a, src, uffd } = setup();
  assert.equal(uffd.copy({ dst: a, src, len: P }), P);
  assert.equal(p.read(a), 0x5a);
  const pm = p.pagemap(a);
  assert.deepEqual([pm.present, pm.exclusive, pm.uffdWp], [true, true, false]);
  p.write(a, 7);
  assert.equal(p.read(src), 0x5a);
  assert.deepEqual(p.rss().MM_ANONPAGES, 2);
  p.kernel.check();
});

Deno.test("UFFDIO_ZEROPAGE maps the shared zero page", () => {
  const { p, a, uffd } = setup();
  uffd.zeropage({ range: { start: a, len: 2 * P } });
  assert.equal(p.read(a + P + 3), 0);
  assert.equal(p.rss().MM_ANONPAGES, 1);
  p.kernel.check();
});

Deno.test("UFFDIO_WRITEPROTECT errno cases", async (t) => {
  const wpRows: [string, (s: Setup) => number, string][] = [
    [
      "protect a registered range",
      ({ a, uffd }) => uffd.writeprotect({ range: { start: a, len: P }, mode: 1 }),
      "ok:0",
    ],
    [
      "start not page aligned",
      ({ a, uffd }) => uffd.writeprotect({ range: { start: a + 1, len: P }, mode: 1 }),
      "EINVAL:undefined",
    ],
    [
      "an unknown mode bit",
      ({ a, uffd }) => uffd.writeprotect({ range: { start: a, len: P }, mode: 4 }),
      "EINVAL:undefined",
    ],
    [
      "MODE_WP with MODE_DONTWAKE",
      ({ a, uffd }) =>
        uffd.writeprotect({
          range: { start: a, len: P },
          mode: C.UFFDIO_WRITEPROTECT_MODE_WP | C.UFFDIO_WRITEPROTECT_MODE_DONTWAKE,
        }),
      "EINVAL:undefined",
    ],
    [
      "a VMA not registered for WP",
      ({ src, uffd }) => uffd.writeprotect({ range: { start: src, len: P }, mode: 1 }),
      "ENOENT:undefined",
    ],
    [
      "no VMA in the range",
      ({ a, uffd }) => uffd.writeprotect({ range: { start: a + 64 * P, len: P }, mode: 1 }),
      "ENOENT:undefined",
    ],
  ];
  for (const [name, call, want] of wpRows) {
    await t.step(name, () => {
      const s = setup(MISSING | C.UFFDIO_REGISTER_MODE_WP);
      assert.equal(outcome(() => call(s)), want);
      s.p.kernel.check();
    });
  }
});
