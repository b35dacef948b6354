/**
 * The invariants Kernel.check() verifies after any step, in the spirit of
 * CONFIG_DEBUG_VM, page_table_check and check_mm() (mm/debug.c,
 * mm/page_table_check.c, kernel/fork.c):
 *
 *  - "rss counter": each mm's rss_stat equals what its page tables map;
 *  - "mapcount": each page's mapcount equals the PTEs that map it;
 *  - "refcount": each page's refcount equals its mappings plus the page cache;
 *  - "anon exclusive": a writable anonymous PTE maps a PageAnonExclusive
 *    page, and an exclusive page is mapped at most once;
 *  - "pgtable": every entry below the pgd points at a live table whose pfn
 *    matches, no PTE maps a free page or a page table, and pgtables_bytes
 *    matches the tables;
 *  - "thp": a huge PMD maps the head of a PMD-sized folio (or the huge
 *    zero folio) and has a deposited PTE table if anonymous, none if it
 *    maps shmem, whose folio must then sit in the VMA's page cache at the
 *    address's index; each page-cache entry of a large folio is its page
 *    at its own index; the folio's _entire_mapcount equals the huge PMDs
 *    that map it, its refcount those plus the page cache's
 *    folio_nr_pages(), and its tail pages hold no references;
 *  - "lock held": no page-table lock or mmap_lock is left held;
 *  - "free page": free pages carry no references;
 *  - "hwpoison": a hwpoison entry names a PG_hwpoison page, no present PTE
 *    maps one, and a PG_hwpoison page holds one reference more than its
 *    mappings and page cache: the one memory_failure() keeps so that the
 *    page never returns to the allocator (the model does not free or
 *    unpoison it);
 *  - "device exclusive": a device-exclusive entry names a live anonymous
 *    page and is charged to MM_ANONPAGES; in v6.18 it is still a mapping
 *    (mapcount, PageAnonExclusive), in the ≤ v6.14 variant it holds a
 *    reference but no mapcount;
 *  - references held through GUP (get_user_pages(), pin_user_pages()) are
 *    part of the expected refcount.
 * @module
 */
import { VmBugError } from "../kernel/bug.ts";
import type { MmCore } from "./core.ts";
import { type MmStruct, NR_MM_COUNTERS, RSS_NAMES } from "./mm_types.ts";
import { halvesPfn, type PageTable, tableEntryHalves } from "../pgtable/pgtable.ts";
import { _PAGE_PRESENT, _PAGE_PROTNONE, _PAGE_PSE, _PAGE_RW } from "../arch/x86/pgtable_types.ts";
import { PG_head, PG_hwpoison, PG_reserved, PGTY_buddy, PGTY_table } from "./memmap.ts";
import { HPAGE_PMD_NR, HPAGE_PMD_ORDER } from "../kernel/constants.ts";
import { vmNormalPage } from "./memory.ts";
import { folioTestAnon, mmCounter, pageAnonExclusive } from "./rmap.ts";
import { pteFromHalves } from "../arch/x86/pgtable.ts";
import { pteToSwpEntry } from "../pgtable/swapops.ts";
import { gupReferences } from "./gup.ts";

/** Counts gathered from all page tables. */
interface Census {
  mapcount: Map<number, number>;
  /** References held by entries that are not mappings (≤ v6.14 device-exclusive). */
  entryRefs: Map<number, number>;
  /** Swap PTEs per slot of the swap device. */
  swapRefs: Map<number, number>;
  /** Huge PMDs mapping each large folio (by head pfn). */
  entire: Map<number, number>;
}

/** Runs every invariant; throws VmBugError naming the first that fails. */
export function checkInvariants(core: MmCore): void {
  const census: Census = {
    mapcount: new Map(),
    entryRefs: new Map(),
    swapRefs: new Map(),
    entire: new Map(),
  };
  for (const mm of core.mms) checkMm(core, mm, census);
  checkPages(core, census);
  checkSwap(core, census);
}

/** Each slot of the swap device counts exactly the PTEs that hold it (swap_map[]). */
function checkSwap(core: MmCore, census: Census): void {
  const si = core.swap;
  if (!si) return;
  let inuse = 0;
  for (let offset = 1; offset < si.pages; offset++) {
    const refs = census.swapRefs.get(offset) ?? 0;
    if (si.swapMap[offset] !== refs) {
      throw new VmBugError("swap", "swap_map count differs from the PTEs holding the slot", {
        offset,
        swap_map: si.swapMap[offset],
        ptes: refs,
      });
    }
    if (refs) inuse++;
  }
  if (inuse !== si.inusePages) {
    throw new VmBugError("swap", "inuse_pages differs from the slots in use", {
      inuse_pages: si.inusePages,
      slots: inuse,
    });
  }
}

function checkMm(core: MmCore, mm: MmStruct, census: Census): void {
  if (mm.mmap_lock.locked) {
    throw new VmBugError("lock held", "mmap_lock left held", { pid: mm.owner });
  }
  if (mm.page_table_lock.locked) {
    throw new VmBugError("lock held", "page_table_lock left held", { pid: mm.owner });
  }
  const rss = new Float64Array(NR_MM_COUNTERS);
  let tables = 0;
  const walk = (t: PageTable, base: number, span: number) => {
    if (t.freed) {
      throw new VmBugError("pgtable", "a freed page table is still linked", {
        pfn: t.pfn,
        pid: mm.owner,
      });
    }
    if (core.memmap.pageType[t.pfn] !== PGTY_table) {
      throw new VmBugError("pgtable", "a table's page is not PGTY_table", { pfn: t.pfn });
    }
    if (t.ptl?.locked) {
      throw new VmBugError("lock held", `${t.level} lock left held by ${t.ptl.holder}`, {
        pfn: t.pfn,
        addr: base,
      });
    }
    let nr = 0;
    for (let i = 0; i < 512; i++) {
      const lo = t.e[2 * i], hi = t.e[2 * i + 1];
      if (lo === 0 && hi === 0) {
        if (t.children && t.children[i]) {
          throw new VmBugError("pgtable", "child table linked under a none entry", {
            addr: base + i * span,
          });
        }
        continue;
      }
      nr++;
      const addr = base + i * span;
      if (t.level === "pmd" && (lo & _PAGE_PSE)) {
        if (t.children![i]) {
          throw new VmBugError("pgtable", "child table linked under a huge PMD", { addr });
        }
        checkHugePmd(core, mm, t, i, addr, lo, hi, rss, census);
        continue;
      }
      if (t.children) {
        const child = t.children[i];
        if (!child) throw new VmBugError("pgtable", `${t.level} entry without a table`, { addr });
        const [elo, ehi] = tableEntryHalves(child);
        if (elo !== lo || ehi !== hi) {
          throw new VmBugError("pgtable", `${t.level} entry does not point at its table`, {
            addr,
            pfn: child.pfn,
          });
        }
        tables++;
        walk(child, addr, span / 512);
      } else {
        checkPte(core, mm, addr, lo, hi, rss, census);
      }
    }
    for (const [i, dep] of t.deposited) {
      if (!(t.e[2 * i] & _PAGE_PSE)) {
        throw new VmBugError("thp", "deposited page table without a huge PMD", {
          addr: base + i * span,
          pid: mm.owner,
        });
      }
      if (dep.freed) {
        throw new VmBugError("thp", "deposited page table was freed", { pfn: dep.pfn });
      }
      tables++;
    }
    if (nr !== t.nr) {
      throw new VmBugError("pgtable", "entry count out of date", { pfn: t.pfn, nr, counted: t.nr });
    }
  };
  walk(mm.pgd, 0, 2 ** 39);
  for (let c = 0; c < NR_MM_COUNTERS; c++) {
    if (rss[c] !== mm.rss[c]) {
      throw new VmBugError(
        "rss counter",
        `Bad rss-counter state mm:${mm.owner} type:${RSS_NAMES[c]} val:${mm.rss[c] - rss[c]}`,
        {
          counted: rss[c],
          recorded: mm.rss[c],
        },
      );
    }
  }
  if (tables * 4096 !== mm.pgtables_bytes) {
    throw new VmBugError("pgtable", "pgtables_bytes does not match the tables", {
      pid: mm.owner,
      tables,
      pgtables_bytes: mm.pgtables_bytes,
    });
  }
}

function checkPte(
  core: MmCore,
  mm: MmStruct,
  addr: number,
  lo: number,
  hi: number,
  rss: Float64Array,
  census: Census,
): void {
  const m = core.memmap;
  if (lo & (_PAGE_PRESENT | _PAGE_PROTNONE)) {
    const pfn = vmNormalPage(lo, hi);
    if (pfn < 0) {
      if (halvesPfn(lo, hi) !== core.zeroPfn) {
        throw new VmBugError("pgtable", "special PTE that is not the zero page", {
          addr,
          pid: mm.owner,
        });
      }
      return;
    }
    if (pfn >= m.highestPfn || m.pageType[pfn] === PGTY_buddy) {
      throw new VmBugError("pgtable", "PTE maps a free page", { addr, pfn, pid: mm.owner });
    }
    if (m.pageType[pfn] === PGTY_table) {
      throw new VmBugError("pgtable", "PTE maps a page table", { addr, pfn, pid: mm.owner });
    }
    if (m.flags[pfn] & PG_hwpoison) {
      throw new VmBugError("hwpoison", "present PTE maps a PG_hwpoison page", {
        addr,
        pfn,
        pid: mm.owner,
      });
    }
    rss[mmCounter(core, pfn)]++;
    census.mapcount.set(pfn, (census.mapcount.get(pfn) ?? 0) + 1);
    if ((lo & _PAGE_RW) && folioTestAnon(core, pfn) && !pageAnonExclusive(core, pfn)) {
      throw new VmBugError("anon exclusive", "writable PTE maps a shared anonymous page", {
        addr,
        pfn,
        pid: mm.owner,
      });
    }
    return;
  }
  const entry = pteToSwpEntry(pteFromHalves(lo, hi));
  if (core.swapops.isSwapDeviceEntry(entry)) {
    rss[2]++;
    const offset = Number(entry.offset);
    census.swapRefs.set(offset, (census.swapRefs.get(offset) ?? 0) + 1);
  }
  if (core.swapops.isDeviceExclusiveEntry(entry)) {
    checkDeviceExclusive(core, mm, addr, core.swapops.swpOffsetPfn(entry), rss, census);
  }
  if (core.swapops.isHwpoisonEntry(entry)) {
    const pfn = core.swapops.swpOffsetPfn(entry);
    if (pfn >= m.highestPfn || !(m.flags[pfn] & PG_hwpoison)) {
      throw new VmBugError("hwpoison", "hwpoison entry names a page without PG_hwpoison", {
        addr,
        pfn,
        pid: mm.owner,
      });
    }
  }
}

function checkDeviceExclusive(
  core: MmCore,
  mm: MmStruct,
  addr: number,
  pfn: number,
  rss: Float64Array,
  census: Census,
): void {
  const m = core.memmap;
  if (pfn >= m.highestPfn || m.pageType[pfn] === PGTY_buddy || !folioTestAnon(core, pfn)) {
    throw new VmBugError("device exclusive", "device-exclusive entry names no anonymous page", {
      addr,
      pfn,
      pid: mm.owner,
    });
  }
  rss[mmCounter(core, pfn)]++;
  if (core.variants.deviceExclusiveRange) {
    census.entryRefs.set(pfn, (census.entryRefs.get(pfn) ?? 0) + 1);
    return;
  }
  census.mapcount.set(pfn, (census.mapcount.get(pfn) ?? 0) + 1);
  if (!pageAnonExclusive(core, pfn)) {
    throw new VmBugError("device exclusive", "device-exclusive entry of a shared anonymous page", {
      addr,
      pfn,
      pid: mm.owner,
    });
  }
}

/** A huge PMD: the folio it maps, its rss, its deposit. */
function checkHugePmd(
  core: MmCore,
  mm: MmStruct,
  pmd: PageTable,
  i: number,
  addr: number,
  lo: number,
  hi: number,
  rss: Float64Array,
  census: Census,
): void {
  const m = core.memmap;
  const head = halvesPfn(lo, hi);
  if (head === core.hugeZeroPfn) {
    if (lo & _PAGE_RW) {
      throw new VmBugError("thp", "writable huge PMD maps the huge zero folio", { addr });
    }
    if (!pmd.deposited.has(i)) {
      throw new VmBugError("thp", "huge zero PMD without a deposited table", { addr });
    }
    return;
  }
  if (head >= m.highestPfn || m.pageType[head] === PGTY_buddy) {
    throw new VmBugError("pgtable", "huge PMD maps a free page", {
      addr,
      pfn: head,
      pid: mm.owner,
    });
  }
  if (m.order[head] !== HPAGE_PMD_ORDER || !(m.flags[head] & PG_head)) {
    throw new VmBugError("thp", "huge PMD does not map the head of a PMD-sized folio", {
      addr,
      pfn: head,
      order: m.order[head],
    });
  }
  const anon = folioTestAnon(core, head);
  if (!anon) checkFileHugePmd(core, mm, pmd, i, addr, head);
  if (anon && !pmd.deposited.has(i)) {
    throw new VmBugError("thp", "anonymous huge PMD without a deposited table", { addr });
  }
  if ((lo & _PAGE_RW) && anon && !pageAnonExclusive(core, head)) {
    throw new VmBugError("anon exclusive", "writable huge PMD maps a shared anonymous folio", {
      addr,
      pfn: head,
      pid: mm.owner,
    });
  }
  rss[mmCounter(core, head)] += HPAGE_PMD_NR;
  census.entire.set(head, (census.entire.get(head) ?? 0) + 1);
}

/**
 * A file (shmem) huge PMD: no deposited table (x86), the VMA maps that
 * file, and the folio sits in its page cache at the index the address
 * has, each page at its own index.
 */
function checkFileHugePmd(
  core: MmCore,
  mm: MmStruct,
  pmd: PageTable,
  i: number,
  addr: number,
  head: number,
): void {
  const m = core.memmap;
  if (pmd.deposited.has(i)) {
    throw new VmBugError("thp", "file huge PMD with a deposited table", { addr, pid: mm.owner });
  }
  const vma = mm.vmaLookup(addr);
  const mapping = vma?.vm_file?.inode.mapping;
  if (!vma || !mapping || m.mapping[head] !== mapping.id) {
    throw new VmBugError("thp", "file huge PMD maps a folio of another file", {
      addr,
      pfn: head,
      pid: mm.owner,
    });
  }
  const index = vma.linearPageIndex(addr);
  for (let k = 0; k < HPAGE_PMD_NR; k++) {
    if (m.index[head] !== index || mapping.pages.get(index + k) !== head + k) {
      throw new VmBugError("thp", "file huge PMD maps a folio not in the page cache there", {
        addr,
        pfn: head,
        index: index + k,
      });
    }
  }
}

/** Pages of a PMD-sized folio in a page cache: each index at its own page. */
function checkPageCacheFolios(core: MmCore): void {
  const m = core.memmap;
  for (const obj of core.mappings) {
    if (!obj || !("pages" in obj)) continue;
    for (const [index, pfn] of obj.pages) {
      const head = m.pageFolio(pfn);
      if (head === pfn && !m.order[pfn]) continue;
      if (m.order[head] !== HPAGE_PMD_ORDER || m.index[head] + (pfn - head) !== index) {
        throw new VmBugError("thp", "page-cache entry out of place in its large folio", {
          index,
          pfn,
          head,
        });
      }
    }
  }
}

function checkPages(core: MmCore, census: Census): void {
  checkPageCacheFolios(core);
  const m = core.memmap;
  const gup = gupReferences(core);
  const cached = new Set<number>();
  for (const obj of core.mappings) {
    if (obj && "pages" in obj) { for (const pfn of obj.pages.values()) cached.add(pfn); }
  }
  for (let pfn = 0; pfn < m.highestPfn; pfn++) {
    const type = m.pageType[pfn];
    if (type === PGTY_buddy) {
      if (m.refcount[pfn] !== 0 || m.mapcount[pfn] !== 0) {
        throw new VmBugError("free page", "free page with references", {
          pfn,
          refcount: m.refcount[pfn],
        });
      }
      continue;
    }
    if (type === PGTY_table || (m.flags[pfn] & PG_reserved)) continue;
    if (m.order[pfn]) {
      checkLargeFolio(core, census, pfn, cached.has(pfn));
      pfn += m.folioNrPages(pfn) - 1;
      continue;
    }
    if (m.compoundHead[pfn]) {
      throw new VmBugError("thp", "tail page of a folio that is not large", { pfn });
    }
    const mapped = census.mapcount.get(pfn) ?? 0;
    if (m.mapcount[pfn] !== mapped) {
      throw new VmBugError("mapcount", "mapcount differs from the PTEs mapping the page", {
        pfn,
        mapcount: m.mapcount[pfn],
        ptes: mapped,
      });
    }
    const expected = mapped + (census.entryRefs.get(pfn) ?? 0) + (cached.has(pfn) ? 1 : 0) +
      (m.flags[pfn] & PG_hwpoison ? 1 : 0) + (gup.get(pfn) ?? 0);
    if (m.refcount[pfn] !== expected) {
      throw new VmBugError("refcount", "refcount differs from mappings plus page cache", {
        pfn,
        refcount: m.refcount[pfn],
        expected,
      });
    }
    if (pageAnonExclusive(core, pfn) && folioTestAnon(core, pfn) && mapped > 1) {
      throw new VmBugError("anon exclusive", "exclusive anonymous page mapped more than once", {
        pfn,
        mapped,
      });
    }
  }
}

/** A large folio: entire mapcount and refcount from the huge PMDs; idle tails. */
function checkLargeFolio(core: MmCore, census: Census, head: number, cached: boolean): void {
  const m = core.memmap;
  const entire = census.entire.get(head) ?? 0;
  if (m.entireMapcount[head] !== entire) {
    throw new VmBugError("thp", "_entire_mapcount differs from the huge PMDs mapping the folio", {
      pfn: head,
      entireMapcount: m.entireMapcount[head],
      pmds: entire,
    });
  }
  // The page cache holds folio_nr_pages() references (filemap_add_folio()).
  const expected = entire + (cached ? m.folioNrPages(head) : 0);
  if (m.refcount[head] !== expected) {
    throw new VmBugError("refcount", "large folio refcount differs from its mappings", {
      pfn: head,
      refcount: m.refcount[head],
      expected,
    });
  }
  for (let k = 1; k < m.folioNrPages(head); k++) {
    const pfn = head + k;
    if (m.compoundHead[pfn] !== head || m.refcount[pfn] || m.mapcount[pfn]) {
      throw new VmBugError("thp", "tail page not idle or not pointing at its head", {
        pfn,
        head,
        refcount: m.refcount[pfn],
        mapcount: m.mapcount[pfn],
      });
    }
  }
  if (pageAnonExclusive(core, head) && folioTestAnon(core, head) && entire > 1) {
    throw new VmBugError("anon exclusive", "exclusive anonymous THP mapped more than once", {
      pfn: head,
      entire,
    });
  }
}
