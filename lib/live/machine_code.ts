/**
 * A few x86-64 instructions where JavaScript cannot go: a signal handler
 * (lib/live/fault_report.ts) and a fork whose child runs no JavaScript
 * (lib/live/fork.ts). The bytes are assembled here by hand, one commented
 * instruction per line, and placed in a page of their own that is made
 * read-only and executable before use.
 * @module
 */

import { mmap, mprotect, pageSize } from "./libc.ts";
import { MAP_ANONYMOUS, MAP_PRIVATE, PROT_EXEC, PROT_READ, PROT_WRITE } from "./mman.ts";

/** Why this machine cannot run the kit's x86-64 code, or null if it can. */
export function machineCodeUnavailable(): string | null {
  return Deno.build.arch === "x86_64"
    ? null
    : `the kit's hand-assembled code is x86-64; this machine is ${Deno.build.arch}`;
}

/** Bytes of an instruction stream, with the little-endian immediates x86-64 uses. */
export class Assembler {
  readonly bytes: number[] = [];

  /** Opcode bytes as they are. */
  op(...b: number[]): this {
    this.bytes.push(...b);
    return this;
  }

  imm32(v: number): this {
    this.bytes.push(v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff);
    return this;
  }

  imm64(v: number): this {
    const b = new DataView(new ArrayBuffer(8));
    b.setBigUint64(0, BigInt(v), true);
    this.bytes.push(...new Uint8Array(b.buffer));
    return this;
  }

  /** The offset the next byte will have (for jumps). */
  get here(): number {
    return this.bytes.length;
  }
}

/** A byte view of `length` bytes at `addr`. */
export function bytesAt(addr: number, length: number): Uint8Array {
  const ptr = Deno.UnsafePointer.create(BigInt(addr));
  if (ptr === null) throw new RangeError("bytesAt: a null address");
  return new Uint8Array(Deno.UnsafePointerView.getArrayBuffer(ptr, length));
}

/** Place `code` in a fresh page, make it read-only and executable, return its address. */
export function executable(code: Uint8Array | number[]): number {
  const page = pageSize();
  if (code.length > page) throw new RangeError(`executable: ${code.length} bytes is over a page`);
  const addr = mmap(0, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
  bytesAt(addr, page).set(code);
  mprotect(addr, page, PROT_READ | PROT_EXEC);
  return addr;
}
