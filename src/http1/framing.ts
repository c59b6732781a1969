/**
 * Message body framing (RFC 9112 section 6): how long a body is, decided once
 * from the head. Request framing is strict, because an ingress that frames a
 * request differently from its backend is a request-smuggling hole.
 *
 * @module
 */

import type { HeadScan } from "./head.ts";
import { FIELD_STRIDE } from "./head.ts";
import { FIELD } from "./fields.ts";

/** How a body is delimited. */
export type Framing =
  | { kind: "none" }
  | { kind: "length"; length: number }
  | { kind: "chunked" }
  | { kind: "close" };

/** A framing error: the message cannot be relayed safely. */
export interface FramingError {
  kind: "error";
  reason: string;
}

const NONE: Framing = { kind: "none" };
const CHUNKED: Framing = { kind: "chunked" };
const CLOSE: Framing = { kind: "close" };
/**
 * The framing {@link requestFramingOf} and {@link responseFramingOf} return
 * for a message with a Content-Length: one object, whose length the next
 * call overwrites (as the next scan overwrites a {@link HeadScan}), so a
 * message costs no allocation. Read it before scanning the next head.
 */
const SCANNED_LENGTH: { kind: "length"; length: number } = { kind: "length", length: 0 };

/** Parse a Content-Length value: 1*DIGIT, at most 15 digits (safe integer). */
function parseLength(value: string): number {
  if (value.length === 0 || value.length > 15) return -1;
  let n = 0;
  for (let i = 0; i < value.length; i++) {
    const d = value.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return -1;
    n = n * 10 + d;
  }
  return n;
}

/** True when the Transfer-Encoding list ends in "chunked" and chunked appears nowhere else. */
function finalChunked(codings: string[]): boolean {
  const last = codings.length - 1;
  for (let i = 0; i < last; i++) if (codings[i] === "chunked") return false;
  return codings[last] === "chunked";
}

/** Trim spaces and tabs only (String#trim also strips obs-text like U+00A0). */
function trimOws(s: string): string {
  let a = 0, b = s.length;
  while (a < b && (s.charCodeAt(a) === 0x20 || s.charCodeAt(a) === 0x09)) a++;
  while (b > a && (s.charCodeAt(b - 1) === 0x20 || s.charCodeAt(b - 1) === 0x09)) b--;
  return a === 0 && b === s.length ? s : s.slice(a, b);
}

interface Collected {
  cl: string[];
  te: string[];
}

const NOTHING: Collected = { cl: [], te: [] };

function addCodings(te: string[], value: string): void {
  for (const part of value.split(",")) te.push(trimOws(part).toLowerCase());
}

/** The length of the only Content-Length in buf[s, e), -1 when invalid (as parseLength). */
function lengthOfBytes(buf: Uint8Array, s: number, e: number): number {
  if (e - s === 0 || e - s > 15) return -1;
  let n = 0;
  for (let i = s; i < e; i++) {
    const d = buf[i] - 48;
    if (d < 0 || d > 9) return -1;
    n = n * 10 + d;
  }
  return n;
}

/**
 * Framing of a scanned head with no Transfer-Encoding and at most one
 * Content-Length (nearly every message), read from the bytes; null when the
 * head has anything else and needs the general rules. `absent` is the framing
 * without either field. A length comes back in {@link SCANNED_LENGTH}.
 */
function simpleFraming(scan: HeadScan, absent: Framing): Framing | FramingError | null {
  const f = scan.fields;
  let at = -1;
  for (let i = 0, o = 5; i < scan.count; i++, o += FIELD_STRIDE) {
    const id = f[o];
    if (id === FIELD.TRANSFER_ENCODING) return null;
    if (id === FIELD.CONTENT_LENGTH) {
      if (at >= 0) return null;
      at = i;
    }
  }
  if (at < 0) return absent;
  const n = lengthOfBytes(scan.buf, f[at * FIELD_STRIDE + 2], f[at * FIELD_STRIDE + 3]);
  if (n < 0) return { kind: "error", reason: "invalid Content-Length" };
  if (n === 0) return NONE;
  SCANNED_LENGTH.length = n;
  return SCANNED_LENGTH;
}

/** Content-Length and Transfer-Encoding values of a scanned head; allocates nothing when neither is present. */
function collectScan(scan: HeadScan): Collected {
  let found: Collected | null = null;
  const f = scan.fields;
  for (let i = 0, o = 5; i < scan.count; i++, o += FIELD_STRIDE) {
    const id = f[o];
    if (id === FIELD.CONTENT_LENGTH) (found ??= { cl: [], te: [] }).cl.push(scan.value(i));
    else if (id === FIELD.TRANSFER_ENCODING) {
      addCodings((found ??= { cl: [], te: [] }).te, scan.value(i));
    }
  }
  return found ?? NOTHING;
}

/**
 * Framing of a request body, from its scanned head. Rejects Content-Length
 * together with Transfer-Encoding, duplicate or malformed Content-Length, and
 * any Transfer-Encoding whose final coding is not chunked. A length framing
 * it returns is overwritten by the next call of this function or of
 * {@link responseFramingOf}: read it at once.
 *
 * @example
 * ```ts
 * import { HeadScan, scanRequestHead } from "./head.ts";
 * import { requestFramingOf } from "./framing.ts";
 * const scan = new HeadScan();
 * const bytes = new TextEncoder().encode("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n");
 * if (scanRequestHead(bytes, 0, bytes.length, { maxSize: 32768 }, scan) === null) {
 *   requestFramingOf(scan); // { kind: "length", length: 5 }
 * }
 * ```
 */
export function requestFramingOf(scan: HeadScan): Framing | FramingError {
  return simpleFraming(scan, NONE) ?? requestFramingFrom(scan.minor, collectScan(scan));
}

function requestFramingFrom(minor: number, { cl, te }: Collected): Framing | FramingError {
  if (te.length > 0) {
    if (cl.length > 0) {
      return { kind: "error", reason: "both Content-Length and Transfer-Encoding" };
    }
    if (minor === 0) return { kind: "error", reason: "Transfer-Encoding in HTTP/1.0" };
    if (!finalChunked(te)) return { kind: "error", reason: "unsupported Transfer-Encoding" };
    return CHUNKED;
  }
  if (cl.length > 1) return { kind: "error", reason: "duplicate Content-Length" };
  if (cl.length === 1) {
    const n = parseLength(cl[0]);
    if (n < 0) return { kind: "error", reason: "invalid Content-Length" };
    return n === 0 ? NONE : { kind: "length", length: n };
  }
  return NONE;
}

/**
 * Framing of a response body, from its scanned head and the request's
 * method. A length framing it returns is overwritten by the next call, as
 * for {@link requestFramingOf}.
 *
 * @example
 * ```ts
 * import { HeadScan, scanResponseHead } from "./head.ts";
 * import { responseFramingOf } from "./framing.ts";
 * const scan = new HeadScan();
 * const bytes = new TextEncoder().encode("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
 * scanResponseHead(bytes, 0, bytes.length, { maxSize: 65536 }, scan);
 * responseFramingOf("GET", scan); // { kind: "chunked" }
 * ```
 */
export function responseFramingOf(method: string, scan: HeadScan): Framing | FramingError {
  const s = scan.status;
  if (method === "HEAD" || s < 200 || s === 204 || s === 304) return NONE;
  return simpleFraming(scan, CLOSE) ?? responseFramingFrom(scan.minor, collectScan(scan));
}

function responseFramingFrom(minor: number, { cl, te }: Collected): Framing | FramingError {
  if (te.length > 0) return finalChunked(te) && minor === 1 ? CHUNKED : CLOSE;
  if (cl.length > 0) {
    const n = parseLength(cl[0]);
    for (let i = 1; i < cl.length; i++) {
      if (cl[i] !== cl[0]) return { kind: "error", reason: "conflicting Content-Length" };
    }
    if (n < 0) return { kind: "error", reason: "invalid Content-Length" };
    return n === 0 ? NONE : { kind: "length", length: n };
  }
  return CLOSE;
}
