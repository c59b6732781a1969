/**
 * A buffer a connection reuses for the heads it builds, so a request on a
 * kept-alive connection allocates no head.
 *
 * @module
 */

import type { HeadSpace } from "../http1/head_writer.ts";
import type { Socket } from "../runtime/types.ts";

const EMPTY = new Uint8Array(0);

/**
 * Hands out a view of one buffer when the head fits in `max` bytes, else a
 * new array. With a socket, only while that socket has nothing queued: the
 * previous head was then handed to the kernel whole (or the socket was
 * closed, which drops what it had queued), so no pending write still points
 * into the buffer.
 *
 * @example
 * ```ts
 * import { KeptBuffer } from "./kept_buffer.ts";
 * const kept = new KeptBuffer(4096, null);
 * kept.take(100).length; // 100
 * ```
 */
export class KeptBuffer implements HeadSpace {
  readonly #max: number;
  readonly #socket: Socket | null;
  #buf: Uint8Array = EMPTY;
  /** The last view handed out: the next head of the same size (a repeated request) reuses it. */
  #view: Uint8Array = EMPTY;

  constructor(max: number, socket: Socket | null) {
    this.#max = max;
    this.#socket = socket;
  }

  take(size: number): Uint8Array {
    if (size > this.#max || (this.#socket !== null && this.#socket.bufferedAmount !== 0)) {
      return new Uint8Array(size);
    }
    if (this.#view.length === size) return this.#view;
    if (this.#buf.length < size) {
      this.#buf = new Uint8Array(Math.max(512, 2 ** Math.ceil(Math.log2(size))));
    }
    return this.#view = this.#buf.subarray(0, size);
  }
}
