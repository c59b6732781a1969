/**
 * The access log's `json` format: one JSON object per line, its fields
 * named as log pipelines expect them (snake case), its time RFC 3339 in
 * UTC with milliseconds.
 *
 * Strings are escaped so that every line is printable ASCII: a request's
 * texts are its bytes one character each (latin1), so a byte outside
 * printable ASCII becomes `\u00XX` and the bytes can be read back exactly.
 *
 * @module
 */

import type { RequestRecord } from "./observe.ts";

/** What JSON escapes, and all else outside printable ASCII: anything but " " to "~" less `"`, `\`. */
const ESCAPE = /[^ !#-[\]-~]/;
const HEX = "0123456789abcdef";

/**
 * `s` as a JSON string literal, printable ASCII only.
 *
 * @example
 * ```ts
 * import { jsonString } from "./access_log_json.ts";
 * jsonString('/a"b\\c'); // '"/a\\"b\\\\c"'
 * jsonString("caf\u00e9"); // '"caf\\u00e9"'
 * ```
 */
export function jsonString(s: string): string {
  // Most texts need nothing: one scan, no copy.
  if (!ESCAPE.test(s)) return `"${s}"`;
  let out = '"';
  let from = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x20 && c < 0x7f && c !== 0x22 && c !== 0x5c) continue;
    out += s.slice(from, i);
    from = i + 1;
    if (c === 0x22) out += '\\"';
    else if (c === 0x5c) out += "\\\\";
    else if (c === 0x0a) out += "\\n";
    else if (c === 0x0d) out += "\\r";
    else if (c === 0x09) out += "\\t";
    else out += `\\u${HEX[c >> 12]}${HEX[(c >> 8) & 15]}${HEX[(c >> 4) & 15]}${HEX[c & 15]}`;
  }
  return out + s.slice(from) + '"';
}

/** The three digits of each millisecond, made once. */
const MILLIS: readonly string[] = Array.from(
  { length: 1000 },
  (_, i) => String(i).padStart(3, "0"),
);

// Many requests share a second: its text ("2026-12-05T03:38:19.") is made once.
let cachedSecond = NaN;
let cachedPrefix = "";

/**
 * `ms` (since the epoch) as RFC 3339 in UTC with milliseconds.
 *
 * @example
 * ```ts
 * import { rfc3339 } from "./access_log_json.ts";
 * rfc3339(Date.UTC(2026, 11, 5, 3, 38, 19, 7)); // "2026-12-05T03:38:19.007Z"
 * ```
 */
export function rfc3339(ms: number): string {
  const second = Math.floor(ms / 1000);
  if (second !== cachedSecond) {
    cachedSecond = second;
    cachedPrefix = new Date(second * 1000).toISOString().slice(0, 20);
  }
  return `${cachedPrefix}${MILLIS[Math.floor(ms - second * 1000)]}Z`;
}

/**
 * One request as a JSON object on one line: time (when its head was read),
 * client, method, host, path (the request-target as sent), status,
 * bytes_in, bytes_out, duration_ms, upstream, tries, route, service,
 * generation, request_id, and error when the ingress answered with one.
 * Texts that are unknown are "" (upstream when the ingress answered).
 *
 * @example
 * ```ts
 * import { jsonLine } from "./access_log_json.ts";
 * import { newRequestRecord } from "./observe.ts";
 * const r = { ...newRequestRecord(), client: "10.0.0.9", method: "GET", target: "/api", status: 200 };
 * JSON.parse(jsonLine(r)).status; // 200
 * ```
 */
export function jsonLine(r: Readonly<RequestRecord>): string {
  const line = `{"time":"${rfc3339(r.startedAt)}","client":${jsonString(r.client)},"method":${
    jsonString(r.method)
  },"host":${jsonString(r.host)},"path":${
    jsonString(r.target)
  },"status":${r.status},"bytes_in":${r.bytesIn},"bytes_out":${r.bytesOut},"duration_ms":${r.durationMs},"upstream":${
    jsonString(r.upstream)
  },"tries":${r.tries},"route":${jsonString(r.route)},"service":${
    jsonString(r.service)
  },"generation":${r.generation},"request_id":${jsonString(r.requestId)}`;
  return r.error === "" ? `${line}}` : `${line},"error":${jsonString(r.error)}}`;
}
