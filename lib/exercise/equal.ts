/**
 * The default comparison of exercise answers: structural deep equality.
 *
 * @module
 */

/**
 * Deep equality for exercise answers.
 *
 * - Primitives compare by SameValueZero: `0` equals `-0`, `NaN` equals `NaN`.
 *   Types must match: `1n` is not `1` (an entry is a bigint, an index a number).
 * - Arrays and typed arrays compare element by element, and must be of the
 *   same kind (an `Array` never equals a `Uint8Array`).
 * - `Map`s compare by key (SameValueZero) and deep value; `Set`s by members
 *   (SameValueZero, so a set of objects compares by identity).
 * - `Date`s compare by time.
 * - Other objects compare by their own enumerable string keys; both must have
 *   the same prototype, so `{ x: 1 }` is not an instance of a class with `x`.
 */
export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b || (Number.isNaN(a) && Number.isNaN(b))) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Object.getPrototypeOf(a) !== Object.getPrototypeOf(b)) return false;
  if (Array.isArray(a)) return arrayEqual(a, b as unknown[]);
  if (ArrayBuffer.isView(a)) {
    return arrayEqual([...(a as unknown as Iterable<unknown>)], [
      ...(b as unknown as Iterable<unknown>),
    ]);
  }
  if (a instanceof Date) return a.getTime() === (b as Date).getTime();
  if (a instanceof Map) return mapEqual(a, b as Map<unknown, unknown>);
  if (a instanceof Set) return setEqual(a, b as Set<unknown>);
  return recordEqual(a as Record<string, unknown>, b as Record<string, unknown>);
}

function arrayEqual(a: readonly unknown[], b: readonly unknown[]): boolean {
  return a.length === b.length && a.every((item, i) => deepEqual(item, b[i]));
}

function mapEqual(a: Map<unknown, unknown>, b: Map<unknown, unknown>): boolean {
  if (a.size !== b.size) return false;
  for (const [key, value] of a) {
    if (!b.has(key) || !deepEqual(value, b.get(key))) return false;
  }
  return true;
}

function setEqual(a: Set<unknown>, b: Set<unknown>): boolean {
  return a.size === b.size && [...a].every((item) => b.has(item));
}

function recordEqual(a: Record<string, unknown>, b: Record<string, unknown>): boolean {
  const keys = Object.keys(a);
  if (keys.length !== Object.keys(b).length) return false;
  return keys.every((key) => Object.hasOwn(b, key) && deepEqual(a[key], b[key]));
}
