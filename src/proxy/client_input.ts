/**
 * The bytes a client has sent that nothing has consumed yet: the next
 * request head, or the current request's body.
 *
 * @module
 */

const EMPTY = new Uint8Array(0);

/**
 * Unconsumed client bytes: `bytes[start, bytes.length)`. A chunk that
 * arrives when everything was consumed is kept as it is (no copy); only a
 * head or body split across chunks is joined.
 *
 * @example
 * ```ts
 * import { ClientInput } from "./client_input.ts";
 * const input = new ClientInput();
 * input.append(new TextEncoder().encode("GET / HTTP/1.1\r\n"));
 * input.consume(4);
 * input.buffered; // 12
 * ```
 */
export class ClientInput {
  #buf: Uint8Array = EMPTY;
  #off = 0;

  /** The buffer; its unconsumed bytes start at {@link start}. */
  get bytes(): Uint8Array {
    return this.#buf;
  }

  /** Where the unconsumed bytes start in {@link bytes}. */
  get start(): number {
    return this.#off;
  }

  /** How many bytes are unconsumed. */
  get buffered(): number {
    return this.#buf.length - this.#off;
  }

  /** Add bytes that arrived. */
  append(chunk: Uint8Array): void {
    if (this.#off >= this.#buf.length) {
      this.#buf = chunk;
      this.#off = 0;
      return;
    }
    const merged = new Uint8Array(this.#buf.length - this.#off + chunk.length);
    merged.set(this.#buf.subarray(this.#off));
    merged.set(chunk, this.#buf.length - this.#off);
    this.#buf = merged;
    this.#off = 0;
  }

  /** Mark `n` bytes as consumed. */
  consume(n: number): void {
    this.#off += n;
  }

  /** Take every unconsumed byte (for a tunnel), leaving the input empty. */
  takeAll(): Uint8Array {
    const rest = this.#buf.subarray(this.#off);
    this.#buf = EMPTY;
    this.#off = 0;
    return rest;
  }
}
