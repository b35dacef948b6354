/**
 * Lesson 02, "UFFDIO_CONTINUE and mfill_atomic_install_pte"
 * (notebooks/02_uffd_continue.ipynb): the helpers its cells use — a minor
 * fault set-up on shmem, the table of what mfill_atomic_install_pte()
 * installs for each ioctl and mapping, the reclaim run that shows why a
 * UFFDIO_COPY'd shmem page must be dirty, the page-cache accounting steps,
 * the quoting of library source — and its three checked exercises.
 *
 * Every expected answer is computed by the simulated kernel.
 * @module
 */
import { simulate } from "../kernel/kernel.ts";
import type { Kernel } from "../kernel/kernel.ts";
import type { Process } from "../kernel/process.ts";
import { Errno } from "../kernel/errno.ts";
import * as C from "../kernel/constants.ts";
import { pageFlagNames } from "../mm/memmap.ts";
import { folioTestAnon } from "../mm/rmap.ts";
import { pteDirty, pteWrite } from "../arch/x86/pgtable.ts";
import { SHMEM_I } from "../mm/shmem.ts";
import type { Inode } from "../mm/mm_types.ts";
import { entryFlagNames } from "../pgtable/decode.ts";
import type { UffdMsgPagefault, Userfaultfd } from "../userfaultfd/userfaultfd.ts";
import { defineExercise, type Exercise } from "../exercise/exercise.ts";
import { ptepGet, type Row } from "./tour.ts";
import { $display, type Displayable, type MediaBundle } from "../plot/display.ts";

const P = C.PAGE_SIZE;
const RW = C.PROT_READ | C.PROT_WRITE;
const ANON = C.MAP_PRIVATE | C.MAP_ANONYMOUS;

/** A quoted piece of library source: displays as a TypeScript code block. */
export class SourceQuote implements Displayable {
  constructor(readonly file: string, readonly text: string) {}
  [$display](): MediaBundle {
    return {
      "text/plain": this.text,
      "text/markdown": `\`lib/${this.file}\`:\n\n\`\`\`ts\n${this.text}\n\`\`\``,
    };
  }
  toString(): string {
    return this.text;
  }
}

/**
 * One top-level function of a library file, from its doc comment to its
 * closing brace: how the lesson quotes the model's code instead of copying
 * it. `file` is relative to lib/.
 */
export function librarySource(file: string, name: string): SourceQuote {
  const text = Deno.readTextFileSync(new URL(`../${file}`, import.meta.url));
  const lines = text.split("\n");
  const start = lines.findIndex((l) => new RegExp(`^(export )?function ${name}\\b`).test(l));
  if (start < 0) throw new RangeError(`no function ${name} in lib/${file}`);
  let first = start;
  if (lines[start - 1]?.trim() === "*/") {
    while (first > 0 && !lines[first].trimStart().startsWith("/**")) first--;
  }
  const end = lines.findIndex((l, i) => i > start && l === "}");
  return new SourceQuote(file, lines.slice(first, end + 1).join("\n"));
}

// --- minor faults ---------------------------------------------------------------------------

/** A shmem file mapped twice: `dst` registered for minor faults, `alias` not. */
export interface MinorSetup {
  k: Kernel;
  p: Process;
  fd: number;
  /** The registered mapping (what a VM's guest memory would be). */
  dst: number;
  /** A second mapping of the same file (what the VMM writes through). */
  alias: number;
  pages: number;
  uffd: Userfaultfd;
  /** Every fault message the handler received. */
  faults: UffdMsgPagefault[];
}

/**
 * uffd-unit-tests' "minor" set-up: a memfd of `pages` pages mapped
 * MAP_SHARED twice, page i written with i through the alias (so the page
 * cache holds every page), and the first mapping registered
 * UFFDIO_REGISTER_MODE_MINOR (with WP too if asked).
 */
export function minorSetup(pages = 4, wp = false): MinorSetup {
  const k = simulate();
  const p = k.spawn({ comm: "vmm" });
  const fd = p.memfdCreate("guest-memory");
  p.ftruncate(fd, pages * P);
  const dst = p.mmap(0, pages * P, RW, C.MAP_SHARED, fd);
  const alias = p.mmap(0, pages * P, RW, C.MAP_SHARED, fd);
  for (let i = 0; i < pages; i++) p.write(alias + i * P, i);
  const uffd = p.userfaultfd(0);
  const features = C.UFFD_FEATURE_MINOR_SHMEM | (wp ? C.UFFD_FEATURE_WP_HUGETLBFS_SHMEM : 0);
  uffd.api({ api: C.UFFD_API, features });
  const mode = C.UFFDIO_REGISTER_MODE_MINOR | (wp ? C.UFFDIO_REGISTER_MODE_WP : 0);
  uffd.register({ range: { start: dst, len: pages * P }, mode });
  return { k, p, fd, dst, alias, pages, uffd, faults: [] };
}

/** The flag names of the PTE at `addr` and of the folio it maps. */
export function pteFolio(k: Kernel, p: Process, addr: number): Row {
  const e = p.pagemap(addr);
  return {
    pte: entryFlagNames(ptepGet(k, p, addr)).filter((f) => f !== "PFN").join(" ") || "(none)",
    folio: e.present && e.pfn !== null ? pageFlagNames(k.core.memmap.flags[e.pfn]).join(" ") : "",
  };
}

// --- what mfill_atomic_install_pte() installs ---------------------------------------------

/** One row of the install table, and the input of exercise (a). */
export interface InstallInput {
  op: "COPY" | "CONTINUE";
  backing: "anon" | "shmem";
  mapping: "MAP_SHARED" | "MAP_PRIVATE";
  /** PROT_WRITE in the registered mapping. */
  writable: boolean;
  /** UFFDIO_COPY_MODE_WP / UFFDIO_CONTINUE_MODE_WP (the range is registered WP too). */
  wp: boolean;
}

/** What the ioctl did: its errno, or the PTE's bits and where the page lives. */
export interface InstallOutcome {
  errno: string;
  /** _PAGE_RW, _PAGE_DIRTY, _PAGE_UFFD_WP of the new PTE. */
  rw: boolean;
  dirty: boolean;
  uffdWp: boolean;
  /** "anon": a new anonymous folio; "page cache": a shmem page-cache folio. */
  page: "anon" | "page cache" | null;
}

/**
 * Runs one UFFDIO_COPY or UFFDIO_CONTINUE on a fresh kernel: an anonymous
 * or memfd mapping of 2 pages registered MISSING (COPY) or MINOR
 * (CONTINUE), plus WP when asked; for CONTINUE the page cache is filled
 * through an alias first. Reports the resulting PTE.
 */
export function installOutcome(input: InstallInput): InstallOutcome {
  const k = simulate();
  const p = k.spawn();
  const prot = input.writable ? RW : C.PROT_READ;
  let dst: number;
  if (input.backing === "anon") {
    const flags = input.mapping === "MAP_SHARED" ? C.MAP_SHARED | C.MAP_ANONYMOUS : ANON;
    dst = p.mmap(0, 2 * P, prot, flags);
  } else {
    const fd = p.memfdCreate("f");
    p.ftruncate(fd, 2 * P);
    dst = p.mmap(0, 2 * P, prot, C[input.mapping], fd);
    const alias = p.mmap(0, 2 * P, RW, C.MAP_SHARED, fd);
    if (input.op === "CONTINUE") p.write(alias, 9);
  }
  const buf = p.mmap(0, P, RW, ANON);
  p.write(buf, 7);
  const uffd = p.userfaultfd(0);
  let features = input.op === "CONTINUE" ? C.UFFD_FEATURE_MINOR_SHMEM : 0;
  if (input.wp) features |= C.UFFD_FEATURE_WP_HUGETLBFS_SHMEM;
  const none = { errno: "", rw: false, dirty: false, uffdWp: false, page: null };
  try {
    uffd.api({ api: C.UFFD_API, features });
    let mode = input.op === "CONTINUE"
      ? C.UFFDIO_REGISTER_MODE_MINOR
      : C.UFFDIO_REGISTER_MODE_MISSING;
    if (input.wp) mode |= C.UFFDIO_REGISTER_MODE_WP;
    uffd.register({ range: { start: dst, len: 2 * P }, mode });
    if (input.op === "COPY") {
      uffd.copy({ dst, src: buf, len: P, mode: input.wp ? C.UFFDIO_COPY_MODE_WP : 0 });
    } else {
      uffd.continue({
        range: { start: dst, len: P },
        mode: input.wp ? C.UFFDIO_CONTINUE_MODE_WP : 0,
      });
    }
  } catch (e) {
    if (e instanceof Errno) return { ...none, errno: e.errno };
    throw e;
  }
  const pte = ptepGet(k, p, dst);
  const pfn = p.pagemap(dst).pfn!;
  const anon = folioTestAnon(k.core, pfn);
  return {
    errno: "ok",
    rw: pteWrite(pte),
    dirty: pteDirty(pte),
    uffdWp: p.pagemap(dst).uffdWp,
    page: anon ? "anon" : "page cache",
  };
}

/** Every combination the lesson's table shows (writable mappings, no WP). */
export const INSTALL_ROWS: readonly InstallInput[] = [
  { op: "COPY", backing: "anon", mapping: "MAP_PRIVATE", writable: true, wp: false },
  { op: "COPY", backing: "shmem", mapping: "MAP_SHARED", writable: true, wp: false },
  { op: "COPY", backing: "shmem", mapping: "MAP_PRIVATE", writable: true, wp: false },
  { op: "CONTINUE", backing: "shmem", mapping: "MAP_SHARED", writable: true, wp: false },
  { op: "CONTINUE", backing: "shmem", mapping: "MAP_PRIVATE", writable: true, wp: false },
  { op: "CONTINUE", backing: "anon", mapping: "MAP_PRIVATE", writable: true, wp: false },
];

/** The install table: one row per input, the path taken and what it installed. */
export function installTable(inputs: readonly InstallInput[] = INSTALL_ROWS): Row[] {
  return inputs.map((i) => {
    const o = installOutcome(i);
    return {
      ioctl: `UFFDIO_${i.op}`,
      mapping: `${i.backing} ${i.mapping}${i.writable ? "" : " read-only"}${i.wp ? " +WP" : ""}`,
      path: pathOf(i),
      result: o.errno,
      "PTE RW": o.rw,
      "PTE D": o.dirty,
      "PTE UFFD_WP": o.uffdWp,
      page: o.page,
    };
  });
}

function pathOf(i: InstallInput): string {
  if (i.op === "CONTINUE") {
    return i.backing === "anon" ? "mfill_atomic(): -EINVAL" : "mfill_atomic_pte_continue()";
  }
  if (i.mapping === "MAP_PRIVATE") return "mfill_atomic_pte_copy()";
  return "shmem_mfill_atomic_pte()";
}

// --- the dirty bit and reclaim ------------------------------------------------------------

/** The input of exercise (c) and of {@linkcode reclaimRun}. */
export interface ReclaimInput {
  /** "v6.18", or the mcopyInstallPtesV2 variant (seed 002). */
  kernel: "v6.18" | "v2 9/9";
  /** Protection of the shared shmem mapping UFFDIO_COPY fills. */
  prot: "r" | "rw";
}

/** What {@linkcode reclaimRun} saw at each step. */
export interface ReclaimRun {
  /** PTE and folio flags right after UFFDIO_COPY. */
  afterCopy: Row;
  /** Whether MADV_PAGEOUT left the page in the page cache. */
  cachedAfterPageout: boolean;
  /** What the guest reads from the registered mapping after reclaim. */
  guestReads: number;
  /** What a read through an unregistered alias of the file then returns. */
  aliasReads: number;
  /** MISSING faults the monitor was sent (a second one: asked again for a page it delivered). */
  missingFaults: number;
}

/**
 * Hugh Dickins' point, run: a MAP_SHARED memfd mapping (`prot`) registered
 * MISSING; the monitor resolves the first read with UFFDIO_COPY of a page
 * of 0x5a, and then has nothing more to send (as after a post-copy
 * migration): a later fault gets UFFDIO_ZEROPAGE. MADV_PAGEOUT reclaims the
 * page (shrink_folio_list(): unmap, and a clean page-cache folio is
 * dropped); the guest reads its page again, and an unregistered alias
 * shows what the file holds.
 */
export function reclaimRun(input: ReclaimInput): ReclaimRun {
  const k = simulate({ variants: { mcopyInstallPtesV2: input.kernel === "v2 9/9" } });
  const p = k.spawn({ comm: "vmm" });
  const fd = p.memfdCreate("guest-memory");
  p.ftruncate(fd, P);
  const dst = p.mmap(0, P, input.prot === "rw" ? RW : C.PROT_READ, C.MAP_SHARED, fd);
  const buf = p.mmap(0, P, RW, ANON);
  p.write(buf, 0x5a);
  const uffd = p.userfaultfd(0);
  uffd.api({ api: C.UFFD_API, features: 0 });
  uffd.register({ range: { start: dst, len: P }, mode: C.UFFDIO_REGISTER_MODE_MISSING });
  let missingFaults = 0;
  uffd.handler = (msg) => {
    const page = msg.arg.pagefault.address - (msg.arg.pagefault.address % P);
    if (missingFaults++ === 0) uffd.copy({ dst: page, src: buf, len: P });
    else uffd.zeropage({ range: { start: page, len: P } });
  };
  p.read(dst);
  const afterCopy = pteFolio(k, p, dst);
  p.madvise(dst, P, C.MADV_PAGEOUT);
  const cachedAfterPageout = inodeOf(p, dst).mapping.pages.has(0);
  const guestReads = p.read(dst);
  const alias = p.mmap(0, P, C.PROT_READ, C.MAP_SHARED, fd);
  const aliasReads = p.read(alias);
  k.check();
  return { afterCopy, cachedAfterPageout, guestReads, aliasReads, missingFaults };
}

/** The shmem inode behind a file mapping. */
export function inodeOf(p: Process, addr: number): Inode {
  const vma = p.mm.vmaLookup(addr);
  if (!vma?.vm_file) throw new RangeError(`0x${addr.toString(16)} is not in a file mapping`);
  return vma.vm_file.inode;
}

// --- accounting --------------------------------------------------------------------------

/**
 * The page-cache accounting of a shmem file across UFFDIO_COPYs that
 * succeed and fail: after each step, info->alloced, the blocks charged
 * (shmem_inode_acct_blocks()) and the pages in the cache (nrpages).
 */
export function accountingSteps(): Row[] {
  const k = simulate();
  const p = k.spawn();
  const fd = p.memfdCreate("f");
  p.ftruncate(fd, 4 * P);
  const dst = p.mmap(0, 4 * P, RW, C.MAP_SHARED, fd);
  const alias = p.mmap(0, 4 * P, RW, C.MAP_SHARED, fd);
  const buf = p.mmap(0, P, RW, ANON);
  p.write(buf, 1);
  const uffd = p.userfaultfd(0);
  uffd.api({ api: C.UFFD_API, features: 0 });
  uffd.register({ range: { start: dst, len: 4 * P }, mode: C.UFFDIO_REGISTER_MODE_MISSING });
  const inode = inodeOf(p, dst);
  const rows: Row[] = [];
  const step = (what: string, fn: () => unknown) => {
    let result = "ok";
    try {
      fn();
    } catch (e) {
      if (!(e instanceof Errno)) throw e;
      result = e.errno;
    }
    const info = SHMEM_I(inode);
    rows.push({
      step: what,
      result,
      "info->alloced": info.alloced,
      "blocks charged": info.usedBlocks,
      nrpages: inode.mapping.pages.size,
    });
  };
  step("UFFDIO_COPY page 0", () => uffd.copy({ dst, src: buf, len: P }));
  step("write page 1 through the alias (a shmem fault)", () => p.write(alias + P, 2));
  step("UFFDIO_COPY page 1 (cached: -EEXIST)", () => uffd.copy({ dst: dst + P, src: buf, len: P }));
  step("ftruncate() to 3 pages", () => p.ftruncate(fd, 3 * P));
  step("UFFDIO_COPY page 3 (beyond i_size: -EFAULT)", () => {
    uffd.copy({ dst: dst + 3 * P, src: buf, len: P });
  });
  step("UFFDIO_COPY page 2", () => uffd.copy({ dst: dst + 2 * P, src: buf, len: P }));
  step("ftruncate() to 1 page", () => p.ftruncate(fd, P));
  k.check();
  return rows;
}

// --- mlock -------------------------------------------------------------------------------

/**
 * UFFDIO_COPY into VM_LOCKED mappings (MAP_LOCKED): an anonymous one
 * (emptied with MADV_DONTNEED_LOCKED) and a shared shmem one (mapped while
 * the file was empty, so nothing was populated). The folio's LRU flags.
 */
export function mlockRows(): Row[] {
  const k = simulate();
  const p = k.spawn();
  const buf = p.mmap(0, P, RW, ANON);
  p.write(buf, 3);
  const anon = p.mmap(0, P, RW, ANON | C.MAP_LOCKED);
  p.madvise(anon, P, C.MADV_DONTNEED_LOCKED);
  const fd = p.memfdCreate("locked");
  const shm = p.mmap(0, P, RW, C.MAP_SHARED | C.MAP_LOCKED, fd);
  p.ftruncate(fd, P);
  const uffd = p.userfaultfd(0);
  uffd.api({ api: C.UFFD_API, features: 0 });
  const rows: Row[] = [];
  for (
    const [what, a] of [["anon MAP_PRIVATE|MAP_LOCKED", anon], [
      "shmem MAP_SHARED|MAP_LOCKED",
      shm,
    ]] as const
  ) {
    uffd.register({ range: { start: a, len: P }, mode: C.UFFDIO_REGISTER_MODE_MISSING });
    uffd.copy({ dst: a, src: buf, len: P });
    const flags = pageFlagNames(k.core.memmap.flags[p.pagemap(a).pfn!]);
    rows.push({
      mapping: what,
      "LRU flags": flags.filter((f) => /lru|mlocked|unevictable/.test(f)).join(" "),
      "MADV_PAGEOUT": (() => {
        try {
          p.madvise(a, P, C.MADV_PAGEOUT);
          return "0";
        } catch (e) {
          return (e as Error).message;
        }
      })(),
    });
  }
  k.check();
  return rows;
}

// --- exercises -----------------------------------------------------------------------------

const INSTALL_CASES: { input: InstallInput; hidden?: boolean }[] = [
  ...INSTALL_ROWS.map((input) => ({ input })),
  { input: { op: "COPY", backing: "shmem", mapping: "MAP_SHARED", writable: false, wp: false } },
  { input: { op: "CONTINUE", backing: "shmem", mapping: "MAP_SHARED", writable: true, wp: true } },
  {
    input: { op: "COPY", backing: "anon", mapping: "MAP_PRIVATE", writable: false, wp: false },
    hidden: true,
  },
  {
    input: { op: "CONTINUE", backing: "shmem", mapping: "MAP_PRIVATE", writable: false, wp: false },
    hidden: true,
  },
  {
    input: { op: "COPY", backing: "shmem", mapping: "MAP_SHARED", writable: true, wp: true },
    hidden: true,
  },
  {
    input: { op: "COPY", backing: "anon", mapping: "MAP_SHARED", writable: true, wp: false },
    hidden: true,
  },
];

/** Exercise (a): predict what one UFFDIO_COPY or UFFDIO_CONTINUE installs. */
export const installExercise: Exercise<InstallInput, InstallOutcome> = defineExercise({
  id: "uffd-continue-install",
  title: "predictInstall({ op, backing, mapping, writable, wp }): errno, PTE RW/D/UFFD_WP, page",
  cases: INSTALL_CASES.map((c) => ({
    name: `${c.input.op} ${c.input.backing} ${c.input.mapping}${c.input.writable ? "" : " r/o"}${
      c.input.wp ? " wp" : ""
    }`,
    input: c.input,
    expected: installOutcome(c.input),
    hidden: c.hidden,
  })),
});

/** The input of exercise (b): pages, and the bytes the VMM must put in some of them. */
export interface MinorScenario {
  pages: number;
  /** Page index → the byte the guest must read there (the VMM's update). */
  edits: Record<number, number>;
}

/** What the guest read, how many minor faults were handled, whether each page is the cache's. */
export interface MinorResult {
  read: number[];
  minorFaults: number;
  /** Every registered PTE maps the very page-cache page the alias maps (nothing was copied). */
  sharedWithAlias: boolean;
}

/** A minor fault the exercise (b) handler resolves. */
export interface MinorFault {
  uffd: Userfaultfd;
  p: Process;
  /** The faulting page in the registered mapping. */
  address: number;
  /** The same page in the alias. */
  alias: number;
  /** Its index in the file. */
  index: number;
  /** The VMM's update for this page, if any. */
  edit: number | undefined;
}

/**
 * Runs exercise (b): minorSetup(pages); the guest reads every page of the
 * registered mapping; `handler` resolves each minor fault.
 */
export function runMinor(s: MinorScenario, handler: (f: MinorFault) => void): MinorResult {
  const m = minorSetup(s.pages);
  let minorFaults = 0;
  m.uffd.handler = (msg) => {
    if (msg.arg.pagefault.flags & C.UFFD_PAGEFAULT_FLAG_MINOR) minorFaults++;
    const address = msg.arg.pagefault.address - (msg.arg.pagefault.address % P);
    const index = (address - m.dst) / P;
    handler({
      uffd: m.uffd,
      p: m.p,
      address,
      alias: m.alias + index * P,
      index,
      edit: s.edits[index],
    });
  };
  const read = Array.from({ length: s.pages }, (_, i) => m.p.read(m.dst + i * P));
  const sharedWithAlias = read.every((_, i) =>
    m.p.pagemap(m.dst + i * P).pfn === m.p.pagemap(m.alias + i * P).pfn
  );
  m.k.check();
  return { read, minorFaults, sharedWithAlias };
}

const MINOR_CASES: { input: MinorScenario; hidden?: boolean }[] = [
  { input: { pages: 3, edits: {} } },
  { input: { pages: 4, edits: { 1: 0xaa } } },
  { input: { pages: 5, edits: { 0: 1, 4: 0x7f } }, hidden: true },
];

/** Exercise (b): a minor-fault handler: update the page through the alias, then CONTINUE. */
export const minorHandlerExercise: Exercise<MinorScenario, MinorResult> = defineExercise({
  id: "uffd-continue-minor-handler",
  title: "minorHandler(scenario): the guest reads each update, through the page cache's own pages",
  cases: MINOR_CASES.map((c) => ({
    name: `${c.input.pages} pages, edits ${JSON.stringify(c.input.edits)}`,
    input: c.input,
    expected: {
      read: Array.from({ length: c.input.pages }, (_, i) => c.input.edits[i] ?? i),
      minorFaults: c.input.pages,
      sharedWithAlias: true as boolean,
    },
    hidden: c.hidden,
  })),
});

const RECLAIM_CASES: { input: ReclaimInput; hidden?: boolean }[] = [
  { input: { kernel: "v6.18", prot: "r" } },
  { input: { kernel: "v2 9/9", prot: "r" } },
  { input: { kernel: "v2 9/9", prot: "rw" }, hidden: true },
  { input: { kernel: "v6.18", prot: "rw" }, hidden: true },
];

/** Exercise (c): does the UFFDIO_COPY'd byte survive MADV_PAGEOUT? The alias's read. */
export const reclaimExercise: Exercise<ReclaimInput, number> = defineExercise({
  id: "uffd-continue-reclaim",
  title: "afterReclaim({ kernel, prot }): the byte an alias reads after MADV_PAGEOUT",
  cases: RECLAIM_CASES.map((c) => ({
    name: `${c.input.kernel}, ${c.input.prot}`,
    input: c.input,
    expected: reclaimRun(c.input).aliasReads,
    hidden: c.hidden,
  })),
});
