/**
 * The routes services declared with a Tower (`ROUTE` datagrams,
 * docs/tower-routes.md): each route with its declarers, their TTLs, the
 * order routes were first declared in, and the `ROUTES` pages. In memory;
 * no I/O but one timer for the next expiry, so watchers hear of an expiry
 * when it happens. Kept apart from the replicas (state.ts): LIST and
 * LOOKUP never show a route.
 *
 * @module
 */

import type { DeclaredRoute } from "../registry/types.ts";
import { parseRouteTarget, type RouteTarget } from "../routing/declared.ts";
import { isValidServiceName } from "../net/address.ts";
import { MAX_REPLY_BYTES } from "./protocol.ts";
import { ExpiryTimer } from "./expiry_timer.ts";
import { declaredRouteOf, paginate, type RouteListing, type RouteReply } from "./route_protocol.ts";

/**
 * Default cap on route declarations a Tower accepts over UDP: 1000.
 *
 * @example
 * ```ts
 * import { DEFAULT_MAX_ROUTES } from "./routes.ts";
 * const perRoute = 1024; // a ROUTE datagram's most; so at most about 1 MB held
 * DEFAULT_MAX_ROUTES * perRoute;
 * ```
 */
export const DEFAULT_MAX_ROUTES = 1000;

/** A `ROUTES` page holds at most this many bytes of entries; its first line fits in the rest. */
const PAGE_BYTES = MAX_REPLY_BYTES - 100;

const NO_ROUTES: readonly DeclaredRoute[] = Object.freeze([]);

/** One declared route and who declares it. */
interface Entry {
  readonly name: string;
  readonly target: RouteTarget;
  /** Compact JSON of its rules, or undefined; the latest ROUTE's. */
  rules: string | undefined;
  /** When it was first declared: the Tower's sequence number. */
  readonly order: number;
  /**
   * Expiry of each declarer's declaration, by the declarer's address, in
   * the order they first declared (the first is the route's origin).
   */
  readonly declarers: Map<string, number>;
}

/**
 * A declaration as the `--procs` relay passes it on: every ROUTE the Tower
 * accepts, heartbeats included.
 *
 * @example
 * ```ts
 * import type { RouteDeclaration } from "./routes.ts";
 * const d: RouteDeclaration = { order: 1, name: "api", route: "/api", sender: "10.0.0.7:41000", ageMs: 0 };
 * ```
 */
export interface RouteDeclaration extends RouteListing {
  /** Milliseconds since the declarer's last ROUTE. */
  ageMs: number;
}

/**
 * Options for {@link TowerRoutes}.
 *
 * @example
 * ```ts
 * import { TowerRoutes, type TowerRoutesOptions } from "./routes.ts";
 * const options: TowerRoutesOptions = { ttlMs: 1_000 };
 * new TowerRoutes(options).close();
 * ```
 */
export interface TowerRoutesOptions {
  /** Clock in milliseconds. Default `Date.now`. */
  now?: () => number;
  /** A declaration's lifetime after its last ROUTE. Default 30 s. */
  ttlMs?: number;
}

/**
 * The declared routes of a Tower. A route is a service and a `[host]/prefix`;
 * each address that sends ROUTE for it is one of its declarers, with its own
 * TTL (ROUTE is its heartbeat). The route lives while any declarer does, so
 * one replica of a service leaving does not take the route from the others.
 * UNROUTE from a declarer withdraws its declaration; from any other address,
 * the whole route (an operator's override, until a declarer sends ROUTE
 * again).
 *
 * Watchers get the whole set at once and after every change they can see:
 * a route added or gone (withdrawn or expired, when it expires), its rules
 * or its origin changed. A heartbeat changes nothing they see.
 *
 * @example
 * ```ts
 * import { TowerRoutes } from "./routes.ts";
 * const routes = new TowerRoutes();
 * routes.declare("api", "/api", undefined, "10.0.0.7:41000");
 * routes.watch((set) => console.log(set.map((r) => r.spec.prefix))); // ["/api"]
 * routes.withdraw("api", "/api", "10.0.0.7:41000"); // true; watchers get []
 * routes.close();
 * ```
 */
export class TowerRoutes {
  /** A declaration's lifetime in milliseconds. */
  readonly ttlMs: number;
  /** Told of every declaration accepted (heartbeats too): the `--procs` relay. */
  onDeclared: ((declaration: RouteDeclaration) => void) | null = null;
  /** Told of every withdrawal asked for: the `--procs` relay. */
  onWithdrawn: ((name: string, route: string, sender: string) => void) | null = null;
  readonly #now: () => number;
  readonly #entries = new Map<string, Entry>();
  readonly #listeners = new Set<(routes: readonly DeclaredRoute[]) => void>();
  /** Random per state, so a restarted Tower never repeats a version. */
  readonly #epoch = Math.floor(Math.random() * 36 ** 6).toString(36);
  #changes = 0;
  #seq = 0;
  /** Declarations held, live or expired but not yet dropped. */
  #held = 0;
  /** No declaration expires before this (a lower bound). */
  #nextExpiry = Infinity;
  /** Sweeps when the next declaration expires, so watchers hear of it then. */
  readonly #timer: ExpiryTimer;
  #routes: readonly DeclaredRoute[] | undefined = NO_ROUTES;
  #pages: RouteListing[][] | undefined;
  /** A change the watchers have not heard of yet. */
  #unheard = false;
  #telling = false;

  constructor(options: TowerRoutesOptions = {}) {
    this.#now = options.now ?? Date.now;
    this.ttlMs = options.ttlMs ?? 30_000;
    this.#timer = new ExpiryTimer(this.#now, () => this.sweep());
  }

  /**
   * Declare (or refresh) `route` of service `name` from `sender`, with
   * `rules` (compact JSON of an object) or none. True when the declaration
   * is new. `at` is for the `--procs` relay: the route's order on the
   * primary, and how long ago the ROUTE came. Throws a TypeError on an
   * invalid name or route.
   */
  declare(
    name: string,
    route: string,
    rules: string | undefined,
    sender: string,
    at: { order?: number; ageMs?: number } = {},
  ): boolean {
    const target = targetOf(name, route);
    const now = this.#now();
    const key = `${name}|${target.text}`;
    let entry = this.#live(key, now);
    let seen = false;
    if (entry === undefined) {
      const order = at.order ?? ++this.#seq;
      this.#seq = Math.max(this.#seq, order);
      entry = { name, target, rules, order, declarers: new Map() };
      this.#entries.set(key, entry);
      seen = true;
    } else if (entry.rules !== rules) {
      entry.rules = rules;
      seen = true;
    }
    const expiresAt = now - Math.max(0, at.ageMs ?? 0) + this.ttlMs;
    const isNew = !entry.declarers.has(sender);
    if (isNew) this.#held++;
    entry.declarers.set(sender, expiresAt);
    this.#expireBy(expiresAt);
    if (seen) this.#changed();
    this.#tell();
    this.onDeclared?.({
      order: entry.order,
      name,
      route: target.text,
      sender,
      ageMs: now - (expiresAt - this.ttlMs),
      ...(rules === undefined ? {} : { rules }),
    });
    return isNew;
  }

  /**
   * Withdraw `sender`'s declaration of `route`, or the whole route when
   * `sender` is not one of its declarers. False when no such route lives.
   */
  withdraw(name: string, route: string, sender: string): boolean {
    let text;
    try {
      text = targetOf(name, route).text;
    } catch {
      return false;
    }
    this.onWithdrawn?.(name, text, sender);
    const key = `${name}|${text}`;
    const entry = this.#live(key, this.#now());
    if (entry === undefined) return false;
    const origin = firstKey(entry.declarers);
    if (entry.declarers.delete(sender)) this.#held--;
    else {
      this.#held -= entry.declarers.size;
      entry.declarers.clear();
    }
    if (entry.declarers.size === 0) this.#entries.delete(key);
    if (entry.declarers.size === 0 || firstKey(entry.declarers) !== origin) this.#changed();
    this.#tell();
    return true;
  }

  /**
   * Whether a ROUTE of `route` from `sender` stays within `max`
   * declarations: true for a heartbeat, or when fewer are held.
   */
  hasRoomFor(name: string, route: string, sender: string, max: number): boolean {
    if (this.#held < max) return true;
    let text = route;
    try {
      text = targetOf(name, route).text;
    } catch {
      // Not a route: it has no declaration to refresh.
    }
    const heartbeat = this.#live(`${name}|${text}`, this.#now())?.declarers.has(sender) === true;
    if (!heartbeat) this.#sweep();
    this.#tell();
    return heartbeat || this.#held < max;
  }

  /**
   * Every live route, in the order first declared: the same frozen array
   * until the set changes.
   */
  routes(): readonly DeclaredRoute[] {
    this.#sweepIfDue();
    this.#tell();
    return this.#current();
  }

  /**
   * Tell `listener` the current set now, and the whole set again after
   * every change (expiry included, when it happens).
   */
  watch(listener: (routes: readonly DeclaredRoute[]) => void): void {
    const routes = this.routes();
    this.#listeners.add(listener);
    listener(routes);
  }

  /** Changes whenever the set of routes does. */
  get version(): string {
    this.#sweepIfDue();
    this.#tell();
    return `${this.#epoch}.${this.#changes}`;
  }

  /**
   * Page `page` of the `ROUTES` reply: the routes in declaration order, as
   * many a page as fit one datagram. A page past the last is empty (its
   * `pages` tells the asker).
   */
  page(page: number): RouteReply & { kind: "ROUTES" } {
    const version = this.version; // (drops what expired, and tells)
    this.#pages ??= paginate(this.#inOrder().map(listingOf), PAGE_BYTES);
    const pages = this.#pages;
    return { kind: "ROUTES", version, page, pages: pages.length, entries: pages[page] ?? [] };
  }

  /** Every live declaration with its age: what a starting `--procs` worker is sent. */
  declarations(): RouteDeclaration[] {
    const now = this.#now();
    this.#sweepIfDue();
    this.#tell();
    const out: RouteDeclaration[] = [];
    for (const entry of this.#inOrder()) {
      for (const [sender, expiresAt] of entry.declarers) {
        const ageMs = now - (expiresAt - this.ttlMs);
        out.push({ ...listingOf(entry), sender, ageMs });
      }
    }
    return out;
  }

  /** Declarations held (live, or expired and not yet dropped). */
  get held(): number {
    return this.#held;
  }

  /** Drop every expired declaration now; returns how many were dropped. */
  sweep(): number {
    const dropped = this.#sweep();
    this.#tell();
    return dropped;
  }

  #sweep(): number {
    const now = this.#now();
    const before = this.#held;
    let next = Infinity;
    for (const key of [...this.#entries.keys()]) {
      const entry = this.#live(key, now);
      if (entry === undefined) continue;
      for (const expiresAt of entry.declarers.values()) next = Math.min(next, expiresAt);
    }
    this.#nextExpiry = next;
    this.#timer.set(next);
    return before - this.#held;
  }

  /** Stop the expiry timer and forget the watchers. Lazy expiry goes on. */
  close(): void {
    this.#timer.stop();
    this.#listeners.clear();
  }

  /** The entry under `key` with its expired declarers dropped; undefined (and dropped) when none is left. */
  #live(key: string, now: number): Entry | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    const origin = firstKey(entry.declarers);
    for (const [sender, expiresAt] of entry.declarers) {
      if (expiresAt > now) continue;
      entry.declarers.delete(sender);
      this.#held--;
    }
    if (entry.declarers.size === 0) {
      this.#entries.delete(key);
      this.#changed();
      return undefined;
    }
    if (firstKey(entry.declarers) !== origin) this.#changed();
    return entry;
  }

  #sweepIfDue(): void {
    if (this.#now() >= this.#nextExpiry) this.#sweep();
  }

  #expireBy(expiresAt: number): void {
    if (expiresAt >= this.#nextExpiry) return;
    this.#nextExpiry = expiresAt;
    this.#timer.by(expiresAt);
  }

  /** The set watchers see changed: a new version, to be told ({@link #tell}). */
  #changed(): void {
    this.#changes++;
    this.#routes = undefined;
    this.#pages = undefined;
    this.#unheard = true;
  }

  /**
   * Tell every watcher the set, once a change is done (never halfway
   * through a sweep); a watcher that reads the set meanwhile is not told twice.
   */
  #tell(): void {
    if (this.#telling) return;
    this.#telling = true;
    try {
      while (this.#unheard) {
        this.#unheard = false;
        const routes = this.#current();
        for (const listener of this.#listeners) listener(routes);
      }
    } finally {
      this.#telling = false;
    }
  }

  #current(): readonly DeclaredRoute[] {
    this.#routes ??= Object.freeze(this.#inOrder().map(declaredRoute));
    return this.#routes;
  }

  #inOrder(): Entry[] {
    return [...this.#entries.values()].sort((a, b) => a.order - b.order);
  }
}

function targetOf(name: string, route: string): RouteTarget {
  if (!isValidServiceName(name)) throw new TypeError(`invalid service name: ${name}`);
  try {
    return parseRouteTarget(route);
  } catch (e) {
    throw new TypeError((e as Error).message);
  }
}

function firstKey(map: Map<string, number>): string | undefined {
  for (const key of map.keys()) return key;
  return undefined;
}

function listingOf(entry: Entry): RouteListing {
  const listing: RouteListing = {
    order: entry.order,
    name: entry.name,
    route: entry.target.text,
    sender: firstKey(entry.declarers) ?? "",
  };
  if (entry.rules !== undefined) listing.rules = entry.rules;
  return listing;
}

function declaredRoute(entry: Entry): DeclaredRoute {
  return declaredRouteOf(listingOf(entry));
}
