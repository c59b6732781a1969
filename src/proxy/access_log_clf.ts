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
 * up are written `\xHH`. (A Referer or User-Agent sent empty is `"-"` here,
 * `""` in nginx's line.) Lines are written as bytes into a
 * {@link LineBuffer} (log_line.ts).
 *
 * @module
 */

import type { RequestRecord } from "./observe.ts";
import { asciiBytes, LineBuffer } from "./log_line.ts";

/** A buffer for the lines asked for as text (stderr, tests). */
const scratch = new LineBuffer();

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
  scratch.length = 0;
  scratch.nginxText(s);
  return scratch.toText();
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

// Many requests share a second: its text is made once, and its bytes.
let cachedSecond = NaN;
let cachedOffset = NaN;
let cachedText = "";
let cachedBytes: Uint8Array = new Uint8Array(0);

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
  cachedBytes = asciiBytes(cachedText);
  return cachedText;
}

const DASHES = asciiBytes(" - - [");
const REQUEST = asciiBytes('] "');
const STATUS = asciiBytes('" ');
const NONE = asciiBytes('"-"');

/** A quoted text of a line: escaped, `-` when empty. */
function quoted(s: string, out: LineBuffer): void {
  if (s === "") return out.raw(NONE);
  out.byte(0x22);
  out.nginxText(s);
  out.byte(0x22);
}

/**
 * One request in nginx's (and Apache's) common format, written into `out`
 * (no newline): `client - - [time] "request line" status body-bytes`; the
 * time is when its head was read, in this process's time zone (or at
 * `offsetMinutes` east of UTC).
 *
 * @example
 * ```ts
 * import { writeCommonLine } from "./access_log_clf.ts";
 * import { LineBuffer } from "./log_line.ts";
 * import { newRequestRecord } from "./observe.ts";
 * const out = new LineBuffer();
 * writeCommonLine({ ...newRequestRecord(), client: "10.0.0.9", status: 400 }, out, 0);
 * out.toText(); // '10.0.0.9 - - [01/Jan/1970:00:00:00 +0000] "-" 400 0'
 * ```
 */
export function writeCommonLine(
  r: Readonly<RequestRecord>,
  out: LineBuffer,
  offsetMinutes?: number,
): void {
  out.text(r.client);
  out.raw(DASHES);
  clfTime(r.startedAt, offsetMinutes);
  out.raw(cachedBytes);
  out.raw(REQUEST);
  if (r.method === "") out.byte(0x2d);
  else {
    out.nginxText(r.method);
    out.byte(0x20);
    out.nginxText(r.target);
    out.byte(0x20);
    out.nginxText(r.protocol);
  }
  out.raw(STATUS);
  out.int(r.status);
  out.byte(0x20);
  out.int(r.bodyBytesOut);
}

/**
 * {@link writeCommonLine} and the request's Referer and User-Agent, quoted
 * (`"-"` for none): nginx's `combined`.
 *
 * @example
 * ```ts
 * import { writeCombinedLine } from "./access_log_clf.ts";
 * import { LineBuffer } from "./log_line.ts";
 * import { newRequestRecord } from "./observe.ts";
 * const out = new LineBuffer();
 * writeCombinedLine({ ...newRequestRecord(), method: "GET", userAgent: "curl" }, out);
 * out.toText().endsWith('"-" "curl"'); // true
 * ```
 */
export function writeCombinedLine(
  r: Readonly<RequestRecord>,
  out: LineBuffer,
  offsetMinutes?: number,
): void {
  writeCommonLine(r, out, offsetMinutes);
  out.byte(0x20);
  quoted(r.referer, out);
  out.byte(0x20);
  quoted(r.userAgent, out);
}

/**
 * {@link writeCommonLine}'s line as text.
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
  scratch.length = 0;
  writeCommonLine(r, scratch, offsetMinutes);
  return scratch.toText();
}

/**
 * {@link writeCombinedLine}'s line as text.
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
  scratch.length = 0;
  writeCombinedLine(r, scratch, offsetMinutes);
  return scratch.toText();
}
