import assert from "node:assert/strict";
import { constants as C } from "../mod.ts";
import { GUP_PIN_COUNTING_BIAS } from "../mm/gup.ts";
import {
  dmaPin,
  LIVE_MOVE_CASES,
  liveMoveTable,
  moveErrnoTable,
  moveOrCopyExercise,
  moveSetup,
  runMoveOrCopy,
  startMigration,
  swapOut,
} from "./uffd_move.ts";
import { runCases } from "../exercise/exercise.ts";

const P = C.PAGE_SIZE;

Deno.test("dmaPin() pins with pin_user_pages(); its unpin takes the pin back once", () => {
  const { k, p, src } = moveSetup(1);
  const pfn = p.pagemap(src).pfn!;
  const unpin = dmaPin(p, src);
  assert.equal(k.core.memmap.refcount[pfn], 1 + GUP_PIN_COUNTING_BIAS);
  k.check(); // GUP's ledger accounts for the pin
  unpin();
  unpin();
  assert.equal(k.core.memmap.refcount[pfn], 1);
  k.check();
});

Deno.test("swapOut() leaves an exclusive swap entry and moves the page to MM_SWAPENTS", () => {
  const { k, p, src } = moveSetup(2);
  const offset = swapOut(p, src);
  const e = p.pagemap(src);
  assert.deepEqual([e.present, e.swapped, e.swapType, e.swapOffset], [false, true, 0, offset]);
  assert.deepEqual([p.rss().MM_ANONPAGES, p.rss().MM_SWAPENTS], [1, 1]);
  k.check();
  p.munmap(src, 2 * P);
  assert.equal(p.rss().MM_SWAPENTS, 0);
  k.check();
});

Deno.test("startMigration() puts a migration entry that the move waits out", () => {
  const { k, p, src, dst, uffd } = moveSetup(1);
  startMigration(p, src);
  assert.equal(p.pagemap(src).swapped, true);
  assert.equal(uffd.move({ dst, src, len: P }), P);
  assert.equal(p.read(dst), 0x40);
  k.check();
});

Deno.test("moveErrnoTable() has one row per case with the errno and the steps", () => {
  const rows = moveErrnoTable(["one page", "dst populated"]);
  assert.deepEqual(rows, [
    { case: "one page", errno: "ok", "uffdio_move.move": P, steps: "present:4096" },
    { case: "dst populated", errno: "EEXIST", "uffdio_move.move": -17, steps: "exists:-17" },
  ]);
});

Deno.test("moveOrCopyExercise rejects a monitor that only copies", () => {
  const copyOnly = (s: { pages: number; shared: number[] }) =>
    runMoveOrCopy(s, (f) => f.uffd.copy({ dst: f.dst, src: f.src, len: P }));
  assert.equal(runCases(moveOrCopyExercise, copyOnly).status, "failed");
});

Deno.test("liveMoveTable(): the host kernel agrees with the model on every case, or says why not", () => {
  const t = liveMoveTable();
  if (t.unavailable !== null) {
    assert.deepEqual(t.rows, []);
    assert.notEqual(t.unavailable, "");
    return;
  }
  assert.equal(t.rows.length, LIVE_MOVE_CASES.length);
  assert.deepEqual(t.rows.filter((r) => !r.agree).map((r) => r.case), []);
});
