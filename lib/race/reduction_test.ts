/**
 * The reductions must not change a verdict: on random small scenarios
 * (threads taking two spinlocks and an rw_semaphore, reading and writing
 * two counters, under a random invariant), state hashing and sleep sets
 * find a failure exactly when the naive walk does, and one as short.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { VmBugError } from "../kernel/bug.ts";
import { RwSemaphore, SpinLock } from "../kernel/locking.ts";
import { explore, type ExploreResult } from "./explore.ts";
import type { RaceScenario } from "./run.ts";
import type { Step } from "./step.ts";

/** A lock op on spinlock A or B, or on the rwsem S (taken for read or write). */
type LockOp = { op: "lock" | "unlock"; lock: "A" | "B" | "S"; mode: "read" | "write" };
type Op = LockOp | { op: "read" | "write"; obj: "x" | "y"; add: number } | { op: "local" };

interface Regs {
  x: number;
  y: number;
  reg: number[];
  A: SpinLock;
  B: SpinLock;
  S: RwSemaphore;
}

function scenario(threads: Op[][], bad: number, badFinal: number): RaceScenario<Regs> {
  function* run(s: Regs, me: number, ops: Op[]): Generator<Step, void> {
    for (const o of ops) {
      if ("lock" in o) {
        if (o.lock === "S") {
          const down = o.op === "lock";
          yield o.mode === "read"
            ? { op: down ? "down_read" : "up_read", lock: s.S }
            : { op: down ? "down_write" : "up_write", lock: s.S };
        } else {
          yield { op: o.op, lock: s[o.lock] };
        }
      } else if (o.op === "local") {
        yield { op: "local" };
      } else if (o.op === "read") {
        yield { op: "read", obj: o.obj };
        s.reg[me] = s[o.obj];
      } else {
        yield { op: "write", obj: o.obj };
        s[o.obj] = s.reg[me] + o.add;
      }
    }
  }
  return {
    setup() {
      const state: Regs = {
        x: 0,
        y: 0,
        reg: threads.map(() => 0),
        A: new SpinLock("A"),
        B: new SpinLock("B"),
        S: new RwSemaphore("S"),
      };
      return { state, threads: threads.map((ops, i) => run(state, i, ops)) };
    },
    check(s) {
      if (s.x - s.y === bad) throw new VmBugError("x - y", `x - y reached ${bad}`);
    },
    checkFinal(s) {
      if (s.x + s.y === badFinal) throw new VmBugError("x + y", `x + y ended at ${badFinal}`);
    },
  };
}

const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    op: fc.constantFrom("lock", "unlock"),
    lock: fc.constantFrom("A", "B", "S"),
    mode: fc.constantFrom("read", "write"),
  }),
  fc.constant({ op: "local" }),
  fc.record({
    op: fc.constantFrom("read", "write"),
    obj: fc.constantFrom("x", "y"),
    add: fc.integer({ min: 0, max: 2 }),
  }),
) as fc.Arbitrary<Op>;

/** Locks taken and released in order, so that most scenarios get past the locks. */
const thread = fc.array(op, { minLength: 1, maxLength: 4 }).map((ops) => {
  const out: Op[] = [];
  const held: LockOp[] = [];
  for (const o of ops) {
    if (o.op === "unlock") {
      const last = held.pop();
      if (last !== undefined) out.push({ ...last, op: "unlock" });
    } else {
      if (o.op === "lock") {
        if (held.some((h) => h.lock === o.lock)) continue;
        held.push(o);
      }
      out.push(o);
    }
  }
  while (held.length > 0) out.push({ ...held.pop()!, op: "unlock" });
  return out;
});

function outcome(r: ExploreResult): [string, number] {
  if (r.verdict === "counterexample") return [r.verdict, r.trace.steps.length];
  if (r.verdict === "safe") return [r.verdict, r.interleavings];
  throw new Error(r.message);
}

Deno.test("state hashing and sleep sets agree with the naive walk on random scenarios", () => {
  fc.assert(
    fc.property(
      fc.array(thread, { minLength: 2, maxLength: 3 }),
      fc.integer({ min: -3, max: 3 }),
      fc.integer({ min: 1, max: 6 }),
      (threads, bad, badFinal) => {
        const s = scenario(threads, bad, badFinal);
        const naive = explore(s, { naive: true });
        const hashed = explore(s, { reduction: false });
        const reduced = explore(s);
        assert.deepEqual(outcome(hashed), outcome(naive));
        assert.equal(reduced.verdict, naive.verdict);
        if (naive.verdict === "counterexample" && reduced.verdict === "counterexample") {
          assert.equal(reduced.trace.steps.length, naive.trace.steps.length);
        }
        if (naive.verdict === "safe" && reduced.verdict === "safe") {
          assert.ok(reduced.states <= naive.states);
          assert.ok(reduced.interleavings <= naive.interleavings);
          assert.ok(reduced.interleavings >= 1);
        }
      },
    ),
    { seed: 20261121, numRuns: 300 },
  );
});
