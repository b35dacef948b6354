/**
 * get_user_pages() and pin_user_pages() (mm/gup.c, v6.18): take references
 * to the pages behind a user address range, faulting them in as needed,
 * so that the kernel or a device can reach them without the page tables.
 *
 * The slow path only (__get_user_pages() → follow_page_pte(), then
 * faultin_page() and retry). GUP-fast is not modelled: it would find the
 * same pages or fall back here.
 *
 * References: FOLL_GET takes one (put_page() drops it); FOLL_PIN adds
 * GUP_PIN_COUNTING_BIAS (1024) to the refcount of a small folio, which is
 * how folio_maybe_dma_pinned() recognises a pinned page (unpin_user_page()
 * drops it). The model keeps a ledger of the references GUP callers hold,
 * so that the refcount invariant of lib/mm/debug.ts still adds up.
 *
 * Simplifications: a PMD-mapped THP is split before its pages are
 * followed (follow_page_pte() below), as FOLL_SPLIT_PMD asks, instead of
 * follow_huge_pmd() taking the page from the PMD; one zone, so FOLL_LONGTERM's migration out of ZONE_MOVABLE/CMA
 * (check_and_migrate_movable_pages()) has nothing to move; no FOLL_FORCE;
 * no fsdax or secretmem VMAs.
 * @module
 */
import type { MmCore } from "./core.ts";
import { type MmStruct, VM_IO, VM_PFNMAP, VM_READ, VM_WRITE, type Vma } from "./mm_types.ts";
import {
  FAULT_FLAG_REMOTE,
  FAULT_FLAG_UNSHARE,
  FAULT_FLAG_WRITE,
  handleMmFault,
  lookupPteTable,
  pteIndex,
  VM_FAULT_ERROR,
  VM_FAULT_HWPOISON,
  VM_FAULT_HWPOISON_LARGE,
  VM_FAULT_OOM,
  VM_FAULT_SIGBUS,
  VM_FAULT_SIGSEGV,
  vmNormalPage,
} from "./memory.ts";
import { _PAGE_PRESENT, _PAGE_RW } from "../arch/x86/pgtable_types.ts";
import { halvesPfn } from "../pgtable/pgtable.ts";
import { folioMarkDirty, folioTestAnon, pageAnonExclusive } from "./rmap.ts";
import { isCowMapping } from "./mm_types.ts";
import { PG_dirty, PG_referenced } from "./memmap.ts";
import { ERRNO } from "../kernel/errno.ts";
import { VmBugError } from "../kernel/bug.ts";
import { hugePmdAt, splitHugePmdToPtes } from "./huge_memory.ts";

// enum gup flags (include/linux/mm_types.h), v6.18
export const FOLL_WRITE = 1 << 0;
export const FOLL_GET = 1 << 1;
export const FOLL_DUMP = 1 << 2;
export const FOLL_FORCE = 1 << 3;
export const FOLL_NOWAIT = 1 << 4;
export const FOLL_NOFAULT = 1 << 5;
export const FOLL_HWPOISON = 1 << 6;
export const FOLL_ANON = 1 << 7;
export const FOLL_LONGTERM = 1 << 8;
export const FOLL_SPLIT_PMD = 1 << 9;
export const FOLL_PCI_P2PDMA = 1 << 10;
export const FOLL_INTERRUPTIBLE = 1 << 11;
export const FOLL_HONOR_NUMA_FAULT = 1 << 12;
// internal gup flags (mm/internal.h)
export const FOLL_TOUCH = 1 << 16;
export const FOLL_TRIED = 1 << 17;
export const FOLL_REMOTE = 1 << 18;
export const FOLL_PIN = 1 << 19;

/** GUP_PIN_COUNTING_BIAS (include/linux/mm.h): what one pin adds to a small folio's refcount. */
export const GUP_PIN_COUNTING_BIAS = 1024;

const E = (name: keyof typeof ERRNO) => -ERRNO[name];

// --- the ledger of GUP references ------------------------------------------------

const ledgers = new WeakMap<MmCore, Map<number, number>>();

/** References to each page held by GUP callers (FOLL_GET: 1 each, FOLL_PIN: 1024 each). */
export function gupReferences(core: MmCore): ReadonlyMap<number, number> {
  return ledgers.get(core) ?? new Map();
}

function ledger(core: MmCore, pfn: number, delta: number): void {
  let map = ledgers.get(core);
  if (!map) ledgers.set(core, map = new Map());
  const n = (map.get(pfn) ?? 0) + delta;
  if (n < 0) {
    throw new VmBugError("refcount", "GUP reference dropped that was never taken", { pfn });
  }
  if (n === 0) map.delete(pfn);
  else map.set(pfn, n);
}

/**
 * try_grab_folio(): take the reference FOLL_GET or FOLL_PIN asks for.
 * Pinning an anonymous page requires it to be exclusive (the caller
 * unshared it first).
 */
export function tryGrabFolio(core: MmCore, pfn: number, flags: number): number {
  const m = core.memmap;
  if (flags & FOLL_PIN) {
    // No pin on the zero page: it is not going anywhere.
    if (pfn === core.zeroPfn) return 0;
    if (folioTestAnon(core, pfn) && !pageAnonExclusive(core, pfn)) {
      throw new VmBugError("anon exclusive", "pinning a shared anonymous page", { pfn });
    }
    m.refcount[pfn] += GUP_PIN_COUNTING_BIAS;
    ledger(core, pfn, GUP_PIN_COUNTING_BIAS);
  } else if (flags & FOLL_GET) {
    m.refcount[pfn]++;
    ledger(core, pfn, 1);
  }
  return 0;
}

/** put_page() / folio_put() of a FOLL_GET reference. */
export function putPage(core: MmCore, pfn: number): void {
  ledger(core, pfn, -1);
  core.memmap.put(pfn);
}

/** unpin_user_page(): drop a FOLL_PIN reference. */
export function unpinUserPage(core: MmCore, pfn: number): void {
  if (pfn === core.zeroPfn) return;
  ledger(core, pfn, -GUP_PIN_COUNTING_BIAS);
  const m = core.memmap;
  m.refcount[pfn] -= GUP_PIN_COUNTING_BIAS - 1;
  m.put(pfn);
}

/**
 * folio_maybe_dma_pinned() for a small folio: the refcount reaches the pin
 * bias (a false positive with 1024 plain references, as in the kernel).
 */
export function folioMaybeDmaPinned(core: MmCore, pfn: number): boolean {
  return core.memmap.refcount[pfn] >= GUP_PIN_COUNTING_BIAS;
}

// --- the walk ------------------------------------------------------------------

/**
 * gup_must_unshare(): a read-only pin (FOLL_PIN without FOLL_WRITE) of a
 * page that COW could later replace must first get the page for itself
 * (FAULT_FLAG_UNSHARE), or it would keep seeing the old page. That is a
 * shared anonymous page, or, for a long-term pin, any page that is not
 * anonymous (the page cache, the shared zero page) in a COW mapping.
 * (GUP-fast, which has no VMA, is not modelled.)
 */
export function gupMustUnshare(vma: Vma, flags: number, pfn: number): boolean {
  if ((flags & (FOLL_WRITE | FOLL_PIN)) !== FOLL_PIN) return false;
  const core = vma.vm_mm.core;
  if (!folioTestAnon(core, pfn)) {
    return (flags & FOLL_LONGTERM) !== 0 && isCowMapping(vma.vm_flags);
  }
  return !pageAnonExclusive(core, pfn);
}

/** What follow_page_pte() found. */
export type FollowResult =
  | { page: number }
  | { fault: "missing" | "write" | "unshare" }
  | { error: number };

/**
 * follow_page_pte(): the page mapped at `address`, with the reference
 * `flags` asks for, or why a fault is needed first: no present PTE (a
 * none PTE, a swap entry, a device-exclusive entry), a write through a
 * read-only PTE, or a read-only pin that must unshare (the kernel's
 * -EMLINK). Called with mmap_lock held; takes the PTE lock.
 */
export function followPagePte(vma: Vma, address: number, flags: number): FollowResult {
  const mm = vma.vm_mm;
  const core = mm.core;
  // Simplification: follow_pmd_mask() would take the page from a huge PMD
  // (follow_huge_pmd()); the model splits the PMD first, as FOLL_SPLIT_PMD
  // does, since its large folios are PMD-mapped only (lib/mm/huge_memory.ts).
  if (hugePmdAt(mm, address)) splitHugePmdToPtes(vma, address);
  const pt = lookupPteTable(mm, address);
  if (!pt) return { fault: "missing" };
  const i = pteIndex(address);
  pt.ptl!.lock("follow_page_pte");
  try {
    const lo = pt.e[2 * i], hi = pt.e[2 * i + 1];
    // The model never makes NUMA-hinting PROT_NONE PTEs: a protnone PTE is
    // a PROT_NONE VMA, which check_vma_flags() rejected already.
    if (!(lo & _PAGE_PRESENT)) return { fault: "missing" };
    if ((flags & FOLL_WRITE) && !(lo & _PAGE_RW)) return { fault: "write" };
    let pfn = vmNormalPage(lo, hi);
    if (pfn < 0) {
      if (flags & FOLL_DUMP) return { error: E("EFAULT") };
      if (halvesPfn(lo, hi) !== core.zeroPfn) return { error: E("EFAULT") };
      pfn = core.zeroPfn;
    }
    if (!(lo & _PAGE_RW) && gupMustUnshare(vma, flags, pfn)) {
      return { fault: "unshare" };
    }
    tryGrabFolio(core, pfn, flags);
    if ((flags & FOLL_TOUCH) && pfn !== core.zeroPfn) {
      if ((flags & FOLL_WRITE) && !(core.memmap.flags[pfn] & PG_dirty)) folioMarkDirty(core, pfn);
      core.memmap.flags[pfn] |= PG_referenced; // folio_mark_accessed()
    }
    return { page: pfn };
  } finally {
    pt.ptl!.unlock();
  }
}

/**
 * check_vma_flags(): may GUP with `flags` touch this VMA at all? 0 or
 * -EFAULT.
 */
export function checkVmaFlags(vma: Vma, flags: number): number {
  if (vma.vm_flags & (VM_IO | VM_PFNMAP)) return E("EFAULT");
  if ((flags & FOLL_ANON) && !vma.isAnonymous) return E("EFAULT");
  if (flags & FOLL_WRITE) {
    if (!(vma.vm_flags & VM_WRITE)) return E("EFAULT");
  } else if (!(vma.vm_flags & VM_READ)) {
    return E("EFAULT");
  }
  return 0;
}

/** vm_fault_to_errno(). */
export function vmFaultToErrno(fault: number, flags: number): number {
  if (fault & VM_FAULT_OOM) return E("ENOMEM");
  if (fault & (VM_FAULT_HWPOISON | VM_FAULT_HWPOISON_LARGE)) {
    return flags & FOLL_HWPOISON ? E("EHWPOISON") : E("EFAULT");
  }
  if (fault & (VM_FAULT_SIGBUS | VM_FAULT_SIGSEGV)) return E("EFAULT");
  return 0;
}

/**
 * faultin_page(): handle_mm_fault() for GUP: a write fault for FOLL_WRITE,
 * an unshare fault for a read-only pin that must unshare. 0 or -errno.
 */
export function faultinPage(vma: Vma, address: number, flags: number, unshare: boolean): number {
  let faultFlags = 0;
  if (flags & FOLL_WRITE) faultFlags |= FAULT_FLAG_WRITE;
  if (flags & FOLL_REMOTE) faultFlags |= FAULT_FLAG_REMOTE;
  if (unshare) faultFlags |= FAULT_FLAG_UNSHARE;
  const ret = handleMmFault(vma, address, faultFlags);
  if (ret & VM_FAULT_ERROR) return vmFaultToErrno(ret, flags) || E("EFAULT");
  return 0;
}

/** Faults one page may take before GUP gives up on it (the kernel loops until it succeeds). */
const MAX_FAULTS_PER_PAGE = 8;

/**
 * __get_user_pages(): for each page of [start, start + nrPages pages),
 * follow_page_pte(), and when that needs a fault, faultin_page() and
 * retry. Called with mmap_lock held for read. Returns the pages taken (as
 * many as succeeded before the first failure), or -errno if the very
 * first page failed. A PMD-mapped THP is split first (see followPagePte()),
 * with or without FOLL_SPLIT_PMD.
 */
export function __getUserPages(
  mm: MmStruct,
  start: number,
  nrPages: number,
  flags: number,
  vmas?: Vma[],
): number[] | number {
  const pages: number[] = [];
  for (let k = 0; k < nrPages; k++) {
    const address = start + k * 4096;
    const vma = mm.vmaLookup(address);
    const fail = (err: number) => (pages.length ? pages : err);
    if (!vma) return fail(E("EFAULT"));
    const bad = checkVmaFlags(vma, flags);
    if (bad) return fail(bad);
    let page = -1;
    for (let tries = 0; page < 0; tries++) {
      if (tries > MAX_FAULTS_PER_PAGE) {
        throw new VmBugError("gup", "page still not present after repeated faults", { address });
      }
      const r = followPagePte(vma, address, flags);
      if ("page" in r) page = r.page;
      else if ("error" in r) return fail(r.error);
      else {
        const err = faultinPage(vma, address, flags, r.fault === "unshare");
        if (err) return fail(err);
      }
    }
    pages.push(page);
    vmas?.push(vma);
  }
  return pages;
}

/**
 * is_valid_gup_args(): FOLL_LONGTERM only with FOLL_PIN, never FOLL_GET and
 * FOLL_PIN together, no internal flags from callers.
 */
function validGupArgs(flags: number): boolean {
  if (flags & (FOLL_TOUCH | FOLL_TRIED | FOLL_REMOTE)) return false;
  if ((flags & FOLL_GET) && (flags & FOLL_PIN)) return false;
  if ((flags & FOLL_LONGTERM) && !(flags & FOLL_PIN)) return false;
  return true;
}

/**
 * get_user_pages_remote() / get_user_pages(): FOLL_GET references to the
 * pages of [start, start + nrPages pages) of `mm`. Takes mmap_lock for read
 * unless `locked` says the caller holds it. Returns the pfns or -errno.
 */
export function getUserPages(
  mm: MmStruct,
  start: number,
  nrPages: number,
  flags: number,
  options: { locked?: boolean; vmas?: Vma[] } = {},
): number[] | number {
  if ((flags & FOLL_PIN) || !validGupArgs(flags)) return E("EINVAL");
  return gupLocked(mm, start, nrPages, flags | FOLL_GET | FOLL_TOUCH, options);
}

/**
 * pin_user_pages_remote() / pin_user_pages(): FOLL_PIN references (dropped
 * with unpinUserPage()). Anonymous pages come back exclusive: a read-only
 * pin of a shared page unshares it first.
 */
export function pinUserPages(
  mm: MmStruct,
  start: number,
  nrPages: number,
  flags: number,
  options: { locked?: boolean } = {},
): number[] | number {
  if ((flags & FOLL_GET) || !validGupArgs(flags | FOLL_PIN)) return E("EINVAL");
  return gupLocked(mm, start, nrPages, flags | FOLL_PIN | FOLL_TOUCH, options);
}

/**
 * get_user_page_vma_remote(): one page and its VMA, as make_device_exclusive()
 * asks for it (mmap_lock held by the caller). Returns -errno on failure.
 */
export function getUserPageVmaRemote(
  mm: MmStruct,
  addr: number,
  flags: number,
): { page: number; vma: Vma } | number {
  const vmas: Vma[] = [];
  const r = getUserPages(mm, addr, 1, flags, { locked: true, vmas });
  if (typeof r === "number") return r;
  return { page: r[0], vma: vmas[0] };
}

function gupLocked(
  mm: MmStruct,
  start: number,
  nrPages: number,
  flags: number,
  options: { locked?: boolean; vmas?: Vma[] },
): number[] | number {
  if (start % 4096 || !Number.isInteger(nrPages) || nrPages < 0) return E("EINVAL");
  if (!options.locked) mm.mmap_lock.downRead();
  try {
    return __getUserPages(mm, start, nrPages, flags, options.vmas);
  } finally {
    if (!options.locked) mm.mmap_lock.upRead();
  }
}
