/**
 * Sans-I/O parsing of HTTP/1.x message heads (RFC 9112), strict by default.
 *
 * Bytes in, a parsed head (or a precise reason to reject) out. No socket, no
 * runtime object. The head is validated byte by byte and then decoded to one
 * latin1 string, so every field is a cheap slice of it and byte offsets equal
 * string offsets.
 *
 * @module
 */

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

const asciiDecoder = new TextDecoder();

/** Decode bytes as latin1 (one char per byte), fast when all are ASCII. */
export function latin1(buf: Uint8Array, start: number, end: number, high: boolean): string {
  if (!high) return asciiDecoder.decode(buf.subarray(start, end));
  let s = "";
  for (let i = start; i < end; i += 4096) {
    s += String.fromCharCode(...buf.subarray(i, Math.min(end, i + 4096)));
  }
  return s;
}

/** Options for head parsing. */
export interface HeadLimits {
  /** Largest head accepted, in bytes (request line/status line included). */
  maxSize: number;
  /** Most header fields accepted. */
  maxFields?: number;
}

type Lines = { error: string } | { lines: number[]; end: number; high: boolean } | null;

/**
 * Find the head's lines in buf[start, end): returns the [start, end) offsets of
 * every line (CRLF excluded) and the offset just past the empty line, null
 * when more bytes are needed, or an error for bare CR / bare LF / CTL misuse.
 */
function scanLines(buf: Uint8Array, start: number, end: number, maxSize: number): Lines {
  const lines: number[] = [];
  let lineStart = start;
  let high = false;
  const limit = Math.min(end, start + maxSize);
  for (let i = start; i < limit; i++) {
    const b = buf[i];
    if (b === 0x0d) {
      if (i + 1 >= end) return null;
      if (buf[i + 1] !== 0x0a) return { error: "bare CR in head" };
      // The whole head, its final CRLF included, must fit in maxSize.
      if (i + 2 - start > maxSize) return { error: "too large" };
      if (i === lineStart) return { lines, end: i + 2, high };
      lines.push(lineStart, i);
      i++;
      lineStart = i + 1;
    } else if (b === 0x0a) {
      return { error: "bare LF in head" };
    } else if (b >= 0x80) {
      high = true;
    }
  }
  if (end - start >= maxSize) return { error: "too large" };
  return null;
}

/** Skip the empty lines a client may send before a request line (RFC 9112 2.2). */
function skipLeadingCrlf(buf: Uint8Array, start: number, end: number): number {
  while (start + 1 < end && buf[start] === 0x0d && buf[start + 1] === 0x0a) start += 2;
  return start;
}

/** Parse fields from lines[2..]; returns an error reason or the fields. */
function parseFields(
  buf: Uint8Array,
  text: string,
  base: number,
  lines: number[],
  maxFields: number,
): Field[] | string {
  const fields: Field[] = [];
  if ((lines.length >> 1) - 1 > maxFields) return "too many header fields";
  for (let l = 2; l < lines.length; l += 2) {
    const ls = lines[l], le = lines[l + 1];
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
    const name = text.slice(ls - base, nameEnd - base);
    fields.push({
      name: lowerAscii(name),
      value: text.slice(vs - base, ve - base),
      line: text.slice(ls - base, le - base),
    });
  }
  return fields;
}

/** Lower-case ASCII without allocating when already lower case. */
function lowerAscii(s: string): string {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 65 && c <= 90) return s.toLowerCase();
  }
  return s;
}

/** Parse "HTTP/1.x" at buf[i..i+8); returns the minor version or -1. */
function parseVersion(buf: Uint8Array, i: number): number {
  if (
    buf[i] !== 0x48 || buf[i + 1] !== 0x54 || buf[i + 2] !== 0x54 || buf[i + 3] !== 0x50 ||
    buf[i + 4] !== 0x2f || buf[i + 5] !== 0x31 || buf[i + 6] !== 0x2e
  ) return -1;
  const m = buf[i + 7];
  return m === 0x31 ? 1 : m === 0x30 ? 0 : -1;
}

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
  const from = skipLeadingCrlf(buf, start, end);
  const scan = scanLines(buf, from, end, limits.maxSize);
  if (scan === null) return INCOMPLETE;
  if ("error" in scan) {
    return scan.error === "too large"
      ? { kind: "error", status: 431, reason: "request header fields too large" }
      : { kind: "error", status: 400, reason: scan.error };
  }
  const { lines } = scan;
  if (lines.length === 0) return { kind: "error", status: 400, reason: "empty request line" };
  // Request line: method SP target SP HTTP/1.x
  const rs = lines[0], re = lines[1];
  let i = rs;
  while (i < re && TCHAR[buf[i]] === 1) i++;
  if (i === rs || buf[i] !== 0x20) return { kind: "error", status: 400, reason: "invalid method" };
  const methodEnd = i++;
  const ts = i;
  while (i < re && TARGET[buf[i]] === 1) i++;
  if (i === ts || buf[i] !== 0x20) {
    return { kind: "error", status: 400, reason: "invalid request target" };
  }
  const targetEnd = i++;
  if (re - i !== 8) return { kind: "error", status: 400, reason: "invalid HTTP version" };
  const minor = parseVersion(buf, i);
  if (minor < 0) return { kind: "error", status: 400, reason: "unsupported HTTP version" };
  const text = latin1(buf, from, scan.end, scan.high);
  const fields = parseFields(buf, text, from, lines, limits.maxFields ?? 256);
  if (typeof fields === "string") {
    return {
      kind: "error",
      status: fields === "too many header fields" ? 431 : 400,
      reason: fields,
    };
  }
  return {
    kind: "done",
    size: scan.end - start,
    head: {
      method: text.slice(0, methodEnd - from),
      target: text.slice(ts - from, targetEnd - from),
      minor,
      fields,
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
  const scan = scanLines(buf, start, end, limits.maxSize);
  if (scan === null) return INCOMPLETE;
  if ("error" in scan) return { kind: "error", status: 502, reason: `backend sent ${scan.error}` };
  const { lines } = scan;
  if (lines.length === 0) return { kind: "error", status: 502, reason: "empty status line" };
  const rs = lines[0], re = lines[1];
  const minor = re - rs >= 12 ? parseVersion(buf, rs) : -1;
  if (minor < 0 || buf[rs + 8] !== 0x20) {
    return { kind: "error", status: 502, reason: "invalid status line" };
  }
  let status = 0;
  for (let i = rs + 9; i < rs + 12; i++) {
    const d = buf[i] - 0x30;
    if (d < 0 || d > 9) return { kind: "error", status: 502, reason: "invalid status code" };
    status = status * 10 + d;
  }
  if (status < 100 || (re > rs + 12 && buf[rs + 12] !== 0x20)) {
    return { kind: "error", status: 502, reason: "invalid status code" };
  }
  for (let i = rs + 13; i < re; i++) {
    if (VALUE[buf[i]] !== 1) return { kind: "error", status: 502, reason: "invalid reason phrase" };
  }
  const text = latin1(buf, start, scan.end, scan.high);
  const fields = parseFields(buf, text, start, lines, limits.maxFields ?? 256);
  if (typeof fields === "string") return { kind: "error", status: 502, reason: fields };
  return {
    kind: "done",
    size: scan.end - start,
    head: {
      status,
      reason: re > rs + 13 ? text.slice(rs + 13 - start, re - start) : "",
      minor,
      fields,
      highBytes: scan.high,
    },
  };
}
