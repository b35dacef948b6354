/**
 * Small statistics and number formatting for the benchmark printouts.
 * @module
 */

/** The median of `xs` (mean of the middle two for an even count). Throws on an empty list. */
export function median(xs: readonly number[]): number {
  if (xs.length === 0) throw new RangeError("median of an empty list");
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** A rate in events per second as millions, 3 significant digits: `"2.13 M/s"`. */
export function formatRate(perSecond: number): string {
  return `${(perSecond / 1e6).toPrecision(3)} M/s`;
}

const BINARY_UNITS = ["B", "KiB", "MiB", "GiB", "TiB"] as const;

/** A byte count in binary units, 3 significant digits: `"1.70 GiB"`, `"41.3 B"`. */
export function formatBytes(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < BINARY_UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toPrecision(3)} ${BINARY_UNITS[unit]}`;
}

/** A count in binary multiples when exact (`1048576` → `"1M"`), else as is. */
export function formatCount(n: number): string {
  if (n >= 2 ** 20 && n % 2 ** 20 === 0) return `${n / 2 ** 20}M`;
  if (n >= 2 ** 10 && n % 2 ** 10 === 0) return `${n / 2 ** 10}K`;
  return String(n);
}
