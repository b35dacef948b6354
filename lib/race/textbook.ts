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
  /** The shared counter. */
  counter: number;
  /** The value each thread read, kept here (not in a local) so that it is hashed. */
  tmp: Record<string, number>;
  /** Taken around the increment when `locked`. */
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
  /** Lock A. */
  a: SpinLock;
  /** Lock B. */
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

/** State of {@linkcode anonFaultRace}: one PTE, its lock, the mm's rss and the pages. */
export interface AnonFaultState {
  /** The pfn the PTE maps, 0 for pte_none. */
  pte: number;
  /** MM_ANONPAGES of the mm. */
  rss: number;
  /** Next pfn the allocator hands out. */
  nextPfn: number;
  /** Pages allocated and not freed. */
  live: number[];
  /** What each fault read from the PTE before taking the lock (vmf->orig_pte). */
  orig: Record<string, number>;
  /** The page each fault allocated. */
  page: Record<string, number>;
  /** The PTE lock. */
  ptl: SpinLock;
}

/**
 * Two threads take a write fault on the same missing anonymous PTE, as
 * do_anonymous_page() does in mm/memory.c (v6.18): read the PTE without its
 * lock, allocate a zeroed folio, take the PTE lock, then install. With
 * `recheck` (the kernel's code) the fault re-reads the PTE under the lock
 * (vmf_pte_changed()) and backs off, freeing its page, when another fault
 * got there first; without it both install, the first page leaks and rss
 * counts two pages for one PTE. The model keeps only what the race needs:
 * one PTE, no rmap, no userfaultfd.
 */
export function anonFaultRace(
  options: { recheck?: boolean } = {},
): RaceScenario<AnonFaultState> {
  const recheck = options.recheck ?? true;
  function* fault(s: AnonFaultState, me: string): Generator<Step, void> {
    yield { op: "read", obj: "pte", label: "orig_pte = ptep_get()" };
    s.orig[me] = s.pte;
    if (s.orig[me] !== 0) return;
    yield { op: "write", obj: "pages", label: "folio_alloc()" };
    s.page[me] = s.nextPfn++;
    s.live.push(s.page[me]);
    yield { op: "lock", lock: s.ptl };
    if (recheck) {
      yield { op: "read", obj: "pte", label: "vmf_pte_changed()" };
      if (s.pte !== s.orig[me]) {
        yield { op: "unlock", lock: s.ptl };
        yield { op: "write", obj: "pages", label: "folio_put()" };
        s.live.splice(s.live.indexOf(s.page[me]), 1);
        return;
      }
    }
    yield { op: "write", obj: "rss", label: "inc_mm_counter()" };
    s.rss++;
    yield { op: "write", obj: "pte", label: "set_pte_at()" };
    s.pte = s.page[me];
    yield { op: "unlock", lock: s.ptl };
  }
  return {
    name: `do_anonymous_page() ${recheck ? "with" : "without"} vmf_pte_changed()`,
    setup() {
      const state: AnonFaultState = {
        pte: 0,
        rss: 0,
        nextPfn: 0x100,
        live: [],
        orig: {},
        page: {},
        ptl: new SpinLock("ptl"),
      };
      return { state, threads: { fault0: fault(state, "fault0"), fault1: fault(state, "fault1") } };
    },
    checkFinal(s) {
      const mapped = s.pte === 0 ? 0 : 1;
      if (s.rss !== mapped) {
        throw new VmBugError("rss counter", `MM_ANONPAGES is ${s.rss}, page tables map ${mapped}`, {
          rss: s.rss,
          pte: s.pte,
        });
      }
      const leaked = s.live.filter((pfn) => pfn !== s.pte);
      if (leaked.length > 0) {
        throw new VmBugError("refcount", `page ${leaked.join(", ")} allocated and never mapped`, {
          pfn: leaked[0],
        });
      }
    },
  };
}
