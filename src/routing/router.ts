/**
 * The route table: which service handles a request, chosen by host and the
 * longest matching path prefix.
 *
 * Prefix semantics (like a Kubernetes Ingress `Prefix` path): a prefix
 * matches whole path segments, so `/api` matches `/api`, `/api/` and
 * `/api/x`, but not `/apix`; a trailing slash on the prefix is ignored. A
 * prefix ending in `*` is a plain string prefix: `/img*` matches `/img`,
 * `/imgs/x` and `/img2.png`. The longest matching prefix wins; routes naming a
 * host win over host-less ones (exact host first, then `*.domain` wildcards).
 *
 * Lookup cost does not grow with the number of routes: segment prefixes are
 * found by walking up the path's own segment boundaries in a Map.
 *
 * @module
 */

/** One configured route. */
export interface Route {
  /** Lower-case host without port, `*.example.com`, or "" for any host. */
  host: string;
  /** Normalized prefix, e.g. "/api" (or "/img" for the string prefix "/img*"). */
  prefix: string;
  /** True for a plain string prefix (written with a trailing `*`). */
  stringPrefix: boolean;
  /** Service name asked of the registry ("" for a route that only redirects or answers itself). */
  service: string;
  /** The route as written, for messages. */
  source: string;
  /**
   * Where the route came from, for logs and the admin API: "--route",
   * "gatehouse.yaml:12", "etcd /gatehouse/routes/api", "tower 10.0.0.7:41000".
   */
  origin: string;
  /** What the route does to its requests (prefix, headers, limits, redirect, fixed answer). */
  rules: RouteRules;
}

import { normalizePath } from "./path.ts";
import { NO_RULES, type RouteRules } from "./rules.ts";
import { isValidServiceName } from "../net/address.ts";

const HOST_RE = /^(\*\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/;

/**
 * Parse a `--route` value: `[HOST]/PREFIX:SERVICE`. Throws an Error with a
 * clear message when it is malformed.
 *
 * @example
 * ```ts
 * parseRoute("/api:api-service"); // host "", prefix "/api"
 * parseRoute("shop.example.com/:shop"); // host "shop.example.com", prefix "/"
 * ```
 */
export function parseRoute(spec: string): Route {
  const colon = spec.lastIndexOf(":");
  if (colon < 0) throw new Error(`invalid route "${spec}": expected [HOST]/PREFIX:SERVICE`);
  const service = spec.slice(colon + 1);
  if (!isValidServiceName(service)) {
    throw new Error(`invalid route "${spec}": service name must be 1-63 of [A-Za-z0-9._-]`);
  }
  let where: RoutePattern;
  try {
    where = parseRoutePattern(spec.slice(0, colon));
  } catch (e) {
    throw new Error(`invalid route "${spec}": ${(e as Error).message}`);
  }
  return { ...where, service, source: spec, origin: "--route", rules: NO_RULES };
}

/** Which requests a route matches: its host and path prefix. */
export interface RoutePattern {
  host: string;
  prefix: string;
  stringPrefix: boolean;
}

/**
 * Read `[HOST]/PREFIX` (a route without its service). Throws an Error
 * saying what is wrong.
 *
 * @example
 * ```ts
 * parseRoutePattern("shop.example.com/img*"); // host "shop.example.com", prefix "/img", stringPrefix true
 * ```
 */
export function parseRoutePattern(text: string): RoutePattern {
  const slash = text.indexOf("/");
  if (slash < 0) throw new Error(`the path prefix must start with "/"`);
  const host = text.slice(0, slash).toLowerCase();
  if (host !== "" && !HOST_RE.test(host)) throw new Error(`"${host}" is not a host name`);
  let prefix = text.slice(slash);
  const stringPrefix = prefix.endsWith("*");
  if (stringPrefix) prefix = prefix.slice(0, -1);
  if (/[\s?#*]/.test(prefix)) throw new Error(`the prefix may not contain spaces, "?", "#" or "*"`);
  // Requests are matched on normalized paths, so the prefix is normalized the same way.
  const trailing = prefix.endsWith("/");
  prefix = normalizePath(prefix);
  if (stringPrefix && trailing && !prefix.endsWith("/")) prefix += "/";
  if (!stringPrefix && prefix.length > 1 && prefix.endsWith("/")) prefix = prefix.slice(0, -1);
  return { host, prefix, stringPrefix };
}

/** The key two routes share when they match the same requests: host, prefix and its kind. */
export function routeKey(route: Route): string {
  return `${route.host}|${route.prefix}|${route.stringPrefix ? "*" : ""}`;
}

/** Routes of one host (or of any host). */
class HostRoutes {
  /** Segment prefixes by exact prefix. */
  readonly segments = new Map<string, Route>();
  /** String prefixes, longest first. */
  readonly strings: Route[] = [];

  add(route: Route): void {
    if (route.stringPrefix) {
      this.strings.push(route);
      this.strings.sort((a, b) => b.prefix.length - a.prefix.length);
    } else this.segments.set(route.prefix, route);
  }

  match(path: string): Route | undefined {
    let best: Route | undefined;
    const segments = this.segments;
    if (segments.size > 0) {
      best = segments.get(path);
      // Walk up segment boundaries: "/a/b/c" tries "/a/b/c", "/a/b", "/a", "/".
      let end = path.length;
      while (best === undefined && end > 0) {
        end = path.lastIndexOf("/", end - 1);
        if (end < 0) break;
        best = segments.get(end === 0 ? "/" : path.slice(0, end));
      }
    }
    const strings = this.strings;
    for (let i = 0; i < strings.length; i++) {
      const r = strings[i];
      if (best !== undefined && r.prefix.length <= best.prefix.length) break;
      if (path.startsWith(r.prefix)) return r;
    }
    return best;
  }
}

/**
 * The route table.
 *
 * @example
 * ```ts
 * const table = new RouteTable([parseRoute("/api:api"), parseRoute("/:web")]);
 * table.match("example.com", "/api/users")?.service; // "api"
 * ```
 */
export class RouteTable {
  readonly #exact = new Map<string, HostRoutes>();
  readonly #wildcards: Array<[suffix: string, routes: HostRoutes]> = [];
  readonly #any = new HostRoutes();
  /** Every route, in the order given. */
  readonly routes: readonly Route[];

  constructor(routes: Route[]) {
    this.routes = routes;
    const seen = new Map<string, Route>();
    for (const r of routes) {
      const key = routeKey(r);
      const dup = seen.get(key);
      if (dup) throw new Error(`route "${r.source}" repeats "${dup.source}"`);
      seen.set(key, r);
      if (r.host === "") this.#any.add(r);
      else if (r.host.startsWith("*.")) {
        const suffix = r.host.slice(1);
        let entry = this.#wildcards.find(([s]) => s === suffix);
        if (!entry) {
          entry = [suffix, new HostRoutes()];
          this.#wildcards.push(entry);
          this.#wildcards.sort((a, b) => b[0].length - a[0].length);
        }
        entry[1].add(r);
      } else {
        let h = this.#exact.get(r.host);
        if (!h) this.#exact.set(r.host, h = new HostRoutes());
        h.add(r);
      }
    }
  }

  /**
   * The route for a request. `host` is the Host header as sent (port and case
   * are ignored); `path` must already be normalized.
   */
  match(host: string, path: string): Route | undefined {
    if (this.#exact.size > 0 || this.#wildcards.length > 0) {
      const h = hostName(host);
      const exact = this.#exact.get(h)?.match(path);
      if (exact) return exact;
      for (const [suffix, routes] of this.#wildcards) {
        // "*.example.com" matches exactly one more label, like Kubernetes.
        if (h.endsWith(suffix) && h.lastIndexOf(".", h.length - suffix.length - 1) < 0) {
          const r = routes.match(path);
          if (r) return r;
        }
      }
    }
    return this.#any.match(path);
  }
}

/** Lower-case host without port ("Example.COM:8080" -> "example.com", "[::1]:80" -> "[::1]"). */
export function hostName(host: string): string {
  let end = host.length;
  if (host.charCodeAt(0) === 0x5b) {
    const close = host.indexOf("]");
    end = close < 0 ? end : close + 1;
  } else {
    const colon = host.lastIndexOf(":");
    if (colon >= 0) end = colon;
  }
  let h = host.slice(0, end);
  if (h.endsWith(".")) h = h.slice(0, -1);
  for (let i = 0; i < h.length; i++) {
    const c = h.charCodeAt(i);
    if (c >= 65 && c <= 90) return h.toLowerCase();
  }
  return h;
}
