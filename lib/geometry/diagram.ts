/**
 * A picture of how one huge page sits in the page tables: every table on its
 * path, the entries that belong to it (replicas grouped, with their count,
 * first frame and size bits), and the arrows from directory entries to the
 * tables below — so that the 8xx 8M page shows two PMD entries pointing to
 * one shared single-entry hugepd table (≤ v6.10) or to two PTE tables of 1024
 * cells each (≥ v6.11). Same palette and font as lib/plot's page-table path.
 * @module
 */
import { arrow, charWidth, el, hex, svgRoot, text } from "../plot/_svg.ts";
import { Figure } from "../plot/figure.ts";
import { LEVEL_COLORS } from "../plot/page_table_path.ts";
import { type LevelName, levelSize, representation, sizeName } from "./geometry.ts";
import { childLevel, type GeoMm, hugepteIndex, indexAt, type PageTable } from "./hugetlb.ts";

/** A run of entries of one table that belong to the page. */
export interface EntryGroup {
  first: number;
  count: number;
  kind: "leaf" | "table" | "hugepd";
  /** For a leaf run: the first frame; for pointers: the table pointed to. */
  pfn?: number;
  target?: PageTable;
  flags: readonly string[];
  write?: boolean;
}

/** One table of the picture. */
export interface TableNode {
  table: PageTable;
  level: LevelName | "hugepd";
  depth: number;
  groups: EntryGroup[];
}

const COLORS: Record<LevelName | "hugepd", string> = { ...LEVEL_COLORS, hugepd: "#e15759" };

/** The tables and entry runs that map the page of `size` at `addr`. */
export function pageTableNodes(mm: GeoMm, addr: number, size: number): TableNode[] {
  const g = mm.g;
  const base = addr - (addr % size);
  const end = base + size;
  const nodes: TableNode[] = [];
  const seen = new Set<PageTable>();
  const visit = (table: PageTable, level: LevelName, s: number, e: number, depth: number) => {
    if (seen.has(table)) return;
    seen.add(table);
    const node: TableNode = { table, level, depth, groups: [] };
    nodes.push(node);
    const span = levelSize(g, level);
    const below: [PageTable, LevelName | "hugepd", number, number][] = [];
    for (let a = s; a < e;) {
      const next = Math.min(a - (a % span) + span, e);
      const i = indexAt(g, level, a);
      const entry = table.entries.get(i);
      const last = node.groups.at(-1);
      if (entry !== undefined) {
        if (entry.type === "leaf") {
          if (last?.kind === "leaf" && last.first + last.count === i) last.count++;
          else {
            node.groups.push({
              first: i,
              count: 1,
              kind: "leaf",
              pfn: entry.pfn,
              flags: entry.flags,
              write: entry.write,
            });
          }
        } else {
          const target = entry.table;
          if (last?.target === target && last.first + last.count === i) last.count++;
          else {
            node.groups.push({
              first: i,
              count: 1,
              kind: entry.type,
              target,
              flags: entry.type === "table" ? entry.flags : [`shift ${entry.shift}`],
            });
            if (entry.type === "table") below.push([target, childLevel(g, level)!, a, next]);
            else below.push([target, "hugepd", a, Math.min(a + 2 ** entry.shift, end)]);
          }
        }
      }
      a = next;
    }
    for (const [t, l, s2, e2] of below) {
      if (l === "hugepd") visitHugepd(t, s2, depth + 1, Math.log2(span));
      else visit(t, l, s2, e2, depth + 1);
    }
  };
  const visitHugepd = (t: PageTable, s: number, depth: number, pdshift: number) => {
    if (seen.has(t)) return;
    seen.add(t);
    const node: TableNode = { table: t, level: "hugepd", depth, groups: [] };
    nodes.push(node);
    // The directory entry's hugepd (shift) is needed to index; find it from a leaf.
    for (const [i, e] of t.entries) {
      if (e.type !== "leaf") continue;
      const idx = hugepteIndex({ type: "hugepd", table: t, shift: Math.log2(e.size) }, s, pdshift);
      if (i === idx) {
        node.groups.push({
          first: i,
          count: 1,
          kind: "leaf",
          pfn: e.pfn,
          flags: e.flags,
          write: e.write,
        });
      }
    }
  };
  visit(mm.pgd, g.levels[0].level, base, end, 0);
  return nodes;
}

const FONT = 11;
const ROW = 30;
const HEAD = 34;
const COL = 390;
const BOX_W = 340;
const MARGIN = 16;

function groupLabel(gr: EntryGroup): string {
  const range = gr.count === 1 ? `[${gr.first}]` : `[${gr.first}..${gr.first + gr.count - 1}]`;
  if (gr.kind === "leaf") {
    const what = gr.count > 1 ? `${gr.count}× leaf` : "leaf";
    const bits = gr.flags.length ? ` ${gr.flags.join("|")}` : "";
    return `${range} ${what} pfn ${hex(gr.pfn!)}${gr.count > 1 ? "+" : ""}${bits}`;
  }
  const bits = gr.flags.length ? ` ${gr.flags.join("|")}` : "";
  const what = gr.kind === "hugepd" ? "hugepd" : "table";
  return `${range} ${gr.count > 1 ? `${gr.count}× ` : ""}→ ${what}${bits}`;
}

/**
 * The page of `size` at `addr` in `mm` as an SVG figure: one column per
 * level, one box per table (its level, size in bytes and entry count), one
 * row per run of entries; arrows from pointer runs to their tables.
 */
export function representationSvg(mm: GeoMm, addr: number, size: number, title?: string): Figure {
  const nodes = pageTableNodes(mm, addr, size);
  const r = representation(mm.g, size);
  const heading = title ??
    `${sizeName(size)} on ${mm.g.name}: ${r.kind}, ${r.entriesWritten} entries written`;
  const cols = new Map<number, number>();
  const pos = new Map<PageTable, { x: number; y: number; h: number }>();
  for (const n of nodes) {
    const y0 = cols.get(n.depth) ?? 40;
    const h = HEAD + Math.max(1, n.groups.length) * ROW + 6;
    pos.set(n.table, { x: MARGIN + n.depth * COL, y: y0, h });
    cols.set(n.depth, y0 + h + 24);
  }
  const children: string[] = [
    text(heading, { x: MARGIN, y: 20, "font-weight": "bold", "font-size": 12 }),
  ];
  for (const n of nodes) {
    const p = pos.get(n.table)!;
    const color = COLORS[n.level];
    children.push(
      el("rect", {
        x: p.x,
        y: p.y,
        width: BOX_W,
        height: p.h,
        fill: "white",
        stroke: color,
        "stroke-width": 1.5,
      }),
      el("rect", { x: p.x, y: p.y, width: BOX_W, height: 16, fill: color }),
      text(
        `${
          n.level === "hugepd" ? "hugepte table" : `${n.level} table`
        } · ${n.table.nrEntries} × ${n.table.entryBytes} B = ${n.table.bytes} B`,
        { x: p.x + 4, y: p.y + 12, fill: "white", "font-size": 10, "font-weight": "bold" },
      ),
    );
    n.groups.forEach((gr, i) => {
      const y = p.y + HEAD + i * ROW;
      const label = groupLabel(gr);
      const maxChars = Math.floor((BOX_W - 8) / charWidth(FONT - 1));
      children.push(
        text(label.length > maxChars ? `${label.slice(0, maxChars - 1)}…` : label, {
          x: p.x + 4,
          y,
          "font-size": FONT - 1,
        }),
      );
      // One small cell per entry of the run (at most 48 drawn): replication made visible.
      const shown = Math.min(gr.count, 48);
      for (let k = 0; k < shown; k++) {
        children.push(el("rect", {
          x: p.x + 4 + k * 6,
          y: y + 4,
          width: 5,
          height: 8,
          fill: gr.kind === "leaf" ? COLORS[n.level] : "white",
          stroke: COLORS[gr.kind === "hugepd" ? "hugepd" : n.level],
          "stroke-width": 0.8,
        }));
      }
      if (gr.count > shown) {
        children.push(
          text(`… ×${gr.count}`, { x: p.x + 8 + shown * 6, y: y + 12, "font-size": 9 }),
        );
      }
      if (gr.target !== undefined && pos.has(gr.target)) {
        const q = pos.get(gr.target)!;
        children.push(
          arrow(
            p.x + BOX_W,
            y - 4,
            q.x - 2,
            q.y + 8,
            COLORS[gr.kind === "hugepd" ? "hugepd" : n.level],
          ),
        );
      }
    });
  }
  const width = MARGIN * 2 + (Math.max(...nodes.map((n) => n.depth)) + 1) * COL;
  const height = Math.max(...[...cols.values()]) + 4;
  const svg = svgRoot(width, height, children, { title: heading, fontSize: FONT });
  const textForm = [
    heading,
    ...nodes.map((n) =>
      `${"  ".repeat(n.depth)}${n.level} table (${n.table.bytes} B): ${
        n.groups.map(groupLabel).join("; ")
      }`
    ),
  ].join("\n");
  return new Figure(svg, { text: textForm });
}
