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

/** A median with a distribution-free confidence interval around it. */
export interface MedianInterval {
  median: number;
  /** Lower and upper bounds: two order statistics of the values. */
  low: number;
  high: number;
  /** The interval's actual coverage (at least the level asked for). */
  confidence: number;
}

/**
 * The median of `values` and a confidence interval for it that assumes
 * nothing about their distribution: the k-th smallest and k-th largest
 * values, with k the largest for which the chance that k or fewer of n
 * values fall below the true median (a Binomial(n, 1/2) tail) is at most
 * half of 1 - `level`. `undefined` when there are too few values for any
 * such interval (fewer than 6 at 95%).
 *
 * @example
 * ```ts
 * medianInterval([5, 1, 4, 2, 3, 6, 7, 9, 8]); // { median: 5, low: 2, high: 8, confidence: 0.961 }
 * medianInterval([1, 2, 3]); // undefined
 * ```
 */
export function medianInterval(
  values: readonly number[],
  level = 0.95,
): MedianInterval | undefined {
  const n = values.length;
  if (n === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  // tail(j): P(X <= j) for X ~ Binomial(n, 1/2), summed term by term.
  let term = 0.5 ** n; // P(X = 0)
  let below = 0; // P(X <= k - 1)
  let k = 0;
  while (k < n && below + term <= (1 - level) / 2) {
    below += term;
    term = term * (n - k) / (k + 1); // P(X = k + 1)
    k++;
  }
  if (k === 0) return undefined;
  return {
    median: median(sorted),
    low: sorted[k - 1],
    high: sorted[n - k],
    confidence: 1 - 2 * below,
  };
}
