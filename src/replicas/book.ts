/**
 * The replicas this process knows, per service (service.ts), and what
 * their tries' outcomes say about them: passive outlier detection (eject a
 * replica after consecutive failures, for longer each time, never more than
 * a share of its service at once), stall detection (a replica that sends
 * nothing while its peers answer is probed, and ejected when the probe goes
 * unanswered too; its tries move elsewhere), when to hedge, active health
 * checks (health.ts), the retry budget, and one log line per change of
 * state.
 *
 * @module
 */

import { type Replica, replicaAddress } from "../registry/types.ts";
import { decayedEjections, ejectionMs, maxEjected, retryAllowed } from "./policy.ts";
import { HealthChecker, type HealthPolicy } from "./health.ts";
import { ServiceReplicas } from "./service.ts";
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
  /** Every service's policy but those with their own (see {@link configure}). */
  policy: ReplicaPolicy;
  readonly hooks: BookHooks;
  /** Every service's health checks but those with their own, when on. */
  health: HealthChecker | null;
  /** Services with settings of their own. */
  #own = new Map<string, { policy: ReplicaPolicy; checker: HealthChecker | null }>();
  readonly #services = new Map<string, ServiceReplicas>();
  /** Told of every ejection as it happens (metrics), or null. */
  onEjected: ((state: ReplicaState) => void) | null = null;
  /** Told when the registry drops a drained replica, whose drain so ends (logged, relayed). */
  onDrainForgotten: ((service: string, address: string) => void) | null = null;

  constructor(policy: ReplicaPolicy, hooks: BookHooks, health: HealthPolicy | null = null) {
    this.policy = policy;
    this.hooks = hooks;
    this.health = this.#checker(health, new Map());
  }

  /** A checker for `policy` (one per distinct policy: `made` keeps those made this time). */
  #checker(
    policy: HealthPolicy | null,
    made: Map<HealthPolicy, HealthChecker>,
  ): HealthChecker | null {
    if (policy === null) return null;
    let checker = made.get(policy);
    if (checker !== undefined) return checker;
    const hooks = this.hooks;
    checker = new HealthChecker(policy, {
      check: (state, p) => hooks.check?.(state.host, state.port, p) ?? Promise.resolve(0),
      changed: (state, healthy, why) => this.#healthChanged(state, healthy, why),
      passed: (state) => this.#checkPassed(state),
      now: () => hooks.clock.now,
    });
    made.set(policy, checker);
    return checker;
  }

  /**
   * New settings (a reload): `defaults` for every service but those in
   * `services`. Each service's judging changes now; what its replicas went
   * through (ejections, health) stays.
   */
  configure(
    defaults: { replicaPolicy: ReplicaPolicy; health: HealthPolicy | null },
    services: ReadonlyMap<string, { replicaPolicy: ReplicaPolicy; health: HealthPolicy | null }>,
  ): void {
    const made = new Map<HealthPolicy, HealthChecker>();
    this.policy = defaults.replicaPolicy;
    this.health = this.#checker(defaults.health, made);
    this.#own = new Map();
    for (const [name, s] of services) {
      this.#own.set(name, { policy: s.replicaPolicy, checker: this.#checker(s.health, made) });
    }
    for (const service of this.#services.values()) {
      const { policy, checker } = this.judging(service.name);
      service.policy = policy;
      service.checker = checker;
    }
  }

  /** How `service` is judged now: its own settings, else every service's. */
  judging(service: string): { policy: ReplicaPolicy; checker: HealthChecker | null } {
    return this.#own.get(service) ?? { policy: this.policy, checker: this.health };
  }

  /** Any service has health checks. */
  get checking(): boolean {
    if (this.health !== null) return true;
    for (const own of this.#own.values()) if (own.checker !== null) return true;
    return false;
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

  /**
   * Drain (`on`) or undrain replica `address` (`host:port`) of `service`
   * (see ServiceReplicas.drain); whether that changed anything.
   */
  drain(service: string, address: string, on: boolean): boolean {
    return this.service(service).drain(address, on);
  }

  /** Every drained replica, as `[service, address]`. */
  *drains(): IterableIterator<[string, string]> {
    for (const s of this.#services.values()) for (const a of s.drains()) yield [s.name, a];
  }

  /** See {@link ServiceOwner.drainForgotten}. */
  drainForgotten(service: string, address: string): void {
    this.onDrainForgotten?.(service, address);
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
    const p = this.service(state.service).policy;
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
    const p = service.policy;
    const limit = maxEjected(p, service.size);
    if (service.ejectedCount(now) >= limit) {
      this.hooks.log(
        `replica ${state.service} ${state.address} not ejected (${reason}): ` +
          `${limit} of ${service.size} already out`,
      );
      return false;
    }
    state.ejections = decayedEjections(p, state.ejections, state.returnedAt, now) + 1;
    const ms = ejectionMs(p, state.ejections);
    state.ejectedUntil = now + ms;
    state.reason = reason;
    state.gatewayFailures = 0;
    state.serverErrors = 0;
    this.hooks.dropIdle(state.address);
    this.hooks.log(
      `replica ${state.service} ${state.address} ejected for ${ms / 1000} s (${reason}; ` +
        `ejection ${state.ejections})`,
    );
    this.onEjected?.(state);
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
    for (const service of this.#services.values()) {
      const window = service.policy.stallWindowMs;
      let anyIn = false;
      const slowAfter = service.policy.hedge && service.requests > 0
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
        if (s.listed && s.routable(now, service.checker !== null)) anyIn = true;
        if (window > 0 && s.active > 0 && !s.probing && s.ejectedUntil === 0) {
          const quietSince = Math.max(s.lastByteAt, s.busySince);
          if (now - quietSince >= window / 2 && service.lastAnswerAt > quietSince) {
            this.#probe(s, quietSince, window / 2);
          }
        }
      }
      service.checker?.sweep(service.states(), now);
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
    s.forgetDrain(address);
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
    return retryAllowed(service.policy, service.requests, service.retries);
  }
}
