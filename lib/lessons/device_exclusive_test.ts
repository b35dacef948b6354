import assert from "node:assert/strict";
import {
  cpuAccessSequence,
  forkExclusive,
  observeNotifierEvents,
  pingPong,
  pingPongSchedule,
  runSchedule,
  sequenceSvg,
} from "./device_exclusive.ts";

Deno.test("pingPongSchedule() spreads the CPU's share evenly, in runs", () => {
  assert.equal(pingPongSchedule(0.5, 6), "DCDCDC");
  assert.equal(pingPongSchedule(0, 4), "DDDD");
  assert.equal(pingPongSchedule(1, 4), "CCCC");
  assert.equal(pingPongSchedule(0.5, 8, 2), "DDCCDDCC");
  assert.equal(pingPongSchedule(0.25, 8), "DDDCDDDC");
});

Deno.test("the recorded CPU access sequence names the restore's event of each version", () => {
  const labels = (v: "v6.18" | "v6.14") => cpuAccessSequence(v).map((s) => s.label).join("\n");
  assert.match(labels("v6.18"), /MMU_NOTIFY_CLEAR: drop ATOMIC \(1 lost\)/);
  assert.match(labels("v6.14"), /MMU_NOTIFY_EXCLUSIVE: drop ATOMIC \(1 lost\)/);
  assert.match(labels("v6.14"), /SWP_DEVICE_EXCLUSIVE_WRITE/);
  const fig = sequenceSvg(cpuAccessSequence("v6.18"));
  assert.ok(fig.svg.startsWith("<svg"));
  assert.match(fig.text, /CPU → kernel: load A: #PF \(1 fault\)/);
});

Deno.test("fork of an exclusive page: restored and shared, or EBUSY when the folio lock is held", () => {
  assert.deepEqual(forkExclusive({ version: "v6.18", contended: false }), {
    fork: "ok",
    parent: "present",
    child: "present",
    shared: true,
    deviceAtomic: false,
  });
  assert.equal(forkExclusive({ version: "v6.14", contended: true }).fork, "EBUSY");
});

Deno.test("observeNotifierEvents(): a none → present fault notifies nobody", () => {
  assert.deepEqual(
    observeNotifierEvents({ path: "first write to a missing page", version: "v6.18" }),
    [],
  );
});

Deno.test("ping-pong costs one fault and one restore per switch to the CPU", () => {
  assert.deepEqual(runSchedule("DCDCDC"), {
    faults: 3,
    invalidations: 6,
    restores: 3,
    acquisitions: 3,
  });
  const rows = pingPong([0, 0.5, 1], 40, [1]);
  assert.deepEqual(rows.map((r) => r.restoresPerAccess), [0, 0.5, 0, 0, 0.5, 0]);
});

Deno.test("sequenceSvg() of a small literal sequence", async (t) => {
  const fig = sequenceSvg([
    { from: "device", to: "kernel", label: "make_device_exclusive(A, owner)" },
    { from: "kernel", to: "kernel", label: "PTE → SWP_DEVICE_EXCLUSIVE" },
    { from: "device", to: "device", label: "atomic add" },
    { from: "CPU", to: "kernel", label: "load A: #PF" },
    { from: "kernel", to: "device", label: "MMU_NOTIFY_CLEAR" },
    { from: "kernel", to: "CPU", label: "retry" },
  ], "fixture");
  await t.assertSnapshot(fig.svg.replace(/></g, ">\n<"));
});
