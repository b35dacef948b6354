/**
 * mprotect(2) (mm/mprotect.c do_mprotect_pkey(), mprotect_fixup(),
 * change_pte_range()): errno cases in the kernel's order, PROT_GROWSDOWN,
 * partial progress, and what happens to the PTEs. Checked on Linux 6.18.
 */
import assert from "node:assert/strict";
import { constants as C, simulate } from "../../lib/mod.ts";
import { errnoOf } from "../_outcome.ts";

const P = C.PAGE_SIZE;
const RW = C.PROT_READ | C.PROT_WRITE;
const ANON = C.MAP_PRIVATE | C.MAP_ANONYMOUS;
const BASE = 0x100000000000;

Deno.test("mprotect() errno cases, one row each", async (t) => {
  const p = simulate().spawn();
  const a = p.mmap(BASE, 2 * P, RW, ANON | C.MAP_FIXED);
  const rows: [string, () => unknown, string][] = [
    ["unaligned address", () => p.mprotect(a + 1, P, C.PROT_READ), "EINVAL"],
    ["address -1 is unaligned, not past the end", () => p.mprotect(-1, P, C.PROT_READ), "EINVAL"],
    ["unknown prot bit", () => p.mprotect(a, P, 0x10), "EINVAL"],
    [
      "a range ending at 2^64 wraps: ENOMEM before the prot check",
      () => p.mprotect(-P, P, 0x10),
      "ENOMEM",
    ],
    ["no VMA in the range", () => p.mprotect(BASE + 16 * P, P, C.PROT_READ), "ENOMEM"],
    ["the range starts in a hole", () => p.mprotect(a - P, 2 * P, C.PROT_READ), "ENOMEM"],
    [
      "PROT_GROWSUP (x86 has no VM_GROWSUP)",
      () => p.mprotect(a, P, C.PROT_READ | C.PROT_GROWSUP),
      "EINVAL",
    ],
    [
      "PROT_GROWSDOWN on a VMA that does not grow down",
      () => p.mprotect(a, P, C.PROT_READ | C.PROT_GROWSDOWN),
      "EINVAL",
    ],
    [
      "PROT_GROWSDOWN and PROT_GROWSUP together",
      () => p.mprotect(a, P, C.PROT_READ | C.PROT_GROWSDOWN | C.PROT_GROWSUP),
      "EINVAL",
    ],
    ["length 0 does nothing", () => p.mprotect(a + 1000 * P, 0, C.PROT_READ), "ok"],
    ["PROT_SEM is accepted", () => p.mprotect(a, P, C.PROT_READ | C.PROT_SEM), "ok"],
  ];
  for (const [name, fn, want] of rows) await t.step(name, () => assert.equal(errnoOf(fn), want));
});

Deno.test("mprotect(PROT_GROWSDOWN) extends the change down to the start of a MAP_GROWSDOWN VMA", () => {
  const p = simulate().spawn();
  const g = p.mmap(BASE, 4 * P, RW, ANON | C.MAP_FIXED | C.MAP_GROWSDOWN);
  p.mprotect(g + 2 * P, P, C.PROT_READ | C.PROT_GROWSDOWN);
  assert.deepEqual(p.maps().split("\n").map((l) => l.split(" ").slice(0, 2).join(" ")), [
    "100000000000-100000003000 r--p",
    "100000003000-100000004000 rw-p",
  ]);
  assert.equal(errnoOf(() => p.mprotect(g - 2 * P, P, C.PROT_READ | C.PROT_GROWSDOWN)), "ENOMEM");
});

Deno.test("mprotect() changes the VMAs before a hole, then fails with ENOMEM", () => {
  const p = simulate().spawn();
  const a = p.mmap(BASE, 2 * P, RW, ANON | C.MAP_FIXED);
  p.mmap(BASE + 3 * P, P, RW, ANON | C.MAP_FIXED);
  assert.equal(errnoOf(() => p.mprotect(a, 4 * P, C.PROT_READ)), "ENOMEM");
  assert.match(p.maps().split("\n")[0], /^100000000000-100000002000 r--p/);
  assert.match(p.maps().split("\n")[1], /^100000003000-100000004000 rw-p/);
});

Deno.test("mprotect() PROT_NONE then back keeps the data", () => {
  const k = simulate();
  const p = k.spawn();
  const a = p.mmap(0, P, RW, ANON);
  p.write(a, 0x5a);
  p.mprotect(a, P, C.PROT_NONE);
  assert.equal(p.pagemap(a).present, true, "a PROT_NONE PTE is still present to pagemap");
  p.mprotect(a, P, C.PROT_READ);
  assert.equal(p.read(a), 0x5a);
  k.check();
});

Deno.test("mprotect() making a private VM_LOCKED mapping writable breaks COW at once", () => {
  const k = simulate();
  const p = k.spawn();
  const a = p.mmap(0, 2 * P, C.PROT_READ, ANON | C.MAP_LOCKED);
  assert.equal(p.pagemap(a).present && !p.pagemap(a).exclusive, true, "locked: the zero page");
  p.mprotect(a, 2 * P, RW);
  const e = p.pagemap(a);
  assert.equal(e.present && e.exclusive, true, "a fresh anonymous page");
  assert.equal(p.rss().MM_ANONPAGES, 2);
  k.check();
});
