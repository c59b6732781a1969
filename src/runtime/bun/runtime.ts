/**
 * The Bun runtime adapter: the {@link Runtime} interface on Bun, tying
 * together its sockets (socket.ts), backend receive buffers
 * (receive_buffer.ts), the heap policy (heap.ts), UDP (udp.ts) and the
 * process's arguments, signals, files and environment.
 *
 * @module
 */

import type {
  ConnectOptions,
  Listener,
  ListenOptions,
  Runtime,
  SelfCommand,
  Socket,
  SocketHandler,
} from "../types.ts";
import { startHeapCeiling } from "./heap.ts";
import { builtin } from "../builtin.ts";
import { bunBindUdp } from "./udp.ts";
import { RECEIVE_BUFFER_APPLIES, setReceiveBuffer } from "./receive_buffer.ts";
import { BunTcpSocket, socketHandlers } from "./socket.ts";
import type { BunGlobal, BunProcess } from "./globals.ts";

declare const Bun: BunGlobal;
declare const process: BunProcess;

/**
 * The Bun runtime.
 *
 * @example
 * ```ts
 * import { bunRuntime } from "./runtime.ts";
 * const listener = await bunRuntime.listen({ hostname: "127.0.0.1", port: 0 }, (socket) => ({
 *   onData: (chunk) => socket.write(chunk), // echo
 *   onDrain() {},
 *   onEnd: () => socket.end(),
 *   onClose() {},
 * }));
 * listener.close();
 * ```
 */
export const bunRuntime: Runtime = {
  name: "bun",
  get args() {
    return process.argv.slice(2);
  },
  selfCommand: () => bunSelfCommand(),

  listen(options: ListenOptions, onConnection: (s: Socket) => SocketHandler): Promise<Listener> {
    const server = Bun.listen({
      hostname: options.hostname,
      port: options.port,
      reusePort: options.reusePort,
      // A client may half-close after its request and still expect the answer.
      allowHalfOpen: true,
      tls: options.tls,
      socket: {
        ...socketHandlers,
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

  // Started by the ingress, not by listen() nor on choosing Bun: the ceiling
  // is for a server's requests in flight, and other commands need no timer.
  startHeapPolicy: startHeapCeiling,

  connect(hostname, port, handler, options: ConnectOptions): Promise<Socket> {
    const t = new BunTcpSocket(handler);
    return new Promise<Socket>((resolve, reject) => {
      let settled = false;
      const timer = setTimeout(() => {
        settled = true;
        reject(new Error("connect timeout"));
      }, options.timeoutMs);
      Bun.connect({ hostname, port, socket: socketHandlers }).then((s) => {
        clearTimeout(timer);
        if (settled) return s.terminate();
        settled = true;
        if (options.receiveBuffer > 0 && RECEIVE_BUFFER_APPLIES) {
          setReceiveBuffer(s.fd, options.receiveBuffer);
        }
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

  receiveBufferApplies: RECEIVE_BUFFER_APPLIES,

  bindUdp: bunBindUdp,

  onSignal(signal, fn) {
    process.on(signal, fn);
  },

  async readTextFile(path) {
    const fs = await import("node:fs/promises");
    return fs.readFile(path, "utf8");
  },

  readTextFileSync(path) {
    return builtin<typeof import("node:fs")>("node:fs").readFileSync(path, "utf8");
  },

  openAppend(path) {
    // Plain descriptors: node:fs/promises' FileHandle throws if collected unclosed.
    const fs = builtin<typeof import("node:fs")>("node:fs");
    return new Promise((resolve, reject) => {
      fs.open(path, "a", 0o644, (error, fd) => {
        if (error) return reject(error);
        resolve({
          write: (data) =>
            new Promise<number>((done, fail) =>
              fs.write(fd, data, (e, n) => e ? fail(e) : done(n))
            ),
          close: () => fs.close(fd, () => {}),
        });
      });
    });
  },

  watchFolder(path, onChange) {
    const watcher = builtin<typeof import("node:fs")>("node:fs").watch(path, () => onChange());
    // A folder that goes away ends the watch; the caller's next reload says why.
    watcher.on("error", () => {});
    return { close: () => watcher.close() };
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

/**
 * How to start this program again under Bun (for `--procs` workers): a
 * compiled executable is run as it is; otherwise `bun` with its own flags and
 * the entry file.
 */
function bunSelfCommand(): SelfCommand {
  const main = Bun.main;
  // A compiled executable's entry lives in its embedded file system.
  if (main.startsWith("/$bunfs/") || /^[A-Z]:[\\/]~BUN[\\/]/.test(main)) {
    return { cmd: process.execPath, args: [] };
  }
  return { cmd: process.execPath, args: [...process.execArgv, main] };
}
