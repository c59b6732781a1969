/**
 * The access log's `common` and `combined` formats, as nginx writes them
 * (and Apache's Common Log Format before it), so the tools that read those
 * logs read Gatehouse's:
 *
 *   common    $remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent
 *   combined  common + "$http_referer" "$http_user_agent"
 *
 * As in nginx: the time is the local time with its offset, an unknown text
 * is `-`, and in the quoted texts `"`, `\`, control bytes and bytes from 0x7f
 * up are written `\xHH`.
 *
 * @module
 */

import type { RequestRecord } from "./observe.ts";

/** What nginx escapes in a variable (escape=default): anything but " " to "~" less `"`, `\`. */
const ESCAPE = /[^ !#-[\]-~]/;
const HEX = "0123456789ABCDEF";
const encoder = new TextEncoder();

/**
 * `s` as nginx writes a variable into a log line: `"`, `\`, bytes below 0x20
 * and from 0x7f up as `\xHH` (a text's characters are its bytes; one beyond
 * 0xff, which only a configured text can hold, as its UTF-8 bytes).
 *
 * @example
 * ```ts
 * import { nginxEscaped } from "./access_log_clf.ts";
 * nginxEscaped('a"b'); // "a\\x22b"
 * ```
 */
export function nginxEscaped(s: string): string {
  if (!ESCAPE.test(s)) return s;
  let out = "";
  let from = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x20 && c < 0x7f && c !== 0x22 && c !== 0x5c) continue;
    out += s.slice(from, i);
    from = i + 1;
    if (c <= 0xff) {
      out += `\\x${HEX[c >> 4]}${HEX[c & 15]}`;
      continue;
    }
    // A surrogate pair is one character: both halves go to the encoder together.
    const wide = c >= 0xd800 && c < 0xdc00 && i + 1 < s.length;
    const bytes = encoder.encode(s.slice(i, wide ? i + 2 : i + 1));
    if (wide) from = ++i + 1;
    for (const b of bytes) out += `\\x${HEX[b >> 4]}${HEX[b & 15]}`;
  }
  return out + s.slice(from);
}

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

function two(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

/**
 * `second` (since the epoch) as `$time_local` writes it, at `offsetMinutes`
 * east of UTC: `05/Dec/2026:04:38:19 +0100`.
 */
function localTime(second: number, offsetMinutes: number): string {
  const d = new Date((second + offsetMinutes * 60) * 1000);
  const sign = offsetMinutes < 0 ? "-" : "+";
  const abs = Math.abs(offsetMinutes);
  return `${two(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${
    two(d.getUTCHours())
  }:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())} ${sign}${two(Math.floor(abs / 60))}${
    two(abs % 60)
  }`;
}

// Many requests share a second: its text is made once.
let cachedSecond = NaN;
let cachedOffset = NaN;
let cachedText = "";

/**
 * `ms` (since the epoch) as nginx's `$time_local`, in this process's time
 * zone, or at `offsetMinutes` east of UTC when given.
 *
 * @example
 * ```ts
 * import { clfTime } from "./access_log_clf.ts";
 * clfTime(Date.UTC(2026, 11, 5, 3, 38, 19), 60); // "05/Dec/2026:04:38:19 +0100"
 * ```
 */
export function clfTime(ms: number, offsetMinutes?: number): string {
  const second = Math.floor(ms / 1000);
  if (second === cachedSecond && (offsetMinutes ?? cachedOffset) === cachedOffset) {
    return cachedText;
  }
  const offset = offsetMinutes ?? -new Date(second * 1000).getTimezoneOffset();
  cachedSecond = second;
  cachedOffset = offset;
  cachedText = localTime(second, offset);
  return cachedText;
}

/** A quoted text of a line: escaped, `-` when empty. */
function quoted(s: string): string {
  return s === "" ? "-" : nginxEscaped(s);
}

/**
 * One request in nginx's (and Apache's) common format:
 * `client - - [time] "request line" status body-bytes`; the time is when
 * its head was read.
 *
 * @example
 * ```ts
 * import { commonLine } from "./access_log_clf.ts";
 * import { newRequestRecord } from "./observe.ts";
 * const r = {
 *   ...newRequestRecord(), client: "10.0.0.9", method: "GET", target: "/", protocol: "HTTP/1.1",
 *   status: 200, bodyBytesOut: 13, startedAt: Date.UTC(2026, 11, 5, 3, 38, 19),
 * };
 * commonLine(r, 0); // '10.0.0.9 - - [05/Dec/2026:03:38:19 +0000] "GET / HTTP/1.1" 200 13'
 * ```
 */
export function commonLine(r: Readonly<RequestRecord>, offsetMinutes?: number): string {
  const request = r.method === "" ? "-" : nginxEscaped(`${r.method} ${r.target} ${r.protocol}`);
  return `${r.client} - - [${
    clfTime(r.startedAt, offsetMinutes)
  }] "${request}" ${r.status} ${r.bodyBytesOut}`;
}

/**
 * {@link commonLine} and the request's Referer and User-Agent, quoted:
 * nginx's `combined`.
 *
 * @example
 * ```ts
 * import { combinedLine } from "./access_log_clf.ts";
 * import { newRequestRecord } from "./observe.ts";
 * const r = { ...newRequestRecord(), client: "10.0.0.9", method: "GET", target: "/", userAgent: "curl" };
 * combinedLine(r).endsWith('"-" "curl"'); // true
 * ```
 */
export function combinedLine(r: Readonly<RequestRecord>, offsetMinutes?: number): string {
  return `${commonLine(r, offsetMinutes)} "${quoted(r.referer)}" "${quoted(r.userAgent)}"`;
}
