/**
 * The forward phase's body: a request body moved from the client's input
 * to the backend as it arrives, framed by Content-Length or chunked coding,
 * and kept (up to {@link MAX_REPLAY}) so a retry on another replica can
 * send it again.
 *
 * @module
 */

import type { Framing } from "../http1/framing.ts";
import { ChunkedScanner } from "../http1/chunked.ts";
import type { Socket } from "../runtime/types.ts";
import type { ClientInput } from "./client_input.ts";
import { Stall, type TransferTimers } from "./transfer_timers.ts";

/** Request bodies up to this size are kept for a retry on another replica. */
export const MAX_REPLAY = 64 * 1024;

/**
 * One request's body on its way to the backend. A connection's exchange
 * keeps one and begins it again for each request.
 *
 * @example
 * ```ts
 * import { RequestBody } from "./request_body.ts";
 * import { ClientInput } from "./client_input.ts";
 * import type { TransferTimers } from "./transfer_timers.ts";
 * import type { Socket } from "../runtime/types.ts";
 * declare const client: Socket, backend: Socket, timers: TransferTimers;
 * const input = new ClientInput();
 * const body = new RequestBody(input, client, timers);
 * body.begin({ kind: "length", length: 5 });
 * input.append(new TextEncoder().encode("hello"));
 * body.forward(backend, false); // null: no error; body.done is now true
 * ```
 */
export class RequestBody {
  #left = 0;
  #scanner: ChunkedScanner | null = null;
  #done = true;
  /** Body bytes sent so far, kept for a retry while they fit in MAX_REPLAY. */
  #replay: Uint8Array[] | null = null;
  #replayBytes = 0;
  #replayable = true;
  #blocked = false;
  /** The client half-closed: body bytes that have not come never will. */
  #clientEnded = false;
  /** Body bytes taken from the client so far (the access log's bytes in). */
  #received = 0;
  readonly #input: ClientInput;
  readonly #client: Socket;
  readonly #timers: TransferTimers;

  /** The body of requests read from `input` off `client`, its waits timed by `timers`. */
  constructor(input: ClientInput, client: Socket, timers: TransferTimers) {
    this.#input = input;
    this.#client = client;
    this.#timers = timers;
  }

  /**
   * Start over for a request framed by `framing`; a chunked body with more
   * than `maxBytes` of data is refused (-1: no limit; a length is checked
   * before, by the route's rules).
   */
  begin(framing: Framing, maxBytes = -1): void {
    this.#clientEnded = false;
    this.#received = 0;
    this.#left = framing.kind === "length" ? framing.length : 0;
    this.#scanner = framing.kind === "chunked" ? new ChunkedScanner(maxBytes) : null;
    this.#done = framing.kind === "none";
    this.#replay = null;
    this.#replayBytes = 0;
    this.#replayable = true;
    this.#blocked = false;
  }

  /** The whole body has been passed on (true at once for a request without one). */
  get done(): boolean {
    return this.#done;
  }

  /** Body bytes read from the client so far, as they came (chunked framing included). */
  get received(): number {
    return this.#received;
  }

  /** The body was refused for going over its limit (see {@link begin}). */
  get tooLarge(): boolean {
    return this.#scanner?.overLimit ?? false;
  }

  /** Every body byte sent so far is kept, so another replica can be sent all of it. */
  get replayable(): boolean {
    return this.#replayable;
  }

  /** The last write found the backend's buffer full: stop reading the client until it drains. */
  get blocked(): boolean {
    return this.#blocked;
  }

  /** Send `socket` the body bytes kept so far (a retry on a fresh connection). */
  replayTo(socket: Socket): void {
    if (this.#replay === null || !this.#replayable) return;
    for (const chunk of this.#replay) socket.write(chunk);
  }

  /**
   * Pass the body bytes buffered in `input` on to `socket`. Returns why the
   * body is malformed (a bad chunk), or null. Then {@link done} and
   * {@link blocked} say where it stands.
   */
  pump(input: ClientInput, socket: Socket): string | null {
    this.#blocked = false;
    if (this.#done) return null;
    const buf = input.bytes;
    const start = input.start;
    const end = buf.length;
    if (start >= end) return null;
    let n: number;
    if (this.#scanner !== null) {
      const r = this.#scanner.scan(buf, start, end);
      if (r.error !== undefined) return r.error;
      n = r.consumed;
      if (r.done) this.#done = true;
    } else {
      n = Math.min(this.#left, end - start);
      this.#left -= n;
      if (this.#left === 0) this.#done = true;
    }
    if (n === 0) return null;
    const chunk = buf.subarray(start, start + n);
    input.consume(n);
    this.#received += n;
    if (this.#replayable) {
      this.#replayBytes += n;
      if (this.#replayBytes > MAX_REPLAY) {
        this.#replayable = false;
        this.#replay = null;
      } else (this.#replay ??= []).push(chunk);
    }
    if (!socket.write(chunk)) this.#blocked = true;
    return null;
  }

  /**
   * The forward phase's step: pass on what the client sent, stop reading it
   * while the backend's buffer is full, and time what is waited for next
   * (`answered`: the response has begun). Returns why the body cannot go on
   * (malformed, or the client ended it early), or null.
   */
  forward(socket: Socket, answered: boolean): string | null {
    const input = this.#input;
    const buffered = input.buffered;
    if (!this.#done) {
      const error = this.pump(input, socket);
      if (error !== null) return error;
      if (this.#blocked) this.#client.pause();
    }
    this.#timers.bodyPumped(input.buffered < buffered, this.#blocked, this.#done, answered);
    if (!this.#done && this.#clientEnded && input.buffered === 0) {
      return "the request body ended early";
    }
    return null;
  }

  /** The client half-closed: a body it has not finished never will be. */
  clientEnded(): void {
    this.#clientEnded = true;
  }

  /**
   * The backend took what it was sent: read the client again, and time its
   * body while the request (`active`) still waits for it.
   */
  backendDrained(active: boolean): void {
    this.#client.resume();
    if (active && !this.#done) this.#timers.upload(Stall.ClientBody);
  }

  /** Let go of the bytes kept for a retry (the request is over). */
  letGo(): void {
    this.#replay = null;
    this.#scanner = null;
    // A request refused before its body began must not count the last one's.
    this.#received = 0;
  }
}
