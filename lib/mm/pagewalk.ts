/**
 * Page-table walks over a range (mm/pagewalk.c walk_page_range(), v6.18),
 * reduced to the pte_entry callback the model's users need.
 * @module
 */
import type { MmStruct } from "./mm_types.ts";
import type { PageTable } from "../pgtable/pgtable.ts";
import { lookupPteTable, pteIndex } from "./memory.ts";
import { PAGE_SIZE, PMD_SIZE } from "../kernel/constants.ts";
import { hugePmdAt, splitHugePmd } from "./huge_memory.ts";

/**
 * Calls `pteEntry(pt, i, addr)` for every non-none PTE in [start, end),
 * with that PTE table's lock held (pte_offset_map_lock()); a missing PTE
 * table skips the rest of its PMD span. A huge PMD is split first, as
 * walk_pmd_range() does for a walk without a pmd_entry callback.
 */
export function walkPteRange(
  mm: MmStruct,
  start: number,
  end: number,
  who: string,
  pteEntry: (pt: PageTable, i: number, addr: number) => void,
): void {
  for (let addr = start; addr < end;) {
    const next = Math.min(end, (Math.floor(addr / PMD_SIZE) + 1) * PMD_SIZE);
    if (hugePmdAt(mm, addr)) splitHugePmd(mm.vmaLookup(addr)!, addr);
    const pt = lookupPteTable(mm, addr);
    if (pt && pt.nr > 0) {
      pt.ptl!.lock(who);
      try {
        for (let a = addr; a < next; a += PAGE_SIZE) {
          const i = pteIndex(a);
          if (!pt.isNone(i)) pteEntry(pt, i, a);
        }
      } finally {
        pt.ptl!.unlock();
      }
    }
    addr = next;
  }
}
