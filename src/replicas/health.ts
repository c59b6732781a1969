/**
 * Active health checks: an HTTP request to each replica's health path on an
 * interval (with jitter), on a connection of its own. A replica is healthy
 * after `rise` passing checks in a row and unhealthy after `fall` failing
 * ones; a new replica is routed to once its first check passes (until
 * then, and while unhealthy, only if no replica of its service is healthy:
 * a panic, as with ejection). A passing check also ends an ejection. Checks
 * run for every replica the service state lists (replicas/book.ts), start
 * when it appears, stop when it goes, and never more than a set number at
 * once, so a thousand replicas appearing together do not make a burst.
 *
 * @module
 */

import type { ReplicaState } from "./state.ts";

/** How replicas are checked (`--health-*` flags). */
export interface HealthPolicy {
  method: string;
  path: string;
  /** Between two checks of one replica, ±10% jitter. */
  intervalMs: number;
  timeoutMs: number;
  /** Passing checks in a row that make an unhealthy replica healthy. */
  rise: number;
  /** Failing checks in a row that make a healthy replica unhealthy. */
  fall: number;
  /** Statuses that pass, as inclusive ranges. */
  statuses: readonly (readonly [number, number])[];
  /** The Host header sent; the replica's address when null. */
  host: string | null;
}

/** The defaults of everything but the path (HAProxy's and Envoy's orders of magnitude). */
export const HEALTH_DEFAULTS: Omit<HealthPolicy, "path"> = {
  method: "GET",
  intervalMs: 5_000,
  timeoutMs: 2_000,
  rise: 2,
  fall: 3,
  statuses: [[200, 399]],
  host: null,
};

/** Checks in flight at once, at most (the rest wait for a later sweep). */
const MAX_IN_FLIGHT = 64;
/** A new replica's first check comes within this long (spread, so appearances do not burst). */
const FIRST_CHECK_SPREAD_MS = 1_000;

/**
 * Statuses that pass: `200-399`, `200,204`, `2xx`, or a mix, comma-separated.
 * Throws a message for anything else.
 *
 * @example
 * ```ts
 * import { parseStatuses } from "./health.ts";
 * parseStatuses("200,3xx"); // [[200, 200], [300, 399]]
 * ```
 */
export function parseStatuses(text: string): [number, number][] {
  const ranges: [number, number][] = [];
  for (const part of text.split(",")) {
    const p = part.trim();
    let m = /^([1-5])xx$/i.exec(p);
    if (m) {
      ranges.push([Number(m[1]) * 100, Number(m[1]) * 100 + 99]);
      continue;
    }
    m = /^([1-5]\d\d)(?:-([1-5]\d\d))?$/.exec(p);
    if (!m || (m[2] !== undefined && Number(m[2]) < Number(m[1]))) {
      throw new Error("must be statuses or ranges from 100 to 599, e.g. 200-399 or 200,204 or 2xx");
    }
    ranges.push([Number(m[1]), Number(m[2] ?? m[1])]);
  }
  return ranges;
}

/** Whether `status` passes `policy`. */
export function passes(policy: HealthPolicy, status: number): boolean {
  for (const [lo, hi] of policy.statuses) if (status >= lo && status <= hi) return true;
  return false;
}

/** What the checker needs from the world around it. */
export interface HealthHooks {
  /** The check's answer: its status, 0 when none came in time. */
  check(state: ReplicaState, policy: HealthPolicy): Promise<number>;
  /** A check's verdict changed the replica's health (`healthy` now or not). */
  changed(state: ReplicaState, healthy: boolean, why: string): void;
  /** A check passed (an ejection may end). */
  passed(state: ReplicaState): void;
  /** The time now, in ms. */
  now(): number;
}

/**
 * Schedules and judges the checks.
 *
 * @example
 * ```ts
 * import { HEALTH_DEFAULTS, HealthChecker, type HealthHooks } from "./health.ts";
 * import type { ReplicaState } from "./state.ts";
 * declare const hooks: HealthHooks, states: ReplicaState[];
 * const checker = new HealthChecker({ ...HEALTH_DEFAULTS, path: "/healthz" }, hooks);
 * checker.sweep(states, Date.now()); // every 100 ms or so
 * ```
 */
export class HealthChecker {
  readonly policy: HealthPolicy;
  readonly #hooks: HealthHooks;
  #inFlight = 0;

  constructor(policy: HealthPolicy, hooks: HealthHooks) {
    this.policy = policy;
    this.#hooks = hooks;
  }

  /** Checks in flight now. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /** Start the checks that are due among `states` (the replicas listed now). */
  sweep(states: Iterable<ReplicaState>, now: number): void {
    for (const s of states) {
      if (!s.listed || s.checking) continue;
      if (s.nextCheckAt === 0) {
        // First sight: its first check soon, spread so that many new replicas do not burst.
        s.nextCheckAt = now + Math.random() *
            Math.min(FIRST_CHECK_SPREAD_MS, this.policy.intervalMs);
      }
      if (s.nextCheckAt > now) continue;
      if (this.#inFlight >= MAX_IN_FLIGHT) return;
      this.#start(s);
    }
  }

  #start(state: ReplicaState): void {
    state.checking = true;
    this.#inFlight++;
    this.#hooks.check(state, this.policy).then(
      (status) => this.#judge(state, status),
      () => this.#judge(state, 0),
    );
  }

  #judge(state: ReplicaState, status: number): void {
    this.#inFlight--;
    state.checking = false;
    const p = this.policy;
    // The next check one interval on, ±10%.
    state.nextCheckAt = this.#hooks.now() + p.intervalMs * (0.9 + 0.2 * Math.random());
    if (!state.listed) return;
    if (passes(p, status)) {
      state.checkFails = 0;
      state.checkPasses++;
      this.#hooks.passed(state);
      // A new replica needs one pass; an unhealthy one, `rise` in a row.
      if (state.health !== "healthy" && (state.health === "new" || state.checkPasses >= p.rise)) {
        state.health = "healthy";
        this.#hooks.changed(state, true, `health check passed (${status})`);
      }
      return;
    }
    state.checkPasses = 0;
    state.checkFails++;
    const why = status === 0
      ? `health check got no answer within ${p.timeoutMs / 1000} s`
      : `health check answered ${status}`;
    if (state.health === "new" || (state.health === "healthy" && state.checkFails >= p.fall)) {
      state.health = "unhealthy";
      this.#hooks.changed(state, false, why);
    }
  }
}
