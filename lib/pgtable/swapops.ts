/**
 * Swap entries and the special entries that reuse the swap format
 * (include/linux/swapops.h, include/linux/swap.h, v6.18).
 *
 * A non-present, non-none PTE holds a swp_entry_t: a 5-bit type and an
 * offset. The top types are not swap devices but special entries, and which
 * type number each gets depends on the configuration (MAX_SWAPFILES shrinks
 * by one for each special type compiled in):
 *
 *   0 .. MAX_SWAPFILES-1          real swap devices
 *   SWP_HWPOISON                  (MEMORY_FAILURE) poisoned page, offset = pfn
 *   SWP_MIGRATION_READ, _READ_EXCLUSIVE, _WRITE   (MIGRATION), offset = pfn
 *   SWP_DEVICE_WRITE, _READ, SWP_DEVICE_EXCLUSIVE (DEVICE_PRIVATE), offset = pfn
 *   SWP_PTE_MARKER                offset = marker bits (no page at all)
 *
 * Up to v6.14 device-exclusive entries came in two types,
 * SWP_DEVICE_EXCLUSIVE_WRITE and SWP_DEVICE_EXCLUSIVE_READ (SWP_DEVICE_NUM
 * was 4), so every type above them, SWP_PTE_MARKER included, sat one lower
 * for the same configuration; v6.15 merged them into SWP_DEVICE_EXCLUSIVE
 * (whether the restored PTE is writable is decided when it is restored).
 * `swapTypes(config, true)` gives the older numbering, which the
 * `deviceExclusiveRange` variant of simulate() uses.
 * @module
 */
import type { KernelConfig } from "../kernel/config.ts";
import {
  __swpEntryPte,
  __swpOffset,
  __swpType,
  isSwapPte,
  type Pte,
  pteSwpClearFlags,
} from "../arch/x86/pgtable.ts";

/** swp_entry_t: the arch-independent form, type << SWP_TYPE_SHIFT | offset. */
export interface SwpEntry {
  readonly type: number;
  readonly offset: bigint;
}

export const MAX_SWAPFILES_SHIFT = 5;

/** PTE marker bits (the offset of an SWP_PTE_MARKER entry). */
export const PTE_MARKER_UFFD_WP = 1 << 0;
export const PTE_MARKER_POISONED = 1 << 1;
export const PTE_MARKER_GUARD = 1 << 2;
export const PTE_MARKER_MASK = (1 << 3) - 1;

/** The special swap type numbers a configuration produces. */
export interface SwapTypes {
  readonly MAX_SWAPFILES: number;
  readonly SWP_HWPOISON: number | null;
  readonly SWP_MIGRATION_READ: number | null;
  readonly SWP_MIGRATION_READ_EXCLUSIVE: number | null;
  readonly SWP_MIGRATION_WRITE: number | null;
  readonly SWP_DEVICE_WRITE: number | null;
  readonly SWP_DEVICE_READ: number | null;
  /** v6.15+: the one device-exclusive type (null in the ≤ v6.14 numbering). */
  readonly SWP_DEVICE_EXCLUSIVE: number | null;
  /** ≤ v6.14: device-exclusive, writable when restored (null from v6.15 on). */
  readonly SWP_DEVICE_EXCLUSIVE_WRITE: number | null;
  /** ≤ v6.14: device-exclusive, read-only when restored (null from v6.15 on). */
  readonly SWP_DEVICE_EXCLUSIVE_READ: number | null;
  readonly SWP_PTE_MARKER: number;
}

/**
 * Computes the swap type numbers as include/linux/swap.h does: v6.18's, or
 * with `deviceExclusiveRange` those of v5.14-v6.14 (two device-exclusive
 * types).
 */
export function swapTypes(
  config: Pick<KernelConfig, "MEMORY_FAILURE" | "MIGRATION" | "DEVICE_PRIVATE">,
  deviceExclusiveRange = false,
): SwapTypes {
  const hwpoison = config.MEMORY_FAILURE ? 1 : 0;
  const migration = config.MIGRATION ? 3 : 0;
  // SWP_DEVICE_NUM
  const device = config.DEVICE_PRIVATE ? (deviceExclusiveRange ? 4 : 3) : 0;
  const marker = 1;
  const max = (1 << MAX_SWAPFILES_SHIFT) - device - migration - hwpoison - marker;
  const mig = max + hwpoison;
  const dev = mig + migration;
  return {
    MAX_SWAPFILES: max,
    SWP_HWPOISON: hwpoison ? max : null,
    SWP_MIGRATION_READ: migration ? mig : null,
    SWP_MIGRATION_READ_EXCLUSIVE: migration ? mig + 1 : null,
    SWP_MIGRATION_WRITE: migration ? mig + 2 : null,
    SWP_DEVICE_WRITE: device ? dev : null,
    SWP_DEVICE_READ: device ? dev + 1 : null,
    SWP_DEVICE_EXCLUSIVE: device && !deviceExclusiveRange ? dev + 2 : null,
    SWP_DEVICE_EXCLUSIVE_WRITE: device && deviceExclusiveRange ? dev + 2 : null,
    SWP_DEVICE_EXCLUSIVE_READ: device && deviceExclusiveRange ? dev + 3 : null,
    SWP_PTE_MARKER: dev + device,
  };
}

/** swp_entry(type, offset). */
export function swpEntry(type: number, offset: bigint | number): SwpEntry {
  return { type, offset: BigInt(offset) };
}

/** pte_to_swp_entry(): drop the software bits, then decode type and offset. */
export function pteToSwpEntry(pte: Pte): SwpEntry {
  const clean = pteSwpClearFlags(pte);
  return { type: __swpType(clean), offset: __swpOffset(clean) };
}

/** swp_entry_to_pte(). */
export function swpEntryToPte(entry: SwpEntry): Pte {
  return __swpEntryPte(entry.type, entry.offset);
}

/**
 * The swapops.h predicates and constructors for one configuration. Names
 * are the kernel's: `isMigrationEntry` is is_migration_entry().
 */
export class SwapOps {
  readonly types: SwapTypes;
  constructor(
    config: Pick<KernelConfig, "MEMORY_FAILURE" | "MIGRATION" | "DEVICE_PRIVATE">,
    deviceExclusiveRange = false,
  ) {
    this.types = swapTypes(config, deviceExclusiveRange);
  }

  nonSwapEntry(e: SwpEntry): boolean {
    return e.type >= this.types.MAX_SWAPFILES;
  }
  isHwpoisonEntry(e: SwpEntry): boolean {
    return e.type === this.types.SWP_HWPOISON;
  }
  isMigrationEntry(e: SwpEntry): boolean {
    const t = this.types;
    return e.type === t.SWP_MIGRATION_READ || e.type === t.SWP_MIGRATION_READ_EXCLUSIVE ||
      e.type === t.SWP_MIGRATION_WRITE;
  }
  isWritableMigrationEntry(e: SwpEntry): boolean {
    return e.type === this.types.SWP_MIGRATION_WRITE;
  }
  isReadableExclusiveMigrationEntry(e: SwpEntry): boolean {
    return e.type === this.types.SWP_MIGRATION_READ_EXCLUSIVE;
  }
  isDevicePrivateEntry(e: SwpEntry): boolean {
    return e.type === this.types.SWP_DEVICE_WRITE || e.type === this.types.SWP_DEVICE_READ;
  }
  isWritableDevicePrivateEntry(e: SwpEntry): boolean {
    return e.type === this.types.SWP_DEVICE_WRITE;
  }
  /** is_device_exclusive_entry(): any device-exclusive type of either numbering. */
  isDeviceExclusiveEntry(e: SwpEntry): boolean {
    const t = this.types;
    return e.type === t.SWP_DEVICE_EXCLUSIVE || e.type === t.SWP_DEVICE_EXCLUSIVE_WRITE ||
      e.type === t.SWP_DEVICE_EXCLUSIVE_READ;
  }
  /** is_writable_device_exclusive_entry() (≤ v6.14; never true in v6.18's numbering). */
  isWritableDeviceExclusiveEntry(e: SwpEntry): boolean {
    return e.type === this.types.SWP_DEVICE_EXCLUSIVE_WRITE;
  }
  isPteMarkerEntry(e: SwpEntry): boolean {
    return e.type === this.types.SWP_PTE_MARKER;
  }
  /** is_pfn_swap_entry(): the offset is a page frame number. */
  isPfnSwapEntry(e: SwpEntry): boolean {
    return this.isMigrationEntry(e) || this.isDevicePrivateEntry(e) ||
      this.isDeviceExclusiveEntry(e) || this.isHwpoisonEntry(e);
  }
  /** A real swap-device entry (swap type below MAX_SWAPFILES). */
  isSwapDeviceEntry(e: SwpEntry): boolean {
    return !this.nonSwapEntry(e);
  }

  makeHwpoisonEntry(pfn: number): SwpEntry {
    return swpEntry(this.need(this.types.SWP_HWPOISON, "MEMORY_FAILURE"), pfn);
  }
  makeReadableMigrationEntry(pfn: number): SwpEntry {
    return swpEntry(this.need(this.types.SWP_MIGRATION_READ, "MIGRATION"), pfn);
  }
  makeReadableExclusiveMigrationEntry(pfn: number): SwpEntry {
    return swpEntry(this.need(this.types.SWP_MIGRATION_READ_EXCLUSIVE, "MIGRATION"), pfn);
  }
  makeWritableMigrationEntry(pfn: number): SwpEntry {
    return swpEntry(this.need(this.types.SWP_MIGRATION_WRITE, "MIGRATION"), pfn);
  }
  /** make_device_exclusive_entry() (v6.15+). */
  makeDeviceExclusiveEntry(pfn: number): SwpEntry {
    return swpEntry(this.need(this.types.SWP_DEVICE_EXCLUSIVE, "DEVICE_PRIVATE"), pfn);
  }
  /** make_writable_device_exclusive_entry() (≤ v6.14). */
  makeWritableDeviceExclusiveEntry(pfn: number): SwpEntry {
    return swpEntry(this.need(this.types.SWP_DEVICE_EXCLUSIVE_WRITE, "DEVICE_PRIVATE"), pfn);
  }
  /** make_readable_device_exclusive_entry() (≤ v6.14). */
  makeReadableDeviceExclusiveEntry(pfn: number): SwpEntry {
    return swpEntry(this.need(this.types.SWP_DEVICE_EXCLUSIVE_READ, "DEVICE_PRIVATE"), pfn);
  }
  makePteMarkerEntry(marker: number): SwpEntry {
    if (!Number.isInteger(marker) || marker <= 0 || (marker & ~PTE_MARKER_MASK) !== 0) {
      throw new RangeError(`PTE marker bits must be a non-zero subset of 0x7, got ${marker}`);
    }
    return swpEntry(this.types.SWP_PTE_MARKER, marker);
  }
  /** make_pte_marker(): the PTE itself. */
  makePteMarker(marker: number): Pte {
    return swpEntryToPte(this.makePteMarkerEntry(marker));
  }
  /** pte_marker_get(): the marker bits of a marker entry. */
  pteMarkerGet(e: SwpEntry): number {
    return Number(e.offset) & PTE_MARKER_MASK;
  }
  /** is_pte_marker(): a PTE holding a marker entry. */
  isPteMarker(pte: Pte): boolean {
    return isSwapPte(pte) && this.isPteMarkerEntry(pteToSwpEntry(pte));
  }
  pteMarkerEntryUffdWp(e: SwpEntry): boolean {
    return this.isPteMarkerEntry(e) && (this.pteMarkerGet(e) & PTE_MARKER_UFFD_WP) !== 0;
  }
  isPoisonedSwpEntry(e: SwpEntry): boolean {
    return this.isPteMarkerEntry(e) && (this.pteMarkerGet(e) & PTE_MARKER_POISONED) !== 0;
  }
  isGuardSwpEntry(e: SwpEntry): boolean {
    return this.isPteMarkerEntry(e) && (this.pteMarkerGet(e) & PTE_MARKER_GUARD) !== 0;
  }
  /** swp_offset_pfn(): the pfn of a pfn swap entry. */
  swpOffsetPfn(e: SwpEntry): number {
    return Number(e.offset);
  }

  /** A name for the entry's kind, for decoders and pictures. */
  entryKind(e: SwpEntry): string {
    if (this.isSwapDeviceEntry(e)) return "swap";
    if (this.isHwpoisonEntry(e)) return "hwpoison";
    if (this.isMigrationEntry(e)) return "migration";
    if (this.isDevicePrivateEntry(e)) return "device-private";
    if (this.isDeviceExclusiveEntry(e)) return "device-exclusive";
    if (this.isPteMarkerEntry(e)) return "pte-marker";
    return "unknown";
  }

  private need(type: number | null, option: string): number {
    if (type === null) throw new RangeError(`this kernel is built without CONFIG_${option}`);
    return type;
  }
}
