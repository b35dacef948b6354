/**
 * GUP over every representation (mm/gup.c): GUP-fast (`gup_fast()`, lockless,
 * no VMA), the slow path (`__get_user_pages()` calling `follow_page_mask()`
 * and `faultin_page()`), `gup_must_unshare()` (mm/internal.h) and the -EMLINK
 * → FAULT_FLAG_UNSHARE retry, with cost counters: loop iterations, entries
 * read, lock round-trips, faults.
 *
 * Three kernels are variants ({@linkcode GupVariants}):
 * - `hugetlbFollowPageMask: true`: before "mm/gup: Unify hugetlb, part 2"
 *   (v6.9 and earlier), slow GUP looks a hugetlb page up with
 *   `hugetlb_follow_page_mask()` and resolves the whole huge page per loop;
 *   from v6.10, `follow_page_mask()` handles hugetlb like any mapping, one
 *   page-table entry per loop ("each loop of __get_user_pages() will resolve
 *   one pgtable entry", Peter Xu, 003_04fde8f735f91402.txt);
 * - `hugepdGupVma: false`: the hugepd path of v6.10's `follow_hugepd()`
 *   before "mm/gup: Fix hugepd handling in hugetlb rework": the vma is not
 *   passed to `gup_fast_hugepte()`, so `gup_must_unshare(NULL, …)` says a
 *   read-only long-term pin of a page-cache page needs an unshare, and the
 *   function returns 0 instead of -EMLINK, so no unshare fault follows:
 *   `__get_user_pages()` faults (a no-op: the page is mapped) and retries
 *   for ever. The model stops after {@linkcode GUP_RETRY_LIMIT} retries of
 *   one address and reports `livelock`.
 *
 * Simplifications: FOLL_LONGTERM does not migrate folios out of
 * ZONE_MOVABLE/CMA (hugetlb folios are long-term pinnable where they are);
 * `gup_fast_folio_allowed()` is not modelled (hugetlb and anonymous folios
 * pass it); no FOLL_FORCE, no NUMA hinting, one mmap_lock round-trip per call.
 * @module
 */
import { ERRNO } from "../kernel/errno.ts";
import { FOLL_GET, FOLL_LONGTERM, FOLL_PIN, FOLL_WRITE } from "../mm/gup.ts";
import { hex } from "../plot/_svg.ts";
import { type LevelName, levelSize } from "./geometry.ts";
import {
  childLevel,
  type Costs,
  FAULT_FLAG_UNSHARE,
  FAULT_FLAG_WRITE,
  type Folio,
  type GeoMm,
  handleFault,
  hugepteIndex,
  hugePteOffset,
  hugePtepGet,
  indexAt,
  isCowMapping,
  isVmHugetlbPage,
  type LeafEntry,
  newCosts,
  type PageTable,
  VM_WRITE,
  type Vma,
} from "./hugetlb.ts";

/** gup_flags (include/linux/mm_types.h, mm/internal.h), as lib/mm defines them. */
export { FOLL_GET, FOLL_LONGTERM, FOLL_PIN, FOLL_WRITE };

/** Retries of one address after which the model calls the loop a livelock. */
export const GUP_RETRY_LIMIT = 8;

/** Kernel versions of the GUP paths; defaults are v6.18. */
export interface GupVariants {
  /** v6.9 and earlier: hugetlb_follow_page_mask(), one huge page per loop. */
  hugetlbFollowPageMask?: boolean;
  /** false: follow_hugepd() without the vma (between a12083d721d7 and its fix). */
  hugepdGupVma?: boolean;
}

/** Counters of one GUP call. */
export interface GupCosts extends Costs {
  /** Passes of the __get_user_pages() loop (follow_page_mask() calls). */
  iterations: number;
  faults: number;
  unshareFaults: number;
}

/** Zeroed counters for one GUP call. */
export function newGupCosts(): GupCosts {
  return { ...newCosts(), iterations: 0, faults: 0, unshareFaults: 0 };
}

/** What a GUP call returns and what it did. */
export interface GupResult {
  /** Pages grabbed, or a negative errno. */
  ret: number;
  /** Frames grabbed, in order. */
  pfns: number[];
  /** The slow loop retried one address GUP_RETRY_LIMIT times: the kernel would hang. */
  livelock: boolean;
  costs: GupCosts;
  /** Pages GUP-fast grabbed before the slow path took over (pin_user_pages_fast()). */
  fast: number;
  /** What happened, step by step, in kernel terms. */
  log: string[];
}

export const EFAULT = ERRNO.EFAULT;
export const EMLINK = ERRNO.EMLINK;

/**
 * gup_must_unshare() (mm/internal.h): whether a read-only pin of `folio`
 * through a read-only entry must first unshare it. Only FOLL_PIN without
 * FOLL_WRITE; a page-cache folio only for FOLL_LONGTERM in a COW mapping,
 * and always when the VMA is not known (GUP-fast); an anonymous folio
 * unless it is PageAnonExclusive.
 */
export function gupMustUnshare(vma: Vma | null, flags: number, folio: Folio): boolean {
  if ((flags & (FOLL_WRITE | FOLL_PIN)) !== FOLL_PIN) return false;
  if (!folio.anon) {
    if ((flags & FOLL_LONGTERM) === 0) return false;
    if (vma === null) return true;
    return isCowMapping(vma.vmFlags);
  }
  return !folio.anonExclusive;
}

/** try_grab_folio(): `refs` references, and pins for FOLL_PIN. */
function grab(folio: Folio, refs: number, flags: number): void {
  folio.refcount += refs;
  if ((flags & FOLL_PIN) !== 0) folio.pincount += refs;
}

/** unpin_user_pages(): drops the pins GUP took on `pfns`. */
export function unpinUserPages(mm: GeoMm, pfns: readonly number[]): void {
  for (const pfn of pfns) {
    const f = mm.memory.folioOf(pfn);
    f.refcount--;
    f.pincount--;
  }
}

// --- GUP-fast ------------------------------------------------------------------------------

/**
 * gup_fast(): walks [start, start + nr pages) without locks and without the
 * VMA, grabbing what it can and stopping at the first entry it may not take
 * (none, not writable for FOLL_WRITE, or needing an unshare: it cannot tell
 * without the VMA, so it leaves that to the slow path). Returns the pages
 * grabbed from `start`.
 */
export function gupFast(
  mm: GeoMm,
  start: number,
  nrPages: number,
  flags: number,
  c: GupCosts = newGupCosts(),
  pfns: number[] = [],
): number {
  const end = start + nrPages * 4096;
  let stop = false;
  const g = mm.g;
  const take = (e: LeafEntry, span: number, addr: number, next: number): boolean => {
    if ((flags & FOLL_WRITE) !== 0 && !e.write) return false;
    const folio = mm.memory.folioOf(e.pfn);
    if (!e.write && gupMustUnshare(null, flags, folio)) return false;
    const n = (next - addr) / 4096;
    const first = e.pfn + Math.floor((addr % span) / 4096);
    grab(folio, n, flags);
    for (let i = 0; i < n; i++) pfns.push(first + i);
    return true;
  };
  const walk = (table: PageTable, level: LevelName, s: number, e: number): void => {
    const span = levelSize(g, level);
    c.tables++;
    for (let addr = s; addr < e && !stop;) {
      const next = Math.min(addr - (addr % span) + span, e);
      c.entries++;
      const entry = table.entries.get(indexAt(g, level, addr));
      if (entry === undefined) {
        stop = true;
      } else if (entry.type === "table") {
        walk(entry.table, childLevel(g, level)!, addr, next);
      } else if (entry.type === "hugepd") {
        // gup_hugepd(NULL, …): GUP-fast has no vma; -EMLINK counts as 0 here.
        c.hugepdCases++;
        const sz = 2 ** entry.shift;
        const pdshift = Math.log2(span);
        c.tables++;
        for (let a = addr; a < next && !stop;) {
          const n2 = Math.min(a - (a % sz) + sz, next);
          c.entries++;
          const hp = entry.table.entries.get(hugepteIndex(entry, a, pdshift));
          if (hp?.type !== "leaf" || !take(hp, sz, a, n2)) stop = true;
          a = n2;
        }
      } else {
        if (!take(entry, span, addr, next)) stop = true;
      }
      addr = next;
    }
  };
  walk(mm.pgd, g.levels[0].level, start, end);
  return pfns.length;
}

// --- the slow path ---------------------------------------------------------------------------

/** What follow_page_mask() found: a page and how many pages after it the same
 * entry maps (`page_mask`), nothing (fault it in), -EMLINK or -EFAULT. */
type Follow =
  | { kind: "page"; pfn: number; folio: Folio; pageMask: number }
  | { kind: "none" }
  | { kind: "error"; errno: number };

/**
 * follow_page_mask(): finds the page at `addr` under the page-table lock of
 * the entry that maps it. v6.10+: `pud_leaf()` → follow_huge_pud(),
 * `pmd_leaf()` → follow_huge_pmd(), hugepd → follow_hugepd(), else
 * follow_page_pte(); each returns -EMLINK when `gup_must_unshare()` says so.
 * With `hugetlbFollowPageMask`, a hugetlb VMA goes to
 * hugetlb_follow_page_mask() instead.
 */
export function followPageMask(
  mm: GeoMm,
  vma: Vma,
  addr: number,
  flags: number,
  v: GupVariants,
  c: GupCosts,
): Follow {
  const g = mm.g;
  const check = (e: LeafEntry, span: number, withVma: Vma | null, emlink: boolean): Follow => {
    if ((flags & FOLL_WRITE) !== 0 && !e.write) return { kind: "none" };
    const pfn = e.pfn + Math.floor((addr % span) / 4096);
    const folio = mm.memory.folioOf(pfn);
    if (!e.write && gupMustUnshare(withVma, flags, folio)) {
      return emlink ? { kind: "error", errno: -EMLINK } : { kind: "none" };
    }
    return { kind: "page", pfn, folio, pageMask: span / 4096 - 1 };
  };
  if (isVmHugetlbPage(vma) && (v.hugetlbFollowPageMask ?? false)) {
    // hugetlb_follow_page_mask(): hugetlb_walk(), huge_pte_lock(), one hstate per loop.
    const ptep = hugePteOffset(mm, addr, vma.pageSize, c);
    if (ptep === null) return { kind: "none" };
    c.locks++;
    const e = hugePtepGet(ptep, c);
    if (e?.type !== "leaf") return { kind: "none" };
    // The slot is the huge page's first entry: its frame is the folio's head.
    return check(e, vma.pageSize, vma, true);
  }
  let table = mm.pgd;
  for (const l of g.levels) {
    const span = 2 ** l.shift;
    c.tables++;
    c.entries++;
    const e = table.entries.get(indexAt(g, l.level, addr));
    if (e === undefined) return { kind: "none" };
    if (e.type === "table") {
      table = e.table;
      continue;
    }
    if (e.type === "hugepd") {
      // follow_hugepd(): huge_pte_lock(), gup_hugepd() for one page; on success the
      // whole huge page: page_mask = (1 << huge_page_order(h)) - 1.
      c.hugepdCases++;
      c.locks++;
      c.tables++;
      c.entries++;
      const hp = e.table.entries.get(hugepteIndex(e, addr, l.shift));
      if (hp?.type !== "leaf") return { kind: "none" };
      const fixed = v.hugepdGupVma ?? true;
      return check(hp, 2 ** e.shift, fixed ? vma : null, fixed);
    }
    // A leaf: follow_huge_pud(), follow_huge_pmd() or follow_page_pte(), under its lock.
    c.locks++;
    return check(e, span, vma, true);
  }
  return { kind: "none" };
}

/** check_vma_flags(): FOLL_WRITE needs VM_WRITE. */
function checkVmaFlags(vma: Vma, flags: number): boolean {
  return (flags & FOLL_WRITE) === 0 || (vma.vmFlags & VM_WRITE) !== 0;
}

/**
 * __get_user_pages(): for each page, follow_page_mask(); on no page, or on
 * -EMLINK, faultin_page() (with FAULT_FLAG_WRITE for FOLL_WRITE,
 * FAULT_FLAG_UNSHARE for -EMLINK) and retry; on a page, grab it and the
 * following `page_mask` pages it maps (`page_increment`).
 */
export function getUserPages(
  mm: GeoMm,
  start: number,
  nrPages: number,
  flags: number,
  v: GupVariants = {},
  c: GupCosts = newGupCosts(),
  pfns: number[] = [],
  log: string[] = [],
): GupResult {
  c.locks++; // mmap_read_lock()
  let addr = start;
  let left = nrPages;
  let retries = 0;
  while (left > 0) {
    const vma = mm.findVma(addr);
    if (vma === null || !checkVmaFlags(vma, flags)) {
      log.push(`check_vma_flags(${hex(addr)}): -EFAULT`);
      return done(pfns.length || -EFAULT, false);
    }
    c.iterations++;
    const f = followPageMask(mm, vma, addr, flags, v, c);
    if (f.kind === "page") {
      retries = 0;
      const increment = Math.min(1 + (f.pageMask & ~(addr / 4096)), left);
      grab(f.folio, increment, flags);
      for (let i = 0; i < increment; i++) pfns.push(f.pfn + i);
      log.push(`follow_page_mask(${hex(addr)}): page, page_increment ${increment}`);
      addr += increment * 4096;
      left -= increment;
      continue;
    }
    if (f.kind === "error" && f.errno !== -EMLINK) return done(pfns.length || f.errno, false);
    const unshare = f.kind === "error";
    if (++retries > GUP_RETRY_LIMIT) {
      log.push(`… the same address again: __get_user_pages() would loop for ever`);
      return done(pfns.length, true);
    }
    const faultFlags = unshare ? FAULT_FLAG_UNSHARE : (flags & FOLL_WRITE) ? FAULT_FLAG_WRITE : 0;
    log.push(
      `follow_page_mask(${hex(addr)}): ${unshare ? "-EMLINK" : "no page"} → faultin_page(${
        unshare ? "FAULT_FLAG_UNSHARE" : faultFlags ? "FAULT_FLAG_WRITE" : "read"
      })`,
    );
    c.faults++;
    if (unshare) c.unshareFaults++;
    const r = handleFault(mm, addr, faultFlags, c);
    if (r.ret !== 0) return done(pfns.length || -EFAULT, false);
  }
  return done(pfns.length, false);

  function done(ret: number, livelock: boolean): GupResult {
    return { ret, pfns, livelock, costs: c, fast: 0, log };
  }
}

/**
 * pin_user_pages_fast() (and get_user_pages_fast() without FOLL_PIN):
 * GUP-fast first, then the slow path for what is left.
 */
export function pinUserPagesFast(
  mm: GeoMm,
  start: number,
  nrPages: number,
  flags: number,
  v: GupVariants = {},
): GupResult {
  const c = newGupCosts();
  const pfns: number[] = [];
  const log: string[] = [];
  const f = gupFast(mm, start, nrPages, flags | FOLL_PIN, c, pfns);
  log.push(`gup_fast(): ${f} of ${nrPages} pages`);
  if (f === nrPages) return { ret: f, pfns, livelock: false, costs: c, fast: f, log };
  const r = getUserPages(mm, start + f * 4096, nrPages - f, flags | FOLL_PIN, v, c, pfns, log);
  return { ...r, fast: f };
}

/** pin_user_pages() (the slow path only, with FOLL_PIN). */
export function pinUserPages(
  mm: GeoMm,
  start: number,
  nrPages: number,
  flags: number,
  v: GupVariants = {},
): GupResult {
  return getUserPages(mm, start, nrPages, flags | FOLL_PIN, v);
}
