import assert from "node:assert/strict";
import { simulate } from "../kernel/kernel.ts";
import * as C from "../kernel/constants.ts";
import { $display } from "../plot/display.ts";
import { check, runCases, todo } from "../exercise/exercise.ts";
import {
  cellText,
  decodePagemapExercise,
  type ExclusiveFlags,
  faultinPage,
  forkExclusiveExercise,
  type ForkScenario,
  forkScenario,
  PAGEMAP_FIELDS,
  pagemapFields,
  pagemapRow,
  pageRows,
  pageState,
  pgtablesBytes,
  pteAndFolioFlags,
  ptepGet,
  table,
} from "./tour.ts";

const RW = C.PROT_READ | C.PROT_WRITE;
const ANON = C.MAP_PRIVATE | C.MAP_ANONYMOUS;

function anonProcess(pages = 1) {
  const k = simulate();
  const p = k.spawn();
  const a = p.mmap(0, pages * C.PAGE_SIZE, RW, ANON);
  return { k, p, a };
}

Deno.test("cellText() writes bigints in hex, booleans as yes/no, null as a dash", () => {
  assert.deepEqual(
    [0x8180n, true, false, null, undefined, 12, "x", [1, 2]].map(cellText),
    ["0x8180", "yes", "no", "—", "—", "12", "x", "[1, 2]"],
  );
});

Deno.test("table() has the columns of all rows in first-seen order, as text and HTML", () => {
  const t = table([{ a: 1, b: true }, { c: 2n, a: null }], "caption <1>");
  assert.deepEqual(t.columns, ["a", "b", "c"]);
  assert.equal(
    t.text,
    ["caption <1>", "a  b    c", "-  ---  ---", "1  yes  —", "—  —    0x2"].join("\n"),
  );
  const bundle = t[$display]();
  assert.equal(bundle["text/plain"], t.text);
  const html = bundle["text/html"] as string;
  assert.match(html, /^<table><caption>caption &lt;1&gt;<\/caption><thead>/);
  assert.equal(html.match(/<tr>/g)?.length, 3);
});

Deno.test("table() rejects what is not an array of rows", () => {
  assert.throws(() => table("rows" as unknown as []), TypeError);
});

Deno.test("ptepGet() reads pte_none before the first access and the zero page after a read", () => {
  const { k, p, a } = anonProcess();
  assert.equal(ptepGet(k, p, a), 0n);
  p.read(a);
  const pte = ptepGet(k, p, a);
  assert.equal(Number((pte >> 12n) & 0xffffffffffn), k.core.zeroPfn);
  assert.equal(pte & 0x2n, 0n, "the zero-page PTE is read-only");
});

Deno.test("pageState() of the zero page has no counts; a written page is exclusive", () => {
  const { k, p, a } = anonProcess(2);
  p.read(a);
  p.write(a + C.PAGE_SIZE, 1);
  assert.deepEqual(pageState(k, p, a), {
    pfn: k.core.zeroPfn,
    page: "zero page",
    pte_write: false,
    mapcount: null,
    refcount: null,
    PageAnonExclusive: null,
    PM_MMAP_EXCLUSIVE: false,
  });
  const written = pageState(k, p, a + C.PAGE_SIZE);
  assert.deepEqual({ ...written, pfn: 0 }, {
    pfn: 0,
    page: "anon",
    pte_write: true,
    mapcount: 1,
    refcount: 1,
    PageAnonExclusive: true,
    PM_MMAP_EXCLUSIVE: true,
  });
});

Deno.test("pageRows() labels one row per process; after fork() the page is shared", () => {
  const { k, p, a } = anonProcess();
  p.write(a, 1);
  const c = p.fork();
  const rows = pageRows("after fork()", k, { parent: p, child: c }, a);
  assert.deepEqual(rows.map((r) => [r.step, r.who, r.mapcount, r.PageAnonExclusive]), [
    ["after fork()", "parent", 2, false],
    ["after fork()", "child", 2, false],
  ]);
  assert.equal(rows[0].pfn, rows[1].pfn);
});

Deno.test("faultinPage() with unshare gives the child its own read-only exclusive copy", () => {
  const { k, p, a } = anonProcess();
  p.write(a, 0x33);
  const c = p.fork();
  assert.equal(faultinPage(c, a, { unshare: true }), 0);
  const child = pageState(k, c, a), parent = pageState(k, p, a);
  assert.notEqual(child.pfn, parent.pfn);
  assert.deepEqual(
    [child.pte_write, child.PageAnonExclusive, child.mapcount, parent.PM_MMAP_EXCLUSIVE],
    [false, true, 1, true],
  );
  assert.equal(c.read(a), 0x33);
  k.check();
});

Deno.test("faultinPage() with unshare turns a private file page into an anonymous copy", () => {
  const k = simulate();
  const p = k.spawn();
  const fd = p.memfdCreate("test");
  p.ftruncate(fd, C.PAGE_SIZE);
  const f = p.mmap(0, C.PAGE_SIZE, RW, C.MAP_PRIVATE, fd, 0);
  p.read(f);
  assert.equal(pageState(k, p, f).page, "file");
  faultinPage(p, f, { unshare: true });
  const after = pageState(k, p, f);
  assert.deepEqual([after.page, after.pte_write, after.PageAnonExclusive], ["anon", false, true]);
  assert.equal(p.pagemap(f).file, false);
  k.check();
});

Deno.test("faultinPage() rejects a fault that is both unshare and write, and a hole", () => {
  const { p, a } = anonProcess();
  assert.throws(() => faultinPage(p, a, { unshare: true, write: true }), RangeError);
  assert.throws(() => faultinPage(p, a + C.PAGE_SIZE), /no VMA maps 0x/);
  assert.equal(p.mm.mmap_lock.locked, false);
});

Deno.test("pteAndFolioFlags(): zapping a dirty shmem PTE marks the folio dirty", () => {
  const k = simulate();
  const p = k.spawn();
  const fd = p.memfdCreate("test");
  p.ftruncate(fd, C.PAGE_SIZE);
  const s = p.mmap(0, C.PAGE_SIZE, RW, C.MAP_SHARED, fd, 0);
  p.read(s);
  p.write(s, 1);
  const pfn = p.pagemap(s).pfn!;
  const before = pteAndFolioFlags(k, p, s, pfn);
  assert.match(String(before["pte flags"]), /\bD\b/);
  assert.doesNotMatch(String(before["folio flags"]), /PG_dirty/);
  p.madvise(s, C.PAGE_SIZE, C.MADV_DONTNEED);
  const after = pteAndFolioFlags(k, p, s, pfn);
  assert.equal(after["pte flags"], "(pte_none)");
  assert.match(String(after["folio flags"]), /PG_dirty/);
});

Deno.test("pagemapRow() names the bits as the kernel does", () => {
  const { p, a } = anonProcess();
  p.write(a, 1);
  const row = pagemapRow("a", p.pagemap(a));
  assert.deepEqual(Object.keys(row), [
    "what",
    "raw",
    "PM_PRESENT",
    "PM_MMAP_EXCLUSIVE",
    "PM_FILE",
    "PM_SOFT_DIRTY",
    "PFN",
  ]);
  assert.deepEqual(
    [row.PM_PRESENT, row.PM_MMAP_EXCLUSIVE, row.PM_FILE, row.PM_SOFT_DIRTY],
    [true, true, false, true],
  );
});

Deno.test("PAGEMAP_FIELDS puts each PM_* bit where fs/proc/task_mmu.c does", () => {
  const bit = (name: string) => PAGEMAP_FIELDS.find((f) => f.name === name)!.lo;
  assert.equal(1n << BigInt(bit("PRESENT")), C.PM_PRESENT);
  assert.equal(1n << BigInt(bit("SWAP")), C.PM_SWAP);
  assert.equal(1n << BigInt(bit("FILE")), C.PM_FILE);
  assert.equal(1n << BigInt(bit("GUARD")), C.PM_GUARD_REGION);
  assert.equal(1n << BigInt(bit("UFFD_WP")), C.PM_UFFD_WP);
  assert.equal(1n << BigInt(bit("EXCLUSIVE")), C.PM_MMAP_EXCLUSIVE);
  assert.equal(1n << BigInt(bit("SOFT_DIRTY")), C.PM_SOFT_DIRTY);
  const pfn = PAGEMAP_FIELDS.find((f) => f.name === "PFN")!;
  assert.equal((1n << BigInt(pfn.hi + 1)) - 1n, C.PM_PFRAME_MASK);
});

Deno.test("pgtablesBytes(): dense writes share tables, sparse ones need a PTE table each", () => {
  for (const pages of [1, 2, 100, 512]) {
    assert.equal(pgtablesBytes(pages, 1), 3 * C.PAGE_SIZE, `dense, ${pages} pages`);
    assert.equal(pgtablesBytes(pages, 512), (pages + 2) * C.PAGE_SIZE, `sparse, ${pages} pages`);
  }
  assert.equal(pgtablesBytes(513, 1), 4 * C.PAGE_SIZE);
  assert.throws(() => pgtablesBytes(0, 1), /pages must be an integer in 1\.\.2\^20, got 0/);
  assert.throws(() => pgtablesBytes(1, 1.5), /stride must be an integer/);
});

Deno.test("forkScenario(): the first writer copies, the last one reuses", () => {
  const s: ForkScenario = { before: ["write", "write"], writes: [{ by: "parent", page: 0 }] };
  assert.deepEqual(forkScenario(s), { parent: [true, false], child: [true, false] });
});

Deno.test("forkScenario(): pages read or untouched before fork() are never shared", () => {
  const s: ForkScenario = {
    before: ["read", "none", "none"],
    writes: [{ by: "child", page: 0 }, { by: "parent", page: 1 }],
  };
  const expected: ExclusiveFlags = { parent: [false, true, false], child: [true, false, false] };
  assert.deepEqual(forkScenario(s), expected);
});

Deno.test("forkScenario() rejects malformed scenarios, quoting the value", () => {
  const bad: [unknown, RegExp][] = [
    [null, /needs a before array, got null/],
    [{ before: [], writes: [] }, /1\.\.16 pages, got 0/],
    [{ before: ["write", "peek"], writes: [] }, /got "peek"/],
    [{ before: ["write"] }, /needs a writes array/],
    [{ before: ["write"], writes: [{ by: "parent", page: 1 }] }, /page 0\.\.0/],
    [{ before: ["write"], writes: [{ by: "sibling", page: 0 }] }, /"sibling"/],
  ];
  for (const [input, message] of bad) {
    assert.throws(() => forkScenario(input as ForkScenario), message);
  }
});

Deno.test("decodePagemapExercise has visible and hidden cases decoded as lib/proc does", () => {
  const cases = decodePagemapExercise.cases;
  assert.ok(cases.some((c) => c.hidden) && cases.some((c) => !c.hidden));
  for (const c of cases) assert.deepEqual(c.expected, pagemapFields(c.input), c.name);
  const present = cases.filter((c) => c.expected.present).map((c) => c.expected.pfn);
  assert.ok(present.includes(0), "a present entry with PFN 0 (unprivileged reader)");
  assert.ok(present.some((pfn) => pfn! >= 2 ** 32), "a PFN beyond 32 bits");
  assert.ok(cases.some((c) => (c.input & C.PM_SWAP) !== 0n && c.expected.pfn === null));
});

Deno.test("forkExclusiveExercise expects the simulator's answers, hidden cases too", () => {
  const cases = forkExclusiveExercise.cases;
  assert.ok(cases.some((c) => c.hidden) && cases.some((c) => !c.hidden));
  for (const c of cases) assert.deepEqual(c.expected, forkScenario(c.input), c.name);
});

Deno.test("forkExclusiveExercise's table writes scenarios and flags briefly", () => {
  const format = forkExclusiveExercise.format;
  assert.equal(
    format({ before: ["write", "none"], writes: [{ by: "child", page: 1 }] }),
    "before [write none]; child writes 1",
  );
  assert.equal(format({ before: ["read"], writes: [] }), "before [read]; no writes");
  assert.equal(format({ parent: [true, false], child: [false, 1] }), "parent [x .] child [. 1]");
  assert.equal(format(42), "42");
});

Deno.test("a todo() stub leaves both exercises unsolved, and check() returns", () => {
  assert.equal(check(decodePagemapExercise, () => todo()).status, "unsolved");
  assert.equal(check(forkExclusiveExercise, () => todo()).status, "unsolved");
  assert.equal(runCases(forkExclusiveExercise, (s) => forkScenario(s)).status, "solved");
});
