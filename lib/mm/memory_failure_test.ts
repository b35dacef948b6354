import assert from "node:assert/strict";
import {
  constants as C,
  memoryFailure,
  MF_ACTION_REQUIRED,
  pageHWPoison,
  simulate,
} from "../mod.ts";

const P = C.PAGE_SIZE;
const RW = C.PROT_READ | C.PROT_WRITE;
const ANON = C.MAP_PRIVATE | C.MAP_ANONYMOUS;

Deno.test("memoryFailure() unmaps a COW-shared page from every mm, kills only current", () => {
  const k = simulate();
  const parent = k.spawn({ comm: "parent" });
  const a = parent.mmap(0, P, RW, ANON);
  parent.write(a, 7);
  const child = parent.fork();
  const pfn = parent.pagemap(a).pfn!;
  assert.equal(k.core.memmap.mapcount[pfn], 2);
  const cur = { mm: child.mm, comm: "child", pid: child.pid };
  const r = memoryFailure(k.core, pfn, MF_ACTION_REQUIRED, cur);
  assert.equal(r.ret, 0);
  assert.deepEqual([r.signal?.signo, r.signal?.code, r.signal?.addr], [
    "SIGBUS",
    "BUS_MCEERR_AR",
    a,
  ]);
  assert.ok(pageHWPoison(k.core, pfn));
  assert.deepEqual([k.core.memmap.mapcount[pfn], k.core.memmap.refcount[pfn]], [0, 1]);
  for (const p of [parent, child]) {
    assert.deepEqual([p.pagemap(a).swapped, p.pagemap(a).swapOffset], [true, pfn]);
  }
  k.check();
});

Deno.test("memoryFailure() without MF_ACTION_REQUIRED kills nobody", () => {
  const k = simulate();
  const p = k.spawn();
  const a = p.mmap(0, P, RW, ANON);
  p.write(a, 7);
  const pfn = p.pagemap(a).pfn!;
  const r = memoryFailure(k.core, pfn, 0, { mm: p.mm, comm: "a.out", pid: p.pid });
  assert.deepEqual(r, { ret: 0, signal: null });
  k.check();
});

Deno.test("memoryFailure() ignores the zero page (a reserved page): -EBUSY", () => {
  const k = simulate();
  const r = memoryFailure(k.core, k.core.zeroPfn, MF_ACTION_REQUIRED, null);
  assert.equal(r.ret, -16);
  assert.equal(pageHWPoison(k.core, k.core.zeroPfn), false);
  k.check();
});
