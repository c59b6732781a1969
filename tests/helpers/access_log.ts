/**
 * What the access log end-to-end tests share: a JSON line's shape, the
 * lines of a file (each one a whole JSON object, or the test fails), waits
 * for them, the stderr lines about the file, and the listening sockets of
 * a process.
 *
 * @module
 */

import assert from "node:assert/strict";
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { sleep } from "./backends.ts";
import type { Gatehouse } from "./gatehouse.ts";

/** One JSON access log line. */
export interface Line {
  time: string;
  client: string;
  method: string;
  host: string;
  path: string;
  status: number;
  bytes_in: number;
  bytes_out: number;
  duration_ms: number;
  upstream: string;
  tries: number;
  route: string;
  service: string;
  generation: number;
  request_id: string;
  error?: string;
}

/** A `time` field: RFC 3339 in UTC with milliseconds. */
export const RFC3339_MS = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

/**
 * The file's lines, each parsed (a line that is no whole JSON object fails
 * the test); none when the file is missing.
 *
 * @example
 * ```ts
 * import { linesOf } from "./access_log.ts";
 * const statuses = (await linesOf("/tmp/access.log")).map((l) => l.status);
 * ```
 */
export async function linesOf(path: string): Promise<Line[]> {
  const text = await readFile(path, "utf8").catch(() => "");
  if (text === "") return [];
  assert.ok(text.endsWith("\n"), "the file ends with a whole line");
  return text.slice(0, -1).split("\n").map((l) => {
    try {
      return JSON.parse(l) as Line;
    } catch {
      return assert.fail(`not a whole JSON line: ${JSON.stringify(l)}`);
    }
  });
}

/**
 * Polls until `check` holds (every 50 ms), or fails after `ms` with `what`.
 *
 * @example
 * ```ts
 * import { existsSync } from "node:fs";
 * import { until } from "./access_log.ts";
 * await until("the file", 5_000, () => Promise.resolve(existsSync("/tmp/access.log")));
 * ```
 */
export async function until(
  what: string,
  ms: number,
  check: () => Promise<boolean>,
): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(50);
  }
}

/**
 * The file's lines once it has `n` (and, a few flushes later, still `n`).
 *
 * @example
 * ```ts
 * import { hasLines } from "./access_log.ts";
 * const [line] = await hasLines("/tmp/access.log", 1);
 * ```
 */
export async function hasLines(path: string, n: number): Promise<Line[]> {
  await until(`${n} lines in ${path}`, 5_000, async () => (await linesOf(path)).length >= n);
  await sleep(300);
  const lines = await linesOf(path);
  assert.equal(lines.length, n, JSON.stringify(lines.map((l) => `${l.method} ${l.path}`)));
  return lines;
}

/**
 * The stderr lines of `gh` that speak of the access log file.
 *
 * @example
 * ```ts
 * import { fileNotes } from "./access_log.ts";
 * import type { Gatehouse } from "./gatehouse.ts";
 * declare const gh: Gatehouse;
 * fileNotes(gh).length; // 0 while the file is written
 * ```
 */
export function fileNotes(gh: Gatehouse): string[] {
  return gh.stderr.split("\n").filter((l) => l.startsWith("gatehouse: access log "));
}

/**
 * Whether process `pid` has a TCP socket listening on `port` (Linux /proc:
 * its descriptors' socket inodes against the listening sockets' table).
 *
 * @example
 * ```ts
 * import { listensOn } from "./access_log.ts";
 * listensOn(1234, 9229); // a debugger port?
 * ```
 */
export function listensOn(pid: number, port: number): boolean {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.add(m[1]);
    } catch {
      // Closed meanwhile.
    }
  }
  const hexPort = port.toString(16).toUpperCase().padStart(4, "0");
  for (const table of ["tcp", "tcp6"]) {
    const rows = readFileSync(`/proc/${pid}/net/${table}`, "utf8").trim().split("\n").slice(1);
    for (const row of rows) {
      const f = row.trim().split(/\s+/);
      // local address, state (0A: LISTEN), inode.
      if (f[1].endsWith(`:${hexPort}`) && f[3] === "0A" && inodes.has(f[9])) return true;
    }
  }
  return false;
}

/**
 * The X-Request-Id of a raw response.
 *
 * @example
 * ```ts
 * import { idOf } from "./access_log.ts";
 * idOf("HTTP/1.1 200 OK\r\nX-Request-Id: abc-1\r\n\r\n"); // "abc-1"
 * ```
 */
export function idOf(text: string): string {
  return /\r\nX-Request-Id: (\S+)\r\n/i.exec(text)?.[1] ?? assert.fail(`no id in ${text}`);
}
