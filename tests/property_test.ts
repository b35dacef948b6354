/**
 * Property: seeded random sequences of system calls (mmap of private and
 * shared anonymous memory and of memfds, MAP_FIXED, MAP_FIXED_NOREPLACE and
 * hints, MAP_POPULATE; munmap and mprotect over several VMAs and holes;
 * madvise DONTNEED, FREE, PAGEOUT, REMOVE, DONTFORK, WIPEONFORK,
 * POPULATE_READ/WRITE and friends; memfd_create, ftruncate, close; fork and
 * exit with up to three processes; reads and writes) keep every kernel
 * invariant after every step, and agree with a page-granular reference
 * model of Linux: what each process reads at each address, which access
 * raises which signal, and which call fails with which errno.
 *
 * The reference model keeps, per process, the pages it maps; private pages
 * hold a frame (shared by fork until one side writes) or read through to
 * the zero page or the file; shared pages read the file. A frame also
 * carries what MADV_FREE and MADV_PAGEOUT need: whether it is lazily freed,
 * and whether it or its PTE was written since.
 */
import assert from "node:assert/strict";
import { constants as C, Errno, type Kernel, type Process, Signal, simulate } from "../lib/mod.ts";
import { Random } from "./_random.ts";

const SEQUENCES = 10_000;
const STEPS = 18;
const SEED = 0x6d6d6c61;
const P = C.PAGE_SIZE;
/** The arena random addresses fall in: 12 pages, far from where mmap() places things. */
const BASE = 0x100000000000;
const ARENA = 12;
const R = C.PROT_READ, W = C.PROT_WRITE, X = C.PROT_EXEC;

/** A shmem file: size in bytes, bytes by page index and offset. */
interface RefFile {
  size: number;
  data: Map<number, Map<number, number>>;
}

/** An anonymous page frame, shared by fork() until written. */
interface RefFrame {
  data: Map<number, number>;
  /** PTEs mapping it, across processes (its mapcount). */
  refs: number;
  /** MADV_FREE cleared PG_swapbacked: reclaim may drop it if still clean. */
  lazy: boolean;
  /** PG_dirty, set when a lazy frame turned out to be written again. */
  dirty: boolean;
}

type Kind = "anon" | "shared" | "private-file";

interface RefPage {
  kind: Kind;
  prot: number;
  file: RefFile | null;
  index: number;
  /** The private copy; undefined reads the zero page or the file. */
  frame: RefFrame | undefined;
  /** This mapping's PTE dirty bit (what MADV_FREE clears). */
  pteDirty: boolean;
  dontfork: boolean;
  wipeonfork: boolean;
}

interface RefProc {
  p: Process;
  pages: Map<number, RefPage>;
  fds: Map<number, RefFile>;
}

type Outcome = number | string;

const pageOf = (addr: number) => Math.floor(addr / P);
const pagesIn = (file: RefFile) => Math.ceil(file.size / P);

function newFrame(data: Map<number, number>): RefFrame {
  return { data: new Map(data), refs: 1, lazy: false, dirty: false };
}

function dropFrame(pg: RefPage): void {
  if (pg.frame) pg.frame.refs--;
  pg.frame = undefined;
}

function unmapPages(ref: RefProc, first: number, count: number): void {
  for (let n = first; n < first + count; n++) {
    const pg = ref.pages.get(n);
    if (pg) dropFrame(pg);
    ref.pages.delete(n);
  }
}

/** What a read at `addr` gives: a byte value or "SIGNAL/CODE". */
function expectRead(ref: RefProc, addr: number): Outcome {
  const pg = ref.pages.get(pageOf(addr));
  const off = addr % P;
  if (!pg) return "SIGSEGV/SEGV_MAPERR";
  if (!(pg.prot & (R | W | X))) return "SIGSEGV/SEGV_ACCERR";
  if (pg.frame) return pg.frame.data.get(off) ?? 0;
  if (pg.kind === "anon") return 0;
  if (pg.index >= pagesIn(pg.file!)) return "SIGBUS/BUS_ADRERR";
  return pg.file!.data.get(pg.index)?.get(off) ?? 0;
}

/** A write at `addr`: applies it to the reference and says what the access gives. */
function applyWrite(ref: RefProc, addr: number, value: number): Outcome {
  const pg = ref.pages.get(pageOf(addr));
  const off = addr % P;
  if (!pg) return "SIGSEGV/SEGV_MAPERR";
  if (!(pg.prot & W)) return "SIGSEGV/SEGV_ACCERR";
  if (pg.kind === "shared") {
    if (pg.index >= pagesIn(pg.file!)) return "SIGBUS/BUS_ADRERR";
    const f = pg.file!;
    if (!f.data.has(pg.index)) f.data.set(pg.index, new Map());
    f.data.get(pg.index)!.set(off, value);
    return "ok";
  }
  if (!breakCow(pg)) return "SIGBUS/BUS_ADRERR";
  pg.frame!.data.set(off, value);
  pg.pteDirty = true;
  return "ok";
}

/** A write fault on a private page: a frame of its own. False beyond the file's end. */
function breakCow(pg: RefPage): boolean {
  if (!pg.frame) {
    if (pg.kind === "private-file") {
      if (pg.index >= pagesIn(pg.file!)) return false;
      pg.frame = newFrame(pg.file!.data.get(pg.index) ?? new Map());
    } else {
      pg.frame = newFrame(new Map());
    }
  } else if (pg.frame.refs > 1) {
    pg.frame.refs--;
    pg.frame = newFrame(pg.frame.data);
  }
  pg.pteDirty = true;
  return true;
}

/** What a call gives: "ok" (or the byte read, for reads), the errno, or "SIGNAL/CODE". */
function outcome(fn: () => unknown, isRead = false): Outcome {
  try {
    const v = fn();
    return isRead ? v as number : "ok";
  } catch (e) {
    if (e instanceof Errno) return e.errno;
    if (e instanceof Signal) return `${e.signo}/${e.code}`;
    throw e;
  }
}

/** One random sequence; returns the number of steps run. */
function runSequence(seed: number): number {
  const rnd = new Random(seed);
  const k = simulate({ config: { MEM_SOFT_DIRTY: rnd.chance(0.5) } });
  const procs: RefProc[] = [{ p: k.spawn(), pages: new Map(), fds: new Map() }];
  const log: string[] = [];
  const fail = (msg: string): never => {
    throw new Error(`seed ${seed}: ${msg}\n  after: ${log.join("\n         ")}`);
  };
  const expect = (what: string, got: Outcome, want: Outcome) => {
    if (got !== want) fail(`${what}: got ${got}, want ${want}`);
  };
  let steps = 0;
  for (; steps < STEPS; steps++) {
    const pi = rnd.int(0, procs.length - 1);
    const ref = procs[pi];
    const p = ref.p;
    const x = rnd.next();
    // Mostly a page this process maps, else anywhere in the arena.
    const mapped = [...ref.pages.keys()];
    const arenaPage = () =>
      mapped.length && rnd.chance(0.75) ? rnd.pick(mapped) : pageOf(BASE) + rnd.int(0, ARENA - 1);
    const at = (n: number) => n * P;
    if (x < 0.22 || steps < 2) stepMmap(rnd, ref, k, log, expect, fail, arenaPage, pi);
    else if (x < 0.28) {
      const first = arenaPage(), count = rnd.int(1, 3);
      log.push(`p${pi}.munmap(${hex(at(first))}, ${count}P)`);
      expect("munmap", outcome(() => p.munmap(at(first), count * P)), "ok");
      unmapPages(ref, first, count);
    } else if (x < 0.36) {
      const first = arenaPage(), count = rnd.int(1, 4);
      const prot = rnd.pick([0, R, R | W, W, R | X, R | W | X]);
      log.push(`p${pi}.mprotect(${hex(at(first))}, ${count}P, ${prot})`);
      let want: Outcome = "ok";
      for (let n = first; n < first + count; n++) {
        const pg = ref.pages.get(n);
        if (!pg) {
          want = "ENOMEM";
          break;
        }
        pg.prot = prot;
      }
      expect("mprotect", outcome(() => p.mprotect(at(first), count * P, prot)), want);
    } else if (x < 0.56) stepMadvise(rnd, ref, procs, log, expect, arenaPage, pi);
    else if (x < 0.70) {
      const addr = at(arenaPage()) + rnd.pick([0, 0, 1, P - 1]);
      const want = expectRead(ref, addr);
      log.push(`p${pi}.read(${hex(addr)}) = ${want}`);
      expect(`read ${hex(addr)}`, outcome(() => p.read(addr), true), want);
    } else if (x < 0.84) {
      const addr = at(arenaPage()) + rnd.pick([0, 0, 1, P - 1]);
      const value = rnd.int(1, 255);
      const want = applyWrite(ref, addr, value);
      log.push(`p${pi}.write(${hex(addr)}, ${value}) = ${want}`);
      expect(`write ${hex(addr)}`, outcome(() => p.write(addr, value)), want);
    } else if (x < 0.88 && procs.length < 3) {
      log.push(`p${pi}.fork() = p${procs.length}`);
      procs.push(forkRef(ref));
    } else if (x < 0.90 && pi > 0) {
      log.push(`p${pi}.exit()`);
      p.exit();
      for (const pg of ref.pages.values()) dropFrame(pg);
      procs.splice(pi, 1);
    } else if (x < 0.94) {
      log.push(`p${pi}.memfd_create()`);
      const fd = p.memfdCreate("prop");
      const file: RefFile = { size: 0, data: new Map() };
      ref.fds.set(fd, file);
      truncate(procs, ref, fd, file, rnd.int(0, 4) * P, log, expect);
    } else if (x < 0.98 && ref.fds.size) {
      const [fd, file] = rnd.pick([...ref.fds]);
      const size = rnd.int(0, 4) * P + (rnd.chance(0.2) ? rnd.int(1, P - 1) : 0);
      truncate(procs, ref, fd, file, size, log, expect);
    } else if (ref.fds.size) {
      const fd = rnd.pick([...ref.fds.keys()]);
      log.push(`p${pi}.close(${fd})`);
      p.close(fd);
      ref.fds.delete(fd);
    }
    try {
      k.check();
    } catch (e) {
      fail(`check() after the last step: ${(e as Error).message}`);
    }
  }
  // Read back everything the reference knows about.
  for (const [i, ref] of procs.entries()) {
    for (const [n, pg] of ref.pages) {
      const offs = new Set([0, ...(pg.frame?.data.keys() ?? [])]);
      if (pg.file) { for (const o of pg.file.data.get(pg.index)?.keys() ?? []) offs.add(o); }
      for (const off of offs) {
        const addr = n * P + off;
        const got = outcome(() => ref.p.read(addr), true);
        expect(`final read p${i} ${hex(addr)}`, got, expectRead(ref, addr));
      }
    }
  }
  k.check();
  return steps;
}

type Expect = (what: string, got: Outcome, want: Outcome) => void;

function stepMmap(
  rnd: Random,
  ref: RefProc,
  k: Kernel,
  log: string[],
  expect: Expect,
  fail: (m: string) => never,
  arenaPage: () => number,
  pi: number,
): void {
  const p = ref.p;
  const count = rnd.int(1, 4);
  const first = rnd.chance(0.3) ? arenaPage() : pageOf(BASE) + rnd.int(0, ARENA - 1);
  const prot = rnd.pick([R, R | W, R | W, R | W | X, W, 0]);
  const kinds: (Kind | "shared-anon")[] = ["anon", "anon", "shared-anon"];
  if (ref.fds.size) kinds.push("shared", "private-file");
  const kind = rnd.pick(kinds);
  const placement = rnd.pick(["fixed", "fixed", "noreplace", "hint"] as const);
  const populate = rnd.chance(0.15) ? C.MAP_POPULATE : 0;
  let flags = (kind === "anon" || kind === "private-file" ? C.MAP_PRIVATE : C.MAP_SHARED) |
    populate;
  if (kind === "anon" || kind === "shared-anon") flags |= C.MAP_ANONYMOUS;
  if (placement === "fixed") flags |= C.MAP_FIXED;
  if (placement === "noreplace") flags |= C.MAP_FIXED_NOREPLACE;
  let fd = -1, file: RefFile | null = null, pgoff = 0;
  if (kind === "shared" || kind === "private-file") {
    [fd, file] = rnd.pick([...ref.fds]);
    pgoff = rnd.int(0, 3);
  } else if (kind === "shared-anon") {
    file = { size: count * P, data: new Map() };
  }
  let clash = false;
  for (let n = first; n < first + count; n++) clash ||= ref.pages.has(n);
  log.push(
    `p${pi}.mmap(${hex(first * P)}, ${count}P, ${prot}, ${kind} ${placement}${
      populate ? " populate" : ""
    }, pgoff ${pgoff})`,
  );
  if (placement === "noreplace" && clash) {
    expect(
      "mmap NOREPLACE",
      outcome(() => p.mmap(first * P, count * P, prot, flags, fd, pgoff * P)),
      "EEXIST",
    );
    return;
  }
  const addr = p.mmap(first * P, count * P, prot, flags, fd, pgoff * P);
  if (placement !== "hint" || !clash) {
    if (addr !== first * P) fail(`mmap placed at ${hex(addr)}, want ${hex(first * P)}`);
  }
  const start = pageOf(addr);
  for (let n = start; n < start + count; n++) {
    if (placement === "hint" && ref.pages.has(n)) fail(`mmap at ${hex(addr)} overlaps a mapping`);
  }
  unmapPages(ref, start, count);
  const refKind: Kind = kind === "shared-anon" ? "shared" : kind;
  for (let i = 0; i < count; i++) {
    ref.pages.set(start + i, {
      kind: refKind,
      prot,
      file,
      index: kind === "anon" ? 0 : (kind === "shared-anon" ? 0 : pgoff) + i,
      frame: undefined,
      pteDirty: false,
      dontfork: false,
      wipeonfork: false,
    });
  }
  // mm_populate(): a private writable mapping is faulted for write (stopping
  // at the end of the file); PROT_NONE is never faulted in.
  if (populate && (prot & W) && refKind !== "shared") {
    for (let i = 0; i < count; i++) if (!breakCow(ref.pages.get(start + i)!)) break;
  }
  void k;
}

function stepMadvise(
  rnd: Random,
  ref: RefProc,
  procs: RefProc[],
  log: string[],
  expect: Expect,
  arenaPage: () => number,
  pi: number,
): void {
  const advice = rnd.pick([
    C.MADV_DONTNEED,
    C.MADV_DONTNEED,
    C.MADV_FREE,
    C.MADV_PAGEOUT,
    C.MADV_PAGEOUT,
    C.MADV_REMOVE,
    C.MADV_DONTFORK,
    C.MADV_DOFORK,
    C.MADV_WIPEONFORK,
    C.MADV_KEEPONFORK,
    C.MADV_POPULATE_READ,
    C.MADV_POPULATE_WRITE,
    C.MADV_COLD,
    C.MADV_NORMAL,
  ]);
  const first = arenaPage(), count = rnd.int(1, 4);
  log.push(`p${pi}.madvise(${hex(first * P)}, ${count}P, ${advice})`);
  const want = adviseRef(ref, procs, first, count, advice);
  expect(`madvise ${advice}`, outcome(() => ref.p.madvise(first * P, count * P, advice)), want);
}

/** The reference's madvise(): applies the advice page by page, returns the errno or "ok". */
function adviseRef(
  ref: RefProc,
  procs: RefProc[],
  first: number,
  count: number,
  advice: number,
): Outcome {
  if (advice === C.MADV_POPULATE_READ || advice === C.MADV_POPULATE_WRITE) {
    const write = advice === C.MADV_POPULATE_WRITE;
    for (let n = first; n < first + count; n++) {
      const pg = ref.pages.get(n);
      if (!pg) return "ENOMEM";
      if (!(pg.prot & (write ? W : R))) return "EINVAL";
      const needsFile = pg.kind === "shared" || (pg.kind === "private-file" && !pg.frame);
      if (needsFile && pg.index >= pagesIn(pg.file!)) return "EFAULT";
      if (write) {
        if (pg.kind === "shared") continue;
        breakCow(pg);
      }
    }
    return "ok";
  }
  let result: Outcome = "ok";
  for (let n = first; n < first + count; n++) {
    const pg = ref.pages.get(n);
    if (!pg) {
      result = "ENOMEM";
      continue;
    }
    switch (advice) {
      case C.MADV_DONTNEED:
        dropFrame(pg);
        break;
      case C.MADV_FREE: {
        if (pg.kind !== "anon") return "EINVAL";
        const f = pg.frame;
        if (!f) break;
        if (f.dirty) {
          if (f.refs !== 1) break;
          f.dirty = false;
        }
        pg.pteDirty = false;
        f.lazy = true;
        break;
      }
      case C.MADV_PAGEOUT: {
        const f = pg.frame;
        if (!f || f.refs !== 1 || !f.lazy) break;
        if (pg.pteDirty || f.dirty) {
          f.dirty = true;
          f.lazy = false;
        } else {
          dropFrame(pg);
        }
        break;
      }
      case C.MADV_REMOVE:
        if (pg.kind === "anon") return "EINVAL";
        if (pg.kind === "private-file") return "EACCES";
        pg.file!.data.delete(pg.index);
        break;
      case C.MADV_DONTFORK:
        pg.dontfork = true;
        break;
      case C.MADV_DOFORK:
        pg.dontfork = false;
        break;
      case C.MADV_WIPEONFORK:
        if (pg.kind !== "anon") return "EINVAL";
        pg.wipeonfork = true;
        break;
      case C.MADV_KEEPONFORK:
        pg.wipeonfork = false;
        break;
    }
  }
  void procs;
  return result;
}

function truncate(
  procs: RefProc[],
  ref: RefProc,
  fd: number,
  file: RefFile,
  size: number,
  log: string[],
  expect: Expect,
): void {
  log.push(`ftruncate(${fd}, ${size})`);
  expect("ftruncate", outcome(() => ref.p.ftruncate(fd, size)), "ok");
  const keep = Math.ceil(size / P);
  for (const i of [...file.data.keys()]) if (i >= keep) file.data.delete(i);
  if (size % P) {
    const partial = file.data.get(keep - 1);
    if (partial) { for (const o of [...partial.keys()]) if (o >= size % P) partial.delete(o); }
  }
  file.size = size;
  // Truncation also takes the private COW copies of the cut-off pages.
  for (const r of procs) {
    for (const pg of r.pages.values()) {
      if (pg.kind === "private-file" && pg.file === file && pg.index >= keep) dropFrame(pg);
    }
  }
}

/** fork(): the child's reference pages. */
function forkRef(parent: RefProc): RefProc {
  const child: RefProc = { p: parent.p.fork(), pages: new Map(), fds: new Map(parent.fds) };
  for (const [n, pg] of parent.pages) {
    if (pg.dontfork) continue;
    const copy: RefPage = { ...pg };
    if (pg.wipeonfork) {
      copy.frame = undefined;
      copy.pteDirty = false;
    } else if (pg.frame) {
      pg.frame.refs++;
    }
    child.pages.set(n, copy);
  }
  return child;
}

function hex(n: number): string {
  return `0x${n.toString(16)}`;
}

Deno.test("random syscall sequences keep the invariants and read what Linux would", () => {
  const t0 = performance.now();
  let steps = 0;
  for (let i = 0; i < SEQUENCES; i++) steps += runSequence(SEED + i);
  const ms = Math.round(performance.now() - t0);
  console.log(`${SEQUENCES} sequences, ${steps} steps, k.check() after each step (${ms} ms)`);
  assert.equal(steps, SEQUENCES * STEPS);
});

Deno.test("the reference model catches a wrong read", () => {
  const k = simulate();
  const ref: RefProc = { p: k.spawn(), pages: new Map(), fds: new Map() };
  const a = ref.p.mmap(BASE, P, R | W, C.MAP_PRIVATE | C.MAP_ANONYMOUS | C.MAP_FIXED);
  ref.pages.set(pageOf(a), {
    kind: "anon",
    prot: R | W,
    file: null,
    index: 0,
    frame: undefined,
    pteDirty: false,
    dontfork: false,
    wipeonfork: false,
  });
  applyWrite(ref, a, 5);
  assert.equal(expectRead(ref, a), 5);
  assert.notEqual(
    outcome(() => ref.p.read(a), true),
    expectRead(ref, a),
    "the process never wrote",
  );
  assert.equal(expectRead(ref, a + P), "SIGSEGV/SEGV_MAPERR");
});
