/**
 * A service's settings: how its replicas are picked, judged and checked.
 * The flags (and the config file's top level) give every service's; the
 * config file's `services:` section gives one service its own. Types only.
 *
 * @module
 */

import type { BalancePolicy } from "./balance.ts";
import type { HealthPolicy } from "./health.ts";
import type { ReplicaPolicy } from "./state.ts";

/** How one service's replicas are picked, judged and checked. */
export interface ServiceSettings {
  /** How its replicas are picked (`lb`). */
  readonly balance: BalancePolicy;
  /** Connect attempts per request, each to a distinct replica (`retries`). */
  readonly retries: number;
  /** Ejection, stall detection, retry budget, hedging, slow start. */
  readonly replicaPolicy: ReplicaPolicy;
  /** Active health checks, or null: off. */
  readonly health: HealthPolicy | null;
}
