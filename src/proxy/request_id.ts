/**
 * Request ids (`X-Request-Id`): one per request, sent to the backend and
 * back to the client, written in the access log and in the log line of a
 * failure, so that what a client reports can be found in the logs.
 *
 * An id is made by the ingress (a per-process random prefix and a counter:
 * `9f86d081884c7d65-42`), or kept from the request when a trusted proxy
 * (`--trusted-proxies`) sent one that is 1–128 visible ASCII characters: a
 * client's own id could be anything, including another request's. Ids live
 * as bytes in a buffer each connection keeps, so a request costs no
 * allocation for its id unless its text is asked for (a log line, an error
 * body).
 *
 * @module
 */

import { FIELD_STRIDE, type HeadScan } from "../http1/head.ts";
import { FIELD } from "../http1/fields.ts";

const idDecoder = new TextDecoder();

/** The longest id kept from a trusted proxy (and the size of every id's buffer). */
export const MAX_REQUEST_ID = 128;

/**
 * Where the ingress's ids come from: a prefix drawn at random once per
 * process (so that the ids of processes sharing a port, or of one started
 * again, do not meet) and a counter. No random draw per request.
 *
 * @example
 * ```ts
 * import { RequestId, RequestIdSource } from "./request_id.ts";
 * const source = new RequestIdSource("9f86d081884c7d65");
 * const id = new RequestId();
 * source.next(id);
 * id.text; // "9f86d081884c7d65-1"
 * source.nextText(); // "9f86d081884c7d65-2"
 * ```
 */
export class RequestIdSource {
  /** The last id made: the prefix, "-", the counter in decimal digits (counted up in place). */
  readonly #last: Uint8Array;
  /** Where the counter's digits start, and end. */
  readonly #digits: number;
  #end: number;

  /** Ids made here start with `prefix` (ASCII; {@link randomRequestIdSource} draws one). */
  constructor(prefix: string) {
    this.#last = new Uint8Array(prefix.length + 1 + 16);
    for (let i = 0; i < prefix.length; i++) this.#last[i] = prefix.charCodeAt(i);
    this.#last[prefix.length] = 0x2d;
    this.#digits = prefix.length + 1;
    this.#last[this.#digits] = 0x30;
    this.#end = this.#digits + 1;
  }

  /** Write the next id into `id`. */
  next(id: RequestId): void {
    const last = this.#last;
    const start = this.#digits;
    // Add one to the decimal digits where they are: no division, no text.
    let i = this.#end - 1;
    while (i >= start && last[i] === 0x39) last[i--] = 0x30;
    if (i >= start) last[i]++;
    else {
      // 9...9 + 1: one digit more (16 digits outlast any process).
      last[start] = 0x31;
      last[this.#end++] = 0x30;
    }
    const end = this.#end;
    const out = id.bytes;
    for (let k = 0; k < end; k++) out[k] = last[k];
    id.set(end);
  }

  /** The next id as text (for an answer given outside any connection's request). */
  nextText(): string {
    const id = new RequestId();
    this.next(id);
    return id.text;
  }
}

/**
 * A {@link RequestIdSource} with a prefix of 16 hex digits from the
 * platform's random source (64 bits, drawn once).
 *
 * @example
 * ```ts
 * import { randomRequestIdSource } from "./request_id.ts";
 * randomRequestIdSource().nextText(); // e.g. "3c1f0a9be2d47586-1"
 * ```
 */
export function randomRequestIdSource(): RequestIdSource {
  const bytes = crypto.getRandomValues(new Uint8Array(8));
  let prefix = "";
  for (const b of bytes) prefix += b.toString(16).padStart(2, "0");
  return new RequestIdSource(prefix);
}

/**
 * The id of a connection's current request: its bytes (written straight
 * into the heads) and, when asked for, its text. A connection keeps one and
 * sets it for each request.
 *
 * @example
 * ```ts
 * import { RequestId, RequestIdSource } from "./request_id.ts";
 * import { HeadScan, scanRequestHead } from "../http1/head.ts";
 * const scan = new HeadScan();
 * const bytes = new TextEncoder().encode("GET / HTTP/1.1\r\nHost: a\r\nX-Request-Id: abc\r\n\r\n");
 * scanRequestHead(bytes, 0, bytes.length, { maxSize: 32768 }, scan);
 * const id = new RequestId();
 * id.take(scan, true, new RequestIdSource("p"));  // id.text === "abc" (a trusted proxy's)
 * id.take(scan, false, new RequestIdSource("p")); // id.text === "p-1" (anyone else's is replaced)
 * ```
 */
export class RequestId {
  /** The id is bytes[0, length). */
  readonly bytes: Uint8Array = new Uint8Array(MAX_REQUEST_ID);
  length = 0;
  #text: string | null = null;

  /** The id is now bytes[0, length). */
  set(length: number): void {
    this.length = length;
    this.#text = null;
  }

  /**
   * The id of the request in `scan`: its first X-Request-Id when the client
   * is `trusted` and the value is a usable id, else the next from `source`.
   */
  take(scan: HeadScan, trusted: boolean, source: RequestIdSource): void {
    const at = trusted ? scan.find(FIELD.X_REQUEST_ID) * FIELD_STRIDE : -1;
    if (at < 0 || !this.#copy(scan.buf, scan.fields[at + 2], scan.fields[at + 3])) {
      source.next(this);
    }
  }

  /** Copy buf[start, end) in when it is 1–{@link MAX_REQUEST_ID} visible ASCII characters. */
  #copy(buf: Uint8Array, start: number, end: number): boolean {
    const n = end - start;
    if (n < 1 || n > MAX_REQUEST_ID) return false;
    const out = this.bytes;
    for (let i = 0; i < n; i++) {
      const b = buf[start + i];
      // No spaces or controls: an id is one word in a log line and safe in any head.
      if (b < 0x21 || b > 0x7e) return false;
      out[i] = b;
    }
    this.set(n);
    return true;
  }

  /** The id as text (made once per request, when first asked for: the access log does). */
  get text(): string {
    // Visible ASCII: decoded as UTF-8 it is the same text, several times quicker than a spread.
    return this.#text ??= idDecoder.decode(this.bytes.subarray(0, this.length));
  }
}
