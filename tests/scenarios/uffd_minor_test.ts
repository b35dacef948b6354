/**
 * Minor faults on shmem (after selftests/mm/uffd-unit-tests.c "minor",
 * "minor-wp" and "minor-collapse"): the page cache is populated through a second mapping;
 * accesses through the registered one trap with UFFD_PAGEFAULT_FLAG_MINOR,
 * the handler changes the page through the alias and maps it with
 * UFFDIO_CONTINUE. Then the one mfill_atomic_install_pte() behind COPY and
 * CONTINUE: its LRU, mlock and page-cache accounting, and the dirty bit
 * that keeps reclaim from dropping a UFFDIO_COPY'd shmem page.
 */
import assert from "node:assert/strict";
import {
  constants as C,
  type Kernel,
  type Process,
  simulate,
  type UffdMsgPagefault,
} from "../../lib/mod.ts";
import { ptepGet } from "../../lib/lessons/mod.ts";
import { errnoOf } from "../_outcome.ts";
import { pageFlagNames } from "../../lib/mm/memmap.ts";
import { SHMEM_I } from "../../lib/mm/shmem.ts";
import { entryFlagNames } from "../../lib/pgtable/decode.ts";

const P = C.PAGE_SIZE;
const RW = C.PROT_READ | C.PROT_WRITE;
const NR_PAGES = 8;
const MINOR = C.UFFDIO_REGISTER_MODE_MINOR;

function setup(mapFlags: number) {
  const k = simulate();
  const p = k.spawn();
  const fd = p.memfdCreate("uffd-minor");
  p.ftruncate(fd, NR_PAGES * P);
  const dst = p.mmap(0, NR_PAGES * P, RW, mapFlags, fd);
  const alias = p.mmap(0, NR_PAGES * P, RW, C.MAP_SHARED, fd);
  for (let i = 0; i < NR_PAGES; i++) p.write(alias + i * P, i);
  const uffd = p.userfaultfd(0);
  const { features } = uffd.api({ api: C.UFFD_API, features: C.UFFD_FEATURE_MINOR_SHMEM });
  assert.ok(features & C.UFFD_FEATURE_MINOR_SHMEM);
  const { ioctls } = uffd.register({ range: { start: dst, len: NR_PAGES * P }, mode: MINOR });
  assert.ok(ioctls & (1 << C._UFFDIO_CONTINUE));
  return { k, p, fd, dst, alias, uffd };
}

Deno.test("minor faults on shmem: the handler edits the page through an alias, then CONTINUE", () => {
  const { k, p, dst, alias, uffd } = setup(C.MAP_SHARED);
  const msgs: UffdMsgPagefault[] = [];
  uffd.handler = (msg) => {
    msgs.push(msg);
    const off = msg.arg.pagefault.address - dst;
    p.write(alias + off, p.read(alias + off) + 100);
    assert.equal(uffd.continue({ range: { start: dst + off, len: P }, mode: 0 }), P);
  };
  for (let i = 0; i < NR_PAGES; i++) assert.equal(p.read(dst + i * P), i + 100);
  assert.equal(msgs.length, NR_PAGES);
  assert.equal(msgs[0].arg.pagefault.flags, C.UFFD_PAGEFAULT_FLAG_MINOR);
  p.write(dst, 0xaa);
  assert.equal(p.read(alias), 0xaa);
  assert.equal(msgs.length, NR_PAGES);
  k.check();
});

Deno.test("a write minor fault carries UFFD_PAGEFAULT_FLAG_WRITE too", () => {
  const { k, p, dst, uffd } = setup(C.MAP_SHARED);
  let flags = -1;
  uffd.handler = (msg) => {
    flags = msg.arg.pagefault.flags;
    uffd.continue({ range: { start: msg.arg.pagefault.address, len: P } });
  };
  p.write(dst + 3 * P, 1);
  assert.equal(flags, C.UFFD_PAGEFAULT_FLAG_MINOR | C.UFFD_PAGEFAULT_FLAG_WRITE);
  k.check();
});

Deno.test("CONTINUE in a private shmem mapping maps the cache page read-only; a write copies", () => {
  const { k, p, dst, alias, uffd } = setup(C.MAP_PRIVATE);
  uffd.handler = (msg) => uffd.continue({ range: { start: msg.arg.pagefault.address, len: P } });
  assert.equal(p.read(dst + P), 1);
  p.write(dst + P, 0x55);
  assert.equal(p.read(dst + P), 0x55);
  assert.equal(p.read(alias + P), 1);
  k.check();
});

Deno.test("UFFDIO_CONTINUE errno cases", async (t) => {
  const rows: [string, (s: ReturnType<typeof setup>) => number, string][] = [
    ["a cached page", ({ dst, uffd }) => uffd.continue({ range: { start: dst, len: P } }), "ok"],
    [
      "an unknown mode bit",
      ({ dst, uffd }) => uffd.continue({ range: { start: dst, len: P }, mode: 4 }),
      "EINVAL",
    ],
    [
      "start not page aligned",
      ({ dst, uffd }) => uffd.continue({ range: { start: dst + 1, len: P } }),
      "EINVAL",
    ],
    [
      "already mapped",
      ({ dst, uffd }) => {
        uffd.continue({ range: { start: dst, len: P } });
        return uffd.continue({ range: { start: dst, len: P } });
      },
      "EEXIST",
    ],
    [
      "CONTINUE_MODE_WP without WP registration",
      ({ dst, uffd }) =>
        uffd.continue({ range: { start: dst, len: P }, mode: C.UFFDIO_CONTINUE_MODE_WP }),
      "EINVAL",
    ],
    [
      "no page in the page cache",
      ({ p, dst, uffd }) => {
        p.madvise(dst + P, P, C.MADV_REMOVE);
        return uffd.continue({ range: { start: dst + P, len: P } });
      },
      "EFAULT",
    ],
    [
      "at or beyond i_size (shmem_get_folio() says -EINVAL; checked on Linux 6.18)",
      ({ p, fd, dst, uffd }) => {
        p.ftruncate(fd, P);
        return uffd.continue({ range: { start: dst + P, len: P } });
      },
      "EINVAL",
    ],
    [
      "an anonymous VMA",
      ({ p, uffd }) => {
        const a = p.mmap(0, P, RW, C.MAP_PRIVATE | C.MAP_ANONYMOUS);
        uffd.register({ range: { start: a, len: P }, mode: C.UFFDIO_REGISTER_MODE_MISSING });
        return uffd.continue({ range: { start: a, len: P } });
      },
      "EINVAL",
    ],
    [
      "not registered",
      ({ alias, uffd }) => uffd.continue({ range: { start: alias, len: P } }),
      "ENOENT",
    ],
  ];
  for (const [name, call, want] of rows) {
    await t.step(name, () => {
      const s = setup(C.MAP_SHARED);
      assert.equal(errnoOf(() => call(s)), want);
      s.k.check();
    });
  }
});

Deno.test("minor-wp: CONTINUE_MODE_WP maps the page write-protected; a write traps as WP", () => {
  const k = simulate();
  const p = k.spawn();
  const fd = p.memfdCreate("uffd-minor-wp");
  p.ftruncate(fd, NR_PAGES * P);
  const dst = p.mmap(0, NR_PAGES * P, RW, C.MAP_SHARED, fd);
  const alias = p.mmap(0, NR_PAGES * P, RW, C.MAP_SHARED, fd);
  for (let i = 0; i < NR_PAGES; i++) p.write(alias + i * P, i);
  const uffd = p.userfaultfd(0);
  uffd.api({
    api: C.UFFD_API,
    features: C.UFFD_FEATURE_MINOR_SHMEM | C.UFFD_FEATURE_WP_HUGETLBFS_SHMEM,
  });
  uffd.register({
    range: { start: dst, len: NR_PAGES * P },
    mode: MINOR | C.UFFDIO_REGISTER_MODE_WP,
  });
  const flags: number[] = [];
  uffd.handler = (msg) => {
    const { address, flags: f } = msg.arg.pagefault;
    flags.push(f);
    const page = address - (address % P);
    if (f & C.UFFD_PAGEFAULT_FLAG_MINOR) {
      p.write(alias + (page - dst), 0xff - p.read(alias + (page - dst)));
      uffd.continue({ range: { start: page, len: P }, mode: C.UFFDIO_CONTINUE_MODE_WP });
    } else {
      uffd.writeprotect({ range: { start: page, len: P }, mode: 0 });
    }
  };
  for (let i = 0; i < NR_PAGES; i++) assert.equal(p.read(dst + i * P), 0xff - i);
  assert.ok(
    Array.from({ length: NR_PAGES }, (_, i) => p.pagemap(dst + i * P).uffdWp).every(Boolean),
  );
  p.write(dst + 2 * P, 0x11);
  assert.equal(p.read(alias + 2 * P), 0x11);
  assert.equal(flags.length, NR_PAGES + 1);
  assert.equal(flags.at(-1), C.UFFD_PAGEFAULT_FLAG_WRITE | C.UFFD_PAGEFAULT_FLAG_WP);
  assert.equal(p.pagemap(dst + 2 * P).uffdWp, false);
  k.check();
});

/** A read-only shared shmem mapping registered MISSING, an unregistered alias, and a source page. */
function copySetup(variants: { mcopyInstallPtesV2?: boolean } = {}, prot = C.PROT_READ) {
  const k = simulate({ variants });
  const p = k.spawn();
  const fd = p.memfdCreate("uffd-copy");
  p.ftruncate(fd, 4 * P);
  const dst = p.mmap(0, 4 * P, prot, C.MAP_SHARED, fd);
  const alias = p.mmap(0, 4 * P, RW, C.MAP_SHARED, fd);
  const buf = p.mmap(0, P, RW, C.MAP_PRIVATE | C.MAP_ANONYMOUS);
  p.write(buf, 0x5a);
  const uffd = p.userfaultfd(0);
  uffd.api({ api: C.UFFD_API, features: 0 });
  uffd.register({ range: { start: dst, len: 4 * P }, mode: C.UFFDIO_REGISTER_MODE_MISSING });
  const inode = p.mm.vmaLookup(dst)!.vm_file!.inode;
  return { k, p, fd, dst, alias, buf, uffd, inode };
}

/** The flag names of the PTE mapping `addr`. */
function entryText(k: Kernel, p: Process, addr: number): string {
  return entryFlagNames(ptepGet(k, p, addr)).join(" ");
}

Deno.test("UFFDIO_COPY into a read-only shared shmem mapping survives reclaim in v6.18", () => {
  const { k, p, dst, alias, buf, uffd } = copySetup();
  uffd.copy({ dst, src: buf, len: P });
  assert.equal(p.read(dst), 0x5a);
  assert.match(entryText(k, p, dst), /\bD\b/);
  p.madvise(dst, P, C.MADV_PAGEOUT);
  assert.equal(p.pagemap(dst).present, false); // unmapped by reclaim ...
  assert.equal(p.read(alias), 0x5a); // ... but the page cache kept the data
  k.check();
});

Deno.test("mcopyInstallPtesV2: the clean PTE over a clean page lets reclaim drop the data", () => {
  const { k, p, dst, alias, buf, uffd, inode } = copySetup({ mcopyInstallPtesV2: true });
  uffd.copy({ dst, src: buf, len: P });
  assert.equal(p.read(dst), 0x5a);
  assert.doesNotMatch(entryText(k, p, dst), /\bD\b/);
  p.madvise(dst, P, C.MADV_PAGEOUT);
  assert.equal(inode.mapping.pages.has(0), false);
  assert.equal(p.read(alias), 0); // a new, zeroed page
  assert.deepEqual({ ...SHMEM_I(inode) }, { alloced: 1, swapped: 0, usedBlocks: 1 });
  k.check();
});

Deno.test("mcopyInstallPtesV2 keeps the data in a writable mapping: the PTE is dirty there", () => {
  const { k, p, dst, alias, buf, uffd } = copySetup({ mcopyInstallPtesV2: true }, RW);
  uffd.copy({ dst, src: buf, len: P });
  p.madvise(dst, P, C.MADV_PAGEOUT);
  assert.equal(p.read(alias), 0x5a);
  k.check();
});

Deno.test("shmem UFFDIO_COPY accounts the block first and gives it back on failure", () => {
  const { k, p, fd, dst, alias, buf, uffd, inode } = copySetup({}, RW);
  uffd.copy({ dst, src: buf, len: P });
  assert.deepEqual({ ...SHMEM_I(inode) }, { alloced: 1, swapped: 0, usedBlocks: 1 });
  p.write(alias + P, 1); // the page cache holds index 1 now
  assert.deepEqual({ ...SHMEM_I(inode) }, { alloced: 2, swapped: 0, usedBlocks: 2 });
  assert.equal(errnoOf(() => uffd.copy({ dst: dst + P, src: buf, len: P })), "EEXIST");
  p.ftruncate(fd, 3 * P);
  assert.equal(errnoOf(() => uffd.copy({ dst: dst + 3 * P, src: buf, len: P })), "EFAULT");
  assert.deepEqual({ ...SHMEM_I(inode) }, { alloced: 2, swapped: 0, usedBlocks: 2 });
  p.ftruncate(fd, P); // truncation frees index 1: shmem_recalc_inode() gives its block back
  assert.deepEqual({ ...SHMEM_I(inode) }, { alloced: 1, swapped: 0, usedBlocks: 1 });
  k.check();
});

Deno.test("install_pte's LRU add: COPY into a VM_LOCKED VMA mlocks anon, shmem only joins the LRU", () => {
  const k = simulate();
  const p = k.spawn();
  const buf = p.mmap(0, P, RW, C.MAP_PRIVATE | C.MAP_ANONYMOUS);
  p.write(buf, 3);
  const anon = p.mmap(0, P, RW, C.MAP_PRIVATE | C.MAP_ANONYMOUS | C.MAP_LOCKED);
  p.madvise(anon, P, C.MADV_DONTNEED_LOCKED);
  const fd = p.memfdCreate("locked");
  const shm = p.mmap(0, P, RW, C.MAP_SHARED | C.MAP_LOCKED, fd); // i_size 0: nothing populated
  p.ftruncate(fd, P);
  const uffd = p.userfaultfd(0);
  uffd.api({ api: C.UFFD_API, features: 0 });
  for (const a of [anon, shm]) {
    uffd.register({ range: { start: a, len: P }, mode: C.UFFDIO_REGISTER_MODE_MISSING });
    assert.equal(p.pagemap(a).present, false);
    uffd.copy({ dst: a, src: buf, len: P });
  }
  const flags = (a: number) => pageFlagNames(k.core.memmap.flags[p.pagemap(a).pfn!]);
  assert.deepEqual(flags(anon).filter((f) => /lru|mlocked|unevictable/.test(f)), [
    "PG_lru",
    "PG_unevictable",
    "PG_mlocked",
  ]);
  assert.deepEqual(flags(shm).filter((f) => /lru|mlocked|unevictable/.test(f)), ["PG_lru"]);
  assert.equal(errnoOf(() => p.madvise(shm, P, C.MADV_PAGEOUT)), "EINVAL"); // never reclaimed
  k.check();
});

Deno.test("CONTINUE maps a page of a collapsed (large) page-cache folio", () => {
  const H = C.PMD_SIZE, N = H / P;
  const k = simulate();
  const p = k.spawn();
  const fd = p.memfdCreate("collapsed");
  p.ftruncate(fd, H);
  const resv = p.mmap(0, 6 * H, C.PROT_NONE, C.MAP_PRIVATE | C.MAP_ANONYMOUS);
  const dst = Math.ceil(resv / H) * H, alias = dst + 2 * H;
  p.mmap(dst, H, RW, C.MAP_SHARED | C.MAP_FIXED, fd);
  p.mmap(alias, H, RW, C.MAP_SHARED | C.MAP_FIXED, fd);
  for (let i = 0; i < N; i++) p.write(alias + i * P, 1 + (i % 200));
  p.madvise(alias, H, C.MADV_COLLAPSE); // collapse_file(): one PMD-sized folio in the cache
  assert.equal(k.core.vmstat.thp_collapse_alloc, 1);
  const uffd = p.userfaultfd(0);
  uffd.api({ api: C.UFFD_API, features: C.UFFD_FEATURE_MINOR_SHMEM });
  uffd.register({ range: { start: dst, len: H }, mode: MINOR });
  let faults = 0;
  uffd.handler = (msg) => {
    faults++;
    const a = msg.arg.pagefault.address;
    uffd.continue({ range: { start: a - (a % P), len: P } });
  };
  assert.deepEqual([0, 7, 511].map((i) => p.read(dst + i * P)), [1, 8, 1 + (511 % 200)]);
  assert.equal(faults, 3);
  assert.equal(p.read(alias + 7 * P), 8);
  k.check();
});

Deno.test("minor-collapse: MADV_COLLAPSE of the registered alias maps a PMD; no minor fault after", () => {
  // After uffd-unit-tests' uffd_minor_test_common(test_collapse): populate
  // through the unregistered mapping, read through the MINOR-registered one
  // (one minor fault per page, resolved by CONTINUE), then MADV_COLLAPSE the
  // registered range: collapse_file(), retract_page_tables() (a minor
  // registration is not uffd-wp, so the table goes) and
  // collapse_pte_mapped_thp() mapping the PMD. Reading again takes no fault.
  const N = 512;
  const k = simulate({ thp: { shmem_enabled: "advise" } });
  const p = k.spawn();
  const fd = p.memfdCreate("minor-collapse");
  p.ftruncate(fd, N * P);
  const hole = p.mmap(0, 8 * N * P, C.PROT_NONE, C.MAP_PRIVATE | C.MAP_ANONYMOUS);
  const base = Math.ceil(hole / (N * P)) * N * P;
  p.munmap(hole, 8 * N * P);
  const dst = p.mmap(base, N * P, RW, C.MAP_SHARED | C.MAP_FIXED, fd);
  const alias = p.mmap(base + 2 * N * P, N * P, RW, C.MAP_SHARED | C.MAP_FIXED, fd);
  p.madvise(alias, N * P, C.MADV_HUGEPAGE);
  const uffd = p.userfaultfd(C.O_CLOEXEC);
  uffd.api({ api: C.UFFD_API, features: C.UFFD_FEATURE_MINOR_SHMEM });
  uffd.register({ range: { start: alias, len: N * P }, mode: MINOR });
  for (let i = 0; i < N; i++) p.write(dst + i * P, i % 255);
  let minor = 0, missing = 0;
  uffd.handler = (msg) => {
    const a = msg.arg.pagefault.address;
    if (!(msg.arg.pagefault.flags & C.UFFD_PAGEFAULT_FLAG_MINOR)) missing++;
    minor++;
    uffd.continue({ range: { start: a - (a % P), len: P } });
  };
  for (let i = 0; i < N; i++) assert.equal(p.read(alias + i * P), i % 255);
  assert.equal(minor, N);
  p.madvise(alias, N * P, C.MADV_COLLAPSE);
  // check_pmd_mapping(): one PMD leaf maps the whole range.
  assert.equal(k.walk(p, alias).levels.at(-1)!.level, "pmd");
  for (let i = 0; i < N; i++) assert.equal(p.read(alias + i * P), i % 255);
  assert.deepEqual([minor, missing], [N, 0]);
  k.check();
});
