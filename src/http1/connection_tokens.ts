/**
 * What a head's Connection fields say (RFC 9110 7.6.1): close, keep-alive,
 * upgrade, and which other fields are hop-by-hop and must not be forwarded.
 * Read from the head's bytes, nothing decoded.
 *
 * @module
 */

import { FIELD_STRIDE, type HeadScan } from "./head.ts";
import { FIELD } from "./fields.ts";

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
 * import { HeadScan, scanRequestHead } from "./head.ts";
 * const scan = new HeadScan();
 * const bytes = new TextEncoder().encode("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
 * scanRequestHead(bytes, 0, bytes.length, { maxSize: 32768 }, scan);
 * import { ConnectionTokens } from "./connection_tokens.ts";
 * const conn = new ConnectionTokens().read(scan);
 * conn.close; // true
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
