/**
 * One client connection's life: bytes in, request heads scanned one after
 * the other (pipelined requests wait their turn, so answers keep their
 * order), each request handed to the connection's {@link Exchange}, and the
 * endings: keep-alive idle, head timeout, the client's half-close or close,
 * shutdown, and the hand-off to a tunnel after a 101.
 *
 * Only web-standard APIs are used here; sockets come from a Runtime.
 *
 * @module
 */

import { HeadScan, scanRequestHead } from "../http1/head.ts";
import type { Socket, SocketHandler } from "../runtime/types.ts";
import type { ProxyContext } from "./context.ts";
import type { Expiring } from "./deadlines.ts";
import { errorResponse, failureLogLine, type ProxyError, STATUS } from "./errors.ts";
import { ClientInput } from "./client_input.ts";
import { KeptBuffer } from "./kept_buffer.ts";
import { type ClientInfo, clientInfoOf } from "./forwarded.ts";
import { Exchange } from "./exchange.ts";
import type { Downstream } from "./downstream.ts";
import { answerBodyLength, newRequestRecord, type RequestRecord, startRecord } from "./observe.ts";
import { startTunnel } from "./tunnel.ts";
import { SerialLoop } from "../serial_loop.ts";
import { RequestId } from "./request_id.ts";

/** Stop reading from the client when this much is buffered and unconsumed. */
const MAX_BUFFERED = 256 * 1024;
/** Response heads (with the body bytes joined to them) up to this size are built in a kept buffer. */
const MAX_KEPT_REPLY = 4 * 1024;

// Heads are scanned and handed on within one synchronous step, so one scan serves every connection.
const requestScan = new HeadScan();

const enum Wait {
  /** Waiting for (more of) a request head. */
  Head,
  /** An exchange is in progress. */
  Exchange,
  /** Upgraded: bytes are piped both ways. */
  Tunnel,
  /** Closing or closed. */
  Closed,
}

/**
 * The client side of one accepted connection.
 *
 * @example
 * ```ts
 * import { ClientConnection } from "./connection.ts";
 * import type { ProxyContext } from "./context.ts";
 * import type { Runtime } from "../runtime/types.ts";
 * declare const runtime: Runtime, ctx: ProxyContext;
 * await runtime.listen({ hostname: "127.0.0.1", port: 0 }, (socket) =>
 *   new ClientConnection(socket, ctx, () => {}));
 * ```
 */
export class ClientConnection implements SocketHandler, Expiring, Downstream {
  readonly socket: Socket;
  readonly #ctx: ProxyContext;
  deadline = 0;
  readonly input = new ClientInput();
  /** The id of the request in progress (or being answered with an error). */
  readonly requestId = new RequestId();
  readonly record: RequestRecord = newRequestRecord(this.requestId);
  #state = Wait.Head;
  /** The exchange of the request in progress, or null. */
  #current: Exchange | null = null;
  /** The exchange object, kept from request to request (see {@link Exchange}). */
  readonly #exchange: Exchange;
  #closeAfter = false;
  readonly #onGone: (c: ClientConnection) => void;
  #waitingForFirstByte = false;
  #gone = false;
  /** Starts requests one after the other (see {@link nextRequest}). */
  readonly #starts = new SerialLoop(() => this.#startNext());
  /** What the forwarding headers say about this client (built once, on its first request). */
  #info: ClientInfo | undefined;
  /** Response heads are built here while the client socket has nothing queued. */
  readonly replyHead: KeptBuffer;

  constructor(socket: Socket, ctx: ProxyContext, onGone: (c: ClientConnection) => void) {
    this.socket = socket;
    this.replyHead = new KeptBuffer(MAX_KEPT_REPLY, socket);
    this.#ctx = ctx;
    this.#onGone = onGone;
    this.#exchange = new Exchange(this, ctx);
    // The first request must arrive within the header timeout (slow clients are cut off).
    this.deadline = ctx.clock.now + ctx.headerTimeoutMs;
    ctx.clock.add(this);
  }

  // --- socket events -------------------------------------------------------

  onData(chunk: Uint8Array): void {
    if (this.#state === Wait.Closed) return;
    this.input.append(chunk);
    if (this.#state === Wait.Head) {
      if (this.#waitingForFirstByte) {
        // Keep-alive idle is over; the head itself must now arrive in time.
        this.#waitingForFirstByte = false;
        this.deadline = this.#ctx.clock.now + this.#ctx.headerTimeoutMs;
      }
      this.nextRequest();
    } else if (this.#state === Wait.Exchange) {
      this.#current!.onClientBytes();
    }
    if (this.input.buffered > MAX_BUFFERED && (this.#state as Wait) !== Wait.Closed) {
      this.socket.pause();
    }
  }

  onDrain(): void {
    this.#current?.onClientDrain();
  }

  onEnd(): void {
    this.#closeAfter = true;
    if (this.#state === Wait.Head) this.close();
    else if (this.#state === Wait.Exchange) this.#current?.clientEnded();
  }

  onClose(): void {
    this.#state = Wait.Closed;
    this.#current?.abort();
    this.#current = null;
    this.#release();
  }

  expire(now: number): void {
    // One deadline per connection: the exchange's transfer timeouts use it too.
    if (this.#state === Wait.Exchange) return this.#current?.expire(now);
    if (this.#state !== Wait.Head) return;
    if (this.input.buffered === 0) this.close(); // idle keep-alive connection: just close
    else this.fail({ kind: "HeadTimeout" }, true);
  }

  // --- request heads -------------------------------------------------------

  /**
   * Scan and start the next request, if its head is complete. A request the
   * ingress answers itself (an error) ends within this call and asks for the
   * next: that one is started by this loop, not from inside the answer, so any
   * number of pipelined requests takes no more stack than one.
   */
  nextRequest(): void {
    this.#starts.run();
  }

  #startNext(): void {
    if (this.#state !== Wait.Head) return;
    const input = this.input;
    if (input.buffered === 0) {
      if (this.#closeAfter || this.#ctx.draining) return this.close();
      this.#waitingForFirstByte = true;
      this.deadline = this.#ctx.clock.now + this.#ctx.keepaliveTimeoutMs;
      this.socket.resume();
      return;
    }
    const scan = requestScan;
    const buf = input.bytes;
    const r = scanRequestHead(buf, input.start, buf.length, this.#ctx.headLimits, scan);
    if (r !== null) {
      if (r.kind === "incomplete") return;
      return this.fail(
        r.status === 431 ? { kind: "HeadTooLarge" } : { kind: "BadRequest", reason: r.reason },
        true,
      );
    }
    input.consume(scan.size);
    this.deadline = 0;
    this.#state = Wait.Exchange;
    this.#current = this.#exchange;
    this.requestId.take(scan, this.clientInfo().trusted, this.#ctx.requestIds);
    this.#exchange.start(scan);
  }

  // --- what the exchange asks (Downstream) -----------------------------------

  clientInfo(): ClientInfo {
    const socket = this.socket, ctx = this.#ctx;
    return this.#info ??= clientInfoOf(
      socket,
      ctx.proto,
      ctx.trustedProxies.contains(socket.remoteAddress),
      ctx.via,
    );
  }

  /** The client half-closed or asked for close: no request after the current one. */
  get closeAfter(): boolean {
    return this.#closeAfter;
  }

  closeAfterThis(): void {
    this.#closeAfter = true;
  }

  setDeadline(at: number): void {
    if (this.#state === Wait.Exchange) this.deadline = at;
  }

  exchangeDone(close: boolean): void {
    this.#current = null;
    if (this.#state === Wait.Closed) return;
    if (close || this.#closeAfter || this.#ctx.draining) {
      this.#state = Wait.Closed;
      this.socket.end();
      return;
    }
    this.#state = Wait.Head;
    this.socket.resume();
    this.nextRequest();
  }

  /** Answer with an error; close afterwards when asked (or when no request may follow). */
  fail(error: ProxyError, close = true, method = "", target = ""): void {
    const ctx = this.#ctx;
    // No request was started (its head was bad or late): the answer still gets an id.
    if (this.#current === null) {
      ctx.requestIds.next(this.requestId);
      if (ctx.observe !== null) startRecord(this.record, "", ctx.config.current.generation);
    }
    this.#current = null;
    if (this.#state === Wait.Closed) return;
    const id = this.requestId.text;
    const failure = failureLogLine(error, id, method || "-", target || "-");
    if (failure !== null) ctx.log(failure);
    const mustClose = close || this.#closeAfter || ctx.draining;
    const response = errorResponse(error, mustClose, method === "HEAD", id, ctx.debugErrors);
    this.#reply(response, STATUS[error.kind], mustClose, method, target, error.kind);
  }

  answer(
    response: Uint8Array,
    status: number,
    close: boolean,
    method: string,
    target: string,
  ): void {
    this.#current = null;
    if (this.#state === Wait.Closed) return;
    this.#reply(response, status, close, method, target, "");
  }

  /** Send a response the ingress made, log it, then close or read the next request. */
  #reply(
    response: Uint8Array,
    status: number,
    close: boolean,
    method: string,
    target: string,
    error: string,
  ): void {
    const ctx = this.#ctx;
    const observe = ctx.observe;
    if (observe !== null) {
      const r = this.record;
      r.durationMs = Date.now() - r.startedAt;
      r.client = this.socket.remoteAddress;
      r.method = method;
      r.target = target;
      r.status = status;
      r.bytesOut = response.length;
      r.bodyBytesOut = answerBodyLength(response);
      r.error = error;
      observe.request(r);
    }
    this.socket.write(response);
    if (close) {
      this.#state = Wait.Closed;
      this.socket.end();
    } else {
      this.#state = Wait.Head;
      this.nextRequest();
    }
  }

  tunnel(backend: Socket, backendLeftover: Uint8Array): void {
    this.#state = Wait.Tunnel;
    this.#current = null;
    this.deadline = 0;
    startTunnel(
      this.socket,
      this.input.takeAll(),
      backend,
      backendLeftover,
      this.#ctx.tunnelIdleTimeoutMs,
    ).then((end) => {
      if (end === "idle") this.#ctx.log("tunnel closed after idle timeout");
      this.#release();
    });
  }

  /** Close at once. */
  close(): void {
    if (this.#state === Wait.Tunnel) return;
    this.#state = Wait.Closed;
    this.socket.close();
  }

  // --- endings ---------------------------------------------------------------

  /** Shutting down: close when idle, otherwise after the current exchange. */
  drain(): void {
    if (this.#state === Wait.Head && this.input.buffered === 0) this.close();
  }

  #release(): void {
    if (this.#gone) return;
    this.#gone = true;
    this.#ctx.clock.delete(this);
    this.#onGone(this);
  }
}
