/**
 * The relay phase: the backend's response read, checked and passed to the
 * client. Interim responses (100, 103) go through as they come; the final
 * head gets the client's Connection; the body is passed as it arrives,
 * framed by Content-Length, chunked coding (dechunked for an HTTP/1.0
 * client) or the backend's close; a 101 hands both sockets to a tunnel.
 *
 * @module
 */

import { type Framing, responseFramingOf } from "../http1/framing.ts";
import { type HeadLimits, HeadScan, scanResponseHead } from "../http1/head.ts";
import { ChunkedScanner } from "../http1/chunked.ts";
import { ConnectionTokens } from "../http1/connection_tokens.ts";
import type { HeadSpace } from "../http1/head_writer.ts";
import type { Socket } from "../runtime/types.ts";
import { downstreamHeadBytes } from "./response_head.ts";
import type { RequestId } from "./request_id.ts";
import type { HeadEdits } from "./header_edits.ts";

const EMPTY = new Uint8Array(0);
const MAX_RESPONSE_HEAD = 64 * 1024;
const RESPONSE_HEAD_LIMITS: HeadLimits = { maxSize: MAX_RESPONSE_HEAD };
/** A response body that arrived with its head, up to this size, leaves in the head's write. */
const JOIN_BODY_MAX = 16 * 1024;

// A head is scanned and turned into the bytes to send within one synchronous
// step, so one scan and one token set serve every response.
const scan = new HeadScan();
const tokens = new ConnectionTokens();

/** What the relay needs of the exchange it serves, and what it tells it. */
export interface ResponseSink {
  /** The client's socket. */
  readonly client: Socket;
  /** Where response heads are built (a buffer the connection reuses). */
  readonly replyHead: HeadSpace;
  /** The client connection must end after this response (it asked, or its body is unfinished). */
  mustCloseClient(): boolean;
  /** An interim response (100 Continue, 103) went out to the client. */
  interimSent(): void;
  /**
   * A 5xx head arrived (nothing of it sent yet): true when the exchange
   * sends the request to another replica instead, and this response is
   * dropped.
   */
  retryInstead(status: number): boolean;
  /** The final head has arrived: the backend is answering. */
  responseStarted(): void;
  /** The whole response has been passed on. */
  responseDone(): void;
  /** The response cannot be relayed (its head is malformed); nothing was sent yet. */
  responseInvalid(reason: string): void;
  /** The body turned out malformed after the head went out: both connections must end. */
  responseBroken(): void;
  /** The backend switched protocols: `rest` is what it sent after its 101 head. */
  upgraded(scan: HeadScan, tokens: ConnectionTokens, rest: Uint8Array): void;
  /** The client's buffer is full: stop reading the backend until it drains. */
  pauseBackend(): void;
}

/**
 * One response on its way to the client. A connection's exchange keeps one
 * and begins it again for each request.
 *
 * @example
 * ```ts
 * import { ResponseRelay, type ResponseSink } from "./response.ts";
 * import { RequestId } from "./request_id.ts";
 * declare const sink: ResponseSink;
 * const relay = new ResponseRelay(sink, new RequestId());
 * relay.begin("GET", 1, null);
 * relay.onData(new TextEncoder().encode("HTTP/1.1 204 No Content\r\n\r\n")); // sink.responseDone()
 * ```
 */
export class ResponseRelay {
  readonly #sink: ResponseSink;
  /** The current request's id, set on the final head (the connection's, set per request). */
  readonly #id: RequestId;
  #method = "";
  #minor = 1;
  #edits: HeadEdits | null = null;
  #upgrade: string | null = null;
  /** Response bytes held until a whole head is there. */
  #buf: Uint8Array = EMPTY;
  #gotByte = false;
  /** Status of the final response once its head has been handled; 0 before. */
  #status = 0;
  /** How the body is delimited (once the head is handled). */
  #kind: Framing["kind"] = "none";
  #left = 0;
  #scanner: ChunkedScanner | null = null;
  #closeClient = false;
  /** HTTP/1.0 client, chunked response: send the data only, delimited by close. */
  #dechunk = false;
  #reusable = false;
  /** Head bytes (interim heads too) and body bytes handed to the client (the access log's). */
  #headBytes = 0;
  #bodyBytes = 0;
  /** The chunk being dechunked, for {@link #writeData}. */
  #chunk: Uint8Array = EMPTY;
  /** Writes one range of dechunked data; made once, so dechunking allocates no closure. */
  readonly #writeData = (start: number, end: number): void => {
    if (end > start) {
      this.#bodyBytes += end - start;
      this.#sink.client.write(this.#chunk.subarray(start, end));
    }
  };

  constructor(sink: ResponseSink, id: RequestId) {
    this.#sink = sink;
    this.#id = id;
  }

  /**
   * Start over for a request with this method, client HTTP minor version and
   * Upgrade; `edits`: its route's edits to the final head, or null.
   */
  begin(
    method: string,
    minor: number,
    upgrade: string | null,
    edits: HeadEdits | null = null,
  ): void {
    this.#edits = edits;
    this.#method = method;
    this.#minor = minor;
    this.#upgrade = upgrade;
    this.#buf = EMPTY;
    this.#gotByte = false;
    this.#status = 0;
    this.#kind = "none";
    this.#left = 0;
    this.#scanner = null;
    this.#closeClient = false;
    this.#dechunk = false;
    this.#reusable = false;
    this.#headBytes = 0;
    this.#bodyBytes = 0;
  }

  /** The request asks to switch protocols (a WebSocket handshake, say). */
  get upgrading(): boolean {
    return this.#upgrade !== null;
  }

  /** The client's head for the backend's 101 in `scan` (see {@link ResponseSink.upgraded}). */
  upgradeHead(scan: HeadScan, tokens: ConnectionTokens): Uint8Array {
    const head = downstreamHeadBytes(scan, tokens, "upgrade", this.#upgrade, this.#id);
    const out = this.#edits === null ? head : this.#edits.apply(head);
    this.#headBytes += out.length;
    return out;
  }

  /** Bytes handed to the client for this response so far, heads included. */
  get bytesSent(): number {
    return this.#headBytes + this.#bodyBytes;
  }

  /** Of {@link bytesSent}, the body's. */
  get bodyBytesSent(): number {
    return this.#bodyBytes;
  }

  /** Some response byte has arrived (a retry would no longer be safe). */
  get started(): boolean {
    return this.#gotByte;
  }

  /** The final status, once its head was handled; 0 before. */
  get status(): number {
    return this.#status;
  }

  /** The body ends when the backend closes. */
  get delimitedByClose(): boolean {
    return this.#kind === "close";
  }

  /** The backend connection may carry another request once this response is done. */
  get reusable(): boolean {
    return this.#reusable;
  }

  /** The client connection ends after this response. */
  get closesClient(): boolean {
    return this.#closeClient;
  }

  /** The backend connection must not be reused (it closed, or sent more than the response). */
  notReusable(): void {
    this.#reusable = false;
  }

  /** Let go of what the response held (the request is over). */
  letGo(): void {
    this.#buf = EMPTY;
    this.#scanner = null;
    this.#chunk = EMPTY;
  }

  /** Bytes from the backend. */
  onData(chunk: Uint8Array): void {
    this.#gotByte = true;
    if (this.#status !== 0) return this.#forwardBody(chunk, 0);
    this.#buf = this.#buf.length === 0 ? chunk : concat(this.#buf, chunk);
    this.#readHead();
  }

  #readHead(): void {
    let start = 0;
    while (true) {
      const buf = this.#buf;
      const r = scanResponseHead(buf, start, buf.length, RESPONSE_HEAD_LIMITS, scan);
      if (r !== null) {
        if (r.kind === "error") return this.#sink.responseInvalid(r.reason);
        this.#buf = start === 0 ? buf : buf.subarray(start);
        if (buf.length - start >= MAX_RESPONSE_HEAD) {
          return this.#sink.responseInvalid("head too large");
        }
        return;
      }
      tokens.read(scan);
      if (scan.status === 101) {
        if (this.#upgrade === null) {
          return this.#sink.responseInvalid("101 without an upgrade request");
        }
        this.#buf = EMPTY;
        return this.#sink.upgraded(scan, tokens, buf.subarray(scan.end));
      }
      if (scan.status < 200) {
        // Interim responses (100 Continue, 103 Early Hints) go to HTTP/1.1 clients as they come.
        if (this.#minor === 1) {
          const interim = downstreamHeadBytes(scan, tokens, null, null, null);
          this.#headBytes += interim.length;
          this.#sink.client.write(interim);
          this.#sink.interimSent();
        }
        start = scan.end;
        if (start === buf.length) {
          this.#buf = EMPTY;
          return;
        }
        continue;
      }
      this.#buf = EMPTY;
      return this.#finalHead(buf, scan.end);
    }
  }

  /** The final response head is in `scan`; buf[restStart..] are the body bytes that came with it. */
  #finalHead(buf: Uint8Array, restStart: number): void {
    const framing = responseFramingOf(this.#method, scan);
    if (framing.kind === "error") return this.#sink.responseInvalid(framing.reason);
    if (scan.status >= 500 && this.#sink.retryInstead(scan.status)) return;
    this.#status = scan.status;
    this.#kind = framing.kind;
    this.#sink.responseStarted();
    const backendClose = scan.minor === 0 || tokens.close;
    this.#reusable = !backendClose && framing.kind !== "close";
    // A client that cannot see where the body ends must see the connection end.
    this.#closeClient = this.#sink.mustCloseClient() || framing.kind === "close" ||
      (framing.kind === "chunked" && this.#minor === 0);
    const connection = this.#closeClient ? "close" : this.#minor === 0 ? "keep-alive" : null;
    this.#dechunk = framing.kind === "chunked" && this.#minor === 0;
    const restLength = buf.length - restStart;
    if (framing.kind === "length") {
      this.#left = framing.length;
      if (restLength > 0 && restLength <= JOIN_BODY_MAX) {
        // Head and the body bytes that came with it leave in one write.
        const n = Math.min(restLength, framing.length);
        if (restLength > n) this.#reusable = false;
        this.#left -= n;
        this.#sendHead(connection, buf, restStart, restStart + n);
        if (this.#left === 0) this.#sink.responseDone();
        return;
      }
    } else if (framing.kind === "chunked") this.#scanner = new ChunkedScanner();
    this.#sendHead(connection);
    if (framing.kind === "none") {
      if (restLength > 0) this.#reusable = false;
      return this.#sink.responseDone();
    }
    if (restLength > 0) this.#forwardBody(buf, restStart);
  }

  /** Send the client the final response head, with body[start, end) joined to it when given. */
  #sendHead(
    connection: "close" | "keep-alive" | null,
    body?: Uint8Array,
    start = 0,
    end = 0,
  ): void {
    const sink = this.#sink;
    const head = downstreamHeadBytes(
      scan,
      tokens,
      connection,
      null,
      this.#id,
      this.#dechunk,
      body,
      start,
      end,
      sink.replyHead,
    );
    // A route's edits copy the head (and the body bytes joined to it) once more.
    const out = this.#edits === null ? head : this.#edits.apply(head);
    this.#headBytes += out.length - (end - start);
    this.#bodyBytes += end - start;
    sink.client.write(out);
  }

  /** Forward response body bytes chunk[from..]. */
  #forwardBody(chunk: Uint8Array, from: number): void {
    const kind = this.#kind;
    let out = from === 0 ? chunk : chunk.subarray(from);
    let done = false;
    if (kind === "length") {
      if (out.length >= this.#left) {
        if (out.length > this.#left) {
          this.#reusable = false;
          out = out.subarray(0, this.#left);
        }
        this.#left = 0;
        done = true;
      } else this.#left -= out.length;
    } else if (kind === "chunked") {
      const data = out;
      let r;
      if (this.#dechunk) {
        this.#chunk = data;
        r = this.#scanner!.scan(data, 0, data.length, this.#writeData);
        this.#chunk = EMPTY;
        out = EMPTY;
      } else r = this.#scanner!.scan(data, 0, data.length);
      if (r.error !== undefined) return this.#sink.responseBroken();
      if (r.done) {
        done = true;
        if (r.consumed < data.length) this.#reusable = false;
        if (!this.#dechunk) out = data.subarray(0, r.consumed);
      }
    }
    if (out.length > 0) {
      this.#bodyBytes += out.length;
      if (!this.#sink.client.write(out)) this.#sink.pauseBackend();
    }
    if (done) this.#sink.responseDone();
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}
