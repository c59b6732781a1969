/**
 * One route as the config file writes it, or as a service declares it in a
 * registry: a mapping with `host`, `prefix`, `service` and the route's rules
 * (route_rules.ts), or the `--route` form `[HOST]/PREFIX:SERVICE` as a
 * string. One reader for both, so a declared route obeys exactly the file's
 * rules.
 *
 * @module
 */

import { isValidServiceName } from "../net/address.ts";
import { parseRoute, parseRoutePattern, type Route } from "../routing/router.ts";
import type { Problem } from "./errors.ts";
import { parseRouteRules, RULE_KEYS } from "./route_rules.ts";

const ROUTE_KEYS = new Set(["host", "prefix", "service", ...RULE_KEYS]);

/**
 * A route from its entry. `origin` says where it came from
 * ("gatehouse.yaml:12", "etcd /gatehouse/routes/api"); `tlsPort` is the TLS
 * listener's port (for `redirect-https`), or null when there is none.
 * Problems go to `problem` (which throws).
 *
 * @example
 * ```ts
 * import { routeFromEntry } from "./route_entry.ts";
 * const fail = (key: string, message: string): never => {
 *   throw new Error(`${key}: ${message}`);
 * };
 * routeFromEntry({ host: "shop.example.com", prefix: "/api", service: "api" }, "g.yaml:3", fail, null)
 *   .source; // "shop.example.com/api:api"
 * ```
 */
export function routeFromEntry(
  entry: unknown,
  origin: string,
  problem: Problem,
  tlsPort: number | null,
): Route {
  if (typeof entry === "string") {
    try {
      return { ...parseRoute(entry), origin };
    } catch (e) {
      return problem("", (e as Error).message);
    }
  }
  if (typeof entry !== "object" || entry === null || Array.isArray(entry)) {
    return problem(
      "",
      "a route is a mapping (host, prefix, service, rules) or [HOST]/PREFIX:SERVICE",
    );
  }
  const e = entry as Record<string, unknown>;
  for (const key of Object.keys(e)) {
    if (!ROUTE_KEYS.has(key)) {
      problem(key, `is not a route key (${[...ROUTE_KEYS].join(", ")})`);
    }
  }
  const host = e.host ?? "";
  if (typeof host !== "string" || host.includes("/")) {
    problem("host", "must be a host name or *.domain, without a path");
  }
  if (typeof e.prefix !== "string") problem("prefix", 'is required: a path prefix like "/api"');
  if (!(e.prefix as string).startsWith("/")) problem("prefix", 'must start with "/"');
  let pattern;
  try {
    pattern = parseRoutePattern(`${host}${e.prefix}`);
  } catch (err) {
    return problem(host === "" ? "prefix" : "host", (err as Error).message);
  }
  const rules = parseRouteRules(e, problem, tlsPort);
  const answersItself = rules.respond !== null || rules.redirectHttps !== null;
  let service = "";
  if (e.service !== undefined || !answersItself) {
    if (typeof e.service !== "string" || !isValidServiceName(e.service)) {
      problem("service", "must be a service name: 1-63 of [A-Za-z0-9._-]");
    }
    service = e.service as string;
  }
  const source = `${host}${e.prefix}${service === "" ? "" : `:${service}`}`;
  return { ...pattern, service, source, origin, rules };
}
