import assert from "node:assert/strict";
import { simulate } from "../kernel/kernel.ts";
import * as C from "../kernel/constants.ts";
import { Errno } from "../kernel/errno.ts";
import { dmirrorOpen, DPT_XA_TAG_READ, DPT_XA_TAG_WRITE } from "./test_hmm.ts";

const P = C.PAGE_SIZE;

function lab() {
  const k = simulate();
  const p = k.spawn();
  const a = p.mmap(0, 2 * P, C.PROT_READ | C.PROT_WRITE, C.MAP_PRIVATE | C.MAP_ANONYMOUS);
  return { k, p, a, d: dmirrorOpen(p) };
}

Deno.test("a device read faults the page in and mirrors it; a device write needs a WRITE mirror", () => {
  const { k, p, a, d } = lab();
  assert.deepEqual([...d.read(a, 2)], [0, 0]); // the zero page, mirrored read-only
  assert.equal(d.entry(a)!.tag, DPT_XA_TAG_READ);
  d.write(a, new Uint8Array([7]));
  assert.equal(d.entry(a)!.tag, DPT_XA_TAG_WRITE);
  assert.equal(p.read(a), 7);
  assert.equal(d.stats.faults, 2);
  k.check();
});

Deno.test("a CPU change of the PTEs drops the device's mirror of them", () => {
  const { p, a, d } = lab();
  d.write(a, new Uint8Array([1]));
  p.madvise(a, P, C.MADV_DONTNEED);
  assert.equal(d.entry(a), null);
  assert.equal(d.stats.byEvent.MMU_NOTIFY_CLEAR, 1);
});

Deno.test("a device read outside any VMA is EFAULT; close() stops the mirroring", () => {
  const { p, a, d } = lab();
  assert.throws(() => d.read(0x1000, 1), (e) => e instanceof Errno && e.errno === "EFAULT");
  d.write(a, new Uint8Array([1]));
  d.close();
  assert.equal(d.entry(a), null);
  p.munmap(a, 2 * P);
  assert.equal(d.stats.invalidations, 0);
});

Deno.test("the mirror of a PMD-mapped THP takes each page's frame from the PMD (hmm_vma_handle_pmd())", () => {
  const k = simulate();
  const p = k.spawn();
  const PMD = 512 * P;
  const a = p.mmap(0, 2 * PMD, C.PROT_READ | C.PROT_WRITE, C.MAP_PRIVATE | C.MAP_ANONYMOUS);
  p.madvise(a, 2 * PMD, C.MADV_HUGEPAGE);
  p.write(a + 3 * P, 9);
  assert.equal(k.walk(p, a).levels.at(-1)!.level, "pmd");
  const d = dmirrorOpen(p);
  assert.deepEqual([...d.read(a + 3 * P, 1)], [9]);
  assert.equal(d.entry(a + 3 * P)!.pfn, p.pagemap(a + 3 * P).pfn);
  d.write(a + 7 * P, new Uint8Array([5]));
  assert.equal(p.read(a + 7 * P), 5);
  assert.equal(k.walk(p, a).levels.at(-1)!.level, "pmd", "the THP stays whole");
  k.check();
});
