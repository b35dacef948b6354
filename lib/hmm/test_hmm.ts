/**
 * A simulated device that mirrors a process's memory, in the spirit of the
 * kernel's test driver lib/test_hmm.c (struct dmirror, v6.18): its own page
 * table of the process's pages (an xarray of pfns tagged READ, WRITE or
 * ATOMIC), reads and writes through that mirror, device atomics that need
 * the page exclusive (make_device_exclusive()), and an MMU interval
 * notifier that drops mirrored pages whenever the CPU's page tables change.
 *
 * The ioctls of test_hmm become methods: `read` (HMM_DMIRROR_READ),
 * `write` (HMM_DMIRROR_WRITE), `exclusive` (HMM_DMIRROR_EXCLUSIVE),
 * `checkExclusive` (HMM_DMIRROR_CHECK_EXCLUSIVE). `atomicAdd` is a device
 * atomic: the page must be held ATOMIC, and is made exclusive first if it
 * is not. The device passes itself as the owner of make_device_exclusive()
 * and, as nouveau's nouveau_svm_range_invalidate() does, ignores the
 * MMU_NOTIFY_EXCLUSIVE events it caused (`filterOwnExclusive: false`
 * turns that off: the device then drops its own mirror of the page).
 *
 * Counters (`stats`) record what a CPU/device ping-pong costs: the
 * invalidations the device received, the mirrored pages they dropped, the
 * times the device lost exclusive access, the device faults (hmm_range_fault
 * and make_device_exclusive calls) and the retries.
 *
 * Simplifications: one device, no device-private memory (no migration);
 * hmm_range_fault() is modelled page by page (walk, fault if needed,
 * restart on an invalidation) rather than through the page walker; a
 * PMD-mapped THP is mirrored page by page from its PMD
 * (hmm_vma_handle_pmd()).
 * @module
 */
import type { Process } from "../kernel/process.ts";
import { ERRNO, Errno, type ErrnoName, errnoName } from "../kernel/errno.ts";
import { PAGE_SIZE, TASK_SIZE } from "../kernel/constants.ts";
import { VM_READ, VM_WRITE } from "../mm/mm_types.ts";
import {
  FAULT_FLAG_REMOTE,
  FAULT_FLAG_WRITE,
  handleMmFault,
  lookupPteTable,
  pteIndex,
  VM_FAULT_ERROR,
} from "../mm/memory.ts";
import { _PAGE_PRESENT, _PAGE_RW } from "../arch/x86/pgtable_types.ts";
import { halvesPfn } from "../pgtable/pgtable.ts";
import {
  MMU_NOTIFY_EVENTS,
  MMU_NOTIFY_EXCLUSIVE,
  MMU_NOTIFY_MIGRATE,
  MmuIntervalNotifier,
  mmuIntervalNotifierInsert,
  mmuIntervalNotifierRemove,
  mmuIntervalReadBegin,
  mmuIntervalReadRetry,
  mmuIntervalSetSeq,
  type MmuNotifierRange,
  type MmuNotifyEventName,
} from "../mm/mmu_notifier.ts";
import { makeDeviceExclusive, makeDeviceExclusiveRange } from "../mm/rmap.ts";
import { hugePmdAt } from "../mm/huge_memory.ts";
import { folioUnlock } from "../mm/filemap.ts";
import { putPage } from "../mm/gup.ts";

/** The xarray tags of test_hmm.c (DPT_XA_TAG_*), plus the read-only case (no tag). */
export const DPT_XA_TAG_READ = 0;
export const DPT_XA_TAG_ATOMIC = 1;
export const DPT_XA_TAG_WRITE = 3;

/** One mirrored page: the pfn and its tag. */
export interface DmirrorEntry {
  pfn: number;
  tag: typeof DPT_XA_TAG_READ | typeof DPT_XA_TAG_ATOMIC | typeof DPT_XA_TAG_WRITE;
}

/** What the device counted. */
export interface DmirrorStats {
  /** Invalidations delivered to the interval notifier (filtered ones included). */
  invalidations: number;
  /** The same, by event name. */
  byEvent: Record<MmuNotifyEventName, number>;
  /** Invalidations ignored as the device's own MMU_NOTIFY_EXCLUSIVE. */
  filtered: number;
  /** Mirrored pages dropped by invalidations. */
  dropped: number;
  /** ATOMIC pages dropped: the device lost exclusive access. */
  exclusiveLost: number;
  /** Device faults: hmm_range_fault() calls that had to fault a page in. */
  faults: number;
  /** make_device_exclusive() calls made to get a page for atomics. */
  atomicFaults: number;
  /** Device atomics done. */
  atomics: number;
  /** Attempts thrown away because read_retry() saw an invalidation. */
  retries: number;
}

/** Options of a Dmirror. */
export interface DmirrorOptions {
  /** Ignore the MMU_NOTIFY_EXCLUSIVE events this device caused (default true). */
  filterOwnExclusive?: boolean;
  /** Attempts of hmm_range_fault() before it gives up with EBUSY (default 8). */
  maxRetries?: number;
}

function fail(ret: number, what: string): never {
  throw new Errno((errnoName(ret) ?? "EINVAL") as ErrnoName, what);
}

/** struct dmirror: one open of the test device, mirroring one process. */
export class Dmirror {
  /** dmirror->pt: page number → mirrored page. */
  readonly pt = new Map<number, DmirrorEntry>();
  /** dmirror->notifier, over the whole user address space. */
  readonly notifier: MmuIntervalNotifier;
  readonly stats: DmirrorStats = {
    invalidations: 0,
    byEvent: Object.fromEntries(MMU_NOTIFY_EVENTS.map((e) => [e, 0])) as Record<
      MmuNotifyEventName,
      number
    >,
    filtered: 0,
    dropped: 0,
    exclusiveLost: 0,
    faults: 0,
    atomicFaults: 0,
    atomics: 0,
    retries: 0,
  };
  readonly filterOwnExclusive: boolean;
  readonly maxRetries: number;

  /** dmirror_fops_open(): mirror `process`. */
  constructor(readonly process: Process, options: DmirrorOptions = {}) {
    this.filterOwnExclusive = options.filterOwnExclusive ?? true;
    this.maxRetries = options.maxRetries ?? 8;
    this.notifier = new MmuIntervalNotifier({
      invalidate: (mni, range, curSeq) => this.invalidate(mni, range, curSeq),
    });
    mmuIntervalNotifierInsert(this.notifier, process.mm, 0, TASK_SIZE);
  }

  /**
   * dmirror_interval_invalidate(): drop the mirrored pages of the range,
   * after bumping the notifier's sequence; its own EXCLUSIVE events (and
   * migrations it started) are ignored.
   */
  private invalidate(mni: MmuIntervalNotifier, range: MmuNotifierRange, curSeq: number): boolean {
    this.stats.invalidations++;
    this.stats.byEvent[MMU_NOTIFY_EVENTS[range.event]]++;
    const own = range.owner === this;
    if (
      own &&
      (range.event === MMU_NOTIFY_MIGRATE ||
        (range.event === MMU_NOTIFY_EXCLUSIVE && this.filterOwnExclusive))
    ) {
      this.stats.filtered++;
      return true;
    }
    mmuIntervalSetSeq(mni, curSeq);
    this.doUpdate(range.start, range.end);
    return true;
  }

  /** dmirror_do_update(): forget the pages of [start, end). */
  private doUpdate(start: number, end: number): void {
    const first = Math.floor(start / PAGE_SIZE),
      last = Math.ceil(Math.min(end, TASK_SIZE) / PAGE_SIZE);
    const drop = (vpn: number, e: DmirrorEntry) => {
      this.pt.delete(vpn);
      this.stats.dropped++;
      if (e.tag === DPT_XA_TAG_ATOMIC) this.stats.exclusiveLost++;
    };
    if (last - first > this.pt.size) {
      for (const [vpn, e] of [...this.pt]) if (vpn >= first && vpn < last) drop(vpn, e);
    } else {
      for (let vpn = first; vpn < last; vpn++) {
        const e = this.pt.get(vpn);
        if (e) drop(vpn, e);
      }
    }
  }

  /** The mirrored entry of the page holding `addr`, or null. */
  entry(addr: number): DmirrorEntry | null {
    return this.pt.get(Math.floor(addr / PAGE_SIZE)) ?? null;
  }

  /** Whether the device holds the page at `addr` for atomics. */
  isAtomic(addr: number): boolean {
    return this.entry(addr)?.tag === DPT_XA_TAG_ATOMIC;
  }

  /**
   * hmm_range_fault() + dmirror_range_fault(): mirror [start, end),
   * faulting pages in (for write if asked) as the CPU would, and start
   * over when an invalidation hits the range meanwhile (read_retry).
   * Returns 0 or -errno (-EPERM: a write into a VMA without VM_WRITE;
   * -EFAULT: no VMA, or the fault failed).
   */
  private rangeFault(start: number, end: number, write: boolean): number {
    const mm = this.process.mm;
    for (let attempt = 0;; attempt++) {
      if (attempt > this.maxRetries) return -ERRNO.EBUSY;
      const seq = mmuIntervalReadBegin(this.notifier);
      const found: [number, DmirrorEntry][] = [];
      mm.mmap_lock.downRead();
      try {
        for (let addr = start; addr < end; addr += PAGE_SIZE) {
          const vma = mm.vmaLookup(addr);
          if (!vma || !(vma.vm_flags & VM_READ)) return -ERRNO.EFAULT;
          for (let tries = 0;; tries++) {
            // hmm_vma_handle_pmd() for a huge PMD (the page's frame is the
            // PMD's plus the page index), else the PTE (hmm_vma_handle_pte()).
            const huge = hugePmdAt(mm, addr);
            const pt = huge ? null : lookupPteTable(mm, addr);
            const i = pteIndex(addr);
            const lo = huge ? huge.lo : pt ? pt.e[2 * i] : 0;
            const hi = huge ? huge.hi : pt ? pt.e[2 * i + 1] : 0;
            if ((lo & _PAGE_PRESENT) && (!write || (lo & _PAGE_RW))) {
              const tag = lo & _PAGE_RW ? DPT_XA_TAG_WRITE : DPT_XA_TAG_READ;
              const pfn = halvesPfn(lo, hi) + (huge ? i : 0);
              found.push([addr / PAGE_SIZE, { pfn, tag }]);
              break;
            }
            // hmm_vma_fault()
            if (write && !(vma.vm_flags & VM_WRITE)) return -ERRNO.EPERM;
            if (tries > 2) return -ERRNO.EFAULT;
            this.stats.faults++;
            const flags = FAULT_FLAG_REMOTE | (write ? FAULT_FLAG_WRITE : 0);
            if (handleMmFault(vma, addr, flags) & VM_FAULT_ERROR) return -ERRNO.EFAULT;
          }
        }
      } finally {
        mm.mmap_lock.upRead();
      }
      if (mmuIntervalReadRetry(this.notifier, seq)) {
        this.stats.retries++;
        continue;
      }
      for (const [vpn, e] of found) this.pt.set(vpn, e);
      return 0;
    }
  }

  /** HMM_DMIRROR_READ: `len` bytes at `addr` as the device reads them. */
  read(addr: number, len: number): Uint8Array {
    const out = new Uint8Array(len);
    const m = this.process.kernel.core.memmap;
    for (let i = 0; i < len;) {
      const a = addr + i;
      let e = this.entry(a);
      if (!e) {
        const page = a - (a % PAGE_SIZE);
        const ret = this.rangeFault(page, page + PAGE_SIZE, false);
        if (ret) fail(ret, "HMM_DMIRROR_READ");
        e = this.entry(a)!;
      }
      const stop = Math.min(len, i + PAGE_SIZE - (a % PAGE_SIZE));
      for (; i < stop; i++) out[i] = m.readByte(e.pfn, (addr + i) % PAGE_SIZE);
    }
    return out;
  }

  /**
   * HMM_DMIRROR_WRITE: write `data` at `addr` through the mirror; a page
   * not mirrored WRITE is faulted in for write first (an ATOMIC page too:
   * that restores the CPU's PTE). Throws Errno (EPERM: read-only VMA).
   */
  write(addr: number, data: Uint8Array): void {
    const m = this.process.kernel.core.memmap;
    for (let i = 0; i < data.length;) {
      const a = addr + i;
      let e = this.entry(a);
      if (!e || e.tag !== DPT_XA_TAG_WRITE) {
        const page = a - (a % PAGE_SIZE);
        const ret = this.rangeFault(page, page + PAGE_SIZE, true);
        if (ret) fail(ret, "HMM_DMIRROR_WRITE");
        e = this.entry(a)!;
      }
      const stop = Math.min(data.length, i + PAGE_SIZE - (a % PAGE_SIZE));
      for (; i < stop; i++) m.writeByte(e.pfn, (addr + i) % PAGE_SIZE, data[i]);
    }
  }

  /**
   * Make the page at `addr` exclusive to the device and map it ATOMIC
   * (dmirror_exclusive() → dmirror_atomic_map() for one page; in the
   * ≤ v6.14 variant through make_device_exclusive_range() on that page).
   * No sequence check is needed: make_device_exclusive() returns with the
   * folio locked, and a CPU fault needs that lock to restore the PTE, so
   * the restore and its invalidation come after the device mapped the
   * page. Returns 0 or -errno.
   */
  private atomicFault(addr: number): number {
    const mm = this.process.mm;
    const core = mm.core;
    const page = addr - (addr % PAGE_SIZE);
    this.stats.atomicFaults++;
    mm.mmap_lock.downRead();
    let pfn: number;
    try {
      if (core.variants.deviceExclusiveRange) {
        const r = makeDeviceExclusiveRange(mm, page, page + PAGE_SIZE, this);
        if (typeof r === "number") return r;
        if (r[0] === null) return -ERRNO.EBUSY;
        pfn = r[0];
      } else {
        const r = makeDeviceExclusive(mm, page, this);
        if (typeof r === "number") return r;
        pfn = r.page;
      }
    } finally {
      mm.mmap_lock.upRead();
    }
    this.pt.set(page / PAGE_SIZE, { pfn, tag: DPT_XA_TAG_ATOMIC });
    folioUnlock(core, pfn);
    putPage(core, pfn);
    return 0;
  }

  /**
   * HMM_DMIRROR_EXCLUSIVE: make every page of [addr, addr + len)
   * exclusive to the device (dmirror_exclusive()). Returns the pages made
   * exclusive; throws Errno on failure.
   */
  exclusive(addr: number, len: number): number {
    let n = 0;
    for (let a = addr; a < addr + len; a += PAGE_SIZE) {
      const ret = this.atomicFault(a);
      if (ret) fail(ret, "HMM_DMIRROR_EXCLUSIVE");
      n++;
    }
    return n;
  }

  /**
   * HMM_DMIRROR_CHECK_EXCLUSIVE (dmirror_check_atomic()): 0 if the device
   * holds none of the pages for atomics any more; throws EPERM if it still
   * holds one.
   */
  checkExclusive(addr: number, len: number): 0 {
    for (let a = addr; a < addr + len; a += PAGE_SIZE) {
      if (this.isAtomic(a)) fail(-ERRNO.EPERM, "HMM_DMIRROR_CHECK_EXCLUSIVE");
    }
    return 0;
  }

  /**
   * A device atomic: add `value` to the byte at `addr` (mod 256), which
   * needs the page exclusive; a page the device does not hold ATOMIC is
   * acquired first. Returns the new value.
   */
  atomicAdd(addr: number, value: number): number {
    if (!this.isAtomic(addr)) {
      const ret = this.atomicFault(addr);
      if (ret) fail(ret, "device atomic");
    }
    const e = this.entry(addr)!;
    const m = this.process.kernel.core.memmap;
    const v = (m.readByte(e.pfn, addr % PAGE_SIZE) + value) & 0xff;
    m.writeByte(e.pfn, addr % PAGE_SIZE, v);
    this.stats.atomics++;
    return v;
  }

  /** dmirror_fops_release(): remove the interval notifier, forget the mirror. */
  close(): void {
    mmuIntervalNotifierRemove(this.notifier);
    this.pt.clear();
  }
}

/** Opens a simulated device that mirrors `process` (open("/dev/hmm_dmirror0")). */
export function dmirrorOpen(process: Process, options?: DmirrorOptions): Dmirror {
  return new Dmirror(process, options);
}
