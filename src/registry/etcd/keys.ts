/**
 * Where replicas live in etcd: the cluster and key prefix, the key layout
 * under the prefix, reading a replica back from a key and its value, and
 * the defaults of the etcd registry.
 *
 * Layout in etcd: one key per replica, bound to a lease that the replica's
 * registrar keeps alive, so a replica that dies vanishes when its lease runs
 * out.
 *
 * ```
 * key:   <prefix>/<service>/<host:port>        e.g. /gatehouse/api/10.0.0.7:8081
 * value: {"host":"10.0.0.7","port":8081}       (JSON; written by EtcdRegistrar; an optional
 *        "weight", a positive number up to 1000, weighs the replica in every policy)
 * ```
 *
 * Readers also accept a bare `host:port` value, and an empty or unreadable
 * value falls back to the key's last segment, so keys written by hand with
 * `etcdctl put /gatehouse/api/10.0.0.7:8081 ""` work too. `[v6]:port` is the
 * IPv6 form in keys.
 *
 * Routes services declare live under `<prefix>/routes/` (any name after it),
 * one route a key, its value a JSON object in the config file's route keys;
 * so "routes" is no service name in etcd:
 *
 * ```
 * key:   <prefix>/routes/<name>                e.g. /gatehouse/routes/api
 * value: {"prefix":"/api","service":"api"}     (with "host" and any route rules)
 * ```
 *
 * `gatehouse register --route` writes one per route under
 * `<prefix>/routes/<service>/<host:port>/<route, URI-encoded>`, bound to the
 * replica's lease.
 *
 * @module
 */

import { formatHostPort, isValidHost, isValidPort, readHostPort } from "../../net/address.ts";
import type { Replica } from "../types.ts";
import { routeSpec, type RouteTarget } from "../../routing/declared.ts";

/**
 * The client port etcd listens on unless told otherwise.
 *
 * @example
 * ```ts
 * import { DEFAULT_ETCD_PORT } from "./keys.ts";
 * const endpoint = `http://10.0.0.1:${DEFAULT_ETCD_PORT}`; // "http://10.0.0.1:2379"
 * ```
 */
export const DEFAULT_ETCD_PORT = 2379;

/**
 * How long a lease outlives its last keep-alive unless told otherwise: 10 s.
 *
 * @example
 * ```ts
 * import { DEFAULT_ETCD_TTL_MS } from "./keys.ts";
 * const ttlSeconds = DEFAULT_ETCD_TTL_MS / 1000; // 10
 * ```
 */
export const DEFAULT_ETCD_TTL_MS = 10_000;

/**
 * The key prefix used when an `etcd://` URL names none.
 *
 * @example
 * ```ts
 * import { DEFAULT_ETCD_PREFIX, replicaKey } from "./keys.ts";
 * replicaKey(DEFAULT_ETCD_PREFIX, "api", { host: "10.0.0.7", port: 8081 });
 * // "/gatehouse/api/10.0.0.7:8081"
 * ```
 */
export const DEFAULT_ETCD_PREFIX = "/gatehouse";

/**
 * Where the cluster is and under which prefix replicas live.
 *
 * @example
 * ```ts
 * import type { EtcdTarget } from "./keys.ts";
 * const target: EtcdTarget = { endpoints: ["http://10.0.0.1:2379"], prefix: "/gatehouse" };
 * ```
 */
export interface EtcdTarget {
  /** Client URLs of the members, `http://host:port`, tried in this order. */
  endpoints: string[];
  /** Key prefix without a trailing slash, e.g. `/gatehouse`. */
  prefix: string;
}

/**
 * The target a registry or registrar works on: endpoints without trailing
 * slashes, the prefix normalised (default {@link DEFAULT_ETCD_PREFIX}).
 * Throws when no endpoint is given.
 *
 * @example
 * ```ts
 * import { resolveTarget } from "./keys.ts";
 * resolveTarget({ endpoints: ["http://10.0.0.1:2379/"] });
 * // { endpoints: ["http://10.0.0.1:2379"], prefix: "/gatehouse" }
 * ```
 */
export function resolveTarget(options: Partial<EtcdTarget>): EtcdTarget {
  if (options.endpoints === undefined || options.endpoints.length === 0) {
    throw new Error("etcd: give a url or at least one endpoint");
  }
  return {
    endpoints: options.endpoints.map((e) => e.replace(/\/+$/, "")),
    prefix: normalizePrefix(options.prefix ?? DEFAULT_ETCD_PREFIX),
  };
}

/**
 * A key prefix as the registry keeps it: `/a/b/` and `a/b` become `/a/b`.
 *
 * @example
 * ```ts
 * import { normalizePrefix } from "./keys.ts";
 * normalizePrefix("prod/"); // "/prod"
 * ```
 */
export function normalizePrefix(prefix: string): string {
  const trimmed = prefix.replace(/\/+$/, "");
  const withSlash = trimmed.startsWith("/") ? trimmed : `/${trimmed}`;
  if (withSlash === "/") return "";
  return withSlash;
}

/**
 * The key under which `replica` of `service` is stored.
 *
 * @example
 * ```ts
 * import { replicaKey } from "./keys.ts";
 * replicaKey("/gatehouse", "api", { host: "10.0.0.7", port: 8081 });
 * // "/gatehouse/api/10.0.0.7:8081"
 * ```
 */
export function replicaKey(prefix: string, service: string, replica: Replica): string {
  return `${normalizePrefix(prefix)}/${service}/${formatHostPort(replica.host, replica.port)}`;
}

/**
 * The value written under a replica's key (its weight too, when it has one).
 *
 * @example
 * ```ts
 * import { replicaValue } from "./keys.ts";
 * replicaValue({ host: "10.0.0.7", port: 8081 }); // '{"host":"10.0.0.7","port":8081}'
 * replicaValue({ host: "10.0.0.7", port: 8081, weight: 3 }); // '{"host":"10.0.0.7","port":8081,"weight":3}'
 * ```
 */
export function replicaValue(replica: Replica): string {
  return JSON.stringify(
    replica.weight === undefined
      ? { host: replica.host, port: replica.port }
      : { host: replica.host, port: replica.port, weight: replica.weight },
  );
}

/**
 * Split a key into its service and its address part, or undefined when the
 * key is not `<prefix>/<service>/<...>`. `prefix` is normalised (see
 * {@link normalizePrefix}).
 *
 * @example
 * ```ts
 * import { splitReplicaKey } from "./keys.ts";
 * splitReplicaKey("/gatehouse", "/gatehouse/api/10.0.0.7:8081");
 * // { service: "api", address: "10.0.0.7:8081" }
 * ```
 */
export function splitReplicaKey(
  prefix: string,
  key: string,
): { service: string; address: string } | undefined {
  const head = `${prefix}/`;
  if (!key.startsWith(head)) return undefined;
  const rest = key.slice(head.length);
  const slash = rest.indexOf("/");
  if (slash <= 0) return undefined;
  const service = rest.slice(0, slash);
  // Declared routes live there, never replicas.
  if (service === ROUTES_SEGMENT) return undefined;
  return { service, address: rest.slice(slash + 1) };
}

/**
 * The name under the prefix that holds declared routes, and so no service's
 * name in etcd: "routes".
 *
 * @example
 * ```ts
 * import { ROUTES_SEGMENT } from "./keys.ts";
 * const key = `/gatehouse/${ROUTES_SEGMENT}/api`; // a declared route's key
 * ```
 */
export const ROUTES_SEGMENT = "routes";

/**
 * True for a key under `<prefix>/routes/`: a declared route (`prefix`
 * normalised, see {@link normalizePrefix}).
 *
 * @example
 * ```ts
 * import { isRouteKey } from "./keys.ts";
 * isRouteKey("/gatehouse", "/gatehouse/routes/api");          // true
 * isRouteKey("/gatehouse", "/gatehouse/api/10.0.0.7:8081");   // false
 * ```
 */
export function isRouteKey(prefix: string, key: string): boolean {
  return key.startsWith(`${prefix}/${ROUTES_SEGMENT}/`);
}

/**
 * The key `gatehouse register --route` declares `target` for `replica` of
 * `service` under: one per replica and route, so each replica's lease
 * takes only its own declarations with it.
 *
 * @example
 * ```ts
 * import { declaredRouteKey } from "./keys.ts";
 * import { parseRouteTarget } from "../../routing/declared.ts";
 * declaredRouteKey("/gatehouse", "api", { host: "10.0.0.7", port: 8081 }, parseRouteTarget("/api"));
 * // "/gatehouse/routes/api/10.0.0.7:8081/%2Fapi"
 * ```
 */
export function declaredRouteKey(
  prefix: string,
  service: string,
  replica: Replica,
  target: RouteTarget,
): string {
  const replicaPart = formatHostPort(replica.host, replica.port);
  return `${normalizePrefix(prefix)}/${ROUTES_SEGMENT}/${service}/${replicaPart}/${
    encodeURIComponent(target.text)
  }`;
}

/**
 * The value of a declared route's key: its spec in the config file's
 * route keys.
 *
 * @example
 * ```ts
 * import { declaredRouteValue } from "./keys.ts";
 * import { parseRouteTarget } from "../../routing/declared.ts";
 * declaredRouteValue("api", parseRouteTarget("shop.example.com/api"));
 * // '{"host":"shop.example.com","prefix":"/api","service":"api"}'
 * ```
 */
export function declaredRouteValue(service: string, target: RouteTarget): string {
  return JSON.stringify(routeSpec(target, service));
}

/**
 * The replica a key's value names, falling back to the key's address part
 * (see {@link splitReplicaKey}) when the value names none; undefined when
 * neither does.
 *
 * @example
 * ```ts
 * import { readReplica } from "./keys.ts";
 * readReplica('{"host":"10.0.0.7","port":8081}', "10.0.0.7:8081"); // { host: "10.0.0.7", port: 8081 }
 * readReplica("", "[::1]:8081"); // { host: "::1", port: 8081 }
 * ```
 */
export function readReplica(value: string, address: string): Replica | undefined {
  return parseReplicaValue(value) ?? readHostPort(address);
}

/** `{"host":"h","port":n}` or `host:port`; undefined when it is neither. */
function parseReplicaValue(value: string): Replica | undefined {
  const text = value.trim();
  if (text === "") return undefined;
  if (text.startsWith("{")) {
    try {
      const json = JSON.parse(text);
      const { host, port, weight } = json as { host?: unknown; port?: unknown; weight?: unknown };
      if (
        typeof host === "string" && isValidHost(host) && typeof port === "number" &&
        isValidPort(port)
      ) {
        // A weight that is no positive number up to 1000 is left out (the replica weighs 1).
        return typeof weight === "number" && weight > 0 && weight <= 1000
          ? { host, port, weight }
          : { host, port };
      }
    } catch {
      // Fall through: not a replica.
    }
    return undefined;
  }
  return readHostPort(text);
}
