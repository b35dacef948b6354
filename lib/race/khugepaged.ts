/**
 * The races of "mm/khugepaged: retract_page_tables() without mmap or vma
 * lock" and "mm/khugepaged: fix collapse_pte_mapped_thp() versus uffd"
 * (seed 003_04fde8f735f91402.txt), as scenarios for the explorer.
 *
 * Since v6.6 khugepaged frees the PTE table under a huge shmem folio
 * without mmap_lock: retract_page_tables() (mm/khugepaged.c) holds only
 * i_mmap_rwsem for read, the new folio's lock, the PMD lock and the PTE
 * lock, and collapse_pte_mapped_thp() holds mmap_lock for read. The folio
 * lock keeps faults from mapping the folio's pages again; it does not stop
 * userfaultfd, whose UFFDIO_COPY into a private mapping installs an
 * anonymous page without looking at the page cache (mm/userfaultfd.c
 * mfill_atomic_pte_copy()), and whose UFFDIO_WRITEPROTECT installs uffd-wp
 * markers. Each thread below follows its kernel function step by step,
 * under the kernel's names and locks, in the documented order: mmap_lock →
 * folio lock → i_mmap_rwsem → PMD lock (pmd_lock()) → PTE lock (ptl).
 *
 * What the model keeps of the mm: one VMA over one 2 MiB range, its PMD
 * entry (the id of the PTE table it points at, 0 for pmd_none), each PTE
 * table's entries reduced to two slots (slot 0 stands for the PTEs that map
 * the huge folio's pages, slot 1 for the one UFFDIO_COPY or the marker
 * targets), and the rss counters. A detached table is freed by
 * pte_free_defer() after an RCU grace period; the threads here re-check
 * the PMD under the PTE lock (pmd_same()) before writing, so none touches a
 * table after that. At exit, exit_mmap() zaps what the PMD still maps and
 * check_mm() prints "BUG: Bad rss-counter state" for a counter left over.
 *
 * @module
 */
import { RwSemaphore, SpinLock } from "../kernel/locking.ts";
import type { RaceScenario } from "./run.ts";
import type { Step } from "./step.ts";

/** What one PTE slot holds. */
export type PteSlot = "none" | "shmem" | "anon" | "marker";

/** A PTE table: its two slots and whether pte_free_defer() freed it. */
export interface PteTable {
  pte: [PteSlot, PteSlot];
  freed: boolean;
}

/** The shared state of the scenarios below. */
export interface KhugepagedRaceState {
  /** The PMD entry: the PTE table it points at, 0 for pmd_none. */
  pmd: number;
  /** PTE tables by id. */
  tables: Record<number, PteTable>;
  /** Next table id __pte_alloc() hands out. */
  nextTable: number;
  /** rss counters of the mm. */
  rss: { MM_SHMEMPAGES: number; MM_ANONPAGES: number };
  /** The VMA: anon_vma prepared, VM_UFFD_WP, VM_UFFD_MISSING, VM_SHARED. */
  vma: { anon_vma: boolean; uffd_wp: boolean; uffd_missing: boolean; shared: boolean };
  /** Thread locals that live across yields: the table each thread found, results. */
  local: Record<
    string,
    { table: number; nr_ptes: number; pml: boolean; skipped: boolean; result: string }
  >;
  /** UFFDIO_WRITEPROTECT returned: the page must stay write-protected. */
  wpDone: boolean;
  /** The locks. */
  mmap_lock: RwSemaphore;
  folio_lock: SpinLock;
  i_mmap_rwsem: RwSemaphore;
  pml: SpinLock;
  ptl: Record<number, SpinLock>;
  /** The kernel log (check_mm()'s lines). */
  dmesg: string[];
}

/** Which collapse_pte_mapped_thp(): before or after commit a98460494b16 (v6.6-rc). */
export type CollapseVariant = "pre-a98460494b16" | "v6.18";

/** The racer of retract_page_tables(). */
export type RetractRacer = "uffdio_copy" | "uffd_wp";

/**
 * Where retract_page_tables() checks vma->anon_vma and userfaultfd_wp()
 * again: nowhere, before any lock, under the PMD lock only, or under the
 * PTE lock as v6.6 does.
 */
export const RECHECK_PLACEMENTS = [
  "none",
  "after i_mmap_lock_read()",
  "after pmd_lock()",
  "after spin_lock_nested(ptl)",
] as const;
/** One of {@link RECHECK_PLACEMENTS}. */
export type RecheckPlacement = typeof RECHECK_PLACEMENTS[number];

function newState(vma: KhugepagedRaceState["vma"], slot0: PteSlot): KhugepagedRaceState {
  return {
    pmd: 1,
    tables: { 1: { pte: [slot0, "none"], freed: false } },
    nextTable: 2,
    rss: { MM_SHMEMPAGES: slot0 === "shmem" ? 1 : 0, MM_ANONPAGES: 0 },
    vma,
    local: {},
    wpDone: false,
    mmap_lock: new RwSemaphore("mmap_lock"),
    folio_lock: new SpinLock("folio_lock"),
    i_mmap_rwsem: new RwSemaphore("i_mmap_rwsem"),
    pml: new SpinLock("pmd_lock"),
    ptl: { 1: new SpinLock("ptl") },
    dmesg: [],
  };
}

function local(s: KhugepagedRaceState, me: string) {
  return s.local[me] ??= { table: 0, nr_ptes: 0, pml: false, skipped: false, result: "" };
}

const pteObj = (t: number) => `pte@${t}`;

/** userfaultfd_armed(): registered for MISSING or WP faults. */
function userfaultfdArmed(s: KhugepagedRaceState): boolean {
  return s.vma.uffd_missing || s.vma.uffd_wp;
}

/**
 * collapse_pte_mapped_thp(mm, addr, install_pmd = false) as MADV_COLLAPSE
 * calls it after collapse_file() put a huge folio in the page cache, with
 * the steps the kernel numbers: 1. check under the PTE lock that every PTE
 * maps the folio; 2. clear them (ptep_clear(), folio_remove_rmap_pte());
 * 3. drop the folio's references and the rss counter; 4. take the PMD lock
 * and remove the now empty table (pmdp_collapse_flush(), pte_free_defer()).
 *
 * Before commit a98460494b16 the PTE lock is dropped after step 2 and taken
 * again, nested in the PMD lock, for step 4: a UFFDIO_COPY can fill a PTE
 * in between. Since then, for a private VMA that is userfaultfd_armed(),
 * the PMD lock is taken before step 2 and the PTE lock held until the
 * table is gone.
 */
export function* collapsePteMappedThp(
  s: KhugepagedRaceState,
  me: string,
  variant: CollapseVariant,
): Generator<Step, void, undefined> {
  const l = local(s, me);
  yield { op: "down_read", lock: s.mmap_lock, label: "mmap_read_lock()" };
  yield { op: "read", obj: "vma", label: "userfaultfd_wp(vma)" };
  if (s.vma.uffd_wp) {
    l.result = "SCAN_PTE_UFFD_WP";
    yield { op: "up_read", lock: s.mmap_lock, label: "mmap_read_unlock()" };
    return;
  }
  yield { op: "lock", lock: s.folio_lock, label: "filemap_lock_folio()" };
  yield { op: "read", obj: "pmd", label: "find_pmd_or_thp_or_none()" };
  l.table = s.pmd;
  if (l.table !== 0) {
    const t = l.table;
    const ptl = s.ptl[t];
    yield { op: "lock", lock: ptl, label: "pte_offset_map_lock()" };
    yield { op: "read", obj: pteObj(t), label: "step 1: PTEs map the folio?" };
    const ok = s.tables[t].pte.every((e) => e === "none" || e === "shmem");
    yield { op: "unlock", lock: ptl, label: "pte_unmap_unlock()" };
    if (!ok) {
      l.result = "SCAN_FAIL";
    } else {
      if (variant === "v6.18" && userfaultfdArmed(s) && !s.vma.shared) {
        yield { op: "lock", lock: s.pml, label: "pmd_lock() (uffd private)" };
        l.pml = true;
      }
      yield { op: "lock", lock: ptl, label: "spin_lock(ptl)" };
      yield { op: "write", obj: [pteObj(t)], label: "step 2: ptep_clear()" };
      let abort = false;
      for (const [i, e] of s.tables[t].pte.entries()) {
        if (e === "none") continue;
        if (e !== "shmem") {
          abort = true; // folio_page(folio, i) != page
          break;
        }
        s.tables[t].pte[i] = "none";
        l.nr_ptes++;
      }
      if (abort) {
        // abort: give back what step 2 took, unlock, leave the table.
        yield { op: "write", obj: "rss", label: "abort: add_mm_counter(-nr_ptes)" };
        s.rss.MM_SHMEMPAGES -= l.nr_ptes;
        l.nr_ptes = 0;
        yield { op: "unlock", lock: ptl, label: "pte_unmap_unlock()" };
        if (l.pml) yield { op: "unlock", lock: s.pml, label: "spin_unlock(pml)" };
        l.result = "SCAN_FAIL";
      } else {
        if (!l.pml) yield { op: "unlock", lock: ptl, label: "spin_unlock(ptl)" };
        yield { op: "write", obj: "rss", label: "step 3: add_mm_counter(-nr_ptes)" };
        s.rss.MM_SHMEMPAGES -= l.nr_ptes;
        if (!l.pml) {
          yield { op: "lock", lock: s.pml, label: "step 4: pmd_lock()" };
          yield { op: "lock", lock: ptl, label: "spin_lock_nested(ptl)" };
        }
        yield { op: "write", obj: "pmd", label: "pmdp_collapse_flush()" };
        s.pmd = 0;
        yield { op: "unlock", lock: ptl, label: "spin_unlock(ptl)" };
        yield { op: "unlock", lock: s.pml, label: "spin_unlock(pml)" };
        yield { op: "write", obj: pteObj(t), label: "pte_free_defer()" };
        s.tables[t].freed = true;
        l.result = "SCAN_SUCCEED";
      }
    }
  } else {
    l.result = "SCAN_SUCCEED"; // SCAN_PMD_NONE: nothing to retract
  }
  yield { op: "unlock", lock: s.folio_lock, label: "folio_unlock()" };
  yield { op: "up_read", lock: s.mmap_lock, label: "mmap_read_unlock()" };
}

/**
 * retract_page_tables(mapping, pgoff) at the end of collapse_file(): for a
 * VMA mapping the new huge folio, without mmap_lock, skip it if it has an
 * anon_vma or is uffd-wp registered; otherwise take the PMD lock and the
 * PTE lock and remove the table. With `recheck` (v6.6 as merged) both
 * conditions are checked again under the PTE lock, since userfaultfd may
 * have changed them meanwhile; without it (the check before the locks only,
 * as Peter Xu asked about), the table can go with a PTE or a marker in it.
 */
export function* retractPageTables(
  s: KhugepagedRaceState,
  me: string,
  recheck: boolean | RecheckPlacement,
): Generator<Step, void, undefined> {
  const at: RecheckPlacement = recheck === true
    ? "after spin_lock_nested(ptl)"
    : recheck === false
    ? "none"
    : recheck;
  const l = local(s, me);
  function* recheckHere(where: RecheckPlacement): Generator<Step, void, undefined> {
    if (at !== where || l.skipped) return;
    yield { op: "read", obj: "vma", label: "recheck anon_vma, userfaultfd_wp()" };
    l.skipped = s.vma.anon_vma || s.vma.uffd_wp;
  }
  yield { op: "down_read", lock: s.i_mmap_rwsem, label: "i_mmap_lock_read()" };
  yield* recheckHere("after i_mmap_lock_read()");
  yield { op: "read", obj: "vma", label: "READ_ONCE(vma->anon_vma)" };
  let skip = s.vma.anon_vma;
  if (!skip) {
    yield { op: "read", obj: "pmd", label: "find_pmd_or_thp_or_none()" };
    l.table = s.pmd;
    skip = l.table === 0;
  }
  if (!skip) {
    yield { op: "read", obj: "vma", label: "userfaultfd_wp(vma)" };
    skip = s.vma.uffd_wp;
  }
  if (!skip) {
    const t = l.table, ptl = s.ptl[t];
    yield { op: "lock", lock: s.pml, label: "pmd_lock()" };
    yield* recheckHere("after pmd_lock()");
    yield { op: "lock", lock: ptl, label: "spin_lock_nested(ptl)" };
    yield* recheckHere("after spin_lock_nested(ptl)");
    if (!l.skipped) {
      yield { op: "write", obj: "pmd", label: "pmdp_collapse_flush()" };
      s.pmd = 0;
    }
    yield { op: "unlock", lock: ptl, label: "spin_unlock(ptl)" };
    yield { op: "unlock", lock: s.pml, label: "spin_unlock(pml)" };
    if (!l.skipped) {
      yield { op: "write", obj: pteObj(t), label: "pte_free_defer()" };
      s.tables[t].freed = true;
    }
    l.result = l.skipped ? "skipped" : "retracted";
  } else {
    l.result = "skipped";
  }
  yield { op: "up_read", lock: s.i_mmap_rwsem, label: "i_mmap_unlock_read()" };
}

/**
 * The PTE of `slot`, under its lock, as pte_offset_map_lock() finds it:
 * read the PMD (allocating a table under the PMD lock where there is none,
 * __pte_alloc()), take that table's lock, check that the PMD still points
 * at it (pmd_same()), retry otherwise. Leaves the table in `local.table`
 * with its lock held.
 */
function* pteOffsetMapLock(
  s: KhugepagedRaceState,
  me: string,
): Generator<Step, void, undefined> {
  const l = local(s, me);
  for (;;) {
    yield { op: "read", obj: "pmd", label: "pmdp_get_lockless()" };
    l.table = s.pmd;
    if (l.table === 0) {
      yield { op: "lock", lock: s.pml, label: "__pte_alloc(): pmd_lock()" };
      yield { op: "write", obj: "pmd", label: "pmd_populate()" };
      if (s.pmd === 0) {
        const t = s.nextTable++;
        s.tables[t] = { pte: ["none", "none"], freed: false };
        s.ptl[t] = new SpinLock(`ptl#${t}`);
        s.pmd = t;
      }
      l.table = s.pmd;
      yield { op: "unlock", lock: s.pml, label: "spin_unlock(pml)" };
    }
    const ptl = s.ptl[l.table];
    yield { op: "lock", lock: ptl, label: "pte_offset_map_lock()" };
    yield { op: "read", obj: "pmd", label: "pmd_same()" };
    if (s.pmd === l.table) return;
    yield { op: "unlock", lock: ptl, label: "pte_unmap_unlock(): retry" };
  }
}

/**
 * UFFDIO_COPY of one page into a private shmem VMA (mm/userfaultfd.c
 * mfill_atomic() → mfill_atomic_pte_copy() → mfill_atomic_install_pte()):
 * under mmap_lock for read, prepare the VMA's anon_vma, copy into a new
 * anonymous folio, then under the PTE lock install it as if COWed: no page
 * cache lookup, so no folio lock. -EEXIST if the PTE is not none.
 */
export function* uffdioCopyPrivate(
  s: KhugepagedRaceState,
  me: string,
): Generator<Step, void, undefined> {
  const l = local(s, me);
  yield { op: "down_read", lock: s.mmap_lock, label: "mmap_read_lock()" };
  yield { op: "write", obj: "vma", label: "anon_vma_prepare()" };
  s.vma.anon_vma = true;
  yield { op: "local", label: "folio_alloc() + copy_from_user()" };
  yield* pteOffsetMapLock(s, me);
  const t = l.table;
  yield { op: "read", obj: pteObj(t), label: "pte_none()?" };
  if (s.tables[t].pte[1] !== "none") {
    l.result = "-EEXIST";
  } else {
    yield { op: "write", obj: "rss", label: "inc_mm_counter(MM_ANONPAGES)" };
    s.rss.MM_ANONPAGES++;
    yield { op: "write", obj: pteObj(t), label: "set_pte_at()" };
    s.tables[t].pte[1] = "anon";
    l.result = "copied";
  }
  yield { op: "unlock", lock: s.ptl[t], label: "pte_unmap_unlock()" };
  yield { op: "up_read", lock: s.mmap_lock, label: "mmap_read_unlock()" };
}

/**
 * UFFDIO_REGISTER with UFFDIO_REGISTER_MODE_WP (mmap_lock for write: set
 * VM_UFFD_WP), then UFFDIO_WRITEPROTECT of the page (mmap_lock for read:
 * uffd_wp_range() → change_pte_range(), which in a shmem VMA installs a
 * PTE_MARKER_UFFD_WP in the none PTE, allocating the table if needed).
 */
export function* uffdRegisterWpAndProtect(
  s: KhugepagedRaceState,
  me: string,
): Generator<Step, void, undefined> {
  const l = local(s, me);
  yield { op: "down_write", lock: s.mmap_lock, label: "UFFDIO_REGISTER: mmap_write_lock()" };
  yield { op: "write", obj: "vma", label: "userfaultfd_set_vm_flags(VM_UFFD_WP)" };
  s.vma.uffd_wp = true;
  yield { op: "up_write", lock: s.mmap_lock, label: "mmap_write_unlock()" };
  yield { op: "down_read", lock: s.mmap_lock, label: "UFFDIO_WRITEPROTECT: mmap_read_lock()" };
  yield* pteOffsetMapLock(s, me);
  const t = l.table;
  yield { op: "write", obj: pteObj(t), label: "set_pte_at(PTE_MARKER_UFFD_WP)" };
  s.tables[t].pte[1] = "marker";
  yield { op: "unlock", lock: s.ptl[t], label: "pte_unmap_unlock()" };
  yield { op: "up_read", lock: s.mmap_lock, label: "mmap_read_unlock()" };
  yield { op: "write", obj: "wpDone", label: "UFFDIO_WRITEPROTECT returns" };
  s.wpDone = true;
}

/**
 * exit_mmap() + check_mm(): zap what the PMD maps, then print "BUG: Bad
 * rss-counter state" for each counter left over, and fail with the first.
 * A uffd-wp protection that no marker holds any more is reported too.
 */
function checkExit(s: KhugepagedRaceState): void {
  const rss = { ...s.rss };
  const live = s.pmd ? s.tables[s.pmd] : null;
  if (live) {
    for (const e of live.pte) {
      if (e === "shmem") rss.MM_SHMEMPAGES--;
      if (e === "anon") rss.MM_ANONPAGES--;
    }
  }
  if (s.wpDone && !(live && live.pte[1] === "marker")) {
    throw new Error(
      "uffd-wp protection lost: the PTE_MARKER_UFFD_WP went with a retracted page table",
    );
  }
  for (const [type, val] of Object.entries(rss)) {
    if (val !== 0) {
      const line = `BUG: Bad rss-counter state mm:1 type:${type} val:${val}`;
      s.dmesg.push(line);
      throw new Error(line);
    }
  }
}

/**
 * CONFIG_PAGE_TABLE_CHECK's page_table_check_pte_clear_range(), optional:
 * a table handed to pte_free_defer() must be empty.
 */
function checkFreedTablesEmpty(s: KhugepagedRaceState): void {
  for (const [id, t] of Object.entries(s.tables)) {
    if (t.freed && t.pte.some((e) => e !== "none")) {
      throw new Error(`page_table_check: freed PTE table ${id} still holds ${t.pte.join(", ")}`);
    }
  }
}

/** Options of {@linkcode collapseVersusUffdCopy}. */
export interface CollapseRaceOptions {
  /** collapse_pte_mapped_thp() before or after the fix (default "v6.18"). */
  variant?: CollapseVariant;
  /** Also check every freed table is empty, as CONFIG_PAGE_TABLE_CHECK does. */
  pageTableCheck?: boolean;
}

/**
 * Jann Horn's race: MADV_COLLAPSE's collapse_pte_mapped_thp() on a private
 * shmem VMA registered with userfaultfd (MISSING), whose one PTE maps the
 * huge folio's first page, against UFFDIO_COPY into another page of the
 * same 2 MiB. Before the fix the copy can land between step 2 and step 4:
 * the table goes with the anonymous PTE in it, and at exit check_mm()
 * prints "BUG: Bad rss-counter state mm:1 type:MM_ANONPAGES val:1".
 */
export function collapseVersusUffdCopy(
  options: CollapseRaceOptions = {},
): RaceScenario<KhugepagedRaceState> {
  const variant = options.variant ?? "v6.18";
  return {
    name: `collapse_pte_mapped_thp() (${variant}) vs UFFDIO_COPY`,
    setup() {
      const state = newState(
        { anon_vma: false, uffd_wp: false, uffd_missing: true, shared: false },
        "shmem",
      );
      return {
        state,
        threads: {
          collapse: collapsePteMappedThp(state, "collapse", variant),
          uffdio_copy: uffdioCopyPrivate(state, "uffdio_copy"),
        },
      };
    },
    check: options.pageTableCheck ? checkFreedTablesEmpty : undefined,
    checkFinal: checkExit,
  };
}

/** Options of {@linkcode retractVersusUffd}. */
export interface RetractRaceOptions {
  /** What races with retract_page_tables() (default "uffd_wp"). */
  racer?: RetractRacer;
  /**
   * Recheck anon_vma and userfaultfd_wp() under the PTE lock (default true,
   * v6.6+), not at all (false), or at another {@link RecheckPlacement}.
   */
  recheck?: boolean | RecheckPlacement;
  /** Also check every freed table is empty, as CONFIG_PAGE_TABLE_CHECK does. */
  pageTableCheck?: boolean;
}

/**
 * retract_page_tables() against userfaultfd, on an empty PTE table under a
 * huge shmem folio. `racer: "uffd_wp"` is Peter Xu's question: can a uffd-wp
 * marker be installed between the userfaultfd_wp() check and the locks? (A
 * shared VMA, registered for WP and protected while retract runs.) `racer:
 * "uffdio_copy"` is the anon_vma case: UFFDIO_COPY into a private VMA
 * prepares an anon_vma, then installs an anonymous PTE.
 */
export function retractVersusUffd(
  options: RetractRaceOptions = {},
): RaceScenario<KhugepagedRaceState> {
  const racer = options.racer ?? "uffd_wp";
  const recheck = options.recheck ?? true;
  return {
    name: `retract_page_tables() ${
      recheck === true
        ? "with the recheck"
        : recheck === false
        ? "without the recheck"
        : `recheck ${recheck}`
    } vs ${racer === "uffd_wp" ? "UFFDIO_REGISTER_MODE_WP + UFFDIO_WRITEPROTECT" : "UFFDIO_COPY"}`,
    setup() {
      const state = racer === "uffd_wp"
        ? newState({ anon_vma: false, uffd_wp: false, uffd_missing: false, shared: true }, "none")
        : newState({ anon_vma: false, uffd_wp: false, uffd_missing: true, shared: false }, "none");
      return {
        state,
        threads: {
          retract: retractPageTables(state, "retract", recheck),
          [racer]: racer === "uffd_wp"
            ? uffdRegisterWpAndProtect(state, racer)
            : uffdioCopyPrivate(state, racer),
        },
      };
    },
    check: options.pageTableCheck ? checkFreedTablesEmpty : undefined,
    checkFinal: checkExit,
  };
}

/** State of {@linkcode retractVersusLocklessWalk}: the race state plus the RCU read side. */
export interface RcuWalkState extends KhugepagedRaceState {
  /**
   * RCU, as an rw_semaphore: rcu_read_lock() takes it for read, and the
   * grace period before a call_rcu() callback runs takes it for write, so
   * that it waits for every reader inside a read-side critical section.
   * Simplification: a real grace period waits only for the readers that
   * started before it; here new readers also wait for the (one-step) writer.
   */
  rcu: RwSemaphore;
}

/**
 * Why pte_free_defer(): retract_page_tables() removes a PTE table while a
 * lockless walker (pte_offset_map(), which reads the PMD and then the PTEs
 * under rcu_read_lock() only, as GUP-fast and page_vma_mapped_walk() do)
 * may still be reading it. Freed at once with pte_free(), the walker can
 * read a freed page; freed by pte_free_defer() after a grace period, it
 * cannot. The walker's own pmd_same() recheck comes later (under the PTE
 * lock, for the walkers that take it) and cannot help a read already made.
 */
export function retractVersusLocklessWalk(
  options: { deferred?: boolean } = {},
): RaceScenario<RcuWalkState> {
  const deferred = options.deferred ?? true;
  function* retract(s: RcuWalkState): Generator<Step, void, undefined> {
    const t = s.pmd, ptl = s.ptl[t];
    yield { op: "lock", lock: s.pml, label: "pmd_lock()" };
    yield { op: "lock", lock: ptl, label: "spin_lock_nested(ptl)" };
    yield { op: "write", obj: "pmd", label: "pmdp_collapse_flush()" };
    s.pmd = 0;
    yield { op: "unlock", lock: ptl, label: "spin_unlock(ptl)" };
    yield { op: "unlock", lock: s.pml, label: "spin_unlock(pml)" };
    if (deferred) {
      yield { op: "down_write", lock: s.rcu, label: "pte_free_defer(): grace period" };
      yield { op: "write", obj: pteObj(t), label: "pte_free_now()" };
      s.tables[t].freed = true;
      yield { op: "up_write", lock: s.rcu, label: "grace period over" };
    } else {
      yield { op: "write", obj: pteObj(t), label: "pte_free()" };
      s.tables[t].freed = true;
    }
  }
  function* walker(s: RcuWalkState): Generator<Step, void, undefined> {
    const l = local(s, "walker");
    yield { op: "down_read", lock: s.rcu, label: "rcu_read_lock()" };
    yield { op: "read", obj: "pmd", label: "pmdp_get_lockless()" };
    l.table = s.pmd;
    if (l.table !== 0) {
      yield { op: "read", obj: pteObj(l.table), label: "ptep_get() (lockless)" };
      if (s.tables[l.table].freed) {
        throw new Error(
          `use after free: ptep_get() read PTE table ${l.table} after pte_free() gave it back`,
        );
      }
    }
    yield { op: "up_read", lock: s.rcu, label: "rcu_read_unlock()" };
  }
  return {
    name: `retract_page_tables() with ${
      deferred ? "pte_free_defer()" : "pte_free()"
    } vs a lockless walker`,
    setup() {
      const base = newState(
        { anon_vma: false, uffd_wp: false, uffd_missing: false, shared: true },
        "none",
      );
      const state: RcuWalkState = { ...base, rcu: new RwSemaphore("rcu") };
      return { state, threads: { retract: retract(state), walker: walker(state) } };
    },
  };
}
