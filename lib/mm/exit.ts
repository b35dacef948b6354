/**
 * Tearing down an address space at exit (mm/mmap.c exit_mmap(),
 * kernel/fork.c check_mm()), v6.18: zap everything, free the page tables,
 * then complain in the log, as the kernel does, about rss counters or page
 * tables that did not go back to zero.
 * @module
 */
import { type MmStruct, NR_MM_COUNTERS, RSS_NAMES } from "./mm_types.ts";
import { freePgtables, ZAP_UNMAP, zapPageRange } from "./memory.ts";
import { removeVma } from "./mmap.ts";
import {
  MMU_NOTIFIER_RANGE_ALL,
  MMU_NOTIFY_UNMAP,
  mmuNotifierRelease,
  withMmuNotifier,
} from "./mmu_notifier.ts";
import { TASK_SIZE } from "../kernel/constants.ts";

/** exit_mmap() + check_mm() + mmdrop(). Returns the log lines it printed. */
export function exitMmap(mm: MmStruct): string[] {
  const core = mm.core;
  const printed: string[] = [];
  // The mm's last user is gone: secondary MMUs let go first.
  mmuNotifierRelease(mm);
  mm.mmap_lock.downWrite("exit_mmap");
  // unmap_vmas() over everything: MMU_NOTIFY_UNMAP of [0, ULONG_MAX].
  withMmuNotifier(MMU_NOTIFY_UNMAP, mm, 0, MMU_NOTIFIER_RANGE_ALL, () => {
    for (const vma of [...mm.vmas]) zapPageRange(vma, vma.vm_start, vma.vm_end, ZAP_UNMAP);
  });
  for (const vma of [...mm.vmas]) removeVma(mm, vma);
  freePgtables(mm, 0, TASK_SIZE);
  mm.mmap_lock.upWrite();
  for (let i = 0; i < NR_MM_COUNTERS; i++) {
    if (mm.rss[i] !== 0) {
      const line = `BUG: Bad rss-counter state mm:${mm.owner} type:${RSS_NAMES[i]} val:${
        mm.rss[i]
      }`;
      core.printk(line);
      printed.push(line);
    }
  }
  if (mm.pgtables_bytes !== 0) {
    const line = `BUG: non-zero pgtables_bytes on freeing mm: ${mm.pgtables_bytes}`;
    core.printk(line);
    printed.push(line);
  }
  core.freeTable(mm, mm.pgd);
  mm.dead = true;
  core.mms.delete(mm);
  return printed;
}
