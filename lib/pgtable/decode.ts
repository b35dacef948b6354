/**
 * Human-readable decoding of raw entries, for pictures and lessons.
 * @module
 */
import { X86_PTE_FIELDS } from "../arch/x86/pgtable_types.ts";
import { isSwapPte, type Pte, ptePresent, pteProtnone } from "../arch/x86/pgtable.ts";
import { pteToSwpEntry, type SwapOps } from "./swapops.ts";

const SINGLE_BITS = X86_PTE_FIELDS.filter((f) => f.lo === f.hi);

/**
 * Names of the flag bits set in a present entry (PFN left out), or a short
 * description of a non-present one. Upper-level entries show PSE for a
 * huge leaf instead of PAT.
 */
export function entryFlagNames(entry: Pte, isPte = true, ops?: SwapOps): string[] {
  if (entry === 0n) return [];
  if (!ptePresent(entry)) {
    if (!isSwapPte(entry)) return [];
    const e = pteToSwpEntry(entry);
    return ops ? [`${ops.entryKind(e)}`, `type=${e.type}`, `offset=0x${e.offset.toString(16)}`] : [
      `swap type=${e.type}`,
      `offset=0x${e.offset.toString(16)}`,
    ];
  }
  const names: string[] = [];
  for (const f of SINGLE_BITS) {
    if ((entry >> BigInt(f.lo)) & 1n) names.push(!isPte && f.name === "PAT" ? "PSE" : f.name);
  }
  if (pteProtnone(entry)) names.push("PROTNONE");
  return names;
}
