/**
 * The observe phase: what one finished request was, handed to those who
 * watch (the access log, metrics, the dashboard's rates). One record per
 * connection, filled in place as a request ends and read synchronously by
 * every observer, so observing allocates nothing per request. With no
 * observer the phase costs one null check.
 *
 * @module
 */

import type { HeadScan } from "../http1/head.ts";
import { FIELD } from "../http1/fields.ts";

/** One finished request, as observers see it (valid only during the call). */
export interface RequestRecord {
  /** When its head was read, in ms since the epoch. */
  startedAt: number;
  /** From its head read to its response sent (or failed), in ms. */
  durationMs: number;
  /** The client's address (the peer's; X-Forwarded-For is the backend's to read). */
  client: string;
  method: string;
  /** The Host header (or an absolute target's authority); "" for none. */
  host: string;
  /** The request-target as sent. */
  target: string;
  /** The status the client got (0: none, the connection ended first). */
  status: number;
  /** Request body bytes read from the client. */
  bytesIn: number;
  /** Response bytes written to the client, head included. */
  bytesOut: number;
  /** Of {@link bytesOut}, the response body's (Apache's `%b`, nginx's `$body_bytes_sent`). */
  bodyBytesOut: number;
  /** The request line's version (`HTTP/1.1`), or "" when the head was not read. */
  protocol: string;
  /** The Referer header, or "": filled only for observers that {@link RequestObserver.readsHeaders}. */
  referer: string;
  /** The User-Agent header, or "": filled only for observers that {@link RequestObserver.readsHeaders}. */
  userAgent: string;
  /** The replica that answered, `host:port`, or "" (the ingress answered). */
  upstream: string;
  /** Connect attempts made (0 when no replica was tried). */
  tries: number;
  /** The route that matched, as written (`shop.example.com/api:api`), or "". */
  route: string;
  /** Its service, or "". */
  service: string;
  /** The configuration generation that routed it. */
  generation: number;
  /** Its X-Request-Id (made into text only when read: metrics never do). */
  readonly requestId: string;
  /** The kind of failure the ingress answered with (`NoRoute`, `UpstreamFailed`, ...), or "". */
  error: string;
}

/**
 * A fresh record, whose `requestId` reads `id` (the connection's current
 * request id) when asked.
 *
 * @example
 * ```ts
 * import { newRequestRecord } from "./observe.ts";
 * const r = newRequestRecord({ text: "9f86d081884c7d65-1" });
 * r.status = 200;
 * r.requestId; // "9f86d081884c7d65-1"
 * ```
 */
export function newRequestRecord(id: { readonly text: string } = { text: "" }): RequestRecord {
  return {
    startedAt: 0,
    durationMs: 0,
    client: "",
    method: "",
    host: "",
    target: "",
    status: 0,
    bytesIn: 0,
    bytesOut: 0,
    bodyBytesOut: 0,
    protocol: "",
    referer: "",
    userAgent: "",
    upstream: "",
    tries: 0,
    route: "",
    service: "",
    generation: 0,
    get requestId() {
      return id.text;
    },
    error: "",
  };
}

/**
 * A request begins: what the last one left in `r` goes, and it starts now
 * on `generation`, with what the head said (`host`).
 *
 * @example
 * ```ts
 * import { newRequestRecord, startRecord } from "./observe.ts";
 * startRecord(newRequestRecord(), "example.com", 3);
 * ```
 */
export function startRecord(r: RequestRecord, host: string, generation: number): void {
  r.startedAt = Date.now();
  r.host = host;
  r.generation = generation;
  r.bytesIn = 0;
  r.bytesOut = 0;
  r.bodyBytesOut = 0;
  r.protocol = "";
  r.referer = "";
  r.userAgent = "";
  r.upstream = "";
  r.tries = 0;
  r.route = "";
  r.service = "";
  r.error = "";
}

/**
 * What a request's head says that observers may read: its version, and
 * (`headers`) its Referer and User-Agent, which cost two field lookups and
 * are read only for an observer that {@link RequestObserver.readsHeaders}.
 *
 * @example
 * ```ts
 * import { newRequestRecord, readRecordHead } from "./observe.ts";
 * import { HeadScan, scanRequestHead } from "../http1/head.ts";
 * const scan = new HeadScan();
 * const bytes = new TextEncoder().encode("GET / HTTP/1.1\r\nHost: a\r\nUser-Agent: curl\r\n\r\n");
 * scanRequestHead(bytes, 0, bytes.length, { maxSize: 32768 }, scan);
 * const r = newRequestRecord();
 * readRecordHead(r, scan, true); // r.protocol === "HTTP/1.1", r.userAgent === "curl"
 * ```
 */
export function readRecordHead(r: RequestRecord, scan: HeadScan, headers: boolean): void {
  r.protocol = scan.minor === 1 ? "HTTP/1.1" : "HTTP/1.0";
  if (!headers) return;
  const referer = scan.find(FIELD.REFERER);
  r.referer = referer < 0 ? "" : scan.value(referer);
  const agent = scan.find(FIELD.USER_AGENT);
  r.userAgent = agent < 0 ? "" : scan.value(agent);
}

/**
 * The length of the body in `response`, a whole answer the ingress made
 * (head, empty line, body), for {@link RequestRecord.bodyBytesOut}.
 *
 * @example
 * ```ts
 * import { answerBodyLength } from "./observe.ts";
 * answerBodyLength(new TextEncoder().encode("HTTP/1.1 404 Not Found\r\n\r\nno")); // 2
 * ```
 */
export function answerBodyLength(response: Uint8Array): number {
  for (let i = 3; i < response.length; i++) {
    if (
      response[i] === 0x0a && response[i - 1] === 0x0d && response[i - 2] === 0x0a &&
      response[i - 3] === 0x0d
    ) return response.length - i - 1;
  }
  return 0;
}

/** Hears every finished request. */
export interface RequestObserver {
  /** `record` is reused for the connection's next request: read it now, keep nothing of it. */
  request(record: Readonly<RequestRecord>): void;
  /**
   * It reads {@link RequestRecord.referer} and {@link RequestRecord.userAgent},
   * which are filled only when some observer does (they cost two field lookups).
   */
  readonly readsHeaders?: boolean;
}

/**
 * Several observers as one (null for none, the one itself for one).
 *
 * @example
 * ```ts
 * import { observers, type RequestObserver } from "./observe.ts";
 * declare const log: RequestObserver, metrics: RequestObserver;
 * const observe = observers([log, metrics]);
 * ```
 */
export function observers(list: readonly RequestObserver[]): RequestObserver | null {
  if (list.length === 0) return null;
  if (list.length === 1) return list[0];
  return {
    request: (r) => list.forEach((o) => o.request(r)),
    readsHeaders: list.some((o) => o.readsHeaders === true),
  };
}
