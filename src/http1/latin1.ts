/**
 * Bytes to text, one character per byte (latin1), the way header values are
 * read: short values that recur request after request cost no allocation.
 *
 * @module
 */

const asciiDecoder = new TextDecoder();

/** Texts up to this length are built by {@link shortText}, longer ones by TextDecoder. */
const SHORT_TEXT = 64;
const INTERN_SLOTS = 1024;
const internTexts: string[] = new Array(INTERN_SLOTS).fill("");
const internHashes = new Int32Array(INTERN_SLOTS);
const charCodes: number[] = [];

/**
 * Short latin1 text (a Host value, a Content-Length, a path) from bytes. The
 * same values recur request after request, so the last text seen per hash slot
 * is kept and returned when the bytes match: no allocation, and no view of
 * the buffer (a subarray of a socket's chunk costs more than the decoding).
 */
function shortText(buf: Uint8Array, start: number, end: number): string {
  let h = 0x811c9dc5 | 0;
  for (let i = start; i < end; i++) h = Math.imul(h ^ buf[i], 0x01000193);
  const slot = (h ^ (h >>> 15)) & (INTERN_SLOTS - 1);
  const cached = internTexts[slot];
  const n = end - start;
  if (internHashes[slot] === h && cached.length === n) {
    let i = 0;
    while (i < n && cached.charCodeAt(i) === buf[start + i]) i++;
    if (i === n) return cached;
  }
  charCodes.length = n;
  for (let i = 0; i < n; i++) charCodes[i] = buf[start + i];
  const text = String.fromCharCode.apply(null, charCodes);
  internTexts[slot] = text;
  internHashes[slot] = h;
  return text;
}

/**
 * Decode bytes as latin1 (one char per byte), fast when all are ASCII
 * (`high` false) and for short recurring texts.
 *
 * @example
 * ```ts
 * import { latin1 } from "./latin1.ts";
 * latin1(new TextEncoder().encode("Host"), 0, 4, false); // "Host"
 * ```
 */
export function latin1(buf: Uint8Array, start: number, end: number, high: boolean): string {
  if (end - start <= SHORT_TEXT) return shortText(buf, start, end);
  if (!high) return asciiDecoder.decode(buf.subarray(start, end));
  let s = "";
  for (let i = start; i < end; i += 4096) {
    s += String.fromCharCode(...buf.subarray(i, Math.min(end, i + 4096)));
  }
  return s;
}
