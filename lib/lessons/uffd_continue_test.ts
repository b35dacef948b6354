import assert from "node:assert/strict";
import {
  accountingSteps,
  installOutcome,
  librarySource,
  minorHandlerExercise,
  mlockRows,
  reclaimRun,
  runMinor,
} from "./uffd_continue.ts";
import { runCases } from "../exercise/exercise.ts";

Deno.test("librarySource() quotes a function from its doc comment to its closing brace", () => {
  const text = librarySource("mm/swap.ts", "folioAddLruVma").text;
  assert.match(text, /^\/\*\*\n \* folio_add_lru_vma\(\)/);
  assert.match(text, /\n}$/);
  assert.throws(() => librarySource("mm/swap.ts", "noSuchFunction"), RangeError);
});

Deno.test("installOutcome(): CONTINUE maps the cache page read-only in a private mapping", () => {
  assert.deepEqual(
    installOutcome({
      op: "CONTINUE",
      backing: "shmem",
      mapping: "MAP_PRIVATE",
      writable: true,
      wp: false,
    }),
    { errno: "ok", rw: false, dirty: true, uffdWp: false, page: "page cache" },
  );
});

Deno.test("reclaimRun(): only the v2 variant in a read-only mapping loses the copied page", () => {
  const lost = reclaimRun({ kernel: "v2 9/9", prot: "r" });
  assert.deepEqual(
    [lost.cachedAfterPageout, lost.guestReads, lost.aliasReads, lost.missingFaults],
    [
      false,
      0,
      0,
      2,
    ],
  );
  const kept = reclaimRun({ kernel: "v6.18", prot: "r" });
  assert.deepEqual(
    [kept.cachedAfterPageout, kept.guestReads, kept.aliasReads, kept.missingFaults],
    [
      true,
      0x5a,
      0x5a,
      1,
    ],
  );
});

Deno.test("accountingSteps(): failed copies leave the counters as they were", () => {
  const rows = accountingSteps();
  assert.deepEqual(
    rows.map((r) => [r.result, r["info->alloced"], r["blocks charged"], r.nrpages]),
    [
      ["ok", 1, 1, 1],
      ["ok", 2, 2, 2],
      ["EEXIST", 2, 2, 2],
      ["ok", 2, 2, 2],
      ["EFAULT", 2, 2, 2],
      ["ok", 3, 3, 3],
      ["ok", 1, 1, 1],
    ],
  );
});

Deno.test("mlockRows(): anon is mlocked and unevictable, shmem only on the LRU", () => {
  assert.deepEqual(mlockRows().map((r) => r["LRU flags"]), [
    "PG_lru PG_unevictable PG_mlocked",
    "PG_lru",
  ]);
});

Deno.test("minorHandlerExercise rejects a handler that zaps each page it maps", () => {
  const copying = (s: { pages: number; edits: Record<number, number> }) =>
    runMinor(s, (f) => {
      if (f.edit !== undefined) f.p.write(f.alias, f.edit);
      f.uffd.continue({ range: { start: f.address, len: 4096 } });
      f.p.madvise(f.address, 4096, 4); // MADV_DONTNEED: the next access faults again
    });
  assert.notEqual(runCases(minorHandlerExercise, copying).status, "solved");
});
