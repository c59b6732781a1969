/**
 * Bun's TCP sockets behind the push-based {@link Socket} interface, with
 * their writes corked: writes are held until Bun has dispatched the events
 * of its current loop turn and then sent together (one send per socket per
 * turn), and what the kernel did not take is sent on `drain`.
 *
 * The cork queue lives here with the socket and the handlers because all
 * three assign its state (write schedules a flush, the handlers count the
 * dispatch depth, the flush swaps the lists) and a module cannot assign
 * another's bindings: apart, each write and event would pay a function call.
 *
 * @module
 */

import { nextSend } from "../coalesce.ts";
import type { Socket, SocketHandler } from "../types.ts";
import type { BunSocket, BunSocketHandlers, SetImmediate } from "./globals.ts";

/** Queued bytes above which `write` returns false (the caller waits for onDrain). */
const HIGH_WATER = 256 * 1024;

declare const setImmediate: SetImmediate;

/**
 * Writes made while Bun dispatches socket events are held until it has
 * dispatched every event of that loop turn, then sent: one send per socket
 * per turn, so a response head and the body bytes that arrived with it leave
 * in one segment, and the requests a turn forwards to a backend reach it
 * together (it wakes once for them rather than once each). Writes from
 * elsewhere (promise continuations, timers) are sent at the end of the
 * current microtask checkpoint.
 */
let dispatchDepth = 0;
let corked: BunTcpSocket[] = [];
/** The other list: `flushCorked` swaps the two instead of allocating one per flush. */
let spare: BunTcpSocket[] = [];
let flushScheduled = false;

function flushCorked(): void {
  flushScheduled = false;
  while (corked.length > 0) {
    const list = corked;
    corked = spare;
    for (let i = 0; i < list.length; i++) {
      // A drain handler may run here, outside any socket callback: a throw
      // drops that connection, not the process.
      try {
        list[i].flush();
      } catch (e) {
        fault(list[i], e);
      }
    }
    list.length = 0;
    spare = list;
  }
}

/**
 * A Bun socket behind the {@link Socket} interface. Made before Bun's socket
 * exists (a connection being accepted or made) and attached to it once it
 * does; Bun's events reach it through {@link socketHandlers}.
 *
 * @example
 * ```ts
 * import { BunTcpSocket, socketHandlers } from "./socket.ts";
 * import type { BunGlobal } from "./globals.ts";
 * import type { SocketHandler } from "../types.ts";
 * declare const Bun: BunGlobal;
 * declare const handler: SocketHandler;
 * const t = new BunTcpSocket(handler);
 * t.attach(await Bun.connect({ hostname: "127.0.0.1", port: 8080, socket: socketHandlers }));
 * t.write(new TextEncoder().encode("GET / HTTP/1.1\r\nhost: example\r\n\r\n"));
 * ```
 */
export class BunTcpSocket implements Socket {
  #socket: BunSocket<BunTcpSocket> | null = null;
  handler: SocketHandler;
  /** Bytes written by the engine and not yet taken by the kernel, in order. */
  #queue: Uint8Array[] = [];
  #queued = 0;
  /** Waiting in `corked` for the end of the current callback. */
  #scheduled = false;
  /** The kernel refused bytes: wait for Bun's drain event before sending more. */
  #blocked = false;
  #needDrain = false;
  #ending = false;
  #closed = false;
  #paused = false;
  remoteAddress = "";
  remotePort = 0;

  constructor(handler: SocketHandler) {
    this.handler = handler;
  }

  attach(s: BunSocket<BunTcpSocket>): void {
    this.#socket = s;
    s.data = this;
    this.remoteAddress = s.remoteAddress ?? "";
    this.remotePort = s.remotePort ?? 0;
  }

  // Read when asked (rarely: a request without Host), not on every accept.
  get localAddress(): string {
    return this.#socket?.localAddress ?? "";
  }

  get localPort(): number {
    return this.#socket?.localPort ?? 0;
  }

  get bufferedAmount(): number {
    return this.#queued;
  }

  get closed(): boolean {
    return this.#closed;
  }

  setHandler(handler: SocketHandler): void {
    this.handler = handler;
  }

  write(data: Uint8Array): boolean {
    if (this.#closed || this.#ending) return false;
    if (data.length === 0) return this.#queued <= HIGH_WATER;
    this.#queue.push(data);
    this.#queued += data.length;
    if (!this.#blocked && !this.#scheduled) {
      this.#scheduled = true;
      corked.push(this);
      if (dispatchDepth === 0 && !flushScheduled) {
        flushScheduled = true;
        queueMicrotask(flushCorked);
      }
    }
    if (this.#queued > HIGH_WATER) {
      this.#needDrain = true;
      return false;
    }
    return true;
  }

  /** Send what is queued, as few sends as possible; stop when the kernel is full. */
  flush(): void {
    this.#scheduled = false;
    if (this.#closed) return;
    const s = this.#socket!;
    const q = this.#queue;
    while (q.length > 0) {
      // Mostly one chunk (a head, or head and body built together): no joining to do.
      let data = q[0];
      let taken = 1;
      if (q.length > 1) ({ data, taken } = nextSend(q));
      const n = s.write(data);
      if (n < 0) return;
      this.#queued -= n;
      if (n < data.length) {
        q.splice(0, taken, n > 0 ? data.subarray(n) : data);
        this.#blocked = true;
        return;
      }
      if (taken === 1) q.shift();
      else q.splice(0, taken);
    }
    this.#blocked = false;
    if (this.#ending) {
      s.end();
      return;
    }
    if (this.#needDrain) {
      this.#needDrain = false;
      this.handler.onDrain();
    }
  }

  /** Bun says the kernel can take more. */
  drained(): void {
    this.#blocked = false;
    this.flush();
  }

  end(): void {
    if (this.#closed || this.#ending) return;
    this.#ending = true;
    if (this.#queue.length === 0) this.#socket!.end();
  }

  close(): void {
    if (this.#closed) return;
    this.#socket?.terminate();
    this.closedByPeer();
  }

  pause(): void {
    if (this.#paused) return;
    this.#paused = true;
    this.#socket?.pause();
  }

  resume(): void {
    // Called once or twice per request: skip the native call when not paused.
    if (!this.#paused) return;
    this.#paused = false;
    this.#socket?.resume();
  }

  /** The socket is gone; tell the handler once. */
  closedByPeer(error?: Error): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#queue = [];
    this.#queued = 0;
    try {
      this.handler.onClose(error);
    } catch (e) {
      console.error("gatehouse: internal error:", e);
    }
  }
}

/** A callback threw: log it and drop the connection rather than the process. */
function fault(t: BunTcpSocket, e: unknown): void {
  console.error("gatehouse: internal error:", e);
  t.close();
}

/**
 * Leaving a socket callback: what its handlers wrote is sent once Bun has
 * dispatched the rest of this loop turn's events (immediates run after them).
 */
function leave(): void {
  if (--dispatchDepth === 0 && corked.length > 0 && !flushScheduled) {
    flushScheduled = true;
    setImmediate(flushCorked);
  }
}

/**
 * The callbacks Bun calls for every socket's events: one shared set (no
 * per-event closures), each handing the event to the {@link BunTcpSocket} in
 * the socket's data slot, with its writes corked until the loop turn ends.
 * `Bun.connect` takes them as they are; `Bun.listen` adds its `open`.
 *
 * @example
 * ```ts
 * import { socketHandlers } from "./socket.ts";
 * import type { BunGlobal } from "./globals.ts";
 * declare const Bun: BunGlobal;
 * const s = await Bun.connect({ hostname: "127.0.0.1", port: 8080, socket: socketHandlers });
 * ```
 */
export const socketHandlers: BunSocketHandlers<BunTcpSocket> = {
  binaryType: "uint8array",
  data(s, d) {
    const t = s.data;
    if (!t) return;
    dispatchDepth++;
    try {
      t.handler.onData(d);
    } catch (e) {
      fault(t, e);
    } finally {
      leave();
    }
  },
  drain(s) {
    const t = s.data;
    if (!t) return;
    dispatchDepth++;
    try {
      t.drained();
    } catch (e) {
      fault(t, e);
    } finally {
      leave();
    }
  },
  end(s) {
    const t = s.data;
    if (!t) return;
    dispatchDepth++;
    try {
      t.handler.onEnd();
    } catch (e) {
      fault(t, e);
    } finally {
      leave();
    }
  },
  close(s, e) {
    const t = s.data;
    if (!t) return;
    dispatchDepth++;
    try {
      t.closedByPeer(e);
    } catch (err) {
      fault(t, err);
    } finally {
      leave();
    }
  },
  // A socket error ends the socket exactly as a close does.
  error(s, e) {
    socketHandlers.close(s, e);
  },
};
