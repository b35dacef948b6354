/**
 * What a call came to, as a short string the scenario tables compare:
 * "ok", the errno name ("EINVAL"), or "SIGNAL/si_code" ("SIGSEGV/SEGV_MAPERR").
 * Anything else thrown is rethrown.
 * @module
 */
import { Errno, Signal } from "../lib/mod.ts";

/** "ok" or the errno name the call failed with. */
export function errnoOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof Errno) return e.errno;
    throw e;
  }
  return "ok";
}

/** "ok" or "SIGNO/si_code" of the signal the access raised. */
export function signalOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof Signal) return `${e.signo}/${e.code}`;
    throw e;
  }
  return "ok";
}
