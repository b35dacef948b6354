import assert from "node:assert/strict";
import { $display } from "../plot/display.ts";
import { explore, type ExploreResult, type Trace } from "./explore.ts";
import { abba, lostUpdate } from "./textbook.ts";
import { timelineSvg, timelineText } from "./timeline.ts";
import { SpinLock } from "../kernel/locking.ts";
import type { Step } from "./step.ts";

function counterexample<S>(r: ExploreResult<S>): Trace<S> {
  if (r.verdict !== "counterexample") throw new Error(`expected a counterexample: ${r.message}`);
  return r.trace;
}

/** One element per line, so that a snapshot diff is readable. */
const snapshot = { serializer: (markup: string) => markup.replace(/></g, ">\n<") };

Deno.test("timelineText() lays out the lost update one column per thread, failing step marked", () => {
  assert.equal(
    timelineText(counterexample(explore(lostUpdate()))),
    [
      "step  T0             T1",
      "----  -------------  ---------------",
      "1     read counter",
      "2                    read counter",
      "3     write counter",
      "4                    write counter ✗",
      "✗ VM_BUG_ON: lost update: counter is 1 after 2 increments [counter=1]",
    ].join("\n"),
  );
});

Deno.test("timelineText() shows the threads stuck in the ABBA deadlock", () => {
  assert.equal(
    timelineText(counterexample(explore(abba()))),
    [
      "step   T0              T1",
      "-----  --------------  --------------",
      "1      spin_lock(A)",
      "2                      spin_lock(B)",
      "stuck  spin_lock(B) ✗  spin_lock(A) ✗",
      "✗ deadlock (lock-order inversion): T0 waits in spin_lock(B) held by T1; " +
      "T1 waits in spin_lock(A) held by T0",
    ].join("\n"),
  );
});

Deno.test("timelineText({ upTo }) shows a replay in progress, without the failure", () => {
  assert.equal(
    timelineText(counterexample(explore(abba())), { upTo: 1 }),
    ["step  T0            T1", "----  ------------  --", "1     spin_lock(A)"].join("\n"),
  );
  assert.throws(() => timelineText(counterexample(explore(abba())), { upTo: 3 }), RangeError);
});

Deno.test("timelineSvg() draws a box per step, lock holds as bars, the failing step in red", () => {
  const figure = timelineSvg(counterexample(explore(lostUpdate({ locked: false }))));
  const svg = figure.svg;
  assert.ok(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"'));
  assert.equal(svg.match(/data-op="/g)?.length, 4);
  assert.equal(svg.match(/data-failed="true"/g)?.length, 1);
  assert.match(svg, /<g data-op="write" data-failed="true"><title>write counter<\/title>/);
  assert.equal(figure.text, timelineText(counterexample(explore(lostUpdate()))));
  const bundle = figure[$display]();
  assert.equal(bundle["image/svg+xml"], svg);
});

Deno.test("timelineSvg() draws a lock left held in red to the end of the timeline", () => {
  const trace = counterexample(explore({
    name: "forgot spin_unlock",
    setup() {
      const ptl = new SpinLock("ptl");
      function* fault(): Generator<Step, void> {
        yield { op: "lock", lock: ptl };
        yield { op: "write", obj: "pte[3]" };
      }
      return { state: { ptl }, threads: { fault: fault() } };
    },
  }));
  const svg = timelineSvg(trace).svg;
  assert.match(svg, /<g data-lock="ptl" data-thread="fault"><title>fault holds ptl to the end/);
  assert.match(svg, /fill="#e15759" opacity="1"/);
});

Deno.test("timelineSvg() of the lost update matches its snapshot", async (t) => {
  await t.assertSnapshot(timelineSvg(counterexample(explore(lostUpdate()))).svg, snapshot);
});

Deno.test("timelineSvg() of the ABBA deadlock matches its snapshot", async (t) => {
  await t.assertSnapshot(timelineSvg(counterexample(explore(abba()))).svg, snapshot);
});

Deno.test("timelineSvg() stacks nested lock holds of one thread in rows of their own", () => {
  const trace = counterexample(explore({
    name: "nested",
    setup() {
      const mmap = new SpinLock("mmap"), ptl = new SpinLock("ptl");
      function* walk(): Generator<Step, void> {
        yield { op: "lock", lock: mmap };
        yield { op: "lock", lock: ptl };
        yield { op: "unlock", lock: ptl };
      }
      return { state: {}, threads: { walk: walk() } };
    },
  }));
  const svg = timelineSvg(trace).svg;
  const y = (lock: string) =>
    Number(svg.match(new RegExp(`data-lock="${lock}"[^]*?<rect x="[\\d.]+" y="([\\d.]+)"`))![1]);
  assert.equal(y("ptl") - y("mmap"), 16);
});

Deno.test("timelineSvg() of a state broken before any step shows the lanes and the failure", () => {
  const trace = counterexample(explore({
    name: "bad start",
    setup: () => ({
      state: { rss: -1 },
      threads: { T0: (function* (): Generator<Step, void> {})() },
    }),
    check(s) {
      if (s.rss < 0) throw new Error(`rss is ${s.rss}`);
    },
  }));
  assert.equal(trace.steps.length, 0);
  assert.equal(trace.failure.step, -1);
  assert.equal(timelineText(trace), ["step  T0", "----  --", "✗ rss is -1"].join("\n"));
  assert.match(
    timelineSvg(trace).svg,
    /<text [^>]*fill="#e15759" font-weight="bold">✗ rss is -1<\/text>/,
  );
});
