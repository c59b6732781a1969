/**
 * Responses by status, as the client saw them: wrk alone counts only
 * "Non-2xx or 3xx responses", so a small Lua script counts each status and
 * prints the counts after wrk's report. Pure: the script's text and the
 * parsing of what it prints, and the client-visible errors of a run.
 * @module
 */

import type { WrkErrors } from "../wrk.ts";

/**
 * The wrk script (`wrk -s`): counts every response's status in its thread
 * and, when the run is done, prints one `status <code> <count>` line per
 * status. A `response` function makes wrk parse each response's headers
 * for it: the same extra work on the load core for every proxy.
 */
export const STATUS_SCRIPT = `-- Counts responses by status (bench/lib/chaos/statuses.ts).
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  statuses = {}
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("statuses")) do
      io.write(string.format("status %d %d\\n", status, count))
    end
  end
end
`;

/**
 * The status counts the script printed (status -> responses), summed over
 * threads.
 *
 * @example
 * ```ts
 * parseStatusLines("Requests/sec: 1.0\nstatus 200 90\nstatus 502 3\n"); // { "200": 90, "502": 3 }
 * ```
 */
export function parseStatusLines(text: string): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const m of text.matchAll(/^status (\d{3}) (\d+)\s*$/gm)) {
    counts[m[1]] = (counts[m[1]] ?? 0) + Number(m[2]);
  }
  return counts;
}

/** The client-visible errors of one run, by kind. */
export type ErrorsByKind = Record<string, number>;

/**
 * The client-visible errors of a run: every response status outside
 * 200-399 by its code, and wrk's socket errors (`connect`, `read`, `write`,
 * `timeout`: a response later than wrk's `--timeout`) by kind; kinds with
 * none are left out.
 *
 * @example
 * ```ts
 * clientErrors({ "200": 90, "504": 2 }, { connect: 0, read: 1, write: 0, timeout: 0, non2xx3xx: 2 });
 * // { "504": 2, read: 1 }
 * ```
 */
export function clientErrors(statuses: Record<string, number>, socket: WrkErrors): ErrorsByKind {
  const errors: ErrorsByKind = {};
  for (const [status, count] of Object.entries(statuses)) {
    const code = Number(status);
    if ((code < 200 || code > 399) && count > 0) errors[status] = count;
  }
  for (const kind of ["connect", "read", "write", "timeout"] as const) {
    if (socket[kind] > 0) errors[kind] = socket[kind];
  }
  return errors;
}

/**
 * The sum of a run's errors.
 *
 * @example
 * ```ts
 * totalErrors({ "504": 2, read: 1 }); // 3
 * ```
 */
export function totalErrors(errors: ErrorsByKind): number {
  return Object.values(errors).reduce((a, b) => a + b, 0);
}
