/**
 * Reference solutions of lesson 01 (notebooks/01_hugepd.ipynb), written from
 * the kernel's rules rather than by calling the model, so that the exercise
 * test compares two independent answers.
 */
import type {
  HugepteInput,
  HugepteResult,
  LeafStep,
  LeafStepInput,
  Tables8xx,
  Tables8xxInput,
} from "../../lib/lessons/mod.ts";

const SZ_4K = 4096;
const SZ_4M = 4 * 2 ** 20;
const SZ_8M = 8 * 2 ** 20;

/** (a) On 8xx a first-level entry covers 4M; a PTE table is 1024 × 4 bytes.
 * With hugepd an 8M page is two entries → one 4-byte hugepte table; every
 * other layout fills PTE tables with one 4K cell per 4K of the page. */
export function countTables8xx({ size, hugepd }: Tables8xxInput): Tables8xx {
  const pmdEntries = Math.max(1, size / SZ_4M);
  if (size === SZ_8M && hugepd) return { pmdEntries, tables: 1, leafEntries: 1, bytes: 4 };
  return { pmdEntries, tables: pmdEntries, leafEntries: size / SZ_4K, bytes: pmdEntries * 4096 };
}

/** (b) Report the page once, from its first address, and jump past its end. */
export function walkLeafStep({ addr, entrySpan, leafSize }: LeafStepInput): LeafStep {
  const leafStart = Math.floor(addr / leafSize) * leafSize;
  const entriesBefore = Math.floor((addr - leafStart) / entrySpan);
  return {
    leafStart,
    next: leafStart + leafSize,
    entriesSkipped: leafSize / entrySpan - entriesBefore - 1,
  };
}

/** (c) gup_hugepte() after "mm/gup: Fix hugepd handling in hugetlb rework". */
export function gupHugepte({ vma, foll, pteWrite, folio }: HugepteInput): HugepteResult {
  if (foll.write && !pteWrite) return 0;
  if (pteWrite || !foll.pin || foll.write) return 1;
  let mustUnshare: boolean;
  if (!folio.anon) mustUnshare = foll.longterm && (vma === "none" || vma === "private");
  else mustUnshare = !folio.anonExclusive;
  return mustUnshare ? -31 : 1;
}
