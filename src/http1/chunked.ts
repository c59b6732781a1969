/**
 * Incremental scanner for the chunked transfer coding (RFC 9112 section 7.1).
 *
 * It does not copy or re-encode: it walks the bytes, validates the framing and
 * says how many of them belong to the message, so the proxy can forward the
 * exact bytes it checked. It can also report the data ranges, for a peer that
 * needs the body de-chunked.
 *
 * @module
 */

const enum S {
  Size,
  SizeLf,
  Ext,
  Data,
  DataCr,
  DataLf,
  TrailerStart,
  TrailerLine,
  TrailerLf,
  FinalLf,
  Done,
}

/** Result of one {@link ChunkedScanner.scan} call. */
export interface ScanResult {
  /** Bytes of the input that belong to the message. */
  consumed: number;
  /** True once the last chunk and trailers have been seen. */
  done: boolean;
  /** Set when the framing is invalid; the connection must be closed. */
  error?: string;
}

function hexValue(b: number): number {
  if (b >= 0x30 && b <= 0x39) return b - 0x30;
  if (b >= 0x61 && b <= 0x66) return b - 0x57;
  if (b >= 0x41 && b <= 0x46) return b - 0x37;
  return -1;
}

/** 2^52: chunk sizes above this are refused rather than overflowing. */
const MAX_CHUNK = 0x10000000000000;

/**
 * Validates a chunked body as it streams past.
 *
 * @example
 * ```ts
 * const scanner = new ChunkedScanner();
 * const bytes = new TextEncoder().encode("3\r\nabc\r\n0\r\n\r\n");
 * const r = scanner.scan(bytes, 0, bytes.length);
 * // r.consumed === bytes.length, r.done === true
 * ```
 */
export class ChunkedScanner {
  #state = S.Size;
  #remaining = 0;
  #digits = 0;
  #lineLength = 0;
  /** Most data bytes the body may have (-1: any number), and the sizes declared so far. */
  readonly #maxData: number;
  #declared = 0;
  #overLimit = false;

  /** `maxData`: a body whose chunks declare more data than this is refused (-1: no limit). */
  constructor(maxData = -1) {
    this.#maxData = maxData;
  }

  /** The scan stopped at a chunk whose size took the data over the limit. */
  get overLimit(): boolean {
    return this.#overLimit;
  }

  /** True once the whole body has been seen. */
  get done(): boolean {
    return this.#state === S.Done;
  }

  /**
   * Scan buf[start, end). `onData`, when given, receives each range of chunk
   * data (for de-chunking).
   */
  scan(
    buf: Uint8Array,
    start: number,
    end: number,
    onData?: (start: number, end: number) => void,
  ): ScanResult {
    let i = start;
    while (i < end) {
      const b = buf[i];
      switch (this.#state) {
        case S.Size: {
          const h = hexValue(b);
          if (h >= 0) {
            this.#remaining = this.#remaining * 16 + h;
            if (++this.#digits > 13 || this.#remaining > MAX_CHUNK) {
              return { consumed: i - start, done: false, error: "chunk size too large" };
            }
            i++;
            break;
          }
          if (this.#digits === 0) {
            return { consumed: i - start, done: false, error: "invalid chunk size" };
          }
          if (b === 0x0d) this.#state = S.SizeLf;
          else if (b === 0x3b || b === 0x20 || b === 0x09) this.#state = S.Ext;
          else return { consumed: i - start, done: false, error: "invalid chunk size" };
          i++;
          break;
        }
        case S.Ext:
          // Extensions are passed through; only their bytes are checked.
          if (b === 0x0d) this.#state = S.SizeLf;
          else if ((b < 0x20 && b !== 0x09) || b === 0x7f) {
            return { consumed: i - start, done: false, error: "invalid chunk extension" };
          }
          if (++this.#lineLength > 4096) {
            return { consumed: i - start, done: false, error: "chunk extension too long" };
          }
          i++;
          break;
        case S.SizeLf:
          if (b !== 0x0a) return { consumed: i - start, done: false, error: "bare CR in chunk" };
          // Refused on the size line, before any byte of the chunk that goes over.
          this.#declared += this.#remaining;
          if (this.#maxData >= 0 && this.#declared > this.#maxData) {
            this.#overLimit = true;
            return { consumed: i - start, done: false, error: "body too large" };
          }
          i++;
          this.#digits = 0;
          this.#lineLength = 0;
          this.#state = this.#remaining === 0 ? S.TrailerStart : S.Data;
          break;
        case S.Data: {
          const n = Math.min(this.#remaining, end - i);
          if (onData) onData(i, i + n);
          i += n;
          this.#remaining -= n;
          if (this.#remaining === 0) this.#state = S.DataCr;
          break;
        }
        case S.DataCr:
          if (b !== 0x0d) {
            return { consumed: i - start, done: false, error: "missing CRLF after chunk" };
          }
          this.#state = S.DataLf;
          i++;
          break;
        case S.DataLf:
          if (b !== 0x0a) {
            return { consumed: i - start, done: false, error: "missing CRLF after chunk" };
          }
          this.#state = S.Size;
          i++;
          break;
        case S.TrailerStart:
          if (b === 0x0d) this.#state = S.FinalLf;
          else {
            this.#state = S.TrailerLine;
            this.#lineLength = 0;
            continue;
          }
          i++;
          break;
        case S.TrailerLine:
          if (b === 0x0d) this.#state = S.TrailerLf;
          else if (b === 0x0a || (b < 0x20 && b !== 0x09) || b === 0x7f) {
            return { consumed: i - start, done: false, error: "invalid trailer" };
          }
          if (++this.#lineLength > 8192) {
            return { consumed: i - start, done: false, error: "trailer too long" };
          }
          i++;
          break;
        case S.TrailerLf:
          if (b !== 0x0a) return { consumed: i - start, done: false, error: "bare CR in trailer" };
          this.#state = S.TrailerStart;
          i++;
          break;
        case S.FinalLf:
          if (b !== 0x0a) return { consumed: i - start, done: false, error: "bare CR in trailer" };
          this.#state = S.Done;
          return { consumed: i + 1 - start, done: true };
        case S.Done:
          return { consumed: i - start, done: true };
      }
    }
    return { consumed: i - start, done: this.#state === S.Done };
  }
}
