/**
 * Questions to a replica on a connection of their own. Whether it answers
 * at all: stall detection's question about a replica that has gone quiet.
 * A frozen process still accepts TCP connections (its kernel queues them),
 * so the probe asks for a response: `OPTIONS *`, HTTP's own "are you
 * there" (RFC 9110 9.3.7), whose answer, whatever its status, proves the
 * process is running. And how its health path answers: an active health
 * check (health.ts).
 *
 * @module
 */

import type { Runtime, Socket, SocketHandler } from "../runtime/types.ts";
import { formatHostPort } from "../net/address.ts";

/**
 * Resolves once: with the status of the answer's first line (or 1 at its
 * first byte, when only an answer is asked for), or 0 on silence, refusal,
 * a close or an answer that is not HTTP.
 */
class Probe implements SocketHandler {
  socket: Socket | null = null;
  #done = false;

  /** It has finished (answered, failed or timed out). */
  get done(): boolean {
    return this.#done;
  }
  readonly #resolve: (status: number) => void;
  readonly #timer: ReturnType<typeof setTimeout>;
  readonly #wantStatus: boolean;
  #head = "";

  constructor(resolve: (status: number) => void, timeoutMs: number, wantStatus: boolean) {
    this.#resolve = resolve;
    this.#wantStatus = wantStatus;
    this.#timer = setTimeout(() => this.finish(0), timeoutMs);
  }

  finish(status: number): void {
    if (this.#done) return;
    this.#done = true;
    clearTimeout(this.#timer);
    this.socket?.close();
    this.#resolve(status);
  }

  onData(chunk: Uint8Array): void {
    if (!this.#wantStatus) return this.finish(1);
    // "HTTP/1.1 200": the status is the 10th to 12th byte.
    for (let i = 0; i < chunk.length && this.#head.length < 12; i++) {
      this.#head += String.fromCharCode(chunk[i]);
    }
    if (this.#head.length < 12) return;
    const m = /^HTTP\/1\.[01] ([1-5]\d\d)$/.exec(this.#head);
    this.finish(m ? Number(m[1]) : 0);
  }
  onDrain(): void {}
  onEnd(): void {
    this.finish(0);
  }
  onClose(): void {
    this.finish(0);
  }
}

/** Send `request` to `host:port` on a new connection and wait for the answer (see {@link Probe}). */
function ask(
  runtime: Runtime,
  host: string,
  port: number,
  request: string,
  timeoutMs: number,
  wantStatus: boolean,
): Promise<number> {
  return new Promise((resolve) => {
    const probe = new Probe(resolve, timeoutMs, wantStatus);
    runtime.connect(host, port, probe, { timeoutMs, receiveBuffer: 0 }).then(
      (socket) => {
        // Finished meanwhile (timed out while connecting): the connection is not needed.
        if (probe.done) return socket.close();
        probe.socket = socket;
        socket.write(new TextEncoder().encode(request));
      },
      () => probe.finish(0),
    );
  });
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
export async function probeReplica(
  runtime: Runtime,
  host: string,
  port: number,
  timeoutMs: number,
): Promise<boolean> {
  const request = `OPTIONS * HTTP/1.1\r\nHost: ${formatHostPort(host, port)}\r\n` +
    "Connection: close\r\nUser-Agent: gatehouse-probe\r\n\r\n";
  return await ask(runtime, host, port, request, timeoutMs, false) > 0;
}

/**
 * An active health check: `method path` to `host:port` on a new connection,
 * with `hostHeader` (the replica's address when null); the status of the
 * answer, or 0 when none came within `timeoutMs` (or it was not HTTP).
 *
 * @example
 * ```ts
 * import { checkReplica } from "./probe.ts";
 * import { currentRuntime } from "../runtime/current.ts";
 * const status = await checkReplica(currentRuntime(), "127.0.0.1", 8081, "GET", "/healthz", null, 2000);
 * ```
 */
export function checkReplica(
  runtime: Runtime,
  host: string,
  port: number,
  method: string,
  path: string,
  hostHeader: string | null,
  timeoutMs: number,
): Promise<number> {
  const request =
    `${method} ${path} HTTP/1.1\r\nHost: ${hostHeader ?? formatHostPort(host, port)}` +
    "\r\nConnection: close\r\nUser-Agent: gatehouse-health\r\n\r\n";
  return ask(runtime, host, port, request, timeoutMs, true);
}
