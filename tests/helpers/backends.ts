/**
 * Backends for end-to-end tests: an echo server (node:http) that answers with
 * what it received, and raw TCP servers for behaviour an HTTP library would
 * not produce (close-delimited bodies, resets, silence, upgrades).
 *
 * @module
 */

import http from "node:http";
import net from "node:net";
import { createHash } from "node:crypto";
import { Buffer } from "node:buffer";
import type { EchoView } from "./http.ts";

/** What an echo backend recorded for one request. */
export type EchoRecord = EchoView;

/** A running echo backend. */
export interface EchoBackend {
  name: string;
  port: number;
  /** Every request, in arrival order. */
  requests: EchoRecord[];
  /** TCP connections accepted so far. */
  readonly connections: number;
  close(): Promise<void>;
}

/** Options for {@link startEchoBackend}. */
export interface EchoOptions {
  /** Delay before answering, in ms. */
  delayMs?: number;
  /**
   * Answer some requests differently: return true when the request was
   * handled (the record has already been stored and the body read).
   */
  respond?: (req: http.IncomingMessage, res: http.ServerResponse, record: EchoRecord) => boolean;
  /** Called when a request head arrives (before its body is read). */
  onRequestStart?: (req: http.IncomingMessage) => void;
  /** Close idle keep-alive connections after this long (default 60 s). */
  keepAliveTimeoutMs?: number;
}

/**
 * Starts an HTTP server on 127.0.0.1:0 that answers 200 with a JSON echo of
 * the request: method, url, headers, body length and SHA-256, the body text
 * (when under 64 KiB) and which of its TCP connections carried it.
 *
 * @example
 * ```ts
 * import { startEchoBackend } from "./backends.ts";
 * import { register } from "./tower.ts";
 * declare const towerPort: number;
 * const api = await startEchoBackend("api");
 * await register(towerPort, "api-service", api.port);
 * ```
 */
export async function startEchoBackend(
  name: string,
  opts: EchoOptions = {},
): Promise<EchoBackend> {
  const requests: EchoRecord[] = [];
  const sockets = new Set<net.Socket>();
  const connIds = new WeakMap<net.Socket, number>();
  let connections = 0;
  const server = http.createServer(
    {
      maxHeaderSize: 256 * 1024,
      keepAliveTimeout: opts.keepAliveTimeoutMs ?? 60_000,
      requestTimeout: 0,
    },
    (req, res) => {
      opts.onRequestStart?.(req);
      const hash = createHash("sha256");
      const small: Buffer[] = [];
      let length = 0;
      req.on("data", (chunk: Buffer) => {
        hash.update(chunk);
        length += chunk.length;
        if (length <= 64 * 1024) small.push(chunk);
      });
      req.on("end", () => {
        const record: EchoRecord = {
          backend: name,
          method: req.method ?? "",
          url: req.url ?? "",
          httpVersion: req.httpVersion,
          headers: req.headers as Record<string, string | string[]>,
          rawHeaders: req.rawHeaders,
          bodyLength: length,
          bodySha256: hash.digest("hex"),
          body: length <= 64 * 1024 ? Buffer.concat(small).toString("utf8") : "",
          connection: connIds.get(req.socket) ?? -1,
        };
        requests.push(record);
        const answer = () => {
          if (opts.respond?.(req, res, record)) return;
          const json = JSON.stringify(record);
          res.writeHead(200, {
            "Content-Type": "application/json",
            "Content-Length": Buffer.byteLength(json),
            "X-Backend": name,
          });
          res.end(json);
        };
        if (opts.delayMs) setTimeout(answer, opts.delayMs);
        else answer();
      });
    },
  );
  server.on("connection", (socket: net.Socket) => {
    connections++;
    connIds.set(socket, connections);
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const port = (server.address() as net.AddressInfo).port;
  return {
    name,
    port,
    requests,
    get connections() {
      return connections;
    },
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A running raw TCP backend. */
export interface RawBackend {
  port: number;
  /** TCP connections accepted so far. */
  readonly connections: number;
  close(): Promise<void>;
}

/**
 * Starts a TCP server on 127.0.0.1:0 and hands each accepted socket to
 * `onConnection`.
 *
 * @example
 * ```ts
 * const dead = await startRawBackend((socket) => socket.destroy());
 * ```
 */
export async function startRawBackend(
  onConnection: (socket: net.Socket, index: number) => void,
): Promise<RawBackend> {
  const sockets = new Set<net.Socket>();
  let connections = 0;
  const server = net.createServer((socket) => {
    connections++;
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => {});
    onConnection(socket, connections);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    get connections() {
      return connections;
    },
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A request as read off a raw socket by {@link readRequest}. */
export interface RawRequest {
  /** The head as text, without the final blank line. */
  head: string;
  /** Request line, e.g. "GET / HTTP/1.1". */
  requestLine: string;
  /** Lower-cased header names. */
  headers: Record<string, string>;
  body: Buffer;
  /** Bytes that arrived after this request (pipelined or tunnelled). */
  rest: Buffer;
}

/**
 * Parses one request (head plus a Content-Length or chunked body) from the
 * front of `buf`; null when more bytes are needed.
 *
 * @example
 * ```ts
 * import { Buffer } from "node:buffer";
 * import { parseRawRequest } from "./backends.ts";
 * parseRawRequest(Buffer.from("GET / HTTP/1.1\r\nHost: a\r\n\r\n"))?.requestLine; // "GET / HTTP/1.1"
 * ```
 */
export function parseRawRequest(buf: Buffer): RawRequest | null {
  const end = buf.indexOf("\r\n\r\n");
  if (end < 0) return null;
  const head = buf.subarray(0, end).toString("latin1");
  const lines = head.split("\r\n");
  const headers: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    const c = line.indexOf(":");
    const k = line.slice(0, c).trim().toLowerCase();
    const v = line.slice(c + 1).trim();
    headers[k] = k in headers ? `${headers[k]}, ${v}` : v;
  }
  let pos = end + 4;
  let body: Buffer;
  if (/chunked/i.test(headers["transfer-encoding"] ?? "")) {
    const parts: Buffer[] = [];
    for (;;) {
      const le = buf.indexOf("\r\n", pos);
      if (le < 0) return null;
      const size = parseInt(buf.subarray(pos, le).toString("latin1"), 16);
      pos = le + 2;
      if (size === 0) {
        const te = buf.indexOf("\r\n", pos);
        if (te < 0) return null;
        pos = te + 2;
        break;
      }
      if (buf.length < pos + size + 2) return null;
      parts.push(buf.subarray(pos, pos + size));
      pos += size + 2;
    }
    body = Buffer.concat(parts);
  } else {
    const n = Number(headers["content-length"] ?? "0");
    if (buf.length < pos + n) return null;
    body = Buffer.from(buf.subarray(pos, pos + n));
    pos += n;
  }
  return {
    head,
    requestLine: lines[0],
    headers,
    body,
    rest: Buffer.from(buf.subarray(pos)),
  };
}

/**
 * Reads one request (head plus a Content-Length or chunked body) from a raw
 * socket. Rejects if the socket closes first.
 */
export function readRequest(socket: net.Socket, initial?: Buffer): Promise<RawRequest> {
  return new Promise((resolve, reject) => {
    let buf = initial ?? Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      const parsed = parseRawRequest(buf);
      if (parsed) {
        cleanup();
        resolve(parsed);
      }
    };
    const onClose = () => {
      cleanup();
      reject(new Error("socket closed before a complete request"));
    };
    const cleanup = () => {
      socket.off("data", onData);
      socket.off("close", onClose);
    };
    const early = parseRawRequest(buf);
    if (early) {
      resolve(early);
      return;
    }
    socket.on("data", onData);
    socket.on("close", onClose);
  });
}

/** A running recording backend. */
export interface RecordingBackend extends RawBackend {
  /** Every request, as its bytes arrived (head text, body), in arrival order. */
  requests: RawRequest[];
}

/**
 * Starts a raw TCP backend on 127.0.0.1:0 that records each request exactly
 * as it arrived (the head's text, byte for byte) and answers each with a
 * `200` whose body is `ok`, keeping the connection open: for tests that
 * assert the bytes a backend receives, which an HTTP library would parse
 * away (field order, repeated fields, the request line's version).
 *
 * @example
 * ```ts
 * import { startRecordingBackend } from "./backends.ts";
 * const backend = await startRecordingBackend();
 * // ... send requests through the ingress to backend.port ...
 * backend.requests[0]?.head; // "GET / HTTP/1.1\r\nHost: ..."
 * await backend.close();
 * ```
 */
export async function startRecordingBackend(): Promise<RecordingBackend> {
  const requests: RawRequest[] = [];
  const raw = await startRawBackend((socket) => {
    // One listener for the connection's life: pipelined requests are answered in order.
    let buf: Buffer = Buffer.alloc(0);
    socket.on("data", (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      for (let req = parseRawRequest(buf); req !== null; req = parseRawRequest(buf)) {
        buf = req.rest;
        requests.push(req);
        socket.write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
      }
    });
  });
  return {
    requests,
    port: raw.port,
    get connections() {
      return raw.connections;
    },
    close: raw.close,
  };
}

/**
 * Returns a port on 127.0.0.1 that nothing listens on (bound, then released),
 * so connecting to it is refused.
 */
export async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
