/**
 * A route's header edits applied to a head the ingress has built (the one a
 * backend gets, or the one a client gets): fields removed or set are dropped
 * wherever they are, then the set and added fields follow the others. The
 * edits are compiled once per route into bytes, so applying them is one
 * copy of the head.
 *
 * They work on finished heads, after the ingress wrote its own fields
 * (forwarding headers, X-Request-Id), so a route can replace those too
 * on purpose. The fields that frame a message never reach here: the config
 * refuses them (src/config/route_rules.ts).
 *
 * @module
 */

import type { HeaderEdits } from "../routing/rules.ts";

const encoder = new TextEncoder();

/**
 * Header edits ready to apply.
 *
 * @example
 * ```ts
 * import { HeadEdits } from "./header_edits.ts";
 * const edits = new HeadEdits({ remove: ["server"], set: [["X-Env", "prod"]], add: [] });
 * const head = new TextEncoder().encode("HTTP/1.1 200 OK\r\nServer: x\r\nContent-Length: 0\r\n\r\n");
 * new TextDecoder().decode(edits.apply(head));
 * // "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX-Env: prod\r\n\r\n"
 * ```
 */
export class HeadEdits {
  /** Lower-case names whose fields are dropped (removed, or replaced by a set). */
  readonly #drop: readonly Uint8Array[];
  /** The set fields, then the added ones: `Name: value` lines. */
  readonly #tail: Uint8Array;

  /** `first`: fields set before `edits` (they give way to any edit of the same name). */
  constructor(edits: HeaderEdits | null, first: readonly (readonly [string, string])[] = []) {
    const remove = edits?.remove ?? [];
    const set = edits?.set ?? [];
    const named = new Set([...remove, ...set.map(([name]) => name.toLowerCase())]);
    const own = first.filter(([name]) => !named.has(name.toLowerCase()));
    const sets = [...own, ...set];
    const drop = new Set([...remove, ...sets.map(([name]) => name.toLowerCase())]);
    this.#drop = [...drop].map((name) => encoder.encode(name));
    let tail = "";
    for (const [name, value] of [...sets, ...(edits?.add ?? [])]) tail += `${name}: ${value}\r\n`;
    this.#tail = encoder.encode(tail);
  }

  /**
   * `head` (a start line, field lines and the empty line, then perhaps body
   * bytes) with the edits made; what follows the head is kept as it is.
   */
  apply(head: Uint8Array): Uint8Array {
    const tail = this.#tail;
    const out = new Uint8Array(head.length + tail.length);
    let i = lineEnd(head, 0) + 2;
    out.set(head.subarray(0, i));
    let o = i;
    // Every head here was built by the ingress: lines end in CRLF, names end at ":".
    while (i < head.length && head[i] !== 0x0d) {
      const end = lineEnd(head, i) + 2;
      if (!this.#drops(head, i)) {
        out.set(head.subarray(i, end), o);
        o += end - i;
      }
      i = end;
    }
    out.set(tail, o);
    o += tail.length;
    out.set(head.subarray(i), o);
    o += head.length - i;
    return out.subarray(0, o);
  }

  /** Whether the field line at `at` is one of the names dropped. */
  #drops(head: Uint8Array, at: number): boolean {
    for (const name of this.#drop) {
      const n = name.length;
      if (head[at + n] !== 0x3a) continue;
      let k = 0;
      while (k < n) {
        const b = head[at + k];
        if ((b >= 0x41 && b <= 0x5a ? b + 0x20 : b) !== name[k]) break;
        k++;
      }
      if (k === n) return true;
    }
    return false;
  }
}

/** Index of the CR of the line that starts at `from`. */
function lineEnd(head: Uint8Array, from: number): number {
  let i = from;
  const last = head.length - 1;
  while (i < last && (head[i] !== 0x0d || head[i + 1] !== 0x0a)) i++;
  return i;
}
