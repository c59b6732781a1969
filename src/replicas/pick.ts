/**
 * The pick-replica phase's choice: of the registry's live replicas, the one
 * the load-balancing policy (balance.ts) names, ejected ones left out
 * (unless every one is ejected: then all are used, a panic rather than a
 * 503), drained ones always. By default the one with the fewest tries outstanding, ties to the
 * registry's order, which is its round robin; or the service's own round
 * robin; or a random one; or the first in a key's rendezvous-hash order.
 * Each attempt of a request goes to a replica not tried before in that
 * request (for a hashed key, the next in its order), up to a fixed number
 * of attempts.
 *
 * @module
 */

import { type Replica, replicaAddress } from "../registry/types.ts";
import { type BalancePolicy, LEAST_OUTSTANDING, rendezvousScore } from "./balance.ts";
import type { ServiceReplicas } from "./service.ts";
import { type ReplicaState, slowAbove } from "./state.ts";

/** Above this many replicas, two random choices replace the full scan. */
const SCAN_LIMIT = 16;
/**
 * Added to a slow replica's load (see `slowAbove`), so any quicker one goes
 * first: a slow replica's requests pile up, but only as many as its peers have.
 */
const SLOW_PENALTY = 1_000_000;

/**
 * The attempts left for one request.
 *
 * @example
 * ```ts
 * import { FailoverPlan } from "./pick.ts";
 * const a = { host: "10.0.0.1", port: 80 }, b = { host: "10.0.0.2", port: 80 };
 * const plan = new FailoverPlan([a, a, b], 3);
 * plan.next(); // a
 * plan.next(); // b (a is not tried twice)
 * plan.next(); // undefined
 * ```
 */
export class FailoverPlan {
  #replicas: readonly Replica[];
  /** The replicas' states, index for index (empty without a service). */
  #states: readonly ReplicaState[] = NO_STATES;
  #max: number;
  #attempts = 0;
  /** The replicas tried so far in this request (reused from request to request). */
  readonly #tried: Replica[] = [];
  #service: ServiceReplicas | null = null;
  /** Every replica is ejected (or unhealthy): use them all. */
  #panic = false;
  /** Health checks run: only healthy replicas are picked. */
  #checked = false;
  /** The slow-start window (0: none). */
  #rampMs = 0;
  /** Weights differ (or a slow start ramps): least outstanding weighs them. */
  #weighted = false;
  /** The list has priority groups, and the one picked from now (-1: any). */
  #grouped = false;
  #group = -1;
  /** The state of the replica {@link next} gave last (null without a service). */
  state: ReplicaState | null = null;
  #policy: BalancePolicy = LEAST_OUTSTANDING;
  /** Random: where this request's search starts. */
  #start = 0;
  /** Hashing: the key, and the replicas' indices in its score order (made on first use). */
  #key = "";
  readonly #order: number[] = [];

  constructor(replicas: readonly Replica[], maxAttempts: number) {
    this.#replicas = replicas;
    this.#max = maxAttempts;
  }

  /**
   * Start over with other replicas (one plan serves request after request).
   * With `service`, its state steers the choice (fewest outstanding, no
   * ejected replica); without, replicas are taken in the registry's order.
   */
  reset(
    replicas: readonly Replica[],
    maxAttempts: number,
    service: ServiceReplicas | null = null,
    now = 0,
    policy: BalancePolicy = LEAST_OUTSTANDING,
    key = "",
  ): void {
    // A hashing policy without a key (no such header or cookie) falls back to the default.
    this.#policy = policy.kind === "hash" && key === "" ? LEAST_OUTSTANDING : policy;
    this.#key = key;
    this.#order.length = 0;
    const n = replicas.length;
    this.#start = policy.kind === "random" ? Math.floor(Math.random() * n) : 0;
    this.#replicas = replicas;
    this.#max = maxAttempts;
    this.#attempts = 0;
    this.#tried.length = 0;
    this.#service = service;
    this.#panic = false;
    this.state = null;
    this.#states = NO_STATES;
    this.#grouped = false;
    this.#weighted = false;
    this.#group = -1;
    if (service === null || replicas.length === 0) return;
    const states = this.#states = service.listed(replicas);
    this.#checked = service.checked;
    this.#rampMs = service.slowStartMs;
    this.#grouped = service.grouped;
    this.#weighted = service.weighted || (this.#rampMs > 0 && this.#ramping(now));
    for (const s of states) if (s.routable(now, this.#checked)) return;
    // A panic uses the ejected and unhealthy, never the drained: with every replica drained, none.
    let undrained = false;
    for (const s of states) undrained ||= !s.drained;
    if (!undrained) return;
    this.#panic = true;
    service.panic();
  }

  /** A replica's slow start is under way at `now`. */
  #ramping(now: number): boolean {
    for (const s of this.#states) {
      if (s.rampFrom !== 0 && now - s.rampFrom < this.#rampMs) return true;
    }
    return false;
  }

  /** Attempts made so far. */
  get attempts(): number {
    return this.#attempts;
  }

  /** Whether {@link next} would give a replica now (without taking it). */
  hasNext(now = 0): boolean {
    if (this.#attempts >= this.#max) return false;
    this.#pickGroup(now);
    return this.#firstFrom(0, now) !== -1;
  }

  /**
   * With priority groups, only the lowest group with a replica that may be
   * picked now is picked from (a DNS SRV backup group takes over only when
   * every replica before it is tried, ejected or unhealthy).
   */
  #pickGroup(now: number): void {
    if (!this.#grouped) return;
    this.#group = -1;
    let lowest = Infinity;
    for (let i = 0; i < this.#replicas.length; i++) {
      const p = this.#states[i].priority;
      if (p < lowest && this.#load(i, now, Infinity) !== Infinity) lowest = p;
    }
    if (lowest !== Infinity) this.#group = lowest;
  }

  /** The next replica to try, or undefined when attempts or replicas are used up. */
  next(now = 0): Replica | undefined {
    if (this.#attempts >= this.#max) return undefined;
    this.#pickGroup(now);
    let i: number;
    switch (this.#policy.kind) {
      case "least-outstanding":
        i = this.#replicas.length > SCAN_LIMIT ? this.#twoChoices(now) : -1;
        if (i === -1) i = this.#scan(now);
        break;
      case "hash":
        i = this.#firstByScore(now);
        break;
      case "round-robin":
        i = this.#smoothRoundRobin(now);
        break;
      default:
        i = this.#weightedRandom(now);
    }
    if (i === -1) return undefined;
    const r = this.#replicas[i];
    this.#tried.push(r);
    this.#attempts++;
    this.state = this.#service === null ? null : this.#states[i];
    return r;
  }

  /**
   * The index of the eligible replica with the fewest tries out, those much
   * slower than the quickest last; the first in the registry's order on a
   * tie; -1 when none is eligible.
   */
  #scan(now: number): number {
    const n = this.#replicas.length;
    // One replica is its own quickest: no slowness to weigh.
    const slow = n === 1 || this.#service === null
      ? Infinity
      : slowAbove(this.#states, now, this.#panic);
    if (this.#weighted) return this.#weightedLeast(now, slow);
    let best = -1;
    let bestLoad = Infinity;
    for (let i = 0; i < n; i++) {
      const load = this.#load(i, now, slow);
      if (load < bestLoad) {
        best = i;
        bestLoad = load;
      }
    }
    return best;
  }

  /**
   * Least outstanding among unequal weights (or a slow start): smooth
   * weighted round robin on each replica's weight over its tries out plus
   * one, as Envoy's weighted least request does. Unloaded, the replicas
   * share in proportion to their weights (a plain least-load pick would send
   * every request of a quiet service to the heaviest); loaded, the less
   * loaded get more. Much slower replicas only when no quicker one is left.
   */
  #weightedLeast(now: number, slow: number): number {
    let quickOnes = false;
    for (let i = 0; i < this.#replicas.length && !quickOnes; i++) {
      quickOnes = this.#load(i, now, slow) < SLOW_PENALTY;
    }
    let best = -1;
    let total = 0;
    for (let i = 0; i < this.#replicas.length; i++) {
      const load = this.#load(i, now, slow);
      if (load === Infinity || (quickOnes && load >= SLOW_PENALTY)) continue;
      const s = this.#states[i];
      const share = s.weightAt(now, this.#rampMs) / (s.active + 1);
      s.credit += share;
      total += share;
      if (best === -1 || s.credit > this.#states[best].credit) best = i;
    }
    if (best !== -1) this.#states[best].credit -= total;
    return best;
  }

  /** The index of the first eligible replica from `start` on, round the list; -1 if none. */
  #firstFrom(start: number, now: number): number {
    const n = this.#replicas.length;
    for (let k = 0; k < n; k++) {
      const i = (start + k) % n;
      if (this.#load(i, now, Infinity) !== Infinity) return i;
    }
    return -1;
  }

  /** Replica `i`'s weight now (1 without a service). */
  #weight(i: number, now: number): number {
    return this.#service === null ? 1 : this.#states[i].weightAt(now, this.#rampMs);
  }

  /**
   * Round robin, weighted (nginx's smooth weighted round robin): every
   * eligible replica earns its weight in credit, the richest is picked and
   * pays the total; -1 if none. With equal weights, each in turn. The
   * credit lives in the replica's state, so the order the registry answers
   * in (the Tower's rotates by itself) does not matter.
   */
  #smoothRoundRobin(now: number): number {
    if (this.#service === null) return this.#firstFrom(0, now);
    let best = -1;
    let total = 0;
    for (let i = 0; i < this.#replicas.length; i++) {
      if (this.#load(i, now, Infinity) === Infinity) continue;
      const s = this.#states[i];
      const w = s.weightAt(now, this.#rampMs);
      s.credit += w;
      total += w;
      if (best === -1 || s.credit > this.#states[best].credit) best = i;
    }
    if (best !== -1) this.#states[best].credit -= total;
    return best;
  }

  /** A replica at random, in proportion to its weight; -1 if none is eligible. */
  #weightedRandom(now: number): number {
    let total = 0;
    const n = this.#replicas.length;
    for (let i = 0; i < n; i++) {
      if (this.#load(i, now, Infinity) !== Infinity) total += this.#weight(i, now);
    }
    if (total === 0) return -1;
    let at = Math.random() * total;
    let last = -1;
    for (let k = 0; k < n; k++) {
      const i = (this.#start + k) % n;
      if (this.#load(i, now, Infinity) === Infinity) continue;
      last = i;
      at -= this.#weight(i, now);
      if (at < 0) return i;
    }
    return last;
  }

  /** The index of the eligible replica that scores highest for the key; -1 if none. */
  #firstByScore(now: number): number {
    const order = this.#order;
    if (order.length === 0) {
      const key = this.#key;
      const scores = this.#replicas.map((r, i) =>
        rendezvousScore(key, replicaAddress(r), this.#weight(i, now))
      );
      for (let i = 0; i < scores.length; i++) order.push(i);
      order.sort((a, b) => scores[b] - scores[a]);
    }
    for (const i of order) if (this.#load(i, now, Infinity) !== Infinity) return i;
    return -1;
  }

  /** Of two eligible replicas drawn at random, the index of the one with fewer tries out. */
  #twoChoices(now: number): number {
    const n = this.#replicas.length;
    let first = -1;
    let firstActive = Infinity;
    for (let draw = 0, found = 0; draw < 8 && found < 2; draw++) {
      const i = Math.floor(Math.random() * n);
      if (i === first) continue;
      const active = this.#load(i, now, Infinity);
      if (active === Infinity) continue;
      found++;
      if (active < firstActive) {
        first = i;
        firstActive = active;
      }
    }
    return first;
  }

  /**
   * Replica `i`'s load: its tries out, counting a new one, per unit of
   * weight (a slow one's raised past any quicker one's), or Infinity when it
   * may not be picked (tried already, ejected, not healthy, or drained).
   */
  #load(i: number, now: number, slowAbove: number): number {
    const r = this.#replicas[i];
    for (const t of this.#tried) {
      if (t === r || (t.port === r.port && t.host === r.host)) return Infinity;
    }
    if (this.#service === null) return 0;
    const state = this.#states[i];
    if (this.#panic ? state.drained : !state.routable(now, this.#checked)) return Infinity;
    if (this.#group !== -1 && state.priority !== this.#group) return Infinity;
    // Tries out per unit of weight, counting this one: with equal weights, the fewest tries out.
    const load = (state.active + 1) / state.weightAt(now, this.#rampMs);
    if (slowAbove !== Infinity && state.slowness(now) > slowAbove) {
      return load + SLOW_PENALTY;
    }
    return load;
  }
}

const NO_STATES: readonly ReplicaState[] = [];
