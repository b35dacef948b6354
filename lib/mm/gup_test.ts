import assert from "node:assert/strict";
import { simulate } from "../kernel/kernel.ts";
import * as C from "../kernel/constants.ts";
import * as U from "../userfaultfd/constants.ts";
import {
  folioMaybeDmaPinned,
  FOLL_LONGTERM,
  FOLL_WRITE,
  getUserPages,
  GUP_PIN_COUNTING_BIAS,
  pinUserPages,
  putPage,
  unpinUserPage,
} from "./gup.ts";
import { pageAnonExclusive } from "./rmap.ts";

const P = C.PAGE_SIZE;
const RW = C.PROT_READ | C.PROT_WRITE;
const ANON = C.MAP_PRIVATE | C.MAP_ANONYMOUS;

function setup(prot = RW) {
  const k = simulate();
  const p = k.spawn();
  const a = p.mmap(0, 2 * P, prot, ANON);
  return { k, p, a };
}

Deno.test("get_user_pages(FOLL_WRITE) faults the pages in and takes one reference each", () => {
  const { k, p, a } = setup();
  const pages = getUserPages(p.mm, a, 2, FOLL_WRITE) as number[];
  assert.equal(pages.length, 2);
  for (const pfn of pages) assert.equal(k.core.memmap.refcount[pfn], 2);
  k.check();
  for (const pfn of pages) putPage(k.core, pfn);
  k.check();
});

Deno.test("pin_user_pages() adds GUP_PIN_COUNTING_BIAS: folio_maybe_dma_pinned()", () => {
  const { k, p, a } = setup();
  p.write(a, 1);
  const [pfn] = pinUserPages(p.mm, a, 1, FOLL_WRITE | FOLL_LONGTERM) as number[];
  assert.equal(k.core.memmap.refcount[pfn], 1 + GUP_PIN_COUNTING_BIAS);
  assert.ok(folioMaybeDmaPinned(k.core, pfn));
  k.check();
  unpinUserPage(k.core, pfn);
  assert.equal(folioMaybeDmaPinned(k.core, pfn), false);
  k.check();
});

Deno.test("a read-only pin of a page shared with a fork child unshares it first (FAULT_FLAG_UNSHARE)", () => {
  const { k, p, a } = setup();
  p.write(a, 1);
  const child = p.fork();
  const shared = p.pagemap(a).pfn!;
  const [pfn] = pinUserPages(p.mm, a, 1, 0) as number[];
  assert.notEqual(pfn, shared);
  assert.ok(pageAnonExclusive(k.core, pfn));
  assert.equal(child.pagemap(a).pfn, shared);
  k.check();
  unpinUserPage(k.core, pfn);
});

Deno.test("fork() copies a pinned exclusive page for the child instead of sharing it", () => {
  const { k, p, a } = setup();
  p.write(a, 5);
  const [pfn] = pinUserPages(p.mm, a, 1, FOLL_WRITE) as number[];
  const child = p.fork();
  assert.notEqual(child.pagemap(a).pfn, pfn);
  assert.equal(p.pagemap(a).pfn, pfn);
  assert.equal(child.read(a), 5);
  k.check();
  unpinUserPage(k.core, pfn);
});

Deno.test("UFFDIO_MOVE of a pinned page fails with EBUSY", () => {
  const { k, p, a } = setup();
  p.write(a, 5);
  const dst = p.mmap(0, P, RW, ANON);
  const u = p.userfaultfd(0);
  u.api({ api: U.UFFD_API, features: 0 });
  u.register({ range: { start: dst, len: P }, mode: U.UFFDIO_REGISTER_MODE_MISSING });
  const [pfn] = pinUserPages(p.mm, a, 1, FOLL_WRITE) as number[];
  assert.throws(() => u.move({ dst, src: a, len: P, mode: 0 }), /EBUSY/);
  unpinUserPage(k.core, pfn);
  assert.equal(u.move({ dst, src: a, len: P, mode: 0 }), P);
  k.check();
});

Deno.test("GUP errors: FOLL_WRITE on a read-only VMA is EFAULT, FOLL_LONGTERM without a pin EINVAL", () => {
  const { p, a } = setup(C.PROT_READ);
  assert.equal(getUserPages(p.mm, a, 1, FOLL_WRITE), -14);
  assert.equal(getUserPages(p.mm, a, 1, FOLL_LONGTERM), -22);
  assert.equal(getUserPages(p.mm, 0x1000, 1, 0), -14);
});

Deno.test("a R/O long-term pin of the shared zero page in a private mapping unshares it", () => {
  const { k, p, a } = setup();
  p.read(a); // maps the zero page
  assert.equal(p.pagemap(a).pfn, k.core.zeroPfn);
  const [short] = pinUserPages(p.mm, a, 1, 0) as number[];
  assert.equal(short, k.core.zeroPfn); // a short-term pin may see the zero page
  const [pfn] = pinUserPages(p.mm, a, 1, FOLL_LONGTERM) as number[];
  assert.notEqual(pfn, k.core.zeroPfn);
  assert.equal(p.pagemap(a).pfn, pfn);
  k.check();
  unpinUserPage(k.core, pfn);
});
