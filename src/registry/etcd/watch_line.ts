/**
 * One line of etcd's JSON watch stream, read: created, a progress
 * notification, events, a cancel for compaction, or a failure. Pure; what
 * the events do is the registry's.
 *
 * @module
 */

import type { Json } from "./gateway.ts";
import type { KeyValue } from "./view.ts";

/**
 * A PUT or DELETE from the watch stream.
 *
 * @example
 * ```ts
 * import type { WatchEvent } from "./watch_line.ts";
 * const event: WatchEvent = { type: "DELETE", kv: { key: "L2dhdGVob3VzZS9hcGkveA==", mod_revision: "9" } };
 * ```
 */
export interface WatchEvent {
  type?: "PUT" | "DELETE";
  kv?: KeyValue;
}

/**
 * What a watch line says.
 *
 * @example
 * ```ts
 * import type { WatchLine } from "./watch_line.ts";
 * const line: WatchLine = { kind: "compacted", revision: 42 };
 * ```
 */
export type WatchLine =
  | { kind: "created" }
  | { kind: "progress" }
  | { kind: "events"; events: WatchEvent[] }
  | { kind: "compacted"; revision: number }
  | { kind: "failed"; reason: string };

/**
 * Read one line of the watch stream.
 *
 * @example
 * ```ts
 * import { readWatchLine } from "./watch_line.ts";
 * readWatchLine('{"result":{"created":true}}'); // { kind: "created" }
 * readWatchLine('{"result":{"canceled":true,"compact_revision":"42"}}'); // { kind: "compacted", revision: 42 }
 * ```
 */
export function readWatchLine(line: string): WatchLine {
  let message: Json;
  try {
    message = JSON.parse(line);
  } catch {
    return { kind: "failed", reason: `unreadable watch line: ${line.slice(0, 200)}` };
  }
  if (message.error !== undefined) {
    const error = message.error;
    return {
      kind: "failed",
      reason: `watch error: ${typeof error === "object" ? error.message : error}`,
    };
  }
  const result = message.result ?? {};
  if (result.canceled) {
    const compacted = Number(result.compact_revision ?? 0);
    if (compacted > 0) return { kind: "compacted", revision: compacted };
    return {
      kind: "failed",
      reason: `watch canceled: ${result.cancel_reason || "no reason given"}`,
    };
  }
  if (result.created) return { kind: "created" };
  const events = (result.events ?? []) as WatchEvent[];
  // Progress notifications carry a header revision too, but etcd 3.4 may
  // send one ahead of events still queued, so only events move the revision.
  return events.length === 0 ? { kind: "progress" } : { kind: "events", events };
}
