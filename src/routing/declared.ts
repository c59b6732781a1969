/**
 * A route as a service declares it: `[HOST]/PREFIX` without the service,
 * which the declaration names apart (`gatehouse register --route`, a Tower
 * `ROUTE` datagram, the value of an etcd key under `<prefix>/routes/`).
 * Read with the `--route` syntax's own rules, so a declared route and a
 * configured one mean the same; the spec it becomes carries the config
 * file's route keys, which the ingress validates like a route of the file.
 *
 * @module
 */

import { parseRoute } from "./router.ts";

/**
 * A declared route's host and prefix, each in its one written form.
 *
 * @example
 * ```ts
 * import type { RouteTarget } from "./declared.ts";
 * const target: RouteTarget = { host: "shop.example.com", prefix: "/api", text: "shop.example.com/api" };
 * ```
 */
export interface RouteTarget {
  /** Lower-case host, `*.example.com`, or "" for any host. */
  readonly host: string;
  /**
   * The prefix as the config file writes it: normalized, with a trailing
   * `*` for a plain string prefix ("/api", "/img*").
   */
  readonly prefix: string;
  /** `host` and `prefix` together: the same text however the route was written. */
  readonly text: string;
}

/** The keys a declaration sets itself, whatever its rules say. */
const OWN_KEYS: ReadonlySet<string> = new Set(["host", "prefix", "service"]);

/** What a declared route may hold: visible ASCII without "|" (the Tower's field separator). */
const DECLARABLE = /^[\x21-\x7b\x7d\x7e]+$/;

/**
 * Read `[HOST]/PREFIX` (`/api`, `/img*`, `shop.example.com/`). Throws an
 * Error saying what is wrong, with the value quoted.
 *
 * @example
 * ```ts
 * import { parseRouteTarget } from "./declared.ts";
 * parseRouteTarget("Shop.Example.com/api/"); // { host: "shop.example.com", prefix: "/api", text: "shop.example.com/api" }
 * parseRouteTarget("/img*").prefix;          // "/img*"
 * parseRouteTarget("api");                   // throws: the path prefix must start with "/"
 * ```
 */
export function parseRouteTarget(text: string): RouteTarget {
  if (!DECLARABLE.test(text)) {
    throw new Error(
      `invalid route "${text}": expected [HOST]/PREFIX in visible ASCII, without spaces or "|"`,
    );
  }
  // The --route rules, with a stand-in service; its messages quote the value as given here.
  const placeholder = `${text}:x`;
  let route;
  try {
    route = parseRoute(placeholder);
  } catch (e) {
    throw new Error((e as Error).message.replace(`"${placeholder}"`, `"${text}"`));
  }
  const prefix = route.stringPrefix ? `${route.prefix}*` : route.prefix;
  return { host: route.host, prefix, text: `${route.host}${prefix}` };
}

/**
 * The spec of a declared route for `service`, in the config file's route
 * keys: `host` (only when there is one), `prefix`, `service`, then the
 * route's own rules as declared (`strip-prefix`, ...).
 *
 * @example
 * ```ts
 * import { parseRouteTarget, routeSpec } from "./declared.ts";
 * routeSpec(parseRouteTarget("/api"), "api", { "strip-prefix": true });
 * // { prefix: "/api", service: "api", "strip-prefix": true }
 * ```
 */
export function routeSpec(
  target: RouteTarget,
  service: string,
  rules?: Readonly<Record<string, unknown>>,
): Record<string, unknown> {
  const own: [string, unknown][] = target.host === ""
    ? [["prefix", target.prefix], ["service", service]]
    : [["host", target.host], ["prefix", target.prefix], ["service", service]];
  // The declaration's own keys stand: rules name no host, prefix or service of their own.
  const rest = Object.entries(rules ?? {}).filter(([key]) => !OWN_KEYS.has(key));
  // fromEntries defines every key as data, "__proto__" included.
  return Object.fromEntries([...own, ...rest]);
}
