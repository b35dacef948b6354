/**
 * Counting results for `deno task test` (tests/run.ts): the gates before the
 * tests, and the summary line `deno test` ends with.
 * @module
 */
import { stripAnsi } from "./ansi.ts";

/** Passed and failed counts. */
export interface Tally {
  passed: number;
  failed: number;
}

// "ok | 12 passed (3 steps) | 0 failed (2s)", "FAILED | 3 passed | 1 failed (1 step) (31s)",
// possibly followed by "| 2 ignored" or "| 5 filtered out".
const SUMMARY = /^(?:ok|FAILED) \| (\d+) passed(?: \(\d+ steps?\))? \| (\d+) failed\b/gm;

/** The test counts of `deno test` output (the last summary in it), or undefined. */
export function parseTestSummary(output: string): Tally | undefined {
  const last = [...stripAnsi(output).matchAll(SUMMARY)].at(-1);
  return last ? { passed: Number(last[1]), failed: Number(last[2]) } : undefined;
}

/**
 * What a `deno test` run counts for: its summary, with one more failure if it
 * exited with an error that its summary does not show (a test file that does
 * not compile, no summary at all, a leak reported after the summary).
 */
export function testTally(output: string, exitCode: number): Tally {
  const summary = parseTestSummary(output) ?? { passed: 0, failed: 0 };
  const unexplained = exitCode !== 0 && summary.failed === 0;
  return { passed: summary.passed, failed: summary.failed + (unexplained ? 1 : 0) };
}

/** The last line of `deno task test`: `N passed, K failed`. */
export function tallyLine({ passed, failed }: Tally): string {
  return `${passed} passed, ${failed} failed`;
}
