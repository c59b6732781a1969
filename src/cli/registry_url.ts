/**
 * `--registry` URLs, read for the ingress and for the `register` sidecar:
 *
 * - `tower://HOST[:PORT]`: a Tower over UDP (port 7772 by default)
 * - `etcd://HOST[:PORT][,HOST[:PORT]...][/PREFIX]`: an etcd cluster's v3 gateway
 * - `dns://[IP[:PORT]][?name=...&timeout=...&grace=...]`: DNS SRV records
 *
 * Nothing here touches the network; the registries take what is read here.
 *
 * @module
 */

import { formatHostPort, type HostPort } from "../net/address.ts";
import { DEFAULT_TOWER_PORT } from "../tower.ts";
import {
  DEFAULT_ETCD_PORT,
  DEFAULT_ETCD_PREFIX,
  type EtcdTarget,
  normalizePrefix,
} from "../registry/etcd/keys.ts";
import type { DnsRegistryOptions } from "../registry/dns/registry.ts";
import { srvTemplateProblem } from "../registry/dns/records.ts";
import type { RegistryUrl } from "../app/config.ts";
import { parseAddressValue, parseDuration, ValueError } from "./values.ts";

/**
 * Read a registry URL. Throws an Error naming the value when it is not one.
 *
 * @example
 * ```ts
 * import { parseRegistryUrl } from "./registry_url.ts";
 * parseRegistryUrl("tower://10.0.0.2");
 * // { kind: "tower", address: { host: "10.0.0.2", port: 7772 } }
 * ```
 */
export function parseRegistryUrl(text: string): RegistryUrl {
  if (text.startsWith("tower://")) {
    const address = text.slice("tower://".length).replace(/\/$/, "");
    return { kind: "tower", address: parseTowerAddress(address) };
  }
  if (text.startsWith("etcd://")) return { kind: "etcd", url: text, ...parseEtcdUrl(text) };
  if (text.startsWith("dns://")) {
    return { kind: "dns", url: text, options: parseDnsRegistryUrl(text) };
  }
  throw new Error(
    `"${text}" is not a registry URL (tower://HOST[:PORT], etcd://HOST[:PORT],...[/PREFIX] or dns://IP[:PORT])`,
  );
}

/**
 * A Tower's address: `host`, `host:port`, `[v6]`, `[v6]:port` or a bare
 * IPv6 literal; the port defaults to 7772. Throws an Error that names the
 * value.
 *
 * @example
 * ```ts
 * import { parseTowerAddress } from "./registry_url.ts";
 * parseTowerAddress("tower.internal"); // { host: "tower.internal", port: 7772 }
 * parseTowerAddress("[::1]:7773");     // { host: "::1", port: 7773 }
 * ```
 */
export function parseTowerAddress(text: string): HostPort {
  try {
    return parseAddressValue(text, { defaultPort: DEFAULT_TOWER_PORT, bareIPv6: true });
  } catch (e) {
    if (!(e instanceof ValueError)) throw e;
    throw new Error(`invalid Tower address ${e.message} (expected HOST[:PORT])`);
  }
}

/**
 * Read `etcd://host[:port][,host[:port]...][/prefix]`. The port defaults to
 * 2379 and the prefix to `/gatehouse`; IPv6 hosts go in brackets. Throws an
 * Error naming the value.
 *
 * @example
 * ```ts
 * import { parseEtcdUrl } from "./registry_url.ts";
 * parseEtcdUrl("etcd://10.0.0.1,10.0.0.2:2380/prod");
 * // { endpoints: ["http://10.0.0.1:2379", "http://10.0.0.2:2380"], prefix: "/prod" }
 * ```
 */
export function parseEtcdUrl(text: string): EtcdTarget {
  const fail = (why: string): never => {
    throw new Error(
      `invalid etcd URL "${text}": ${why} (expected etcd://HOST[:PORT][,HOST[:PORT]...][/PREFIX])`,
    );
  };
  if (!text.startsWith("etcd://")) return fail("must start with etcd://");
  const rest = text.slice("etcd://".length);
  const slash = rest.indexOf("/");
  const hostList = slash === -1 ? rest : rest.slice(0, slash);
  const path = slash === -1 ? "" : rest.slice(slash);
  if (hostList === "") return fail("no hosts");
  const endpoints = hostList.split(",").map((item) => {
    if (item === "") return fail("empty host in the list");
    try {
      const { host, port } = parseAddressValue(item, { defaultPort: DEFAULT_ETCD_PORT });
      return `http://${formatHostPort(host, port)}`;
    } catch (e) {
      if (!(e instanceof ValueError)) throw e;
      return fail(e.message);
    }
  });
  const prefix = normalizePrefix(path === "" || path === "/" ? DEFAULT_ETCD_PREFIX : path);
  return { endpoints, prefix };
}

/** Query parameters a `dns://` URL may carry. */
const DNS_PARAMS = ["name", "timeout", "grace", "refresh", "min-ttl", "family", "idle"];

/**
 * Read `dns://[SERVER[:PORT]][?name=...&timeout=...&grace=...]` into
 * {@link DnsRegistryOptions}. SERVER is an IP literal (IPv6 in brackets),
 * default port 53; with no server the system's resolvers are used. Other
 * parameters: `refresh`, `min-ttl`, `idle` (durations) and `family` (`4`,
 * `6` or `any`). Throws an Error naming the problem.
 *
 * @example
 * ```ts
 * import { parseDnsRegistryUrl } from "./registry_url.ts";
 * parseDnsRegistryUrl("dns://127.0.0.1:5353?name=_http._tcp.{service}.svc.local&timeout=2s");
 * // { servers: ["127.0.0.1:5353"], nameTemplate: "_http._tcp.{service}.svc.local", timeoutMs: 2000 }
 * ```
 */
export function parseDnsRegistryUrl(text: string): DnsRegistryOptions {
  const fail = (why: string): never => {
    throw new Error(
      `invalid DNS registry "${text}": ${why} (expected dns://IP[:PORT][?name=TEMPLATE&timeout=DUR&grace=DUR])`,
    );
  };
  if (!text.toLowerCase().startsWith("dns://")) return fail("scheme must be dns://");
  if (text.includes("#")) return fail("a fragment (#) is not allowed");
  const rest = text.slice("dns://".length);
  const q = rest.indexOf("?");
  let authority = q === -1 ? rest : rest.slice(0, q);
  const query = q === -1 ? "" : rest.slice(q + 1);
  if (authority.endsWith("/")) authority = authority.slice(0, -1);
  if (authority.includes("/")) return fail("no path is allowed after the server");
  if (authority.includes("@")) return fail("no user info is allowed");

  const options: DnsRegistryOptions = {};
  if (authority !== "") {
    try {
      // An IP only: a name would need DNS to find DNS.
      const server = parseAddressValue(authority, { defaultPort: 53, ipOnly: true });
      options.servers = [formatHostPort(server.host, server.port)];
    } catch (e) {
      if (!(e instanceof ValueError)) throw e;
      return fail(`server: ${e.message}`);
    }
  }

  const seen = new Set<string>();
  for (const [key, value] of new URLSearchParams(query)) {
    if (!DNS_PARAMS.includes(key)) {
      return fail(`unknown parameter "${key}" (known: ${DNS_PARAMS.join(", ")})`);
    }
    if (seen.has(key)) return fail(`parameter "${key}" given twice`);
    seen.add(key);
    const duration = (min: number): number => {
      let ms: number;
      try {
        ms = parseDuration(value);
      } catch (e) {
        if (!(e instanceof ValueError)) throw e;
        return fail(`${key}: "${value}" ${e.message}`);
      }
      if (ms < min) return fail(`${key} must be at least ${min} ms`);
      return ms;
    };
    switch (key) {
      case "name": {
        const why = srvTemplateProblem(value);
        if (why !== undefined) return fail(`name: ${why}`);
        options.nameTemplate = value;
        break;
      }
      case "timeout":
        options.timeoutMs = duration(1);
        break;
      case "grace":
        options.graceMs = duration(0);
        break;
      case "refresh":
        options.refreshMs = duration(1);
        break;
      case "min-ttl":
        options.minTtlMs = duration(1);
        break;
      case "idle":
        options.idleMs = duration(1);
        break;
      case "family":
        if (value === "4") options.family = 4;
        else if (value === "6") options.family = 6;
        else if (value === "any" || value === "0") options.family = 0;
        else return fail(`family: "${value}" is not 4, 6 or any`);
        break;
    }
  }
  return options;
}
