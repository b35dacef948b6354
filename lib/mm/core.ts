/**
 * The state one simulated kernel shares between processes: physical memory,
 * the zero page, the registry that page->mapping points into, vmstat
 * counters, the kernel log, and the configuration-dependent bit masks.
 * @module
 */
import type { KernelConfig } from "../kernel/config.ts";
import { VmBugError } from "../kernel/bug.ts";
import { MemMap, PG_reserved, PGTY_table } from "./memmap.ts";
import { type Level, PageTable } from "../pgtable/pgtable.ts";
import { SwapOps } from "../pgtable/swapops.ts";
import type { SwapInfo } from "./swapfile.ts";
import { type PteBits, pteBits } from "../arch/x86/pgtable.ts";
import { _PAGE_SOFT_DIRTY_BIT, _PAGE_UFFD_WP_BIT } from "../arch/x86/pgtable_types.ts";
import type { AddressSpace, AnonVma, MmStruct } from "./mm_types.ts";
import { anonMthpOrders, DEFAULT_THP_SETTINGS, type ThpSettings } from "./huge_memory.ts";

/** vmstat counters the model keeps (names from include/linux/vm_event_item.h, mmzone.h). */
export const VMSTAT_ITEMS = [
  "pgfault",
  "pgmajfault",
  "nr_anon_pages",
  "nr_file_pages",
  "nr_shmem",
  "nr_page_table_pages",
  "nr_anon_transparent_hugepages",
  "thp_fault_alloc",
  "thp_fault_fallback",
  "thp_split_pmd",
  "thp_zero_page_alloc",
  "thp_collapse_alloc",
  "thp_collapse_alloc_failed",
  "thp_scan_exceed_none_pte",
  "thp_scan_exceed_share_pte",
  "thp_scan_exceed_swap_pte",
] as const;
export type VmstatItem = typeof VMSTAT_ITEMS[number];

/** The per-size statistics the model keeps (hugepages-<size>kB/stats, enum mthp_stat_item). */
export const MTHP_STAT_ITEMS = ["anon_fault_alloc", "anon_fault_fallback"] as const;
export type MthpStatItem = typeof MTHP_STAT_ITEMS[number];

/** Page frames reserved at boot below the first allocatable one. */
export const RESERVED_LOW_PAGES = 256;

/**
 * Named variants of kernel code a lesson can switch on (`simulate({
 * variants })`): each one is a version of the code that is not v6.18's.
 */
export interface KernelVariants {
  /**
   * The proposed VM_FAULT_HWPOISON_SILENT fault bit (never merged): a
   * UFFDIO_POISON'd page faults with it, and do_sigbus() raises the same
   * SIGBUS without the "MCE: Killing" log line, since no hardware error
   * happened.
   */
  silentPoison: boolean;
  /**
   * UFFDIO_COPY into shared shmem as Axel Rasmussen's "userfaultfd/shmem:
   * modify shmem_mcopy_atomic_pte to use install_ptes" (v2 9/9, April 2021,
   * seed 002_ff0d4858feac7159.txt) would have left it with Hugh Dickins'
   * review of 4/9 applied (set_page_dirty() taken out of
   * mcopy_atomic_install_pte()) but not his review of 9/9 (SetPageDirty()
   * in shmem_mcopy_atomic_pte() before unlock_page()): the PTE is made
   * dirty only when it is made writable, as in 2021, and nothing marks the
   * new page-cache folio dirty. v6.18 makes every installed PTE dirty.
   */
  mcopyInstallPtesV2: boolean;
  /**
   * Device-exclusive entries as in v5.14-v6.14, the series reviewed in
   * 001_5dec3032e006ff91.txt: make_device_exclusive_range() (GUP of the
   * whole range, then an rmap walk per page that checks `ttp->address`),
   * SWP_DEVICE_EXCLUSIVE_WRITE/_READ entries, the mapcount dropped while
   * the device owns the page, and MMU_NOTIFY_EXCLUSIVE (owner NULL) when a
   * CPU fault restores the PTE. Off: v6.18's make_device_exclusive().
   */
  deviceExclusiveRange: boolean;
  /**
   * collapse_pte_mapped_thp() before a98460494b16 ("mm/khugepaged: fix
   * collapse_pte_mapped_thp() versus uffd", v6.6, seed
   * 003_04fde8f735f91402.txt): the PTEs are cleared under the PTE lock
   * alone, which is dropped before the PMD lock is taken to free the table.
   */
  collapsePteMappedThpPreFix: boolean;
}

export const DEFAULT_VARIANTS: Readonly<KernelVariants> = Object.freeze({
  silentPoison: false,
  mcopyInstallPtesV2: false,
  deviceExclusiveRange: false,
  collapsePteMappedThpPreFix: false,
});

/** Merges variant switches into the defaults, rejecting unknown names. */
export function makeVariants(v: Partial<KernelVariants> = {}): Readonly<KernelVariants> {
  if (v === null || typeof v !== "object") {
    throw new TypeError(`variants must be an object, got ${String(v)}`);
  }
  for (const [key, value] of Object.entries(v)) {
    if (!(key in DEFAULT_VARIANTS)) throw new RangeError(`unknown kernel variant "${key}"`);
    if (typeof value !== "boolean") {
      throw new TypeError(`variant ${key} must be true or false, got ${String(value)}`);
    }
  }
  return Object.freeze({ ...DEFAULT_VARIANTS, ...v });
}

export class MmCore {
  readonly memmap: MemMap;
  /** page->mapping targets: index 0 is "no mapping". */
  readonly mappings: (AnonVma | AddressSpace | null)[] = [null];
  readonly vmstat: Record<VmstatItem, number>;
  /** The orders a write fault may try below the PMD's, largest first (anonMthpOrders()). */
  readonly anonMthpOrders: readonly number[];
  /** hugepages-<size>kB/stats/<item>, by folio size in kB (count_mthp_stat()). */
  readonly mthpStats = new Map<number, Record<MthpStatItem, number>>();
  readonly dmesg: string[] = [];
  readonly swapops: SwapOps;
  readonly bits: PteBits;
  /** _PAGE_SOFT_DIRTY and _PAGE_UFFD_WP as configured (0 when compiled out). */
  readonly softDirtyLo: number;
  readonly uffdWpLo: number;
  /** The shared zero page (my_zero_pfn()). */
  readonly zeroPfn: number;
  /** The huge zero folio's head (mm_get_huge_zero_folio()), -1 until first used. */
  hugeZeroPfn = -1;
  readonly mms = new Set<MmStruct>();
  /** The swap device (swapon(2)), or null: none, as on this workplace's machines. */
  swap: SwapInfo | null = null;
  private warned = new Set<string>();
  private nextIno = 1;

  /** count_mthp_stat(order, item). */
  countMthpStat(order: number, item: MthpStatItem): void {
    const kb = 4 << order;
    let stats = this.mthpStats.get(kb);
    if (!stats) {
      stats = Object.fromEntries(MTHP_STAT_ITEMS.map((k) => [k, 0])) as Record<
        MthpStatItem,
        number
      >;
      this.mthpStats.set(kb, stats);
    }
    stats[item]++;
  }

  constructor(
    readonly config: Readonly<KernelConfig>,
    memoryBytes: number,
    readonly variants: Readonly<KernelVariants> = DEFAULT_VARIANTS,
    /** The transparent_hugepage sysfs knobs (see huge_memory.ts). */
    readonly thp: Readonly<ThpSettings> = DEFAULT_THP_SETTINGS,
  ) {
    this.memmap = new MemMap(memoryBytes);
    this.swapops = new SwapOps(config, variants.deviceExclusiveRange);
    this.bits = pteBits(config);
    this.softDirtyLo = config.MEM_SOFT_DIRTY ? _PAGE_SOFT_DIRTY_BIT : 0;
    this.uffdWpLo = config.HAVE_ARCH_USERFAULTFD_WP ? _PAGE_UFFD_WP_BIT : 0;
    this.vmstat = Object.fromEntries(VMSTAT_ITEMS.map((k) => [k, 0])) as Record<VmstatItem, number>;
    this.anonMthpOrders = anonMthpOrders(thp);
    // Low memory is reserved at boot (as the first MiB is on x86); the zero
    // page is the last of those frames.
    let pfn = 0;
    for (let i = 0; i < RESERVED_LOW_PAGES; i++) {
      pfn = this.memmap.allocPage();
      this.memmap.flags[pfn] = PG_reserved;
    }
    this.zeroPfn = pfn;
  }

  /** Registers an anon_vma or address_space; its id goes into page->mapping. */
  register(make: (id: number) => AnonVma | AddressSpace): AnonVma | AddressSpace {
    const id = this.mappings.length;
    const obj = make(id);
    this.mappings.push(obj);
    return obj;
  }

  newIno(): number {
    return this.nextIno++;
  }

  /** pagetable_alloc() + pagetable_*_ctor(): a zeroed table page. */
  allocTable(mm: MmStruct, level: Level): PageTable {
    const pfn = this.memmap.allocPage();
    if (pfn < 0) throw new VmBugError("out of memory", "no page left for a page table", { level });
    this.memmap.pageType[pfn] = PGTY_table;
    if (level !== "pgd") {
      mm.pgtables_bytes += 4096;
      this.vmstat.nr_page_table_pages++;
    }
    return new PageTable(pfn, level);
  }

  /** Allocates a table or returns null when memory is exhausted. */
  tryAllocTable(mm: MmStruct, level: Level): PageTable | null {
    if (this.memmap.nrFreePages === 0) return null;
    return this.allocTable(mm, level);
  }

  /** pagetable_free() (the dtor, then free the page). */
  freeTable(mm: MmStruct, table: PageTable): void {
    if (table.freed) {
      throw new VmBugError("double free", "page table freed twice", { pfn: table.pfn });
    }
    if (table.ptl?.locked) {
      throw new VmBugError("lock held", "freeing a page table whose lock is held", {
        pfn: table.pfn,
      });
    }
    table.freed = true;
    if (table.level !== "pgd") {
      mm.pgtables_bytes -= 4096;
      this.vmstat.nr_page_table_pages--;
    }
    this.memmap.pageType[table.pfn] = 0;
    this.memmap.refcount[table.pfn] = 0;
    this.memmap.freePage(table.pfn);
    mm.flushPteCache();
  }

  /** printk() into the kernel log. */
  printk(line: string): void {
    this.dmesg.push(line);
  }

  /** WARN_ON_ONCE(): log a warning the first time `key` fires. */
  warnOnce(key: string, message: string): void {
    if (this.warned.has(key)) return;
    this.warned.add(key);
    this.printk(`WARNING: ${message}`);
  }
}
