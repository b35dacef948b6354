/**
 * How exercise inputs and answers are written in the result table.
 *
 * @module
 */

/**
 * Write a value the way a reader would type it: bigints in hex with the `n`
 * suffix (they are entries, read as bit patterns), strings quoted, arrays and
 * plain objects as literals, anything else as `Deno.inspect` prints it.
 * Long results are cut at `max` characters.
 */
export function formatValue(value: unknown, max = 120): string {
  const text = write(value, 0);
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

function write(value: unknown, depth: number): string {
  if (typeof value === "bigint") return `${value < 0n ? "-" : ""}0x${abs(value).toString(16)}n`;
  if (typeof value === "string") return JSON.stringify(value);
  if (depth > 4) return "…";
  if (Array.isArray(value)) return `[${value.map((v) => write(v, depth + 1)).join(", ")}]`;
  if (isPlainObject(value)) {
    const entries = Object.entries(value).map(([k, v]) => `${key(k)}: ${write(v, depth + 1)}`);
    return entries.length === 0 ? "{}" : `{ ${entries.join(", ")} }`;
  }
  return Deno.inspect(value, { colors: false, compact: true, breakLength: Infinity, depth: 3 });
}

function abs(value: bigint): bigint {
  return value < 0n ? -value : value;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== "object" || value === null) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function key(name: string): string {
  return /^[A-Za-z_$][\w$]*$/.test(name) ? name : JSON.stringify(name);
}
