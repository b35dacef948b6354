/**
 * Shared memory files: memfd_create(), shared anonymous mappings and the
 * shmem page cache (mm/shmem.c, mm/memfd.c, mm/truncate.c), v6.18.
 *
 * Simplification: no swap for shmem, no huge pages, no seals; i_size is the
 * only limit on faults (beyond it, VM_FAULT_SIGBUS).
 * @module
 */
import type { MmCore } from "./core.ts";
import { AddressSpace, Inode } from "./mm_types.ts";
import { PG_lru, PG_swapbacked, PG_uptodate } from "./memmap.ts";
import { PAGE_SIZE } from "../kernel/constants.ts";
import { unmapMappingRange } from "./memory.ts";

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
 * (zero-filled) when absent. Returns the pfn, -1 when out of memory, or
 * SHMEM_BEYOND_EOF.
 */
export function shmemGetFolio(core: MmCore, inode: Inode, index: number): number {
  if (index >= Math.ceil(inode.size / PAGE_SIZE)) return SHMEM_BEYOND_EOF;
  const cached = inode.mapping.pages.get(index);
  if (cached !== undefined) return cached;
  const pfn = core.memmap.allocPage();
  if (pfn < 0) return -1;
  shmemAddFolio(core, inode, index, pfn);
  return pfn;
}

/**
 * shmem_add_to_page_cache(): a newly allocated page (its one reference
 * becomes the page cache's) enters the cache at `index`.
 */
export function shmemAddFolio(core: MmCore, inode: Inode, index: number, pfn: number): void {
  const m = core.memmap;
  m.flags[pfn] = PG_uptodate | PG_swapbacked | PG_lru;
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
  unmapMappingRange(core, inode.mapping, start, end, evenCows);
  for (const [index, pfn] of [...inode.mapping.pages]) {
    if (index < start || index >= end) continue;
    inode.mapping.pages.delete(index);
    core.memmap.mapping[pfn] = 0;
    core.vmstat.nr_file_pages--;
    core.vmstat.nr_shmem--;
    core.memmap.put(pfn);
  }
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
