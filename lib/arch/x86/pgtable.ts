/**
 * Pure operations on x86-64 entry values (arch/x86/include/asm/pgtable.h,
 * pgtable_64.h, v6.18): `pte*` functions take and return a `Pte` (a 64-bit
 * value as bigint) and never touch a table. Acting on a table slot is the
 * job of the `ptep*` functions in lib/pgtable.
 *
 * The soft-dirty and uffd-wp bits exist only with CONFIG_MEM_SOFT_DIRTY and
 * CONFIG_HAVE_ARCH_USERFAULTFD_WP; functions that touch them take a
 * `PteBits` (default: both configured), which `pteBits(config)` builds.
 * @module
 */
import type { KernelConfig } from "../../kernel/config.ts";
import {
  _PAGE_ACCESSED,
  _PAGE_DIRTY,
  _PAGE_GLOBAL,
  _PAGE_NX_HI,
  _PAGE_PCD,
  _PAGE_PRESENT,
  _PAGE_PROTNONE,
  _PAGE_PSE,
  _PAGE_PWT,
  _PAGE_RW,
  _PAGE_SOFT_DIRTY_BIT,
  _PAGE_SPECIAL,
  _PAGE_SWP_EXCLUSIVE,
  _PAGE_SWP_SOFT_DIRTY_BIT,
  _PAGE_SWP_UFFD_WP_BIT,
  _PAGE_UFFD_WP_BIT,
  _PAGE_USER,
} from "./pgtable_types.ts";

/** A page-table entry value (pte_t, pmd_t, ...): 64 bits as a bigint. */
export type Pte = bigint;

const MASK64 = (1n << 64n) - 1n;
/** PTE_PFN_MASK: bits 12-51. */
export const PTE_PFN_MASK = ((1n << 52n) - 1n) & ~0xfffn;
/** _PAGE_NX as a 64-bit mask. */
export const _PAGE_NX = BigInt(_PAGE_NX_HI >>> 0) << 32n;

/** The config-dependent software bits. */
export interface PteBits {
  readonly softDirty: bigint;
  readonly swpSoftDirty: bigint;
  readonly uffdWp: bigint;
  readonly swpUffdWp: bigint;
}

/** Builds the software-bit masks a configuration compiles in (0 when absent). */
export function pteBits(
  config: Pick<KernelConfig, "MEM_SOFT_DIRTY" | "HAVE_ARCH_USERFAULTFD_WP">,
): PteBits {
  return {
    softDirty: config.MEM_SOFT_DIRTY ? BigInt(_PAGE_SOFT_DIRTY_BIT) : 0n,
    swpSoftDirty: config.MEM_SOFT_DIRTY ? BigInt(_PAGE_SWP_SOFT_DIRTY_BIT) : 0n,
    uffdWp: config.HAVE_ARCH_USERFAULTFD_WP ? BigInt(_PAGE_UFFD_WP_BIT) : 0n,
    swpUffdWp: config.HAVE_ARCH_USERFAULTFD_WP ? BigInt(_PAGE_SWP_UFFD_WP_BIT) : 0n,
  };
}

const ALL_BITS: PteBits = pteBits({ MEM_SOFT_DIRTY: true, HAVE_ARCH_USERFAULTFD_WP: true });

const b = (n: number): bigint => BigInt(n);

/** Joins the two 32-bit halves the model stores into one value. */
export function pteFromHalves(lo: number, hi: number): Pte {
  return (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
}

/** Splits a value into its low and high 32-bit halves. */
export function pteToHalves(pte: Pte): [lo: number, hi: number] {
  const v = pte & MASK64;
  return [Number(v & 0xffffffffn), Number(v >> 32n)];
}

export const pteNone = (pte: Pte): boolean => pte === 0n;
/** pte_present(): P, or PROTNONE (a PROT_NONE mapping is still "present"). */
export const ptePresent = (pte: Pte): boolean => (pte & b(_PAGE_PRESENT | _PAGE_PROTNONE)) !== 0n;
export const pteProtnone = (pte: Pte): boolean =>
  (pte & b(_PAGE_PRESENT | _PAGE_PROTNONE)) === b(_PAGE_PROTNONE);
export const pteWrite = (pte: Pte): boolean => (pte & b(_PAGE_RW)) !== 0n;
export const pteDirty = (pte: Pte): boolean => (pte & b(_PAGE_DIRTY)) !== 0n;
export const pteYoung = (pte: Pte): boolean => (pte & b(_PAGE_ACCESSED)) !== 0n;
export const pteSpecial = (pte: Pte): boolean => (pte & b(_PAGE_SPECIAL)) !== 0n;
export const pteExec = (pte: Pte): boolean => (pte & _PAGE_NX) === 0n;
export const pteSoftDirty = (pte: Pte, bits: PteBits = ALL_BITS): boolean =>
  (pte & bits.softDirty) !== 0n;
export const pteUffdWp = (pte: Pte, bits: PteBits = ALL_BITS): boolean =>
  (pte & bits.uffdWp) !== 0n;
/** pmd_leaf()/pud_leaf(): the PSE bit marks a huge leaf above the PTE level. */
export const pmdLeaf = (pmd: Pte): boolean => (pmd & b(_PAGE_PSE)) !== 0n && ptePresent(pmd);

/** pte_pfn(): the page frame number in bits 12-51. */
export const ptePfn = (pte: Pte): number => Number((pte & PTE_PFN_MASK) >> 12n);

/** pfn_pte(): an entry for `pfn` with protection bits `prot`. */
export function pfnPte(pfn: number, prot: Pte): Pte {
  return ((BigInt(pfn) << 12n) & PTE_PFN_MASK) | (prot & ~PTE_PFN_MASK & MASK64);
}

export const pteMkdirty = (pte: Pte, bits: PteBits = ALL_BITS): Pte =>
  pte | b(_PAGE_DIRTY) | bits.softDirty;
export const pteMkclean = (pte: Pte): Pte => pte & ~b(_PAGE_DIRTY);
export const pteMkyoung = (pte: Pte): Pte => pte | b(_PAGE_ACCESSED);
export const pteMkold = (pte: Pte): Pte => pte & ~b(_PAGE_ACCESSED);
/** pte_mkwrite(): in v6.18 it takes the vma (shadow stacks); the model has none. */
export const pteMkwrite = (pte: Pte): Pte => pte | b(_PAGE_RW);
/**
 * pte_wrprotect(). Simplification: the model's CPU has no user shadow stack
 * (X86_FEATURE_USER_SHSTK), so the Dirty bit is not moved to _PAGE_SAVED_DIRTY.
 */
export const pteWrprotect = (pte: Pte): Pte => pte & ~b(_PAGE_RW);
export const pteMkspecial = (pte: Pte): Pte => pte | b(_PAGE_SPECIAL);
export const pteMksoftDirty = (pte: Pte, bits: PteBits = ALL_BITS): Pte => pte | bits.softDirty;
export const pteClearSoftDirty = (pte: Pte, bits: PteBits = ALL_BITS): Pte => pte & ~bits.softDirty;
export const pteMkuffdWp = (pte: Pte, bits: PteBits = ALL_BITS): Pte =>
  pteWrprotect(pte) | bits.uffdWp;
export const pteClearUffdWp = (pte: Pte, bits: PteBits = ALL_BITS): Pte => pte & ~bits.uffdWp;

/**
 * _PAGE_CHG_MASK: the bits pte_modify() keeps when the protection changes
 * (PFN, caching, special, accessed, dirty, soft-dirty, uffd-wp, PAT).
 */
export const _PAGE_CHG_MASK: Pte = PTE_PFN_MASK |
  b(_PAGE_PCD | _PAGE_PWT | _PAGE_SPECIAL | _PAGE_ACCESSED | _PAGE_DIRTY) |
  b(_PAGE_SOFT_DIRTY_BIT | _PAGE_UFFD_WP_BIT | _PAGE_PSE);

/** pte_modify(): keep _PAGE_CHG_MASK, take the rest from `newprot`. */
export function pteModify(pte: Pte, newprot: Pte): Pte {
  return (pte & _PAGE_CHG_MASK) | (newprot & ~_PAGE_CHG_MASK & MASK64);
}

// --- protection_map (arch/x86/mm/pgprot.c) --------------------------------

const __PP = _PAGE_PRESENT, __RW = _PAGE_RW, _USR = _PAGE_USER, ___A = _PAGE_ACCESSED;
/** PAGE_NONE: not present to the MMU, but PROTNONE keeps pte_present() true. */
export const PAGE_NONE: Pte = b(___A | _PAGE_GLOBAL);
export const PAGE_SHARED: Pte = b(__PP | __RW | _USR | ___A) | _PAGE_NX;
export const PAGE_SHARED_EXEC: Pte = b(__PP | __RW | _USR | ___A);
export const PAGE_COPY: Pte = b(__PP | _USR | ___A) | _PAGE_NX;
export const PAGE_COPY_EXEC: Pte = b(__PP | _USR | ___A);
export const PAGE_READONLY: Pte = b(__PP | _USR | ___A) | _PAGE_NX;
export const PAGE_READONLY_EXEC: Pte = b(__PP | _USR | ___A);

/**
 * protection_map[], indexed by vm_flags & (VM_READ|VM_WRITE|VM_EXEC|VM_SHARED):
 * private writable mappings get read-only PTEs (PAGE_COPY) so that a write
 * faults and copies on write.
 */
export const protection_map: readonly Pte[] = [
  PAGE_NONE,
  PAGE_READONLY,
  PAGE_COPY,
  PAGE_COPY,
  PAGE_READONLY_EXEC,
  PAGE_READONLY_EXEC,
  PAGE_COPY_EXEC,
  PAGE_COPY_EXEC,
  PAGE_NONE,
  PAGE_READONLY,
  PAGE_SHARED,
  PAGE_SHARED,
  PAGE_READONLY_EXEC,
  PAGE_READONLY_EXEC,
  PAGE_SHARED_EXEC,
  PAGE_SHARED_EXEC,
];

// --- swap PTEs (arch/x86/include/asm/pgtable_64.h) -------------------------

export const SWP_TYPE_BITS = 5n;
export const SWP_OFFSET_FIRST_BIT = BigInt(_PAGE_PROTNONE.toString(2).length); // bit 9
export const SWP_OFFSET_SHIFT = SWP_OFFSET_FIRST_BIT + SWP_TYPE_BITS;

/** __swp_entry(type, offset) in its PTE form: type in 59-63, ~offset in 9-58. */
export function __swpEntryPte(type: number, offset: bigint): Pte {
  const inv = ~offset & MASK64;
  return (((inv << SWP_OFFSET_SHIFT) & MASK64) >> SWP_TYPE_BITS) |
    (BigInt(type) << (64n - SWP_TYPE_BITS));
}

/** __swp_type() of a swap PTE. */
export const __swpType = (pte: Pte): number => Number((pte & MASK64) >> (64n - SWP_TYPE_BITS));

/** __swp_offset() of a swap PTE. */
export const __swpOffset = (pte: Pte): bigint =>
  (((~pte & MASK64) << SWP_TYPE_BITS) & MASK64) >> SWP_OFFSET_SHIFT;

/** is_swap_pte(): neither none nor present. */
export const isSwapPte = (pte: Pte): boolean => !pteNone(pte) && !ptePresent(pte);

export const pteSwpSoftDirty = (pte: Pte, bits: PteBits = ALL_BITS): boolean =>
  (pte & bits.swpSoftDirty) !== 0n;
export const pteSwpMksoftDirty = (pte: Pte, bits: PteBits = ALL_BITS): Pte =>
  pte | bits.swpSoftDirty;
export const pteSwpUffdWp = (pte: Pte, bits: PteBits = ALL_BITS): boolean =>
  (pte & bits.swpUffdWp) !== 0n;
export const pteSwpMkuffdWp = (pte: Pte, bits: PteBits = ALL_BITS): Pte => pte | bits.swpUffdWp;
export const pteSwpExclusive = (pte: Pte): boolean => (pte & b(_PAGE_SWP_EXCLUSIVE)) !== 0n;
export const pteSwpMkexclusive = (pte: Pte): Pte => pte | b(_PAGE_SWP_EXCLUSIVE);
/** The software bits a swap PTE carries beside its entry. */
export const pteSwpClearFlags = (pte: Pte): Pte =>
  pte & ~b(_PAGE_SWP_EXCLUSIVE | _PAGE_SWP_SOFT_DIRTY_BIT | _PAGE_SWP_UFFD_WP_BIT);

// --- huge PMDs (arch/x86/include/asm/pgtable.h) ------------------------------

/**
 * A PMD leaf maps 2 MiB: the same bits as a PTE, with _PAGE_PSE (bit 7) set
 * and the PAT bit moved to bit 12 (_PAGE_PAT_LARGE); the pfn is 512-aligned,
 * so bits 12-20 of the frame are zero (see {@link X86_PMD_FIELDS}).
 */
export const pmdMkhuge = (pmd: Pte): Pte => pmd | b(_PAGE_PSE);
/** pmd_trans_huge(): a present PSE entry (v6.18 has no _PAGE_DEVMAP any more). */
export const pmdTransHuge = (pmd: Pte): boolean => (pmd & b(_PAGE_PSE)) !== 0n;
/**
 * pmd_present(): P, PROTNONE or PSE. PSE counts because pmdp_invalidate()
 * clears P during a split and the entry must still read as present.
 */
export const pmdPresent = (pmd: Pte): boolean =>
  (pmd & b(_PAGE_PRESENT | _PAGE_PROTNONE | _PAGE_PSE)) !== 0n;
/** pmd_pfn(): the head page's frame number. */
export const pmdPfn = (pmd: Pte): number => ptePfn(pmd);
/** pfn_pmd(): a (not yet huge) entry for a 512-aligned `pfn`. */
export function pfnPmd(pfn: number, prot: Pte): Pte {
  if (pfn % 512) throw new RangeError(`pfn_pmd(): pfn ${pfn} is not 2 MiB aligned`);
  return pfnPte(pfn, prot);
}
export const pmdWrite = pteWrite;
export const pmdDirty = pteDirty;
export const pmdYoung = pteYoung;
export const pmdMkdirty = pteMkdirty;
export const pmdMkyoung = pteMkyoung;
export const pmdMkold = pteMkold;
export const pmdWrprotect = pteWrprotect;
export const pmdMkwrite = pteMkwrite;
export const pmdSoftDirty = pteSoftDirty;
export const pmdUffdWp = pteUffdWp;
