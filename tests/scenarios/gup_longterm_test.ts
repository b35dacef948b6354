/**
 * The gup_longterm matrix (tools/testing/selftests/mm/gup_longterm.c,
 * do_test()) on every hugetlb geometry: a hugetlbfs file mapped shared or
 * private, prefaulted the way the test does it since the thread's fix
 * (read for R/O pins, write for R/W pins), then one long-term pin of
 * TEST_TYPE_RO, RO_FAST, RW or RW_FAST. hugetlbfs is a file system that
 * allows long-term pins, so every case must succeed, on v6.18 and on
 * v6.10 with hugepd.
 *
 * The row the selftest did not have: a R/O long-term pin of a shared
 * page-cache page that is mapped read-only (003_04fde8f735f91402.txt,
 * "mm/gup: Fix hugepd handling in hugetlb rework"). With hugepd and the
 * vma not passed down, GUP never finishes; with the fix, or without
 * hugepd, it pins.
 */
import assert from "node:assert/strict";
import { geometries } from "../../lib/mod.ts";

const {
  allGeometries,
  FOLL_LONGTERM,
  FOLL_WRITE,
  GeoMm,
  geometry,
  handleFault,
  HugetlbFile,
  pinUserPages,
  pinUserPagesFast,
  sizeName,
  FAULT_FLAG_WRITE,
} = geometries;

const TYPES = ["RO", "RO_FAST", "RW", "RW_FAST"] as const;
/** Pages pinned per case: the first 16 of the huge page, or all of a smaller one. */
const NR = 16;

for (const g of allGeometries()) {
  Deno.test(`gup_longterm: ${g.name}: every type, shared and private, every hugetlb size`, async (t) => {
    for (const size of g.hugeSizes) {
      for (const shared of [true, false]) {
        for (const type of TYPES) {
          await t.step(`${sizeName(size)} ${shared ? "shared" : "private"} ${type}`, () => {
            const mm = new GeoMm(g);
            const file = new HugetlbFile("memfd:hugetlb", size);
            const mem = mm.mmap({ len: size, write: true, shared, file });
            const rw = type.startsWith("RW");
            handleFault(mm, mem, rw ? FAULT_FLAG_WRITE : 0);
            const flags = FOLL_LONGTERM | (rw ? FOLL_WRITE : 0);
            const pin = type.endsWith("FAST") ? pinUserPagesFast : pinUserPages;
            const nr = Math.min(NR, size / 4096);
            const r = pin(mm, mem, nr, flags);
            assert.equal(r.ret, nr, r.log.join("\n"));
            assert.equal(r.livelock, false);
            const folio = mm.memory.folioOf(r.pfns[0]);
            assert.equal(folio.pincount, nr);
            // The pinned page is the one mapped: no later COW can separate them.
            assert.equal(mm.memory.folioOf(geometries.translate(mm, mem)!), folio);
          });
        }
      }
    }
  });
}

Deno.test("gup_longterm: R/O long-term pin of a R/O-mapped shared page cache page, per kernel", async (t) => {
  for (const platform of ["ppc8xx", "e500", "e500_64", "book3s64_hash_4k"] as const) {
    for (const hugepd of [true, false]) {
      for (const hugepdGupVma of [false, true]) {
        const g = geometry(platform, { hugepd });
        for (const size of g.hugeSizes) {
          const viaHugepd = geometries.representation(g, size).kind === "hugepd";
          const label = `${g.name} ${sizeName(size)} ${hugepdGupVma ? "fixed" : "vma not passed"}`;
          await t.step(label, () => {
            const mm = new GeoMm(g);
            const mem = mm.mmap({
              len: size,
              write: false,
              shared: true,
              file: new HugetlbFile("hugetlbfs", size),
            });
            handleFault(mm, mem, 0);
            const r = pinUserPagesFast(mm, mem, 1, FOLL_LONGTERM, { hugepdGupVma });
            const hangs = viaHugepd && !hugepdGupVma;
            assert.deepEqual([r.ret, r.livelock], hangs ? [0, true] : [1, false]);
            // GUP-fast never pins it: without the vma it must assume an unshare is needed.
            assert.equal(r.fast, 0);
          });
        }
      }
    }
  }
});
