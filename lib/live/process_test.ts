import assert from "node:assert/strict";
import { liveTestsEnabled } from "./_testing.ts";
import { Errno } from "./errno.ts";
import { liveProcess } from "./process.ts";
import {
  MADV_DONTNEED,
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  MAP_SHARED,
  PROT_READ,
  PROT_WRITE,
} from "./mman.ts";
import { pageSize } from "./libc.ts";

// These tests make real system calls on this Deno process: Linux and -A.
const ignore = !liveTestsEnabled();
const RW = PROT_READ | PROT_WRITE;

Deno.test("LiveProcess: write, read and pagemap of an anonymous page", { ignore }, () => {
  using p = liveProcess();
  const ps = pageSize();
  const a = p.mmap(0, 2 * ps, RW, MAP_PRIVATE | MAP_ANONYMOUS);
  try {
    assert.equal(p.pagemap(a).present, false, "nothing mapped before the first touch");
    p.write(a + 5, 0x41);
    assert.equal(p.read(a + 5), 0x41);
    assert.deepEqual([...p.read(a + 4, 3)], [0, 0x41, 0]);
    const e = p.pagemap(a);
    assert.equal(e.present, true);
    assert.equal(e.file, false);
    assert.equal(e.exclusive, true);
    assert.equal(p.madvise(a, ps, MADV_DONTNEED), 0);
    assert.equal(p.read(a + 5), 0, "MADV_DONTNEED dropped the page");
  } finally {
    p.munmap(a, 2 * ps);
  }
});

Deno.test("LiveProcess: a memfd mapped shared shows the file bit", { ignore }, () => {
  using p = liveProcess();
  const ps = pageSize();
  const fd = p.memfdCreate("live-test", 0);
  try {
    assert.equal(p.ftruncate(fd, ps), 0);
    const a = p.mmap(0, ps, RW, MAP_SHARED, fd, 0);
    p.write(a, 9);
    assert.equal(p.pagemap(a).file, true);
    p.munmap(a, ps);
  } finally {
    p.close(fd);
  }
  assert.throws(() => p.close(fd), (e) => e instanceof Errno && e.errno === "EBADF");
});

Deno.test("LiveProcess: failures are the simulator's Errno", { ignore }, () => {
  using p = liveProcess();
  assert.throws(
    () => p.mmap(0, 0, RW, MAP_PRIVATE | MAP_ANONYMOUS),
    (e) => e instanceof Errno && e.errno === "EINVAL",
  );
  assert.throws(() => p.ftruncate(-1, 0), (e) => e instanceof Errno && e.errno === "EBADF");
});
