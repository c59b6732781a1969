/**
 * Load-balancing policies: how the pick-replica phase orders a service's
 * replicas. Least outstanding (the default: see pick.ts), round robin,
 * random, and consistent hashing on a request header, a cookie's value or
 * the client's address. Hashing is rendezvous hashing (highest random
 * weight): every replica scores each key, the highest score wins, and the
 * rest in score order are the fallbacks. When a replica joins or leaves,
 * only the keys it wins (or won) move.
 *
 * @module
 */

/** What a hashing policy hashes. */
export type HashSource =
  | { readonly kind: "header"; readonly name: string }
  | { readonly kind: "cookie"; readonly name: string }
  | { readonly kind: "client" };

/** A load-balancing policy. */
export type BalancePolicy =
  | { readonly kind: "least-outstanding" }
  | { readonly kind: "round-robin" }
  | { readonly kind: "random" }
  | { readonly kind: "hash"; readonly on: HashSource };

/** The default: fewest tries outstanding. */
export const LEAST_OUTSTANDING: BalancePolicy = { kind: "least-outstanding" };

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,64}$/;

/**
 * A policy as `--lb` names it: `least-outstanding`, `round-robin`,
 * `random`, `header:NAME`, `cookie:NAME` or `client-ip`. Throws a
 * message (without the value) for anything else.
 *
 * @example
 * ```ts
 * import { parseBalancePolicy } from "./balance.ts";
 * parseBalancePolicy("cookie:session"); // { kind: "hash", on: { kind: "cookie", name: "session" } }
 * ```
 */
export function parseBalancePolicy(text: string): BalancePolicy {
  switch (text) {
    case "least-outstanding":
    case "round-robin":
    case "random":
      return { kind: text };
    case "client-ip":
      return { kind: "hash", on: { kind: "client" } };
  }
  const colon = text.indexOf(":");
  const kind = text.slice(0, colon);
  const name = text.slice(colon + 1);
  if (colon > 0 && (kind === "header" || kind === "cookie")) {
    if (!TOKEN.test(name)) throw new Error(`names no valid ${kind} (a token of 1-64 characters)`);
    return { kind: "hash", on: { kind, name: kind === "header" ? name.toLowerCase() : name } };
  }
  throw new Error(
    "must be least-outstanding, round-robin, random, header:NAME, cookie:NAME or client-ip",
  );
}

/** The policy as `--lb` names it (for messages and logs). */
export function balanceName(policy: BalancePolicy): string {
  if (policy.kind !== "hash") return policy.kind;
  const on = policy.on;
  return on.kind === "client" ? "client-ip" : `${on.kind}:${on.name}`;
}

/**
 * The value of cookie `name` in a Cookie header's value, or undefined.
 *
 * @example
 * ```ts
 * import { cookieValue } from "./balance.ts";
 * cookieValue("a=1; session=xyz; b=2", "session"); // "xyz"
 * ```
 */
export function cookieValue(header: string, name: string): string | undefined {
  let from = 0;
  while (from < header.length) {
    let end = header.indexOf(";", from);
    if (end < 0) end = header.length;
    const eq = header.indexOf("=", from);
    if (eq > from && eq < end && header.slice(from, eq).trim() === name) {
      let value = header.slice(eq + 1, end).trim();
      if (value.length >= 2 && value[0] === '"' && value[value.length - 1] === '"') {
        value = value.slice(1, -1);
      }
      return value;
    }
    from = end + 1;
  }
  return undefined;
}

/**
 * A 32-bit hash of `key` and `address` together (FNV-1a over both, then
 * murmur3's finaliser, so that keys differing in one character spread over
 * the whole range).
 */
function hash32(key: string, address: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  h = Math.imul(h ^ 0xff, 0x01000193);
  for (let i = 0; i < address.length; i++) h = Math.imul(h ^ address.charCodeAt(i), 0x01000193);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * Replica `address`'s score for `key`: the highest score wins the key.
 * A weight scales the share of keys a replica wins (weighted rendezvous
 * hashing: -weight / ln(u), u uniform in (0, 1)).
 *
 * @example
 * ```ts
 * import { rendezvousScore } from "./balance.ts";
 * const a = rendezvousScore("user-7", "10.0.0.1:80"), b = rendezvousScore("user-7", "10.0.0.2:80");
 * a !== b; // true: one of them wins user-7, always the same one
 * ```
 */
export function rendezvousScore(key: string, address: string, weight = 1): number {
  const u = (hash32(key, address) + 0.5) / 4294967296;
  return -weight / Math.log(u);
}
