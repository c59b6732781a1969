/**
 * The metrics read from a running ingress when a scrape comes, rather than
 * counted as things happen: connections, the pool, every replica's state,
 * the embedded Tower's tallies, the registry's freshness and the
 * configuration's generation. Nothing here runs between scrapes.
 *
 * @module
 */

import type { Ingress } from "../app/ingress.ts";
import type { ReplicaState } from "../replicas/state.ts";
import { CATALOG } from "./catalog.ts";
import { family, labels, type Snapshot } from "./snapshot.ts";

/** The `state` label values of replicas, each replica in exactly one. */
export const REPLICA_STATES = [
  "healthy",
  "slow_starting",
  "ejected",
  "unhealthy",
  "unchecked",
  "draining",
] as const;

/** One of {@link REPLICA_STATES}. */
export type ReplicaStateLabel = typeof REPLICA_STATES[number];

/** Draining, where the replica state carries it (a `drained`/`draining` flag, or a health of "draining"). */
function draining(s: ReplicaState): boolean {
  const d = s as unknown as { drained?: unknown; draining?: unknown; health?: unknown };
  return d.drained === true || d.draining === true || d.health === "draining";
}

/**
 * The state a replica is counted in at `now`, the first that applies:
 * draining, ejected, unhealthy or not yet checked (with health checks on,
 * `checked`), slow-starting (within `slowStartMs` of its ramp's start),
 * else healthy.
 *
 * @example
 * ```ts
 * import { replicaState } from "./ingress_gauges.ts";
 * import { ReplicaState } from "../replicas/state.ts";
 * const s = new ReplicaState("api", { host: "10.0.0.7", port: 8081 });
 * s.ejectedUntil = 2_000;
 * replicaState(s, 1_000, false, 0); // "ejected"
 * ```
 */
export function replicaState(
  s: ReplicaState,
  now: number,
  checked: boolean,
  slowStartMs: number,
): ReplicaStateLabel {
  if (draining(s)) return "draining";
  if (s.ejected(now)) return "ejected";
  if (checked && s.health === "unhealthy") return "unhealthy";
  if (checked && s.health === "new") return "unchecked";
  if (slowStartMs > 0 && s.rampFrom > 0 && now - s.rampFrom < slowStartMs) return "slow_starting";
  return "healthy";
}

/** What the gauges need besides the ingress. */
export interface GaugeOptions {
  /** The time now, ms since the epoch. */
  now: number;
  /** The label a service's series go under (its name, or "other" beyond the cap). */
  serviceLabel(service: string): string;
  /** This process is the primary: it reports the Tower and the configuration. */
  primary: boolean;
}

/**
 * The gauges (and the Tower's and registry's counters) of `ingress` now.
 *
 * @example
 * ```ts
 * import { ingressGauges } from "./ingress_gauges.ts";
 * import type { Ingress } from "../app/ingress.ts";
 * declare const ingress: Ingress;
 * ingressGauges(ingress, { now: Date.now(), serviceLabel: (s) => s, primary: true });
 * ```
 */
export function ingressGauges(ingress: Ingress, o: GaugeOptions): Snapshot {
  const clients = family(CATALOG.clientConnections);
  clients.samples.set("", ingress.connections);
  const idle = family(CATALOG.idleConnections);
  idle.samples.set("", ingress.pool.size);

  const replicas = family(CATALOG.replicas);
  const book = ingress.replicas;
  const now = book.hooks.clock.now;
  for (const service of book.services()) {
    const label = labels(["service", o.serviceLabel(service.name)]);
    const checked = service.checked;
    const counts = new Map<ReplicaStateLabel, number>();
    let any = false;
    for (const s of service.states()) {
      if (!s.listed) continue;
      any = true;
      const state = replicaState(s, now, checked, service.slowStartMs);
      counts.set(state, (counts.get(state) ?? 0) + 1);
    }
    if (!any) continue;
    for (const state of REPLICA_STATES) {
      const key = `${label},${labels(["state", state])}`;
      replicas.samples.set(
        key,
        (replicas.samples.get(key) as number ?? 0) + (counts.get(state) ?? 0),
      );
    }
  }
  const out: Snapshot = [clients, idle, replicas];

  const freshness = ingress.registry.freshness?.();
  if (freshness !== undefined) {
    const registry = labels(["registry", freshness.kind]);
    if (freshness.reconnects !== undefined) {
      const reconnects = family(CATALOG.registryReconnects);
      reconnects.samples.set(registry, freshness.reconnects);
      out.push(reconnects);
    }
    const staleness = family(CATALOG.registryStaleness);
    if (freshness.heardAt > 0) {
      staleness.samples.set(registry, Math.max(0, o.now - freshness.heardAt) / 1000);
    }
    out.push(staleness);
  }

  if (!o.primary) return out;
  const tower = ingress.tower;
  if (tower !== null) {
    const accepted = family(CATALOG.towerRegistrations);
    for (const [command, n] of tower.tally.accepted) {
      accepted.samples.set(labels(["command", command]), n);
    }
    const refused = family(CATALOG.towerRefusals);
    for (const [reason, n] of tower.tally.refused) {
      refused.samples.set(labels(["reason", reason]), n);
    }
    const entries = family(CATALOG.towerEntries);
    entries.samples.set("", tower.state.size);
    out.push(accepted, refused, entries);
  }
  const generation = family(CATALOG.generation);
  generation.samples.set("", ingress.keeper.live.current.generation);
  out.push(generation);
  return out;
}
