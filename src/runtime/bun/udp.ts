/**
 * UDP under Bun, on Bun's native UDP socket rather than the node:dgram layer
 * over it, which would load node:dgram and the resident memory it costs.
 *
 * @module
 */

import type { Datagram, UdpSocket } from "../types.ts";
import { udpBindError, udpPortProblem } from "../udp.ts";
import type { BunGlobal, BunUdpSocket } from "./globals.ts";

declare const Bun: BunGlobal;

/**
 * `Runtime.bindUdp` on Bun's native UDP socket (same contract as the
 * node:dgram one in udp.ts: readable bind errors; once bound, send failures
 * and socket errors are dropped, since UDP is best effort).
 *
 * @example
 * ```ts
 * import { bunBindUdp } from "./udp.ts";
 * const socket = await bunBindUdp("127.0.0.1", 0, ({ data, host, port }) => {
 *   socket.send(data, port, host); // echo
 * });
 * socket.close();
 * ```
 */
export async function bunBindUdp(
  hostname: string,
  port: number,
  onMessage: (datagram: Datagram) => void,
): Promise<UdpSocket> {
  const problem = udpPortProblem(hostname, port);
  if (problem !== undefined) throw problem;
  let socket: BunUdpSocket;
  try {
    socket = await Bun.udpSocket({
      hostname,
      port,
      socket: {
        data(_s, data, fromPort, fromHost) {
          try {
            onMessage({ data, host: fromHost, port: fromPort });
          } catch (e) {
            console.error("gatehouse: internal error:", e);
          }
        },
        error() {},
      },
    });
  } catch (e) {
    throw udpBindError(hostname, port, e instanceof Error ? e : new Error(String(e)));
  }
  let closed = false;
  return {
    port: socket.port,
    hostname: socket.address.address,
    send(data, toPort, toHost) {
      if (closed) return;
      try {
        socket.send(data, toPort, toHost);
      } catch {
        // Best effort: e.g. an IPv6 destination from an IPv4 socket.
      }
    },
    close() {
      if (closed) return;
      closed = true;
      socket.close();
    },
  };
}
