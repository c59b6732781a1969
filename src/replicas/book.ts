/**
 * The replicas this process has sent requests to, per service, and what
 * their tries' outcomes say about them: passive outlier detection (eject a
 * replica after consecutive failures, for longer each time, never more than
 * a share of its service at once), stall detection (a replica that sends
 * nothing while its peers answer is probed, and ejected when the probe goes
 * unanswered too; its tries move elsewhere), the retry budget, and one log
 * line per change of state.
 *
 * @module
 */

import { type Replica, replicaAddress } from "../registry/types.ts";
import { decayedEjections, ejectionMs, maxEjected, retryAllowed } from "./policy.ts";
import { HealthChecker, type HealthPolicy } from "./health.ts";
import {
  Outcome,
  type ReplicaPolicy,
  ReplicaState,
  slowAbove,
  type StallListener,
} from "./state.ts";

/**
 * Tries on a replica, all without a byte, that make it look slow rather
 * than one request slow: a lone slow request may be a slow endpoint (a
 * report, a long poll), and is not sent twice, unless its replica lost a
 * race to a hedge since it last answered well (the same request was
 * answered quicker elsewhere: the replica is slow, not the request).
 */
const HEDGE_MIN_ACTIVE = 2;

/** A registry answer read before: its replicas' states, and how many distinct ones. */
interface SeenList {
  readonly states: readonly ReplicaState[];
  readonly distinct: number;
  readonly grouped: boolean;
  readonly weighted: boolean;
}

const NONE: readonly Replica[] = [];

/** What the book needs from the world around it. */
export interface BookHooks {
  /** The time now, in ms (a coarse clock is fine). */
  readonly clock: { readonly now: number };
  /**
   * The time now to the millisecond, for when bytes come (a replica's quiet
   * is compared with its peers' latencies, which are milliseconds);
   * `clock.now` when absent.
   */
  precise?: () => number;
  /** One line per change of a replica's state. */
  log(line: string): void;
  /** Close the idle pooled connections to `address` (it was ejected or is gone). */
  dropIdle(address: string): void;
  /** Whether the replica answers at all: any response byte within `timeoutMs`. */
  probe(host: string, port: number, timeoutMs: number): Promise<boolean>;
  /** An active health check's answer: its status, or 0 (see health.ts); needed with checks on. */
  check?(host: string, port: number, policy: HealthPolicy): Promise<number>;
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

  readonly #book: ReplicaBook;

  constructor(name: string, book: ReplicaBook) {
    this.name = name;
    this.#book = book;
  }

  /** The state of `replica` (made on first sight). */
  stateOf(replica: Replica): ReplicaState {
    const key = replicaAddress(replica);
    let state = this.#states.get(key);
    if (state === undefined) this.#states.set(key, state = new ReplicaState(this.name, replica));
    return state;
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
    return this.#book.health !== null;
  }

  /** The slow-start window (0: none). */
  get slowStartMs(): number {
    return this.#book.policy.slowStartMs;
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

/**
 * Every service's replicas, and the judging of them.
 *
 * @example
 * ```ts
 * import { ReplicaBook } from "./book.ts";
 * import { DEFAULT_POLICY } from "./policy.ts";
 * const book = new ReplicaBook(DEFAULT_POLICY, {
 *   clock: { now: Date.now() },
 *   log: console.error,
 *   dropIdle: () => {},
 *   probe: () => Promise.resolve(true),
 * });
 * book.service("api").stateOf({ host: "10.0.0.7", port: 8081 });
 * ```
 */
export class ReplicaBook {
  readonly policy: ReplicaPolicy;
  readonly hooks: BookHooks;
  /** Active health checks, when on. */
  readonly health: HealthChecker | null;
  readonly #services = new Map<string, ServiceReplicas>();

  constructor(policy: ReplicaPolicy, hooks: BookHooks, health: HealthPolicy | null = null) {
    this.policy = policy;
    this.hooks = hooks;
    this.health = health === null ? null : new HealthChecker(health, {
      check: (state, p) => hooks.check?.(state.host, state.port, p) ?? Promise.resolve(0),
      changed: (state, healthy, why) => this.#healthChanged(state, healthy, why),
      passed: (state) => this.#checkPassed(state),
      now: () => hooks.clock.now,
    });
  }

  #healthChanged(state: ReplicaState, healthy: boolean, why: string): void {
    if (healthy) state.rampFrom = this.hooks.clock.now;
    this.hooks.log(
      `replica ${state.service} ${state.address} ${healthy ? "healthy" : "unhealthy"} (${why})`,
    );
    if (!healthy) this.hooks.dropIdle(state.address);
  }

  /** A passing health check ends an ejection. */
  #checkPassed(state: ReplicaState): void {
    const now = this.hooks.clock.now;
    if (!state.ejected(now)) return;
    state.ejectedUntil = now;
    this.#comeBack(state, now);
  }

  /** The replicas of `name` (made on first use). */
  service(name: string): ServiceReplicas {
    let s = this.#services.get(name);
    if (s === undefined) this.#services.set(name, s = new ServiceReplicas(name, this));
    return s;
  }

  /** Every service seen. */
  services(): IterableIterator<ServiceReplicas> {
    return this.#services.values();
  }

  /**
   * What a registry that holds every service says now (see
   * `Registry.known`): each service's replicas become listed, so health
   * checks start when a replica appears, and a service it no longer holds
   * lists none.
   */
  catchUp(known: Iterable<readonly [string, readonly Replica[]]>): void {
    const held = new Set<string>();
    for (const [name, replicas] of known) {
      held.add(name);
      this.service(name).listed(replicas);
    }
    for (const [name, service] of this.#services) if (!held.has(name)) service.listed(NONE);
  }

  /** A try on `state` begins at `now` (precise); `listener` hears if the replica is found frozen. */
  tryStarted(state: ReplicaState, listener: StallListener, now = this.#preciseNow()): void {
    if (state.active++ === 0) state.busySince = now;
    state.waiting.add(listener);
  }

  /** A byte of a response (or a probe's answer) came from `state`. */
  heard(state: ReplicaState, service: ServiceReplicas): void {
    const now = this.#preciseNow();
    state.lastByteAt = now;
    service.lastAnswerAt = now;
  }

  /**
   * What a try's response head or failure said: consecutive failures
   * count up and eject at the policy's limit; a success resets them.
   */
  judge(state: ReplicaState, outcome: Outcome, error = ""): void {
    const now = this.hooks.clock.now;
    if (outcome === Outcome.Success) {
      state.lostRaces = 0;
      state.gatewayFailures = 0;
      state.serverErrors = 0;
      return;
    }
    if (outcome === Outcome.None) return;
    if (error !== "") {
      state.lastError = error;
      state.lastErrorAt = now;
    }
    const p = this.policy;
    if (outcome !== Outcome.ServerError) {
      state.gatewayFailures++;
      if (p.gatewayFailures > 0 && state.gatewayFailures >= p.gatewayFailures) {
        // Ejected: its counts start over. Refused (too many out): a 502-504 still counts as a 5xx.
        if (this.eject(state, `${state.gatewayFailures} consecutive gateway failures`)) return;
      }
    }
    if (outcome === Outcome.GatewayFailure) return;
    state.serverErrors++;
    if (p.serverErrors > 0 && state.serverErrors >= p.serverErrors) {
      this.eject(state, `${state.serverErrors} consecutive 5xx`);
    }
  }

  /** A try on `state` is over. */
  tryEnded(state: ReplicaState, listener: StallListener): void {
    if (!state.waiting.delete(listener)) return;
    state.active--;
    if (state.active === 0) this.service(state.service).forgetIfGone(state);
  }

  /**
   * Take `state` out of picking for a while, unless its service has as many
   * replicas out as the policy allows. Returns whether it was ejected.
   */
  eject(state: ReplicaState, reason: string): boolean {
    const now = this.hooks.clock.now;
    if (state.ejected(now)) return true;
    this.#comeBack(state, now);
    const service = this.service(state.service);
    const limit = maxEjected(this.policy, service.size);
    if (service.ejectedCount(now) >= limit) {
      this.hooks.log(
        `replica ${state.service} ${state.address} not ejected (${reason}): ` +
          `${limit} of ${service.size} already out`,
      );
      return false;
    }
    state.ejections = decayedEjections(this.policy, state.ejections, state.returnedAt, now) + 1;
    const ms = ejectionMs(this.policy, state.ejections);
    state.ejectedUntil = now + ms;
    state.reason = reason;
    state.gatewayFailures = 0;
    state.serverErrors = 0;
    this.hooks.dropIdle(state.address);
    this.hooks.log(
      `replica ${state.service} ${state.address} ejected for ${ms / 1000} s (${reason}; ` +
        `ejection ${state.ejections})`,
    );
    return true;
  }

  /**
   * Run every 100 ms or so: brings back replicas whose ejection is over,
   * ends a panic once a replica is back, probes replicas that have gone
   * quiet while their peers answered, and offers a hedge to the tries on a
   * replica that has sent nothing for far longer than the service's
   * quickest replica takes to answer, while its peers answered.
   */
  sweep(): void {
    const now = this.hooks.clock.now;
    const window = this.policy.stallWindowMs;
    for (const service of this.#services.values()) {
      let anyIn = false;
      const slowAfter = this.policy.hedge && service.requests > 0
        ? slowAbove(service.states(), now, service.panicking)
        : Infinity;
      for (const s of service.states()) {
        const slowReplica = s.active >= HEDGE_MIN_ACTIVE || (s.active > 0 && s.lostRaces > 0);
        if (slowAfter !== Infinity && slowReplica && s.ejectedUntil === 0) {
          const quietSince = Math.max(s.lastByteAt, s.busySince);
          if (now - quietSince > slowAfter && service.lastAnswerAt > quietSince) {
            // A list copy: a listener that hedges starts a try of its own on a replica.
            for (const l of [...s.waiting]) l.slowCheck(now, slowAfter, service.lastAnswerAt);
          }
        }
        this.#comeBack(s, now);
        if (s.listed && s.routable(now, this.health !== null)) anyIn = true;
        if (window > 0 && s.active > 0 && !s.probing && s.ejectedUntil === 0) {
          const quietSince = Math.max(s.lastByteAt, s.busySince);
          if (now - quietSince >= window / 2 && service.lastAnswerAt > quietSince) {
            this.#probe(s, quietSince, window / 2);
          }
        }
      }
      this.health?.sweep(service.states(), now);
      if (anyIn && service.panicking) {
        service.panicking = false;
        this.hooks.log(`service ${service.name}: a replica is back; panic over`);
      }
    }
  }

  /** An ejection that is over ends: the replica is back (one log line). */
  #comeBack(s: ReplicaState, now: number): void {
    if (s.ejectedUntil === 0 || s.ejectedUntil > now) return;
    s.returnedAt = s.ejectedUntil;
    s.ejectedUntil = 0;
    s.rampFrom = now;
    this.hooks.log(`replica ${s.service} ${s.address} returned (was: ${s.reason})`);
  }

  /** Ask a quiet replica whether it answers at all; a replica that does not is stalled. */
  #probe(state: ReplicaState, quietSince: number, timeoutMs: number): void {
    state.probing = true;
    this.hooks.probe(state.host, state.port, timeoutMs).then(
      (alive) => this.#probed(state, quietSince, alive),
      () => this.#probed(state, quietSince, false),
    );
  }

  #probed(state: ReplicaState, quietSince: number, alive: boolean): void {
    state.probing = false;
    if (alive) {
      // It answers: only what it was asked takes long. Start the quiet over.
      state.lastByteAt = this.#preciseNow();
      return;
    }
    // A byte of a response came meanwhile, or the tries ended: not frozen after all.
    if (state.lastByteAt > quietSince || state.active === 0) return;
    const quiet = ((this.hooks.clock.now - quietSince) / 1000).toFixed(1);
    this.eject(
      state,
      `stalled: no byte for ${quiet} s while its peers answered, and a probe went unanswered`,
    );
    this.moveWaiting(state);
  }

  /** The tries waiting on `state` that can go elsewhere do so now (each decides). */
  moveWaiting(state: ReplicaState): void {
    // A list copy, as they leave.
    for (const listener of [...state.waiting]) listener.replicaStalled();
  }

  /**
   * The registry says `replica` of `service` is gone: its idle pooled
   * connections close now, and its state goes once no try is out on it.
   */
  removed(service: string, replica: Replica): void {
    const address = replicaAddress(replica);
    this.hooks.dropIdle(address);
    const s = this.#services.get(service);
    if (s === undefined) return;
    const state = s.stateOf(replica);
    state.listed = false;
    s.forgetIfGone(state);
  }

  #preciseNow(): number {
    return this.hooks.precise?.() ?? this.hooks.clock.now;
  }

  /** The time now to the millisecond (see {@link BookHooks.precise}). */
  get now(): number {
    return this.#preciseNow();
  }

  /** Whether a retry may start for `service` now (the retry budget). */
  mayRetry(service: ServiceReplicas): boolean {
    return retryAllowed(this.policy, service.requests, service.retries);
  }
}
