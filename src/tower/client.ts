/**
 * The Tower's UDP client: one socket, many requests in flight, each reply
 * given to the one request that can have received it (matching.ts), retries
 * on silence, and the changes (REGISTER, DEREGISTER, ROUTE, UNROUTE) signed
 * when it holds the shared secret.
 *
 * @module
 */

import { formatHostPort } from "../net/address.ts";
import { SerialLoop } from "../serial_loop.ts";
import type { Runtime, UdpSocket } from "../runtime/types.ts";
import { answersAlike, canAnswer, conflicts, soleRequestLine } from "./matching.ts";
import {
  formatReply,
  formatRequest,
  MAX_DATAGRAM_BYTES,
  parseReply,
  parseRequest,
  type TowerReply,
  type TowerRequest,
} from "./protocol.ts";
import { assertTowerSecret, isSignedKind, signTowerRequest } from "./signing.ts";

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
   * Sign REGISTER, DEREGISTER, ROUTE and UNROUTE with this shared secret
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
  /** Datagrams sent; 0 while it waits for a request it conflicts with. */
  tries: number;
}

/** A finished request whose earlier datagrams may still be answered. */
interface Owed {
  readonly request: TowerRequest;
  /** Replies still possible: datagrams sent minus replies received. */
  replies: number;
  /** Until when (performance.now()) such a late reply is expected. */
  until: number;
}

/**
 * A UDP client for a Tower. One socket, many requests in flight.
 *
 * - Identical requests in flight at once share one datagram and one reply
 *   (many concurrent `LOOKUP|web` cost one round trip).
 * - The protocol has no request ids: a reply names at most a command and a
 *   service, and some of the seed's errors name nothing (`ERR|unknown
 *   command`, `ERR|registry full`, `ERR|REGISTER syntax: name|ip|port`). So
 *   two requests that one reply could answer differently are never in
 *   flight together: the later one is sent when the earlier is answered or
 *   gives up. In effect one change (REGISTER, DEREGISTER, ROUTE, UNROUTE)
 *   at a time and no LOOKUPALL or ROUTES meanwhile, and no LOOKUP,
 *   LOOKUPALL, DEREGISTER or UNROUTE of one service together; lookups of
 *   different services all go at once.
 * - A reply goes to the request in flight that can have received it. Late
 *   answers to a finished request's earlier datagrams (it was sent again)
 *   are expected for `timeoutMs` after it finished, and dropped. A reply
 *   that could be more than one request's is dropped too: the request waits
 *   for its retry rather than take another one's answer.
 * - Each request waits `timeoutMs` from its sending, is sent again
 *   `retries` times, then rejects with a {@link TowerTimeoutError}.
 * - Only datagrams from the Tower's port are considered. The source address
 *   is not compared, because a Tower bound to a wildcard address may answer
 *   from another of its addresses.
 * - With a `secret`, REGISTER, DEREGISTER, ROUTE and UNROUTE are signed on
 *   every send.
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
  /** Every unfinished request, sent or waiting, by its line, in order of arrival. */
  readonly #pending = new Map<string, Pending>();
  /** Requests not sent yet, in order of arrival. */
  #waiting: Pending[] = [];
  /** Finished requests with replies still possible, by line, in order of `until`. */
  readonly #owed = new Map<string, Owed>();
  /** Sends what waits, one round after the other (a failed send starts another round). */
  readonly #sends = new SerialLoop(() => this.#sendRound());
  #closed = false;
  /** When a reply last came from the Tower, ms since the epoch (0: never). */
  heardAt = 0;

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
   * rejects. Throws a TypeError for a request that is not valid (a Tower
   * would refuse it).
   */
  send(request: TowerRequest | string): Promise<TowerReply> {
    const text = typeof request === "string" ? request : formatRequest(request);
    const parsed = parseRequest(text);
    if (parsed.kind === "ERR") {
      return Promise.reject(
        new TypeError(`not a Tower request (${formatReply(parsed)}): ${JSON.stringify(text)}`),
      );
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
    // Behind any earlier request it conflicts with, sent or waiting: first come, first sent.
    let blocked = false;
    for (const other of this.#pending.values()) {
      if (conflicts(other.request, parsed)) {
        blocked = true;
        break;
      }
    }
    this.#pending.set(line, pending);
    if (blocked) this.#waiting.push(pending);
    else this.#transmit(pending);
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
    this.#waiting = [];
    this.#owed.clear();
  }

  /** Handle a datagram from the socket. */
  #receive(data: Uint8Array, fromPort: number): void {
    if (fromPort !== this.port) return;
    const reply = parseReply(decoder.decode(data));
    if (reply === undefined) return;
    this.heardAt = Date.now();
    const sole = soleRequestLine(reply);
    if (sole !== undefined) {
      const pending = this.#pending.get(sole);
      if (pending !== undefined && pending.tries > 0) this.#finish(pending, reply);
      else this.#takeLate(sole);
      return;
    }
    let owner: Pending | undefined;
    for (const pending of this.#pending.values()) {
      if (pending.tries === 0 || !canAnswer(pending.request, reply)) continue;
      if (owner === undefined) owner = pending;
      else if (!answersAlike(reply, owner.request, pending.request)) return;
    }
    const now = performance.now();
    this.#forgetOwed(now);
    let late: [string, Owed] | undefined;
    for (const entry of this.#owed) {
      if (!canAnswer(entry[1].request, reply)) continue;
      const other = owner?.request ?? late?.[1].request;
      // Ours or a late one of another request: no way to tell, so it is nobody's.
      if (other !== undefined && !answersAlike(reply, other, entry[1].request)) return;
      late ??= entry;
    }
    if (owner !== undefined) this.#finish(owner, reply);
    else if (late !== undefined) this.#takeLate(late[0]);
  }

  /** A late reply to `line` arrived: one fewer is expected. */
  #takeLate(line: string): void {
    const owed = this.#owed.get(line);
    if (owed !== undefined && --owed.replies === 0) this.#owed.delete(line);
  }

  #transmit(pending: Pending): void {
    const { kind } = pending.request;
    try {
      // A retry is a new datagram: a reused nonce would be refused as a replay.
      const line = this.#secret !== undefined && isSignedKind(kind)
        ? signTowerRequest(this.#secret, pending.line, Math.floor(this.#now()))
        : pending.line;
      const bytes = encoder.encode(line);
      // A Tower drops a longer datagram unanswered: say so rather than wait for nothing.
      if (bytes.byteLength > MAX_DATAGRAM_BYTES) {
        throw new Error(`${bytes.byteLength} bytes, over the ${MAX_DATAGRAM_BYTES} a Tower reads`);
      }
      this.#socket.send(bytes, this.port, this.host);
    } catch (err) {
      this.#finish(pending, new Error(`cannot send to Tower at ${this.address}: ${String(err)}`));
      return;
    }
    pending.tries++;
    pending.timer = setTimeout(() => this.#expire(pending), this.#timeoutMs);
  }

  #expire(pending: Pending): void {
    if (this.#pending.get(pending.line) !== pending) return;
    if (pending.tries <= this.#retries) {
      this.#transmit(pending);
      return;
    }
    this.#finish(
      pending,
      new TowerTimeoutError(
        `Tower at ${this.address} did not answer ${pending.line} ` +
          `(${pending.tries} tries, ${this.#timeoutMs} ms each)`,
      ),
    );
  }

  /** Settle `pending` with a reply or an error, then send what waited for it. */
  #finish(pending: Pending, outcome: TowerReply | Error): void {
    clearTimeout(pending.timer);
    this.#pending.delete(pending.line);
    const replies = pending.tries - (outcome instanceof Error ? 0 : 1);
    if (replies > 0) this.#expectLate(pending, replies);
    if (outcome instanceof Error) pending.reject(outcome);
    else pending.resolve(outcome);
    this.#sendWaiting();
  }

  #expectLate(pending: Pending, replies: number): void {
    const now = performance.now();
    this.#forgetOwed(now);
    const before = this.#owed.get(pending.line);
    // Deleted and set again, so the map stays in order of `until`.
    this.#owed.delete(pending.line);
    this.#owed.set(pending.line, {
      request: pending.request,
      replies: replies + (before?.replies ?? 0),
      until: now + this.#timeoutMs,
    });
  }

  /** Drop the owed replies no longer expected (they are at the front). */
  #forgetOwed(now: number): void {
    for (const [line, owed] of this.#owed) {
      if (owed.until > now) break;
      this.#owed.delete(line);
    }
  }

  /** Send every waiting request that no request in flight, nor an earlier waiting one, conflicts with. */
  #sendWaiting(): void {
    this.#sends.run();
  }

  #sendRound(): void {
    const queue = this.#waiting;
    this.#waiting = [];
    for (const pending of queue) {
      if (this.#pending.get(pending.line) !== pending) continue;
      if (
        this.#waiting.some((w) => conflicts(w.request, pending.request)) ||
        this.#conflictsInFlight(pending)
      ) {
        this.#waiting.push(pending);
      } else {
        this.#transmit(pending);
      }
    }
  }

  #conflictsInFlight(pending: Pending): boolean {
    for (const other of this.#pending.values()) {
      if (other.tries > 0 && conflicts(other.request, pending.request)) return true;
    }
    return false;
  }
}
