/**
 * VM_BUG_ON-style failures of the model's invariants, and WARN_ON_ONCE.
 * @module
 */

/**
 * A broken invariant (what CONFIG_DEBUG_VM or page_table_check would catch):
 * names the invariant and carries the state that broke it.
 */
export class VmBugError extends Error {
  readonly invariant: string;
  readonly state: Readonly<Record<string, unknown>>;

  constructor(invariant: string, message: string, state: Record<string, unknown> = {}) {
    super(`VM_BUG_ON: ${invariant}: ${message} ${formatState(state)}`.trimEnd());
    this.name = "VmBugError";
    this.invariant = invariant;
    this.state = state;
  }
}

function formatState(state: Record<string, unknown>): string {
  const parts = Object.entries(state).map(([k, v]) => `${k}=${fmt(v)}`);
  return parts.length ? `[${parts.join(" ")}]` : "";
}

function fmt(v: unknown): string {
  if (typeof v === "bigint") return `0x${v.toString(16)}`;
  if (typeof v === "number" && Number.isInteger(v) && v > 4096) return `0x${v.toString(16)}`;
  return String(v);
}

/** Throws a VmBugError when `cond` holds (the kernel's VM_BUG_ON). */
export function VM_BUG_ON(
  cond: boolean,
  invariant: string,
  message: string,
  state?: Record<string, unknown>,
): void {
  if (cond) throw new VmBugError(invariant, message, state);
}
