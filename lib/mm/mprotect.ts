/**
 * mprotect() (mm/mprotect.c, v6.18): do_mprotect_pkey() → mprotect_fixup()
 * → change_protection() → change_pte_range().
 * @module
 */
import { ERRNO } from "../kernel/errno.ts";
import {
  PAGE_SIZE,
  PMD_SIZE,
  PROT_EXEC,
  PROT_GROWSDOWN,
  PROT_GROWSUP,
  PROT_READ,
  PROT_SEM,
  PROT_WRITE,
  PUD_SIZE,
} from "../kernel/constants.ts";
import {
  type MmStruct,
  VM_ACCOUNT,
  VM_EXEC,
  VM_GROWSDOWN,
  VM_HUGETLB,
  VM_LOCKED,
  VM_NORESERVE,
  VM_READ,
  VM_SHARED,
  VM_UFFD_WP,
  VM_WRITE,
  type Vma,
  vmaSoftDirtyEnabled,
} from "./mm_types.ts";
import {
  calcVmProtBits,
  mergeAround,
  pageAlign,
  populateRange,
  splitAt,
  vmGetPageProt,
} from "./mmap.ts";
import { lookupPteTable, vmNormalPage } from "./memory.ts";
import type { PageTable } from "../pgtable/pgtable.ts";
import { pteToSwpEntry, swpEntryToPte } from "../pgtable/swapops.ts";
import {
  pteSwpMksoftDirty,
  pteSwpMkuffdWp,
  pteSwpSoftDirty,
  pteSwpUffdWp,
} from "../arch/x86/pgtable.ts";
import {
  MMU_NOTIFY_PROTECTION_VMA,
  mmuNotifierInvalidateRangeEnd,
  mmuNotifierInvalidateRangeStart,
  mmuNotifierRangeInit,
} from "./mmu_notifier.ts";
import { walkPteRange } from "./pagewalk.ts";
import { changeHugePmd, hugePmdAt } from "./huge_memory.ts";
import {
  _PAGE_ACCESSED,
  _PAGE_DIRTY,
  _PAGE_PCD,
  _PAGE_PRESENT,
  _PAGE_PROTNONE,
  _PAGE_PSE,
  _PAGE_PWT,
  _PAGE_RW,
  _PAGE_SPECIAL,
} from "../arch/x86/pgtable_types.ts";
import { folioTestAnon, pageAnonExclusive } from "./rmap.ts";

const E = (name: keyof typeof ERRNO) => -ERRNO[name];
const VM_ACCESS_FLAGS = VM_READ | VM_WRITE | VM_EXEC;

/**
 * do_mprotect_pkey() without protection keys. Returns 0 or a negative errno.
 * VMAs before a failing one keep their new protection, as in the kernel.
 */
export function doMprotect(mm: MmStruct, start: number, len: number, prot: number): number {
  const grows = prot & (PROT_GROWSDOWN | PROT_GROWSUP);
  prot &= ~(PROT_GROWSDOWN | PROT_GROWSUP);
  if (grows === (PROT_GROWSDOWN | PROT_GROWSUP)) return E("EINVAL");
  if (start % PAGE_SIZE) return E("EINVAL");
  if (!len) return 0;
  len = pageAlign(len);
  const end = start + len;
  if (end >= 2 ** 64) return E("ENOMEM"); // start + len wrapped: end <= start
  if (prot & ~(PROT_READ | PROT_WRITE | PROT_EXEC | PROT_SEM)) return E("EINVAL");
  const first = mm.findVma(start);
  if (!first || first.vm_start >= end) return E("ENOMEM");
  if (grows & PROT_GROWSDOWN) {
    // PROT_GROWSDOWN: the change extends down to the start of a stack VMA.
    start = first.vm_start;
    if (!(first.vm_flags & VM_GROWSDOWN)) return E("EINVAL");
  } else {
    if (first.vm_start > start) return E("ENOMEM");
    // PROT_GROWSUP needs VM_GROWSUP, which x86 does not have (VM_NONE).
    if (grows & PROT_GROWSUP) return E("EINVAL");
  }
  let tmp = start;
  while (tmp < end) {
    const vma = mm.vmaLookup(tmp);
    if (!vma) return E("ENOMEM");
    const newflags = (calcVmProtBits(prot) | (vma.vm_flags & ~VM_ACCESS_FLAGS)) >>> 0;
    // Each VM_x needs its VM_MAYx (four bits above).
    if ((newflags & ~(newflags >>> 4)) & VM_ACCESS_FLAGS) return E("EACCES");
    const stop = Math.min(vma.vm_end, end);
    mprotectFixup(mm, vma, tmp, stop, newflags);
    tmp = stop;
  }
  return 0;
}

/** mprotect_fixup(): split to [start, end), set the flags, change the PTEs, merge. */
function mprotectFixup(mm: MmStruct, vma: Vma, start: number, end: number, newflags: number): void {
  if (newflags === vma.vm_flags) return;
  // Commit accounting: a private mapping made writable is charged
  // (VM_ACCOUNT); the charge is only given back when an anonymous mapping
  // that never had an anon_vma is made read-only again.
  if (newflags & VM_WRITE) {
    if (!(vma.vm_flags & (VM_ACCOUNT | VM_WRITE | VM_HUGETLB | VM_SHARED | VM_NORESERVE))) {
      newflags = (newflags | VM_ACCOUNT) >>> 0;
    }
  } else if ((vma.vm_flags & VM_ACCOUNT) && vma.isAnonymous && !vma.anon_vma) {
    newflags = (newflags & ~VM_ACCOUNT) >>> 0;
  }
  splitAt(mm, start);
  splitAt(mm, end);
  const target = mm.vmaLookup(start)!;
  const oldflags = target.vm_flags;
  target.vm_flags = newflags;
  // vma_set_page_prot(): a shared VMA armed for uffd-wp keeps write
  // notification (vma_wants_writenotify()), i.e. read-only PTEs.
  const writenotify = (newflags & VM_SHARED) && (newflags & VM_UFFD_WP);
  target.setPageProt(vmGetPageProt(writenotify ? newflags & ~VM_SHARED : newflags));
  changeProtection(target, start, end, vmaWantsManualPteWriteUpgrade(target));
  mergeAround(mm, target);
  // A private VM_LOCKED VMA becoming writable: break COW now rather than
  // take a major fault on the first write.
  if ((oldflags & (VM_WRITE | VM_SHARED | VM_LOCKED)) === VM_LOCKED && (newflags & VM_WRITE)) {
    populateRange(mm, start, end);
  }
}

/**
 * vma_wants_manual_pte_write_upgrade(): may mprotect() make PTEs writable
 * right away instead of waiting for a write fault? Private writable: yes;
 * shared: only where no write notification is needed (shmem: yes).
 */
function vmaWantsManualPteWriteUpgrade(vma: Vma): boolean {
  return (vma.vm_flags & VM_WRITE) !== 0;
}

/** _PAGE_CHG_MASK, low half: pfn bits, caching, special, A, D, soft-dirty, uffd-wp, PAT. */
export function chgMaskLo(vma: Vma): number {
  const core = vma.vm_mm.core;
  return (0xfffff000 | _PAGE_PCD | _PAGE_PWT | _PAGE_SPECIAL | _PAGE_ACCESSED | _PAGE_DIRTY |
    _PAGE_PSE |
    core.softDirtyLo | core.uffdWpLo) >>> 0;
}

/**
 * change_pte_range(): pte_modify() every present PTE to the new
 * vm_page_prot; with MM_CP_TRY_CHANGE_WRITABLE, make it writable at once
 * where can_change_pte_writable() allows (an exclusive anonymous page in a
 * private mapping; a dirty page in a shared one).
 */
export function changeProtection(
  vma: Vma,
  start: number,
  end: number,
  tryChangeWritable: boolean,
): void {
  const keepLo = chgMaskLo(vma);
  const changePte = (pt: PageTable, i: number) => {
    const lo = pt.e[2 * i], hi = pt.e[2 * i + 1];
    if (!(lo & (_PAGE_PRESENT | _PAGE_PROTNONE))) {
      changeNonpresentPte(vma, pt, i);
      return;
    }
    let nlo = ((lo & keepLo) | (vma.protLo & ~keepLo)) >>> 0;
    const nhi = ((hi & 0xfffff) | (vma.protHi & ~0xfffff)) >>> 0;
    if (tryChangeWritable && !(nlo & _PAGE_RW) && canChangePteWritable(vma, nlo, nhi)) {
      nlo |= _PAGE_RW;
    }
    pt.e[2 * i] = nlo >>> 0;
    pt.e[2 * i + 1] = nhi;
  };
  withProtectionNotifier(vma.vm_mm, start, end, false, () => {
    // change_pmd_range(): a huge PMD the range covers whole keeps its size
    // (change_huge_pmd()); a partly covered one is split by the PTE walk.
    for (let s = start; s < end;) {
      const e = Math.min(end, (Math.floor(s / PMD_SIZE) + 1) * PMD_SIZE);
      const huge = e - s === PMD_SIZE ? hugePmdAt(vma.vm_mm, s) : null;
      if (huge) changeHugePmd(vma, huge.pmd, huge.i, keepLo, tryChangeWritable);
      else walkPteRange(vma.vm_mm, s, e, "change_pte_range", changePte);
      s = e;
    }
  });
}

/**
 * change_pte_range() on a swap-format entry. In v6.18 a device-exclusive
 * entry is left as it is (whether the restored PTE is writable is decided
 * at restore time, from VM_WRITE). In the ≤ v6.14 variant a writable
 * device-exclusive entry becomes a readable one, keeping its soft-dirty and
 * uffd-wp bits.
 */
function changeNonpresentPte(vma: Vma, pt: PageTable, i: number): void {
  const core = vma.vm_mm.core;
  const ops = core.swapops;
  const pte = pt.get(i);
  const entry = pteToSwpEntry(pte);
  if (!ops.isWritableDeviceExclusiveEntry(entry)) return;
  let npte = swpEntryToPte(ops.makeReadableDeviceExclusiveEntry(ops.swpOffsetPfn(entry)));
  if (pteSwpSoftDirty(pte, core.bits)) npte = pteSwpMksoftDirty(npte, core.bits);
  if (pteSwpUffdWp(pte, core.bits)) npte = pteSwpMkuffdWp(npte, core.bits);
  pt.set(i, npte);
}

/**
 * change_pmd_range()'s MMU notifier: for each PUD span of [start, end),
 * MMU_NOTIFY_PROTECTION_VMA from the first PMD entry that has a PTE table
 * (or, when `allocating` PTE tables for uffd-wp markers, from the span's
 * start) to the span's end; nothing for a span with no table. Runs `body`
 * inside the brackets.
 */
export function withProtectionNotifier(
  mm: MmStruct,
  start: number,
  end: number,
  allocating: boolean,
  body: () => void,
): void {
  const ranges = [];
  for (let addr = start; addr < end;) {
    const pudEnd = Math.min(end, (Math.floor(addr / PUD_SIZE) + 1) * PUD_SIZE);
    for (let a = addr; a < pudEnd; a = (Math.floor(a / PMD_SIZE) + 1) * PMD_SIZE) {
      if (allocating || lookupPteTable(mm, a) || hugePmdAt(mm, a)) {
        ranges.push(mmuNotifierRangeInit(MMU_NOTIFY_PROTECTION_VMA, 0, mm, a, pudEnd));
        break;
      }
    }
    addr = pudEnd;
  }
  for (const r of ranges) mmuNotifierInvalidateRangeStart(r);
  try {
    body();
  } finally {
    for (const r of ranges) mmuNotifierInvalidateRangeEnd(r);
  }
}

/** can_change_pte_writable(). */
export function canChangePteWritable(vma: Vma, lo: number, hi: number): boolean {
  const core = vma.vm_mm.core;
  if (!(lo & _PAGE_PRESENT)) return false; // pte_protnone()
  if (vmaSoftDirtyEnabled(vma) && !(lo & core.softDirtyLo)) return false;
  if (lo & core.uffdWpLo) return false;
  if (!(vma.vm_flags & VM_SHARED)) {
    const pfn = vmNormalPage(lo, hi);
    return pfn >= 0 && folioTestAnon(core, pfn) && pageAnonExclusive(core, pfn);
  }
  return (lo & _PAGE_DIRTY) !== 0;
}
