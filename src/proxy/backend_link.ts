/**
 * One backend socket's events, heard by the exchange that socket serves.
 *
 * @module
 */

import type { Socket, SocketHandler } from "../runtime/types.ts";

/** Who hears a backend socket: the exchange it serves. */
export interface BackendListener {
  /** The link of the attempt this listener is on now; an earlier attempt's is not heard. */
  readonly link: BackendLink | null;
  onBackendData(chunk: Uint8Array): void;
  onBackendDrain(): void;
  onBackendEnd(): void;
  onBackendGone(error?: Error): void;
}

/** Each backend socket's link, found again when the pool hands the socket out. */
const links = new WeakMap<Socket, BackendLink>();

/**
 * Passes a backend socket's events to the exchange it serves, while it is
 * that exchange's `link`: an attempt the exchange has moved on from is
 * heard no more. A socket keeps its link for life (in the pool, the pool's
 * handler hears it), so taking a pooled socket allocates nothing and a link
 * only ever speaks for its own socket.
 *
 * @example
 * ```ts
 * import { BackendLink, type BackendListener } from "./backend_link.ts";
 * declare const exchange: BackendListener;
 * const link = new BackendLink(exchange); // handler for runtime.connect(...)
 * ```
 */
export class BackendLink implements SocketHandler {
  /** The listener served; null while the socket waits in the pool. */
  #listener: BackendListener | null;
  /** The socket, once connected. */
  socket: Socket | null = null;

  constructor(listener: BackendListener) {
    this.#listener = listener;
  }

  /** The link of a pooled `socket`, now serving `listener` (one is made for a socket without). */
  static ofPooled(socket: Socket, listener: BackendListener): BackendLink {
    let link = links.get(socket);
    if (link === undefined) links.set(socket, link = new BackendLink(listener));
    link.socket = socket;
    link.#listener = listener;
    return link;
  }

  /** The connect this link was made for succeeded with `socket`. */
  attach(socket: Socket): void {
    this.socket = socket;
    links.set(socket, this);
  }

  /** Serve `listener` from now on (a hedge's connection, handed to its exchange). */
  rebind(listener: BackendListener): void {
    this.#listener = listener;
  }

  /** Serve no exchange (the socket goes to the pool or into a tunnel). */
  release(): void {
    this.#listener = null;
  }

  /** The listener that hears this socket now, or undefined. */
  #current(): BackendListener | undefined {
    const l = this.#listener;
    return l !== null && l.link === this ? l : undefined;
  }

  onData(chunk: Uint8Array): void {
    this.#current()?.onBackendData(chunk);
  }
  onDrain(): void {
    this.#current()?.onBackendDrain();
  }
  onEnd(): void {
    this.#current()?.onBackendEnd();
  }
  onClose(error?: Error): void {
    this.#current()?.onBackendGone(error);
  }
}
