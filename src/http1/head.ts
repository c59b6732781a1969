/**
 * Sans-I/O parsing of HTTP/1.x message heads (RFC 9112), strict by default.
 *
 * Bytes in, a {@link HeadScan} (byte offsets of the head's parts) or a
 * precise reason to reject out. No socket, no runtime object, and nothing
 * decoded that the engine does not ask for.
 *
 * @module
 */

import { FIELD_NAMES, type FieldId, fieldId, lowerAscii } from "./fields.ts";
import { latin1 } from "./latin1.ts";

/** Characters allowed in a token (RFC 9110 tchar). */
const TCHAR = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") {
  TCHAR[c.charCodeAt(0)] = 1;
}

/** Bytes allowed in a field value: VCHAR, obs-text, SP, HTAB. */
const VALUE = new Uint8Array(256);
for (let b = 0x20; b < 256; b++) VALUE[b] = b === 0x7f ? 0 : 1;
VALUE[0x09] = 1;

/** Bytes allowed in a request-target: visible ASCII only. */
const TARGET = new Uint8Array(256);
for (let b = 0x21; b < 0x7f; b++) TARGET[b] = 1;

/** Options for head parsing. */
export interface HeadLimits {
  /** Largest head accepted, in bytes (request line/status line included). */
  maxSize: number;
  /** Most header fields accepted. */
  maxFields?: number;
}

/** A rejected head. */
export interface HeadError {
  kind: "error";
  status: number;
  reason: string;
}

// ---------------------------------------------------------------------------
// The scan: a head validated and indexed by byte offsets
// ---------------------------------------------------------------------------

/** Ints per field in {@link HeadScan.fields}. */
export const FIELD_STRIDE = 6;

/**
 * A validated head as byte offsets into the buffer it was found in: what the
 * proxy works from, so a request or response crosses the ingress without its
 * head being decoded to strings or re-encoded. One instance is reused for
 * many heads; its contents are valid until the next scan into it.
 *
 * @example
 * ```ts
 * const scan = new HeadScan();
 * const bytes = new TextEncoder().encode("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
 * if (scanRequestHead(bytes, 0, bytes.length, { maxSize: 32768 }, scan) === null) {
 *   console.log(scan.count, scan.size); // 1 27
 * }
 * ```
 */
export class HeadScan {
  /** The buffer scanned. */
  buf: Uint8Array = new Uint8Array(0);
  /** Where the head's first line starts (after empty lines skipped before a request). */
  from = 0;
  /** Just past the empty line that ends the head. */
  end = 0;
  /** Bytes the head took from the scan's start (leading empty lines included). */
  size = 0;
  /** Some byte was >= 0x80 (obs-text). */
  high = false;
  /** 0 for HTTP/1.0, 1 for HTTP/1.1. */
  minor = 0;
  /** End of the first line (request line or status line), CRLF excluded. */
  lineEnd = 0;
  /** Request: end of the method; the target is [targetStart, targetEnd). */
  methodEnd = 0;
  targetStart = 0;
  targetEnd = 0;
  /** Response: the status code. */
  status = 0;
  /** Number of fields. */
  count = 0;
  /**
   * Per field, {@link FIELD_STRIDE} ints: line start, name end, value start,
   * value end (surrounding whitespace excluded), line end, {@link FIELD} id.
   */
  fields: Int32Array = new Int32Array(FIELD_STRIDE * 32);
  /** Line boundaries found by the line pass: [start, end) pairs, first line included. */
  lines: Int32Array = new Int32Array(2 * 33);
  lineCount = 0;

  /** Index of the first field with this id, or -1. */
  find(id: FieldId): number {
    const f = this.fields;
    for (let i = 0, o = 5; i < this.count; i++, o += FIELD_STRIDE) if (f[o] === id) return i;
    return -1;
  }

  /** The id of field `i`. */
  id(i: number): FieldId {
    return this.fields[i * FIELD_STRIDE + 5];
  }

  /** The value of field `i` as text. */
  value(i: number): string {
    const o = i * FIELD_STRIDE;
    return latin1(this.buf, this.fields[o + 2], this.fields[o + 3], this.high);
  }

  /** The lower-case name of field `i`. */
  name(i: number): string {
    const o = i * FIELD_STRIDE;
    const id = this.fields[o + 5];
    if (id !== 0) return FIELD_NAMES[id];
    return lowerAscii(latin1(this.buf, this.fields[o], this.fields[o + 1], false));
  }

  /** The request method (common ones without allocating). */
  method(): string {
    const b = this.buf, s = this.from, n = this.methodEnd - s;
    if (n === 3 && b[s] === 0x47 && b[s + 1] === 0x45 && b[s + 2] === 0x54) return "GET";
    if (n === 4 && b[s] === 0x48 && b[s + 1] === 0x45 && b[s + 2] === 0x41 && b[s + 3] === 0x44) {
      return "HEAD";
    }
    if (n === 4 && b[s] === 0x50 && b[s + 1] === 0x4f && b[s + 2] === 0x53 && b[s + 3] === 0x54) {
      return "POST";
    }
    return latin1(b, s, this.methodEnd, false);
  }

  /** The request-target exactly as sent (visible ASCII only). */
  target(): string {
    return latin1(this.buf, this.targetStart, this.targetEnd, false);
  }

  /** Make room for `lines` line boundaries. */
  reserveLines(lines: number): void {
    if (this.lines.length < 2 * lines) {
      const grown = new Int32Array(Math.max(2 * lines, this.lines.length * 2));
      grown.set(this.lines);
      this.lines = grown;
    }
  }
}

const INCOMPLETE_SCAN = { kind: "incomplete" } as const;

/** Outcome of a scan: null when the head is complete and valid (the scan is filled in). */
export type ScanResult = null | typeof INCOMPLETE_SCAN | HeadError;

const TOO_LARGE = 1;

/**
 * Find the head's lines in buf[start, end) and record their [start, end)
 * offsets (CRLF excluded) in the scan. Returns the offset just past the empty
 * line, -1 when more bytes are needed, or a reason for bare CR / bare LF, or
 * TOO_LARGE's negative.
 */
function scanLines(
  buf: Uint8Array,
  start: number,
  end: number,
  maxSize: number,
  scan: HeadScan,
): number | string {
  let lineStart = start;
  let high = false;
  let n = 0;
  let lines = scan.lines;
  const limit = Math.min(end, start + maxSize);
  for (let i = start; i < limit; i++) {
    const b = buf[i];
    if (b === 0x0d) {
      if (i + 1 >= end) return -1;
      if (buf[i + 1] !== 0x0a) return "bare CR in head";
      // The whole head, its final CRLF included, must fit in maxSize.
      if (i + 2 - start > maxSize) return -2 - TOO_LARGE;
      if (i === lineStart) {
        scan.lineCount = n >> 1;
        scan.high = high;
        return i + 2;
      }
      if (n + 2 > lines.length) {
        scan.reserveLines((n >> 1) + 16);
        lines = scan.lines;
      }
      lines[n++] = lineStart;
      lines[n++] = i;
      i++;
      lineStart = i + 1;
    } else if (b === 0x0a) {
      return "bare LF in head";
    } else if (b >= 0x80) {
      high = true;
    }
  }
  if (end - start >= maxSize) return -2 - TOO_LARGE;
  return -1;
}

/** Skip the empty lines a client may send before a request line (RFC 9112 2.2). */
function skipLeadingCrlf(buf: Uint8Array, start: number, end: number): number {
  while (start + 1 < end && buf[start] === 0x0d && buf[start + 1] === 0x0a) start += 2;
  return start;
}

/** Validate and index the field lines (every line after the first); an error reason or null. */
function scanFields(buf: Uint8Array, scan: HeadScan, maxFields: number): string | null {
  const count = scan.lineCount - 1;
  if (count > maxFields) return "too many header fields";
  if (scan.fields.length < count * FIELD_STRIDE) {
    scan.fields = new Int32Array(
      Math.max(count, scan.fields.length / FIELD_STRIDE * 2) *
        FIELD_STRIDE,
    );
  }
  const lines = scan.lines;
  const f = scan.fields;
  let o = 0;
  for (let l = 1; l <= count; l++) {
    const ls = lines[2 * l], le = lines[2 * l + 1];
    const first = buf[ls];
    if (first === 0x20 || first === 0x09) return "obsolete line folding";
    let i = ls;
    while (i < le && TCHAR[buf[i]] === 1) i++;
    if (i === ls || i >= le || buf[i] !== 0x3a) return "invalid header field name";
    const nameEnd = i;
    i++;
    while (i < le && (buf[i] === 0x20 || buf[i] === 0x09)) i++;
    const vs = i;
    let ve = le;
    for (let j = vs; j < le; j++) {
      if (VALUE[buf[j]] !== 1) return "invalid character in header value";
    }
    while (ve > vs && (buf[ve - 1] === 0x20 || buf[ve - 1] === 0x09)) ve--;
    f[o] = ls;
    f[o + 1] = nameEnd;
    f[o + 2] = vs;
    f[o + 3] = ve;
    f[o + 4] = le;
    f[o + 5] = fieldId(buf, ls, nameEnd);
    o += FIELD_STRIDE;
  }
  scan.count = count;
  return null;
}

/** Lower-case ASCII without allocating when already lower case. */

/** Parse "HTTP/1.x" at buf[i..i+8); returns the minor version or -1. */
function parseVersion(buf: Uint8Array, i: number): number {
  if (
    buf[i] !== 0x48 || buf[i + 1] !== 0x54 || buf[i + 2] !== 0x54 || buf[i + 3] !== 0x50 ||
    buf[i + 4] !== 0x2f || buf[i + 5] !== 0x31 || buf[i + 6] !== 0x2e
  ) return -1;
  const m = buf[i + 7];
  return m === 0x31 ? 1 : m === 0x30 ? 0 : -1;
}

function requestError(status: number, reason: string): HeadError {
  return { kind: "error", status, reason };
}

/**
 * Validate and index a request head in buf[start, end) into `scan`. Returns
 * null when it is complete and valid, `{ kind: "incomplete" }` when more bytes
 * are needed, or the error (400, or 431 when too large).
 *
 * @example
 * ```ts
 * const scan = new HeadScan();
 * const bytes = new TextEncoder().encode("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
 * scanRequestHead(bytes, 0, bytes.length, { maxSize: 32768 }, scan); // null
 * scan.method(); // "GET"
 * ```
 */
export function scanRequestHead(
  buf: Uint8Array,
  start: number,
  end: number,
  limits: HeadLimits,
  scan: HeadScan,
): ScanResult {
  const from = skipLeadingCrlf(buf, start, end);
  const headEnd = scanLines(buf, from, end, limits.maxSize, scan);
  if (headEnd === -1) return INCOMPLETE_SCAN;
  if (typeof headEnd === "string") return requestError(400, headEnd);
  if (headEnd < 0) return requestError(431, "request header fields too large");
  if (scan.lineCount === 0) return requestError(400, "empty request line");
  // Request line: method SP target SP HTTP/1.x
  const lines = scan.lines;
  const rs = lines[0], re = lines[1];
  let i = rs;
  while (i < re && TCHAR[buf[i]] === 1) i++;
  if (i === rs || buf[i] !== 0x20) return requestError(400, "invalid method");
  const methodEnd = i++;
  const ts = i;
  while (i < re && TARGET[buf[i]] === 1) i++;
  if (i === ts || buf[i] !== 0x20) return requestError(400, "invalid request target");
  const targetEnd = i++;
  if (re - i !== 8) return requestError(400, "invalid HTTP version");
  const minor = parseVersion(buf, i);
  if (minor < 0) return requestError(400, "unsupported HTTP version");
  scan.buf = buf;
  const fieldError = scanFields(buf, scan, limits.maxFields ?? 256);
  if (fieldError !== null) {
    return requestError(fieldError === "too many header fields" ? 431 : 400, fieldError);
  }
  scan.from = from;
  scan.end = headEnd;
  scan.size = headEnd - start;
  scan.minor = minor;
  scan.lineEnd = re;
  scan.methodEnd = methodEnd;
  scan.targetStart = ts;
  scan.targetEnd = targetEnd;
  scan.status = 0;
  return null;
}

function responseError(reason: string): HeadError {
  return { kind: "error", status: 502, reason };
}

/**
 * Validate and index a response head in buf[start, end) into `scan` (errors
 * carry status 502: the backend misbehaved).
 *
 * @example
 * ```ts
 * const scan = new HeadScan();
 * const bytes = new TextEncoder().encode("HTTP/1.1 204 No Content\r\n\r\n");
 * scanResponseHead(bytes, 0, bytes.length, { maxSize: 65536 }, scan); // null
 * scan.status; // 204
 * ```
 */
export function scanResponseHead(
  buf: Uint8Array,
  start: number,
  end: number,
  limits: HeadLimits,
  scan: HeadScan,
): ScanResult {
  const headEnd = scanLines(buf, start, end, limits.maxSize, scan);
  if (headEnd === -1) return INCOMPLETE_SCAN;
  if (typeof headEnd === "string") return responseError(`backend sent ${headEnd}`);
  if (headEnd < 0) return responseError("backend sent too large");
  if (scan.lineCount === 0) return responseError("empty status line");
  const lines = scan.lines;
  const rs = lines[0], re = lines[1];
  const minor = re - rs >= 12 ? parseVersion(buf, rs) : -1;
  if (minor < 0 || buf[rs + 8] !== 0x20) return responseError("invalid status line");
  let status = 0;
  for (let i = rs + 9; i < rs + 12; i++) {
    const d = buf[i] - 0x30;
    if (d < 0 || d > 9) return responseError("invalid status code");
    status = status * 10 + d;
  }
  if (status < 100 || (re > rs + 12 && buf[rs + 12] !== 0x20)) {
    return responseError("invalid status code");
  }
  for (let i = rs + 13; i < re; i++) {
    if (VALUE[buf[i]] !== 1) return responseError("invalid reason phrase");
  }
  scan.buf = buf;
  const fieldError = scanFields(buf, scan, limits.maxFields ?? 256);
  if (fieldError !== null) return responseError(fieldError);
  scan.from = start;
  scan.end = headEnd;
  scan.size = headEnd - start;
  scan.minor = minor;
  scan.lineEnd = re;
  scan.status = status;
  return null;
}
