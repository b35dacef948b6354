/**
 * Property: seeded random sequences of system calls (mmap of private and
 * shared anonymous memory and of memfds, MAP_FIXED, MAP_FIXED_NOREPLACE and
 * hints, MAP_POPULATE; munmap and mprotect over several VMAs and holes;
 * madvise DONTNEED, FREE, PAGEOUT (with and without a swap device), REMOVE, DONTFORK, WIPEONFORK,
 * POPULATE_READ/WRITE and friends; memfd_create, ftruncate, close; fork and
 * exit with up to three processes; reads and writes; userfaultfd
 * registration for missing faults served by a handler with UFFDIO_COPY,
 * and the monitor's own UFFDIO_COPY, ZEROPAGE and POISON) keep every kernel
 * invariant after every step, and agree with a page-granular reference
 * model of Linux: what each process reads at each address, which access
 * raises which signal, and which call fails with which errno.
 *
 * The reference model keeps, per process, the pages it maps; private pages
 * hold a frame (shared by fork until one side writes) or read through to
 * the zero page or the file; shared pages read the file. A frame also
 * carries what MADV_FREE and MADV_PAGEOUT need: whether it is lazily freed,
 * and whether it or its PTE was written since. An anonymous page without a
 * frame remembers whether the zero page is mapped there and whether it holds
 * a UFFDIO_POISON marker: for a page registered with userfaultfd, only a
 * page with nothing mapped (pte_none) is a missing fault.
 */
import assert from "node:assert/strict";
import {
  constants as C,
  Errno,
  type Kernel,
  type Process,
  Signal,
  simulate,
  type Userfaultfd,
} from "../lib/mod.ts";
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
  /** Anonymous, no frame: the zero page is mapped (a read fault put it there). */
  zeroMapped: boolean;
  /** Anonymous, no frame: a PTE_MARKER_POISONED from UFFDIO_POISON. */
  poisoned: boolean;
  /** Registered with this process's userfaultfd for missing faults. */
  registered: boolean;
}

/** A process's userfaultfd, and the page its handler copies from. */
interface RefUffd {
  uffd: Userfaultfd;
  /** A page below the arena holding UFFD_PATTERN. */
  src: number;
}

interface RefProc {
  p: Process;
  pages: Map<number, RefPage>;
  fds: Map<number, RefFile>;
  uffd: RefUffd | null;
}

/** Userfaultfd activity over the run, reported with the totals. */
const uffdStats = { ioctls: 0, faults: 0, sigbus: 0 };
/** Swap activity over the run (pswpout, pswpin). */
const swapStats = { out: 0, in: 0 };
/** 16 kB anonymous folios the write faults allocated. */
const mthpStats = { 16: 0 };

/** What the userfaultfd handler's UFFDIO_COPY puts in a page: these bytes, the rest zero. */
const UFFD_PATTERN: ReadonlyMap<number, number> = new Map([[0, 0x77], [1, 0x78], [P - 1, 0x79]]);

type Outcome = number | string;

const pageOf = (addr: number) => Math.floor(addr / P);
const pagesIn = (file: RefFile) => Math.ceil(file.size / P);

function newFrame(data: Map<number, number>): RefFrame {
  return { data: new Map(data), refs: 1, lazy: false, dirty: false };
}

function dropFrame(pg: RefPage): void {
  if (pg.frame) pg.frame.refs--;
  pg.frame = undefined;
  pg.zeroMapped = false;
}

/** Nothing is mapped at an anonymous page: a userfaultfd missing fault. */
function pteNone(pg: RefPage): boolean {
  return pg.kind === "anon" && !pg.frame && !pg.zeroMapped && !pg.poisoned;
}

/** A missing fault on a registered page: the handler's UFFDIO_COPY fills it. */
function serveMissing(pg: RefPage): void {
  if (pg.registered && pteNone(pg)) pg.frame = newFrame(new Map(UFFD_PATTERN));
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
  if (pg.poisoned) {
    uffdStats.sigbus++;
    return "SIGBUS/BUS_MCEERR_AR";
  }
  if (pg.frame) return pg.frame.data.get(off) ?? 0;
  if (pg.kind === "anon") return 0;
  if (pg.index >= pagesIn(pg.file!)) return "SIGBUS/BUS_ADRERR";
  return pg.file!.data.get(pg.index)?.get(off) ?? 0;
}

/**
 * A read at `addr`: what it gives, after the fault it takes (a registered
 * missing page is filled by the handler; a missing anonymous page gets the
 * zero page).
 */
function readRef(ref: RefProc, addr: number): Outcome {
  const pg = ref.pages.get(pageOf(addr));
  if (pg && (pg.prot & (R | W | X))) {
    serveMissing(pg);
    if (pg.kind === "anon" && !pg.frame && !pg.poisoned) pg.zeroMapped = true;
  }
  return expectRead(ref, addr);
}

/** A write at `addr`: applies it to the reference and says what the access gives. */
function applyWrite(ref: RefProc, addr: number, value: number): Outcome {
  const pg = ref.pages.get(pageOf(addr));
  const off = addr % P;
  if (!pg) return "SIGSEGV/SEGV_MAPERR";
  if (!(pg.prot & W)) return "SIGSEGV/SEGV_ACCERR";
  if (pg.poisoned) return "SIGBUS/BUS_MCEERR_AR";
  serveMissing(pg);
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
    pg.zeroMapped = false;
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
  const softDirty = rnd.chance(0.5);
  // Half the sequences fault anonymous memory in 16 kB folios where an
  // aligned block of 4 none PTEs fits their mappings of 1 to 4 pages
  // (alloc_anon_folio()); what a page reads does not change.
  const thp = rnd.chance(0.5) ? { hugepages: { 16: "always" } as const } : {};
  const k = simulate({ config: { MEM_SOFT_DIRTY: softDirty }, thp });
  // With a swap device, MADV_PAGEOUT writes anonymous pages out; what they
  // read afterwards is the same, so the reference does not change.
  const swap = rnd.chance(0.5) ? k.swapon(64) : null;
  const procs: RefProc[] = [{ p: k.spawn(), pages: new Map(), fds: new Map(), uffd: null }];
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
    } else if (x < 0.50) stepMadvise(rnd, ref, procs, log, expect, arenaPage, pi);
    else if (x < 0.62) {
      const addr = at(arenaPage()) + rnd.pick([0, 0, 1, P - 1]);
      const want = readRef(ref, addr);
      log.push(`p${pi}.read(${hex(addr)}) = ${want}`);
      expect(`read ${hex(addr)}`, outcome(() => p.read(addr), true), want);
    } else if (x < 0.74) {
      const addr = at(arenaPage()) + rnd.pick([0, 0, 1, P - 1]);
      const value = rnd.int(1, 255);
      const want = applyWrite(ref, addr, value);
      log.push(`p${pi}.write(${hex(addr)}, ${value}) = ${want}`);
      expect(`write ${hex(addr)}`, outcome(() => p.write(addr, value)), want);
    } else if (x < 0.78 && procs.length < 3) {
      log.push(`p${pi}.fork() = p${procs.length}`);
      procs.push(forkRef(ref));
    } else if (x < 0.80 && pi > 0) {
      log.push(`p${pi}.exit()`);
      p.exit();
      for (const pg of ref.pages.values()) dropFrame(pg);
      procs.splice(pi, 1);
    } else if (x < 0.91) {
      stepUffd(rnd, ref, log, expect, arenaPage, pi);
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
        const want = readRef(ref, addr);
        const got = outcome(() => ref.p.read(addr), true);
        expect(`final read p${i} ${hex(addr)}`, got, want);
      }
    }
  }
  k.check();
  swapStats.out += swap?.pswpout ?? 0;
  swapStats.in += swap?.pswpin ?? 0;
  mthpStats[16] += k.core.mthpStats.get(16)?.anon_fault_alloc ?? 0;
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
      zeroMapped: false,
      poisoned: false,
      registered: false,
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
      if (pg.poisoned) return "EHWPOISON";
      serveMissing(pg);
      if (!write && pg.kind === "anon" && !pg.frame) pg.zeroMapped = true;
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
        pg.poisoned = false;
        break;
      case C.MADV_FREE: {
        if (pg.kind !== "anon") return "EINVAL";
        pg.poisoned = false;
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

/** The process's userfaultfd, opened with a handler that serves missing faults by UFFDIO_COPY. */
function uffdOf(ref: RefProc, log: string[], pi: number): RefUffd {
  if (ref.uffd) return ref.uffd;
  const p = ref.p;
  log.push(`p${pi}.userfaultfd()`);
  const uffd = p.userfaultfd(C.O_CLOEXEC | C.O_NONBLOCK);
  uffd.api({ api: C.UFFD_API, features: C.UFFD_FEATURE_POISON });
  // Below the arena, where no random range reaches.
  const src = p.mmap(BASE - 16 * P, P, R | W, C.MAP_PRIVATE | C.MAP_ANONYMOUS | C.MAP_FIXED);
  for (const [off, value] of UFFD_PATTERN) p.write(src + off, value);
  uffd.handler = (msg) => {
    uffdStats.faults++;
    const dst = msg.arg.pagefault.address - msg.arg.pagefault.address % P;
    uffd.copy({ dst, src, len: P, mode: 0 });
  };
  ref.uffd = { uffd, src };
  return ref.uffd;
}

/**
 * A userfaultfd step: register a range (its pages written first, so that
 * each VMA has an anon_vma and fork() copies what it holds, then maybe
 * zapped so that they fault), unregister one, UFFDIO_COPY, ZEROPAGE or
 * POISON one page, or close the userfaultfd.
 */
function stepUffd(
  rnd: Random,
  ref: RefProc,
  log: string[],
  expect: Expect,
  arenaPage: () => number,
  pi: number,
): void {
  const p = ref.p;
  const registered = [...ref.pages].filter(([, pg]) => pg.registered).map(([n]) => n);
  // Mostly a registered page once there are some.
  const first = registered.length && rnd.chance(0.7) ? rnd.pick(registered) : arenaPage();
  const count = rnd.int(1, 3);
  const pages: RefPage[] = [];
  for (let n = first; n < first + count; n++) {
    const pg = ref.pages.get(n);
    if (pg) pages.push(pg);
  }
  const allAnon = pages.length === count && pages.every((pg) => pg.kind === "anon");
  const range = { start: first * P, len: count * P };
  const op = registered.length
    ? rnd.pick(["register", "unregister", "copy", "copy", "zeropage", "poison", "poison", "close"])
    : "register";
  if (op === "register") {
    if (!allAnon || !pages.every((pg) => pg.prot & W)) return;
    const { uffd } = uffdOf(ref, log, pi);
    for (let n = first; n < first + count; n++) {
      const value = rnd.int(1, 255);
      const want = applyWrite(ref, n * P, value);
      log.push(`p${pi}.write(${hex(n * P)}, ${value}) = ${want}`);
      expect(`write ${hex(n * P)}`, outcome(() => p.write(n * P, value)), want);
    }
    log.push(`p${pi}.uffd.register(${hex(range.start)}, ${count}P, MISSING)`);
    const mode = C.UFFDIO_REGISTER_MODE_MISSING;
    expect("UFFDIO_REGISTER", outcome(() => uffd.register({ range, mode })), "ok");
    for (const pg of pages) pg.registered = true;
    if (rnd.chance(0.6)) {
      log.push(`p${pi}.madvise(${hex(range.start)}, ${count}P, MADV_DONTNEED)`);
      for (const pg of pages) {
        dropFrame(pg);
        pg.poisoned = false;
      }
      expect("madvise", outcome(() => p.madvise(range.start, range.len, C.MADV_DONTNEED)), "ok");
    }
    return;
  }
  if (!ref.uffd) return;
  const { uffd, src } = ref.uffd;
  if (op === "close") {
    log.push(`p${pi}.uffd.close()`);
    uffd.close();
    for (const pg of ref.pages.values()) pg.registered = false;
    ref.uffd = null;
    return;
  }
  if (op === "unregister") {
    if (!allAnon) return;
    log.push(`p${pi}.uffd.unregister(${hex(range.start)}, ${count}P)`);
    expect("UFFDIO_UNREGISTER", outcome(() => uffd.unregister(range)), "ok");
    for (const pg of pages) pg.registered = false;
    return;
  }
  // One page: ENOENT outside a registered VMA, EEXIST where something is
  // mapped. UFFDIO_COPY may overwrite a PTE marker (pte_none_mostly() in
  // mfill_atomic_install_pte()); ZEROPAGE and POISON want pte_none().
  const pg = ref.pages.get(first);
  const dst = first * P;
  let want: Outcome = "ok";
  if (!pg || !pg.registered) want = "ENOENT";
  else if (op === "copy" ? pg.frame || pg.zeroMapped : !pteNone(pg)) want = "EEXIST";
  log.push(`p${pi}.uffd.${op}(${hex(dst)}) = ${want}`);
  const one = { start: dst, len: P };
  const call = op === "copy"
    ? () => uffd.copy({ dst, src, len: P, mode: 0 })
    : op === "zeropage"
    ? () => uffd.zeropage({ range: one })
    : () => uffd.poison({ range: one });
  expect(`UFFDIO_${op.toUpperCase()}`, outcome(call), want);
  uffdStats.ioctls++;
  if (want !== "ok") return;
  if (op === "copy") {
    pg!.frame = newFrame(new Map(UFFD_PATTERN));
    pg!.poisoned = false;
  } else if (op === "zeropage") pg!.zeroMapped = true;
  else pg!.poisoned = true;
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
  const child: RefProc = {
    p: parent.p.fork(),
    pages: new Map(),
    fds: new Map(parent.fds),
    uffd: null,
  };
  for (const [n, pg] of parent.pages) {
    if (pg.dontfork) continue;
    // Without UFFD_FEATURE_EVENT_FORK the child's VMAs are not registered;
    // poison markers are copied (copy_pte_marker()).
    const copy: RefPage = { ...pg, registered: false };
    if (pg.wipeonfork) {
      copy.frame = undefined;
      copy.pteDirty = false;
      copy.zeroMapped = false;
      copy.poisoned = false;
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
  const { ioctls, faults, sigbus } = uffdStats;
  console.log(
    `userfaultfd: ${ioctls} COPY/ZEROPAGE/POISON calls, ${faults} missing faults served, ` +
      `${sigbus} accesses to poisoned pages`,
  );
  console.log(`swap: ${swapStats.out} pages written out, ${swapStats.in} read back`);
  console.log(`mTHP: ${mthpStats[16]} 16 kB folios faulted in`);
  assert.equal(steps, SEQUENCES * STEPS);
  assert.ok(mthpStats[16] > 100, JSON.stringify(mthpStats));
  assert.ok(swapStats.out > 100 && swapStats.in > 100, JSON.stringify(swapStats));
  // The userfaultfd steps ran often enough to mean something.
  assert.ok(ioctls > 1000 && faults > 1000 && sigbus > 100, JSON.stringify(uffdStats));
});

Deno.test("the reference model catches a wrong read", () => {
  const k = simulate();
  const ref: RefProc = { p: k.spawn(), pages: new Map(), fds: new Map(), uffd: null };
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
    zeroMapped: false,
    poisoned: false,
    registered: false,
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
