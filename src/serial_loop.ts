/**
 * A step that may ask for itself again while it runs (an answer that ends a
 * request starts the next one, a failed send sends the next waiting one):
 * the second call is run by the first one's loop, after it, not nested in
 * it, so any number of rounds takes no more stack than one.
 *
 * @module
 */

/**
 * Runs `step`, and runs it again when {@link run} was called meanwhile.
 *
 * @example
 * ```ts
 * import { SerialLoop } from "./serial_loop.ts";
 * let rounds = 0;
 * const loop = new SerialLoop(() => {
 *   if (++rounds < 3) loop.run(); // asks again from inside: runs after, not nested
 * });
 * loop.run();
 * rounds; // 3
 * ```
 */
export class SerialLoop {
  readonly #step: () => void;
  #running = false;
  #again = false;

  constructor(step: () => void) {
    this.#step = step;
  }

  /** Run the step now, or, when it is running, once more after it. */
  run(): void {
    if (this.#running) {
      this.#again = true;
      return;
    }
    this.#running = true;
    try {
      do {
        this.#again = false;
        this.#step();
      } while (this.#again);
    } finally {
      this.#running = false;
    }
  }
}
