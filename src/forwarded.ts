/**
 * The head a backend receives: hop-by-hop headers removed, X-Forwarded-* and
 * X-Real-IP set from what the ingress itself saw. And the head a client
 * receives: hop-by-hop headers removed, Connection set to what the ingress
 * does with the client connection.
 *
 * A client's own X-Real-IP / X-Forwarded-Proto / X-Forwarded-Host are only
 * kept when the peer is a trusted proxy; X-Forwarded-For is always appended
 * to (the peer is added last, so a backend reading the last entry is safe).
 *
 * Heads are built as bytes from a {@link HeadScan}: the field lines that
 * pass are copied from the bytes received, so nothing is decoded or encoded
 * on the way through. The string functions at the end are the same rules
 * for callers holding parsed {@link Field}s.
 *
 * @module
 */

import type { Field, ResponseHead } from "./http1/head.ts";
import {
  FIELD,
  FIELD_STRIDE,
  HeadScan,
  latin1,
  scanRequestHead,
  scanResponseHead,
} from "./http1/head.ts";
import { encodeHead } from "./http1/serialize.ts";

/** What the ingress knows about the client side of a request. */
export interface ClientInfo {
  /** Immediate peer address. */
  peer: string;
  /** "http" or "https". */
  proto: string;
  /** Whether the peer is a trusted proxy whose forwarding headers stand. */
  trusted: boolean;
}

/** Field ids that are hop-by-hop whatever Connection says (RFC 9110 7.6.1). */
const HOP_BY_HOP = new Uint8Array(32);
for (
  const id of [
    FIELD.CONNECTION,
    FIELD.KEEP_ALIVE,
    FIELD.PROXY_CONNECTION,
    FIELD.TE,
    FIELD.TRAILER,
    FIELD.UPGRADE,
    FIELD.PROXY_AUTHENTICATE,
    FIELD.PROXY_AUTHORIZATION,
  ]
) HOP_BY_HOP[id] = 1;

/** Framing and routing fields a Connection header may never remove (that would desync framing). */
function isProtected(id: number): boolean {
  return id === FIELD.CONTENT_LENGTH || id === FIELD.TRANSFER_ENCODING || id === FIELD.HOST;
}

/** Bytes trimmed around a Connection token (what String#trim removes in latin1 field values). */
function isTrimmed(b: number): boolean {
  return b === 0x20 || b === 0x09 || b === 0xa0;
}

/** Equal ignoring ASCII case: buf[s, e) and the lower-case ASCII `lower`. */
function equalsLower(buf: Uint8Array, s: number, e: number, lower: string): boolean {
  if (e - s !== lower.length) return false;
  for (let i = 0; i < lower.length; i++) {
    let b = buf[s + i];
    if (b >= 0x41 && b <= 0x5a) b |= 0x20;
    if (b !== lower.charCodeAt(i)) return false;
  }
  return true;
}

/** Equal ignoring ASCII case: two ranges of one buffer. */
function rangesEqual(buf: Uint8Array, a: number, ae: number, b: number, be: number): boolean {
  if (ae - a !== be - b) return false;
  for (let i = 0; i < ae - a; i++) {
    let x = buf[a + i], y = buf[b + i];
    if (x >= 0x41 && x <= 0x5a) x |= 0x20;
    if (y >= 0x41 && y <= 0x5a) y |= 0x20;
    if (x !== y) return false;
  }
  return true;
}

/**
 * The tokens of a head's Connection fields (RFC 9110 7.6.1), read from its
 * bytes: the three the engine acts on as flags, every token as a byte range
 * (a field it names is not forwarded). One instance is reused per head.
 *
 * @example
 * ```ts
 * const conn = new ConnectionTokens();
 * conn.read(scan);
 * if (conn.close) closeAfterwards();
 * ```
 */
export class ConnectionTokens {
  /** Some Connection field was present. */
  present = false;
  close = false;
  keepAlive = false;
  upgrade = false;
  /** [start, end) of each non-empty token in the scanned buffer. */
  ranges: number[] = [];

  /** Read the Connection fields of `scan`. */
  read(scan: HeadScan): this {
    this.present =
      this.close =
      this.keepAlive =
      this.upgrade =
        false;
    this.ranges.length = 0;
    const f = scan.fields;
    const buf = scan.buf;
    for (let i = 0, o = 0; i < scan.count; i++, o += FIELD_STRIDE) {
      if (f[o + 5] !== FIELD.CONNECTION) continue;
      this.present = true;
      const end = f[o + 3];
      let s = f[o + 2];
      while (s <= end) {
        let e = s;
        while (e < end && buf[e] !== 0x2c) e++;
        let ts = s, te = e;
        while (ts < te && isTrimmed(buf[ts])) ts++;
        while (te > ts && isTrimmed(buf[te - 1])) te--;
        if (te > ts) {
          this.ranges.push(ts, te);
          if (equalsLower(buf, ts, te, "close")) this.close = true;
          else if (equalsLower(buf, ts, te, "keep-alive")) this.keepAlive = true;
          else if (equalsLower(buf, ts, te, "upgrade")) this.upgrade = true;
        }
        s = e + 1;
      }
    }
    return this;
  }

  /** True when field `i` of `scan` must not be forwarded: hop-by-hop, or named in Connection. */
  drops(scan: HeadScan, i: number): boolean {
    const o = i * FIELD_STRIDE;
    const f = scan.fields;
    const id = f[o + 5];
    if (HOP_BY_HOP[id] === 1) return true;
    const r = this.ranges;
    if (r.length === 0 || isProtected(id)) return false;
    for (let k = 0; k < r.length; k += 2) {
      if (rangesEqual(scan.buf, f[o], f[o + 1], r[k], r[k + 1])) return true;
    }
    return false;
  }
}

/** Where a head builder may write a head of `size` bytes (exactly that long). */
export interface HeadSpace {
  take(size: number): Uint8Array;
}

/** Assembles a head of known size. One instance serves every build (they never overlap). */
class HeadWriter {
  out: Uint8Array = new Uint8Array(0);
  o = 0;
  /** Start a new head of `size` bytes, in `space` when given. */
  begin(size: number, space?: HeadSpace): this {
    this.out = space === undefined ? new Uint8Array(size) : space.take(size);
    this.o = 0;
    return this;
  }
  /** The finished head; the writer lets go of it. */
  finish(): Uint8Array {
    const out = this.out;
    this.out = EMPTY_HEAD;
    return out;
  }
  /** Text of latin1 characters (every char < 256: it came from bytes or is ASCII). */
  text(s: string): void {
    const out = this.out;
    let o = this.o;
    for (let i = 0; i < s.length; i++) out[o++] = s.charCodeAt(i);
    this.o = o;
  }
  bytes(buf: Uint8Array, s: number, e: number): void {
    // A view of a socket's chunk costs more than copying a short line byte by byte.
    if (e - s > 256) this.out.set(buf.subarray(s, e), this.o);
    else {
      const out = this.out;
      let o = this.o;
      for (let i = s; i < e; i++) out[o++] = buf[i];
    }
    this.o += e - s;
  }
  crlf(): void {
    this.out[this.o++] = 0x0d;
    this.out[this.o++] = 0x0a;
  }
}

const EMPTY_HEAD = new Uint8Array(0);
const writer = new HeadWriter();

const HTTP11 = "HTTP/1.1";

/**
 * Build the request head sent to the backend (always HTTP/1.1, persistent),
 * from the client's scanned head. `conn` holds that head's Connection tokens.
 * The head is written into `space` when given (a caller can hand out a view
 * of a buffer it reuses), else into a new array.
 *
 * @example
 * ```ts
 * const bytes = upstreamHeadBytes(scan, conn.read(scan), "GET", "/x", "example.com", info, null);
 * ```
 */
export function upstreamHeadBytes(
  scan: HeadScan,
  conn: ConnectionTokens,
  method: string,
  target: string,
  host: string,
  info: ClientInfo,
  upgrade: string | null,
  space?: HeadSpace,
): Uint8Array {
  const buf = scan.buf;
  const f = scan.fields;
  // Pass 1: what goes out, and how long it is.
  let size = method.length + 1 + target.length + 1 + HTTP11.length + 2;
  let xffBytes = 0; // client X-Forwarded-For values, joined as joinXff does
  let xffStarted = false;
  let realIp = -1, proto = -1, fwdHost = -1; // trusted client values (field index)
  let hostAt = -1; // index of the Host field whose place the routed host takes
  for (let i = 0, o = 0; i < scan.count; i++, o += FIELD_STRIDE) {
    if (conn.drops(scan, i)) continue;
    const id = f[o + 5];
    const valueLength = f[o + 3] - f[o + 2];
    if (id === FIELD.X_FORWARDED_FOR) {
      // Empty values before the first non-empty one add nothing; later ones add ", ".
      if (xffStarted) xffBytes += 2 + valueLength;
      else if (valueLength > 0) {
        xffBytes = valueLength;
        xffStarted = true;
      }
    } else if (id === FIELD.X_REAL_IP) {
      if (info.trusted && realIp < 0 && valueLength > 0) realIp = i;
    } else if (id === FIELD.X_FORWARDED_PROTO) {
      if (info.trusted && proto < 0 && valueLength > 0) proto = i;
    } else if (id === FIELD.X_FORWARDED_HOST) {
      if (info.trusted && fwdHost < 0 && valueLength > 0) fwdHost = i;
    } else if (id === FIELD.HOST) {
      if (hostAt < 0) hostAt = i;
    } else size += f[o + 4] - f[o] + 2;
  }
  const hostLine = host !== "" ? 6 + host.length + 2 : 0; // "Host: " + host + CRLF
  size += hostLine;
  const peer = info.peer;
  size += 17 + (xffStarted ? xffBytes + 2 : 0) + peer.length + 2; // X-Forwarded-For
  size += 11 + (realIp >= 0 ? valueLength(f, realIp) : peer.length) + 2; // X-Real-IP
  size += 19 + (proto >= 0 ? valueLength(f, proto) : info.proto.length) + 2; // X-Forwarded-Proto
  if (fwdHost >= 0) size += 18 + valueLength(f, fwdHost) + 2;
  else if (host !== "") size += 18 + host.length + 2;
  if (upgrade !== null) size += 21 + 9 + upgrade.length + 2;
  size += 2;
  // Pass 2: write it.
  const w = writer.begin(size, space);
  w.text(method);
  w.out[w.o++] = 0x20;
  w.text(target);
  w.out[w.o++] = 0x20;
  w.text(HTTP11);
  w.crlf();
  let wroteHost = false;
  for (let i = 0, o = 0; i < scan.count; i++, o += FIELD_STRIDE) {
    const id = f[o + 5];
    if (
      id === FIELD.X_FORWARDED_FOR || id === FIELD.X_REAL_IP || id === FIELD.X_FORWARDED_PROTO ||
      id === FIELD.X_FORWARDED_HOST || conn.drops(scan, i)
    ) continue;
    if (id === FIELD.HOST) {
      // The host the request was routed by, in the Host field's place: for an
      // absolute-form target that is its authority, not the field (RFC 9112 3.2.2).
      if (i === hostAt && host !== "") {
        w.text("Host: ");
        w.text(host);
        w.crlf();
        wroteHost = true;
      }
      continue;
    }
    w.bytes(buf, f[o], f[o + 4]);
    w.crlf();
  }
  if (!wroteHost && host !== "") {
    w.text("Host: ");
    w.text(host);
    w.crlf();
  }
  w.text("X-Forwarded-For: ");
  if (xffStarted) {
    let started = false;
    for (let i = 0, o = 0; i < scan.count; i++, o += FIELD_STRIDE) {
      if (f[o + 5] !== FIELD.X_FORWARDED_FOR || conn.drops(scan, i)) continue;
      if (started) w.text(", ");
      else if (f[o + 3] === f[o + 2]) continue;
      started = true;
      w.bytes(buf, f[o + 2], f[o + 3]);
    }
    w.text(", ");
  }
  w.text(peer);
  w.crlf();
  w.text("X-Real-IP: ");
  if (realIp >= 0) w.bytes(buf, f[realIp * FIELD_STRIDE + 2], f[realIp * FIELD_STRIDE + 3]);
  else w.text(peer);
  w.crlf();
  w.text("X-Forwarded-Proto: ");
  if (proto >= 0) w.bytes(buf, f[proto * FIELD_STRIDE + 2], f[proto * FIELD_STRIDE + 3]);
  else w.text(info.proto);
  w.crlf();
  if (fwdHost >= 0 || host !== "") {
    w.text("X-Forwarded-Host: ");
    if (fwdHost >= 0) w.bytes(buf, f[fwdHost * FIELD_STRIDE + 2], f[fwdHost * FIELD_STRIDE + 3]);
    else w.text(host);
    w.crlf();
  }
  if (upgrade !== null) {
    w.text("Connection: upgrade\r\nUpgrade: ");
    w.text(upgrade);
    w.crlf();
  }
  w.crlf();
  return w.finish();
}

function valueLength(f: Int32Array, i: number): number {
  return f[i * FIELD_STRIDE + 3] - f[i * FIELD_STRIDE + 2];
}

/**
 * Build the response head sent to the client from the backend's scanned
 * head: hop-by-hop fields removed, Connection set to what the ingress will do
 * with the client connection. `body[start, end)`, when given, is appended so
 * head and body leave in one write. The bytes are written into `space` when
 * given, as {@link upstreamHeadBytes} does.
 *
 * @example
 * ```ts
 * const bytes = downstreamHeadBytes(scan, conn.read(scan), "close", null, false);
 * ```
 */
export function downstreamHeadBytes(
  scan: HeadScan,
  conn: ConnectionTokens,
  connection: "close" | "keep-alive" | "upgrade" | null,
  upgrade: string | null,
  dropTransferEncoding = false,
  body?: Uint8Array,
  bodyStart = 0,
  bodyEnd = 0,
  space?: HeadSpace,
): Uint8Array {
  const buf = scan.buf;
  const f = scan.fields;
  const rs = scan.from, re = scan.lineEnd;
  let chunked = false;
  for (let i = 0, o = 5; i < scan.count; i++, o += FIELD_STRIDE) {
    if (f[o] === FIELD.TRANSFER_ENCODING) chunked = true;
  }
  // "HTTP/1.1 " + status + " " + reason
  let size = 9 + 3 + 1 + (re > rs + 13 ? re - rs - 13 : 0) + 2;
  for (let pass = 0; pass < 2; pass++) {
    // Pass 0 sizes, pass 1 writes: the same decisions both times.
    const w = pass === 1 ? writer.begin(size + (body ? bodyEnd - bodyStart : 0), space) : null;
    if (w !== null) {
      w.text(HTTP11);
      w.bytes(buf, rs + 8, rs + 12);
      w.out[w.o++] = 0x20;
      if (re > rs + 13) w.bytes(buf, rs + 13, re);
      w.crlf();
    }
    for (let i = 0, o = 0; i < scan.count; i++, o += FIELD_STRIDE) {
      const id = f[o + 5];
      if (conn.drops(scan, i)) continue;
      if (dropTransferEncoding && id === FIELD.TRANSFER_ENCODING) continue;
      // Transfer-Encoding overrides Content-Length; never send a client both (RFC 9112 6.3).
      if (chunked && id === FIELD.CONTENT_LENGTH) continue;
      if (w === null) size += f[o + 4] - f[o] + 2;
      else {
        w.bytes(buf, f[o], f[o + 4]);
        w.crlf();
      }
    }
    if (w === null) {
      if (connection === "upgrade") size += 21 + 9 + (upgrade ?? "").length + 2;
      else if (connection !== null) size += 12 + connection.length + 2;
      size += 2;
      continue;
    }
    if (connection === "upgrade") {
      w.text("Connection: upgrade\r\nUpgrade: ");
      w.text(upgrade ?? "");
      w.crlf();
    } else if (connection !== null) {
      w.text("Connection: ");
      w.text(connection);
      w.crlf();
    }
    w.crlf();
    if (body) w.bytes(body, bodyStart, bodyEnd);
    return w.finish();
  }
  throw new Error("unreachable");
}

// ---------------------------------------------------------------------------
// The same rules over parsed fields
// ---------------------------------------------------------------------------

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
 * {@link Field}s.
 *
 * @example
 * ```ts
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
): string {
  const scan = rescan("GET / HTTP/1.1", fields, false);
  const conn = new ConnectionTokens().read(scan);
  return text(upstreamHeadBytes(scan, conn, method, target, host, info, upgrade));
}

/**
 * Build the response head sent to the client, as text, from a parsed head:
 * {@link downstreamHeadBytes} for callers holding a {@link ResponseHead}.
 *
 * @example
 * ```ts
 * const text = downstreamResponseHead(head, "close", null);
 * ```
 */
export function downstreamResponseHead(
  res: ResponseHead,
  connection: "close" | "keep-alive" | "upgrade" | null,
  upgrade: string | null,
  dropTransferEncoding = false,
): string {
  const status = String(res.status).padStart(3, "0");
  const scan = rescan(`HTTP/1.${res.minor} ${status} ${res.reason}`, res.fields, true);
  const conn = new ConnectionTokens().read(scan);
  return text(downstreamHeadBytes(scan, conn, connection, upgrade, dropTransferEncoding));
}
