/**
 * Linux errno numbers, by their kernel names.
 *
 * Mirrors include/uapi/asm-generic/errno-base.h (1–34) and
 * include/uapi/asm-generic/errno.h (35–133) as of v6.18; x86-64 and arm64 use
 * these generic values. Aliases (EWOULDBLOCK = EAGAIN, EDEADLOCK = EDEADLK,
 * ENOTSUP = EOPNOTSUPP) are left out so each number has exactly one name. The
 * kernel-internal codes (ERESTARTSYS = 512 …) never reach user space and are
 * left out too.
 * @module
 */

/** errno name → number (include/uapi/asm-generic/errno-base.h, errno.h). */
export const ERRNO = {
  // include/uapi/asm-generic/errno-base.h
  EPERM: 1,
  ENOENT: 2,
  ESRCH: 3,
  EINTR: 4,
  EIO: 5,
  ENXIO: 6,
  E2BIG: 7,
  ENOEXEC: 8,
  EBADF: 9,
  ECHILD: 10,
  EAGAIN: 11,
  ENOMEM: 12,
  EACCES: 13,
  EFAULT: 14,
  ENOTBLK: 15,
  EBUSY: 16,
  EEXIST: 17,
  EXDEV: 18,
  ENODEV: 19,
  ENOTDIR: 20,
  EISDIR: 21,
  EINVAL: 22,
  ENFILE: 23,
  EMFILE: 24,
  ENOTTY: 25,
  ETXTBSY: 26,
  EFBIG: 27,
  ENOSPC: 28,
  ESPIPE: 29,
  EROFS: 30,
  EMLINK: 31,
  EPIPE: 32,
  EDOM: 33,
  ERANGE: 34,
  // include/uapi/asm-generic/errno.h
  EDEADLK: 35,
  ENAMETOOLONG: 36,
  ENOLCK: 37,
  ENOSYS: 38,
  ENOTEMPTY: 39,
  ELOOP: 40,
  ENOMSG: 42,
  EIDRM: 43,
  ECHRNG: 44,
  EL2NSYNC: 45,
  EL3HLT: 46,
  EL3RST: 47,
  ELNRNG: 48,
  EUNATCH: 49,
  ENOCSI: 50,
  EL2HLT: 51,
  EBADE: 52,
  EBADR: 53,
  EXFULL: 54,
  ENOANO: 55,
  EBADRQC: 56,
  EBADSLT: 57,
  EBFONT: 59,
  ENOSTR: 60,
  ENODATA: 61,
  ETIME: 62,
  ENOSR: 63,
  ENONET: 64,
  ENOPKG: 65,
  EREMOTE: 66,
  ENOLINK: 67,
  EADV: 68,
  ESRMNT: 69,
  ECOMM: 70,
  EPROTO: 71,
  EMULTIHOP: 72,
  EDOTDOT: 73,
  EBADMSG: 74,
  EOVERFLOW: 75,
  ENOTUNIQ: 76,
  EBADFD: 77,
  EREMCHG: 78,
  ELIBACC: 79,
  ELIBBAD: 80,
  ELIBSCN: 81,
  ELIBMAX: 82,
  ELIBEXEC: 83,
  EILSEQ: 84,
  ERESTART: 85,
  ESTRPIPE: 86,
  EUSERS: 87,
  ENOTSOCK: 88,
  EDESTADDRREQ: 89,
  EMSGSIZE: 90,
  EPROTOTYPE: 91,
  ENOPROTOOPT: 92,
  EPROTONOSUPPORT: 93,
  ESOCKTNOSUPPORT: 94,
  EOPNOTSUPP: 95,
  EPFNOSUPPORT: 96,
  EAFNOSUPPORT: 97,
  EADDRINUSE: 98,
  EADDRNOTAVAIL: 99,
  ENETDOWN: 100,
  ENETUNREACH: 101,
  ENETRESET: 102,
  ECONNABORTED: 103,
  ECONNRESET: 104,
  ENOBUFS: 105,
  EISCONN: 106,
  ENOTCONN: 107,
  ESHUTDOWN: 108,
  ETOOMANYREFS: 109,
  ETIMEDOUT: 110,
  ECONNREFUSED: 111,
  EHOSTDOWN: 112,
  EHOSTUNREACH: 113,
  EALREADY: 114,
  EINPROGRESS: 115,
  ESTALE: 116,
  EUCLEAN: 117,
  ENOTNAM: 118,
  ENAVAIL: 119,
  EISNAM: 120,
  EREMOTEIO: 121,
  EDQUOT: 122,
  ENOMEDIUM: 123,
  EMEDIUMTYPE: 124,
  ECANCELED: 125,
  ENOKEY: 126,
  EKEYEXPIRED: 127,
  EKEYREVOKED: 128,
  EKEYREJECTED: 129,
  EOWNERDEAD: 130,
  ENOTRECOVERABLE: 131,
  ERFKILL: 132,
  EHWPOISON: 133,
} as const;

/** A kernel errno name such as `"ENOMEM"`. */
export type ErrnoName = keyof typeof ERRNO;

const NAME_OF_NUMBER: ReadonlyMap<number, ErrnoName> = new Map(
  (Object.entries(ERRNO) as [ErrnoName, number][]).map(([name, n]) => [n, name]),
);

/** The kernel name of errno `n`, or `"E<n>"` for a number outside the table. */
export function errnoName(n: number): string {
  return NAME_OF_NUMBER.get(n) ?? `E${n}`;
}

/**
 * A failed system call, the way a C program sees it: -1 and `errno`.
 *
 * Same shape as the simulator's `Errno` (lib/kernel/errno.ts), so scenario
 * code can catch either: `errno` is the name (`"EINVAL"`), `code` its number,
 * `syscall` the call with its arguments as the message shows them.
 */
export class Errno extends Error {
  override readonly name = "Errno";
  readonly errno: string;
  readonly code: number;
  readonly syscall: string;

  constructor(syscall: string, code: number, detail?: string) {
    const errno = errnoName(code);
    super(`${syscall}: ${errno}${detail ? ` (${detail})` : ""}`);
    this.errno = errno;
    this.code = code;
    this.syscall = syscall;
  }
}
