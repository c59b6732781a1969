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

import { DEREGISTER_SYNTAX, REGISTER_SYNTAX, REGISTRY_FULL } from "./errors.ts";
import type { TowerReply, TowerRequest } from "./protocol.ts";

/** Named ERR reasons only a REGISTER or DEREGISTER is answered with ("FULL": older Gatehouse). */
const CHANGE_REFUSALS: ReadonlySet<string> = new Set([
  "FORBIDDEN",
  "UNAUTHORIZED",
  "STALE",
  "REPLAY",
  "RATE_LIMITED",
  "FULL",
]);

function isChange(request: TowerRequest): boolean {
  return request.kind === "REGISTER" || request.kind === "DEREGISTER";
}

function nameOf(request: TowerRequest): string | undefined {
  return "name" in request ? request.name : undefined;
}

/**
 * Could `reply` be the Tower's answer to `request`? OK replies and named
 * ERRs must name the request's command and service. An ERR that names
 * nothing can answer only what both the seed and Gatehouse may answer that
 * way: `registry full` and the REGISTER syntax text a REGISTER, the
 * DEREGISTER syntax text a DEREGISTER, any other text (`unknown command`,
 * another Tower's words) a REGISTER, DEREGISTER or LOOKUPALL (which a seed
 * does not know). LOOKUP, LIST and PING always get replies that name them.
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
    // A LOOKUP and a REGISTER of one service may be in flight together.
    return reason === "NOT_FOUND" ? request.kind !== "REGISTER" : isChange(request);
  }
  // A NOT_FOUND without a valid name answers a name no request carries.
  if (reason === "NOT_FOUND") return false;
  if (CHANGE_REFUSALS.has(reason)) return isChange(request);
  if (reason === REGISTER_SYNTAX || reason === REGISTRY_FULL) return request.kind === "REGISTER";
  if (reason === DEREGISTER_SYNTAX) return request.kind === "DEREGISTER";
  return isChange(request) || request.kind === "LOOKUPALL";
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
    default:
      return undefined;
  }
}

/**
 * Would `a` and `b`, both able to receive `reply`, have received the same
 * answer, so that giving it to either is right? Identical requests do;
 * so do any two LOOKUPALLs for an ERR that names nothing: that is a Tower
 * without LOOKUPALL, which answers every LOOKUPALL alike.
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
  return reply.kind === "ERR" && reply.name === undefined && a.kind === "LOOKUPALL" &&
    b.kind === "LOOKUPALL";
}

function sameRequest(a: TowerRequest, b: TowerRequest): boolean {
  if (a.kind !== b.kind || nameOf(a) !== nameOf(b)) return false;
  if (a.kind === "REGISTER" || a.kind === "DEREGISTER") {
    const other = b as typeof a;
    return a.host === other.host && a.port === other.port;
  }
  return true;
}

/**
 * Could one reply answer both `a` and `b` (and differently)? The client
 * never has two such requests in flight, so each reply has one owner. In
 * practice: one REGISTER or DEREGISTER at a time, and none while a
 * LOOKUPALL is out (both may get an unnamed ERR); a LOOKUP, LOOKUPALL or
 * DEREGISTER of one service not together (`ERR|NOT_FOUND|<name>`). Lookups
 * of different services, and a REGISTER with a LOOKUP, go together.
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
  const lookupAlls = (a.kind === "LOOKUPALL" ? 1 : 0) + (b.kind === "LOOKUPALL" ? 1 : 0);
  // Unnamed ERRs: any two of REGISTER, DEREGISTER and LOOKUPALL but two LOOKUPALLs.
  if (changes === 2 || (changes === 1 && lookupAlls === 1)) return true;
  const name = nameOf(a);
  if (name === undefined || name !== nameOf(b)) return false;
  // ERR|NOT_FOUND|<name>: a LOOKUP, LOOKUPALL or DEREGISTER (two REGISTERs are caught above).
  return a.kind !== "REGISTER" && b.kind !== "REGISTER";
}
