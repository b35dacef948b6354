/**
 * Transparent huge pages mapped by a PMD (mm/huge_memory.c, v6.18): the
 * sysfs policy, the anonymous THP fault and the huge zero folio, the
 * write-protect fault on a huge PMD, zap, split, fork's copy, and the
 * entry reading of /proc/pid/pagemap.
 *
 * Lock order (as mm/rmap.c documents it): mmap_lock → folio lock →
 * i_mmap_rwsem → PMD lock (pmd_lockptr(), the PMD table's split lock) →
 * PTE lock. Every function here that changes a huge PMD does it with the
 * PMD lock held, as the kernel's pmd_lock()/__pmd_trans_huge_lock() do.
 *
 * Simplifications, each said again where it matters:
 *  - Large folios are PMD-mapped only. Where the kernel leaves a PTE-mapped
 *    large folio behind (a partial munmap, mprotect or madvise, a COW fault
 *    after fork) and splits the folio later from the deferred split queue
 *    (deferred_split_folio() → deferred_split_scan() → split_folio()), the
 *    model splits the folio at once, after the PMD: split_huge_page() then
 *    splits every other PMD that maps it and the 512 pages carry on as
 *    small folios. Page frame numbers, PTE bits, rss counters and pagemap
 *    read the same; AnonHugePages in smaps drops earlier than on Linux.
 *  - Shmem THPs come only from collapse_file() (MADV_COLLAPSE, khugepaged):
 *    shmem faults allocate small folios whatever `shmem_enabled` says. A
 *    PMD-sized shmem folio is mapped by a PMD (do_set_pmd()) or not at all:
 *    where the kernel would map some of its pages by PTEs (a fault the PMD
 *    cannot serve: a read or shared write under a PTE table, a VMA
 *    registered for userfaultfd minor faults or uffd-wp, a folio reaching
 *    past i_size; a truncation through it), the model first splits it in the page cache
 *    (shmemSplitHugeFolio(), split_huge_page() of a file folio), so every
 *    PTE-mapped page is a small folio, as for anonymous memory.
 *  - Anonymous mTHP (16 kB to 1 MiB folios, hugepages-<size>kB/enabled) is
 *    allocated and mapped on a write fault as the kernel does
 *    (alloc_anon_folio(), lib/mm/memory.ts), then split into small folios
 *    at once, as for a PTE-mapped PMD THP above: PTEs, rss, fault counts
 *    and pagemap read as on Linux; the folio is not large afterwards.
 *  - Only anonymous huge PMDs carry the uffd-wp bit (UFFDIO_WRITEPROTECT
 *    or PAGEMAP_SCAN of a whole PMD, change_huge_pmd()); shmem huge PMDs
 *    are not mapped in uffd-wp VMAs (doSetPmd()), and the kernel splits
 *    them for uffd-wp anyway (pgtable_split_needed()).
 * @module
 */
import type { MmCore } from "./core.ts";
import {
  MM_ANONPAGES,
  type MmStruct,
  VM_DONTEXPAND,
  VM_HUGEPAGE,
  VM_HUGETLB,
  VM_IO,
  VM_MIXEDMAP,
  VM_NOHUGEPAGE,
  VM_PFNMAP,
  VM_SHARED,
  VM_UFFD_MISSING,
  VM_UFFD_WP,
  VM_WRITE,
  type Vma,
} from "./mm_types.ts";
import {
  halvesPfn,
  levelIndex,
  type PageTable,
  pfnHi,
  pfnLo,
  tableEntryHalves,
} from "../pgtable/pgtable.ts";
import {
  _PAGE_ACCESSED,
  _PAGE_DIRTY,
  _PAGE_PRESENT,
  _PAGE_PSE,
  _PAGE_RW,
  _PAGE_SPECIAL,
} from "../arch/x86/pgtable_types.ts";
import { FOLIO_MAPPING_ANON, PG_anon_exclusive, PG_dirty, PG_reserved } from "./memmap.ts";
import { HPAGE_PMD_NR, HPAGE_PMD_ORDER, PMD_SIZE } from "../kernel/constants.ts";
import { VmBugError } from "../kernel/bug.ts";
import { allocAnonFolio, anonVmaPrepare, folioMoveAnonRmap, mmCounter } from "./rmap.ts";
import { lookupPmdTable, VM_FAULT_FALLBACK, VM_FAULT_OOM } from "./memory.ts";
import type { AddressSpace } from "./mm_types.ts";
import { userfaultfdWp } from "../userfaultfd/userfaultfd.ts";
import { MMU_NOTIFY_CLEAR, withMmuNotifier } from "./mmu_notifier.ts";

// --- the sysfs policy -----------------------------------------------------------

/**
 * The THP knobs under /sys/kernel/mm/transparent_hugepage (mm/huge_memory.c
 * hugepage_init_sysfs(), mm/khugepaged.c khugepaged_attr, mm/shmem.c
 * shmem_enabled): a sysfs setting, not a Kconfig option, so it is its own
 * input of `simulate({ thp })`.
 */
export interface ThpSettings {
  /** `enabled`: which anonymous VMAs get a THP on fault and from khugepaged. */
  enabled: "always" | "madvise" | "never";
  /**
   * `shmem_enabled`: huge pages for shmem/memfd (the mount's huge= for
   * shm_mnt). Simplification: shmem faults allocate small folios whatever
   * it says; it decides which shmem VMAs khugepaged collapses
   * (thp_vma_allowable_order()). "never", the default, is exact.
   */
  shmem_enabled: "always" | "within_size" | "advise" | "never" | "deny" | "force";
  /** `use_zero_page`: a read fault maps the huge zero folio. */
  use_zero_page: boolean;
  /** khugepaged/max_ptes_none: empty PTEs a collapse may fill (0-511). */
  max_ptes_none: number;
  /** khugepaged/max_ptes_swap: swapped-out PTEs a collapse may swap in. */
  max_ptes_swap: number;
  /** khugepaged/max_ptes_shared: PTEs of pages shared with another mm. */
  max_ptes_shared: number;
  /** khugepaged/pages_to_scan: pages one khugepaged pass looks at. */
  pages_to_scan: number;
  /**
   * hugepages-<size>kB/enabled for the anonymous folio sizes of x86-64
   * (orders 2 to 9, {@link ANON_MTHP_SIZES_KB}): "inherit" follows
   * `enabled`. The default is the kernel's: every size below the PMD's
   * "never", the PMD size "inherit".
   */
  hugepages: Readonly<Record<number, MthpSetting>>;
}

/** What hugepages-<size>kB/enabled can say. */
export type MthpSetting = "always" | "inherit" | "madvise" | "never";

/**
 * The anonymous large folio sizes, in kB, with a hugepages-<size>kB
 * directory on x86-64: THP_ORDERS_ALL_ANON, orders 2 (16 kB) to PMD_ORDER.
 */
export const ANON_MTHP_SIZES_KB = [16, 32, 64, 128, 256, 512, 1024, 2048] as const;

/**
 * The defaults of a distribution kernel built with
 * CONFIG_TRANSPARENT_HUGEPAGE_MADVISE (as this workplace's 6.18 host is,
 * whose `enabled` reads "always [madvise] never"); the khugepaged
 * defaults of khugepaged_init(): max_ptes_none = HPAGE_PMD_NR - 1,
 * max_ptes_swap = HPAGE_PMD_NR / 8, max_ptes_shared = HPAGE_PMD_NR / 2,
 * pages_to_scan = HPAGE_PMD_NR * 8.
 */
export const DEFAULT_THP_SETTINGS: Readonly<ThpSettings> = Object.freeze({
  enabled: "madvise",
  shmem_enabled: "never",
  use_zero_page: true,
  max_ptes_none: HPAGE_PMD_NR - 1,
  max_ptes_swap: HPAGE_PMD_NR / 8,
  max_ptes_shared: HPAGE_PMD_NR / 2,
  pages_to_scan: HPAGE_PMD_NR * 8,
  hugepages: Object.freeze(
    Object.fromEntries(ANON_MTHP_SIZES_KB.map((kb) => [kb, kb === 2048 ? "inherit" : "never"])),
  ) as Readonly<Record<number, MthpSetting>>,
});

const THP_CHOICES: Record<string, readonly string[]> = {
  enabled: ["always", "madvise", "never"],
  shmem_enabled: ["always", "within_size", "advise", "never", "deny", "force"],
};

/** Merges overrides into the defaults, checking each value as the sysfs store would. */
export function makeThpSettings(o: Partial<ThpSettings> = {}): Readonly<ThpSettings> {
  if (o === null || typeof o !== "object") {
    throw new TypeError(`thp settings must be an object, got ${String(o)}`);
  }
  for (const [key, value] of Object.entries(o)) {
    if (!(key in DEFAULT_THP_SETTINGS)) throw new RangeError(`unknown THP setting "${key}"`);
    const choices = THP_CHOICES[key];
    if (choices && !choices.includes(value as string)) {
      throw new RangeError(`THP setting ${key} must be one of ${choices.join(", ")}`);
    }
    if (key === "use_zero_page" && typeof value !== "boolean") {
      throw new TypeError(`THP setting use_zero_page must be true or false`);
    }
    if (key === "hugepages") {
      if (value === null || typeof value !== "object") {
        throw new TypeError(`THP setting hugepages must map sizes in kB to settings`);
      }
      for (const [kb, v] of Object.entries(value as Record<string, unknown>)) {
        if (!(ANON_MTHP_SIZES_KB as readonly number[]).includes(Number(kb))) {
          throw new RangeError(
            `THP setting hugepages: no hugepages-${kb}kB on x86-64 (sizes: ` +
              `${ANON_MTHP_SIZES_KB.join(", ")} kB)`,
          );
        }
        if (!MTHP_CHOICES.includes(v as MthpSetting)) {
          throw new RangeError(
            `THP setting hugepages-${kb}kB must be one of ${MTHP_CHOICES.join(", ")}`,
          );
        }
      }
    }
    if (key.startsWith("max_ptes_") || key === "pages_to_scan") {
      const max = key === "pages_to_scan" ? 2 ** 31 - 1 : HPAGE_PMD_NR - 1;
      if (!Number.isInteger(value) || (value as number) < 0 || (value as number) > max) {
        throw new RangeError(`THP setting ${key} must be an integer in 0..${max}`);
      }
    }
  }
  const hugepages = Object.freeze({ ...DEFAULT_THP_SETTINGS.hugepages, ...o.hugepages });
  return Object.freeze({ ...DEFAULT_THP_SETTINGS, ...o, hugepages });
}

const MTHP_CHOICES: readonly MthpSetting[] = ["always", "inherit", "madvise", "never"];

/**
 * The anonymous orders below PMD_ORDER that some VMA may get on a fault
 * under these settings (not "never", and "inherit" only when `enabled` is
 * not "never"), largest first: what alloc_anon_folio() may try at all.
 */
export function anonMthpOrders(thp: Readonly<ThpSettings>): number[] {
  const out: number[] = [];
  for (let order = HPAGE_PMD_ORDER - 1; order >= 2; order--) {
    const s = thp.hugepages[4 << order] ?? "never";
    if (s !== "never" && (s !== "inherit" || thp.enabled !== "never")) out.push(order);
  }
  return out;
}

/**
 * Whether the sysfs policy lets an anonymous VMA have folios of `order` on
 * a fault or from khugepaged (the huge_anon_orders_always, _madvise and
 * _inherit masks of __thp_vma_allowable_orders()).
 */
export function anonOrderEnabled(vma: Vma, order: number): boolean {
  const { enabled, hugepages } = vma.vm_mm.core.thp;
  const advised = (vma.vm_flags & VM_HUGEPAGE) !== 0;
  switch (hugepages[4 << order] ?? "never") {
    case "always":
      return true;
    case "madvise":
      return advised;
    case "inherit":
      return enabled === "always" || (enabled === "madvise" && advised);
    default:
      return false;
  }
}

/** What asks whether a VMA may have a THP (enum tva_type, v6.18). */
export type TvaType = "TVA_PAGEFAULT" | "TVA_KHUGEPAGED" | "TVA_FORCED_COLLAPSE" | "TVA_SMAPS";

/** VM_NO_KHUGEPAGED: VM_SPECIAL | VM_HUGETLB (VM_SPECIAL = IO|DONTEXPAND|PFNMAP|MIXEDMAP). */
export const VM_NO_KHUGEPAGED = VM_IO | VM_DONTEXPAND | VM_PFNMAP | VM_MIXEDMAP | VM_HUGETLB;

/**
 * vma_thp_disabled(): MADV_NOHUGEPAGE wins over everything (the model has
 * no prctl(PR_SET_THP_DISABLE)).
 */
export function vmaThpDisabled(vma: Vma): boolean {
  return (vma.vm_flags & VM_NOHUGEPAGE) !== 0;
}

/**
 * thp_vma_suitable_order(): the naturally aligned block of 2^order pages
 * around `addr` (2 MiB for the PMD order) lies inside the VMA, and, for a
 * file VMA, the VMA's start and its file offset agree modulo the block
 * (so that a large folio of the file can be mapped there).
 */
export function thpVmaSuitableOrder(vma: Vma, addr: number, order = HPAGE_PMD_ORDER): boolean {
  const nr = 2 ** order, size = 4096 * nr;
  const haddr = addr - (addr % size);
  // "Don't have to check pgoff for anonymous vma."
  if (!vma.isAnonymous && (vma.vm_start / 4096 - vma.vm_pgoff) % nr !== 0) return false;
  return haddr >= vma.vm_start && haddr + size <= vma.vm_end;
}

/**
 * thp_vma_allowable_order(vma, vm_flags, type, PMD_ORDER) →
 * __thp_vma_allowable_orders(): may this VMA hold a PMD-sized THP at all?
 * For anonymous VMAs the sysfs `enabled` policy decides (MADV_COLLAPSE
 * ignores it); shmem VMAs ask shmem_allowable_huge_orders().
 */
export function thpVmaAllowableOrder(vma: Vma, type: TvaType): boolean {
  const core = vma.vm_mm.core;
  if (!core.config.TRANSPARENT_HUGEPAGE) return false;
  if (vmaThpDisabled(vma)) return false;
  if (vma.vm_flags & VM_NO_KHUGEPAGED) return false;
  const forced = type === "TVA_FORCED_COLLAPSE";
  if (vma.isAnonymous) return forced || anonOrderEnabled(vma, HPAGE_PMD_ORDER);
  return shmemAllowableHugeOrders(vma, forced);
}

/**
 * shmem_allowable_huge_orders() → shmem_huge_global_enabled() for the PMD
 * order: `deny` and `never` refuse (but MADV_COLLAPSE, except under
 * `deny`), `force` and `always` allow, `within_size` allows while the
 * 2 MiB block lies inside i_size, `advise` wants MADV_HUGEPAGE.
 */
export function shmemAllowableHugeOrders(vma: Vma, forced: boolean): boolean {
  const setting = vma.vm_mm.core.thp.shmem_enabled;
  switch (setting) {
    case "deny":
      return false;
    case "force":
    case "always":
      return true;
    case "within_size":
      return forced || vma.vm_file!.inode.size >= PMD_SIZE;
    case "advise":
      return forced || (vma.vm_flags & VM_HUGEPAGE) !== 0;
    case "never":
      return forced;
  }
}

// --- huge PMD entries in the model's two halves -----------------------------------

/** pmd_trans_huge() of slot `i` of a PMD table. */
export function pmdTransHugeAt(pmd: PageTable, i: number): boolean {
  return (pmd.e[2 * i] & _PAGE_PSE) !== 0;
}

/** pmd_pfn() of slot `i`. */
export function pmdPfnAt(pmd: PageTable, i: number): number {
  return halvesPfn(pmd.e[2 * i], pmd.e[2 * i + 1]);
}

/** The PMD table and index covering `addr`, or null when the PUD level is missing. */
export function pmdOffset(mm: MmStruct, addr: number): { pmd: PageTable; i: number } | null {
  const pmd = lookupPmdTable(mm, addr);
  return pmd ? { pmd, i: levelIndex(addr, "pmd") } : null;
}

/** The huge PMD mapping `addr`, if there is one: table, index, entry halves. */
export function hugePmdAt(
  mm: MmStruct,
  addr: number,
): { pmd: PageTable; i: number; lo: number; hi: number } | null {
  const at = pmdOffset(mm, addr);
  if (!at || !pmdTransHugeAt(at.pmd, at.i)) return null;
  return { ...at, lo: at.pmd.e[2 * at.i], hi: at.pmd.e[2 * at.i + 1] };
}

// --- the huge zero folio -----------------------------------------------------------

/**
 * mm_get_huge_zero_folio() → get_huge_zero_folio(): the shared 2 MiB folio
 * of zeroes a read fault maps when `use_zero_page` is set. The model
 * allocates it on first use and never frees it (the kernel frees it from a
 * shrinker once no mm uses it); its pages are PG_reserved, like the small
 * zero page. Returns the head pfn, or -1 when memory is exhausted.
 */
export function mmGetHugeZeroFolio(core: MmCore): number {
  if (core.hugeZeroPfn >= 0) return core.hugeZeroPfn;
  const head = core.memmap.allocFolio(HPAGE_PMD_ORDER);
  if (head < 0) return -1;
  for (let i = 0; i < HPAGE_PMD_NR; i++) core.memmap.flags[head + i] |= PG_reserved;
  core.hugeZeroPfn = head;
  core.vmstat.thp_zero_page_alloc++;
  return head;
}

/** is_huge_zero_pmd(). */
export function isHugeZeroPmd(core: MmCore, lo: number, hi: number): boolean {
  return core.hugeZeroPfn >= 0 && halvesPfn(lo, hi) === core.hugeZeroPfn;
}

// --- deposited page tables ---------------------------------------------------------

/**
 * pgtable_trans_huge_deposit(): an anonymous huge PMD keeps a PTE table in
 * reserve (on the PMD table's ptdesc, pmd_huge_pte()) so that a split never
 * needs to allocate. The table counts in pgtables_bytes (mm_inc_nr_ptes()).
 * Called with the PMD lock held.
 */
export function pgtableTransHugeDeposit(pmd: PageTable, i: number, pgtable: PageTable): void {
  assertPmdLocked(pmd);
  pmd.deposited.set(i, pgtable);
}

/** pgtable_trans_huge_withdraw(). Called with the PMD lock held. */
export function pgtableTransHugeWithdraw(pmd: PageTable, i: number): PageTable {
  assertPmdLocked(pmd);
  const pgtable = pmd.deposited.get(i);
  if (!pgtable) {
    throw new VmBugError("pgtable", "huge PMD without a deposited page table", { pfn: pmd.pfn, i });
  }
  pmd.deposited.delete(i);
  return pgtable;
}

/** zap_deposited_table(): withdraw and free (pte_free() + mm_dec_nr_ptes()). */
function zapDepositedTable(mm: MmStruct, pmd: PageTable, i: number): void {
  mm.core.freeTable(mm, pgtableTransHugeWithdraw(pmd, i));
}

function assertPmdLocked(pmd: PageTable): void {
  if (!pmd.ptl!.locked) {
    throw new VmBugError("lock not held", "huge PMD changed without the PMD lock", {
      pfn: pmd.pfn,
    });
  }
}

// --- the fault path ------------------------------------------------------------------

/**
 * The entry of a new anonymous huge PMD (map_anon_folio_pmd_nopf()'s
 * mk_huge_pmd() + pmd_mkdirty() + maybe_pmd_mkwrite()): present, PSE, the
 * VMA's protection, dirty and soft-dirty, writable in a writable VMA.
 */
function mkAnonHugePmd(core: MmCore, vma: Vma, head: number): [number, number] {
  let lo = (pfnLo(head) | vma.protLo | _PAGE_PSE | _PAGE_DIRTY | core.softDirtyLo) >>> 0;
  if (vma.vm_flags & VM_WRITE) lo = (lo | _PAGE_RW) >>> 0;
  return [lo, pfnHi(head) | vma.protHi];
}

/**
 * vma_alloc_anon_folio_pmd(): a zeroed PMD-sized anonymous folio, or -1
 * (the caller falls back to small pages: thp_fault_fallback).
 */
function vmaAllocAnonFolioPmd(core: MmCore): number {
  const head = allocAnonFolio(core, HPAGE_PMD_ORDER);
  if (head < 0) {
    core.vmstat.thp_fault_fallback++;
    core.countMthpStat(HPAGE_PMD_ORDER, "anon_fault_fallback");
  }
  return head;
}

/**
 * map_anon_folio_pmd_nopf(): folio_add_new_anon_rmap(RMAP_EXCLUSIVE) (for a
 * PMD-mappable folio: _entire_mapcount 1, PageAnonExclusive on the head
 * only), deposit the PTE table (if given), set the PMD. Called with the PMD
 * lock held; the new folio's reference becomes the mapping's. MM_ANONPAGES
 * is the caller's: collapse_huge_page() counted the small pages already,
 * the fault path adds HPAGE_PMD_NR (map_anon_folio_pmd_pf()).
 */
export function mapAnonFolioPmdNopf(
  vma: Vma,
  haddr: number,
  pmd: PageTable,
  i: number,
  head: number,
  pgtable: PageTable | null,
): void {
  const core = vma.vm_mm.core;
  const m = core.memmap;
  m.flags[head] = (m.flags[head] | FOLIO_MAPPING_ANON | PG_anon_exclusive) >>> 0;
  m.mapping[head] = vma.anon_vma!.id;
  m.index[head] = vma.linearPageIndex(haddr);
  m.entireMapcount[head] = 1;
  core.vmstat.nr_anon_pages += HPAGE_PMD_NR;
  core.vmstat.nr_anon_transparent_hugepages++;
  if (pgtable) pgtableTransHugeDeposit(pmd, i, pgtable);
  const [lo, hi] = mkAnonHugePmd(core, vma, head);
  pmd.setHalves(i, lo, hi);
}

/** map_anon_folio_pmd_pf() without its event counts: map, then count in MM_ANONPAGES. */
function mapAnonFolioPmd(
  vma: Vma,
  haddr: number,
  pmd: PageTable,
  i: number,
  head: number,
  pgtable: PageTable | null,
): void {
  mapAnonFolioPmdNopf(vma, haddr, pmd, i, head, pgtable);
  vma.vm_mm.rss[MM_ANONPAGES] += HPAGE_PMD_NR;
}

/**
 * do_huge_pmd_anonymous_page(): a fault on an empty PMD of an anonymous
 * VMA that may hold a THP. A read maps the huge zero folio (when
 * `use_zero_page`), a write a new zeroed THP. Returns a vm_fault_t, or
 * VM_FAULT_FALLBACK for the caller to fault one small page instead.
 *
 * Simplification: in a VMA registered for userfaultfd MISSING faults the
 * kernel hands the fault to userfaultfd from here, under the PMD lock; the
 * model falls back to the PTE path, which does the same for the same
 * address (UFFDIO_COPY then fills small pages, as on Linux).
 */
export function doHugePmdAnonymousPage(
  vma: Vma,
  address: number,
  write: boolean,
  pmd: PageTable,
  i: number,
): number {
  const mm = vma.vm_mm;
  const core = mm.core;
  const haddr = address - (address % PMD_SIZE);
  if (!thpVmaSuitableOrder(vma, haddr)) return VM_FAULT_FALLBACK;
  if (vma.vm_flags & VM_UFFD_MISSING) return VM_FAULT_FALLBACK;
  if (!anonVmaPrepare(core, vma)) return VM_FAULT_OOM;
  if (!write && core.thp.use_zero_page) {
    // pte_alloc_one() before the lock: the deposit for a later split.
    const pgtable = core.tryAllocTable(mm, "pte");
    if (!pgtable) return VM_FAULT_OOM;
    const zero = mmGetHugeZeroFolio(core);
    if (zero < 0) {
      core.freeTable(mm, pgtable);
      return VM_FAULT_FALLBACK;
    }
    pmd.ptl!.lock("do_huge_pmd_anonymous_page");
    if (!pmd.isNone(i)) {
      pmd.ptl!.unlock();
      core.freeTable(mm, pgtable);
      return 0;
    }
    setHugeZeroFolio(vma, pmd, i, zero, pgtable);
    pmd.ptl!.unlock();
    return 0;
  }
  // __do_huge_pmd_anonymous_page()
  const head = vmaAllocAnonFolioPmd(core);
  if (head < 0) return VM_FAULT_FALLBACK;
  const pgtable = core.tryAllocTable(mm, "pte");
  if (!pgtable) {
    core.memmap.put(head);
    return VM_FAULT_OOM;
  }
  pmd.ptl!.lock("__do_huge_pmd_anonymous_page");
  if (!pmd.isNone(i)) {
    pmd.ptl!.unlock();
    core.freeTable(mm, pgtable);
    core.memmap.put(head);
    return 0;
  }
  mapAnonFolioPmd(vma, haddr, pmd, i, head, pgtable);
  pmd.ptl!.unlock();
  core.vmstat.thp_fault_alloc++;
  core.countMthpStat(HPAGE_PMD_ORDER, "anon_fault_alloc");
  return 0;
}

/**
 * set_huge_zero_folio(): map the huge zero folio read-only. Since v6.17
 * the entry is pmd_special(), like the small zero page's PTE. Called with
 * the PMD lock held.
 */
function setHugeZeroFolio(vma: Vma, pmd: PageTable, i: number, zero: number, pgtable: PageTable) {
  pgtableTransHugeDeposit(pmd, i, pgtable);
  const lo = (pfnLo(zero) | vma.protLo | _PAGE_PSE | _PAGE_SPECIAL) & ~_PAGE_RW;
  pmd.setHalves(i, lo >>> 0, pfnHi(zero) | vma.protHi);
}

/**
 * huge_pmd_set_accessed() → touch_pmd(): a fault the huge PMD already
 * allows (the CPU found it old): make it young, and dirty for a write.
 */
export function hugePmdSetAccessed(vma: Vma, pmd: PageTable, i: number, write: boolean): void {
  pmd.ptl!.lock("huge_pmd_set_accessed");
  let lo = pmd.e[2 * i] | _PAGE_ACCESSED;
  if (write) lo |= _PAGE_DIRTY | vma.vm_mm.core.softDirtyLo;
  pmd.e[2 * i] = lo >>> 0;
  pmd.ptl!.unlock();
}

/**
 * do_huge_pmd_wp_page(): a write (or unshare) fault on a read-only huge
 * PMD of an anonymous VMA. The huge zero folio is replaced by a new THP
 * (do_huge_zero_wp_pmd(), v6.13+); an exclusive folio, or one whose only
 * reference is this mapping, is reused in place; anything else is split
 * and the fault falls back to the PTE level (VM_FAULT_FALLBACK), where
 * do_wp_page() copies one small page.
 */
export function doHugePmdWpPage(
  vma: Vma,
  address: number,
  unshare: boolean,
  pmd: PageTable,
  i: number,
): number {
  const mm = vma.vm_mm;
  const core = mm.core;
  const m = core.memmap;
  const haddr = address - (address % PMD_SIZE);
  const origLo = pmd.e[2 * i], origHi = pmd.e[2 * i + 1];
  if (!vma.isAnonymous) {
    splitHugePmd(vma, haddr);
    return VM_FAULT_FALLBACK;
  }
  if (isHugeZeroPmd(core, origLo, origHi)) {
    if (!unshare && doHugeZeroWpPmd(vma, haddr, pmd, i, origLo, origHi) === 0) return 0;
    splitHugePmd(vma, haddr);
    return VM_FAULT_FALLBACK;
  }
  pmd.ptl!.lock("do_huge_pmd_wp_page");
  if (pmd.e[2 * i] !== origLo || pmd.e[2 * i + 1] !== origHi) {
    pmd.ptl!.unlock();
    return 0;
  }
  const head = halvesPfn(origLo, origHi);
  // The folio lock is a trylock in the kernel; nothing else holds it here.
  let reuse = (m.flags[head] & PG_anon_exclusive) !== 0;
  if (!reuse && m.refcount[head] === 1) {
    folioMoveAnonRmap(core, head, vma);
    m.flags[head] |= PG_anon_exclusive;
    reuse = true;
  }
  if (!reuse) {
    pmd.ptl!.unlock();
    splitHugePmd(vma, haddr);
    return VM_FAULT_FALLBACK;
  }
  if (!unshare) {
    let lo = origLo | _PAGE_ACCESSED | _PAGE_DIRTY | core.softDirtyLo;
    if (vma.vm_flags & VM_WRITE) lo |= _PAGE_RW;
    pmd.e[2 * i] = lo >>> 0;
  }
  pmd.ptl!.unlock();
  return 0;
}

/**
 * do_huge_zero_wp_pmd(): a write to the huge zero folio gets a new zeroed
 * THP in its place, reusing the deposited table. 0, or VM_FAULT_FALLBACK.
 */
function doHugeZeroWpPmd(
  vma: Vma,
  haddr: number,
  pmd: PageTable,
  i: number,
  origLo: number,
  origHi: number,
): number {
  const core = vma.vm_mm.core;
  const head = vmaAllocAnonFolioPmd(core);
  if (head < 0) return VM_FAULT_FALLBACK;
  return withMmuNotifier(MMU_NOTIFY_CLEAR, vma.vm_mm, haddr, haddr + PMD_SIZE, () => {
    pmd.ptl!.lock("do_huge_zero_wp_pmd");
    if (pmd.e[2 * i] !== origLo || pmd.e[2 * i + 1] !== origHi) {
      pmd.ptl!.unlock();
      core.memmap.put(head);
      return 0;
    }
    pmd.setHalves(i, 0, 0); // pmdp_huge_clear_flush()
    mapAnonFolioPmd(vma, haddr, pmd, i, head, null);
    pmd.ptl!.unlock();
    core.vmstat.thp_fault_alloc++;
    return 0;
  });
}

// --- rmap of a PMD-mapped folio ----------------------------------------------------

/**
 * folio_remove_rmap_pmd(): one PMD less maps the folio (_entire_mapcount
 * and, with it, NR_ANON_THPS and the folio's NR_ANON_MAPPED pages).
 */
export function folioRemoveRmapPmd(core: MmCore, head: number): void {
  const m = core.memmap;
  const n = --m.entireMapcount[head];
  if (n < 0) {
    throw new VmBugError("mapcount underflow", "folio_remove_rmap_pmd() below zero", {
      pfn: head,
    });
  }
  if (n === 0 && (m.flags[head] & FOLIO_MAPPING_ANON)) {
    core.vmstat.nr_anon_pages -= HPAGE_PMD_NR;
    core.vmstat.nr_anon_transparent_hugepages--;
  }
}

/**
 * folio_add_file_rmap_pmd(): one more PMD maps the whole page-cache folio
 * (_entire_mapcount; NR_SHMEM_PMDMAPPED is not kept).
 */
export function folioAddFileRmapPmd(core: MmCore, head: number): void {
  core.memmap.entireMapcount[head]++;
}

/**
 * do_set_pmd() (mm/memory.c, v6.18), reached from finish_fault() or
 * filemap_map_pmd() when the PMD is none: map the PMD-sized page-cache
 * folio at `head` with one huge PMD. Falls back (VM_FAULT_FALLBACK) unless
 * THP is allowed in the VMA (vma_thp_disabled()), the 2 MiB block is
 * suitably aligned inside it (thp_vma_suitable_order()) and the folio is
 * PMD-sized. A write fault maps it dirty and, in a writable VMA, writable;
 * the mapping takes a folio reference and adds HPAGE_PMD_NR to
 * MM_SHMEMPAGES. No PTE table is deposited (x86 has no
 * arch_needs_pgtable_deposit()). Takes the PMD lock.
 *
 * Simplification: the model also falls back in a VMA registered for
 * userfaultfd minor faults or write-protection, where the minor fault must
 * reach userfaultfd first (the model decides on the PMD before
 * shmem_get_folio() would hand it over) and a huge PMD would have to carry
 * uffd-wp (see the module note), and when the folio reaches past i_size.
 */
export function doSetPmd(
  vma: Vma,
  address: number,
  pmd: PageTable,
  i: number,
  head: number,
  write: boolean,
): number {
  const mm = vma.vm_mm;
  const core = mm.core;
  const m = core.memmap;
  const haddr = address - (address % PMD_SIZE);
  if (!core.config.TRANSPARENT_HUGEPAGE || vmaThpDisabled(vma)) return VM_FAULT_FALLBACK;
  if (!thpVmaSuitableOrder(vma, haddr)) return VM_FAULT_FALLBACK;
  if (m.order[head] !== HPAGE_PMD_ORDER) return VM_FAULT_FALLBACK;
  // Simplification: a VMA registered for uffd-wp keeps PTE granularity.
  // (A minor-registered VMA is handled in the fault path: its faults go to
  // userspace first; collapse_pte_mapped_thp() may map a PMD there.)
  if (userfaultfdWp(vma)) return VM_FAULT_FALLBACK;
  const inode = vma.vm_file!.inode;
  if ((m.index[head] + HPAGE_PMD_NR) * 4096 > inode.size) return VM_FAULT_FALLBACK;
  pmd.ptl!.lock("do_set_pmd");
  if (!pmd.isNone(i)) {
    pmd.ptl!.unlock();
    return VM_FAULT_FALLBACK;
  }
  let lo = (pfnLo(head) | vma.protLo | _PAGE_PSE) >>> 0;
  if (write) {
    lo |= _PAGE_DIRTY | core.softDirtyLo; // pmd_mkdirty()
    if (vma.vm_flags & VM_WRITE) lo |= _PAGE_RW; // maybe_pmd_mkwrite()
  }
  m.refcount[head]++; // the fault's folio reference becomes the mapping's
  mm.rss[mmCounter(core, head)] += HPAGE_PMD_NR;
  folioAddFileRmapPmd(core, head);
  pmd.setHalves(i, lo >>> 0, pfnHi(head) | vma.protHi);
  pmd.ptl!.unlock();
  return 0;
}

/**
 * split_huge_page() of a PMD-sized shmem folio (the model's stand-in for
 * the PTE mappings of a large folio, see the module note): every huge PMD
 * that maps it is cleared (__split_huge_pmd() of a file PMD; the next
 * fault maps small pages), then its 512 pages become small folios, each
 * holding the page cache's reference it held for the folio
 * (filemap_add_folio() takes folio_nr_pages() references).
 */
export function shmemSplitHugeFolio(core: MmCore, head: number): void {
  const m = core.memmap;
  if (m.order[head] !== HPAGE_PMD_ORDER) return;
  const mapping = core.mappings[m.mapping[head]] as AddressSpace | null;
  if (mapping && "i_mmap" in mapping) {
    for (const vma of [...mapping.i_mmap]) {
      const addr = vma.vm_start + (m.index[head] - vma.vm_pgoff) * 4096;
      if (addr < vma.vm_start || addr >= vma.vm_end) continue;
      const at = hugePmdAt(vma.vm_mm, addr);
      if (at && halvesPfn(at.lo, at.hi) === head) splitHugePmd(vma, addr);
    }
  }
  if (m.entireMapcount[head] !== 0) {
    throw new VmBugError("mapcount", "split_huge_page() left a PMD mapping", { pfn: head });
  }
  const extra = m.refcount[head] - HPAGE_PMD_NR;
  const dirty = m.flags[head] & PG_dirty;
  m.splitFolioPages(head);
  for (let k = 0; k < HPAGE_PMD_NR; k++) {
    m.refcount[head + k] = 1;
    m.flags[head + k] |= dirty;
  }
  m.refcount[head] += extra;
}

// --- zap ------------------------------------------------------------------------------

/**
 * zap_huge_pmd(): clear a huge PMD that [addr, addr + 2 MiB) covers
 * entirely: drop the rss counter and the mapping's reference, free the
 * deposited table. Takes the PMD lock.
 */
export function zapHugePmd(vma: Vma, pmd: PageTable, i: number): void {
  const mm = vma.vm_mm;
  const core = mm.core;
  pmd.ptl!.lock("zap_huge_pmd");
  const lo = pmd.e[2 * i], hi = pmd.e[2 * i + 1];
  pmd.setHalves(i, 0, 0); // pmdp_huge_get_and_clear_full()
  if (isHugeZeroPmd(core, lo, hi)) {
    zapDepositedTable(mm, pmd, i);
    pmd.ptl!.unlock();
    return;
  }
  const head = halvesPfn(lo, hi);
  folioRemoveRmapPmd(core, head);
  if (core.memmap.flags[head] & FOLIO_MAPPING_ANON) {
    zapDepositedTable(mm, pmd, i);
  } else if (lo & _PAGE_DIRTY) {
    core.memmap.flags[head] |= PG_dirty;
  }
  mm.rss[mmCounter(core, head)] -= HPAGE_PMD_NR;
  pmd.ptl!.unlock();
  core.memmap.put(head); // tlb_remove_page_size()
}

// --- split ----------------------------------------------------------------------------

/**
 * __split_huge_pmd(): replace the huge PMD covering `address` (if any) by
 * a PTE table mapping the same 512 pages with the same bits; then, in the
 * model, split the folio itself (see the module note). Takes the PMD lock.
 */
export function splitHugePmd(vma: Vma, address: number): void {
  const at = pmdOffset(vma.vm_mm, address);
  if (!at || !pmdTransHugeAt(at.pmd, at.i)) return;
  const haddr = address - (address % PMD_SIZE);
  const head = withMmuNotifier(MMU_NOTIFY_CLEAR, vma.vm_mm, haddr, haddr + PMD_SIZE, () => {
    at.pmd.ptl!.lock("__split_huge_pmd");
    const head = splitHugePmdLocked(vma, at.pmd, at.i);
    at.pmd.ptl!.unlock();
    return head;
  });
  if (head >= 0) splitHugePage(vma.vm_mm.core, head);
}

/**
 * __split_huge_pmd_locked(). Called with the PMD lock held. A file THP's
 * PMD is simply cleared (faults map its pages back by PTEs); the huge zero
 * folio becomes 512 special PTEs of the small zero page; an anonymous THP
 * becomes 512 PTEs with the huge PMD's write, young, dirty, soft-dirty and
 * uffd-wp bits, each page PageAnonExclusive if the folio was. Returns the
 * anonymous folio's head, which is now PTE-mapped, or -1.
 */
function splitHugePmdLocked(vma: Vma, pmd: PageTable, i: number): number {
  const mm = vma.vm_mm;
  const core = mm.core;
  const m = core.memmap;
  const lo = pmd.e[2 * i], hi = pmd.e[2 * i + 1];
  core.vmstat.thp_split_pmd++;
  if (!vma.isAnonymous && !isHugeZeroPmd(core, lo, hi)) {
    pmd.setHalves(i, 0, 0); // pmdp_huge_clear_flush()
    const head = halvesPfn(lo, hi);
    if (lo & _PAGE_DIRTY) m.flags[head] |= PG_dirty;
    folioRemoveRmapPmd(core, head);
    mm.rss[mmCounter(core, head)] -= HPAGE_PMD_NR;
    m.put(head);
    return -1;
  }
  const pgtable = pgtableTransHugeWithdraw(pmd, i);
  if (isHugeZeroPmd(core, lo, hi)) {
    // __split_huge_zero_page_pmd()
    // The uffd-wp bit goes to every PTE (pte_mkuffd_wp() if pmd_uffd_wp()).
    const zlo = (pfnLo(core.zeroPfn) | vma.protLo | _PAGE_SPECIAL | (lo & core.uffdWpLo)) &
      ~_PAGE_RW;
    for (let k = 0; k < HPAGE_PMD_NR; k++) pgtable.setHalves(k, zlo >>> 0, pfnHi(core.zeroPfn));
    populatePmd(mm, pmd, i, pgtable);
    return -1;
  }
  const head = halvesPfn(lo, hi);
  const exclusive = (m.flags[head] & PG_anon_exclusive) !== 0;
  if (lo & _PAGE_DIRTY) m.flags[head] |= PG_dirty;
  // folio_ref_add(HPAGE_PMD_NR - 1) + folio_add_anon_rmap_ptes(): each page
  // gains a PTE mapping; PageAnonExclusive moves from the head to every page.
  m.refcount[head] += HPAGE_PMD_NR - 1;
  let keep = _PAGE_RW | _PAGE_ACCESSED | _PAGE_DIRTY | core.softDirtyLo | core.uffdWpLo;
  if (!(vma.vm_flags & VM_WRITE)) keep &= ~_PAGE_RW;
  // pte_mkdirty() sets soft-dirty too.
  const bits = (lo & keep) | (lo & _PAGE_DIRTY ? core.softDirtyLo : 0);
  for (let k = 0; k < HPAGE_PMD_NR; k++) {
    const pfn = head + k;
    m.mapcount[pfn]++;
    if (exclusive) m.flags[pfn] |= PG_anon_exclusive;
    const plo = ((pfnLo(pfn) | (vma.protLo & ~_PAGE_ACCESSED) | bits) & ~_PAGE_PSE) >>> 0;
    pgtable.setHalves(k, plo, pfnHi(pfn) | vma.protHi);
  }
  // folio_remove_rmap_pmd(): the PTEs now account for the NR_ANON_MAPPED pages.
  m.entireMapcount[head]--;
  if (m.entireMapcount[head] === 0) core.vmstat.nr_anon_transparent_hugepages--;
  populatePmd(mm, pmd, i, pgtable);
  return head;
}

/** pmd_populate(): point the PMD slot at a PTE table. Called with the PMD lock held. */
export function populatePmd(mm: MmStruct, pmd: PageTable, i: number, pgtable: PageTable): void {
  pmd.children![i] = pgtable;
  const [tlo, thi] = tableEntryHalves(pgtable);
  pmd.setHalves(i, tlo, thi);
  mm.flushPteCache();
}

/**
 * split_huge_page() of an anonymous folio some PTEs map (the model's
 * stand-in for the deferred split, see the module note): first split every
 * PMD that still maps the folio in any mm (unmap_folio() + remap_page()
 * leave the same PTEs), then make the 512 pages small folios, each holding
 * one reference per PTE that maps it.
 */
export function splitHugePage(core: MmCore, head: number): void {
  const m = core.memmap;
  if (!m.order[head]) return;
  const anonVmaId = m.mapping[head];
  for (const mm of core.mms) {
    for (const vma of mm.vmas) {
      if (!vma.anonVmaChain.some((av) => av.id === anonVmaId)) continue;
      const addr = vma.vm_start + (m.index[head] - vma.vm_pgoff) * 4096;
      if (addr < vma.vm_start || addr >= vma.vm_end) continue;
      const at = hugePmdAt(mm, addr);
      if (!at || halvesPfn(at.lo, at.hi) !== head) continue;
      at.pmd.ptl!.lock("split_huge_page");
      splitHugePmdLocked(vma, at.pmd, at.i);
      at.pmd.ptl!.unlock();
    }
  }
  if (m.entireMapcount[head] !== 0) {
    throw new VmBugError("mapcount", "split_huge_page() left a PMD mapping", { pfn: head });
  }
  // Each PTE mapping held one folio reference; give them to their pages.
  const extra = m.refcount[head] - sumMapcount(core, head);
  m.splitFolioPages(head);
  for (let k = 0; k < HPAGE_PMD_NR; k++) m.refcount[head + k] = m.mapcount[head + k];
  m.refcount[head] += extra;
  for (let k = 0; k < HPAGE_PMD_NR; k++) {
    if (m.refcount[head + k] === 0) m.freePage(head + k);
  }
}

function sumMapcount(core: MmCore, head: number): number {
  let n = 0;
  for (let k = 0; k < HPAGE_PMD_NR; k++) n += core.memmap.mapcount[head + k];
  return n;
}

/**
 * What the model does where the kernel reaches one page of a huge PMD
 * (follow_huge_pmd(), memory_failure()'s try_to_split_thp_page()): an
 * anonymous THP's PMD is split, with the folio (splitHugePmd()); a shmem
 * THP is split in the page cache (shmemSplitHugeFolio()), so that the
 * next fault maps a small page rather than the PMD again.
 */
export function splitHugePmdToPtes(vma: Vma, address: number): void {
  const at = hugePmdAt(vma.vm_mm, address);
  if (!at) return;
  const core = vma.vm_mm.core;
  const head = halvesPfn(at.lo, at.hi);
  if (!vma.isAnonymous && !isHugeZeroPmd(core, at.lo, at.hi)) shmemSplitHugeFolio(core, head);
  else splitHugePmd(vma, address);
}

/**
 * split_huge_pmd_if_needed() from vma_adjust_trans_huge(): a VMA boundary
 * about to be placed at `address` must not cut through a huge PMD.
 */
export function splitHugePmdIfNeeded(vma: Vma, address: number): void {
  if (address % PMD_SIZE === 0) return;
  splitHugePmd(vma, address);
}

/** Splits every huge PMD that [start, end) of `vma` touches (walk_pmd_range()'s split). */
export function splitHugePmdRange(vma: Vma, start: number, end: number): void {
  for (let a = start - (start % PMD_SIZE); a < end; a += PMD_SIZE) {
    if (hugePmdAt(vma.vm_mm, a)) splitHugePmd(vma, a);
  }
}

// --- fork -------------------------------------------------------------------------------

/**
 * copy_huge_pmd(): fork shares an anonymous THP with the child. Both PMDs
 * become read-only (the next write faults into do_huge_pmd_wp_page()), the
 * child's is old and keeps uffd-wp only in a uffd-wp VMA; the folio gains a
 * reference and an entire mapcount and loses PageAnonExclusive; the child
 * gets a deposited table. File THPs are not copied (the child faults them).
 * Returns 0 or -ENOMEM. Takes the child's and then the parent's PMD lock.
 */
export function copyHugePmd(
  dst: Vma,
  src: Vma,
  spmd: PageTable,
  dpmd: PageTable,
  i: number,
): number {
  if (!dst.isAnonymous) return 0;
  const dstMm = dst.vm_mm;
  const core = src.vm_mm.core;
  const m = core.memmap;
  const pgtable = core.tryAllocTable(dstMm, "pte");
  if (!pgtable) return -12;
  dpmd.ptl!.lock("copy_huge_pmd dst");
  spmd.ptl!.lock("copy_huge_pmd src");
  let lo = spmd.e[2 * i];
  const hi = spmd.e[2 * i + 1];
  if (!isHugeZeroPmd(core, lo, hi)) {
    const head = halvesPfn(lo, hi);
    m.refcount[head]++; // folio_get()
    // folio_try_dup_anon_rmap_pmd() succeeds: the model's GUP splits a huge
    // PMD before it pins (gup.ts), so no PMD-mapped folio is ever pinned.
    m.flags[head] &= ~PG_anon_exclusive;
    m.entireMapcount[head]++;
    dstMm.rss[MM_ANONPAGES] += HPAGE_PMD_NR;
  }
  pgtableTransHugeDeposit(dpmd, i, pgtable);
  spmd.e[2 * i] = (lo & ~_PAGE_RW) >>> 0; // pmdp_set_wrprotect()
  if (!(dst.vm_flags & VM_UFFD_WP)) lo &= ~core.uffdWpLo;
  lo &= ~(_PAGE_RW | _PAGE_ACCESSED);
  dpmd.setHalves(i, lo >>> 0, hi);
  spmd.ptl!.unlock();
  dpmd.ptl!.unlock();
  return 0;
}

// --- mprotect ---------------------------------------------------------------------------

/** pmd_mkuffd_wp() on the low half of a huge PMD: uffd-wp set, write cleared (as on x86). */
export function pmdMkuffdWpLo(core: MmCore, lo: number): number {
  return ((lo & ~_PAGE_RW) | core.uffdWpLo) >>> 0;
}

/** userfaultfd_huge_pmd_wp(): a huge PMD of a uffd-wp VMA that carries the uffd-wp bit. */
export function userfaultfdHugePmdWp(vma: Vma, lo: number): boolean {
  return userfaultfdWp(vma) && (lo & vma.vm_mm.core.uffdWpLo) !== 0;
}

/** The uffd-wp side of change_protection()'s cp_flags. */
export interface ChangeUffdWp {
  /** MM_CP_UFFD_WP: write-protect and set uffd-wp (pmd_mkuffd_wp()). */
  uffdWp?: boolean;
  /** MM_CP_UFFD_WP_RESOLVE: clear uffd-wp (pmd_clear_uffd_wp()). */
  uffdWpResolve?: boolean;
}

/**
 * change_huge_pmd(): mprotect() or UFFDIO_WRITEPROTECT of a whole huge PMD
 * keeps it huge and applies the new protection (pmd_modify()), with
 * uffd-wp set or cleared as `cp` says; a writable result needs the same
 * conditions as a PTE (can_change_pmd_writable(), which also refuses a
 * PMD that carries uffd-wp). Takes the PMD lock.
 */
export function changeHugePmd(
  vma: Vma,
  pmd: PageTable,
  i: number,
  keepLo: number,
  tryChangeWritable: boolean,
  cp: ChangeUffdWp = {},
): void {
  const core = vma.vm_mm.core;
  pmd.ptl!.lock("change_huge_pmd");
  const lo = pmd.e[2 * i], hi = pmd.e[2 * i + 1];
  let nlo = ((lo & keepLo) | (vma.protLo & ~keepLo) | _PAGE_PSE) >>> 0;
  const nhi = ((hi & 0xfffff) | (vma.protHi & ~0xfffff)) >>> 0;
  if (cp.uffdWp) nlo = pmdMkuffdWpLo(core, nlo);
  else if (cp.uffdWpResolve) nlo = (nlo & ~core.uffdWpLo) >>> 0;
  if (isHugeZeroPmd(core, lo, hi)) nlo &= ~_PAGE_RW;
  else if (
    tryChangeWritable && !(nlo & _PAGE_RW) && !(vma.vm_flags & VM_SHARED) &&
    !userfaultfdHugePmdWp(vma, nlo)
  ) {
    const head = halvesPfn(lo, hi);
    const sdOk = !core.config.MEM_SOFT_DIRTY || (nlo & core.softDirtyLo) !== 0;
    if (sdOk && (core.memmap.flags[head] & PG_anon_exclusive) && (nlo & _PAGE_PRESENT)) {
      nlo |= _PAGE_RW;
    }
  }
  pmd.e[2 * i] = nlo >>> 0;
  pmd.e[2 * i + 1] = nhi;
  pmd.ptl!.unlock();
}
