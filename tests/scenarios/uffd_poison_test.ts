/**
 * UFFDIO_POISON (after selftests/mm/uffd-unit-tests.c "poison"): every other
 * page of the area is poisoned in the fault handler, the rest copied; reading
 * each page then raises SIGBUS for exactly the poisoned half. What the
 * SIGBUS looks like depends on CONFIG_MEMORY_FAILURE and, in the proposed
 * silent-poison variant, on VM_FAULT_HWPOISON_SILENT.
 */
import assert from "node:assert/strict";
import { constants as C, Signal, simulate, type SimulateOptions } from "../../lib/mod.ts";

const P = C.PAGE_SIZE;
const RW = C.PROT_READ | C.PROT_WRITE;
const ANON = C.MAP_PRIVATE | C.MAP_ANONYMOUS;
const NR_PAGES = 16;

/** Runs the selftest's poison test; returns the signals seen, by page, and the log. */
function poisonTest(opts: SimulateOptions) {
  const k = simulate(opts);
  const p = k.spawn({ comm: "uffd-unit-tests" });
  const src = p.mmap(0, NR_PAGES * P, RW, ANON);
  for (let i = 0; i < NR_PAGES; i++) p.write(src + i * P, 0x30 + i);
  const dst = p.mmap(0, NR_PAGES * P, RW, ANON);
  const uffd = p.userfaultfd(C.O_CLOEXEC | C.O_NONBLOCK);
  const { features } = uffd.api({ api: C.UFFD_API, features: C.UFFD_FEATURE_POISON });
  assert.ok(features & C.UFFD_FEATURE_POISON);
  uffd.register({ range: { start: dst, len: NR_PAGES * P }, mode: C.UFFDIO_REGISTER_MODE_MISSING });
  // uffd_poison_handle_fault(): odd pages poisoned, even pages copied.
  uffd.handler = (msg) => {
    const addr = msg.arg.pagefault.address;
    const nr = (addr - dst) / P;
    if (nr % 2) {
      assert.equal(uffd.poison({ range: { start: addr, len: P }, mode: 0 }), P);
    } else {
      uffd.copy({ dst: addr, src: src + nr * P, len: P, mode: 0 });
    }
  };
  const signals: (Signal | null)[] = [];
  for (let i = 0; i < NR_PAGES; i++) {
    try {
      assert.equal(p.read(dst + i * P), 0x30 + i);
      signals.push(null);
    } catch (e) {
      if (!(e instanceof Signal)) throw e;
      signals.push(e);
    }
  }
  k.check();
  // The markers stay: a second access raises the same signal without a new message.
  uffd.handler = () => assert.fail("a poisoned page is not a missing page");
  assert.throws(() => p.read(dst + P), Signal);
  k.check();
  return { dst, signals, dmesg: k.dmesg, pid: p.pid };
}

Deno.test("uffd poison: nr_sigbus == nr_pages / 2, on the poisoned pages only", () => {
  const { dst, signals } = poisonTest({});
  const nrSigbus = signals.filter((s) => s !== null).length;
  assert.equal(nrSigbus, NR_PAGES / 2);
  signals.forEach((s, i) => {
    assert.equal(s === null, i % 2 === 0, `page ${i}`);
    if (s) assert.equal(s.addr, dst + i * P);
  });
});

Deno.test("with MEMORY_FAILURE: SIGBUS BUS_MCEERR_AR and an MCE line per access", () => {
  const { dst, signals, dmesg, pid } = poisonTest({ config: { MEMORY_FAILURE: true } });
  const s = signals[1]!;
  assert.deepEqual([s.signo, s.code, s.addrLsb], ["SIGBUS", "BUS_MCEERR_AR", C.PAGE_SHIFT]);
  assert.equal(dmesg.length, NR_PAGES / 2 + 1);
  assert.equal(
    dmesg[0],
    `MCE: Killing uffd-unit-tests:${pid} due to hardware memory corruption fault at ${
      (dst + P).toString(16)
    }`,
  );
});

Deno.test("without MEMORY_FAILURE: SIGBUS BUS_ADRERR and nothing logged", () => {
  const { signals, dmesg } = poisonTest({ config: { MEMORY_FAILURE: false } });
  const s = signals[1]!;
  assert.deepEqual([s.signo, s.code, s.addrLsb], ["SIGBUS", "BUS_ADRERR", undefined]);
  assert.deepEqual(dmesg, []);
});

Deno.test("the silent-poison variant: the same SIGBUS, but no MCE line", () => {
  const { signals, dmesg } = poisonTest({ variants: { silentPoison: true } });
  const s = signals[1]!;
  assert.deepEqual([s.signo, s.code], ["SIGBUS", "BUS_MCEERR_AR"]);
  assert.equal(signals.filter((x) => x !== null).length, NR_PAGES / 2);
  assert.deepEqual(dmesg, []);
});

Deno.test("a poison marker survives fork and is zapped by munmap", () => {
  const k = simulate();
  const p = k.spawn();
  const dst = p.mmap(0, 2 * P, RW, ANON);
  const uffd = p.userfaultfd(0);
  uffd.api({ api: C.UFFD_API, features: C.UFFD_FEATURE_POISON });
  uffd.register({ range: { start: dst, len: 2 * P }, mode: C.UFFDIO_REGISTER_MODE_MISSING });
  uffd.poison({ range: { start: dst, len: P } });
  const child = p.fork();
  assert.throws(() => child.read(dst), (e) => e instanceof Signal && e.signo === "SIGBUS");
  // The child's VMA is not registered (no UFFD_FEATURE_EVENT_FORK): a plain fault.
  assert.equal(child.read(dst + P), 0);
  k.check();
  p.munmap(dst, 2 * P);
  child.exit();
  k.check();
  assert.equal(p.kernel.dmesg.filter((l) => l.startsWith("BUG")).length, 0);
});

Deno.test("over a poison or guard marker UFFDIO_COPY installs the page; ZEROPAGE and POISON give EEXIST", () => {
  // As Linux 6.18 does: mfill_atomic_install_pte() accepts pte_none_mostly()
  // (none or a marker), mfill_atomic_pte_zeropage() and _poison() only pte_none().
  const k = simulate();
  const p = k.spawn();
  const src = p.mmap(0, P, RW, ANON);
  p.write(src, 0x77);
  const a = p.mmap(0, 4 * P, RW, ANON);
  const uffd = p.userfaultfd(C.O_CLOEXEC | C.O_NONBLOCK);
  uffd.api({ api: C.UFFD_API, features: C.UFFD_FEATURE_POISON });
  uffd.register({ range: { start: a, len: 4 * P }, mode: C.UFFDIO_REGISTER_MODE_MISSING });
  assert.equal(uffd.poison({ range: { start: a, len: 2 * P } }), 2 * P);
  p.madvise(a + 2 * P, P, C.MADV_GUARD_INSTALL);
  const outcome = (fn: () => number) => {
    try {
      return String(fn());
    } catch (e) {
      return (e as { errno?: string }).errno ?? String(e);
    }
  };
  const rows = [
    ["copy over poison", outcome(() => uffd.copy({ dst: a, src, len: P, mode: 0 }))],
    ["zeropage over poison", outcome(() => uffd.zeropage({ range: { start: a + P, len: P } }))],
    ["poison over poison", outcome(() => uffd.poison({ range: { start: a + P, len: P } }))],
    ["zeropage over guard", outcome(() => uffd.zeropage({ range: { start: a + 2 * P, len: P } }))],
    ["poison over guard", outcome(() => uffd.poison({ range: { start: a + 2 * P, len: P } }))],
    ["copy over guard", outcome(() => uffd.copy({ dst: a + 2 * P, src, len: P, mode: 0 }))],
  ];
  assert.deepEqual(rows, [
    ["copy over poison", String(P)],
    ["zeropage over poison", "EEXIST"],
    ["poison over poison", "EEXIST"],
    ["zeropage over guard", "EEXIST"],
    ["poison over guard", "EEXIST"],
    ["copy over guard", String(P)],
  ]);
  assert.equal(p.read(a), 0x77);
  assert.equal(p.read(a + 2 * P), 0x77);
  k.check();
});
