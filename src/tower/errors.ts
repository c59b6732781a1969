/**
 * What a Tower answers when it says no. For the seed's own commands these
 * are the seed Tower's texts, byte for byte (`ERR|unknown command`,
 * `ERR|REGISTER syntax: name|ip|port`, `ERR|registry full`, ...); Gatehouse's
 * own reasons (`FORBIDDEN`, `UNAUTHORIZED`, `STALE`, `REPLAY`,
 * `RATE_LIMITED`, and for declared routes `ROUTES_DISABLED`, `ROUTES_FULL`
 * and the route syntax texts) are only for what the seed does not have.
 * Pure values.
 *
 * @module
 */

import { isValidServiceName } from "../net/address.ts";

/**
 * The seed's reply to a command it does not know (also to an empty or
 * unreadable datagram): `ERR|unknown command`.
 *
 * @example
 * ```ts
 * import { errorReply, UNKNOWN_COMMAND } from "./errors.ts";
 * errorReply(UNKNOWN_COMMAND); // { kind: "ERR", reason: "unknown command" }
 * ```
 */
export const UNKNOWN_COMMAND = "unknown command";

/**
 * The seed's reply when the entry cap refuses a new REGISTER: `ERR|registry full`.
 *
 * @example
 * ```ts
 * import { errorReply, REGISTRY_FULL } from "./errors.ts";
 * errorReply(REGISTRY_FULL); // { kind: "ERR", reason: "registry full" }
 * ```
 */
export const REGISTRY_FULL = "registry full";

/**
 * The seed's reply to a REGISTER it cannot read: `ERR|REGISTER syntax: name|ip|port`.
 *
 * @example
 * ```ts
 * import { REGISTER_SYNTAX, syntaxError } from "./errors.ts";
 * syntaxError("REGISTER").reason === REGISTER_SYNTAX; // true
 * ```
 */
export const REGISTER_SYNTAX = "REGISTER syntax: name|ip|port";

/**
 * The seed's reply to a DEREGISTER it cannot read: `ERR|DEREGISTER syntax: name|ip|port`.
 *
 * @example
 * ```ts
 * import { DEREGISTER_SYNTAX, syntaxError } from "./errors.ts";
 * syntaxError("DEREGISTER").reason === DEREGISTER_SYNTAX; // true
 * ```
 */
export const DEREGISTER_SYNTAX = "DEREGISTER syntax: name|ip|port";

/**
 * Gatehouse's reply to a ROUTE it cannot read (the route-declaration
 * extension, docs/tower-routes.md): `ERR|ROUTE syntax: service|[host]/prefix[|{rules}]`.
 *
 * @example
 * ```ts
 * import { ROUTE_SYNTAX, syntaxError } from "./errors.ts";
 * syntaxError("ROUTE").reason === ROUTE_SYNTAX; // true
 * ```
 */
export const ROUTE_SYNTAX = "ROUTE syntax: service|[host]/prefix[|{rules}]";

/**
 * Gatehouse's reply to an UNROUTE it cannot read: `ERR|UNROUTE syntax: service|[host]/prefix`.
 *
 * @example
 * ```ts
 * import { UNROUTE_SYNTAX, syntaxError } from "./errors.ts";
 * syntaxError("UNROUTE").reason === UNROUTE_SYNTAX; // true
 * ```
 */
export const UNROUTE_SYNTAX = "UNROUTE syntax: service|[host]/prefix";

/**
 * Gatehouse's reply to a ROUTES whose page is not a number: `ERR|ROUTES syntax: ROUTES[|page]`.
 *
 * @example
 * ```ts
 * import { errorReply, ROUTES_SYNTAX } from "./errors.ts";
 * errorReply(ROUTES_SYNTAX); // { kind: "ERR", reason: "ROUTES syntax: ROUTES[|page]" }
 * ```
 */
export const ROUTES_SYNTAX = "ROUTES syntax: ROUTES[|page]";

/** The syntax texts that hold a "|", read whole. */
const SYNTAX_TEXTS: ReadonlySet<string> = new Set([
  REGISTER_SYNTAX,
  DEREGISTER_SYNTAX,
  ROUTE_SYNTAX,
  UNROUTE_SYNTAX,
  ROUTES_SYNTAX,
]);

/**
 * An `ERR` reply: `ERR|<reason>` or `ERR|<reason>|<name>`. `reason` is one of
 * {@link TowerErrorReason} from Gatehouse, but any text from another Tower.
 *
 * @example
 * ```ts
 * import type { TowerErrorReply } from "./errors.ts";
 * const reply: TowerErrorReply = { kind: "ERR", reason: "NOT_FOUND", name: "web" };
 * ```
 */
export interface TowerErrorReply {
  kind: "ERR";
  reason: string;
  name?: string;
}

/**
 * The reasons a Gatehouse Tower puts in an `ERR` reply: the seed's texts,
 * then Gatehouse's refusals (always followed by the name).
 *
 * @example
 * ```ts
 * import type { TowerErrorReason } from "./errors.ts";
 * const reason: TowerErrorReason = "registry full"; // ERR|registry full
 * ```
 */
export type TowerErrorReason =
  | "NOT_FOUND"
  | typeof UNKNOWN_COMMAND
  | typeof REGISTRY_FULL
  | typeof REGISTER_SYNTAX
  | typeof DEREGISTER_SYNTAX
  | typeof ROUTE_SYNTAX
  | typeof UNROUTE_SYNTAX
  | typeof ROUTES_SYNTAX
  | "FORBIDDEN"
  | "UNAUTHORIZED"
  | "STALE"
  | "REPLAY"
  | "RATE_LIMITED"
  | "ROUTES_DISABLED"
  | "ROUTES_FULL";

/**
 * An `ERR` reply; `name` only when given, as {@link parseErrorReply} makes it.
 *
 * @example
 * ```ts
 * import { errorReply } from "./errors.ts";
 * errorReply("NOT_FOUND", "web");     // { kind: "ERR", reason: "NOT_FOUND", name: "web" }
 * errorReply("unknown command");      // { kind: "ERR", reason: "unknown command" }
 * ```
 */
export function errorReply(reason: TowerErrorReason, name?: string): TowerErrorReply {
  return name === undefined ? { kind: "ERR", reason } : { kind: "ERR", reason, name };
}

/**
 * The reply to a REGISTER or DEREGISTER whose fields it cannot read (the
 * seed's text), or to a ROUTE or UNROUTE (Gatehouse's).
 *
 * @example
 * ```ts
 * import { syntaxError } from "./errors.ts";
 * syntaxError("REGISTER"); // { kind: "ERR", reason: "REGISTER syntax: name|ip|port" }
 * ```
 */
export function syntaxError(
  command: "REGISTER" | "DEREGISTER" | "ROUTE" | "UNROUTE",
): TowerErrorReply {
  switch (command) {
    case "REGISTER":
      return errorReply(REGISTER_SYNTAX);
    case "DEREGISTER":
      return errorReply(DEREGISTER_SYNTAX);
    case "ROUTE":
      return errorReply(ROUTE_SYNTAX);
    case "UNROUTE":
      return errorReply(UNROUTE_SYNTAX);
  }
}

/** The seed copies at most this many characters of a name into a reply (`%.127s`). */
const SEED_NAME_ECHO = 127;

/**
 * `ERR|NOT_FOUND|<name>` for a name as a LOOKUP sent it, valid or not, the
 * way the seed answers: the text up to a NUL (where the seed's C string
 * ends), at most 127 characters.
 *
 * @example
 * ```ts
 * import { notFound } from "./errors.ts";
 * notFound("a b"); // { kind: "ERR", reason: "NOT_FOUND", name: "a b" }
 * notFound("");    // { kind: "ERR", reason: "NOT_FOUND", name: "" }: ERR|NOT_FOUND|
 * ```
 */
export function notFound(name: string): TowerErrorReply {
  const nul = name.indexOf("\0");
  const text = nul === -1 ? name : name.slice(0, nul);
  return errorReply("NOT_FOUND", text.slice(0, SEED_NAME_ECHO));
}

/**
 * Read what follows `ERR|` in a reply; undefined when it is not an error
 * reply at all. The seed's syntax texts are read whole (they contain "|");
 * otherwise the reason is the first field, any printable ASCII, and a
 * second and last field that is a valid service name is the `name`.
 *
 * @example
 * ```ts
 * import { parseErrorReply } from "./errors.ts";
 * parseErrorReply("NOT_FOUND|web");                 // { kind: "ERR", reason: "NOT_FOUND", name: "web" }
 * parseErrorReply("REGISTER syntax: name|ip|port"); // { kind: "ERR", reason: "REGISTER syntax: name|ip|port" }
 * ```
 */
export function parseErrorReply(text: string): TowerErrorReply | undefined {
  if (SYNTAX_TEXTS.has(text)) return { kind: "ERR", reason: text };
  const fields = text.split("|");
  // Lenient on purpose: another Tower's reason may be any text, and reading
  // it as an ERR (not as noise) is what lets a client fall back.
  const reason = fields[0];
  if (!/^[\x20-\x7e]{1,200}$/.test(reason)) return undefined;
  const name = fields[1];
  return fields.length === 2 && isValidServiceName(name)
    ? { kind: "ERR", reason, name }
    : { kind: "ERR", reason };
}
