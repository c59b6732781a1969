/**
 * Keeps the configuration snapshot current: the static routes and service
 * settings (flags and file, replaced whole on a reload) and the routes
 * services declare in registries (replaced whole per registry on each
 * change) become one new {@link ConfigSnapshot} with the next generation,
 * swapped in at once, with one log line saying what changed.
 *
 * Precedence: static routes (flags, then the file) win over declared ones;
 * of two declarations of the same host and prefix the earlier one wins.
 * Every conflict and every invalid declared route is logged once.
 *
 * @module
 */

import type { DeclaredRoute } from "../registry/types.ts";
import { type Route, routeKey, RouteTable } from "../routing/router.ts";
import type { ServiceSettings } from "../replicas/settings.ts";
import { messageOf } from "../error_message.ts";
import { ConfigError } from "./errors.ts";
import { routeFromEntry } from "./route_entry.ts";
import { ConfigSnapshot, LiveConfig } from "./snapshot.ts";

/** The static part of a configuration: what flags and the file give. */
export interface StaticConfig {
  readonly routes: readonly Route[];
  readonly serviceDefaults: ServiceSettings;
  readonly services: ReadonlyMap<string, ServiceSettings>;
  /** The TLS listener's port for `redirect-https` in declared routes (null: none). */
  readonly tlsPort: number | null;
}

/** What a route does, beyond where it matches: compared to tell a changed route. */
function routeBody(r: Route): string {
  return JSON.stringify([r.service, r.rules]);
}

/** Routes named for a log line: the first few, then how many more. */
function named(routes: readonly Route[]): string {
  const names = routes.slice(0, 5).map((r) => `${r.host}${r.prefix}${r.stringPrefix ? "*" : ""}`);
  return routes.length > 5 ? `${names.join(" ")} and ${routes.length - 5} more` : names.join(" ");
}

/**
 * The live configuration and what goes into it.
 *
 * @example
 * ```ts
 * import { ConfigKeeper } from "./keeper.ts";
 * import { parseRoute } from "../routing/router.ts";
 * import type { ServiceSettings } from "../replicas/settings.ts";
 * declare const defaults: ServiceSettings;
 * const keeper = new ConfigKeeper(
 *   { routes: [parseRoute("/:web")], serviceDefaults: defaults, services: new Map(), tlsPort: null },
 *   console.error,
 * );
 * keeper.declared("etcd", [{ spec: { prefix: "/api", service: "api" }, origin: "etcd /g/routes/api", order: 7 }]);
 * keeper.live.current.generation; // 2
 * ```
 */
export class ConfigKeeper {
  readonly live: LiveConfig;
  #static: StaticConfig;
  /** Declared routes by the registry that holds them. */
  readonly #declared = new Map<string, readonly DeclaredRoute[]>();
  /** Conflicts and bad declarations already logged (each once). */
  #logged = new Set<string>();
  readonly #log: (line: string) => void;

  constructor(first: StaticConfig, log: (line: string) => void) {
    this.#static = first;
    this.#log = log;
    this.live = new LiveConfig(this.#snapshot(1, new Set()));
  }

  /** The static configuration now. */
  get static(): StaticConfig {
    return this.#static;
  }

  /**
   * A reload: `next` replaces the static part. Returns the new generation,
   * after its log line. Throws (changing nothing) when a static route
   * repeats another.
   */
  reload(next: StaticConfig, why: string): number {
    const previous = this.#static;
    this.#static = next;
    try {
      return this.#swap(why);
    } catch (e) {
      this.#static = previous;
      throw e;
    }
  }

  /**
   * The routes `source` (a registry) declares now, whole. The same set
   * again (a registry's first read of none, say) changes nothing.
   */
  declared(source: string, routes: readonly DeclaredRoute[]): void {
    if (sameDeclarations(this.#declared.get(source) ?? [], routes)) return;
    this.#declared.set(source, routes);
    this.#swap(`routes declared in ${source} changed`);
  }

  #swap(why: string): number {
    const old = this.live.current;
    const logged = new Set<string>();
    const next = this.#snapshot(old.generation + 1, logged);
    this.#logged = logged;
    this.live.swap(next);
    let what = describe(old.table, next.table);
    if (servicesText(old) !== servicesText(next)) what += "; service settings changed";
    this.#log(`config generation ${next.generation}: ${why}; ${what}`);
    return next.generation;
  }

  #snapshot(generation: number, logged: Set<string>): ConfigSnapshot {
    const s = this.#static;
    const routes: Route[] = [...s.routes];
    const taken = new Map<string, Route>();
    for (const r of routes) taken.set(routeKey(r), r);
    const declared = [...this.#declared.values()].flat().sort((a, b) => a.order - b.order);
    const once = (key: string, line: string) => {
      logged.add(key);
      if (!this.#logged.has(key)) this.#log(line);
    };
    for (const d of declared) {
      let route: Route;
      try {
        route = routeFromEntry(d.spec, d.origin, (key, message): never => {
          throw new ConfigError(`${key === "" ? "" : `${key}: `}${message}`);
        }, s.tlsPort);
      } catch (e) {
        const text = JSON.stringify(d.spec);
        once(`bad ${d.origin} ${text}`, `declared route ${d.origin} left out: ${messageOf(e)}`);
        continue;
      }
      const key = routeKey(route);
      const holder = taken.get(key);
      if (holder !== undefined) {
        if (holder.origin === route.origin && routeBody(holder) === routeBody(route)) continue;
        once(
          `conflict ${key} ${route.origin} ${holder.origin}`,
          `declared route ${route.source} (${route.origin}) left out: ${holder.source} (${holder.origin}) holds ${
            route.host || "any host"
          }${route.prefix}`,
        );
        continue;
      }
      taken.set(key, route);
      routes.push(route);
    }
    // One table, built once. It throws on a repeated static route (declared ones never repeat a
    // key they found taken): the caller refuses the reload.
    return new ConfigSnapshot(generation, new RouteTable(routes), s.services, s.serviceDefaults);
  }
}

/** Whether two declared sets are the same routes, from the same origins, in the same order. */
function sameDeclarations(a: readonly DeclaredRoute[], b: readonly DeclaredRoute[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  return a.every((d, i) => JSON.stringify(d) === JSON.stringify(b[i]));
}

/** A snapshot's service settings as text, to tell a change. */
function servicesText(snap: ConfigSnapshot): string {
  return JSON.stringify([snap.defaults, [...snap.services]]);
}

/** "N routes; added ...; removed ...; changed ..." between two tables. */
function describe(old: RouteTable, next: RouteTable): string {
  const before = new Map(old.routes.map((r) => [routeKey(r), r]));
  const after = new Map(next.routes.map((r) => [routeKey(r), r]));
  const added: Route[] = [], removed: Route[] = [], changed: Route[] = [];
  for (const [key, r] of after) {
    const was = before.get(key);
    if (was === undefined) added.push(r);
    else if (routeBody(was) !== routeBody(r)) changed.push(r);
  }
  for (const [key, r] of before) if (!after.has(key)) removed.push(r);
  const parts = [`${next.routes.length} routes`];
  if (added.length > 0) parts.push(`added ${named(added)}`);
  if (removed.length > 0) parts.push(`removed ${named(removed)}`);
  if (changed.length > 0) parts.push(`changed ${named(changed)}`);
  if (parts.length === 1) parts.push("no route changed");
  return parts.join("; ");
}
