/**
 * The Tower's wire protocol as values: requests and replies, their parsing
 * and wire form, and the numbers both ends agree on. Pure: no socket, no
 * clock. The grammar is in the Tower's entry module (src/tower.ts); the
 * `ERR` texts are in errors.ts.
 *
 * @module
 */

import type { Replica } from "../registry/types.ts";
import {
  errorReply,
  notFound,
  parseErrorReply,
  syntaxError,
  type TowerErrorReply,
  UNKNOWN_COMMAND,
} from "./errors.ts";
import {
  formatHostPort,
  isValidHost,
  isValidServiceName,
  parsePort,
  readHostPort,
} from "../net/address.ts";
import { formatCounted, parseCounted } from "./counted.ts";
import {
  formatRouteReply,
  formatRouteRequest,
  parseRouteRequest,
  parseRoutesReply,
  type RouteReply,
  type RouteRequest,
} from "./route_protocol.ts";

/**
 * The Tower's well-known UDP port.
 *
 * @example
 * ```ts
 * import { DEFAULT_TOWER_PORT } from "./protocol.ts";
 * const tower = { host: "127.0.0.1", port: DEFAULT_TOWER_PORT }; // port 7772
 * ```
 */
export const DEFAULT_TOWER_PORT = 7772;

/**
 * How long an entry lives after its last REGISTER: 30 s.
 *
 * @example
 * ```ts
 * import { DEFAULT_TTL_MS } from "./protocol.ts";
 * const heartbeatMs = DEFAULT_TTL_MS / 3; // two lost heartbeats in a row are survived
 * ```
 */
export const DEFAULT_TTL_MS = 30_000;

/**
 * Requests longer than this many bytes are dropped without a reply.
 *
 * @example
 * ```ts
 * import { MAX_DATAGRAM_BYTES } from "./protocol.ts";
 * const fits = new TextEncoder().encode("LOOKUP|web").byteLength <= MAX_DATAGRAM_BYTES; // true
 * ```
 */
export const MAX_DATAGRAM_BYTES = 1024;

/**
 * Upper bound for a reply. `LIST` and `LOOKUPALL` include only as many
 * entries as fit (and count only those), so a huge registry still gets an
 * answer instead of a failed send (the UDP payload limit is 65507 bytes).
 *
 * @example
 * ```ts
 * import { formatReply, MAX_REPLY_BYTES } from "./protocol.ts";
 * formatReply({ kind: "LIST", entries: [] }).length <= MAX_REPLY_BYTES; // true, always
 * ```
 */
export const MAX_REPLY_BYTES = 65_000;

/**
 * A well-formed request.
 *
 * @example
 * ```ts
 * import type { TowerRequest } from "./protocol.ts";
 * const request: TowerRequest = { kind: "REGISTER", name: "web", host: "10.0.0.7", port: 8080 };
 * ```
 */
export type TowerRequest =
  | { kind: "REGISTER"; name: string; host: string; port: number; weight?: number }
  | { kind: "DEREGISTER"; name: string; host: string; port: number }
  | { kind: "LOOKUP"; name: string }
  | { kind: "LOOKUPALL"; name: string }
  | { kind: "LIST" }
  | { kind: "PING" }
  | RouteRequest;

/**
 * One line of a `LIST` reply.
 *
 * @example
 * ```ts
 * import type { ListEntry } from "./protocol.ts";
 * const entry: ListEntry = { name: "web", host: "::1", port: 80, ttlLeft: 29 }; // web:[::1]:80:29
 * ```
 */
export interface ListEntry {
  name: string;
  host: string;
  port: number;
  /** Seconds until expiry, rounded up (a live entry never shows 0). */
  ttlLeft: number;
}

/**
 * A reply, parsed.
 *
 * @example
 * ```ts
 * import type { TowerReply } from "./protocol.ts";
 * const reply: TowerReply = { kind: "LOOKUPALL", name: "web", replicas: [] };
 * ```
 */
export type TowerReply =
  | { kind: "REGISTERED"; name: string }
  | { kind: "DEREGISTERED"; name: string }
  | { kind: "LOOKUP"; name: string; replica: Replica }
  | { kind: "LOOKUPALL"; name: string; replicas: readonly Replica[] }
  | { kind: "LIST"; entries: ListEntry[] }
  | { kind: "PONG" }
  | RouteReply
  | TowerErrorReply;

/**
 * Drop one trailing "\n" or "\r\n" (what `echo` appends), nothing more.
 *
 * @example
 * ```ts
 * import { stripLineEnd } from "./protocol.ts";
 * stripLineEnd("PING\r\n"); // "PING"
 * stripLineEnd("PING\n\n"); // "PING\n"
 * ```
 */
export function stripLineEnd(text: string): string {
  if (text.endsWith("\r\n")) return text.slice(0, -2);
  if (text.endsWith("\n")) return text.slice(0, -1);
  return text;
}

/**
 * Parse one request line. Never throws: anything that is not a well-formed
 * request comes back as the `ERR` reply to send, in the seed's words.
 *
 * @example
 * ```ts
 * import { parseRequest } from "./protocol.ts";
 * parseRequest("REGISTER|web|10.0.0.7|8080\n");
 * // { kind: "REGISTER", name: "web", host: "10.0.0.7", port: 8080 }
 * parseRequest("HELLO");        // { kind: "ERR", reason: "unknown command" }
 * parseRequest("LOOKUP|a b");   // { kind: "ERR", reason: "NOT_FOUND", name: "a b" }
 * parseRequest("REGISTER|web"); // { kind: "ERR", reason: "REGISTER syntax: name|ip|port" }
 * ```
 */
export function parseRequest(line: string): TowerRequest | TowerErrorReply {
  return parseRequestFields(stripLineEnd(line).split("|"));
}

/**
 * {@link parseRequest} of a line already split at "|", its line end stripped.
 *
 * @example
 * ```ts
 * import { parseRequestFields } from "./protocol.ts";
 * parseRequestFields(["LOOKUP", "web"]); // { kind: "LOOKUP", name: "web" }
 * ```
 */
export function parseRequestFields(fields: string[]): TowerRequest | TowerErrorReply {
  const command = fields[0];
  // As in the seed, a command with arguments is its word and a "|": a bare
  // "LOOKUP" or "REGISTER" is an unknown command.
  switch (command) {
    case "REGISTER":
    case "DEREGISTER": {
      if (fields.length === 1) return errorReply(UNKNOWN_COMMAND);
      // Extension: REGISTER may end in "weight=N" (1-1000), which no seed client sends.
      const weighted = command === "REGISTER" && fields.length === 5;
      if (fields.length !== 4 && !weighted) return syntaxError(command);
      const [, name, host, portText] = fields;
      const port = parsePort(portText);
      const weight = weighted ? parseWeight(fields[4]) : 1;
      if (
        !isValidServiceName(name) || !isValidHost(host) || port === undefined ||
        weight === undefined
      ) {
        return syntaxError(command);
      }
      return weighted
        ? { kind: command, name, host, port, weight }
        : { kind: command, name, host, port };
    }
    case "LOOKUP":
    case "LOOKUPALL": {
      if (fields.length === 1) return errorReply(UNKNOWN_COMMAND);
      // The seed takes everything after "LOOKUP|" as the name, and no Tower holds an invalid one.
      const name = fields.length === 2 ? fields[1] : fields.slice(1).join("|");
      return isValidServiceName(name) ? { kind: command, name } : notFound(name);
    }
    case "LIST":
    case "PING":
      return fields.length === 1 ? { kind: command } : errorReply(UNKNOWN_COMMAND);
    case "ROUTE":
    case "UNROUTE":
    case "ROUTES":
      return parseRouteRequest(fields);
    default:
      return errorReply(UNKNOWN_COMMAND);
  }
}

/** A LOOKUPALL item: `host:port`, or `host:port/N` with a weight N from 1 to 1000. */
function readWeightedHostPort(text: string): Replica | undefined {
  const slash = text.indexOf("/");
  if (slash < 0) return readHostPort(text);
  const replica = readHostPort(text.slice(0, slash));
  const weight = /^[1-9]\d{0,3}$/.test(text.slice(slash + 1)) ? Number(text.slice(slash + 1)) : 0;
  return replica === undefined || weight < 1 || weight > 1000 ? undefined : { ...replica, weight };
}

/** `weight=N` with N a whole number from 1 to 1000, or undefined. */
function parseWeight(text: string): number | undefined {
  const m = /^weight=([1-9]\d{0,3})$/.exec(text);
  return m && Number(m[1]) <= 1000 ? Number(m[1]) : undefined;
}

/**
 * The wire form of a request.
 *
 * @example
 * ```ts
 * import { formatRequest } from "./protocol.ts";
 * formatRequest({ kind: "LOOKUP", name: "web" }); // "LOOKUP|web"
 * ```
 */
export function formatRequest(request: TowerRequest): string {
  switch (request.kind) {
    case "REGISTER":
      return `REGISTER|${request.name}|${request.host}|${request.port}` +
        (request.weight === undefined ? "" : `|weight=${request.weight}`);
    case "DEREGISTER":
      return `DEREGISTER|${request.name}|${request.host}|${request.port}`;
    case "LOOKUP":
    case "LOOKUPALL":
      return `${request.kind}|${request.name}`;
    case "LIST":
    case "PING":
      return request.kind;
    default:
      return formatRouteRequest(request);
  }
}

/**
 * The wire form of a reply (no trailing newline).
 *
 * @example
 * ```ts
 * import { formatReply } from "./protocol.ts";
 * formatReply({ kind: "LOOKUP", name: "web", replica: { host: "10.0.0.7", port: 8080 } });
 * // "OK|LOOKUP|web|10.0.0.7|8080"
 * formatReply({ kind: "ERR", reason: "NOT_FOUND", name: "web" }); // "ERR|NOT_FOUND|web"
 * ```
 */
export function formatReply(reply: TowerReply): string {
  switch (reply.kind) {
    case "REGISTERED":
    case "DEREGISTERED":
      return `OK|${reply.kind}|${reply.name}`;
    case "LOOKUP":
      return `OK|LOOKUP|${reply.name}|${reply.replica.host}|${reply.replica.port}`;
    case "LOOKUPALL":
      // A weight other than 1 follows its replica as "/N" (only a weighted REGISTER makes one).
      return formatCounted(
        MAX_REPLY_BYTES,
        `OK|LOOKUPALL|${reply.name}`,
        reply.replicas.map((r) =>
          r.weight === undefined || r.weight === 1
            ? formatHostPort(r.host, r.port)
            : `${formatHostPort(r.host, r.port)}/${r.weight}`
        ),
      );
    case "LIST":
      return formatCounted(
        MAX_REPLY_BYTES,
        "OK|LIST",
        reply.entries.map((e) => `${e.name}:${formatHostPort(e.host, e.port)}:${e.ttlLeft}`),
      );
    case "PONG":
      return "OK|PONG|tower";
    case "ERR":
      return reply.name === undefined ? `ERR|${reply.reason}` : `ERR|${reply.reason}|${reply.name}`;
    default:
      return formatRouteReply(reply);
  }
}

function parseListEntry(item: string): ListEntry | undefined {
  const firstColon = item.indexOf(":");
  const lastColon = item.lastIndexOf(":");
  if (firstColon === -1 || lastColon === firstColon) return undefined;
  const name = item.slice(0, firstColon);
  const ttlText = item.slice(lastColon + 1);
  const address = readHostPort(item.slice(firstColon + 1, lastColon));
  if (!isValidServiceName(name) || address === undefined || !/^[0-9]{1,10}$/.test(ttlText)) {
    return undefined;
  }
  return { name, host: address.host, port: address.port, ttlLeft: Number(ttlText) };
}

/**
 * Parse a reply line (from Gatehouse or a seed Tower); undefined when it is
 * not a reply at all. A trailing newline is tolerated. `ERR` replies are
 * read by {@link parseErrorReply}: any printable reason, and a name when
 * one follows it.
 *
 * @example
 * ```ts
 * import { parseReply } from "./protocol.ts";
 * parseReply("OK|LOOKUPALL|web|2|10.0.0.7:8080,[::1]:8081");
 * // { kind: "LOOKUPALL", name: "web", replicas: [{ host: "10.0.0.7", port: 8080 },
 * //                                              { host: "::1", port: 8081 }] }
 * parseReply("ERR|registry full"); // { kind: "ERR", reason: "registry full" }
 * ```
 */
export function parseReply(line: string): TowerReply | undefined {
  const text = stripLineEnd(line);
  // Its entries are lines of their own (a rule may hold "|").
  if (text.startsWith("OK|ROUTES|")) return parseRoutesReply(text);
  const fields = text.split("|");
  if (fields[0] === "ERR") return fields.length < 2 ? undefined : parseErrorReply(text.slice(4));
  if (fields[0] !== "OK" || fields.length < 2) return undefined;
  const name = fields[2];
  switch (fields[1]) {
    case "REGISTERED":
    case "DEREGISTERED":
    case "ROUTED":
    case "UNROUTED":
      return fields.length === 3 && isValidServiceName(name)
        ? { kind: fields[1], name }
        : undefined;
    case "LOOKUP": {
      if (fields.length !== 5 || !isValidServiceName(name) || !isValidHost(fields[3])) {
        return undefined;
      }
      const port = parsePort(fields[4]);
      return port === undefined
        ? undefined
        : { kind: "LOOKUP", name, replica: { host: fields[3], port } };
    }
    case "LOOKUPALL": {
      if (fields.length !== 5 || !isValidServiceName(name)) return undefined;
      const replicas = parseCounted(fields[3], fields[4], readWeightedHostPort);
      return replicas === undefined ? undefined : { kind: "LOOKUPALL", name, replicas };
    }
    case "LIST": {
      if (fields.length !== 4) return undefined;
      const entries = parseCounted(fields[2], fields[3], parseListEntry);
      return entries === undefined ? undefined : { kind: "LIST", entries };
    }
    case "PONG":
      return fields.length <= 3 ? { kind: "PONG" } : undefined;
    default:
      return undefined;
  }
}
