/**
 * `simulate()`: one simulated Linux kernel (v6.18, x86-64, 4-level paging,
 * 4 KiB pages) with its processes, log, counters and invariant checks.
 * @module
 */
import { type KernelConfig, makeConfig } from "./config.ts";
import { type KernelVariants, makeVariants, MmCore, type VmstatItem } from "../mm/core.ts";
import { MmStruct } from "../mm/mm_types.ts";
import { Errno, errnoFromCode } from "./errno.ts";
import { type SwapInfo, swapoff, type SwapoffResult, swapon } from "../mm/swapfile.ts";
import { lookupPteTable, pteIndex } from "../mm/memory.ts";
import { isSwapPte } from "../arch/x86/pgtable.ts";
import { pteToSwpEntry } from "../pgtable/swapops.ts";
import { makeThpSettings, type ThpSettings } from "../mm/huge_memory.ts";
import { khugepagedScan, type KhugepagedScanEntry } from "../mm/khugepaged.ts";
import { checkInvariants } from "../mm/debug.ts";
import { Process, type SpawnOptions } from "./process.ts";
import { type PageTablePath, walkAddress } from "../pgtable/walk.ts";
import { pageTablePathSvg } from "../plot/page_table_path.ts";
import type { Figure } from "../plot/figure.ts";
import { Dmirror, type DmirrorOptions } from "../hmm/test_hmm.ts";

/** Options of simulate(). */
export interface SimulateOptions {
  /** Only "x86_64" (4-level paging, 4 KiB pages) in this release of the model. */
  arch?: "x86_64";
  /** Kconfig options without the CONFIG_ prefix; defaults are Debian's. */
  config?: Partial<KernelConfig>;
  /** Simulated RAM in bytes (default 64 GiB; pages are only paid for when used). */
  memory?: number;
  /** Historical or proposed versions of kernel code (default: v6.18 as released). */
  variants?: Partial<KernelVariants>;
  /**
   * The /sys/kernel/mm/transparent_hugepage knobs (`enabled`,
   * `shmem_enabled`, `use_zero_page`, khugepaged's `max_ptes_none` ...);
   * defaults: enabled = madvise, shmem_enabled = never, as on Debian.
   */
  thp?: Partial<ThpSettings>;
}

const DEFAULT_MEMORY = 64 * 2 ** 30;

/** A simulated kernel. */
export class Kernel {
  readonly arch = "x86_64" as const;
  readonly config: Readonly<KernelConfig>;
  readonly core: MmCore;
  readonly processes = new Map<number, Process>();
  private nextPid = 1;

  constructor(opts: SimulateOptions = {}) {
    if (opts === null || typeof opts !== "object") {
      throw new TypeError(`simulate() options must be an object, got ${String(opts)}`);
    }
    if (opts.arch !== undefined && opts.arch !== "x86_64") {
      throw new RangeError(`unknown arch "${String(opts.arch)}": this model has "x86_64"`);
    }
    this.config = makeConfig(opts.config);
    this.core = new MmCore(
      this.config,
      opts.memory ?? DEFAULT_MEMORY,
      makeVariants(opts.variants),
      makeThpSettings(opts.thp),
    );
  }

  /** A new process with an empty address space. */
  spawn(opts: SpawnOptions = {}): Process {
    if (this.core.memmap.nrFreePages === 0) {
      throw new Errno("ENOMEM", "spawn", "no memory for a pgd");
    }
    const pid = this.nextPid++;
    const mm = new MmStruct(this.core, pid);
    this.core.mms.add(mm);
    const p = new Process(this, pid, mm, opts.comm ?? "a.out", opts.capSysAdmin ?? true);
    this.processes.set(pid, p);
    return p;
  }

  /** Creates the child of a fork: `makeMm` builds its address space. */
  forkProcess(parent: Process, makeMm: (pid: number) => MmStruct): Process {
    const pid = this.nextPid++;
    const mm = makeMm(pid);
    const child = new Process(this, pid, mm, parent.comm, parent.capSysAdmin);
    parent.copyFilesTo(child);
    this.processes.set(pid, child);
    return child;
  }

  /** Forgets an exited process. */
  reap(p: Process): void {
    this.processes.delete(p.pid);
  }

  /**
   * Verifies every invariant (rss counters, mapcounts, refcounts,
   * anon-exclusive, page tables, locks); throws a VmBugError naming the one
   * that broke.
   */
  check(): void {
    checkInvariants(this.core);
  }

  /** The kernel log (dmesg), oldest first. */
  get dmesg(): readonly string[] {
    return this.core.dmesg;
  }

  /** vmstat counters, with nr_free_pages. */
  get vmstat(): Readonly<
    Record<VmstatItem | "nr_free_pages" | "pgalloc_normal" | "pgfree", number>
  > {
    const m = this.core.memmap;
    return {
      ...this.core.vmstat,
      nr_free_pages: m.nrFreePages,
      pgalloc_normal: m.allocs,
      pgfree: m.frees,
    };
  }

  /**
   * A simulated device (lib/test_hmm.c's dmirror) mirroring `p`: device
   * reads and writes, device atomics on pages made device-exclusive.
   */
  device(p: Process, options?: DmirrorOptions): Dmirror {
    return new Dmirror(p, options);
  }

  /**
   * swapon(2): a swap device of `pages` pages (slot 0 is its header), so
   * that reclaim (MADV_PAGEOUT) can write anonymous pages out. One device;
   * a second swapon() is EBUSY. See lib/mm/swapfile.ts.
   */
  swapon(pages = 1024): SwapInfo {
    const ret = swapon(this.core, pages);
    if (typeof ret === "number") throw errnoFromCode(-ret, "swapon");
    return ret;
  }

  /**
   * swapoff(2): read every swapped-out page back in (try_to_unuse()). A
   * slot that cannot be read leaves a poisoned PTE marker where its page
   * was (a swapin error). EINVAL without a device.
   */
  swapoff(): SwapoffResult {
    const ret = swapoff(this.core);
    if (typeof ret === "number") throw errnoFromCode(-ret, "swapoff");
    return ret;
  }

  /**
   * Makes the swap slot that `p`'s PTE at `addr` points to unreadable, as
   * a failing disk would: the next read of it (a fault, or swapoff) fails.
   * Throws a RangeError if there is no swap entry of the device there.
   */
  injectSwapReadError(p: Process, addr: number): number {
    const si = this.core.swap;
    const pt = lookupPteTable(p.mm, addr);
    const pte = pt ? pt.get(pteIndex(addr)) : 0n;
    const entry = isSwapPte(pte) ? pteToSwpEntry(pte) : null;
    const offset = entry ? Number(entry.offset) : -1;
    if (!si || !entry || !this.core.swapops.isSwapDeviceEntry(entry) || !si.inUse(offset)) {
      throw new RangeError(`no swap entry of the swap device at 0x${addr.toString(16)}`);
    }
    si.badSlots.add(offset);
    return offset;
  }

  /**
   * One pass of the khugepaged thread (mm/khugepaged.c khugepaged_do_scan()):
   * collapse what the THP policy and khugepaged's max_ptes_* limits allow,
   * up to `pages` pages scanned (default `pages_to_scan`). Returns each
   * 2 MiB block's scan_result.
   */
  khugepaged(pages?: number): KhugepagedScanEntry[] {
    return khugepagedScan(this.core, pages);
  }

  /** The path of `addr` through `p`'s page tables. */
  walk(p: Process, addr: number): PageTablePath {
    return walkAddress(p.mm, addr);
  }

  /** A picture of the path of `addr` through `p`'s page tables. */
  renderPageTables(p: Process, addr: number): Figure {
    return pageTablePathSvg(this.walk(p, addr));
  }
}

/** Creates a simulated kernel. */
export function simulate(opts: SimulateOptions = {}): Kernel {
  return new Kernel(opts);
}
