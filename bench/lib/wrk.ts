/**
 * wrk command lines and parsing of wrk's text report. Pure: no runtime
 * globals, so it is unit-tested under both Deno and Bun.
 * @module
 */

/** Socket and HTTP errors wrk counted during a run. */
export interface WrkErrors {
  connect: number;
  read: number;
  write: number;
  timeout: number;
  /** Responses whose status was not 2xx or 3xx. */
  non2xx3xx: number;
}

/** The figures of one wrk run, in base units (seconds, bytes). */
export interface WrkResult {
  /** Completed requests. */
  requests: number;
  /** Wall time of the run as wrk reports it, in seconds. */
  durationS: number;
  /** Response bytes read. */
  bytesRead: number;
  /** wrk's `Requests/sec`. */
  requestsPerSec: number;
  /** wrk's `Transfer/sec`, in bytes per second. */
  bytesPerSec: number;
  /** Latency percentiles (from `--latency`) and averages, in seconds. */
  latency: {
    avgS?: number;
    maxS?: number;
    p50S?: number;
    p75S?: number;
    p90S?: number;
    p99S?: number;
  };
  errors: WrkErrors;
}

/** What a wrk invocation should do. */
export interface WrkRequest {
  url: string;
  connections: number;
  threads: number;
  durationS: number;
  /** Extra request headers, as `Name: value`. */
  headers?: readonly string[];
  /** Per-request timeout in seconds (wrk's default of 2 s is short at -c500). */
  timeoutS?: number;
  /** A Lua script for wrk (`-s`), e.g. one that counts responses by status. */
  script?: string;
}

/**
 * The argument list for `wrk` (without the program name).
 *
 * @example
 * ```ts
 * wrkArgs({ url: "http://127.0.0.1:8080/", connections: 50, threads: 1, durationS: 10 });
 * // ["-t1", "-c50", "-d10s", "--latency", "http://127.0.0.1:8080/"]
 * ```
 */
export function wrkArgs(req: WrkRequest): string[] {
  const args = [`-t${req.threads}`, `-c${req.connections}`, `-d${req.durationS}s`];
  if (req.timeoutS !== undefined) args.push("--timeout", `${req.timeoutS}s`);
  for (const header of req.headers ?? []) args.push("-H", header);
  if (req.script !== undefined) args.push("-s", req.script);
  args.push("--latency", req.url);
  return args;
}

// Sub-second units divide (541 / 1e6 rounds to the same double as 541e-6;
// 541 * 1e-6 does not).
const TIME_UNITS: Record<string, (n: number) => number> = {
  us: (n) => n / 1e6,
  ms: (n) => n / 1e3,
  s: (n) => n,
  m: (n) => n * 60,
  h: (n) => n * 3600,
};

/**
 * Parses one of wrk's time figures (`512.34us`, `1.20ms`, `2.00s`, `1.00m`)
 * into seconds.
 *
 * @example
 * ```ts
 * parseWrkTime("1.50ms"); // 0.0015
 * ```
 * @throws {SyntaxError} on text that is not a wrk time.
 */
export function parseWrkTime(text: string): number {
  const m = /^([0-9]+(?:\.[0-9]+)?)(us|ms|s|m|h)$/.exec(text.trim());
  if (!m) throw new SyntaxError(`not a wrk time: ${JSON.stringify(text)}`);
  return TIME_UNITS[m[2]](Number(m[1]));
}

const BINARY_PREFIXES = ["", "K", "M", "G", "T", "P"];

/**
 * Parses one of wrk's byte sizes (`512.00B`, `10.00MB`) into bytes. wrk uses
 * binary prefixes: `1.00MB` is 1 MiB.
 *
 * @example
 * ```ts
 * parseWrkSize("2.00KB"); // 2048
 * ```
 * @throws {SyntaxError} on text that is not a wrk size.
 */
export function parseWrkSize(text: string): number {
  const m = /^([0-9]+(?:\.[0-9]+)?)([KMGTP]?)B$/.exec(text.trim());
  if (!m) throw new SyntaxError(`not a wrk size: ${JSON.stringify(text)}`);
  return Number(m[1]) * 1024 ** BINARY_PREFIXES.indexOf(m[2]);
}

/**
 * Parses wrk's report (stdout of a run with `--latency`).
 *
 * @example
 * ```ts
 * import { parseWrkOutput } from "./wrk.ts";
 * declare const stdout: string;
 * const r = parseWrkOutput(stdout);
 * console.log(r.requestsPerSec, r.latency.p99S);
 * ```
 * @throws {SyntaxError} when the text has no `Requests/sec` line, i.e. wrk
 * did not complete a run.
 */
export function parseWrkOutput(text: string): WrkResult {
  const rps = /^Requests\/sec:\s+([0-9.]+)\s*$/m.exec(text);
  if (!rps) throw new SyntaxError("wrk output has no Requests/sec line");

  const result: WrkResult = {
    requests: 0,
    durationS: 0,
    bytesRead: 0,
    requestsPerSec: Number(rps[1]),
    bytesPerSec: 0,
    latency: {},
    errors: { connect: 0, read: 0, write: 0, timeout: 0, non2xx3xx: 0 },
  };

  const transfer = /^Transfer\/sec:\s+(\S+)\s*$/m.exec(text);
  if (transfer) result.bytesPerSec = parseWrkSize(transfer[1]);

  const total = /^\s*(\d+) requests in (\S+), (\S+) read\s*$/m.exec(text);
  if (total) {
    result.requests = Number(total[1]);
    result.durationS = parseWrkTime(total[2]);
    result.bytesRead = parseWrkSize(total[3]);
  }

  const latency = /^\s*Latency\s+(\S+)\s+\S+\s+(\S+)/m.exec(text);
  if (latency) {
    result.latency.avgS = parseWrkTime(latency[1]);
    result.latency.maxS = parseWrkTime(latency[2]);
  }

  // The "Latency Distribution" block: lines like "     99%    1.20ms".
  for (const m of text.matchAll(/^\s*(50|75|90|99)%\s+(\S+)\s*$/gm)) {
    const key = `p${m[1]}S` as "p50S" | "p75S" | "p90S" | "p99S";
    result.latency[key] = parseWrkTime(m[2]);
  }

  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text);
  if (sock) {
    result.errors.connect = Number(sock[1]);
    result.errors.read = Number(sock[2]);
    result.errors.write = Number(sock[3]);
    result.errors.timeout = Number(sock[4]);
  }
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(text);
  if (non2xx) result.errors.non2xx3xx = Number(non2xx[1]);

  return result;
}

/**
 * Total errors of a run: failed connects, reads, writes, timeouts and
 * non-2xx/3xx responses. A cell with errors is flagged in the report,
 * because a proxy that fails fast can post a flattering req/s.
 *
 * @example
 * ```ts
 * countErrors({ connect: 1, read: 0, write: 0, timeout: 2, non2xx3xx: 3 }); // 6
 * ```
 */
export function countErrors(errors: WrkErrors): number {
  return errors.connect + errors.read + errors.write + errors.timeout + errors.non2xx3xx;
}
