/**
 * ANSI escape sequences in kernel output.
 *
 * The Deno kernel colours `text/plain` results and error tracebacks with
 * terminal escape codes; messages and reports show them stripped.
 * @module
 */

// CSI sequences (colours, cursor moves: ESC [ params letter) and OSC
// sequences (hyperlinks, titles: ESC ] … BEL or ESC \).
// deno-lint-ignore no-control-regex
const ANSI = /\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)/g;

/** `text` without ANSI escape sequences. */
export function stripAnsi(text: string): string {
  return text.replace(ANSI, "");
}
