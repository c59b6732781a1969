/**
 * Failover across distinct replicas: each attempt of one request goes to a
 * replica not tried before in that request, up to a fixed number of attempts
 * (the seed's MAX_RETRY, 3 by default).
 *
 * @module
 */

import type { Replica } from "../registry/types.ts";

/**
 * The attempts left for one request.
 *
 * @example
 * ```ts
 * const plan = new FailoverPlan(replicas, 3);
 * for (let r = plan.next(); r; r = plan.next()) {
 *   if (await tryReplica(r)) break;
 * }
 * ```
 */
export class FailoverPlan {
  #replicas: readonly Replica[];
  #max: number;
  #index = 0;
  #attempts = 0;

  constructor(replicas: readonly Replica[], maxAttempts: number) {
    this.#replicas = replicas;
    this.#max = maxAttempts;
  }

  /** Start over with other replicas (one plan can serve request after request). */
  reset(replicas: readonly Replica[], maxAttempts: number): void {
    this.#replicas = replicas;
    this.#max = maxAttempts;
    this.#index = 0;
    this.#attempts = 0;
  }

  /** Attempts made so far. */
  get attempts(): number {
    return this.#attempts;
  }

  /** The next replica to try, or undefined when attempts or replicas are used up. */
  next(): Replica | undefined {
    if (this.#attempts >= this.#max) return undefined;
    // Registries may list a replica twice; never try the same one twice.
    while (this.#index < this.#replicas.length) {
      const r = this.#replicas[this.#index++];
      let seen = false;
      for (let i = 0; i < this.#index - 1; i++) {
        const p = this.#replicas[i];
        if (p.port === r.port && p.host === r.host) {
          seen = true;
          break;
        }
      }
      if (seen) continue;
      this.#attempts++;
      return r;
    }
    return undefined;
  }
}
