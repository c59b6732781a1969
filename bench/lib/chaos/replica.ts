/**
 * The chaos benchmark's replicas: one nginx process each, whose faults are
 * switched by files it checks on every request, and whose access log tells
 * when each request reached it. Pure: configuration text and log parsing.
 * @module
 */

import { type NginxFiles, nginxHttpCommon, nginxMainContext, nginxString } from "../nginx.ts";
import { SLOW_REPLY_S } from "./faults.ts";
import type { ArrivalTally } from "./arrivals.ts";

/** A replica's files, all inside its nginx prefix. */
export interface ReplicaPaths {
  /** The access log, one line per request ({@link REPLICA_LOG_FORMAT}). */
  accessLog: string;
  /** While this file exists, the replica answers every request with 500. */
  answer500: string;
  /** While this file exists, the replica answers every request after {@link SLOW_REPLY_S} s. */
  answerSlow: string;
  /** While this file exists, the replica is not ready: 503 to every request. */
  answer503: string;
}

/**
 * The files of the replica whose nginx prefix is `prefix`.
 *
 * @example
 * ```ts
 * replicaPaths("/tmp/r1").answer500; // "/tmp/r1/answer-500"
 * ```
 */
export function replicaPaths(prefix: string): ReplicaPaths {
  const dir = prefix.replace(/\/$/, "");
  return {
    accessLog: `${dir}/access.log`,
    answer500: `${dir}/answer-500`,
    answerSlow: `${dir}/answer-slow`,
    answer503: `${dir}/answer-503`,
  };
}

/**
 * What the replica logs per request: when the line was written (seconds,
 * millisecond precision), how long the request took, the status, the
 * request's size in bytes and its method and target. The arrival is the
 * first two subtracted, so a slow answer counts when it was asked for.
 */
export const REPLICA_LOG_FORMAT =
  "$msec $request_time $status $request_length $request_method $request_uri";

/** How one replica is configured. */
export interface ReplicaOptions extends NginxFiles {
  port: number;
  /** The body of a healthy answer to GET /. */
  smallBody: string;
  /** Absolute path of nginx's echo module (`echo_sleep`, which waits without blocking). */
  echoModule: string;
}

/**
 * The replica's nginx.conf: a single process (`master_process off`, so a
 * signal to it stops the whole replica), GET / answered at once with
 * `smallBody`, `/health` for haproxy's checks, and the two fault switches.
 * The switches are files tested per request rather than a configuration
 * swapped in with SIGHUP: a reload leaves requests on open keep-alive
 * connections under the old configuration, and the proxies keep theirs open.
 *
 * @example
 * ```ts
 * import { replicaConfig } from "./replica.ts";
 * const conf = replicaConfig({
 *   prefix: "/tmp/r1", pidFile: "/tmp/r1/nginx.pid", errorLog: "/tmp/r1/error.log",
 *   port: 18080, smallBody: "hello, world\n",
 *   echoModule: "/usr/lib/nginx/modules/ngx_http_echo_module.so",
 * });
 * ```
 */
export function replicaConfig(o: ReplicaOptions): string {
  const paths = replicaPaths(o.prefix);
  const body = nginxString(o.smallBody);
  return `${nginxMainContext(o, { singleProcess: true, modules: [o.echoModule] })}
http {
${nginxHttpCommon(o)}
  log_format chaos '${REPLICA_LOG_FORMAT}';
  server {
    listen 127.0.0.1:${o.port} backlog=4096;
    # Buffered: a write per request would cost the load core more than the
    # replica's answer; flushed within 100 ms and when nginx exits.
    access_log ${paths.accessLog} chaos buffer=64k flush=100ms;
    default_type text/plain;
    # The fault switches, for every location.
    if (-f ${paths.answer500}) {
      return 500;
    }
    if (-f ${paths.answer503}) {
      return 503;
    }
    if (-f ${paths.answerSlow}) {
      rewrite ^ /__slow last;
    }
    location = / {
      return 200 ${body};
    }
    location = /health {
      return 200 "ok\\n";
    }
    location = /__slow {
      internal;
      echo_sleep ${SLOW_REPLY_S};
      echo -n ${body};
    }
  }
}
`;
}

/** One line of a replica's access log. */
export interface LogEntry {
  /** When the request reached the replica, in ms since the epoch. */
  arrivalMs: number;
  status: number;
  /** Request line and header bytes (what a proxy sent for it). */
  requestLength: number;
  method: string;
  target: string;
}

/**
 * Reads one access log line; `undefined` for a line of another shape.
 *
 * @example
 * ```ts
 * parseLogLine("1700000002.500 2.000 200 250 GET /")?.arrivalMs; // 1700000000500
 * ```
 */
export function parseLogLine(line: string): LogEntry | undefined {
  const f = line.trim().split(" ");
  if (f.length !== 6) return undefined;
  const [msec, took, status, length] = f.slice(0, 4).map(Number);
  if (![msec, took, status, length].every(Number.isFinite)) return undefined;
  return {
    arrivalMs: Math.round(msec * 1000 - took * 1000),
    status,
    requestLength: length,
    method: f[4],
    target: f[5],
  };
}

/** Whether a logged request is one of the load's (wrk's GET /, not a health check). */
function isLoad(e: LogEntry): boolean {
  return e.method === "GET" && e.target === "/";
}

/**
 * Adds every load request of a replica's access log to `tally`, and counts
 * the load requests' sizes into `sizes` (size in bytes -> requests).
 *
 * @example
 * ```ts
 * import { ArrivalTally } from "./arrivals.ts";
 * import { tallyAccessLog } from "./replica.ts";
 * const tally = new ArrivalTally({ startMs: 0, faultMs: 3000, endMs: 12000 });
 * const sizes = new Map<number, number>();
 * tallyAccessLog("4.000 0.000 200 250 GET /\n4.100 0.000 200 20 GET /health\n", tally, sizes);
 * tally.count().afterFault; // 1
 * ```
 */
export function tallyAccessLog(
  text: string,
  tally: ArrivalTally,
  sizes: Map<number, number>,
): void {
  let from = 0;
  while (from < text.length) {
    let to = text.indexOf("\n", from);
    if (to < 0) to = text.length;
    const entry = parseLogLine(text.slice(from, to));
    from = to + 1;
    if (entry === undefined || !isLoad(entry)) continue;
    tally.add(entry.arrivalMs);
    sizes.set(entry.requestLength, (sizes.get(entry.requestLength) ?? 0) + 1);
  }
}

/**
 * The most common value of a size histogram: the size of the proxy's
 * request (its request id varies by a few bytes); `undefined` when empty.
 *
 * @example
 * ```ts
 * commonest(new Map([[250, 9], [251, 3]])); // 250
 * ```
 */
export function commonest(sizes: ReadonlyMap<number, number>): number | undefined {
  let best: number | undefined;
  let bestCount = 0;
  for (const [size, count] of sizes) {
    if (count > bestCount) [best, bestCount] = [size, count];
  }
  return best;
}
