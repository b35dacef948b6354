/**
 * mmap(2) as the kernel answers it (mm/mmap.c do_mmap(), ksys_mmap_pgoff(),
 * __get_unmapped_area(), arch/x86/kernel/sys_x86_64.c), checked case by case
 * against Linux 6.18: which errno comes first when several arguments are
 * wrong, where a mapping lands, and what a failed MAP_FIXED leaves behind.
 */
import assert from "node:assert/strict";
import { constants as C, simulate } from "../../lib/mod.ts";
import { errnoOf } from "../_outcome.ts";

const P = C.PAGE_SIZE;
const RW = C.PROT_READ | C.PROT_WRITE;
const ANON = C.MAP_PRIVATE | C.MAP_ANONYMOUS;
/** A region far from where the model places mappings by itself. */
const BASE = 0x100000000000;

/** A process with 4 pages mapped at BASE and a 4-page memfd. */
function setup() {
  const k = simulate();
  const p = k.spawn();
  p.mmap(BASE, 4 * P, RW, ANON | C.MAP_FIXED);
  const fd = p.memfdCreate("m");
  p.ftruncate(fd, 4 * P);
  return { k, p, fd };
}

Deno.test("mmap() errno cases, one row each", async (t) => {
  const { p, fd } = setup();
  const free = BASE + 64 * P;
  const rows: [string, () => unknown, string][] = [
    ["length 0", () => p.mmap(0, 0, RW, ANON), "EINVAL"],
    ["neither MAP_PRIVATE nor MAP_SHARED", () => p.mmap(0, P, RW, C.MAP_ANONYMOUS), "EINVAL"],
    [
      "MAP_SHARED_VALIDATE on anonymous memory",
      () => p.mmap(0, P, RW, C.MAP_SHARED_VALIDATE | C.MAP_ANONYMOUS),
      "EINVAL",
    ],
    ["MAP_DROPPABLE on a memfd", () => p.mmap(0, P, RW, C.MAP_DROPPABLE, fd), "EINVAL"],
    ["unaligned MAP_FIXED", () => p.mmap(free + 1, P, RW, ANON | C.MAP_FIXED), "EINVAL"],
    [
      "unaligned MAP_FIXED_NOREPLACE is fixed, not a hint",
      () => p.mmap(1, P, RW, ANON | C.MAP_FIXED_NOREPLACE),
      "EINVAL",
    ],
    ["unaligned offset", () => p.mmap(0, P, RW, ANON, -1, 100), "EINVAL"],
    [
      "MAP_FIXED past TASK_SIZE is ENOMEM even when unaligned",
      () => p.mmap(2 ** 47 + 1, P, RW, ANON | C.MAP_FIXED),
      "ENOMEM",
    ],
    [
      "the address is checked before the mapping type",
      () => p.mmap(2 ** 47, P, RW, C.MAP_ANONYMOUS | C.MAP_FIXED),
      "ENOMEM",
    ],
    ["length beyond the address space", () => p.mmap(0, 2 ** 48, RW, ANON), "ENOMEM"],
    ["length -1 wraps to 0 when page aligned", () => p.mmap(0, -1, RW, ANON), "ENOMEM"],
    [
      "MAP_FIXED_NOREPLACE over a mapping",
      () => p.mmap(BASE, P, RW, ANON | C.MAP_FIXED_NOREPLACE),
      "EEXIST",
    ],
    [
      "MAP_FIXED_NOREPLACE over a mapping is EEXIST before the type is looked at",
      () => p.mmap(BASE, P, RW, C.MAP_ANONYMOUS | C.MAP_FIXED_NOREPLACE),
      "EEXIST",
    ],
    ["bad fd", () => p.mmap(0, P, RW, C.MAP_SHARED, 42), "EBADF"],
    ["fd -1 without MAP_ANONYMOUS", () => p.mmap(0, P, RW, C.MAP_PRIVATE, -1), "EBADF"],
    [
      "memfd offset past MAX_LFS_FILESIZE",
      () => p.mmap(0, P, RW, C.MAP_PRIVATE, fd, 2 ** 63 - P),
      "EOVERFLOW",
    ],
    [
      "MAP_SHARED_VALIDATE with MAP_SYNC on shmem",
      () => p.mmap(0, P, RW, C.MAP_SHARED_VALIDATE | C.MAP_SYNC, fd),
      "EOPNOTSUPP",
    ],
    [
      "MAP_SHARED_VALIDATE with MAP_FIXED_NOREPLACE (not a legacy flag)",
      () => p.mmap(free, P, RW, C.MAP_SHARED_VALIDATE | C.MAP_FIXED_NOREPLACE, fd),
      "EOPNOTSUPP",
    ],
    [
      "MAP_SHARED_VALIDATE with an unknown flag",
      () => p.mmap(0, P, RW, C.MAP_SHARED_VALIDATE | 0x400000, fd),
      "EOPNOTSUPP",
    ],
    [
      "MAP_GROWSDOWN on a memfd",
      () => p.mmap(0, P, RW, C.MAP_PRIVATE | C.MAP_GROWSDOWN, fd),
      "EINVAL",
    ],
    [
      "MAP_GROWSDOWN on shared anonymous memory",
      () => p.mmap(0, P, RW, C.MAP_SHARED | C.MAP_ANONYMOUS | C.MAP_GROWSDOWN),
      "EINVAL",
    ],
  ];
  for (const [name, fn, want] of rows) await t.step(name, () => assert.equal(errnoOf(fn), want));
});

Deno.test("mmap() accepts what the kernel accepts", async (t) => {
  const { p, fd } = setup();
  const rows: [string, () => unknown][] = [
    ["memfd offset far beyond its end", () => p.mmap(0, P, RW, C.MAP_PRIVATE, fd, 2 ** 62)],
    ["anonymous memory with any aligned offset", () => p.mmap(0, P, RW, ANON, -1, 2 ** 63)],
    [
      "MAP_SHARED_VALIDATE with MAP_32BIT",
      () => p.mmap(0, P, RW, C.MAP_SHARED_VALIDATE | C.MAP_32BIT, fd),
    ],
    [
      "MAP_SHARED_VALIDATE with MAP_HUGE_* size bits",
      () => p.mmap(0, P, RW, C.MAP_SHARED_VALIDATE | C.MAP_HUGE_1GB | C.MAP_HUGE_2MB, fd),
    ],
    [
      "MAP_SHARED ignores unknown flags",
      () => p.mmap(0, P, RW, C.MAP_SHARED | C.MAP_SYNC | 0x400000, fd),
    ],
    ["MAP_GROWSDOWN on private anonymous memory", () => p.mmap(0, P, RW, ANON | C.MAP_GROWSDOWN)],
  ];
  for (const [name, fn] of rows) await t.step(name, () => assert.equal(errnoOf(fn), "ok"));
});

Deno.test("MAP_HUGETLB is checked as a hugetlbfs file, then fails for lack of huge pages", async (t) => {
  const { p, fd } = setup();
  const H = C.PMD_SIZE;
  const HUGE = ANON | C.MAP_HUGETLB;
  const rows: [string, () => unknown, string][] = [
    ["no huge pages reserved", () => p.mmap(0, H, RW, HUGE), "ENOMEM"],
    ["a length that rounds up to a huge page", () => p.mmap(0, P, RW, HUGE), "ENOMEM"],
    ["1 GiB pages", () => p.mmap(0, P, RW, HUGE | C.MAP_HUGE_1GB), "ENOMEM"],
    ["length 0", () => p.mmap(0, 0, RW, HUGE), "EINVAL"],
    [
      "a page size the CPU does not have",
      () => p.mmap(0, P, RW, HUGE | (5 << C.MAP_HUGE_SHIFT)),
      "EINVAL",
    ],
    [
      "MAP_FIXED not huge-page aligned",
      () => p.mmap(BASE + 64 * P, P, RW, HUGE | C.MAP_FIXED),
      "EINVAL",
    ],
    ["offset not huge-page aligned", () => p.mmap(0, P, RW, HUGE, -1, P), "EINVAL"],
    ["a huge-page-aligned offset", () => p.mmap(0, P, RW, HUGE, -1, H), "ENOMEM"],
    [
      "on a memfd, which is not hugetlbfs",
      () => p.mmap(0, P, RW, C.MAP_PRIVATE | C.MAP_HUGETLB, fd),
      "EINVAL",
    ],
  ];
  for (const [name, fn, want] of rows) await t.step(name, () => assert.equal(errnoOf(fn), want));
});

Deno.test("a failed MAP_FIXED|MAP_HUGETLB mmap() leaves a hole where the old mapping was", () => {
  const k = simulate();
  const p = k.spawn();
  const a = p.mmap(BASE, 4 * P, RW, ANON | C.MAP_FIXED);
  p.write(a, 1);
  assert.equal(errnoOf(() => p.mmap(a, P, RW, ANON | C.MAP_FIXED | C.MAP_HUGETLB)), "ENOMEM");
  assert.equal(p.maps(), "");
  assert.deepEqual(p.rss(), { MM_FILEPAGES: 0, MM_ANONPAGES: 0, MM_SWAPENTS: 0, MM_SHMEMPAGES: 0 });
  k.check();
});

Deno.test("mmap() rounds a hint down to its page", () => {
  const p = simulate().spawn();
  assert.equal(p.mmap(BASE + P + 1, P, RW, ANON), BASE + P);
});

Deno.test("mmap() takes a hint of 1 as no hint (round_hint_to_min())", () => {
  const p = simulate().spawn();
  const a = p.mmap(1, P, RW, ANON);
  assert.equal(a, p.mmap(0, P, RW, ANON) + P);
});

Deno.test("mmap() raises a hint below mmap_min_addr to it", () => {
  const p = simulate().spawn();
  assert.equal(p.mmap(0x2000, P, RW, ANON), 0x10000);
});

Deno.test("mmap() with MAP_32BIT places the mapping in the first 2 GiB", () => {
  const p = simulate().spawn();
  const a = p.mmap(BASE, P, RW, ANON | C.MAP_32BIT);
  assert.equal(a, 0x40000000);
  assert.equal(p.mmap(0x100000, P, RW, ANON | C.MAP_32BIT), 0x100000, "a free low hint is used");
});

Deno.test("mmap(MAP_POPULATE) does not fault in PROT_NONE memory", () => {
  const k = simulate();
  const p = k.spawn();
  const a = p.mmap(0, 4 * P, C.PROT_NONE, C.MAP_SHARED | C.MAP_ANONYMOUS | C.MAP_POPULATE);
  assert.equal(p.pagemap(a).present, false);
  assert.equal(k.vmstat.nr_shmem, 0);
});

Deno.test("mmap(MAP_POPULATE) faults a private writable mapping for write", () => {
  const k = simulate();
  const p = k.spawn();
  const a = p.mmap(0, 4 * P, RW, ANON | C.MAP_POPULATE);
  for (let i = 0; i < 4; i++) {
    const e = p.pagemap(a + i * P);
    assert.equal(e.present && e.exclusive && !e.file, true, `page ${i}`);
  }
  assert.equal(p.rss().MM_ANONPAGES, 4);
});
