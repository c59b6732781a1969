/**
 * A short-lived answer cache and a stale-answer fallback in front of a
 * registry that is asked over the network (the remote Tower).
 *
 * With `cacheMs` 0 every request still asks (always fresh); either
 * way, when the registry stops answering, the last answer it gave keeps being
 * used for `staleMs`, so an outage of the registry does not fail every request.
 *
 * @module
 */

import {
  type DeclaredRoute,
  isAnswer,
  type Registry,
  type RegistryFreshness,
  type Replica,
} from "./types.ts";

interface Entry {
  replicas: readonly Replica[];
  at: number;
}

/** Options for {@link CachedRegistry}. */
export interface CachedRegistryOptions {
  /** Reuse an answer this long without asking (0: ask every time). */
  cacheMs: number;
  /** After a failed lookup, keep using the last answer this long after it was received. */
  staleMs: number;
  /** Told once when stale answers start being served and once when fresh ones return. */
  log?: (line: string) => void;
  now?: () => number;
}

/**
 * Wraps a registry with a cache and a stale fallback.
 *
 * @example
 * ```ts
 * import { CachedRegistry } from "./cached.ts";
 * import type { Registry } from "./types.ts";
 * declare const remote: Registry;
 * const registry = new CachedRegistry(remote, { cacheMs: 0, staleMs: 60_000 });
 * ```
 */
export class CachedRegistry implements Registry {
  readonly #inner: Registry;
  readonly #opts: CachedRegistryOptions;
  readonly #entries = new Map<string, Entry>();
  readonly #stale = new Set<string>();
  readonly #now: () => number;

  /** The inner registry's declared routes, passed through untouched (present when it has them). */
  readonly watchRoutes?: (listener: (routes: readonly DeclaredRoute[]) => void) => void;
  /** The inner registry's freshness, passed through (present when it has one). */
  readonly freshness?: () => RegistryFreshness;

  constructor(inner: Registry, options: CachedRegistryOptions) {
    this.#inner = inner;
    this.#opts = options;
    this.#now = options.now ?? Date.now;
    if (inner.watchRoutes !== undefined) this.watchRoutes = (l) => inner.watchRoutes!(l);
    if (inner.freshness !== undefined) this.freshness = () => inner.freshness!();
  }

  resolve(service: string): readonly Replica[] | Promise<readonly Replica[]> {
    const entry = this.#entries.get(service);
    const now = this.#now();
    if (entry !== undefined && this.#opts.cacheMs > 0 && now - entry.at < this.#opts.cacheMs) {
      return entry.replicas;
    }
    let answer: readonly Replica[] | Promise<readonly Replica[]>;
    try {
      answer = this.#inner.resolve(service);
    } catch (e) {
      return this.#fallback(service, e);
    }
    if (isAnswer(answer)) return this.#store(service, answer);
    return answer.then((r) => this.#store(service, r), (e) => this.#fallback(service, e));
  }

  #store(service: string, replicas: readonly Replica[]): readonly Replica[] {
    this.#entries.set(service, { replicas, at: this.#now() });
    if (this.#stale.delete(service)) {
      this.#opts.log?.(`registry answers again for service "${service}"`);
    }
    return replicas;
  }

  #fallback(service: string, error: unknown): readonly Replica[] {
    const entry = this.#entries.get(service);
    if (entry !== undefined && this.#now() - entry.at < this.#opts.staleMs) {
      if (!this.#stale.has(service)) {
        this.#stale.add(service);
        this.#opts.log?.(
          `registry failed for service "${service}" (${
            error instanceof Error ? error.message : String(error)
          }); using its last answer for up to ${this.#opts.staleMs} ms`,
        );
      }
      return entry.replicas;
    }
    throw error;
  }

  close(): void | Promise<void> {
    this.#entries.clear();
    return this.#inner.close();
  }
}
