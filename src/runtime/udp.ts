/**
 * UDP for the runtime layer, on `node:dgram`: the one UDP API that Deno and
 * Bun both provide. The Deno adapter uses it; the Bun adapter binds with
 * Bun's native `Bun.udpSocket` (lighter: node:dgram is a layer over it) and
 * shares the checks and error wording here.
 *
 * @module
 */

import type { Datagram, UdpSocket } from "./types.ts";
import { builtin } from "./builtin.ts";

/** Plain words for the bind failures an operator actually meets. */
const BIND_ERRORS: Record<string, string> = {
  EADDRINUSE: "address already in use (is another Tower or process bound to it?)",
  EACCES: "permission denied",
  EADDRNOTAVAIL: "address not available on this machine",
  ENOTFOUND: "host name not found",
  // Bun's native bind reports an unknown host name this way.
  ENOENT: "host name not found",
  EAI_AGAIN: "host name lookup failed (temporary)",
};

/**
 * The bind of UDP `hostname:port` failed: an Error in an operator's words,
 * with the system error as its cause.
 */
export function udpBindError(
  hostname: string,
  port: number,
  err: Error & { code?: string },
): Error {
  const why = (err.code !== undefined && BIND_ERRORS[err.code]) || err.message;
  const code = err.code === undefined ? "" : ` [${err.code}]`;
  return new Error(`cannot bind UDP ${hostname}:${port}: ${why}${code}`, { cause: err });
}

/** Why `port` cannot be bound (checked here: one runtime wraps 70000 to 4464), or undefined. */
export function udpPortProblem(hostname: string, port: number): Error | undefined {
  if (Number.isInteger(port) && port >= 0 && port <= 65535) return undefined;
  return new Error(`cannot bind UDP ${hostname}:${port}: port must be an integer 0-65535`);
}

/**
 * Bind a UDP socket on `hostname:port` (port 0 picks a free one) and call
 * `onMessage` for each datagram. The socket family follows the hostname: an
 * address containing ":" binds IPv6, anything else IPv4 (a host name is
 * resolved to IPv4 by the runtime).
 *
 * Rejects with a readable Error (its `cause` is the system error) when the
 * bind fails. Once bound, socket errors are swallowed and failed sends are
 * dropped: UDP is best effort, and a stray ICMP error must not end a process.
 *
 * @example
 * ```ts
 * const socket = await bindUdp("127.0.0.1", 0, ({ data, host, port }) => {
 *   socket.send(data, port, host); // echo
 * });
 * console.log(`udp echo on ${socket.hostname}:${socket.port}`);
 * socket.close();
 * ```
 */
export function bindUdp(
  hostname: string,
  port: number,
  onMessage: (datagram: Datagram) => void,
): Promise<UdpSocket> {
  const problem = udpPortProblem(hostname, port);
  if (problem !== undefined) return Promise.reject(problem);
  return new Promise((resolve, reject) => {
    const { createSocket } = builtin<typeof import("node:dgram")>("node:dgram");
    const socket = createSocket({ type: hostname.includes(":") ? "udp6" : "udp4" });
    let closed = false;
    const close = () => {
      if (closed) return;
      closed = true;
      try {
        socket.close();
      } catch {
        // Already closed by the runtime after a failed bind.
      }
    };

    const onBindError = (err: Error & { code?: string }) => {
      close();
      reject(udpBindError(hostname, port, err));
    };
    socket.once("error", onBindError);

    socket.on("message", (message, rinfo) => {
      // A Buffer is a Uint8Array; hand it over without copying.
      onMessage({ data: message, host: rinfo.address, port: rinfo.port });
    });

    try {
      socket.bind(port, hostname, () => {
        socket.off("error", onBindError);
        socket.on("error", () => {});
        const address = socket.address();
        resolve({
          port: address.port,
          hostname: address.address,
          send(data: Uint8Array, toPort: number, toHost: string): void {
            if (closed) return;
            socket.send(data, toPort, toHost, () => {
              // Send failures are ignored on purpose (best effort).
            });
          },
          close,
        });
      });
    } catch (err) {
      // Some argument errors (e.g. an out-of-range port) throw synchronously.
      onBindError(err as Error & { code?: string });
    }
  });
}
