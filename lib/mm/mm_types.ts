/**
 * The core objects: struct mm_struct, struct vm_area_struct (`Vma`),
 * struct anon_vma, struct address_space, and the shmem inode/file a
 * mapping refers to (include/linux/mm_types.h, include/linux/rmap.h,
 * include/linux/fs.h), v6.18.
 *
 * Simplifications: the maple tree of VMAs is a sorted array; an anon_vma
 * chain is the list of the anon_vmas a VMA's pages may belong to; one lock
 * (mmap_lock) stands for both mmap_lock and the per-VMA locks.
 * @module
 */
import { RwSemaphore, SpinLock } from "../kernel/locking.ts";
import type { PageTable } from "../pgtable/pgtable.ts";
import { type Pte, pteToHalves } from "../arch/x86/pgtable.ts";
import type { MmCore } from "./core.ts";
import type { UffdWait, UserfaultfdCtx } from "../userfaultfd/userfaultfd.ts";
import type { MmuNotifierSubscriptions } from "./mmu_notifier.ts";

// vm_flags (include/linux/mm.h). Values above bit 30 are kept as unsigned.
export const VM_NONE = 0x0;
export const VM_READ = 0x1;
export const VM_WRITE = 0x2;
export const VM_EXEC = 0x4;
export const VM_SHARED = 0x8;
export const VM_MAYREAD = 0x10;
export const VM_MAYWRITE = 0x20;
export const VM_MAYEXEC = 0x40;
export const VM_MAYSHARE = 0x80;
export const VM_GROWSDOWN = 0x100;
export const VM_UFFD_MISSING = 0x200;
export const VM_PFNMAP = 0x400;
export const VM_UFFD_WP = 0x1000;
export const VM_LOCKED = 0x2000;
export const VM_IO = 0x4000;
export const VM_SEQ_READ = 0x8000;
export const VM_RAND_READ = 0x10000;
export const VM_DONTCOPY = 0x20000;
export const VM_DONTEXPAND = 0x40000;
export const VM_LOCKONFAULT = 0x80000;
export const VM_ACCOUNT = 0x100000;
export const VM_NORESERVE = 0x200000;
export const VM_HUGETLB = 0x400000;
export const VM_SYNC = 0x800000;
export const VM_WIPEONFORK = 0x2000000;
export const VM_DONTDUMP = 0x4000000;
/** VM_SOFTDIRTY: only with CONFIG_MEM_SOFT_DIRTY (VM_NONE otherwise). */
export const VM_SOFTDIRTY = 0x8000000;
export const VM_MIXEDMAP = 0x10000000;
export const VM_HUGEPAGE = 0x20000000;
export const VM_NOHUGEPAGE = 0x40000000;
export const VM_MERGEABLE = 0x80000000;
/**
 * VM_UFFD_MINOR (VM_UFFD_MINOR_BIT = 41 with CONFIG_HAVE_ARCH_USERFAULTFD_MINOR).
 * The model keeps vm_flags as an unsigned 32-bit number, so this bit lives
 * in `Vma.vm_flags_hi` (bit 41 - 32) instead; see vmaUffdMinor().
 */
export const VM_UFFD_MINOR = 2 ** 41;
export const VM_UFFD_MINOR_BIT = 41;
/** VM_UFFD_MINOR within Vma.vm_flags_hi. */
export const VM_UFFD_MINOR_HI = 1 << (VM_UFFD_MINOR_BIT - 32);

/** The vm_flags names, for decoders and pictures. */
export const VM_FLAG_NAMES: readonly (readonly [string, number])[] = [
  ["VM_READ", VM_READ],
  ["VM_WRITE", VM_WRITE],
  ["VM_EXEC", VM_EXEC],
  ["VM_SHARED", VM_SHARED],
  ["VM_MAYREAD", VM_MAYREAD],
  ["VM_MAYWRITE", VM_MAYWRITE],
  ["VM_MAYEXEC", VM_MAYEXEC],
  ["VM_MAYSHARE", VM_MAYSHARE],
  ["VM_GROWSDOWN", VM_GROWSDOWN],
  ["VM_UFFD_MISSING", VM_UFFD_MISSING],
  ["VM_PFNMAP", VM_PFNMAP],
  ["VM_UFFD_WP", VM_UFFD_WP],
  ["VM_LOCKED", VM_LOCKED],
  ["VM_DONTCOPY", VM_DONTCOPY],
  ["VM_ACCOUNT", VM_ACCOUNT],
  ["VM_NORESERVE", VM_NORESERVE],
  ["VM_HUGETLB", VM_HUGETLB],
  ["VM_WIPEONFORK", VM_WIPEONFORK],
  ["VM_DONTDUMP", VM_DONTDUMP],
  ["VM_SOFTDIRTY", VM_SOFTDIRTY],
  ["VM_HUGEPAGE", VM_HUGEPAGE],
  ["VM_NOHUGEPAGE", VM_NOHUGEPAGE],
  ["VM_MERGEABLE", VM_MERGEABLE],
];

/** Names of the bits set in `flags`. */
export function vmFlagNames(flags: number): string[] {
  return VM_FLAG_NAMES.filter(([, bit]) => (flags & bit) !== 0).map(([n]) => n);
}

/** flags with `set` added and `clear` removed, kept unsigned. */
export function vmFlagsMod(flags: number, set: number, clear = 0): number {
  return ((flags & ~clear) | set) >>> 0;
}

/**
 * vma_soft_dirty_enabled() (mm/internal.h): with CONFIG_MEM_SOFT_DIRTY, a
 * VMA whose VM_SOFTDIRTY was cleared (by clear_refs) tracks writes, so a
 * PTE without its soft-dirty bit must stay write-protected.
 */
export function vmaSoftDirtyEnabled(vma: Vma): boolean {
  return vma.vm_mm.core.config.MEM_SOFT_DIRTY && !(vma.vm_flags & VM_SOFTDIRTY);
}

/** is_cow_mapping(): private and may become writable. */
export function isCowMapping(flags: number): boolean {
  return (flags & (VM_SHARED | VM_MAYWRITE)) === VM_MAYWRITE;
}

// rss counters (include/linux/mm_types_task.h)
export const MM_FILEPAGES = 0;
export const MM_ANONPAGES = 1;
export const MM_SWAPENTS = 2;
export const MM_SHMEMPAGES = 3;
export const NR_MM_COUNTERS = 4;
export const RSS_NAMES = ["MM_FILEPAGES", "MM_ANONPAGES", "MM_SWAPENTS", "MM_SHMEMPAGES"] as const;

/** struct anon_vma: where anonymous pages of a VMA (and its forks) hang. */
export class AnonVma {
  constructor(readonly id: number, readonly parent: AnonVma | null) {}
  get root(): AnonVma {
    return this.parent ? this.parent.root : this;
  }
}

/** The shmem inode behind a memfd or a shared anonymous mapping. */
export class Inode {
  /** i_size in bytes. */
  size = 0;
  /** Open file descriptors (with i_mmap, what keeps an unlinked inode alive). */
  openFds = 0;
  mapping!: AddressSpace;
  constructor(readonly ino: number, readonly name: string) {}
}

/** struct address_space: the page cache (i_pages) and the VMAs mapping it (i_mmap). */
export class AddressSpace {
  /** i_pages: page index → pfn. */
  readonly pages = new Map<number, number>();
  /** i_mmap: every VMA mapping this file. */
  readonly i_mmap = new Set<Vma>();
  constructor(readonly id: number, readonly host: Inode) {}
}

/** struct file: an open shmem file. */
export class File {
  constructor(
    readonly inode: Inode,
    readonly readable: boolean,
    readonly writable: boolean,
  ) {}
}

/** struct vm_area_struct. */
export class Vma {
  vm_page_prot: Pte = 0n;
  /** vm_page_prot split into the halves the fault path stores. */
  protLo = 0;
  protHi = 0;
  anon_vma: AnonVma | null = null;
  /** The anon_vmas whose pages this VMA may map (anon_vma_chain). */
  anonVmaChain: AnonVma[] = [];
  /** vm_flags bits 32-63 (only VM_UFFD_MINOR is modelled there). */
  vm_flags_hi = 0;
  /** vm_userfaultfd_ctx.ctx: the userfaultfd this VMA is registered with. */
  vm_userfaultfd_ctx: UserfaultfdCtx | null = null;

  constructor(
    readonly vm_mm: MmStruct,
    public vm_start: number,
    public vm_end: number,
    public vm_flags: number,
    public vm_pgoff: number,
    public vm_file: File | null,
  ) {}

  setPageProt(prot: Pte): void {
    this.vm_page_prot = prot;
    [this.protLo, this.protHi] = pteToHalves(prot);
  }

  /** vma_is_anonymous(): no vm_ops, i.e. no file. */
  get isAnonymous(): boolean {
    return this.vm_file === null;
  }

  /** linear_page_index(): the page offset of `addr` in the file or anon space. */
  linearPageIndex(addr: number): number {
    return Math.floor((addr - this.vm_start) / 4096) + this.vm_pgoff;
  }

  toString(): string {
    const hex = (n: number) => n.toString(16);
    return `vma ${hex(this.vm_start)}-${hex(this.vm_end)} ${vmFlagNames(this.vm_flags).join("|")}`;
  }
}

/** struct mm_struct. */
export class MmStruct {
  pgd: PageTable;
  /** The VMAs, sorted by address (the maple tree's contents). */
  vmas: Vma[] = [];
  readonly mmap_lock = new RwSemaphore("mmap_lock");
  readonly page_table_lock = new SpinLock("page_table_lock");
  /** rss_stat counters, indexed by MM_FILEPAGES … MM_SHMEMPAGES. */
  readonly rss = new Float64Array(NR_MM_COUNTERS);
  /** pgtables_bytes: memory in page tables below the pgd. */
  pgtables_bytes = 0;
  /** Highest address of the top-down mmap area (no ASLR in the model). */
  mmap_base = 0x7f0000000000;
  /** Simulator speed-up, not kernel state: the last PTE table the MMU used. */
  pteCacheKey = -1;
  pteCacheTable: PageTable | null = null;
  dead = false;
  /**
   * The userfaultfd wait of this mm's (single) thread: set by
   * handle_userfault() while the fault path returns VM_FAULT_RETRY, taken
   * by the arch fault handler once mmap_lock is dropped.
   */
  uffdWait: UffdWait | null = null;
  /** Handler calls during the current access (a handler that never resolves ends in Blocked). */
  uffdHandlerCalls = 0;
  /** notifier_subscriptions: MMU notifiers of this mm (null until the first one). */
  notifier_subscriptions: MmuNotifierSubscriptions | null = null;

  constructor(readonly core: MmCore, readonly owner: number) {
    this.pgd = core.allocTable(this, "pgd");
  }

  /** find_vma(): the first VMA ending above `addr`, or null. */
  findVma(addr: number): Vma | null {
    const v = this.vmas;
    let lo = 0, hi = v.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (v[mid].vm_end <= addr) lo = mid + 1;
      else hi = mid;
    }
    return lo < v.length ? v[lo] : null;
  }

  /** vma_lookup(): the VMA containing `addr`, or null. */
  vmaLookup(addr: number): Vma | null {
    const vma = this.findVma(addr);
    return vma && vma.vm_start <= addr ? vma : null;
  }

  get map_count(): number {
    return this.vmas.length;
  }

  /** Forget the cached PTE table (after any table is freed or replaced). */
  flushPteCache(): void {
    this.pteCacheKey = -1;
    this.pteCacheTable = null;
  }
}
