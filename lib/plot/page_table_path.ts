/**
 * The path of one virtual address through the page tables.
 *
 * The picture follows the kernel's walk (`pgd_offset()`, `p4d_offset()`,
 * `pud_offset()`, `pmd_offset()`, `pte_offset_map()` in
 * include/linux/pgtable.h, v6.18): the address split into one index per level
 * plus the page offset, then one box per table visited with the entry used,
 * an arrow to the next table, and the physical frame reached, or the level at
 * which the walk found no present entry.
 *
 * The simulator produces {@linkcode PageTablePath} values; this module only
 * draws them, so it can also draw a path recorded from a live kernel.
 *
 * @module
 */
import { arrow, charWidth, el, hex, svgRoot, text } from "./_svg.ts";
import { Figure } from "./figure.ts";

/** A page-table level, named as in the kernel. */
export type PageTableLevel = "pgd" | "p4d" | "pud" | "pmd" | "pte";

/** One step of a walk: the table visited and the entry read from it. */
export interface WalkLevel {
  /** Which level this table is. */
  level: PageTableLevel;
  /** Index of the entry in the table (`pgd_index(addr)`, …). */
  index: number;
  /** Page frame number of the table page itself. */
  tablePfn: number;
  /** The raw entry read (pgd_val(), pte_val(), …). */
  entry: bigint;
  /** Whether the entry is present (`pte_present()`, …). */
  present: boolean;
  /** Whether the entry maps a page itself (a huge leaf, or any pte). */
  leaf: boolean;
  /** Names of the flags set in the entry, e.g. `["present", "rw", "dirty"]`. */
  flags: string[];
}

/** The walk of one virtual address. */
export interface PageTablePath {
  /** The virtual address walked. */
  addr: number;
  /** The tables visited, top level first; the last one is the leaf or the
   * one whose entry was not present. */
  levels: WalkLevel[];
  /** Offset of `addr` inside the page mapped by the leaf. */
  pageOffset: number;
  /** Frame mapped by the leaf, or null when the walk stopped early. */
  pfn: number | null;
}

/** Where one level's index sits in a virtual address. */
export interface LevelGeometry {
  level: PageTableLevel;
  /** Bit position of the index (`PGDIR_SHIFT`, `PUD_SHIFT`, …). */
  shift: number;
  /** Number of index bits: log2 of `PTRS_PER_*`; 0 for a folded level. */
  bits: number;
}

/** How an architecture splits a virtual address among its tables. */
export interface PageTableGeometry {
  /** Shown in the heading, e.g. "x86-64 4-level". */
  name: string;
  /** Width of a virtual address (bits above it are a sign extension). */
  vaBits: number;
  /** `PAGE_SHIFT`. */
  pageShift: number;
  /** Levels from the top (pgd) down to the pte. */
  levels: readonly LevelGeometry[];
}

/**
 * x86-64 with 4-level paging: models arch/x86/include/asm/pgtable_64_types.h
 * (v6.18) without CONFIG_X86_5LEVEL in use: PGDIR_SHIFT 39, P4D_SHIFT 39
 * with PTRS_PER_P4D 1 (the p4d level is folded into the pgd), PUD_SHIFT 30,
 * PMD_SHIFT 21, PAGE_SHIFT 12, 512 entries per table.
 */
export const X86_64_4LEVEL: PageTableGeometry = {
  name: "x86-64 4-level",
  vaBits: 48,
  pageShift: 12,
  levels: [
    { level: "pgd", shift: 39, bits: 9 },
    { level: "p4d", shift: 39, bits: 0 },
    { level: "pud", shift: 30, bits: 9 },
    { level: "pmd", shift: 21, bits: 9 },
    { level: "pte", shift: 12, bits: 9 },
  ],
};

/** Options for {@linkcode pageTablePathSvg}. */
export interface PageTablePathOptions {
  /** How the address splits into indexes; defaults to {@linkcode X86_64_4LEVEL}. */
  geometry?: PageTableGeometry;
  /** Heading of the diagram. */
  title?: string;
}

/** The colour of each level, shared with lib/geometry's diagrams. */
export const LEVEL_COLORS: Record<PageTableLevel, string> = {
  pgd: "#4e79a7",
  p4d: "#9c755f",
  pud: "#59a14f",
  pmd: "#b07aa1",
  pte: "#f28e2b",
};
const OFFSET_COLOR = "#bab0ac";
const ABSENT_COLOR = "#e15759";
const MUTED = "#777777";

// Layout constants, in pixels.
const MARGIN = 16;
const BAR_WIDTH = 640;
const BOX_HEIGHT = 58;
const GAP = 26;
const FONT = 11;
const SMALL_FONT = 9;

/** Bits `shift`..`shift+bits-1` of `addr`. */
function bitsOf(addr: number, shift: number, bits: number): number {
  return Number((BigInt(addr) >> BigInt(shift)) & ((1n << BigInt(bits)) - 1n));
}

/** A size in bytes as the kernel prints it in comments: 4 KiB, 2 MiB, 1 GiB. */
function formatSize(shift: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  const unit = Math.min(Math.floor(shift / 10), units.length - 1);
  return `${2 ** (shift - unit * 10)} ${units[unit]}`;
}

/** Reject a path the diagram cannot draw, quoting the offending value. */
function checkPath(path: PageTablePath, geometry: PageTableGeometry): void {
  if (!Number.isSafeInteger(path.addr) || path.addr < 0) {
    throw new RangeError(`Path address must be a non-negative safe integer, got ${path.addr}`);
  }
  if (path.levels.length === 0) {
    throw new RangeError(`Path of ${hex(path.addr)} has no levels`);
  }
  const order = geometry.levels.map((g) => g.level);
  let previous = -1;
  for (const step of path.levels) {
    const position = order.indexOf(step.level);
    if (position < 0) {
      throw new RangeError(
        `Level "${step.level}" is not a level of ${geometry.name} (${order.join(", ")})`,
      );
    }
    if (position <= previous) {
      throw new RangeError(
        `Levels of the path must go from the top down (${order.join(", ")}), got ${
          path.levels.map((l) => l.level).join(", ")
        }`,
      );
    }
    previous = position;
    const g = geometry.levels[position];
    const expected = bitsOf(path.addr, g.shift, g.bits);
    if (step.index !== expected) {
      throw new RangeError(
        `${step.level} index ${step.index} does not match bits ${
          g.shift + g.bits - 1
        }:${g.shift} of ${hex(path.addr)} (${expected}) on ${geometry.name}`,
      );
    }
  }
}

/** Shift of the page mapped at the end of the walk: the last level's shift. */
function leafShift(path: PageTablePath, geometry: PageTableGeometry): number {
  const last = path.levels.at(-1)!;
  return geometry.levels.find((g) => g.level === last.level)!.shift;
}

/** One line per table plus the outcome: the plain-text form of the diagram. */
export function pageTablePathText(
  path: PageTablePath,
  geometry: PageTableGeometry = X86_64_4LEVEL,
): string {
  checkPath(path, geometry);
  const lines = [`virtual address ${hex(path.addr, 12)} (${geometry.name})`];
  for (const g of geometry.levels) {
    const step = path.levels.find((l) => l.level === g.level);
    if (step === undefined) {
      if (g.bits === 0) lines.push(`  ${g.level.padEnd(9)} folded into the level above`);
      continue;
    }
    const slot = `${step.level}[${step.index}]`.padEnd(9);
    const state = step.present ? (step.flags.join(" ") || "present") : "not present";
    lines.push(`  ${slot} table pfn ${hex(step.tablePfn)}  entry ${hex(step.entry, 16)}  ${state}`);
  }
  lines.push(`  ${outcome(path, geometry)}`);
  return lines.join("\n");
}

/** The last line of the walk: the frame and physical address, or where it stopped. */
function outcome(path: PageTablePath, geometry: PageTableGeometry): string {
  const last = path.levels.at(-1)!;
  if (path.pfn === null) return `→ not present: the walk stops at ${last.level}[${last.index}]`;
  const shift = leafShift(path, geometry);
  const phys = BigInt(path.pfn) * BigInt(2 ** geometry.pageShift) + BigInt(path.pageOffset);
  return `→ pfn ${hex(path.pfn)} (${formatSize(shift)} page) + offset ${
    hex(path.pageOffset)
  } = physical ${hex(phys)}`;
}

/** One field of the address bar: a level's index, the offset, or the sign bits. */
interface BarField {
  label: string;
  hi: number;
  lo: number;
  value: string;
  color: string;
}

/** The fields of the address bar, from the sign extension down to the offset.
 * Index bits below the leaf's level belong to the offset within the page. */
function barFields(path: PageTablePath, geometry: PageTableGeometry): BarField[] {
  const offsetShift = path.pfn === null ? geometry.pageShift : leafShift(path, geometry);
  const fields: BarField[] = [{
    label: "sign",
    hi: 63,
    lo: geometry.vaBits,
    value: bitsOf(path.addr, geometry.vaBits, 64 - geometry.vaBits) === 0 ? "0…" : "1…",
    color: "#dddddd",
  }];
  for (const g of geometry.levels) {
    if (g.bits === 0 || g.shift < offsetShift) continue;
    fields.push({
      label: g.level,
      hi: g.shift + g.bits - 1,
      lo: g.shift,
      value: String(bitsOf(path.addr, g.shift, g.bits)),
      color: LEVEL_COLORS[g.level],
    });
  }
  fields.push({
    label: offsetShift === geometry.pageShift ? "offset" : `offset in ${formatSize(offsetShift)}`,
    hi: offsetShift - 1,
    lo: 0,
    value: hex(bitsOf(path.addr, 0, offsetShift)),
    color: OFFSET_COLOR,
  });
  return fields;
}

/** The address split into fields, each as wide as its bits. */
function drawAddressBar(path: PageTablePath, geometry: PageTableGeometry, top: number): string[] {
  const scale = BAR_WIDTH / 64;
  const x = (bit: number) => MARGIN + (63 - bit) * scale;
  const parts: string[] = [];
  for (const f of barFields(path, geometry)) {
    const left = x(f.hi);
    const width = (f.hi - f.lo + 1) * scale;
    parts.push(
      text(f.label, { x: left + width / 2, y: top + 10, "text-anchor": "middle" }),
      el("rect", { x: left, y: top + 14, width, height: 22, fill: f.color, stroke: "white" }),
      text(f.value, {
        x: left + width / 2,
        y: top + 29,
        "text-anchor": "middle",
        fill: "black",
        "font-weight": "bold",
      }),
      text(`${f.hi}:${f.lo}`, {
        x: left + width / 2,
        y: top + 47,
        "text-anchor": "middle",
        "font-size": SMALL_FONT,
        fill: MUTED,
      }),
    );
  }
  for (const g of geometry.levels.filter((g) => g.bits === 0)) {
    const at = x(g.shift - 1);
    parts.push(
      el("line", {
        x1: at,
        y1: top + 12,
        x2: at,
        y2: top + 38,
        stroke: LEVEL_COLORS[g.level],
        "stroke-width": 2,
        "stroke-dasharray": "3 2",
      }),
    );
  }
  return parts;
}

/** Cut `line` to `max` characters, marking the cut. */
function fit(line: string, max: number): string {
  return line.length <= max ? line : `${line.slice(0, max - 1)}…`;
}

/** A table visited by the walk: its level, its pfn, the entry used and its flags. */
function drawTable(step: WalkLevel, geometry: PageTableGeometry, top: number): string {
  const g = geometry.levels.find((l) => l.level === step.level)!;
  const color = LEVEL_COLORS[step.level];
  const textX = MARGIN + 64;
  const maxChars = Math.floor((BAR_WIDTH - 72) / charWidth(FONT));
  const role = !step.present
    ? "not present"
    : g.bits === 0
    ? "folded: the entry above, read again"
    : step.leaf
    ? `leaf: maps a ${formatSize(g.shift)} page`
    : "points to the next table";
  const flags = step.flags.length > 0 ? step.flags.join(" ") : "(no flags)";
  return el("g", { "data-level": step.level }, [
    `<title>${
      escapeText(`${step.level}[${step.index}] = ${hex(step.entry, 16)}: ${flags}`)
    }</title>`,
    el("rect", {
      x: MARGIN,
      y: top,
      width: BAR_WIDTH,
      height: BOX_HEIGHT,
      fill: "white",
      stroke: step.present ? color : ABSENT_COLOR,
      "stroke-width": step.present ? 1.5 : 2.5,
    }),
    el("rect", { x: MARGIN, y: top, width: 54, height: BOX_HEIGHT, fill: color }),
    text(step.level, {
      x: MARGIN + 27,
      y: top + 27,
      "text-anchor": "middle",
      fill: "white",
      "font-size": 15,
      "font-weight": "bold",
    }),
    text(`[${step.index}]`, {
      x: MARGIN + 27,
      y: top + 44,
      "text-anchor": "middle",
      fill: "white",
    }),
    text(fit(`table pfn ${hex(step.tablePfn)} · entry [${step.index}] · ${role}`, maxChars), {
      x: textX,
      y: top + 17,
    }),
    text(`${step.level}_val = ${hex(step.entry, 16)}`, {
      x: textX,
      y: top + 33,
      "font-weight": "bold",
    }),
    text(fit(flags, maxChars), {
      x: textX,
      y: top + 49,
      fill: step.present ? "black" : ABSENT_COLOR,
    }),
  ]);
}

/** A folded level that the walk passes through without a table of its own. */
function drawFolded(g: LevelGeometry, above: string, top: number): string {
  return el("g", { "data-level": g.level }, [
    el("rect", {
      x: MARGIN,
      y: top,
      width: BAR_WIDTH,
      height: 22,
      fill: "white",
      stroke: LEVEL_COLORS[g.level],
      "stroke-dasharray": "4 3",
    }),
    text(`${g.level}: folded into ${above} (${g.level}_offset() returns the ${above} entry)`, {
      x: MARGIN + 10,
      y: top + 15,
      fill: MUTED,
    }),
  ]);
}

/** The end of the walk: the page frame reached, or "not present". */
function drawOutcome(path: PageTablePath, geometry: PageTableGeometry, top: number): string {
  const present = path.pfn !== null;
  const line = outcome(path, geometry).slice(2);
  return el("g", { "data-outcome": present ? "frame" : "not-present" }, [
    el("rect", {
      x: MARGIN,
      y: top,
      width: BAR_WIDTH,
      height: 30,
      rx: 4,
      fill: present ? "#e8f1e4" : "#fbe3e4",
      stroke: present ? "#59a14f" : ABSENT_COLOR,
    }),
    text(present ? `page frame: ${line}` : line, {
      x: MARGIN + 10,
      y: top + 19,
      "font-weight": "bold",
    }),
  ]);
}

function escapeText(s: string): string {
  return s.replace(/[&<>]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;" })[c]!);
}

/**
 * Draw the walk of `path.addr`: the address split into its indexes, one box
 * per table visited (its pfn, the entry used: index, raw value, flags),
 * arrows between them, and the frame reached or the level where the entry
 * was not present. A folded level (p4d on 4-level x86-64) is drawn as such.
 */
export function pageTablePathSvg(path: PageTablePath, options: PageTablePathOptions = {}): Figure {
  const geometry = options.geometry ?? X86_64_4LEVEL;
  checkPath(path, geometry);
  const heading = options.title ?? `Page-table walk of ${hex(path.addr, 12)} (${geometry.name})`;
  const children = [text(heading, { x: MARGIN, y: 18, "font-weight": "bold", "font-size": 12 })];
  children.push(...drawAddressBar(path, geometry, 28));
  let top = 96;
  let above: string | undefined;
  const centre = MARGIN + BAR_WIDTH / 2;
  const lastLevel = path.levels.at(-1)!.level;
  for (const g of geometry.levels) {
    const step = path.levels.find((l) => l.level === g.level);
    const folded = step === undefined && g.bits === 0 && above !== undefined;
    if (step === undefined && !folded) continue;
    if (above !== undefined) {
      children.push(arrow(centre, top - GAP + 2, centre, top - 2));
    }
    if (step !== undefined) {
      children.push(drawTable(step, geometry, top));
      top += BOX_HEIGHT + GAP;
    } else {
      children.push(drawFolded(g, above!, top));
      top += 22 + GAP;
    }
    above = g.level;
    if (g.level === lastLevel) break;
  }
  children.push(arrow(centre, top - GAP + 2, centre, top - 2), drawOutcome(path, geometry, top));
  const height = top + 30 + MARGIN;
  const markup = svgRoot(MARGIN * 2 + BAR_WIDTH, height, children, {
    title: heading,
    fontSize: FONT,
  });
  return new Figure(markup, { text: pageTablePathText(path, geometry) });
}
