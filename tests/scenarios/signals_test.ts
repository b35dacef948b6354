/**
 * Which signal a bad access raises, with which si_code and si_addr
 * (arch/x86/mm/fault.c do_user_addr_fault(), bad_area*(), do_sigbus(),
 * exc_general_protection()), checked on Linux 6.18.
 */
import assert from "node:assert/strict";
import { constants as C, Signal, simulate } from "../../lib/mod.ts";

const P = C.PAGE_SIZE;
const RW = C.PROT_READ | C.PROT_WRITE;
const ANON = C.MAP_PRIVATE | C.MAP_ANONYMOUS;
const BASE = 0x100000000000;

/** The signal an access raises, as "SIGNO/CODE@addr", or "ok". */
function signalOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof Signal) return `${e.signo}/${e.code}@${e.addr.toString(16)}`;
    throw e;
  }
  return "ok";
}

Deno.test("an access outside any mapping is SIGSEGV with SEGV_MAPERR at the address", () => {
  const p = simulate().spawn();
  const a = p.mmap(BASE, P, RW, ANON | C.MAP_FIXED);
  assert.equal(signalOf(() => p.read(a + P + 5)), "SIGSEGV/SEGV_MAPERR@100000001005");
  assert.equal(signalOf(() => p.write(a - 1, 0)), "SIGSEGV/SEGV_MAPERR@fffffffffff");
});

Deno.test("an access the mapping does not allow is SIGSEGV with SEGV_ACCERR", async (t) => {
  const p = simulate().spawn();
  const none = p.mmap(BASE, P, C.PROT_NONE, ANON | C.MAP_FIXED);
  const ro = p.mmap(BASE + 2 * P, P, C.PROT_READ, ANON | C.MAP_FIXED);
  await t.step("a read of PROT_NONE", () => {
    assert.equal(signalOf(() => p.read(none + 1)), "SIGSEGV/SEGV_ACCERR@100000000001");
  });
  await t.step("a write to PROT_READ, before any fault", () => {
    assert.equal(signalOf(() => p.write(ro, 1)), "SIGSEGV/SEGV_ACCERR@100000002000");
  });
  await t.step("a write to PROT_READ over the mapped zero page", () => {
    p.read(ro);
    assert.equal(signalOf(() => p.write(ro + 2, 1)), "SIGSEGV/SEGV_ACCERR@100000002002");
  });
  await t.step("a read after mprotect(PROT_NONE) of a present page", () => {
    p.mprotect(ro, P, C.PROT_NONE);
    assert.equal(signalOf(() => p.read(ro)), "SIGSEGV/SEGV_ACCERR@100000002000");
  });
});

Deno.test("a write-only mapping can be read on x86", () => {
  const p = simulate().spawn();
  const a = p.mmap(0, P, C.PROT_WRITE, ANON);
  p.write(a, 3);
  assert.equal(p.read(a), 3);
});

Deno.test("an access beyond the end of a memfd is SIGBUS with BUS_ADRERR", () => {
  const k = simulate();
  const p = k.spawn();
  const fd = p.memfdCreate("eof");
  p.ftruncate(fd, P + 1);
  const a = p.mmap(BASE, 3 * P, RW, C.MAP_SHARED, fd);
  p.write(a + P + 100, 1); // the partial last page is whole
  assert.equal(signalOf(() => p.read(a + 2 * P + 7)), "SIGBUS/BUS_ADRERR@100000002007");
  const q = p.mmap(0, 3 * P, RW, C.MAP_PRIVATE, fd);
  assert.equal(
    signalOf(() => p.write(q + 2 * P, 1)),
    `SIGBUS/BUS_ADRERR@${(q + 2 * P).toString(16)}`,
  );
  assert.equal(k.dmesg.length, 0, "nothing is logged");
  k.check();
});

Deno.test("a non-canonical address is #GP: SIGSEGV with SI_KERNEL and no address", () => {
  const p = simulate().spawn();
  assert.equal(signalOf(() => p.read(2 ** 47)), "SIGSEGV/SI_KERNEL@0");
  assert.equal(signalOf(() => p.write(2 ** 63, 1)), "SIGSEGV/SI_KERNEL@0");
});

Deno.test("a non-canonical address never reaches the page tables, even when its low bits match a mapping", () => {
  const p = simulate().spawn();
  const a = p.mmap(BASE, P, RW, ANON | C.MAP_FIXED);
  p.write(a, 7);
  assert.equal(signalOf(() => p.read(2 ** 52 + a)), "SIGSEGV/SI_KERNEL@0");
  assert.equal(signalOf(() => p.write(2 ** 48 + a, 1)), "SIGSEGV/SI_KERNEL@0");
  assert.equal(p.read(a), 7);
});

Deno.test("a kernel-half address is SIGSEGV with SEGV_MAPERR at the address", () => {
  const p = simulate().spawn();
  const kernel = 2 ** 64 - 2 ** 47;
  assert.equal(signalOf(() => p.read(kernel)), "SIGSEGV/SEGV_MAPERR@ffff800000000000");
  assert.equal(signalOf(() => p.write(-P, 1)), "SIGSEGV/SEGV_MAPERR@fffffffffffff000");
});

Deno.test("a fault with no memory left is SIGKILL, logged by the OOM killer", () => {
  const k = simulate({ memory: 300 * P });
  const p = k.spawn();
  const a = p.mmap(0, 200 * P, RW, ANON);
  let sig = "";
  for (let i = 0; i < 200 && !sig; i++) {
    try {
      p.write(a + i * P, 1);
    } catch (e) {
      if (!(e instanceof Signal)) throw e;
      sig = `${e.signo}/${e.code}`;
    }
  }
  assert.equal(sig, "SIGKILL/SI_KERNEL");
  assert.match(k.dmesg.at(-1)!, /^Out of memory: Killed process 1 \(a\.out\)/);
  k.check();
});
