/**
 * A tiny SVG string builder for the diagrams in this directory.
 *
 * Diagrams are built as markup strings rather than DOM nodes: they need no
 * document, they are deterministic, and the string is exactly what a Jupyter
 * `image/svg+xml` output and a snapshot test want. Every text node and
 * attribute value goes through {@linkcode escapeXml}, so labels that come from
 * the simulator (flag names, field names) cannot break the markup.
 *
 * @module
 */

/** The SVG namespace, written on every root element so that the markup also
 * renders as a standalone image (JupyterLab shows `image/svg+xml` through an
 * `<img>`, which ignores SVG without it). */
export const SVG_NS = "http://www.w3.org/2000/svg";

/** The font used by every diagram: monospace, so that label widths can be
 * estimated from character counts when laying out. */
export const FONT_FAMILY = "ui-monospace, SFMono-Regular, Menlo, Consolas, monospace";

/** Width of one character of {@linkcode FONT_FAMILY} at `fontSize` (about
 * 0.6 em for the usual monospace faces). */
export function charWidth(fontSize: number): number {
  return fontSize * 0.6;
}

/** Attribute values; `undefined` leaves the attribute out. */
export type Attrs = Record<string, string | number | undefined>;

const XML_ENTITIES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};

/** Escape text for use in XML content or a double-quoted attribute. */
export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => XML_ENTITIES[c]);
}

/** Format a coordinate: at most two decimals, no trailing zeros, so that the
 * markup is short and stable across platforms. */
export function num(value: number): string {
  if (!Number.isFinite(value)) {
    throw new RangeError(`SVG coordinate must be finite, got ${value}`);
  }
  const rounded = Math.round(value * 100) / 100;
  return String(Object.is(rounded, -0) ? 0 : rounded);
}

function attrs(attributes: Attrs): string {
  let out = "";
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined) continue;
    const text = typeof value === "number" ? num(value) : value;
    out += ` ${name}="${escapeXml(text)}"`;
  }
  return out;
}

/** An element with already-built children (markup strings). */
export function el(tag: string, attributes: Attrs = {}, children: readonly string[] = []): string {
  const open = `<${tag}${attrs(attributes)}`;
  return children.length === 0 ? `${open}/>` : `${open}>${children.join("")}</${tag}>`;
}

/** A `<text>` element whose content is escaped plain text. */
export function text(content: string, attributes: Attrs = {}): string {
  return `<text${attrs(attributes)}>${escapeXml(content)}</text>`;
}

/** Options for {@linkcode svgRoot}. */
export interface RootOptions {
  /** Accessible name, written as `<title>` and `aria-label`. */
  title: string;
  /** Background colour; a diagram is opaque so that it stays readable on a
   * dark notebook theme. */
  background?: string;
  /** Default font size of the diagram's text. */
  fontSize?: number;
}

/** The root `<svg>` element of a diagram of the given size. */
export function svgRoot(
  width: number,
  height: number,
  children: readonly string[],
  options: RootOptions,
): string {
  const fontSize = options.fontSize ?? 11;
  return el("svg", {
    xmlns: SVG_NS,
    width,
    height,
    viewBox: `0 0 ${num(width)} ${num(height)}`,
    role: "img",
    "aria-label": options.title,
    "font-family": FONT_FAMILY,
    "font-size": fontSize,
  }, [
    `<title>${escapeXml(options.title)}</title>`,
    el("rect", { width, height, fill: options.background ?? "white" }),
    ...children,
  ]);
}

/** A downward or rightward arrow from (x1, y1) to (x2, y2) with a small
 * filled head, drawn without `<marker>` so that no ids are needed. */
export function arrow(x1: number, y1: number, x2: number, y2: number, color = "#444"): string {
  const angle = Math.atan2(y2 - y1, x2 - x1);
  const head = 6;
  const left = angle + Math.PI * 5 / 6;
  const right = angle - Math.PI * 5 / 6;
  const points = [
    [x2, y2],
    [x2 + head * Math.cos(left), y2 + head * Math.sin(left)],
    [x2 + head * Math.cos(right), y2 + head * Math.sin(right)],
  ].map(([x, y]) => `${num(x)},${num(y)}`).join(" ");
  return el("g", { stroke: color, fill: color }, [
    el("line", { x1, y1, x2, y2, "stroke-width": 1.5 }),
    el("polygon", { points, stroke: "none" }),
  ]);
}

/** Hexadecimal with a `0x` prefix, optionally zero-padded to `digits`. */
export function hex(value: bigint | number, digits = 0): string {
  return `0x${value.toString(16).padStart(digits, "0")}`;
}
