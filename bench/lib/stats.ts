/**
 * Small statistics helpers for benchmark cells. Pure: no runtime globals.
 * @module
 */

/**
 * The median of a list of numbers (mean of the two middle values for an
 * even count). A median, not a mean, so that one disturbed run out of three
 * cannot move the reported figure.
 *
 * @example
 * ```ts
 * median([3, 1, 2]); // 2
 * median([4, 1, 2, 3]); // 2.5
 * ```
 * @throws {RangeError} when `values` is empty.
 */
export function median(values: readonly number[]): number {
  if (values.length === 0) throw new RangeError("median of an empty list");
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/**
 * The median of the values that are defined, or `undefined` when none are
 * (a metric that wrk did not print in any run).
 *
 * @example
 * ```ts
 * medianDefined([undefined, 2, 4]); // 3
 * medianDefined([undefined]); // undefined
 * ```
 */
export function medianDefined(values: readonly (number | undefined)[]): number | undefined {
  const present = values.filter((v): v is number => v !== undefined);
  return present.length === 0 ? undefined : median(present);
}
