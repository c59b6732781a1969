/**
 * The access log: one line per request, whoever answered it (a replica, or
 * the ingress itself), as an observer of finished requests (observe.ts), in
 * one of four formats: `classic` (Gatehouse's own, below), `json`
 * (access_log_json.ts), `common` and `combined` (nginx's and Apache's,
 * access_log_clf.ts). Where the lines go is the caller's (stderr, or a file:
 * app/log_file.ts).
 *
 * @module
 */

import type { RequestObserver, RequestRecord } from "./observe.ts";
import { jsonLine } from "./access_log_json.ts";
import { combinedLine, commonLine } from "./access_log_clf.ts";

/** The formats `--access-log-format` takes. */
export const ACCESS_LOG_FORMATS = ["classic", "json", "common", "combined"] as const;

/** One of {@link ACCESS_LOG_FORMATS}. */
export type AccessLogFormat = typeof ACCESS_LOG_FORMATS[number];

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

const LINES: Record<AccessLogFormat, (r: Readonly<RequestRecord>) => string> = {
  classic: accessLogLine,
  json: jsonLine,
  common: (r) => commonLine(r),
  combined: (r) => combinedLine(r),
};

/**
 * The access log writing each request's line in `format` (default
 * `classic`: {@link accessLogLine}) with `write`, without its newline.
 * Only `combined` has the request's Referer and User-Agent read.
 *
 * @example
 * ```ts
 * import { accessLog } from "./access_log.ts";
 * const observer = accessLog((line) => console.error(`gatehouse: ${line}`), "json");
 * ```
 */
export function accessLog(
  write: (line: string) => void,
  format: AccessLogFormat = "classic",
): RequestObserver {
  const line = LINES[format];
  return { request: (r) => write(line(r)), readsHeaders: format === "combined" };
}
