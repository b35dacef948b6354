/**
 * Signals a memory access can raise (include/uapi/asm-generic/siginfo.h) and
 * the `Signal` error thrown by the process facade where a real process would
 * be killed by one.
 * @module
 */

/** Signal numbers on x86-64. */
export const SIGNO = { SIGILL: 4, SIGBUS: 7, SIGKILL: 9, SIGSEGV: 11 } as const;
export type SignalName = keyof typeof SIGNO;

/** si_code values for SIGSEGV and SIGBUS. */
export const SI_CODE = {
  SEGV_MAPERR: 1,
  SEGV_ACCERR: 2,
  SEGV_PKUERR: 4,
  BUS_ADRALN: 1,
  BUS_ADRERR: 2,
  BUS_OBJERR: 3,
  BUS_MCEERR_AR: 4,
  BUS_MCEERR_AO: 5,
  SI_KERNEL: 0x80,
} as const;
export type SiCode = keyof typeof SI_CODE;

/**
 * A fatal signal delivered for a memory access: `signo` and `code` by name,
 * `addr` the faulting address (si_addr), `addrLsb` for BUS_MCEERR_* (the
 * si_addr_lsb field: log2 of the poisoned range).
 */
export class Signal extends Error {
  readonly signo: SignalName;
  readonly code: SiCode;
  readonly addr: number;
  readonly addrLsb: number | undefined;

  constructor(signo: SignalName, code: SiCode, addr: number, addrLsb?: number) {
    const lsb = addrLsb === undefined ? "" : ` addr_lsb=${addrLsb}`;
    super(`${signo} (${code}) at 0x${addr.toString(16)}${lsb}`);
    this.name = "Signal";
    this.signo = signo;
    this.code = code;
    this.addr = addr;
    this.addrLsb = addrLsb;
  }

  /** The signal number, e.g. 7 for SIGBUS. */
  get signum(): number {
    return SIGNO[this.signo];
  }

  /** The numeric si_code. */
  get siCode(): number {
    return SI_CODE[this.code];
  }
}

/**
 * An access that would block on a userfaultfd that has no handler: instead
 * of hanging, the model throws this, naming the address.
 */
export class Blocked extends Error {
  readonly addr: number;
  constructor(addr: number, why: string) {
    super(`access at 0x${addr.toString(16)} would block: ${why}`);
    this.name = "Blocked";
    this.addr = addr;
  }
}
