/**
 * A bounded pool of idle keep-alive connections per backend replica.
 *
 * Idle sockets are kept last-in first-out (the warmest first), at most
 * `maxIdle` per replica, and closed after `idleTimeoutMs` so the ingress lets
 * go before a backend's own keep-alive timeout closes them under a request.
 *
 * @module
 */

import type { Socket, SocketHandler } from "../runtime/types.ts";

/**
 * An idle socket: any event means it can no longer be reused. A socket keeps
 * its entry from one stay in the pool to the next, so a release allocates
 * nothing, and an entry only ever speaks for its own socket.
 */
class IdleEntry implements SocketHandler {
  readonly socket: Socket;
  since = 0;
  readonly #pool: ConnectionPool;
  #key = "";

  constructor(pool: ConnectionPool, socket: Socket) {
    this.#pool = pool;
    this.socket = socket;
  }

  /** Enter the pool under `key` at `now`. */
  hold(key: string, now: number): void {
    this.#key = key;
    this.since = now;
  }

  onData(): void {
    // A backend must not speak unasked: drop it.
    this.#pool.discard(this.#key, this);
  }
  onDrain(): void {}
  onEnd(): void {
    this.#pool.discard(this.#key, this);
  }
  onClose(): void {
    this.#pool.discard(this.#key, this);
  }
}

/** Pool settings. */
export interface PoolOptions {
  /** Idle connections kept per replica. 0 disables pooling. */
  maxIdle: number;
  /** Idle connections older than this are closed. */
  idleTimeoutMs: number;
}

/**
 * The pool.
 *
 * @example
 * ```ts
 * const pool = new ConnectionPool({ maxIdle: 64, idleTimeoutMs: 4000 });
 * const idle = pool.acquire("127.0.0.1:8080", Date.now());
 * ```
 */
export class ConnectionPool {
  readonly #idle = new Map<string, IdleEntry[]>();
  readonly #opts: PoolOptions;
  /** Each socket's entry, made on its first release. */
  readonly #entries = new WeakMap<Socket, IdleEntry>();
  #size = 0;

  constructor(opts: PoolOptions) {
    this.#opts = opts;
  }

  /** Idle connections held right now. */
  get size(): number {
    return this.#size;
  }

  /** Take an idle connection to `key`, or undefined. The caller must set its handler. */
  acquire(key: string, now: number): Socket | undefined {
    const list = this.#idle.get(key);
    if (list === undefined) return undefined;
    while (list.length > 0) {
      const e = list.pop()!;
      this.#size--;
      if (e.socket.closed) continue;
      if (now - e.since > this.#opts.idleTimeoutMs) {
        e.socket.close();
        continue;
      }
      return e.socket;
    }
    return undefined;
  }

  /** Give a connection back after a complete exchange; closes it when the pool is full. */
  release(key: string, socket: Socket, now: number): void {
    if (socket.closed) return;
    let list = this.#idle.get(key);
    if (list === undefined) this.#idle.set(key, list = []);
    if (list.length >= this.#opts.maxIdle) {
      socket.close();
      return;
    }
    let entry = this.#entries.get(socket);
    if (entry === undefined) this.#entries.set(socket, entry = new IdleEntry(this, socket));
    entry.hold(key, now);
    socket.setHandler(entry);
    // An idle socket must read to hear its backend end it. It may come back paused: the
    // response's last bytes can fill the client's queue just as the exchange ends.
    socket.resume();
    list.push(entry);
    this.#size++;
  }

  /** Remove and close an idle entry (called by the entry itself). */
  discard(key: string, entry: IdleEntry): void {
    const list = this.#idle.get(key);
    const i = list ? list.indexOf(entry) : -1;
    if (i >= 0) {
      list!.splice(i, 1);
      this.#size--;
    }
    entry.socket.close();
  }

  /** Close every idle connection to `key` (its replica was ejected or is gone). */
  drop(key: string): void {
    const list = this.#idle.get(key);
    if (list === undefined) return;
    this.#idle.delete(key);
    this.#size -= list.length;
    // Closing fires onClose, which looks for the entry in the list: empty it first.
    for (const e of list.splice(0)) e.socket.close();
  }

  /** Close idle connections older than the idle timeout. */
  sweep(now: number): void {
    for (const [key, list] of this.#idle) {
      for (const e of list.slice()) {
        if (now - e.since > this.#opts.idleTimeoutMs) this.discard(key, e);
      }
      if (list.length === 0) this.#idle.delete(key);
    }
  }

  /** Close every idle connection. */
  close(): void {
    // Closing fires onClose, which edits the lists: take them out first.
    const lists = [...this.#idle.values()];
    this.#idle.clear();
    for (const list of lists) for (const e of list.splice(0)) e.socket.close();
    this.#size = 0;
  }
}
