/**
 * The CPU side of a memory access and the x86 page-fault handler
 * (arch/x86/mm/fault.c do_user_addr_fault(), v6.18).
 *
 * `mmuAccess` is what the hardware does: walk the tables, check P, U/S and
 * R/W, set Accessed (and Dirty on a write), or raise #PF. The handler then
 * finds the VMA, rejects bad accesses (SIGSEGV with SEGV_MAPERR or
 * SEGV_ACCERR), calls handle_mm_fault(), turns errors into signals
 * (do_sigbus(), including the machine-check log line for poison), and
 * retries the access.
 * @module
 */
import type { MmStruct, Vma } from "../../mm/mm_types.ts";
import { VM_EXEC, VM_READ, VM_WRITE } from "../../mm/mm_types.ts";
import {
  _PAGE_ACCESSED,
  _PAGE_DIRTY,
  _PAGE_PRESENT,
  _PAGE_RW,
  _PAGE_USER,
} from "./pgtable_types.ts";
import { halvesPfn } from "../../pgtable/pgtable.ts";
import { lookupPteTable } from "../../mm/memory.ts";
import { hugePmdAt } from "../../mm/huge_memory.ts";
import {
  FAULT_FLAG_ALLOW_RETRY,
  FAULT_FLAG_INTERRUPTIBLE,
  FAULT_FLAG_KILLABLE,
  FAULT_FLAG_USER,
  FAULT_FLAG_WRITE,
  handleMmFault,
  VM_FAULT_ERROR,
  VM_FAULT_HWPOISON,
  VM_FAULT_HWPOISON_LARGE,
  VM_FAULT_HWPOISON_SILENT,
  VM_FAULT_OOM,
  VM_FAULT_RETRY,
  VM_FAULT_SIGBUS,
  VM_FAULT_SIGSEGV,
} from "../../mm/memory.ts";
import { Signal } from "../../kernel/signal.ts";
import { VmBugError } from "../../kernel/bug.ts";
import { userfaultfdWait } from "../../userfaultfd/userfaultfd.ts";

/** The #PF error code bits (enum x86_pf_error_code). */
export const X86_PF_PROT = 1 << 0;
export const X86_PF_WRITE = 1 << 1;
export const X86_PF_USER = 1 << 2;

/** Lowest non-canonical address with 4-level paging. */
const NON_CANONICAL = 2 ** 47;
/** Lowest canonical address of the upper (kernel) half. */
const KERNEL_HALF = 2 ** 64 - 2 ** 47;
const MAX_RETRIES = 8;

/** Who is accessing: the process name and pid for the kernel log. */
export interface AccessContext {
  comm: string;
  pid: number;
}

/**
 * A user-mode access to `addr`: returns the pfn it reaches, after any
 * faults; throws Signal where the process would die.
 */
export function mmuAccess(mm: MmStruct, addr: number, write: boolean, ctx: AccessContext): number {
  const need = write ? (_PAGE_PRESENT | _PAGE_USER | _PAGE_RW) : (_PAGE_PRESENT | _PAGE_USER);
  // The CPU checks canonicality before it walks: the tables' indices only
  // see bits 12-47, so an upper address must never reach the walk below.
  if (addr >= NON_CANONICAL) doUserAddrFault(mm, addr, X86_PF_USER, ctx);
  mm.uffdHandlerCalls = 0;
  for (let attempt = 0; attempt < MAX_RETRIES; attempt++) {
    const key = Math.floor(addr / 2097152);
    let pt = mm.pteCacheKey === key ? mm.pteCacheTable : null;
    if (!pt) {
      pt = lookupPteTable(mm, addr);
      if (pt) {
        mm.pteCacheKey = key;
        mm.pteCacheTable = pt;
      }
    }
    let errorCode = X86_PF_USER | (write ? X86_PF_WRITE : 0);
    if (pt) {
      const i = 2 * (Math.floor(addr / 4096) & 511);
      const lo = pt.e[i];
      if ((lo & need) === need) {
        pt.e[i] = lo | (write ? _PAGE_ACCESSED | _PAGE_DIRTY : _PAGE_ACCESSED);
        return halvesPfn(lo, pt.e[i + 1]);
      }
      if (lo & _PAGE_PRESENT) errorCode |= X86_PF_PROT;
    } else {
      // A 2 MiB leaf: the walk ends at the PMD (PSE), the offset picks the page.
      const huge = hugePmdAt(mm, addr);
      if (huge) {
        if ((huge.lo & need) === need) {
          const i = 2 * huge.i;
          huge.pmd.e[i] = huge.lo | (write ? _PAGE_ACCESSED | _PAGE_DIRTY : _PAGE_ACCESSED);
          return halvesPfn(huge.lo, huge.hi) + (Math.floor(addr / 4096) & 511);
        }
        if (huge.lo & _PAGE_PRESENT) errorCode |= X86_PF_PROT;
      }
    }
    doUserAddrFault(mm, addr, errorCode, ctx);
  }
  throw new VmBugError("fault loop", "access still faults after repeated handling", {
    addr,
    write,
  });
}

/** access_error(): may this VMA be accessed this way at all? */
export function accessError(errorCode: number, vma: Vma): boolean {
  if (errorCode & X86_PF_WRITE) return !(vma.vm_flags & VM_WRITE);
  if (errorCode & X86_PF_PROT) return true;
  return !(vma.vm_flags & (VM_READ | VM_WRITE | VM_EXEC));
}

/** do_user_addr_fault(): resolve the fault or throw the signal. */
export function doUserAddrFault(
  mm: MmStruct,
  address: number,
  errorCode: number,
  ctx: AccessContext,
): void {
  if (address >= KERNEL_HALF) {
    // A kernel address: do_kern_addr_fault() → bad_area_nosemaphore().
    throw new Signal("SIGSEGV", "SEGV_MAPERR", address);
  }
  if (address >= NON_CANONICAL) {
    // A non-canonical address raises #GP, not #PF: SIGSEGV with SI_KERNEL.
    throw new Signal("SIGSEGV", "SI_KERNEL", 0);
  }
  let flags = FAULT_FLAG_ALLOW_RETRY | FAULT_FLAG_KILLABLE | FAULT_FLAG_INTERRUPTIBLE |
    FAULT_FLAG_USER;
  if (errorCode & X86_PF_WRITE) flags |= FAULT_FLAG_WRITE;
  mm.mmap_lock.downRead();
  let fault: number;
  try {
    const vma = mm.findVma(address);
    if (!vma || vma.vm_start > address) throw new Signal("SIGSEGV", "SEGV_MAPERR", address);
    if (accessError(errorCode, vma)) throw new Signal("SIGSEGV", "SEGV_ACCERR", address);
    fault = handleMmFault(vma, address, flags);
  } finally {
    mm.mmap_lock.upRead();
  }
  if (fault & VM_FAULT_ERROR) mmFaultError(mm, address, fault, ctx);
  // VM_FAULT_RETRY from handle_userfault(): mmap_lock is dropped; wait for
  // the monitor (the handler), then the caller retries the access.
  if (fault & VM_FAULT_RETRY) userfaultfdWait(mm);
}

/** mm_fault_error(). */
function mmFaultError(mm: MmStruct, address: number, fault: number, ctx: AccessContext): never {
  const core = mm.core;
  if (fault & VM_FAULT_OOM) {
    core.printk(`Out of memory: Killed process ${ctx.pid} (${ctx.comm})`);
    throw new Signal("SIGKILL", "SI_KERNEL", address);
  }
  if (fault & (VM_FAULT_SIGBUS | VM_FAULT_HWPOISON | VM_FAULT_HWPOISON_LARGE)) {
    doSigbus(mm, address, fault, ctx);
  }
  if (fault & VM_FAULT_SIGSEGV) throw new Signal("SIGSEGV", "SEGV_MAPERR", address);
  throw new VmBugError("fault", "unexpected vm_fault_t", { fault });
}

/**
 * do_sigbus(): with CONFIG_MEMORY_FAILURE, poison is reported as a machine
 * check (BUS_MCEERR_AR, si_addr_lsb = PAGE_SHIFT) after the "MCE: Killing"
 * line; without it, every SIGBUS is BUS_ADRERR and nothing is logged.
 */
function doSigbus(mm: MmStruct, address: number, fault: number, ctx: AccessContext): never {
  const core = mm.core;
  if (core.config.MEMORY_FAILURE && (fault & (VM_FAULT_HWPOISON | VM_FAULT_HWPOISON_LARGE))) {
    // The silent-poison variant: no hardware error happened, so no MCE line.
    if (fault & VM_FAULT_HWPOISON_SILENT) throw new Signal("SIGBUS", "BUS_MCEERR_AR", address, 12);
    core.printk(
      `MCE: Killing ${ctx.comm}:${ctx.pid} due to hardware memory corruption fault at ${
        address.toString(16)
      }`,
    );
    throw new Signal("SIGBUS", "BUS_MCEERR_AR", address, 12);
  }
  throw new Signal("SIGBUS", "BUS_ADRERR", address);
}
