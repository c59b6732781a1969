/**
 * The Tower's registry state: services, their replicas, TTLs and the
 * least-recently-served round robin. In memory, and no I/O but a sweep
 * timer; the UDP server and the embedded registry share one.
 *
 * @module
 */

import { clearInterval, setInterval } from "node:timers";
import type { Replica } from "../registry/types.ts";
import { isValidHost, isValidPort, isValidServiceName } from "../net/address.ts";
import { DEFAULT_TTL_MS, type ListEntry } from "./protocol.ts";
import { TowerRoutes } from "./routes.ts";

/**
 * Options for {@link TowerState}.
 *
 * @example
 * ```ts
 * import { TowerState, type TowerStateOptions } from "./state.ts";
 * const options: TowerStateOptions = { ttlMs: 1_000, sweepIntervalMs: 0 };
 * new TowerState(options).close();
 * ```
 */
export interface TowerStateOptions {
  /** Clock in milliseconds; inject one in tests. Default `Date.now`. */
  now?: () => number;
  /** Entry lifetime after its last REGISTER. Default {@link DEFAULT_TTL_MS}. */
  ttlMs?: number;
  /**
   * How often to drop expired entries in the background, so services nobody
   * looks up do not pile up. 0 disables it (expiry is also lazy). Default 5 s.
   */
  sweepIntervalMs?: number;
}

/** One registration. Kept in least-recently-served order per service. */
interface Entry {
  /** Frozen and handed out as is, so lookups allocate nothing per replica (new when its weight changes). */
  replica: Replica;
  expiresAt: number;
  served: boolean;
  /** Registration order, for a stable LIST. */
  readonly seq: number;
  /**
   * Every replica of the service in trying order while this entry is first,
   * built on the first resolve and kept until the service's membership
   * changes: serving only rotates the entries, so the order that follows a
   * given first entry stays the same.
   */
  order: readonly Replica[] | undefined;
}

/** Services with more replicas than this build their order on each resolve. */
const MAX_CACHED_ORDER = 32;

const NO_REPLICAS: readonly Replica[] = Object.freeze([]);

/**
 * The registry state: services, their replicas, TTLs and round robin.
 *
 * Each service keeps its entries in least-recently-served order (never-served
 * ones first, in registration order), so a lookup is "take the first live
 * entry, move it to the back": O(replicas of that service), no sorting.
 *
 * @example
 * ```ts
 * import { TowerState } from "./state.ts";
 * const state = new TowerState();
 * state.register("web", "10.0.0.7", 8080);
 * state.register("web", "10.0.0.8", 8080);
 * state.lookup("web");   // { host: "10.0.0.7", port: 8080 }
 * state.replicas("web"); // [10.0.0.8:8080, 10.0.0.7:8080], and 10.0.0.8 is now served
 * state.close();
 * ```
 */
export class TowerState {
  /** Entry lifetime in milliseconds. */
  readonly ttlMs: number;
  /**
   * The routes services declared (ROUTE datagrams), apart from the
   * replicas: nothing here shows them, and they have their own cap.
   */
  readonly routes: TowerRoutes;
  /** Told of every entry that goes: deregistered, or expired (when it is dropped). */
  onRemoved: ((name: string, replica: Replica) => void) | null = null;
  readonly #now: () => number;
  readonly #services = new Map<string, Entry[]>();
  #seq = 0;
  /** Entries held, live or expired but not yet dropped. */
  #held = 0;
  /** No held entry expires before this (a lower bound, set by {@link sweep}). */
  #nextExpiry = 0;
  #sweeper: ReturnType<typeof setInterval> | undefined;

  constructor(options: TowerStateOptions = {}) {
    this.#now = options.now ?? Date.now;
    this.ttlMs = options.ttlMs ?? DEFAULT_TTL_MS;
    this.routes = new TowerRoutes({ now: this.#now, ttlMs: this.ttlMs });
    const every = options.sweepIntervalMs ?? 5_000;
    if (every > 0) {
      this.#sweeper = setInterval(() => this.sweep(), every);
      // A registry must never be the reason a process stays alive.
      this.#sweeper.unref();
    }
  }

  /**
   * Add a replica, or refresh its TTL if this name+host+port is already
   * registered (REGISTER is the heartbeat; it never duplicates). Returns true
   * when the entry is new. Throws a TypeError on an invalid name, host or port
   * (the UDP server validates before calling, so this guards in-process use).
   */
  register(name: string, host: string, port: number, weight = 1): boolean {
    if (!isValidServiceName(name)) throw new TypeError(`invalid service name: ${name}`);
    if (!isValidHost(host)) throw new TypeError(`invalid replica host: ${host}`);
    if (!isValidPort(port)) {
      throw new TypeError(`invalid replica port: ${port}`);
    }
    const now = this.#now();
    let entries = this.#live(name, now);
    if (entries === undefined) {
      entries = [];
      this.#services.set(name, entries);
    }
    let firstServed = entries.length;
    for (let i = 0; i < entries.length; i++) {
      const entry = entries[i];
      if (entry.replica.port === port && entry.replica.host === host) {
        entry.expiresAt = now + this.ttlMs;
        // A heartbeat with another weight changes it (the replica objects handed out are new).
        if ((entry.replica.weight ?? 1) !== weight) {
          entry.replica = replicaOf(host, port, weight);
          forgetOrders(entries);
        }
        return false;
      }
      if (entry.served && firstServed === entries.length) firstServed = i;
    }
    // Never served means least recently served: it goes before every served one.
    entries.splice(firstServed, 0, {
      replica: replicaOf(host, port, weight),
      expiresAt: now + this.ttlMs,
      served: false,
      seq: ++this.#seq,
      order: undefined,
    });
    forgetOrders(entries);
    this.#held++;
    return true;
  }

  /**
   * Whether a REGISTER of this name+host+port stays within `maxEntries`:
   * true when it would refresh a live entry or when fewer than `maxEntries`
   * live entries exist. Changes nothing but dropping expired entries.
   *
   * @example
   * ```ts
   * import { TowerState } from "./state.ts";
   * const state = new TowerState();
   * state.register("web", "10.0.0.7", 8080);
   * state.hasRoomFor("web", "10.0.0.8", 8080, 1); // false: it would be a second entry
   * state.hasRoomFor("web", "10.0.0.7", 8080, 1); // true: a heartbeat
   * state.close();
   * ```
   */
  hasRoomFor(name: string, host: string, port: number, maxEntries: number): boolean {
    if (this.#held < maxEntries) return true;
    const now = this.#now();
    const entries = this.#live(name, now);
    if (entries?.some((e) => e.replica.port === port && e.replica.host === host)) return true;
    // A sweep is O(entries): only when something can have expired since the last one.
    if (now >= this.#nextExpiry) this.sweep();
    return this.#held < maxEntries;
  }

  /** Remove one replica. False when it was not registered (or had expired). */
  deregister(name: string, host: string, port: number): boolean {
    const entries = this.#live(name, this.#now());
    if (entries === undefined) return false;
    const index = entries.findIndex((e) => e.replica.port === port && e.replica.host === host);
    if (index === -1) return false;
    const [gone] = entries.splice(index, 1);
    forgetOrders(entries);
    this.#held--;
    this.onRemoved?.(name, gone.replica);
    if (entries.length === 0) this.#services.delete(name);
    return true;
  }

  /**
   * The least recently served live replica of `name`, which is marked served
   * now; undefined when none. The returned object is frozen and shared.
   */
  lookup(name: string): Replica | undefined {
    const entries = this.#live(name, this.#now());
    if (entries === undefined) return undefined;
    const first = entries[0];
    serveFirst(entries);
    return first.replica;
  }

  /**
   * Every live replica of `name`, least recently served first; the first is
   * marked served (so successive calls rotate). The proxy tries them in this
   * order. Empty when none. The replica objects are frozen and shared; so is
   * the array, which callers must treat as read-only: the same one is handed
   * out again the next time the same replica comes first.
   */
  replicas(name: string): readonly Replica[] {
    const entries = this.#live(name, this.#now());
    if (entries === undefined) return NO_REPLICAS;
    const first = entries[0];
    let order = first.order;
    if (order === undefined) {
      const n = entries.length;
      const out = new Array<Replica>(n);
      for (let i = 0; i < n; i++) out[i] = entries[i].replica;
      // Shared, hence read-only; not frozen, since reads of a frozen array
      // leave the engine's fast path (that showed in the per-request profile).
      order = out;
      // A resolve per request allocates nothing once each rotation is built.
      if (n <= MAX_CACHED_ORDER) first.order = order;
    }
    serveFirst(entries);
    return order;
  }

  /**
   * Every service with live replicas and its replicas, without serving any
   * (round robin does not move): what health checks are run against.
   */
  known(): [string, readonly Replica[]][] {
    const now = this.#now();
    const out: [string, readonly Replica[]][] = [];
    for (const name of [...this.#services.keys()]) {
      const entries = this.#live(name, now);
      if (entries !== undefined) out.push([name, entries.map((e) => e.replica)]);
    }
    return out;
  }

  /** Every live entry, in registration order, with whole seconds of TTL left. */
  list(): ListEntry[] {
    const now = this.#now();
    return this.#inOrder(now).map(({ name, entry }) => ({
      name,
      host: entry.replica.host,
      port: entry.replica.port,
      ttlLeft: Math.ceil((entry.expiresAt - now) / 1000),
    }));
  }

  /**
   * Every live entry, in registration order, with the milliseconds since its
   * last REGISTER: what a copy of this state needs to expire each entry at
   * the same moment. The time is the entry's own, so it goes with the entry.
   *
   * @example
   * ```ts
   * import { TowerState } from "./state.ts";
   * let t = 0;
   * const state = new TowerState({ now: () => t });
   * state.register("web", "10.0.0.7", 8080);
   * t = 1_500;
   * state.ages(); // [{ name: "web", host: "10.0.0.7", port: 8080, ageMs: 1500 }]
   * state.close();
   * ```
   */
  ages(): { name: string; host: string; port: number; weight: number; ageMs: number }[] {
    const now = this.#now();
    return this.#inOrder(now).map(({ name, entry }) => ({
      name,
      host: entry.replica.host,
      port: entry.replica.port,
      weight: entry.replica.weight ?? 1,
      ageMs: now - (entry.expiresAt - this.ttlMs),
    }));
  }

  /** Number of live entries (all services). */
  get size(): number {
    const now = this.#now();
    let count = 0;
    for (const entries of this.#services.values()) {
      for (const entry of entries) if (entry.expiresAt > now) count++;
    }
    return count;
  }

  /**
   * Entries in memory: the live ones and those expired but not dropped yet
   * (looking up their service, or the sweep, drops them).
   */
  get held(): number {
    return this.#held;
  }

  /** Drop every expired entry now; returns how many were dropped. */
  sweep(): number {
    const now = this.#now();
    const before = this.#held;
    let next = now + this.ttlMs;
    for (const name of [...this.#services.keys()]) {
      const entries = this.#live(name, now);
      if (entries === undefined) continue;
      for (const entry of entries) if (entry.expiresAt < next) next = entry.expiresAt;
    }
    // Entries added or refreshed later expire later still, so this stays a lower bound.
    this.#nextExpiry = next;
    return before - this.#held;
  }

  /** Stop the background sweep (and the routes' timer). The state stays usable (lazy expiry only). */
  close(): void {
    if (this.#sweeper !== undefined) clearInterval(this.#sweeper);
    this.#sweeper = undefined;
    this.routes.close();
  }

  /** Every live entry with its service's name, in registration order. */
  #inOrder(now: number): { name: string; entry: Entry }[] {
    const all: { name: string; entry: Entry }[] = [];
    for (const name of [...this.#services.keys()]) {
      const entries = this.#live(name, now);
      if (entries !== undefined) { for (const entry of entries) all.push({ name, entry }); }
    }
    return all.sort((a, b) => a.entry.seq - b.entry.seq);
  }

  /**
   * The live entries of `name` with expired ones removed in place (order
   * kept); undefined (and the service forgotten) when none is left.
   */
  #live(name: string, now: number): Entry[] | undefined {
    const entries = this.#services.get(name);
    if (entries === undefined) return undefined;
    let kept = 0;
    for (let i = 0; i < entries.length; i++) {
      const entry = entries[i];
      if (entry.expiresAt > now) entries[kept++] = entry;
      else this.onRemoved?.(name, entry.replica);
    }
    if (kept === entries.length) return entries;
    this.#held -= entries.length - kept;
    if (kept === 0) {
      this.#services.delete(name);
      return undefined;
    }
    entries.length = kept;
    forgetOrders(entries);
    return entries;
  }
}

/** A frozen replica; its weight only when it is not 1 (so seed-compatible answers look unchanged). */
function replicaOf(host: string, port: number, weight: number): Replica {
  return Object.freeze(weight === 1 ? { host, port } : { host, port, weight });
}

/** The membership of a service changed: every cached order is stale. */
function forgetOrders(entries: Entry[]): void {
  for (let i = 0; i < entries.length; i++) entries[i].order = undefined;
}

/** Mark the first entry served and move it to the back. */
function serveFirst(entries: Entry[]): void {
  const first = entries[0];
  first.served = true;
  if (entries.length > 1) {
    entries.shift();
    entries.push(first);
  }
}
