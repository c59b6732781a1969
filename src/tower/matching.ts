/**
 * Which request a Tower reply can answer. The protocol has no request ids:
 * a reply carries at most the command and the service name, and the seed's
 * errors for REGISTER and DEREGISTER (`ERR|registry full`,
 * `ERR|REGISTER syntax: name|ip|port`, `ERR|unknown command`) name nothing.
 * The client attributes a reply only when a single request in flight could
 * have received it ({@link canAnswer}, {@link answersAlike}), and never has
 * two requests in flight that one reply could both answer ({@link conflicts}).
 *
 * @module
 */

import {
  DEREGISTER_SYNTAX,
  REGISTER_SYNTAX,
  REGISTRY_FULL,
  ROUTE_SYNTAX,
  ROUTES_SYNTAX,
  UNROUTE_SYNTAX,
} from "./errors.ts";
import type { TowerReply, TowerRequest } from "./protocol.ts";

/** Named ERR reasons only a change is answered with ("FULL": older Gatehouse). */
const CHANGE_REFUSALS: ReadonlySet<string> = new Set([
  "FORBIDDEN",
  "UNAUTHORIZED",
  "STALE",
  "REPLAY",
  "RATE_LIMITED",
  "FULL",
  "ROUTES_FULL",
]);

/** REGISTER, DEREGISTER, ROUTE and UNROUTE: the requests that change a Tower. */
function isChange(request: TowerRequest): boolean {
  const { kind } = request;
  return kind === "REGISTER" || kind === "DEREGISTER" || kind === "ROUTE" || kind === "UNROUTE";
}

/** Gatehouse's queries a Tower without them answers with an ERR naming nothing. */
function isExtendedQuery(request: TowerRequest): boolean {
  return request.kind === "LOOKUPALL" || request.kind === "ROUTES";
}

/** The requests `ERR|NOT_FOUND|<name>` answers. */
function mayBeNotFound(request: TowerRequest): boolean {
  const { kind } = request;
  return kind === "LOOKUP" || kind === "LOOKUPALL" || kind === "DEREGISTER" || kind === "UNROUTE";
}

function nameOf(request: TowerRequest): string | undefined {
  return "name" in request ? request.name : undefined;
}

/**
 * Could `reply` be the Tower's answer to `request`? OK replies and named
 * ERRs must name the request's command and service (a ROUTES reply its
 * page). An ERR that names nothing can answer only what both the seed and
 * Gatehouse may answer that way: `registry full` and the REGISTER syntax
 * text a REGISTER, each other syntax text its own command, `ROUTES_DISABLED`
 * a ROUTES, any other text (`unknown command`, another Tower's words) a
 * change or a LOOKUPALL or ROUTES (which a seed does not know). LOOKUP,
 * LIST and PING always get replies that name them.
 *
 * @example
 * ```ts
 * import { canAnswer } from "./matching.ts";
 * canAnswer({ kind: "LOOKUPALL", name: "web" }, { kind: "ERR", reason: "unknown command" }); // true
 * canAnswer({ kind: "LOOKUP", name: "web" }, { kind: "ERR", reason: "unknown command" });    // false
 * ```
 */
export function canAnswer(request: TowerRequest, reply: TowerReply): boolean {
  switch (reply.kind) {
    case "REGISTERED":
      return request.kind === "REGISTER" && request.name === reply.name;
    case "DEREGISTERED":
      return request.kind === "DEREGISTER" && request.name === reply.name;
    case "ROUTED":
      return request.kind === "ROUTE" && request.name === reply.name;
    case "UNROUTED":
      return request.kind === "UNROUTE" && request.name === reply.name;
    case "ROUTES":
      return request.kind === "ROUTES" && request.page === reply.page;
    case "LOOKUP":
    case "LOOKUPALL":
      return request.kind === reply.kind && request.name === reply.name;
    case "LIST":
      return request.kind === "LIST";
    case "PONG":
      return request.kind === "PING";
    case "ERR":
      break;
  }
  const { reason } = reply;
  if (reply.name !== undefined) {
    if (nameOf(request) !== reply.name) return false;
    // A LOOKUP and a REGISTER (or ROUTE) of one service may be in flight together.
    return reason === "NOT_FOUND" ? mayBeNotFound(request) : isChange(request);
  }
  switch (reason) {
    case "NOT_FOUND": // Without a valid name, it answers a name no request carries.
      return false;
    case REGISTER_SYNTAX:
    case REGISTRY_FULL:
      return request.kind === "REGISTER";
    case DEREGISTER_SYNTAX:
      return request.kind === "DEREGISTER";
    case ROUTE_SYNTAX:
      return request.kind === "ROUTE";
    case UNROUTE_SYNTAX:
      return request.kind === "UNROUTE";
    case ROUTES_SYNTAX:
    case "ROUTES_DISABLED":
      return request.kind === "ROUTES";
  }
  if (CHANGE_REFUSALS.has(reason)) return isChange(request);
  return isChange(request) || isExtendedQuery(request);
}

/**
 * The one request line that can receive `reply`, when only one can: the OK
 * replies of LOOKUP, LOOKUPALL, LIST and PING. Lets the client find the
 * owner of the commonest replies without a search.
 *
 * @example
 * ```ts
 * import { soleRequestLine } from "./matching.ts";
 * soleRequestLine({ kind: "LOOKUPALL", name: "web", replicas: [] }); // "LOOKUPALL|web"
 * soleRequestLine({ kind: "ERR", reason: "unknown command" });      // undefined
 * ```
 */
export function soleRequestLine(reply: TowerReply): string | undefined {
  switch (reply.kind) {
    case "LOOKUP":
    case "LOOKUPALL":
      return `${reply.kind}|${reply.name}`;
    case "LIST":
      return "LIST";
    case "PONG":
      return "PING";
    case "ROUTES":
      return `ROUTES|${reply.page}`;
    default:
      return undefined;
  }
}

/**
 * Would `a` and `b`, both able to receive `reply`, have received the same
 * answer, so that giving it to either is right? Identical requests do;
 * so do any two LOOKUPALLs (or two ROUTES) for an ERR that names nothing:
 * that is a Tower without the command, which answers every one alike.
 *
 * @example
 * ```ts
 * import { answersAlike } from "./matching.ts";
 * const seed = { kind: "ERR", reason: "unknown command" } as const;
 * answersAlike(seed, { kind: "LOOKUPALL", name: "a" }, { kind: "LOOKUPALL", name: "b" }); // true
 * ```
 */
export function answersAlike(reply: TowerReply, a: TowerRequest, b: TowerRequest): boolean {
  if (sameRequest(a, b)) return true;
  return reply.kind === "ERR" && reply.name === undefined && isExtendedQuery(a) &&
    a.kind === b.kind;
}

function sameRequest(a: TowerRequest, b: TowerRequest): boolean {
  if (a.kind !== b.kind || nameOf(a) !== nameOf(b)) return false;
  switch (a.kind) {
    case "REGISTER":
    case "DEREGISTER": {
      const other = b as typeof a;
      return a.host === other.host && a.port === other.port;
    }
    case "ROUTE":
      return a.route === (b as typeof a).route && a.rules === (b as typeof a).rules;
    case "UNROUTE":
      return a.route === (b as typeof a).route;
    case "ROUTES":
      return a.page === (b as typeof a).page;
    default:
      return true;
  }
}

/**
 * Could one reply answer both `a` and `b` (and differently)? The client
 * never has two such requests in flight, so each reply has one owner. In
 * practice: one change (REGISTER, DEREGISTER, ROUTE, UNROUTE) at a time,
 * and none while a LOOKUPALL or ROUTES is out, nor a LOOKUPALL and a ROUTES
 * together (each may get an unnamed ERR); a LOOKUP, LOOKUPALL, DEREGISTER or
 * UNROUTE of one service not together (`ERR|NOT_FOUND|<name>`). Lookups of
 * different services, pages of ROUTES, and a REGISTER with a LOOKUP, go
 * together.
 *
 * @example
 * ```ts
 * import { conflicts } from "./matching.ts";
 * conflicts({ kind: "LOOKUPALL", name: "a" }, { kind: "LOOKUPALL", name: "b" }); // false
 * conflicts(
 *   { kind: "REGISTER", name: "a", host: "10.0.0.7", port: 80 },
 *   { kind: "REGISTER", name: "b", host: "10.0.0.7", port: 80 },
 * ); // true: either may get ERR|registry full
 * ```
 */
export function conflicts(a: TowerRequest, b: TowerRequest): boolean {
  if (sameRequest(a, b)) return false;
  const changes = (isChange(a) ? 1 : 0) + (isChange(b) ? 1 : 0);
  const queries = (isExtendedQuery(a) ? 1 : 0) + (isExtendedQuery(b) ? 1 : 0);
  // Unnamed ERRs: any two of a change, LOOKUPALL and ROUTES but two of one query.
  if (changes + queries === 2 && !(queries === 2 && a.kind === b.kind)) return true;
  const name = nameOf(a);
  if (name === undefined || name !== nameOf(b)) return false;
  // ERR|NOT_FOUND|<name>: a LOOKUP, LOOKUPALL, DEREGISTER or UNROUTE (two changes are caught above).
  return mayBeNotFound(a) && mayBeNotFound(b);
}
