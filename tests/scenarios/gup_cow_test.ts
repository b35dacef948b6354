/**
 * The hugetlb part of the cow selftest (tools/testing/selftests/mm/cow.c,
 * run_with_hugetlb() over anon_test_cases) on every geometry and variant:
 * private anonymous hugetlb memory (MAP_PRIVATE | MAP_ANONYMOUS |
 * MAP_HUGETLB), written, then
 * - "Basic COW after fork()": the child writes, the parent still reads its data;
 * - "Basic COW after fork() with mprotect() optimization": the same after
 *   mprotect(PROT_READ) and back;
 * - "R/O GUP pin on R/O-mapped shared page" (and its GUP-fast twin): after
 *   fork the page is shared, so a R/O long-term pin must unshare it
 *   (-EMLINK → FAULT_FLAG_UNSHARE) and later writes by the parent must be
 *   seen through the pin;
 * - "R/O GUP pin on R/O-mapped previously-shared page": the child has exited,
 *   the unshare fault reuses the page instead of copying it;
 * - "R/O GUP pin on R/O-mapped exclusive page": no unshare at all.
 * The test pins the first 16 pages of the huge page (cow.c pins all of it).
 */
import assert from "node:assert/strict";
import { geometries } from "../../lib/mod.ts";

const {
  allGeometries,
  exitMm,
  FOLL_LONGTERM,
  fork,
  GeoMm,
  mprotect,
  pinUserPages,
  pinUserPagesFast,
  sizeName,
  translate,
  userRead,
  userWrite,
} = geometries;

type Mm = InstanceType<typeof GeoMm>;
const NR = 16;

/** Each case gets a fresh mapping of one huge page, already written with 1. */
const CASES: Record<string, (mm: Mm, mem: number, size: number) => void> = {
  "Basic COW after fork()": (mm, mem) => {
    const child = fork(mm);
    userWrite(child, mem, 2);
    assert.equal(userRead(mm, mem), 1);
    assert.equal(userRead(child, mem), 2);
  },
  "Basic COW after fork() with mprotect() optimization": (mm, mem) => {
    const child = fork(mm);
    mprotect(child, mem, false);
    mprotect(child, mem, true);
    userWrite(child, mem, 2);
    assert.equal(userRead(mm, mem), 1);
  },
  "R/O GUP pin on R/O-mapped shared page": (mm, mem, size) => roPin(mm, mem, size, "shared", false),
  "R/O GUP-fast pin on R/O-mapped shared page": (mm, mem, size) =>
    roPin(mm, mem, size, "shared", true),
  "R/O GUP pin on R/O-mapped previously-shared page": (mm, mem, size) =>
    roPin(mm, mem, size, "previously-shared", false),
  "R/O GUP pin on R/O-mapped exclusive page": (mm, mem, size) =>
    roPin(mm, mem, size, "exclusive", false),
};

/** do_test_ro_pin(): after the pin, the parent writes; the pin must see it. */
function roPin(
  mm: Mm,
  mem: number,
  size: number,
  how: "shared" | "previously-shared" | "exclusive",
  fast: boolean,
): void {
  const before = translate(mm, mem);
  if (how !== "exclusive") {
    const child = fork(mm);
    if (how === "previously-shared") exitMm(child);
  }
  mprotect(mm, mem, false);
  const nr = Math.min(NR, size / 4096);
  const r = (fast ? pinUserPagesFast : pinUserPages)(mm, mem, nr, FOLL_LONGTERM);
  assert.equal(r.ret, nr, r.log.join("\n"));
  assert.equal(r.costs.unshareFaults, how === "exclusive" ? 0 : 1);
  // Reused when nobody else maps it; copied while the child still does.
  assert.equal(translate(mm, mem) === before, how !== "shared");
  mprotect(mm, mem, true);
  userWrite(mm, mem, 3);
  assert.equal(mm.memory.folioOf(r.pfns[0]).data, 3, "Longterm R/O pin is not reliable");
}

for (const g of allGeometries()) {
  Deno.test(`cow: ${g.name}: anon hugetlb, every size`, async (t) => {
    for (const size of g.hugeSizes) {
      for (const [name, run] of Object.entries(CASES)) {
        await t.step(`${sizeName(size)}: ${name}`, () => {
          const mm = new GeoMm(g);
          const mem = mm.mmap({ len: size, write: true, shared: false, hugetlb: size });
          userWrite(mm, mem, 1);
          run(mm, mem, size);
        });
      }
    }
  });
}
