/**
 * Swap (mm/swapfile.c, mm/vmscan.c, do_swap_page() in mm/memory.c, v6.18):
 * MADV_PAGEOUT writes anonymous pages to the swap device, faults read them
 * back, fork() shares slots, and swapin errors: a slot that cannot be read
 * fails the fault with SIGBUS (BUS_ADRERR) and the entry stays, while
 * swapoff() (try_to_unuse() → unuse_pte()) leaves a poisoned PTE marker, the
 * same one UFFDIO_POISON installs, whose access is reported as memory
 * corruption (BUS_MCEERR_AR) — the behaviour the seed thread
 * 003_04fde8f735f91402.txt argues about.
 */
import assert from "node:assert/strict";
import { constants as C, simulate, type SimulateOptions } from "../../lib/mod.ts";
import { errnoOf, signalOf } from "../_outcome.ts";

const P = C.PAGE_SIZE;
const RW = C.PROT_READ | C.PROT_WRITE;
const ANON = C.MAP_PRIVATE | C.MAP_ANONYMOUS;

function swappedOut(opts: SimulateOptions = {}, pages = 4) {
  const k = simulate(opts);
  const si = k.swapon(64);
  const p = k.spawn({ comm: "swapper" });
  const a = p.mmap(0, pages * P, RW, ANON);
  for (let i = 0; i < pages; i++) p.write(a + i * P + 7, 0x41 + i);
  p.madvise(a, pages * P, C.MADV_PAGEOUT);
  return { k, si, p, a };
}

Deno.test("MADV_PAGEOUT writes anonymous pages to swap; faults read them back", () => {
  const { k, si, p, a } = swappedOut();
  assert.deepEqual(p.rss(), { MM_FILEPAGES: 0, MM_ANONPAGES: 0, MM_SWAPENTS: 4, MM_SHMEMPAGES: 0 });
  const e = p.pagemap(a + P);
  assert.deepEqual([e.present, e.swapped, e.swapType], [false, true, 0]);
  assert.equal(si.inusePages, 4);
  k.check();
  const majfault = k.vmstat.pgmajfault;
  assert.equal(p.read(a + P + 7), 0x42);
  assert.equal(k.vmstat.pgmajfault, majfault + 1);
  // The page was exclusive: it comes back writable, and its slot is free.
  assert.equal(p.pagemap(a + P).exclusive, true);
  assert.equal(si.inusePages, 3);
  p.write(a + 2 * P, 1);
  assert.equal(p.read(a + 2 * P + 7), 0x43);
  assert.deepEqual([si.pswpout, si.pswpin], [4, 2]);
  k.check();
});

Deno.test("without a swap device, or with a full one, anonymous pages stay in memory", () => {
  const k = simulate();
  const p = k.spawn();
  const a = p.mmap(0, 2 * P, RW, ANON);
  p.write(a, 1);
  p.madvise(a, P, C.MADV_PAGEOUT);
  assert.equal(p.pagemap(a).present, true);
  const si = k.swapon(3); // the header and two slots
  const b = p.mmap(0, 4 * P, RW, ANON);
  for (let i = 0; i < 4; i++) p.write(b + i * P, 1);
  p.madvise(b, 4 * P, C.MADV_PAGEOUT);
  assert.deepEqual([0, 1, 2, 3].map((i) => p.pagemap(b + i * P).swapped), [
    true,
    true,
    false,
    false,
  ]);
  assert.equal(si.freePages, 0);
  k.check();
});

Deno.test("fork() shares a slot and drops the exclusive bit; munmap gives it back", () => {
  const { k, si, p, a } = swappedOut();
  const swpExclusive = (q: typeof p) => (k.walk(q, a).levels.at(-1)!.entry & 8n) !== 0n;
  assert.equal(swpExclusive(p), true); // _PAGE_SWP_EXCLUSIVE, bit 3
  const child = p.fork();
  assert.deepEqual([swpExclusive(p), swpExclusive(child)], [false, false]);
  assert.equal(si.swapMap[1], 2);
  assert.equal(child.read(a + 7), 0x41);
  assert.equal(p.read(a + 7), 0x41);
  // Each swapped the shared slot in; a write in one is not seen by the other.
  child.write(a + 7, 0x99);
  assert.equal(p.read(a + 7), 0x41);
  child.munmap(a + P, P);
  assert.equal(si.swapMap[2], 1);
  k.check();
  child.exit();
  p.exit();
  assert.equal(si.inusePages, 0);
  k.check();
});

Deno.test("a swapin error at fault time: SIGBUS BUS_ADRERR, nothing logged, the entry stays", () => {
  const { k, p, a } = swappedOut();
  k.injectSwapReadError(p, a + P);
  const log = k.dmesg.length;
  assert.equal(signalOf(() => p.read(a + P)), "SIGBUS/BUS_ADRERR");
  assert.equal(k.dmesg.length, log);
  assert.equal(p.pagemap(a + P).swapped, true);
  assert.equal(p.read(a + 7), 0x41);
  k.check();
});

Deno.test("swapoff() turns an unreadable slot into a poisoned marker: BUS_MCEERR_AR and an MCE line", () => {
  const { k, p, a } = swappedOut();
  k.injectSwapReadError(p, a + 2 * P);
  assert.deepEqual(k.swapoff(), { unused: 3, poisoned: 1 });
  assert.equal(p.rss().MM_SWAPENTS, 0);
  const e = p.pagemap(a + 2 * P);
  assert.deepEqual([e.present, e.swapped], [false, true]);
  assert.equal(signalOf(() => p.read(a + 2 * P)), "SIGBUS/BUS_MCEERR_AR");
  assert.match(
    k.dmesg.at(-1)!,
    /^MCE: Killing swapper:\d+ due to hardware memory corruption fault at /,
  );
  assert.equal(p.read(a + 3 * P + 7), 0x44);
  // fork() copies the marker; MADV_DONTNEED clears it.
  const child = p.fork();
  assert.equal(signalOf(() => child.read(a + 2 * P)), "SIGBUS/BUS_MCEERR_AR");
  p.madvise(a + 2 * P, P, C.MADV_DONTNEED);
  assert.equal(p.read(a + 2 * P), 0);
  k.check();
});

Deno.test("the poisoned marker of a swapin error without MEMORY_FAILURE, and with the silent variant", () => {
  const plain = swappedOut({ config: { MEMORY_FAILURE: false } });
  plain.k.injectSwapReadError(plain.p, plain.a);
  plain.k.swapoff();
  const log = plain.k.dmesg.length;
  assert.equal(signalOf(() => plain.p.read(plain.a)), "SIGBUS/BUS_ADRERR");
  assert.equal(plain.k.dmesg.length, log);
  const silent = swappedOut({ variants: { silentPoison: true } });
  silent.k.injectSwapReadError(silent.p, silent.a);
  silent.k.swapoff();
  const before = silent.k.dmesg.length;
  assert.equal(signalOf(() => silent.p.read(silent.a)), "SIGBUS/BUS_MCEERR_AR");
  assert.equal(silent.k.dmesg.length, before);
});

Deno.test("swapon() twice is EBUSY, swapoff() without a device EINVAL; a bad read-error target throws", () => {
  const k = simulate();
  assert.equal(errnoOf(() => k.swapoff()), "EINVAL");
  k.swapon(8);
  assert.equal(errnoOf(() => k.swapon(8)), "EBUSY");
  const p = k.spawn();
  const a = p.mmap(0, P, RW, ANON);
  p.write(a, 1);
  assert.throws(() => k.injectSwapReadError(p, a), RangeError);
  assert.deepEqual(k.swapoff(), { unused: 0, poisoned: 0 });
});
