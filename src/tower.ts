/**
 * The Tower: a tiny service registry spoken over UDP, one datagram each way.
 *
 * ```
 * REGISTER|<name>|<ip>|<port>    -> OK|REGISTERED|<name>
 * LOOKUP|<name>                  -> OK|LOOKUP|<name>|<ip>|<port>  or  ERR|NOT_FOUND|<name>
 * LOOKUPALL|<name>               -> OK|LOOKUPALL|<name>|<n>|<ip>:<port>,...
 *                                   or  ERR|NOT_FOUND|<name>
 * DEREGISTER|<name>|<ip>|<port>  -> OK|DEREGISTERED|<name>  or  ERR|NOT_FOUND|<name>
 * LIST                           -> OK|LIST|<n>|<name>:<ip>:<port>:<ttl_left>,...
 * PING                           -> OK|PONG|tower
 * anything else                  -> ERR|UNKNOWN_COMMAND, ERR|MALFORMED, ERR|BAD_NAME,
 *                                   ERR|BAD_HOST or ERR|BAD_PORT (no state change)
 * ```
 *
 * A server may restrict REGISTER and DEREGISTER to some senders (the seed
 * accepted them from anyone); refused ones get `ERR|FORBIDDEN|<name>`.
 *
 * A server may also require them to be signed with a shared secret
 * (docs/tower-signing.md):
 *
 * ```
 * REGISTER|<name>|<ip>|<port>|<unix_ms>|<nonce>|<hmac>
 * DEREGISTER|<name>|<ip>|<port>|<unix_ms>|<nonce>|<hmac>
 *   hmac = hex(HMAC-SHA256(secret, everything before the last "|"))
 * ```
 *
 * and may rate-limit them per sender and cap the number of entries. Those
 * refusals are `ERR|UNAUTHORIZED|<name>`, `ERR|STALE|<name>`,
 * `ERR|REPLAY|<name>`, `ERR|RATE_LIMITED|<name>` and `ERR|FULL|<name>`
 * ({@link TowerGuard}). Lookups, LIST and PING are never signed.
 *
 * `LOOKUPALL`, the signed form and the specific ERR reasons are Gatehouse's;
 * every other reply has the seed Tower's exact form, so seed clients keep
 * working. Replies carry no trailing newline; one trailing "\n" or "\r\n" on
 * a request is tolerated because `echo` adds one. Datagrams over
 * {@link MAX_DATAGRAM_BYTES} are dropped unanswered. In `LOOKUPALL` and
 * `LIST`, IPv6 addresses are bracketed (`[::1]:8080`) so the `:` separators
 * stay unambiguous.
 *
 * Entries expire {@link DEFAULT_TTL_MS} after their last REGISTER (REGISTER
 * is the heartbeat). Round robin is "least recently served": a never-served
 * replica goes first, and serving one moves it to the back.
 *
 * This module has three layers: pure protocol functions
 * ({@link parseRequest}, {@link formatReply}, ...), the in-memory
 * {@link TowerState}, and the UDP ends ({@link startTowerServer},
 * {@link TowerClient}) which receive their socket factory ({@link BindUdp})
 * from the runtime layer.
 *
 * @module
 */

import { clearInterval, setInterval } from "node:timers";
import type { Replica } from "./registry/types.ts";
import {
  formatHostPort,
  isValidHost,
  isValidServiceName,
  parsePort,
  readHostPort,
} from "./net/address.ts";
import type { Runtime, UdpSocket } from "./runtime/types.ts";
import { builtin } from "./runtime/builtin.ts";

/** node:crypto, loaded the first time something is signed or verified. */
function nodeCrypto(): typeof import("node:crypto") {
  return builtin<typeof import("node:crypto")>("node:crypto");
}

/** The Tower's well-known UDP port. */
export const DEFAULT_TOWER_PORT = 7772;

/** How long an entry lives after its last REGISTER: 30 s. */
export const DEFAULT_TTL_MS = 30_000;

/** Requests longer than this many bytes are dropped without a reply. */
export const MAX_DATAGRAM_BYTES = 1024;

/**
 * Upper bound for a reply. `LIST` and `LOOKUPALL` include only as many
 * entries as fit (and count only those), so a huge registry still gets an
 * answer instead of a failed send (the UDP payload limit is 65507 bytes).
 */
export const MAX_REPLY_BYTES = 65_000;

/**
 * A signed request is accepted while its timestamp is within this many
 * milliseconds of the Tower's clock (either way): 30 s.
 */
export const SIGNATURE_WINDOW_MS = 30_000;

/** Default cap on entries a Tower server accepts over UDP. */
export const DEFAULT_MAX_ENTRIES = 10_000;

const decoder = new TextDecoder();
const encoder = new TextEncoder();

// ---------------------------------------------------------------------------
// Protocol: requests and replies as values
// ---------------------------------------------------------------------------

/** A well-formed request. */
export type TowerRequest =
  | { kind: "REGISTER"; name: string; host: string; port: number }
  | { kind: "DEREGISTER"; name: string; host: string; port: number }
  | { kind: "LOOKUP"; name: string }
  | { kind: "LOOKUPALL"; name: string }
  | { kind: "LIST" }
  | { kind: "PING" };

/** One line of a `LIST` reply. */
export interface ListEntry {
  name: string;
  host: string;
  port: number;
  /** Seconds until expiry, rounded up (a live entry never shows 0). */
  ttlLeft: number;
}

/**
 * An `ERR` reply. `reason` is one of {@link TowerErrorReason} from Gatehouse,
 * but any word from another Tower; `name` is present on `NOT_FOUND`.
 */
export interface TowerErrorReply {
  kind: "ERR";
  reason: string;
  name?: string;
}

/** The reasons a Gatehouse Tower puts in an `ERR` reply. */
export type TowerErrorReason =
  | "NOT_FOUND"
  | "UNKNOWN_COMMAND"
  | "MALFORMED"
  | "BAD_NAME"
  | "BAD_HOST"
  | "BAD_PORT"
  | "FORBIDDEN"
  | "UNAUTHORIZED"
  | "STALE"
  | "REPLAY"
  | "RATE_LIMITED"
  | "FULL";

/** A reply, parsed. */
export type TowerReply =
  | { kind: "REGISTERED"; name: string }
  | { kind: "DEREGISTERED"; name: string }
  | { kind: "LOOKUP"; name: string; replica: Replica }
  | { kind: "LOOKUPALL"; name: string; replicas: readonly Replica[] }
  | { kind: "LIST"; entries: ListEntry[] }
  | { kind: "PONG" }
  | TowerErrorReply;

function error(reason: TowerErrorReason, name?: string): TowerErrorReply {
  return name === undefined ? { kind: "ERR", reason } : { kind: "ERR", reason, name };
}

/** Drop one trailing "\n" or "\r\n" (what `echo` appends), nothing more. */
function stripLineEnd(text: string): string {
  if (text.endsWith("\r\n")) return text.slice(0, -2);
  if (text.endsWith("\n")) return text.slice(0, -1);
  return text;
}

/**
 * Parse one request line. Never throws: anything that is not a well-formed
 * request comes back as the `ERR` reply to send.
 *
 * @example
 * ```ts
 * parseRequest("REGISTER|web|10.0.0.7|8080\n");
 * // { kind: "REGISTER", name: "web", host: "10.0.0.7", port: 8080 }
 * parseRequest("HELLO"); // { kind: "ERR", reason: "UNKNOWN_COMMAND" }
 * ```
 */
export function parseRequest(line: string): TowerRequest | TowerErrorReply {
  return parseFields(stripLineEnd(line).split("|"));
}

/** {@link parseRequest} of a line already split at "|". */
function parseFields(fields: string[]): TowerRequest | TowerErrorReply {
  const command = fields[0];
  switch (command) {
    case "REGISTER":
    case "DEREGISTER": {
      if (fields.length !== 4) return error("MALFORMED");
      const [, name, host, portText] = fields;
      if (!isValidServiceName(name)) return error("BAD_NAME");
      if (!isValidHost(host)) return error("BAD_HOST");
      const port = parsePort(portText);
      if (port === undefined) return error("BAD_PORT");
      return { kind: command, name, host, port };
    }
    case "LOOKUP":
    case "LOOKUPALL": {
      if (fields.length !== 2) return error("MALFORMED");
      const name = fields[1];
      if (!isValidServiceName(name)) return error("BAD_NAME");
      return { kind: command, name };
    }
    case "LIST":
    case "PING":
      return fields.length === 1 ? { kind: command } : error("MALFORMED");
    case "":
      return error("MALFORMED");
    default:
      return error("UNKNOWN_COMMAND");
  }
}

/**
 * The wire form of a request.
 *
 * @example
 * ```ts
 * formatRequest({ kind: "LOOKUP", name: "web" }); // "LOOKUP|web"
 * ```
 */
export function formatRequest(request: TowerRequest): string {
  switch (request.kind) {
    case "REGISTER":
    case "DEREGISTER":
      return `${request.kind}|${request.name}|${request.host}|${request.port}`;
    case "LOOKUP":
    case "LOOKUPALL":
      return `${request.kind}|${request.name}`;
    case "LIST":
    case "PING":
      return request.kind;
  }
}

/**
 * `prefix|<n>|item,item,...` keeping only the items that fit in
 * {@link MAX_REPLY_BYTES}; `n` counts the items actually included.
 */
function formatCounted(prefix: string, items: string[]): string {
  let body = "";
  let count = 0;
  // Reserve room for "|<n>|": at most 7 characters for any count that fits.
  let room = MAX_REPLY_BYTES - prefix.length - 7;
  for (const item of items) {
    const cost = item.length + (count === 0 ? 0 : 1);
    if (cost > room) break;
    body = count === 0 ? item : `${body},${item}`;
    room -= cost;
    count++;
  }
  return `${prefix}|${count}|${body}`;
}

/**
 * The wire form of a reply (no trailing newline).
 *
 * @example
 * ```ts
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
      return formatCounted(
        `OK|LOOKUPALL|${reply.name}`,
        reply.replicas.map((r) => formatHostPort(r.host, r.port)),
      );
    case "LIST":
      return formatCounted(
        "OK|LIST",
        reply.entries.map((e) => `${e.name}:${formatHostPort(e.host, e.port)}:${e.ttlLeft}`),
      );
    case "PONG":
      return "OK|PONG|tower";
    case "ERR":
      return reply.name === undefined ? `ERR|${reply.reason}` : `ERR|${reply.reason}|${reply.name}`;
  }
}

/** Parse the `n` and item list of a counted reply; undefined when inconsistent. */
function parseCounted<T>(
  countText: string,
  body: string,
  parseItem: (item: string) => T | undefined,
): T[] | undefined {
  if (!/^(?:0|[1-9][0-9]*)$/.test(countText)) return undefined;
  const count = Number(countText);
  const items = body === "" ? [] : body.split(",");
  if (items.length !== count) return undefined;
  const out: T[] = [];
  for (const item of items) {
    const parsed = parseItem(item);
    if (parsed === undefined) return undefined;
    out.push(parsed);
  }
  return out;
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
 * not a reply at all. A trailing newline is tolerated. An `ERR` with any
 * printable reason is accepted; when it has exactly a third field that is a
 * valid service name, that is its `name`.
 *
 * @example
 * ```ts
 * parseReply("OK|LOOKUPALL|web|2|10.0.0.7:8080,[::1]:8081");
 * // { kind: "LOOKUPALL", name: "web", replicas: [{ host: "10.0.0.7", port: 8080 },
 * //                                              { host: "::1", port: 8081 }] }
 * ```
 */
export function parseReply(line: string): TowerReply | undefined {
  const fields = stripLineEnd(line).split("|");
  if (fields[0] === "ERR") {
    // Lenient on purpose: another Tower's reason may be any text, and reading
    // it as an ERR (not as noise) is what lets a client fall back.
    const reason = fields[1];
    if (reason === undefined || !/^[\x20-\x7e]{1,200}$/.test(reason)) return undefined;
    const name = fields[2];
    return fields.length === 3 && isValidServiceName(name)
      ? { kind: "ERR", reason, name }
      : { kind: "ERR", reason };
  }
  if (fields[0] !== "OK" || fields.length < 2) return undefined;
  const name = fields[2];
  switch (fields[1]) {
    case "REGISTERED":
    case "DEREGISTERED":
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
      const replicas = parseCounted(fields[3], fields[4], readHostPort);
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

// ---------------------------------------------------------------------------
// Signed requests (docs/tower-signing.md)
// ---------------------------------------------------------------------------

const UNIX_MS = /^(?:0|[1-9][0-9]{0,15})$/;
const NONCE = /^[A-Za-z0-9_-]{8,64}$/;
const MAC_HEX = /^[0-9A-Fa-f]{64}$/;

/** The signature fields of a signed REGISTER or DEREGISTER. */
export interface TowerSignature {
  /** The signer's clock when it signed, Unix milliseconds. */
  timestampMs: number;
  /** Single-use token chosen by the signer: 8–64 of `[A-Za-z0-9_-]`. */
  nonce: string;
  /** HMAC-SHA256 of `signedText`, 64 hex digits (lowercase). */
  mac: string;
  /** Exactly what the MAC covers: the request line up to its last "|". */
  signedText: string;
}

/** A parsed datagram: the request (or the ERR to send) and its signature, if signed. */
interface ReadRequest {
  request: TowerRequest | TowerErrorReply;
  signature?: TowerSignature;
}

/**
 * Parse a request line that may be signed. Plain lines go through
 * {@link parseRequest} unchanged; a 7-field REGISTER or DEREGISTER has its
 * first four fields parsed the same way and its signature fields checked for
 * form (not for validity: that needs the secret).
 */
function readRequest(line: string): ReadRequest {
  const text = stripLineEnd(line);
  const fields = text.split("|");
  if (fields.length !== 7 || (fields[0] !== "REGISTER" && fields[0] !== "DEREGISTER")) {
    return { request: parseFields(fields) };
  }
  const request = parseFields(fields.slice(0, 4));
  if (request.kind === "ERR") return { request };
  const [, , , , timeText, nonce, mac] = fields;
  const timestampMs = Number(timeText);
  if (
    !UNIX_MS.test(timeText) || !Number.isSafeInteger(timestampMs) || !NONCE.test(nonce) ||
    !MAC_HEX.test(mac)
  ) {
    return { request: error("MALFORMED") };
  }
  return {
    request,
    signature: {
      timestampMs,
      nonce,
      mac: mac.toLowerCase(),
      signedText: text.slice(0, text.lastIndexOf("|")),
    },
  };
}

/** HMAC-SHA256 of `text` keyed with the UTF-8 bytes of `secret`, lowercase hex. */
function hmacHex(secret: string, text: string): string {
  return nodeCrypto().createHmac("sha256", secret).update(text).digest("hex");
}

/**
 * Sign a REGISTER or DEREGISTER line for a Tower that has a shared secret:
 * appends `|<nowMs>|<nonce>|<hmac>`, where hmac is the lowercase hex
 * HMAC-SHA256, keyed with the secret's UTF-8 bytes, of everything before it.
 * A fresh random nonce (32 hex digits) is used unless one is given; a nonce
 * must never be reused. Sign each datagram anew, retries included: the Tower
 * refuses a nonce it has already seen (`ERR|REPLAY|<name>`).
 *
 * Throws a TypeError for an empty secret, a line that is not a valid
 * REGISTER or DEREGISTER, a time that is not a non-negative integer, or a
 * nonce outside 8–64 characters of `[A-Za-z0-9_-]`.
 *
 * @example
 * ```ts
 * signTowerRequest("s3cret", "REGISTER|web|10.0.0.7|8080", 1_700_000_000_000, "0123456789abcdef");
 * // "REGISTER|web|10.0.0.7|8080|1700000000000|0123456789abcdef|<64 hex digits>"
 * ```
 */
export function signTowerRequest(
  secret: string,
  line: string,
  nowMs: number,
  nonce: string = nodeCrypto().randomBytes(16).toString("hex"),
): string {
  if (typeof secret !== "string" || secret === "") {
    throw new TypeError("the Tower secret must be a non-empty string");
  }
  const request = parseRequest(line);
  if (request.kind !== "REGISTER" && request.kind !== "DEREGISTER") {
    throw new TypeError(`only REGISTER and DEREGISTER are signed, not: ${line}`);
  }
  if (!Number.isSafeInteger(nowMs) || nowMs < 0) {
    throw new TypeError(`signing time must be a non-negative integer of ms: ${nowMs}`);
  }
  if (!NONCE.test(nonce)) {
    throw new TypeError(`nonce must be 8-64 characters of [A-Za-z0-9_-]: ${nonce}`);
  }
  const signedText = `${formatRequest(request)}|${nowMs}|${nonce}`;
  return `${signedText}|${hmacHex(secret, signedText)}`;
}

// ---------------------------------------------------------------------------
// State
// ---------------------------------------------------------------------------

/** Options for {@link TowerState}. */
export interface TowerStateOptions {
  /** Clock in milliseconds; inject one in tests. Default `Date.now`. */
  now?: () => number;
  /** Entry lifetime after its last REGISTER. Default {@link DEFAULT_TTL_MS}. */
  ttlMs?: number;
  /**
   * How often to drop expired entries in the background, so services nobody
   * looks up do not pile up. 0 disables it (expiry is also lazy). Default 5 s.
   */
  sweepIntervalMs?: number;
}

/** One registration. Kept in least-recently-served order per service. */
interface Entry {
  /** Frozen and handed out as is, so lookups allocate nothing per replica. */
  readonly replica: Replica;
  expiresAt: number;
  served: boolean;
  /** Registration order, for a stable LIST. */
  readonly seq: number;
  /**
   * Every replica of the service in trying order while this entry is first,
   * built on the first resolve and kept until the service's membership
   * changes: serving only rotates the entries, so the order that follows a
   * given first entry stays the same.
   */
  order: readonly Replica[] | undefined;
}

/** Services with more replicas than this build their order on each resolve. */
const MAX_CACHED_ORDER = 32;

const NO_REPLICAS: readonly Replica[] = Object.freeze([]);

/**
 * The registry state: services, their replicas, TTLs and round robin.
 *
 * Each service keeps its entries in least-recently-served order (never-served
 * ones first, in registration order), so a lookup is "take the first live
 * entry, move it to the back": O(replicas of that service), no sorting.
 *
 * @example
 * ```ts
 * const state = new TowerState();
 * state.register("web", "10.0.0.7", 8080);
 * state.register("web", "10.0.0.8", 8080);
 * state.lookup("web");   // { host: "10.0.0.7", port: 8080 }
 * state.replicas("web"); // [10.0.0.8:8080, 10.0.0.7:8080], and 10.0.0.8 is now served
 * state.close();
 * ```
 */
export class TowerState {
  /** Entry lifetime in milliseconds. */
  readonly ttlMs: number;
  readonly #now: () => number;
  readonly #services = new Map<string, Entry[]>();
  #seq = 0;
  /** Entries held, live or expired but not yet dropped. */
  #held = 0;
  /** No held entry expires before this (a lower bound, set by {@link sweep}). */
  #nextExpiry = 0;
  #sweeper: ReturnType<typeof setInterval> | undefined;

  constructor(options: TowerStateOptions = {}) {
    this.#now = options.now ?? Date.now;
    this.ttlMs = options.ttlMs ?? DEFAULT_TTL_MS;
    const every = options.sweepIntervalMs ?? 5_000;
    if (every > 0) {
      this.#sweeper = setInterval(() => this.sweep(), every);
      // A registry must never be the reason a process stays alive.
      this.#sweeper.unref();
    }
  }

  /**
   * Add a replica, or refresh its TTL if this name+host+port is already
   * registered (REGISTER is the heartbeat; it never duplicates). Returns true
   * when the entry is new. Throws a TypeError on an invalid name, host or port
   * (the UDP server validates before calling, so this guards in-process use).
   */
  register(name: string, host: string, port: number): boolean {
    if (!isValidServiceName(name)) throw new TypeError(`invalid service name: ${name}`);
    if (!isValidHost(host)) throw new TypeError(`invalid replica host: ${host}`);
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      throw new TypeError(`invalid replica port: ${port}`);
    }
    const now = this.#now();
    let entries = this.#live(name, now);
    if (entries === undefined) {
      entries = [];
      this.#services.set(name, entries);
    }
    let firstServed = entries.length;
    for (let i = 0; i < entries.length; i++) {
      const entry = entries[i];
      if (entry.replica.port === port && entry.replica.host === host) {
        entry.expiresAt = now + this.ttlMs;
        return false;
      }
      if (entry.served && firstServed === entries.length) firstServed = i;
    }
    // Never served means least recently served: it goes before every served one.
    entries.splice(firstServed, 0, {
      replica: Object.freeze({ host, port }),
      expiresAt: now + this.ttlMs,
      served: false,
      seq: ++this.#seq,
      order: undefined,
    });
    forgetOrders(entries);
    this.#held++;
    return true;
  }

  /**
   * Whether a REGISTER of this name+host+port stays within `maxEntries`:
   * true when it would refresh a live entry or when fewer than `maxEntries`
   * live entries exist. Changes nothing but dropping expired entries.
   *
   * @example
   * ```ts
   * const state = new TowerState();
   * state.register("web", "10.0.0.7", 8080);
   * state.hasRoomFor("web", "10.0.0.8", 8080, 1); // false: it would be a second entry
   * state.hasRoomFor("web", "10.0.0.7", 8080, 1); // true: a heartbeat
   * state.close();
   * ```
   */
  hasRoomFor(name: string, host: string, port: number, maxEntries: number): boolean {
    if (this.#held < maxEntries) return true;
    const now = this.#now();
    const entries = this.#live(name, now);
    if (entries?.some((e) => e.replica.port === port && e.replica.host === host)) return true;
    // A sweep is O(entries): only when something can have expired since the last one.
    if (now >= this.#nextExpiry) this.sweep();
    return this.#held < maxEntries;
  }

  /** Remove one replica. False when it was not registered (or had expired). */
  deregister(name: string, host: string, port: number): boolean {
    const entries = this.#live(name, this.#now());
    if (entries === undefined) return false;
    const index = entries.findIndex((e) => e.replica.port === port && e.replica.host === host);
    if (index === -1) return false;
    entries.splice(index, 1);
    forgetOrders(entries);
    this.#held--;
    if (entries.length === 0) this.#services.delete(name);
    return true;
  }

  /**
   * The least recently served live replica of `name`, which is marked served
   * now; undefined when none. The returned object is frozen and shared.
   */
  lookup(name: string): Replica | undefined {
    const entries = this.#live(name, this.#now());
    if (entries === undefined) return undefined;
    const first = entries[0];
    serveFirst(entries);
    return first.replica;
  }

  /**
   * Every live replica of `name`, least recently served first; the first is
   * marked served (so successive calls rotate). The proxy tries them in this
   * order. Empty when none. The replica objects are frozen and shared; so is
   * the array, which callers must treat as read-only: the same one is handed
   * out again the next time the same replica comes first.
   */
  replicas(name: string): readonly Replica[] {
    const entries = this.#live(name, this.#now());
    if (entries === undefined) return NO_REPLICAS;
    const first = entries[0];
    let order = first.order;
    if (order === undefined) {
      const n = entries.length;
      const out = new Array<Replica>(n);
      for (let i = 0; i < n; i++) out[i] = entries[i].replica;
      // Shared, hence read-only; not frozen, since reads of a frozen array
      // leave the engine's fast path (that showed in the per-request profile).
      order = out;
      // A resolve per request allocates nothing once each rotation is built.
      if (n <= MAX_CACHED_ORDER) first.order = order;
    }
    serveFirst(entries);
    return order;
  }

  /** Every live entry, in registration order, with whole seconds of TTL left. */
  list(): ListEntry[] {
    const now = this.#now();
    const all: { name: string; entry: Entry }[] = [];
    for (const name of [...this.#services.keys()]) {
      const entries = this.#live(name, now);
      if (entries !== undefined) { for (const entry of entries) all.push({ name, entry }); }
    }
    all.sort((a, b) => a.entry.seq - b.entry.seq);
    return all.map(({ name, entry }) => ({
      name,
      host: entry.replica.host,
      port: entry.replica.port,
      ttlLeft: Math.ceil((entry.expiresAt - now) / 1000),
    }));
  }

  /** Number of live entries (all services). */
  get size(): number {
    const now = this.#now();
    let count = 0;
    for (const entries of this.#services.values()) {
      for (const entry of entries) if (entry.expiresAt > now) count++;
    }
    return count;
  }

  /** Drop every expired entry now; returns how many were dropped. */
  sweep(): number {
    const now = this.#now();
    const before = this.#held;
    let next = now + this.ttlMs;
    for (const name of [...this.#services.keys()]) {
      const entries = this.#live(name, now);
      if (entries === undefined) continue;
      for (const entry of entries) if (entry.expiresAt < next) next = entry.expiresAt;
    }
    // Entries added or refreshed later expire later still, so this stays a lower bound.
    this.#nextExpiry = next;
    return before - this.#held;
  }

  /** Stop the background sweep. The state stays usable (lazy expiry only). */
  close(): void {
    if (this.#sweeper !== undefined) clearInterval(this.#sweeper);
    this.#sweeper = undefined;
  }

  /**
   * The live entries of `name` with expired ones removed in place (order
   * kept); undefined (and the service forgotten) when none is left.
   */
  #live(name: string, now: number): Entry[] | undefined {
    const entries = this.#services.get(name);
    if (entries === undefined) return undefined;
    let kept = 0;
    for (let i = 0; i < entries.length; i++) {
      const entry = entries[i];
      if (entry.expiresAt > now) entries[kept++] = entry;
    }
    if (kept === entries.length) return entries;
    this.#held -= entries.length - kept;
    if (kept === 0) {
      this.#services.delete(name);
      return undefined;
    }
    entries.length = kept;
    forgetOrders(entries);
    return entries;
  }
}

/** The membership of a service changed: every cached order is stale. */
function forgetOrders(entries: Entry[]): void {
  for (let i = 0; i < entries.length; i++) entries[i].order = undefined;
}

/** Mark the first entry served and move it to the back. */
function serveFirst(entries: Entry[]): void {
  const first = entries[0];
  first.served = true;
  if (entries.length > 1) {
    entries.shift();
    entries.push(first);
  }
}

// ---------------------------------------------------------------------------
// Admission of REGISTER and DEREGISTER: rate limit, signature, entry cap
// ---------------------------------------------------------------------------

/** A token bucket per sender: `burst` requests at once, refilled at `perSecond`. */
export interface TowerRateLimit {
  /** Sustained requests per second per sender (> 0, may be fractional). */
  perSecond: number;
  /** Requests a sender may make at once (>= 1). */
  burst: number;
}

/** Options for {@link TowerGuard}. */
export interface TowerGuardOptions {
  /**
   * Require REGISTER and DEREGISTER to be signed with this secret (see
   * {@link signTowerRequest}). Default: no signature needed; a signed request
   * is then accepted with its signature ignored, so clients can start
   * signing before the Tower requires it.
   */
  secret?: string;
  /** Per-sender limit on REGISTER and DEREGISTER. Default: none. */
  rateLimit?: TowerRateLimit;
  /**
   * Most entries a REGISTER may create; refreshing an existing entry always
   * works. 0 means no cap. Default {@link DEFAULT_MAX_ENTRIES}.
   */
  maxEntries?: number;
  /** Clock in milliseconds. Default `Date.now`. */
  now?: () => number;
  /** Senders whose buckets are remembered; the least recently seen goes first. Default 10000. */
  maxSenders?: number;
  /**
   * Nonces remembered for replay detection. When all are in their window,
   * further signed requests get `ERR|RATE_LIMITED|<name>`. Default 100000.
   */
  maxNonces?: number;
}

/** Token buckets by sender, at most `capacity` of them, in least-recently-seen order. */
class SenderBuckets {
  readonly #buckets = new Map<string, { tokens: number; at: number }>();
  readonly #perSecond: number;
  readonly #burst: number;
  readonly #capacity: number;

  constructor(limit: TowerRateLimit, capacity: number) {
    this.#perSecond = limit.perSecond;
    this.#burst = limit.burst;
    this.#capacity = capacity;
  }

  /** Take one token from `sender`'s bucket; false when it is empty. */
  take(sender: string, now: number): boolean {
    let bucket = this.#buckets.get(sender);
    if (bucket === undefined) {
      // Forgetting a sender only hands it a full bucket early; once its bucket
      // has refilled (burst / perSecond seconds) forgetting it changes nothing.
      if (this.#buckets.size >= this.#capacity) {
        this.#buckets.delete(this.#buckets.keys().next().value!);
      }
      bucket = { tokens: this.#burst, at: now };
    } else {
      this.#buckets.delete(sender); // set again below: the Map's order is recency
      if (now > bucket.at) {
        const refill = ((now - bucket.at) * this.#perSecond) / 1000;
        bucket.tokens = Math.min(this.#burst, bucket.tokens + refill);
        bucket.at = now;
      }
    }
    this.#buckets.set(sender, bucket);
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  }

  get size(): number {
    return this.#buckets.size;
  }
}

/**
 * Nonces of accepted signed requests, each kept until its request would be
 * stale anyway, at most `capacity` of them. Keep-until times are made
 * non-decreasing in insertion order, so expired nonces are always at the
 * front and pruning costs only what it removes.
 */
class NonceCache {
  readonly #keepUntil = new Map<string, number>();
  readonly #capacity: number;
  #last = -Infinity;

  constructor(capacity: number) {
    this.#capacity = capacity;
  }

  /** Remember `nonce` until at least `until`. */
  add(nonce: string, until: number, now: number): "added" | "replay" | "full" {
    // A request is fresh up to and including timestamp + window.
    for (const [old, keep] of this.#keepUntil) {
      if (keep >= now) break;
      this.#keepUntil.delete(old);
    }
    if (this.#keepUntil.has(nonce)) return "replay";
    if (this.#keepUntil.size >= this.#capacity) return "full";
    this.#last = Math.max(this.#last, until);
    this.#keepUntil.set(nonce, this.#last);
    return "added";
  }

  get size(): number {
    return this.#keepUntil.size;
  }
}

function positiveInteger(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value > 0;
}

/**
 * The checks a REGISTER or DEREGISTER passes before it changes a
 * {@link TowerState}, in this order: per-sender rate limit
 * (`ERR|RATE_LIMITED|<name>`), signature when a secret is set
 * (`ERR|UNAUTHORIZED|<name>` for a missing or wrong one, `ERR|STALE|<name>`
 * for a timestamp more than {@link SIGNATURE_WINDOW_MS} off,
 * `ERR|REPLAY|<name>` for a nonce seen within the window), then the entry cap
 * for a REGISTER that would add an entry (`ERR|FULL|<name>`). Lookups are
 * never checked. Memory is bounded: at most `maxSenders` buckets and
 * `maxNonces` nonces.
 *
 * The constructor throws a TypeError for invalid options.
 *
 * @example
 * ```ts
 * const guard = new TowerGuard({ secret: "s3cret", rateLimit: { perSecond: 5, burst: 10 } });
 * const state = new TowerState();
 * const line = signTowerRequest("s3cret", "REGISTER|web|10.0.0.7|8080", Date.now());
 * respond(state, line, { guard, senderIp: "10.0.0.7" });          // "OK|REGISTERED|web"
 * respond(state, line, { guard, senderIp: "10.0.0.7" });          // "ERR|REPLAY|web"
 * respond(state, "REGISTER|web|10.0.0.7|8080", { guard, senderIp: "10.0.0.7" });
 * // "ERR|UNAUTHORIZED|web"
 * state.close();
 * ```
 */
export class TowerGuard {
  readonly #secret: string | undefined;
  readonly #maxEntries: number;
  readonly #now: () => number;
  readonly #buckets: SenderBuckets | undefined;
  readonly #nonces: NonceCache | undefined;

  constructor(options: TowerGuardOptions = {}) {
    const { secret, rateLimit } = options;
    if (secret !== undefined && (typeof secret !== "string" || secret === "")) {
      throw new TypeError("the Tower secret must be a non-empty string");
    }
    const maxEntries = options.maxEntries ?? DEFAULT_MAX_ENTRIES;
    if (!(maxEntries === 0 || maxEntries === Infinity || positiveInteger(maxEntries))) {
      throw new TypeError(`maxEntries must be a positive integer, or 0 for no cap: ${maxEntries}`);
    }
    const maxSenders = options.maxSenders ?? 10_000;
    const maxNonces = options.maxNonces ?? 100_000;
    if (!positiveInteger(maxSenders)) {
      throw new TypeError(`maxSenders must be a positive integer: ${maxSenders}`);
    }
    if (!positiveInteger(maxNonces)) {
      throw new TypeError(`maxNonces must be a positive integer: ${maxNonces}`);
    }
    if (rateLimit !== undefined) {
      const { perSecond, burst } = rateLimit;
      if (typeof perSecond !== "number" || !(perSecond > 0) || !Number.isFinite(perSecond)) {
        throw new TypeError(`rateLimit.perSecond must be a number above 0: ${perSecond}`);
      }
      if (typeof burst !== "number" || !(burst >= 1) || !Number.isFinite(burst)) {
        throw new TypeError(`rateLimit.burst must be a number of at least 1: ${burst}`);
      }
      this.#buckets = new SenderBuckets({ perSecond, burst }, maxSenders);
    }
    this.#secret = secret;
    this.#maxEntries = maxEntries === 0 ? Infinity : maxEntries;
    this.#now = options.now ?? Date.now;
    if (secret !== undefined) this.#nonces = new NonceCache(maxNonces);
  }

  /** True when REGISTER and DEREGISTER must be signed. */
  get requiresSignature(): boolean {
    return this.#secret !== undefined;
  }

  /** Senders with a remembered rate-limit bucket (bounded by `maxSenders`). */
  get trackedSenders(): number {
    return this.#buckets?.size ?? 0;
  }

  /** Nonces remembered for replay detection (bounded by `maxNonces`). */
  get rememberedNonces(): number {
    return this.#nonces?.size ?? 0;
  }

  /**
   * The refusal for a request from `senderIp`, or undefined to let it
   * through. Only REGISTER and DEREGISTER are checked. Takes a rate-limit
   * token and, once a signature is verified, uses up its nonce (whatever
   * the outcome after that): each signed request acts at most once.
   */
  admit(
    state: TowerState,
    request: TowerRequest,
    signature: TowerSignature | undefined,
    senderIp: string,
  ): TowerErrorReply | undefined {
    if (request.kind !== "REGISTER" && request.kind !== "DEREGISTER") return undefined;
    const now = this.#now();
    if (this.#buckets !== undefined && !this.#buckets.take(senderIp, now)) {
      return error("RATE_LIMITED", request.name);
    }
    if (this.#secret !== undefined) {
      const refusal = this.#verify(this.#secret, signature, now);
      if (refusal !== undefined) return error(refusal, request.name);
    }
    if (
      request.kind === "REGISTER" &&
      !state.hasRoomFor(request.name, request.host, request.port, this.#maxEntries)
    ) {
      return error("FULL", request.name);
    }
    return undefined;
  }

  #verify(
    secret: string,
    signature: TowerSignature | undefined,
    now: number,
  ): TowerErrorReason | undefined {
    if (signature === undefined) return "UNAUTHORIZED";
    // Both sides are 64 hex digits, so equal lengths: timingSafeEqual never throws here.
    const expected = encoder.encode(hmacHex(secret, signature.signedText));
    if (!nodeCrypto().timingSafeEqual(expected, encoder.encode(signature.mac))) {
      return "UNAUTHORIZED";
    }
    if (Math.abs(now - signature.timestampMs) > SIGNATURE_WINDOW_MS) return "STALE";
    // The request turns stale at timestamp + window: no need to remember it longer.
    switch (this.#nonces!.add(signature.nonce, signature.timestampMs + SIGNATURE_WINDOW_MS, now)) {
      case "added":
        return undefined;
      case "replay":
        return "REPLAY";
      case "full":
        return "RATE_LIMITED";
    }
  }
}

// ---------------------------------------------------------------------------
// Request handling (pure over a TowerState)
// ---------------------------------------------------------------------------

/**
 * Apply one request to the state and return the reply.
 *
 * @example
 * ```ts
 * handleRequest(state, { kind: "PING" }); // { kind: "PONG" }
 * ```
 */
export function handleRequest(state: TowerState, request: TowerRequest): TowerReply {
  switch (request.kind) {
    case "REGISTER":
      state.register(request.name, request.host, request.port);
      return { kind: "REGISTERED", name: request.name };
    case "DEREGISTER":
      return state.deregister(request.name, request.host, request.port)
        ? { kind: "DEREGISTERED", name: request.name }
        : error("NOT_FOUND", request.name);
    case "LOOKUP": {
      const replica = state.lookup(request.name);
      return replica === undefined
        ? error("NOT_FOUND", request.name)
        : { kind: "LOOKUP", name: request.name, replica };
    }
    case "LOOKUPALL": {
      const replicas = state.replicas(request.name);
      return replicas.length === 0
        ? error("NOT_FOUND", request.name)
        : { kind: "LOOKUPALL", name: request.name, replicas };
    }
    case "LIST":
      return { kind: "LIST", entries: state.list() };
    case "PING":
      return { kind: "PONG" };
  }
}

/** Options for {@link respond}. */
export interface RespondOptions {
  /** False answers REGISTER and DEREGISTER with `ERR|FORBIDDEN|<name>`. Default true. */
  mayChange?: boolean;
  /** Rate limit, signature and entry cap for REGISTER and DEREGISTER. Default: none. */
  guard?: TowerGuard;
  /** The sender's IP address, for the guard's per-sender rate limit. */
  senderIp?: string;
}

/**
 * One datagram in, the reply line out: what the UDP server does, without the
 * socket. Undefined means "send nothing" (oversized datagram).
 *
 * Checks run in this order, and the first refusal is the reply: size, parse,
 * `mayChange` (`ERR|FORBIDDEN|<name>`), then the `guard`'s rate limit,
 * signature and entry cap (see {@link TowerGuard}). Only REGISTER and
 * DEREGISTER meet the last three. Never throws unless the state does.
 *
 * @example
 * ```ts
 * respond(state, "REGISTER|web|10.0.0.7|8080\n"); // "OK|REGISTERED|web"
 * respond(state, "LOOKUP|web");                   // "OK|LOOKUP|web|10.0.0.7|8080"
 * respond(state, "REGISTER|web|10.0.0.9|80", { mayChange: false }); // "ERR|FORBIDDEN|web"
 * ```
 */
export function respond(
  state: TowerState,
  datagram: Uint8Array | string,
  options?: RespondOptions,
): string | undefined {
  const bytes = typeof datagram === "string" ? encoder.encode(datagram) : datagram;
  if (bytes.byteLength > MAX_DATAGRAM_BYTES) return undefined;
  // Non-ASCII bytes decode to characters no validator accepts, so they end as ERR.
  const { request, signature } = readRequest(decoder.decode(bytes));
  if (request.kind === "ERR") return formatReply(request);
  if (request.kind === "REGISTER" || request.kind === "DEREGISTER") {
    if (options?.mayChange === false) return formatReply(error("FORBIDDEN", request.name));
    const refusal = options?.guard?.admit(state, request, signature, options.senderIp ?? "");
    if (refusal !== undefined) return formatReply(refusal);
  }
  return formatReply(handleRequest(state, request));
}

// ---------------------------------------------------------------------------
// UDP server
// ---------------------------------------------------------------------------

/** The runtime's UDP bind function (`Runtime.bindUdp`, or `bindUdp` from runtime/udp.ts). */
export type BindUdp = Runtime["bindUdp"];

/** Options for {@link startTowerServer}. */
export interface TowerServerOptions {
  /** Address to bind, e.g. "0.0.0.0", "127.0.0.1" or "::". */
  hostname: string;
  /** UDP port; 0 picks a free one. */
  port: number;
  /** Share a state with an in-process registry; one is created (and owned) otherwise. */
  state?: TowerState;
  /** How to bind a UDP socket (from the runtime layer). */
  bindUdp: BindUdp;
  /**
   * Clock in milliseconds for a created state (a `state` passed in keeps its
   * own) and for signature timestamps and rate limiting. Default `Date.now`.
   */
  now?: () => number;
  /**
   * Which senders may REGISTER and DEREGISTER, by source IP (e.g.
   * `(ip) => allowlist.contains(ip)`); others get `ERR|FORBIDDEN|<name>`. Lookups
   * stay open to all. Default: anyone, as the seed did.
   */
  mayRegister?: (senderIp: string) => boolean;
  /**
   * Shared secret: REGISTER and DEREGISTER must then be signed
   * ({@link signTowerRequest}, docs/tower-signing.md); unsigned or wrongly
   * signed ones get `ERR|UNAUTHORIZED|<name>`, stale ones `ERR|STALE|<name>`,
   * replayed ones `ERR|REPLAY|<name>`. Must not be empty. Default: none.
   */
  secret?: string;
  /**
   * Token bucket per sender IP for REGISTER and DEREGISTER; over it:
   * `ERR|RATE_LIMITED|<name>`. Default: no limit.
   */
  rateLimit?: TowerRateLimit;
  /**
   * Most entries REGISTERs may create (refreshes always work); beyond it:
   * `ERR|FULL|<name>`. 0 means no cap. Default {@link DEFAULT_MAX_ENTRIES}.
   */
  maxEntries?: number;
}

/** A running Tower server. */
export interface TowerServer {
  /** The bound port. */
  readonly port: number;
  /** The bound address. */
  readonly hostname: string;
  /** The state it serves. */
  readonly state: TowerState;
  /** Close the socket (and the state, if the server created it). Idempotent. */
  close(): void;
}

/**
 * Serve the Tower protocol on a UDP socket. Logs nothing; the caller prints
 * its own ready line. Rejects when the port cannot be bound, and with a
 * TypeError (before binding) for an invalid `secret`, `rateLimit` or
 * `maxEntries`.
 *
 * @example
 * ```ts
 * import { bindUdp } from "./runtime/udp.ts";
 * const tower = await startTowerServer({ hostname: "0.0.0.0", port: 7772, bindUdp });
 * console.log(`tower listening on udp ${tower.hostname}:${tower.port}`);
 * tower.close();
 * ```
 */
export async function startTowerServer(options: TowerServerOptions): Promise<TowerServer> {
  const { mayRegister } = options;
  const guard = new TowerGuard({
    secret: options.secret,
    rateLimit: options.rateLimit,
    maxEntries: options.maxEntries,
    now: options.now,
  });
  const ownsState = options.state === undefined;
  const state = options.state ?? new TowerState({ now: options.now });
  let socket: UdpSocket | undefined;
  try {
    socket = await options.bindUdp(options.hostname, options.port, (datagram) => {
      // A datagram is untrusted input: nothing in it may take the server down.
      try {
        const mayChange = mayRegister === undefined || mayRegister(datagram.host);
        const reply = respond(state, datagram.data, { mayChange, guard, senderIp: datagram.host });
        if (reply !== undefined && socket !== undefined) {
          socket.send(encoder.encode(reply), datagram.port, datagram.host);
        }
      } catch {
        // Unanswerable (e.g. sender port 0); UDP is best effort.
      }
    });
  } catch (err) {
    if (ownsState) state.close();
    throw err;
  }
  const bound = socket;
  let closed = false;
  return {
    port: bound.port,
    hostname: bound.hostname,
    state,
    close() {
      if (closed) return;
      closed = true;
      bound.close();
      if (ownsState) state.close();
    },
  };
}

// ---------------------------------------------------------------------------
// UDP client
// ---------------------------------------------------------------------------

/** Thrown (as a rejection) when the Tower did not answer in time. */
export class TowerTimeoutError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "TowerTimeoutError";
  }
}

/** Options for {@link TowerClient.open}. */
export interface TowerClientOptions {
  /** How to bind the client's UDP socket (from the runtime layer). */
  bindUdp: BindUdp;
  /** Wait this long for each try. Default 300 ms. */
  timeoutMs?: number;
  /** Send again this many times before giving up. Default 1. */
  retries?: number;
  /**
   * Sign REGISTER and DEREGISTER with this shared secret
   * ({@link signTowerRequest}); each datagram, retries included, gets a fresh
   * timestamp and nonce. Must not be empty. Default: send them unsigned.
   */
  secret?: string;
  /** Clock for signature timestamps, in milliseconds. Default `Date.now`. */
  now?: () => number;
}

interface Pending {
  readonly line: string;
  readonly request: TowerRequest;
  readonly promise: Promise<TowerReply>;
  resolve(reply: TowerReply): void;
  reject(error: Error): void;
  timer: ReturnType<typeof setTimeout> | undefined;
  tries: number;
}

/** ERR reasons only a REGISTER or DEREGISTER is answered with. */
const CHANGE_REFUSALS: ReadonlySet<string> = new Set<TowerErrorReason>([
  "FORBIDDEN",
  "UNAUTHORIZED",
  "STALE",
  "REPLAY",
  "RATE_LIMITED",
  "FULL",
]);

/** Does `reply` answer `request`? Replies carry the service name, not a request id. */
function answers(request: TowerRequest, reply: TowerReply): boolean {
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
      if (!("name" in request) || request.name !== reply.name) return false;
      // A LOOKUP and a REGISTER of one service may be in flight together.
      if (CHANGE_REFUSALS.has(reply.reason)) {
        return request.kind === "REGISTER" || request.kind === "DEREGISTER";
      }
      return reply.reason !== "NOT_FOUND" || request.kind !== "REGISTER";
  }
}

/**
 * A UDP client for a Tower. One socket, any number of requests in flight.
 *
 * - Identical requests in flight at once share one datagram and one reply
 *   (many concurrent `LOOKUP|web` cost one round trip).
 * - Replies are matched by the command and service name they carry. An `ERR`
 *   that names no pending service (an old Tower's `ERR|UNKNOWN_COMMAND`) goes
 *   to the oldest pending request, since the protocol has no request ids;
 *   except `NOT_FOUND` and named refusals of a change (`FORBIDDEN`,
 *   `UNAUTHORIZED`, ...), which are late duplicates and are dropped.
 * - Each request waits `timeoutMs`, is sent again `retries` times, then
 *   rejects with a {@link TowerTimeoutError}.
 * - Only datagrams from the Tower's port are considered. The source address
 *   is not compared, because a Tower bound to a wildcard address may answer
 *   from another of its addresses.
 * - With a `secret`, REGISTER and DEREGISTER are signed on every send.
 *
 * @example
 * ```ts
 * import { bindUdp } from "./runtime/udp.ts";
 * const client = await TowerClient.open("127.0.0.1", 7772, { bindUdp });
 * const reply = await client.send("LOOKUP|web"); // or { kind: "LOOKUP", name: "web" }
 * if (reply.kind === "LOOKUP") console.log(reply.replica);
 * client.close();
 * ```
 */
export class TowerClient {
  /** The Tower's address as given. */
  readonly host: string;
  /** The Tower's port. */
  readonly port: number;
  #socket!: UdpSocket;
  readonly #timeoutMs: number;
  readonly #retries: number;
  readonly #secret: string | undefined;
  readonly #now: () => number;
  readonly #pending = new Map<string, Pending>();
  #closed = false;

  /**
   * Bind a client socket for the Tower at `host:port`. `host` should be an IP
   * literal: a host name would be resolved by the runtime on every send.
   * Rejects with a TypeError for an empty `secret`.
   */
  static async open(host: string, port: number, options: TowerClientOptions): Promise<TowerClient> {
    const { secret } = options;
    if (secret !== undefined && (typeof secret !== "string" || secret === "")) {
      throw new TypeError("the Tower secret must be a non-empty string");
    }
    const client = new TowerClient(host, port, options);
    const wildcard = host.includes(":") ? "::" : "0.0.0.0";
    client.#socket = await options.bindUdp(wildcard, 0, (datagram) => {
      client.#receive(datagram.data, datagram.port);
    });
    return client;
  }

  private constructor(host: string, port: number, options: TowerClientOptions) {
    this.host = host;
    this.port = port;
    this.#timeoutMs = options.timeoutMs ?? 300;
    this.#retries = options.retries ?? 1;
    this.#secret = options.secret;
    this.#now = options.now ?? Date.now;
  }

  /** `host:port` of the Tower, IPv6 bracketed: for messages. */
  get address(): string {
    return formatHostPort(this.host, this.port);
  }

  /**
   * Send a request (a value or a request line) and await the reply. `ERR`
   * replies resolve (they are answers); only silence or a closed client
   * rejects. Throws a TypeError for a line that is not a valid request.
   */
  send(request: TowerRequest | string): Promise<TowerReply> {
    let parsed: TowerRequest;
    if (typeof request === "string") {
      const result = parseRequest(request);
      if (result.kind === "ERR") {
        return Promise.reject(new TypeError(`not a Tower request (${result.reason}): ${request}`));
      }
      parsed = result;
    } else {
      parsed = request;
    }
    if (this.#closed) return Promise.reject(new Error("Tower client is closed"));
    const line = formatRequest(parsed);
    const existing = this.#pending.get(line);
    if (existing !== undefined) return existing.promise;

    let resolve!: (reply: TowerReply) => void;
    let reject!: (error: Error) => void;
    const promise = new Promise<TowerReply>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    const pending: Pending = {
      line,
      request: parsed,
      promise,
      resolve,
      reject,
      timer: undefined,
      tries: 0,
    };
    this.#pending.set(line, pending);
    this.#transmit(pending);
    return promise;
  }

  /** Close the socket; requests in flight reject. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#socket.close();
    for (const pending of this.#pending.values()) {
      clearTimeout(pending.timer);
      pending.reject(
        new Error(`Tower client closed before ${this.address} answered ${pending.line}`),
      );
    }
    this.#pending.clear();
  }

  /** Handle a datagram from the socket. */
  #receive(data: Uint8Array, fromPort: number): void {
    if (fromPort !== this.port) return;
    const reply = parseReply(decoder.decode(data));
    if (reply === undefined) return;
    let match: Pending | undefined;
    for (const pending of this.#pending.values()) {
      if (answers(pending.request, reply)) {
        match = pending;
        break;
      }
    }
    // A stray NOT_FOUND or named refusal is a late duplicate: never hand it to another service.
    if (
      match === undefined && reply.kind === "ERR" && reply.reason !== "NOT_FOUND" &&
      !(reply.name !== undefined && CHANGE_REFUSALS.has(reply.reason))
    ) {
      match = this.#pending.values().next().value;
    }
    if (match === undefined) return;
    clearTimeout(match.timer);
    this.#pending.delete(match.line);
    match.resolve(reply);
  }

  #transmit(pending: Pending): void {
    pending.tries++;
    const { kind } = pending.request;
    try {
      // A retry is a new datagram: a reused nonce would be refused as a replay.
      const line = this.#secret !== undefined && (kind === "REGISTER" || kind === "DEREGISTER")
        ? signTowerRequest(this.#secret, pending.line, Math.floor(this.#now()))
        : pending.line;
      this.#socket.send(encoder.encode(line), this.port, this.host);
    } catch (err) {
      this.#pending.delete(pending.line);
      pending.reject(new Error(`cannot send to Tower at ${this.address}: ${String(err)}`));
      return;
    }
    pending.timer = setTimeout(() => this.#expire(pending), this.#timeoutMs);
  }

  #expire(pending: Pending): void {
    if (this.#pending.get(pending.line) !== pending) return;
    if (pending.tries <= this.#retries) {
      this.#transmit(pending);
      return;
    }
    this.#pending.delete(pending.line);
    pending.reject(
      new TowerTimeoutError(
        `Tower at ${this.address} did not answer ${pending.line} ` +
          `(${pending.tries} tries, ${this.#timeoutMs} ms each)`,
      ),
    );
  }
}
