/**
 * `gatehouse register`'s flags: which registry, which service, which
 * address, the routes it declares, how long a heartbeat lasts, and the
 * command to wrap.
 *
 * @module
 */

import { isValidServiceName, isWildcard, readHostPort } from "../net/address.ts";
import { DEFAULT_TTL_MS } from "../tower.ts";
import { DEFAULT_ETCD_TTL_MS, ROUTES_SEGMENT } from "../registry/etcd/keys.ts";
import { parseRouteTarget, type RouteTarget } from "../routing/declared.ts";
import { parseFlags, UsageError } from "./flags.ts";
import { parseRegistryUrl } from "./registry_url.ts";
import type { RegistryUrl } from "../app/config.ts";
import type { RegisterOptions } from "../app/register.ts";
import { TOWER_SECRET_ENV } from "./tower_flags.ts";
import { parseCount, parseDuration, readFlag, secretOf } from "./values.ts";

/**
 * A mistake in how `gatehouse register` was invoked (exit code 2). It is a
 * {@link UsageError}, so code that maps those to exit 2 handles it too.
 */
export class RegisterUsageError extends UsageError {
  override name = "RegisterUsageError";
}

/** The most `--route` flags: one registration's keys go in one etcd transaction. */
const MAX_ROUTES = 64;

/** `gatehouse register --help`. */
export const REGISTER_USAGE =
  `usage: gatehouse register --registry URL --service NAME --addr HOST:PORT [--ttl DUR]
                         [--weight N] [--route [HOST]/PREFIX ...] [-- COMMAND [ARGS...]]

Registers one replica and keeps it registered; deregisters it on SIGTERM/SIGINT
or, with a COMMAND, when the command exits (exiting with the command's status).
With a COMMAND, registration waits until HOST:PORT accepts TCP connections.

  --registry URL     tower://HOST[:PORT]  (default port 7772)
                     etcd://HOST[:PORT][,HOST[:PORT]...][/PREFIX]
                       (default port 2379, prefix /gatehouse)
  --service NAME     service name: 1-63 of A-Z a-z 0-9 . _ -
  --addr HOST:PORT   where the ingress reaches this replica ([V6]:PORT for IPv6)
  --ttl DUR          how long the registry keeps the replica after the last
                     heartbeat; heartbeats go every TTL/3. etcd: the lease TTL
                     (default 10s). Tower: at most 30s, its fixed expiry
                     (default 30s, so a REGISTER every 10s).
  --weight N         its share of traffic against the service's other replicas,
                     1-1000 (default 1). etcd: "weight" in the value. Tower: the
                     REGISTER extension (a seed Tower refuses it).
  --route [HOST]/PREFIX
                     declare a route to the service while this replica lives
                     (repeatable, at most ${MAX_ROUTES}; the --route syntax of the
                     ingress without :SERVICE, e.g. /api, /img*, shop.example.com/).
                     etcd: a key under PREFIX/routes/ on the replica's lease.
                     Tower: ROUTE beside each REGISTER (a Tower run with --routes).
DUR: 500ms, 10s, 2m, or a bare number of seconds.`;

/**
 * Read a `--registry` URL for the sidecar: `tower://` or `etcd://` (see
 * registry_url.ts). `dns://` names a read-only registry, so it is refused.
 * Throws a {@link RegisterUsageError} naming the value.
 */
function registryFlag(text: string): RegistryUrl {
  let url: RegistryUrl;
  try {
    url = parseRegistryUrl(text);
  } catch (err) {
    throw new RegisterUsageError(`--registry: ${(err as Error).message}`);
  }
  if (url.kind === "dns") {
    throw new RegisterUsageError(
      `--registry: DNS is read-only here; register with tower://HOST[:PORT] or etcd://...`,
    );
  }
  return url;
}

/**
 * Parse the arguments after `register` (a leading `register` is skipped
 * too). Returns null for `--help`. Throws a {@link RegisterUsageError}.
 *
 * @example
 * ```ts
 * parseRegisterArgs(["--registry", "tower://127.0.0.1", "--service", "api", "--addr", "127.0.0.1:8081"]);
 * ```
 */
export function parseRegisterArgs(
  args: readonly string[],
  env: (name: string) => string | undefined = () => undefined,
): RegisterOptions | null {
  const list = args[0] === "register" ? args.slice(1) : args;
  const dashes = list.indexOf("--");
  const flags = dashes === -1 ? list : list.slice(0, dashes);
  const command = dashes === -1 ? null : list.slice(dashes + 1);
  let values;
  try {
    values = parseFlags(flags, {
      registry: { type: "string" },
      service: { type: "string" },
      addr: { type: "string" },
      ttl: { type: "string" },
      weight: { type: "string" },
      route: { type: "string", multiple: true },
      help: { type: "boolean", short: "h" },
    });
  } catch (err) {
    throw new RegisterUsageError((err as Error).message);
  }
  if (values.help) return null;
  const need = (name: string): string => {
    const value = values[name];
    if (typeof value !== "string" || value === "") {
      throw new RegisterUsageError(`register: --${name} is required`);
    }
    return value;
  };
  const registryText = need("registry");
  const registry = registryFlag(registryText);
  const service = need("service");
  if (!isValidServiceName(service)) {
    throw new RegisterUsageError(
      `--service: "${service}" is not a service name (1-63 of A-Z a-z 0-9 . _ -)`,
    );
  }
  if (registry.kind === "etcd" && service === ROUTES_SEGMENT) {
    throw new RegisterUsageError(
      `--service: "${ROUTES_SEGMENT}" cannot be a service name in etcd: ` +
        `${registry.prefix}/${ROUTES_SEGMENT}/ holds declared routes`,
    );
  }
  const routes = routesOf((values.route as string[] | undefined) ?? []);
  const addrText = need("addr");
  const replica = readHostPort(addrText);
  if (replica === undefined) {
    throw new RegisterUsageError(`--addr: "${addrText}" is not HOST:PORT (or [V6]:PORT)`);
  }
  if (isWildcard(replica.host)) {
    throw new RegisterUsageError(
      `--addr: "${addrText}" is a wildcard; give an address the ingress can reach`,
    );
  }
  let ttlMs = registry.kind === "tower" ? DEFAULT_TTL_MS : DEFAULT_ETCD_TTL_MS;
  if (typeof values.ttl === "string") {
    try {
      ttlMs = readFlag("--ttl", values.ttl, parseDuration);
    } catch (err) {
      throw new RegisterUsageError((err as Error).message);
    }
    if (ttlMs < 1000) throw new RegisterUsageError(`--ttl: "${values.ttl}" is under 1s`);
    if (registry.kind === "tower" && ttlMs > DEFAULT_TTL_MS) {
      throw new RegisterUsageError(
        `--ttl: the Tower forgets a replica ${DEFAULT_TTL_MS / 1000}s after its last ` +
          `REGISTER, so --ttl cannot exceed ${DEFAULT_TTL_MS / 1000}s`,
      );
    }
  }
  let weight: number | undefined;
  if (typeof values.weight === "string") {
    try {
      weight = readFlag("--weight", values.weight, (t) => parseCount(t, 1, 1000));
    } catch (err) {
      throw new RegisterUsageError((err as Error).message);
    }
  }
  if (command !== null && command.length === 0) {
    throw new RegisterUsageError("register: nothing after --; give a command or drop the --");
  }
  // A Tower run with --tower-secret wants signed REGISTER/DEREGISTER: same env variable.
  const secret = secretOf(undefined, env(TOWER_SECRET_ENV));
  return {
    registryText,
    registry,
    service,
    replica: weight === undefined ? replica : { ...replica, weight },
    ttlMs,
    command,
    secret,
    routes,
  };
}

/** The `--route` values, each once, in the `--route` syntax without `:SERVICE`. */
function routesOf(values: string[]): RouteTarget[] {
  if (values.length > MAX_ROUTES) {
    throw new RegisterUsageError(`--route: at most ${MAX_ROUTES}, not ${values.length}`);
  }
  const seen = new Map<string, string>();
  return values.map((value) => {
    let target: RouteTarget;
    try {
      target = parseRouteTarget(value);
    } catch (err) {
      throw new RegisterUsageError(`--route: ${(err as Error).message}`);
    }
    const twin = seen.get(target.text);
    if (twin !== undefined) {
      throw new RegisterUsageError(`--route: "${value}" is the same route as "${twin}"`);
    }
    seen.set(target.text, value);
    return target;
  });
}
