/**
 * The access log's `json` format: one JSON object per line, its fields
 * named as log pipelines expect them (snake case), its time RFC 3339 in
 * UTC with milliseconds.
 *
 * Strings are escaped so that every line is printable ASCII: a request's
 * texts are its bytes one character each (latin1), so a byte outside
 * printable ASCII becomes `\u00XX` and the bytes can be read back exactly.
 * Lines are written as bytes into a {@link LineBuffer} (log_line.ts).
 *
 * @module
 */

import type { RequestRecord } from "./observe.ts";
import { asciiBytes, LineBuffer } from "./log_line.ts";

/** A buffer for the lines asked for as text (stderr, tests). */
const scratch = new LineBuffer();

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
  scratch.length = 0;
  scratch.jsonString(s);
  return scratch.toText();
}

/** The three digits of each millisecond, made once. */
const MILLIS: readonly string[] = Array.from(
  { length: 1000 },
  (_, i) => String(i).padStart(3, "0"),
);

// Many requests share a second: its text ("2026-12-05T03:38:19.") is made once, and its bytes.
let cachedSecond = NaN;
let cachedPrefix = "";
let cachedBytes: Uint8Array = new Uint8Array(0);

function second(ms: number): number {
  const s = Math.floor(ms / 1000);
  if (s !== cachedSecond) {
    cachedSecond = s;
    cachedPrefix = new Date(s * 1000).toISOString().slice(0, 20);
    cachedBytes = asciiBytes(cachedPrefix);
  }
  return s;
}

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
  const s = second(ms);
  return `${cachedPrefix}${MILLIS[Math.floor(ms - s * 1000)]}Z`;
}

/** `ms` as {@link rfc3339} writes it, into `out`. */
function writeTime(ms: number, out: LineBuffer): void {
  const s = second(ms);
  out.raw(cachedBytes);
  const m = Math.floor(ms - s * 1000);
  out.byte(0x30 + ((m / 100) | 0));
  out.byte(0x30 + (((m / 10) | 0) % 10));
  out.byte(0x30 + (m % 10));
  out.byte(0x5a);
}

const TIME = asciiBytes('{"time":"');
const CLIENT = asciiBytes('","client":');
const METHOD = asciiBytes(',"method":');
const HOST = asciiBytes(',"host":');
const PATH = asciiBytes(',"path":');
const STATUS = asciiBytes(',"status":');
const BYTES_IN = asciiBytes(',"bytes_in":');
const BYTES_OUT = asciiBytes(',"bytes_out":');
const DURATION = asciiBytes(',"duration_ms":');
const UPSTREAM = asciiBytes(',"upstream":');
const TRIES = asciiBytes(',"tries":');
const ROUTE = asciiBytes(',"route":');
const SERVICE = asciiBytes(',"service":');
const GENERATION = asciiBytes(',"generation":');
const REQUEST_ID = asciiBytes(',"request_id":');
const ERROR = asciiBytes(',"error":');

/**
 * One request as a JSON object, written into `out` (no newline): time
 * (when its head was read), client, method, host, path (the request-target
 * as sent), status, bytes_in, bytes_out, duration_ms, upstream, tries,
 * route, service, generation, request_id, and error when the ingress
 * answered with one. Texts that are unknown are "" (upstream when the
 * ingress answered).
 *
 * @example
 * ```ts
 * import { writeJsonLine } from "./access_log_json.ts";
 * import { LineBuffer } from "./log_line.ts";
 * import { newRequestRecord } from "./observe.ts";
 * const out = new LineBuffer();
 * writeJsonLine({ ...newRequestRecord(), method: "GET", status: 200 }, out);
 * JSON.parse(out.toText()).status; // 200
 * ```
 */
export function writeJsonLine(r: Readonly<RequestRecord>, out: LineBuffer): void {
  out.raw(TIME);
  writeTime(r.startedAt, out);
  out.raw(CLIENT);
  out.jsonString(r.client);
  out.raw(METHOD);
  out.jsonString(r.method);
  out.raw(HOST);
  out.jsonString(r.host);
  out.raw(PATH);
  out.jsonString(r.target);
  out.raw(STATUS);
  out.int(r.status);
  out.raw(BYTES_IN);
  out.int(r.bytesIn);
  out.raw(BYTES_OUT);
  out.int(r.bytesOut);
  out.raw(DURATION);
  out.int(r.durationMs);
  out.raw(UPSTREAM);
  out.jsonString(r.upstream);
  out.raw(TRIES);
  out.int(r.tries);
  out.raw(ROUTE);
  out.jsonString(r.route);
  out.raw(SERVICE);
  out.jsonString(r.service);
  out.raw(GENERATION);
  out.int(r.generation);
  out.raw(REQUEST_ID);
  out.jsonString(r.requestId);
  if (r.error !== "") {
    out.raw(ERROR);
    out.jsonString(r.error);
  }
  out.byte(0x7d);
}

/**
 * {@link writeJsonLine}'s line as text.
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
  scratch.length = 0;
  writeJsonLine(r, scratch);
  return scratch.toText();
}
