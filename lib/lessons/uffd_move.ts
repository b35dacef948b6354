/**
 * Lesson 04, "UFFDIO_MOVE: moving pages instead of copying them"
 * (notebooks/04_uffd_move.ipynb): the helpers its cells use — a monitor
 * set-up with a source and a registered destination, the entries the
 * model cannot make by itself (a swap entry, a migration entry) and a DMA pin,
 * the errno table of move_pages(), a race of a move against a concurrent
 * fill of the destination or zap of the source — and its three checked
 * exercises.
 *
 * Every expected answer is computed by the simulated kernel.
 * @module
 */
import { simulate } from "../kernel/kernel.ts";
import type { Kernel } from "../kernel/kernel.ts";
import type { Process } from "../kernel/process.ts";
import { Errno, errnoName } from "../kernel/errno.ts";
import * as C from "../kernel/constants.ts";
import { VmBugError } from "../kernel/bug.ts";
import { SpinLock } from "../kernel/locking.ts";
import { lookupPteTable, pteIndex, vmNormalPage } from "../mm/memory.ts";
import { PG_locked } from "../mm/memmap.ts";
import { _PAGE_DIRTY, _PAGE_PRESENT, _PAGE_RW } from "../arch/x86/pgtable_types.ts";
import { swpEntryToPte } from "../pgtable/swapops.ts";
import { pteDirty, pteWrite } from "../arch/x86/pgtable.ts";
import type { MoveTraceEvent } from "../userfaultfd/mfill.ts";
import { FOLL_LONGTERM, FOLL_WRITE, pinUserPages, unpinUserPage } from "../mm/gup.ts";
import type { Userfaultfd } from "../userfaultfd/userfaultfd.ts";
import type { RaceScenario } from "../race/run.ts";
import type { Step } from "../race/step.ts";
import { defineExercise, type Exercise } from "../exercise/exercise.ts";
import { ptepGet, type Row } from "./tour.ts";
import { probeHost } from "../live/probe.ts";
import { liveProcess } from "../live/process.ts";

const P = C.PAGE_SIZE;
const RW = C.PROT_READ | C.PROT_WRITE;
const ANON = C.MAP_PRIVATE | C.MAP_ANONYMOUS;

// --- the monitor's set-up ----------------------------------------------------------------

/** A process with a written source region and an empty destination registered MISSING. */
export interface MoveSetup {
  k: Kernel;
  p: Process;
  /** The source region (page i written with (0x40 + i) & 0xff). */
  src: number;
  /** The destination region, registered with `uffd`. */
  dst: number;
  /** Pages in each region. */
  pages: number;
  uffd: Userfaultfd;
}

/**
 * The set-up of uffd-unit-tests' "move" test at 4 KiB: a private anonymous
 * source of `pages` pages, page i written with (0x40 + i) & 0xff, and a destination of
 * the same size registered UFFDIO_REGISTER_MODE_MISSING with a userfaultfd
 * that asked for UFFD_FEATURE_MOVE.
 */
export function moveSetup(pages = 4): MoveSetup {
  const k = simulate();
  const p = k.spawn({ comm: "monitor" });
  const src = p.mmap(0, pages * P, RW, ANON);
  for (let i = 0; i < pages; i++) p.write(src + i * P, (0x40 + i) & 0xff);
  const dst = p.mmap(0, pages * P, RW, ANON);
  const uffd = p.userfaultfd(0);
  uffd.api({ api: C.UFFD_API, features: C.UFFD_FEATURE_MOVE });
  uffd.register({ range: { start: dst, len: pages * P }, mode: C.UFFDIO_REGISTER_MODE_MISSING });
  return { k, p, src, dst, pages, uffd };
}

// --- entries the model does not make by itself --------------------------------------------

/**
 * A long-term DMA pin on the page at `addr`: pin_user_pages(FOLL_WRITE |
 * FOLL_LONGTERM) (lib/mm/gup.ts), which adds GUP_PIN_COUNTING_BIAS to the
 * small folio's refcount, as folio_maybe_dma_pinned() checks. Returns
 * unpin_user_page() for it (a second call does nothing).
 */
export function dmaPin(p: Process, addr: number): () => void {
  const pfns = pinUserPages(p.mm, addr - (addr % P), 1, FOLL_WRITE | FOLL_LONGTERM);
  if (typeof pfns === "number") throw new Errno(errnoName(pfns) ?? "EINVAL", "pin_user_pages");
  let pinned = true;
  return () => {
    if (!pinned) return;
    pinned = false;
    unpinUserPage(p.kernel.core, pfns[0]);
  };
}

/**
 * Swaps the page at `addr` out, as reclaim would: a swap device is turned
 * on if there is none (k.swapon()), then MADV_PAGEOUT writes the page to a
 * slot and leaves a swap entry in its PTE (exclusive if the page was
 * PageAnonExclusive; shrink_folio_list() in lib/mm/vmscan.ts). Returns the
 * swap offset.
 */
export function swapOut(p: Process, addr: number): number {
  presentPfn(p, addr);
  if (!p.kernel.core.swap) p.kernel.swapon(64);
  p.madvise(addr - (addr % P), P, C.MADV_PAGEOUT);
  const e = p.pagemap(addr);
  if (!e.swapped || e.swapOffset === null) {
    throw new RangeError(`MADV_PAGEOUT left 0x${addr.toString(16)} in memory`);
  }
  return Number(e.swapOffset);
}

/**
 * The first half of a migration of the page at `addr` (try_to_migrate_one()):
 * the folio is locked and its PTE becomes a migration entry (writable if
 * the PTE was). Only the second half, remove_migration_pte(), which
 * migration_entry_wait() runs in the model (see migrationEntryWait() in
 * lib/userfaultfd/mfill.ts), makes the state whole again: until then the
 * folio keeps the mapcount and reference of the PTE it lost, and k.check()
 * would report it.
 */
export function startMigration(p: Process, addr: number): void {
  const core = p.kernel.core;
  const pfn = presentPfn(p, addr);
  const pt = lookupPteTable(p.mm, addr)!;
  const i = pteIndex(addr);
  const writable = (pt.e[2 * i] & _PAGE_RW) !== 0;
  const ops = core.swapops;
  const entry = writable
    ? ops.makeWritableMigrationEntry(pfn)
    : ops.makeReadableExclusiveMigrationEntry(pfn);
  core.memmap.flags[pfn] |= PG_locked;
  pt.ptl!.lock("try_to_migrate_one");
  pt.set(i, swpEntryToPte(entry));
  pt.ptl!.unlock();
}

function presentPfn(p: Process, addr: number): number {
  const pt = lookupPteTable(p.mm, addr);
  const i = pteIndex(addr);
  if (!pt || !(pt.e[2 * i] & _PAGE_PRESENT)) {
    throw new RangeError(`no present page at 0x${addr.toString(16)}`);
  }
  const pfn = vmNormalPage(pt.e[2 * i], pt.e[2 * i + 1]);
  if (pfn < 0) throw new RangeError(`0x${addr.toString(16)} maps a special page`);
  return pfn;
}

// --- the errno table --------------------------------------------------------------------

/** The situations of the errno table, each a fresh moveSetup(4) and one UFFDIO_MOVE. */
export const MOVE_CASES = [
  "one page",
  "the whole range",
  "dst populated",
  "src hole",
  "src hole, ALLOW_SRC_HOLES",
  "src shared with a fork child",
  "src pinned",
  "src under migration",
  "src swapped out",
  "src swap entry shared with a fork child",
  "src poisoned (UFFDIO_POISON marker)",
  "src is shmem",
  "src read-only",
  "dst not registered",
  "dst not page-aligned",
  "uffd of a fork child (another mm)",
  "overlapping ranges",
] as const;
/** One situation of {@linkcode MOVE_CASES}. */
export type MoveCase = typeof MOVE_CASES[number];

/** What one UFFDIO_MOVE did: the errno ("ok" if none) and uffdio_move.move. */
export interface MoveOutcome {
  errno: string;
  move: number | null;
}

/** The userfaultfd calls a case's set-up makes, on the model or on the kernel. */
interface CaseUffd {
  api(a: { api: number; features?: number }): unknown;
  register(a: { range: { start: number; len: number }; mode: number }): unknown;
  poison(a: { range: { start: number; len: number } }): unknown;
  copy(a: { dst: number; src: number; len: number; mode?: number }): unknown;
  move(a: { dst: number; src: number; len: number; mode?: number }): number;
}

/** What a case's set-up needs: the process, its mappings and a way to open a userfaultfd. */
interface CaseEnv {
  p: {
    madvise(addr: number, len: number, advice: number): unknown;
    read(addr: number): unknown;
    write(addr: number, value: number): unknown;
    ftruncate(fd: number, len: number): unknown;
    /** fork(2); the child does nothing and exits when the caller cleans up. */
    fork(): unknown;
  };
  src: number;
  dst: number;
  uffd: CaseUffd;
  /** mmap(2) of a new mapping the caller unmaps later. */
  map(len: number, prot: number, flags: number, fd?: number): number;
  /** A second userfaultfd, opened as the caller opens its first. */
  userfaultfd(): CaseUffd;
  /** memfd_create(2) of a file the caller closes later. */
  memfd(name: string): number;
}

/**
 * The set-up of each case that the model and the kernel share (moveCase()
 * and the live lab's liveMoveCase()): the arguments of the UFFDIO_MOVE to
 * try, or null for a case only the model can set up.
 */
function setUpSharedCase(which: MoveCase, env: CaseEnv): MoveArg | null {
  const { p, src, dst, uffd } = env;
  const arg = { dst, src, len: P, mode: 0 };
  switch (which) {
    case "one page":
      return arg;
    case "the whole range":
      return { ...arg, len: 4 * P };
    case "dst populated":
      uffd.copy({ dst, src: src + P, len: P });
      return arg;
    case "src hole":
      p.madvise(src + P, P, C.MADV_DONTNEED);
      return { ...arg, len: 2 * P };
    case "src hole, ALLOW_SRC_HOLES":
      p.madvise(src + P, P, C.MADV_DONTNEED);
      return { ...arg, len: 2 * P, mode: C.UFFDIO_MOVE_MODE_ALLOW_SRC_HOLES };
    case "src shared with a fork child":
      p.fork(); // copy_present_ptes(): the folio is mapped twice, no longer PageAnonExclusive
      return arg;
    case "src poisoned (UFFDIO_POISON marker)": {
      const q = env.map(P, RW, ANON);
      const u2 = env.userfaultfd();
      u2.api({ api: C.UFFD_API, features: C.UFFD_FEATURE_POISON });
      u2.register({ range: { start: q, len: P }, mode: C.UFFDIO_REGISTER_MODE_MISSING });
      u2.poison({ range: { start: q, len: P } });
      return { ...arg, src: q };
    }
    case "src is shmem": {
      const fd = env.memfd("src");
      p.ftruncate(fd, P);
      const s = env.map(P, RW, C.MAP_SHARED, fd);
      p.write(s, 1);
      return { ...arg, src: s };
    }
    case "src read-only": {
      const s = env.map(P, C.PROT_READ, ANON);
      p.read(s);
      return { ...arg, src: s };
    }
    case "dst not registered":
      return { ...arg, dst: src + 2 * P };
    case "dst not page-aligned":
      return { ...arg, dst: dst + 8 };
    case "overlapping ranges":
      // One page moved into the destination first; then [dst, dst+2P) is
      // moved one page up: the page is moved twice.
      uffd.move({ dst, src, len: P });
      return { dst: dst + P, src: dst, len: 2 * P, mode: 0 };
    default:
      return null;
  }
}

/** struct uffdio_move without its result field. */
interface MoveArg {
  dst: number;
  src: number;
  len: number;
  mode: number;
}

/**
 * Sets up `which` on a fresh moveSetup(4) and issues the UFFDIO_MOVE the
 * case is about; `trace` sees move_pages_pte()'s steps. Pins and the
 * fork child's mm are released after the call.
 */
export function moveCase(which: MoveCase, trace?: (e: MoveTraceEvent) => void): MoveOutcome {
  const s = moveSetup(4);
  const { p, src, dst, uffd } = s;
  let mover = uffd;
  let arg = { dst, src, len: P, mode: 0 };
  let cleanup = () => {};
  const shared = setUpSharedCase(which, {
    p,
    src,
    dst,
    uffd,
    map: (len, prot, flags, fd = -1) => p.mmap(0, len, prot, flags, fd),
    userfaultfd: () => p.userfaultfd(0),
    memfd: (name) => p.memfdCreate(name),
  });
  if (shared) arg = shared;
  switch (which) {
    case "src pinned":
      cleanup = dmaPin(p, src);
      break;
    case "src under migration":
      startMigration(p, src);
      break;
    case "src swapped out":
      swapOut(p, src);
      break;
    case "src swap entry shared with a fork child":
      swapOut(p, src);
      p.fork(); // copy_nonpresent_pte(): the slot is shared, the entry no longer exclusive
      break;
    case "uffd of a fork child (another mm)": {
      const u = p.userfaultfd(0);
      u.api({ api: C.UFFD_API, features: C.UFFD_FEATURE_MOVE | C.UFFD_FEATURE_EVENT_FORK });
      arg.dst = p.mmap(0, P, RW, ANON);
      u.register({ range: { start: arg.dst, len: P }, mode: C.UFFDIO_REGISTER_MODE_MISSING });
      const child = p.fork();
      const msg = u.read();
      if (!msg || msg.event !== C.UFFD_EVENT_FORK) throw new Error("no UFFD_EVENT_FORK message");
      mover = msg.arg.fork.ufd;
      cleanup = () => child.exit();
      break;
    }
  }
  mover.moveTrace = trace ?? null;
  try {
    return { errno: "ok", move: mover.move(arg) };
  } catch (e) {
    if (e instanceof Errno) return { errno: e.errno, move: e.result ?? null };
    throw e;
  } finally {
    mover.moveTrace = null;
    cleanup();
  }
}

/** The errno table: each case, what UFFDIO_MOVE returned, and move_pages_pte()'s steps. */
export function moveErrnoTable(cases: readonly MoveCase[] = MOVE_CASES): Row[] {
  return cases.map((which) => {
    const steps: string[] = [];
    const out = moveCase(which, (e) => steps.push(`${e.what}:${e.ret}`));
    return { case: which, errno: out.errno, "uffdio_move.move": out.move, steps: steps.join(" ") };
  });
}

// --- the destination PTE ------------------------------------------------------------------

/** The bits of the destination PTE after a move that exercise (b) asks about. */
export interface MovedPte {
  writable: boolean;
  dirty: boolean;
  softDirty: boolean;
  /** Same page frame as the source had. */
  samePfn: boolean;
}

/** The input of exercise (b): how the source page was last touched, and the configuration. */
export interface MovedPteInput {
  /** "write": written (dirty PTE); "read-after-clean": written, then its dirty bit cleaned. */
  source: "write" | "clean";
  MEM_SOFT_DIRTY: boolean;
}

/**
 * Moves one written page and reports the destination PTE. For a "clean"
 * source the page is written, then its PTE's dirty bit is cleared (as
 * page_mkclean() would after writeback).
 */
export function movedPte(input: MovedPteInput): MovedPte {
  const k = simulate({ config: { MEM_SOFT_DIRTY: input.MEM_SOFT_DIRTY } });
  const p = k.spawn();
  const src = p.mmap(0, P, RW, ANON);
  p.write(src, 7);
  const pfn = presentPfn(p, src);
  if (input.source === "clean") {
    const pt = lookupPteTable(p.mm, src)!;
    pt.e[2 * pteIndex(src)] &= ~_PAGE_DIRTY;
  }
  const dst = p.mmap(0, P, RW, ANON);
  const uffd = p.userfaultfd(0);
  uffd.api({ api: C.UFFD_API, features: C.UFFD_FEATURE_MOVE });
  uffd.register({ range: { start: dst, len: P }, mode: C.UFFDIO_REGISTER_MODE_MISSING });
  uffd.move({ dst, src, len: P });
  const pte = ptepGet(k, p, dst);
  const e = p.pagemap(dst);
  return {
    writable: pteWrite(pte),
    dirty: pteDirty(pte),
    softDirty: e.softDirty,
    samePfn: e.pfn === pfn,
  };
}

// --- a monitor that moves, and falls back to copying ----------------------------------------

/** The input of exercise (c): pages, and which source pages a fork child shares. */
export interface MoveOrCopyScenario {
  pages: number;
  /** Source pages also mapped by a fork child (their folios are not exclusive). */
  shared: number[];
}

/** What the guest saw and what the monitor did, for exercise (c). */
export interface MoveOrCopyResult {
  /** The byte the guest read from each destination page. */
  read: number[];
  /** UFFDIO_MOVEs that moved a page, and UFFDIO_COPYs the monitor issued. */
  moved: number;
  copied: number;
}

/** A fault the monitor of exercise (c) resolves: the faulting page and its source. */
export interface MoveOrCopyFault {
  uffd: Userfaultfd;
  /** The faulting destination page. */
  dst: number;
  /** Where its data is, in the source region. */
  src: number;
}

/**
 * Runs exercise (c): a source of `pages` written pages (0x40 + i), the
 * listed ones shared with a fork child, and a guest that reads every
 * destination page; `handler` resolves each MISSING fault. Counts the
 * UFFDIO_MOVEs that succeeded and the UFFDIO_COPYs issued.
 */
export function runMoveOrCopy(
  s: MoveOrCopyScenario,
  handler: (f: MoveOrCopyFault) => void,
): MoveOrCopyResult {
  const k = simulate();
  const p = k.spawn({ comm: "monitor" });
  const src = p.mmap(0, s.pages * P, RW, ANON);
  for (let i = 0; i < s.pages; i++) p.write(src + i * P, 0x40 + i);
  // Keep the pages that must stay exclusive out of the child (MADV_DONTFORK).
  for (let i = 0; i < s.pages; i++) {
    if (!s.shared.includes(i)) p.madvise(src + i * P, P, C.MADV_DONTFORK);
  }
  const child = p.fork();
  const dst = p.mmap(0, s.pages * P, RW, ANON);
  const uffd = p.userfaultfd(0);
  uffd.api({ api: C.UFFD_API, features: C.UFFD_FEATURE_MOVE });
  uffd.register({ range: { start: dst, len: s.pages * P }, mode: C.UFFDIO_REGISTER_MODE_MISSING });
  let moved = 0, copied = 0;
  const counting: Userfaultfd = Object.create(uffd, {
    move: {
      value: (a: Parameters<Userfaultfd["move"]>[0]) => {
        const ret = uffd.move(a);
        moved++;
        return ret;
      },
    },
    copy: {
      value: (a: Parameters<Userfaultfd["copy"]>[0]) => {
        const ret = uffd.copy(a);
        copied++;
        return ret;
      },
    },
  });
  uffd.handler = (msg) => {
    const addr = msg.arg.pagefault.address - (msg.arg.pagefault.address % P);
    handler({ uffd: counting, dst: addr, src: src + (addr - dst) });
  };
  const read = Array.from({ length: s.pages }, (_, i) => p.read(dst + i * P));
  child.exit();
  k.check();
  return { read, moved, copied };
}

// --- the race -------------------------------------------------------------------------------

/** State of {@linkcode moveRace}: the two PTEs, the folios, the locks. */
export interface MoveRaceState {
  /** The pfn each PTE maps, 0 for pte_none. */
  src: number;
  dst: number;
  /** MM_ANONPAGES. */
  rss: number;
  /** References each folio holds (absent: freed). */
  refs: Record<number, number>;
  /** What move_pages_pte() read without holding both locks. */
  origSrc: number;
  origDst: number;
  /** What the mover did, for the timeline: "moved", "EAGAIN", "EEXIST", "ENOENT". */
  result: string[];
  /** The mover's attempt, and whether its re-check found both PTEs unchanged. */
  attempt: number;
  same: boolean;
  /** What the zapping thread took out of the source PTE. */
  zapped: number;
  /** What the migrating thread found in the source PTE. */
  migrated: number;
  srcPtl: SpinLock;
  dstPtl: SpinLock;
  /** Each folio's lock (folio_lock(): a sleeping lock; blocking on it is what it does). */
  folioLock: Record<number, SpinLock>;
}

/** The source PTE's value in {@linkcode moveRace} while it holds a migration entry. */
export const MIGRATION_ENTRY = -1;

/** Options of {@linkcode moveRace}. */
export interface MoveRaceOptions {
  /**
   * The other thread: "copy-dst", a second monitor thread resolving the
   * same fault with UFFDIO_COPY (mfill_atomic_install_pte()); "zap-src",
   * MADV_DONTNEED on the source page (zap_pte_range()); "migrate-src",
   * migration of the source folio to a new page (migrate_pages(): folio
   * lock, migration entry, copy, remove_migration_pte() with the new page).
   */
  other: "copy-dst" | "zap-src" | "migrate-src";
  /**
   * move_present_pte()'s pte_same() re-check of both PTEs once both locks
   * are held (v6.18; default true). Without it, what was read earlier is
   * trusted.
   */
  recheck?: boolean;
}

/**
 * UFFDIO_MOVE of one page (move_pages_pte() → move_present_pte(), v6.18)
 * against one other thread, as step functions for the race explorer:
 *
 *  - mover: read the dst PTE under its lock (must be none, else -EEXIST),
 *    read the src PTE under its lock (none: -ENOENT), take a folio
 *    reference and the folio lock, then double_pt_lock(), re-check both
 *    PTEs (-EAGAIN and start over if either changed), clear the source,
 *    set the destination, unlock;
 *  - copy-dst: allocate a page, lock the dst PTE, install it if none
 *    (else free it: -EEXIST), unlock;
 *  - zap-src: lock the src PTE, clear it, drop rss and the PTE's
 *    reference, unlock;
 *  - migrate-src: lock the old folio, replace its PTE by a migration
 *    entry, check that no unexpected reference is held (else put the old
 *    PTE back: migration failed), copy it to a new folio, map the new one,
 *    drop the old one's PTE reference, unlock. A mover that finds the migration entry waits
 *    for the old folio's lock (migration_entry_wait()) and retries
 *    (-EAGAIN); one that waited for the folio lock finds, under both PTE
 *    locks, a source PTE that no longer maps its folio (-EAGAIN).
 *
 * checkFinal: rss equals the PTEs that map a page, every live folio is
 * mapped, no PTE maps a freed folio.
 */
export function moveRace(options: MoveRaceOptions): RaceScenario<MoveRaceState> {
  const recheck = options.recheck ?? true;
  const put = (s: MoveRaceState, pfn: number) => {
    if (--s.refs[pfn] === 0) delete s.refs[pfn];
  };
  function* mover(s: MoveRaceState): Generator<Step, void> {
    for (s.attempt = 0; s.attempt < 3; s.attempt++) {
      yield { op: "lock", lock: s.dstPtl };
      yield { op: "read", obj: "dst", label: "orig_dst_pte = ptep_get()" };
      s.origDst = s.dst;
      yield { op: "unlock", lock: s.dstPtl };
      if (s.origDst !== 0) {
        s.result.push("EEXIST");
        return;
      }
      yield { op: "lock", lock: s.srcPtl };
      yield { op: "read", obj: "src", label: "orig_src_pte = ptep_get()" };
      s.origSrc = s.src;
      if (s.origSrc === 0) {
        yield { op: "unlock", lock: s.srcPtl };
        s.result.push("ENOENT");
        return;
      }
      if (s.origSrc === MIGRATION_ENTRY) {
        yield { op: "unlock", lock: s.srcPtl };
        // migration_entry_wait() → migration_entry_wait_on_locked(): sleep
        // until the folio under migration is unlocked, then start over.
        yield { op: "lock", lock: s.folioLock[0x100], label: "migration_entry_wait()" };
        yield { op: "unlock", lock: s.folioLock[0x100] };
        s.result.push("EAGAIN");
        continue;
      }
      yield { op: "write", obj: "refs", label: "folio_get()" };
      s.refs[s.origSrc]++;
      yield { op: "unlock", lock: s.srcPtl };
      yield { op: "lock", lock: s.folioLock[s.origSrc], label: "folio_lock()" };
      // double_pt_lock(): one order for everyone (src before dst here).
      yield { op: "lock", lock: s.srcPtl };
      yield { op: "lock", lock: s.dstPtl };
      s.same = true;
      if (recheck) {
        yield { op: "read", obj: ["src", "dst"], label: "pte_same() × 2" };
        s.same = s.src === s.origSrc && s.dst === s.origDst;
      }
      if (s.same) {
        yield { op: "write", obj: ["src", "dst"], label: "move_present_pte()" };
        s.src = 0;
        s.dst = s.origSrc;
        s.result.push("moved");
      } else {
        s.result.push("EAGAIN");
      }
      yield { op: "unlock", lock: s.dstPtl };
      yield { op: "unlock", lock: s.srcPtl };
      yield { op: "unlock", lock: s.folioLock[s.origSrc] };
      yield { op: "write", obj: "refs", label: "folio_put()" };
      put(s, s.origSrc);
      if (s.same) return;
    }
  }
  function* copyDst(s: MoveRaceState): Generator<Step, void> {
    yield { op: "write", obj: "refs", label: "folio_alloc()" };
    const pfn = 0x200;
    s.refs[pfn] = 1;
    yield { op: "lock", lock: s.dstPtl };
    yield { op: "read", obj: "dst", label: "pte_none_mostly()" };
    if (s.dst !== 0) {
      yield { op: "unlock", lock: s.dstPtl };
      yield { op: "write", obj: "refs", label: "folio_put()" };
      put(s, pfn);
      return;
    }
    yield { op: "write", obj: ["dst", "rss"], label: "set_pte_at()" };
    s.dst = pfn;
    s.rss++;
    yield { op: "unlock", lock: s.dstPtl };
  }
  function* migrateSrc(s: MoveRaceState): Generator<Step, void> {
    const old = 0x100, neu = 0x300;
    yield { op: "lock", lock: s.folioLock[old], label: "folio_lock()" };
    yield { op: "lock", lock: s.srcPtl };
    yield { op: "read", obj: "src", label: "try_to_migrate_one()" };
    s.migrated = s.src;
    if (s.migrated !== old) {
      yield { op: "unlock", lock: s.srcPtl };
      yield { op: "unlock", lock: s.folioLock[old] };
      return;
    }
    yield { op: "write", obj: "src", label: "set migration entry" };
    s.src = MIGRATION_ENTRY;
    yield { op: "unlock", lock: s.srcPtl };
    // folio_migrate_mapping(): only the references migration expects may
    // be held (here, the one of the PTE it replaced); any other (a mover's
    // folio_get()) makes it back off and put the old PTE back.
    yield { op: "read", obj: "refs", label: "folio_migrate_mapping(): refcount" };
    if (s.refs[old] !== 1) {
      yield { op: "lock", lock: s.srcPtl };
      yield { op: "write", obj: "src", label: "remove_migration_pte(): the old folio" };
      s.src = old;
      yield { op: "unlock", lock: s.srcPtl };
      yield { op: "unlock", lock: s.folioLock[old] };
      return;
    }
    yield { op: "write", obj: "refs", label: "folio_alloc(), folio_copy()" };
    s.refs[neu] = 1;
    yield { op: "lock", lock: s.srcPtl };
    yield { op: "write", obj: ["src", "refs"], label: "remove_migration_pte()" };
    s.src = neu;
    put(s, old);
    yield { op: "unlock", lock: s.srcPtl };
    yield { op: "unlock", lock: s.folioLock[old] };
  }
  function* zapSrc(s: MoveRaceState): Generator<Step, void> {
    yield { op: "lock", lock: s.srcPtl };
    yield { op: "read", obj: "src", label: "ptep_get_and_clear()" };
    s.zapped = s.src;
    if (s.zapped !== 0) {
      yield { op: "write", obj: ["src", "rss", "refs"], label: "zap: rss--, folio_put()" };
      s.src = 0;
      s.rss--;
      put(s, s.zapped);
    }
    yield { op: "unlock", lock: s.srcPtl };
  }
  return {
    name: `UFFDIO_MOVE vs ${options.other} (${
      recheck ? "with" : "without"
    } the pte_same() re-check)`,
    setup() {
      const state: MoveRaceState = {
        src: 0x100,
        dst: 0,
        rss: 1,
        refs: { 0x100: 1 },
        origSrc: 0,
        origDst: 0,
        result: [],
        attempt: 0,
        same: false,
        zapped: 0,
        migrated: 0,
        srcPtl: new SpinLock("src ptl"),
        dstPtl: new SpinLock("dst ptl"),
        folioLock: {
          0x100: new SpinLock("folio 0x100 lock"),
          0x300: new SpinLock("folio 0x300 lock"),
        },
      };
      const threads = { "copy-dst": copyDst, "zap-src": zapSrc, "migrate-src": migrateSrc };
      const other = threads[options.other](state);
      return { state, threads: { move: mover(state), [options.other]: other } };
    },
    checkFinal(s) {
      const mapped = [s.src, s.dst].filter((pfn) => pfn > 0);
      if (s.rss !== mapped.length) {
        throw new VmBugError("rss counter", `MM_ANONPAGES is ${s.rss}, PTEs map ${mapped.length}`, {
          rss: s.rss,
          src: s.src,
          dst: s.dst,
        });
      }
      for (const pfn of mapped) {
        if (!(pfn in s.refs)) {
          throw new VmBugError("use after free", `a PTE maps freed folio 0x${pfn.toString(16)}`, {
            pfn,
          });
        }
      }
      for (const pfn of Object.keys(s.refs).map(Number)) {
        if (!mapped.includes(pfn)) {
          throw new VmBugError("refcount", `folio 0x${pfn.toString(16)} leaked: nothing maps it`, {
            pfn,
          });
        }
      }
    },
  };
}

// --- exercises --------------------------------------------------------------------------------

/** Exercise (a): the errno of each case (or "ok"), as the kernel returns it. */
export const moveErrnoExercise: Exercise<MoveCase, string> = defineExercise({
  id: "uffd-move-errno",
  title: 'moveErrno(case): the errno UFFDIO_MOVE fails with, or "ok"',
  cases: MOVE_CASES.map((c, i) => ({
    name: c,
    input: c,
    expected: moveCase(c).errno,
    hidden: i % 3 === 2,
  })),
});

const MOVED_PTE_INPUTS: { input: MovedPteInput; hidden?: boolean }[] = [
  { input: { source: "write", MEM_SOFT_DIRTY: true } },
  { input: { source: "clean", MEM_SOFT_DIRTY: true } },
  { input: { source: "write", MEM_SOFT_DIRTY: false }, hidden: true },
  { input: { source: "clean", MEM_SOFT_DIRTY: false }, hidden: true },
];

/** Exercise (b): the destination PTE after moving one page. */
export const movedPteExercise: Exercise<MovedPteInput, MovedPte> = defineExercise({
  id: "uffd-move-pte",
  title: "movedPte({ source, MEM_SOFT_DIRTY }): writable, dirty, softDirty, samePfn",
  cases: MOVED_PTE_INPUTS.map((c) => ({
    name: `${c.input.source} source, MEM_SOFT_DIRTY=${c.input.MEM_SOFT_DIRTY}`,
    input: c.input,
    expected: movedPte(c.input),
    hidden: c.hidden,
  })),
});

const MOVE_OR_COPY_INPUTS: { input: MoveOrCopyScenario; hidden?: boolean }[] = [
  { input: { pages: 4, shared: [] } },
  { input: { pages: 4, shared: [1] } },
  { input: { pages: 6, shared: [0, 5] }, hidden: true },
  { input: { pages: 3, shared: [0, 1, 2] }, hidden: true },
];

/**
 * Exercise (c): a monitor that moves each page and copies only the ones
 * UFFDIO_MOVE refuses (EBUSY: not exclusive). Expected: the data of every
 * page, moved = exclusive pages, copied = shared ones.
 */
export const moveOrCopyExercise: Exercise<MoveOrCopyScenario, MoveOrCopyResult> = defineExercise({
  id: "uffd-move-or-copy",
  title: "moveOrCopy({ pages, shared }): every page read right; move when possible, else copy",
  cases: MOVE_OR_COPY_INPUTS.map((c) => ({
    name: `${c.input.pages} pages, shared ${JSON.stringify(c.input.shared)}`,
    input: c.input,
    expected: {
      read: Array.from({ length: c.input.pages }, (_, i) => 0x40 + i),
      moved: c.input.pages - c.input.shared.length,
      copied: c.input.shared.length,
    },
    hidden: c.hidden,
  })),
});

// --- what each ioctl costs the model ------------------------------------------------------

/**
 * One UFFDIO_COPY and one UFFDIO_MOVE of `n` pages each, for each `n`, on
 * fresh kernels (moveSetup(n)): the page frames the ioctl allocated (data
 * pages and page tables, from the allocator's counter), and the
 * anonymous pages resident afterwards (source and destination together).
 */
export function copyVsMoveWork(sizes: readonly number[] = [1, 16, 256]): Row[] {
  const rows: Row[] = [];
  for (const n of sizes) {
    for (const op of ["UFFDIO_COPY", "UFFDIO_MOVE"] as const) {
      const { k, src, dst, uffd } = moveSetup(n);
      const before = k.core.memmap.allocs;
      if (op === "UFFDIO_COPY") uffd.copy({ dst, src, len: n * P });
      else uffd.move({ dst, src, len: n * P });
      rows.push({
        op,
        pages: n,
        "frames allocated": k.core.memmap.allocs - before,
        "anon pages resident": k.core.vmstat.nr_anon_pages,
      });
      k.check();
    }
  }
  return rows;
}

// --- the same cases on the host's kernel ------------------------------------------------

/**
 * The cases the live lab cannot set up from inside the Deno process: a
 * DMA pin, swap or migration, or a fork child that issues ioctls (its fork
 * child runs no code, lib/live/fork.ts).
 */
const MODEL_ONLY_MOVE_CASES: readonly MoveCase[] = [
  "src pinned",
  "src under migration",
  "src swapped out",
  "src swap entry shared with a fork child",
  "uffd of a fork child (another mm)",
];

/** The cases of {@linkcode MOVE_CASES} the live lab can set up on the host. */
export const LIVE_MOVE_CASES: readonly MoveCase[] = MOVE_CASES.filter((c) =>
  !MODEL_ONLY_MOVE_CASES.includes(c)
);

/** The errno table on the host kernel beside the model's, or why it could not run. */
export interface LiveMoveTable {
  /** The host's kernel release, when the table ran. */
  kernel: string | null;
  /** Why the host could not run it (no userfaultfd, no UFFD_FEATURE_MOVE, not Linux). */
  unavailable: string | null;
  rows: Row[];
}

/**
 * Runs each case on the host kernel through the live lab (lib/live: Deno
 * FFI to libc, a userfaultfd with UFFD_USER_MODE_ONLY, which needs no
 * privilege) and on the model, and compares the errno. The live side
 * reports uffdio_move.move only for partial progress, so only the errno and
 * the bytes moved are compared.
 */
export function liveMoveTable(cases: readonly MoveCase[] = LIVE_MOVE_CASES): LiveMoveTable {
  const host = probeHost();
  const need = C.UFFD_FEATURE_MOVE | C.UFFD_FEATURE_POISON;
  if (!host.uffd) {
    return {
      kernel: host.kernelRelease,
      unavailable: host.missing.uffd ?? "no userfaultfd",
      rows: [],
    };
  }
  if ((host.uffd.features & need) !== need) {
    return {
      kernel: host.kernelRelease,
      unavailable: "the host's userfaultfd lacks UFFD_FEATURE_MOVE or UFFD_FEATURE_POISON",
      rows: [],
    };
  }
  const rows = cases.map((which) => {
    const kernel = liveMoveCase(which);
    const model = moveCase(which);
    const moved = (o: MoveOutcome) => (o.errno === "ok" || (o.move ?? 0) > 0 ? o.move : null);
    return {
      case: which,
      "kernel errno": kernel.errno,
      "model errno": model.errno,
      "kernel bytes moved": moved(kernel),
      "model bytes moved": moved(model),
      agree: kernel.errno === model.errno && moved(kernel) === moved(model),
    };
  });
  return { kernel: host.kernelRelease, unavailable: null, rows };
}

/** One case of {@linkcode LIVE_MOVE_CASES} on the host, as moveCase() sets it up on the model. */
function liveMoveCase(which: MoveCase): MoveOutcome {
  const p = liveProcess();
  const maps: [number, number][] = [];
  const map = (len: number, prot: number, flags: number, fd = -1) => {
    const a = p.mmap(0, len, prot, flags, fd);
    maps.push([a, len]);
    return a;
  };
  const uffds: { close(): unknown }[] = [];
  const fds: number[] = [];
  const children: { exit(): unknown }[] = [];
  try {
    const src = map(4 * P, RW, ANON);
    const dst = map(4 * P, RW, ANON);
    // 4 KiB pages, as in the model's set-up.
    p.madvise(src, 4 * P, C.MADV_NOHUGEPAGE);
    p.madvise(dst, 4 * P, C.MADV_NOHUGEPAGE);
    for (let i = 0; i < 4; i++) p.write(src + i * P, 0x40 + i);
    const uffd = p.userfaultfd(C.UFFD_USER_MODE_ONLY);
    uffds.push(uffd);
    uffd.api({ api: C.UFFD_API, features: C.UFFD_FEATURE_MOVE });
    uffd.register({ range: { start: dst, len: 4 * P }, mode: C.UFFDIO_REGISTER_MODE_MISSING });
    const arg = setUpSharedCase(which, {
      p: {
        madvise: (a, len, advice) => p.madvise(a, len, advice),
        read: (a) => p.read(a),
        write: (a, v) => p.write(a, v),
        ftruncate: (fd, len) => p.ftruncate(fd, len),
        fork: () => children.push(p.fork()),
      },
      src,
      dst,
      uffd,
      map,
      userfaultfd: () => {
        const u = p.userfaultfd(C.UFFD_USER_MODE_ONLY);
        uffds.push(u);
        return u;
      },
      memfd: (name) => {
        const fd = p.memfdCreate(name, 0);
        fds.push(fd);
        return fd;
      },
    });
    if (!arg) throw new RangeError(`the live lab cannot set up "${which}"`);
    try {
      return { errno: "ok", move: uffd.move(arg) };
    } catch (e) {
      if (e instanceof Errno) return { errno: e.errno, move: e.result ?? null };
      throw e;
    }
  } finally {
    for (const c of children) c.exit();
    for (const u of uffds) u.close();
    for (const fd of fds) p.close(fd);
    for (const [a, len] of maps) p.munmap(a, len);
    p[Symbol.dispose]();
  }
}
