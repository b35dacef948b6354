/**
 * Reference solutions of the exercises in notebooks/04_uffd_move.ipynb,
 * kept out of the notebook. tests/exercises_test.ts proves that each check
 * accepts them and rejects the notebook's stubs.
 * @module
 */
import { constants as C, Errno } from "../../lib/mod.ts";
import {
  type MoveCase,
  type MovedPte,
  type MovedPteInput,
  type MoveOrCopyResult,
  type MoveOrCopyScenario,
  runMoveOrCopy,
} from "../../lib/lessons/mod.ts";

/** Exercise (a): the errno of each case, from move_pages() and move_pages_pte() (v6.18). */
export function moveErrno(c: MoveCase): string {
  const table: Record<MoveCase, string> = {
    "one page": "ok",
    "the whole range": "ok",
    "dst populated": "EEXIST",
    "src hole": "EAGAIN", // one page moved, then -ENOENT: a short count is EAGAIN
    "src hole, ALLOW_SRC_HOLES": "ok",
    "src shared with a fork child": "EBUSY",
    "src pinned": "EBUSY",
    "src under migration": "ok", // migration_entry_wait(), -EAGAIN inside, retried
    "src swapped out": "ok",
    "src swap entry shared with a fork child": "EBUSY",
    "src poisoned (UFFDIO_POISON marker)": "EFAULT",
    "src is shmem": "EINVAL",
    "src read-only": "EINVAL",
    "dst not registered": "EINVAL",
    "dst not page-aligned": "EINVAL",
    "uffd of a fork child (another mm)": "EINVAL",
    "overlapping ranges": "ok",
  };
  return table[c];
}

/**
 * Exercise (b): move_present_pte() builds a new PTE: writable, soft-dirty
 * when the kernel has soft-dirty, dirty only if the source PTE was; the
 * page frame does not change.
 */
export function movedPteBits(i: MovedPteInput): MovedPte {
  return {
    writable: true,
    dirty: i.source === "write",
    softDirty: i.MEM_SOFT_DIRTY,
    samePfn: true,
  };
}

/** Exercise (c): try UFFDIO_MOVE; on EBUSY (a shared page) fall back to UFFDIO_COPY. */
export function moveOrCopy(s: MoveOrCopyScenario): MoveOrCopyResult {
  return runMoveOrCopy(s, (f) => {
    try {
      f.uffd.move({ dst: f.dst, src: f.src, len: C.PAGE_SIZE });
    } catch (e) {
      if (!(e instanceof Errno) || e.errno !== "EBUSY") throw e;
      f.uffd.copy({ dst: f.dst, src: f.src, len: C.PAGE_SIZE });
    }
  });
}
