/**
 * A ceiling on the garbage a JavaScript heap may hold before a full
 * collection, for runtimes whose own trigger comes too late for a server
 * with many requests in flight (see the Bun adapter).
 *
 * @module
 */

/** The ceiling never goes below this many bytes of objects. */
export const HEAP_FLOOR = 3 * 1024 * 1024;
/** The ceiling is this many times what survived the last collection. */
export const HEAP_GROWTH = 1.5;

/**
 * Collects when the heap's objects pass a ceiling: {@link HEAP_GROWTH} times
 * what survived the last collection, and at least the floor. `measure`
 * gives the bytes of objects now; `collect` runs a full collection.
 *
 * @example
 * ```ts
 * const ceiling = new HeapCeiling(() => process.memoryUsage().heapUsed, () => Bun.gc(true));
 * setInterval(() => ceiling.check(), 250);
 * ```
 */
export class HeapCeiling {
  #ceiling: number;

  constructor(
    private readonly measure: () => number,
    private readonly collect: () => void,
    private readonly floor: number = HEAP_FLOOR,
  ) {
    this.#ceiling = floor;
  }

  /** Bytes of objects above which {@link check} collects. */
  get ceiling(): number {
    return this.#ceiling;
  }

  /** Collects when the heap is above the ceiling, then sets the next one. True if it collected. */
  check(): boolean {
    if (this.measure() < this.#ceiling) return false;
    this.collect();
    this.#ceiling = Math.max(this.floor, HEAP_GROWTH * this.measure());
    return true;
  }
}
