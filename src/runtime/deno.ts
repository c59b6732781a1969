/**
 * The Deno runtime adapter: `Deno.listen` / `Deno.connect`, with each socket
 * driven by `conn.read` into one reused buffer (a copy of just the bytes read
 * is handed on) and a write queue that coalesces what piles up while a write
 * is in flight.
 *
 * @module
 */

import { COALESCE_MAX, nextSend } from "./coalesce.ts";
import type {
  Listener,
  ListenOptions,
  Runtime,
  SelfCommand,
  Socket,
  SocketHandler,
} from "./types.ts";
import { bindUdp } from "./udp.ts";
import { builtin } from "./builtin.ts";

/** Each socket reads into its own buffer: small at first, grown for a socket that fills it. */
const READ_SIZE = 16 * 1024;
const READ_SIZE_BULK = 64 * 1024;
const HIGH_WATER = 256 * 1024;
/** Queued chunks up to this total are joined into one write. */

/** A Deno.Conn behind the push-based {@link Socket} interface. */
class DenoSocket implements Socket {
  readonly #conn: Deno.Conn;
  #handler: SocketHandler;
  #queue: Uint8Array[] = [];
  #queued = 0;
  #writing = false;
  #needDrain = false;
  #ending = false;
  #closed = false;
  #paused = false;
  #resume: (() => void) | null = null;
  readonly remoteAddress: string;
  readonly remotePort: number;

  constructor(conn: Deno.Conn, handler: SocketHandler) {
    this.#conn = conn;
    this.#handler = handler;
    const addr = conn.remoteAddr as Deno.NetAddr;
    this.remoteAddress = addr.hostname ?? "";
    this.remotePort = addr.port ?? 0;
  }

  // Read when asked (rarely: a request without Host), not on every accept.
  get localAddress(): string {
    return (this.#conn.localAddr as Deno.NetAddr).hostname ?? "";
  }

  get localPort(): number {
    return (this.#conn.localAddr as Deno.NetAddr).port ?? 0;
  }

  get bufferedAmount(): number {
    return this.#queued;
  }

  get closed(): boolean {
    return this.#closed;
  }

  setHandler(handler: SocketHandler): void {
    this.#handler = handler;
  }

  /** The read loop; runs until EOF or error. */
  async run(): Promise<void> {
    let buf = new Uint8Array(READ_SIZE);
    while (!this.#closed) {
      if (this.#paused) {
        await new Promise<void>((r) => this.#resume = r);
        continue;
      }
      let n: number | null;
      try {
        n = await this.#conn.read(buf);
      } catch (e) {
        this.#destroy(e as Error);
        return;
      }
      if (this.#closed) return;
      if (n === null) {
        try {
          this.#handler.onEnd();
        } catch (e) {
          this.#fault(e);
        }
        return;
      }
      try {
        this.#handler.onData(buf.slice(0, n));
        // A full buffer means bulk data (a large body): read more per call from now on.
        if (n === buf.length && buf.length < READ_SIZE_BULK) buf = new Uint8Array(READ_SIZE_BULK);
      } catch (e) {
        this.#fault(e);
      }
    }
  }

  write(data: Uint8Array): boolean {
    if (this.#closed || this.#ending) return false;
    this.#queue.push(data);
    this.#queued += data.length;
    if (!this.#writing) {
      this.#writing = true;
      // A small write starts after the current task, so what it writes next (a body
      // after its head) leaves in the same write; a large one starts at once.
      if (data.length < COALESCE_MAX) queueMicrotask(this.#flushLater);
      else this.#flush();
    }
    if (this.#queued > HIGH_WATER) {
      this.#needDrain = true;
      return false;
    }
    return true;
  }

  readonly #flushLater = () => {
    this.#flush();
  };

  async #flush(): Promise<void> {
    this.#writing = true;
    try {
      while (this.#queue.length > 0 && !this.#closed) {
        const q = this.#queue;
        const { data, taken } = nextSend(q);
        if (taken === q.length) this.#queue = [];
        else q.splice(0, taken);
        let off = await this.#conn.write(data);
        while (off < data.length) off += await this.#conn.write(data.subarray(off));
        this.#queued -= data.length;
        if (this.#needDrain && this.#queued <= HIGH_WATER / 2) {
          this.#needDrain = false;
          this.#handler.onDrain();
        }
      }
    } catch (e) {
      this.#destroy(e as Error);
      return;
    } finally {
      this.#writing = false;
    }
    if (this.#ending && this.#queue.length === 0) this.#destroy();
  }

  end(): void {
    if (this.#closed) return;
    this.#ending = true;
    if (!this.#writing && this.#queue.length === 0) this.#destroy();
  }

  close(): void {
    this.#destroy();
  }

  pause(): void {
    this.#paused = true;
  }

  resume(): void {
    if (!this.#paused) return;
    this.#paused = false;
    const r = this.#resume;
    this.#resume = null;
    r?.();
  }

  #fault(e: unknown): void {
    console.error("gatehouse: internal error:", e);
    this.#destroy(e instanceof Error ? e : new Error(String(e)));
  }

  #destroy(error?: Error): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#queue = [];
    this.#queued = 0;
    try {
      this.#conn.close();
    } catch { /* already closed */ }
    const r = this.#resume;
    this.#resume = null;
    r?.();
    try {
      this.#handler.onClose(error);
    } catch (e) {
      console.error("gatehouse: internal error:", e);
    }
  }
}

function startSocket(conn: Deno.Conn, handler: SocketHandler | ((s: Socket) => SocketHandler)) {
  const socket = new DenoSocket(conn, typeof handler === "function" ? noop : handler);
  if (typeof handler === "function") socket.setHandler(handler(socket));
  socket.run();
  return socket;
}

const noop: SocketHandler = {
  onData() {},
  onDrain() {},
  onEnd() {},
  onClose() {},
};

/**
 * The Deno runtime.
 *
 * @example
 * ```ts
 * import { denoRuntime } from "./deno.ts";
 * const listener = await denoRuntime.listen({ hostname: "127.0.0.1", port: 0 }, (socket) => ({
 *   onData: (chunk) => socket.write(chunk), // echo
 *   onDrain() {},
 *   onEnd: () => socket.end(),
 *   onClose() {},
 * }));
 * listener.close();
 * ```
 */
export const denoRuntime: Runtime = {
  name: "deno",
  // A getter: this module is loaded (not used) under Bun too, where Deno is not defined.
  get args() {
    return Deno.args;
  },
  selfCommand: () => denoSelfCommand(),

  listen(options: ListenOptions, onConnection: (s: Socket) => SocketHandler): Promise<Listener> {
    const listener = options.tls
      ? Deno.listenTls(
        {
          hostname: options.hostname,
          port: options.port,
          cert: options.tls.cert,
          key: options.tls.key,
          reusePort: options.reusePort,
        } as Deno.ListenTlsOptions & Deno.TlsCertifiedKeyPem,
      )
      : Deno.listen({
        hostname: options.hostname,
        port: options.port,
        reusePort: options.reusePort,
      } as Deno.TcpListenOptions);
    let open = true;
    (async () => {
      while (open) {
        let conn: Deno.Conn;
        try {
          conn = await listener.accept();
        } catch (e) {
          if (!open) return;
          // Transient accept errors (EMFILE, a failed TLS handshake) must not stop the loop.
          if (e instanceof Deno.errors.BadResource) return;
          await new Promise((r) => setTimeout(r, 10));
          continue;
        }
        try {
          if (!options.tls) (conn as Deno.TcpConn).setNoDelay(true);
          startSocket(conn, onConnection);
        } catch (e) {
          console.error("gatehouse: accept failed:", e);
          try {
            conn.close();
          } catch { /* gone */ }
        }
      }
    })();
    return Promise.resolve({
      port: (listener.addr as Deno.NetAddr).port,
      close() {
        open = false;
        try {
          listener.close();
        } catch { /* closed */ }
      },
    });
  },

  connect(hostname, port, handler, options): Promise<Socket> {
    return new Promise<Socket>((resolve, reject) => {
      let late = false;
      const timer = setTimeout(() => {
        late = true;
        reject(new Error("connect timeout"));
      }, options.timeoutMs);
      Deno.connect({ hostname, port }).then((conn) => {
        clearTimeout(timer);
        // Connected after the caller gave up: nobody owns this socket.
        if (late) return conn.close();
        conn.setNoDelay(true);
        resolve(startSocket(conn, handler));
      }, (e) => {
        clearTimeout(timer);
        if (!late) reject(e instanceof Error ? e : new Error(String(e)));
      });
    });
  },

  // The ceiling answers JavaScriptCore's late full collections; V8 keeps its own schedule.
  startHeapPolicy() {},

  // Deno.TcpConn has no socket options beyond no-delay and keep-alive.
  receiveBufferApplies: false,

  bindUdp,

  onSignal(signal, fn) {
    if (signal === "SIGUSR1") keepInspectorClosed();
    Deno.addSignalListener(signal, fn);
  },

  readTextFile(path) {
    return Deno.readTextFile(path);
  },

  readTextFileSync(path) {
    return Deno.readTextFileSync(path);
  },

  async openAppend(path) {
    const file = await Deno.open(path, { append: true, create: true, mode: 0o644 });
    return { write: (data) => file.write(data), close: () => file.close() };
  },

  watchFolder(path, onChange) {
    const watcher = Deno.watchFs(path, { recursive: false });
    (async () => {
      try {
        for await (const _ of watcher) onChange();
      } catch {
        // Closed, or the folder went away: nothing more to hear.
      }
    })();
    return { close: () => watcher.close() };
  },

  env(name) {
    return Deno.env.get(name);
  },

  exit(code): never {
    Deno.exit(code);
  },
};

let inspectorKeptClosed = false;

/**
 * Deno (from 2.9.2) opens its V8 inspector on 127.0.0.1:9229 when SIGUSR1
 * arrives, as Node does. Here SIGUSR1 asks for the log file to be opened
 * again (logrotate), and must not open a debugger port any local user could
 * reach: one the signal opened is closed again at once (one opened by
 * `--inspect` before it stays).
 */
function keepInspectorClosed(): void {
  if (inspectorKeptClosed) return;
  inspectorKeptClosed = true;
  const inspector = builtin<typeof import("node:inspector")>("node:inspector");
  if (inspector.url() !== undefined) return;
  Deno.addSignalListener("SIGUSR1", () => {
    // The runtime opens it moments after the signal, off this thread.
    for (const ms of [0, 20, 100, 500]) setTimeout(() => inspector.close(), ms);
  });
}

/**
 * How to start this program again under Deno (for `--procs` workers): the
 * `deno` executable with `run` and the main module, or, for a `deno compile`d
 * binary, the binary itself.
 */
function denoSelfCommand(): SelfCommand {
  const exec = Deno.execPath();
  const base = exec.slice(exec.lastIndexOf("/") + 1);
  if (/^deno(\.exe)?$/.test(base) && Deno.mainModule.startsWith("file:")) {
    const main = decodeURIComponent(new URL(Deno.mainModule).pathname);
    return { cmd: exec, args: ["run", "-A", "--unstable-net", main] };
  }
  return { cmd: exec, args: [] };
}
