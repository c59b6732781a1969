/**
 * The one small interface between the engine and a JavaScript runtime.
 *
 * The engine (codec, router, failover, proxy) never touches `Deno` or `Bun`;
 * it is handed a {@link Runtime}. Sockets are push-based (callbacks), because
 * that is the fastest native shape on Bun and costs nothing extra on Deno,
 * where the adapter drives `conn.read` into a reused buffer.
 *
 * @module
 */

/** Callbacks a socket owner supplies; the runtime calls them. */
export interface SocketHandler {
  /** Bytes arrived. The chunk belongs to the receiver (the adapter never reuses it). */
  onData(chunk: Uint8Array): void;
  /** The write queue fell below the high-water mark after `write` returned false. */
  onDrain(): void;
  /** The peer finished sending (EOF). The socket may still be writable. */
  onEnd(): void;
  /** The socket is gone (closed by either side or failed). Called exactly once. */
  onClose(error?: Error): void;
}

/** A connected TCP (or TLS) stream socket. */
export interface Socket {
  /**
   * Queue bytes for sending. The caller must not mutate `data` afterwards.
   * Returns false when the queue is above its high-water mark: stop producing
   * until `onDrain`.
   */
  write(data: Uint8Array): boolean;
  /** Flush what is queued, then close the socket. */
  end(): void;
  /** Close at once, dropping anything queued. */
  close(): void;
  /** Stop delivering `onData` (backpressure). */
  pause(): void;
  /** Resume delivering `onData`. */
  resume(): void;
  /** Replace the callbacks (used when a pooled connection changes owner). */
  setHandler(handler: SocketHandler): void;
  /** The peer's IP address as text (IPv6 without brackets). */
  readonly remoteAddress: string;
  /** The peer's port. */
  readonly remotePort: number;
  /**
   * This end's IP address as text (IPv6 without brackets): for an accepted
   * socket, the address the client connected to (the Host of a request that
   * names none).
   */
  readonly localAddress: string;
  /** This end's port. */
  readonly localPort: number;
  /** Bytes queued but not yet handed to the kernel. */
  readonly bufferedAmount: number;
  /** True once closed. */
  readonly closed: boolean;
}

/** Options for {@link Runtime.connect}. */
export interface ConnectOptions {
  /** Give up (reject) when not connected within this time. */
  timeoutMs: number;
  /**
   * Receive buffer to ask the kernel for (SO_RCVBUF), in bytes; 0 leaves the
   * kernel's own sizing. Applied where the runtime exposes the socket (Bun);
   * see {@link Runtime.receiveBufferApplies}.
   */
  receiveBuffer: number;
}

/** Options for {@link Runtime.listen}. */
export interface ListenOptions {
  hostname: string;
  port: number;
  /** Share the port between processes (SO_REUSEPORT). */
  reusePort?: boolean;
  /** PEM certificate chain and key: accept TLS instead of plain TCP. */
  tls?: { cert: string; key: string };
}

/** A listening server socket. */
export interface Listener {
  /** The bound port (useful when 0 was asked for). */
  readonly port: number;
  /** Stop accepting; open connections are left alone. */
  close(): void;
}

/** A datagram received on a {@link UdpSocket}. */
export interface Datagram {
  data: Uint8Array;
  host: string;
  port: number;
}

/** A bound UDP socket. */
export interface UdpSocket {
  readonly port: number;
  readonly hostname: string;
  send(data: Uint8Array, port: number, host: string): void;
  close(): void;
}

/** A file opened for appending (the access log's). */
export interface AppendFile {
  /**
   * Write `data` at the file's end (O_APPEND: another process's writes never
   * land inside it); resolves with how many bytes were written, which may be
   * fewer; rejects when nothing could be (a full disk).
   */
  write(data: Uint8Array): Promise<number>;
  /** Close the file; it must not be written to after. */
  close(): void;
}

/** A program and the arguments that start it, before any of its own. */
export interface SelfCommand {
  cmd: string;
  args: string[];
}

/** Everything the engine needs from the runtime. */
export interface Runtime {
  /** "deno" or "bun": for logs and diagnostics only. */
  readonly name: string;
  /** The command-line arguments after the program (and script) name. */
  readonly args: readonly string[];
  /** How to start this same program again (for `--procs` workers); arguments are appended. */
  selfCommand(): SelfCommand;
  /**
   * Listen for TCP/TLS connections. `onConnection` is called for each accepted
   * socket and returns the handler that will receive its events.
   */
  listen(
    options: ListenOptions,
    onConnection: (socket: Socket) => SocketHandler,
  ): Promise<Listener>;
  /**
   * Start the heap policy of a process that serves (on Bun, a ceiling that
   * collects garbage JavaScriptCore would hold too long); later calls do
   * nothing. The ingress calls it as it starts to listen: the policy is for
   * the objects of many requests in flight, which one-shot commands and a
   * standalone Tower do not hold. A no-op where the runtime needs none (Deno).
   */
  startHeapPolicy(): void;
  /**
   * Connect to host:port. Resolves once connected; rejects on refusal or when
   * `options.timeoutMs` passes first.
   */
  connect(
    hostname: string,
    port: number,
    handler: SocketHandler,
    options: ConnectOptions,
  ): Promise<Socket>;
  /** Whether {@link ConnectOptions.receiveBuffer} takes effect in this runtime. */
  readonly receiveBufferApplies: boolean;
  /** Bind a UDP socket; each datagram is passed to `onMessage`. */
  bindUdp(
    hostname: string,
    port: number,
    onMessage: (datagram: Datagram) => void,
  ): Promise<UdpSocket>;
  /** Run `fn` when the process receives the signal. */
  onSignal(signal: "SIGTERM" | "SIGINT" | "SIGHUP" | "SIGUSR1", fn: () => void): void;
  /** Read a whole text file. */
  readTextFile(path: string): Promise<string>;
  /** Read a whole text file now (start-up only: it blocks). */
  readTextFileSync(path: string): string;
  /**
   * Open `path` for appending, creating it when missing; rejects when it
   * cannot (a folder, no permission). The writes run off the event loop.
   */
  openAppend(path: string): Promise<AppendFile>;
  /**
   * Call `onChange` when anything in the folder `path` changes (a file
   * written, renamed, a symlink swapped). Events may come in bursts; the
   * caller debounces. Throws when the folder cannot be watched.
   */
  watchFolder(path: string, onChange: () => void): { close(): void };
  /** Environment variable, or undefined. */
  env(name: string): string | undefined;
  /** Exit the process. */
  exit(code: number): never;
}
