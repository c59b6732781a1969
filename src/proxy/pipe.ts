/**
 * The bidirectional pipe used for Upgrade tunnels (WebSocket and friends):
 * bytes flow both ways until either side ends, or until nothing moved for
 * the idle timeout; then both sides are closed.
 *
 * Web-standard streams only (ReadableStream, WritableStream, AbortSignal), so
 * it runs unchanged on Deno and Bun.
 *
 * @module
 */

import type { DuplexStream } from "./socket_streams.ts";

/** How a tunnel ended. */
export type PipeEnd = "closed" | "idle";

/**
 * Pipe `a` and `b` into each other. Resolves when the tunnel is over; both
 * sides have been closed (or aborted) by then.
 *
 * @example
 * ```ts
 * import { pipeBidirectional } from "./pipe.ts";
 * import type { DuplexStream } from "./socket_streams.ts";
 * declare const client: DuplexStream, backend: DuplexStream;
 * const end = await pipeBidirectional(client, backend, 30_000); // "closed" or "idle"
 * ```
 */
export async function pipeBidirectional(
  a: DuplexStream,
  b: DuplexStream,
  idleMs: number,
): Promise<PipeEnd> {
  const abort = new AbortController();
  let last = Date.now();
  let idle = false;
  const touch = () =>
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, c) {
        last = Date.now();
        c.enqueue(chunk);
      },
    });
  // Re-arm lazily: one timer per tunnel, not one per chunk.
  let timer: ReturnType<typeof setTimeout> | undefined;
  const arm = (ms: number) => {
    timer = setTimeout(() => {
      const left = last + idleMs - Date.now();
      if (left > 0) return arm(left);
      idle = true;
      abort.abort(new Error("idle timeout"));
    }, ms);
  };
  if (idleMs > 0) arm(idleMs);
  const options = { signal: abort.signal };
  const one = a.readable.pipeThrough(touch()).pipeTo(b.writable, options);
  const two = b.readable.pipeThrough(touch()).pipeTo(a.writable, options);
  // A direction that ends cleanly has ended (flushed, then closed) its destination, which in
  // turn ends the other direction without dropping queued bytes. Only a failure aborts both.
  const failed = await Promise.race([one, two].map((p) => p.then(() => false, () => true)));
  if (failed) abort.abort(new Error("tunnel failed"));
  await Promise.allSettled([one, two]);
  clearTimeout(timer);
  return idle ? "idle" : "closed";
}
