/**
 * What can go wrong with a request, as values with a kind, and the one place
 * where each kind becomes an HTTP status and a short text body.
 *
 * @module
 */

import { textResponse } from "../http1/serialize.ts";

/** Every error the ingress answers itself. */
export type ProxyError =
  | { kind: "BadRequest"; reason: string }
  | { kind: "HeadTooLarge" }
  | { kind: "HeadTimeout" }
  | { kind: "BodyTimeout" }
  | { kind: "NoRoute"; host: string; path: string }
  | { kind: "NoReplicas"; service: string }
  | { kind: "RegistryFailed"; service: string; reason: string }
  | { kind: "UpstreamFailed"; service: string; attempts: number; reason: string }
  | { kind: "UpstreamTimeout"; service: string }
  | { kind: "TooManyConnections" }
  | { kind: "ShuttingDown" };

/** The HTTP status each error kind maps to. */
export const STATUS: Record<ProxyError["kind"], number> = {
  BadRequest: 400,
  HeadTooLarge: 431,
  HeadTimeout: 408,
  BodyTimeout: 408,
  NoRoute: 404,
  NoReplicas: 503,
  RegistryFailed: 503,
  UpstreamFailed: 502,
  UpstreamTimeout: 504,
  TooManyConnections: 503,
  ShuttingDown: 503,
};

/** The short text body a user sees for an error. */
export function errorBody(e: ProxyError): string {
  switch (e.kind) {
    case "BadRequest":
      return `bad request: ${e.reason}\n`;
    case "HeadTooLarge":
      return "request header fields too large\n";
    case "HeadTimeout":
      return "request timeout: the request head did not arrive in time\n";
    case "BodyTimeout":
      return "request timeout: the request body stalled\n";
    case "NoRoute":
      return `no route for "${e.host}${e.path}"\n`;
    case "NoReplicas":
      return `no live replica for service "${e.service}"\n`;
    case "RegistryFailed":
      return `registry unavailable for service "${e.service}": ${e.reason}\n`;
    case "UpstreamFailed":
      return `bad gateway: service "${e.service}" failed after ${e.attempts} attempt${
        e.attempts === 1 ? "" : "s"
      }: ${e.reason}\n`;
    case "UpstreamTimeout":
      return `gateway timeout: service "${e.service}" did not answer in time\n`;
    case "TooManyConnections":
      return "service unavailable: too many connections\n";
    case "ShuttingDown":
      return "service unavailable: shutting down\n";
  }
}

/**
 * The full response bytes for an error.
 *
 * @example
 * ```ts
 * import { errorResponse } from "./errors.ts";
 * const bytes = errorResponse({ kind: "NoReplicas", service: "api" }, false, false);
 * ```
 */
export function errorResponse(e: ProxyError, close: boolean, headOnly: boolean): Uint8Array {
  return textResponse(STATUS[e.kind], errorBody(e), close, headOnly);
}
