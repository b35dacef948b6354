import assert from "node:assert/strict";
import * as C from "../kernel/constants.ts";
import { liveTestsEnabled } from "./_testing.ts";
import { outcomesAgree, runLiveScenarios, runModelScenarios } from "./differential.ts";
import type { ScenarioOp } from "./scenario.ts";
import { hostModelConfig } from "./normalize.ts";
import { UFFD_PAGEFAULT_FLAG_WRITE } from "../userfaultfd/constants.ts";

const RW = C.PROT_READ | C.PROT_WRITE;
const ANON = C.MAP_PRIVATE | C.MAP_ANONYMOUS;
const SCENARIOS: ScenarioOp[][] = [
  [
    { op: "mmap", args: [0, C.PAGE_SIZE, C.PROT_READ, ANON, -1, 0] },
    { op: "write", args: [{ m: 0 }, 1] },
  ],
  [
    { op: "mmap", args: [0, C.PAGE_SIZE, RW, ANON, -1, 0] },
    { op: "write", args: [{ m: 0 }, 1] },
    { op: "read", args: [{ m: 0 }] },
  ],
];

Deno.test("outcomesAgree() compares step by step, up to a step the live run refused", () => {
  assert.ok(outcomesAgree([{ ok: 0 }, { ok: 1 }], [{ ok: 0 }, { ok: 1 }]));
  assert.ok(!outcomesAgree([{ ok: 0 }, { ok: 1 }], [{ ok: 0 }, { ok: 2 }]));
  assert.ok(!outcomesAgree([{ ok: 0 }], [{ ok: 0 }, { signal: "SIGSEGV" }]));
  assert.ok(outcomesAgree([{ ok: 0 }, { ok: 1 }], [{ ok: 0 }, { unsafe: "not ours" }]));
});

Deno.test("runModelScenarios(): a write to a read-only page is SIGSEGV", () => {
  assert.deepEqual(runModelScenarios(SCENARIOS, {}), [
    [{ ok: "new" }, { signal: "SIGSEGV", code: "SEGV_ACCERR", at: 0 }],
    [{ ok: "new" }, { ok: null }, { ok: 1 }],
  ]);
});

Deno.test("runLiveScenarios(): a child killed by SIGSEGV ends its scenario, the next runs on", {
  ignore: !liveTestsEnabled(),
}, async () => {
  const { outcomes, stats } = await runLiveScenarios(SCENARIOS, { parallel: 1 });
  assert.deepEqual(outcomes, runModelScenarios(SCENARIOS, {}));
  assert.deepEqual(stats, { children: 2, signals: { SIGSEGV: 1 } });
});

/** Missing faults served by the runner's monitor, UFFDIO_ZEROPAGE and UFFDIO_POISON. */
const UFFD_SCENARIO: ScenarioOp[] = [
  { op: "mmap", args: [0, 4 * C.PAGE_SIZE, RW, ANON, -1, 0] },
  { op: "uffdMissing", args: [{ m: 0 }, 4 * C.PAGE_SIZE] },
  { op: "read", args: [{ m: 0, page: 1 }] },
  { op: "write", args: [{ m: 0, page: 2 }, 7] },
  { op: "uffdZeropage", args: [{ m: 0, page: 2 }, C.PAGE_SIZE] },
  { op: "uffdZeropage", args: [{ m: 0, page: 3 }, C.PAGE_SIZE] },
  { op: "uffdPoison", args: [{ m: 0 }, C.PAGE_SIZE] },
  { op: "read", args: [{ m: 0 }] },
];

Deno.test("runModelScenarios(): the model's monitor resolves missing faults with ZEROPAGE", () => {
  const [o] = runModelScenarios([UFFD_SCENARIO], {});
  assert.deepEqual(o.slice(2), [
    // The monitor's messages: a read fault and a write fault, on the page accessed.
    { ok: 0, uffd: [[0, 0]] },
    { ok: null, uffd: [[UFFD_PAGEFAULT_FLAG_WRITE, 0]] },
    { errno: "EEXIST" },
    { ok: C.PAGE_SIZE },
    { ok: C.PAGE_SIZE },
    // The default configuration has MEMORY_FAILURE: a poison marker reads as a machine check.
    { signal: "SIGBUS", code: "BUS_MCEERR_AR", at: 0, lsb: 12 },
  ]);
  const [quiet] = runModelScenarios([UFFD_SCENARIO], { MEMORY_FAILURE: false });
  assert.deepEqual(quiet.at(-1), { signal: "SIGBUS", code: "BUS_ADRERR", at: 0 });
});

Deno.test("runLiveScenarios(): a worker thread in the child serves the same faults", {
  ignore: !liveTestsEnabled(),
}, async () => {
  const { outcomes } = await runLiveScenarios([UFFD_SCENARIO], { parallel: 1 });
  const host = hostModelConfig();
  assert.ok("config" in host, "reason" in host ? host.reason : "");
  assert.deepEqual(outcomes[0], runModelScenarios([UFFD_SCENARIO], host.config)[0]);
});

Deno.test("runLiveScenarios(): a scenario's mappings sit side by side, top-down, as in the model", {
  ignore: !liveTestsEnabled(),
}, async () => {
  // The second mapping goes right below the first: its page 2 is the
  // first mapping's page 0; and above the first there is nothing, not the
  // Deno process's memory (the child's arena hints).
  const ops: ScenarioOp[] = [
    { op: "mmap", args: [0, 2 * C.PAGE_SIZE, RW, ANON, -1, 0] },
    { op: "write", args: [{ m: 0 }, 42] },
    { op: "mmap", args: [0, 2 * C.PAGE_SIZE, RW, ANON, -1, 0] },
    { op: "read", args: [{ m: 2, page: 2 }] },
    { op: "mremap", args: [{ m: 0 }, 2 * C.PAGE_SIZE, 8 * C.PAGE_SIZE, 0, 0] },
    { op: "read", args: [{ m: 0, page: 8 }] },
  ];
  const host = hostModelConfig();
  assert.ok("config" in host);
  const [model] = runModelScenarios([ops], host.config);
  assert.deepEqual(model.slice(3), [
    { ok: 42 },
    { ok: "same" }, // grown in place
    { signal: "SIGSEGV", code: "SEGV_MAPERR", at: 0 },
  ]);
  const { outcomes } = await runLiveScenarios([ops], { parallel: 1 });
  assert.deepEqual(outcomes[0], model);
});
