/**
 * The Bun runtime adapter: `Bun.listen` / `Bun.connect` socket callbacks map
 * one to one onto the push-based {@link Socket} interface; the only work left
 * is keeping what the kernel did not take yet and sending it on `drain`.
 *
 * @module
 */

import type { Listener, ListenOptions, Runtime, Socket, SocketHandler } from "./types.ts";
import { bindUdp } from "./udp.ts";

/** The part of Bun's socket we use (Bun's own types are not available to deno check). */
interface BunSocket {
  data: BunTcpSocket;
  write(data: Uint8Array): number;
  end(): void;
  terminate(): void;
  pause(): void;
  resume(): void;
  setNoDelay?(on: boolean): void;
  readonly remoteAddress: string;
  readonly remotePort?: number;
}

interface BunSocketHandlers {
  open?(s: BunSocket): void;
  data(s: BunSocket, data: Uint8Array): void;
  drain(s: BunSocket): void;
  end(s: BunSocket): void;
  close(s: BunSocket, error?: Error): void;
  error(s: BunSocket, error: Error): void;
  connectError?(s: BunSocket, error: Error): void;
}

interface BunGlobal {
  listen(options: {
    hostname: string;
    port: number;
    reusePort?: boolean;
    allowHalfOpen?: boolean;
    tls?: { cert: string; key: string };
    socket: BunSocketHandlers;
  }): { port: number; stop(closeActive?: boolean): void };
  connect(options: {
    hostname: string;
    port: number;
    socket: BunSocketHandlers;
    data?: unknown;
  }): Promise<BunSocket>;
}

const HIGH_WATER = 256 * 1024;

declare const Bun: BunGlobal;
declare const process: {
  on(signal: string, fn: () => void): void;
  env: Record<string, string | undefined>;
  exit(code: number): never;
};

/** A Bun socket behind the {@link Socket} interface. */
class BunTcpSocket implements Socket {
  #socket: BunSocket | null = null;
  handler: SocketHandler;
  #queue: Uint8Array[] = [];
  #queued = 0;
  #needDrain = false;
  #ending = false;
  #closed = false;
  remoteAddress = "";
  remotePort = 0;

  constructor(handler: SocketHandler) {
    this.handler = handler;
  }

  attach(s: BunSocket): void {
    this.#socket = s;
    s.data = this;
    this.remoteAddress = s.remoteAddress ?? "";
    this.remotePort = s.remotePort ?? 0;
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
    if (this.#queue.length === 0) {
      const n = this.#socket!.write(data);
      if (n === data.length) return true;
      data = data.subarray(Math.max(0, n));
    }
    this.#queue.push(data);
    this.#queued += data.length;
    if (this.#queued > HIGH_WATER) {
      this.#needDrain = true;
      return false;
    }
    return true;
  }

  /** Bun says the kernel can take more: send what is queued. */
  flush(): void {
    const s = this.#socket!;
    while (this.#queue.length > 0) {
      const data = this.#queue[0];
      const n = s.write(data);
      if (n < 0) return;
      this.#queued -= n;
      if (n < data.length) {
        this.#queue[0] = data.subarray(n);
        return;
      }
      this.#queue.shift();
    }
    if (this.#ending) {
      s.end();
      return;
    }
    if (this.#needDrain) {
      this.#needDrain = false;
      this.handler.onDrain();
    }
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
    this.#socket?.pause();
  }

  resume(): void {
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

function guard(s: BunSocket, fn: (t: BunTcpSocket) => void): void {
  const t = s.data;
  if (!t) return;
  try {
    fn(t);
  } catch (e) {
    console.error("gatehouse: internal error:", e);
    t.close();
  }
}

const handlers: BunSocketHandlers = {
  data: (s, d) => guard(s, (t) => t.handler.onData(d)),
  drain: (s) => guard(s, (t) => t.flush()),
  end: (s) => guard(s, (t) => t.handler.onEnd()),
  close: (s, e) => guard(s, (t) => t.closedByPeer(e)),
  error: (s, e) => guard(s, (t) => t.closedByPeer(e)),
};

/**
 * The Bun runtime.
 *
 * @example
 * ```ts
 * import { bunRuntime } from "./src/runtime/bun.ts";
 * await bunRuntime.listen({ hostname: "127.0.0.1", port: 8080 }, handlerFor);
 * ```
 */
export const bunRuntime: Runtime = {
  name: "bun",

  listen(options: ListenOptions, onConnection: (s: Socket) => SocketHandler): Promise<Listener> {
    const server = Bun.listen({
      hostname: options.hostname,
      port: options.port,
      reusePort: options.reusePort,
      // A client may half-close after its request and still expect the answer.
      allowHalfOpen: true,
      tls: options.tls,
      socket: {
        ...handlers,
        open(s) {
          const t = new BunTcpSocket(noop);
          t.attach(s);
          try {
            t.handler = onConnection(t);
          } catch (e) {
            console.error("gatehouse: accept failed:", e);
            t.close();
          }
        },
      },
    });
    return Promise.resolve({
      port: server.port,
      close: () => server.stop(false),
    });
  },

  connect(hostname, port, handler, timeoutMs): Promise<Socket> {
    const t = new BunTcpSocket(handler);
    return new Promise<Socket>((resolve, reject) => {
      let settled = false;
      const timer = setTimeout(() => {
        settled = true;
        reject(new Error("connect timeout"));
      }, timeoutMs);
      Bun.connect({ hostname, port, socket: handlers }).then((s) => {
        clearTimeout(timer);
        if (settled) return s.terminate();
        settled = true;
        t.attach(s);
        resolve(t);
      }, (e) => {
        clearTimeout(timer);
        if (settled) return;
        settled = true;
        reject(e instanceof Error ? e : new Error(String(e)));
      });
    });
  },

  bindUdp,

  onSignal(signal, fn) {
    process.on(signal, fn);
  },

  async readTextFile(path) {
    const fs = await import("node:fs/promises");
    return fs.readFile(path, "utf8");
  },

  env(name) {
    return process.env[name];
  },

  exit(code): never {
    process.exit(code);
  },
};

const noop: SocketHandler = {
  onData() {},
  onDrain() {},
  onEnd() {},
  onClose() {},
};
