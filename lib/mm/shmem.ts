/**
 * Shared memory files: memfd_create(), shared anonymous mappings and the
 * shmem page cache (mm/shmem.c, mm/memfd.c, mm/truncate.c), v6.18.
 *
 * Simplification: no swap for shmem, no seals, huge pages only from
 * collapse_file() (lib/mm/khugepaged.ts); i_size is the
 * only limit on faults (beyond it, VM_FAULT_SIGBUS). Block accounting
 * (shmem_inode_acct_blocks()) never fails: the model's shmem files live on
 * an internal mount without a size limit, as memfd_create() files do, and
 * there is no overcommit limit.
 * @module
 */
import type { MmCore } from "./core.ts";
import { AddressSpace, Inode } from "./mm_types.ts";
import { PG_lru, PG_swapbacked, PG_uptodate } from "./memmap.ts";
import { PAGE_SIZE } from "../kernel/constants.ts";
import { unmapMappingRange } from "./memory.ts";
import { shmemSplitHugeFolio } from "./huge_memory.ts";

/**
 * struct shmem_inode_info, the fields of its block accounting: `alloced`
 * pages the inode has charged (info->alloced, no swap here so
 * info->swapped stays 0) and `usedBlocks`, the blocks shmem_inode_acct_blocks()
 * charged for it (its share of sbinfo->used_blocks). Between system calls
 * both equal the pages in its page cache.
 */
export class ShmemInodeInfo {
  alloced = 0;
  swapped = 0;
  usedBlocks = 0;
}

const shmemInfos = new WeakMap<Inode, ShmemInodeInfo>();

/** SHMEM_I(): the shmem_inode_info around a shmem inode. */
export function SHMEM_I(inode: Inode): ShmemInodeInfo {
  let info = shmemInfos.get(inode);
  if (!info) shmemInfos.set(inode, info = new ShmemInodeInfo());
  return info;
}

/**
 * shmem_inode_acct_blocks(): charge `pages` blocks to the inode's
 * filesystem before a page is allocated for it. 0, or -ENOSPC when the
 * mount is full (never, in the model: see the module comment).
 */
export function shmemInodeAcctBlocks(inode: Inode, pages: number): number {
  SHMEM_I(inode).usedBlocks += pages;
  return 0;
}

/** shmem_inode_unacct_blocks(): give back blocks charged for pages that went away or never came. */
export function shmemInodeUnacctBlocks(inode: Inode, pages: number): void {
  SHMEM_I(inode).usedBlocks -= pages;
}

/**
 * shmem_recalc_inode(): add `alloced` newly cached pages to info->alloced,
 * then give back the blocks of pages that have left the page cache since
 * (alloced - swapped - nrpages).
 */
export function shmemRecalcInode(inode: Inode, alloced: number, swapped: number): void {
  const info = SHMEM_I(inode);
  info.alloced += alloced;
  info.swapped += swapped;
  const freed = info.alloced - info.swapped - inode.mapping.pages.size;
  if (freed > 0) {
    info.alloced -= freed;
    shmemInodeUnacctBlocks(inode, freed);
  }
}

/** shmem_file_setup(): a new shmem inode of `size` bytes. */
export function shmemFileSetup(core: MmCore, name: string, size: number): Inode {
  const inode = new Inode(core.newIno(), name);
  inode.mapping = core.register((id) => new AddressSpace(id, inode)) as AddressSpace;
  inode.size = size;
  return inode;
}

/** Result of shmemGetFolio when the index lies at or beyond i_size. */
export const SHMEM_BEYOND_EOF = -2;

/**
 * shmem_get_folio() for a fault: the page-cache folio at `index`, allocated
 * (zero-filled) when absent by shmem_alloc_and_add_folio(): blocks charged
 * first, then the page added to the cache, info->alloced raised and the
 * folio put on the LRU. Returns the pfn, -1 when out of memory, or
 * SHMEM_BEYOND_EOF.
 */
export function shmemGetFolio(core: MmCore, inode: Inode, index: number): number {
  if (index >= Math.ceil(inode.size / PAGE_SIZE)) return SHMEM_BEYOND_EOF;
  const cached = inode.mapping.pages.get(index);
  if (cached !== undefined) return cached;
  if (shmemInodeAcctBlocks(inode, 1)) return -1;
  const pfn = core.memmap.allocPage();
  if (pfn < 0) {
    shmemInodeUnacctBlocks(inode, 1);
    return -1;
  }
  shmemAddFolio(core, inode, index, pfn);
  shmemRecalcInode(inode, 1, 0);
  return pfn;
}

/**
 * shmem_add_to_page_cache(): a newly allocated page (its one reference
 * becomes the page cache's) enters the cache at `index`. With `lru` it is
 * also put on the LRU at once (shmem_alloc_and_add_folio() does
 * folio_add_lru() right after); UFFDIO_COPY leaves that to
 * mfill_atomic_install_pte().
 */
export function shmemAddFolio(
  core: MmCore,
  inode: Inode,
  index: number,
  pfn: number,
  lru = true,
): void {
  const m = core.memmap;
  m.flags[pfn] = PG_uptodate | PG_swapbacked | (lru ? PG_lru : 0);
  m.mapping[pfn] = inode.mapping.id;
  m.index[pfn] = index;
  inode.mapping.pages.set(index, pfn);
  core.vmstat.nr_file_pages++;
  core.vmstat.nr_shmem++;
}

/** filemap_remove_folio() + folio_put(): drop the unmapped page at `index` from the cache. */
export function shmemDeleteFolio(core: MmCore, inode: Inode, index: number): void {
  const pfn = inode.mapping.pages.get(index);
  if (pfn === undefined) return;
  inode.mapping.pages.delete(index);
  core.memmap.mapping[pfn] = 0;
  core.vmstat.nr_file_pages--;
  core.vmstat.nr_shmem--;
  core.memmap.put(pfn);
}

/** filemap_get_folio() without allocation: the cached pfn or -1. */
export function filemapGetFolio(inode: Inode, index: number): number {
  return inode.mapping.pages.get(index) ?? -1;
}

/**
 * Removes page-cache pages with index in [start, end) after unmapping them
 * from every VMA (truncate_inode_pages_range + unmap_mapping_range).
 * `evenCows` also unmaps private COW copies (truncation does, hole punching
 * does not).
 */
export function shmemUndoRange(
  core: MmCore,
  inode: Inode,
  start: number,
  end: number,
  evenCows: boolean,
): void {
  // truncate_inode_partial_folio() splits a large folio the range cuts
  // through; the model splits every large folio the range touches, so that
  // pages leave the cache one by one.
  for (const [index, pfn] of [...inode.mapping.pages]) {
    if (index < start || index >= end) continue;
    const head = core.memmap.pageFolio(pfn);
    if (core.memmap.order[head]) shmemSplitHugeFolio(core, head);
  }
  unmapMappingRange(core, inode.mapping, start, end, evenCows);
  for (const [index, pfn] of [...inode.mapping.pages]) {
    if (index < start || index >= end) continue;
    inode.mapping.pages.delete(index);
    core.memmap.mapping[pfn] = 0;
    core.vmstat.nr_file_pages--;
    core.vmstat.nr_shmem--;
    core.memmap.put(pfn);
  }
  shmemRecalcInode(inode, 0, 0);
}

/** shmem_setattr() for a size change (ftruncate). */
export function shmemSetSize(core: MmCore, inode: Inode, size: number): void {
  const oldPages = Math.ceil(inode.size / PAGE_SIZE);
  const newPages = Math.ceil(size / PAGE_SIZE);
  inode.size = size;
  if (newPages < oldPages) shmemUndoRange(core, inode, newPages, Infinity, true);
}

/**
 * iput() of the last user of an unlinked shmem inode (no fd, no mapping):
 * shmem_evict_inode() frees its page cache.
 */
export function shmemMaybeEvict(core: MmCore, inode: Inode): void {
  if (inode.openFds === 0 && inode.mapping.i_mmap.size === 0 && inode.mapping.pages.size > 0) {
    shmemUndoRange(core, inode, 0, Infinity, true);
  }
}
