/**
 * x86-64 page-table entry bits (arch/x86/include/asm/pgtable_types.h, v6.18).
 *
 *   63  62..59  58..52   51 ........ 12  11  10  9   8   7   6   5   4   3   2   1   0
 * +----+------+--------+---------------+---+---+---+---+---+---+---+---+---+---+---+---+
 * | NX | PKEY | SOFTW4.| PFN           |SW3|SW2|SW1| G |PSE| D | A |PCD|PWT| US| RW| P |
 * +----+------+--------+---------------+---+---+---+---+---+---+---+---+---+---+---+---+
 *   SW1 = _PAGE_SPECIAL, SW2 = _PAGE_UFFD_WP, SW3 = _PAGE_SOFT_DIRTY,
 *   G doubles as _PAGE_PROTNONE when P is clear (a PROT_NONE mapping).
 *
 * The model keeps every entry as two 32-bit halves (see lib/pgtable): bits
 * 0-31 ("lo") hold all flags but NX and the low 20 PFN bits; bits 32-63 ("hi")
 * hold the high PFN bits and NX. The masks below come in both forms: bigint
 * for the pure `pte*` functions and lessons, number for the fault hot path.
 * @module
 */

export const _PAGE_BIT_PRESENT = 0;
export const _PAGE_BIT_RW = 1;
export const _PAGE_BIT_USER = 2;
export const _PAGE_BIT_PWT = 3;
export const _PAGE_BIT_PCD = 4;
export const _PAGE_BIT_ACCESSED = 5;
export const _PAGE_BIT_DIRTY = 6;
export const _PAGE_BIT_PSE = 7;
export const _PAGE_BIT_PAT = 7;
export const _PAGE_BIT_GLOBAL = 8;
export const _PAGE_BIT_SOFTW1 = 9;
export const _PAGE_BIT_SOFTW2 = 10;
export const _PAGE_BIT_SOFTW3 = 11;
export const _PAGE_BIT_PAT_LARGE = 12;
export const _PAGE_BIT_SOFTW4 = 57;
export const _PAGE_BIT_SOFTW5 = 58;
export const _PAGE_BIT_PKEY_BIT0 = 59;
export const _PAGE_BIT_NX = 63;
export const _PAGE_BIT_SPECIAL = _PAGE_BIT_SOFTW1;
export const _PAGE_BIT_UFFD_WP = _PAGE_BIT_SOFTW2;
export const _PAGE_BIT_SOFT_DIRTY = _PAGE_BIT_SOFTW3;
export const _PAGE_BIT_PROTNONE = _PAGE_BIT_GLOBAL;

/** Flag masks within the low 32 bits (number form). */
export const _PAGE_PRESENT = 1 << _PAGE_BIT_PRESENT;
export const _PAGE_RW = 1 << _PAGE_BIT_RW;
export const _PAGE_USER = 1 << _PAGE_BIT_USER;
export const _PAGE_PWT = 1 << _PAGE_BIT_PWT;
export const _PAGE_PCD = 1 << _PAGE_BIT_PCD;
export const _PAGE_ACCESSED = 1 << _PAGE_BIT_ACCESSED;
export const _PAGE_DIRTY = 1 << _PAGE_BIT_DIRTY;
export const _PAGE_PSE = 1 << _PAGE_BIT_PSE;
export const _PAGE_GLOBAL = 1 << _PAGE_BIT_GLOBAL;
export const _PAGE_SPECIAL = 1 << _PAGE_BIT_SPECIAL;
export const _PAGE_UFFD_WP_BIT = 1 << _PAGE_BIT_UFFD_WP;
export const _PAGE_SOFT_DIRTY_BIT = 1 << _PAGE_BIT_SOFT_DIRTY;
export const _PAGE_PROTNONE = 1 << _PAGE_BIT_PROTNONE;
/** NX within the high 32 bits. */
export const _PAGE_NX_HI = (1 << (_PAGE_BIT_NX - 32)) >>> 0;

/*
 * Non-present (swap) PTEs reuse low bits (arch/x86/include/asm/pgtable_64.h):
 * bit 1 = _PAGE_SWP_SOFT_DIRTY, bit 2 = _PAGE_SWP_UFFD_WP,
 * bit 3 = _PAGE_SWP_EXCLUSIVE; the swap offset, inverted, sits in bits 9-58
 * and the swap type in bits 59-63.
 */
export const _PAGE_SWP_SOFT_DIRTY_BIT = _PAGE_RW;
export const _PAGE_SWP_UFFD_WP_BIT = _PAGE_USER;
export const _PAGE_SWP_EXCLUSIVE = _PAGE_PWT;

/** Non-leaf entries: _PAGE_TABLE = P|RW|USER|ACCESSED|DIRTY. */
export const _PAGE_TABLE = _PAGE_PRESENT | _PAGE_RW | _PAGE_USER | _PAGE_ACCESSED | _PAGE_DIRTY;

import type { BitField } from "../../plot/entry_bits.ts";

export type { BitField };

/** Layout of a present x86-64 PTE, low bit first. */
export const X86_PTE_FIELDS: readonly BitField[] = [
  { name: "P", lo: 0, hi: 0, description: "_PAGE_PRESENT" },
  { name: "RW", lo: 1, hi: 1, description: "_PAGE_RW: writable" },
  { name: "US", lo: 2, hi: 2, description: "_PAGE_USER: user accessible" },
  { name: "PWT", lo: 3, hi: 3, description: "_PAGE_PWT: write-through" },
  { name: "PCD", lo: 4, hi: 4, description: "_PAGE_PCD: cache disabled" },
  { name: "A", lo: 5, hi: 5, description: "_PAGE_ACCESSED (young)" },
  { name: "D", lo: 6, hi: 6, description: "_PAGE_DIRTY" },
  { name: "PAT", lo: 7, hi: 7, description: "_PAGE_PAT (PSE in a PMD/PUD)" },
  { name: "G", lo: 8, hi: 8, description: "_PAGE_GLOBAL; _PAGE_PROTNONE when P=0" },
  { name: "SPECIAL", lo: 9, hi: 9, description: "_PAGE_SPECIAL (SOFTW1): no struct page" },
  { name: "UFFD_WP", lo: 10, hi: 10, description: "_PAGE_UFFD_WP (SOFTW2)" },
  { name: "SOFT_DIRTY", lo: 11, hi: 11, description: "_PAGE_SOFT_DIRTY (SOFTW3)" },
  { name: "PFN", lo: 12, hi: 51, description: "page frame number" },
  { name: "SW", lo: 52, hi: 58, description: "software bits (SOFTW4/5 ...)" },
  { name: "PKEY", lo: 59, hi: 62, description: "protection key" },
  { name: "NX", lo: 63, hi: 63, description: "_PAGE_NX: no execute" },
];

/** Layout of a non-present (swap) x86-64 PTE, low bit first. */
export const X86_SWP_PTE_FIELDS: readonly BitField[] = [
  { name: "P", lo: 0, hi: 0, description: "0: not present" },
  { name: "SWP_SD", lo: 1, hi: 1, description: "_PAGE_SWP_SOFT_DIRTY" },
  { name: "SWP_UFFD_WP", lo: 2, hi: 2, description: "_PAGE_SWP_UFFD_WP" },
  { name: "SWP_EXCL", lo: 3, hi: 3, description: "_PAGE_SWP_EXCLUSIVE" },
  { name: "-", lo: 4, hi: 8, description: "unused; G (8) must be 0 or it reads as PROT_NONE" },
  { name: "~OFFSET", lo: 9, hi: 58, description: "swap offset, inverted" },
  { name: "TYPE", lo: 59, hi: 63, description: "swap type" },
];

/** _PAGE_PAT_LARGE: the PAT bit of a huge (PSE) entry. */
export const _PAGE_PAT_LARGE = 1 << _PAGE_BIT_PAT_LARGE;

/**
 * Layout of a present x86-64 PMD leaf (a 2 MiB page, _PAGE_PSE set), low bit
 * first. The frame is 2 MiB aligned: bits 12-20 hold PAT_LARGE and zeroes.
 *
 *   63  62..59  58..52   51 ........ 21  20..13  12  11  10  9   8   7   6   5   4   3   2   1   0
 * +----+------+--------+---------------+-------+---+---+---+---+---+---+---+---+---+---+---+---+---+
 * | NX | PKEY | SOFTW4.| PFN (2M)      |   0   |PAT|SW3|SW2|SW1| G |PSE| D | A |PCD|PWT| US| RW| P |
 * +----+------+--------+---------------+-------+---+---+---+---+---+---+---+---+---+---+---+---+---+
 */
export const X86_PMD_FIELDS: readonly BitField[] = [
  { name: "P", lo: 0, hi: 0, description: "_PAGE_PRESENT" },
  { name: "RW", lo: 1, hi: 1, description: "_PAGE_RW: writable" },
  { name: "US", lo: 2, hi: 2, description: "_PAGE_USER: user accessible" },
  { name: "PWT", lo: 3, hi: 3, description: "_PAGE_PWT: write-through" },
  { name: "PCD", lo: 4, hi: 4, description: "_PAGE_PCD: cache disabled" },
  { name: "A", lo: 5, hi: 5, description: "_PAGE_ACCESSED (young)" },
  { name: "D", lo: 6, hi: 6, description: "_PAGE_DIRTY" },
  { name: "PSE", lo: 7, hi: 7, description: "_PAGE_PSE: a 2 MiB leaf, not a PTE table" },
  { name: "G", lo: 8, hi: 8, description: "_PAGE_GLOBAL; _PAGE_PROTNONE when P=0" },
  { name: "SPECIAL", lo: 9, hi: 9, description: "_PAGE_SPECIAL (SOFTW1): the huge zero folio" },
  { name: "UFFD_WP", lo: 10, hi: 10, description: "_PAGE_UFFD_WP (SOFTW2)" },
  { name: "SOFT_DIRTY", lo: 11, hi: 11, description: "_PAGE_SOFT_DIRTY (SOFTW3)" },
  { name: "PAT", lo: 12, hi: 12, description: "_PAGE_PAT_LARGE" },
  { name: "-", lo: 13, hi: 20, description: "zero: the frame is 2 MiB aligned" },
  { name: "PFN", lo: 21, hi: 51, description: "page frame number of the head page, >> 9" },
  { name: "SW", lo: 52, hi: 58, description: "software bits (SOFTW4/5 ...)" },
  { name: "PKEY", lo: 59, hi: 62, description: "protection key" },
  { name: "NX", lo: 63, hi: 63, description: "_PAGE_NX: no execute" },
];
