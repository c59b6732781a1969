/**
 * `--registry` URLs, shared by the ingress and the `register` sidecar:
 *
 * - `tower://HOST[:PORT]`: a Tower over UDP (port 7772 by default)
 * - `etcd://HOST[:PORT][,HOST[:PORT]...][/PREFIX]`: an etcd cluster's v3 gateway
 * - `dns://[IP[:PORT]][?name=...&timeout=...&grace=...]`: DNS SRV records
 *
 * @module
 */

import { parseTowerAddress } from "./remote_tower.ts";
import { parseEtcdUrl } from "./etcd.ts";
import { type DnsRegistryOptions, parseDnsRegistryUrl } from "./dns.ts";

/** Which registry a URL names. */
export type RegistryUrl =
  | { kind: "tower"; host: string; port: number }
  | { kind: "etcd"; url: string; endpoints: string[]; prefix: string }
  | { kind: "dns"; url: string; options: DnsRegistryOptions };

/**
 * Read a registry URL. Throws an Error naming the value when it is not one.
 *
 * @example
 * ```ts
 * parseRegistryUrl("tower://10.0.0.2"); // { kind: "tower", host: "10.0.0.2", port: 7772 }
 * ```
 */
export function parseRegistryUrl(text: string): RegistryUrl {
  if (text.startsWith("tower://")) {
    const address = text.slice("tower://".length).replace(/\/$/, "");
    return { kind: "tower", ...parseTowerAddress(address) };
  }
  if (text.startsWith("etcd://")) return { kind: "etcd", url: text, ...parseEtcdUrl(text) };
  if (text.startsWith("dns://")) {
    return { kind: "dns", url: text, options: parseDnsRegistryUrl(text) };
  }
  throw new Error(
    `"${text}" is not a registry URL (tower://HOST[:PORT], etcd://HOST[:PORT],...[/PREFIX] or dns://IP[:PORT])`,
  );
}
