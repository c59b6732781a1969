/**
 * The process's own metrics: resident memory, CPU time, start time, and
 * the event loop's delay. `perf_hooks.monitorEventLoopDelay` does not
 * exist in Deno or Bun, so the delay is measured the portable way: a timer
 * set every 100 ms, and how late each firing comes, into a histogram.
 *
 * @module
 */

import process from "node:process";
import { CATALOG, LOOP_DELAY_BUCKETS } from "./catalog.ts";
import { Histogram } from "./histogram.ts";
import { family, type Snapshot } from "./snapshot.ts";

/** Between two firings of the event-loop probe. */
export const LOOP_PROBE_MS = 100;

/**
 * Times the event loop: every {@link LOOP_PROBE_MS} a timer fires, and its
 * lateness is observed. `tick` (if given) runs at each firing too, for
 * other housekeeping that wants a steady beat.
 *
 * @example
 * ```ts
 * import { LoopProbe } from "./process_metrics.ts";
 * const probe = new LoopProbe();
 * // ... later
 * probe.delay.count; // firings so far
 * probe.close();
 * ```
 */
export class LoopProbe {
  readonly delay = new Histogram(LOOP_DELAY_BUCKETS);
  readonly #timer: ReturnType<typeof setInterval>;

  constructor(tick?: () => void) {
    let due = performance.now() + LOOP_PROBE_MS;
    this.#timer = setInterval(() => {
      const now = performance.now();
      this.delay.observe(Math.max(0, now - due));
      // The next is due a period after this one fired (an interval does not catch up).
      due = now + LOOP_PROBE_MS;
      tick?.();
    }, LOOP_PROBE_MS);
  }

  /** Stop the timer. */
  close(): void {
    clearInterval(this.#timer);
  }
}

/** When this process started, in seconds since the epoch (the clock's origin). */
const START_SECONDS = (Date.now() - performance.now()) / 1000;

/**
 * The process families now: resident memory, CPU seconds, start time and,
 * with a `probe`, the event loop's delay.
 *
 * @example
 * ```ts
 * import { processFamilies } from "./process_metrics.ts";
 * const [rss] = processFamilies(null);
 * (rss.samples.get("") as number) > 0; // true
 * ```
 */
export function processFamilies(probe: LoopProbe | null): Snapshot {
  const rss = family(CATALOG.residentMemory);
  rss.samples.set("", process.memoryUsage.rss());
  const cpu = family(CATALOG.cpuSeconds);
  const usage = process.cpuUsage();
  cpu.samples.set("", (usage.user + usage.system) / 1e6);
  const start = family(CATALOG.startTime);
  start.samples.set("", Math.round(START_SECONDS * 1000) / 1000);
  const out = [rss, cpu, start];
  if (probe !== null) {
    const delay = family(CATALOG.loopDelay);
    delay.samples.set("", probe.delay.value());
    out.push(delay);
  }
  return out;
}
