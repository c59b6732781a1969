/**
 * The admin listener: a small HTTP/1.1 server apart from the proxy (its own
 * port, off by default) for metrics, the admin API, health and readiness
 * probes and the dashboard. Heads are read with the proxy's strict scanner;
 * one request per connection (each answer says `Connection: close`), except
 * streams (server-sent events), which stay open until either side ends them.
 *
 * Every path but the probes needs the bearer token when one is set; the
 * command line refuses to bind beyond loopback without one.
 *
 * @module
 */

import type { Listener, Runtime, Socket, SocketHandler } from "../runtime/types.ts";
import { HeadScan, scanRequestHead } from "../http1/head.ts";
import { FIELD } from "../http1/fields.ts";
import { messageOf } from "../error_message.ts";

/** A request to the admin listener, read whole. */
export interface AdminRequest {
  method: string;
  /** The path, without the query. */
  path: string;
  query: URLSearchParams;
  /** Header fields by lower-case name (the last of a repeated one). */
  headers: Map<string, string>;
  /** The body as text ("" for none). */
  body: string;
  /** The peer's address. */
  peer: string;
}

/** A whole answer. */
export interface AdminReply {
  status: number;
  /** Content-Type (default `text/plain; charset=utf-8`). */
  type?: string;
  body: string | Uint8Array;
  headers?: Record<string, string>;
}

/** A stream that stays open: `open` gets a writer and says what to do when the client leaves. */
export interface AdminStream {
  stream: {
    type: string;
    open(write: (chunk: string) => void): () => void;
  };
}

/** What a handler gives back. */
export type AdminAnswer = AdminReply | AdminStream;

/** Handles one admin path. */
export type AdminHandler = (req: AdminRequest) => AdminAnswer | Promise<AdminAnswer>;

const MAX_HEAD = 16 * 1024;
const MAX_BODY = 1024 * 1024;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

const REASONS: Record<number, string> = {
  200: "OK",
  204: "No Content",
  400: "Bad Request",
  401: "Unauthorized",
  404: "Not Found",
  405: "Method Not Allowed",
  409: "Conflict",
  413: "Content Too Large",
  500: "Internal Server Error",
  503: "Service Unavailable",
};

/**
 * A JSON answer (`{"error": message}` for 4xx/5xx).
 *
 * @example
 * ```ts
 * import { json } from "./server.ts";
 * json(400, { error: "service is required" }).status; // 400
 * ```
 */
export function json(status: number, value: unknown): AdminReply {
  return { status, type: "application/json", body: JSON.stringify(value, null, 2) + "\n" };
}

/** Equal strings, compared in a time that does not depend on where they differ. */
function sameSecret(a: string, b: string): boolean {
  const x = encoder.encode(a), y = encoder.encode(b);
  let diff = x.length ^ y.length;
  for (let i = 0; i < Math.max(x.length, y.length); i++) diff |= (x[i] ?? 0) ^ (y[i] ?? 0);
  return diff === 0;
}

/**
 * The admin server.
 *
 * @example
 * ```ts
 * import { AdminServer, json } from "./server.ts";
 * import { currentRuntime } from "../runtime/current.ts";
 * const admin = new AdminServer(currentRuntime(), null, console.error);
 * admin.route("GET", "/api/ping", () => json(200, { ok: true }));
 * const port = await admin.listen("127.0.0.1", 0);
 * admin.close();
 * ```
 */
export class AdminServer {
  readonly #runtime: Runtime;
  readonly #token: string | null;
  readonly #log: (line: string) => void;
  readonly #routes = new Map<string, Map<string, { handler: AdminHandler; open: boolean }>>();
  #listener: Listener | null = null;
  readonly #sockets = new Set<Socket>();

  constructor(runtime: Runtime, token: string | null, log: (line: string) => void) {
    this.#runtime = runtime;
    this.#token = token;
    this.#log = log;
  }

  /** Serve `path` for `method`; `open`: no token needed (the probes). */
  route(method: string, path: string, handler: AdminHandler, open = false): void {
    let byMethod = this.#routes.get(path);
    if (byMethod === undefined) this.#routes.set(path, byMethod = new Map());
    byMethod.set(method, { handler, open });
  }

  /** Start listening; resolves with the bound port. */
  async listen(host: string, port: number): Promise<number> {
    this.#listener = await this.#runtime.listen(
      { hostname: host, port },
      (socket) => this.#accept(socket),
    );
    return this.#listener.port;
  }

  /** Stop listening and close every admin connection (streams too). */
  close(): void {
    this.#listener?.close();
    for (const s of this.#sockets) s.close();
    this.#sockets.clear();
  }

  #accept(socket: Socket): SocketHandler {
    this.#sockets.add(socket);
    let buf: Uint8Array = new Uint8Array(0);
    let done = false;
    let onGone: (() => void) | null = null;
    const scan = new HeadScan();
    const finish = () => {
      this.#sockets.delete(socket);
      onGone?.();
      onGone = null;
    };
    return {
      onData: (chunk) => {
        if (done) return;
        const next = new Uint8Array(buf.length + chunk.length);
        next.set(buf);
        next.set(chunk, buf.length);
        buf = next;
        const r = scanRequestHead(buf, 0, buf.length, { maxSize: MAX_HEAD }, scan);
        if (r !== null && r.kind === "incomplete") return;
        if (r !== null && r.kind === "error") {
          done = true;
          return this.#send(socket, { status: r.status, body: `${r.reason}\n` });
        }
        const lengthAt = scan.find(FIELD.CONTENT_LENGTH);
        const length = lengthAt < 0 ? 0 : Number(scan.value(lengthAt));
        if (scan.find(FIELD.TRANSFER_ENCODING) >= 0 || !Number.isSafeInteger(length)) {
          done = true;
          return this.#send(socket, { status: 400, body: "send a body with Content-Length\n" });
        }
        if (length > MAX_BODY) {
          done = true;
          return this.#send(socket, { status: 413, body: "body too large\n" });
        }
        if (buf.length < scan.end + length) return;
        done = true;
        const req = this.#request(scan, buf.subarray(scan.end, scan.end + length), socket);
        this.#dispatch(req).then(
          (answer) => {
            if ("stream" in answer) {
              onGone = this.#stream(socket, answer);
            } else this.#send(socket, answer);
          },
          (e) => {
            this.#log(`admin: ${req.method} ${req.path} failed: ${messageOf(e)}`);
            this.#send(socket, json(500, { error: "internal error" }));
          },
        );
      },
      onDrain() {},
      onEnd: () => socket.end(),
      onClose: finish,
    };
  }

  #request(scan: HeadScan, body: Uint8Array, socket: Socket): AdminRequest {
    const target = scan.target();
    const q = target.indexOf("?");
    const headers = new Map<string, string>();
    for (let i = 0; i < scan.count; i++) headers.set(scan.name(i), scan.value(i));
    return {
      method: scan.method(),
      path: q < 0 ? target : target.slice(0, q),
      query: new URLSearchParams(q < 0 ? "" : target.slice(q + 1)),
      headers,
      body: decoder.decode(body),
      peer: socket.remoteAddress,
    };
  }

  async #dispatch(req: AdminRequest): Promise<AdminAnswer> {
    const byMethod = this.#routes.get(req.path);
    const entry = byMethod?.get(req.method) ??
      (req.method === "HEAD" ? byMethod?.get("GET") : undefined);
    // The token before anything else: without it, not even which paths exist is told.
    const open = entry?.open ??
      (byMethod !== undefined && [...byMethod.values()].every((e) => e.open));
    if (!open && this.#token !== null) {
      const auth = req.headers.get("authorization") ?? "";
      const given = auth.startsWith("Bearer ") ? auth.slice(7).trim() : "";
      if (!sameSecret(given, this.#token)) {
        return {
          ...json(401, { error: "a bearer token is required (Authorization: Bearer ...)" }),
          headers: { "WWW-Authenticate": 'Bearer realm="gatehouse admin"' },
        };
      }
    }
    if (byMethod === undefined) return json(404, { error: `no admin path ${req.path}` });
    if (entry === undefined) {
      return {
        ...json(405, { error: `${req.path} takes ${[...byMethod.keys()].join(", ")}` }),
        headers: { Allow: [...byMethod.keys()].join(", ") },
      };
    }
    return await entry.handler(req);
  }

  #send(socket: Socket, reply: AdminReply): void {
    const body = typeof reply.body === "string" ? encoder.encode(reply.body) : reply.body;
    let head = `HTTP/1.1 ${reply.status} ${REASONS[reply.status] ?? ""}\r\n` +
      `Content-Type: ${reply.type ?? "text/plain; charset=utf-8"}\r\n` +
      `Content-Length: ${body.length}\r\nCache-Control: no-store\r\nConnection: close\r\n`;
    for (const [name, value] of Object.entries(reply.headers ?? {})) {
      head += `${name}: ${value}\r\n`;
    }
    socket.write(encoder.encode(head + "\r\n"));
    socket.write(body);
    socket.end();
  }

  #stream(socket: Socket, answer: AdminStream): () => void {
    socket.write(encoder.encode(
      `HTTP/1.1 200 OK\r\nContent-Type: ${answer.stream.type}\r\nCache-Control: no-store\r\n` +
        "Connection: close\r\n\r\n",
    ));
    return answer.stream.open((chunk) => void socket.write(encoder.encode(chunk)));
  }
}
