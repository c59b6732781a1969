/**
 * What can go wrong with a request, as values with a kind, and the one place
 * where each kind becomes an HTTP status, a short text body and, for the
 * failures behind the ingress, a log line.
 *
 * Errors for the client, details for the operator: a 5xx body says what kind
 * of failure it was and the request's id, never a replica's address or a
 * backend's error text (they tell a client about the network behind the
 * ingress). Those go to the log line, under the same id; `--debug-errors`
 * puts them back into the body, for development.
 *
 * @module
 */

import { textResponse } from "../http1/serialize.ts";
import { formatHostPort } from "../net/address.ts";
import type { Replica } from "../registry/types.ts";

/** Every error the ingress answers itself. */
export type ProxyError =
  | { kind: "BadRequest"; reason: string }
  | { kind: "HeadTooLarge" }
  | { kind: "HeadTimeout" }
  | { kind: "BodyTimeout" }
  /** The request body is over its route's `max-body`. */
  | { kind: "BodyTooLarge" }
  | { kind: "NoRoute"; host: string; path: string }
  | { kind: "NoReplicas"; service: string }
  | { kind: "RegistryFailed"; service: string; reason: string }
  /** `reason`: each attempt's replica and error, in order. */
  | { kind: "UpstreamFailed"; service: string; attempts: number; reason: string }
  | { kind: "BadResponse"; service: string; replica: Replica | null; reason: string }
  | { kind: "UpstreamTimeout"; service: string; replica: Replica | null }
  | { kind: "TooManyConnections" }
  | { kind: "ShuttingDown" };

/** The HTTP status each error kind maps to. */
export const STATUS: Record<ProxyError["kind"], number> = {
  BadRequest: 400,
  HeadTooLarge: 431,
  HeadTimeout: 408,
  BodyTimeout: 408,
  BodyTooLarge: 413,
  NoRoute: 404,
  NoReplicas: 503,
  RegistryFailed: 503,
  UpstreamFailed: 502,
  BadResponse: 502,
  UpstreamTimeout: 504,
  TooManyConnections: 503,
  ShuttingDown: 503,
};

/**
 * The short text body a user sees for an error: the kind of failure, and
 * for a 5xx the request id; with `debug`, the operator's details on a
 * second line.
 *
 * @example
 * ```ts
 * import { errorBody } from "./errors.ts";
 * errorBody({ kind: "NoReplicas", service: "api" }, "9f86d081884c7d65-7");
 * // "service unavailable: no live replica is registered (request id 9f86d081884c7d65-7)\n"
 * ```
 */
export function errorBody(e: ProxyError, id: string, debug = false): string {
  const what = clientText(e);
  if (STATUS[e.kind] < 500) return what + "\n";
  const details = debug ? failureDetails(e) : null;
  return `${what} (request id ${id})\n` + (details !== null ? details + "\n" : "");
}

/** What the client is told. */
function clientText(e: ProxyError): string {
  switch (e.kind) {
    case "BadRequest":
      return `bad request: ${e.reason}`;
    case "HeadTooLarge":
      return "request header fields too large";
    case "HeadTimeout":
      return "request timeout: the request head did not arrive in time";
    case "BodyTimeout":
      return "request timeout: the request body stalled";
    case "BodyTooLarge":
      return "content too large: the request body is longer than this route accepts";
    case "NoRoute":
      return `no route for "${e.host}${e.path}"`;
    case "NoReplicas":
      return "service unavailable: no live replica is registered";
    case "RegistryFailed":
      return "service unavailable: the registry failed";
    case "UpstreamFailed":
      return "bad gateway: every replica tried failed";
    case "BadResponse":
      return "bad gateway: the backend sent an invalid response";
    case "UpstreamTimeout":
      return "gateway timeout: the backend did not answer in time";
    case "TooManyConnections":
      return "service unavailable: too many connections";
    case "ShuttingDown":
      return "service unavailable: shutting down";
  }
}

/**
 * What the operator is told about a failure behind the ingress (the
 * service, replicas' addresses, their errors), or null for the errors that
 * are the client's or the ingress's own.
 *
 * @example
 * ```ts
 * import { failureDetails } from "./errors.ts";
 * failureDetails({ kind: "UpstreamTimeout", service: "api", replica: { host: "::1", port: 81 } });
 * // 'service "api": [::1]:81 did not answer in time'
 * ```
 */
export function failureDetails(e: ProxyError): string | null {
  switch (e.kind) {
    case "NoReplicas":
      return `no live replica for service "${e.service}"`;
    case "RegistryFailed":
      return `registry unavailable for service "${e.service}": ${e.reason}`;
    case "UpstreamFailed":
      return `service "${e.service}" failed after ${e.attempts} attempt${
        e.attempts === 1 ? "" : "s"
      }: ${e.reason}`;
    case "BadResponse":
      return `service "${e.service}": invalid response from ${replicaText(e.replica)}: ${e.reason}`;
    case "UpstreamTimeout":
      return `service "${e.service}": ${replicaText(e.replica)} did not answer in time`;
    default:
      return null;
  }
}

function replicaText(r: Replica | null): string {
  return r === null ? "(no replica)" : formatHostPort(r.host, r.port);
}

/**
 * The log line of a failure behind the ingress (see {@link failureDetails}),
 * or null for other errors: one per failed request, under its id.
 *
 * @example
 * ```ts
 * import { failureLogLine } from "./errors.ts";
 * failureLogLine({ kind: "NoReplicas", service: "api" }, "9f86d081884c7d65-7", "GET", "/api/x");
 * // 'request 9f86d081884c7d65-7 "GET /api/x": 503 no live replica for service "api"'
 * ```
 */
export function failureLogLine(
  e: ProxyError,
  id: string,
  method: string,
  target: string,
): string | null {
  const details = failureDetails(e);
  if (details === null) return null;
  return `request ${id} "${method} ${target}": ${STATUS[e.kind]} ${details}`;
}

/**
 * The full response bytes for an error, with the request's id as
 * X-Request-Id.
 *
 * @example
 * ```ts
 * import { errorResponse } from "./errors.ts";
 * const bytes = errorResponse({ kind: "NoReplicas", service: "api" }, false, false, "9f86-1");
 * ```
 */
export function errorResponse(
  e: ProxyError,
  close: boolean,
  headOnly: boolean,
  id: string,
  debug = false,
): Uint8Array {
  return textResponse(
    STATUS[e.kind],
    errorBody(e, id, debug),
    close,
    headOnly,
    `X-Request-Id: ${id}\r\n`,
  );
}
