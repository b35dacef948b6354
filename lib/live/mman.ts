/**
 * mmap/mprotect/madvise constants with their kernel names and x86-64 values.
 *
 * Mirrors include/uapi/asm-generic/mman-common.h, include/uapi/asm-generic/mman.h
 * and include/uapi/linux/mman.h (MAP_SHARED, MAP_PRIVATE, MAP_SHARED_VALIDATE)
 * as of v6.18. Each group is an `as const` table so code and tests can iterate
 * it; the constants are also exported one by one for `C.MAP_PRIVATE`-style use.
 * @module
 */

/** Page protections: the `prot` argument of mmap(2) and mprotect(2). */
export const PROT = {
  PROT_NONE: 0x0,
  PROT_READ: 0x1,
  PROT_WRITE: 0x2,
  PROT_EXEC: 0x4,
  PROT_SEM: 0x8,
  /** mprotect only: extend the change to the start of a growsdown VMA. */
  PROT_GROWSDOWN: 0x01000000,
  /** mprotect only: extend the change to the end of a growsup VMA. */
  PROT_GROWSUP: 0x02000000,
} as const;

/** Mapping type and flags: the `flags` argument of mmap(2). */
export const MAP = {
  // include/uapi/linux/mman.h: the mapping type (low four bits)
  MAP_SHARED: 0x01,
  MAP_PRIVATE: 0x02,
  MAP_SHARED_VALIDATE: 0x03,
  MAP_TYPE: 0x0f,
  // include/uapi/asm-generic/mman-common.h
  MAP_FIXED: 0x10,
  MAP_ANONYMOUS: 0x20,
  MAP_POPULATE: 0x008000,
  MAP_NONBLOCK: 0x010000,
  MAP_STACK: 0x020000,
  MAP_HUGETLB: 0x040000,
  MAP_SYNC: 0x080000,
  MAP_FIXED_NOREPLACE: 0x100000,
  MAP_UNINITIALIZED: 0x4000000,
  // include/uapi/asm-generic/mman.h (x86 uses these; MAP_32BIT is x86-only)
  MAP_32BIT: 0x40,
  MAP_GROWSDOWN: 0x0100,
  MAP_DENYWRITE: 0x0800,
  MAP_EXECUTABLE: 0x1000,
  MAP_LOCKED: 0x2000,
  MAP_NORESERVE: 0x4000,
} as const;

/** Advice: the `advice` argument of madvise(2). */
export const MADV = {
  MADV_NORMAL: 0,
  MADV_RANDOM: 1,
  MADV_SEQUENTIAL: 2,
  MADV_WILLNEED: 3,
  MADV_DONTNEED: 4,
  MADV_FREE: 8,
  MADV_REMOVE: 9,
  MADV_DONTFORK: 10,
  MADV_DOFORK: 11,
  MADV_MERGEABLE: 12,
  MADV_UNMERGEABLE: 13,
  MADV_HUGEPAGE: 14,
  MADV_NOHUGEPAGE: 15,
  MADV_DONTDUMP: 16,
  MADV_DODUMP: 17,
  MADV_WIPEONFORK: 18,
  MADV_KEEPONFORK: 19,
  MADV_COLD: 20,
  MADV_PAGEOUT: 21,
  MADV_POPULATE_READ: 22,
  MADV_POPULATE_WRITE: 23,
  MADV_DONTNEED_LOCKED: 24,
  MADV_COLLAPSE: 25,
  MADV_HWPOISON: 100,
  MADV_SOFT_OFFLINE: 101,
  MADV_GUARD_INSTALL: 102,
  MADV_GUARD_REMOVE: 103,
} as const;

export const {
  PROT_NONE,
  PROT_READ,
  PROT_WRITE,
  PROT_EXEC,
  PROT_SEM,
  PROT_GROWSDOWN,
  PROT_GROWSUP,
} = PROT;

export const {
  MAP_SHARED,
  MAP_PRIVATE,
  MAP_SHARED_VALIDATE,
  MAP_TYPE,
  MAP_FIXED,
  MAP_ANONYMOUS,
  MAP_POPULATE,
  MAP_NONBLOCK,
  MAP_STACK,
  MAP_HUGETLB,
  MAP_SYNC,
  MAP_FIXED_NOREPLACE,
  MAP_UNINITIALIZED,
  MAP_32BIT,
  MAP_GROWSDOWN,
  MAP_DENYWRITE,
  MAP_EXECUTABLE,
  MAP_LOCKED,
  MAP_NORESERVE,
} = MAP;

export const {
  MADV_NORMAL,
  MADV_RANDOM,
  MADV_SEQUENTIAL,
  MADV_WILLNEED,
  MADV_DONTNEED,
  MADV_FREE,
  MADV_REMOVE,
  MADV_DONTFORK,
  MADV_DOFORK,
  MADV_MERGEABLE,
  MADV_UNMERGEABLE,
  MADV_HUGEPAGE,
  MADV_NOHUGEPAGE,
  MADV_DONTDUMP,
  MADV_DODUMP,
  MADV_WIPEONFORK,
  MADV_KEEPONFORK,
  MADV_COLD,
  MADV_PAGEOUT,
  MADV_POPULATE_READ,
  MADV_POPULATE_WRITE,
  MADV_DONTNEED_LOCKED,
  MADV_COLLAPSE,
  MADV_HWPOISON,
  MADV_SOFT_OFFLINE,
  MADV_GUARD_INSTALL,
  MADV_GUARD_REMOVE,
} = MADV;

/** The name of madvise advice `advice` (`"MADV_DONTNEED"`), or its number as text. */
export function madvName(advice: number): string {
  const hit = Object.entries(MADV).find(([, value]) => value === advice);
  return hit ? hit[0] : String(advice);
}

/**
 * `prot` as the kernel's names joined by `|` (`"PROT_READ|PROT_WRITE"`);
 * unknown bits are shown in hex so a bad value stays visible.
 */
export function protNames(prot: number): string {
  if (prot === PROT_NONE) return "PROT_NONE";
  const names: string[] = [];
  let rest = prot;
  for (const [name, bit] of Object.entries(PROT)) {
    if (bit !== 0 && (prot & bit) === bit) {
      names.push(name);
      rest &= ~bit;
    }
  }
  if (rest !== 0) names.push(`0x${(rest >>> 0).toString(16)}`);
  return names.join("|");
}

/**
 * `flags` as the kernel's names joined by `|` (`"MAP_PRIVATE|MAP_ANONYMOUS"`):
 * the mapping type (low four bits) first, then each flag bit; unknown bits in hex.
 */
export function mapNames(flags: number): string {
  const type = flags & MAP_TYPE;
  const typeName = Object.entries(MAP).find(([name, v]) => v === type && name !== "MAP_TYPE");
  const names = [typeName ? typeName[0] : `0x${type.toString(16)}`];
  let rest = flags & ~MAP_TYPE;
  for (const [name, bit] of Object.entries(MAP)) {
    if (bit > MAP_TYPE && (rest & bit) === bit) {
      names.push(name);
      rest &= ~bit;
    }
  }
  if (rest !== 0) names.push(`0x${(rest >>> 0).toString(16)}`);
  return names.join("|");
}
