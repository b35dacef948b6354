/**
 * Hardware memory errors on one page (mm/memory-failure.c memory_failure(),
 * v6.18), reduced to what a user process can observe.
 *
 * memory_failure(pfn):
 *
 *  1. TestSetPageHWPoison(): the page is marked PG_hwpoison; a page already
 *     poisoned is left alone (-EHWPOISON), a reserved page (the zero page)
 *     is ignored (-EBUSY);
 *  2. hwpoison_user_mappings() → try_to_unmap(TTU_HWPOISON): every PTE that
 *     maps the page becomes make_hwpoison_entry(page), a SWP_HWPOISON swap
 *     entry whose offset is the pfn; rss, mapcount and the mapping's
 *     reference go as in a zap, a dirty PTE dirties the folio;
 *  3. kill_procs(): with MF_ACTION_REQUIRED the current task, if it maps the
 *     page, is collected whatever its early-kill setting; a dirty folio
 *     (forcekill) means its data is lost, so the task gets SIGBUS
 *     BUS_MCEERR_AR at its address of the page;
 *  4. action_result(): "recovery action for dirty/clean LRU page: Recovered".
 *     memory_failure() keeps the reference it took, so the page never goes
 *     back to the allocator.
 *
 * A later access to a hwpoison entry goes through do_swap_page(), which
 * returns VM_FAULT_HWPOISON.
 *
 * Simplifications: small folios only here (MADV_HWPOISON splits a THP
 * first, as try_to_split_thp_page() does; see lib/mm/madvise.ts); the rmap
 * walk visits every mm instead of following anon_vma/i_mmap; page-cache
 * pages stay in the page cache (shmem_error_remove_folio() keeps them
 * too); no MCE decoding, no soft offline, no unpoison, no
 * vm.memory_failure_early_kill (early kill is off, as by default).
 * @module
 */
import { MMU_NOTIFY_CLEAR, withMmuNotifier } from "./mmu_notifier.ts";
import { ERRNO } from "../kernel/errno.ts";
import { Signal } from "../kernel/signal.ts";
import { PAGE_SHIFT } from "../kernel/constants.ts";
import type { MmCore } from "./core.ts";
import type { MmStruct } from "./mm_types.ts";
import { PG_dirty, PG_hwpoison, PG_reserved, PGTY_buddy, PGTY_table } from "./memmap.ts";
import { folioMarkDirty, folioRemoveRmapPte, mmCounter } from "./rmap.ts";
import { vmNormalPage } from "./memory.ts";
import { walkPteRange } from "./pagewalk.ts";
import { pteToSwpEntry, swpEntryToPte } from "../pgtable/swapops.ts";
import { _PAGE_DIRTY, _PAGE_PRESENT, _PAGE_PROTNONE } from "../arch/x86/pgtable_types.ts";

/** memory_failure() flags (include/linux/mm.h enum mf_flags). */
export const MF_COUNT_INCREASED = 1 << 0;
export const MF_ACTION_REQUIRED = 1 << 1;
export const MF_MUST_KILL = 1 << 2;
export const MF_SW_SIMULATED = 1 << 5;

/** The task that called into memory_failure() (current). */
export interface MfCurrent {
  readonly mm: MmStruct;
  readonly comm: string;
  readonly pid: number;
}

/** What memory_failure() did: 0 or -errno, and the signal for current, if any. */
export interface MemoryFailureResult {
  ret: number;
  signal: Signal | null;
}

const hex = (n: number) => `0x${n.toString(16)}`;

/** PageHWPoison(). */
export function pageHWPoison(core: MmCore, pfn: number): boolean {
  return (core.memmap.flags[pfn] & PG_hwpoison) !== 0;
}

/** memory_failure(): poison `pfn` and unmap it from every address space. */
export function memoryFailure(
  core: MmCore,
  pfn: number,
  flags: number,
  current: MfCurrent | null,
): MemoryFailureResult {
  const m = core.memmap;
  const log = (s: string) => core.printk(`Memory failure: ${hex(pfn)}: ${s}`);
  if (!core.config.MEMORY_FAILURE) return { ret: -ERRNO.ENXIO, signal: null };
  if (pfn < 0 || pfn >= m.highestPfn) return { ret: -ERRNO.ENXIO, signal: null };
  // step 1
  if (m.flags[pfn] & PG_hwpoison) {
    log("already hardware poisoned");
    return { ret: -ERRNO.EHWPOISON, signal: null };
  }
  if ((m.flags[pfn] & PG_reserved) || m.pageType[pfn] === PGTY_table) {
    log("recovery action for reserved kernel page: Ignored");
    return { ret: -ERRNO.EBUSY, signal: null };
  }
  if (m.pageType[pfn] === PGTY_buddy) {
    log("recovery action for free buddy page: Recovered");
    return { ret: 0, signal: null };
  }
  m.flags[pfn] |= PG_hwpoison;
  if (!(flags & MF_COUNT_INCREASED)) m.refcount[pfn]++; // get_hwpoison_page()
  // step 2
  let currentAddr = -1;
  for (const mm of core.mms) {
    const addr = tryToUnmapHwpoison(core, mm, pfn);
    if (mm === current?.mm && addr >= 0) currentAddr = addr;
  }
  const dirty = (m.flags[pfn] & PG_dirty) !== 0;
  // step 3
  let signal: Signal | null = null;
  const forcekill = dirty || (flags & MF_MUST_KILL) !== 0;
  if (current && (flags & MF_ACTION_REQUIRED) && forcekill && currentAddr >= 0) {
    log(`Sending SIGBUS to ${current.comm}:${current.pid} due to hardware memory corruption`);
    signal = new Signal("SIGBUS", "BUS_MCEERR_AR", currentAddr, PAGE_SHIFT);
  }
  // step 4
  log(`recovery action for ${dirty ? "dirty" : "clean"} LRU page: Recovered`);
  return { ret: 0, signal };
}

/**
 * A device-exclusive entry of `pfn`, which the rmap walk finds since v6.15
 * (never with the deviceExclusiveRange variant).
 */
function isDeviceExclusiveOf(core: MmCore, pte: bigint, pfn: number): boolean {
  if (core.variants.deviceExclusiveRange) return false;
  const e = pteToSwpEntry(pte);
  return core.swapops.isDeviceExclusiveEntry(e) && core.swapops.swpOffsetPfn(e) === pfn;
}

/**
 * try_to_unmap() with TTU_HWPOISON in one mm (try_to_unmap_one()): each PTE
 * mapping `pfn` becomes a hwpoison entry, and so does a v6.18
 * device-exclusive entry of it (a mapping the rmap walk finds since v6.15;
 * up to v6.14 such an entry held no mapcount and was not found). Returns
 * the last user address that mapped the page, or -1.
 */
function tryToUnmapHwpoison(core: MmCore, mm: MmStruct, pfn: number): number {
  let found = -1;
  for (const vma of mm.vmas) {
    walkPteRange(mm, vma.vm_start, vma.vm_end, "try_to_unmap_one", (pt, i, addr) => {
      const lo = pt.e[2 * i], hi = pt.e[2 * i + 1];
      if (!(lo & (_PAGE_PRESENT | _PAGE_PROTNONE))) {
        if (!isDeviceExclusiveOf(core, pt.get(i), pfn)) return;
      } else if (vmNormalPage(lo, hi) !== pfn) {
        return;
      }
      if (lo & _PAGE_DIRTY) folioMarkDirty(core, pfn);
      // try_to_unmap_one() brackets the change with MMU_NOTIFY_CLEAR (opened
      // before the PTE lock in the kernel; subscribers here never take it).
      withMmuNotifier(
        MMU_NOTIFY_CLEAR,
        mm,
        addr,
        addr + 4096,
        () => pt.set(i, swpEntryToPte(core.swapops.makeHwpoisonEntry(pfn))),
      );
      mm.rss[mmCounter(core, pfn)]--;
      folioRemoveRmapPte(core, pfn);
      core.memmap.put(pfn);
      found = addr;
    });
  }
  return found;
}
