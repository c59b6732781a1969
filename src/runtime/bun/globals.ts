/**
 * The shapes of the Bun globals and built-ins the Bun adapter uses. Bun's
 * own type definitions are not available to deno check, so each module of
 * the adapter declares the global it touches with one of these
 * (`declare const Bun: BunGlobal;`): a declaration is types only, and the
 * code still reads the global directly.
 *
 * @module
 */

/**
 * The part of Bun's TCP socket we use; `Data` is what we keep in its `data`
 * slot (the adapter's own socket).
 *
 * @example
 * ```ts
 * import type { BunSocket } from "./globals.ts";
 * declare const s: BunSocket<string>;
 * if (s.write(new TextEncoder().encode("hello")) < 0) s.terminate();
 * ```
 */
export interface BunSocket<Data> {
  data: Data;
  write(data: Uint8Array): number;
  end(): void;
  terminate(): void;
  pause(): void;
  resume(): void;
  setNoDelay?(on: boolean): void;
  /** The socket's file descriptor. */
  readonly fd: number;
  readonly remoteAddress: string;
  readonly remotePort?: number;
  readonly localAddress?: string;
  readonly localPort?: number;
}

/**
 * The callbacks Bun calls for a TCP socket's events.
 *
 * @example
 * ```ts
 * import type { BunSocketHandlers } from "./globals.ts";
 * const quiet: BunSocketHandlers<null> = {
 *   data(s) { s.end(); }, drain() {}, end() {}, close() {}, error() {},
 * };
 * ```
 */
export interface BunSocketHandlers<Data> {
  /** What `data` receives: a plain Uint8Array costs less to make than a Buffer. */
  binaryType?: "uint8array";
  open?(s: BunSocket<Data>): void;
  data(s: BunSocket<Data>, data: Uint8Array): void;
  drain(s: BunSocket<Data>): void;
  end(s: BunSocket<Data>): void;
  close(s: BunSocket<Data>, error?: Error): void;
  error(s: BunSocket<Data>, error: Error): void;
  connectError?(s: BunSocket<Data>, error: Error): void;
}

/**
 * The part of Bun's native UDP socket we use.
 *
 * @example
 * ```ts
 * import type { BunUdpSocket } from "./globals.ts";
 * declare const socket: BunUdpSocket;
 * socket.send(new Uint8Array([1]), 7772, "127.0.0.1");
 * socket.close();
 * ```
 */
export interface BunUdpSocket {
  readonly port: number;
  readonly address: { address: string };
  send(data: Uint8Array, port: number, host: string): boolean;
  close(): void;
}

/**
 * The part of the `Bun` global we use.
 *
 * @example
 * ```ts
 * import type { BunGlobal } from "./globals.ts";
 * declare const Bun: BunGlobal;
 * Bun.gc(true);
 * ```
 */
export interface BunGlobal {
  /** The entry file this process was started with. */
  readonly main: string;
  /** Collect garbage now (`true`: synchronously, a full collection). */
  gc(sync: boolean): void;
  udpSocket(options: {
    hostname: string;
    port: number;
    socket: {
      data(s: BunUdpSocket, data: Uint8Array, port: number, host: string): void;
      error?(s: BunUdpSocket, error: Error): void;
    };
  }): Promise<BunUdpSocket>;
  listen<Data>(options: {
    hostname: string;
    port: number;
    reusePort?: boolean;
    allowHalfOpen?: boolean;
    tls?: { cert: string; key: string };
    socket: BunSocketHandlers<Data>;
  }): { port: number; stop(closeActive?: boolean): void };
  connect<Data>(options: {
    hostname: string;
    port: number;
    socket: BunSocketHandlers<Data>;
    data?: unknown;
  }): Promise<BunSocket<Data>>;
}

/**
 * The part of Node's `process` global (which Bun provides) we use.
 *
 * @example
 * ```ts
 * import type { BunProcess } from "./globals.ts";
 * declare const process: BunProcess;
 * console.log(process.platform, process.memoryUsage().heapUsed);
 * ```
 */
export interface BunProcess {
  platform: string;
  memoryUsage(): { heapUsed: number; external: number };
  on(signal: string, fn: () => void): void;
  env: Record<string, string | undefined>;
  exit(code: number): never;
  execPath: string;
  execArgv: string[];
  argv: string[];
}

/**
 * The `setImmediate` global: runs `fn` once Bun has dispatched the events of
 * the current loop turn.
 *
 * @example
 * ```ts
 * import type { SetImmediate } from "./globals.ts";
 * declare const setImmediate: SetImmediate;
 * setImmediate(() => console.log("after this turn's events"));
 * ```
 */
export type SetImmediate = (fn: () => void) => unknown;

/**
 * `setsockopt(2)` as bun:ffi hands it over.
 *
 * @example
 * ```ts
 * import type { SetSockOpt } from "./globals.ts";
 * declare const setsockopt: SetSockOpt;
 * const failed = setsockopt(3, 1, 8, new Int32Array([65536]), 4) !== 0;
 * ```
 */
export type SetSockOpt = (
  fd: number,
  level: number,
  name: number,
  value: Int32Array,
  length: number,
) => number;

/**
 * The part of the `bun:ffi` built-in we use.
 *
 * @example
 * ```ts
 * import type { BunFfi } from "./globals.ts";
 * import { builtin } from "../builtin.ts";
 * const libc = builtin<BunFfi>("bun:ffi").dlopen("libc.so.6", {
 *   setsockopt: { args: ["i32", "i32", "i32", "ptr", "u32"], returns: "i32" },
 * });
 * ```
 */
export interface BunFfi {
  dlopen(
    path: string,
    symbols: { setsockopt: { args: string[]; returns: string } },
  ): { symbols: { setsockopt: SetSockOpt } };
}
