/**
 * The parts of the Jupyter notebook format (nbformat 4) that the lesson
 * pipeline reads and writes.
 *
 * Cells are numbered for people the way they appear on screen: "cell 3" is
 * the third cell of the notebook, markdown cells included, counted from 1.
 * @module
 */
import { basename, extname } from "node:path";

/** nbformat stores multi-line text either whole or as a list of lines. */
export type MultilineString = string | string[];

/** One output of a code cell (nbformat `output`). */
export interface Output {
  output_type: "stream" | "display_data" | "execute_result" | "error" | "update_display_data";
  name?: string;
  text?: MultilineString;
  data?: Record<string, unknown>;
  metadata?: Record<string, unknown>;
  execution_count?: number | null;
  ename?: string;
  evalue?: string;
  traceback?: string[];
}

/** One notebook cell (nbformat `cell`). */
export interface Cell {
  cell_type: "code" | "markdown" | "raw";
  id?: string;
  source: MultilineString;
  metadata: Record<string, unknown>;
  outputs?: Output[];
  execution_count?: number | null;
  attachments?: Record<string, unknown>;
}

/** A whole notebook (nbformat 4). */
export interface Notebook {
  cells: Cell[];
  metadata: Record<string, unknown>;
  nbformat: number;
  nbformat_minor: number;
}

/** The lesson name of a notebook file: `notebooks/00_tour.ipynb` → `00_tour`. */
export function lessonName(path: string): string {
  return basename(path, extname(path));
}

/** Parses notebook JSON, checking the shape the pipeline relies on. */
export function parseNotebook(text: string, origin: string): Notebook {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new SyntaxError(`${origin}: not JSON: ${(error as Error).message}`);
  }
  const nb = value as Partial<Notebook> | null;
  if (nb === null || typeof nb !== "object" || !Array.isArray(nb.cells)) {
    throw new TypeError(`${origin}: not a notebook (no "cells" list)`);
  }
  if (nb.nbformat !== 4) {
    throw new TypeError(`${origin}: nbformat ${JSON.stringify(nb.nbformat)}, expected 4`);
  }
  nb.cells.forEach((cell, index) => checkCell(cell, `${origin}: cell ${index + 1}`));
  return { metadata: {}, nbformat_minor: 4, ...nb } as Notebook;
}

function checkCell(cell: Partial<Cell>, where: string): void {
  if (!["code", "markdown", "raw"].includes(cell?.cell_type as string)) {
    throw new TypeError(`${where}: unknown cell_type ${JSON.stringify(cell?.cell_type)}`);
  }
  if (typeof cell.source !== "string" && !Array.isArray(cell.source)) {
    throw new TypeError(`${where}: source is ${JSON.stringify(cell.source)}`);
  }
  cell.metadata ??= {};
}

/** Reads and parses the notebook at `path`. */
export async function readNotebook(path: string): Promise<Notebook> {
  return parseNotebook(await Deno.readTextFile(path), path);
}

/** Notebook JSON laid out the way Jupyter writes it (one-space indent). */
export function notebookJson(nb: Notebook): string {
  return JSON.stringify(nb, null, 1) + "\n";
}

/** nbformat multi-line text as one string. */
export function joinText(text: MultilineString | undefined): string {
  return Array.isArray(text) ? text.join("") : text ?? "";
}

/** The first non-blank line of a cell's source, trimmed and shortened for messages. */
export function firstLine(cell: Cell, width = 72): string {
  const line = joinText(cell.source).split("\n").find((l) => l.trim() !== "")?.trim() ?? "";
  return line.length > width ? `${line.slice(0, width - 1)}…` : line;
}

/** True for a code cell with something to run. */
export function isRunnable(cell: Cell): boolean {
  return cell.cell_type === "code" && joinText(cell.source).trim() !== "";
}
