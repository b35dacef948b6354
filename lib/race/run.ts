/**
 * One execution of a race scenario under a given schedule: the threads'
 * generators, the locks they took, the steps done, and the checks after
 * every step. The explorer and `replay()` both drive executions through
 * this class, so a replay fails exactly where the search failed.
 *
 * @module
 */
import { VmBugError } from "../kernel/bug.ts";
import { RwSemaphore, SpinLock } from "../kernel/locking.ts";
import { structuralHash } from "./hash.ts";
import {
  isAcquire,
  type Step,
  stepLabel,
  stepLock,
  stepObjects,
  type Thread,
  validateStep,
} from "./step.ts";

/** What a scenario's setup returns: a fresh state and the threads on it. */
export interface ScenarioInstance<S> {
  /** The shared state the threads work on. */
  state: S;
  /** The threads, by name (or as a list, named T0, T1, …). */
  threads: Record<string, Thread> | readonly Thread[];
}

/**
 * A race scenario. `setup()` builds everything from scratch; it is run once
 * per execution the explorer tries, so it must be deterministic.
 */
export interface RaceScenario<S = unknown> {
  /** Shown in titles and messages. */
  name?: string;
  /** A fresh state and the threads on it. */
  setup(): ScenarioInstance<S>;
  /** An invariant checked on the initial state and after every step:
   * throws (a VmBugError, any Error) when broken. */
  check?(state: S): void;
  /** An invariant checked once every thread has finished. */
  checkFinal?(state: S): void;
  /**
   * The key under which states are merged (default: {@linkcode structuralHash}
   * of the state). Two states with the same key must behave the same from
   * then on.
   */
  hash?(state: S): string | number;
}

/** A scenario, or just its setup function. */
export type ScenarioLike<S> = RaceScenario<S> | (() => ScenarioInstance<S>);

/** The scenario object for a scenario or a bare setup function. */
export function toScenario<S>(scenario: ScenarioLike<S>): RaceScenario<S> {
  return typeof scenario === "function" ? { setup: scenario } : scenario;
}

/** How a failing execution broke. */
export type FailureKind = "bug" | "deadlock" | "lock held";

/** One step done, as the trace records it. */
export interface TraceStep {
  /** Position in the execution, from 0. */
  index: number;
  /** The thread that did it. */
  thread: string;
  /** The step's op. */
  op: Step["op"];
  /** The lock's name for a lock op. */
  lock?: string;
  /** The objects of a read or write. */
  obj?: readonly string[];
  /** What the timeline shows. */
  label: string;
}

/** A thread that cannot go on: it waits for a lock that another holds. */
export interface BlockedThread {
  /** The waiting thread. */
  thread: string;
  /** The step it waits to do, e.g. `spin_lock(B)`. */
  label: string;
  /** The lock it waits for. */
  lock: string;
  /** Who holds the lock: thread names ("reader" for each reader of an rwsem
   * taken for read outside the scenario's steps). */
  holders: string[];
}

/** Why an execution is a counterexample. */
export interface Failure {
  /** A broken invariant or an error thrown by a step ("bug"), every
   * unfinished thread waiting for a lock ("deadlock"), or a lock still
   * held when every thread has finished ("lock held"). */
  kind: FailureKind;
  /** One line: the error's message, or which threads wait for what. */
  message: string;
  /** The step after which it was found (-1: before any step). */
  step: number;
  /** The thread whose step broke it (for a "bug"). */
  thread?: string;
  /** What was thrown, for a "bug". */
  error?: unknown;
  /** The threads stuck, for a "deadlock". */
  blocked?: BlockedThread[];
  /** The locks left held, for "lock held". */
  locks?: string[];
}

type Lock = SpinLock | RwSemaphore;

/** An execution of a scenario, advanced one step at a time. */
export class Execution<S> {
  /** The scenario being run. */
  readonly scenario: RaceScenario<S>;
  /** Its state, as the steps done so far left it. */
  readonly state: S;
  /** Thread names, in the order of the scenario's threads. */
  readonly names: readonly string[];
  /** The thread of each step done, and its step: what {@linkcode steps}
   * is written from. */
  readonly #doneBy: number[] = [];
  readonly #done: Step[] = [];
  readonly #steps: TraceStep[] = [];
  /** The step each thread will do next, null once it has finished. */
  readonly pending: (Step | null)[];
  /** How many steps each thread has done. */
  readonly pcs: number[];
  /** The failure found, if any; the execution stops there. */
  failure: Failure | null = null;
  readonly #threads: Thread[];
  readonly #locks = new Map<string, Lock>();
  /** Readers of each rwsem, which the semaphore itself does not record. */
  readonly #readers = new Map<Lock, string[]>();

  /** Set the scenario up and run each thread to its first step. */
  constructor(scenario: RaceScenario<S>) {
    this.scenario = scenario;
    const { state, threads } = scenario.setup();
    this.state = state;
    const entries = Array.isArray(threads)
      ? threads.map((t, i) => [`T${i}`, t] as const)
      : Object.entries(threads as Record<string, Thread>);
    if (entries.length === 0) throw new RangeError("A race scenario needs at least one thread");
    this.names = entries.map(([n]) => n);
    this.#threads = entries.map(([, t]) => t);
    this.pcs = this.names.map(() => 0);
    this.pending = this.#threads.map((t, i) => this.#advance(t, i));
    this.#afterStep(-1, undefined);
  }

  /** Run the next step of each thread of `schedule` (thread indexes) in turn. */
  static replay<S>(scenario: RaceScenario<S>, schedule: readonly number[]): Execution<S> {
    const run = new Execution(scenario);
    for (const t of schedule) run.replayStep(t);
    return run;
  }

  /** Do thread `i`'s next step as a recorded schedule says; throws if the
   * execution has failed or `i` cannot run (a setup() or threads that are
   * not deterministic). */
  replayStep(i: number): void {
    if (this.failure !== null || !this.enabled(i)) {
      throw new Error(
        `Replay diverged at step ${this.#done.length}: thread ${
          this.names[i]
        } cannot run; the scenario's setup() or threads are not deterministic`,
      );
    }
    this.exec(i);
  }

  /**
   * The steps done so far. They are written out when asked for rather than
   * at each step: the explorer runs most executions only to reach a state.
   */
  get steps(): readonly TraceStep[] {
    for (let index = this.#steps.length; index < this.#done.length; index++) {
      const step = this.#done[index];
      const lock = stepLock(step);
      this.#steps.push({
        index,
        thread: this.names[this.#doneBy[index]],
        op: step.op,
        ...(lock !== undefined ? { lock: lock.name } : {}),
        ...(step.op === "read" || step.op === "write" ? { obj: stepObjects(step) } : {}),
        label: stepLabel(step),
      });
    }
    return this.#steps;
  }

  /** Whether thread `i` can do its next step now. */
  enabled(i: number): boolean {
    const step = this.pending[i];
    if (step === null) return false;
    switch (step.op) {
      case "lock":
        return !step.lock.locked;
      case "down_read":
        return step.lock.writer === null;
      case "down_write":
        return !step.lock.locked;
      default:
        return true;
    }
  }

  /** Indexes of the threads that can run. */
  enabledThreads(): number[] {
    return this.names.map((_, i) => i).filter((i) => this.enabled(i));
  }

  /** True once every thread has finished. */
  get finished(): boolean {
    return this.pending.every((p) => p === null);
  }

  /**
   * Do thread `i`'s next step: take or release its lock, run its code up to
   * its next yield, then check the invariants. Returns the failure, if any.
   */
  exec(i: number): Failure | null {
    const step = this.pending[i]!;
    const thread = this.names[i];
    const index = this.#done.length;
    const lock = stepLock(step);
    this.#doneBy.push(i);
    this.#done.push(step);
    try {
      if (lock !== undefined) this.#lockOp(step, lock, thread);
      this.pcs[i]++;
      this.pending[i] = this.#advance(this.#threads[i], i);
    } catch (error) {
      this.failure = bug(error, index, thread);
      return this.failure;
    }
    this.#afterStep(index, thread);
    return this.failure;
  }

  /** The key of the whole system state: the scenario's state, each
   * thread's position and pending step, and the holders of the locks. */
  key(): string {
    const s = this.scenario;
    const user = s.hash ? String(s.hash(this.state)) : structuralHash(this.state);
    const threads = this.pending.map((p, i) =>
      p === null ? `${this.pcs[i]}:done` : `${this.pcs[i]}:${stepKey(p)}`
    );
    const held = [...this.#locks.values()].filter((l) => l.locked).map((l) =>
      `${l.name}=${this.#holders(l).sort().join("+")}`
    ).sort();
    return `${user}\n${threads.join("\n")}\n${held.join(",")}`;
  }

  #advance(thread: Thread, i: number): Step | null {
    const r = thread.next();
    if (r.done) return null;
    const step = validateStep(r.value, this.names[i]);
    const lock = stepLock(step);
    if (lock !== undefined) {
      const known = this.#locks.get(lock.name);
      if (known !== undefined && known !== lock) {
        throw new TypeError(
          `Thread ${
            this.names[i]
          } uses a second lock named "${lock.name}": give each lock its own name`,
        );
      }
      this.#locks.set(lock.name, lock);
    }
    return step;
  }

  #lockOp(step: Step, lock: Lock, thread: string): void {
    if (lock instanceof SpinLock) {
      if (step.op === "lock") return lock.lock(thread);
      if (lock.holder !== thread) {
        throw new VmBugError(
          "lock not held",
          `${thread}: spin_unlock(${lock.name}) of a lock held by ${lock.holder ?? "nobody"}`,
        );
      }
      return lock.unlock();
    }
    const readers = this.#readers.get(lock) ?? [];
    switch (step.op) {
      case "down_read":
        lock.downRead();
        this.#readers.set(lock, [...readers, thread]);
        return;
      case "up_read":
        if (!readers.includes(thread)) {
          throw new VmBugError(
            "lock not held",
            `${thread}: up_read(${lock.name}) without holding it for read`,
          );
        }
        lock.upRead();
        readers.splice(readers.indexOf(thread), 1);
        return;
      case "down_write":
        return lock.downWrite(thread);
      case "up_write":
        if (lock.writer !== thread) {
          throw new VmBugError(
            "lock not held",
            `${thread}: up_write(${lock.name}) of a semaphore held by ${lock.writer ?? "nobody"}`,
          );
        }
        return lock.upWrite();
    }
  }

  #holders(lock: Lock): string[] {
    if (lock instanceof SpinLock) return lock.holder === null ? [] : [lock.holder];
    if (lock.writer !== null) return [lock.writer];
    return this.#readers.get(lock)?.slice() ?? Array(lock.readers).fill("reader");
  }

  /** The checks after a step: the scenario's invariant, then at the end the
   * final invariant and the locks, or else whether every thread is stuck. */
  #afterStep(index: number, thread: string | undefined): void {
    try {
      this.scenario.check?.(this.state);
    } catch (error) {
      this.failure = bug(error, index, thread);
      return;
    }
    if (this.finished) {
      try {
        this.scenario.checkFinal?.(this.state);
      } catch (error) {
        this.failure = bug(error, index, thread);
        return;
      }
      const held = [...this.#locks.values()].filter((l) => l.locked);
      if (held.length > 0) {
        const what = held.map((l) => `${l.name} (by ${this.#holders(l).join(", ")})`);
        this.failure = {
          kind: "lock held",
          message: `lock held: every thread has finished, but ${what.join(" and ")} ${
            held.length > 1 ? "are" : "is"
          } still held`,
          step: index,
          locks: held.map((l) => l.name),
        };
      }
      return;
    }
    if (!this.pending.some((_, i) => this.enabled(i))) this.failure = this.#deadlock(index);
  }

  #deadlock(index: number): Failure {
    const blocked: BlockedThread[] = [];
    this.pending.forEach((step, i) => {
      if (step === null || !isAcquire(step)) return;
      const lock = stepLock(step)!;
      blocked.push({
        thread: this.names[i],
        label: stepLabel(step),
        lock: lock.name,
        holders: this.#holders(lock),
      });
    });
    const gone = (h: string) => {
      const i = this.names.indexOf(h);
      return i >= 0 && this.pending[i] === null ? `${h}, which has finished` : h;
    };
    const parts = blocked.map((b) =>
      b.holders.includes(b.thread)
        ? `${b.thread} waits in ${b.label}, which it holds itself`
        : `${b.thread} waits in ${b.label} held by ${b.holders.map(gone).join(", ")}`
    );
    const cycle = blocked.length > 1 &&
      blocked.every((b) => b.holders.some((h) => blocked.some((o) => o.thread === h)));
    const kind = blocked.length === 1 && blocked[0].holders.includes(blocked[0].thread)
      ? " (AA deadlock)"
      : cycle
      ? " (lock-order inversion)"
      : "";
    return {
      kind: "deadlock",
      message: `deadlock${kind}: ${parts.join("; ")}`,
      step: index,
      blocked,
    };
  }
}

function bug(error: unknown, step: number, thread: string | undefined): Failure {
  const message = error instanceof Error ? error.message : String(error);
  return { kind: "bug", message, step, error, ...(thread !== undefined ? { thread } : {}) };
}

/** The part of a pending step that identifies where its thread is. */
function stepKey(step: Step): string {
  const lock = stepLock(step);
  const target = lock !== undefined ? lock.name : stepObjects(step).join(",");
  const local = step.local === undefined ? "" : ` ${structuralHash(step.local)}`;
  return `${step.op} ${target} ${step.label ?? ""}${local}`;
}
