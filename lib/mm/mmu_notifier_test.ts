import assert from "node:assert/strict";
import { simulate } from "../kernel/kernel.ts";
import {
  MMU_NOTIFIER_RANGE_BLOCKABLE,
  MMU_NOTIFY_CLEAR,
  MMU_NOTIFY_EVENTS,
  MMU_NOTIFY_EXCLUSIVE,
  MmuIntervalNotifier,
  mmuIntervalNotifierInsert,
  mmuIntervalNotifierRemove,
  mmuIntervalReadBegin,
  mmuIntervalReadRetry,
  mmuIntervalSetSeq,
  MmuNotifier,
  mmuNotifierInvalidateRangeEnd,
  mmuNotifierInvalidateRangeStart,
  mmuNotifierRangeInit,
  mmuNotifierRangeInitOwner,
  mmuNotifierRegister,
  withMmuNotifier,
} from "./mmu_notifier.ts";

Deno.test("enum mmu_notifier_event keeps the kernel's order and values", () => {
  assert.equal(MMU_NOTIFY_EVENTS.length, 8);
  assert.equal(MMU_NOTIFY_EVENTS[MMU_NOTIFY_CLEAR], "MMU_NOTIFY_CLEAR");
  assert.equal(MMU_NOTIFY_EVENTS[MMU_NOTIFY_EXCLUSIVE], "MMU_NOTIFY_EXCLUSIVE");
});

Deno.test("mmu_notifier_range_init_owner(): owner kept, every range blockable, bad events rejected", () => {
  const mm = simulate().spawn().mm;
  const r = mmuNotifierRangeInitOwner(MMU_NOTIFY_EXCLUSIVE, 0, mm, 0, 4096, "me");
  assert.equal(r.owner, "me");
  assert.equal(r.flags & MMU_NOTIFIER_RANGE_BLOCKABLE, MMU_NOTIFIER_RANGE_BLOCKABLE);
  assert.equal(mmuNotifierRangeInit(MMU_NOTIFY_CLEAR, 0, mm, 0, 4096).owner, null);
  assert.throws(() => mmuNotifierRangeInit(8, 0, mm, 0, 4096), RangeError);
});

Deno.test("the subscriptions' sequence is odd during an invalidation, even after; counters by event", () => {
  const mm = simulate().spawn().mm;
  const seen: number[] = [];
  mmuNotifierRegister(new MmuNotifier({}), mm);
  const mni = new MmuIntervalNotifier({
    invalidate(m, _r, seq) {
      seen.push(seq);
      mmuIntervalSetSeq(m, seq);
      return true;
    },
  });
  mmuIntervalNotifierInsert(mni, mm, 0, 8192);
  const subs = mm.notifier_subscriptions!;
  const before = mmuIntervalReadBegin(mni);
  const r = mmuNotifierRangeInit(MMU_NOTIFY_CLEAR, 0, mm, 4096, 8192);
  mmuNotifierInvalidateRangeStart(r);
  assert.equal(subs.invalidateSeq % 2, 1);
  mmuNotifierInvalidateRangeEnd(r);
  assert.equal(subs.invalidateSeq % 2, 0);
  assert.deepEqual(seen, [3]);
  assert.ok(mmuIntervalReadRetry(mni, before));
  assert.equal(subs.started[MMU_NOTIFY_CLEAR], 1);
  mmuIntervalNotifierRemove(mni);
  mmuNotifierInvalidateRangeStart(r);
  mmuNotifierInvalidateRangeEnd(r);
  assert.deepEqual(seen, [3]);
});

Deno.test("a notifier cannot be registered twice", () => {
  const mm = simulate().spawn().mm;
  const sub = new MmuNotifier({});
  mmuNotifierRegister(sub, mm);
  assert.throws(() => mmuNotifierRegister(sub, mm), /registered twice/);
  assert.equal(mm.mmap_lock.locked, false);
});

Deno.test("withMmuNotifier() runs the body alone without subscribers, bracketed with them", () => {
  const mm = simulate().spawn().mm;
  assert.equal(withMmuNotifier(MMU_NOTIFY_CLEAR, mm, 0, 4096, () => 7), 7);
  assert.equal(mm.notifier_subscriptions, null);
  const seen: string[] = [];
  mmuNotifierRegister(
    new MmuNotifier({
      invalidateRangeStart(_s, r) {
        seen.push(`start ${MMU_NOTIFY_EVENTS[r.event]}`);
        return 0;
      },
      invalidateRangeEnd() {
        seen.push("end");
      },
    }),
    mm,
  );
  assert.throws(() =>
    withMmuNotifier(MMU_NOTIFY_CLEAR, mm, 0, 4096, () => {
      seen.push("body");
      throw new Error("body failed");
    }), /body failed/);
  assert.deepEqual(seen, ["start MMU_NOTIFY_CLEAR", "body", "end"]);
  assert.equal(mm.notifier_subscriptions!.activeInvalidateRanges, 0);
});
