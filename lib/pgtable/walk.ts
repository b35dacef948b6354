/**
 * The path of one address through a process's page tables, for pictures
 * and lessons: every level's table, index and entry (what
 * follow_page_mask() or a hardware walk reads), without changing anything.
 * @module
 */
import type { MmStruct } from "../mm/mm_types.ts";
import { type Level, LEVEL_SHIFT, levelIndex, LEVELS, type PageTable } from "./pgtable.ts";
import { _PAGE_PRESENT, _PAGE_PROTNONE, _PAGE_PSE } from "../arch/x86/pgtable_types.ts";
import { ptePfn, ptePresent } from "../arch/x86/pgtable.ts";
import { entryFlagNames } from "./decode.ts";
import type { PageTablePath, WalkLevel } from "../plot/page_table_path.ts";

export type { PageTablePath, WalkLevel };

/** Walks `addr` through `mm`'s tables; stops at the first missing or leaf entry. */
export function walkAddress(mm: MmStruct, addr: number): PageTablePath {
  const levels: WalkLevel[] = [];
  let table: PageTable | null = mm.pgd;
  let pfn: number | null = null;
  for (const level of LEVELS) {
    if (!table) break;
    const index = levelIndex(addr, level);
    const entry = table.get(index);
    const isPte = level === "pte";
    const leaf = isPte || (entry & BigInt(_PAGE_PSE)) !== 0n;
    const present = isPte
      ? ptePresent(entry)
      : (entry & BigInt(_PAGE_PRESENT | _PAGE_PROTNONE)) !== 0n;
    levels.push({
      level,
      index,
      tablePfn: table.pfn,
      entry,
      present,
      leaf,
      flags: entryFlagNames(entry, isPte),
    });
    if (!present) break;
    if (leaf) {
      pfn = ptePfn(entry);
      break;
    }
    table = table.children ? table.children[index] : null;
  }
  // A huge leaf (PSE) maps 2 MiB or 1 GiB: the offset runs over the whole page.
  const last = levels.at(-1);
  const leafSize = last && last.leaf && pfn !== null ? 2 ** LEVEL_SHIFT[last.level as Level] : 4096;
  return { addr, levels, pageOffset: addr % leafSize, pfn };
}
