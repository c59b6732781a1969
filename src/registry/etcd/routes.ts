/**
 * The etcd registry's declared routes: the keys under `<prefix>/routes/`,
 * each a route as a JSON object (keys.ts), kept up to date from the same
 * range and watch events as the replicas, and handed to watchers as one
 * set in the order they were created.
 *
 * @module
 */

import type { DeclaredRoute } from "../types.ts";
import { unb64 } from "./gateway.ts";
import type { KeyValue } from "./view.ts";

interface Held {
  readonly value: string;
  readonly route: DeclaredRoute;
}

/**
 * The declared routes under one prefix, by key. A value that is no JSON
 * object is left out, and logged once (again only when it changes); the
 * same route under several keys is handed out once.
 *
 * @example
 * ```ts
 * import { RouteView } from "./routes.ts";
 * import { b64 } from "./gateway.ts";
 * const view = new RouteView(console.error);
 * view.put({ key: b64("/gatehouse/routes/api"), value: b64('{"prefix":"/api","service":"api"}'), create_revision: "7" });
 * view.changed(); // true
 * view.routes(); // [{ spec: { prefix: "/api", service: "api" }, origin: "etcd /gatehouse/routes/api", order: 7 }]
 * ```
 */
export class RouteView {
  readonly #log: (line: string) => void;
  readonly #held = new Map<string, Held>();
  /** Keys whose value was logged as no route, with that value: each is logged once. */
  readonly #reported = new Map<string, string>();
  #touched = false;
  /** The set as last told ({@link changed}), as text. */
  #told = "";
  #routes: readonly DeclaredRoute[] | undefined;

  constructor(log: (line: string) => void) {
    this.#log = log;
  }

  /** Apply a PUT of a route key (range or watch event). */
  put(kv: KeyValue): void {
    const key = unb64(kv.key);
    const value = unb64(kv.value);
    this.#touched = true;
    const spec = readSpec(value);
    if (spec === undefined) {
      if (this.#reported.get(key) !== value) {
        this.#reported.set(key, value);
        const shown = value.length > 120 ? `${value.slice(0, 120)}...` : value;
        this.#log(
          `etcd: ${key} is not a route (a JSON object): ${JSON.stringify(shown)}; left out`,
        );
      }
      this.#held.delete(key);
      return;
    }
    this.#reported.delete(key);
    // A key's create revision is its declaration's order: kept while the key lives.
    const order = Number(kv.create_revision ?? kv.mod_revision ?? 0);
    this.#held.set(key, { value, route: Object.freeze({ spec, origin: `etcd ${key}`, order }) });
  }

  /** Apply a DELETE of a route key. */
  delete(kv: KeyValue): void {
    const key = unb64(kv.key);
    this.#reported.delete(key);
    if (this.#held.delete(key)) this.#touched = true;
  }

  /** Forget every route (before a full read replaces them). */
  clear(): void {
    if (this.#held.size > 0) this.#touched = true;
    this.#held.clear();
  }

  /**
   * True once when the set differs from the one last told (a rewrite of a
   * key with the same value is no change): the watchers are to be told.
   */
  changed(): boolean {
    if (!this.#touched) return false;
    this.#touched = false;
    const text = JSON.stringify(
      [...this.#held].sort(byFirst).map(([key, h]) => [key, h.route.order, h.value]),
    );
    if (text === this.#told) return false;
    this.#told = text;
    this.#routes = undefined;
    return true;
  }

  /**
   * Every route, in the order their keys were created, a route declared
   * alike under several keys once (the earliest: each replica of a service
   * declares its routes under a key of its own). The same array until they
   * change.
   */
  routes(): readonly DeclaredRoute[] {
    if (this.#routes !== undefined) return this.#routes;
    // Keys written in one transaction share their revision: then by key.
    const inOrder = [...this.#held].sort(byFirst).sort((a, b) =>
      a[1].route.order - b[1].route.order
    );
    const seen = new Set<string>();
    const routes: DeclaredRoute[] = [];
    for (const [, held] of inOrder) {
      const spec = JSON.stringify(held.route.spec);
      if (seen.has(spec)) continue;
      seen.add(spec);
      routes.push(held.route);
    }
    this.#routes = Object.freeze(routes);
    return this.#routes;
  }
}

/** Map entries by key. */
function byFirst(a: [string, Held], b: [string, Held]): number {
  return a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0;
}

/** A JSON object, frozen; undefined for anything else. */
function readSpec(value: string): Readonly<Record<string, unknown>> | undefined {
  let json: unknown;
  try {
    json = JSON.parse(value);
  } catch {
    return undefined;
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) return undefined;
  return Object.freeze(json as Record<string, unknown>);
}
