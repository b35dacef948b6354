/**
 * Reference solutions of the exercises in notebooks/00_tour.ipynb, kept out
 * of the notebook. tests/exercises_test.ts proves that each check accepts
 * them and rejects the notebook's stubs.
 * @module
 */
import * as C from "../../lib/kernel/constants.ts";
import type { ExclusiveFlags, ForkScenario, PagemapFields } from "../../lib/lessons/mod.ts";

/** Exercise (a): the PM_* bits, and bits 0-54 as the PFN only when present. */
export function decodePagemap(raw: bigint): PagemapFields {
  const present = (raw & C.PM_PRESENT) !== 0n;
  return {
    present,
    exclusive: (raw & C.PM_MMAP_EXCLUSIVE) !== 0n,
    file: (raw & C.PM_FILE) !== 0n,
    softDirty: (raw & C.PM_SOFT_DIRTY) !== 0n,
    pfn: present ? Number(raw & C.PM_PFRAME_MASK) : null,
  };
}

/** What a process maps at a page: nothing, the zero page, or an anonymous page by id. */
type Mapping = null | "zero" | number;

/**
 * Exercise (b), by reasoning rather than simulation: fork() shares every
 * page; a write reuses a page mapped once (wp_can_reuse_anon_folio(): no
 * one else holds a reference) and otherwise maps a new page of the writer's
 * own (do_anonymous_page() on a hole, wp_page_copy() from the zero page or
 * a shared page). pagemap reports PM_MMAP_EXCLUSIVE for a page mapped once;
 * the zero page never.
 */
export function predictExclusive(s: ForkScenario): ExclusiveFlags {
  let nextPage = 0;
  const parent: Mapping[] = s.before.map((use) =>
    use === "write" ? nextPage++ : use === "read" ? "zero" : null
  );
  const maps = { parent, child: [...parent] };
  const mapcount = (page: number) =>
    [...maps.parent, ...maps.child].filter((m) => m === page).length;
  for (const w of s.writes) {
    const m = maps[w.by][w.page];
    if (typeof m === "number" && mapcount(m) === 1) continue;
    maps[w.by][w.page] = nextPage++;
  }
  const exclusive = (ms: Mapping[]) => ms.map((m) => typeof m === "number" && mapcount(m) === 1);
  return { parent: exclusive(maps.parent), child: exclusive(maps.child) };
}
