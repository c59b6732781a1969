/**
 * The arithmetic of judging replicas: how long an ejection lasts, how many
 * replicas may be out at once, and how many retries a service may have in
 * flight. Pure functions over a {@link ReplicaPolicy}.
 *
 * @module
 */

import type { ReplicaPolicy } from "./state.ts";

/**
 * The defaults, Envoy's where Envoy has one: 5 consecutive gateway failures
 * or 5xx eject for 30 s times the ejection count, at most 300 s; a retry
 * budget of 20% of requests in flight, at least 3. At most half of a
 * service's replicas out at once (Envoy: 10%, which with the three or so
 * replicas a discovered service often has would allow none but the one
 * that may always go); a stall window of 1 s; hedging on; no slow start.
 */
export const DEFAULT_POLICY: Readonly<ReplicaPolicy> = {
  gatewayFailures: 5,
  serverErrors: 5,
  baseEjectionMs: 30_000,
  maxEjectionMs: 300_000,
  maxEjectedPercent: 50,
  stallWindowMs: 1_000,
  retryBudgetPercent: 20,
  retryBudgetMin: 3,
  hedge: true,
  slowStartMs: 0,
};

/**
 * How long the `ejections`-th ejection lasts: the base time that many
 * times, capped.
 *
 * @example
 * ```ts
 * import { DEFAULT_POLICY, ejectionMs } from "./policy.ts";
 * ejectionMs(DEFAULT_POLICY, 1);  // 30000
 * ejectionMs(DEFAULT_POLICY, 20); // 300000
 * ```
 */
export function ejectionMs(policy: ReplicaPolicy, ejections: number): number {
  return Math.min(policy.baseEjectionMs * Math.max(1, ejections), policy.maxEjectionMs);
}

/**
 * The ejection count a replica carries into its next ejection: one less for
 * every base time it has stayed in since it last came back.
 *
 * @example
 * ```ts
 * import { DEFAULT_POLICY, decayedEjections } from "./policy.ts";
 * decayedEjections(DEFAULT_POLICY, 3, 0, 65_000); // 1 (two base times passed)
 * ```
 */
export function decayedEjections(
  policy: ReplicaPolicy,
  ejections: number,
  returnedAt: number,
  now: number,
): number {
  if (ejections === 0 || policy.baseEjectionMs <= 0) return ejections;
  return Math.max(0, ejections - Math.floor((now - returnedAt) / policy.baseEjectionMs));
}

/**
 * How many of `replicas` may be ejected at once: the share the policy
 * allows, rounded down, but always at least one.
 *
 * @example
 * ```ts
 * import { DEFAULT_POLICY, maxEjected } from "./policy.ts";
 * maxEjected(DEFAULT_POLICY, 3);  // 1
 * maxEjected(DEFAULT_POLICY, 10); // 5
 * ```
 */
export function maxEjected(policy: ReplicaPolicy, replicas: number): number {
  return Math.max(1, Math.floor((replicas * policy.maxEjectedPercent) / 100));
}

/**
 * Whether one more retry may start, with `requests` requests and `retries`
 * retries of the service in flight.
 *
 * @example
 * ```ts
 * import { DEFAULT_POLICY, retryAllowed } from "./policy.ts";
 * retryAllowed(DEFAULT_POLICY, 10, 2);  // true: at least 3 may always be in flight
 * retryAllowed(DEFAULT_POLICY, 100, 20); // false: 20% of 100 are already out
 * ```
 */
export function retryAllowed(policy: ReplicaPolicy, requests: number, retries: number): boolean {
  const budget = Math.max(
    policy.retryBudgetMin,
    Math.floor((requests * policy.retryBudgetPercent) / 100),
  );
  return retries < budget;
}

/**
 * How long to wait before the `n`-th retry of a request (n = 1 for the
 * first): the first goes at once (it goes to another replica), later ones
 * after a random share of a delay that doubles, up to 250 ms, so retries of
 * many requests do not arrive together.
 *
 * @example
 * ```ts
 * import { retryDelayMs } from "./policy.ts";
 * retryDelayMs(1, Math.random); // 0
 * retryDelayMs(3, () => 0.5);   // 25
 * ```
 */
export function retryDelayMs(n: number, random: () => number): number {
  if (n <= 1) return 0;
  return Math.floor(random() * Math.min(250, 25 * 2 ** (n - 2)));
}
