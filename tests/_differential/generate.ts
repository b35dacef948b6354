/**
 * Random scenarios for the differential suite: short op sequences over
 * anonymous private and shared mappings and memfd mappings, with munmap,
 * mremap, mprotect, madvise, reads, writes, pagemap reads, PAGEMAP_SCAN, and
 * userfaultfd: write-protection in WP_ASYNC mode, missing faults (which
 * the runner's monitor resolves with UFFDIO_ZEROPAGE), UFFDIO_ZEROPAGE and
 * UFFDIO_POISON, and fork (a child that holds its copy of the address
 * space until the sequence ends). Every address is
 * relative to a mapping the sequence made and stays inside the pages that
 * mapping first covered (lib/live/normalize.ts, items 1 and 5), so the live
 * run never names memory the Deno process owns.
 * @module
 */

import type { ScenarioOp } from "../../lib/live/scenario.ts";
import * as C from "../../lib/kernel/constants.ts";
import { Random } from "../_random.ts";

/** The longest sequence generated. */
export const MAX_OPS = 12;
const PS = C.PAGE_SIZE;

/** Protections, read-write most often: PROT_NONE and read-only accesses end a sequence. */
const PROTS = [
  C.PROT_READ | C.PROT_WRITE,
  C.PROT_READ | C.PROT_WRITE,
  C.PROT_READ | C.PROT_WRITE,
  C.PROT_READ | C.PROT_WRITE,
  C.PROT_READ | C.PROT_WRITE,
  C.PROT_READ,
  C.PROT_NONE,
] as const;

/**
 * Advice, the four the suite is about most often. MADV_PAGEOUT is left out:
 * this host has no swap device, so the kernel keeps anonymous pages the
 * model would swap out. MADV_HUGEPAGE lets a write fault map a 16 kB folio
 * where the suite sets hugepages-16kB to madvise (tests/differential_test.ts).
 * 7 is no advice at all (EINVAL).
 */
const ADVICE = [
  C.MADV_DONTNEED,
  C.MADV_DONTNEED,
  C.MADV_POPULATE_READ,
  C.MADV_POPULATE_READ,
  C.MADV_POPULATE_WRITE,
  C.MADV_POPULATE_WRITE,
  C.MADV_REMOVE,
  C.MADV_REMOVE,
  C.MADV_FREE,
  C.MADV_WILLNEED,
  C.MADV_COLD,
  C.MADV_NORMAL,
  C.MADV_DONTNEED_LOCKED,
  C.MADV_WIPEONFORK,
  C.MADV_DONTFORK,
  C.MADV_HUGEPAGE,
  C.MADV_HUGEPAGE,
  C.MADV_HUGEPAGE,
  C.MADV_HUGEPAGE,
  C.MADV_NOHUGEPAGE,
  7,
] as const;

/** mprotect protections beyond read/write: exec, PROT_SEM, an unknown bit, PROT_GROWSDOWN. */
const ODD_PROTS = [
  C.PROT_READ | C.PROT_EXEC,
  C.PROT_READ | C.PROT_WRITE | C.PROT_SEM,
  C.PROT_READ | 0x10,
  C.PROT_READ | C.PROT_GROWSDOWN,
] as const;

/**
 * mmap flags now and then. MAP_HUGETLB is left out: whether it succeeds
 * depends on the host's reserved huge pages (vm.nr_hugepages), not on the
 * code under test. MAP_GROWSDOWN is left out: the model has no stack
 * expansion (a documented simplification in lib/mm/mmap.ts), so an access
 * just below a VM_GROWSDOWN VMA (after munmap of its lower pages) is
 * SIGSEGV in the model and grows the VMA in the kernel.
 */
const ODD_MAP_FLAGS = [C.MAP_LOCKED, C.MAP_NORESERVE, C.MAP_STACK] as const;

/**
 * memfd_create flags, valid and not (MFD_EXEC with MFD_NOEXEC_SEAL, an
 * unknown bit). MFD_HUGETLB is left out because of a model bug:
 * Process.memfdCreate() (lib/kernel/process.ts) fails it with ENOMEM ("no
 * hugetlb pages reserved"), while v6.18 creates the file (a hugetlbfs file
 * of size 0 reserves nothing; this host, with vm.nr_hugepages = 0, returns
 * an fd).
 */
const MFD_FLAGS = [
  0,
  0,
  0,
  C.MFD_CLOEXEC,
  C.MFD_ALLOW_SEALING,
  C.MFD_NOEXEC_SEAL,
  C.MFD_EXEC,
  C.MFD_NOEXEC_SEAL | C.MFD_EXEC,
  0x20,
] as const;

/** PAGEMAP_SCAN flags: valid ones most often, and an unknown bit (EINVAL). */
const SCAN_FLAGS = [
  0,
  0,
  0,
  C.PM_SCAN_WP_MATCHING,
  C.PM_SCAN_WP_MATCHING,
  C.PM_SCAN_CHECK_WPASYNC,
  C.PM_SCAN_WP_MATCHING | C.PM_SCAN_CHECK_WPASYNC,
  4,
] as const;

/** Category masks: the usual selections, and a bit past PAGE_IS_GUARD (EINVAL) now and then. */
const SCAN_MASKS = [
  0,
  0,
  C.PAGE_IS_WRITTEN,
  C.PAGE_IS_WRITTEN,
  C.PAGE_IS_PRESENT,
  C.PAGE_IS_PRESENT | C.PAGE_IS_WRITTEN,
  C.PAGE_IS_WPALLOWED,
  C.PAGE_IS_SWAPPED,
  C.PAGE_IS_FILE,
  C.PAGE_IS_PFNZERO,
  C.PM_SCAN_CATEGORIES,
] as const;

/** The any-of selection every generated scan makes (lib/live/normalize.ts, item 8). */
const SCAN_SELECT = C.PAGE_IS_PRESENT | C.PAGE_IS_SWAPPED | C.PAGE_IS_WPALLOWED;

/** Inverted categories that leave {@link SCAN_SELECT} alone. */
const SCAN_INVERTED = [0, 0, 0, C.PAGE_IS_WRITTEN, C.PAGE_IS_FILE] as const;

/** UFFDIO_WRITEPROTECT modes: protect, unprotect, and an unknown bit (EINVAL). */
const WP_MODES = [
  C.UFFDIO_WRITEPROTECT_MODE_WP,
  C.UFFDIO_WRITEPROTECT_MODE_WP,
  0,
  C.UFFDIO_WRITEPROTECT_MODE_WP | C.UFFDIO_WRITEPROTECT_MODE_DONTWAKE,
  4,
] as const;

const ANON_PRIVATE = C.MAP_PRIVATE | C.MAP_ANONYMOUS;

/** A mapping the sequence made: the op that made it and the pages it first covered. */
interface Made {
  op: number;
  pages: number;
}

/** A byte offset inside a page that reaches both of its ends now and then. */
function byteIn(r: Random): number {
  return r.pick([0, 1, PS - 1, r.int(0, PS - 1)]);
}

/** One sequence of 1 to {@link MAX_OPS} ops. */
export function generateScenario(r: Random): ScenarioOp[] {
  const ops: ScenarioOp[] = [];
  const maps: Made[] = [];
  const memfds: number[] = [];
  // Where the kernel puts a new mapping is not compared (normalize.ts, item 1),
  // but after a munmap it may put it in the hole, where the sequence can still
  // name the old mapping's pages: from then on, new mappings are MAP_FIXED only.
  let unmapped = false;
  let forks = 0;
  const n = r.int(1, MAX_OPS);
  // A range inside the pages `m` first covered; now and then a misaligned
  // start (EINVAL), a zero length, or a length the kernel rounds up.
  const range = (m: Made) => {
    const page = r.int(0, m.pages - 1);
    const byte = r.chance(0.04) ? r.int(1, PS - 1) : 0;
    const ref = byte ? { m: m.op, page, byte } : { m: m.op, page };
    const pages = r.int(1, m.pages - page);
    const short = byte || (r.chance(0.1) ? r.int(1, PS - 1) : 0);
    return { ref, len: r.chance(0.04) ? 0 : pages * PS - short };
  };
  while (ops.length < n) {
    const kind = maps.length === 0 ? "mmap" : r.weighted({
      mmap: maps.length < 4 || unmapped ? 3 : 0,
      memfd: memfds.length < 2 ? 1 : 0,
      ftruncate: memfds.length ? 2 : 0,
      close: memfds.length ? 0.5 : 0,
      munmap: 1,
      mremap: maps.length < 4 ? 1.5 : 0,
      mprotect: 2,
      madvise: 3,
      read: 4,
      write: 4,
      pagemap: 5,
      uffdWp: 1.5,
      uffdMissing: 3,
      writeprotect: 1.5,
      zeropage: 1,
      poison: 0.4,
      scan: 4,
      fork: forks < 2 ? 1 : 0,
    });
    switch (kind) {
      case "fork":
        forks++;
        ops.push({ op: "fork", args: [] });
        break;
      case "memfd":
        memfds.push(ops.length);
        ops.push({ op: "memfdCreate", args: [`d${ops.length}`, r.pick(MFD_FLAGS)] });
        break;
      case "ftruncate": {
        // Mostly large enough for the mappings (an access past EOF is SIGBUS).
        const pages = r.chance(0.6) ? r.int(6, 8) : r.int(0, 6);
        const size = pages * PS + (r.chance(0.2) ? r.int(1, PS - 1) : 0);
        ops.push({ op: "ftruncate", args: [{ fd: r.pick(memfds) }, size] });
        break;
      }
      case "close":
        ops.push({ op: "close", args: [{ fd: r.pick(memfds) }] });
        break;
      case "mmap": {
        const type = r.weighted({ anonPrivate: 3, anonShared: 2, memfd: 3 });
        if (type === "memfd" && memfds.length === 0) {
          memfds.push(ops.length);
          ops.push({ op: "memfdCreate", args: [`d${ops.length}`, 0] });
          ops.push({ op: "ftruncate", args: [{ fd: memfds[0] }, r.int(2, 8) * PS] });
          if (ops.length >= n) break;
        }
        let flags = type === "anonPrivate"
          ? C.MAP_PRIVATE | C.MAP_ANONYMOUS
          : type === "anonShared"
          ? C.MAP_SHARED | C.MAP_ANONYMOUS
          : r.pick([C.MAP_PRIVATE, C.MAP_SHARED, C.MAP_SHARED_VALIDATE]);
        // MAP_SHARED_VALIDATE refuses flags it does not know (EOPNOTSUPP).
        if ((flags & C.MAP_TYPE) === C.MAP_SHARED_VALIDATE && r.chance(0.3)) flags |= 0x400000;
        if (r.chance(0.15)) flags |= C.MAP_POPULATE;
        if (r.chance(0.1)) flags |= r.pick(ODD_MAP_FLAGS);
        // At most 6 pages: no mTHP (16 aligned pages for 64 KiB) or PMD THP
        // fits, so whether the host finds a free 2 MiB block (it falls back
        // to small pages when memory is fragmented) never enters the
        // comparison. The THP facts are in tests/scenarios/thp_anon_test.ts.
        let pages = r.int(1, 6);
        let addr: ScenarioOp["args"][number] = 0;
        if (maps.length && (unmapped || r.chance(0.2))) {
          const into = r.pick(maps);
          const page = r.int(0, into.pages - 1);
          pages = r.int(1, into.pages - page);
          addr = { m: into.op, page };
          flags |= r.chance(0.3) ? C.MAP_FIXED_NOREPLACE : C.MAP_FIXED;
        }
        const fd = type === "memfd" ? { fd: r.pick(memfds) } : -1;
        const offset = type === "memfd" ? r.int(0, 2) * PS : 0;
        const prot = r.pick(PROTS);
        if (addr === 0) maps.push({ op: ops.length, pages });
        ops.push({ op: "mmap", args: [addr, pages * PS, prot, flags, fd, offset] });
        break;
      }
      case "munmap": {
        const { ref, len } = range(r.pick(maps));
        ops.push({ op: "munmap", args: [ref, len] });
        unmapped = true;
        break;
      }
      case "mremap": {
        // Shrink, grow (in place or moved), move to a fixed address over
        // another of the sequence's mappings (possibly several VMAs, v6.17+),
        // move and keep the old range (DONTUNMAP), or an unknown flag.
        const kind = r.pick(["shrink", "grow", "grow", "fixed", "fixed", "dontunmap", "bad"]);
        const m = r.pick(maps);
        const old = { m: m.op };
        const oldLen = m.pages * PS;
        const others = maps.filter((x) => x !== m);
        let other = others.length && r.chance(0.9) ? r.pick(others) : m;
        if (kind === "fixed" && !unmapped && r.chance(0.8)) {
          // A fresh PROT_NONE reservation to move onto, as large as the move.
          other = { op: ops.length, pages: m.pages + 1 };
          ops.push({
            op: "mmap",
            args: [0, other.pages * PS, C.PROT_NONE, C.MAP_PRIVATE | C.MAP_ANONYMOUS, -1, 0],
          });
        }
        const args: (number | { m: number; page?: number })[] = kind === "shrink"
          ? [old, oldLen, r.int(1, Math.max(1, m.pages - 1)) * PS, 0, 0]
          : kind === "grow"
          ? [old, oldLen, (m.pages + r.int(1, 3)) * PS, r.pick([0, C.MREMAP_MAYMOVE]), 0]
          : kind === "fixed"
          ? [
            old,
            oldLen,
            r.chance(0.8) ? oldLen : oldLen + PS,
            C.MREMAP_MAYMOVE | C.MREMAP_FIXED,
            { m: other.op, page: r.chance(0.7) ? 0 : r.int(0, other.pages - 1) },
          ]
          : kind === "dontunmap"
          ? [old, oldLen, oldLen, C.MREMAP_MAYMOVE | C.MREMAP_DONTUNMAP, 0]
          : [old, oldLen, oldLen, 8, 0];
        // The new mapping may be named by later ops, as far as it reaches.
        if (kind === "grow" || kind === "dontunmap" || kind === "fixed") {
          maps.push({ op: ops.length, pages: (args[2] as number) / PS });
        }
        ops.push({ op: "mremap", args });
        unmapped = true;
        break;
      }
      case "mprotect": {
        const { ref, len } = range(r.pick(maps));
        const prot = r.chance(0.15) ? r.pick(ODD_PROTS) : r.pick(PROTS);
        ops.push({ op: "mprotect", args: [ref, len, prot] });
        break;
      }
      case "madvise": {
        const advice = r.pick(ADVICE);
        if (advice === C.MADV_HUGEPAGE && !unmapped && maps.length < 4 && r.chance(0.7)) {
          // A new private anonymous mapping of 8 pages aligned to 16 kB
          // (where the kernel puts it must not decide which pages share a
          // folio), advised whole, then a write into it: a 16 kB folio
          // where its block is still empty.
          const m = { op: ops.length, pages: 8 };
          maps.push(m);
          ops.push({
            op: "mmapAligned",
            args: [8 * PS, 4 * PS, C.PROT_READ | C.PROT_WRITE, ANON_PRIVATE],
          });
          ops.push({ op: "madvise", args: [{ m: m.op }, 8 * PS, advice] });
          ops.push({ op: "write", args: [{ m: m.op, page: r.int(0, 7) }, r.int(1, 255)] });
          break;
        }
        const { ref, len } = range(r.pick(maps));
        ops.push({ op: "madvise", args: [ref, len, advice] });
        break;
      }
      case "uffdWp": {
        const { ref, len } = range(r.pick(maps));
        ops.push({ op: "uffdWpAsync", args: [ref, len] });
        break;
      }
      case "uffdMissing":
      case "zeropage":
      case "poison": {
        const { ref, len } = range(r.pick(maps));
        const op = kind === "uffdMissing"
          ? "uffdMissing"
          : kind === "zeropage"
          ? "uffdZeropage"
          : "uffdPoison";
        ops.push({ op, args: [ref, len] });
        break;
      }
      case "writeprotect": {
        const { ref, len } = range(r.pick(maps));
        ops.push({ op: "uffdWriteprotect", args: [ref, len, r.pick(WP_MODES)] });
        break;
      }
      case "scan": {
        // Only pages that are present, swapped or in a WP_ASYNC VMA are
        // selected (lib/live/normalize.ts, item 8): the any-of mask always
        // holds those three, and no inverted bit can make another page match it.
        const { ref, len } = range(r.pick(maps));
        const bad = () => (r.chance(0.03) ? C.PAGE_IS_GUARD << 1 : 0);
        const anyof = SCAN_SELECT | r.pick([0, 0, C.PAGE_IS_PFNZERO, C.PAGE_IS_GUARD]) | bad();
        ops.push({
          op: "pagemapScan",
          args: [
            ref,
            len,
            r.pick(SCAN_FLAGS),
            r.pick([0, 1, 2, 8]),
            r.chance(0.3) ? r.int(1, 4) : 0,
            r.pick(SCAN_INVERTED),
            r.pick(SCAN_MASKS) | bad(),
            anyof,
            r.chance(0.8) ? C.PM_SCAN_CATEGORIES : r.pick(SCAN_MASKS),
          ],
        });
        break;
      }
      case "read":
      case "write":
      case "pagemap": {
        const m = r.pick(maps);
        const page = r.int(0, m.pages - 1);
        const at = { m: m.op, page, byte: kind === "pagemap" ? 0 : byteIn(r) };
        if (kind === "write") ops.push({ op: "write", args: [at, r.int(1, 255)] });
        else if (kind === "read" && page + 1 < m.pages && r.chance(0.2)) {
          // A few bytes across the boundary into the next page.
          ops.push({ op: "read", args: [{ m: m.op, page, byte: PS - 4 }, 8] });
        } else ops.push({ op: kind, args: [at] });
        break;
      }
    }
  }
  const out = ops.slice(0, n);
  // Most sequences end by reading the pagemap entries of one whole mapping,
  // so that every page's final state is compared, not only the pages read.
  const made = maps.filter((m) => m.op < out.length);
  if (made.length && r.chance(0.7)) {
    const m = r.pick(made);
    out.push(
      r.chance(0.7) ? { op: "pagemap", args: [{ m: m.op }, m.pages] } : {
        op: "pagemapScan",
        args: [{ m: m.op }, m.pages * PS, 0, m.pages, 0, 0, 0, SCAN_SELECT, C.PM_SCAN_CATEGORIES],
      },
    );
  }
  return out.slice(0, MAX_OPS);
}

/** `count` sequences from `seed`. */
export function generateScenarios(seed: number, count: number): ScenarioOp[][] {
  const r = new Random(seed);
  return Array.from({ length: count }, () => generateScenario(r));
}
