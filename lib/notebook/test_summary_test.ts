import assert from "node:assert/strict";
import { parseTestSummary, tallyLine, testTally } from "./test_summary.ts";

Deno.test("parseTestSummary() reads deno test's summary line", () => {
  assert.deepEqual(parseTestSummary("x\nok | 46 passed | 0 failed (824ms)\n"), {
    passed: 46,
    failed: 0,
  });
  assert.deepEqual(parseTestSummary("ok | 4 passed (7 steps) | 0 failed (33s)"), {
    passed: 4,
    failed: 0,
  });
  assert.deepEqual(
    parseTestSummary("\x1b[0m\x1b[31mFAILED\x1b[0m | 3 passed (6 steps) | 1 failed (1 step) (31s)"),
    { passed: 3, failed: 1 },
  );
  assert.deepEqual(
    parseTestSummary("ok | 1 passed | 0 failed | 2 ignored | 3 filtered out (5ms)"),
    {
      passed: 1,
      failed: 0,
    },
  );
  assert.equal(parseTestSummary("error: Type checking failed."), undefined);
});

Deno.test("parseTestSummary() takes the last summary", () => {
  const output = "ok | 1 passed | 0 failed (1ms)\n...\nFAILED | 5 passed | 2 failed (1s)\n";
  assert.deepEqual(parseTestSummary(output), { passed: 5, failed: 2 });
});

Deno.test("testTally() counts a failing run without failed tests as one failure", () => {
  assert.deepEqual(testTally("ok | 3 passed | 0 failed (1ms)", 0), { passed: 3, failed: 0 });
  assert.deepEqual(testTally("FAILED | 3 passed | 2 failed (1ms)", 1), { passed: 3, failed: 2 });
  assert.deepEqual(testTally("error: Module not found", 1), { passed: 0, failed: 1 });
  assert.deepEqual(testTally("ok | 3 passed | 0 failed (1ms)\nerror: leak", 1), {
    passed: 3,
    failed: 1,
  });
});

Deno.test("tallyLine() is the last line of deno task test", () => {
  assert.equal(tallyLine({ passed: 12, failed: 0 }), "12 passed, 0 failed");
});
