/**
 * One service's replicas as this process sees them: the registry's last
 * answer and each listed replica's state (made on first sight, forgotten
 * once the registry drops it and no try is out on it), read once per
 * answer (a registry may hand the same arrays out again), the service's
 * requests and retries in flight, and its panic.
 *
 * @module
 */

import { type Replica, replicaAddress } from "../registry/types.ts";
import { type ReplicaPolicy, ReplicaState } from "./state.ts";
import type { HealthChecker } from "./health.ts";

/** What a service's replicas need from the book that keeps them. */
export interface ServiceOwner {
  readonly hooks: {
    readonly clock: { readonly now: number };
    log(line: string): void;
    dropIdle(address: string): void;
  };
  /** The registry dropped a drained replica: its drain is forgotten. */
  drainForgotten(service: string, address: string): void;
  /** The service's policy and checker, from its settings now. */
  judging(service: string): { policy: ReplicaPolicy; checker: HealthChecker | null };
}

/** A registry answer read before: its replicas' states, and how many distinct ones. */
interface SeenList {
  readonly states: readonly ReplicaState[];
  readonly distinct: number;
  readonly grouped: boolean;
  readonly weighted: boolean;
}

/**
 * The replicas of one service.
 *
 * @example
 * ```ts
 * import { ReplicaBook } from "./book.ts";
 * import { DEFAULT_POLICY } from "./policy.ts";
 * declare const book: ReplicaBook;
 * const api = book.service("api");
 * api.stateOf({ host: "10.0.0.7", port: 8081 }).active; // 0
 * ```
 */
export class ServiceReplicas {
  readonly name: string;
  readonly #states = new Map<string, ReplicaState>();
  /** The registry's last answer (a new one is compared, an unchanged one is not). */
  #list: readonly Replica[] | null = null;
  /** The states of `#list`, index for index (picking reads them without a lookup). */
  #listStates: readonly ReplicaState[] = [];
  #listedCount = 0;
  /** The registry has answered for this service before. */
  #answered = false;
  /** Lists read before, with their states (a registry may hand the same arrays out again). */
  #seenLists = new WeakMap<readonly Replica[], SeenList>();
  /**
   * Addresses drained (see {@link drain}), apart from the states: a drain
   * told before this process saw the replica (a `--procs` worker) applies
   * when it does.
   */
  readonly #drains = new Set<string>();
  /** Requests of this service in flight, and the retries among them. */
  requests = 0;
  retries = 0;
  /** When any replica of this service last sent a response byte. */
  lastAnswerAt = 0;
  /** Every listed replica is ejected, and requests go to all of them anyway. */
  panicking = false;
  /** The last list has priority groups (some replica's priority is not 0), and unequal weights. */
  grouped = false;
  weighted = false;

  /** How its replicas are judged: its own settings', else every service's (see ReplicaBook.configure). */
  policy: ReplicaPolicy;
  /** Its active health checks, or null: off. */
  checker: HealthChecker | null;

  readonly #book: ServiceOwner;

  constructor(name: string, book: ServiceOwner) {
    this.name = name;
    this.#book = book;
    const { policy, checker } = book.judging(name);
    this.policy = policy;
    this.checker = checker;
  }

  /** The state of `replica` (made on first sight). */
  stateOf(replica: Replica): ReplicaState {
    const key = replicaAddress(replica);
    let state = this.#states.get(key);
    if (state === undefined) {
      this.#states.set(key, state = new ReplicaState(this.name, replica));
      if (this.#drains.size > 0 && this.#drains.has(key)) state.drained = true;
    }
    return state;
  }

  /**
   * Drain (`on`) the replica at `address` (`host:port`): no new requests
   * go to it (not even in a panic), its idle pooled connections close,
   * requests in flight finish; it stays drained while the registry keeps
   * listing it (heartbeats), until undrained or gone. Or undrain it.
   * Returns whether that changed anything.
   */
  drain(address: string, on: boolean): boolean {
    if (on === this.#drains.has(address)) return false;
    if (on) this.#drains.add(address);
    else this.#drains.delete(address);
    const state = this.#states.get(address);
    if (state !== undefined) state.drained = on;
    if (on) this.#book.hooks.dropIdle(address);
    return true;
  }

  /** The addresses drained now. */
  drains(): IterableIterator<string> {
    return this.#drains.values();
  }

  /** The registry no longer lists `address`: a drain of it ends (told to the book). */
  forgetDrain(address: string): void {
    if (!this.#drains.delete(address)) return;
    const state = this.#states.get(address);
    if (state !== undefined) state.drained = false;
    this.#book.drainForgotten(this.name, address);
  }

  /** Every replica's state. */
  states(): IterableIterator<ReplicaState> {
    return this.#states.values();
  }

  /** Distinct replicas the registry listed last time. */
  get size(): number {
    return this.#list === null ? this.#states.size : this.#listedCount;
  }

  /**
   * The registry's answer now; returns its replicas' states in its order.
   * Replicas it no longer lists are forgotten (once no try is out on them)
   * and their idle pooled connections closed.
   */
  listed(replicas: readonly Replica[]): readonly ReplicaState[] {
    if (replicas === this.#list) return this.#listStates;
    // The embedded Tower rotates its answer per request among a few arrays it keeps: one read
    // before, with the same replicas still listed, needs no reading again.
    const seen = this.#seenLists.get(replicas);
    if (seen !== undefined && this.#stillListed(seen)) {
      this.#list = replicas;
      this.#listStates = seen.states;
      this.grouped = seen.grouped;
      this.weighted = seen.weighted;
      return seen.states;
    }
    // A replica that appears after the service's first answer starts slowly.
    const later = this.#answered;
    this.#answered = true;
    this.#list = replicas;
    for (const s of this.#states.values()) s.listed = false;
    const states: ReplicaState[] = [];
    let grouped = false;
    let weighted = false;
    for (const r of replicas) {
      const known = this.#states.size;
      const state = this.stateOf(r);
      if (later && this.#states.size > known) state.rampFrom = this.#book.hooks.clock.now;
      state.listed = true;
      state.weight = r.weight !== undefined && r.weight > 0 ? r.weight : 1;
      state.priority = r.priority ?? 0;
      if (state.priority !== 0) grouped = true;
      if (states.length > 0 && state.weight !== states[0].weight) weighted = true;
      states.push(state);
    }
    this.#listStates = states;
    this.grouped = grouped;
    this.weighted = weighted;
    this.#listedCount = 0;
    for (const [key, s] of this.#states) {
      if (s.listed) {
        this.#listedCount++;
        continue;
      }
      if (s.drained) this.forgetDrain(s.address);
      this.#book.hooks.dropIdle(s.address);
      if (s.active === 0) this.#states.delete(key);
    }
    this.#seenLists.set(replicas, { states, distinct: this.#listedCount, grouped, weighted });
    return states;
  }

  /** A list read before still names exactly the replicas listed now, with the same states. */
  #stillListed(seen: SeenList): boolean {
    if (seen.distinct !== this.#listedCount) return false;
    for (const s of seen.states) if (!s.listed || this.#states.get(s.address) !== s) return false;
    return true;
  }

  /** Replicas ejected at `now`. */
  ejectedCount(now: number): number {
    let n = 0;
    for (const s of this.#states.values()) if (s.listed && s.ejected(now)) n++;
    return n;
  }

  /** Health checks run: picking takes healthy replicas only. */
  get checked(): boolean {
    return this.checker !== null;
  }

  /** The slow-start window (0: none). */
  get slowStartMs(): number {
    return this.policy.slowStartMs;
  }

  /** Every listed replica is ejected (or not healthy): say so once, and route to all (panic). */
  panic(): void {
    if (this.panicking) return;
    this.panicking = true;
    const out = this.checked ? "ejected or not healthy" : "ejected";
    this.#book.hooks.log(`service ${this.name}: every replica is ${out}; routing to all (panic)`);
  }

  /** Forget a state nobody waits on that the registry no longer lists. */
  forgetIfGone(state: ReplicaState): void {
    if (state.listed || state.active !== 0) return;
    // Only this state: a replica listed again since may have a new one under the same address.
    if (this.#states.get(state.address) !== state) return;
    this.#states.delete(state.address);
    // The next answer is read afresh, whatever list it comes in.
    this.#list = null;
  }
}
