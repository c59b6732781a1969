/**
 * The pick-replica phase's key for a hashing load-balancing policy
 * (replicas/balance.ts), read from the request head: a header's value, a
 * cookie's value, or the client's address as the forwarding headers
 * resolve it (a trusted proxy's X-Real-IP, else the first X-Forwarded-For
 * entry it sent, else the peer).
 *
 * @module
 */

import type { HeadScan } from "../http1/head.ts";
import { FIELD } from "../http1/fields.ts";
import { type BalancePolicy, cookieValue } from "../replicas/balance.ts";
import type { ClientInfo } from "./forwarded.ts";

/**
 * The key `policy` hashes for the request in `scan`; "" when it hashes
 * nothing or the request carries no such value (the default policy then
 * picks).
 *
 * @example
 * ```ts
 * import { balanceKey } from "./balance_key.ts";
 * import { HeadScan, scanRequestHead } from "../http1/head.ts";
 * const scan = new HeadScan();
 * const bytes = new TextEncoder().encode("GET / HTTP/1.1\r\nHost: a\r\nCookie: sid=42\r\n\r\n");
 * scanRequestHead(bytes, 0, bytes.length, { maxSize: 32768 }, scan);
 * const info = { peer: "10.0.0.9", proto: "http", trusted: false, local: "10.0.0.1:80", via: null };
 * balanceKey({ kind: "hash", on: { kind: "cookie", name: "sid" } }, scan, info); // "42"
 * ```
 */
export function balanceKey(policy: BalancePolicy, scan: HeadScan, info: ClientInfo): string {
  if (policy.kind !== "hash") return "";
  const on = policy.on;
  switch (on.kind) {
    case "header": {
      for (let i = 0; i < scan.count; i++) if (scan.name(i) === on.name) return scan.value(i);
      return "";
    }
    case "cookie": {
      for (let i = 0; i < scan.count; i++) {
        if (scan.name(i) !== "cookie") continue;
        const value = cookieValue(scan.value(i), on.name);
        if (value !== undefined) return value;
      }
      return "";
    }
    case "client":
      return clientAddress(scan, info);
  }
}

/** The client's address: a trusted proxy's word for it, else the peer's. */
function clientAddress(scan: HeadScan, info: ClientInfo): string {
  if (!info.trusted) return info.peer;
  const real = scan.find(FIELD.X_REAL_IP);
  if (real >= 0 && scan.value(real) !== "") return scan.value(real);
  const xff = scan.find(FIELD.X_FORWARDED_FOR);
  if (xff >= 0) {
    const first = scan.value(xff).split(",")[0].trim();
    if (first !== "") return first;
  }
  return info.peer;
}
