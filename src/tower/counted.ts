/**
 * The counted lists of the Tower's `LIST` and `LOOKUPALL` replies,
 * `<prefix>|<n>|item,item,...`: written within a reply's size, read back
 * only when the count agrees.
 *
 * @module
 */

/**
 * `prefix|<n>|item,item,...` keeping only the items that fit in `maxBytes`
 * (items are ASCII); `n` counts the items actually included.
 *
 * @example
 * ```ts
 * import { formatCounted } from "./counted.ts";
 * formatCounted(65_000, "OK|LIST", ["web:10.0.0.7:80:29"]); // "OK|LIST|1|web:10.0.0.7:80:29"
 * ```
 */
export function formatCounted(maxBytes: number, prefix: string, items: string[]): string {
  let body = "";
  let count = 0;
  // Reserve room for "|<n>|": at most 7 characters for any count that fits.
  let room = maxBytes - prefix.length - 7;
  for (const item of items) {
    const cost = item.length + (count === 0 ? 0 : 1);
    if (cost > room) break;
    body = count === 0 ? item : `${body},${item}`;
    room -= cost;
    count++;
  }
  return `${prefix}|${count}|${body}`;
}

/**
 * Parse the `n` and item list of a counted reply; undefined when the count
 * disagrees or an item does not parse.
 *
 * @example
 * ```ts
 * import { parseCounted } from "./counted.ts";
 * parseCounted("2", "a,b", (item) => item.toUpperCase()); // ["A", "B"]
 * parseCounted("3", "a,b", (item) => item);               // undefined
 * ```
 */
export function parseCounted<T>(
  countText: string,
  body: string,
  parseItem: (item: string) => T | undefined,
): T[] | undefined {
  if (!/^(?:0|[1-9][0-9]*)$/.test(countText)) return undefined;
  const count = Number(countText);
  const items = body === "" ? [] : body.split(",");
  if (items.length !== count) return undefined;
  const out: T[] = [];
  for (const item of items) {
    const parsed = parseItem(item);
    if (parsed === undefined) return undefined;
    out.push(parsed);
  }
  return out;
}
