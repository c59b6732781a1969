/**
 * A route's request rules: what the ingress does to a request the route
 * matched before (or instead of) sending it to the route's service. Built
 * and validated with the route (src/config/route_entry.ts); read by the
 * request-rules phase of the proxy. Types only, and the empty rule set.
 *
 * @module
 */

/** Edits to a message's header fields, applied in the order remove, set, add. */
export interface HeaderEdits {
  /** Field names (lower case) removed. */
  readonly remove: readonly string[];
  /** Fields set: every field of that name is replaced by this one. */
  readonly set: readonly (readonly [name: string, value: string])[];
  /** Fields added beside any of the same name. */
  readonly add: readonly (readonly [name: string, value: string])[];
}

/** Per-route limits on how long each party may take; absent: the ingress's own. */
export interface RouteTimeouts {
  readonly connectMs?: number;
  /** Time for a backend to start its response (`--upstream-timeout`). */
  readonly upstreamMs?: number;
  /** One try's wait for its first byte (`--try-timeout`). */
  readonly tryMs?: number;
  /** Longest pause in a backend's response (`--upstream-read-timeout`). */
  readonly upstreamReadMs?: number;
  /** Longest pause in a client's request body (`--body-timeout`). */
  readonly bodyMs?: number;
}

/** A response the ingress gives itself, with no backend. */
export interface FixedResponse {
  readonly status: number;
  readonly body: string;
  readonly contentType: string;
}

/** A redirect of plain-HTTP requests to HTTPS. */
export interface HttpsRedirect {
  /** 301, 302, 307 or 308. */
  readonly status: number;
  /** The TLS listener's port (443 is left out of the Location). */
  readonly port: number;
}

/** What a route does to the requests it matches (every field optional in the file). */
export interface RouteRules {
  /** Strip the matched prefix ("/api/x" -> "/x") and send X-Forwarded-Prefix: /api. */
  readonly stripPrefix: boolean;
  /** Replace the matched prefix ("/api/x" -> "/v2/x" for "/v2"), or null. */
  readonly replacePrefix: string | null;
  /** Edits to the request head sent to the backend, or null. */
  readonly requestHeaders: HeaderEdits | null;
  /** Edits to the response head sent to the client, or null. */
  readonly responseHeaders: HeaderEdits | null;
  /** Per-route timeouts, over the ingress's. */
  readonly timeouts: RouteTimeouts | null;
  /** Connect attempts for this route's requests (`--retries`), or null: the service's. */
  readonly retries: number | null;
  /** Largest request body in bytes; longer gets 413. Null: no limit. */
  readonly maxBodyBytes: number | null;
  /** Plain-HTTP requests are redirected to HTTPS, or null. */
  readonly redirectHttps: HttpsRedirect | null;
  /** Answer every request with this and send nothing to a backend, or null. */
  readonly respond: FixedResponse | null;
}

/** A route that only forwards. */
export const NO_RULES: RouteRules = Object.freeze({
  stripPrefix: false,
  replacePrefix: null,
  requestHeaders: null,
  responseHeaders: null,
  timeouts: null,
  retries: null,
  maxBodyBytes: null,
  redirectHttps: null,
  respond: null,
});
