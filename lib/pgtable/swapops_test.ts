import assert from "node:assert/strict";
import {
  PTE_MARKER_GUARD,
  PTE_MARKER_POISONED,
  PTE_MARKER_UFFD_WP,
  pteToSwpEntry,
  SwapOps,
  swapTypes,
  swpEntry,
  swpEntryToPte,
} from "./swapops.ts";
import { DEFAULT_CONFIG } from "../kernel/config.ts";
import { pteSwpMkexclusive, pteSwpMksoftDirty, pteSwpMkuffdWp } from "../arch/x86/pgtable.ts";

Deno.test("swapTypes(): Debian's v6.18 configuration", () => {
  assert.deepEqual(swapTypes(DEFAULT_CONFIG), {
    MAX_SWAPFILES: 24,
    SWP_HWPOISON: 24,
    SWP_MIGRATION_READ: 25,
    SWP_MIGRATION_READ_EXCLUSIVE: 26,
    SWP_MIGRATION_WRITE: 27,
    SWP_DEVICE_WRITE: 28,
    SWP_DEVICE_READ: 29,
    SWP_DEVICE_EXCLUSIVE: 30,
    SWP_DEVICE_EXCLUSIVE_WRITE: null,
    SWP_DEVICE_EXCLUSIVE_READ: null,
    SWP_PTE_MARKER: 31,
  });
});

Deno.test("swapTypes(): up to v6.14 two device-exclusive types push the rest down by one", () => {
  assert.deepEqual(swapTypes(DEFAULT_CONFIG, true), {
    MAX_SWAPFILES: 23,
    SWP_HWPOISON: 23,
    SWP_MIGRATION_READ: 24,
    SWP_MIGRATION_READ_EXCLUSIVE: 25,
    SWP_MIGRATION_WRITE: 26,
    SWP_DEVICE_WRITE: 27,
    SWP_DEVICE_READ: 28,
    SWP_DEVICE_EXCLUSIVE: null,
    SWP_DEVICE_EXCLUSIVE_WRITE: 29,
    SWP_DEVICE_EXCLUSIVE_READ: 30,
    SWP_PTE_MARKER: 31,
  });
  const none = swapTypes({ MEMORY_FAILURE: true, MIGRATION: true, DEVICE_PRIVATE: false }, true);
  assert.equal(none.SWP_DEVICE_EXCLUSIVE_WRITE, null);
  assert.equal(none.MAX_SWAPFILES, 27);
});

Deno.test("≤ v6.14 device-exclusive entries: both types are device-exclusive, one is writable", () => {
  const old = new SwapOps(DEFAULT_CONFIG, true);
  const w = old.makeWritableDeviceExclusiveEntry(7), r = old.makeReadableDeviceExclusiveEntry(7);
  assert.deepEqual([old.isDeviceExclusiveEntry(w), old.isDeviceExclusiveEntry(r)], [true, true]);
  assert.deepEqual([old.isWritableDeviceExclusiveEntry(w), old.isWritableDeviceExclusiveEntry(r)], [
    true,
    false,
  ]);
  assert.ok(old.isPfnSwapEntry(r));
  assert.throws(() => old.makeDeviceExclusiveEntry(7), RangeError);
  assert.throws(() => new SwapOps(DEFAULT_CONFIG).makeWritableDeviceExclusiveEntry(7), RangeError);
});

Deno.test("swapTypes(): without MEMORY_FAILURE and DEVICE_PRIVATE the types move up", () => {
  const t = swapTypes({ MEMORY_FAILURE: false, MIGRATION: true, DEVICE_PRIVATE: false });
  assert.equal(t.MAX_SWAPFILES, 28);
  assert.equal(t.SWP_HWPOISON, null);
  assert.equal(t.SWP_MIGRATION_READ, 28);
  assert.equal(t.SWP_DEVICE_EXCLUSIVE, null);
  assert.equal(t.SWP_PTE_MARKER, 31);
});

const ops = new SwapOps(DEFAULT_CONFIG);

Deno.test("each special entry is recognised by its own predicate only", async (t) => {
  const rows = [
    ["hwpoison", ops.makeHwpoisonEntry(5), "isHwpoisonEntry"],
    ["migration read", ops.makeReadableMigrationEntry(5), "isMigrationEntry"],
    ["migration read-exclusive", ops.makeReadableExclusiveMigrationEntry(5), "isMigrationEntry"],
    ["migration write", ops.makeWritableMigrationEntry(5), "isMigrationEntry"],
    ["device exclusive", ops.makeDeviceExclusiveEntry(5), "isDeviceExclusiveEntry"],
    ["pte marker", ops.makePteMarkerEntry(PTE_MARKER_UFFD_WP), "isPteMarkerEntry"],
  ] as const;
  const preds = [
    "isHwpoisonEntry",
    "isMigrationEntry",
    "isDeviceExclusiveEntry",
    "isPteMarkerEntry",
  ] as const;
  for (const [name, entry, pred] of rows) {
    await t.step(name, () => {
      for (const p of preds) assert.equal(ops[p](entry), p === pred, `${p}(${name})`);
      assert.ok(ops.nonSwapEntry(entry));
    });
  }
});

Deno.test("pfn swap entries carry the pfn; markers do not", () => {
  assert.equal(ops.swpOffsetPfn(ops.makeWritableMigrationEntry(0x1234)), 0x1234);
  assert.ok(ops.isPfnSwapEntry(ops.makeHwpoisonEntry(1)));
  assert.ok(!ops.isPfnSwapEntry(ops.makePteMarkerEntry(PTE_MARKER_POISONED)));
});

Deno.test("marker bits: uffd-wp, poisoned, guard", () => {
  const m = ops.makePteMarkerEntry(PTE_MARKER_UFFD_WP | PTE_MARKER_GUARD);
  assert.ok(ops.pteMarkerEntryUffdWp(m));
  assert.ok(ops.isGuardSwpEntry(m));
  assert.ok(!ops.isPoisonedSwpEntry(m));
  assert.throws(() => ops.makePteMarkerEntry(0), RangeError);
  assert.throws(() => ops.makePteMarkerEntry(8), RangeError);
});

Deno.test("pte_to_swp_entry() ignores the swap PTE's software bits", () => {
  const entry = swpEntry(3, 0x777n);
  const pte = pteSwpMkexclusive(pteSwpMkuffdWp(pteSwpMksoftDirty(swpEntryToPte(entry))));
  assert.deepEqual(pteToSwpEntry(pte), entry);
});

Deno.test("a configuration without MEMORY_FAILURE cannot make hwpoison entries", () => {
  const noMf = new SwapOps({ ...DEFAULT_CONFIG, MEMORY_FAILURE: false });
  assert.throws(() => noMf.makeHwpoisonEntry(1), /CONFIG_MEMORY_FAILURE/);
});
