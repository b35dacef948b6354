/**
 * Creating and removing mappings (mm/mmap.c, mm/vma.c, v6.18): do_mmap(),
 * get_unmapped_area() (top-down), VMA split and merge, do_vmi_munmap().
 *
 * Functions here return an address or a negative errno, as the kernel's do;
 * the process facade turns negatives into thrown Errno.
 *
 * Simplifications: no ASLR (mmap_base is fixed), no stack guard gaps and no
 * stack expansion (a MAP_GROWSDOWN VMA is an ordinary one), hugetlb mappings
 * fail with -ENOMEM as on a system with no huge pages reserved,
 * VM_ACCOUNT/overcommit not modelled.
 * @module
 */
import { MMU_NOTIFY_UNMAP, withMmuNotifier } from "./mmu_notifier.ts";
import { ERRNO } from "../kernel/errno.ts";
import {
  MAP_32BIT,
  MAP_ANONYMOUS,
  MAP_DENYWRITE,
  MAP_EXECUTABLE,
  MAP_FIXED,
  MAP_FIXED_NOREPLACE,
  MAP_GROWSDOWN,
  MAP_HUGE_1GB,
  MAP_HUGE_2MB,
  MAP_HUGE_MASK,
  MAP_HUGE_SHIFT,
  MAP_HUGETLB,
  MAP_LOCKED,
  MAP_NONBLOCK,
  MAP_NORESERVE,
  MAP_POPULATE,
  MAP_PRIVATE,
  MAP_SHARED,
  MAP_SHARED_VALIDATE,
  MAP_STACK,
  MAP_SYNC,
  MAP_TYPE,
  MAP_UNINITIALIZED,
  PAGE_SIZE,
  PMD_SHIFT,
  PMD_SIZE,
  PROT_EXEC,
  PROT_READ,
  PROT_WRITE,
  PUD_SHIFT,
  TASK_SIZE,
} from "../kernel/constants.ts";
import {
  type File,
  type MmStruct,
  VM_ACCOUNT,
  VM_EXEC,
  VM_GROWSDOWN,
  VM_LOCKED,
  VM_MAYEXEC,
  VM_MAYREAD,
  VM_MAYSHARE,
  VM_MAYWRITE,
  VM_NOHUGEPAGE,
  VM_NORESERVE,
  VM_READ,
  VM_SHARED,
  VM_SOFTDIRTY,
  VM_SYNC,
  VM_WRITE,
  Vma,
} from "./mm_types.ts";
import { protection_map } from "../arch/x86/pgtable.ts";
import {
  FAULT_FLAG_WRITE,
  freePgtables,
  handleMmFault,
  VM_FAULT_ERROR,
  ZAP_UNMAP,
  zapPageRange,
} from "./memory.ts";
import { shmemFileSetup, shmemMaybeEvict } from "./shmem.ts";
import { splitHugePmdIfNeeded } from "./huge_memory.ts";
import { File as ShmemFile } from "./mm_types.ts";
import {
  userfaultfdUnmapComplete,
  type UserfaultfdUnmapCtx,
  userfaultfdUnmapPrep,
} from "../userfaultfd/userfaultfd.ts";

/** sysctl vm.max_map_count default. */
export const DEFAULT_MAX_MAP_COUNT = 65530;
/** vm.mmap_min_addr default on x86-64. */
export const MMAP_MIN_ADDR = 65536;

/** LEGACY_MAP_MASK (include/linux/mman.h): the flags MAP_SHARED_VALIDATE accepts on shmem. */
const LEGACY_MAP_MASK = MAP_SHARED | MAP_PRIVATE | MAP_FIXED | MAP_ANONYMOUS | MAP_DENYWRITE |
  MAP_EXECUTABLE | MAP_UNINITIALIZED | MAP_GROWSDOWN | MAP_LOCKED | MAP_NORESERVE | MAP_POPULATE |
  MAP_NONBLOCK | MAP_STACK | MAP_HUGETLB | MAP_32BIT | MAP_HUGE_2MB | MAP_HUGE_1GB;

const E = (name: keyof typeof ERRNO) => -ERRNO[name];

/** PAGE_ALIGN() with the overflow check callers need: 0 when it wraps past 2^64. */
export function pageAlign(len: number): number {
  return Math.ceil(len / PAGE_SIZE) * PAGE_SIZE;
}

/** vm_get_page_prot(). */
export function vmGetPageProt(vmFlags: number) {
  return protection_map[vmFlags & (VM_READ | VM_WRITE | VM_EXEC | VM_SHARED)];
}

/** calc_vm_prot_bits(). */
export function calcVmProtBits(prot: number): number {
  return (prot & PROT_READ ? VM_READ : 0) | (prot & PROT_WRITE ? VM_WRITE : 0) |
    (prot & PROT_EXEC ? VM_EXEC : 0);
}

/** Inserts a VMA keeping mm.vmas sorted (vma_iter_store()). */
export function insertVma(mm: MmStruct, vma: Vma): void {
  const v = mm.vmas;
  let lo = 0, hi = v.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (v[mid].vm_start < vma.vm_start) lo = mid + 1;
    else hi = mid;
  }
  v.splice(lo, 0, vma);
  if (vma.vm_file) vma.vm_file.inode.mapping.i_mmap.add(vma);
}

/** Removes a VMA from the tree and from its file's i_mmap. */
export function removeVma(mm: MmStruct, vma: Vma): void {
  const i = mm.vmas.indexOf(vma);
  if (i >= 0) mm.vmas.splice(i, 1);
  if (vma.vm_file) {
    vma.vm_file.inode.mapping.i_mmap.delete(vma);
    shmemMaybeEvict(mm.core, vma.vm_file.inode);
  }
}

/** __split_vma(): cut `vma` at `addr`; returns the new upper part. */
export function splitVma(mm: MmStruct, vma: Vma, addr: number): Vma {
  splitHugePmdIfNeeded(vma, addr); // vma_adjust_trans_huge()
  const upper = new Vma(
    mm,
    addr,
    vma.vm_end,
    vma.vm_flags,
    vma.vm_pgoff + (addr - vma.vm_start) / PAGE_SIZE,
    vma.vm_file,
  );
  upper.setPageProt(vma.vm_page_prot);
  upper.anon_vma = vma.anon_vma;
  upper.anonVmaChain = vma.anonVmaChain;
  upper.vm_flags_hi = vma.vm_flags_hi;
  upper.vm_userfaultfd_ctx = vma.vm_userfaultfd_ctx;
  vma.vm_end = addr;
  insertVma(mm, upper);
  return upper;
}

/** Whether two adjacent VMAs can be one (is_mergeable_vma + anon_vma rules). */
function canMerge(a: Vma, b: Vma): boolean {
  if (a.vm_end !== b.vm_start) return false;
  if (((a.vm_flags ^ b.vm_flags) & ~VM_SOFTDIRTY) !== 0) return false;
  if (a.vm_flags_hi !== b.vm_flags_hi) return false;
  // is_mergeable_vm_userfaultfd_ctx()
  if (a.vm_userfaultfd_ctx !== b.vm_userfaultfd_ctx) return false;
  if ((a.vm_file?.inode ?? null) !== (b.vm_file?.inode ?? null)) return false;
  if (a.vm_pgoff + (a.vm_end - a.vm_start) / PAGE_SIZE !== b.vm_pgoff) return false;
  if (a.anon_vma && b.anon_vma) return a.anon_vma === b.anon_vma;
  // is_mergeable_anon_vma(): the VMA whose anon_vma the merged one would
  // use must not be a fork child (one chained to its parents' anon_vmas).
  const withAnon = a.anon_vma ? a : b.anon_vma ? b : null;
  return withAnon === null || withAnon.anonVmaChain.length === 1;
}

/** Merges the VMA at `index` with its neighbours where allowed (vma_merge). */
export function mergeAround(mm: MmStruct, vma: Vma): Vma {
  let cur = vma;
  const i = mm.vmas.indexOf(cur);
  const next = mm.vmas[i + 1];
  if (next && canMerge(cur, next)) {
    cur.vm_end = next.vm_end;
    cur.vm_flags |= next.vm_flags & VM_SOFTDIRTY;
    if (!cur.anon_vma && next.anon_vma) {
      cur.anon_vma = next.anon_vma;
      cur.anonVmaChain = next.anonVmaChain;
    }
    removeVma(mm, next);
  }
  const prev = mm.vmas[mm.vmas.indexOf(cur) - 1];
  if (prev && canMerge(prev, cur)) {
    prev.vm_end = cur.vm_end;
    prev.vm_flags |= cur.vm_flags & VM_SOFTDIRTY;
    if (!prev.anon_vma && cur.anon_vma) {
      prev.anon_vma = cur.anon_vma;
      prev.anonVmaChain = cur.anonVmaChain;
    }
    removeVma(mm, cur);
    cur = prev;
  }
  return cur;
}

/** Whether [addr, addr+len) is free of VMAs. */
function rangeFree(mm: MmStruct, addr: number, len: number): boolean {
  const vma = mm.findVma(addr);
  return vma === null || vma.vm_start >= addr + len;
}

/**
 * round_hint_to_min(): a hint is rounded down to its page; a non-zero hint
 * below mmap_min_addr is raised to it (so a hint of 1 means no hint).
 */
function roundHintToMin(hint: number): number {
  hint -= hint % PAGE_SIZE;
  return hint && hint < MMAP_MIN_ADDR ? MMAP_MIN_ADDR : hint;
}

/** mmap_address_hint_valid() with 4-level paging (DEFAULT_MAP_WINDOW is TASK_SIZE). */
function hintValid(addr: number, len: number): boolean {
  return addr <= TASK_SIZE - len;
}

/** The [begin, end) window of MAP_32BIT mappings (find_start_end(), no ASLR). */
const MAP_32BIT_BEGIN = 0x40000000;
const MAP_32BIT_END = 0x80000000;

/**
 * arch_get_unmapped_area() (bottom-up), used for MAP_32BIT and as the
 * fallback of the top-down search: the hint if it fits below `end`,
 * otherwise the lowest gap in [begin, end).
 */
function archGetUnmappedArea(
  mm: MmStruct,
  addr: number,
  len: number,
  begin: number,
  end: number,
): number {
  if (len > end) return E("ENOMEM");
  if (addr) {
    addr = pageAlign(addr);
    if (hintValid(addr, len) && end - len >= addr && rangeFree(mm, addr, len)) return addr;
  }
  const v = mm.vmas;
  for (let i = -1; i < v.length; i++) {
    const floor = Math.max(i >= 0 ? v[i].vm_end : MMAP_MIN_ADDR, begin);
    const ceiling = Math.min(i + 1 < v.length ? v[i + 1].vm_start : TASK_SIZE, end);
    if (ceiling - floor >= len) return floor;
  }
  return E("ENOMEM");
}

/**
 * arch_get_unmapped_area_topdown() (arch/x86/kernel/sys_x86_64.c): MAP_FIXED
 * is taken as is, MAP_32BIT goes bottom-up in the first 2 GiB, a free hint
 * is used, otherwise the highest gap below mmap_base, falling back to a
 * bottom-up search above it.
 */
function archGetUnmappedAreaTopdown(
  mm: MmStruct,
  addr: number,
  len: number,
  flags: number,
): number {
  if (len > TASK_SIZE) return E("ENOMEM");
  if (flags & MAP_FIXED) return addr;
  if (flags & MAP_32BIT) return archGetUnmappedArea(mm, addr, len, MAP_32BIT_BEGIN, MAP_32BIT_END);
  if (addr) {
    addr -= addr % PAGE_SIZE;
    if (hintValid(addr, len) && rangeFree(mm, addr, len)) return addr;
  }
  const v = mm.vmas;
  for (let i = v.length - 1; i >= -1; i--) {
    const floor = i >= 0 ? v[i].vm_end : MMAP_MIN_ADDR;
    const ceiling = Math.min(i + 1 < v.length ? v[i + 1].vm_start : TASK_SIZE, mm.mmap_base);
    if (ceiling - floor >= len) return ceiling - len;
  }
  // Nothing below mmap_base: fall back to a bottom-up search above it.
  return archGetUnmappedArea(mm, 0, len, mm.mmap_base, TASK_SIZE);
}

/**
 * __get_unmapped_area(): pick the address of a new mapping and check it.
 * `hpage` is the huge page size of a hugetlbfs mapping (0 otherwise), whose
 * hugetlb_get_unmapped_area() wants length and fixed address aligned to it.
 * Negative errno on failure.
 */
export function getUnmappedArea(
  mm: MmStruct,
  addr: number,
  len: number,
  flags: number,
  hpage = 0,
  thpAlign = false,
): number {
  if (len > TASK_SIZE) return E("ENOMEM");
  if (hpage) {
    if (len % hpage) return E("EINVAL");
    if ((flags & MAP_FIXED) && addr % hpage) return E("EINVAL");
    if (addr) addr = Math.ceil(addr / hpage) * hpage;
  }
  if (thpAlign && !addr && len % PMD_SIZE === 0 && !(flags & (MAP_FIXED | MAP_32BIT))) {
    addr = thpGetUnmappedArea(mm, len, flags);
  } else {
    addr = archGetUnmappedAreaTopdown(mm, addr, len, flags);
  }
  if (addr < 0) return addr;
  if (addr > TASK_SIZE - len) return E("ENOMEM");
  if (addr % PAGE_SIZE) return E("EINVAL");
  return addr;
}

/**
 * __thp_get_unmapped_area() for a private anonymous mapping whose length is
 * a multiple of 2 MiB (v6.12+, from __get_unmapped_area()): search a gap
 * 2 MiB longer, then place the mapping on a PMD boundary inside it (top-down:
 * as high as it fits), so that every 2 MiB of it can hold a THP.
 */
function thpGetUnmappedArea(mm: MmStruct, len: number, flags: number): number {
  const padded = len + PMD_SIZE;
  const ret = archGetUnmappedAreaTopdown(mm, 0, padded, flags);
  if (ret < 0) return archGetUnmappedAreaTopdown(mm, 0, len, flags);
  const offSub = (PMD_SIZE - (ret % PMD_SIZE)) % PMD_SIZE;
  return offSub === 0 ? ret + PMD_SIZE : ret + offSub;
}

/** MAX_LFS_FILESIZE: the largest shmem (regular) file. */
const MAX_LFS_FILESIZE = 2n ** 63n - 1n;

/** file_mmap_ok() for a regular file: the mapped range must end within MAX_LFS_FILESIZE. */
function fileMmapOk(pgoff: number, len: number): boolean {
  const l = BigInt(len);
  return l <= MAX_LFS_FILESIZE && BigInt(pgoff) <= (MAX_LFS_FILESIZE - l) >> 12n;
}

/** hstate_sizelog(): the huge page size MAP_HUGE_* asks for (2 MiB, 1 GiB), or 0. */
function hstateSizelog(flags: number): number {
  const log = (flags >>> MAP_HUGE_SHIFT) & MAP_HUGE_MASK;
  if (log === 0) return PMD_SIZE;
  return log === PMD_SHIFT || log === PUD_SHIFT ? 2 ** log : 0;
}

/**
 * ksys_mmap_pgoff() + do_mmap() + mmap_region(): validate, pick an address,
 * build (or merge) the VMA, and populate it for MAP_POPULATE/MAP_LOCKED.
 * Returns the address or a negative errno. The checks run in the kernel's
 * order, since the first failing one decides the errno.
 *
 * Simplification: an anonymous MAP_HUGETLB mapping is checked as the kernel
 * checks it (it is a file on the internal hugetlbfs mount), then fails with
 * -ENOMEM because the huge page pool is empty; with MAP_NORESERVE the kernel
 * would map it and raise SIGBUS at the first fault, the model still fails.
 * MAP_DROPPABLE is not modelled (-EINVAL).
 */
export function doMmap(
  mm: MmStruct,
  file: File | null,
  addr: number,
  len: number,
  prot: number,
  flags: number,
  pgoff: number,
  maxMapCount = DEFAULT_MAX_MAP_COUNT,
): number {
  const core = mm.core;
  // ksys_mmap_pgoff(): MAP_HUGETLB is only for hugetlbfs files; an anonymous
  // one becomes a hugetlbfs file (hugetlb_file_setup()) of the length
  // rounded up to the huge page size.
  let hpage = 0;
  if (flags & MAP_HUGETLB) {
    if (file) return E("EINVAL");
    hpage = hstateSizelog(flags);
    if (!hpage) return E("EINVAL");
    len = Math.ceil(len / hpage) * hpage;
    if (len >= 2 ** 64) len = 0; // ALIGN() wrapped around
  }

  // do_mmap()
  if (!len) return E("EINVAL");
  if (flags & MAP_FIXED_NOREPLACE) flags |= MAP_FIXED;
  if (!(flags & MAP_FIXED)) addr = roundHintToMin(addr);
  len = pageAlign(len);
  if (!len || len > 2 ** 64 - PAGE_SIZE) return E("ENOMEM");
  if (mm.map_count > maxMapCount) return E("ENOMEM");
  const thpAlign = core.config.TRANSPARENT_HUGEPAGE && !file && !(flags & MAP_SHARED);
  const start = getUnmappedArea(mm, addr, len, flags, hpage, thpAlign);
  if (start < 0) return start;
  if ((flags & MAP_FIXED_NOREPLACE) && !rangeFree(mm, start, len)) return E("EEXIST");

  // calc_vm_prot_bits() | calc_vm_flag_bits(): MAP_SYNC and MAP_STACK leave
  // their mark even where they change nothing else (and VMAs differing in
  // them do not merge).
  let vmFlags = calcVmProtBits(prot) | VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC;
  if (flags & MAP_GROWSDOWN) vmFlags |= VM_GROWSDOWN;
  if (flags & MAP_LOCKED) vmFlags |= VM_LOCKED;
  if (flags & MAP_SYNC) vmFlags |= VM_SYNC;
  if (flags & MAP_STACK) vmFlags |= VM_NOHUGEPAGE;
  if (flags & MAP_NORESERVE) vmFlags |= VM_NORESERVE;
  const type = flags & MAP_TYPE;
  let shared = false;
  if (file || hpage) {
    if (!fileMmapOk(pgoff, len)) return E("EOVERFLOW");
    if (type !== MAP_SHARED && type !== MAP_SHARED_VALIDATE && type !== MAP_PRIVATE) {
      return E("EINVAL");
    }
    if (type !== MAP_PRIVATE) {
      // MAP_SHARED ignores flags it does not know; MAP_SHARED_VALIDATE
      // refuses them (shmem and hugetlbfs do not offer MAP_SYNC).
      if (type === MAP_SHARED_VALIDATE && (flags & ~LEGACY_MAP_MASK)) return E("EOPNOTSUPP");
      if (file && (prot & PROT_WRITE) && !file.writable) return E("EACCES");
      vmFlags |= VM_SHARED | VM_MAYSHARE;
      if (file && !file.writable) vmFlags &= ~(VM_MAYWRITE | VM_SHARED);
      shared = true;
    }
    if (file && !file.readable) return E("EACCES");
    if (vmFlags & VM_GROWSDOWN) return E("EINVAL");
  } else {
    switch (type) {
      case MAP_SHARED:
        if (vmFlags & VM_GROWSDOWN) return E("EINVAL");
        vmFlags |= VM_SHARED | VM_MAYSHARE;
        shared = true;
        pgoff = 0;
        break;
      case MAP_PRIVATE:
        pgoff = start / PAGE_SIZE;
        break;
      default:
        return E("EINVAL");
    }
  }
  if (hpage) {
    // mmap_region() clears the range of a MAP_FIXED mapping before it calls
    // hugetlbfs_file_mmap(), and leaves the gap when that fails
    // (vms_abort_munmap_vmas()). hugetlbfs_file_mmap() wants a
    // huge-page-aligned offset, then hugetlb_reserve_pages() finds the
    // pool empty.
    if (!rangeFree(mm, start, len)) doMunmapRange(mm, start, start + len);
    if (pgoff % (hpage / PAGE_SIZE)) return E("EINVAL");
    return E("ENOMEM");
  }
  if (core.config.MEM_SOFT_DIRTY) vmFlags |= VM_SOFTDIRTY;
  // mmap_region(): a private writable mapping is charged to the commit
  // (accountable_mapping()); VM_ACCOUNT also decides which VMAs may merge.
  if ((vmFlags & (VM_NORESERVE | VM_SHARED | VM_WRITE)) === VM_WRITE) vmFlags |= VM_ACCOUNT;

  // mmap_region(): MAP_FIXED replaces whatever was there.
  if (!rangeFree(mm, start, len)) doMunmapRange(mm, start, start + len);
  if (!file && shared) {
    // shmem_zero_setup(): a shared anonymous mapping is an unlinked shmem file.
    const inode = shmemFileSetup(core, "dev/zero", len);
    file = new ShmemFile(inode, true, true);
  }
  const vma = new Vma(mm, start, start + len, vmFlags >>> 0, pgoff, file);
  vma.setPageProt(vmGetPageProt(vmFlags));
  insertVma(mm, vma);
  mergeAround(mm, vma);
  if ((flags & (MAP_POPULATE | MAP_NONBLOCK)) === MAP_POPULATE || (vmFlags & VM_LOCKED)) {
    populateRange(mm, start, start + len);
  }
  return start;
}

/**
 * mm_populate() → __mm_populate() → populate_vma_page_range(): fault every
 * page in; a private writable mapping is faulted for write so COW is broken
 * up front. PROT_NONE VMAs are never faulted in; a failing page ends the
 * work in its VMA, and the next VMA is tried (errors are ignored, as
 * mmap(MAP_POPULATE) does).
 */
export function populateRange(mm: MmStruct, start: number, end: number): void {
  for (let addr = start; addr < end;) {
    const vma = mm.findVma(addr);
    if (!vma || vma.vm_start >= end) return;
    addr = Math.max(addr, vma.vm_start);
    const stop = Math.min(end, vma.vm_end);
    if (vma.vm_flags & (VM_READ | VM_WRITE | VM_EXEC)) {
      const write = (vma.vm_flags & (VM_WRITE | VM_SHARED)) === VM_WRITE;
      for (; addr < stop; addr += PAGE_SIZE) {
        if (handleMmFault(vma, addr, write ? FAULT_FLAG_WRITE : 0) & VM_FAULT_ERROR) break;
      }
    }
    addr = stop;
  }
}

/**
 * do_vmi_munmap(): validate, then unmap [start, start+len). Unmapping a
 * range with no mappings succeeds.
 */
export function doMunmap(mm: MmStruct, start: number, len: number): number {
  if (start % PAGE_SIZE || start > TASK_SIZE || len > TASK_SIZE - start) return E("EINVAL");
  len = pageAlign(len);
  if (len === 0) return E("EINVAL");
  doMunmapRange(mm, start, start + len);
  return 0;
}

/**
 * Split at the edges, zap, free page tables and drop the VMAs in
 * [start, end) (do_vmi_align_munmap()). Userfaultfd monitors that asked for
 * UFFD_FEATURE_EVENT_UNMAP get a UFFD_EVENT_UNMAP for the range afterwards,
 * as munmap(2) and mmap(MAP_FIXED) send it (their `uf` list).
 */
export function doMunmapRange(
  mm: MmStruct,
  start: number,
  end: number,
  uf?: UserfaultfdUnmapCtx[],
): void {
  splitAt(mm, start);
  splitAt(mm, end);
  const doomed = mm.vmas.filter((v) => v.vm_start >= start && v.vm_end <= end);
  if (doomed.length === 0) return;
  // With a caller's `uf` list (mremap()), the caller sends the events later.
  const unmaps: UserfaultfdUnmapCtx[] = uf ?? [];
  userfaultfdUnmapPrep(doomed, start, end, unmaps);
  // unmap_vmas(): one MMU_NOTIFY_UNMAP bracket around zapping them all.
  withMmuNotifier(MMU_NOTIFY_UNMAP, mm, start, end, () => {
    for (const vma of doomed) zapPageRange(vma, vma.vm_start, vma.vm_end, ZAP_UNMAP);
  });
  for (const vma of doomed) removeVma(mm, vma);
  freePgtables(mm, start, end);
  if (!uf) userfaultfdUnmapComplete(unmaps);
}

/** Splits the VMA containing `addr` so that a VMA boundary lies there. */
export function splitAt(mm: MmStruct, addr: number): void {
  const vma = mm.vmaLookup(addr);
  if (vma && vma.vm_start < addr) splitVma(mm, vma, addr);
}
