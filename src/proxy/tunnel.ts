/**
 * The hand-off after a 101: the client and the backend socket become two
 * byte streams piped both ways until either side closes or the tunnel is
 * idle too long. What each side sent past the 101 exchange goes first.
 *
 * @module
 */

import type { Socket } from "../runtime/types.ts";
import { socketStreams } from "./socket_streams.ts";
import { pipeBidirectional, type PipeEnd } from "./pipe.ts";

/**
 * Pipe `client` and `backend` both ways; resolves with how the tunnel ended.
 *
 * @example
 * ```ts
 * import { startTunnel } from "./tunnel.ts";
 * import type { Socket } from "../runtime/types.ts";
 * declare const client: Socket, backend: Socket;
 * const end = await startTunnel(client, new Uint8Array(0), backend, new Uint8Array(0), 30_000);
 * ```
 */
export function startTunnel(
  client: Socket,
  clientLeftover: Uint8Array,
  backend: Socket,
  backendLeftover: Uint8Array,
  idleTimeoutMs: number,
): Promise<PipeEnd> {
  const a = socketStreams(client, clientLeftover.length ? clientLeftover : undefined);
  const b = socketStreams(backend, backendLeftover.length ? backendLeftover : undefined);
  client.resume();
  backend.resume();
  return pipeBidirectional(a, b, idleTimeoutMs);
}
