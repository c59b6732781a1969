/**
 * The demo backend: a tiny HTTP/1.1 server on a free loopback port that
 * answers every request with a greeting, so a newcomer's first `curl`
 * through the ingress has something to reach.
 *
 * @module
 */

import type { Listener, Runtime, Socket, SocketHandler } from "../runtime/types.ts";
import { HeadScan, scanRequestHead } from "../http1/head.ts";
import { requestFramingOf } from "../http1/framing.ts";

const encoder = new TextEncoder();

/** Handles one demo connection: answers each head; bodies are not expected. */
class DemoConnection implements SocketHandler {
  readonly #socket: Socket;
  readonly #name: string;
  #buf = new Uint8Array(0);
  #count = 0;
  readonly #scan = new HeadScan();
  constructor(socket: Socket, name: string) {
    this.#socket = socket;
    this.#name = name;
  }
  onData(chunk: Uint8Array): void {
    const merged = new Uint8Array(this.#buf.length + chunk.length);
    merged.set(this.#buf);
    merged.set(chunk, this.#buf.length);
    this.#buf = merged;
    while (true) {
      const scan = this.#scan;
      const r = scanRequestHead(this.#buf, 0, this.#buf.length, { maxSize: 65536 }, scan);
      if (r?.kind === "incomplete") return;
      if (r !== null || requestFramingOf(scan).kind !== "none") {
        this.#socket.write(
          encoder.encode(
            "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
          ),
        );
        this.#socket.end();
        return;
      }
      const line = `${scan.method()} ${scan.target()}`;
      this.#buf = this.#buf.subarray(scan.size);
      const body = encoder.encode(
        `Hello from the Gatehouse demo backend "${this.#name}" (request ${++this
          .#count} on this connection): ${line}\n`,
      );
      this.#socket.write(encoder.encode(
        `HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${body.length}\r\n\r\n`,
      ));
      this.#socket.write(body);
    }
  }
  onDrain(): void {}
  onEnd(): void {
    this.#socket.end();
  }
  onClose(): void {}
}

/**
 * Start the demo backend on 127.0.0.1 (a free port).
 *
 * @example
 * ```ts
 * import { startDemoBackend } from "./demo.ts";
 * import { currentRuntime } from "../runtime/current.ts";
 * const demo = await startDemoBackend(currentRuntime(), "frontend");
 * console.log(demo.port);
 * ```
 */
export function startDemoBackend(runtime: Runtime, name: string): Promise<Listener> {
  return runtime.listen({ hostname: "127.0.0.1", port: 0 }, (s) => new DemoConnection(s, name));
}
