/**
 * A registry that reads DNS SRV records (`--registry dns://...`), the way
 * Caddy's `dynamic srv` upstreams do: a service's replicas are the SRV
 * records of a name built from a template, each target resolved to its
 * A/AAAA addresses, ordered by SRV priority then weight (the records and
 * their lookup are in records.ts).
 *
 * Answers are cached and refreshed in the background before their TTL runs
 * out, so after the first lookup of a service `resolve` answers
 * synchronously. When the DNS server stops answering, the last good answer
 * is served for a grace period, then no replicas.
 *
 * @module
 */

import { formatHostPort, parseAddress } from "../../net/address.ts";
import { messageOf } from "../../error_message.ts";
import type { Registry, RegistryFreshness, Replica } from "../types.ts";
import {
  DEFAULT_SRV_NAME_TEMPLATE,
  type DnsResolver,
  expandSrvName,
  type LookupResult,
  lookupSrv,
  nodeResolver,
  type SrvReplica,
  srvTemplateProblem,
} from "./records.ts";

/**
 * Options for {@link DnsRegistry}.
 *
 * @example
 * ```ts
 * import type { DnsRegistryOptions } from "./registry.ts";
 * const options: DnsRegistryOptions = { servers: ["127.0.0.1:5353"], timeoutMs: 2000 };
 * ```
 */
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
    // The SRV weight goes with each replica (an all-zero group weighs evenly; a 0 among others,
    // RFC 2782's "very small chance", a hundredth).
    const allZero = found.every((r) => r.weight === 0);
    this.replicas = found.map((r) => ({
      host: r.host,
      port: r.port,
      weight: allZero ? 1 : r.weight > 0 ? r.weight : 0.01,
      priority: r.priority,
    }));
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
 * import { DnsRegistry } from "./registry.ts";
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
  /** When a lookup last succeeded, ms since the epoch (0: never). */
  #heardAt = 0;

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
      this.#resolver = nodeResolver(servers, this.#timeoutMs);
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

  /** When a lookup last succeeded. */
  freshness(): RegistryFreshness {
    return { kind: "dns", heardAt: this.#heardAt };
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
    const now = this.#heardAt = Date.now();
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
