import assert from "node:assert/strict";
import { $display } from "../plot/display.ts";
import { explore, type ExploreResult, type Trace } from "./explore.ts";
import { replay } from "./replay.ts";
import { abba, lostUpdate } from "./textbook.ts";

function counterexample<S>(r: ExploreResult<S>): Trace<S> {
  if (r.verdict !== "counterexample") throw new Error(`expected a counterexample: ${r.message}`);
  return r.trace;
}

Deno.test("replay() reproduces the lost update step by step, state after each step", () => {
  const trace = counterexample(explore(lostUpdate()));
  const r = replay(trace);
  const seen: string[] = [];
  for (const step of r) seen.push(`${step.thread} ${step.label}: counter=${r.state.counter}`);
  assert.deepEqual(seen, [
    "T0 read counter: counter=0",
    "T1 read counter: counter=0",
    "T0 write counter: counter=1",
    "T1 write counter: counter=1",
  ]);
  assert.equal(r.done, true);
  assert.equal(r.failure?.message, trace.failure.message);
  assert.equal(r.failure?.step, trace.failure.step);
});

Deno.test("replay() stops short of the failure until the last step is done", () => {
  const trace = counterexample(explore(abba()));
  const r = replay(trace);
  assert.equal(r.position, 0);
  r.step();
  assert.equal(r.failure, null);
  assert.equal(r.state.a.holder, "T0");
  const failure = r.run();
  assert.equal(failure?.kind, "deadlock");
  assert.deepEqual(failure, trace.failure);
  assert.equal(r.step(), undefined);
});

Deno.test("replay() of the same trace twice gives the same steps and failure", () => {
  const trace = counterexample(explore(lostUpdate({ threads: 3 })));
  const a = replay(trace), b = replay(trace);
  a.run(), b.run();
  assert.deepEqual(a.steps, trace.steps);
  assert.deepEqual(b.steps, trace.steps);
  assert.equal(a.failure?.message, b.failure?.message);
});

Deno.test("replay() refuses a trace that names a thread the scenario lacks, or cannot run", () => {
  const trace = counterexample(explore(abba()));
  assert.throws(() => replay({ ...trace, schedule: ["T9"] }), /thread "T9"/);
  const stuck = replay({ ...trace, schedule: ["T0", "T1", "T0"] });
  stuck.step(), stuck.step();
  assert.throws(() => stuck.step(), /Replay diverged at step 2: thread T0 cannot run/);
});

Deno.test("a Replay displays the timeline of the steps done so far", () => {
  const r = replay(counterexample(explore(abba())));
  r.step();
  const bundle = r[$display]();
  assert.equal(
    bundle["text/plain"],
    [
      "step 1 of 2: T0 spin_lock(A)",
      "step  T0            T1",
      "----  ------------  --",
      "1     spin_lock(A)",
    ]
      .join("\n"),
  );
  assert.match(bundle["text/html"] as string, /^<svg /);
  r.run();
  assert.match(r.timeline().text, /✗ deadlock/);
});
