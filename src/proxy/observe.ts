/**
 * The observe phase: what one finished request was, handed to those who
 * watch (the access log, metrics, the dashboard's rates). One record per
 * connection, filled in place as a request ends and read synchronously by
 * every observer, so observing allocates nothing per request. With no
 * observer the phase costs one null check.
 *
 * @module
 */

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
  r.upstream = "";
  r.tries = 0;
  r.route = "";
  r.service = "";
  r.error = "";
}

/** Hears every finished request. */
export interface RequestObserver {
  /** `record` is reused for the connection's next request: read it now, keep nothing of it. */
  request(record: Readonly<RequestRecord>): void;
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
  return { request: (r) => list.forEach((o) => o.request(r)) };
}
