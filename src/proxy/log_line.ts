/**
 * Log lines built as bytes, in place: the access log's formats write each
 * request's line straight into the buffer that is written to the file, so
 * logging a request makes no string, no rope to flatten and nothing to
 * encode (at tens of thousands of requests a second that garbage cost more
 * than the formatting).
 *
 * Texts are written one of three ways: as UTF-8 (`text`), JSON-escaped
 * (`jsonString`), or nginx-escaped (`nginxText`); the two escaped forms are
 * printable ASCII whatever the text holds.
 *
 * @module
 */

const HEX_LOWER = new Uint8Array([..."0123456789abcdef"].map((c) => c.charCodeAt(0)));
const HEX_UPPER = new Uint8Array([..."0123456789ABCDEF"].map((c) => c.charCodeAt(0)));
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The printable ASCII bytes of `s` (a constant of a format: keys, punctuation). */
export function asciiBytes(s: string): Uint8Array {
  return encoder.encode(s);
}

/**
 * A growing byte buffer that lines are written into.
 *
 * @example
 * ```ts
 * import { LineBuffer } from "./log_line.ts";
 * const out = new LineBuffer(256);
 * out.jsonString('say "hi"');
 * out.byte(0x20);
 * out.int(42);
 * out.toText(); // '"say \\"hi\\"" 42'
 * ```
 */
export class LineBuffer {
  /** The buffer; the bytes written are bytes[0, length). */
  bytes: Uint8Array;
  length = 0;

  constructor(size = 4096) {
    this.bytes = new Uint8Array(size);
  }

  /** Make room for `n` more bytes (a larger array, the bytes copied, when they do not fit). */
  room(n: number): void {
    if (this.length + n <= this.bytes.length) return;
    const grown = new Uint8Array(Math.max(this.bytes.length * 2, this.length + n));
    grown.set(this.bytes.subarray(0, this.length));
    this.bytes = grown;
  }

  /** One byte. */
  byte(b: number): void {
    this.room(1);
    this.bytes[this.length++] = b;
  }

  /** Bytes as they are (a format's constants: a loop beats `set` for a few bytes). */
  raw(b: Uint8Array): void {
    this.room(b.length);
    const out = this.bytes;
    let n = this.length;
    for (let i = 0; i < b.length; i++) out[n++] = b[i];
    this.length = n;
  }

  /** A whole number in decimal (another number as JavaScript writes it). */
  int(v: number): void {
    if (!(v >= 0 && v <= 0x7fffffff && v === Math.floor(v))) return this.text(String(v));
    this.room(10);
    const out = this.bytes;
    let n = this.length;
    if (v < 10) {
      out[n++] = 0x30 + v;
    } else {
      const start = n;
      while (v > 0) {
        const q = (v / 10) | 0;
        out[n++] = 0x30 + v - q * 10;
        v = q;
      }
      for (let i = start, j = n - 1; i < j; i++, j--) {
        const t = out[i];
        out[i] = out[j];
        out[j] = t;
      }
    }
    this.length = n;
  }

  /** `s` as UTF-8. */
  text(s: string): void {
    this.room(s.length);
    const out = this.bytes;
    let n = this.length;
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80) {
        // Rare here (the classic line of a configured non-ASCII text): the encoder takes the rest.
        this.length = n;
        this.room(3 * (s.length - i));
        n += encoder.encodeInto(s.slice(i), this.bytes.subarray(n)).written;
        this.length = n;
        return;
      }
      out[n++] = c;
    }
    this.length = n;
  }

  /**
   * `s` as a JSON string literal, printable ASCII only: `"` and `\` escaped,
   * and every character outside printable ASCII as `\uXXXX` (`\n`, `\r`,
   * `\t` as such). A request's texts are its bytes one character each, so
   * they can be read back exactly.
   */
  jsonString(s: string): void {
    this.room(6 * s.length + 2);
    const out = this.bytes;
    let n = this.length;
    out[n++] = 0x22;
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x20 && c < 0x7f && c !== 0x22 && c !== 0x5c) {
        out[n++] = c;
        continue;
      }
      out[n++] = 0x5c;
      if (c === 0x22 || c === 0x5c) out[n++] = c;
      else if (c === 0x0a) out[n++] = 0x6e;
      else if (c === 0x0d) out[n++] = 0x72;
      else if (c === 0x09) out[n++] = 0x74;
      else {
        out[n++] = 0x75;
        out[n++] = HEX_LOWER[c >> 12];
        out[n++] = HEX_LOWER[(c >> 8) & 15];
        out[n++] = HEX_LOWER[(c >> 4) & 15];
        out[n++] = HEX_LOWER[c & 15];
      }
    }
    out[n++] = 0x22;
    this.length = n;
  }

  /**
   * `s` as nginx writes a variable into a log line (its `escape=default`):
   * `"`, `\`, bytes below 0x20 and from 0x7f up as `\xHH`. A character
   * beyond 0xff (only a configured text can hold one) goes as its UTF-8
   * bytes, each escaped.
   */
  nginxText(s: string): void {
    this.room(4 * s.length);
    let out = this.bytes;
    let n = this.length;
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x20 && c < 0x7f && c !== 0x22 && c !== 0x5c) {
        out[n++] = c;
      } else if (c <= 0xff) {
        out[n++] = 0x5c;
        out[n++] = 0x78;
        out[n++] = HEX_UPPER[c >> 4];
        out[n++] = HEX_UPPER[c & 15];
      } else {
        // A surrogate pair is one character: both halves go to the encoder together.
        const wide = c >= 0xd800 && c < 0xdc00 && i + 1 < s.length;
        const utf8 = encoder.encode(s.slice(i, wide ? i + 2 : i + 1));
        if (wide) i++;
        this.length = n;
        this.room(4 * utf8.length + 4 * (s.length - i));
        out = this.bytes;
        for (const b of utf8) {
          out[n++] = 0x5c;
          out[n++] = 0x78;
          out[n++] = HEX_UPPER[b >> 4];
          out[n++] = HEX_UPPER[b & 15];
        }
      }
    }
    this.length = n;
  }

  /** The bytes written, as text (they are UTF-8); for a line that goes to stderr or a test. */
  toText(): string {
    return decoder.decode(this.bytes.subarray(0, this.length));
  }
}
