import assert from "node:assert/strict";
import { VmBugError } from "../kernel/bug.ts";
import { $display, type Displayable } from "../plot/display.ts";
import { RwSemaphore, SpinLock } from "../kernel/locking.ts";
import { explore, type ExploreProgress, type ExploreResult } from "./explore.ts";
import { abba, independent, lostUpdate } from "./textbook.ts";
import type { RaceScenario } from "./run.ts";
import type { Step } from "./step.ts";

/** C(n, k). */
function choose(n: number, k: number): number {
  let r = 1;
  for (let i = 1; i <= k; i++) r = r * (n - k + i) / i;
  return r;
}

function counts(r: ExploreResult): [string, number, number] {
  assert.notEqual(r.verdict, "incomplete", r.message);
  if (r.verdict === "incomplete") throw new Error("unreachable");
  return [r.verdict, r.interleavings, r.states];
}

Deno.test("explore() finds the lost update in 4 steps: both threads read before either writes", () => {
  const r = explore(lostUpdate());
  assert.equal(r.verdict, "counterexample");
  if (r.verdict !== "counterexample") return;
  assert.deepEqual(r.trace.schedule, ["T0", "T1", "T0", "T1"]);
  assert.deepEqual(r.trace.steps.map((s) => s.label), [
    "read counter",
    "read counter",
    "write counter",
    "write counter",
  ]);
  assert.equal(r.trace.failure.kind, "bug");
  assert.ok(r.trace.failure.error instanceof VmBugError);
  assert.equal(r.trace.failure.step, 3);
  assert.equal(
    r.message,
    "lost update (2 threads, no lock): counterexample in 4 steps: " +
      "VM_BUG_ON: lost update: counter is 1 after 2 increments [counter=1]",
  );
});

Deno.test("explore() finds the same shortest lost update in every mode", async (t) => {
  for (const options of [{}, { reduction: false }, { naive: true }]) {
    await t.step(JSON.stringify(options), () => {
      const r = explore(lostUpdate({ threads: 3 }), options);
      assert.equal(r.verdict, "counterexample");
      // checkFinal needs all three threads done: 6 steps, two reads before any write.
      if (r.verdict === "counterexample") assert.equal(r.trace.steps.length, 6);
    });
  }
});

Deno.test("explore() proves the locked counter safe: critical sections serialise, n! orders", async (t) => {
  // Each thread is lock, read, write, unlock; once a thread holds the lock
  // the others wait, so an execution is an order of the critical sections.
  for (const n of [2, 3]) {
    await t.step(`${n} threads`, () => {
      const naive = explore(lostUpdate({ threads: n, locked: true }), { naive: true });
      const reduced = explore(lostUpdate({ threads: n, locked: true }));
      const factorial = n === 2 ? 2 : 6;
      // Tree nodes: the root, then for each prefix of the order of critical
      // sections, 4 steps: 1 + 4·(n + n(n-1) + … + n!).
      const nodes = n === 2 ? 1 + 4 * (2 + 2) : 1 + 4 * (3 + 6 + 6);
      assert.deepEqual(counts(naive), ["safe", factorial, nodes]);
      assert.equal(counts(reduced)[1], factorial);
      assert.equal(
        naive.message,
        `lost update (${n} threads, spin_lock): all ${factorial} interleavings safe (${nodes} states)`,
      );
    });
  }
});

Deno.test("explore({ naive: true }) runs C(a+b, a) interleavings of two unrelated threads", async (t) => {
  for (const [a, b] of [[1, 1], [2, 2], [2, 3], [4, 3]]) {
    await t.step(`${a} and ${b} steps`, () => {
      const scenario: RaceScenario<{ x: number; y: number }> = {
        setup() {
          const state = { x: 0, y: 0 };
          function* bump(key: "x" | "y", steps: number): Generator<Step, void> {
            for (let i = 0; i < steps; i++) {
              yield { op: "write", obj: key };
              state[key]++;
            }
          }
          return { state, threads: { A: bump("x", a), B: bump("y", b) } };
        },
      };
      // The tree has one node per pair of prefixes (i, j) reached in C(i+j, i) ways.
      let nodes = 0;
      for (let i = 0; i <= a; i++) for (let j = 0; j <= b; j++) nodes += choose(i + j, i);
      assert.deepEqual(counts(explore(scenario, { naive: true })), [
        "safe",
        choose(a + b, a),
        nodes,
      ]);
      // With state hashing: one state per (i, j); with sleep sets, one interleaving.
      assert.deepEqual(counts(explore(scenario, { reduction: false })), [
        "safe",
        choose(a + b, a),
        (a + 1) * (b + 1),
      ]);
      assert.deepEqual(counts(explore(scenario)), ["safe", 1, (a + 1) * (b + 1)]);
    });
  }
});

Deno.test("explore() visits ≥10× fewer states than naive on 3 independent threads × 4 steps", () => {
  const naive = explore(independent(3, 4), { naive: true });
  const reduced = explore(independent(3, 4));
  // 12!/(4!)^3 interleavings; 5^3 distinct states.
  assert.deepEqual(counts(naive).slice(0, 2), ["safe", 34650]);
  assert.deepEqual(counts(reduced), ["safe", 1, 125]);
  const [, , naiveStates] = counts(naive);
  assert.ok(naiveStates >= 10 * 125, `naive: ${naiveStates} states`);
  // Sleep sets cut transitions (each state entered once), not states.
  const hashed = explore(independent(3, 4), { reduction: false });
  assert.ok(hashed.verdict === "safe" && reduced.verdict === "safe");
  assert.equal(reduced.transitions, 124);
  assert.ok(hashed.transitions > reduced.transitions);
  assert.equal(hashed.interleavings, 34650);
});

Deno.test("explore() finds the ABBA deadlock and names the lock-order inversion", () => {
  const r = explore(abba());
  assert.equal(r.verdict, "counterexample");
  if (r.verdict !== "counterexample") return;
  assert.deepEqual(r.trace.steps.map((s) => `${s.thread} ${s.label}`), [
    "T0 spin_lock(A)",
    "T1 spin_lock(B)",
  ]);
  assert.equal(r.trace.failure.kind, "deadlock");
  assert.equal(
    r.trace.failure.message,
    "deadlock (lock-order inversion): T0 waits in spin_lock(B) held by T1; " +
      "T1 waits in spin_lock(A) held by T0",
  );
  assert.deepEqual(r.trace.failure.blocked, [
    { thread: "T0", label: "spin_lock(B)", lock: "B", holders: ["T1"] },
    { thread: "T1", label: "spin_lock(A)", lock: "A", holders: ["T0"] },
  ]);
});

Deno.test("explore() proves one lock order for everyone safe", () => {
  assert.deepEqual(counts(explore(abba("AB"))).slice(0, 2), ["safe", 2]);
  assert.deepEqual(counts(explore(abba("AB"), { naive: true })), ["safe", 2, 21]);
});

Deno.test("explore() reports an AA deadlock: a thread takes a spinlock it holds", () => {
  const r = explore(() => {
    const lock = new SpinLock("ptl");
    return {
      state: {},
      threads: [(function* (): Generator<Step, void> {
        yield { op: "lock", lock };
        yield { op: "lock", lock };
      })()],
    };
  });
  assert.equal(r.verdict, "counterexample");
  if (r.verdict !== "counterexample") return;
  assert.equal(
    r.trace.failure.message,
    "deadlock (AA deadlock): T0 waits in spin_lock(ptl), which it holds itself",
  );
});

Deno.test("explore() reports a lock left held when every thread has finished", () => {
  const r = explore(() => {
    const lock = new SpinLock("ptl");
    function* forget(): Generator<Step, void> {
      yield { op: "lock", lock };
    }
    return { state: { lock }, threads: { fault: forget() } };
  });
  assert.equal(r.verdict, "counterexample");
  if (r.verdict !== "counterexample") return;
  assert.equal(r.trace.failure.kind, "lock held");
  assert.equal(
    r.trace.failure.message,
    "lock held: every thread has finished, but ptl (by fault) is still held",
  );
});

Deno.test("explore() reports spin_unlock of a lock another thread holds", () => {
  const r = explore(() => {
    const lock = new SpinLock("ptl");
    function* taker(): Generator<Step, void> {
      yield { op: "lock", lock };
      yield { op: "unlock", lock };
    }
    function* stray(): Generator<Step, void> {
      yield { op: "unlock", lock };
    }
    return { state: {}, threads: { taker: taker(), stray: stray() } };
  });
  assert.equal(r.verdict, "counterexample");
  if (r.verdict !== "counterexample") return;
  assert.equal(r.trace.steps.length, 1);
  assert.equal(
    r.trace.failure.message,
    "VM_BUG_ON: lock not held: stray: spin_unlock(ptl) of a lock held by nobody",
  );
});

Deno.test("explore() runs check() after every step and stops at the first state that breaks it", () => {
  // Two writers update a pair that must stay equal; each takes the lock, but
  // one forgets it: the check sees x != y between its two writes.
  type Pair = { x: number; y: number; lock: SpinLock };
  const scenario: RaceScenario<Pair> = {
    name: "pair",
    setup() {
      const state: Pair = { x: 0, y: 0, lock: new SpinLock("lock") };
      function* careful(): Generator<Step, void> {
        yield { op: "lock", lock: state.lock };
        yield { op: "write", obj: ["x", "y"] };
        state.x++, state.y++;
        yield { op: "unlock", lock: state.lock };
      }
      function* careless(): Generator<Step, void> {
        yield { op: "write", obj: "x" };
        state.x++;
        yield { op: "write", obj: "y" };
        state.y++;
      }
      return { state, threads: { careful: careful(), careless: careless() } };
    },
    check(s) {
      if (s.x !== s.y) throw new VmBugError("pair", "x and y differ", { x: s.x, y: s.y });
    },
  };
  const r = explore(scenario);
  assert.equal(r.verdict, "counterexample");
  if (r.verdict !== "counterexample") return;
  assert.deepEqual(r.trace.schedule, ["careless"]);
  assert.equal(r.trace.failure.message, "VM_BUG_ON: pair: x and y differ [x=1 y=0]");
});

Deno.test("explore() handles rw_semaphores: readers share, a writer excludes", () => {
  type S = { sem: RwSemaphore; vmas: number; seen: Record<string, number> };
  const scenario = (): RaceScenario<S> => ({
    setup() {
      const state: S = { sem: new RwSemaphore("mmap_lock"), vmas: 1, seen: {} };
      function* reader(me: string): Generator<Step, void> {
        yield { op: "down_read", lock: state.sem };
        yield { op: "read", obj: "vmas" };
        state.seen[me] = state.vmas;
        yield { op: "up_read", lock: state.sem };
      }
      function* writer(): Generator<Step, void> {
        yield { op: "down_write", lock: state.sem };
        yield { op: "write", obj: "vmas" };
        state.vmas++;
        yield { op: "up_write", lock: state.sem };
      }
      return { state, threads: { r0: reader("r0"), r1: reader("r1"), w: writer() } };
    },
  });
  // The readers' 6 steps interleave in C(6,3) = 20 orders. The writer's
  // three steps run back to back where no reader holds mmap_lock: at the
  // start, at the end, or between the readers when one finishes before the
  // other starts (2 of the 20 orders): 20·2 + 2 = 42.
  assert.deepEqual(counts(explore(scenario(), { naive: true })), ["safe", 42, 212]);
  assert.deepEqual(counts(explore(scenario(), { reduction: false })), ["safe", 42, 49]);
  assert.deepEqual(counts(explore(scenario())), ["safe", 4, 49]);
});

Deno.test("explore() bounded by steps, states or time says incomplete, never safe", async (t) => {
  await t.step("maxSteps", () => {
    const r = explore(independent(2, 3), { maxSteps: 4 });
    assert.equal(r.verdict, "incomplete");
    if (r.verdict !== "incomplete") return;
    assert.equal(r.reason, "steps");
    assert.equal(r.explored.depth, 4);
    assert.match(r.message, /incomplete: executions longer than 4 steps were cut/);
  });
  await t.step("maxStates", () => {
    const r = explore(independent(3, 3), { maxStates: 10 });
    assert.equal(r.verdict, "incomplete");
    if (r.verdict === "incomplete") assert.equal(r.reason, "states");
  });
  await t.step("maxStates, naive", () => {
    const r = explore(independent(3, 3), { naive: true, maxStates: 100 });
    assert.equal(r.verdict, "incomplete");
    if (r.verdict === "incomplete") assert.equal(r.reason, "states");
  });
  await t.step("timeoutMs", () => {
    const r = explore(independent(3, 5), { naive: true, timeoutMs: 0 });
    assert.equal(r.verdict, "incomplete");
    if (r.verdict === "incomplete") assert.equal(r.reason, "time");
  });
  await t.step("a bound large enough changes nothing", () => {
    const r = explore(independent(2, 3), { maxSteps: 6, maxStates: 16 });
    assert.equal(r.verdict, "safe");
  });
});

Deno.test("explore() calls onProgress during the search and once at the end", () => {
  const seen: ExploreProgress[] = [];
  const r = explore(independent(3, 3), {
    onProgress: (p) => seen.push(p),
    progressEvery: 16,
    print: false,
  });
  assert.equal(r.verdict, "safe");
  assert.ok(seen.length >= 3, `${seen.length} calls`);
  assert.equal(seen.at(-1)!.states, 64);
  assert.ok(seen.every((p, i) => i === 0 || p.states >= seen[i - 1].states));
});

Deno.test("explore() rejects a thread that yields something other than a step", () => {
  assert.throws(
    () =>
      explore(() => ({
        state: {},
        threads: [(function* () {
          yield { op: "lcok" } as unknown as Step;
        })()],
      })),
    (e: unknown) => e instanceof TypeError && /Thread T0 yielded \{"op":"lcok"\}/.test(e.message),
  );
  assert.throws(() => explore(independent(1, 1), { maxStates: -1 }), RangeError);
});

Deno.test("explore() keeps a thread's declared locals apart when hashing", () => {
  // The thread keeps the value it read in a local and declares it in `local`:
  // without it, the two orders would merge into one state and lose the bug.
  const checked = explore({
    setup() {
      const state = { counter: 0 };
      function* incr(): Generator<Step, void> {
        yield { op: "read", obj: "counter" };
        const v = state.counter;
        yield { op: "write", obj: "counter", local: v };
        state.counter = v + 1;
      }
      return { state, threads: [incr(), incr()] };
    },
    checkFinal: (s) => assert.equal(s.counter, 2),
  });
  assert.equal(checked.verdict, "counterexample");
});

Deno.test("explore() results display as their message, a counterexample with its timeline", () => {
  const safe = explore(lostUpdate({ locked: true }));
  const bundle = (safe as unknown as Displayable)[$display]();
  assert.equal(
    bundle["text/plain"],
    "lost update (2 threads, spin_lock): all 2 interleavings safe (17 states)",
  );
  const bad = (explore(abba()) as unknown as Displayable)[$display]();
  assert.match(
    bad["text/html"] as string,
    /^<p>ABBA \(T1 takes B then A\): counterexample in 2 steps: deadlock/,
  );
  assert.match(bad["text/html"] as string, /<svg xmlns=/);
  assert.ok((bad["text/plain"] as string).includes("\nstuck  spin_lock(B) ✗  spin_lock(A) ✗\n"));
});

Deno.test("explore({ print: true }) prints a progress line while it searches", () => {
  const lines: string[] = [];
  const log = console.log;
  console.log = (line: string) => lines.push(line);
  try {
    explore(independent(2, 2), { print: true, printEveryMs: 0 });
  } finally {
    console.log = log;
  }
  assert.ok(lines.length > 0);
  assert.match(
    lines[0],
    /^explore: \d+ states, \d+ transitions, depth \d+, \d+ queued, \d+\.\d s$/,
  );
});

Deno.test("explore() reports a thread stuck on a lock that a finished thread kept", () => {
  const r = explore(() => {
    const lock = new SpinLock("ptl");
    function* keeps(): Generator<Step, void> {
      yield { op: "lock", lock };
    }
    function* waits(): Generator<Step, void> {
      yield { op: "local" };
      yield { op: "lock", lock };
      yield { op: "unlock", lock };
    }
    return { state: {}, threads: { keeps: keeps(), waits: waits() } };
  });
  assert.equal(r.verdict, "counterexample");
  if (r.verdict !== "counterexample") return;
  assert.deepEqual(r.trace.schedule, ["keeps", "waits"]);
  assert.equal(
    r.trace.failure.message,
    "deadlock: waits waits in spin_lock(ptl) held by keeps, which has finished",
  );
});

Deno.test("explore() reports a VM_BUG_ON thrown by a thread's own code, naming the thread", () => {
  const r = explore(() => {
    const state = { pte: 0 };
    function* zap(): Generator<Step, void> {
      yield { op: "write", obj: "pte" };
      state.pte = 0;
    }
    function* fault(): Generator<Step, void> {
      yield { op: "write", obj: "pte" };
      state.pte = 0x101;
      yield { op: "read", obj: "pte" };
      if (state.pte === 0) throw new VmBugError("pte", "the PTE vanished under the fault");
    }
    return { state, threads: { zap: zap(), fault: fault() } };
  });
  assert.equal(r.verdict, "counterexample");
  if (r.verdict !== "counterexample") return;
  assert.deepEqual(r.trace.schedule, ["fault", "zap", "fault"]);
  assert.equal(r.trace.failure.thread, "fault");
  assert.equal(r.trace.failure.step, 2);
  assert.equal(r.trace.failure.message, "VM_BUG_ON: pte: the PTE vanished under the fault");
});

Deno.test("explore() merges states by the scenario's hash(state)", () => {
  // Two threads each bump their own counter and log to a shared history that
  // no invariant reads: hashing only the counters merges the histories away.
  const scenario = (hash?: (s: { a: number; b: number; log: string[] }) => string) => ({
    setup() {
      const state = { a: 0, b: 0, log: [] as string[] };
      function* bump(key: "a" | "b"): Generator<Step, void> {
        for (let i = 0; i < 2; i++) {
          yield { op: "write", obj: [key, "log"] };
          state[key]++;
          state.log.push(key);
        }
      }
      return { state, threads: { A: bump("a"), B: bump("b") } };
    },
    ...(hash ? { hash } : {}),
  });
  // By value, every history is a state of its own: the tree of 19 prefixes.
  assert.deepEqual(counts(explore(scenario(), { reduction: false })), ["safe", 6, 19]);
  const merged = explore(scenario((s) => `${s.a},${s.b}`), { reduction: false });
  assert.deepEqual(counts(merged), ["safe", 6, 9]);
});

Deno.test("explore() refuses two different locks with one name", () => {
  assert.throws(
    () =>
      explore(() => {
        const a = new SpinLock("ptl"), b = new SpinLock("ptl");
        function* t(lock: SpinLock): Generator<Step, void> {
          yield { op: "lock", lock };
          yield { op: "unlock", lock };
        }
        return { state: {}, threads: [t(a), t(b)] };
      }),
    /Thread T1 uses a second lock named "ptl": give each lock its own name/,
  );
});

Deno.test("explore() on 3 independent threads × 5 steps: 216 states, where naive needs over 10×", () => {
  const reduced = explore(independent(3, 5));
  assert.deepEqual(counts(reduced), ["safe", 1, 216]);
  // The naive walk (756756 interleavings) is still far from done at 10× that.
  const naive = explore(independent(3, 5), { naive: true, maxStates: 2160 });
  assert.equal(naive.verdict, "incomplete");
  if (naive.verdict === "incomplete") assert.equal(naive.reason, "states");
});
