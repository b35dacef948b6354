/**
 * MMU notifiers (mm/mmu_notifier.c, include/linux/mmu_notifier.h, v6.18):
 * how a secondary MMU (a GPU, an IOMMU, KVM) that mirrors a process's page
 * tables learns that the primary ones change.
 *
 * Two kinds of subscriber hang off `mm->notifier_subscriptions`:
 *  - a `MmuNotifier` (mmu_notifier_register()) sees every
 *    invalidate_range_start()/end() of the mm and `release` at exit;
 *  - a `MmuIntervalNotifier` (mmu_interval_notifier_insert()) covers one
 *    address range and gets `invalidate(mni, range, cur_seq)` only for
 *    ranges that overlap it, with the sequence count that
 *    mmu_interval_read_begin()/mmu_interval_read_retry() use to detect that
 *    a mirror built meanwhile is stale.
 *
 * Every path that changes or removes a PTE the secondary MMU may have
 * copied calls mmuNotifierInvalidateRangeStart() before and
 * mmuNotifierInvalidateRangeEnd() after, with an event saying why
 * (`MMU_NOTIFY_*`) and, for some events, an owner the subscriber may use to
 * recognise its own request (make_device_exclusive() passes the caller).
 *
 * Simplifications: one CPU, so "start" and "end" never overlap another
 * invalidation of the same mm, read_begin() never has to wait, and every
 * range is blockable (MMU_NOTIFIER_RANGE_BLOCKABLE): a subscriber never
 * fails with -EAGAIN. No SRCU: subscribers are called in list order and a
 * removal takes effect at once. clear_young/test_young are not modelled.
 * @module
 */
import type { MmStruct } from "./mm_types.ts";
import { VmBugError } from "../kernel/bug.ts";
import { ERRNO } from "../kernel/errno.ts";

// enum mmu_notifier_event (include/linux/mmu_notifier.h)
/** munmap() or mremap() unmapping the range. */
export const MMU_NOTIFY_UNMAP = 0;
/** A PTE is cleared for some other reason: madvise(), a page replaced (COW), ... */
export const MMU_NOTIFY_CLEAR = 1;
/** The protection of the range changes (mprotect(), uffd write-protect). */
export const MMU_NOTIFY_PROTECTION_VMA = 2;
/** The protection of pages changes, the VMA's does not (fork's write-protect for COW). */
export const MMU_NOTIFY_PROTECTION_PAGE = 3;
/** Soft-dirty tracking write-protects the range (clear_refs). */
export const MMU_NOTIFY_SOFT_DIRTY = 4;
/** The mm is going away (exit_mmap() → mmu_notifier_release()). */
export const MMU_NOTIFY_RELEASE = 5;
/** Pages are migrated (owner: the device driver that asked, for device-private). */
export const MMU_NOTIFY_MIGRATE = 6;
/**
 * A PTE is converted to a device-exclusive entry; the owner is what the
 * caller of make_device_exclusive() passed, so that it can filter out its
 * own event.
 */
export const MMU_NOTIFY_EXCLUSIVE = 7;

/** The event names, indexed by value. */
export const MMU_NOTIFY_EVENTS = [
  "MMU_NOTIFY_UNMAP",
  "MMU_NOTIFY_CLEAR",
  "MMU_NOTIFY_PROTECTION_VMA",
  "MMU_NOTIFY_PROTECTION_PAGE",
  "MMU_NOTIFY_SOFT_DIRTY",
  "MMU_NOTIFY_RELEASE",
  "MMU_NOTIFY_MIGRATE",
  "MMU_NOTIFY_EXCLUSIVE",
] as const;
export type MmuNotifyEventName = typeof MMU_NOTIFY_EVENTS[number];

/** The range may sleep (the subscriber may take a mutex). */
export const MMU_NOTIFIER_RANGE_BLOCKABLE = 1 << 0;

/** The end of a range covering the whole address space (ULONG_MAX + 1). */
export const MMU_NOTIFIER_RANGE_ALL = 2 ** 64;

/** struct mmu_notifier_range. */
export interface MmuNotifierRange {
  readonly mm: MmStruct;
  /** First address of the range. */
  readonly start: number;
  /** First address after the range. */
  readonly end: number;
  readonly flags: number;
  /** An MMU_NOTIFY_* value. */
  readonly event: number;
  /** Who asked (make_device_exclusive()'s caller, a migrating driver), or null. */
  readonly owner: unknown;
}

/** mmu_notifier_range_init(): a range without an owner. */
export function mmuNotifierRangeInit(
  event: number,
  flags: number,
  mm: MmStruct,
  start: number,
  end: number,
): MmuNotifierRange {
  return mmuNotifierRangeInitOwner(event, flags, mm, start, end, null);
}

/** mmu_notifier_range_init_owner(). */
export function mmuNotifierRangeInitOwner(
  event: number,
  flags: number,
  mm: MmStruct,
  start: number,
  end: number,
  owner: unknown,
): MmuNotifierRange {
  if (!(event >= 0 && event < MMU_NOTIFY_EVENTS.length && Number.isInteger(event))) {
    throw new RangeError(`unknown mmu_notifier_event ${event}`);
  }
  return { mm, start, end, flags: flags | MMU_NOTIFIER_RANGE_BLOCKABLE, event, owner };
}

/** mmu_notifier_range_blockable(). */
export function mmuNotifierRangeBlockable(range: MmuNotifierRange): boolean {
  return (range.flags & MMU_NOTIFIER_RANGE_BLOCKABLE) !== 0;
}

/** struct mmu_notifier_ops (the callbacks the model calls). */
export interface MmuNotifierOps {
  /** The mm is being torn down (exit_mmap()) or the notifier unregistered. */
  release?(subscription: MmuNotifier, mm: MmStruct): void;
  /** Before the PTEs of `range` change. Returns 0 (or -EAGAIN for a non-blockable range). */
  invalidateRangeStart?(subscription: MmuNotifier, range: MmuNotifierRange): number;
  /** After they changed. */
  invalidateRangeEnd?(subscription: MmuNotifier, range: MmuNotifierRange): void;
}

/** struct mmu_notifier. */
export class MmuNotifier {
  /** The mm it is registered on, or null. */
  mm: MmStruct | null = null;
  constructor(readonly ops: MmuNotifierOps) {}
}

/** struct mmu_interval_notifier_ops. */
export interface MmuIntervalNotifierOps {
  /**
   * `range` overlaps the interval. The subscriber calls
   * mmuIntervalSetSeq(mni, curSeq) (under its own lock) and drops what it
   * mirrors. Returns false only for a non-blockable range it cannot handle.
   */
  invalidate(mni: MmuIntervalNotifier, range: MmuNotifierRange, curSeq: number): boolean;
}

/** struct mmu_interval_notifier. */
export class MmuIntervalNotifier {
  mm: MmStruct | null = null;
  /** First address covered. */
  start = 0;
  /** Last address covered (inclusive, as interval_tree_node.last). */
  last = -1;
  /** invalidate_seq: the sequence of the last invalidation that hit it. */
  invalidateSeq = 0;
  constructor(readonly ops: MmuIntervalNotifierOps) {}
}

/** struct mmu_notifier_subscriptions: what `mm->notifier_subscriptions` points at. */
export class MmuNotifierSubscriptions {
  /** The registered MmuNotifiers, in registration order (the hlist). */
  readonly list: MmuNotifier[] = [];
  /** The interval notifiers (the interval tree). */
  readonly itree: MmuIntervalNotifier[] = [];
  /**
   * invalidate_seq: odd while an invalidation that hit an interval
   * notifier is running, even otherwise (starts at 2, as the kernel's).
   */
  invalidateSeq = 2;
  /** active_invalidate_ranges. */
  activeInvalidateRanges = 0;
  /** Invalidations started on this mm, by event (a counter of the model, for lessons). */
  readonly started: number[] = MMU_NOTIFY_EVENTS.map(() => 0);
}

function subscriptionsOf(mm: MmStruct): MmuNotifierSubscriptions {
  return mm.notifier_subscriptions ??= new MmuNotifierSubscriptions();
}

/** mm_has_notifiers(). */
export function mmHasNotifiers(mm: MmStruct): boolean {
  return mm.notifier_subscriptions !== null;
}

/**
 * mmu_notifier_register(): subscribe to every invalidation of `mm`. The
 * kernel takes mmap_lock for write around it; so does the model, so the
 * caller must not hold it. Returns 0.
 */
export function mmuNotifierRegister(subscription: MmuNotifier, mm: MmStruct): number {
  mm.mmap_lock.downWrite("mmu_notifier_register");
  try {
    return __mmuNotifierRegister(subscription, mm);
  } finally {
    mm.mmap_lock.upWrite();
  }
}

/** __mmu_notifier_register(): as above, with mmap_lock already held for write. */
export function __mmuNotifierRegister(subscription: MmuNotifier, mm: MmStruct): number {
  if (subscription.mm !== null) {
    throw new VmBugError("mmu_notifier", "notifier registered twice", { pid: mm.owner });
  }
  subscription.mm = mm;
  subscriptionsOf(mm).list.push(subscription);
  return 0;
}

/**
 * mmu_notifier_unregister(): unsubscribe; ->release runs first unless
 * exit_mmap() already ran it (the notifier is then off the list).
 */
export function mmuNotifierUnregister(subscription: MmuNotifier, mm: MmStruct): void {
  const subs = mm.notifier_subscriptions;
  const i = subs ? subs.list.indexOf(subscription) : -1;
  if (i >= 0) {
    subscription.ops.release?.(subscription, mm);
    subs!.list.splice(i, 1);
  }
  subscription.mm = null;
}

/**
 * mmu_interval_notifier_insert(): watch [start, start + length) of `mm`.
 * Returns 0, or -EOVERFLOW when the range wraps.
 */
export function mmuIntervalNotifierInsert(
  mni: MmuIntervalNotifier,
  mm: MmStruct,
  start: number,
  length: number,
): number {
  if (length <= 0 || start + length > MMU_NOTIFIER_RANGE_ALL) return -ERRNO.EOVERFLOW;
  const subs = subscriptionsOf(mm);
  mni.mm = mm;
  mni.start = start;
  mni.last = start + length - 1;
  // An interval inserted during an invalidation starts out stale.
  mni.invalidateSeq = subs.activeInvalidateRanges ? subs.invalidateSeq : subs.invalidateSeq - 1;
  subs.itree.push(mni);
  return 0;
}

/** mmu_interval_notifier_remove(). */
export function mmuIntervalNotifierRemove(mni: MmuIntervalNotifier): void {
  const subs = mni.mm?.notifier_subscriptions;
  if (subs) {
    const i = subs.itree.indexOf(mni);
    if (i >= 0) subs.itree.splice(i, 1);
  }
  mni.mm = null;
}

/**
 * mmu_interval_read_begin(): the sequence to compare with
 * mmuIntervalReadRetry() once the mirror is built. (The kernel waits here
 * for a running invalidation of the interval to end; one CPU never has to.)
 */
export function mmuIntervalReadBegin(mni: MmuIntervalNotifier): number {
  return mni.invalidateSeq;
}

/** mmu_interval_read_retry(): did an invalidation hit the interval since read_begin()? */
export function mmuIntervalReadRetry(mni: MmuIntervalNotifier, seq: number): boolean {
  return mni.invalidateSeq !== seq;
}

/** mmu_interval_set_seq(): called by ->invalidate with the `curSeq` it was given. */
export function mmuIntervalSetSeq(mni: MmuIntervalNotifier, curSeq: number): void {
  mni.invalidateSeq = curSeq;
}

/**
 * mmu_notifier_invalidate_range_start(): tell every subscriber that the
 * PTEs of `range` are about to change. Interval notifiers whose interval
 * overlaps the range go first (mn_itree_invalidate()), then the list
 * (mn_hlist_invalidate_range_start()). Returns 0.
 */
export function mmuNotifierInvalidateRangeStart(range: MmuNotifierRange): number {
  const subs = range.mm.notifier_subscriptions;
  if (!subs) return 0;
  subs.started[range.event]++;
  // mn_itree_inv_start_range(): the sequence goes odd while this runs.
  subs.activeInvalidateRanges++;
  if (subs.activeInvalidateRanges === 1) subs.invalidateSeq |= 1;
  for (const mni of [...subs.itree]) {
    if (mni.start >= range.end || mni.last < range.start) continue;
    if (!mni.ops.invalidate(mni, range, subs.invalidateSeq) && !mmuNotifierRangeBlockable(range)) {
      return -ERRNO.EAGAIN;
    }
  }
  for (const sub of [...subs.list]) sub.ops.invalidateRangeStart?.(sub, range);
  return 0;
}

/** mmu_notifier_invalidate_range_end(): the PTEs of `range` have changed. */
export function mmuNotifierInvalidateRangeEnd(range: MmuNotifierRange): void {
  const subs = range.mm.notifier_subscriptions;
  if (!subs) return;
  for (const sub of [...subs.list]) sub.ops.invalidateRangeEnd?.(sub, range);
  // mn_itree_inv_end(): the last range to end makes the sequence even again.
  subs.activeInvalidateRanges--;
  if (subs.activeInvalidateRanges === 0) subs.invalidateSeq++;
}

/**
 * Runs `body` between invalidate_range_start() and _end() of a range
 * without owner: the bracket every PTE-changing path of the model uses.
 * Without subscribers it runs `body` alone, as the kernel's inline
 * wrappers skip the calls when !mm_has_notifiers().
 */
export function withMmuNotifier<T>(
  event: number,
  mm: MmStruct,
  start: number,
  end: number,
  body: () => T,
): T {
  if (!mmHasNotifiers(mm)) return body();
  const range = mmuNotifierRangeInit(event, 0, mm, start, end);
  mmuNotifierInvalidateRangeStart(range);
  try {
    return body();
  } finally {
    mmuNotifierInvalidateRangeEnd(range);
  }
}

/**
 * mmu_notifier_release() → __mmu_notifier_release(), from exit_mmap()
 * before the address space is torn down: interval notifiers get one
 * MMU_NOTIFY_RELEASE invalidation of everything (mn_itree_release()), then
 * each registered notifier's ->release runs and the list is emptied
 * (mn_hlist_release()). Interval notifiers stay inserted until their owner
 * removes them, and so see the UNMAP that follows.
 */
export function mmuNotifierRelease(mm: MmStruct): void {
  const subs = mm.notifier_subscriptions;
  if (!subs) return;
  subs.started[MMU_NOTIFY_RELEASE]++;
  if (subs.itree.length > 0) {
    const range = mmuNotifierRangeInit(MMU_NOTIFY_RELEASE, 0, mm, 0, MMU_NOTIFIER_RANGE_ALL);
    subs.activeInvalidateRanges++;
    if (subs.activeInvalidateRanges === 1) subs.invalidateSeq |= 1;
    for (const mni of [...subs.itree]) mni.ops.invalidate(mni, range, subs.invalidateSeq);
    subs.activeInvalidateRanges--;
    if (subs.activeInvalidateRanges === 0) subs.invalidateSeq++;
  }
  const list = subs.list.splice(0);
  for (const sub of list) {
    sub.ops.release?.(sub, mm);
    sub.mm = null;
  }
}
