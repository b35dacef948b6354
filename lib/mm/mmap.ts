/**
 * Creating and removing mappings (mm/mmap.c, mm/vma.c, v6.18): do_mmap(),
 * get_unmapped_area() (top-down), VMA split and merge, do_vmi_munmap().
 *
 * Functions here return an address or a negative errno, as the kernel's do;
 * the process facade turns negatives into thrown Errno.
 *
 * Simplifications: no ASLR (mmap_base is fixed), no stack guard gaps (no
 * VM_GROWSDOWN stacks are created), hugetlb mappings fail with -ENOMEM as on
 * a system with no huge pages reserved, VM_ACCOUNT/overcommit not modelled.
 * @module
 */
import { ERRNO } from "../kernel/errno.ts";
import {
  MAP_ANONYMOUS,
  MAP_DENYWRITE,
  MAP_EXECUTABLE,
  MAP_FIXED,
  MAP_FIXED_NOREPLACE,
  MAP_GROWSDOWN,
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
  PROT_EXEC,
  PROT_READ,
  PROT_WRITE,
  TASK_SIZE,
} from "../kernel/constants.ts";
import {
  type File,
  type MmStruct,
  VM_EXEC,
  VM_GROWSDOWN,
  VM_LOCKED,
  VM_MAYEXEC,
  VM_MAYREAD,
  VM_MAYSHARE,
  VM_MAYWRITE,
  VM_NORESERVE,
  VM_READ,
  VM_SHARED,
  VM_SOFTDIRTY,
  VM_WRITE,
  Vma,
} from "./mm_types.ts";
import { protection_map } from "../arch/x86/pgtable.ts";
import {
  FAULT_FLAG_WRITE,
  freePgtables,
  handleMmFault,
  VM_FAULT_ERROR,
  VM_FAULT_OOM,
  ZAP_UNMAP,
  zapPageRange,
} from "./memory.ts";
import { shmemFileSetup, shmemMaybeEvict } from "./shmem.ts";
import { File as ShmemFile } from "./mm_types.ts";

/** sysctl vm.max_map_count default. */
export const DEFAULT_MAX_MAP_COUNT = 65530;
/** vm.mmap_min_addr default on x86-64. */
export const MMAP_MIN_ADDR = 65536;

const LEGACY_MAP_MASK = MAP_SHARED | MAP_PRIVATE | MAP_FIXED | MAP_ANONYMOUS | MAP_DENYWRITE |
  MAP_EXECUTABLE | MAP_UNINITIALIZED | MAP_GROWSDOWN | MAP_LOCKED | MAP_NORESERVE | MAP_POPULATE |
  MAP_NONBLOCK | MAP_STACK | MAP_HUGETLB;

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
  vma.vm_end = addr;
  insertVma(mm, upper);
  return upper;
}

/** Whether two adjacent VMAs can be one (is_mergeable_vma + anon_vma rules). */
function canMerge(a: Vma, b: Vma): boolean {
  if (a.vm_end !== b.vm_start) return false;
  if (((a.vm_flags ^ b.vm_flags) & ~VM_SOFTDIRTY) !== 0) return false;
  if ((a.vm_file?.inode ?? null) !== (b.vm_file?.inode ?? null)) return false;
  if (a.vm_pgoff + (a.vm_end - a.vm_start) / PAGE_SIZE !== b.vm_pgoff) return false;
  if (a.anon_vma && b.anon_vma) return a.anon_vma === b.anon_vma;
  return true;
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
 * get_unmapped_area(), top-down (arch_get_unmapped_area_topdown): the hint
 * if it fits, otherwise the highest gap below mmap_base. Negative errno on
 * failure.
 */
export function getUnmappedArea(mm: MmStruct, addr: number, len: number, flags: number): number {
  if (len > TASK_SIZE) return E("ENOMEM");
  if (flags & MAP_FIXED) {
    if (addr % PAGE_SIZE) return E("EINVAL");
    if (addr > TASK_SIZE - len) return E("ENOMEM");
    return addr;
  }
  if (addr) {
    addr = pageAlign(addr);
    if (addr >= MMAP_MIN_ADDR && addr <= TASK_SIZE - len && rangeFree(mm, addr, len)) return addr;
  }
  const v = mm.vmas;
  for (let i = v.length - 1; i >= -1; i--) {
    const floor = i >= 0 ? v[i].vm_end : MMAP_MIN_ADDR;
    const ceiling = Math.min(i + 1 < v.length ? v[i + 1].vm_start : TASK_SIZE, mm.mmap_base);
    if (ceiling - floor >= len) return ceiling - len;
  }
  // Nothing below mmap_base: fall back to a bottom-up search above it.
  for (let i = -1; i < v.length; i++) {
    const floor = Math.max(i >= 0 ? v[i].vm_end : MMAP_MIN_ADDR, mm.mmap_base);
    const ceiling = i + 1 < v.length ? v[i + 1].vm_start : TASK_SIZE;
    if (ceiling - floor >= len) return floor;
  }
  return E("ENOMEM");
}

/**
 * do_mmap() + mmap_region(): validate, pick an address, build (or merge)
 * the VMA, and populate it for MAP_POPULATE/MAP_LOCKED. Returns the address
 * or a negative errno.
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
  if (!len) return E("EINVAL");
  if (!(flags & MAP_FIXED) && addr < MMAP_MIN_ADDR) addr = addr ? MMAP_MIN_ADDR : 0;
  len = pageAlign(len);
  if (!len || len > 2 ** 64 - PAGE_SIZE) return E("ENOMEM");
  if (mm.map_count > maxMapCount) return E("ENOMEM");
  if (flags & MAP_FIXED_NOREPLACE) flags |= MAP_FIXED;
  const type = flags & MAP_TYPE;
  if (type !== MAP_SHARED && type !== MAP_PRIVATE && type !== MAP_SHARED_VALIDATE) {
    return E("EINVAL");
  }
  if (
    type === MAP_SHARED_VALIDATE && (flags & ~(LEGACY_MAP_MASK | MAP_FIXED_NOREPLACE | MAP_SYNC))
  ) {
    return E("EOPNOTSUPP");
  }
  if (type === MAP_SHARED_VALIDATE && (flags & MAP_SYNC)) return E("EOPNOTSUPP");
  if ((flags & MAP_HUGETLB) && !file) return E("ENOMEM");
  const start = getUnmappedArea(mm, addr, len, flags);
  if (start < 0) return start;
  if ((flags & MAP_FIXED_NOREPLACE) && !rangeFree(mm, start, len)) return E("EEXIST");

  let vmFlags = calcVmProtBits(prot) | VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC;
  if (flags & MAP_GROWSDOWN) vmFlags |= VM_GROWSDOWN;
  if (flags & MAP_LOCKED) vmFlags |= VM_LOCKED;
  if (flags & MAP_NORESERVE) vmFlags |= VM_NORESERVE;
  const shared = type === MAP_SHARED || type === MAP_SHARED_VALIDATE;
  if (file) {
    if (shared) {
      if ((prot & PROT_WRITE) && !file.writable) return E("EACCES");
      vmFlags |= VM_SHARED | VM_MAYSHARE;
      if (!file.writable) vmFlags &= ~(VM_MAYWRITE | VM_SHARED);
    }
    if (!file.readable) return E("EACCES");
  } else if (shared) {
    if (vmFlags & VM_GROWSDOWN) return E("EINVAL");
    vmFlags |= VM_SHARED | VM_MAYSHARE;
    pgoff = 0;
  } else {
    pgoff = start / PAGE_SIZE;
  }
  if (core.config.MEM_SOFT_DIRTY) vmFlags |= VM_SOFTDIRTY;

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
 * mm_populate() → populate_vma_page_range(): fault every page in; a private
 * writable mapping is faulted for write so COW is broken up front. Errors
 * are ignored, as in the kernel.
 */
export function populateRange(
  mm: MmStruct,
  start: number,
  end: number,
  forceWrite?: boolean,
): number {
  for (let addr = start; addr < end; addr += PAGE_SIZE) {
    const vma = mm.vmaLookup(addr);
    if (!vma) return E("ENOMEM");
    const write = forceWrite ?? (vma.vm_flags & (VM_WRITE | VM_SHARED)) === VM_WRITE;
    const ret = handleMmFault(vma, addr, write ? FAULT_FLAG_WRITE : 0);
    if (ret & VM_FAULT_ERROR) return ret & VM_FAULT_OOM ? E("ENOMEM") : E("EFAULT");
  }
  return 0;
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

/** Split at the edges, zap, free page tables and drop the VMAs in [start, end). */
export function doMunmapRange(mm: MmStruct, start: number, end: number): void {
  splitAt(mm, start);
  splitAt(mm, end);
  const doomed = mm.vmas.filter((v) => v.vm_start >= start && v.vm_end <= end);
  if (doomed.length === 0) return;
  for (const vma of doomed) zapPageRange(vma, vma.vm_start, vma.vm_end, ZAP_UNMAP);
  for (const vma of doomed) removeVma(mm, vma);
  freePgtables(mm, start, end);
}

/** Splits the VMA containing `addr` so that a VMA boundary lies there. */
export function splitAt(mm: MmStruct, addr: number): void {
  const vma = mm.vmaLookup(addr);
  if (vma && vma.vm_start < addr) splitVma(mm, vma, addr);
}
