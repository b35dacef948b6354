/**
 * Shrinking a disagreeing scenario to a minimal reproducer by dropping ops:
 * an op is dropped if no later op refers to it and the smaller scenario
 * still disagrees; references to later ops are renumbered.
 * @module
 */

import type { ScenarioArg, ScenarioOp } from "../../lib/live/scenario.ts";

function refersTo(op: ScenarioOp, index: number): boolean {
  return op.args.some((a) => typeof a === "object" && ("m" in a ? a.m === index : a.fd === index));
}

function renumber(a: ScenarioArg, dropped: number): ScenarioArg {
  if (typeof a !== "object") return a;
  if ("m" in a) return a.m > dropped ? { ...a, m: a.m - 1 } : a;
  return a.fd > dropped ? { fd: a.fd - 1 } : a;
}

/** `ops` without op `index`, or null if another op refers to it. */
export function dropOp(ops: readonly ScenarioOp[], index: number): ScenarioOp[] | null {
  if (ops.some((op, i) => i !== index && refersTo(op, index))) return null;
  return ops.filter((_, i) => i !== index).map((op) => ({
    op: op.op,
    args: op.args.map((a) => renumber(a, index)),
  }));
}

/**
 * Drop ops one at a time, last first, while `stillFails` holds; repeat
 * until no single op can go. `budget` caps the calls of `stillFails`.
 */
export async function shrink(
  ops: readonly ScenarioOp[],
  stillFails: (candidates: ScenarioOp[][]) => Promise<boolean[]>,
  budget = 6,
): Promise<ScenarioOp[]> {
  let best = [...ops];
  for (let round = 0; round < budget; round++) {
    const candidates = best.map((_, i) => dropOp(best, i)).filter((c) => c !== null);
    if (candidates.length === 0) break;
    const fails = await stillFails(candidates);
    // Take the smallest failing candidate; each candidate is one op shorter.
    const hit = candidates.findIndex((_, i) => fails[i]);
    if (hit < 0) break;
    best = candidates[hit];
  }
  return best;
}
