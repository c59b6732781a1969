/**
 * The configuration snapshot: the route table and every service's settings
 * as one immutable value with a generation number. A reload or a change of
 * declared routes builds a new snapshot whole and swaps it in with one
 * assignment ({@link LiveConfig}); a request keeps the snapshot it was
 * routed with, and the next request on a keep-alive connection reads the
 * current one.
 *
 * @module
 */

import type { RouteTable } from "../routing/router.ts";
import type { ServiceSettings } from "../replicas/settings.ts";

/**
 * One generation of routes and service settings.
 *
 * @example
 * ```ts
 * import { ConfigSnapshot } from "./snapshot.ts";
 * import { parseRoute, RouteTable } from "../routing/router.ts";
 * import type { ServiceSettings } from "../replicas/settings.ts";
 * declare const defaults: ServiceSettings;
 * const snap = new ConfigSnapshot(1, new RouteTable([parseRoute("/:web")]), new Map(), defaults);
 * snap.table.match("example.com", "/")?.service; // "web"
 * snap.service("web") === defaults; // true: no settings of its own
 * ```
 */
export class ConfigSnapshot {
  /** Counts up from 1 with every snapshot a process swaps in. */
  readonly generation: number;
  readonly table: RouteTable;
  /** Services with settings of their own. */
  readonly services: ReadonlyMap<string, ServiceSettings>;
  /** Every other service's settings (the flags' and the file's top level). */
  readonly defaults: ServiceSettings;

  constructor(
    generation: number,
    table: RouteTable,
    services: ReadonlyMap<string, ServiceSettings>,
    defaults: ServiceSettings,
  ) {
    this.generation = generation;
    this.table = table;
    this.services = services;
    this.defaults = defaults;
  }

  /** The settings of `service`: its own, else the defaults. */
  service(service: string): ServiceSettings {
    return this.services.size === 0 ? this.defaults : this.services.get(service) ?? this.defaults;
  }
}

/**
 * Where the current snapshot lives: read `current` once per request, swap
 * it with {@link LiveConfig.swap}.
 *
 * @example
 * ```ts
 * import { ConfigSnapshot, LiveConfig } from "./snapshot.ts";
 * declare const first: ConfigSnapshot, next: ConfigSnapshot;
 * const live = new LiveConfig(first);
 * live.swap(next);
 * live.current === next; // true
 * ```
 */
export class LiveConfig {
  #current: ConfigSnapshot;
  readonly #listeners: Array<(snap: ConfigSnapshot, previous: ConfigSnapshot) => void> = [];

  constructor(first: ConfigSnapshot) {
    this.#current = first;
  }

  get current(): ConfigSnapshot {
    return this.#current;
  }

  /** Make `next` current; those listening hear of it after the swap. */
  swap(next: ConfigSnapshot): void {
    const previous = this.#current;
    this.#current = next;
    for (const l of this.#listeners) l(next, previous);
  }

  /** Call `listener` after every swap. */
  onSwap(listener: (snap: ConfigSnapshot, previous: ConfigSnapshot) => void): void {
    this.#listeners.push(listener);
  }
}
