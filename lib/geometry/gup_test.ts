import assert from "node:assert/strict";
import { geometry, type Platform, SZ_16M, SZ_2M, SZ_32M, SZ_64K, SZ_8M } from "./geometry.ts";
import {
  FAULT_FLAG_WRITE,
  type Folio,
  GeoMm,
  handleFault,
  HugetlbFile,
  translate,
  userWrite,
  VM_MAYSHARE,
  VM_READ,
  VM_SHARED,
  VM_WRITE,
  type Vma,
} from "./hugetlb.ts";
import {
  FOLL_GET,
  FOLL_LONGTERM,
  FOLL_PIN,
  FOLL_WRITE,
  getUserPages,
  gupFast,
  gupMustUnshare,
  pinUserPages,
  pinUserPagesFast,
} from "./gup.ts";

const folio = (anon: boolean, anonExclusive: boolean): Folio => ({
  id: 0,
  pfn: 0,
  size: 4096,
  hugetlb: false,
  anon,
  anonExclusive,
  refcount: 1,
  pincount: 0,
  mapcount: 1,
  mapping: null,
  data: 0,
});
const vma = (vmFlags: number): Vma => ({
  start: 0,
  end: 4096,
  vmFlags,
  pageSize: 4096,
  file: null,
  fileOffset: 0,
  thp: false,
});
const PRIVATE_RW = vma(VM_READ | VM_WRITE);
const SHARED_RO = vma(VM_READ | VM_SHARED | VM_MAYSHARE);

/** [case, vma, flags, folio, expected] — mm/internal.h gup_must_unshare(). */
const MUST_UNSHARE: [string, Vma | null, number, Folio, boolean][] = [
  ["FOLL_GET never", PRIVATE_RW, FOLL_GET | FOLL_LONGTERM, folio(true, false), false],
  ["FOLL_PIN|FOLL_WRITE never", PRIVATE_RW, FOLL_PIN | FOLL_WRITE, folio(true, false), false],
  ["R/O pin of a shared anon folio", PRIVATE_RW, FOLL_PIN, folio(true, false), true],
  ["R/O pin of an exclusive anon folio", PRIVATE_RW, FOLL_PIN, folio(true, true), false],
  ["short-term R/O pin of page cache", PRIVATE_RW, FOLL_PIN, folio(false, false), false],
  [
    "long-term R/O pin of page cache, COW mapping",
    PRIVATE_RW,
    FOLL_PIN | FOLL_LONGTERM,
    folio(false, false),
    true,
  ],
  [
    "long-term R/O pin of page cache, shared mapping",
    SHARED_RO,
    FOLL_PIN | FOLL_LONGTERM,
    folio(false, false),
    false,
  ],
  [
    "long-term R/O pin of page cache, no vma (GUP-fast)",
    null,
    FOLL_PIN | FOLL_LONGTERM,
    folio(false, false),
    true,
  ],
];

Deno.test("gupMustUnshare(): one row per case of gup_must_unshare()", async (t) => {
  for (const [name, v, flags, f, expected] of MUST_UNSHARE) {
    await t.step(name, () => assert.equal(gupMustUnshare(v, flags, f), expected));
  }
});

/** The thread's reproducer: book3s64 hash, 16M hugepd, shared page cache, R/O long-term pin. */
function sharedReadOnly16M(hugepd: boolean) {
  const mm = new GeoMm(geometry("book3s64_hash_4k", { hugepd }));
  const file = new HugetlbFile("hugetlbfs", SZ_16M);
  const a = mm.mmap({ len: SZ_16M, write: false, shared: true, file });
  handleFault(mm, a, 0);
  return { mm, a };
}

Deno.test("follow_hugepd() without the vma: a R/O long-term pin of a shared page-cache page never ends", () => {
  const { mm, a } = sharedReadOnly16M(true);
  const r = pinUserPagesFast(mm, a, 1, FOLL_LONGTERM, { hugepdGupVma: false });
  assert.deepEqual([r.ret, r.livelock, r.fast], [0, true, 0]);
  assert.equal(r.costs.unshareFaults, 0);
  assert.ok(r.costs.faults >= 8);
  assert.match(r.log[1], /no page → faultin_page\(read\)/);
});

Deno.test("follow_hugepd() with the vma: the same pin succeeds, with no unshare", () => {
  const { mm, a } = sharedReadOnly16M(true);
  const r = pinUserPagesFast(mm, a, 1, FOLL_LONGTERM);
  assert.deepEqual([r.ret, r.livelock, r.fast, r.costs.faults], [1, false, 0, 0]);
  assert.equal(mm.memory.folioOf(r.pfns[0]).pincount, 1);
});

Deno.test("without hugepd there is no follow_hugepd(): the buggy variant changes nothing", () => {
  const { mm, a } = sharedReadOnly16M(false);
  const r = pinUserPagesFast(mm, a, 1, FOLL_LONGTERM, { hugepdGupVma: false });
  assert.deepEqual([r.ret, r.livelock], [1, false]);
});

Deno.test("-EMLINK → FAULT_FLAG_UNSHARE: a R/O long-term pin in a private mapping of page cache", () => {
  for (const fixed of [true, false]) {
    const mm = new GeoMm(geometry("book3s64_hash_4k", { hugepd: true }));
    const file = new HugetlbFile("hugetlbfs", SZ_16M);
    const shared = mm.mmap({ len: SZ_16M, write: true, shared: true, file });
    userWrite(mm, shared, 42);
    const priv = mm.mmap({ len: SZ_16M, write: true, shared: false, file });
    handleFault(mm, priv, 0);
    const r = pinUserPages(mm, priv, 1, FOLL_LONGTERM, { hugepdGupVma: fixed });
    if (fixed) {
      assert.deepEqual([r.ret, r.costs.unshareFaults], [1, 1]);
      const pinned = mm.memory.folioOf(r.pfns[0]);
      assert.deepEqual([pinned.anon, pinned.anonExclusive, pinned.data], [true, true, 42]);
      assert.notEqual(r.pfns[0], translate(mm, shared));
      assert.equal(translate(mm, priv), r.pfns[0]);
    } else {
      assert.deepEqual([r.ret, r.livelock], [0, true]);
    }
  }
});

/** [platform, hugepd, size, slow-GUP loop passes for the whole page: v6.9, v6.10+]. */
const ITERATIONS: [Platform, boolean, number, number, number][] = [
  ["x86_64", false, SZ_2M, 1, 1],
  ["arm64_4k", false, SZ_64K, 1, 16],
  ["arm64_4k", false, SZ_32M, 1, 16],
  ["ppc8xx", true, SZ_8M, 1, 1],
  ["ppc8xx", false, SZ_8M, 1, 2048],
  ["ppc8xx", false, 2 ** 19, 1, 128],
  ["e500", true, SZ_16M, 1, 1],
  ["e500", false, SZ_16M, 1, 8],
  ["e500_64", true, 2 ** 30, 1, 1],
  ["e500_64", false, SZ_16M, 1, 8],
  ["e500_64", false, 2 ** 30, 1, 4],
  ["book3s64_hash_4k", true, SZ_16M, 1, 1],
  ["book3s64_hash_4k", false, SZ_16M, 1, 8],
];

Deno.test("__get_user_pages(): loop passes per huge page, hugetlb_follow_page_mask() vs follow_page_mask()", async (t) => {
  for (const [platform, hugepd, size, old, now] of ITERATIONS) {
    await t.step(`${platform} ${hugepd ? "hugepd" : "v6.11+"} ${size}`, () => {
      const counts = [true, false].map((hugetlbFollowPageMask) => {
        const mm = new GeoMm(geometry(platform, { hugepd }));
        const a = mm.mmap({
          len: size,
          write: true,
          shared: true,
          file: new HugetlbFile("f", size),
        });
        handleFault(mm, a, FAULT_FLAG_WRITE);
        const r = getUserPages(mm, a, size / 4096, FOLL_GET, { hugetlbFollowPageMask });
        assert.equal(r.ret, size / 4096);
        return r.costs.iterations;
      });
      assert.deepEqual(counts, [old, now]);
    });
  }
});

Deno.test("gup_fast(): stops at a read-only entry for FOLL_WRITE and leaves the rest to the slow path", () => {
  const mm = new GeoMm(geometry("arm64_4k"));
  const a = mm.mmap({ len: 2 * SZ_64K, write: true, shared: false, hugetlb: SZ_64K });
  userWrite(mm, a, 1);
  handleFault(mm, a + SZ_64K, 0); // read: R/O exclusive anon folio
  assert.equal(gupFast(mm, a, 32, FOLL_WRITE | FOLL_PIN), 16);
  const r = pinUserPagesFast(mm, a, 32, FOLL_WRITE);
  assert.deepEqual([r.ret, r.fast, r.costs.faults], [32, 16, 1]);
});

Deno.test("pin_user_pages(): FOLL_WRITE on a read-only VMA is -EFAULT", () => {
  const { mm, a } = sharedReadOnly16M(false);
  assert.equal(pinUserPages(mm, a, 1, FOLL_WRITE).ret, -14);
});
