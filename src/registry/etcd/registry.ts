/**
 * The reading side of the etcd registry: {@link EtcdRegistry} keeps a
 * watched local view of every replica under the prefix and answers
 * `resolve` from memory (the key layout is in keys.ts, the view in view.ts,
 * the gateway client in gateway.ts; a replica's side is registrar.ts).
 *
 * @module
 */

import { messageOf } from "../../error_message.ts";
import type { DeclaredRoute, Registry, RegistryFreshness, Replica } from "../types.ts";
import { type EtcdTarget, isRouteKey, resolveTarget } from "./keys.ts";
import { type KeyValue, ReplicaView } from "./view.ts";
import { RouteView } from "./routes.ts";
import { readWatchLine } from "./watch_line.ts";
import {
  abortableSleep,
  Aborted,
  b64,
  failureText,
  linkedController,
  Members,
  post,
  prefixEnd,
  unb64,
} from "./gateway.ts";

/**
 * Options for {@link EtcdRegistry.connect}.
 *
 * @example
 * ```ts
 * import type { EtcdRegistryOptions } from "./registry.ts";
 * const options: EtcdRegistryOptions = { endpoints: ["http://10.0.0.1:2379"], idleTimeoutMs: 3000 };
 * ```
 */
export interface EtcdRegistryOptions extends Partial<EtcdTarget> {
  /**
   * When the watch stream brings nothing (no event, no progress
   * notification) for this long, the watch moves to the next member.
   * Default 3000 ms. Meant for etcd started with
   * `--experimental-watch-progress-notify-interval` well below it (e.g.
   * 1s); until a stream has brought one progress notification, silence is
   * first checked with a quick read (up to 2 s), so an etcd without that
   * flag and a quiet prefix do not cause reconnects.
   */
  idleTimeoutMs?: number;
  /** Timeout of each unary request (range, probe). Default 3000 ms. */
  requestTimeoutMs?: number;
  /** Where reconnects, resyncs and unreadable routes are reported (one line each). Default: silent. */
  log?: (line: string) => void;
}

/**
 * Counters, for tests and diagnostics.
 *
 * @example
 * ```ts
 * import { EtcdRegistry } from "./registry.ts";
 * const registry = await EtcdRegistry.connect({ endpoints: ["http://10.0.0.1:2379"] });
 * registry.stats.reconnects; // 0 while the first watch stream holds
 * ```
 */
export interface EtcdRegistryStats {
  /** Full reads of the prefix (the first one, and one per compaction). */
  ranges: number;
  /** Watch streams opened. */
  watches: number;
  /** Watch streams that ended, failed or went silent and were replaced. */
  reconnects: number;
  /** PUT and DELETE events applied. */
  events: number;
}

/** How one watch stream ended. */
type WatchEnd =
  | { kind: "compacted"; revision: number }
  | { kind: "failed"; reason: string; created: boolean };

/**
 * A {@link Registry} over etcd that answers from a watched local view (and
 * keeps the routes declared under `<prefix>/routes/` from the same reads).
 *
 * `connect` reads every key under the prefix, then keeps one watch stream
 * open from the revision after that read. PUT and DELETE events update the
 * view as they come; `resolve` is a synchronous map lookup that rotates the
 * start of the list per call (round robin; the rest are failover
 * candidates).
 *
 * When the stream fails or ends, or goes silent past `idleTimeoutMs` (a
 * frozen or hung member keeps its socket open and sends nothing), the watch
 * moves to the next member and resumes at the revision after the last event
 * applied, so no event is lost. If that revision has been compacted away,
 * the prefix is read again and the view replaced. While no member answers,
 * the last view keeps serving.
 *
 * @example
 * ```ts
 * import { EtcdRegistry } from "./registry.ts";
 * const registry = await EtcdRegistry.connect({ endpoints: ["http://10.0.0.1:2379"], prefix: "/gatehouse" });
 * registry.resolve("api"); // [{ host: "10.0.0.7", port: 8081 }, ...] from memory
 * await registry.close();
 * ```
 */
export class EtcdRegistry implements Registry {
  readonly #members: Members;
  readonly #prefix: string;
  readonly #idleTimeoutMs: number;
  readonly #log: (line: string) => void;
  readonly #closing = new AbortController();
  readonly #view: ReplicaView;
  readonly #routes: RouteView;
  readonly #routeListeners = new Set<(routes: readonly DeclaredRoute[]) => void>();
  readonly #stats: EtcdRegistryStats = { ranges: 0, watches: 0, reconnects: 0, events: 0 };
  #revision = 0;
  #compactedAt = 0;
  /** When a member last answered (a read, or any line of the watch stream). */
  #heardAt = 0;
  #watching: string | undefined;
  #loop: Promise<void> = Promise.resolve();

  private constructor(target: EtcdTarget, options: EtcdRegistryOptions) {
    this.#prefix = target.prefix;
    this.#view = new ReplicaView(target.prefix);
    this.#idleTimeoutMs = options.idleTimeoutMs ?? 3000;
    this.#log = options.log ?? (() => {});
    this.#routes = new RouteView(this.#log);
    this.#members = new Members(
      target.endpoints,
      options.requestTimeoutMs ?? 3000,
      this.#closing.signal,
    );
  }

  /**
   * Load the view from the first member that answers and start watching.
   * Rejects, naming every member and what went wrong, when none answers.
   */
  static async connect(options: EtcdRegistryOptions): Promise<EtcdRegistry> {
    const resolved = resolveTarget(options);
    const registry = new EtcdRegistry(resolved, options);
    try {
      await registry.#range(2);
    } catch (err) {
      await registry.close();
      throw new Error(
        `cannot load the registry from etcd (${resolved.endpoints.join(", ")}): ${messageOf(err)}`,
        { cause: err },
      );
    }
    registry.#loop = registry.#watchLoop();
    return registry;
  }

  /**
   * The replicas of `service` in the order to try them. Each call starts one
   * further along the list. Empty when none is registered.
   */
  resolve(service: string): readonly Replica[] {
    return this.#view.resolve(service);
  }

  /** Names of the services with at least one replica. */
  services(): string[] {
    return this.#view.services();
  }

  /** Every service and its replicas, without a lookup's round robin. */
  known(): [string, readonly Replica[]][] {
    return this.#view.known();
  }

  /**
   * The routes declared under `<prefix>/routes/`: the whole set at once
   * (read at connect), then after every change the watch brings.
   */
  watchRoutes(listener: (routes: readonly DeclaredRoute[]) => void): void {
    this.#routeListeners.add(listener);
    listener(this.#routes.routes());
  }

  /** The member the watch stream is open on, or undefined between streams. */
  get watchingEndpoint(): string | undefined {
    return this.#watching;
  }

  /** The revision the view reflects: events up to it have been applied. */
  get revision(): number {
    return this.#revision;
  }

  /** Counters (a copy). */
  get stats(): EtcdRegistryStats {
    return { ...this.#stats };
  }

  /** When a member last answered, and the watch's reconnects. */
  freshness(): RegistryFreshness {
    return { kind: "etcd", heardAt: this.#heardAt, reconnects: this.#stats.reconnects };
  }

  /** Stop watching; resolves once no request or timer is left. Idempotent. */
  async close(): Promise<void> {
    this.#closing.abort();
    await this.#loop;
    this.#watching = undefined;
  }

  /** Read the whole prefix and replace the view. */
  async #range(rounds: number): Promise<void> {
    const body = { key: b64(`${this.#prefix}/`), range_end: prefixEnd(`${this.#prefix}/`) };
    const answer = await this.#members.call("/v3/kv/range", body, rounds);
    this.#stats.ranges++;
    this.#heardAt = Date.now();
    this.#view.clear();
    this.#routes.clear();
    for (const kv of (answer.kvs ?? []) as KeyValue[]) this.#apply("PUT", kv);
    this.#revision = Number(answer.header?.revision ?? 0);
    this.#tellRoutes();
  }

  /** A key's PUT or DELETE, to the replicas or the declared routes. */
  #apply(type: "PUT" | "DELETE" | undefined, kv: KeyValue): void {
    const view = isRouteKey(this.#prefix, unb64(kv.key)) ? this.#routes : this.#view;
    if (type === "DELETE") view.delete(kv);
    else view.put(kv);
  }

  #tellRoutes(): void {
    if (!this.#routes.changed()) return;
    const routes = this.#routes.routes();
    for (const listener of this.#routeListeners) listener(routes);
  }

  async #watchLoop(): Promise<void> {
    const closed = this.#closing.signal;
    let failedInARow = 0;
    let resync = false;
    while (!closed.aborted) {
      if (resync) {
        try {
          await this.#range(1);
          resync = false;
        } catch (err) {
          if (closed.aborted) break;
          this.#log(`etcd: cannot reread ${this.#prefix}/ : ${messageOf(err)}`);
          await abortableSleep(1000, closed);
          continue;
        }
      }
      const endpoint = this.#members.current;
      const end = await this.#watchOnce(endpoint);
      this.#watching = undefined;
      if (closed.aborted) break;
      if (end.kind === "compacted") {
        this.#log(
          `etcd: revision ${this.#revision + 1} was compacted (now ${end.revision}); ` +
            `rereading ${this.#prefix}/`,
        );
        resync = true;
        continue;
      }
      this.#stats.reconnects++;
      failedInARow = end.created ? 0 : failedInARow + 1;
      const next = this.#members.advance();
      const members = this.#members.endpoints.length;
      // While the whole cluster is away, say so once a round at first, then rarely.
      if (failedInARow <= members || failedInARow % (members * 20) === 0) {
        this.#log(
          `etcd: watch on ${endpoint} ended (${end.reason}); ` +
            `resuming at revision ${this.#revision + 1} on ${next}`,
        );
      }
      // A whole round of members refused: back off instead of spinning.
      if (failedInARow >= members) {
        const rounds = Math.floor(failedInARow / members);
        await abortableSleep(Math.min(2000, 100 * 2 ** rounds), closed);
      }
    }
  }

  /** Run one watch stream on `endpoint` until it ends one way or another. */
  async #watchOnce(endpoint: string): Promise<WatchEnd> {
    const { controller, dispose } = linkedController(this.#closing.signal, undefined, "watch");
    const signal = controller.signal;
    let created = false;
    // Once the member has sent a progress notification, silence is
    // conclusive; before that (etcd without the progress flag) it is
    // checked with a probe, so a quiet prefix does not cause reconnects.
    let sendsProgress = false;
    let probing: Promise<void> = Promise.resolve();
    let idleTimer: ReturnType<typeof setTimeout> | undefined;
    const silent = () => controller.abort(new Aborted(`nothing for ${this.#idleTimeoutMs} ms`));
    const armIdle = () => {
      clearTimeout(idleTimer);
      idleTimer = setTimeout(() => {
        if (sendsProgress) return silent();
        probing = this.#probe(endpoint, signal).then((alive) => {
          if (signal.aborted) return;
          if (alive) armIdle();
          else silent();
        });
      }, this.#idleTimeoutMs);
    };

    let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
    try {
      this.#stats.watches++;
      armIdle();
      const res = await fetch(`${endpoint}/v3/watch`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          create_request: {
            key: b64(`${this.#prefix}/`),
            range_end: prefixEnd(`${this.#prefix}/`),
            start_revision: String(this.#revision + 1),
            progress_notify: true,
          },
        }),
        signal,
      });
      if (res.status !== 200 || res.body === null) {
        const text = await res.text();
        return { kind: "failed", reason: `HTTP ${res.status} ${text.slice(0, 200)}`, created };
      }
      reader = res.body.getReader();
      const lineDecoder = new TextDecoder();
      let buffered = "";
      while (true) {
        const { value, done } = await reader.read();
        if (done) return { kind: "failed", reason: "stream ended", created };
        buffered += lineDecoder.decode(value, { stream: true });
        let newline: number;
        while ((newline = buffered.indexOf("\n")) !== -1) {
          const line = buffered.slice(0, newline).trim();
          buffered = buffered.slice(newline + 1);
          if (line === "") continue;
          armIdle();
          this.#heardAt = Date.now();
          const outcome = this.#onWatchLine(line);
          if (outcome === "created") {
            created = true;
            this.#watching = endpoint;
          } else if (outcome === "progress") {
            sendsProgress = true;
          } else if (outcome !== "events") {
            return outcome === "compacted"
              ? { kind: "compacted", revision: this.#compactedAt }
              : { kind: "failed", reason: outcome.failed, created };
          }
        }
      }
    } catch (err) {
      return { kind: "failed", reason: failureText(err, signal), created };
    } finally {
      if (!signal.aborted) controller.abort(new Aborted("watch finished"));
      clearTimeout(idleTimer);
      await reader?.cancel().catch(() => {});
      await probing;
      clearTimeout(idleTimer);
      dispose();
    }
  }

  /** Apply one line of the watch stream and say what it was. */
  #onWatchLine(
    line: string,
  ): "created" | "progress" | "events" | "compacted" | { failed: string } {
    const read = readWatchLine(line);
    if (read.kind === "failed") return { failed: read.reason };
    if (read.kind === "compacted") this.#compactedAt = read.revision;
    if (read.kind !== "events") return read.kind;
    const events = read.events;
    // A revision is never split across responses, so anything at or below
    // the last applied revision is a replay and is skipped.
    const floor = this.#revision;
    for (const event of events) {
      const kv = event.kv ?? {};
      const revision = Number(kv.mod_revision ?? 0);
      if (revision <= floor) continue;
      this.#apply(event.type, kv);
      this.#stats.events++;
      if (revision > this.#revision) this.#revision = revision;
    }
    this.#tellRoutes();
    return "events";
  }

  /** Is `endpoint` still answering? A cheap serializable read. */
  async #probe(endpoint: string, signal: AbortSignal): Promise<boolean> {
    if (signal.aborted) return false;
    try {
      await post(
        endpoint,
        "/v3/kv/range",
        { key: b64(`${this.#prefix}/`), serializable: true, limit: "1", keys_only: true },
        Math.min(this.#idleTimeoutMs, 2000),
        signal,
      );
      return true;
    } catch {
      return false;
    }
  }
}
