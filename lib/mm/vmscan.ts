/**
 * Reclaim of single folios (mm/vmscan.c shrink_folio_list(), mm/rmap.c
 * try_to_unmap_one(), v6.18), as MADV_PAGEOUT drives it: the model has no
 * memory pressure, so this is the only reclaim there is. Anonymous folios
 * go to the swap device when there is one (k.swapon(); lib/mm/swapfile.ts).
 *
 * Simplification: the folio is mapped by the one PTE the caller names (the
 * caller skips folios mapped more than once, as MADV_PAGEOUT does).
 * @module
 */
import type { PageTable } from "../pgtable/pgtable.ts";
import type { Vma } from "./mm_types.ts";
import { _PAGE_DIRTY } from "../arch/x86/pgtable_types.ts";
import { PG_dirty, PG_swapbacked } from "./memmap.ts";
import { MMU_NOTIFY_CLEAR, withMmuNotifier } from "./mmu_notifier.ts";
import {
  folioMarkDirty,
  folioRemoveRmapPte,
  folioTestAnon,
  mmCounter,
  pageAnonExclusive,
} from "./rmap.ts";
import { pteSwpMkexclusive, pteSwpMksoftDirty, pteSwpMkuffdWp } from "../arch/x86/pgtable.ts";
import { swpEntry, swpEntryToPte } from "../pgtable/swapops.ts";
import { MM_ANONPAGES, MM_SWAPENTS } from "./mm_types.ts";
import { shmemRecalcInode } from "./shmem.ts";

/**
 * shrink_folio_list() for the folio `pfn` mapped at `pt[idx]` (address
 * `addr`) in `vma`.
 * Called with the PTE lock held.
 *
 *  1. an anonymous, swap-backed folio needs swap space: with no swap device,
 *     or a full one, folio_alloc_swap() fails and it stays mapped; else it
 *     is written to a slot and its PTE becomes the swap entry (exclusive,
 *     soft-dirty and uffd-wp carried over as try_to_unmap_one() does), and
 *     the folio is freed;
 *  2. a lazyfree anonymous folio (MADV_FREE cleared PG_swapbacked) whose PTE
 *     is still clean is discarded; one written since is kept and becomes
 *     swap-backed again (try_to_unmap_one());
 *  3. a shmem folio is unmapped (try_to_unmap()); try_to_unmap_one() moves
 *     a dirty PTE's bit to the folio (folio_mark_dirty()). A clean folio then
 *     leaves the page cache (__remove_mapping()): its data is dropped, and
 *     the next access finds a hole. A dirty one stays there, since
 *     shmem_writeout() has no swap to write it to.
 */
export function shrinkFolio(
  vma: Vma,
  pt: PageTable,
  idx: number,
  pfn: number,
  addr: number,
): void {
  const mm = vma.vm_mm;
  const core = mm.core;
  const m = core.memmap;
  const lo = pt.e[2 * idx];
  const anon = folioTestAnon(core, pfn);
  if (anon) {
    if (m.flags[pfn] & PG_swapbacked) { // step 1
      swapOutAnon(vma, pt, idx, pfn, addr);
      return;
    }
    if ((lo & _PAGE_DIRTY) || (m.flags[pfn] & PG_dirty)) { // step 2, redirtied
      m.flags[pfn] |= PG_dirty | PG_swapbacked;
      return;
    }
  } else if (lo & _PAGE_DIRTY) {
    folioMarkDirty(core, pfn);
  }
  // try_to_unmap_one(): the PTE goes, and with it the mapping's reference,
  // inside an MMU_NOTIFY_CLEAR bracket (which the kernel opens before it
  // takes the PTE lock; the model's subscribers never touch page tables).
  withMmuNotifier(MMU_NOTIFY_CLEAR, mm, addr, addr + 4096, () => pt.setHalves(idx, 0, 0));
  mm.rss[mmCounter(core, pfn)]--;
  folioRemoveRmapPte(core, pfn);
  m.put(pfn);
  if (anon || (m.flags[pfn] & PG_dirty)) return;
  // __remove_mapping() → __filemap_remove_folio(): a clean page-cache folio goes.
  const inode = vma.vm_file!.inode;
  inode.mapping.pages.delete(m.index[pfn]);
  m.mapping[pfn] = 0;
  core.vmstat.nr_file_pages--;
  core.vmstat.nr_shmem--;
  m.put(pfn);
  // The kernel gives the block back at the inode's next shmem_recalc_inode().
  shmemRecalcInode(inode, 0, 0);
}

/** Step 1 with a swap device: folio_alloc_swap(), pageout(), try_to_unmap_one(). */
function swapOutAnon(vma: Vma, pt: PageTable, idx: number, pfn: number, addr: number): void {
  const mm = vma.vm_mm;
  const core = mm.core;
  const si = core.swap;
  if (!si) return;
  const offset = si.allocSlot();
  if (offset < 0) return;
  si.writePage(core, offset, pfn);
  const lo = pt.e[2 * idx];
  let swp = swpEntryToPte(swpEntry(si.type, offset));
  if (pageAnonExclusive(core, pfn)) swp = pteSwpMkexclusive(swp);
  if (lo & core.softDirtyLo) swp = pteSwpMksoftDirty(swp, core.bits);
  if (lo & core.uffdWpLo) swp = pteSwpMkuffdWp(swp, core.bits);
  withMmuNotifier(MMU_NOTIFY_CLEAR, mm, addr, addr + 4096, () => pt.set(idx, swp));
  mm.rss[MM_ANONPAGES]--;
  mm.rss[MM_SWAPENTS]++;
  folioRemoveRmapPte(core, pfn);
  core.memmap.put(pfn);
}
