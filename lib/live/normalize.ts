/**
 * Normalisation: the one place that says which differences between the
 * simulator and the host kernel are not differences of behaviour, and how
 * each is taken out before two runs of a scenario are compared.
 *
 * 1. Addresses. The kernel picks where a mapping goes (and other threads
 *    of the Deno process map memory too), so no address is compared. The
 *    live child hints each new mapping into an arena of its own, top-down,
 *    so that a scenario's mappings neighbour each other as in the model
 *    and not the runtime's (lib/live/_child.ts).
 *    Scenarios name addresses symbolically, `{ m: i, page, byte }` = the
 *    address returned by op `i` (an mmap) plus pages and bytes (see
 *    lib/live/scenario.ts). An mmap's result becomes `"new"` (placed by the
 *    kernel) or `"fixed"` (the MAP_FIXED or MAP_FIXED_NOREPLACE address asked for).
 * 2. File descriptors. Both kernels hand out the lowest free fd, but the
 *    Deno process has fds of its own; a memfd_create result becomes
 *    `"fd"`, and later ops name it `{ fd: i }` (the op that created it).
 * 3. PFNs and swap offsets are dropped from pagemap entries: only the flag
 *    bits (present, swapped, file, exclusive, soft-dirty, uffd-wp, guard)
 *    are compared.
 * 4. Kernel configuration. MEM_SOFT_DIRTY decides whether pagemap bit 55
 *    can ever be set, MEMORY_FAILURE how poison is reported: the model is
 *    configured from the host's /proc/config.gz ({@link hostModelConfig}),
 *    not the other way round. Likewise the THP policy: the model takes the
 *    host's /sys/kernel/mm/transparent_hugepage knobs ({@link hostModelThp}).
 * 5. mmap_min_addr. The model uses x86-64's default (65536); as root the
 *    host lets MAP_FIXED map below its own vm.mmap_min_addr (CAP_SYS_RAWIO).
 *    Scenarios therefore never name an absolute address: every address is
 *    relative to a mapping the scenario made ({@link MMAP_MIN_ADDR_NOTE}).
 * 6. Signals. A fatal SIGSEGV or SIGBUS is compared by signal, si_code,
 *    si_addr as an offset from the address the step accessed (`at`), and
 *    si_addr_lsb where the kernel sets it (`lsb`). A child's exit status
 *    shows only the signal number; the rest comes from the child's fault
 *    report handler (lib/live/fault_report.ts). Where a live child could
 *    not report (a machine that is not x86-64), the signal number alone is
 *    compared ({@link sameOutcome}). An access that would wait on a
 *    userfaultfd for good is `blocked` on both sides: the simulator's
 *    `Blocked`, and on the host a child that printed nothing for a while,
 *    which the runner kills.
 * 7. PAGEMAP_SCAN regions and walk_end are addresses too: they become
 *    page offsets from the scan's start ({@link normalizeScan}); the
 *    categories are compared as they are.
 * 8. Page tables shared with neighbours. A PTE table covers 2 MiB, and in
 *    the Deno process other mappings (V8's heap, earlier scenarios) may
 *    already have one where a scenario maps its few pages; the model's
 *    fresh process has none. PAGEMAP_SCAN tells the two apart outside
 *    uffd-wp VMAs: a none PTE in a table is PAGE_IS_WRITTEN
 *    (pagemap_page_category()), a range without a table is not
 *    (pagemap_scan_pte_hole()). Inside a uffd-wp VMA both are written. So
 *    differential scans select only pages that are present, swapped or in
 *    a WP_ASYNC VMA (any-of mask PRESENT | SWAPPED | WPALLOWED, never
 *    inverted), where no table's presence shows; the none-PTE rule itself
 *    is checked by tests/scenarios/pagemap_scan_test.ts and, against this
 *    kernel, lib/live/userfaultfd_test.ts.
 * 9. Userfaultfd messages. Each step's outcome lists the page-fault
 *    messages the monitor read during it as [flags, address], the address
 *    as an offset from the step's first argument (the address it
 *    accessed), so `[1, -5]` is a write fault on the page of a write to
 *    byte 5 of a page: the kernel reports the page, not the byte, unless
 *    UFFD_FEATURE_EXACT_ADDRESS is on.
 * @module
 */

import type { KernelConfig } from "../kernel/config.ts";
import { Errno } from "../kernel/errno.ts";
import { Blocked, Signal } from "../kernel/signal.ts";
import type { PagemapEntry, PagemapScanResult } from "../proc/task_mmu.ts";
import { PAGE_SIZE } from "../kernel/constants.ts";
import { modelConfigFromKconfig, readHostKconfig } from "./config.ts";
import { parseSysfsChoice, THP_SYSFS } from "./probe.ts";
import { ANON_MTHP_SIZES_KB, type ThpSettings as ModelThpSettings } from "../mm/huge_memory.ts";

/** Why scenarios use no absolute addresses (item 5 of the module note). */
export const MMAP_MIN_ADDR_NOTE =
  "addresses are relative to mappings the scenario made, never below vm.mmap_min_addr";

/** A pagemap entry without PFN, swap type and offset, and the raw value. */
export type PagemapFlags = Omit<PagemapEntry, "raw" | "pfn" | "swapType" | "swapOffset">;

/** Item 3: the flag bits of a pagemap entry. */
export function normalizePagemap(e: PagemapEntry): PagemapFlags {
  const { present, swapped, file, exclusive, softDirty, uffdWp, guard } = e;
  return { present, swapped, file, exclusive, softDirty, uffdWp, guard };
}

/** A PAGEMAP_SCAN result with page offsets from the scan's start (item 7). */
export interface ScanOffsets {
  /** [first page, end page, categories] of each page_region. */
  regions: [number, number, number][];
  walkEnd: number;
}

/** Item 7: a PAGEMAP_SCAN result relative to `start`, in pages. */
export function normalizeScan(r: PagemapScanResult, start: number): ScanOffsets {
  const pg = (addr: number) => (addr - start) / PAGE_SIZE;
  return {
    regions: r.regions.map((x) => [pg(x.start), pg(x.end), x.categories]),
    walkEnd: pg(r.walkEnd),
  };
}

/** A value a scenario step returned, in a form that compares across kernels. */
export type Normalized =
  | number
  | null
  | "new"
  | "fixed"
  | "same"
  | "fd"
  | number[]
  | PagemapFlags
  | PagemapFlags[]
  | ScanOffsets;

/**
 * What one scenario step came to: `ok` with the normalised result, the
 * errno name, the signal name (item 6), `unresolved` when an argument names
 * a mapping or fd whose creating op failed (the step is not made), or
 * `unsafe` when the live runner refused to touch memory it does not own.
 */
export type Outcome =
  | { ok: Normalized; uffd?: [number, number][] }
  | { errno: string; uffd?: [number, number][] }
  | { signal: string; code?: string | number; at?: number; lsb?: number }
  | { blocked: true }
  | { unresolved: true }
  | { unsafe: string };

/** Item 9: fault messages as [flags, address − the step's address]. */
export function normalizeUffdMessages(
  seen: readonly { flags: number; address: number }[],
  accessed: number | string | undefined,
): [number, number][] {
  const base = typeof accessed === "number" ? accessed : 0;
  return seen.map((m) => [m.flags, m.address - base]);
}

/**
 * Items 1-3 and 7: the result of op `name` normalised. `fixedAddr` is the
 * address a MAP_FIXED or MAP_FIXED_NOREPLACE mmap asked for (undefined for
 * other calls); `start` the first argument (a PAGEMAP_SCAN's start).
 */
export function normalizeResult(
  name: string,
  value: unknown,
  fixedAddr?: number,
  start?: number,
): Normalized {
  switch (name) {
    case "mmap":
      return fixedAddr !== undefined && value === fixedAddr ? "fixed" : "new";
    case "mmapAligned":
      return "new";
    case "mremap":
      return value === start
        ? "same"
        : fixedAddr !== undefined && value === fixedAddr
        ? "fixed"
        : "new";
    case "memfdCreate":
      return "fd";
    case "pagemap":
      return Array.isArray(value)
        ? value.map(normalizePagemap)
        : normalizePagemap(value as PagemapEntry);
    case "read":
      return value instanceof Uint8Array ? [...value] : value as number;
    case "pagemapScan":
      return normalizeScan(value as PagemapScanResult, start ?? 0);
    default:
      return typeof value === "number" ? value : null;
  }
}

/** Items 6 and the errno: what a thrown `Errno` or `Signal` becomes; anything else is rethrown. */
export function normalizeThrown(e: unknown, accessed?: number): Outcome {
  if (e instanceof Errno) return { errno: e.errno };
  if (e instanceof Signal) {
    return signalOutcome(e.signo, e.code, e.addr, accessed ?? e.addr, e.addrLsb);
  }
  if (e instanceof Blocked) return { blocked: true };
  throw e;
}

/** Item 6: a signal as compared, si_addr as an offset from the accessed address. */
export function signalOutcome(
  signal: string,
  code: string | number,
  addr: number,
  accessed: number,
  lsb?: number,
): Outcome {
  return { signal, code, at: addr - accessed, ...(lsb === undefined ? {} : { lsb }) };
}

/**
 * Whether two outcomes of one step agree. Item 6: a live signal that came
 * without a fault report (`code` missing) is compared by signal alone.
 */
export function sameOutcome(model: Outcome | undefined, live: Outcome | undefined): boolean {
  if (model && live && "signal" in model && "signal" in live && live.code === undefined) {
    return model.signal === live.signal;
  }
  return JSON.stringify(model) === JSON.stringify(live);
}

/**
 * Item 4, THP: the model's `simulate({ thp })` settings read from the host's
 * sysfs (`enabled`, `shmem_enabled`, `use_zero_page`, khugepaged's
 * `max_ptes_*`, each `hugepages-<size>kB/enabled`); a knob that cannot be
 * read keeps the model's default.
 */
export function hostModelThp(root = THP_SYSFS): Partial<ModelThpSettings> {
  const out: Record<string, unknown> = {};
  const read = (path: string) => Deno.readTextFileSync(`${root}/${path}`).trim();
  const knobs: [keyof ModelThpSettings, () => unknown][] = [
    ["enabled", () => parseSysfsChoice(read("enabled"))],
    ["shmem_enabled", () => parseSysfsChoice(read("shmem_enabled"))],
    ["use_zero_page", () => read("use_zero_page") === "1"],
    ["max_ptes_none", () => Number(read("khugepaged/max_ptes_none"))],
    ["max_ptes_swap", () => Number(read("khugepaged/max_ptes_swap"))],
    ["max_ptes_shared", () => Number(read("khugepaged/max_ptes_shared"))],
  ];
  for (const [name, get] of knobs) {
    try {
      out[name] = get();
    } catch {
      // Not readable here (no sysfs, no THP): the model keeps its default.
    }
  }
  // hugepages-<size>kB/enabled of each anonymous size the model knows.
  const hugepages: Record<number, string> = {};
  for (const kb of ANON_MTHP_SIZES_KB) {
    try {
      hugepages[kb] = parseSysfsChoice(read(`hugepages-${kb}kB/enabled`));
    } catch {
      // No such size on this kernel (or no mTHP at all): the model's default.
    }
  }
  if (Object.keys(hugepages).length) out.hugepages = hugepages;
  return out as Partial<ModelThpSettings>;
}

/**
 * Item 4: the model configuration matching the host (from /proc/config.gz),
 * or the reason it cannot be read.
 */
export function hostModelConfig(): { config: KernelConfig } | { reason: string } {
  try {
    return { config: modelConfigFromKconfig(readHostKconfig()) };
  } catch (e) {
    return { reason: `cannot read /proc/config.gz: ${(e as Error).message}` };
  }
}
