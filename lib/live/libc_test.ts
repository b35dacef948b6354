import assert from "node:assert/strict";
import { liveTestsEnabled } from "./_testing.ts";
import { Errno } from "./errno.ts";
import { madvise, mapAnonymous, mmap, mprotect, munmap, pageSize } from "./libc.ts";
import {
  MADV_DONTNEED,
  MADV_NOHUGEPAGE,
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  PROT_READ,
  PROT_WRITE,
} from "./mman.ts";
import { smapsOf } from "./smaps.ts";

// These tests make real system calls and read /proc/self/smaps: Linux and -A.
const ignore = !liveTestsEnabled();

/** Run `fn` and return the Errno it throws; fail if it throws nothing or something else. */
function errnoOf(fn: () => void): Errno {
  try {
    fn();
  } catch (e) {
    if (e instanceof Errno) return e;
    throw e;
  }
  assert.fail("expected an Errno");
}

Deno.test("pageSize() is the host's base page size", { ignore }, () => {
  if (Deno.build.arch === "x86_64") assert.equal(pageSize(), 4096);
  else assert.ok([4096, 16384, 65536].includes(pageSize()), `page size ${pageSize()}`);
});

Deno.test("mmap() + write + munmap() round-trips through real pages", { ignore }, () => {
  const ps = pageSize();
  const region = mapAnonymous(4 * ps);
  assert.equal(region.addr % ps, 0);
  assert.equal(region.view.length, 4 * ps);
  assert.equal(smapsOf(region.addr).kB.Rss, 0, "nothing resident before the first write");
  for (let i = 0; i < 4; i++) region.view[i * ps] = 0x41 + i;
  assert.deepEqual([0, 1, 2, 3].map((i) => region.view[i * ps]), [0x41, 0x42, 0x43, 0x44]);
  assert.equal(region.view[ps + 1], 0, "anonymous memory starts zeroed");
  assert.equal(smapsOf(region.addr).kB.Rss, (4 * ps) / 1024, "each write faulted one page in");
  region.unmap();
  assert.equal(region.view.length, 0, "the view is detached after munmap");
  assert.throws(() => smapsOf(region.addr), RangeError);
  region.unmap(); // idempotent
});

Deno.test("mapAnonymous() applies madvise advice: MADV_NOHUGEPAGE sets VmFlags nh", {
  ignore,
}, () => {
  using region = mapAnonymous(4 * pageSize(), { advice: [MADV_NOHUGEPAGE] });
  assert.ok(smapsOf(region.addr).vmFlags.includes("nh"));
});

Deno.test("madvise(MADV_DONTNEED) drops the pages: they read back as zero", { ignore }, () => {
  using region = mapAnonymous(2 * pageSize());
  region.view[0] = 7;
  madvise(region.addr, 2 * pageSize(), MADV_DONTNEED);
  assert.equal(region.view[0], 0);
  assert.equal(smapsOf(region.addr).kB.Rss, 0);
});

Deno.test("madvise() at an unaligned address throws Errno EINVAL", { ignore }, () => {
  using region = mapAnonymous(pageSize());
  const e = errnoOf(() => madvise(region.addr + 1, pageSize(), MADV_DONTNEED));
  assert.equal(e.errno, "EINVAL");
  assert.equal(e.code, 22);
  assert.equal(
    e.message,
    `madvise(0x${(region.addr + 1).toString(16)}, ${pageSize()}, MADV_DONTNEED): ` +
      "EINVAL (Invalid argument)",
  );
});

Deno.test("madvise() on an unmapped range throws Errno ENOMEM", { ignore }, () => {
  const region = mapAnonymous(pageSize());
  region.unmap();
  const e = errnoOf(() => madvise(region.addr, pageSize(), MADV_DONTNEED));
  assert.equal(e.errno, "ENOMEM");
  assert.equal(e.code, 12);
});

Deno.test("mmap() of length 0 throws Errno EINVAL naming the call", { ignore }, () => {
  const e = errnoOf(() => mmap(0, 0, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS));
  assert.equal(e.errno, "EINVAL");
  assert.equal(e.syscall, "mmap(0x0, 0, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0)");
});

Deno.test("mmap() larger than the address space throws Errno ENOMEM", { ignore }, () => {
  const e = errnoOf(() => mmap(0, 2 ** 52, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS));
  assert.equal(e.errno, "ENOMEM");
});

Deno.test("mprotect() to PROT_READ keeps the data readable; unaligned is EINVAL", {
  ignore,
}, () => {
  using region = mapAnonymous(pageSize());
  region.view[0] = 9;
  mprotect(region.addr, pageSize(), PROT_READ);
  assert.equal(region.view[0], 9);
  assert.match(smapsOf(region.addr).header, /^r--p /);
  assert.equal(errnoOf(() => mprotect(region.addr + 1, 1, PROT_READ)).errno, "EINVAL");
});

Deno.test("munmap() of an unaligned address throws Errno EINVAL", { ignore }, () => {
  assert.equal(errnoOf(() => munmap(pageSize() + 1, pageSize())).errno, "EINVAL");
});

Deno.test("a negative or fractional length is a RangeError quoting it, not a syscall", () => {
  assert.throws(() => mmap(0, -4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS), {
    name: "RangeError",
    message: "mmap length must be a non-negative safe integer, got -4096",
  });
  assert.throws(() => madvise(0, 0.5, MADV_DONTNEED), {
    name: "RangeError",
    message: "madvise length must be a non-negative safe integer, got 0.5",
  });
});
