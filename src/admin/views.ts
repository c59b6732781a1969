/**
 * What the admin API and the dashboard show, as plain JSON values: the
 * routes of the live configuration snapshot (each with where it came from
 * and its rules in the config file's keys), and every service's replicas
 * with the state picking sees them in.
 *
 * @module
 */

import type { ConfigSnapshot } from "../config/snapshot.ts";
import { ruleEntry } from "../config/rules_entry.ts";
import type { Route } from "../routing/router.ts";
import type { RegistryChoice } from "../app/config.ts";
import { formatHostPort } from "../net/address.ts";
import type { ReplicaBook } from "../replicas/book.ts";
import type { ServiceReplicas } from "../replicas/service.ts";
import type { ReplicaState } from "../replicas/state.ts";

/** One route as the admin API shows it. */
export interface RouteView {
  /** `[host]/prefix[*]`, as `--route` writes it without the service. */
  route: string;
  /** The host it is for ("" for any). */
  host: string;
  prefix: string;
  /** A plain string prefix (written with a trailing `*`), not whole segments. */
  stringPrefix: boolean;
  /** The service it sends to ("" when the route answers itself). */
  service: string;
  /** "--route", "gatehouse.yaml:12", "etcd /gatehouse/routes/api", "tower 10.0.0.7:41000". */
  origin: string;
  /** Its rules in the config file's keys (`{}` for none). */
  rules: Record<string, unknown>;
}

/**
 * The routes of `snapshot`, in the table's order (static first), and its generation.
 *
 * @example
 * ```ts
 * import { routesView } from "./views.ts";
 * import type { ConfigSnapshot } from "../config/snapshot.ts";
 * declare const snapshot: ConfigSnapshot;
 * routesView(snapshot).routes[0].origin; // "--route"
 * ```
 */
export function routesView(snapshot: ConfigSnapshot): { generation: number; routes: RouteView[] } {
  return { generation: snapshot.generation, routes: snapshot.table.routes.map(routeView) };
}

function routeView(r: Route): RouteView {
  return {
    route: `${r.host}${r.prefix}${r.stringPrefix ? "*" : ""}`,
    host: r.host,
    prefix: r.prefix,
    stringPrefix: r.stringPrefix,
    service: r.service,
    origin: r.origin,
    rules: ruleEntry(r.rules),
  };
}

/**
 * A replica's state, as picking sees it, most telling first: `draining` (an
 * operator drained it), `ejected` (outlier detection), `unhealthy` (health
 * checks), `new` (health checks on, none passed yet), `slow-starting` (its
 * weight still ramping), else `healthy`.
 */
export type ReplicaStatus =
  | "healthy"
  | "ejected"
  | "unhealthy"
  | "draining"
  | "slow-starting"
  | "new";

/**
 * The state `s` of `service` is in at `now`.
 *
 * @example
 * ```ts
 * import { replicaStatus } from "./views.ts";
 * import type { ServiceReplicas } from "../replicas/service.ts";
 * import { ReplicaState } from "../replicas/state.ts";
 * declare const service: ServiceReplicas;
 * const s = new ReplicaState("api", { host: "10.0.0.7", port: 8081 });
 * s.drained = true;
 * replicaStatus(s, service, Date.now()); // "draining"
 * ```
 */
export function replicaStatus(
  s: ReplicaState,
  service: ServiceReplicas,
  now: number,
): ReplicaStatus {
  if (s.drained) return "draining";
  if (s.ejected(now)) return "ejected";
  if (service.checked && s.health === "unhealthy") return "unhealthy";
  if (service.checked && s.health === "new") return "new";
  if (s.weightAt(now, service.slowStartMs) < s.weight) return "slow-starting";
  return "healthy";
}

/** One replica as the admin API shows it. */
export interface ReplicaView {
  /** `host:port` (IPv6 bracketed). */
  address: string;
  /** The registry it comes from (see {@link registryName}). */
  source: string;
  state: ReplicaStatus;
  /** Its health checks' verdict: "healthy", "unhealthy", "new", or "unchecked" (checks off). */
  health: string;
  /** Ejections counted for the next one's length (they decay while it stays in). */
  ejections: number;
  /** Why it was last ejected ("" never), and until when it is out (ISO time; null: in). */
  reason: string;
  ejectedUntil: string | null;
  /** Requests out on it now. */
  active: number;
  /** The last error seen on it ("" none), and when (ISO time, or null). */
  lastError: string;
  lastErrorAt: string | null;
  /** Its weight from the registry, and what picking gives it now (less while slow-starting). */
  weight: number;
  effectiveWeight: number;
  drained: boolean;
}

/** One service as the admin API shows it. */
export interface ServiceView {
  name: string;
  /** Its replicas the registry lists now. */
  replicas: ReplicaView[];
  /** Its requests in flight. */
  requests: number;
  /** Every replica is out and requests go to all of them anyway. */
  panicking: boolean;
  /** Health checks run for it. */
  checked: boolean;
}

function iso(ms: number): string | null {
  return ms > 0 ? new Date(ms).toISOString() : null;
}

/**
 * Replica `s` of `service` at `now`, from registry `source`.
 *
 * @example
 * ```ts
 * import { replicaView } from "./views.ts";
 * import type { ServiceReplicas } from "../replicas/service.ts";
 * import { ReplicaState } from "../replicas/state.ts";
 * declare const service: ServiceReplicas;
 * const s = new ReplicaState("api", { host: "10.0.0.7", port: 8081 });
 * replicaView(s, service, Date.now(), "embedded Tower").address; // "10.0.0.7:8081"
 * ```
 */
export function replicaView(
  s: ReplicaState,
  service: ServiceReplicas,
  now: number,
  source: string,
): ReplicaView {
  const ejected = s.ejected(now);
  return {
    address: s.address,
    source,
    state: replicaStatus(s, service, now),
    health: service.checked ? s.health : "unchecked",
    ejections: s.ejections,
    reason: s.reason,
    ejectedUntil: ejected ? iso(s.ejectedUntil) : null,
    active: s.active,
    lastError: s.lastError,
    lastErrorAt: iso(s.lastErrorAt),
    weight: s.weight,
    effectiveWeight: Math.round(s.weightAt(now, service.slowStartMs) * 1000) / 1000,
    drained: s.drained,
  };
}

/**
 * Every service the book knows, and every service a route names, by name,
 * each with the replicas its registry lists now.
 *
 * @example
 * ```ts
 * import { servicesView } from "./views.ts";
 * import type { ReplicaBook } from "../replicas/book.ts";
 * declare const book: ReplicaBook;
 * servicesView(book, ["api"], Date.now(), "embedded Tower")[0].name; // "api"
 * ```
 */
export function servicesView(
  book: ReplicaBook,
  routed: Iterable<string>,
  now: number,
  source: string,
): ServiceView[] {
  const names = new Set<string>(routed);
  for (const s of book.services()) names.add(s.name);
  names.delete("");
  return [...names].sort().map((name) => {
    const service = book.service(name);
    const replicas: ReplicaView[] = [];
    for (const s of service.states()) {
      if (s.listed) replicas.push(replicaView(s, service, now, source));
    }
    replicas.sort((a, b) => a.address < b.address ? -1 : a.address > b.address ? 1 : 0);
    return {
      name,
      replicas,
      requests: service.requests,
      panicking: service.panicking,
      checked: service.checked,
    };
  });
}

/**
 * The registry replicas come from, in words: "embedded Tower", "remote
 * Tower 10.0.0.5:7772", "etcd etcd://...", "DNS dns://...".
 *
 * @example
 * ```ts
 * import { registryName } from "./views.ts";
 * registryName({ kind: "tower", address: { host: "10.0.0.5", port: 7772 } }); // "remote Tower 10.0.0.5:7772"
 * ```
 */
export function registryName(choice: RegistryChoice): string {
  switch (choice.kind) {
    case "embedded":
      return "embedded Tower";
    case "tower":
      return `remote Tower ${formatHostPort(choice.address.host, choice.address.port)}`;
    case "etcd":
      return `etcd ${choice.url}`;
    case "dns":
      return `DNS ${choice.url}`;
  }
}
