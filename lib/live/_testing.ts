/**
 * Shared by the live lab's tests: whether this process may run them.
 * @module
 */

import { ffiStatus } from "./libc.ts";

/**
 * True on Linux with every permission granted (`-A`): the live tests call
 * libc through FFI, spawn child Denos, and read /proc and /sys, for which
 * Deno asks for all access.
 */
export function liveTestsEnabled(): boolean {
  if (Deno.build.os !== "linux" || !ffiStatus().usable) return false;
  const names = ["read", "write", "run", "sys", "env", "net", "ffi"] as const;
  return names.every((name) => Deno.permissions.querySync({ name }).state === "granted");
}
