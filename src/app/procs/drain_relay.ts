/**
 * `--procs N`: drains reach every process. The primary takes a drain (the
 * admin API), applies it to its own service state and writes it to each
 * worker's stdin as one line, down the same pipe as the Tower's changes; a
 * worker started later gets the drains in force after its Tower snapshot.
 * When the primary's registry drops a drained replica, the drain ends
 * there, and an undrain line ends it in the workers too (a worker that has
 * not seen the replica yet keeps the drain until then).
 *
 * @module
 */

import type { ReplicaBook } from "../../replicas/book.ts";

/**
 * A drain (`on`) or undrain line: `N|service|address|1` or `...|0`.
 * Service names and addresses never hold "|" or a newline (the registries
 * validate them).
 *
 * @example
 * ```ts
 * import { drainLine } from "./drain_relay.ts";
 * drainLine("api", "10.0.0.7:8081", true); // "N|api|10.0.0.7:8081|1\n"
 * ```
 */
export function drainLine(service: string, address: string, on: boolean): string {
  return `N|${service}|${address}|${on ? 1 : 0}\n`;
}

/**
 * Apply a {@link drainLine} to `book`; false when `line` is not one.
 *
 * @example
 * ```ts
 * import { applyDrainLine } from "./drain_relay.ts";
 * import type { ReplicaBook } from "../../replicas/book.ts";
 * declare const book: ReplicaBook;
 * applyDrainLine(book, "N|api|10.0.0.7:8081|1"); // true: drained
 * ```
 */
export function applyDrainLine(book: ReplicaBook, line: string): boolean {
  const f = line.trim().split("|");
  if (f.length !== 4 || f[0] !== "N" || (f[3] !== "0" && f[3] !== "1")) return false;
  if (f[1] === "" || f[2] === "") return false;
  book.drain(f[1], f[2], f[3] === "1");
  return true;
}

/**
 * The drains in force in `book`, as lines (what a new worker is sent).
 *
 * @example
 * ```ts
 * import { drainSnapshot } from "./drain_relay.ts";
 * import type { ReplicaBook } from "../../replicas/book.ts";
 * declare const book: ReplicaBook;
 * drainSnapshot(book); // "N|api|10.0.0.7:8081|1\n" when that one is drained
 * ```
 */
export function drainSnapshot(book: ReplicaBook): string {
  let out = "";
  for (const [service, address] of book.drains()) out += drainLine(service, address, true);
  return out;
}
