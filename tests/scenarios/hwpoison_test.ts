/**
 * Real hardware poison (MADV_HWPOISON → memory_failure()) beside the
 * UFFDIO_POISON marker: one test per path that meets the entry — access,
 * fork, MADV_DONTNEED, munmap, pagemap.
 */
import assert from "node:assert/strict";
import {
  constants as C,
  Errno,
  type Kernel,
  type Process,
  Signal,
  simulate,
  type SimulateOptions,
  swpEntryToPte,
} from "../../lib/mod.ts";

const P = C.PAGE_SIZE;
const RW = C.PROT_READ | C.PROT_WRITE;
const ANON = C.MAP_PRIVATE | C.MAP_ANONYMOUS;

type Kind = "hwpoison" | "marker";

/** A process with one written page at `a`, then poisoned one way or the other. */
function poisoned(kind: Kind, opts: SimulateOptions = {}) {
  const k = simulate(opts);
  const p = k.spawn({ comm: "vm" });
  const a = p.mmap(0, 2 * P, RW, ANON);
  let pfn = -1;
  if (kind === "hwpoison") {
    p.write(a, 0x41);
    pfn = p.pagemap(a).pfn!;
    assert.throws(() => p.madvise(a, P, C.MADV_HWPOISON), isSigbus(a, "BUS_MCEERR_AR"));
  } else {
    const uffd = p.userfaultfd(0);
    uffd.api({ api: C.UFFD_API, features: C.UFFD_FEATURE_POISON });
    uffd.register({ range: { start: a, len: 2 * P }, mode: C.UFFDIO_REGISTER_MODE_MISSING });
    uffd.poison({ range: { start: a, len: P } });
    // A later missing fault (after MADV_DONTNEED) gets a zero page.
    uffd.handler = (msg) => {
      const start = Math.floor(msg.arg.pagefault.address / P) * P;
      uffd.zeropage({ range: { start, len: P }, mode: 0 });
    };
  }
  return { k, p, a, pfn };
}

function isSigbus(addr: number, code: string) {
  return (e: unknown) =>
    e instanceof Signal && e.signo === "SIGBUS" && e.code === code &&
    e.addr === addr;
}

function pte(k: Kernel, p: Process, a: number): bigint {
  return k.walk(p, a).levels.at(-1)!.entry;
}

Deno.test("MADV_HWPOISON: SIGBUS to the caller, the page unmapped into a hwpoison entry", () => {
  const { k, p, a, pfn } = poisoned("hwpoison", { config: { MEMORY_FAILURE: true } });
  assert.equal(pte(k, p, a), swpEntryToPte(k.core.swapops.makeHwpoisonEntry(pfn)));
  assert.deepEqual(p.rss(), { MM_FILEPAGES: 0, MM_ANONPAGES: 0, MM_SWAPENTS: 0, MM_SHMEMPAGES: 0 });
  assert.equal(k.core.memmap.mapcount[pfn], 0);
  assert.equal(k.core.memmap.refcount[pfn], 1);
  assert.deepEqual(k.dmesg, [
    `Injecting memory failure for pfn 0x${pfn.toString(16)} at process virtual address 0x${
      a.toString(16)
    }`,
    `Memory failure: 0x${
      pfn.toString(16)
    }: Sending SIGBUS to vm:${p.pid} due to hardware memory corruption`,
    `Memory failure: 0x${pfn.toString(16)}: recovery action for dirty LRU page: Recovered`,
  ]);
  k.check();
});

Deno.test("MADV_HWPOISON needs CAP_SYS_ADMIN and CONFIG_MEMORY_FAILURE", () => {
  const k = simulate();
  const p = k.spawn({ capSysAdmin: false });
  const a = p.mmap(0, P, RW, ANON);
  p.write(a, 1);
  assert.throws(
    () => p.madvise(a, P, C.MADV_HWPOISON),
    (e) => e instanceof Errno && e.errno === "EPERM",
  );
  const k2 = simulate({ config: { MEMORY_FAILURE: false } });
  const p2 = k2.spawn();
  const b = p2.mmap(0, P, RW, ANON);
  assert.throws(
    () => p2.madvise(b, P, C.MADV_HWPOISON),
    (e) => e instanceof Errno && e.errno === "EINVAL",
  );
  k.check();
});

Deno.test("MADV_HWPOISON on a clean page: no kill now, SIGBUS at the next access", () => {
  const k = simulate();
  const p = k.spawn({ comm: "vm" });
  const a = p.mmap(0, P, RW, ANON);
  const fd = p.memfdCreate("clean");
  p.ftruncate(fd, P);
  const s = p.mmap(0, P, RW, C.MAP_SHARED, fd);
  p.read(s);
  p.madvise(s, P, C.MADV_HWPOISON);
  assert.ok(k.dmesg.at(-1)!.endsWith("recovery action for clean LRU page: Recovered"));
  assert.throws(() => p.read(s), isSigbus(s, "BUS_MCEERR_AR"));
  assert.equal(p.read(a), 0);
  k.check();
});

Deno.test("a second MADV_HWPOISON of the same address fails with EHWPOISON", () => {
  const { k, p, a } = poisoned("hwpoison");
  assert.throws(
    () => p.madvise(a, P, C.MADV_HWPOISON),
    (e) => e instanceof Errno && e.errno === "EHWPOISON",
  );
  k.check();
});

for (const kind of ["hwpoison", "marker"] as const) {
  for (const MEMORY_FAILURE of [true, false]) {
    if (kind === "hwpoison" && !MEMORY_FAILURE) continue;
    Deno.test(`${kind}, MEMORY_FAILURE=${MEMORY_FAILURE}: an access raises SIGBUS`, () => {
      const { k, p, a } = poisoned(kind, { config: { MEMORY_FAILURE } });
      const before = k.dmesg.length;
      const code = MEMORY_FAILURE ? "BUS_MCEERR_AR" : "BUS_ADRERR";
      assert.throws(() => p.read(a), isSigbus(a, code));
      assert.throws(() => p.write(a, 1), isSigbus(a, code));
      const mce = `MCE: Killing vm:${p.pid} due to hardware memory corruption fault at ${
        a.toString(16)
      }`;
      assert.deepEqual(k.dmesg.slice(before), MEMORY_FAILURE ? [mce, mce] : []);
      k.check();
    });
  }

  Deno.test(`${kind}: fork copies the entry, the child gets the same SIGBUS`, () => {
    const { k, p, a } = poisoned(kind);
    const child = p.fork();
    assert.equal(pte(k, child, a), pte(k, p, a));
    assert.throws(() => child.read(a), isSigbus(a, "BUS_MCEERR_AR"));
    k.check();
    child.exit();
    k.check();
  });

  Deno.test(`${kind}: MADV_DONTNEED drops the entry, the next access is a fresh page`, () => {
    const { k, p, a } = poisoned(kind);
    p.madvise(a, P, C.MADV_DONTNEED);
    assert.equal(pte(k, p, a), 0n);
    assert.equal(p.read(a), 0);
    k.check();
  });

  Deno.test(`${kind}: munmap drops the entry`, () => {
    const { k, p, a, pfn } = poisoned(kind);
    p.munmap(a, 2 * P);
    k.check();
    if (pfn >= 0) assert.equal(k.core.memmap.refcount[pfn], 1); // kept by memory_failure()
    p.exit();
    k.check();
  });

  Deno.test(`${kind}: pagemap reports PM_SWAP with the entry's type and offset`, () => {
    const { k, p, a, pfn } = poisoned(kind);
    const t = k.core.swapops.types;
    const e = p.pagemap(a);
    assert.equal(e.present, false);
    assert.equal(e.swapped, true);
    assert.equal(e.uffdWp, false);
    assert.equal(e.guard, false);
    if (kind === "hwpoison") {
      assert.deepEqual([e.swapType, e.swapOffset, e.file], [t.SWP_HWPOISON, pfn, false]);
    } else {
      assert.deepEqual([e.swapType, e.swapOffset, e.file], [t.SWP_PTE_MARKER, 2, false]);
    }
  });
}
