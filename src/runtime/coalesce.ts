/**
 * Write coalescing shared by the runtime adapters: small chunks queued while a
 * send was pending (a head, then its body) leave in one send, one segment;
 * large chunks are sent as they are rather than copied.
 *
 * @module
 */

/** Chunks up to this many bytes in total are joined into one send. */
export const COALESCE_MAX = 64 * 1024;

/**
 * The bytes for the next send from the front of `queue`, and how many queue
 * entries they cover. The queue itself is left unchanged.
 *
 * @example
 * ```ts
 * import { nextSend } from "./coalesce.ts";
 * const queue = [new Uint8Array(3), new Uint8Array(5)];
 * const { data, taken } = nextSend(queue); // data.length === 8, taken === 2
 * queue.splice(0, taken);
 * ```
 */
export function nextSend(queue: readonly Uint8Array[]): { data: Uint8Array; taken: number } {
  const first = queue[0];
  if (queue.length === 1 || first.length >= COALESCE_MAX) return { data: first, taken: 1 };
  let total = first.length;
  let taken = 1;
  while (taken < queue.length && total + queue[taken].length <= COALESCE_MAX) {
    total += queue[taken++].length;
  }
  if (taken === 1) return { data: first, taken };
  const data = new Uint8Array(total);
  let o = 0;
  for (let i = 0; i < taken; i++) {
    data.set(queue[i], o);
    o += queue[i].length;
  }
  return { data, taken };
}
