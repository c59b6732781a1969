/**
 * Writing a message head of known size into one array: the head builders
 * size a head in one pass and write it in a second, into a buffer the caller
 * may reuse ({@link HeadSpace}).
 *
 * @module
 */

/** Where a head builder may write a head of `size` bytes (exactly that long). */
export interface HeadSpace {
  take(size: number): Uint8Array;
}

/**
 * Assembles a head of known size, byte by byte. One instance ({@link headWriter})
 * serves every build: a head is sized, then written, within one synchronous
 * step, so builds never overlap.
 *
 * @example
 * ```ts
 * import { headWriter } from "./head_writer.ts";
 * const w = headWriter.begin(4);
 * w.text("OK");
 * w.crlf();
 * w.finish(); // Uint8Array of "OK\r\n"
 * ```
 */
export class HeadWriter {
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

/** The one {@link HeadWriter}. */
export const headWriter: HeadWriter = new HeadWriter();
