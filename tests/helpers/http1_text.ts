/**
 * Heads as objects and text, for tests: parse a head into fields, and run
 * the engine's byte-level builders and framing rules over such fields. Each
 * function goes through the same scanner and builders the proxy uses
 * (src/http1/, src/proxy/), so a test written against text checks the
 * shipped code path.
 *
 * @module
 */

import {
  FIELD_STRIDE,
  type HeadLimits,
  HeadScan,
  scanRequestHead,
  scanResponseHead,
} from "../../src/http1/head.ts";
import { FIELD_NAMES } from "../../src/http1/fields.ts";
import { latin1 } from "../../src/http1/latin1.ts";
import {
  type Framing,
  type FramingError,
  requestFramingOf,
  responseFramingOf,
} from "../../src/http1/framing.ts";
import { ConnectionTokens } from "../../src/http1/connection_tokens.ts";
import { encodeHead } from "../../src/http1/serialize.ts";
import { type ClientInfo, upstreamHeadBytes } from "../../src/proxy/forwarded.ts";
import { downstreamHeadBytes } from "../../src/proxy/response_head.ts";
import type { RequestId } from "../../src/proxy/request_id.ts";

/** One header field as received. */
export interface Field {
  /** Lower-cased field name, for lookups. */
  name: string;
  /** Field value with surrounding whitespace removed. */
  value: string;
  /** The whole line as sent, without CRLF (name case preserved): forwarded verbatim. */
  line: string;
}

/** A parsed request head. */
export interface RequestHead {
  method: string;
  /** The request-target exactly as sent. */
  target: string;
  /** 0 for HTTP/1.0, 1 for HTTP/1.1. */
  minor: number;
  fields: Field[];
  /** True when some byte was >= 0x80 (obs-text): re-encode as latin1, not UTF-8. */
  highBytes: boolean;
}

/** A parsed response head. */
export interface ResponseHead {
  status: number;
  reason: string;
  minor: number;
  fields: Field[];
  highBytes: boolean;
}

/** Outcome of a parse attempt. */
export type ParseResult<T> =
  | { kind: "incomplete" }
  | { kind: "error"; status: number; reason: string }
  | { kind: "done"; head: T; size: number };

const INCOMPLETE = { kind: "incomplete" } as const;

function lowerAscii(s: string): string {
  return s.replace(/[A-Z]/g, (c) => String.fromCharCode(c.charCodeAt(0) | 0x20));
}

/** The fields of a scan as objects (names lower-cased, lines verbatim). */
function fieldsOf(scan: HeadScan, text: string): Field[] {
  const out: Field[] = new Array(scan.count);
  const f = scan.fields;
  const base = scan.from;
  for (let i = 0, o = 0; i < scan.count; i++, o += FIELD_STRIDE) {
    const id = f[o + 5];
    out[i] = {
      name: id !== 0 ? FIELD_NAMES[id] : lowerAscii(text.slice(f[o] - base, f[o + 1] - base)),
      value: text.slice(f[o + 2] - base, f[o + 3] - base),
      line: text.slice(f[o] - base, f[o + 4] - base),
    };
  }
  return out;
}

const scratch = new HeadScan();

/**
 * Parse a request head from buf[start, end).
 *
 * @example
 * ```ts
 * const bytes = new TextEncoder().encode("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
 * const r = parseRequestHead(bytes, 0, bytes.length, { maxSize: 32768 });
 * if (r.kind === "done") console.log(r.head.method, r.size);
 * ```
 */
export function parseRequestHead(
  buf: Uint8Array,
  start: number,
  end: number,
  limits: HeadLimits,
): ParseResult<RequestHead> {
  const scan = scratch;
  const r = scanRequestHead(buf, start, end, limits, scan);
  if (r !== null) return r.kind === "incomplete" ? INCOMPLETE : r;
  const text = latin1(buf, scan.from, scan.end, scan.high);
  const from = scan.from;
  return {
    kind: "done",
    size: scan.size,
    head: {
      method: text.slice(0, scan.methodEnd - from),
      target: text.slice(scan.targetStart - from, scan.targetEnd - from),
      minor: scan.minor,
      fields: fieldsOf(scan, text),
      highBytes: scan.high,
    },
  };
}

/**
 * Parse a response head from buf[start, end).
 *
 * @example
 * ```ts
 * const bytes = new TextEncoder().encode("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
 * const r = parseResponseHead(bytes, 0, bytes.length, { maxSize: 65536 });
 * if (r.kind === "done") console.log(r.head.status);
 * ```
 */
export function parseResponseHead(
  buf: Uint8Array,
  start: number,
  end: number,
  limits: HeadLimits,
): ParseResult<ResponseHead> {
  const scan = scratch;
  const r = scanResponseHead(buf, start, end, limits, scan);
  if (r !== null) return r.kind === "incomplete" ? INCOMPLETE : r;
  const text = latin1(buf, start, scan.end, scan.high);
  const rs = start, re = scan.lineEnd;
  return {
    kind: "done",
    size: scan.size,
    head: {
      status: scan.status,
      reason: re > rs + 13 ? text.slice(rs + 13 - start, re - start) : "",
      minor: scan.minor,
      fields: fieldsOf(scan, text),
      highBytes: scan.high,
    },
  };
}

/** {@link requestFramingOf} of a parsed request head. */
export function requestFraming(head: RequestHead): Framing | FramingError {
  const scan = rescan(`${head.method} ${head.target} HTTP/1.${head.minor}`, head.fields, false);
  return requestFramingOf(scan);
}

/** {@link responseFramingOf} of a parsed response head. */
export function responseFraming(method: string, head: ResponseHead): Framing | FramingError {
  const status = String(head.status).padStart(3, "0");
  const scan = rescan(`HTTP/1.${head.minor} ${status} ${head.reason}`, head.fields, true);
  return responseFramingOf(method, scan);
}

/** Re-scan parsed field lines under a placeholder first line, so the byte builders apply. */
function rescan(firstLine: string, fields: Field[], response: boolean): HeadScan {
  let text = firstLine + "\r\n";
  for (const f of fields) text += f.line + "\r\n";
  text += "\r\n";
  const bytes = encodeHead(text, true);
  const scan = new HeadScan();
  const limits = { maxSize: bytes.length + 1, maxFields: fields.length };
  const r = response
    ? scanResponseHead(bytes, 0, bytes.length, limits, scan)
    : scanRequestHead(bytes, 0, bytes.length, limits, scan);
  if (r !== null) throw new TypeError(`fields do not form a valid head: ${JSON.stringify(r)}`);
  return scan;
}

function text(bytes: Uint8Array): string {
  return latin1(bytes, 0, bytes.length, true);
}

/** Names listed in Connection headers (lower case), or null when there are none. */
export function connectionTokens(fields: Field[]): Set<string> | null {
  let tokens: Set<string> | null = null;
  for (let i = 0; i < fields.length; i++) {
    if (fields[i].name !== "connection") continue;
    tokens ??= new Set();
    for (const t of fields[i].value.split(",")) {
      const v = t.trim().toLowerCase();
      if (v) tokens.add(v);
    }
  }
  return tokens;
}

/**
 * Build the request head sent to the backend (always HTTP/1.1, persistent),
 * as text, from parsed fields: {@link upstreamHeadBytes} for callers holding
 * {@link Field}s (without a request id unless `requestId` is given).
 *
 * @example
 * ```ts
 * import { type RequestHead, upstreamRequestHead } from "./http1_text.ts";
 * declare const head: RequestHead;
 * const info = {
 *   peer: "127.0.0.1", proto: "http", trusted: false, local: "127.0.0.1:9090", via: "gatehouse",
 * };
 * const text = upstreamRequestHead("GET", "/x", head.fields, "example.com", info, null);
 * ```
 */
export function upstreamRequestHead(
  method: string,
  target: string,
  fields: Field[],
  host: string,
  info: ClientInfo,
  upgrade: string | null,
  requestId: RequestId | null = null,
): string {
  const scan = rescan("GET / HTTP/1.1", fields, false);
  const conn = new ConnectionTokens().read(scan);
  return text(upstreamHeadBytes(scan, conn, method, target, host, info, upgrade, requestId));
}

/**
 * Build the response head sent to the client, as text, from a parsed head:
 * {@link downstreamHeadBytes} for callers holding a {@link ResponseHead}
 * (without a request id unless `requestId` is given).
 *
 * @example
 * ```ts
 * import { downstreamResponseHead, type ResponseHead } from "./http1_text.ts";
 * declare const head: ResponseHead;
 * const text = downstreamResponseHead(head, "close", null);
 * ```
 */
export function downstreamResponseHead(
  res: ResponseHead,
  connection: "close" | "keep-alive" | "upgrade" | null,
  upgrade: string | null,
  dropTransferEncoding = false,
  requestId: RequestId | null = null,
): string {
  const status = String(res.status).padStart(3, "0");
  const scan = rescan(`HTTP/1.${res.minor} ${status} ${res.reason}`, res.fields, true);
  const conn = new ConnectionTokens().read(scan);
  return text(
    downstreamHeadBytes(scan, conn, connection, upgrade, requestId, dropTransferEncoding),
  );
}
