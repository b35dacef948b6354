import assert from "node:assert/strict";
import { geometry, SZ_16G, SZ_16M, SZ_1G, SZ_256M, SZ_2M, SZ_4M, SZ_8M } from "./geometry.ts";
import {
  FAULT_FLAG_UNSHARE,
  FAULT_FLAG_WRITE,
  fork,
  GeoMm,
  handleFault,
  hugePteLockName,
  hugePteOffset,
  hugePtepGet,
  HugetlbFile,
  translate,
  userRead,
  userWrite,
  VM_FAULT_SIGSEGV,
} from "./hugetlb.ts";
import { representationSvg } from "./diagram.ts";

function mapped(platform: Parameters<typeof geometry>[0], hugepd: boolean, size: number) {
  const mm = new GeoMm(geometry(platform, { hugepd }));
  const file = new HugetlbFile("f", size);
  const a = mm.mmap({ len: size, write: true, shared: true, file });
  return { mm, a, file };
}

Deno.test("8xx 8M: page-table memory with hugepd and without", () => {
  const before = mapped("ppc8xx", true, SZ_8M);
  handleFault(before.mm, before.a, 0);
  // pgd (4 KiB) + one shared single-entry hugepte table (4 bytes).
  assert.equal(before.mm.pgtableBytes, 4096 + 4);
  const after = mapped("ppc8xx", false, SZ_8M);
  handleFault(after.mm, after.a, 0);
  // pgd + two PTE tables of 1024 cells.
  assert.equal(after.mm.pgtableBytes, 4096 + 2 * 4096);
});

Deno.test("huge_pte_offset() on 8xx 8M without hugepd gives the PMD, which huge_ptep_get() follows", () => {
  const { mm, a } = mapped("ppc8xx", false, SZ_8M);
  handleFault(mm, a, 0);
  const ptep = hugePteOffset(mm, a + SZ_8M / 2 + 5 * 4096, SZ_8M)!;
  assert.equal(ptep.pmdCast, true);
  assert.equal(ptep.table, mm.pgd);
  const e = hugePtepGet(ptep);
  assert.equal(e?.type, "leaf");
  assert.equal(e?.type === "leaf" && e.size, SZ_8M);
  const withHugepd = mapped("ppc8xx", true, SZ_8M);
  handleFault(withHugepd.mm, withHugepd.a, 0);
  assert.equal(hugePteOffset(withHugepd.mm, withHugepd.a, SZ_8M)!.table.level, "hugepd");
});

Deno.test("set_huge_pte_at() advances the frame in every replica", () => {
  const { mm, a } = mapped("ppc8xx", false, SZ_8M);
  handleFault(mm, a, 0);
  const head = translate(mm, a)!;
  assert.equal(translate(mm, a + 4096), head + 1);
  assert.equal(translate(mm, a + SZ_8M / 2), head + 1024);
  assert.equal(translate(mm, a + SZ_8M - 4096), head + 2047);
  const hash = mapped("book3s64_hash_4k", false, SZ_16M);
  handleFault(hash.mm, hash.a, 0);
  assert.equal(
    translate(hash.mm, hash.a + 3 * SZ_2M + 4096),
    translate(hash.mm, hash.a)! + 3 * 512 + 1,
  );
});

Deno.test("hugetlb_no_page(): writable shared mapping maps writable; private read maps an exclusive anon folio R/O", () => {
  const { mm, a } = mapped("x86_64", false, SZ_2M);
  handleFault(mm, a, 0);
  const e = hugePtepGet(hugePteOffset(mm, a, SZ_2M)!);
  assert.equal(e?.type === "leaf" && e.write, true);
  const p = new GeoMm(geometry("x86_64"));
  const b = p.mmap({ len: SZ_2M, write: true, shared: false, hugetlb: SZ_2M });
  handleFault(p, b, 0);
  const pe = hugePtepGet(hugePteOffset(p, b, SZ_2M)!);
  assert.equal(pe?.type === "leaf" && pe.write, false);
  const folio = p.memory.folioOf(translate(p, b)!);
  assert.deepEqual([folio.anon, folio.anonExclusive], [true, true]);
});

Deno.test("hugetlb_wp(): a write fault without VM_WRITE is SIGSEGV; an unshare fault copies a shared page-cache folio", () => {
  const mm = new GeoMm(geometry("book3s64_hash_4k", { hugepd: true }));
  const file = new HugetlbFile("f", SZ_16M);
  const writer = mm.mmap({ len: SZ_16M, write: true, shared: true, file });
  userWrite(mm, writer, 7);
  const ro = mm.mmap({ len: SZ_16M, write: false, shared: false, file });
  assert.equal(handleFault(mm, ro, FAULT_FLAG_WRITE).ret, VM_FAULT_SIGSEGV);
  const priv = mm.mmap({ len: SZ_16M, write: true, shared: false, file });
  assert.equal(userRead(mm, priv), 7);
  assert.equal(translate(mm, priv), translate(mm, writer));
  assert.equal(handleFault(mm, priv, FAULT_FLAG_UNSHARE).action, "copy");
  assert.notEqual(translate(mm, priv), translate(mm, writer));
  assert.equal(userRead(mm, priv), 7);
});

Deno.test("fork(): private hugetlb pages are shared read-only and copied on write", () => {
  const mm = new GeoMm(geometry("book3s64_hash_4k"));
  const a = mm.mmap({ len: SZ_16G, write: true, shared: false, hugetlb: SZ_16G });
  userWrite(mm, a, 1);
  const child = fork(mm);
  assert.equal(translate(child, a), translate(mm, a));
  assert.equal(mm.memory.folioOf(translate(mm, a)!).anonExclusive, false);
  userWrite(child, a, 2);
  assert.equal(userRead(mm, a), 1);
  assert.equal(userRead(child, a), 2);
});

Deno.test("huge_pte_lockptr(): the lock helper per size, v6.18 and v6.10", () => {
  const rows: [string, boolean, number, string][] = [
    ["x86_64", false, SZ_2M, "pmd_lockptr"],
    ["x86_64", false, 2 ** 30, "pud_lockptr"],
    ["arm64_4k", false, 2 ** 16, "ptep_lockptr"],
    ["arm64_4k", false, 2 ** 25, "pmd_lockptr"],
    ["ppc8xx", false, 2 ** 19, "ptep_lockptr"],
    ["ppc8xx", false, SZ_8M, "pud_lockptr"],
    ["ppc8xx", true, SZ_8M, "mm->page_table_lock"],
    ["e500", false, 2 ** 22, "pud_lockptr"],
    // e500/64: PMD_SIZE 2M, PUD_SIZE 256M (nohash/64/pgtable-4k.h).
    ["e500_64", false, SZ_4M, "pmd_lockptr"],
    ["e500_64", false, SZ_256M, "pud_lockptr"],
    ["e500_64", false, SZ_1G, "pud_lockptr"],
    ["e500_64", true, SZ_4M, "mm->page_table_lock"],
    ["e500_64", true, SZ_1G, "mm->page_table_lock"],
    ["book3s64_hash_4k", false, SZ_16M, "pmd_lockptr"],
    ["book3s64_hash_4k", true, SZ_16M, "mm->page_table_lock"],
    ["book3s64_hash_4k", false, SZ_16G, "pud_lockptr"],
  ];
  for (const [platform, hugepd, size, lock] of rows) {
    const g = geometry(platform as Parameters<typeof geometry>[0], { hugepd });
    assert.equal(hugePteLockName(g, size), lock, `${platform} ${hugepd} ${size}`);
  }
});

Deno.test("representationSvg(): the 8xx 8M page, with hugepd and without", () => {
  const before = mapped("ppc8xx", true, SZ_8M);
  handleFault(before.mm, before.a, 0);
  const f = representationSvg(before.mm, before.a, SZ_8M);
  assert.match(f.text, /\[2\.\.3\] 2× → hugepd shift 23/);
  assert.match(f.text, /hugepd table \(4 B\): \[0\] leaf/);
  assert.ok(f.svg.startsWith("<svg"));
  const after = mapped("ppc8xx", false, SZ_8M);
  handleFault(after.mm, after.a, 0);
  const g = representationSvg(after.mm, after.a, SZ_8M).text;
  assert.equal(g.match(/1024× leaf/g)?.length, 2);
  assert.match(g, /_PMD_PAGE_8M/);
});

Deno.test("hash 16G (v6.11+): 64 contiguous PUD entries", () => {
  const { mm, a } = mapped("book3s64_hash_4k", false, SZ_16G);
  handleFault(mm, a, 0);
  assert.match(representationSvg(mm, a, SZ_16G).text, /64× leaf/);
});

Deno.test("e500/64 1G: four leaf PUD entries (v6.11+), four PUD hugepds to one hugepte (v6.10)", () => {
  const after = mapped("e500_64", false, SZ_1G);
  handleFault(after.mm, after.a, FAULT_FLAG_WRITE);
  const ptep = hugePteOffset(after.mm, after.a + 3 * SZ_256M + 4096, SZ_1G)!;
  assert.equal(ptep.table.level, "pud");
  const head = translate(after.mm, after.a)!;
  // set_huge_pte_at(): each PUD entry's frame advances by PUD_SIZE / PAGE_SIZE.
  assert.equal(translate(after.mm, after.a + 3 * SZ_256M + 4096), head + 3 * 65536 + 1);
  const pud = ptep.table;
  const leaves = [...pud.entries.values()].filter((e) => e.type === "leaf");
  assert.deepEqual(
    leaves.map((e) => e.type === "leaf" && [e.pfn - head, e.size, e.flags.join()]),
    [0, 1, 2, 3].map((i) => [i * 65536, SZ_1G, "_PAGE_PSIZE_MSK=0xa00"]),
  );
  // pgd + pud table, no PMD or PTE table below.
  assert.equal(after.mm.pgtableBytes, 4096 + 4096);
  const before = mapped("e500_64", true, SZ_1G);
  handleFault(before.mm, before.a, FAULT_FLAG_WRITE);
  const hp = hugePteOffset(before.mm, before.a + 3 * SZ_256M, SZ_1G)!;
  assert.equal(hp.table.level, "hugepd");
  assert.equal(
    translate(before.mm, before.a + 3 * SZ_256M + 4096),
    translate(before.mm, before.a)! + 3 * 65536 + 1,
  );
  // pgd + pud table + one 8-byte hugepte table.
  assert.equal(before.mm.pgtableBytes, 4096 + 4096 + 8);
});

Deno.test("e500/64 16M: eight contiguous leaf PMD entries below a PUD entry", () => {
  const { mm, a } = mapped("e500_64", false, SZ_16M);
  handleFault(mm, a, 0);
  assert.equal(hugePteOffset(mm, a, SZ_16M)!.table.level, "pmd");
  assert.equal(translate(mm, a + 7 * SZ_2M), translate(mm, a)! + 7 * 512);
  // pgd + pud + a 1 KiB PMD table (PMD_INDEX_SIZE 7).
  assert.equal(mm.pgtableBytes, 4096 + 4096 + 1024);
});
