/**
 * A histogram with fixed buckets, observed in milliseconds (what the
 * request record and the clocks give) and read out in seconds. Observing
 * is a short scan and three additions: no allocation, no division.
 *
 * @module
 */

import type { HistogramValue } from "./snapshot.ts";

/**
 * Fixed-bucket histogram.
 *
 * @example
 * ```ts
 * import { Histogram } from "./histogram.ts";
 * const h = new Histogram([0.001, 0.01, 0.1]);
 * h.observe(4); // 4 ms: the 0.01 s bucket
 * h.value(); // { counts: [0, 1, 0, 0], sum: 0.004, count: 1 }
 * ```
 */
export class Histogram {
  /** Upper bounds in ms. */
  readonly #bounds: Float64Array;
  /** Observations per bucket, not cumulative; the last is above every bound. */
  readonly #counts: Float64Array;
  #sumMs = 0;
  #count = 0;

  /** `bounds`: upper bounds in seconds, ascending. */
  constructor(bounds: readonly number[]) {
    this.#bounds = Float64Array.from(bounds, (s) => s * 1000);
    this.#counts = new Float64Array(bounds.length + 1);
  }

  /** Count one observation of `ms` milliseconds. */
  observe(ms: number): void {
    const bounds = this.#bounds;
    let i = 0;
    while (i < bounds.length && ms > bounds[i]) i++;
    this.#counts[i]++;
    this.#sumMs += ms;
    this.#count++;
  }

  /** Observations so far. */
  get count(): number {
    return this.#count;
  }

  /** The state for a snapshot, in seconds. */
  value(): HistogramValue {
    return { counts: Array.from(this.#counts), sum: this.#sumMs / 1000, count: this.#count };
  }
}
