/**
 * Fault reports: the si_code, si_addr and si_addr_lsb of the SIGSEGV or
 * SIGBUS that ends a live child, which its exit status does not carry.
 *
 * JavaScript cannot handle a synchronous fault, so the handler is nine
 * x86-64 instructions (lib/live/machine_code.ts): they copy the
 * kernel's siginfo (128 bytes) behind an 8-byte tag and write both to a
 * file descriptor with one write(2), then return. The handler is installed
 * with SA_RESETHAND, so the access that faulted runs again on return,
 * faults again with the default action, and the child dies by the same
 * signal as before: the report adds to the exit status and changes nothing
 * else. The parent finds the record in the child's stderr
 * ({@link parseFaultReport}).
 *
 * Only x86-64 has the handler; on other machines
 * {@link installFaultReporter} says so and the differential comparison
 * falls back to the signal number (lib/live/normalize.ts, item 6).
 * @module
 */

import { mmap, pageSize, sigaction } from "./libc.ts";
import { MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE } from "./mman.ts";
import { Assembler, bytesAt, executable, machineCodeUnavailable } from "./machine_code.ts";
import { SI_CODE, type SiCode, type SignalName, SIGNO } from "../kernel/signal.ts";

/** The tag in front of each record: "mmlabSIG". */
export const FAULT_REPORT_TAG = new TextEncoder().encode("mmlabSIG");
/** sizeof(siginfo_t) on Linux. */
const SIGINFO_BYTES = 128;
/** One record: the tag, then the siginfo as the kernel delivered it. */
export const FAULT_REPORT_BYTES = FAULT_REPORT_TAG.length + SIGINFO_BYTES;

// glibc's struct sigaction on x86-64: handler, sa_mask (128 bytes),
// sa_flags, padding, sa_restorer (glibc fills in its own).
const SIGACTION_BYTES = 152;
const SA_FLAGS_OFFSET = 136;
const SA_SIGINFO = 0x4;
const SA_RESETHAND = 0x80000000;
const SYS_write = 1;

/** A decoded record: the fields of siginfo_t the kernel fills in for a memory fault. */
export interface FaultReport {
  signo: SignalName | number;
  code: SiCode | number;
  /** si_addr. */
  addr: number;
  /** si_addr_lsb, for BUS_MCEERR_AR and BUS_MCEERR_AO only. */
  addrLsb?: number;
}

/**
 * The handler's machine code. System V ABI: rdi = signo, rsi = siginfo *,
 * and the direction flag is clear (the kernel clears it on signal entry).
 */
function handlerCode(record: number, fd: number): number[] {
  return new Assembler()
    .op(0x48, 0xbf).imm64(record + FAULT_REPORT_TAG.length) // mov rdi, record + 8
    .op(0xb9).imm32(SIGINFO_BYTES) // mov ecx, 128
    .op(0xf3, 0xa4) // rep movsb: siginfo → record + 8
    .op(0xb8).imm32(SYS_write) // mov eax, SYS_write
    .op(0xbf).imm32(fd) // mov edi, fd
    .op(0x48, 0xbe).imm64(record) // mov rsi, record
    .op(0xba).imm32(FAULT_REPORT_BYTES) // mov edx, 136
    .op(0x0f, 0x05) // syscall
    .op(0xc3) // ret
    .bytes;
}

let installed: true | string | undefined;

/**
 * Install the handler for SIGSEGV and SIGBUS in this process, writing
 * records to `fd` (default stderr). Returns null once installed, or why it
 * cannot be (not x86-64, mmap or sigaction refused). Idempotent.
 */
export function installFaultReporter(fd = 2): string | null {
  if (installed !== undefined) return installed === true ? null : installed;
  const why = machineCodeUnavailable();
  if (why !== null) {
    installed = why;
    return installed;
  }
  try {
    // The record lives in a writable page of its own; the code in another.
    const record = mmap(0, pageSize(), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
    bytesAt(record, FAULT_REPORT_TAG.length).set(FAULT_REPORT_TAG);
    const handler = executable(handlerCode(record, fd));
    const act = new Uint8Array(SIGACTION_BYTES);
    const view = new DataView(act.buffer);
    view.setBigUint64(0, BigInt(handler), true);
    view.setUint32(SA_FLAGS_OFFSET, SA_SIGINFO | SA_RESETHAND, true);
    sigaction(SIGNO.SIGSEGV, act);
    sigaction(SIGNO.SIGBUS, act);
    installed = true;
    return null;
  } catch (e) {
    installed = `could not install the fault report handler: ${(e as Error).message}`;
    return installed;
  }
}

function nameOf<T extends string>(
  table: Record<T, number>,
  value: number,
  keep: (k: T) => boolean,
) {
  const hit = (Object.keys(table) as T[]).find((k) => table[k] === value && keep(k));
  return hit ?? value;
}

/** The last record in `bytes` (a child's stderr), decoded; null if there is none. */
export function parseFaultReport(bytes: Uint8Array): FaultReport | null {
  let at = -1;
  for (let i = bytes.length - FAULT_REPORT_BYTES; i >= 0 && at < 0; i--) {
    if (FAULT_REPORT_TAG.every((b, k) => bytes[i + k] === b)) at = i;
  }
  if (at < 0) return null;
  const info = new DataView(bytes.buffer, bytes.byteOffset + at + FAULT_REPORT_TAG.length);
  const signo = info.getInt32(0, true), code = info.getInt32(8, true);
  const signal = nameOf(SIGNO, signo, () => true);
  // si_code names are per signal: SEGV_* for SIGSEGV, BUS_* for SIGBUS.
  const prefix = signal === "SIGSEGV" ? "SEGV_" : signal === "SIGBUS" ? "BUS_" : "";
  const report: FaultReport = {
    signo: signal,
    code: nameOf(SI_CODE, code, (k) => k.startsWith(prefix) || k === "SI_KERNEL"),
    addr: Number(info.getBigUint64(16, true)),
  };
  if (signal === "SIGBUS" && (code === SI_CODE.BUS_MCEERR_AR || code === SI_CODE.BUS_MCEERR_AO)) {
    report.addrLsb = info.getInt16(24, true);
  }
  return report;
}
