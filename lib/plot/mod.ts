/**
 * Figures for the notebooks: Observable Plot charts rendered headless, and
 * SVG diagrams of entry bit layouts and page-table walks, all displayed
 * inline by the Deno Jupyter kernel.
 *
 * @module
 */
export { $display, displayNow, isDisplayable } from "./display.ts";
export type { Displayable, MediaBundle } from "./display.ts";
export { headlessDocument } from "./dom.ts";
export { Figure } from "./figure.ts";
export type { FigureOptions } from "./figure.ts";
export { Plot, plot } from "./plot.ts";
export type { PlotOptions } from "./plot.ts";
export { entryBitsSvg, entryBitsTable, entryBitsText, fieldValue } from "./entry_bits.ts";
export type { BitField, EntryBitsOptions, EntryBitsRow } from "./entry_bits.ts";
export { pageTablePathSvg, pageTablePathText, X86_64_4LEVEL } from "./page_table_path.ts";
export type {
  LevelGeometry,
  PageTableGeometry,
  PageTableLevel,
  PageTablePath,
  PageTablePathOptions,
  WalkLevel,
} from "./page_table_path.ts";
