/**
 * Reference solutions of the exercises in notebooks/07_pagemap_scan.ipynb,
 * kept out of the notebook. tests/exercises_test.ts proves that each check
 * accepts them and rejects the notebook's stubs.
 * @module
 */
import type {
  LimitInput,
  LimitResult,
  SelectInput,
  ThpWpInput,
  ThpWpResult,
} from "../../lib/lessons/mod.ts";

/**
 * Exercise (a): invert, require every bit of the mask, then at least one of
 * the any-of bits (when there are any); report categories & return_mask,
 * extending the last region when the page follows it with equal categories.
 */
export function pickRegions({ pages, masks }: SelectInput): [number, number, number][] {
  const out: [number, number, number][] = [];
  for (let i = 0; i < pages.length; i++) {
    const c = pages[i] ^ masks.categoryInverted;
    const all = (c & masks.categoryMask) === masks.categoryMask;
    const any = masks.categoryAnyofMask === 0 || (c & masks.categoryAnyofMask) !== 0;
    if (!all || !any) continue;
    const cat = pages[i] & masks.returnMask;
    const last = out[out.length - 1];
    if (last && last[1] === i && last[2] === cat) last[1]++;
    else out.push([i, i + 1, cat]);
  }
  return out;
}

/**
 * Exercise (b): walk the written pages in order; a page continuing the last
 * region extends it, a new region needs room in vec; max_pages counts pages.
 * The first page that does not fit (no room, or over max_pages) is where
 * the walk stops: walk_end. A walk that never stops ends at the region's end.
 */
export function predictScan({ pages, written, vecLen, maxPages }: LimitInput): LimitResult {
  const regions: [number, number][] = [];
  let found = 0;
  for (const pg of [...written].sort((x, y) => x - y)) {
    if (maxPages && found === maxPages) return { regions, walkEnd: pg };
    const last = regions[regions.length - 1];
    if (last && last[1] === pg) last[1]++;
    else if (regions.length < vecLen) regions.push([pg, pg + 1]);
    else return { regions, walkEnd: pg };
    found++;
  }
  return { regions, walkEnd: pages };
}

/**
 * Exercise (c): nothing is reported when the array is full or max_pages is
 * used up; otherwise the reported pages are min(range, max_pages left), and
 * only a report of the whole huge page keeps the PMD.
 */
export function thpDecision({ from, to, maxPagesLeft, vecFull }: ThpWpInput): ThpWpResult {
  if (vecFull || maxPagesLeft === 0) return { split: false, wpPages: 0 };
  const wpPages = maxPagesLeft === null ? to - from : Math.min(to - from, maxPagesLeft);
  return { split: !(from === 0 && wpPages === 512), wpPages };
}
