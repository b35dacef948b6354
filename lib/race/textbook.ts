/**
 * Textbook races, as scenarios for the explorer: the lost update on a
 * counter, the ABBA lock-order deadlock, and threads that share nothing.
 * Lessons start from these before the kernel's own races; the tests use
 * them because their interleaving counts can be worked out by hand.
 *
 * @module
 */
import { VmBugError } from "../kernel/bug.ts";
import { SpinLock } from "../kernel/locking.ts";
import type { RaceScenario } from "./run.ts";
import type { Step } from "./step.ts";

/** State of {@linkcode lostUpdate}: a shared counter and each thread's register. */
export interface CounterState {
  counter: number;
  /** The value each thread read, kept here (not in a local) so that it is hashed. */
  tmp: Record<string, number>;
  lock: SpinLock;
}

/** Options of {@linkcode lostUpdate}. */
export interface LostUpdateOptions {
  /** Threads incrementing the counter (default 2). */
  threads?: number;
  /** Take `lock` around the read-modify-write (default false). */
  locked?: boolean;
}

/**
 * `counter++` as a read then a write, in several threads, with or without a
 * spinlock around it. Without the lock two threads can read the same value
 * and one increment is lost: `checkFinal` finds counter < threads.
 */
export function lostUpdate(options: LostUpdateOptions = {}): RaceScenario<CounterState> {
  const n = options.threads ?? 2;
  const locked = options.locked ?? false;
  function* increment(s: CounterState, me: string): Generator<Step, void, undefined> {
    if (locked) yield { op: "lock", lock: s.lock };
    yield { op: "read", obj: "counter" };
    s.tmp[me] = s.counter;
    yield { op: "write", obj: "counter" };
    s.counter = s.tmp[me] + 1;
    if (locked) yield { op: "unlock", lock: s.lock };
  }
  return {
    name: `lost update (${n} threads, ${locked ? "spin_lock" : "no lock"})`,
    setup() {
      const state: CounterState = { counter: 0, tmp: {}, lock: new SpinLock("lock") };
      const threads: Record<string, Generator<Step, void, undefined>> = {};
      for (let i = 0; i < n; i++) threads[`T${i}`] = increment(state, `T${i}`);
      return { state, threads };
    },
    checkFinal(s) {
      if (s.counter !== n) {
        throw new VmBugError("lost update", `counter is ${s.counter} after ${n} increments`, {
          counter: s.counter,
        });
      }
    },
  };
}

/** State of {@linkcode abba}: two spinlocks. */
export interface AbbaState {
  a: SpinLock;
  b: SpinLock;
  /** Writes done under both locks. */
  count: number;
}

/**
 * Two threads take two spinlocks, T0 as A then B, T1 in the order given
 * (default B then A, the lock-order inversion that deadlocks; "AB" is the
 * fixed version, one lock order for everyone).
 */
export function abba(order: "BA" | "AB" = "BA"): RaceScenario<AbbaState> {
  function* take(s: AbbaState, first: SpinLock, second: SpinLock): Generator<Step, void> {
    yield { op: "lock", lock: first };
    yield { op: "lock", lock: second };
    yield { op: "write", obj: "count" };
    s.count++;
    yield { op: "unlock", lock: second };
    yield { op: "unlock", lock: first };
  }
  return {
    name: `ABBA (T1 takes ${order[0]} then ${order[1]})`,
    setup() {
      const state: AbbaState = { a: new SpinLock("A"), b: new SpinLock("B"), count: 0 };
      const [x, y] = order === "BA" ? [state.b, state.a] : [state.a, state.b];
      return { state, threads: { T0: take(state, state.a, state.b), T1: take(state, x, y) } };
    },
  };
}

/**
 * `threads` threads of `steps` steps each, every thread writing only its
 * own slot: nothing is shared, so every order ends in the same state.
 */
export function independent(threads: number, steps: number): RaceScenario<{ slots: number[] }> {
  function* work(s: { slots: number[] }, i: number): Generator<Step, void> {
    for (let k = 0; k < steps; k++) {
      yield { op: "write", obj: `slot[${i}]` };
      s.slots[i]++;
    }
  }
  return {
    name: `${threads} independent threads × ${steps} steps`,
    setup() {
      const state = { slots: Array<number>(threads).fill(0) };
      return { state, threads: state.slots.map((_, i) => work(state, i)) };
    },
  };
}
