/**
 * The registry interface: "where are the live replicas of service S now?"
 *
 * @module
 */

import { formatHostPort, isValidHost, isValidPort, isValidServiceName } from "../net/address.ts";
import type { RouteTarget } from "../routing/declared.ts";

/** One live replica of a service. */
export interface Replica {
  /** IP address or host name. */
  host: string;
  port: number;
  /**
   * Its share of traffic relative to its service's other replicas (a
   * positive number; absent: 1), where the registry carries one.
   */
  weight?: number;
  /**
   * Its preference group, lower first (DNS SRV's priority; absent: 0): a
   * replica is picked only when none of a lower group can be.
   */
  priority?: number;
}

/**
 * A service registry as the proxy sees it.
 *
 * @example
 * ```ts
 * import type { Registry } from "./types.ts";
 * declare const registry: Registry;
 * const replicas = await registry.resolve("api-service");
 * ```
 */
export interface Registry {
  /**
   * The live replicas of `service`, in the order they should be tried: the
   * first is the one round robin picks now (least recently served), the rest
   * are failover candidates. Empty when none is registered. May answer
   * synchronously (embedded Tower) to keep the hot path free of promises.
   * The array is read-only: a registry may hand the same one out again.
   */
  resolve(service: string): readonly Replica[] | Promise<readonly Replica[]>;
  /**
   * Tell `listener` of every replica that leaves the registry (deregistered
   * or expired) as it happens, where the registry learns of it by itself;
   * absent where it only learns on the next `resolve`.
   */
  watchRemovals?(listener: (service: string, replica: Replica) => void): void;
  /**
   * Every service it holds and its replicas, read without counting as a
   * lookup; present where the registry holds them all (the embedded Tower,
   * etcd), so that health checks can start when a replica appears rather
   * than at its service's first request.
   */
  known?(): Iterable<readonly [string, readonly Replica[]]>;
  /**
   * Tell `listener` of the routes services declared in the registry: called
   * with the whole current set once they are first read and again after
   * every change. Absent where the registry carries no routes.
   */
  watchRoutes?(listener: (routes: readonly DeclaredRoute[]) => void): void;
  /**
   * When it was last heard from, for metrics; absent where that means
   * nothing (the embedded Tower is in-process).
   */
  freshness?(): RegistryFreshness;
  /** Release sockets, timers and watches. */
  close(): void | Promise<void>;
}

/**
 * How current a registry over the network is.
 *
 * @example
 * ```ts
 * import type { RegistryFreshness } from "./types.ts";
 * const f: RegistryFreshness = { kind: "etcd", heardAt: Date.now(), reconnects: 0 };
 * ```
 */
export interface RegistryFreshness {
  /** "etcd", "tower" (remote) or "dns". */
  readonly kind: string;
  /** When it last answered (a watch line, a reply, a good DNS answer), ms since the epoch; 0: never. */
  readonly heardAt: number;
  /** Watch streams ended and opened again, where it keeps one (etcd). */
  readonly reconnects?: number;
}

/**
 * A route a service declared in the registry (an etcd key under
 * `<prefix>/routes/`, a Tower `ROUTE` datagram), not yet validated: the
 * ingress checks it with the config file's rules for a route entry
 * (src/config/route_entry.ts), so a bad one is logged and left out.
 */
export interface DeclaredRoute {
  /**
   * The route as declared, with the config file's route keys: `host`
   * (optional), `prefix`, `service`, and any rules (`strip-prefix`,
   * `request-headers`, ...).
   */
  readonly spec: Readonly<Record<string, unknown>>;
  /** Where it came from, for logs and the admin API: "etcd /gatehouse/routes/api", "tower 10.0.0.7:41000". */
  readonly origin: string;
  /**
   * When it was declared, for conflicts: of two declarations of the same
   * host and prefix, the lower `order` wins (etcd's create revision, the
   * Tower's sequence number of the first ROUTE).
   */
  readonly order: number;
}

/**
 * True when a {@link Registry.resolve} result is the answer itself rather
 * than a promise of it.
 */
export function isAnswer(
  result: readonly Replica[] | Promise<readonly Replica[]>,
): result is readonly Replica[] {
  return Array.isArray(result);
}

/** A live registration; closing it deregisters the replica. */
export interface Registration {
  /** Stop heartbeating and remove the replica from the registry. */
  close(): Promise<void>;
}

/**
 * The writing side of a registry: how a replica announces itself and stays
 * alive (Tower REGISTER heartbeats, an etcd lease kept alive).
 *
 * @example
 * ```ts
 * import type { Registrar } from "./types.ts";
 * declare const registrar: Registrar;
 * const reg = await registrar.register("api", { host: "127.0.0.1", port: 8081 });
 * await reg.close();
 * ```
 */
export interface Registrar {
  /**
   * Announce `replica` of `service`, and the `routes` it declares for the
   * service (withdrawn with it); keep them alive until the registration is
   * closed.
   */
  register(
    service: string,
    replica: Replica,
    routes?: readonly RouteTarget[],
  ): Promise<Registration>;
  close(): void | Promise<void>;
}

// Registries hand out the same (frozen) replica objects again and again: remember their keys.
const keys = new WeakMap<Replica, string>();

/**
 * A replica's address as one key, `host:port` (IPv6 bracketed): the pool's
 * and the service state's key for it.
 *
 * @example
 * ```ts
 * import { replicaAddress } from "./types.ts";
 * replicaAddress({ host: "::1", port: 8081 }); // "[::1]:8081"
 * ```
 */
export function replicaAddress(r: Replica): string {
  let key = keys.get(r);
  if (key === undefined) keys.set(r, key = formatHostPort(r.host, r.port));
  return key;
}

/**
 * Throws when `service` and `replica` cannot be registered: a service name
 * or an address no registry can carry. Every registrar checks this first.
 *
 * @example
 * ```ts
 * import { checkRegistration } from "./types.ts";
 * checkRegistration("api", { host: "10.0.0.7", port: 8081 }); // fine
 * checkRegistration("a|b", { host: "10.0.0.7", port: 8081 }); // throws: invalid service name "a|b"
 * ```
 */
export function checkRegistration(service: string, replica: Replica): void {
  if (!isValidServiceName(service)) throw new Error(`invalid service name "${service}"`);
  if (!isValidHost(replica.host) || !isValidPort(replica.port)) {
    throw new Error(`invalid replica address ${formatHostPort(replica.host, replica.port)}`);
  }
}
