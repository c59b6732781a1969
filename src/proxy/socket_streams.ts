/**
 * A push-based {@link Socket} seen as a web-standard ReadableStream /
 * WritableStream pair, with backpressure carried across (pause when the
 * readable's queue is full, wait for drain when the socket's is).
 *
 * @module
 */

import type { Socket, SocketHandler } from "../runtime/types.ts";

/** A duplex byte stream. */
export interface DuplexStream {
  readable: ReadableStream<Uint8Array>;
  writable: WritableStream<Uint8Array>;
}

/**
 * Take over a socket's events and expose it as streams. `initial` bytes (read
 * before the hand-over) come out of the readable first.
 *
 * @example
 * ```ts
 * import { socketStreams } from "./socket_streams.ts";
 * import type { Socket } from "../runtime/types.ts";
 * declare const socket: Socket;
 * const { readable, writable } = socketStreams(socket, new TextEncoder().encode("early bytes"));
 * ```
 */
export function socketStreams(socket: Socket, initial?: Uint8Array): DuplexStream {
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  let drained: (() => void) | null = null;
  let closedError: Error | null = null;
  let readableDone = false;
  const finishReadable = (error?: Error) => {
    if (readableDone) return;
    readableDone = true;
    try {
      if (error) controller.error(error);
      else controller.close();
    } catch { /* already cancelled */ }
  };
  const handler: SocketHandler = {
    onData(chunk) {
      if (readableDone) return;
      controller.enqueue(chunk);
      if ((controller.desiredSize ?? 1) <= 0) socket.pause();
    },
    onDrain() {
      const d = drained;
      drained = null;
      d?.();
    },
    onEnd() {
      finishReadable();
    },
    onClose(error) {
      closedError = error ?? new Error("socket closed");
      finishReadable(error);
      const d = drained;
      drained = null;
      d?.();
    },
  };
  const readable = new ReadableStream<Uint8Array>({
    start(c) {
      controller = c;
      if (initial && initial.length > 0) c.enqueue(initial);
    },
    pull() {
      socket.resume();
    },
    cancel() {
      readableDone = true;
      socket.close();
    },
  }, { highWaterMark: 4 });
  const writable = new WritableStream<Uint8Array>({
    write(chunk) {
      if (closedError) throw closedError;
      if (socket.write(chunk)) return;
      return new Promise<void>((resolve) => drained = resolve);
    },
    close() {
      socket.end();
    },
    abort() {
      socket.close();
    },
  });
  socket.setHandler(handler);
  return { readable, writable };
}
