/**
 * The Tower's UDP client: one socket, any number of requests in flight,
 * replies matched to them by what they name, retries on silence, and
 * REGISTER and DEREGISTER signed when it holds the shared secret.
 *
 * @module
 */

import { formatHostPort } from "../net/address.ts";
import type { Runtime, UdpSocket } from "../runtime/types.ts";
import {
  formatRequest,
  parseReply,
  parseRequest,
  type TowerReply,
  type TowerRequest,
} from "./protocol.ts";
import { assertTowerSecret, signTowerRequest } from "./signing.ts";

const decoder = new TextDecoder();
const encoder = new TextEncoder();

/**
 * Thrown (as a rejection) when the Tower did not answer in time.
 *
 * @example
 * ```ts
 * import { TowerTimeoutError } from "./client.ts";
 * const silent = (err: unknown) => err instanceof TowerTimeoutError; // retry later, not a refusal
 * ```
 */
export class TowerTimeoutError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "TowerTimeoutError";
  }
}

/**
 * Options for {@link TowerClient.open}.
 *
 * @example
 * ```ts
 * import type { TowerClientOptions } from "./client.ts";
 * import { bindUdp } from "../runtime/udp.ts";
 * const options: TowerClientOptions = { bindUdp, timeoutMs: 500, retries: 3, secret: "s3cret" };
 * ```
 */
export interface TowerClientOptions {
  /** How to bind the client's UDP socket (from the runtime layer). */
  bindUdp: Runtime["bindUdp"];
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

/** ERR reasons only a REGISTER or DEREGISTER is answered with ("FULL": older Gatehouse). */
const CHANGE_REFUSALS: ReadonlySet<string> = new Set([
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
 * import { TowerClient } from "./client.ts";
 * import { bindUdp } from "../runtime/udp.ts";
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
    if (secret !== undefined) assertTowerSecret(secret);
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
