/**
 * userfaultfd on the host kernel: userfaultfd(2) and its ioctls through
 * Deno FFI, with the simulator's method names and struct shapes
 * (lib/userfaultfd/userfaultfd.ts `Userfaultfd`): `api`, `register`,
 * `unregister`, `wake`, `copy`, `zeropage`, `continue`, `writeprotect`,
 * `poison`, `move`, `read`, `close`.
 *
 * Each method lays out the C struct of include/uapi/linux/userfaultfd.h in
 * a buffer, calls ioctl(2) and reads the result field back. A failed ioctl
 * throws the same `Errno` as the simulator; where the struct has a result
 * field and it shows partial progress (bytes done before the error), the
 * Errno carries it as `result`.
 *
 * A fault in a range registered for MISSING or MINOR faults puts the
 * faulting thread to sleep until someone resolves it: never touch such a
 * range from the thread that would have to resolve it. lib/live/uffd_server.ts
 * serves faults from a worker thread for that.
 * @module
 */

import { Errno, errnoFromCode } from "./errno.ts";
import { close, ioctl, poll, POLLIN, read, userfaultfdSyscall } from "./libc.ts";
import * as U from "../userfaultfd/constants.ts";

/** struct uffdio_range. */
export interface UffdioRange {
  start: number;
  len: number;
}

/** struct uffd_msg as read from a live userfaultfd (the events v6.18 queues). */
export type LiveUffdMsg =
  | {
    event: typeof U.UFFD_EVENT_PAGEFAULT;
    arg: { pagefault: { flags: number; address: number; feat: { ptid: number } } };
  }
  | { event: typeof U.UFFD_EVENT_FORK; arg: { fork: { ufd: number } } }
  | { event: typeof U.UFFD_EVENT_REMAP; arg: { remap: { from: number; to: number; len: number } } }
  | {
    event: typeof U.UFFD_EVENT_REMOVE | typeof U.UFFD_EVENT_UNMAP;
    arg: { remove: { start: number; end: number } };
  };

/** sizeof(struct uffd_msg). */
export const UFFD_MSG_SIZE = 32;

/** A struct of `n` __u64 fields in a buffer the kernel reads and writes. */
class U64Struct {
  readonly bytes: Uint8Array;
  private readonly view: DataView;
  constructor(n: number) {
    this.bytes = new Uint8Array(8 * n);
    this.view = new DataView(this.bytes.buffer);
  }
  set(i: number, value: number | bigint): this {
    this.view.setBigUint64(8 * i, BigInt.asUintN(64, BigInt(value)), true);
    return this;
  }
  u64(i: number): bigint {
    return this.view.getBigUint64(8 * i, true);
  }
  s64(i: number): number {
    return Number(this.view.getBigInt64(8 * i, true));
  }
}

/** Decodes one struct uffd_msg (little-endian x86-64 layout). */
export function decodeUffdMsg(bytes: Uint8Array): LiveUffdMsg {
  const v = new DataView(bytes.buffer, bytes.byteOffset, UFFD_MSG_SIZE);
  const event = v.getUint8(0);
  const q = (off: number) => Number(v.getBigUint64(off, true));
  switch (event) {
    case U.UFFD_EVENT_PAGEFAULT:
      return {
        event,
        arg: { pagefault: { flags: q(8), address: q(16), feat: { ptid: v.getUint32(24, true) } } },
      };
    case U.UFFD_EVENT_FORK:
      return { event, arg: { fork: { ufd: v.getUint32(8, true) } } };
    case U.UFFD_EVENT_REMAP:
      return { event, arg: { remap: { from: q(8), to: q(16), len: q(24) } } };
    case U.UFFD_EVENT_REMOVE:
    case U.UFFD_EVENT_UNMAP:
      return { event, arg: { remove: { start: q(8), end: q(16) } } };
    default:
      throw new TypeError(`unknown uffd_msg event 0x${event.toString(16)}`);
  }
}

/** A userfaultfd of the calling process on the host kernel. */
export class LiveUserfaultfd {
  private closed = false;

  /** Wraps descriptor `fd` (from userfaultfd(2), or a UFFD_EVENT_FORK message). */
  constructor(readonly fd: number) {}

  /** userfaultfd(2) with `flags` (O_CLOEXEC, O_NONBLOCK, UFFD_USER_MODE_ONLY). */
  static open(flags = 0): LiveUserfaultfd {
    return new LiveUserfaultfd(userfaultfdSyscall(flags));
  }

  /** ioctl(2) on this fd; on failure the Errno carries `resultField` if it shows progress. */
  private call(request: number, s: U64Struct, name: string, resultField?: number): void {
    try {
      ioctl(this.fd, request, s.bytes, name);
    } catch (e) {
      if (e instanceof Errno && resultField !== undefined) {
        const done = s.s64(resultField);
        if (done > 0) throw new Errno(e.errno, e.syscall, e.message, done);
      }
      throw e;
    }
  }

  /** UFFDIO_API: → { features, ioctls } (ioctls a bigint: it has bit 63). */
  api(arg: { api: number; features?: number }): { features: number; ioctls: bigint } {
    const s = new U64Struct(3).set(0, arg.api).set(1, arg.features ?? 0);
    this.call(U.UFFDIO_API, s, "UFFDIO_API");
    return { features: Number(s.u64(1)), ioctls: s.u64(2) };
  }

  /** UFFDIO_REGISTER: → { ioctls }. */
  register(arg: { range: UffdioRange; mode: number }): { ioctls: number } {
    const s = new U64Struct(4).set(0, arg.range.start).set(1, arg.range.len).set(2, arg.mode);
    this.call(U.UFFDIO_REGISTER, s, "UFFDIO_REGISTER");
    return { ioctls: Number(s.u64(3)) };
  }

  /** UFFDIO_UNREGISTER (the argument is a struct uffdio_range). */
  unregister(arg: UffdioRange): 0 {
    this.call(U.UFFDIO_UNREGISTER, rangeStruct(arg), "UFFDIO_UNREGISTER");
    return 0;
  }

  /** UFFDIO_WAKE. */
  wake(arg: UffdioRange): 0 {
    this.call(U.UFFDIO_WAKE, rangeStruct(arg), "UFFDIO_WAKE");
    return 0;
  }

  /** UFFDIO_COPY: → bytes copied (uffdio_copy.copy). */
  copy(arg: { dst: number; src: number; len: number; mode?: number }): number {
    const s = new U64Struct(5).set(0, arg.dst).set(1, arg.src).set(2, arg.len)
      .set(3, arg.mode ?? 0);
    this.call(U.UFFDIO_COPY, s, "UFFDIO_COPY", 4);
    return s.s64(4);
  }

  /** UFFDIO_ZEROPAGE: → bytes zero-filled (uffdio_zeropage.zeropage). */
  zeropage(arg: { range: UffdioRange; mode?: number }): number {
    return this.rangeOp(U.UFFDIO_ZEROPAGE, "UFFDIO_ZEROPAGE", arg);
  }

  /** UFFDIO_POISON: → bytes poisoned (uffdio_poison.updated). */
  poison(arg: { range: UffdioRange; mode?: number }): number {
    return this.rangeOp(U.UFFDIO_POISON, "UFFDIO_POISON", arg);
  }

  /** UFFDIO_CONTINUE: map what the page cache holds → bytes mapped (uffdio_continue.mapped). */
  continue(arg: { range: UffdioRange; mode?: number }): number {
    return this.rangeOp(U.UFFDIO_CONTINUE, "UFFDIO_CONTINUE", arg);
  }

  /** UFFDIO_MOVE: move anonymous pages from src to dst → bytes moved (uffdio_move.move). */
  move(arg: { dst: number; src: number; len: number; mode?: number }): number {
    const s = new U64Struct(5).set(0, arg.dst).set(1, arg.src).set(2, arg.len)
      .set(3, arg.mode ?? 0);
    this.call(U.UFFDIO_MOVE, s, "UFFDIO_MOVE", 4);
    return s.s64(4);
  }

  /** UFFDIO_WRITEPROTECT: set (MODE_WP) or clear uffd-wp on a range. */
  writeprotect(arg: { range: UffdioRange; mode?: number }): 0 {
    const s = new U64Struct(3).set(0, arg.range.start).set(1, arg.range.len)
      .set(2, arg.mode ?? 0);
    this.call(U.UFFDIO_WRITEPROTECT, s, "UFFDIO_WRITEPROTECT");
    return 0;
  }

  /**
   * The next uffd_msg, or null when none is queued (poll(2) first, so this
   * never sleeps, as the simulator's read() never does).
   */
  read(): LiveUffdMsg | null {
    if (!(poll(this.fd, POLLIN, 0) & POLLIN)) return null;
    const buf = new Uint8Array(UFFD_MSG_SIZE);
    try {
      if (read(this.fd, buf) !== UFFD_MSG_SIZE) return null;
    } catch (e) {
      if (e instanceof Errno && e.errno === "EAGAIN") return null;
      throw e;
    }
    return decodeUffdMsg(buf);
  }

  /** close(2): the kernel's userfaultfd_release() unregisters every range. */
  close(): 0 {
    if (this.closed) throw errnoFromCode(9, "close", `userfaultfd ${this.fd} already closed`);
    this.closed = true;
    close(this.fd);
    return 0;
  }

  [Symbol.dispose](): void {
    if (!this.closed) this.close();
  }

  /** uffdio_zeropage / uffdio_continue / uffdio_poison: range, mode, result. */
  private rangeOp(
    request: number,
    name: string,
    arg: { range: UffdioRange; mode?: number },
  ): number {
    const s = new U64Struct(4).set(0, arg.range.start).set(1, arg.range.len)
      .set(2, arg.mode ?? 0);
    this.call(request, s, name, 3);
    return s.s64(3);
  }
}

function rangeStruct(r: UffdioRange): U64Struct {
  return new U64Struct(2).set(0, r.start).set(1, r.len);
}
