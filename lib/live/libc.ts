/**
 * A small typed binding to the host's libc through Deno FFI: the memory
 * system calls the live-kernel lab needs (mmap, munmap, mprotect, madvise,
 * memfd_create, ftruncate, close, open, pread, read, poll, ioctl, and
 * syscall(2) for userfaultfd), sysconf for the page size, and errno.
 *
 * Failures are thrown as {@link Errno} naming the errno (`ENOMEM`), the way a C
 * program sees -1 and errno. Addresses and lengths are plain numbers (user
 * addresses on x86-64 and arm64 fit in 2^53); FFI's 64-bit C types are
 * bigint, so the wrappers convert.
 *
 * libc is opened on first use, so importing this module needs no permission;
 * calling it needs `--allow-ffi`. {@link ffiStatus} says whether it can be used
 * and, if not, why.
 * @module
 */

import { errnoFromCode } from "./errno.ts";
import {
  madvName,
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  mapNames,
  PROT_READ,
  PROT_WRITE,
  protNames,
} from "./mman.ts";

/** The libc symbols this module calls, with their C prototypes. */
const LIBC_SYMBOLS = {
  // void *mmap(void *addr, size_t length, int prot, int flags, int fd, off_t offset);
  mmap: { parameters: ["usize", "usize", "i32", "i32", "i32", "i64"], result: "isize" },
  // void *mremap(void *old_address, size_t old_size, size_t new_size, int flags, ... /* void *new_address */);
  mremap: { parameters: ["usize", "usize", "usize", "i32", "usize"], result: "isize" },
  // int munmap(void *addr, size_t length);
  munmap: { parameters: ["usize", "usize"], result: "i32" },
  // int mprotect(void *addr, size_t length, int prot);
  mprotect: { parameters: ["usize", "usize", "i32"], result: "i32" },
  // int madvise(void *addr, size_t length, int advice);
  madvise: { parameters: ["usize", "usize", "i32"], result: "i32" },
  // int memfd_create(const char *name, unsigned int flags);
  memfd_create: { parameters: ["buffer", "u32"], result: "i32" },
  // int ftruncate(int fd, off_t length);
  ftruncate: { parameters: ["i32", "i64"], result: "i32" },
  // int close(int fd);
  close: { parameters: ["i32"], result: "i32" },
  // int open(const char *pathname, int flags, mode_t mode);
  open: { parameters: ["buffer", "i32", "u32"], result: "i32" },
  // ssize_t pread(int fd, void *buf, size_t count, off_t offset);
  pread: { parameters: ["i32", "buffer", "usize", "i64"], result: "isize" },
  // ssize_t read(int fd, void *buf, size_t count);
  read: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  // int poll(struct pollfd *fds, nfds_t nfds, int timeout);
  poll: { parameters: ["buffer", "u64", "i32"], result: "i32" },
  // int ioctl(int fd, unsigned long request, void *arg);
  ioctl: { parameters: ["i32", "u64", "buffer"], result: "i32" },
  // long syscall(long number, long arg);  (one-argument system calls: userfaultfd)
  syscall: { parameters: ["i64", "i64"], result: "i64" },
  // int sigaction(int signum, const struct sigaction *act, struct sigaction *oldact);
  sigaction: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  // int kill(pid_t pid, int sig);
  kill: { parameters: ["i32", "i32"], result: "i32" },
  // pid_t waitpid(pid_t pid, int *wstatus, int options);
  waitpid: { parameters: ["i32", "buffer", "i32"], result: "i32" },
  // unsigned int getuid(void);
  geteuid: { parameters: [], result: "u32" },
  // long sysconf(int name);
  sysconf: { parameters: ["i32"], result: "i64" },
  // int *__errno_location(void);  (glibc: the calling thread's errno)
  __errno_location: { parameters: [], result: "pointer" },
  // char *strerror(int errnum);
  strerror: { parameters: ["i32"], result: "pointer" },
} as const satisfies Deno.ForeignLibraryInterface;

type Libc = Deno.DynamicLibrary<typeof LIBC_SYMBOLS>["symbols"];

/** The file name dlopen(3) resolves to the C library on glibc systems. */
export const LIBC_SONAME = "libc.so.6";

/** sysconf(3) names (glibc's bits/confname.h values, not kernel ones). */
export const _SC_PAGESIZE = 30;
export const _SC_NPROCESSORS_ONLN = 84;
export const _SC_PHYS_PAGES = 85;

/** Raised when libc cannot be reached through FFI; `reason` says why. */
export class FfiUnavailable extends Error {
  override readonly name = "FfiUnavailable";
  constructor(readonly reason: string) {
    super(`libc is not usable through Deno FFI: ${reason}`);
  }
}

/** Whether libc can be called, and if not, why (no Linux, no `--allow-ffi`, …). */
export type FfiStatus = { usable: true } | { usable: false; reason: string };

let opened: { libc: Libc } | { reason: string } | undefined;

/** Open libc once; remember the failure reason instead of throwing it each time. */
function openLibc(): { libc: Libc } | { reason: string } {
  if (opened) return opened;
  if (Deno.build.os !== "linux") {
    opened = { reason: `the host OS is ${Deno.build.os}, the live lab needs Linux` };
    return opened;
  }
  const permission = Deno.permissions.querySync({ name: "ffi" }).state;
  if (permission !== "granted") {
    // Do not leave a prompt behind: report and let the caller decide.
    opened = { reason: `FFI permission is "${permission}" (run with --allow-ffi or -A)` };
    return opened;
  }
  try {
    opened = { libc: Deno.dlopen(LIBC_SONAME, LIBC_SYMBOLS).symbols };
  } catch (e) {
    opened = { reason: `dlopen("${LIBC_SONAME}") failed: ${(e as Error).message}` };
  }
  return opened;
}

/** The opened libc symbols; throws {@link FfiUnavailable} if there are none. */
function libc(): Libc {
  const o = openLibc();
  if ("reason" in o) throw new FfiUnavailable(o.reason);
  return o.libc;
}

/** Whether libc is callable through FFI in this process (never throws). */
export function ffiStatus(): FfiStatus {
  const o = openLibc();
  return "reason" in o ? { usable: false, reason: o.reason } : { usable: true };
}

/** sigaction(2) with glibc's `struct sigaction` in `act` (152 bytes on x86-64); throws Errno. */
export function sigaction(signum: number, act: Uint8Array): void {
  check(libc().sigaction(signum, act, null), () => `sigaction(${signum})`);
}

/** kill(2); throws Errno. */
export function kill(pid: number, sig: number): void {
  check(libc().kill(pid, sig), () => `kill(${pid}, ${sig})`);
}

/** waitpid(2) for `pid`; returns the raw wait status. Throws Errno. */
export function waitpid(pid: number): number {
  const status = new Int32Array(1);
  check(libc().waitpid(pid, new Uint8Array(status.buffer), 0), () => `waitpid(${pid})`);
  return status[0];
}

/** The calling thread's errno (glibc's `*__errno_location()`). */
export function errno(): number {
  const p = libc().__errno_location();
  if (p === null) throw new FfiUnavailable("__errno_location() returned NULL");
  return new Deno.UnsafePointerView(p).getInt32();
}

/** strerror(3): the C library's text for errno `n`. */
export function strerror(n: number): string {
  const p = libc().strerror(n);
  return p === null ? `errno ${n}` : Deno.UnsafePointerView.getCString(p);
}

/**
 * Turn a C return value of -1 into a thrown {@link Errno}.
 *
 * errno is read right after the call, before anything else runs in JavaScript
 * that could make a failing libc call of its own on this thread.
 */
function check(ret: number | bigint, call: () => string): void {
  if (ret !== -1 && ret !== -1n) return;
  const n = errno();
  throw errnoFromCode(n, call(), strerror(n));
}

/** `0x…` for addresses in messages, the way strace shows them. */
function hex(n: number): string {
  return `0x${n.toString(16)}`;
}

/** A caller's bad number (outside the syscall ABI) is a RangeError quoting it. */
function assertUlong(what: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(`${what} must be a non-negative safe integer, got ${value}`);
  }
}

/**
 * mmap(2). Returns the address of the new mapping; throws {@link Errno}
 * (the kernel's EINVAL, ENOMEM, …) where C would get MAP_FAILED.
 */
export function mmap(
  addr: number,
  length: number,
  prot: number,
  flags: number,
  fd = -1,
  offset = 0,
): number {
  assertUlong("mmap addr", addr);
  assertUlong("mmap length", length);
  const ret = libc().mmap(BigInt(addr), BigInt(length), prot, flags, fd, BigInt(offset));
  check(
    ret,
    () => `mmap(${hex(addr)}, ${length}, ${protNames(prot)}, ${mapNames(flags)}, ${fd}, ${offset})`,
  );
  return Number(ret);
}

/** munmap(2); throws {@link Errno} on failure. */
export function munmap(addr: number, length: number): void {
  assertUlong("munmap addr", addr);
  assertUlong("munmap length", length);
  check(libc().munmap(BigInt(addr), BigInt(length)), () => `munmap(${hex(addr)}, ${length})`);
}

/** mremap(2) (new_address passed whatever the flags); returns the new address, throws Errno. */
export function mremap(
  oldAddress: number,
  oldSize: number,
  newSize: number,
  flags: number,
  newAddress = 0,
): number {
  assertUlong("mremap old_address", oldAddress);
  assertUlong("mremap new_address", newAddress);
  const ret = libc().mremap(
    BigInt(oldAddress),
    BigInt(oldSize),
    BigInt(newSize),
    flags,
    BigInt(newAddress),
  );
  check(
    ret,
    () => `mremap(${hex(oldAddress)}, ${oldSize}, ${newSize}, ${flags}, ${hex(newAddress)})`,
  );
  return Number(ret);
}

/** mprotect(2); throws {@link Errno} on failure. */
export function mprotect(addr: number, length: number, prot: number): void {
  assertUlong("mprotect addr", addr);
  assertUlong("mprotect length", length);
  check(
    libc().mprotect(BigInt(addr), BigInt(length), prot),
    () => `mprotect(${hex(addr)}, ${length}, ${protNames(prot)})`,
  );
}

/** madvise(2); throws {@link Errno} on failure. */
export function madvise(addr: number, length: number, advice: number): void {
  assertUlong("madvise addr", addr);
  assertUlong("madvise length", length);
  check(
    libc().madvise(BigInt(addr), BigInt(length), advice),
    () => `madvise(${hex(addr)}, ${length}, ${madvName(advice)})`,
  );
}

/** memfd_create(2): a new anonymous shmem file; returns its descriptor. */
export function memfdCreate(name: string, flags = 0): number {
  const cName = new TextEncoder().encode(name + "\0");
  const fd = libc().memfd_create(cName, flags >>> 0);
  check(fd, () => `memfd_create(${JSON.stringify(name)}, 0x${(flags >>> 0).toString(16)})`);
  return fd;
}

/** ftruncate(2); throws {@link Errno} on failure. */
export function ftruncate(fd: number, length: number): void {
  check(libc().ftruncate(fd, BigInt(length)), () => `ftruncate(${fd}, ${length})`);
}

/** close(2); throws {@link Errno} on failure. */
export function close(fd: number): void {
  check(libc().close(fd), () => `close(${fd})`);
}

/** open(2) flags used here (include/uapi/asm-generic/fcntl.h). */
export const O_RDONLY = 0o0;
export const O_CLOEXEC = 0o2000000;

/**
 * open(2) read-only; returns the descriptor. Through libc rather than
 * Deno.open, so that /proc/self files need only `--allow-ffi`.
 */
export function open(path: string, flags = O_RDONLY | O_CLOEXEC): number {
  const fd = libc().open(new TextEncoder().encode(path + "\0"), flags, 0);
  check(fd, () => `open(${JSON.stringify(path)}, 0o${flags.toString(8)})`);
  return fd;
}

/** pread(2) into `buf` from file offset `offset`; returns the bytes read (0 at the end). */
export function pread(fd: number, buf: Uint8Array, offset: number): number {
  const ret = libc().pread(fd, buf, BigInt(buf.length), BigInt(offset));
  check(ret, () => `pread(${fd}, ${buf.length}, ${offset})`);
  return Number(ret);
}

/** The whole contents of a (/proc) file, read with open(2) and pread(2). */
export function readProcFile(path: string): Uint8Array {
  const fd = open(path);
  try {
    const chunks: Uint8Array[] = [];
    let offset = 0;
    for (;;) {
      const buf = new Uint8Array(65536);
      const n = pread(fd, buf, offset);
      if (n === 0) break;
      chunks.push(buf.subarray(0, n));
      offset += n;
    }
    const out = new Uint8Array(offset);
    let at = 0;
    for (const c of chunks) {
      out.set(c, at);
      at += c.length;
    }
    return out;
  } finally {
    close(fd);
  }
}

/** read(2) into `buf`; returns the bytes read. */
export function read(fd: number, buf: Uint8Array): number {
  const ret = libc().read(fd, buf, BigInt(buf.length));
  check(ret, () => `read(${fd}, ${buf.length})`);
  return Number(ret);
}

/** POLLIN, from include/uapi/asm-generic/poll.h. */
export const POLLIN = 0x1;

/**
 * poll(2) on one descriptor for `events`: the revents, 0 after `timeoutMs`
 * milliseconds without any.
 */
export function poll(fd: number, events: number, timeoutMs: number): number {
  // struct pollfd { int fd; short events; short revents; }
  const pfd = new DataView(new ArrayBuffer(8));
  pfd.setInt32(0, fd, true);
  pfd.setInt16(4, events, true);
  const ret = libc().poll(new Uint8Array(pfd.buffer), 1n, timeoutMs);
  check(ret, () => `poll(${fd}, ${events}, ${timeoutMs})`);
  return pfd.getInt16(6, true);
}

/**
 * ioctl(2) with a pointer to `arg` (the struct, read and written in place);
 * returns the ioctl's non-negative result. `name` is used in error messages.
 */
export function ioctl(fd: number, request: number, arg: Uint8Array, name: string): number {
  const ret = libc().ioctl(fd, BigInt(request), arg);
  check(ret, () => `ioctl(${fd}, ${name})`);
  return ret;
}

/** __NR_userfaultfd on x86-64 (arch/x86/entry/syscalls/syscall_64.tbl). */
export const NR_userfaultfd = 323;

/** userfaultfd(2) through syscall(2): returns the new descriptor. */
export function userfaultfdSyscall(flags: number): number {
  const ret = libc().syscall(BigInt(NR_userfaultfd), BigInt(flags));
  check(ret, () => `userfaultfd(0x${flags.toString(16)})`);
  return Number(ret);
}

/** geteuid(2): 0 for root. */
export function geteuid(): number {
  return libc().geteuid();
}

/** sysconf(3); throws {@link Errno} if the name is unknown to libc. */
export function sysconf(name: number): number {
  const ret = libc().sysconf(name);
  check(ret, () => `sysconf(${name})`);
  return Number(ret);
}

let cachedPageSize: number | undefined;

/** The base page size, sysconf(_SC_PAGESIZE) (4096 on x86-64). */
export function pageSize(): number {
  cachedPageSize ??= sysconf(_SC_PAGESIZE);
  return cachedPageSize;
}

/** Options of {@link mapAnonymous}. */
export interface MapAnonymousOptions {
  /** Page protection; default PROT_READ | PROT_WRITE. */
  prot?: number;
  /** Extra mmap flags OR-ed into MAP_PRIVATE | MAP_ANONYMOUS (e.g. MAP_POPULATE). */
  flags?: number;
  /** madvise advice applied to the whole region right after mmap (e.g. MADV_NOHUGEPAGE). */
  advice?: number[];
}

/**
 * An anonymous private mapping and a byte view over it. Writing
 * `view[i * pageSize()] = 1` touches page i for real: the first write to each
 * page takes a page fault in the host kernel.
 *
 * Accessing the view where the protection forbids it (PROT_NONE, or a write
 * to PROT_READ) raises SIGSEGV and kills the whole Deno process; run such
 * scenarios in a child process. After {@link unmap} the view is detached
 * (length 0), so a stale view cannot touch unmapped memory.
 */
export interface AnonRegion extends Disposable {
  readonly addr: number;
  readonly length: number;
  readonly view: Uint8Array;
  /** munmap the region (idempotent). */
  unmap(): void;
}

/**
 * mmap an anonymous private region of `length` bytes (a multiple of the page
 * size is not required; the kernel rounds up) and return it with a Uint8Array
 * view over it. Use with `using` or call `unmap()`.
 */
export function mapAnonymous(length: number, options: MapAnonymousOptions = {}): AnonRegion {
  const prot = options.prot ?? (PROT_READ | PROT_WRITE);
  const flags = MAP_PRIVATE | MAP_ANONYMOUS | (options.flags ?? 0);
  const addr = mmap(0, length, prot, flags);
  try {
    for (const advice of options.advice ?? []) madvise(addr, length, advice);
  } catch (e) {
    munmap(addr, length);
    throw e;
  }
  const buffer = Deno.UnsafePointerView.getArrayBuffer(
    Deno.UnsafePointer.create(BigInt(addr))!,
    length,
  );
  let mapped = true;
  const unmap = () => {
    if (!mapped) return;
    mapped = false;
    buffer.transfer(0); // detach every view before the memory goes away
    munmap(addr, length);
  };
  return { addr, length, view: new Uint8Array(buffer), unmap, [Symbol.dispose]: unmap };
}
