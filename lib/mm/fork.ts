/**
 * fork()'s memory half (kernel/fork.c dup_mmap(), mm/rmap.c anon_vma_fork()),
 * v6.18: copy every VMA but VM_DONTCOPY ones, give each anonymous VMA of the
 * child its own anon_vma chained to the parent's, and copy page tables
 * where vma_needs_copy() says so. VM_WIPEONFORK VMAs start empty; VM_LOCKED
 * is not inherited.
 * @module
 */
import {
  AnonVma,
  MmStruct,
  VM_LOCKED,
  VM_LOCKONFAULT,
  VM_UFFD_MISSING,
  VM_UFFD_WP,
  VM_WIPEONFORK,
  Vma,
} from "./mm_types.ts";
import { insertVma } from "./mmap.ts";
import { copyPageRange } from "./memory.ts";
import { exitMmap } from "./exit.ts";
import {
  dupUserfaultfd,
  dupUserfaultfdComplete,
  type UffdOwner,
  type UserfaultfdCtx,
} from "../userfaultfd/userfaultfd.ts";

/**
 * dup_mmap(): returns the child's mm, or null when out of memory, or the
 * -errno copy_page_range() failed with (-EBUSY: a device-exclusive entry
 * whose folio lock was contended). The half-built mm is torn down again,
 * as mmput() does after a failed fork.
 */
export function dupMmap(
  oldmm: MmStruct,
  childPid: number,
  childOwner?: UffdOwner,
): MmStruct | number | null {
  const core = oldmm.core;
  if (core.memmap.nrFreePages === 0) return null;
  const mm = new MmStruct(core, childPid);
  core.mms.add(mm);
  mm.mmap_base = oldmm.mmap_base;
  // The userfaultfds the child gets (UFFD_FEATURE_EVENT_FORK), by parent context.
  const forks = new Map<UserfaultfdCtx, UserfaultfdCtx>();
  oldmm.mmap_lock.downWrite("dup_mmap");
  try {
    for (const vma of oldmm.vmas) {
      if (vma.vm_flags & 0x20000) continue; // VM_DONTCOPY
      const tmp = new Vma(
        mm,
        vma.vm_start,
        vma.vm_end,
        vma.vm_flags & ~(VM_LOCKED | VM_LOCKONFAULT),
        vma.vm_pgoff,
        vma.vm_file,
      );
      tmp.vm_flags >>>= 0;
      tmp.setPageProt(vma.vm_page_prot);
      tmp.vm_flags_hi = vma.vm_flags_hi;
      tmp.vm_userfaultfd_ctx = vma.vm_userfaultfd_ctx;
      // dup_userfaultfd() runs before copy_page_range(), which keeps
      // uffd-wp bits only where the child's VMA is still armed.
      if (childOwner) dupUserfaultfd(tmp, forks, childOwner);
      else if (tmp.vm_userfaultfd_ctx) {
        tmp.vm_userfaultfd_ctx = null;
        tmp.vm_flags &= ~(VM_UFFD_MISSING | VM_UFFD_WP);
        tmp.vm_flags_hi = 0;
        tmp.vm_flags >>>= 0;
      }
      if (!(vma.vm_flags & VM_WIPEONFORK) && vma.anon_vma) {
        // anon_vma_fork(): the child's new pages go to its own anon_vma.
        const av = core.register((id) => new AnonVma(id, vma.anon_vma)) as AnonVma;
        tmp.anon_vma = av;
        tmp.anonVmaChain = [av, ...vma.anonVmaChain];
      }
      insertVma(mm, tmp);
      if (vma.vm_flags & VM_WIPEONFORK) continue;
      const err = copyPageRange(tmp, vma);
      if (err < 0) {
        exitMmap(mm);
        return err === -12 ? null : err;
      }
    }
  } finally {
    oldmm.mmap_lock.upWrite();
  }
  dupUserfaultfdComplete(forks);
  return mm;
}
