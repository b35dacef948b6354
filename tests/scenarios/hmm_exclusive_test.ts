/**
 * Device-exclusive entries, after tools/testing/selftests/mm/hmm-tests.c
 * (exclusive, exclusive_mprotect, exclusive_cow) and the rules of v6.18's
 * make_device_exclusive() and of the ≤ v6.14 make_device_exclusive_range()
 * (the `deviceExclusiveRange` variant), each run on both where both apply.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  constants as C,
  DPT_XA_TAG_ATOMIC,
  Errno,
  folioLock,
  folioUnlock,
  memoryFailure,
  pteToSwpEntry,
  pteWrite,
  Signal,
  simulate,
  swpEntryToPte,
} from "../../lib/mod.ts";
import { lookupPteTable, pteIndex } from "../../lib/mm/memory.ts";
import { deviceEntryName, deviceLab, ptepGet } from "../../lib/lessons/mod.ts";
import type { Kernel, Process } from "../../lib/mod.ts";

const P = C.PAGE_SIZE;
const RW = C.PROT_READ | C.PROT_WRITE;
const ANON = C.MAP_PRIVATE | C.MAP_ANONYMOUS;
const NPAGES = 16;
const VERSIONS = [["v6.18", false], ["≤ v6.14", true]] as const;

/** A buffer of NPAGES pages, page i filled with i + 1. */
function buffer(legacy: boolean) {
  const k = simulate({ variants: { deviceExclusiveRange: legacy } });
  const p = k.spawn();
  const a = p.mmap(0, NPAGES * P, RW, ANON);
  for (let i = 0; i < NPAGES; i++) p.write(a + i * P, i + 1);
  return { k, p, a, d: k.device(p) };
}

function entryType(k: Kernel, p: Process, addr: number): string {
  return deviceEntryName(k, ptepGet(k, p, addr));
}

for (const [name, legacy] of VERSIONS) {
  Deno.test(`hmm-tests exclusive (${name}): device reads, CPU faults back, atomic access revoked`, () => {
    const { k, p, a, d } = buffer(legacy);
    assert.equal(d.exclusive(a, NPAGES * P), NPAGES);
    assert.deepEqual(
      [...d.read(a, NPAGES * P)].filter((_, i) => i % P === 0),
      [
        ...Array(NPAGES).keys(),
      ].map((i) => i + 1),
    );
    for (let i = 0; i < NPAGES; i++) p.write(a + i * P, p.read(a + i * P) + 1);
    for (let i = 0; i < NPAGES; i++) assert.equal(p.read(a + i * P), i + 2);
    assert.equal(d.checkExclusive(a, NPAGES * P), 0);
    k.check();
  });

  Deno.test(`hmm-tests exclusive_mprotect (${name}): after PROT_READ a device write gets EPERM`, () => {
    const { k, p, a, d } = buffer(legacy);
    d.exclusive(a, NPAGES * P);
    p.mprotect(a, NPAGES * P, C.PROT_READ);
    assert.throws(
      () => d.write(a, new Uint8Array([1])),
      (e) => e instanceof Errno && e.errno === "EPERM",
    );
    k.check();
  });

  Deno.test(`hmm-tests exclusive_cow (${name}): fork, then the parent writes its own copy`, () => {
    const { k, p, a, d } = buffer(legacy);
    d.exclusive(a, NPAGES * P);
    const child = p.fork();
    for (let i = 0; i < NPAGES; i++) p.write(a + i * P, p.read(a + i * P) + 1);
    for (let i = 0; i < NPAGES; i++) assert.equal(p.read(a + i * P), i + 2);
    for (let i = 0; i < NPAGES; i++) assert.equal(child.read(a + i * P), i + 1);
    k.check();
  });

  Deno.test(`fork (${name}): the parent's entry is restored first; the child shares no device ownership`, () => {
    const { k, p, a, d } = buffer(legacy);
    d.exclusive(a, P);
    const child = p.fork();
    assert.equal(p.pagemap(a).present, true);
    assert.equal(child.pagemap(a).present, true);
    assert.equal(p.pagemap(a).pfn, child.pagemap(a).pfn); // COW-shared
    assert.equal(d.isAtomic(a), false); // PROTECTION_PAGE dropped it
    assert.equal(d.stats.byEvent.MMU_NOTIFY_PROTECTION_PAGE, 1);
    k.check();
  });

  Deno.test(`fork (${name}) with the folio lock contended fails with EBUSY`, () => {
    const { k, p, a, d } = buffer(legacy);
    d.exclusive(a, P);
    const pfn = k.core.swapops.swpOffsetPfn(
      pteToSwpEntry(ptepGet(k, p, a)),
    );
    folioLock(k.core, pfn); // another thread holds it, as make_device_exclusive() does
    assert.throws(() => p.fork(), (e) => e instanceof Errno && e.errno === "EBUSY");
    assert.equal(k.processes.size, 1);
    folioUnlock(k.core, pfn);
    assert.equal(p.pagemap(a).swapped, true); // the entry is still there
    k.check();
    const child = p.fork(); // uncontended now
    assert.equal(child.read(a), 1);
    k.check();
  });

  Deno.test(`a CPU read restores the PTE and the device loses exclusivity (${name})`, () => {
    const { k, p, a, d, events: seen } = deviceLab(legacy ? "v6.14" : "v6.18", NPAGES);
    d.exclusive(a, P);
    assert.equal(d.isAtomic(a), true);
    assert.equal(p.read(a), 1);
    assert.equal(d.isAtomic(a), false);
    assert.deepEqual(seen, [
      "MMU_NOTIFY_EXCLUSIVE owner=device",
      legacy ? "MMU_NOTIFY_EXCLUSIVE" : "MMU_NOTIFY_CLEAR",
    ]);
    k.check();
  });

  Deno.test(`munmap() of a device-exclusive page frees it (${name})`, () => {
    const { k, p, a, d } = buffer(legacy);
    d.exclusive(a, 2 * P);
    const free = k.vmstat.nr_free_pages;
    p.munmap(a, 2 * P);
    assert.equal(k.vmstat.nr_free_pages, free + 2);
    assert.equal(p.rss().MM_ANONPAGES, NPAGES - 2);
    k.check();
  });

  Deno.test(`a file page cannot be made device-exclusive (${name}): EOPNOTSUPP`, () => {
    const k = simulate({ variants: { deviceExclusiveRange: legacy } });
    const p = k.spawn();
    const fd = p.memfdCreate("f");
    p.ftruncate(fd, P);
    const a = p.mmap(0, P, RW, C.MAP_SHARED, fd, 0);
    const d = k.device(p);
    assert.throws(
      () => d.exclusive(a, P),
      (e) => e instanceof Errno && (e.errno === "EOPNOTSUPP" || e.errno === "EBUSY"),
    );
    k.check();
  });
}

Deno.test("v6.18: one SWP_DEVICE_EXCLUSIVE type, the mapcount kept, pagemap shows a swap entry", () => {
  const { k, p, a, d } = buffer(false);
  const pfn = p.pagemap(a).pfn!;
  d.exclusive(a, P);
  assert.equal(entryType(k, p, a), "SWP_DEVICE_EXCLUSIVE");
  assert.equal(k.core.memmap.mapcount[pfn], 1);
  assert.equal(k.core.memmap.refcount[pfn], 1);
  const pm = p.pagemap(a);
  assert.deepEqual([pm.present, pm.swapped, pm.swapType], [false, true, 30]);
  assert.equal(p.rss().MM_ANONPAGES, NPAGES);
});

Deno.test("≤ v6.14: WRITE/READ entry types, the mapcount dropped while the device owns the page", () => {
  const { k, p, a, d } = buffer(true);
  const pfn = p.pagemap(a).pfn!;
  d.exclusive(a, P);
  assert.equal(entryType(k, p, a), "SWP_DEVICE_EXCLUSIVE_WRITE");
  assert.equal(k.core.memmap.mapcount[pfn], 0);
  assert.equal(k.core.memmap.refcount[pfn], 1);
  assert.equal(p.pagemap(a).swapType, 29);
  p.mprotect(a, P, C.PROT_READ); // change_pte_range() downgrades the entry
  assert.equal(entryType(k, p, a), "SWP_DEVICE_EXCLUSIVE_READ");
  assert.equal(p.read(a), 1);
  assert.equal(k.core.memmap.mapcount[pfn], 1);
  k.check();
});

Deno.test("v6.18: mprotect() leaves the entry alone; the restore decides writability from VM_WRITE", () => {
  const { k, p, a, d } = buffer(false);
  d.exclusive(a, 2 * P);
  p.mprotect(a, P, C.PROT_READ);
  assert.equal(entryType(k, p, a), "SWP_DEVICE_EXCLUSIVE");
  p.read(a);
  p.read(a + P);
  assert.equal(pteWrite(ptepGet(k, p, a)), false); // read-only VMA
  assert.equal(pteWrite(ptepGet(k, p, a + P)), true); // writable VMA, exclusive page
  k.check();
});

Deno.test("the restored PTE keeps soft-dirty", () => {
  const { k, p, a, d } = buffer(false);
  d.exclusive(a, P);
  assert.equal(p.pagemap(a).softDirty, true);
  p.read(a);
  assert.equal(p.pagemap(a).softDirty, true);
  k.check();
});

Deno.test("making an already exclusive page exclusive again restores it first (CLEAR), then EXCLUSIVE", () => {
  const { k, a, d } = buffer(false);
  d.exclusive(a, P);
  d.exclusive(a, P);
  assert.equal(d.stats.byEvent.MMU_NOTIFY_CLEAR, 1);
  assert.equal(d.stats.byEvent.MMU_NOTIFY_EXCLUSIVE, 2);
  assert.equal(d.stats.exclusiveLost, 1);
  assert.equal(d.isAtomic(a), true);
  k.check();
});

Deno.test("device atomics: a CPU access in between costs one restore and one re-acquisition", () => {
  const { k, p, a, d } = buffer(false);
  d.atomicAdd(a, 1);
  d.atomicAdd(a, 1);
  assert.equal(d.stats.atomicFaults, 1);
  assert.equal(p.read(a), 3);
  d.atomicAdd(a, 1);
  assert.equal(d.stats.atomicFaults, 2);
  assert.equal(d.stats.exclusiveLost, 1);
  assert.equal(p.read(a), 4);
  k.check();
});

Deno.test("without the owner filter the device drops its own mirror of the page on MMU_NOTIFY_EXCLUSIVE", () => {
  const k = simulate();
  const p = k.spawn();
  const a = p.mmap(0, P, RW, ANON);
  p.write(a, 7);
  const d = k.device(p, { filterOwnExclusive: false });
  d.read(a, 1); // mirrored WRITE
  d.exclusive(a, P);
  assert.equal(d.stats.filtered, 0);
  assert.equal(d.stats.dropped, 1);
  const f = k.device(p);
  f.read(a, 1);
  f.exclusive(a, P);
  assert.equal(f.stats.filtered, 1);
});

Deno.test("random CPU, device, fork, mprotect and unmap steps keep every invariant (both versions)", () => {
  const op = fc.oneof(
    fc.record({
      kind: fc.constantFrom(
        "cpuRead",
        "cpuWrite",
        "devRead",
        "devWrite",
        "devAtomic",
        "devExclusive",
        "dontneed",
        "mprotectRO",
        "mprotectRW",
        "fork",
        "childWrite",
        "childExit",
      ),
      page: fc.nat({ max: 3 }),
    }),
  );
  fc.assert(
    fc.property(fc.boolean(), fc.array(op, { minLength: 1, maxLength: 14 }), (legacy, ops) => {
      const k = simulate({ variants: { deviceExclusiveRange: legacy } });
      const p = k.spawn();
      const a = p.mmap(0, 4 * P, RW, ANON);
      const d = k.device(p);
      const children: Process[] = [];
      for (const { kind, page } of ops) {
        const addr = a + page * P;
        try {
          switch (kind) {
            case "cpuRead":
              p.read(addr);
              break;
            case "cpuWrite":
              p.write(addr, page + 1);
              break;
            case "devRead":
              d.read(addr, 1);
              break;
            case "devWrite":
              d.write(addr, new Uint8Array([page + 2]));
              break;
            case "devAtomic":
              d.atomicAdd(addr, 1);
              break;
            case "devExclusive":
              d.exclusive(addr, P);
              break;
            case "dontneed":
              p.madvise(addr, P, C.MADV_DONTNEED);
              break;
            case "mprotectRO":
              p.mprotect(addr, P, C.PROT_READ);
              break;
            case "mprotectRW":
              p.mprotect(addr, P, RW);
              break;
            case "fork":
              children.push(p.fork());
              break;
            case "childWrite":
              children.at(-1)?.write(addr, 9);
              break;
            case "childExit":
              children.pop()?.exit();
              break;
          }
        } catch (e) {
          if (!(e instanceof Errno) && !(e instanceof Signal)) throw e;
        }
        k.check();
        // Whatever the device holds ATOMIC is a device-exclusive entry of that very page.
        for (let i = 0; i < 4; i++) {
          const e = d.entry(a + i * P);
          if (e?.tag !== DPT_XA_TAG_ATOMIC) continue;
          const pte = ptepGet(k, p, a + i * P);
          assert.ok(k.core.swapops.isDeviceExclusiveEntry(pteToSwpEntry(pte)));
          assert.equal(k.core.swapops.swpOffsetPfn(pteToSwpEntry(pte)), e.pfn);
        }
      }
      for (const c of children) c.exit();
      p.exit();
      k.check();
    }),
    { seed: 0x6e6, numRuns: 300 },
  );
});

Deno.test("check() names a device-exclusive entry that names no anonymous page", () => {
  const { k, p, a, d } = buffer(false);
  d.exclusive(a, P);
  const pt = lookupPteTable(p.mm, a)!;
  const fd = p.memfdCreate("f");
  p.ftruncate(fd, P);
  const f = p.mmap(0, P, RW, C.MAP_SHARED, fd, 0);
  p.write(f, 1);
  const filePfn = p.pagemap(f).pfn!;
  pt.set(pteIndex(a), swpEntryToPte(k.core.swapops.makeDeviceExclusiveEntry(filePfn)));
  assert.throws(
    () => k.check(),
    /device exclusive: device-exclusive entry names no anonymous page/,
  );
});

Deno.test("memory_failure() on a device-exclusive page (v6.18) turns the entry into a hwpoison entry", () => {
  const { k, p, a, d } = buffer(false);
  d.exclusive(a, P);
  const pfn = k.core.swapops.swpOffsetPfn(pteToSwpEntry(ptepGet(k, p, a)));
  const r = memoryFailure(k.core, pfn, 0, null);
  assert.equal(r.ret, 0);
  assert.equal(
    k.core.swapops.entryKind(pteToSwpEntry(ptepGet(k, p, a))),
    "hwpoison",
  );
  assert.equal(d.isAtomic(a), false);
  assert.throws(() => p.read(a), (e) => e instanceof Signal && e.signo === "SIGBUS");
  k.check();
});
