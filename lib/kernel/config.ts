/**
 * Kernel configuration as an input of the model: Kconfig names without the
 * `CONFIG_` prefix. What a program observes depends on them (the soft-dirty
 * bit, the SIGBUS code for poison, the swap-type numbers, ...).
 * @module
 */

/** The options the model reads. */
export interface KernelConfig {
  /** Hardware poison handling: SWP_HWPOISON entries, BUS_MCEERR_AR, the MCE log line. */
  MEMORY_FAILURE: boolean;
  /** Soft-dirty tracking: _PAGE_SOFT_DIRTY, VM_SOFTDIRTY, pagemap bit 55. */
  MEM_SOFT_DIRTY: boolean;
  TRANSPARENT_HUGEPAGE: boolean;
  USERFAULTFD: boolean;
  /** uffd-wp on x86: the _PAGE_UFFD_WP software bit exists. */
  HAVE_ARCH_USERFAULTFD_WP: boolean;
  PTE_MARKER_UFFD_WP: boolean;
  MIGRATION: boolean;
  /** Device-private memory: the SWP_DEVICE_* swap types exist. */
  DEVICE_PRIVATE: boolean;
  KSM: boolean;
  /** MADV_DONTNEED may free PTE tables it emptied (mm/pt_reclaim.c, v6.14+). */
  PT_RECLAIM: boolean;
  SHMEM: boolean;
  MEMFD_CREATE: boolean;
  SWAP: boolean;
}

/**
 * A typical distribution kernel (Debian's v6.18 amd64 configuration for the
 * options the model reads).
 */
export const DEFAULT_CONFIG: Readonly<KernelConfig> = Object.freeze({
  MEMORY_FAILURE: true,
  MEM_SOFT_DIRTY: true,
  TRANSPARENT_HUGEPAGE: true,
  USERFAULTFD: true,
  HAVE_ARCH_USERFAULTFD_WP: true,
  PTE_MARKER_UFFD_WP: true,
  MIGRATION: true,
  DEVICE_PRIVATE: true,
  KSM: true,
  PT_RECLAIM: true,
  SHMEM: true,
  MEMFD_CREATE: true,
  SWAP: true,
});

/** Merges overrides into the default, rejecting unknown option names. */
export function makeConfig(overrides: Partial<KernelConfig> = {}): Readonly<KernelConfig> {
  if (overrides === null || typeof overrides !== "object") {
    throw new TypeError(`config must be an object, got ${String(overrides)}`);
  }
  for (const [key, value] of Object.entries(overrides)) {
    if (!(key in DEFAULT_CONFIG)) {
      const hint = key.startsWith("CONFIG_") ? ` (write it without the CONFIG_ prefix)` : "";
      throw new RangeError(`unknown kernel config option "${key}"${hint}`);
    }
    if (typeof value !== "boolean") {
      throw new TypeError(`config option ${key} must be true or false, got ${String(value)}`);
    }
  }
  return Object.freeze({ ...DEFAULT_CONFIG, ...overrides });
}
