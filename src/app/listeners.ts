/**
 * The accept phase: the ingress's listeners (plain and TLS, several at
 * once), the connection cap they share, and what a reload does to them:
 * a listener added is opened, one removed stops accepting and its
 * connections drain (each finishes its request in flight, then closes),
 * one whose address and certificate stay is left alone.
 *
 * @module
 */

import type { Listener, Runtime, Socket, SocketHandler } from "../runtime/types.ts";
import { ClientConnection } from "../proxy/connection.ts";
import type { ProxyContext } from "../proxy/context.ts";
import { errorResponse } from "../proxy/errors.ts";
import { formatHostPort } from "../net/address.ts";
import { messageOf } from "../error_message.ts";
import type { ListenerConfig } from "./config.ts";
import { StartupError } from "./errors.ts";

/** The handler for a connection refused: the answer is written, nothing more is read. */
const refused: SocketHandler = { onData() {}, onDrain() {}, onEnd() {}, onClose() {} };

/** A listener's identity: its address and certificate (a change of either reopens it). */
function keyOf(c: ListenerConfig): string {
  return JSON.stringify([c.listen.host, c.listen.port, c.tls?.certPath, c.tls?.keyPath]);
}

/** One open listener and the connections it accepted. */
class OpenListener {
  readonly open = new Set<ClientConnection>();
  /** Set once bound (connections may arrive before the bind's promise settles). */
  listener: Listener = { port: 0, close() {} };
  constructor(readonly config: ListenerConfig, readonly ctx: ProxyContext) {}

  /** "http://0.0.0.0:9090" with the bound port. */
  get url(): string {
    const scheme = this.config.tls ? "https" : "http";
    return `${scheme}://${formatHostPort(this.config.listen.host, this.listener.port)}`;
  }
}

/** How listeners are opened. */
export interface ListenerSetOptions {
  runtime: Runtime;
  /** The context every connection shares; each listener gets a copy with its scheme. */
  base: ProxyContext;
  /** Most client connections over all listeners; over it, 503. */
  cap: number;
  /** Listen with SO_REUSEPORT (a `--procs` group). */
  reusePort: boolean;
}

/**
 * The ingress's listeners.
 *
 * @example
 * ```ts
 * import { ListenerSet, type ListenerSetOptions } from "./listeners.ts";
 * declare const options: ListenerSetOptions;
 * const set = new ListenerSet(options);
 * await set.apply([{ listen: { host: "127.0.0.1", port: 0 }, tls: null }]);
 * set.ports; // [the bound port]
 * ```
 */
export class ListenerSet {
  readonly #o: ListenerSetOptions;
  #listeners: OpenListener[] = [];
  /** Every open client connection, whichever listener took it. */
  readonly #all = new Set<ClientConnection>();
  #onEmpty: (() => void) | null = null;
  #stopping = false;

  constructor(options: ListenerSetOptions) {
    this.#o = options;
  }

  /** The bound ports, in the order of the listeners. */
  get ports(): number[] {
    return this.#listeners.map((l) => l.listener.port);
  }

  /** "http://HOST:PORT" of each listener. */
  get urls(): string[] {
    return this.#listeners.map((l) => l.url);
  }

  /** Open client connections now. */
  get connections(): number {
    return this.#all.size;
  }

  /**
   * Make the listeners `wanted`: open those not open yet (all of them or
   * none: a listener that cannot open closes those this call opened, and
   * throws), then close and drain those no longer wanted. Returns what
   * changed, for the reload's log line ("" for nothing).
   */
  async apply(wanted: readonly ListenerConfig[], ports?: readonly number[]): Promise<string> {
    const keep = new Map(this.#listeners.map((l) => [keyOf(l.config), l]));
    const next: OpenListener[] = [];
    const opened: OpenListener[] = [];
    for (const [i, config] of wanted.entries()) {
      const key = keyOf(config);
      const have = keep.get(key);
      if (have !== undefined) {
        keep.delete(key);
        next.push(have);
        continue;
      }
      try {
        const port = ports?.[i] ?? config.listen.port;
        const l = await this.#open({ ...config, listen: { ...config.listen, port } });
        opened.push(l);
        next.push(l);
      } catch (e) {
        for (const l of opened) l.listener.close();
        throw e;
      }
    }
    const closed = [...keep.values()];
    this.#listeners = next;
    const parts = [
      ...opened.map((l) => `opened ${l.url}`),
      ...closed.map((l) => `closed ${l.url} (draining ${l.open.size} connections)`),
    ];
    for (const l of closed) this.#drain(l);
    return parts.join("; ");
  }

  async #open(config: ListenerConfig): Promise<OpenListener> {
    const { runtime, base } = this.#o;
    let tls: { cert: string; key: string } | undefined;
    const where = formatHostPort(config.listen.host, config.listen.port);
    if (config.tls) {
      try {
        tls = {
          cert: await runtime.readTextFile(config.tls.certPath),
          key: await runtime.readTextFile(config.tls.keyPath),
        };
      } catch (e) {
        throw new StartupError(
          `cannot read the TLS certificate or key of ${where}: ${messageOf(e)}`,
        );
      }
    }
    // Each listener's connections see its own scheme and draining flag; the rest is shared.
    const ctx: ProxyContext = { ...base, proto: config.tls ? "https" : "http", draining: false };
    const entry = new OpenListener(config, ctx);
    try {
      entry.listener = await runtime.listen({
        hostname: config.listen.host,
        port: config.listen.port,
        reusePort: this.#o.reusePort,
        tls,
      }, (socket) => this.#accept(entry, socket));
    } catch (e) {
      throw new StartupError(`cannot listen on ${where}: ${messageOf(e)}`);
    }
    return entry;
  }

  #accept(l: OpenListener, socket: Socket): SocketHandler {
    const ctx = l.ctx;
    if (ctx.draining || this.#stopping) {
      socket.write(errorResponse({ kind: "ShuttingDown" }, true, false, ctx.requestIds.nextText()));
      socket.end();
      return refused;
    }
    if (this.#all.size >= this.#o.cap) {
      // Over the cap: answer and close; the slot count only ever holds open connections.
      const id = ctx.requestIds.nextText();
      socket.write(errorResponse({ kind: "TooManyConnections" }, true, false, id));
      socket.end();
      return refused;
    }
    const conn = new ClientConnection(socket, ctx, (c) => {
      l.open.delete(c);
      this.#all.delete(c);
      if (this.#all.size === 0) this.#onEmpty?.();
    });
    l.open.add(conn);
    this.#all.add(conn);
    return conn;
  }

  /** Stop accepting on `l`; its connections finish their requests, then close. */
  #drain(l: OpenListener): void {
    l.ctx.draining = true;
    l.listener.close();
    for (const c of [...l.open]) c.drain();
  }

  /**
   * Shut down: stop accepting everywhere, let requests in flight finish (at
   * most `graceMs`), then close every connection.
   */
  async shutdown(graceMs: number): Promise<void> {
    this.#stopping = true;
    for (const l of this.#listeners) this.#drain(l);
    if (this.#all.size > 0) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((resolve) => {
        this.#onEmpty = resolve;
        timer = setTimeout(resolve, graceMs);
      });
      clearTimeout(timer);
    }
    for (const c of [...this.#all]) c.socket.close();
  }
}
