/**
 * The live process facade: the simulator's `Process` methods (mmap, munmap,
 * mremap, mprotect, madvise, read, write, fork, pagemap, pagemapScan, userfaultfd,
 * memfdCreate, ftruncate, close)
 * with the same names, arguments and results, made on the host's real kernel
 * for the calling Deno process itself.
 *
 * Failures are thrown as the same `Errno` class as the simulator's. A memory
 * access that the kernel answers with SIGSEGV or SIGBUS kills the whole Deno
 * process, as it would kill a C program: run such scenarios through
 * {@link runLiveScenarios} (lib/live/differential.ts), which executes them
 * in a child Deno and reports the signal that ended it.
 * @module
 */

import {
  close,
  ftruncate,
  ioctl,
  madvise,
  memfdCreate,
  mmap,
  mprotect,
  mremap,
  munmap,
  open,
  pageSize,
  pread,
} from "./libc.ts";
import {
  decodePagemapEntry,
  type PagemapEntry,
  type PagemapScanResult,
  type PageRegion,
  type PmScanArg,
} from "../proc/task_mmu.ts";
import {
  PAGE_REGION_SIZE,
  PAGEMAP_SCAN,
  PM_ENTRY_BYTES,
  PM_SCAN_ARG_SIZE,
} from "../kernel/constants.ts";
import { LiveUserfaultfd } from "./userfaultfd.ts";
import { forkParked, type ParkedChild } from "./fork.ts";

/** The largest page_region array {@link LiveProcess.pagemapScan} allocates by default. */
export const LIVE_SCAN_DEFAULT_VEC_MAX = 1 << 20;

/** Where a process reads its own page-table entries (fs/proc/task_mmu.c). */
export const PROC_SELF_PAGEMAP = "/proc/self/pagemap";

/** The calling process, seen through the same system calls as a simulated `Process`. */
export class LiveProcess {
  private pagemapFd = -1;

  /** mmap(2). Returns the mapping's address. */
  mmap(addr: number, length: number, prot: number, flags: number, fd = -1, offset = 0): number {
    return mmap(addr, length, prot, flags, fd, offset);
  }

  /** mremap(2), with the simulator's argument order. Returns the (new) address. */
  mremap(oldAddress: number, oldSize: number, newSize: number, flags = 0, newAddress = 0): number {
    return mremap(oldAddress, oldSize, newSize, flags, newAddress);
  }

  /** munmap(2). */
  munmap(addr: number, length: number): 0 {
    munmap(addr, length);
    return 0;
  }

  /** mprotect(2). */
  mprotect(addr: number, length: number, prot: number): 0 {
    mprotect(addr, length, prot);
    return 0;
  }

  /** madvise(2). */
  madvise(addr: number, length: number, advice: number): 0 {
    madvise(addr, length, advice);
    return 0;
  }

  /**
   * Reads memory with the CPU: one byte (`len` omitted) or `len` bytes.
   * An access the kernel refuses kills this process (see the module note).
   */
  read(addr: number): number;
  read(addr: number, len: number): Uint8Array;
  read(addr: number, len?: number): number | Uint8Array {
    const view = new Deno.UnsafePointerView(pointer(addr));
    if (len === undefined) return view.getUint8();
    const out = new Uint8Array(len);
    view.copyInto(out);
    return out;
  }

  /** Writes one byte value (0-255) or the bytes of a Uint8Array at `addr`, with the CPU. */
  write(addr: number, data: number | Uint8Array): void {
    if (typeof data === "number") {
      if (!Number.isInteger(data) || data < 0 || data > 255) {
        throw new RangeError(`write: a byte value must be an integer 0-255, got ${data}`);
      }
      data = Uint8Array.of(data);
    }
    if (data.length === 0) return;
    const target = Deno.UnsafePointerView.getArrayBuffer(pointer(addr), data.length);
    new Uint8Array(target).set(data);
  }

  /**
   * The /proc/self/pagemap entry of the page holding `addr`, decoded by the
   * simulator's `decodePagemapEntry()` (PFNs read as 0 without CAP_SYS_ADMIN).
   */
  pagemap(addr: number): PagemapEntry {
    const buf = new Uint8Array(PM_ENTRY_BYTES);
    const got = pread(this.pagemapFdOpen(), buf, Math.floor(addr / pageSize()) * PM_ENTRY_BYTES);
    // Past the end of the user address space the file ends: no entry.
    const raw = got === buf.length ? new DataView(buf.buffer).getBigUint64(0, true) : 0n;
    return decodePagemapEntry(raw);
  }

  /**
   * ioctl(PAGEMAP_SCAN) on /proc/self/pagemap, with the simulator's
   * argument and result shapes (`Process.pagemapScan()`). `vecLen` omitted:
   * one page_region per page of the range, at most
   * {@link LIVE_SCAN_DEFAULT_VEC_MAX}; 0: no array (vec NULL).
   */
  pagemapScan(
    arg: PmScanArg & { categoryInvertedMask?: number; walkEnd?: number },
  ): PagemapScanResult {
    const pages = arg.end > arg.start ? Math.ceil((arg.end - arg.start) / pageSize()) : 0;
    const vecLen = arg.vecLen ?? Math.max(1, Math.min(pages, LIVE_SCAN_DEFAULT_VEC_MAX));
    const vec = new Uint8Array(vecLen * PAGE_REGION_SIZE);
    const s = new DataView(new ArrayBuffer(PM_SCAN_ARG_SIZE));
    const fields = [
      PM_SCAN_ARG_SIZE,
      arg.flags ?? 0,
      arg.start,
      arg.end,
      0,
      vecLen ? Deno.UnsafePointer.value(Deno.UnsafePointer.of(vec)) : 0,
      vecLen,
      arg.maxPages ?? 0,
      arg.categoryInverted ?? arg.categoryInvertedMask ?? 0,
      arg.categoryMask ?? 0,
      arg.categoryAnyofMask ?? 0,
      arg.returnMask ?? 0,
    ];
    fields.forEach((v, i) => s.setBigUint64(8 * i, BigInt.asUintN(64, BigInt(v)), true));
    const n = ioctl(this.pagemapFdOpen(), PAGEMAP_SCAN, new Uint8Array(s.buffer), "PAGEMAP_SCAN");
    const out = new DataView(vec.buffer);
    const regions: PageRegion[] = [];
    for (let i = 0; i < n; i++) {
      const q = (k: number) => Number(out.getBigUint64(i * PAGE_REGION_SIZE + 8 * k, true));
      regions.push({ start: q(0), end: q(1), categories: q(2) });
    }
    return { regions, walkEnd: Number(s.getBigUint64(32, true)) };
  }

  /** userfaultfd(2) for this process: a {@link LiveUserfaultfd}. */
  userfaultfd(flags = 0): LiveUserfaultfd {
    return LiveUserfaultfd.open(flags);
  }

  private pagemapFdOpen(): number {
    if (this.pagemapFd < 0) this.pagemapFd = open(PROC_SELF_PAGEMAP);
    return this.pagemapFd;
  }

  /** memfd_create(2): a new shmem file of size 0. Returns the fd. */
  memfdCreate(name: string, flags = 0): number {
    return memfdCreate(name, flags);
  }

  /** ftruncate(2). */
  ftruncate(fd: number, length: number): 0 {
    ftruncate(fd, length);
    return 0;
  }

  /** close(2). */
  close(fd: number): 0 {
    close(fd);
    return 0;
  }

  /**
   * fork(2). The child runs no code (lib/live/fork.ts): it keeps its copy
   * of the address space, so this process sees what fork did to its own
   * mappings, until the child's `exit()`.
   */
  fork(): ParkedChild {
    return forkParked();
  }

  /** Close /proc/self/pagemap if {@link pagemap} opened it. */
  [Symbol.dispose](): void {
    if (this.pagemapFd >= 0) close(this.pagemapFd);
    this.pagemapFd = -1;
  }
}

/** The calling process as a {@link LiveProcess} (needs `--allow-ffi`; /proc/self is read through libc). */
export function liveProcess(): LiveProcess {
  return new LiveProcess();
}

function pointer(addr: number): Deno.PointerObject {
  if (!Number.isSafeInteger(addr) || addr <= 0) {
    throw new RangeError(`address must be a positive safe integer, got ${addr}`);
  }
  return Deno.UnsafePointer.create(BigInt(addr))!;
}
