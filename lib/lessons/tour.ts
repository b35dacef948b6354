/**
 * Lesson 00, "A tour" (notebooks/00_tour.ipynb): its two checked exercises
 * and the small helpers its cells use — the PTE that maps an address, the
 * state of the page behind it (PFN, mapcount, PageAnonExclusive, pagemap),
 * a GUP-style unshare fault, page-table memory for a touch pattern, and a
 * plain table that the notebook displays.
 *
 * Every answer here comes from the simulated kernel (lib/kernel), so the
 * lesson shows what the model computes, not numbers typed in by hand.
 * @module
 */
import { simulate } from "../kernel/kernel.ts";
import type { Kernel } from "../kernel/kernel.ts";
import type { Process } from "../kernel/process.ts";
import * as C from "../kernel/constants.ts";
import { ptePfn, ptePresent, pteSpecial, pteWrite } from "../arch/x86/pgtable.ts";
import {
  FAULT_FLAG_UNSHARE,
  FAULT_FLAG_USER,
  FAULT_FLAG_WRITE,
  handleMmFault,
} from "../mm/memory.ts";
import { folioTestAnon, pageAnonExclusive } from "../mm/rmap.ts";
import { decodePagemapEntry, type PagemapEntry } from "../proc/task_mmu.ts";
import { entryFlagNames } from "../pgtable/decode.ts";
import { pageFlagNames } from "../mm/memmap.ts";
import { defineExercise, type Exercise } from "../exercise/exercise.ts";
import { formatValue } from "../exercise/format.ts";
import { $display, type Displayable, type MediaBundle } from "../plot/display.ts";
import type { BitField } from "../plot/entry_bits.ts";

// --- tables ----------------------------------------------------------------------

/** One row of a {@linkcode Table}: column name → value. */
export type Row = Readonly<Record<string, unknown>>;

/** How a table cell shows a value: bigints in hex, booleans as yes/no, null as "—". */
export function cellText(value: unknown): string {
  if (value === null || value === undefined) return "—";
  if (typeof value === "boolean") return value ? "yes" : "no";
  if (typeof value === "bigint") return `0x${value.toString(16)}`;
  if (typeof value === "string") return value;
  if (typeof value === "number") return String(value);
  return formatValue(value);
}

const HTML_ENTITIES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;" };
const escapeHtml = (text: string) => text.replace(/[&<>]/g, (c) => HTML_ENTITIES[c]);

/** Rows shown as an HTML table in a notebook, with a plain-text form. */
export class Table implements Displayable {
  /** Column names: the keys of all rows, in first-seen order. */
  readonly columns: readonly string[];

  constructor(readonly rows: readonly Row[], readonly caption?: string) {
    if (!Array.isArray(rows)) {
      throw new TypeError(`table() needs an array of rows, got ${formatValue(rows)}`);
    }
    const columns = new Set<string>();
    for (const row of rows) for (const key of Object.keys(row)) columns.add(key);
    this.columns = [...columns];
  }

  /** The cells as text, row by row. */
  cells(): string[][] {
    return this.rows.map((row) => this.columns.map((c) => cellText(row[c])));
  }

  /** Aligned plain text, headed by the caption. */
  get text(): string {
    const cells = this.cells();
    const widths = this.columns.map((c, i) => Math.max(c.length, ...cells.map((r) => r[i].length)));
    const line = (r: readonly string[]) =>
      r.map((s, i) => s.padEnd(widths[i])).join("  ").trimEnd();
    const body = [line(this.columns), line(widths.map((w) => "-".repeat(w))), ...cells.map(line)];
    return (this.caption ? [this.caption, ...body] : body).join("\n");
  }

  /** An HTML table; numbers and hex values in monospace. */
  get html(): string {
    const head = this.columns.map((c) => `<th style="text-align:left">${escapeHtml(c)}</th>`);
    const rows = this.cells().map((r) =>
      `<tr>${
        r.map((s) => `<td style="text-align:left;font-family:monospace">${escapeHtml(s)}</td>`)
          .join("")
      }</tr>`
    );
    const caption = this.caption ? `<caption>${escapeHtml(this.caption)}</caption>` : "";
    return `<table>${caption}<thead><tr>${head.join("")}</tr></thead><tbody>${
      rows.join("")
    }</tbody></table>`;
  }

  [$display](): MediaBundle {
    return { "text/html": this.html, "text/plain": this.text };
  }

  [Symbol.for("Deno.customInspect")](): string {
    return this.text;
  }
}

/** A table the notebook displays; `caption` heads it. */
export function table(rows: readonly Row[], caption?: string): Table {
  return new Table(rows, caption);
}

// --- looking at one page -----------------------------------------------------------

/**
 * ptep_get(): the PTE that maps `addr` in `p`, read from the tables without
 * changing anything; 0n when no PTE table covers the address.
 */
export function ptepGet(k: Kernel, p: Process, addr: number): bigint {
  const last = k.walk(p, addr).levels.at(-1);
  return last !== undefined && last.level === "pte" ? last.entry : 0n;
}

/** The decoded pagemap fields the lesson talks about (and exercise (a) returns). */
export interface PagemapFields {
  /** PM_PRESENT, bit 63. */
  present: boolean;
  /** PM_MMAP_EXCLUSIVE, bit 56: the page is mapped by exactly one PTE. */
  exclusive: boolean;
  /** PM_FILE, bit 61: a file or shmem page (anything not anonymous). */
  file: boolean;
  /** PM_SOFT_DIRTY, bit 55. */
  softDirty: boolean;
  /** Bits 0-54 when present (0 for an unprivileged reader), else null. */
  pfn: number | null;
}

/**
 * Layout of a /proc/pid/pagemap entry (fs/proc/task_mmu.c), for
 * `entryBitsSvg`: bits 59-60 are unused.
 */
export const PAGEMAP_FIELDS: readonly BitField[] = [
  { name: "PFN", lo: 0, hi: 54, description: "PFN if present; swap type (bits 0-4) and offset" },
  { name: "SOFT_DIRTY", lo: 55, hi: 55, description: "PM_SOFT_DIRTY" },
  { name: "EXCLUSIVE", lo: 56, hi: 56, description: "PM_MMAP_EXCLUSIVE" },
  { name: "UFFD_WP", lo: 57, hi: 57, description: "PM_UFFD_WP" },
  { name: "GUARD", lo: 58, hi: 58, description: "PM_GUARD_REGION" },
  { name: "FILE", lo: 61, hi: 61, description: "PM_FILE: file page or shared anonymous" },
  { name: "SWAP", lo: 62, hi: 62, description: "PM_SWAP" },
  { name: "PRESENT", lo: 63, hi: 63, description: "PM_PRESENT" },
];

/** A pagemap entry as a table row: the raw value and the bits by their kernel names. */
export function pagemapRow(what: string, e: PagemapEntry): Row {
  return {
    what,
    raw: e.raw,
    PM_PRESENT: e.present,
    PM_MMAP_EXCLUSIVE: e.exclusive,
    PM_FILE: e.file,
    PM_SOFT_DIRTY: e.softDirty,
    PFN: e.pfn,
  };
}

/** The {@linkcode PagemapFields} of a raw pagemap value, as lib/proc decodes it. */
export function pagemapFields(raw: bigint): PagemapFields {
  const e = decodePagemapEntry(raw);
  return {
    present: e.present,
    exclusive: e.exclusive,
    file: e.file,
    softDirty: e.softDirty,
    pfn: e.pfn,
  };
}

/**
 * What `p` maps at `addr` and what the kernel knows about that page: the
 * PTE's PFN and write bit, what kind of page it is, the folio's mapcount
 * and refcount, the PageAnonExclusive flag (what GUP and do_wp_page()
 * trust) and pagemap's PM_MMAP_EXCLUSIVE (what user space sees). The
 * shared zero page is a special mapping without a struct page behind it,
 * so it has no counts.
 */
export function pageState(k: Kernel, p: Process, addr: number): Row {
  const pte = ptepGet(k, p, addr);
  const exclusive = p.pagemap(addr).exclusive;
  if (!ptePresent(pte)) {
    return {
      pfn: null,
      page: null,
      pte_write: null,
      mapcount: null,
      refcount: null,
      PageAnonExclusive: null,
      PM_MMAP_EXCLUSIVE: exclusive,
    };
  }
  const pfn = ptePfn(pte);
  const m = k.core.memmap;
  const normal = !pteSpecial(pte);
  const anon = normal && folioTestAnon(k.core, pfn);
  return {
    pfn,
    page: !normal ? (pfn === k.core.zeroPfn ? "zero page" : "special") : anon ? "anon" : "file",
    pte_write: pteWrite(pte),
    mapcount: normal ? m.mapcount[pfn] : null,
    refcount: normal ? m.refcount[pfn] : null,
    PageAnonExclusive: anon ? pageAnonExclusive(k.core, pfn) : null,
    PM_MMAP_EXCLUSIVE: exclusive,
  };
}

/**
 * The flags of the PTE that maps `addr` and of the folio at `pfn`, as
 * words: the PTE's dirty bit (set by the CPU) beside the folio's PG_dirty
 * (what writeback and reclaim look at). `pfn` is passed in because after a
 * zap no PTE leads to the folio any more.
 */
export function pteAndFolioFlags(k: Kernel, p: Process, addr: number, pfn: number): Row {
  return {
    "pte flags": entryFlagNames(ptepGet(k, p, addr)).join(" ") || "(pte_none)",
    "folio flags": pageFlagNames(k.core.memmap.flags[pfn]).join(" "),
  };
}

/** One row per process of {@linkcode pageState}, labelled with `step` and the process's name. */
export function pageRows(
  step: string,
  k: Kernel,
  procs: Readonly<Record<string, Process>>,
  addr: number,
): Row[] {
  return Object.entries(procs).map(([who, p]) => ({ step, who, ...pageState(k, p, addr) }));
}

/**
 * The fault half of faultin_page() (mm/gup.c): GUP found the PTE unusable
 * for its purpose and asks handle_mm_fault() to fix it, with
 * FAULT_FLAG_UNSHARE when a read-only pin needs an exclusive anonymous page
 * (gup_must_unshare() said so, and GUP returned -EMLINK internally), or
 * FAULT_FLAG_WRITE for a write pin. Returns the vm_fault_t (0 = handled).
 * The GUP walk itself is not modelled here.
 */
export function faultinPage(
  p: Process,
  addr: number,
  how: { unshare?: boolean; write?: boolean } = {},
): number {
  if (how.unshare && how.write) {
    throw new RangeError("faultinPage: a fault is either unshare or write, not both");
  }
  const mm = p.mm;
  mm.mmap_lock.downRead();
  try {
    const vma = mm.findVma(addr);
    if (!vma || vma.vm_start > addr) {
      throw new RangeError(`faultinPage: no VMA maps 0x${addr.toString(16)}`);
    }
    const flags = FAULT_FLAG_USER | (how.unshare ? FAULT_FLAG_UNSHARE : 0) |
      (how.write ? FAULT_FLAG_WRITE : 0);
    return handleMmFault(vma, addr, flags);
  } finally {
    mm.mmap_lock.upRead();
  }
}

// --- page-table memory ----------------------------------------------------------------

/** A 512 GiB-aligned address, so that every table level starts at index 0. */
const ALIGNED_BASE = 2 ** 39;

/**
 * mm_pgtables_bytes() (VmPTE in /proc/pid/status, in bytes) of a fresh
 * process after it writes `pages` pages, one every `stride` pages, from a
 * 512 GiB-aligned address. Runs its own simulated kernel.
 */
export function pgtablesBytes(pages: number, stride: number): number {
  for (const [name, v] of [["pages", pages], ["stride", stride]] as const) {
    if (!Number.isInteger(v) || v < 1 || v > 1 << 20) {
      throw new RangeError(`pgtablesBytes: ${name} must be an integer in 1..2^20, got ${v}`);
    }
  }
  const k = simulate();
  const p = k.spawn();
  const len = ((pages - 1) * stride + 1) * C.PAGE_SIZE;
  const a = p.mmap(
    ALIGNED_BASE,
    len,
    C.PROT_READ | C.PROT_WRITE,
    C.MAP_PRIVATE | C.MAP_ANONYMOUS | C.MAP_FIXED_NOREPLACE,
  );
  for (let i = 0; i < pages; i++) p.write(a + i * stride * C.PAGE_SIZE, 1);
  return p.mm.pgtables_bytes;
}

// --- exercise (a): decode a pagemap entry ---------------------------------------------

/** Raw pagemap values read from the simulator, one per situation the lesson shows. */
function pagemapSamples(): Record<string, bigint> {
  const k = simulate();
  const p = k.spawn();
  const rw = C.PROT_READ | C.PROT_WRITE;
  const a = p.mmap(0, 4 * C.PAGE_SIZE, rw, C.MAP_PRIVATE | C.MAP_ANONYMOUS);
  const untouched = p.pagemap(a).raw;
  p.read(a);
  const zero = p.pagemap(a).raw;
  p.write(a + C.PAGE_SIZE, 1);
  const exclusive = p.pagemap(a + C.PAGE_SIZE).raw;
  p.write(a + 2 * C.PAGE_SIZE, 1);
  const child = p.fork();
  const shared = child.pagemap(a + 2 * C.PAGE_SIZE).raw;
  const fd = p.memfdCreate("pagemap");
  p.ftruncate(fd, C.PAGE_SIZE);
  const s = p.mmap(0, C.PAGE_SIZE, rw, C.MAP_SHARED, fd, 0);
  p.write(s, 1);
  const shmem = p.pagemap(s).raw;
  const u = k.spawn({ capSysAdmin: false });
  const b = u.mmap(0, C.PAGE_SIZE, rw, C.MAP_PRIVATE | C.MAP_ANONYMOUS);
  u.write(b, 1);
  const unprivileged = u.pagemap(b).raw;
  k.check();
  return { untouched, zero, exclusive, shared, shmem, unprivileged };
}

const SAMPLES = pagemapSamples();

const PAGEMAP_CASES: readonly { name: string; input: bigint; hidden?: boolean }[] = [
  { name: "mapped, never touched (VM_SOFTDIRTY)", input: SAMPLES.untouched },
  { name: "after a read: the zero page", input: SAMPLES.zero },
  { name: "after a write: an exclusive anonymous page", input: SAMPLES.exclusive },
  { name: "anonymous page shared with a child", input: SAMPLES.shared },
  { name: "shmem page in a MAP_SHARED mapping", input: SAMPLES.shmem, hidden: true },
  { name: "reader without CAP_SYS_ADMIN: PFN 0", input: SAMPLES.unprivileged, hidden: true },
  { name: "outside any VMA", input: 0n, hidden: true },
  {
    name: "PFN above 2^32",
    input: C.PM_PRESENT | C.PM_FILE | C.PM_MMAP_EXCLUSIVE | 0x12_3456_789an,
    hidden: true,
  },
  {
    name: "the uffd-wp bit is not asked for",
    input: C.PM_PRESENT | C.PM_UFFD_WP | C.PM_SOFT_DIRTY | 0x4321n,
    hidden: true,
  },
  {
    name: "swapped out: bits 0-54 hold type and offset, not a PFN",
    input: C.PM_SWAP | C.PM_SOFT_DIRTY | (0x777n << BigInt(C.MAX_SWAPFILES_SHIFT)) | 3n,
    hidden: true,
  },
  { name: "guard region", input: C.PM_GUARD_REGION, hidden: true },
];

/**
 * Exercise (a): decode a raw /proc/pid/pagemap value into
 * {@linkcode PagemapFields} (fs/proc/task_mmu.c, Documentation/admin-guide/mm/pagemap.rst).
 */
export const decodePagemapExercise: Exercise<bigint, PagemapFields> = defineExercise({
  id: "tour-decode-pagemap",
  title: "decodePagemap(raw): the PM_* bits and the PFN of a pagemap entry",
  cases: PAGEMAP_CASES.map((c) => ({ ...c, expected: pagemapFields(c.input) })),
});

// --- exercise (b): which pages are exclusive after fork() ------------------------------

/** What the parent did to a page before fork(). */
export type PageUse = "none" | "read" | "write";

/** One write after fork(): who writes, and to which page (0-based). */
export interface ForkWrite {
  by: "parent" | "child";
  page: number;
}

/**
 * A parent maps `before.length` private anonymous pages, uses each as
 * `before` says, forks, and then the writes happen in order.
 */
export interface ForkScenario {
  before: readonly PageUse[];
  writes: readonly ForkWrite[];
}

/** PM_MMAP_EXCLUSIVE of each page in the parent and in the child, at the end. */
export interface ExclusiveFlags {
  parent: boolean[];
  child: boolean[];
}

const MAX_SCENARIO_PAGES = 16;

function checkScenario(s: ForkScenario): void {
  if (typeof s !== "object" || s === null || !Array.isArray(s.before)) {
    throw new TypeError(`a fork scenario needs a before array, got ${formatValue(s)}`);
  }
  const n = s.before.length;
  if (n < 1 || n > MAX_SCENARIO_PAGES) {
    throw new RangeError(`a fork scenario has 1..${MAX_SCENARIO_PAGES} pages, got ${n}`);
  }
  for (const use of s.before) {
    if (use !== "none" && use !== "read" && use !== "write") {
      throw new RangeError(`page use must be "none", "read" or "write", got ${formatValue(use)}`);
    }
  }
  if (!Array.isArray(s.writes)) {
    throw new TypeError(`a fork scenario needs a writes array, got ${formatValue(s.writes)}`);
  }
  for (const w of s.writes) {
    const okBy = w?.by === "parent" || w?.by === "child";
    if (!okBy || !Number.isInteger(w.page) || w.page < 0 || w.page >= n) {
      throw new RangeError(`bad write ${formatValue(w)}: by "parent" or "child", page 0..${n - 1}`);
    }
  }
}

/**
 * Runs `s` on a fresh simulated kernel and reads PM_MMAP_EXCLUSIVE of every
 * page in both processes: the simulator's answer to exercise (b). Checks
 * the kernel's invariants before reading.
 */
export function forkScenario(s: ForkScenario): ExclusiveFlags {
  checkScenario(s);
  const k = simulate();
  const parent = k.spawn();
  const n = s.before.length;
  const a = parent.mmap(
    0,
    n * C.PAGE_SIZE,
    C.PROT_READ | C.PROT_WRITE,
    C.MAP_PRIVATE | C.MAP_ANONYMOUS,
  );
  s.before.forEach((use, i) => {
    if (use === "read") parent.read(a + i * C.PAGE_SIZE);
    if (use === "write") parent.write(a + i * C.PAGE_SIZE, 0x11);
  });
  const child = parent.fork();
  for (const w of s.writes) {
    (w.by === "parent" ? parent : child).write(a + w.page * C.PAGE_SIZE, 0x22);
  }
  k.check();
  const flags = (p: Process) => s.before.map((_, i) => p.pagemap(a + i * C.PAGE_SIZE).exclusive);
  return { parent: flags(parent), child: flags(child) };
}

/** Short forms for the result table: `before [write read]; parent writes 0`. */
function formatForkValue(value: unknown): string {
  const v = value as Partial<ForkScenario & ExclusiveFlags>;
  if (Array.isArray(v?.before) && Array.isArray(v?.writes)) {
    const writes = v.writes.map((w) => `${w.by} writes ${w.page}`).join(", ");
    return `before [${v.before.join(" ")}]; ${writes || "no writes"}`;
  }
  if (Array.isArray(v?.parent) && Array.isArray(v?.child)) {
    const bits = (flags: readonly unknown[]) =>
      flags.map((f) => (f === true ? "x" : f === false ? "." : formatValue(f))).join(" ");
    return `parent [${bits(v.parent)}] child [${bits(v.child)}]`;
  }
  return formatValue(value);
}

const W = (by: "parent" | "child", page: number): ForkWrite => ({ by, page });

const FORK_CASES: readonly { name: string; input: ForkScenario; hidden?: boolean }[] = [
  { name: "written before fork, no writes after", input: { before: ["write"], writes: [] } },
  { name: "the parent writes", input: { before: ["write"], writes: [W("parent", 0)] } },
  { name: "the child writes", input: { before: ["write"], writes: [W("child", 0)] } },
  {
    name: "two pages, the parent writes one",
    input: { before: ["write", "write"], writes: [W("parent", 0)] },
  },
  {
    name: "both write the same page",
    input: { before: ["write"], writes: [W("parent", 0), W("child", 0)] },
    hidden: true,
  },
  {
    name: "the parent writes twice",
    input: { before: ["write"], writes: [W("parent", 0), W("parent", 0)] },
    hidden: true,
  },
  {
    name: "a page only read before fork",
    input: { before: ["read", "read"], writes: [W("child", 1)] },
    hidden: true,
  },
  {
    name: "a page never touched before fork",
    input: { before: ["none", "none"], writes: [W("parent", 0)] },
    hidden: true,
  },
  {
    name: "mixed pages",
    input: {
      before: ["write", "read", "none", "write"],
      writes: [W("parent", 1), W("child", 2), W("child", 3), W("child", 3)],
    },
    hidden: true,
  },
  {
    name: "nothing written at all",
    input: { before: ["none", "read", "write"], writes: [] },
    hidden: true,
  },
  {
    name: "child then parent on every page",
    input: {
      before: ["write", "write", "write"],
      writes: [W("child", 0), W("parent", 0), W("child", 1), W("parent", 2)],
    },
    hidden: true,
  },
];

/**
 * Exercise (b): predict PM_MMAP_EXCLUSIVE of each page in parent and child
 * after fork() and a sequence of writes. The expected answers are the
 * simulator's ({@linkcode forkScenario}).
 */
export const forkExclusiveExercise: Exercise<ForkScenario, ExclusiveFlags> = defineExercise({
  id: "tour-fork-exclusive",
  title: "predictExclusive(scenario): PM_MMAP_EXCLUSIVE in parent and child after fork()",
  cases: FORK_CASES.map((c) => ({ ...c, expected: forkScenario(c.input) })),
  format: formatForkValue,
});
