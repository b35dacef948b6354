/**
 * Locks of the model: spinlock_t (the page-table locks) and rw_semaphore
 * (mmap_lock). A single-threaded model cannot contend, so a lock records
 * its holder; taking a held lock is a deadlock and throws, and
 * `assertLocked` is the kernel's lockdep_assert_held(). The race explorer
 * drives the same objects from interleaved threads.
 * @module
 */
import { VmBugError } from "./bug.ts";

/** spinlock_t. */
export class SpinLock {
  holder: string | null = null;
  constructor(readonly name: string) {}

  lock(who = "task"): void {
    if (this.holder !== null) {
      throw new VmBugError("lock held", `${who} takes ${this.name} already held by ${this.holder}`);
    }
    this.holder = who;
  }

  trylock(who = "task"): boolean {
    if (this.holder !== null) return false;
    this.holder = who;
    return true;
  }

  unlock(): void {
    if (this.holder === null) {
      throw new VmBugError("lock not held", `unlock of ${this.name}, which is not held`);
    }
    this.holder = null;
  }

  get locked(): boolean {
    return this.holder !== null;
  }
}

/** struct rw_semaphore, as mmap_lock. */
export class RwSemaphore {
  readers = 0;
  writer: string | null = null;
  constructor(readonly name: string) {}

  downRead(): void {
    if (this.writer !== null) {
      throw new VmBugError(
        "lock held",
        `down_read(${this.name}) while ${this.writer} holds it for write`,
      );
    }
    this.readers++;
  }

  upRead(): void {
    if (this.readers <= 0) {
      throw new VmBugError("lock not held", `up_read(${this.name}) without readers`);
    }
    this.readers--;
  }

  downWrite(who = "task"): void {
    if (this.writer !== null || this.readers > 0) {
      throw new VmBugError("lock held", `down_write(${this.name}) by ${who} while held`);
    }
    this.writer = who;
  }

  upWrite(): void {
    if (this.writer === null) {
      throw new VmBugError("lock not held", `up_write(${this.name}) not held`);
    }
    this.writer = null;
  }

  get locked(): boolean {
    return this.writer !== null || this.readers > 0;
  }
}

/** lockdep_assert_held(). */
export function assertLocked(lock: SpinLock | RwSemaphore, where: string): void {
  if (!lock.locked) {
    throw new VmBugError("lockdep_assert_held", `${where} called without ${lock.name} held`);
  }
}
