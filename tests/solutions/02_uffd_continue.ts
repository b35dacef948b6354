/**
 * Reference solutions of the exercises in notebooks/02_uffd_continue.ipynb,
 * kept out of the notebook. tests/exercises_test.ts proves that each check
 * accepts them and rejects the notebook's stubs.
 * @module
 */
import { constants as C } from "../../lib/mod.ts";
import {
  type InstallInput,
  type InstallOutcome,
  type MinorResult,
  type MinorScenario,
  type ReclaimInput,
  runMinor,
} from "../../lib/lessons/mod.ts";

/**
 * Exercise (a): CONTINUE needs shmem (-EINVAL on anonymous memory); a
 * private mapping gets anonymous memory from COPY and a read-only mapping
 * of the cache page from CONTINUE; the PTE is writable only if the mapping
 * is and the page may be written in place; v6.18 always makes it dirty; WP
 * mode clears RW and sets UFFD_WP. A shared anonymous mapping is shmem.
 */
export function predictInstall(i: InstallInput): InstallOutcome {
  const shmem = i.backing === "shmem" || i.mapping === "MAP_SHARED";
  if (i.op === "CONTINUE" && !shmem) {
    return { errno: "EINVAL", rw: false, dirty: false, uffdWp: false, page: null };
  }
  const page = i.op === "COPY" && i.mapping === "MAP_PRIVATE" ? "anon" : "page cache";
  const inPlace = page === "anon" || i.mapping === "MAP_SHARED";
  return { errno: "ok", rw: i.writable && inPlace && !i.wp, dirty: true, uffdWp: i.wp, page };
}

/**
 * Exercise (b): write the update through the alias (the page cache page
 * itself), then map that page with UFFDIO_CONTINUE: nothing is copied.
 */
export function minorHandler(s: MinorScenario): MinorResult {
  return runMinor(s, (f) => {
    if (f.edit !== undefined) f.p.write(f.alias, f.edit);
    f.uffd.continue({ range: { start: f.address, len: C.PAGE_SIZE } });
  });
}

/**
 * Exercise (c): the copied byte (0x5a) survives unless the PTE is clean
 * and the folio is clean: the v2 9/9 variant in a read-only mapping, where
 * reclaim drops the page and the file reads zeroes.
 */
export function afterReclaim(i: ReclaimInput): number {
  return i.kernel === "v2 9/9" && i.prot === "r" ? 0 : 0x5a;
}
