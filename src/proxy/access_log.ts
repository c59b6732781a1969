/**
 * The access log: one line per request, whoever answered it (a replica, or
 * the ingress itself), as an observer of finished requests (observe.ts), in
 * one of four formats: `classic` (Gatehouse's own, below), `json`
 * (access_log_json.ts), `common` and `combined` (nginx's and Apache's,
 * access_log_clf.ts). Where the lines go is the caller's: text lines to a
 * function (stderr), or lines written as bytes into a {@link LineSink}'s
 * buffer (a file: app/log_file.ts), which makes no string per request.
 *
 * @module
 */

import type { RequestObserver, RequestRecord } from "./observe.ts";
import { writeJsonLine } from "./access_log_json.ts";
import { writeCombinedLine, writeCommonLine } from "./access_log_clf.ts";
import { LineBuffer } from "./log_line.ts";

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

/** Where lines are written as bytes: a buffer, told when each line is whole. */
export interface LineSink {
  /** The buffer the next line is written into, at its end. */
  readonly buffer: LineBuffer;
  /** The line written into {@link buffer} since the last call is whole (it has no newline). */
  lineWritten(): void;
}

const WRITERS: Record<AccessLogFormat, (r: Readonly<RequestRecord>, out: LineBuffer) => void> = {
  classic: (r, out) => out.text(accessLogLine(r)),
  json: writeJsonLine,
  common: (r, out) => writeCommonLine(r, out),
  combined: (r, out) => writeCombinedLine(r, out),
};

/**
 * The access log writing each request's line in `format` into `sink`.
 * Only `combined` has the request's Referer and User-Agent read.
 *
 * @example
 * ```ts
 * import { accessLogTo, type LineSink } from "./access_log.ts";
 * declare const file: LineSink;
 * const observer = accessLogTo(file, "json");
 * ```
 */
export function accessLogTo(sink: LineSink, format: AccessLogFormat): RequestObserver {
  const write = WRITERS[format];
  return {
    request(r) {
      write(r, sink.buffer);
      sink.lineWritten();
    },
    readsHeaders: format === "combined",
  };
}

/**
 * The access log handing each request's line in `format` (default
 * `classic`: {@link accessLogLine}) to `write` as text, without its newline.
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
  if (format === "classic") return { request: (r) => write(accessLogLine(r)), readsHeaders: false };
  const buffer = new LineBuffer();
  return accessLogTo({
    buffer,
    lineWritten() {
      const line = buffer.toText();
      buffer.length = 0;
      write(line);
    },
  }, format);
}
