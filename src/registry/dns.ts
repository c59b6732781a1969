/**
 * A registry that reads DNS SRV records (`--registry dns://...`), the way
 * Caddy's `dynamic srv` upstreams do: a service's replicas are the SRV
 * records of a name built from a template, each target resolved to its
 * A/AAAA addresses, ordered by SRV priority then weight.
 *
 * Answers are cached and refreshed in the background before their TTL runs
 * out, so after the first lookup of a service `resolve` answers
 * synchronously. When the DNS server stops answering, the last good answer
 * is served for a grace period, then no replicas.
 *
 * Transport: `node:dns` `Resolver`, which works on Deno and Bun alike, is
 * bounded by a timeout on both, and (unlike `Deno.resolveDns`) exposes the
 * TTLs of A/AAAA records. No runtime exposes the TTL of SRV records, so a
 * configurable refresh interval stands in for it.
 *
 * @module
 */

import { builtin } from "../runtime/builtin.ts";
import { formatHostPort, isIP, parseAddress } from "../net/address.ts";
import { messageOf } from "../error_message.ts";
import type { Registry, Replica } from "./types.ts";

/** The SRV name asked for a service unless a template is given. */
export const DEFAULT_SRV_NAME_TEMPLATE = "_http._tcp.{service}.svc.local";

/** The placeholder a template must contain. */
const PLACEHOLDER = "{service}";

/** One SRV record as `node:dns` returns it. */
export interface SrvRecord {
  priority: number;
  weight: number;
  port: number;
  /** The target host name (or an IP literal; "" or "." means "no service"). */
  name: string;
}

/** An address with its TTL in seconds, as `resolve4(name, { ttl: true })` returns it. */
export interface AddressRecord {
  address: string;
  ttl: number;
}

/**
 * The part of `node:dns/promises` `Resolver` this registry uses. Pass a fake
 * one in tests; the default is a real `Resolver` aimed at the configured
 * servers.
 */
export interface DnsResolver {
  resolveSrv(name: string): Promise<SrvRecord[]>;
  resolve4(name: string, options: { ttl: true }): Promise<AddressRecord[]>;
  resolve6(name: string, options: { ttl: true }): Promise<AddressRecord[]>;
  /** Abandon every query in flight (they reject with ECANCELLED). */
  cancel(): void;
}

/** Options for {@link DnsRegistry}. */
export interface DnsRegistryOptions {
  /**
   * Name servers as `IP:PORT` (`[IPv6]:PORT`), tried in order. Default: the
   * system's resolvers.
   */
  servers?: string[];
  /** SRV name template; `{service}` is replaced. Default {@link DEFAULT_SRV_NAME_TEMPLATE}. */
  nameTemplate?: string;
  /** Bound on one whole lookup (SRV plus addresses), in ms. Default 2000. */
  timeoutMs?: number;
  /**
   * How long the last good answer is still served after it expired while
   * the DNS server fails or stays silent, in ms. Default 60000.
   */
  graceMs?: number;
  /** Refresh interval standing in for the SRV TTL no runtime exposes, in ms. Default 5000. */
  refreshMs?: number;
  /** Lower bound on any TTL (and the retry delay after a failure), in ms. Default 1000. */
  minTtlMs?: number;
  /** Address families to ask for: 4 (A), 6 (AAAA) or 0 (both, A first). Default 0. */
  family?: 0 | 4 | 6;
  /** Stop refreshing a service nobody resolved for this long, in ms. Default 300000. */
  idleMs?: number;
  /** Receives one line when a service starts or stops being served stale. Default: none. */
  log?: (line: string) => void;
  /** The DNS client; default a `node:dns` `Resolver` on `servers`. */
  resolver?: DnsResolver;
}

/**
 * The SRV name for `service`: every `{service}` in `template` replaced.
 * Throws when the result is not a valid DNS name (labels of 1-63 letters,
 * digits, `-` or `_`; at most 253 characters; one trailing dot allowed).
 *
 * @example
 * ```ts
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

/** A replica with the SRV priority and weight it came from. */
interface SrvReplica extends Replica {
  priority: number;
  weight: number;
}

/** What one successful lookup found. */
interface LookupResult {
  replicas: SrvReplica[];
  /** Smallest address TTL in seconds, when any address record was read. */
  minTtl?: number;
}

/**
 * One good answer and its round-robin state: smooth weighted round robin
 * over the lowest-priority group picks the first replica; the others follow
 * in SRV order as failover candidates.
 */
class Answer {
  readonly replicas: readonly Replica[];
  readonly key: string;
  readonly #weights: number[];
  readonly #current: number[];
  readonly #total: number;

  constructor(found: readonly SrvReplica[]) {
    this.replicas = found.map((r) => ({ host: r.host, port: r.port }));
    this.key = found.map((r) => `${r.host}|${r.port}|${r.priority}|${r.weight}`).join(",");
    let group = 0;
    while (group < found.length && found[group].priority === found[0].priority) group++;
    const weights = found.slice(0, group).map((r) => r.weight);
    // All zero: RFC 2782 gives no preference, so share evenly.
    this.#weights = weights.every((w) => w === 0) ? weights.map(() => 1) : weights;
    this.#current = this.#weights.map(() => 0);
    this.#total = this.#weights.reduce((a, b) => a + b, 0);
  }

  /** A fresh array: this turn's pick first, then the rest in SRV order. */
  pick(): Replica[] {
    const n = this.#weights.length;
    if (n <= 1) return this.replicas.slice();
    let best = 0;
    for (let i = 0; i < n; i++) {
      this.#current[i] += this.#weights[i];
      if (this.#current[i] > this.#current[best]) best = i;
    }
    this.#current[best] -= this.#total;
    if (best === 0) return this.replicas.slice();
    const out = [this.replicas[best]];
    for (let i = 0; i < this.replicas.length; i++) if (i !== best) out.push(this.replicas[i]);
    return out;
  }
}

/** The cached state of one service. */
interface Entry {
  service: string;
  name: string;
  answer?: Answer;
  /** When the good answer stops being fresh (ms since the epoch). */
  expiresAt: number;
  /** When the good answer stops being served at all. */
  staleUntil: number;
  inflight?: Promise<void>;
  timer?: ReturnType<typeof setTimeout>;
  lastUsed: number;
  /** Why the last lookup failed; cleared by a success. */
  error?: Error;
  /** With no good answer yet: until when a failed first lookup is not retried. */
  retryAt: number;
  /** True while lookups fail and the answer is served stale (logged once). */
  failing: boolean;
  /** True once a failing service's grace ran out (logged once). */
  graceOver: boolean;
}

/** DNS error codes that mean "the name has no such records", not "the server failed". */
const NO_RECORDS = new Set(["ENOTFOUND", "ENODATA"]);

/**
 * A {@link Registry} over DNS SRV records.
 *
 * `resolve(service)` looks up the SRV records of the service's name (see
 * `nameTemplate`), then the A/AAAA records of each target (an IP-literal
 * target is used as is). The first lookup of a service returns a promise;
 * later ones answer synchronously from the cache, which refreshes itself
 * before the smallest TTL of the answer (A/AAAA TTLs, and `refreshMs` for
 * the SRV records) runs out. Concurrent lookups of one service share one
 * query.
 *
 * - NXDOMAIN or no records: `[]`, cached like an answer.
 * - Server failing or silent: the last good answer is served until `graceMs`
 *   after it expired (said once through `log`), then `[]`.
 * - A first lookup that fails rejects; it is retried on a resolve after
 *   `minTtlMs`.
 *
 * @example
 * ```ts
 * const registry = new DnsRegistry({ servers: ["127.0.0.1:5353"], graceMs: 30_000 });
 * const replicas = await registry.resolve("web"); // SRV of _http._tcp.web.svc.local
 * registry.close();
 * ```
 */
export class DnsRegistry implements Registry {
  readonly #resolver: DnsResolver;
  readonly #ownsResolver: boolean;
  readonly #template: string;
  readonly #where: string;
  readonly #timeoutMs: number;
  readonly #graceMs: number;
  readonly #refreshMs: number;
  readonly #minTtlMs: number;
  readonly #family: 0 | 4 | 6;
  readonly #idleMs: number;
  readonly #log: (line: string) => void;
  readonly #entries = new Map<string, Entry>();
  /** Lookups in flight, so close() can settle them. */
  readonly #pending = new Set<() => void>();
  #closed = false;

  /** Validates the options (throws an Error naming a bad one) and makes the client. */
  constructor(options: DnsRegistryOptions = {}) {
    const positive = (name: string, value: number | undefined, def: number, min = 1) => {
      const v = value ?? def;
      if (!Number.isFinite(v) || v < min) {
        throw new Error(`DNS registry: ${name} must be >= ${min}`);
      }
      return v;
    };
    this.#timeoutMs = positive("timeoutMs", options.timeoutMs, 2_000);
    this.#graceMs = positive("graceMs", options.graceMs, 60_000, 0);
    this.#refreshMs = positive("refreshMs", options.refreshMs, 5_000);
    this.#minTtlMs = positive("minTtlMs", options.minTtlMs, 1_000);
    this.#idleMs = positive("idleMs", options.idleMs, 300_000);
    this.#family = options.family ?? 0;
    if (this.#family !== 0 && this.#family !== 4 && this.#family !== 6) {
      throw new Error("DNS registry: family must be 0, 4 or 6");
    }
    this.#template = options.nameTemplate ?? DEFAULT_SRV_NAME_TEMPLATE;
    const why = srvTemplateProblem(this.#template);
    if (why !== undefined) throw new Error(`DNS registry: name template: ${why}`);
    this.#log = options.log ?? (() => {});

    const servers = (options.servers ?? []).map((s) => {
      try {
        const parsed = parseAddress(s, { defaultPort: 53, ipOnly: true });
        return formatHostPort(parsed.host, parsed.port);
      } catch (e) {
        throw new Error(`DNS registry: server "${s}": ${messageOf(e)}`);
      }
    });
    this.#where = servers.length > 0 ? servers.join(", ") : "the system resolvers";
    if (options.resolver !== undefined) {
      this.#resolver = options.resolver;
      this.#ownsResolver = false;
    } else {
      // One try: the timeout below bounds the whole lookup, and a failed
      // refresh is retried anyway.
      const { Resolver } = builtin<typeof import("node:dns/promises")>("node:dns/promises");
      const resolver = new Resolver({ timeout: this.#timeoutMs, tries: 1 });
      if (servers.length > 0) resolver.setServers(servers);
      this.#resolver = resolver;
      this.#ownsResolver = true;
    }
  }

  /**
   * The replicas of `service`: the round-robin pick of the lowest SRV
   * priority first, then the rest by priority and weight. Synchronous once
   * the service has been looked up.
   */
  resolve(service: string): Replica[] | Promise<Replica[]> {
    if (this.#closed) return Promise.reject(new Error("DNS registry is closed"));
    const now = Date.now();
    let entry = this.#entries.get(service);
    if (entry === undefined) {
      let name: string;
      try {
        name = expandSrvName(this.#template, service);
      } catch (e) {
        return Promise.reject(e);
      }
      entry = {
        service,
        name,
        expiresAt: 0,
        staleUntil: 0,
        lastUsed: now,
        retryAt: 0,
        failing: false,
        graceOver: false,
      };
      this.#entries.set(service, entry);
    }
    entry.lastUsed = now;
    if (entry.answer !== undefined) {
      if (now < entry.staleUntil) return entry.answer.pick();
      if (entry.failing && !entry.graceOver) this.#endGrace(entry);
      return [];
    }
    if (entry.inflight === undefined && now < entry.retryAt) return Promise.reject(entry.error);
    const first = entry;
    return this.#refresh(first).then(() => {
      if (this.#closed) throw new Error("DNS registry is closed");
      if (first.answer !== undefined) return first.answer.pick();
      throw first.error ?? new Error(`DNS lookup of ${first.name} did not finish`);
    });
  }

  /** Stop every refresh timer and abandon lookups in flight. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const entry of this.#entries.values()) clearTimeout(entry.timer);
    this.#entries.clear();
    for (const settle of [...this.#pending]) settle();
    if (this.#ownsResolver) this.#resolver.cancel();
  }

  /** Look `entry` up now, or join the lookup in flight. Never rejects. */
  #refresh(entry: Entry): Promise<void> {
    if (entry.inflight !== undefined) return entry.inflight;
    const inflight = this.#lookupBounded(entry.name)
      .then((found) => this.#succeeded(entry, found), (e) => this.#failed(entry, e))
      .finally(() => {
        entry.inflight = undefined;
      });
    entry.inflight = inflight;
    return inflight;
  }

  /** {@link lookupSrv} bounded by the timeout and settled by close(). */
  #lookupBounded(name: string): Promise<LookupResult> {
    return new Promise((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        this.#pending.delete(settleOnClose);
      };
      const settleOnClose = () => {
        done();
        reject(new Error("DNS registry closed"));
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`no answer within ${this.#timeoutMs} ms`));
      }, this.#timeoutMs);
      this.#pending.add(settleOnClose);
      lookupSrv(this.#resolver, name, this.#family).then(
        (found) => {
          done();
          resolve(found);
        },
        (e) => {
          done();
          reject(e);
        },
      );
    });
  }

  #succeeded(entry: Entry, found: LookupResult): void {
    if (this.#closed) return;
    const now = Date.now();
    const ttlMs = Math.max(
      this.#minTtlMs,
      Math.min(this.#refreshMs, found.minTtl === undefined ? Infinity : found.minTtl * 1000),
    );
    const fresh = new Answer(found.replicas);
    // Keep the round-robin state when nothing changed.
    if (entry.answer === undefined || entry.answer.key !== fresh.key) entry.answer = fresh;
    entry.expiresAt = now + ttlMs;
    entry.staleUntil = entry.expiresAt + this.#graceMs;
    entry.error = undefined;
    entry.graceOver = false;
    if (entry.failing) {
      entry.failing = false;
      this.#log(`dns registry: ${entry.name} answers again (${found.replicas.length} replicas)`);
    }
    // Refresh ahead of expiry so resolve never waits on the network.
    this.#schedule(entry, ttlMs - Math.min(ttlMs / 4, this.#timeoutMs));
  }

  #failed(entry: Entry, e: unknown): void {
    if (this.#closed) return;
    const now = Date.now();
    const reason = messageOf(e);
    entry.error = new Error(`DNS lookup of ${entry.name} at ${this.#where} failed: ${reason}`);
    if (entry.answer === undefined) {
      entry.retryAt = now + this.#minTtlMs;
      return;
    }
    if (!entry.failing) {
      entry.failing = true;
      const left = Math.max(0, entry.staleUntil - now);
      this.#log(
        `${entry.error.message}; serving the last good answer for "${entry.service}" ` +
          `(${entry.answer.replicas.length} replicas) for up to ${Math.round(left / 1000)} s more`,
      );
    } else if (!entry.graceOver && now >= entry.staleUntil) {
      this.#endGrace(entry);
    }
    this.#schedule(entry, this.#minTtlMs);
  }

  #endGrace(entry: Entry): void {
    entry.graceOver = true;
    this.#log(
      `dns registry: grace over for "${entry.service}"; no replicas until ${entry.name} answers`,
    );
  }

  #schedule(entry: Entry, delayMs: number): void {
    clearTimeout(entry.timer);
    entry.timer = setTimeout(() => {
      entry.timer = undefined;
      if (this.#closed) return;
      if (Date.now() - entry.lastUsed > this.#idleMs) {
        this.#entries.delete(entry.service);
        return;
      }
      void this.#refresh(entry);
    }, Math.max(0, delayMs));
  }
}

/**
 * SRV records of `name`, each target resolved to addresses, in SRV order
 * with duplicates dropped. NXDOMAIN / no data gives no replicas; any other
 * error rejects.
 */
async function lookupSrv(
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
 * import { srvTemplateProblem } from "./dns.ts";
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
