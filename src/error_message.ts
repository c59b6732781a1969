/**
 * What a thrown value says, in one line: the one helper every layer uses to
 * turn an error into text for a log line or a message.
 *
 * @module
 */

/**
 * The message of anything thrown (an Error's message, else the value as text).
 *
 * @example
 * ```ts
 * import { messageOf } from "./error_message.ts";
 * messageOf(new Error("boom")); // "boom"
 * messageOf("plain");          // "plain"
 * ```
 */
export function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
