/**
 * The rss counters (MM_ANONPAGES, MM_FILEPAGES, MM_SHMEMPAGES, MM_SWAPENTS;
 * /proc/pid/status RssAnon/RssFile/RssShmem) after every step of a program,
 * as Linux 6.18 counts them, with the invariant checks run after each step.
 */
import assert from "node:assert/strict";
import { constants as C, simulate } from "../../lib/mod.ts";

const P = C.PAGE_SIZE;
const RW = C.PROT_READ | C.PROT_WRITE;
const ANON = C.MAP_PRIVATE | C.MAP_ANONYMOUS;

Deno.test("rss counters follow each step of a program", async (t) => {
  const k = simulate();
  const p = k.spawn();
  const fd = p.memfdCreate("rss");
  p.ftruncate(fd, 4 * P);
  const a = p.mmap(0, 4 * P, RW, ANON);
  const s = p.mmap(0, 4 * P, RW, C.MAP_SHARED, fd);
  const q = p.mmap(0, 4 * P, RW, C.MAP_PRIVATE, fd);
  let child = p;
  const steps: [string, () => unknown, [anon: number, shmem: number]][] = [
    ["mmap alone maps nothing", () => {}, [0, 0]],
    ["a write to anonymous memory", () => p.write(a, 1), [1, 0]],
    ["a read of anonymous memory maps the zero page, which is not counted", () => p.read(a + P), [
      1,
      0,
    ]],
    ["a write through the shared memfd mapping", () => p.write(s, 1), [1, 1]],
    ["a read through the private memfd mapping maps the page-cache page", () => p.read(q), [1, 2]],
    ["a write there replaces it with an anonymous copy", () => p.write(q, 2), [2, 1]],
    ["MADV_DONTNEED on the anonymous page", () => p.madvise(a, P, C.MADV_DONTNEED), [1, 1]],
    ["munmap of the shared mapping", () => p.munmap(s, 4 * P), [1, 0]],
    [
      "MAP_POPULATE of two shared pages",
      () => p.mmap(0, 2 * P, RW, C.MAP_SHARED | C.MAP_POPULATE, fd),
      [
        1,
        2,
      ],
    ],
    ["fork: the parent's counters do not change", () => (child = p.fork()), [1, 2]],
  ];
  for (const [name, step, [anon, shmem]] of steps) {
    await t.step(name, () => {
      step();
      assert.deepEqual(p.rss(), {
        MM_FILEPAGES: 0,
        MM_ANONPAGES: anon,
        MM_SWAPENTS: 0,
        MM_SHMEMPAGES: shmem,
      });
      k.check();
    });
  }
  await t.step("the child has the copied anonymous page, not the shared ones", () => {
    assert.deepEqual(child.rss(), {
      MM_FILEPAGES: 0,
      MM_ANONPAGES: 1,
      MM_SWAPENTS: 0,
      MM_SHMEMPAGES: 0,
    });
  });
  await t.step("exit leaves no rss counter behind (no 'Bad rss-counter state')", () => {
    child.exit();
    p.exit();
    assert.deepEqual(k.dmesg.filter((l) => l.includes("rss-counter")), []);
    k.check();
  });
});

Deno.test("rss counters: a COW fault in a fork child moves nothing in the parent", () => {
  const k = simulate();
  const p = k.spawn();
  const a = p.mmap(0, 3 * P, RW, ANON);
  for (let i = 0; i < 3; i++) p.write(a + i * P, 1);
  const child = p.fork();
  child.write(a, 2);
  assert.equal(p.rss().MM_ANONPAGES, 3);
  assert.equal(child.rss().MM_ANONPAGES, 3);
  assert.equal(k.vmstat.nr_anon_pages, 4);
  child.exit();
  assert.equal(k.vmstat.nr_anon_pages, 3);
  k.check();
});
