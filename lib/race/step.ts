/**
 * Steps: what a thread of a race scenario declares at each yield.
 *
 * A thread is a generator function. Before each lock operation and each
 * access to shared state it yields a step naming what it is about to touch;
 * the explorer decides when the thread may go on. A lock step is carried
 * out by the explorer itself (the thread only asks for the lock, and stays
 * blocked while the lock is held); the code after a `read` or `write` step,
 * up to the next yield, is the access itself and must touch nothing else
 * that another thread shares:
 *
 * ```ts
 * function* incr(s: { counter: number; tmp: Record<string, number> }, me: string) {
 *   yield { op: "lock", lock: s.lock };
 *   yield { op: "read", obj: "counter" };
 *   s.tmp[me] = s.counter;
 *   yield { op: "write", obj: "counter" };
 *   s.counter = s.tmp[me] + 1;
 *   yield { op: "unlock", lock: s.lock };
 * }
 * ```
 *
 * The lock operations are the kernel's: `spin_lock`/`spin_unlock` on a
 * `SpinLock` (spinlock_t), `down_read`/`up_read`/`down_write`/`up_write` on
 * an `RwSemaphore` (struct rw_semaphore, as mmap_lock), both from
 * lib/kernel/locking.ts.
 *
 * @module
 */
import { RwSemaphore, SpinLock } from "../kernel/locking.ts";

/** Operations on a spinlock_t. */
export type SpinOp = "lock" | "unlock";
/** Operations on a struct rw_semaphore. */
export type RwsemOp = "down_read" | "up_read" | "down_write" | "up_write";
/** Accesses to shared state. */
export type AccessOp = "read" | "write";

/** Fields every step may carry. */
export interface StepCommon {
  /** What the timeline shows for the step (defaults to the op and its target). */
  label?: string;
  /**
   * Values the thread carries in its own variables at this point, when they
   * are not in the state: they are part of the thread's state, so the
   * explorer hashes them with it. A value a thread carries across a yield
   * must be either in `state` or here, or two different states could be
   * taken for one.
   */
  local?: unknown;
}

/** `spin_lock(lock)` or `spin_unlock(lock)`. */
export interface SpinStep extends StepCommon {
  /** Which operation. */
  op: SpinOp;
  /** The spinlock_t (a SpinLock of lib/kernel/locking.ts). */
  lock: SpinLock;
}

/** `down_read(sem)`, `up_read(sem)`, `down_write(sem)` or `up_write(sem)`. */
export interface RwsemStep extends StepCommon {
  /** Which operation. */
  op: RwsemOp;
  /** The rw_semaphore (an RwSemaphore of lib/kernel/locking.ts). */
  lock: RwSemaphore;
}

/** A read or write of the named shared objects ("counter", "pte[3]", "rss"). */
export interface AccessStep extends StepCommon {
  /** Read or write. */
  op: AccessOp;
  /** The object touched, or several; names are free-form but must be the
   * same in every thread that touches the object. */
  obj: string | readonly string[];
}

/** A step that touches nothing shared (thread-local work, a point to stop at). */
export interface LocalStep extends StepCommon {
  /** Always "local". */
  op: "local";
}

/** What a thread yields. */
export type Step = SpinStep | RwsemStep | AccessStep | LocalStep;

/** A running thread: the generator of a step function. */
export type Thread = Iterator<Step, unknown, undefined>;

/** The ops, for validation and for tables. */
export const STEP_OPS = [
  "lock",
  "unlock",
  "down_read",
  "up_read",
  "down_write",
  "up_write",
  "read",
  "write",
  "local",
] as const;

/** Kernel spelling of a lock op, as the timeline labels it. */
const LOCK_CALL: Record<SpinOp | RwsemOp, string> = {
  lock: "spin_lock",
  unlock: "spin_unlock",
  down_read: "down_read",
  up_read: "up_read",
  down_write: "down_write",
  up_write: "up_write",
};

/** Throws a TypeError quoting `value` unless it is a well-formed step. */
export function validateStep(value: unknown, thread: string): Step {
  const step = value as Step;
  if (typeof value !== "object" || value === null || !STEP_OPS.includes(step.op)) {
    throw new TypeError(
      `Thread ${thread} yielded ${describe(value)}: expected a step { op: ${
        STEP_OPS.map((o) => `"${o}"`).join(" | ")
      } }`,
    );
  }
  switch (step.op) {
    case "lock":
    case "unlock":
      if (!(step.lock instanceof SpinLock)) {
        throw new TypeError(
          `Thread ${thread} yielded { op: "${step.op}" } with lock ${
            describe(step.lock)
          }: expected a SpinLock`,
        );
      }
      break;
    case "down_read":
    case "up_read":
    case "down_write":
    case "up_write":
      if (!(step.lock instanceof RwSemaphore)) {
        throw new TypeError(
          `Thread ${thread} yielded { op: "${step.op}" } with lock ${
            describe(step.lock)
          }: expected an RwSemaphore`,
        );
      }
      break;
    case "read":
    case "write": {
      const objs = typeof step.obj === "string" ? [step.obj] : step.obj;
      if (!Array.isArray(objs) || objs.length === 0 || objs.some((o) => typeof o !== "string")) {
        throw new TypeError(
          `Thread ${thread} yielded { op: "${step.op}" } with obj ${
            describe(step.obj)
          }: expected a name or a non-empty list of names`,
        );
      }
      break;
    }
  }
  return step;
}

function describe(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

/** The objects a read or write step names. */
export function stepObjects(step: Step): readonly string[] {
  if (step.op !== "read" && step.op !== "write") return [];
  return typeof step.obj === "string" ? [step.obj] : step.obj;
}

/** The lock a lock step names, else undefined. */
export function stepLock(step: Step): SpinLock | RwSemaphore | undefined {
  return "lock" in step ? step.lock : undefined;
}

/** What the timeline shows: the label, or `spin_lock(ptl)`, `write counter`. */
export function stepLabel(step: Step): string {
  if (step.label !== undefined) return step.label;
  const lock = stepLock(step);
  if (lock !== undefined) return `${LOCK_CALL[step.op as SpinOp | RwsemOp]}(${lock.name})`;
  if (step.op === "local") return "local";
  return `${step.op} ${stepObjects(step).join(",")}`;
}

/** True for the ops that take a lock (and may block): a step's, or a trace step's. */
export function isAcquire(step: Pick<Step, "op">): boolean {
  return step.op === "lock" || step.op === "down_read" || step.op === "down_write";
}

/** True for the ops that release a lock: a step's, or a trace step's. */
export function isRelease(step: Pick<Step, "op">): boolean {
  return step.op === "unlock" || step.op === "up_read" || step.op === "up_write";
}

/**
 * Whether two steps of different threads may give a different result when
 * swapped: they touch the same lock (except two read-side rwsem ops, which
 * commute), or the same object with at least one write. Independent steps
 * commute and neither enables nor disables the other; that is what lets the
 * explorer skip one of their two orders.
 */
export function dependent(a: Step, b: Step): boolean {
  const la = stepLock(a), lb = stepLock(b);
  if (la !== undefined || lb !== undefined) {
    if (la === undefined || lb === undefined || la.name !== lb.name) return false;
    const readSide = (s: Step) => s.op === "down_read" || s.op === "up_read";
    return !(readSide(a) && readSide(b));
  }
  if (a.op === "local" || b.op === "local") return false;
  if (a.op === "read" && b.op === "read") return false;
  const objs = stepObjects(b);
  return stepObjects(a).some((o) => objs.includes(o));
}
