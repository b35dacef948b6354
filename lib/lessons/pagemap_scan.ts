/**
 * Lesson 07, "PAGEMAP_SCAN" (notebooks/07_pagemap_scan.ipynb): the helpers
 * its cells use — category names, a WP_ASYNC-tracked region, region
 * tables, a garbage collector's dirty-tracking rounds that run on the model
 * or on the host kernel, the kernel's rule for a written THP under
 * PM_SCAN_WP_MATCHING, and a child process that runs the live parts — and
 * its three checked exercises.
 * @module
 */
import { liveChildUnavailable } from "../live/differential.ts";
import { simulate } from "../kernel/kernel.ts";
import type { Kernel, SimulateOptions } from "../kernel/kernel.ts";
import type { Process } from "../kernel/process.ts";
import * as C from "../kernel/constants.ts";
import type { PagemapScanResult, PageRegion, PmScanArg } from "../proc/task_mmu.ts";
import type { Userfaultfd } from "../userfaultfd/userfaultfd.ts";
import { defineExercise, type Exercise } from "../exercise/exercise.ts";
import type { Row } from "./tour.ts";
import { Plot, plot } from "../plot/plot.ts";
import type { Figure } from "../plot/figure.ts";

const P = C.PAGE_SIZE;
const RW = C.PROT_READ | C.PROT_WRITE;
const ANON = C.MAP_PRIVATE | C.MAP_ANONYMOUS;

/** The PAGE_IS_* names of a category mask, without the prefix: "WRITTEN|PRESENT". */
export function categoryNames(categories: number): string {
  const names = C.PAGE_IS_NAMES.filter(([, bit]) => categories & bit).map(([n]) => n.slice(8));
  return names.length ? names.join("|") : "—";
}

/** Regions as table rows: pages relative to `base`, and category names. */
export function regionRows(regions: readonly PageRegion[], base: number): Row[] {
  return regions.map((r) => ({
    pages: `${(r.start - base) / P}–${(r.end - base) / P - 1}`,
    count: (r.end - r.start) / P,
    categories: categoryNames(r.categories),
  }));
}

/** A scan result with walk_end as a page number relative to `base`. */
export function scanRow(r: PagemapScanResult, base: number): Row {
  return {
    regions: r.regions.map((x) => `${(x.start - base) / P}–${(x.end - base) / P - 1}`).join(", ") ||
      "none",
    walkEnd: (r.walkEnd - base) / P,
  };
}

/** A simulated process with `pages` anonymous pages tracked by a WP_ASYNC userfaultfd. */
export interface Tracked {
  k: Kernel;
  p: Process;
  uffd: Userfaultfd;
  /** The region's first address. */
  a: number;
  pages: number;
}

/**
 * pagemap_ioctl.c's set-up: mmap, UFFDIO_API with WP_ASYNC and
 * WP_UNPOPULATED, UFFDIO_REGISTER_MODE_WP, then UFFDIO_WRITEPROTECT of the
 * whole region: every page starts "not written".
 */
export function trackedRegion(pages: number, opts: SimulateOptions = {}): Tracked {
  const k = simulate(opts);
  const p = k.spawn({ comm: "gc" });
  const a = p.mmap(0, pages * P, RW, ANON);
  const uffd = p.userfaultfd(C.O_CLOEXEC | C.O_NONBLOCK | C.UFFD_USER_MODE_ONLY);
  uffd.api({ api: C.UFFD_API, features: C.UFFD_FEATURE_WP_ASYNC | C.UFFD_FEATURE_WP_UNPOPULATED });
  uffd.register({ range: { start: a, len: pages * P }, mode: C.UFFDIO_REGISTER_MODE_WP });
  uffd.writeprotect({ range: { start: a, len: pages * P }, mode: C.UFFDIO_WRITEPROTECT_MODE_WP });
  return { k, p, uffd, a, pages };
}

// --- a garbage collector's write barrier, by PAGEMAP_SCAN ----------------------------

/** What the dirty-tracking rounds need from a process: the simulator's or the live one. */
export interface ScanProcess {
  mmap(addr: number, length: number, prot: number, flags: number): number;
  munmap(addr: number, length: number): number;
  madvise(addr: number, length: number, advice: number): number;
  write(addr: number, data: number): void;
  pagemapScan(arg: PmScanArg): PagemapScanResult;
  userfaultfd(flags?: number): {
    api(a: { api: number; features?: number }): unknown;
    register(a: { range: { start: number; len: number }; mode: number }): unknown;
    writeprotect(a: { range: { start: number; len: number }; mode?: number }): number;
    close(): number;
  };
}

/** One round of {@link gcRounds}: what the mutator wrote, what the collector found. */
export interface GcRound {
  round: number;
  /** Pages the mutator wrote, relative to the heap's start. */
  written: number[];
  /** Pages PAGEMAP_SCAN reported written (and write-protected again). */
  dirty: number[];
  /** page_regions the scan returned. */
  regions: number;
}

/**
 * The mutator pages of each round of the lesson's collector: a few hot
 * pages every round, a sweep over a quarter of the heap, one far page.
 */
export function mutatorPages(heapPages: number, round: number): number[] {
  const hot = [1, 2, 3];
  const sweep = Array.from({ length: heapPages / 4 }, (_, i) => (round * 5 + i) % heapPages);
  return [...new Set([...hot, ...sweep, heapPages - 1 - round])].sort((x, y) => x - y);
}

/**
 * A concurrent GC's (or CRIU's pre-dump's) use of WP_ASYNC: arm the heap
 * once (register for WP, UFFDIO_WRITEPROTECT), then per round let the
 * mutator write, and collect the written pages with one PAGEMAP_SCAN that
 * both reports them (category_mask PAGE_IS_WRITTEN) and write-protects
 * them again (PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC), so that the
 * next round sees only new writes. Runs on the simulator or the live kernel.
 */
export function gcRounds(p: ScanProcess, heapPages: number, rounds: number): GcRound[] {
  const heap = p.mmap(0, heapPages * P, RW, ANON);
  const uffd = p.userfaultfd(C.O_CLOEXEC | C.O_NONBLOCK | C.UFFD_USER_MODE_ONLY);
  const out: GcRound[] = [];
  try {
    uffd.api({
      api: C.UFFD_API,
      features: C.UFFD_FEATURE_WP_ASYNC | C.UFFD_FEATURE_WP_UNPOPULATED,
    });
    uffd.register({ range: { start: heap, len: heapPages * P }, mode: C.UFFDIO_REGISTER_MODE_WP });
    uffd.writeprotect({
      range: { start: heap, len: heapPages * P },
      mode: C.UFFDIO_WRITEPROTECT_MODE_WP,
    });
    for (let round = 1; round <= rounds; round++) {
      const written = mutatorPages(heapPages, round);
      for (const pg of written) p.write(heap + pg * P + 8, round);
      const r = p.pagemapScan({
        start: heap,
        end: heap + heapPages * P,
        vecLen: heapPages,
        flags: C.PM_SCAN_WP_MATCHING | C.PM_SCAN_CHECK_WPASYNC,
        categoryMask: C.PAGE_IS_WRITTEN,
        returnMask: C.PAGE_IS_WRITTEN,
      });
      const dirty = r.regions.flatMap((x) =>
        Array.from({ length: (x.end - x.start) / P }, (_, i) => (x.start - heap) / P + i)
      );
      out.push({ round, written, dirty, regions: r.regions.length });
    }
  } finally {
    uffd.close();
    p.munmap(heap, heapPages * P);
  }
  return out;
}

// --- the THP rule: the GetWriteWatch contract ----------------------------------------

/** A PMD-mapped THP that matches the scan and is written, under PM_SCAN_WP_MATCHING. */
export interface ThpWpInput {
  /** First and end page of the scan's range inside the THP (0..512). */
  from: number;
  to: number;
  /** Pages max_pages still allows (null: no limit). */
  maxPagesLeft: number | null;
  /** Whether the page_region array is already full (no room for a new region). */
  vecFull: boolean;
}

/** What the kernel does with that THP. */
export interface ThpWpResult {
  /** split_huge_pmd() ran. */
  split: boolean;
  /** Pages reported and write-protected. */
  wpPages: number;
}

/**
 * pagemap_scan_thp_entry() (fs/proc/task_mmu.c, v6.18), reduced to its
 * decision: pagemap_scan_output() may cut the THP's range short (max_pages,
 * or a full array: nothing reported); if what is reported is not the whole
 * huge page the PMD is split and the pages are walked as PTEs, so that
 * exactly the reported pages are write-protected; otherwise the whole PMD
 * is write-protected by make_uffd_wp_pmd(). The model's walk does the same
 * (pagemapScanThpEntry() in lib/proc/task_mmu.ts); {@link thpCase} runs it.
 */
export function thpWriteProtect(input: ThpWpInput): ThpWpResult {
  const { from, to, maxPagesLeft, vecFull } = input;
  if (vecFull || maxPagesLeft === 0) return { split: false, wpPages: 0 };
  const reported = Math.min(to - from, maxPagesLeft ?? Infinity);
  if (from === 0 && reported === C.HPAGE_PMD_NR) return { split: false, wpPages: reported };
  return { split: true, wpPages: reported };
}

/** Regions of [a, a + 2 MiB) as [first page, end page, category names]. */
function thpRows(
  p: ScanProcess,
  a: number,
  arg: Partial<PmScanArg> = {},
): [number, number, string][] {
  return p.pagemapScan({
    start: a,
    end: a + C.PMD_SIZE,
    vecLen: 512,
    categoryAnyofMask: C.PAGE_IS_PRESENT,
    returnMask: C.PAGE_IS_HUGE | C.PAGE_IS_WRITTEN | C.PAGE_IS_PRESENT,
    ...arg,
  }).regions.map((r) => [(r.start - a) / P, (r.end - a) / P, categoryNames(r.categories)]);
}

/**
 * One written PMD THP in a VMA registered for WP_ASYNC (registered first,
 * then faulted in, so it is written and not protected), scanned with
 * PM_SCAN_WP_MATCHING and `maxPages` (0: no limit); then one more write, to
 * its last page. Runs on the simulator or the live kernel; a string says
 * why there was no THP to scan.
 */
export function thpCase(p: ScanProcess, maxPages: number): LiveThpCase | string {
  const hp = C.PMD_SIZE;
  const raw = p.mmap(0, 2 * hp, RW, ANON);
  const a = Math.ceil(raw / hp) * hp;
  const uffd = p.userfaultfd(C.O_CLOEXEC | C.O_NONBLOCK | C.UFFD_USER_MODE_ONLY);
  try {
    uffd.api({
      api: C.UFFD_API,
      features: C.UFFD_FEATURE_WP_ASYNC | C.UFFD_FEATURE_WP_UNPOPULATED,
    });
    p.madvise(a, hp, C.MADV_HUGEPAGE);
    uffd.register({ range: { start: a, len: hp }, mode: C.UFFDIO_REGISTER_MODE_WP });
    p.write(a, 1); // one fault: a PMD THP where THP is enabled
    const before = thpRows(p, a);
    if (!(before.length === 1 && before[0][2].includes("HUGE"))) {
      return `no PMD THP after the first write (scan: ${JSON.stringify(before)})`;
    }
    const scan = thpRows(p, a, {
      flags: C.PM_SCAN_WP_MATCHING,
      maxPages,
      categoryMask: C.PAGE_IS_WRITTEN,
      categoryAnyofMask: 0,
    });
    const after = thpRows(p, a);
    p.write(a + hp - 1, 2);
    return { maxPages, before, scan, after, afterWrite: thpRows(p, a) };
  } finally {
    uffd.close();
    p.munmap(raw, 2 * hp);
  }
}

/** {@link thpCase} with max_pages 10 and without a limit. */
export function thpCases(p: ScanProcess): LiveThp {
  const cases: LiveThpCase[] = [];
  for (const maxPages of [10, 0]) {
    const c = thpCase(p, maxPages);
    if (typeof c === "string") return { ran: false, reason: c };
    cases.push(c);
  }
  return { ran: true, cases };
}

// --- exercise (a): which regions come back -------------------------------------------

/** The masks of a scan (pm_scan_arg's category fields). */
export interface ScanMasks {
  categoryInverted: number;
  categoryMask: number;
  categoryAnyofMask: number;
  returnMask: number;
}

/** Exercise (a)'s input: each page's categories, in address order, and the masks. */
export interface SelectInput {
  pages: number[];
  masks: ScanMasks;
}

/**
 * pagemap_scan_is_interesting_page() and pagemap_scan_push_range() over a
 * run of pages: [first page, end page, categories & return_mask] of each
 * region, adjacent pages with equal reported categories merged.
 */
export function selectRegions({ pages, masks }: SelectInput): [number, number, number][] {
  const out: [number, number, number][] = [];
  pages.forEach((cats, i) => {
    const c = cats ^ masks.categoryInverted;
    if ((c & masks.categoryMask) !== masks.categoryMask) return;
    if (masks.categoryAnyofMask && !(c & masks.categoryAnyofMask)) return;
    const reported = cats & masks.returnMask;
    const last = out.at(-1);
    if (last && last[1] === i && last[2] === reported) last[1] = i + 1;
    else out.push([i, i + 1, reported]);
  });
  return out;
}

const W = C.PAGE_IS_WRITTEN, PR = C.PAGE_IS_PRESENT, SW = C.PAGE_IS_SWAPPED;
const A = C.PAGE_IS_WPALLOWED, F = C.PAGE_IS_FILE, Z = C.PAGE_IS_PFNZERO;
const masks = (m: Partial<ScanMasks>): ScanMasks => ({
  categoryInverted: 0,
  categoryMask: 0,
  categoryAnyofMask: 0,
  returnMask: C.PM_SCAN_CATEGORIES,
  ...m,
});
const SELECT_CASES: { name: string; input: SelectInput; hidden?: boolean }[] = [
  {
    name: "written pages, as a dirty tracker asks",
    input: {
      pages: [A | PR, A | PR | W, A | PR | W, A | SW, A | W],
      masks: masks({ categoryMask: W, returnMask: W }),
    },
  },
  {
    name: "present or swapped, reporting everything",
    input: {
      pages: [PR | W, PR | W | Z, W, SW | W, PR | W],
      masks: masks({ categoryAnyofMask: PR | SW }),
    },
  },
  {
    name: "not written (inverted), reporting nothing",
    input: {
      pages: [A | PR, A | PR | W, A | PR, A | SW],
      masks: masks({ categoryInverted: W, categoryMask: W, returnMask: 0 }),
    },
  },
  {
    name: "present and anonymous: inverted FILE",
    input: {
      pages: [PR | W | F, PR | W, PR | W, W, PR | W | F],
      masks: masks({ categoryInverted: F, categoryMask: PR | F, returnMask: PR | F }),
    },
    hidden: true,
  },
  {
    name: "return mask merges regions",
    input: {
      pages: [PR | W, PR | W | Z, PR | W, PR],
      masks: masks({ categoryMask: PR, returnMask: PR }),
    },
    hidden: true,
  },
  {
    name: "mask and any-of together",
    input: {
      pages: [A | W, A | PR | W, A | SW | W, A | PR, A | SW],
      masks: masks({ categoryMask: A | W, categoryAnyofMask: PR | SW, returnMask: PR | SW }),
    },
    hidden: true,
  },
];

/** Exercise (a): the regions PAGEMAP_SCAN returns for given page categories and masks. */
export const selectRegionsExercise: Exercise<SelectInput, [number, number, number][]> =
  defineExercise({
    id: "pagemap-scan-select",
    title: "selectRegions({ pages, masks }): [first, end, categories] of each page_region",
    cases: SELECT_CASES.map((c) => ({ ...c, expected: selectRegions(c.input) })),
  });

// --- exercise (b): max_pages, vec_len and walk_end -----------------------------------

/** Exercise (b)'s input: a tracked region, the pages written, and the scan's limits. */
export interface LimitInput {
  pages: number;
  written: number[];
  vecLen: number;
  maxPages: number;
}

/** What exercise (b) predicts: the regions (page numbers) and walk_end (a page number). */
export interface LimitResult {
  regions: [number, number][];
  walkEnd: number;
}

/** The simulator's answer to exercise (b): a PAGE_IS_WRITTEN scan of the tracked region. */
export function simulateLimits(input: LimitInput): LimitResult {
  const t = trackedRegion(input.pages);
  for (const pg of input.written) t.p.write(t.a + pg * P, 1);
  const r = t.p.pagemapScan({
    start: t.a,
    end: t.a + input.pages * P,
    vecLen: input.vecLen,
    maxPages: input.maxPages,
    categoryMask: C.PAGE_IS_WRITTEN,
    returnMask: C.PAGE_IS_WRITTEN,
  });
  return {
    regions: r.regions.map((x) => [(x.start - t.a) / P, (x.end - t.a) / P]),
    walkEnd: (r.walkEnd - t.a) / P,
  };
}

const LIMIT_INPUTS: { name: string; input: LimitInput; hidden?: boolean }[] = [
  { name: "no limits", input: { pages: 16, written: [2, 3, 4, 9], vecLen: 16, maxPages: 0 } },
  {
    name: "max_pages cuts a region",
    input: { pages: 16, written: [2, 3, 4, 9], vecLen: 16, maxPages: 2 },
  },
  {
    name: "vec_len 1: the array fills",
    input: { pages: 16, written: [2, 3, 4, 9], vecLen: 1, maxPages: 0 },
  },
  {
    name: "max_pages exactly reached",
    input: { pages: 16, written: [2, 3, 4, 9], vecLen: 16, maxPages: 3 },
    hidden: true,
  },
  {
    name: "max_pages reached on the last page",
    input: { pages: 16, written: [0, 15], vecLen: 4, maxPages: 2 },
    hidden: true,
  },
  {
    name: "nothing written",
    input: { pages: 8, written: [], vecLen: 1, maxPages: 1 },
    hidden: true,
  },
  {
    name: "sparse, vec_len 2 and max_pages 5",
    input: { pages: 20, written: [1, 3, 5, 7, 9, 11], vecLen: 2, maxPages: 5 },
    hidden: true,
  },
];

/** Exercise (b): regions and walk_end under max_pages and vec_len. */
export const limitsExercise: Exercise<LimitInput, LimitResult> = defineExercise({
  id: "pagemap-scan-limits",
  title: "predictScan({ pages, written, vecLen, maxPages }): regions and walk_end",
  cases: LIMIT_INPUTS.map((c) => ({ ...c, expected: simulateLimits(c.input) })),
});

// --- exercise (c): the written THP -----------------------------------------------------

const THP_INPUTS: { name: string; input: ThpWpInput; hidden?: boolean }[] = [
  {
    name: "the whole THP, no limit",
    input: { from: 0, to: 512, maxPagesLeft: null, vecFull: false },
  },
  {
    name: "max_pages 10 (GetWriteWatch asks for 10)",
    input: { from: 0, to: 512, maxPagesLeft: 10, vecFull: false },
  },
  {
    name: "a range over half of it",
    input: { from: 256, to: 512, maxPagesLeft: null, vecFull: false },
  },
  {
    name: "the array is full",
    input: { from: 0, to: 512, maxPagesLeft: null, vecFull: true },
    hidden: true,
  },
  {
    name: "max_pages exactly 512",
    input: { from: 0, to: 512, maxPagesLeft: 512, vecFull: false },
    hidden: true,
  },
  {
    name: "max_pages 600, range over the first 100 pages",
    input: { from: 0, to: 100, maxPagesLeft: 600, vecFull: false },
    hidden: true,
  },
  {
    name: "max_pages used up",
    input: { from: 0, to: 512, maxPagesLeft: 0, vecFull: false },
    hidden: true,
  },
];

/** Exercise (c): split or not, and how many pages are write-protected. */
export const thpExercise: Exercise<ThpWpInput, ThpWpResult> = defineExercise({
  id: "pagemap-scan-thp",
  title: "thpDecision({ from, to, maxPagesLeft, vecFull }): split, and pages write-protected",
  cases: THP_INPUTS.map((c) => ({ ...c, expected: thpWriteProtect(c.input) })),
});

// --- the live parts, in a child process -------------------------------------------------

/** What the child found on the host: the GC rounds and the THP experiment. */
export interface LiveLessonResult {
  kernel: string;
  gc: GcRound[];
  thp: LiveThp;
}

/** One THP case of the live experiment: regions as [first page, end page, categories]. */
export interface LiveThpCase {
  /** The scan's max_pages (0: no limit). */
  maxPages: number;
  /** After UFFDIO_REGISTER (WP_ASYNC) and the first write, before the scan. */
  before: [number, number, string][];
  /** What PAGEMAP_SCAN with PM_SCAN_WP_MATCHING returned. */
  scan: [number, number, string][];
  after: [number, number, string][];
  /** After one more write, to the THP's last page. */
  afterWrite: [number, number, string][];
}

/** The THP experiment on the host: a written PMD THP scanned with and without max_pages. */
export type LiveThp = { ran: true; cases: LiveThpCase[] } | { ran: false; reason: string };

const CHILD = new URL("./_pagemap_scan_live.ts", import.meta.url);

/**
 * Run the live parts of the lesson in a child Deno with only --allow-ffi
 * (it calls libc, reads /proc/self through it) and --allow-read (THP
 * settings). Returns the child's findings, or why it could not run.
 */
export async function runLiveLesson(): Promise<
  { ok: true; result: LiveLessonResult } | { ok: false; reason: string }
> {
  const why = liveChildUnavailable();
  if (why !== null) return { ok: false, reason: why };
  try {
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-ffi",
        "--allow-read",
        "--allow-sys=osRelease",
        "--no-prompt",
        CHILD.href,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stdout).trim();
    if (!out.success) {
      const err = new TextDecoder().decode(out.stderr).trim().split("\n").slice(-3).join(" ");
      return {
        ok: false,
        reason: `the child ${out.signal ? `died by ${out.signal}` : `exited ${out.code}`}: ${err}`,
      };
    }
    return { ok: true, result: JSON.parse(text) as LiveLessonResult };
  } catch (e) {
    return { ok: false, reason: `could not start a child Deno: ${(e as Error).message}` };
  }
}

// --- a picture: one cell per page --------------------------------------------------------

/** One page's state for {@link pageStripPlot}: its number and its categories' names. */
export interface PageCell {
  /** Which picture row the cell belongs to (a moment, say "after the writes"). */
  when: string;
  page: number;
  state: string;
}

/**
 * The categories of each of `pages` pages from `start`, one PAGEMAP_SCAN
 * per page, labelled `when` (a moment of the lesson).
 */
export function pageCells(p: ScanProcess, start: number, pages: number, when: string): PageCell[] {
  return Array.from({ length: pages }, (_, page) => {
    const r = p.pagemapScan({
      start: start + page * P,
      end: start + (page + 1) * P,
      vecLen: 1,
      returnMask: C.PAGE_IS_WRITTEN | C.PAGE_IS_PRESENT | C.PAGE_IS_SWAPPED,
    });
    return { when, page, state: categoryNames(r.regions[0]?.categories ?? 0) };
  });
}

/** A strip of page cells per moment, coloured by state (Observable Plot's cell mark). */
export function pageStripPlot(cells: readonly PageCell[], title?: string): Figure {
  return plot({
    title,
    height: 60 + 40 * new Set(cells.map((c) => c.when)).size,
    marginLeft: 110,
    x: { label: "page", tickSize: 0 },
    y: { label: null, domain: [...new Set(cells.map((c) => c.when))] },
    color: { legend: true, label: "categories (WRITTEN, PRESENT, SWAPPED)" },
    marks: [Plot.cell(cells, { x: "page", y: "when", fill: "state", inset: 1 })],
  });
}
