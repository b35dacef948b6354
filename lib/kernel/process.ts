/**
 * The process facade: system calls and memory accesses on one simulated
 * process, with the Linux ABI's arguments and results. Failures are thrown
 * as `Errno` (a syscall returned -1) or `Signal` (the access would kill the
 * process); arguments outside the ABI (not a number, not an integer, beyond
 * 64 bits) are a TypeError or RangeError that quotes the value.
 * @module
 */
import { Errno, type ErrnoName, errnoName } from "./errno.ts";
import { Signal } from "./signal.ts";
import * as C from "./constants.ts";
import type { Kernel } from "./kernel.ts";
import { File, type MmStruct } from "../mm/mm_types.ts";
import { doMmap, doMunmap } from "../mm/mmap.ts";
import { doMprotect } from "../mm/mprotect.ts";
import { doMremap } from "../mm/mremap.ts";
import { doMadvise } from "../mm/madvise.ts";
import { dupMmap } from "../mm/fork.ts";
import { shmemFileSetup, shmemMaybeEvict, shmemSetSize } from "../mm/shmem.ts";
import {
  decodePagemapEntry,
  doPagemapScan,
  type PagemapEntry,
  pagemapEntry,
  type PagemapScanResult,
  type PmScanArg,
} from "../proc/task_mmu.ts";
import { mmuAccess } from "../arch/x86/fault.ts";
import { exitMmap } from "../mm/exit.ts";
import {
  newUserfaultfd,
  type UffdOwner,
  Userfaultfd,
  type UserfaultfdCtx,
} from "../userfaultfd/userfaultfd.ts";

const U64_LIMIT = 2 ** 64;

/** A C `unsigned long`/`size_t` argument: negative values wrap as in C. */
function ulong(value: unknown, name: string, syscall: string): number {
  if (typeof value === "bigint") value = Number(BigInt.asUintN(64, value));
  if (typeof value !== "number") {
    throw new TypeError(
      `${syscall}: ${name} must be a number, got ${typeof value} ${String(value)}`,
    );
  }
  if (!Number.isInteger(value) || value >= U64_LIMIT || value <= -U64_LIMIT) {
    throw new RangeError(`${syscall}: ${name} must be an integer below 2^64, got ${value}`);
  }
  return value < 0 ? wrapNegative(value) : value;
}

/**
 * 2^64 + value for a negative `value`, as C converts it. Near 2^64 doubles
 * are 2048 apart, so the exact result may not be representable; where
 * rounding would make a page-unaligned value look aligned (-1 would become
 * 2^64), the neighbouring double on the side of the exact value is taken,
 * so that the syscalls' alignment checks see what the kernel sees.
 */
function wrapNegative(value: number): number {
  const exact = 2n ** 64n + BigInt(value);
  const near = Number(exact);
  if (exact % BigInt(C.PAGE_SIZE) === 0n || near % C.PAGE_SIZE !== 0) return near;
  const bits = new BigUint64Array(new Float64Array([near]).buffer);
  bits[0] += BigInt(near) < exact ? 1n : -1n;
  return new Float64Array(bits.buffer)[0];
}

/** A C `int` argument: an integer, truncated to 32 bits as a C call would. */
function cint(value: unknown, name: string, syscall: string): number {
  if (typeof value !== "number") {
    throw new TypeError(
      `${syscall}: ${name} must be a number, got ${typeof value} ${String(value)}`,
    );
  }
  if (!Number.isInteger(value) || Math.abs(value) >= U64_LIMIT) {
    throw new RangeError(`${syscall}: ${name} must be an integer, got ${value}`);
  }
  return Number(BigInt.asIntN(32, BigInt(value)));
}

/** Throws Errno for a negative kernel return value. */
function check(ret: number, syscall: string, detail?: string): number {
  if (ret < 0) throw new Errno(errnoName(ret) ?? ("EINVAL" as ErrnoName), syscall, detail);
  return ret;
}

/** Options of Kernel.spawn(). */
export interface SpawnOptions {
  /** task->comm, as printed in kernel log lines (default "a.out"). */
  comm?: string;
  /**
   * CAP_SYS_ADMIN: pagemap shows PFNs only to privileged readers, MADV_HWPOISON
   * needs it (default true).
   */
  capSysAdmin?: boolean;
}

/** An open file descriptor. */
interface Fd {
  file: File;
  cloexec: boolean;
}

/** A simulated process: its mm, its file table, and the facade's syscalls. */
export class Process {
  readonly files = new Map<number, Fd>();
  exited = false;

  constructor(
    readonly kernel: Kernel,
    readonly pid: number,
    readonly mm: MmStruct,
    readonly comm: string,
    readonly capSysAdmin: boolean,
  ) {}

  private alive(syscall: string): void {
    if (this.exited) throw new Errno("ESRCH", syscall, `process ${this.pid} has exited`);
  }

  /** mmap(2). Returns the mapping's address. */
  mmap(addr: number, length: number, prot: number, flags: number, fd = -1, offset = 0): number {
    const sc = "mmap";
    this.alive(sc);
    const a = ulong(addr, "addr", sc), len = ulong(length, "length", sc);
    const pr = cint(prot, "prot", sc), fl = cint(flags, "flags", sc);
    const fdn = cint(fd, "fd", sc), off = ulong(offset, "offset", sc);
    if (off % C.PAGE_SIZE) throw new Errno("EINVAL", sc, "offset not page aligned");
    let file: File | null = null;
    if (!(fl & C.MAP_ANONYMOUS)) {
      const f = this.files.get(fdn);
      if (!f) throw new Errno("EBADF", sc, `fd ${fdn}`);
      file = f.file;
    }
    const mm = this.mm;
    mm.mmap_lock.downWrite("mmap");
    try {
      return check(doMmap(mm, file, a, len, pr, fl, off / C.PAGE_SIZE), sc);
    } finally {
      mm.mmap_lock.upWrite();
    }
  }

  /** munmap(2). */
  munmap(addr: number, length: number): 0 {
    const sc = "munmap";
    this.alive(sc);
    const a = ulong(addr, "addr", sc), len = ulong(length, "length", sc);
    this.mm.mmap_lock.downWrite("munmap");
    try {
      check(doMunmap(this.mm, a, len), sc);
    } finally {
      this.mm.mmap_lock.upWrite();
    }
    return 0;
  }

  /**
   * mremap(2): shrink, grow or move the mapping at `oldAddress`; returns
   * the new address. `flags`: MREMAP_MAYMOVE, MREMAP_FIXED (then
   * `newAddress` is where), MREMAP_DONTUNMAP.
   */
  mremap(oldAddress: number, oldSize: number, newSize: number, flags = 0, newAddress = 0): number {
    const sc = "mremap";
    this.alive(sc);
    const a = ulong(oldAddress, "old_address", sc);
    const oldLen = ulong(oldSize, "old_size", sc), newLen = ulong(newSize, "new_size", sc);
    const f = ulong(flags, "flags", sc), to = ulong(newAddress, "new_address", sc);
    this.mm.mmap_lock.downWrite("mremap");
    let ret: number;
    try {
      ret = doMremap(this.mm, a, oldLen, newLen, f, to);
    } finally {
      this.mm.mmap_lock.upWrite();
    }
    check(ret, sc);
    return ret;
  }

  /** mprotect(2). */
  mprotect(addr: number, length: number, prot: number): 0 {
    const sc = "mprotect";
    this.alive(sc);
    const a = ulong(addr, "addr", sc), len = ulong(length, "length", sc);
    const pr = cint(prot, "prot", sc);
    this.mm.mmap_lock.downWrite("mprotect");
    try {
      check(doMprotect(this.mm, a, len, pr), sc);
    } finally {
      this.mm.mmap_lock.upWrite();
    }
    return 0;
  }

  /** madvise(2). */
  madvise(addr: number, length: number, advice: number): 0 {
    const sc = "madvise";
    this.alive(sc);
    const a = ulong(addr, "addr", sc), len = ulong(length, "length", sc);
    const adv = cint(advice, "advice", sc);
    this.mm.mmap_lock.downWrite("madvise");
    try {
      const task = { mm: this.mm, comm: this.comm, pid: this.pid, capSysAdmin: this.capSysAdmin };
      const { ret, detail, signal } = doMadvise(this.mm, a, len, adv, task);
      if (signal) throw signal;
      check(ret, sc, detail);
    } finally {
      this.mm.mmap_lock.upWrite();
    }
    return 0;
  }

  /**
   * Reads memory as the CPU would: one byte (`len` omitted) or `len` bytes.
   * May fault; throws Signal where the process would die.
   */
  read(addr: number): number;
  read(addr: number, len: number): Uint8Array;
  read(addr: number, len?: number): number | Uint8Array {
    this.alive("read");
    const a = ulong(addr, "addr", "read");
    if (len === undefined) return this.loadByte(a);
    const n = ulong(len, "len", "read");
    if (n > 1 << 30) throw new RangeError(`read: len ${n} is larger than 1 GiB`);
    const out = new Uint8Array(n);
    const m = this.kernel.core.memmap;
    for (let i = 0; i < n;) {
      // One translation per page, as a CPU's copy loop takes one fault per page.
      const pfn = mmuAccess(this.mm, a + i, false, this);
      const end = Math.min(n, i + C.PAGE_SIZE - ((a + i) % C.PAGE_SIZE));
      for (; i < end; i++) out[i] = m.readByte(pfn, (a + i) % C.PAGE_SIZE);
    }
    return out;
  }

  /**
   * Writes memory as the CPU would: one byte value (0-255) or the bytes of
   * a Uint8Array, starting at `addr`. May fault; throws Signal.
   */
  write(addr: number, data: number | Uint8Array): void {
    this.alive("write");
    const a = ulong(addr, "addr", "write");
    if (typeof data === "number") {
      if (!Number.isInteger(data) || data < 0 || data > 255) {
        throw new RangeError(`write: a byte value must be an integer 0-255, got ${data}`);
      }
      this.storeByte(a, data);
      return;
    }
    if (!(data instanceof Uint8Array)) {
      throw new TypeError(`write: data must be a byte value or a Uint8Array, got ${String(data)}`);
    }
    const m = this.kernel.core.memmap;
    for (let i = 0; i < data.length;) {
      const pfn = mmuAccess(this.mm, a + i, true, this);
      const end = Math.min(data.length, i + C.PAGE_SIZE - ((a + i) % C.PAGE_SIZE));
      for (; i < end; i++) m.writeByte(pfn, (a + i) % C.PAGE_SIZE, data[i]);
    }
  }

  private loadByte(addr: number): number {
    const pfn = mmuAccess(this.mm, addr, false, this);
    return this.kernel.core.memmap.readByte(pfn, addr % C.PAGE_SIZE);
  }

  private storeByte(addr: number, value: number): void {
    const pfn = mmuAccess(this.mm, addr, true, this);
    this.kernel.core.memmap.writeByte(pfn, addr % C.PAGE_SIZE, value);
  }

  /** fork(2): a child with a copy-on-write copy of this address space. */
  fork(): Process {
    this.alive("fork");
    // The child's userfaultfds (UFFD_FEATURE_EVENT_FORK) belong to the
    // child, which exists only once its mm does.
    let child: Process | null = null;
    const comm = this.comm, capSysAdmin = this.capSysAdmin;
    const owner: UffdOwner & { pid: number } = {
      get mm() {
        return child!.mm;
      },
      pid: 0,
      comm,
      capSysAdmin,
      pageOfUser: (addr: number) => child!.pageOfUser(addr),
    };
    child = this.kernel.forkProcess(this, (pid) => {
      owner.pid = pid;
      const mm = dupMmap(this.mm, pid, owner);
      if (!mm) throw new Errno("ENOMEM", "fork");
      if (typeof mm === "number") check(mm, "fork");
      return mm as MmStruct;
    });
    return child;
  }

  /**
   * userfaultfd(2): a new userfaultfd for this address space. `flags`:
   * O_CLOEXEC, O_NONBLOCK, UFFD_USER_MODE_ONLY.
   */
  userfaultfd(flags = 0): Userfaultfd {
    const sc = "userfaultfd";
    this.alive(sc);
    const fl = cint(flags, "flags", sc) >>> 0;
    if (!this.kernel.config.USERFAULTFD) throw new Errno("ENOSYS", sc);
    const ctx = newUserfaultfd(this, fl, this.capSysAdmin);
    if (typeof ctx === "number") check(ctx, sc);
    return new Userfaultfd(ctx as UserfaultfdCtx);
  }

  /**
   * The page frame behind `addr` as a user read reaches it (faulting it in
   * if needed): UFFDIO_COPY's copy_from_user() of its source page.
   */
  pageOfUser(addr: number): number {
    return mmuAccess(this.mm, addr, false, this);
  }

  /**
   * The /proc/pid/pagemap entry of the page holding `addr`, decoded, with
   * the raw 64-bit value as `raw`. Addresses past the user address space
   * (where the real file ends) read as the empty entry.
   */
  pagemap(addr: number): PagemapEntry {
    this.alive("pagemap");
    const a = ulong(addr, "addr", "pagemap");
    return decodePagemapEntry(pagemapEntry(this.mm, a, this.capSysAdmin));
  }

  /**
   * ioctl(pagemap_fd, PAGEMAP_SCAN, &arg) on this process's
   * /proc/pid/pagemap (fs/proc/task_mmu.c do_pagemap_scan()): the regions
   * of [start, end) whose pages match the category masks, each with its
   * categories & returnMask, and walk_end. With PM_SCAN_WP_MATCHING the
   * matching written pages are write-protected (uffd-wp) as they are
   * reported. `vecLen` is the length of the caller's page_region array: 0
   * means no array (vec NULL); omitted, one entry per page of the range.
   * `categoryInvertedMask` is accepted as another name of
   * `categoryInverted`; `walkEnd`, an output, is ignored on input.
   */
  pagemapScan(
    arg: PmScanArg & { categoryInvertedMask?: number; walkEnd?: number },
  ): PagemapScanResult {
    const sc = "ioctl(PAGEMAP_SCAN)";
    this.alive(sc);
    if (typeof arg !== "object" || arg === null) {
      throw new TypeError(`${sc}: arg must be a pm_scan_arg object, got ${String(arg)}`);
    }
    const field = (name: string, value: unknown, dflt: number) =>
      value === undefined ? dflt : ulong(value, name, sc);
    if (arg.categoryInverted !== undefined && arg.categoryInvertedMask !== undefined) {
      throw new TypeError(`${sc}: give categoryInverted or categoryInvertedMask, not both`);
    }
    const start = field("start", arg.start, NaN), end = field("end", arg.end, NaN);
    if (Number.isNaN(start) || Number.isNaN(end)) {
      throw new TypeError(`${sc}: start and end are required`);
    }
    const pages = end > start ? Math.ceil((end - start) / C.PAGE_SIZE) : 0;
    const { ret, regions, walkEnd } = doPagemapScan(this.mm, {
      flags: field("flags", arg.flags, 0),
      start,
      end,
      vecLen: field("vecLen", arg.vecLen, Math.max(1, pages)),
      maxPages: field("maxPages", arg.maxPages, 0),
      categoryInverted: field(
        "categoryInverted",
        arg.categoryInverted ?? arg.categoryInvertedMask,
        0,
      ),
      categoryMask: field("categoryMask", arg.categoryMask, 0),
      categoryAnyofMask: field("categoryAnyofMask", arg.categoryAnyofMask, 0),
      returnMask: field("returnMask", arg.returnMask, 0),
    });
    check(ret, sc);
    return { regions, walkEnd };
  }

  /** memfd_create(2): a new shmem file of size 0. Returns the fd. */
  memfdCreate(name: string, flags = 0): number {
    const sc = "memfd_create";
    this.alive(sc);
    if (typeof name !== "string") {
      throw new TypeError(`${sc}: name must be a string, got ${String(name)}`);
    }
    const fl = cint(flags, "flags", sc) >>> 0;
    const known = C.MFD_CLOEXEC | C.MFD_ALLOW_SEALING | C.MFD_HUGETLB | C.MFD_NOEXEC_SEAL |
      C.MFD_EXEC;
    if (fl & ~known) throw new Errno("EINVAL", sc, `unknown flags 0x${(fl & ~known).toString(16)}`);
    if ((fl & C.MFD_NOEXEC_SEAL) && (fl & C.MFD_EXEC)) throw new Errno("EINVAL", sc);
    if (fl & C.MFD_HUGETLB) throw new Errno("ENOMEM", sc, "no hugetlb pages reserved");
    if (new TextEncoder().encode(name).length > C.MFD_NAME_MAX_LEN) {
      throw new Errno("EINVAL", sc, "name too long");
    }
    const inode = shmemFileSetup(this.kernel.core, `memfd:${name}`, 0);
    return this.installFd(new File(inode, true, true), (fl & C.MFD_CLOEXEC) !== 0);
  }

  /**
   * ftruncate(2) on a shmem fd (do_sys_ftruncate(): the length is checked
   * before the fd). `length` is an off_t: values from 2^63 on wrap negative.
   */
  ftruncate(fd: number, length: number): 0 {
    const sc = "ftruncate";
    this.alive(sc);
    const fdn = cint(fd, "fd", sc);
    if (typeof length !== "number" || !Number.isInteger(length) || Math.abs(length) >= U64_LIMIT) {
      throw new RangeError(`${sc}: length must be a 64-bit integer, got ${String(length)}`);
    }
    if (length < 0 || length >= 2 ** 63) throw new Errno("EINVAL", sc, "negative length");
    const f = this.files.get(fdn);
    if (!f) throw new Errno("EBADF", sc, `fd ${fdn}`);
    if (!f.file.writable) throw new Errno("EINVAL", sc, "fd not open for writing");
    shmemSetSize(this.kernel.core, f.file.inode, length);
    return 0;
  }

  /** close(2). */
  close(fd: number): 0 {
    const fdn = cint(fd, "fd", "close");
    const f = this.files.get(fdn);
    if (!f) throw new Errno("EBADF", "close", `fd ${fdn}`);
    this.files.delete(fdn);
    this.dropFile(f.file);
    return 0;
  }

  /** exit(2): tear down the address space (exit_mmap) and leave. */
  exit(): void {
    if (this.exited) return;
    exitMmap(this.mm);
    for (const f of this.files.values()) this.dropFile(f.file);
    this.files.clear();
    this.exited = true;
    this.kernel.reap(this);
  }

  /** The mappings, one line each, as /proc/pid/maps prints them. */
  maps(): string {
    const hex = (n: number) => n.toString(16).padStart(8, "0");
    return this.mm.vmas.map((v) => {
      const perms = (v.vm_flags & 1 ? "r" : "-") + (v.vm_flags & 2 ? "w" : "-") +
        (v.vm_flags & 4 ? "x" : "-") + (v.vm_flags & 8 ? "s" : "p");
      const name = v.vm_file ? `/${v.vm_file.inode.name} (deleted)` : "";
      const off = v.vm_file ? v.vm_pgoff * C.PAGE_SIZE : 0;
      // Anonymous mappings have no device or inode (00:00 0); shmem files sit on one device.
      const dev = v.vm_file ? `00:01 ${v.vm_file.inode.ino}` : "00:00 0";
      return `${hex(v.vm_start)}-${hex(v.vm_end)} ${perms} ${hex(off)} ${dev} ${name}`.trimEnd();
    }).join("\n");
  }

  /** The resident-set counters of this mm, by kernel name. */
  rss(): Record<"MM_FILEPAGES" | "MM_ANONPAGES" | "MM_SWAPENTS" | "MM_SHMEMPAGES", number> {
    const r = this.mm.rss;
    return { MM_FILEPAGES: r[0], MM_ANONPAGES: r[1], MM_SWAPENTS: r[2], MM_SHMEMPAGES: r[3] };
  }

  private dropFile(file: File): void {
    file.inode.openFds--;
    shmemMaybeEvict(this.kernel.core, file.inode);
  }

  /** Lowest free descriptor number (as open() picks). */
  private installFd(file: File, cloexec: boolean): number {
    let fd = 3;
    while (this.files.has(fd)) fd++;
    this.files.set(fd, { file, cloexec });
    file.inode.openFds++;
    return fd;
  }

  /** Copies the file table into a child (fork shares the open files). */
  copyFilesTo(child: Process): void {
    for (const [fd, f] of this.files) {
      child.files.set(fd, { ...f });
      f.file.inode.openFds++;
    }
  }
}

export { Signal };
