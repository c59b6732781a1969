/**
 * Why a replica was ejected, as one of a few fixed label values: the
 * book's reasons are sentences ("5 consecutive 5xx", "stalled: no byte for
 * 1.0 s ..."), and a label must take a bounded set of values.
 *
 * @module
 */

import type { ReplicaState } from "../replicas/state.ts";

/** The `reason` label values of ejections, in the order their counts are kept. */
export const EJECTION_REASONS = [
  "gateway_failures",
  "server_errors",
  "hedge_losses",
  "stalled",
  "other",
] as const;

/**
 * The index in {@link EJECTION_REASONS} of why `state` was just ejected:
 * consecutive gateway failures whose last was a race lost to a hedge count
 * as hedge losses (a slow replica, beaten by its peers), other gateway
 * failures (refused, reset, timed out, 502-504) as gateway failures.
 *
 * @example
 * ```ts
 * import { EJECTION_REASONS, ejectionReason } from "./ejection_reason.ts";
 * import { ReplicaState } from "../replicas/state.ts";
 * const s = new ReplicaState("api", { host: "10.0.0.7", port: 8081 });
 * s.reason = "5 consecutive 5xx";
 * EJECTION_REASONS[ejectionReason(s)]; // "server_errors"
 * ```
 */
export function ejectionReason(state: Readonly<ReplicaState>): number {
  const reason = state.reason;
  if (reason.startsWith("stalled")) return 3;
  if (reason.endsWith("consecutive 5xx")) return 1;
  if (reason.endsWith("consecutive gateway failures")) {
    return state.lastError.includes("a hedge answered first") ? 2 : 0;
  }
  return 4;
}
