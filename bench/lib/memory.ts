/**
 * Resident memory of a proxy during a run: the `VmRSS` line of
 * `/proc/<pid>/status`, and a sampler that keeps the peak of periodic
 * readings. Pure: the caller passes the text or the reader, so this runs
 * under Deno and Bun alike.
 * @module
 */

/** How often the harness samples a proxy's resident memory during a run. */
export const RSS_SAMPLE_INTERVAL_MS = 250;

/**
 * The resident set size in KiB from the text of `/proc/<pid>/status`, or
 * `undefined` when it has no `VmRSS` line (kernel threads, zombies).
 *
 * @example
 * ```ts
 * parseVmRssKiB("Name:\tnginx\nVmRSS:\t    5120 kB\n"); // 5120
 * ```
 * @throws {SyntaxError} when the line is there but is not a number of kB.
 */
export function parseVmRssKiB(status: string): number | undefined {
  const line = /^VmRSS:(.*)$/m.exec(status);
  if (!line) return undefined;
  const m = /^\s*(\d+)\s+kB\s*$/.exec(line[1]);
  if (!m) throw new SyntaxError(`malformed VmRSS line: ${JSON.stringify(line[0])}`);
  return Number(m[1]);
}

/**
 * The sum of the defined readings, or `undefined` when none is defined
 * (every process of the tree is gone or has no memory of its own).
 *
 * @example
 * ```ts
 * sumDefined([1024, undefined, 512]); // 1536
 * ```
 */
export function sumDefined(values: readonly (number | undefined)[]): number | undefined {
  const present = values.filter((v): v is number => v !== undefined);
  return present.length === 0 ? undefined : present.reduce((a, b) => a + b, 0);
}

/**
 * Calls `read` now and every `intervalMs` until {@link PeakSampler.stop},
 * which reads once more and returns the largest reading. A reading of
 * `undefined` (the process was gone at that moment) is skipped; a reader
 * that throws counts as `undefined`.
 *
 * @example
 * ```ts
 * import { PeakSampler } from "./memory.ts";
 * import { processTreeRssKiB } from "./proc.ts";
 * declare const proxyPid: number;
 * declare function runLoad(): Promise<void>;
 * const rss = new PeakSampler(() => processTreeRssKiB(proxyPid));
 * rss.start();
 * await runLoad();
 * const peakKiB = rss.stop();
 * ```
 */
export class PeakSampler {
  readonly #read: () => number | undefined;
  readonly #intervalMs: number;
  #timer: ReturnType<typeof setInterval> | undefined;
  #peak: number | undefined;
  #samples = 0;

  constructor(read: () => number | undefined, intervalMs = RSS_SAMPLE_INTERVAL_MS) {
    this.#read = read;
    this.#intervalMs = intervalMs;
  }

  /** Takes the first reading and starts the periodic ones. */
  start(): void {
    if (this.#timer !== undefined) return;
    this.sample();
    this.#timer = setInterval(() => this.sample(), this.#intervalMs);
  }

  /** Takes one reading now (also called by the timer). */
  sample(): void {
    let v: number | undefined;
    try {
      v = this.#read();
    } catch {
      v = undefined;
    }
    if (v === undefined || !Number.isFinite(v)) return;
    this.#samples++;
    if (this.#peak === undefined || v > this.#peak) this.#peak = v;
  }

  /** Readings that produced a value so far. */
  get samples(): number {
    return this.#samples;
  }

  /** The largest reading so far, or `undefined` when none produced a value. */
  get peak(): number | undefined {
    return this.#peak;
  }

  /** Stops the timer, takes a last reading and returns the peak. */
  stop(): number | undefined {
    if (this.#timer !== undefined) {
      clearInterval(this.#timer);
      this.#timer = undefined;
      this.sample();
    }
    return this.#peak;
  }
}
