/**
 * A raw HTTP/1.1 client for end-to-end tests: it writes exactly the bytes a
 * test gives it and parses what comes back, so malformed requests, pipelining
 * and keep-alive can be exercised without a client library "fixing" them.
 *
 * @module
 */

import net from "node:net";
import tls from "node:tls";
import { Buffer } from "node:buffer";

/** One parsed HTTP response. */
export interface HttpResponse {
  /** e.g. "HTTP/1.1". */
  version: string;
  status: number;
  reason: string;
  /** Lower-cased names; repeated fields joined with ", ". */
  headers: Record<string, string>;
  /** Fields in wire order, names as sent. */
  rawHeaders: Array<[string, string]>;
  /** The decoded body (chunked framing removed). */
  body: Buffer;
  /** The body as UTF-8 text. */
  text: string;
  /** How the body was delimited on the wire. */
  framing: "none" | "length" | "chunked" | "close";
}

/** Options for opening a client connection. */
export interface ConnectOptions {
  host?: string;
  /** Speak TLS (certificate checks off: tests use self-signed certs). */
  tls?: boolean;
  /** Give up connecting after this long. */
  timeoutMs?: number;
}

const HEAD_END = Buffer.from("\r\n\r\n");
const CRLF = Buffer.from("\r\n");

/** Thrown by the parser when the bytes are not a valid response. */
export class ResponseParseError extends Error {}

interface ParseResult {
  response: HttpResponse;
  consumed: number;
}

function parseHead(head: string): Omit<HttpResponse, "body" | "text" | "framing"> {
  const lines = head.split("\r\n");
  const m = /^(HTTP\/\d\.\d) (\d{3})(?: (.*))?$/.exec(lines[0]);
  if (!m) throw new ResponseParseError(`bad status line: ${JSON.stringify(lines[0])}`);
  const headers: Record<string, string> = {};
  const rawHeaders: Array<[string, string]> = [];
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(":");
    if (colon <= 0) throw new ResponseParseError(`bad header line: ${JSON.stringify(line)}`);
    const name = line.slice(0, colon);
    const value = line.slice(colon + 1).trim();
    rawHeaders.push([name, value]);
    const key = name.toLowerCase();
    headers[key] = key in headers ? `${headers[key]}, ${value}` : value;
  }
  return { version: m[1], status: Number(m[2]), reason: m[3] ?? "", headers, rawHeaders };
}

/**
 * Tries to parse one response from the front of `buf`. Returns null when more
 * bytes are needed. `ended` says the peer has closed (which completes a
 * close-delimited body). `isHead` says the request was HEAD (no body).
 */
export function tryParseResponse(
  buf: Buffer,
  ended: boolean,
  isHead = false,
): ParseResult | null {
  const headEnd = buf.indexOf(HEAD_END);
  if (headEnd < 0) return null;
  const head = parseHead(buf.subarray(0, headEnd).toString("latin1"));
  let pos = headEnd + 4;
  const done = (body: Buffer, framing: HttpResponse["framing"]): ParseResult => ({
    response: { ...head, body, text: body.toString("utf8"), framing },
    consumed: pos,
  });
  const s = head.status;
  if (isHead || s === 204 || s === 304 || (s >= 100 && s < 200)) {
    return done(Buffer.alloc(0), "none");
  }
  const te = head.headers["transfer-encoding"];
  if (te !== undefined) {
    if (!/(^|,)\s*chunked\s*$/i.test(te)) {
      throw new ResponseParseError(`unsupported response transfer-encoding: ${te}`);
    }
    const parts: Buffer[] = [];
    for (;;) {
      const lineEnd = buf.indexOf(CRLF, pos);
      if (lineEnd < 0) return null;
      const sizeText = buf.subarray(pos, lineEnd).toString("latin1").split(";")[0].trim();
      if (!/^[0-9a-fA-F]+$/.test(sizeText)) {
        throw new ResponseParseError(`bad chunk size: ${JSON.stringify(sizeText)}`);
      }
      const size = parseInt(sizeText, 16);
      pos = lineEnd + 2;
      if (size === 0) {
        // Trailer section: lines until an empty one.
        for (;;) {
          const end = buf.indexOf(CRLF, pos);
          if (end < 0) return null;
          const empty = end === pos;
          pos = end + 2;
          if (empty) return done(Buffer.concat(parts), "chunked");
        }
      }
      if (buf.length < pos + size + 2) return null;
      parts.push(buf.subarray(pos, pos + size));
      if (!buf.subarray(pos + size, pos + size + 2).equals(CRLF)) {
        throw new ResponseParseError("chunk data not followed by CRLF");
      }
      pos += size + 2;
    }
  }
  const cl = head.headers["content-length"];
  if (cl !== undefined) {
    if (!/^\d+$/.test(cl)) throw new ResponseParseError(`bad content-length: ${cl}`);
    const n = Number(cl);
    if (buf.length < pos + n) return null;
    const body = Buffer.from(buf.subarray(pos, pos + n));
    pos += n;
    return done(body, "length");
  }
  // Neither: the body runs until the connection closes.
  if (!ended) return null;
  const body = Buffer.from(buf.subarray(pos));
  pos = buf.length;
  return done(body, "close");
}

/**
 * A client connection that writes raw bytes and reads parsed responses.
 *
 * @example
 * ```ts
 * import { HttpConnection } from "./http.ts";
 * declare const port: number;
 * const conn = await HttpConnection.open(port);
 * conn.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
 * const res = await conn.readResponse();
 * conn.close();
 * ```
 */
export class HttpConnection {
  /** Bytes received and not yet consumed by {@link readResponse}. */
  buffer: Buffer = Buffer.alloc(0);
  /** The peer closed (or the socket failed). */
  ended = false;
  /** The socket error, if one happened (e.g. ECONNRESET). */
  error: Error | undefined;
  #socket: net.Socket;
  #waiters = new Set<() => void>();

  private constructor(socket: net.Socket) {
    this.#socket = socket;
    socket.on("data", (chunk: Buffer) => {
      this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
      this.#notify();
    });
    socket.on("end", () => {
      this.ended = true;
      this.#notify();
    });
    socket.on("error", (err) => {
      this.error = err;
      this.ended = true;
      this.#notify();
    });
    socket.on("close", () => {
      this.ended = true;
      this.#notify();
    });
  }

  /** Connects to `port` (127.0.0.1 unless `opts.host`). */
  static open(port: number, opts: ConnectOptions = {}): Promise<HttpConnection> {
    const host = opts.host ?? "127.0.0.1";
    const timeoutMs = opts.timeoutMs ?? 10_000;
    return new Promise((resolve, reject) => {
      const socket = opts.tls
        ? tls.connect({ host, port, rejectUnauthorized: false, servername: "localhost" })
        : net.connect({ host, port });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`connect to ${host}:${port} timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      const onError = (err: Error) => {
        clearTimeout(timer);
        reject(err);
      };
      socket.once("error", onError);
      socket.once(opts.tls ? "secureConnect" : "connect", () => {
        clearTimeout(timer);
        socket.off("error", onError);
        resolve(new HttpConnection(socket));
      });
    });
  }

  #notify(): void {
    for (const w of [...this.#waiters]) w();
  }

  /** Sends bytes exactly as given. */
  write(data: string | Uint8Array): void {
    this.#socket.write(typeof data === "string" ? Buffer.from(data, "latin1") : data);
  }

  /** Stops reading: what arrives stays in the kernel, whose buffers fill up. */
  pauseReading(): void {
    this.#socket.pause();
  }

  /** Reads again after {@link pauseReading}. */
  resumeReading(): void {
    this.#socket.resume();
  }

  /** Half-closes the sending side (FIN). */
  endWriting(): void {
    this.#socket.end();
  }

  /** Closes the connection at once. */
  close(): void {
    this.#socket.destroy();
  }

  /**
   * Waits until `ready()` returns a value other than undefined, re-checking on
   * every event; rejects after `timeoutMs` with `what` in the message.
   */
  waitFor<T>(ready: () => T | undefined, timeoutMs: number, what: string): Promise<T> {
    return new Promise((resolve, reject) => {
      const check = () => {
        let value: T | undefined;
        try {
          value = ready();
        } catch (err) {
          cleanup();
          reject(err);
          return;
        }
        if (value !== undefined) {
          cleanup();
          resolve(value);
        }
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(
          new Error(
            `timed out after ${timeoutMs} ms waiting for ${what}; received so far: ` +
              preview(this.buffer),
          ),
        );
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        this.#waiters.delete(check);
      };
      this.#waiters.add(check);
      check();
    });
  }

  /**
   * Reads the next response. Set `head` when the request was HEAD. Interim
   * 1xx responses other than 101 are skipped.
   */
  async readResponse(opts: { head?: boolean; timeoutMs?: number } = {}): Promise<HttpResponse> {
    const timeoutMs = opts.timeoutMs ?? 15_000;
    for (;;) {
      const result = await this.waitFor(
        () => {
          const parsed = tryParseResponse(this.buffer, this.ended, opts.head);
          if (parsed) return parsed;
          if (this.ended) {
            throw new Error(
              `connection closed before a complete response` +
                (this.error ? ` (${this.error.message})` : "") +
                `; received: ${preview(this.buffer)}`,
            );
          }
          return undefined;
        },
        timeoutMs,
        "a response",
      );
      this.buffer = this.buffer.subarray(result.consumed);
      const s = result.response.status;
      if (s >= 100 && s < 200 && s !== 101) continue;
      return result.response;
    }
  }

  /** Waits until at least `n` unconsumed bytes are buffered, then takes them. */
  async readBytes(n: number, timeoutMs = 10_000): Promise<Buffer> {
    await this.waitFor(
      () => {
        if (this.buffer.length >= n) return true;
        if (this.ended) {
          throw new Error(`connection closed after ${this.buffer.length} of ${n} bytes`);
        }
        return undefined;
      },
      timeoutMs,
      `${n} bytes`,
    );
    const out = Buffer.from(this.buffer.subarray(0, n));
    this.buffer = this.buffer.subarray(n);
    return out;
  }

  /** Resolves true when the peer closes within `timeoutMs`, false otherwise. */
  async waitClosed(timeoutMs: number): Promise<boolean> {
    try {
      await this.waitFor(() => (this.ended ? true : undefined), timeoutMs, "close");
      return true;
    } catch {
      return false;
    }
  }
}

/** Shows up to 300 bytes of a buffer, escaped, for failure messages. */
export function preview(buf: Uint8Array): string {
  const text = Buffer.from(buf.subarray(0, 300)).toString("latin1");
  return JSON.stringify(text) + (buf.length > 300 ? ` (+${buf.length - 300} bytes)` : "");
}

/** What {@link rawExchange} saw. */
export interface RawReply {
  /** Every byte received. */
  data: Buffer;
  /** The data as latin1 text. */
  text: string;
  /** The peer closed (FIN or reset) before the timeout. */
  closed: boolean;
  /** Socket error, e.g. ECONNRESET, if any. */
  error?: string;
}

/**
 * Writes `request` exactly, then collects everything until the peer closes
 * or `timeoutMs` passes (then the client closes).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { rawExchange } from "./http.ts";
 * declare const port: number;
 * const reply = await rawExchange(port, "GET / HTTP/1.1\nHost: x\n\n");
 * assert.match(reply.text, /^HTTP\/1\.1 400/);
 * ```
 */
export async function rawExchange(
  port: number,
  request: string | Uint8Array,
  opts: ConnectOptions & { waitMs?: number } = {},
): Promise<RawReply> {
  const conn = await HttpConnection.open(port, opts);
  conn.write(request);
  const closed = await conn.waitClosed(opts.waitMs ?? 10_000);
  conn.close();
  return {
    data: conn.buffer,
    text: conn.buffer.toString("latin1"),
    closed,
    error: conn.error ? ((conn.error as { code?: string }).code ?? conn.error.message) : undefined,
  };
}

/** A simple request description for {@link request}. */
export interface RequestSpec {
  method?: string;
  path?: string;
  /** Host header value (default "localhost"); null sends none. */
  host?: string | null;
  /** Extra header lines, in order. */
  headers?: Array<[string, string]>;
  /** Body; a Content-Length is added unless `headers` frames it. */
  body?: string | Uint8Array;
}

/** Serializes a {@link RequestSpec} to wire bytes. */
export function buildRequest(spec: RequestSpec): Buffer {
  const method = spec.method ?? "GET";
  const lines = [`${method} ${spec.path ?? "/"} HTTP/1.1`];
  if (spec.host !== null) lines.push(`Host: ${spec.host ?? "localhost"}`);
  const headers = spec.headers ?? [];
  for (const [k, v] of headers) lines.push(`${k}: ${v}`);
  const body = spec.body === undefined
    ? Buffer.alloc(0)
    : typeof spec.body === "string"
    ? Buffer.from(spec.body)
    : Buffer.from(spec.body);
  const framed = headers.some(([k]) => /^(content-length|transfer-encoding)$/i.test(k));
  if (spec.body !== undefined && !framed) lines.push(`Content-Length: ${body.length}`);
  return Buffer.concat([Buffer.from(lines.join("\r\n") + "\r\n\r\n", "latin1"), body]);
}

/**
 * One request on a fresh connection; returns the response and closes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { request } from "./http.ts";
 * declare const port: number;
 * const res = await request(port, { path: "/api/x" });
 * assert.equal(res.status, 200);
 * ```
 */
export async function request(
  port: number,
  spec: RequestSpec = {},
  opts: ConnectOptions & { responseTimeoutMs?: number } = {},
): Promise<HttpResponse> {
  const conn = await HttpConnection.open(port, opts);
  try {
    conn.write(buildRequest(spec));
    return await conn.readResponse({
      head: (spec.method ?? "GET") === "HEAD",
      timeoutMs: opts.responseTimeoutMs,
    });
  } finally {
    conn.close();
  }
}

/** The JSON an echo backend answers with (see backends.ts). */
export interface EchoView {
  backend: string;
  method: string;
  url: string;
  httpVersion: string;
  headers: Record<string, string | string[]>;
  rawHeaders: string[];
  bodyLength: number;
  bodySha256: string;
  body: string;
  connection: number;
}

/** Parses an echo backend's JSON body, with the raw text in the error. */
export function echoOf(res: HttpResponse): EchoView {
  try {
    return JSON.parse(res.text) as EchoView;
  } catch {
    throw new Error(
      `expected an echo backend's JSON, got ${res.status} ${preview(res.body)}`,
    );
  }
}

/**
 * GET `path` on a fresh connection; null when nothing answered within
 * `timeoutMs` (a refused or reset connection too).
 *
 * @example
 * ```ts
 * import { getOrNull } from "./http.ts";
 * (await getOrNull(8080, "/api"))?.status;
 * ```
 */
export function getOrNull(
  port: number,
  path: string,
  timeoutMs = 5_000,
): Promise<HttpResponse | null> {
  return request(port, { path }, { timeoutMs, responseTimeoutMs: timeoutMs }).catch(() => null);
}

/**
 * Poll GET `path` (every `pollMs`) until its status is `status`; resolves
 * with the time it took in ms, rejects after `withinMs` naming the last answer.
 *
 * @example
 * ```ts
 * import { statusBecomes } from "./http.ts";
 * await statusBecomes(8080, "/api", 404, 5_000); // the route was withdrawn
 * ```
 */
export async function statusBecomes(
  port: number,
  path: string,
  status: number,
  withinMs: number,
  pollMs = 20,
): Promise<number> {
  const start = performance.now();
  let last = "no answer";
  while (performance.now() - start <= withinMs) {
    const res = await getOrNull(port, path);
    if (res?.status === status) return performance.now() - start;
    last = res === null ? "no answer" : `${res.status} ${res.text.slice(0, 80)}`;
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
  throw new Error(`GET ${path} not ${status} within ${withinMs} ms (last: ${last})`);
}
