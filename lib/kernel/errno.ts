/**
 * errno values (include/uapi/asm-generic/errno-base.h, errno.h) and the
 * `Errno` error that the process facade throws where a C program would see
 * -1 and errno.
 * @module
 */

/** errno names and numbers as on x86-64 Linux. */
export const ERRNO = {
  EPERM: 1,
  ENOENT: 2,
  ESRCH: 3,
  EINTR: 4,
  EIO: 5,
  ENXIO: 6,
  E2BIG: 7,
  EBADF: 9,
  EAGAIN: 11,
  ENOMEM: 12,
  EACCES: 13,
  EFAULT: 14,
  EBUSY: 16,
  EEXIST: 17,
  EXDEV: 18,
  ENODEV: 19,
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
  ERANGE: 34,
  ENOSYS: 38,
  EOVERFLOW: 75,
  EOPNOTSUPP: 95,
  EHWPOISON: 133,
} as const;

/** An errno name such as `"EINVAL"`. */
export type ErrnoName = keyof typeof ERRNO;

/**
 * A failed system call: `errno` is the name (`"EEXIST"`), `code` its number.
 * Where the ioctl struct has a result field (bytes done, or -errno), `result`
 * carries it, so partial progress is visible to the caller.
 */
export class Errno extends Error {
  readonly errno: ErrnoName;
  readonly code: number;
  readonly syscall: string;
  readonly result: number | undefined;

  constructor(errno: ErrnoName, syscall: string, detail?: string, result?: number) {
    super(`${syscall}: ${errno}${detail ? ` (${detail})` : ""}`);
    this.name = "Errno";
    this.errno = errno;
    this.code = ERRNO[errno];
    this.syscall = syscall;
    this.result = result;
  }
}

/** Name of an errno number, for decoding a -errno result. */
export function errnoName(code: number): ErrnoName | undefined {
  const n = Math.abs(code);
  for (const [name, value] of Object.entries(ERRNO)) {
    if (value === n) return name as ErrnoName;
  }
  return undefined;
}
