/**
 * The userfaultfd file (fs/userfaultfd.c, v6.18): userfaultfd(2), the
 * UFFDIO_API handshake, UFFDIO_REGISTER/UNREGISTER with their VMA
 * split/merge, handle_userfault() with the uffd_msg it queues, the fork
 * event, and the `Userfaultfd` object the process facade hands out (one
 * method per ioctl).
 *
 * Simplifications: one thread per process, so a fault that would sleep in
 * handle_userfault() either calls the handler registered on the
 * userfaultfd (it plays the monitor thread, then the access is retried) or
 * throws `Blocked`; read() never sleeps (it returns null when the queue is
 * empty, where a blocking read would wait). No hugetlb, so the hugetlbfs
 * features are never reported. The non-cooperative events FORK, REMAP
 * (mremap(2)), REMOVE and UNMAP are modelled.
 * @module
 */
import { ERRNO, Errno, errnoName } from "../kernel/errno.ts";
import { Blocked } from "../kernel/signal.ts";
import { O_CLOEXEC, O_NONBLOCK, PAGE_SIZE, TASK_SIZE } from "../kernel/constants.ts";
import {
  type MmStruct,
  VM_MAYWRITE,
  VM_SHARED,
  VM_UFFD_MINOR_HI,
  VM_UFFD_MISSING,
  VM_UFFD_WP,
  type Vma,
} from "../mm/mm_types.ts";
import { mergeAround, MMAP_MIN_ADDR, splitAt, vmGetPageProt } from "../mm/mmap.ts";
import {
  FAULT_FLAG_ALLOW_RETRY,
  FAULT_FLAG_RETRY_NOWAIT,
  FAULT_FLAG_USER,
  FAULT_FLAG_WRITE,
  VM_FAULT_RETRY,
  VM_FAULT_SIGBUS,
} from "../mm/memory.ts";
import * as U from "./constants.ts";
import type { MmCore } from "../mm/core.ts";
import { isSwapPte, type Pte, pteSwpUffdWp } from "../arch/x86/pgtable.ts";
import { pteToSwpEntry } from "../pgtable/swapops.ts";
import {
  MFILL_ATOMIC_WP,
  mfillAtomic,
  type MfillMode,
  movePages,
  type MoveTraceEvent,
  mwriteprotectRange,
} from "./mfill.ts";

const E = (name: keyof typeof ERRNO) => -ERRNO[name];

/** Features this model implements: UFFDIO_API reports these and accepts no others. */
export const UFFD_MODEL_FEATURES = U.UFFD_FEATURE_SIGBUS | U.UFFD_FEATURE_THREAD_ID |
  U.UFFD_FEATURE_EXACT_ADDRESS | U.UFFD_FEATURE_MISSING_SHMEM | U.UFFD_FEATURE_POISON |
  U.UFFD_FEATURE_PAGEFAULT_FLAG_WP | U.UFFD_FEATURE_EVENT_FORK | U.UFFD_FEATURE_EVENT_REMAP |
  U.UFFD_FEATURE_EVENT_REMOVE | U.UFFD_FEATURE_EVENT_UNMAP |
  U.UFFD_FEATURE_WP_HUGETLBFS_SHMEM | U.UFFD_FEATURE_WP_UNPOPULATED | U.UFFD_FEATURE_WP_ASYNC |
  U.UFFD_FEATURE_MINOR_SHMEM | U.UFFD_FEATURE_MOVE;

/** struct uffd_msg for UFFD_EVENT_PAGEFAULT. */
export interface UffdMsgPagefault {
  event: typeof U.UFFD_EVENT_PAGEFAULT;
  arg: { pagefault: { flags: number; address: number; feat: { ptid: number } } };
}

/** struct uffd_msg for UFFD_EVENT_FORK: `ufd` is the child's userfaultfd. */
export interface UffdMsgFork {
  event: typeof U.UFFD_EVENT_FORK;
  arg: { fork: { ufd: Userfaultfd } };
}

/**
 * struct uffd_msg for UFFD_EVENT_REMOVE (MADV_DONTNEED, MADV_FREE,
 * MADV_REMOVE) and UFFD_EVENT_UNMAP (munmap, or mmap MAP_FIXED over the
 * range); both use the `remove` member of the union, as the kernel does.
 */
export interface UffdMsgRemove {
  event: typeof U.UFFD_EVENT_REMOVE | typeof U.UFFD_EVENT_UNMAP;
  arg: { remove: { start: number; end: number } };
}

/** struct uffd_msg for UFFD_EVENT_REMAP: mremap() moved `len` bytes from `from` to `to`. */
export interface UffdMsgRemap {
  event: typeof U.UFFD_EVENT_REMAP;
  arg: { remap: { from: number; to: number; len: number } };
}

/** struct uffd_msg (the events the model produces). */
export type UffdMsg = UffdMsgPagefault | UffdMsgFork | UffdMsgRemove | UffdMsgRemap;

/** A function that resolves a fault (plays the monitor thread). */
export type UffdHandler = (msg: UffdMsgPagefault) => void;

/** The pending wait of a faulting thread (struct userfaultfd_wait_queue). */
export interface UffdWait {
  ctx: UserfaultfdCtx;
  msg: UffdMsgPagefault;
}

/** Who owns the userfaultfd: the process the ioctls act on. */
export interface UffdOwner {
  readonly mm: MmStruct;
  readonly pid: number;
  readonly comm: string;
  /** CAP_SYS_PTRACE, which the model equates with the process's capSysAdmin. */
  readonly capSysAdmin: boolean;
  /** Reads one page-aligned page of the owner's memory for UFFDIO_COPY (copy_from_user). */
  pageOfUser(addr: number): number;
}

/** struct userfaultfd_ctx. */
export class UserfaultfdCtx {
  /** UFFD_STATE_WAIT_API until UFFDIO_API succeeds, then UFFD_STATE_RUNNING. */
  state: "UFFD_STATE_WAIT_API" | "UFFD_STATE_RUNNING" = "UFFD_STATE_WAIT_API";
  features = 0;
  /** fault_pending_wqh: page-fault messages not yet read. */
  readonly faultPending: UffdMsgPagefault[] = [];
  /**
   * event_wqh: non-cooperative events (fork, remove, unmap) not yet read.
   * Each one also counts in `mmapChanging` until read() takes it.
   */
  readonly events: UffdMsg[] = [];
  /**
   * ctx->mmap_changing: events queued and not yet read. While it is
   * non-zero, COPY, ZEROPAGE, CONTINUE, POISON, MOVE and WRITEPROTECT fail
   * with EAGAIN: the monitor has not yet seen how the address space changed.
   */
  mmapChanging = 0;
  handler: UffdHandler | null = null;
  /** The handler is running (the monitor thread is busy). */
  inHandler = false;
  /** The file was closed (userfaultfd_release() ran). */
  released = false;
  /** Faults handled since the last wake (a statistic for lessons). */
  nrFaults = 0;

  constructor(readonly owner: UffdOwner, readonly flags: number) {}

  get mm(): MmStruct {
    return this.owner.mm;
  }
}

/**
 * new_userfaultfd(): checks the flags and the caller's privilege
 * (vm.unprivileged_userfaultfd is 0, as on Debian: without
 * UFFD_USER_MODE_ONLY the caller needs CAP_SYS_PTRACE, which the model
 * equates with the process's capSysAdmin). Returns -errno or the context.
 */
export function newUserfaultfd(
  owner: UffdOwner,
  flags: number,
  capable: boolean,
): UserfaultfdCtx | number {
  if (!(flags & U.UFFD_USER_MODE_ONLY) && !capable) return E("EPERM");
  if (flags & ~(O_CLOEXEC | O_NONBLOCK | U.UFFD_USER_MODE_ONLY)) return E("EINVAL");
  return new UserfaultfdCtx(owner, flags);
}

/** userfaultfd_api(): the handshake. Returns -errno or what the kernel copies out. */
export function userfaultfdApi(
  ctx: UserfaultfdCtx,
  api: number,
  features: number,
  capable: boolean,
): { features: number; ioctls: bigint } | number {
  if (api !== U.UFFD_API) return E("EINVAL");
  if ((features & U.UFFD_FEATURE_EVENT_FORK) && !capable) return E("EPERM");
  if (features & U.UFFD_FEATURE_WP_ASYNC) features |= U.UFFD_FEATURE_WP_UNPOPULATED;
  let available = UFFD_MODEL_FEATURES;
  const config = ctx.mm.core.config;
  if (!config.HAVE_ARCH_USERFAULTFD_WP) available &= ~U.UFFD_FEATURE_PAGEFAULT_FLAG_WP;
  if (!config.PTE_MARKER_UFFD_WP) {
    available &= ~(U.UFFD_FEATURE_WP_HUGETLBFS_SHMEM | U.UFFD_FEATURE_WP_UNPOPULATED |
      U.UFFD_FEATURE_WP_ASYNC);
  }
  if (features & ~available) return E("EINVAL");
  // userfaultfd_set_features(): only once.
  if (ctx.state !== "UFFD_STATE_WAIT_API") return E("EINVAL");
  ctx.state = "UFFD_STATE_RUNNING";
  ctx.features = features;
  return { features: available, ioctls: U.UFFD_API_IOCTLS };
}

/**
 * validate_unaligned_range(): a non-empty, page-multiple length inside the
 * user address space, above mmap_min_addr. 0 or -EINVAL.
 */
export function validateUnalignedRange(start: number, len: number): number {
  if (len % PAGE_SIZE || !len) return E("EINVAL");
  if (start < MMAP_MIN_ADDR || start >= TASK_SIZE) return E("EINVAL");
  if (len > TASK_SIZE - start) return E("EINVAL");
  return 0;
}

/** validate_range(): validate_unaligned_range() plus a page-aligned start. */
export function validateRange(start: number, len: number): number {
  if (start % PAGE_SIZE) return E("EINVAL");
  return validateUnalignedRange(start, len);
}

/** vma_is_shmem() in the model: every file mapping is shmem. */
export function vmaIsShmem(vma: Vma): boolean {
  return vma.vm_file !== null;
}

/** userfaultfd_missing(). */
export function userfaultfdMissing(vma: Vma): boolean {
  return (vma.vm_flags & VM_UFFD_MISSING) !== 0;
}

/**
 * pte_swp_uffd_wp_any() (include/linux/userfaultfd_k.h): a swap PTE with
 * the uffd-wp bit, or a uffd-wp marker.
 */
export function pteSwpUffdWpAny(core: MmCore, pte: Pte): boolean {
  if (!isSwapPte(pte)) return false;
  if (pteSwpUffdWp(pte, core.bits)) return true;
  return core.swapops.pteMarkerEntryUffdWp(pteToSwpEntry(pte));
}

/** userfaultfd_wp(). */
export function userfaultfdWp(vma: Vma): boolean {
  return (vma.vm_flags & VM_UFFD_WP) !== 0;
}

/** userfaultfd_wp_async(): the VMA's userfaultfd resolves WP faults by itself. */
export function userfaultfdWpAsync(vma: Vma): boolean {
  const ctx = vma.vm_userfaultfd_ctx;
  return ctx !== null && (ctx.features & U.UFFD_FEATURE_WP_ASYNC) !== 0;
}

/** userfaultfd_wp_unpopulated(). */
export function userfaultfdWpUnpopulated(vma: Vma): boolean {
  const ctx = vma.vm_userfaultfd_ctx;
  return ctx !== null && (ctx.features & U.UFFD_FEATURE_WP_UNPOPULATED) !== 0;
}

/**
 * userfaultfd_wp_use_markers(): write-protecting a none PTE installs a
 * uffd-wp marker in shmem always, in anonymous memory with WP_UNPOPULATED.
 */
export function userfaultfdWpUseMarkers(vma: Vma): boolean {
  if (!userfaultfdWp(vma)) return false;
  if (!vma.isAnonymous) return true;
  return userfaultfdWpUnpopulated(vma);
}

/** userfaultfd_minor(). */
export function userfaultfdMinor(vma: Vma): boolean {
  return (vma.vm_flags_hi & VM_UFFD_MINOR_HI) !== 0;
}

/** userfaultfd_armed(): registered for any kind of userfault (__VM_UFFD_FLAGS). */
export function userfaultfdArmed(vma: Vma): boolean {
  return userfaultfdMissing(vma) || userfaultfdWp(vma) || userfaultfdMinor(vma);
}

/** The mode bits a VMA is registered with, as UFFDIO_REGISTER_MODE_* bits. */
function vmaUffdMode(vma: Vma): number {
  return (userfaultfdMissing(vma) ? U.UFFDIO_REGISTER_MODE_MISSING : 0) |
    (userfaultfdWp(vma) ? U.UFFDIO_REGISTER_MODE_WP : 0) |
    (userfaultfdMinor(vma) ? U.UFFDIO_REGISTER_MODE_MINOR : 0);
}

/**
 * vma_can_userfault(): MINOR only on shmem (no hugetlb in the model);
 * WP alone with WP_ASYNC on any memory; otherwise anonymous or shmem
 * (which, in the model, is every VMA).
 */
export function vmaCanUserfault(vma: Vma, mode: number, wpAsync: boolean): boolean {
  if ((mode & U.UFFDIO_REGISTER_MODE_MINOR) && !vmaIsShmem(vma)) return false;
  if (wpAsync && mode === U.UFFDIO_REGISTER_MODE_WP) return true;
  if (
    (mode & U.UFFDIO_REGISTER_MODE_WP) && !vma.isAnonymous &&
    !vma.vm_mm.core.config.PTE_MARKER_UFFD_WP
  ) {
    return false;
  }
  return true;
}

/**
 * userfaultfd_set_vm_flags(): set the VM_UFFD_* bits of `mode` and
 * recompute vm_page_prot: a shared mapping armed for uffd-wp needs write
 * notification (vma_wants_writenotify()), i.e. read-only PTEs.
 */
function userfaultfdSetVmFlags(vma: Vma, mode: number): void {
  let flags = vma.vm_flags & ~(VM_UFFD_MISSING | VM_UFFD_WP);
  if (mode & U.UFFDIO_REGISTER_MODE_MISSING) flags |= VM_UFFD_MISSING;
  if (mode & U.UFFDIO_REGISTER_MODE_WP) flags |= VM_UFFD_WP;
  vma.vm_flags = flags >>> 0;
  vma.vm_flags_hi = (vma.vm_flags_hi & ~VM_UFFD_MINOR_HI) |
    (mode & U.UFFDIO_REGISTER_MODE_MINOR ? VM_UFFD_MINOR_HI : 0);
  vmaSetPageProt(vma);
}

/** vma_set_page_prot() with the uffd-wp write notification of shared mappings. */
export function vmaSetPageProt(vma: Vma): void {
  const notify = (vma.vm_flags & VM_SHARED) && (vma.vm_flags & VM_UFFD_WP);
  vma.setPageProt(vmGetPageProt(notify ? vma.vm_flags & ~VM_SHARED : vma.vm_flags));
}

/**
 * userfaultfd_register(). Returns the ioctls bitmask or -errno. Holes in
 * the range are allowed; at least one VMA must intersect it (-EINVAL).
 */
export function userfaultfdRegister(
  ctx: UserfaultfdCtx,
  start: number,
  len: number,
  mode: number,
): number {
  const config = ctx.mm.core.config;
  const all = U.UFFDIO_REGISTER_MODE_MISSING | U.UFFDIO_REGISTER_MODE_WP |
    U.UFFDIO_REGISTER_MODE_MINOR;
  if (!mode || (mode & ~all)) return E("EINVAL");
  if ((mode & U.UFFDIO_REGISTER_MODE_WP) && !config.HAVE_ARCH_USERFAULTFD_WP) return E("EINVAL");
  let ret = validateRange(start, len);
  if (ret) return ret;
  const end = start + len;
  const wpAsync = (ctx.features & U.UFFD_FEATURE_WP_ASYNC) !== 0;
  const mm = ctx.mm;
  mm.mmap_lock.downWrite("userfaultfd_register");
  try {
    const vmas = vmasInRange(mm, start, end);
    if (vmas.length === 0) return E("EINVAL");
    // Search for incompatible VMAs.
    for (const cur of vmas) {
      if (!vmaCanUserfault(cur, mode, wpAsync)) return E("EINVAL");
      // UFFDIO_COPY would fill file holes even without PROT_WRITE.
      if (!(cur.vm_flags & VM_MAYWRITE)) return E("EPERM");
      if (cur.vm_userfaultfd_ctx && cur.vm_userfaultfd_ctx !== ctx) return E("EBUSY");
    }
    // userfaultfd_register_range(): split, set, merge.
    for (const cur of vmasInRange(mm, start, end)) {
      if (cur.vm_userfaultfd_ctx === ctx && vmaUffdMode(cur) === mode) continue;
      const s = Math.max(start, cur.vm_start), e = Math.min(end, cur.vm_end);
      splitAt(mm, s);
      splitAt(mm, e);
      const vma = mm.vmaLookup(s)!;
      userfaultfdSetVmFlags(vma, mode);
      vma.vm_userfaultfd_ctx = ctx;
      mergeAround(mm, vma);
    }
    ret = U.UFFD_API_RANGE_IOCTLS;
    if (!(mode & U.UFFDIO_REGISTER_MODE_WP)) ret &= ~(1 << U._UFFDIO_WRITEPROTECT);
    if (!(mode & U.UFFDIO_REGISTER_MODE_MINOR)) ret &= ~(1 << U._UFFDIO_CONTINUE);
    return ret;
  } finally {
    mm.mmap_lock.upWrite();
  }
}

/** userfaultfd_unregister(). Returns 0 or -errno; waiters in the range are woken. */
export function userfaultfdUnregister(ctx: UserfaultfdCtx, start: number, len: number): number {
  const ret = validateRange(start, len);
  if (ret) return ret;
  const end = start + len;
  const wpAsync = (ctx.features & U.UFFD_FEATURE_WP_ASYNC) !== 0;
  const mm = ctx.mm;
  mm.mmap_lock.downWrite("userfaultfd_unregister");
  try {
    const vmas = vmasInRange(mm, start, end);
    if (vmas.length === 0) return E("EINVAL");
    for (const cur of vmas) {
      if (!vmaCanUserfault(cur, vmaUffdMode(cur), wpAsync)) return E("EINVAL");
    }
    for (const cur of vmasInRange(mm, start, end)) {
      const owner = cur.vm_userfaultfd_ctx;
      if (!owner) continue;
      const s = Math.max(start, cur.vm_start), e = Math.min(end, cur.vm_end);
      if (userfaultfdMissing(cur)) wakeUserfault(owner, s, e - s);
      splitAt(mm, s);
      splitAt(mm, e);
      const vma = mm.vmaLookup(s)!;
      // userfaultfd_clear_vma(): uffd-wp bits left in PTEs are harmless
      // (a stale marker is cleared at fault time, see handle_pte_marker()).
      userfaultfdSetVmFlags(vma, 0);
      vma.vm_userfaultfd_ctx = null;
      mergeAround(mm, vma);
    }
    return 0;
  } finally {
    mm.mmap_lock.upWrite();
  }
}

/**
 * userfaultfd_release(): the last close of the file unregisters every VMA
 * registered with it (merging where possible) and wakes every waiter.
 */
export function userfaultfdRelease(ctx: UserfaultfdCtx): void {
  ctx.released = true;
  ctx.faultPending.length = 0;
  // wake_up_all(&ctx->event_wqh): the waiting threads see ctx->released,
  // drop their event and undo their mmap_changing count.
  ctx.events.length = 0;
  ctx.mmapChanging = 0;
  const mm = ctx.mm;
  if (mm.dead) return;
  mm.mmap_lock.downWrite("userfaultfd_release");
  try {
    for (const vma of [...mm.vmas]) {
      if (vma.vm_userfaultfd_ctx !== ctx || !mm.vmas.includes(vma)) continue;
      userfaultfdSetVmFlags(vma, 0);
      vma.vm_userfaultfd_ctx = null;
      mergeAround(mm, vma);
    }
  } finally {
    mm.mmap_lock.upWrite();
  }
}

function vmasInRange(mm: MmStruct, start: number, end: number): Vma[] {
  return mm.vmas.filter((v) => v.vm_end > start && v.vm_start < end);
}

/**
 * userfaultfd_wake()/wake_userfault(): wake the faults waiting in
 * [start, start+len): their unread messages leave the queue (the woken
 * thread retries its access and faults again if still unresolved).
 */
export function wakeUserfault(ctx: UserfaultfdCtx, start: number, len: number): void {
  const end = start + len;
  for (let i = ctx.faultPending.length - 1; i >= 0; i--) {
    const a = ctx.faultPending[i].arg.pagefault.address;
    if (a >= start && a < end) ctx.faultPending.splice(i, 1);
  }
}

/** What handle_userfault() needs of struct vm_fault. */
export interface UffdFault {
  vma: Vma;
  /** The page-aligned address. */
  address: number;
  /** vmf->real_address: the exact faulting address. */
  realAddress: number;
  flags: number;
}

/**
 * handle_userfault(): deliver a fault to the userfaultfd the VMA is
 * registered with. `reason` is VM_UFFD_MISSING, VM_UFFD_WP or
 * "minor" (VM_UFFD_MINOR, kept outside the 32-bit flags).
 *
 * Returns VM_FAULT_SIGBUS where the kernel refuses to wait (no context,
 * UFFD_FEATURE_SIGBUS, a kernel-mode fault on a UFFD_USER_MODE_ONLY fd, a
 * fault that may not be retried), else VM_FAULT_RETRY with the wait left
 * in mm.uffdWait for the arch fault handler (userfaultfdWait()).
 */
export function handleUserfault(vmf: UffdFault, reason: number | "minor"): number {
  const ctx = vmf.vma.vm_userfaultfd_ctx;
  if (!ctx) return VM_FAULT_SIGBUS;
  if (ctx.features & U.UFFD_FEATURE_SIGBUS) return VM_FAULT_SIGBUS;
  if (!(vmf.flags & FAULT_FLAG_USER) && (ctx.flags & U.UFFD_USER_MODE_ONLY)) {
    ctx.mm.core.warnOnce(
      "uffd-user-mode-only",
      "uffd: Set unprivileged_userfaultfd sysctl knob to 1 if kernel faults must be handled " +
        "without obtaining CAP_SYS_PTRACE capability",
    );
    return VM_FAULT_SIGBUS;
  }
  if (!(vmf.flags & FAULT_FLAG_ALLOW_RETRY)) return VM_FAULT_SIGBUS;
  if (vmf.flags & FAULT_FLAG_RETRY_NOWAIT) return VM_FAULT_RETRY;
  const msg = userfaultMsg(vmf, reason, ctx.features, ctx.owner.pid);
  ctx.nrFaults++;
  vmf.vma.vm_mm.uffdWait = { ctx, msg };
  return VM_FAULT_RETRY;
}

/** userfault_msg(): the message a fault queues. */
function userfaultMsg(
  vmf: UffdFault,
  reason: number | "minor",
  features: number,
  tid: number,
): UffdMsgPagefault {
  let flags = 0;
  if (vmf.flags & FAULT_FLAG_WRITE) flags |= U.UFFD_PAGEFAULT_FLAG_WRITE;
  if (reason === VM_UFFD_WP) flags |= U.UFFD_PAGEFAULT_FLAG_WP;
  if (reason === "minor") flags |= U.UFFD_PAGEFAULT_FLAG_MINOR;
  const address = features & U.UFFD_FEATURE_EXACT_ADDRESS ? vmf.realAddress : vmf.address;
  const ptid = features & U.UFFD_FEATURE_THREAD_ID ? tid : 0;
  return { event: U.UFFD_EVENT_PAGEFAULT, arg: { pagefault: { flags, address, feat: { ptid } } } };
}

/** How often one access may go back to the handler before it counts as stuck. */
const MAX_HANDLER_CALLS = 4;

/**
 * The sleep in handle_userfault(), after mmap_lock is dropped, for the wait
 * handleUserfault() left in `mm.uffdWait` (nothing to do if none): with a
 * handler, call it with the message (it plays the monitor thread; the
 * caller then retries the access); without one, queue the message for
 * read() and throw Blocked. `mm.uffdHandlerCalls` counts the handler calls
 * of this access: a handler that never resolves the fault ends in Blocked too.
 */
export function userfaultfdWait(mm: MmStruct): void {
  const wait = mm.uffdWait;
  if (!wait) return;
  mm.uffdWait = null;
  const calls = mm.uffdHandlerCalls++;
  const { ctx, msg } = wait;
  const addr = msg.arg.pagefault.address;
  if (!ctx.handler) {
    ctx.faultPending.push(msg);
    throw new Blocked(addr, "waiting on a userfaultfd with no handler");
  }
  if (calls >= MAX_HANDLER_CALLS) {
    throw new Blocked(addr, `the userfaultfd handler did not resolve the fault (${calls} calls)`);
  }
  // The handler faulting on its own userfaultfd: a real monitor thread
  // would wait for itself forever.
  if (ctx.inHandler) {
    throw new Blocked(addr, "the userfaultfd handler faulted on a range it handles");
  }
  ctx.inHandler = true;
  try {
    ctx.handler(msg);
  } finally {
    ctx.inHandler = false;
  }
}

/**
 * dup_userfaultfd() for one VMA of a fork child: without
 * UFFD_FEATURE_EVENT_FORK the child's VMA forgets the registration (and
 * copy_page_range() then drops uffd-wp bits); with it, the child gets a new
 * userfaultfd (one per parent context) and the parent's reader later gets
 * a UFFD_EVENT_FORK message (dup_userfaultfd_complete()).
 */
export function dupUserfaultfd(
  vma: Vma,
  forks: Map<UserfaultfdCtx, UserfaultfdCtx>,
  childOwner: UffdOwner,
): void {
  const octx = vma.vm_userfaultfd_ctx;
  if (!octx) return;
  if (!(octx.features & U.UFFD_FEATURE_EVENT_FORK)) {
    userfaultfdSetVmFlags(vma, 0);
    vma.vm_userfaultfd_ctx = null;
    return;
  }
  let nctx = forks.get(octx);
  if (!nctx) {
    nctx = new UserfaultfdCtx(childOwner, octx.flags);
    nctx.state = octx.state;
    nctx.features = octx.features;
    forks.set(octx, nctx);
  }
  vma.vm_userfaultfd_ctx = nctx;
}

/**
 * dup_userfaultfd_complete(): queue one UFFD_EVENT_FORK per parent context.
 */
export function dupUserfaultfdComplete(forks: Map<UserfaultfdCtx, UserfaultfdCtx>): void {
  for (const [octx, nctx] of forks) {
    // The child's userfaultfd is installed in the monitor's file table.
    const ufd = new Userfaultfd(nctx, octx.mm);
    userfaultfdEventWaitCompletion(octx, { event: U.UFFD_EVENT_FORK, arg: { fork: { ufd } } });
  }
}

/**
 * userfaultfd_event_wait_completion(): queue a non-cooperative event for
 * the monitor, with ctx->mmap_changing raised until read() takes it.
 *
 * Simplification: the kernel's thread that caused the event (fork,
 * madvise, munmap) then sleeps until the monitor has read it; the model has
 * one thread per process, so the call returns at once and the event stays
 * queued. What another thread of the process would see is kept: until the
 * event is read, the range ioctls fail with EAGAIN.
 */
export function userfaultfdEventWaitCompletion(ctx: UserfaultfdCtx, msg: UffdMsg): void {
  if (ctx.released) return;
  ctx.mmapChanging++;
  ctx.events.push(msg);
}

/**
 * userfaultfd_remove(): MADV_DONTNEED, MADV_DONTNEED_LOCKED, MADV_FREE and
 * MADV_REMOVE tell a monitor that asked for UFFD_FEATURE_EVENT_REMOVE which
 * range of a registered VMA is about to be dropped, before they drop it.
 * Returns false when the event was sent (the kernel dropped mmap_lock to
 * wait, so the caller looks the VMA up again), true otherwise.
 */
export function userfaultfdRemove(vma: Vma, start: number, end: number): boolean {
  const ctx = vma.vm_userfaultfd_ctx;
  if (!ctx || !(ctx.features & U.UFFD_FEATURE_EVENT_REMOVE)) return true;
  userfaultfdEventWaitCompletion(ctx, {
    event: U.UFFD_EVENT_REMOVE,
    arg: { remove: { start, end } },
  });
  return false;
}

/**
 * mremap_userfaultfd_prep(): a VMA that mremap() moves keeps its
 * registration only if its userfaultfd asked for UFFD_FEATURE_EVENT_REMAP;
 * returns that context (the caller sends the event at the end), or null,
 * in which case the moved VMA must be unregistered (see
 * userfaultfdResetCtx()) and uffd-wp bits dropped from the moved entries.
 */
export function mremapUserfaultfdPrep(vma: Vma): UserfaultfdCtx | null {
  const ctx = vma.vm_userfaultfd_ctx;
  return ctx && (ctx.features & U.UFFD_FEATURE_EVENT_REMAP) ? ctx : null;
}

/** userfaultfd_reset_ctx(): the VMA forgets its userfaultfd registration. */
export function userfaultfdResetCtx(vma: Vma): void {
  userfaultfdSetVmFlags(vma, 0);
  vma.vm_userfaultfd_ctx = null;
}

/** mremap_userfaultfd_complete(): UFFD_EVENT_REMAP from `from` to `to`, `len` bytes. */
export function mremapUserfaultfdComplete(
  ctx: UserfaultfdCtx | null,
  from: number,
  to: number,
  len: number,
): void {
  if (!ctx) return;
  userfaultfdEventWaitCompletion(ctx, {
    event: U.UFFD_EVENT_REMAP,
    arg: { remap: { from, to, len } },
  });
}

/** One pending UFFD_EVENT_UNMAP (struct userfaultfd_unmap_ctx). */
export interface UserfaultfdUnmapCtx {
  ctx: UserfaultfdCtx;
  start: number;
  end: number;
}

/**
 * userfaultfd_unmap_prep(): before an unmap of [start, end), note one
 * UFFD_EVENT_UNMAP for each userfaultfd (with UFFD_FEATURE_EVENT_UNMAP) that
 * a VMA in the range is registered with, once per context and range. The
 * event carries the whole range the caller unmaps, not the VMA's part.
 */
export function userfaultfdUnmapPrep(
  vmas: readonly Vma[],
  start: number,
  end: number,
  unmaps: UserfaultfdUnmapCtx[],
): void {
  for (const vma of vmas) {
    const ctx = vma.vm_userfaultfd_ctx;
    if (!ctx || !(ctx.features & U.UFFD_FEATURE_EVENT_UNMAP)) continue;
    if (unmaps.some((u) => u.ctx === ctx && u.start === start && u.end === end)) continue;
    unmaps.push({ ctx, start, end });
  }
}

/** userfaultfd_unmap_complete(): after the unmap, send the events noted. */
export function userfaultfdUnmapComplete(unmaps: readonly UserfaultfdUnmapCtx[]): void {
  for (const { ctx, start, end } of unmaps) {
    userfaultfdEventWaitCompletion(ctx, {
      event: U.UFFD_EVENT_UNMAP,
      arg: { remove: { start, end } },
    });
  }
}

// --- the facade object: one method per ioctl --------------------------------------

/** struct uffdio_range. */
export interface UffdioRange {
  start: number;
  len: number;
}

const U64 = 2 ** 64;

function u64(value: unknown, name: string, ioctl: string): number {
  if (typeof value === "bigint") value = Number(BigInt.asUintN(64, value));
  if (typeof value !== "number") {
    throw new TypeError(`${ioctl}: ${name} must be a number, got ${typeof value} ${String(value)}`);
  }
  if (!Number.isInteger(value) || value >= U64 || value <= -U64) {
    throw new RangeError(`${ioctl}: ${name} must be an integer below 2^64, got ${value}`);
  }
  return value < 0 ? U64 + value : value;
}

function struct(arg: unknown, ioctl: string): Record<string, unknown> {
  if (arg === null || typeof arg !== "object") {
    throw new TypeError(`${ioctl}: the argument must be an object, got ${String(arg)}`);
  }
  return arg as Record<string, unknown>;
}

function range(arg: unknown, ioctl: string): UffdioRange {
  const r = struct(arg, ioctl);
  return { start: u64(r.start, "range.start", ioctl), len: u64(r.len, "range.len", ioctl) };
}

function fail(ret: number, ioctl: string, result?: number): never {
  throw new Errno(errnoName(ret) ?? "EINVAL", ioctl, undefined, result);
}

/**
 * An open userfaultfd, as `Process.userfaultfd()` returns it. Each method
 * is one ioctl (or read(2)) and takes an object shaped like its C struct.
 * Set `handler` (or call onFault()) to resolve faults as they happen.
 */
export class Userfaultfd {
  /**
   * `holder` is the address space of the process whose file table holds
   * this file, so current->mm for its ioctls: the creator's, or for the
   * userfaultfd of a fork child (UFFD_EVENT_FORK) the monitor's.
   */
  constructor(readonly ctx: UserfaultfdCtx, readonly holder: MmStruct = ctx.mm) {}

  /** O_CLOEXEC, O_NONBLOCK and UFFD_USER_MODE_ONLY as passed to userfaultfd(2). */
  get flags(): number {
    return this.ctx.flags;
  }

  /** The fault handler: called with each fault's uffd_msg; the access then retries. */
  get handler(): UffdHandler | null {
    return this.ctx.handler;
  }
  set handler(fn: UffdHandler | null) {
    if (fn !== null && typeof fn !== "function") {
      throw new TypeError(`handler must be a function or null, got ${String(fn)}`);
    }
    this.ctx.handler = fn;
  }

  /** Sets the fault handler (same as assigning `handler`). */
  onFault(fn: UffdHandler | null): this {
    this.handler = fn;
    return this;
  }

  private running(ioctl: string): void {
    if (this.ctx.released) throw new Errno("EBADF", ioctl, "the userfaultfd is closed");
    if (this.ctx.mm.dead) throw new Errno("ESRCH", ioctl, "the address space is gone");
    if (this.ctx.state !== "UFFD_STATE_RUNNING") fail(E("EINVAL"), ioctl);
  }

  /**
   * The first check of userfaultfd_copy(), _zeropage(), _continue(),
   * _poison() and _move(): while a non-cooperative event is unread
   * (ctx->mmap_changing), fail with EAGAIN and -EAGAIN in the result field.
   */
  private notChanging(ioctl: string): void {
    if (this.ctx.mmapChanging) fail(E("EAGAIN"), ioctl, E("EAGAIN"));
  }

  /** UFFDIO_API: → { features, ioctls } (ioctls a bigint: it has bit 63). */
  api(arg: { api: number; features?: number }): { features: number; ioctls: bigint } {
    if (this.ctx.released) throw new Errno("EBADF", "UFFDIO_API", "the userfaultfd is closed");
    const a = struct(arg, "UFFDIO_API");
    const api = u64(a.api, "api", "UFFDIO_API");
    const features = u64(a.features ?? 0, "features", "UFFDIO_API");
    const capable = capableOf(this.ctx.owner);
    const ret = userfaultfdApi(this.ctx, api, features, capable);
    if (typeof ret === "number") fail(ret, "UFFDIO_API");
    return ret;
  }

  /** UFFDIO_REGISTER: → { ioctls }. */
  register(arg: { range: UffdioRange; mode: number }): { ioctls: number } {
    const a = struct(arg, "UFFDIO_REGISTER");
    const r = range(a.range, "UFFDIO_REGISTER");
    const mode = u64(a.mode, "mode", "UFFDIO_REGISTER");
    this.running("UFFDIO_REGISTER");
    const ret = userfaultfdRegister(this.ctx, r.start, r.len, mode);
    if (ret < 0) fail(ret, "UFFDIO_REGISTER");
    return { ioctls: ret };
  }

  /** UFFDIO_UNREGISTER (the argument is a struct uffdio_range). */
  unregister(arg: UffdioRange): 0 {
    const r = range(arg, "UFFDIO_UNREGISTER");
    this.running("UFFDIO_UNREGISTER");
    const ret = userfaultfdUnregister(this.ctx, r.start, r.len);
    if (ret < 0) fail(ret, "UFFDIO_UNREGISTER");
    return 0;
  }

  /** UFFDIO_WAKE. */
  wake(arg: UffdioRange): 0 {
    const r = range(arg, "UFFDIO_WAKE");
    this.running("UFFDIO_WAKE");
    const ret = validateRange(r.start, r.len);
    if (ret < 0) fail(ret, "UFFDIO_WAKE");
    wakeUserfault(this.ctx, r.start, r.len);
    return 0;
  }

  /** UFFDIO_COPY: → bytes copied (uffdio_copy.copy). */
  copy(arg: { dst: number; src: number; len: number; mode?: number }): number {
    const io = "UFFDIO_COPY";
    const a = struct(arg, io);
    const dst = u64(a.dst, "dst", io), src = u64(a.src, "src", io);
    const len = u64(a.len, "len", io), mode = u64(a.mode ?? 0, "mode", io);
    this.running(io);
    this.notChanging(io);
    let ret = validateUnalignedRange(src, len);
    if (!ret) ret = validateRange(dst, len);
    if (ret) fail(ret, io);
    if (mode & ~(U.UFFDIO_COPY_MODE_DONTWAKE | U.UFFDIO_COPY_MODE_WP)) fail(E("EINVAL"), io);
    const flags = mode & U.UFFDIO_COPY_MODE_WP ? MFILL_ATOMIC_WP : 0;
    return this.fill(io, "copy", dst, src, len, flags, mode & U.UFFDIO_COPY_MODE_DONTWAKE);
  }

  /** UFFDIO_ZEROPAGE: → bytes zero-filled (uffdio_zeropage.zeropage). */
  zeropage(arg: { range: UffdioRange; mode?: number }): number {
    const dontwake = U.UFFDIO_ZEROPAGE_MODE_DONTWAKE;
    return this.rangeFill("UFFDIO_ZEROPAGE", arg, "zeropage", dontwake, dontwake);
  }

  /** UFFDIO_POISON: → bytes poisoned (uffdio_poison.updated). */
  poison(arg: { range: UffdioRange; mode?: number }): number {
    const dontwake = U.UFFDIO_POISON_MODE_DONTWAKE;
    return this.rangeFill("UFFDIO_POISON", arg, "poison", dontwake, dontwake);
  }

  /** UFFDIO_CONTINUE: map what the page cache holds → bytes mapped (uffdio_continue.mapped). */
  continue(arg: { range: UffdioRange; mode?: number }): number {
    const dontwake = U.UFFDIO_CONTINUE_MODE_DONTWAKE, wp = U.UFFDIO_CONTINUE_MODE_WP;
    return this.rangeFill("UFFDIO_CONTINUE", arg, "continue", dontwake | wp, dontwake, wp);
  }

  /**
   * The ioctls whose struct is a `range` and a `mode` (ZEROPAGE, POISON,
   * CONTINUE): parse, check the state, mmap_changing, the range and the
   * mode bits (`modes` are the known ones), then mfill_atomic().
   */
  private rangeFill(
    io: string,
    arg: { range: UffdioRange; mode?: number },
    kind: MfillMode,
    modes: number,
    dontwakeBit: number,
    wpBit = 0,
  ): number {
    const a = struct(arg, io);
    const r = range(a.range, io), mode = u64(a.mode ?? 0, "mode", io);
    this.running(io);
    this.notChanging(io);
    const ret = validateRange(r.start, r.len);
    if (ret) fail(ret, io);
    if (mode & ~modes) fail(E("EINVAL"), io);
    const flags = mode & wpBit ? MFILL_ATOMIC_WP : 0;
    return this.fill(io, kind, r.start, 0, r.len, flags, mode & dontwakeBit);
  }

  /**
   * UFFDIO_MOVE: move anonymous pages from src to dst → bytes moved
   * (uffdio_move.move). userfaultfd_move() checks, in this order: the
   * caller's mm is the userfaultfd's (no cross-mm moves: -EINVAL), both
   * ranges page-aligned and in user space, no unknown mode bit; then
   * move_pages().
   */
  move(arg: { dst: number; src: number; len: number; mode?: number }): number {
    const io = "UFFDIO_MOVE";
    const a = struct(arg, io);
    const dst = u64(a.dst, "dst", io), src = u64(a.src, "src", io);
    const len = u64(a.len, "len", io), mode = u64(a.mode ?? 0, "mode", io);
    this.running(io);
    if (this.holder !== this.ctx.mm) fail(E("EINVAL"), io);
    this.notChanging(io);
    let ret = validateRange(dst, len);
    if (!ret) ret = validateRange(src, len);
    if (ret) fail(ret, io);
    if (mode & ~(U.UFFDIO_MOVE_MODE_ALLOW_SRC_HOLES | U.UFFDIO_MOVE_MODE_DONTWAKE)) {
      fail(E("EINVAL"), io);
    }
    ret = movePages(this.ctx, dst, src, len, mode, this.moveTrace ?? undefined);
    if (ret < 0) fail(ret, io, ret);
    if (!(mode & U.UFFDIO_MOVE_MODE_DONTWAKE)) wakeUserfault(this.ctx, dst, ret);
    if (ret !== len) fail(E("EAGAIN"), io, ret);
    return ret;
  }

  /** When set, receives each step of the next UFFDIO_MOVEs (for lessons; see movePages()). */
  moveTrace: ((e: MoveTraceEvent) => void) | null = null;

  /** UFFDIO_WRITEPROTECT: set (MODE_WP) or clear uffd-wp on a range. */
  writeprotect(arg: { range: UffdioRange; mode?: number }): 0 {
    const io = "UFFDIO_WRITEPROTECT";
    const a = struct(arg, io);
    const r = range(a.range, io), mode = u64(a.mode ?? 0, "mode", io);
    this.running(io);
    let ret = validateRange(r.start, r.len);
    if (ret) fail(ret, io);
    const known = U.UFFDIO_WRITEPROTECT_MODE_WP | U.UFFDIO_WRITEPROTECT_MODE_DONTWAKE;
    if (mode & ~known) fail(E("EINVAL"), io);
    const wp = (mode & U.UFFDIO_WRITEPROTECT_MODE_WP) !== 0;
    const dontwake = (mode & U.UFFDIO_WRITEPROTECT_MODE_DONTWAKE) !== 0;
    if (wp && dontwake) fail(E("EINVAL"), io);
    ret = mwriteprotectRange(this.ctx, r.start, r.len, wp);
    if (ret) fail(ret, io);
    if (!wp && !dontwake) wakeUserfault(this.ctx, r.start, r.len);
    return 0;
  }

  /**
   * The common tail of the mfill ioctls: run mfill_atomic(), wake the
   * range unless DONTWAKE, and turn a short count into -EAGAIN (the
   * result field still says how much was done).
   */
  private fill(
    io: string,
    kind: MfillMode,
    dst: number,
    src: number,
    len: number,
    flags: number,
    dontwake: number,
  ): number {
    const ret = mfillAtomic(this.ctx, kind, dst, src, len, flags);
    if (ret < 0) fail(ret, io, ret);
    if (!dontwake) wakeUserfault(this.ctx, dst, ret);
    if (ret !== len) fail(E("EAGAIN"), io, ret);
    return ret;
  }

  /**
   * read(2): the next message (pending page faults first, then events, as
   * userfaultfd_ctx_read() looks), or
   * null when none is queued (a blocking read would sleep; an O_NONBLOCK
   * one fails with EAGAIN).
   */
  read(): UffdMsg | null {
    if (this.ctx.released) throw new Errno("EBADF", "read", "the userfaultfd is closed");
    if (this.ctx.state !== "UFFD_STATE_RUNNING") throw new Errno("EINVAL", "read");
    const fault = this.ctx.faultPending.shift();
    if (fault) return fault;
    const event = this.ctx.events.shift();
    if (!event) return null;
    // userfaultfd_event_complete(): the waiting thread wakes and lowers
    // ctx->mmap_changing.
    this.ctx.mmapChanging--;
    return event;
  }

  /**
   * close(2): unregister every range of this userfaultfd (the faults
   * waiting on it are woken and will not trap again). EBADF the second time.
   */
  close(): 0 {
    if (this.ctx.released) throw new Errno("EBADF", "close", "the userfaultfd is closed");
    userfaultfdRelease(this.ctx);
    return 0;
  }
}

/** CAP_SYS_PTRACE, which the model equates with the owner's capSysAdmin. */
function capableOf(owner: UffdOwner): boolean {
  return owner.capSysAdmin;
}
