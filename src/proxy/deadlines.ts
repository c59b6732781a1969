/**
 * Coarse deadlines for many connections on one timer.
 *
 * Arming a per-request setTimeout and clearing it again costs more than the
 * request itself at high rates; instead each party stores a deadline number
 * and one interval sweeps them. Timeouts here are seconds long, so a 100 ms
 * resolution is plenty.
 *
 * @module
 */

/** Something with a deadline. */
export interface Expiring {
  /** Absolute time in ms (the clock's `now`), or 0 for none. */
  deadline: number;
  /** Called once when the deadline passes; the sweep sets `deadline` to 0 first. */
  expire(now: number): void;
}

/**
 * A set of {@link Expiring} parties swept by one interval.
 *
 * @example
 * ```ts
 * const clock = new DeadlineClock(100);
 * const party = { deadline: clock.now + 5000, expire: () => console.log("late") };
 * clock.add(party);
 * ```
 */
export class DeadlineClock {
  readonly #parties = new Set<Expiring>();
  #timer: ReturnType<typeof setInterval> | undefined;
  readonly #resolution: number;
  /** Cached current time, refreshed by every sweep and by {@link tick}. */
  now = Date.now();

  constructor(resolutionMs = 100) {
    this.#resolution = resolutionMs;
  }

  /** Fresh time (also refreshes `now`). */
  tick(): number {
    return this.now = Date.now();
  }

  /** Start watching a party. */
  add(party: Expiring): void {
    this.#parties.add(party);
    if (this.#timer === undefined) {
      this.#timer = setInterval(() => this.sweep(), this.#resolution);
    }
  }

  /** Stop watching a party. */
  delete(party: Expiring): void {
    this.#parties.delete(party);
  }

  /** Expire every party whose deadline has passed. */
  sweep(): void {
    const now = this.tick();
    for (const p of this.#parties) {
      if (p.deadline !== 0 && p.deadline <= now) {
        p.deadline = 0;
        try {
          p.expire(now);
        } catch (e) {
          console.error("gatehouse: timeout handler failed:", e);
        }
      }
    }
  }

  /** Stop the interval. */
  close(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }
}
