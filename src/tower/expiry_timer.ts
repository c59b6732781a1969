/**
 * One timer for the next of many expiries: set it to the earliest, and it
 * calls back then (by the given clock), never keeping the process alive.
 *
 * @module
 */

/**
 * A timer that fires once at a time on a clock, re-set as the earliest
 * expiry moves.
 *
 * @example
 * ```ts
 * import { ExpiryTimer } from "./expiry_timer.ts";
 * const timer = new ExpiryTimer(Date.now, () => console.log("something expired"));
 * timer.set(Date.now() + 30_000);
 * timer.stop();
 * ```
 */
export class ExpiryTimer {
  readonly #now: () => number;
  readonly #fire: () => void;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #at = Infinity;

  constructor(now: () => number, fire: () => void) {
    this.#now = now;
    this.#fire = fire;
  }

  /** Fire at `at` (milliseconds on the clock), instead of when it was set to; Infinity: never. */
  set(at: number): void {
    if (at === this.#at) return;
    this.stop();
    this.#at = at;
    if (at === Infinity) return;
    // A millisecond late, so what expires at `at` has expired when it fires.
    this.#timer = setTimeout(() => {
      this.#at = Infinity;
      this.#timer = undefined;
      this.#fire();
    }, Math.max(0, at - this.#now()) + 1);
    // A registry must never be the reason a process stays alive.
    (this.#timer as { unref?: () => void }).unref?.();
  }

  /** Fire by `at` at the latest. */
  by(at: number): void {
    if (at < this.#at) this.set(at);
  }

  /** Do not fire. */
  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#at = Infinity;
  }
}
