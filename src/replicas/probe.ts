/**
 * Whether a replica answers at all: stall detection's question about a
 * replica that has gone quiet. A frozen process still accepts TCP
 * connections (its kernel queues them), so the probe asks for a response:
 * `OPTIONS *`, HTTP's own "are you there" (RFC 9110 9.3.7), whose answer,
 * whatever its status, proves the process is running.
 *
 * @module
 */

import type { Runtime, Socket, SocketHandler } from "../runtime/types.ts";
import { formatHostPort } from "../net/address.ts";

/** Resolves once: true on the first byte back, false on silence, refusal or close. */
class Probe implements SocketHandler {
  socket: Socket | null = null;
  #done = false;
  readonly #resolve: (alive: boolean) => void;
  readonly #timer: ReturnType<typeof setTimeout>;

  constructor(resolve: (alive: boolean) => void, timeoutMs: number) {
    this.#resolve = resolve;
    this.#timer = setTimeout(() => this.finish(false), timeoutMs);
  }

  finish(alive: boolean): void {
    if (this.#done) return;
    this.#done = true;
    clearTimeout(this.#timer);
    this.socket?.close();
    this.#resolve(alive);
  }

  onData(): void {
    this.finish(true);
  }
  onDrain(): void {}
  onEnd(): void {
    this.finish(false);
  }
  onClose(): void {
    this.finish(false);
  }
}

/**
 * Ask `host:port` for `OPTIONS *` on a new connection; true when any byte of
 * an answer comes within `timeoutMs`.
 *
 * @example
 * ```ts
 * import { probeReplica } from "./probe.ts";
 * import { currentRuntime } from "../runtime/current.ts";
 * const alive = await probeReplica(currentRuntime(), "127.0.0.1", 8081, 500);
 * ```
 */
export function probeReplica(
  runtime: Runtime,
  host: string,
  port: number,
  timeoutMs: number,
): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = new Probe(resolve, timeoutMs);
    runtime.connect(host, port, probe, { timeoutMs, receiveBuffer: 0 }).then(
      (socket) => {
        probe.socket = socket;
        socket.write(
          new TextEncoder().encode(
            `OPTIONS * HTTP/1.1\r\nHost: ${formatHostPort(host, port)}\r\nConnection: close\r\n` +
              "User-Agent: gatehouse-probe\r\n\r\n",
          ),
        );
      },
      () => probe.finish(false),
    );
  });
}
