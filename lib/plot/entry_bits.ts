/**
 * Entry bit layouts: a 64-bit page-table or swap entry drawn bit by bit.
 *
 * The entry is a row of 64 cells, bit 63 on the left and bit 0 on the right,
 * like the ASCII layouts above the masks in the kernel headers (for example
 * `arch/x86/include/asm/pgtable_types.h`). Cells are grouped by field; each
 * field is labelled with its name above the cells, and a multi-bit field also
 * with its value in hex below them (a single bit's value is its cell). Set
 * bits are filled, so a reader sees at a glance which flags are on.
 *
 * ```ts
 * const fields = [
 *   { name: "present", lo: 0, hi: 0 },
 *   { name: "rw", lo: 1, hi: 1 },
 *   { name: "pfn", lo: 12, hi: 51 },
 * ];
 * entryBitsSvg(0x8000000012345067n, fields, { title: "pte" });
 * entryBitsTable(0x8000000012345067n, fields); // [{ field: "present", bits: "0", value: "1" }, …]
 * ```
 *
 * @module
 */
import { charWidth, el, hex, svgRoot, text } from "./_svg.ts";
import { textTable } from "./_text_table.ts";
import { Figure } from "./figure.ts";

/** One field of a 64-bit entry: bits `lo` to `hi`, both inclusive. */
export interface BitField {
  /** The kernel's name for the field (`_PAGE_BIT_DIRTY` → "dirty", "pfn"). */
  name: string;
  /** Lowest bit of the field (0 = least significant). */
  lo: number;
  /** Highest bit of the field, inclusive. */
  hi: number;
  /** What the field means; shown as the field's tooltip. */
  description?: string;
}

/** One row of {@linkcode entryBitsTable}. */
export interface EntryBitsRow {
  /** The field's name. */
  field: string;
  /** Its bit range, `"hi:lo"` (or one bit number). */
  bits: string;
  /** Its value: `"1"`/`"0"` for a single bit, hex for wider fields. */
  value: string;
}

/** Options for {@linkcode entryBitsSvg}. */
export interface EntryBitsOptions {
  /** What the entry is ("pte", "swap entry"); heads the diagram. */
  title?: string;
  /** Width of one bit cell in pixels. */
  cellWidth?: number;
}

const ENTRY_BITS = 64;
const MAX_ENTRY = (1n << 64n) - 1n;

// Layout constants, in pixels.
const MARGIN = 12;
const CELL_HEIGHT = 22;
const LABEL_FONT = 10;
const SMALL_FONT = 8;
/** Labels too wide for their field are turned by this angle (degrees). */
const LABEL_ANGLE = 60;

const COLORS = {
  set: "#2f6db5",
  clear: "white",
  unassigned: "#eeeeee",
  grid: "#b8b8b8",
  field: "#333333",
  muted: "#777777",
} as const;

/** The value of bits `lo`..`hi` of `value`. */
export function fieldValue(value: bigint, field: BitField): bigint {
  const width = BigInt(field.hi - field.lo + 1);
  return (value >> BigInt(field.lo)) & ((1n << width) - 1n);
}

/** A field's value as shown: a bit as 1/0, a wider field in hex. */
function formatFieldValue(value: bigint, field: BitField): string {
  const v = fieldValue(value, field);
  return field.hi === field.lo ? v.toString() : hex(v);
}

/** A field's bit range as the kernel comments write it: `51:12`, or `7`. */
function bitRange(field: BitField): string {
  return field.hi === field.lo ? `${field.lo}` : `${field.hi}:${field.lo}`;
}

/** Reject an entry that is not an unsigned 64-bit value. */
function checkEntry(value: bigint): void {
  if (typeof value !== "bigint" || value < 0n || value > MAX_ENTRY) {
    throw new RangeError(
      `Entry must be a bigint in [0, 2^64), got ${
        typeof value === "bigint" ? `${value}n` : JSON.stringify(value)
      }`,
    );
  }
}

/** Reject fields outside bits 0..63, with lo > hi, or overlapping each other. */
function checkFields(fields: readonly BitField[]): void {
  const owner = new Array<BitField | undefined>(ENTRY_BITS);
  for (const field of fields) {
    const { name, lo, hi } = field;
    if (typeof name !== "string" || name === "") {
      throw new TypeError(`Bit field name must be a non-empty string, got ${JSON.stringify(name)}`);
    }
    if (!Number.isInteger(lo) || !Number.isInteger(hi) || lo < 0 || hi >= ENTRY_BITS || lo > hi) {
      throw new RangeError(
        `Bit field "${name}" must have integers 0 <= lo <= hi <= 63, got lo ${lo}, hi ${hi}`,
      );
    }
    for (let bit = lo; bit <= hi; bit++) {
      const other = owner[bit];
      if (other !== undefined) {
        throw new RangeError(
          `Bit fields "${other.name}" [${bitRange(other)}] and "${name}" [${
            bitRange(field)
          }] overlap at bit ${bit}`,
        );
      }
      owner[bit] = field;
    }
  }
}

/** The fields of `value` as rows of name, bit range and value, in the order given. */
export function entryBitsTable(value: bigint, fields: readonly BitField[]): EntryBitsRow[] {
  checkEntry(value);
  checkFields(fields);
  return fields.map((field) => ({
    field: field.name,
    bits: bitRange(field),
    value: formatFieldValue(value, field),
  }));
}

/** {@linkcode entryBitsTable} as aligned plain text, headed by the raw value. */
export function entryBitsText(value: bigint, fields: readonly BitField[], title = "entry"): string {
  const rows = entryBitsTable(value, fields).map((r) => [r.field, r.bits, r.value]);
  return `${title} ${hex(value, 16)}\n${textTable(["field", "bits", "value"], rows)}`;
}

/** Runs of consecutive bits owned by no field, as pseudo-fields for drawing. */
function unassignedRuns(fields: readonly BitField[]): BitField[] {
  const owned = new Set<number>();
  for (const f of fields) for (let bit = f.lo; bit <= f.hi; bit++) owned.add(bit);
  const runs: BitField[] = [];
  for (let bit = 0; bit < ENTRY_BITS; bit++) {
    if (owned.has(bit)) continue;
    const last = runs.at(-1);
    if (last !== undefined && last.hi === bit - 1) last.hi = bit;
    else runs.push({ name: "", lo: bit, hi: bit });
  }
  return runs;
}

/** Geometry shared by the drawing functions. */
interface Layout {
  cellWidth: number;
  /** Top of the cell row. */
  cellsTop: number;
  /** Left edge of the cell of `bit`. */
  x(bit: number): number;
}

/** How a field's name is placed above the cells: flat if it fits, else turned. */
function labelPlacement(field: BitField, cellWidth: number) {
  const width = field.name.length * charWidth(LABEL_FONT);
  const span = (field.hi - field.lo + 1) * cellWidth;
  const turned = width > span - 4;
  const angle = (LABEL_ANGLE * Math.PI) / 180;
  return {
    turned,
    /** Height the label rises above the cells. */
    rise: turned ? width * Math.sin(angle) + LABEL_FONT : LABEL_FONT + 4,
    /** How far right of the field's centre the label reaches. */
    reach: turned ? width * Math.cos(angle) + LABEL_FONT : width / 2,
  };
}

/** The cells of one field (or unassigned run), its outline and labels. */
function drawField(value: bigint, field: BitField, assigned: boolean, layout: Layout): string {
  const { cellWidth, cellsTop } = layout;
  const left = layout.x(field.hi);
  const right = layout.x(field.lo) + cellWidth;
  const centre = (left + right) / 2;
  const parts: string[] = [];
  for (let bit = field.hi; bit >= field.lo; bit--) {
    const set = ((value >> BigInt(bit)) & 1n) === 1n;
    const fill = set
      ? (assigned ? COLORS.set : COLORS.muted)
      : (assigned ? COLORS.clear : COLORS.unassigned);
    const x = layout.x(bit);
    parts.push(
      el("rect", {
        x,
        y: cellsTop,
        width: cellWidth,
        height: CELL_HEIGHT,
        fill,
        stroke: COLORS.grid,
      }),
      text(set ? "1" : "0", {
        x: x + cellWidth / 2,
        y: cellsTop + CELL_HEIGHT / 2 + 4,
        fill: set ? "white" : COLORS.muted,
        "text-anchor": "middle",
      }),
    );
  }
  parts.push(el("rect", {
    x: left,
    y: cellsTop,
    width: right - left,
    height: CELL_HEIGHT,
    fill: "none",
    stroke: assigned ? COLORS.field : COLORS.grid,
    "stroke-width": assigned ? 1.5 : 1,
  }));
  parts.push(...bitNumbers(field, layout));
  if (!assigned) return el("g", { "aria-hidden": "true" }, parts);

  const placement = labelPlacement(field, cellWidth);
  const labelY = cellsTop - 5;
  parts.push(
    placement.turned
      ? text(field.name, {
        transform: `translate(${centre.toFixed(2)},${labelY}) rotate(-${LABEL_ANGLE})`,
        "font-size": LABEL_FONT,
      })
      : text(field.name, {
        x: centre,
        y: labelY,
        "text-anchor": "middle",
        "font-size": LABEL_FONT,
      }),
  );
  if (field.hi > field.lo) {
    const y = cellsTop + CELL_HEIGHT + 14;
    parts.push(
      el("path", {
        d: `M${left + 2},${y} v4 H${right - 2} v-4`,
        fill: "none",
        stroke: COLORS.field,
      }),
      text(formatFieldValue(value, field), {
        x: centre,
        y: y + 16,
        "text-anchor": "middle",
        "font-size": LABEL_FONT,
      }),
    );
  }
  const tooltip = `${field.name} [${bitRange(field)}] = ${formatFieldValue(value, field)}${
    field.description ? ` — ${field.description}` : ""
  }`;
  return el("g", { "data-field": field.name }, [
    `<title>${escapeTitle(tooltip)}</title>`,
    ...parts,
  ]);
}

/** The bit numbers under a field's first and last cells. */
function bitNumbers(field: BitField, layout: Layout): string[] {
  const bits = field.hi === field.lo ? [field.lo] : [field.hi, field.lo];
  return bits.map((bit) =>
    text(String(bit), {
      x: layout.x(bit) + layout.cellWidth / 2,
      y: layout.cellsTop + CELL_HEIGHT + 10,
      "text-anchor": "middle",
      "font-size": SMALL_FONT,
      fill: COLORS.muted,
    })
  );
}

function escapeTitle(title: string): string {
  return title.replace(/[&<>]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;" })[c]!);
}

/**
 * Draw a 64-bit entry as a row of bit cells grouped by `fields`.
 *
 * Bits that belong to no field are drawn grey and unlabelled. Fields must not
 * overlap; a field with `lo > hi` or outside bits 0..63 is a RangeError.
 */
export function entryBitsSvg(
  value: bigint,
  fields: readonly BitField[],
  options: EntryBitsOptions = {},
): Figure {
  checkEntry(value);
  checkFields(fields);
  const cellWidth = options.cellWidth ?? 13;
  const title = options.title ?? "entry";
  const placements = fields.map((f) => ({ field: f, ...labelPlacement(f, cellWidth) }));
  const labelHeight = Math.max(LABEL_FONT + 4, ...placements.map((p) => p.rise));
  const cellsTop = 26 + labelHeight;
  const x = (bit: number) => MARGIN + (ENTRY_BITS - 1 - bit) * cellWidth;
  const layout: Layout = { cellWidth, cellsTop, x };
  const rightmost = Math.max(
    x(0) + cellWidth,
    ...placements.map((p) => (x(p.field.hi) + x(p.field.lo) + cellWidth) / 2 + p.reach),
  );
  const width = Math.ceil(rightmost + MARGIN);
  const height = Math.ceil(cellsTop + CELL_HEIGHT + 40);
  const heading = `${title} ${hex(value, 16)}`;
  const children = [
    text(heading, { x: MARGIN, y: 16, "font-weight": "bold" }),
    ...unassignedRuns(fields).map((run) => drawField(value, run, false, layout)),
    ...fields.map((field) => drawField(value, field, true, layout)),
  ];
  const markup = svgRoot(width, height, children, { title: `${heading}: bit fields` });
  return new Figure(markup, { text: entryBitsText(value, fields, title) });
}
