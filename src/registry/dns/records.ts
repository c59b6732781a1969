/**
 * DNS SRV records as the DNS registry reads them: the SRV name a service
 * is asked under (a template with `{service}`), the order records are
 * tried in, and one lookup of a name's SRV records with each target
 * resolved to its A/AAAA addresses.
 *
 * Transport: `node:dns` `Resolver`, which works on Deno and Bun alike, is
 * bounded by a timeout on both, and (unlike `Deno.resolveDns`) exposes the
 * TTLs of A/AAAA records. No runtime exposes the TTL of SRV records, so the
 * registry's refresh interval stands in for it.
 *
 * @module
 */

import { builtin } from "../../runtime/builtin.ts";
import { isIP } from "../../net/address.ts";
import type { Replica } from "../types.ts";

/**
 * The SRV name asked for a service unless a template is given.
 *
 * @example
 * ```ts
 * import { DEFAULT_SRV_NAME_TEMPLATE, expandSrvName } from "./records.ts";
 * expandSrvName(DEFAULT_SRV_NAME_TEMPLATE, "web"); // "_http._tcp.web.svc.local"
 * ```
 */
export const DEFAULT_SRV_NAME_TEMPLATE = "_http._tcp.{service}.svc.local";

/** The placeholder a template must contain. */
const PLACEHOLDER = "{service}";

/**
 * One SRV record as `node:dns` returns it.
 *
 * @example
 * ```ts
 * import type { SrvRecord } from "./records.ts";
 * const record: SrvRecord = { priority: 0, weight: 5, port: 8081, name: "web-1.svc.local" };
 * ```
 */
export interface SrvRecord {
  priority: number;
  weight: number;
  port: number;
  /** The target host name (or an IP literal; "" or "." means "no service"). */
  name: string;
}

/**
 * An address with its TTL in seconds, as `resolve4(name, { ttl: true })` returns it.
 *
 * @example
 * ```ts
 * import type { AddressRecord } from "./records.ts";
 * const record: AddressRecord = { address: "10.0.0.7", ttl: 30 };
 * ```
 */
export interface AddressRecord {
  address: string;
  ttl: number;
}

/**
 * The part of `node:dns/promises` `Resolver` this registry uses. Pass a fake
 * one in tests; the default is a real `Resolver` aimed at the configured
 * servers (see {@link nodeResolver}).
 *
 * @example
 * ```ts
 * import { type DnsResolver, nodeResolver } from "./records.ts";
 * const resolver: DnsResolver = nodeResolver(["127.0.0.1:5353"], 2000);
 * resolver.cancel();
 * ```
 */
export interface DnsResolver {
  resolveSrv(name: string): Promise<SrvRecord[]>;
  resolve4(name: string, options: { ttl: true }): Promise<AddressRecord[]>;
  resolve6(name: string, options: { ttl: true }): Promise<AddressRecord[]>;
  /** Abandon every query in flight (they reject with ECANCELLED). */
  cancel(): void;
}

/**
 * A `node:dns` `Resolver` asking `servers` (`IP:PORT`, `[IPv6]:PORT`; the
 * system's resolvers when empty), one try of at most `timeoutMs` per query.
 *
 * @example
 * ```ts
 * import { nodeResolver } from "./records.ts";
 * const resolver = nodeResolver(["127.0.0.1:5353"], 2000);
 * resolver.cancel();
 * ```
 */
export function nodeResolver(servers: string[], timeoutMs: number): DnsResolver {
  // One try: the registry's timeout bounds the whole lookup, and a failed
  // refresh is retried anyway.
  const { Resolver } = builtin<typeof import("node:dns/promises")>("node:dns/promises");
  const resolver = new Resolver({ timeout: timeoutMs, tries: 1 });
  if (servers.length > 0) resolver.setServers(servers);
  return resolver;
}

/**
 * The SRV name for `service`: every `{service}` in `template` replaced.
 * Throws when the result is not a valid DNS name (labels of 1-63 letters,
 * digits, `-` or `_`; at most 253 characters; one trailing dot allowed).
 *
 * @example
 * ```ts
 * import { expandSrvName } from "./records.ts";
 * expandSrvName("_http._tcp.{service}.svc.local", "web"); // "_http._tcp.web.svc.local"
 * ```
 */
export function expandSrvName(template: string, service: string): string {
  const name = template.replaceAll(PLACEHOLDER, service);
  const why = dnsNameProblem(name);
  if (why !== undefined) {
    throw new Error(`service "${service}" gives the SRV name "${name}", which is invalid: ${why}`);
  }
  return name;
}

/**
 * SRV records in the order they should be tried: lowest priority first,
 * then highest weight; ties broken by target and port so the order is
 * stable. Returns a new array.
 *
 * @example
 * ```ts
 * import { sortSrvRecords } from "./records.ts";
 * sortSrvRecords([
 *   { priority: 10, weight: 5, port: 8083, name: "backup" },
 *   { priority: 0, weight: 5, port: 8082, name: "b" },
 *   { priority: 0, weight: 10, port: 8081, name: "a" },
 * ]).map((r) => r.port); // [8081, 8082, 8083]
 * ```
 */
export function sortSrvRecords<T extends SrvRecord>(records: readonly T[]): T[] {
  return [...records].sort((a, b) =>
    a.priority - b.priority || b.weight - a.weight ||
    (a.name < b.name ? -1 : a.name > b.name ? 1 : 0) || a.port - b.port
  );
}

/**
 * A replica with the SRV priority and weight it came from.
 *
 * @example
 * ```ts
 * import type { SrvReplica } from "./records.ts";
 * const replica: SrvReplica = { host: "10.0.0.7", port: 8081, priority: 0, weight: 5 };
 * ```
 */
export interface SrvReplica extends Replica {
  priority: number;
  weight: number;
}

/**
 * What one successful lookup found.
 *
 * @example
 * ```ts
 * import type { LookupResult } from "./records.ts";
 * const found: LookupResult = { replicas: [], minTtl: 30 };
 * ```
 */
export interface LookupResult {
  replicas: SrvReplica[];
  /** Smallest address TTL in seconds, when any address record was read. */
  minTtl?: number;
}

/** DNS error codes that mean "the name has no such records", not "the server failed". */
const NO_RECORDS = new Set(["ENOTFOUND", "ENODATA"]);

/**
 * SRV records of `name`, each target resolved to addresses (A when
 * `family` is 4, AAAA when 6, both when 0), in SRV order with duplicates
 * dropped. NXDOMAIN / no data gives no replicas; any other error rejects.
 *
 * @example
 * ```ts
 * import { lookupSrv, nodeResolver } from "./records.ts";
 * const resolver = nodeResolver(["127.0.0.1:5353"], 2000);
 * const { replicas } = await lookupSrv(resolver, "_http._tcp.web.svc.local", 0);
 * ```
 */
export async function lookupSrv(
  resolver: DnsResolver,
  name: string,
  family: 0 | 4 | 6,
): Promise<LookupResult> {
  const records = await orNone(resolver.resolveSrv(name));
  let minTtl: number | undefined;
  const addressesOf = new Map<string, Promise<string[]>>();
  const targets: { record: SrvRecord; host: string }[] = [];
  for (const record of sortSrvRecords(records)) {
    const host = record.name.endsWith(".") ? record.name.slice(0, -1) : record.name;
    // An empty target (".") says the service is decidedly not available.
    if (host === "" || record.port === 0) continue;
    targets.push({ record, host });
    if (addressesOf.has(host)) continue;
    if (isIP(host)) {
      addressesOf.set(host, Promise.resolve([host]));
      continue;
    }
    const queries: Promise<AddressRecord[]>[] = [];
    if (family !== 6) queries.push(orNone(resolver.resolve4(host, { ttl: true })));
    if (family !== 4) queries.push(orNone(resolver.resolve6(host, { ttl: true })));
    addressesOf.set(
      host,
      Promise.all(queries).then((lists) =>
        lists.flat().map((a) => {
          minTtl = minTtl === undefined ? a.ttl : Math.min(minTtl, a.ttl);
          return a.address;
        })
      ),
    );
  }
  // Settle every query before failing on one, so none is left unobserved.
  const settled = await Promise.allSettled(addressesOf.values());
  const failed = settled.find((s) => s.status === "rejected");
  if (failed !== undefined) throw (failed as PromiseRejectedResult).reason;

  const replicas: SrvReplica[] = [];
  const seen = new Set<string>();
  for (const { record, host } of targets) {
    const addresses = await addressesOf.get(host)!;
    for (const address of addresses) {
      const key = `${address}|${record.port}`;
      if (seen.has(key)) continue;
      seen.add(key);
      // A target with several addresses shares its weight among them.
      replicas.push({
        host: address,
        port: record.port,
        priority: record.priority,
        weight: record.weight / addresses.length,
      });
    }
  }
  return { replicas, minTtl };
}

/** `query`, with "no such name / no such records" turned into an empty list. */
function orNone<T>(query: Promise<T[]>): Promise<T[]> {
  return query.catch((e) => {
    if (NO_RECORDS.has((e as { code?: string })?.code ?? "")) return [];
    throw e;
  });
}

/**
 * Why `template` cannot be an SRV name template, or undefined when it can.
 *
 * @example
 * ```ts
 * import { srvTemplateProblem } from "./records.ts";
 * srvTemplateProblem("_http._tcp.{service}.svc.local"); // undefined
 * ```
 */
export function srvTemplateProblem(template: string): string | undefined {
  if (!template.includes(PLACEHOLDER)) return `"${template}" does not contain ${PLACEHOLDER}`;
  const why = dnsNameProblem(template.replaceAll(PLACEHOLDER, "x"));
  return why === undefined ? undefined : `"${template}" is not a DNS name: ${why}`;
}

const LABEL = /^[A-Za-z0-9_-]{1,63}$/;

/** Why `name` is not a DNS name, or undefined when it is. */
function dnsNameProblem(name: string): string | undefined {
  const bare = name.endsWith(".") ? name.slice(0, -1) : name;
  if (bare === "") return "empty";
  if (bare.length > 253) return "longer than 253 characters";
  for (const label of bare.split(".")) {
    if (label === "") return "empty label";
    if (!LABEL.test(label)) return `bad label "${label}" (1-63 of A-Z a-z 0-9 - _)`;
  }
  return undefined;
}
