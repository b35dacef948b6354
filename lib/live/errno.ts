/**
 * errno for the live kernel: the same table and the same `Errno` class as the
 * simulator's (lib/kernel/errno.ts), so that scenario code catches either.
 * @module
 */
export { ERRNO, Errno, errnoFromCode, errnoName } from "../kernel/errno.ts";
export type { ErrnoName } from "../kernel/errno.ts";
