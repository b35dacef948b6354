/**
 * /proc/pid/pagemap (fs/proc/task_mmu.c pagemap_read(), v6.18): one 64-bit
 * entry per virtual page.
 * @module
 */
import {
  MAX_SWAPFILES_SHIFT,
  PM_FILE,
  PM_GUARD_REGION,
  PM_MMAP_EXCLUSIVE,
  PM_PFRAME_MASK,
  PM_PRESENT,
  PM_SOFT_DIRTY,
  PM_SWAP,
  PM_UFFD_WP,
  TASK_SIZE,
} from "../kernel/constants.ts";
import type { MmStruct } from "../mm/mm_types.ts";
import { VM_SOFTDIRTY } from "../mm/mm_types.ts";
import { lookupPteTable, pteIndex, vmNormalPage } from "../mm/memory.ts";
import { folioTestAnon } from "../mm/rmap.ts";
import { _PAGE_PRESENT, _PAGE_PROTNONE } from "../arch/x86/pgtable_types.ts";
import { pteFromHalves, pteSwpSoftDirty, pteSwpUffdWp } from "../arch/x86/pgtable.ts";
import { pteToSwpEntry } from "../pgtable/swapops.ts";

/** A decoded pagemap entry: the raw value and its named fields. */
export interface PagemapEntry {
  raw: bigint;
  present: boolean;
  swapped: boolean;
  /** PM_FILE: a file page or shared-anonymous (shmem) page. */
  file: boolean;
  /** PM_MMAP_EXCLUSIVE: mapped by exactly one PTE. */
  exclusive: boolean;
  softDirty: boolean;
  uffdWp: boolean;
  guard: boolean;
  /** PFN when present (0 without CAP_SYS_ADMIN), else null. */
  pfn: number | null;
  /** Swap type and offset when swapped, else null. */
  swapType: number | null;
  swapOffset: number | null;
}

/** Decodes a raw pagemap value. */
export function decodePagemapEntry(raw: bigint): PagemapEntry {
  const present = (raw & PM_PRESENT) !== 0n;
  const swapped = (raw & PM_SWAP) !== 0n;
  const frame = raw & PM_PFRAME_MASK;
  return {
    raw,
    present,
    swapped,
    file: (raw & PM_FILE) !== 0n,
    exclusive: (raw & PM_MMAP_EXCLUSIVE) !== 0n,
    softDirty: (raw & PM_SOFT_DIRTY) !== 0n,
    uffdWp: (raw & PM_UFFD_WP) !== 0n,
    guard: (raw & PM_GUARD_REGION) !== 0n,
    pfn: present ? Number(frame) : null,
    swapType: swapped ? Number(frame & 0x1fn) : null,
    swapOffset: swapped ? Number(frame >> BigInt(MAX_SWAPFILES_SHIFT)) : null,
  };
}

/**
 * The pagemap value for `addr` (pte_to_pagemap_entry(), and
 * pagemap_pte_hole() inside a VMA). `showPfn` is the reader's
 * CAP_SYS_ADMIN: without it PFNs read as 0.
 */
export function pagemapEntry(mm: MmStruct, addr: number, showPfn: boolean): bigint {
  if (addr >= TASK_SIZE) return 0n;
  const vma = mm.vmaLookup(addr);
  if (!vma) return 0n;
  const core = mm.core;
  let flags = 0n;
  let frame = 0n;
  const pt = lookupPteTable(mm, addr);
  const i = pteIndex(addr);
  const lo = pt ? pt.e[2 * i] : 0, hi = pt ? pt.e[2 * i + 1] : 0;
  if (lo & (_PAGE_PRESENT | _PAGE_PROTNONE)) {
    const pfn = vmNormalPage(lo, hi);
    if (showPfn) frame = BigInt((hi & 0xfffff) * 0x100000 + (lo >>> 12));
    flags |= PM_PRESENT;
    if (lo & core.softDirtyLo) flags |= PM_SOFT_DIRTY;
    if (lo & core.uffdWpLo) flags |= PM_UFFD_WP;
    if (pfn >= 0) {
      if (!folioTestAnon(core, pfn)) flags |= PM_FILE;
      if (core.memmap.mapcount[pfn] === 1) flags |= PM_MMAP_EXCLUSIVE;
    }
  } else if (lo !== 0 || hi !== 0) {
    const pte = pteFromHalves(lo, hi);
    const ops = core.swapops;
    if (pteSwpSoftDirty(pte, core.bits)) flags |= PM_SOFT_DIRTY;
    if (pteSwpUffdWp(pte, core.bits)) flags |= PM_UFFD_WP;
    const entry = pteToSwpEntry(pte);
    if (showPfn) {
      const offset = entry.offset;
      frame = BigInt(entry.type) | (offset << BigInt(MAX_SWAPFILES_SHIFT));
      frame &= PM_PFRAME_MASK;
    }
    flags |= PM_SWAP;
    // Since v6.10 PM_MMAP_EXCLUSIVE is reported with PM_PRESENT only.
    if (ops.isPfnSwapEntry(entry) && !folioTestAnon(core, ops.swpOffsetPfn(entry))) {
      flags |= PM_FILE;
    }
    if (ops.pteMarkerEntryUffdWp(entry)) flags |= PM_UFFD_WP;
    if (ops.isGuardSwpEntry(entry)) flags |= PM_GUARD_REGION;
  }
  if (vma.vm_flags & VM_SOFTDIRTY) flags |= PM_SOFT_DIRTY;
  return flags | frame;
}
