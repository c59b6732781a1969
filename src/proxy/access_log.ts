/**
 * The access log: one line per request, whoever answered it (a replica, or
 * the ingress itself), as an observer of finished requests (observe.ts).
 *
 * @module
 */

import type { RequestObserver, RequestRecord } from "./observe.ts";

/**
 * `peer "METHOD target" status service replica request-id gN`, `-` for
 * what is unknown. The request id is the X-Request-Id the client and the
 * backend saw, and the one a failure's log line names; N is the generation
 * of the configuration that routed the request.
 *
 * @example
 * ```ts
 * import { accessLogLine } from "./access_log.ts";
 * import { newRequestRecord } from "./observe.ts";
 * const r = { ...newRequestRecord(), client: "10.0.0.9", method: "GET", target: "/api", status: 200 };
 * accessLogLine({ ...r, service: "api", upstream: "10.0.0.7:8081", requestId: "9f86d081884c7d65-7", generation: 3 });
 * // '10.0.0.9 "GET /api" 200 api 10.0.0.7:8081 9f86d081884c7d65-7 g3'
 * ```
 */
export function accessLogLine(r: Readonly<RequestRecord>): string {
  return `${r.client} "${r.method || "-"} ${r.target || "-"}" ${r.status} ${r.service || "-"} ${
    r.upstream || "-"
  } ${r.requestId} g${r.generation}`;
}

/**
 * The access log writing {@link accessLogLine}s with `write`.
 *
 * @example
 * ```ts
 * import { accessLog } from "./access_log.ts";
 * const observer = accessLog((line) => console.error(`gatehouse: ${line}`));
 * ```
 */
export function accessLog(write: (line: string) => void): RequestObserver {
  return { request: (r) => write(accessLogLine(r)) };
}
