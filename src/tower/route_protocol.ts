/**
 * The Tower's route-declaration extension as values (docs/tower-routes.md):
 * `ROUTE`, `UNROUTE` and `ROUTES`, their replies, parsing and wire form.
 * Pure, like protocol.ts, which hands these commands here.
 *
 * ```
 * ROUTE|<service>|<[host]/prefix>[|<JSON rules>]  -> OK|ROUTED|<service>
 * UNROUTE|<service>|<[host]/prefix>               -> OK|UNROUTED|<service>  or ERR|NOT_FOUND|<service>
 * ROUTES[|<page>]                                 -> OK|ROUTES|<version>|<page>|<pages>|<n>
 *                                                    then n lines "\n<order>|<service>|<route>|<sender>[|<rules>]"
 * ```
 *
 * @module
 */

import {
  errorReply,
  ROUTES_SYNTAX,
  syntaxError,
  type TowerErrorReply,
  UNKNOWN_COMMAND,
} from "./errors.ts";
import { isValidServiceName } from "../net/address.ts";
import { parseRouteTarget, routeSpec } from "../routing/declared.ts";
import type { DeclaredRoute } from "../registry/types.ts";

const encoder = new TextEncoder();

/**
 * A route-declaration request. `route` is the route's one written form
 * (`RouteTarget.text`), `rules` compact JSON of an object, absent when none.
 *
 * @example
 * ```ts
 * import type { RouteRequest } from "./route_protocol.ts";
 * const request: RouteRequest = { kind: "ROUTE", name: "api", route: "/api", rules: '{"strip-prefix":true}' };
 * ```
 */
export type RouteRequest =
  | { kind: "ROUTE"; name: string; route: string; rules?: string }
  | { kind: "UNROUTE"; name: string; route: string }
  | { kind: "ROUTES"; page: number };

/**
 * One line of a `ROUTES` reply: a declared route, the order it was first
 * declared in, and who declared it (the first live declarer's UDP source).
 *
 * @example
 * ```ts
 * import type { RouteListing } from "./route_protocol.ts";
 * const line: RouteListing = { order: 3, name: "api", route: "/api", sender: "10.0.0.7:41000" };
 * ```
 */
export interface RouteListing {
  order: number;
  name: string;
  route: string;
  sender: string;
  rules?: string;
}

/**
 * A reply to a route-declaration request.
 *
 * @example
 * ```ts
 * import type { RouteReply } from "./route_protocol.ts";
 * const reply: RouteReply = { kind: "ROUTES", version: "k2x9.4", page: 0, pages: 1, entries: [] };
 * ```
 */
export type RouteReply =
  | { kind: "ROUTED"; name: string }
  | { kind: "UNROUTED"; name: string }
  | {
    kind: "ROUTES";
    /** Changes whenever the set of routes does; the same for every page of one set. */
    version: string;
    page: number;
    pages: number;
    entries: RouteListing[];
  };

const PAGE = /^(?:0|[1-9][0-9]{0,5})$/;
const ORDER = /^[1-9][0-9]{0,15}$/;
const VERSION = /^[A-Za-z0-9._-]{1,40}$/;
/** Who declared a route: its `ip:port` from a Gatehouse Tower, any short token from another. */
const SENDER = /^[\x21-\x7b\x7d\x7e]{1,100}$/;

/**
 * Route rules as sent: the compact JSON of an object that names no host,
 * prefix or service (the declaration's own fields); undefined for `{}`.
 * Throws an Error saying what is wrong.
 *
 * @example
 * ```ts
 * import { readRules } from "./route_protocol.ts";
 * readRules('{ "strip-prefix": true }'); // '{"strip-prefix":true}'
 * readRules("{}");                       // undefined
 * readRules('{"service":"x"}');          // throws: rules may not set service
 * ```
 */
export function readRules(text: string): string | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new Error("route rules must be a JSON object");
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new Error("route rules must be a JSON object");
  }
  for (const key of ["host", "prefix", "service"]) {
    if (Object.hasOwn(value, key)) throw new Error(`route rules may not set ${key}`);
  }
  return Object.keys(value).length === 0 ? undefined : JSON.stringify(value);
}

/** The route field's one written form, or undefined when it is not `[HOST]/PREFIX`. */
function readRoute(text: string): string | undefined {
  try {
    return parseRouteTarget(text).text;
  } catch {
    return undefined;
  }
}

/**
 * Parse a ROUTE, UNROUTE or ROUTES request already split at "|". A ROUTE's
 * rules are the rest of the line, so they may hold "|". Anything malformed
 * comes back as the `ERR` to send.
 *
 * @example
 * ```ts
 * import { parseRouteRequest } from "./route_protocol.ts";
 * parseRouteRequest(["ROUTE", "api", "/api/"]); // { kind: "ROUTE", name: "api", route: "/api" }
 * parseRouteRequest(["ROUTES"]);               // { kind: "ROUTES", page: 0 }
 * ```
 */
export function parseRouteRequest(fields: string[]): RouteRequest | TowerErrorReply {
  const command = fields[0];
  if (command === "ROUTES") {
    if (fields.length === 1) return { kind: "ROUTES", page: 0 };
    return fields.length === 2 && PAGE.test(fields[1])
      ? { kind: "ROUTES", page: Number(fields[1]) }
      : errorReply(ROUTES_SYNTAX);
  }
  if (command !== "ROUTE" && command !== "UNROUTE") return errorReply(UNKNOWN_COMMAND);
  // As for REGISTER, the bare word is an unknown command.
  if (fields.length === 1) return errorReply(UNKNOWN_COMMAND);
  if (fields.length < 3 || (command === "UNROUTE" && fields.length !== 3)) {
    return syntaxError(command);
  }
  const [, name, routeText] = fields;
  const route = readRoute(routeText);
  if (!isValidServiceName(name) || route === undefined) return syntaxError(command);
  if (command === "UNROUTE") return { kind: "UNROUTE", name, route };
  if (fields.length === 3) return { kind: "ROUTE", name, route };
  let rules;
  try {
    rules = readRules(fields.slice(3).join("|"));
  } catch {
    return syntaxError(command);
  }
  return rules === undefined
    ? { kind: "ROUTE", name, route }
    : { kind: "ROUTE", name, route, rules };
}

/**
 * The wire form of a route-declaration request.
 *
 * @example
 * ```ts
 * import { formatRouteRequest } from "./route_protocol.ts";
 * formatRouteRequest({ kind: "UNROUTE", name: "api", route: "/api" }); // "UNROUTE|api|/api"
 * formatRouteRequest({ kind: "ROUTES", page: 2 });                    // "ROUTES|2"
 * ```
 */
export function formatRouteRequest(request: RouteRequest): string {
  switch (request.kind) {
    case "ROUTE":
      return `ROUTE|${request.name}|${request.route}` +
        (request.rules === undefined ? "" : `|${request.rules}`);
    case "UNROUTE":
      return `UNROUTE|${request.name}|${request.route}`;
    case "ROUTES":
      return `ROUTES|${request.page}`;
  }
}

/**
 * One line of a `ROUTES` reply: `<order>|<service>|<route>|<sender>[|<rules>]`.
 *
 * @example
 * ```ts
 * import { formatRouteListing } from "./route_protocol.ts";
 * formatRouteListing({ order: 3, name: "api", route: "/api", sender: "10.0.0.7:41000" });
 * // "3|api|/api|10.0.0.7:41000"
 * ```
 */
export function formatRouteListing(entry: RouteListing): string {
  const { order, name, route, sender, rules } = entry;
  return `${order}|${name}|${route}|${sender}` + (rules === undefined ? "" : `|${rules}`);
}

/**
 * The wire form of a route-declaration reply. A `ROUTES` reply's entries
 * follow its first line, one a line; what fits in one datagram is the
 * state's to decide (TowerRoutes.page).
 *
 * @example
 * ```ts
 * import { formatRouteReply } from "./route_protocol.ts";
 * formatRouteReply({ kind: "ROUTED", name: "api" }); // "OK|ROUTED|api"
 * formatRouteReply({ kind: "ROUTES", version: "a.1", page: 0, pages: 1, entries: [] });
 * // "OK|ROUTES|a.1|0|1|0"
 * ```
 */
export function formatRouteReply(reply: RouteReply): string {
  if (reply.kind !== "ROUTES") return `OK|${reply.kind}|${reply.name}`;
  const head = `OK|ROUTES|${reply.version}|${reply.page}|${reply.pages}|${reply.entries.length}`;
  let out = head;
  for (const entry of reply.entries) out += `\n${formatRouteListing(entry)}`;
  return out;
}

function parseListing(line: string): RouteListing | undefined {
  const fields = line.split("|");
  if (fields.length < 4) return undefined;
  const [orderText, name, routeText, sender] = fields;
  const route = readRoute(routeText);
  if (
    !ORDER.test(orderText) || !isValidServiceName(name) || route === undefined ||
    !SENDER.test(sender)
  ) {
    return undefined;
  }
  const entry: RouteListing = { order: Number(orderText), name, route, sender };
  if (fields.length === 4) return entry;
  try {
    const rules = readRules(fields.slice(4).join("|"));
    return rules === undefined ? entry : { ...entry, rules };
  } catch {
    return undefined;
  }
}

/**
 * Parse `OK|ROUTES|...` (its first line and entry lines); undefined when it
 * is not a consistent `ROUTES` reply. Every other reply is parseReply's
 * (protocol.ts), which hands this one here.
 *
 * @example
 * ```ts
 * import { parseRoutesReply } from "./route_protocol.ts";
 * parseRoutesReply("OK|ROUTES|a.1|0|1|1\n3|api|/api|10.0.0.7:41000");
 * // { kind: "ROUTES", version: "a.1", page: 0, pages: 1,
 * //   entries: [{ order: 3, name: "api", route: "/api", sender: "10.0.0.7:41000" }] }
 * ```
 */
export function parseRoutesReply(text: string): RouteReply | undefined {
  const lines = text.split("\n");
  const head = lines[0].split("|");
  if (head.length !== 6 || head[0] !== "OK" || head[1] !== "ROUTES") return undefined;
  const [, , version, pageText, pagesText, countText] = head;
  if (
    !VERSION.test(version) || !PAGE.test(pageText) || !PAGE.test(pagesText) ||
    !PAGE.test(countText) || Number(pagesText) < 1 || Number(countText) !== lines.length - 1
  ) {
    return undefined;
  }
  const entries: RouteListing[] = [];
  for (const line of lines.slice(1)) {
    const entry = parseListing(line);
    if (entry === undefined) return undefined;
    entries.push(entry);
  }
  return { kind: "ROUTES", version, page: Number(pageText), pages: Number(pagesText), entries };
}

/**
 * Whether `reason` is one a Tower gives only to route requests: used by
 * reply matching (matching.ts).
 *
 * @example
 * ```ts
 * import { isRouteOnlyReason } from "./route_protocol.ts";
 * isRouteOnlyReason("ROUTES_DISABLED"); // true
 * isRouteOnlyReason("FORBIDDEN");       // false
 * ```
 */
export function isRouteOnlyReason(reason: string): boolean {
  return reason === "ROUTES_DISABLED" || reason === "ROUTES_FULL";
}

/**
 * A declared route as a registry hands it to the ingress, its origin the
 * Tower and its first live declarer. Shared by the embedded registry and a
 * remote Tower's poller (registry/tower/route_poller.ts).
 *
 * @example
 * ```ts
 * import { declaredRouteOf } from "./route_protocol.ts";
 * declaredRouteOf({ order: 3, name: "api", route: "/api", sender: "10.0.0.7:41000" });
 * // { spec: { prefix: "/api", service: "api" }, origin: "tower 10.0.0.7:41000", order: 3 }
 * ```
 */
export function declaredRouteOf(listing: RouteListing): DeclaredRoute {
  const rules = listing.rules === undefined ? undefined : JSON.parse(listing.rules);
  return Object.freeze({
    spec: Object.freeze(routeSpec(parseRouteTarget(listing.route), listing.name, rules)),
    origin: `tower ${listing.sender}`,
    order: listing.order,
  });
}

/**
 * `ROUTES` entries in pages of at most `pageBytes` bytes of entry lines
 * (a page holds one entry at least; a ROUTE is at most 1 KiB, so any fits).
 *
 * @example
 * ```ts
 * import { paginate } from "./route_protocol.ts";
 * paginate([{ order: 1, name: "api", route: "/api", sender: "10.0.0.7:1" }], 64_000).length; // 1
 * ```
 */
export function paginate(listings: RouteListing[], pageBytes: number): RouteListing[][] {
  const pages: RouteListing[][] = [[]];
  let bytes = 0;
  for (const listing of listings) {
    const cost = encoder.encode(formatRouteListing(listing)).byteLength + 1;
    if (bytes + cost > pageBytes && pages[pages.length - 1].length > 0) {
      pages.push([]);
      bytes = 0;
    }
    pages[pages.length - 1].push(listing);
    bytes += cost;
  }
  return pages;
}
