/**
 * etcd as the registry, over etcd's v3 JSON gateway with plain `fetch` (no
 * client library, no gRPC), so it runs unchanged on Deno and Bun.
 *
 * Layout in etcd: one key per replica, bound to a lease that the replica's
 * registrar keeps alive, so a replica that dies vanishes when its lease runs
 * out.
 *
 * ```
 * key:   <prefix>/<service>/<host:port>        e.g. /gatehouse/api/10.0.0.7:8081
 * value: {"host":"10.0.0.7","port":8081}       (JSON; written by EtcdRegistrar)
 * ```
 *
 * Readers also accept a bare `host:port` value, and an empty or unreadable
 * value falls back to the key's last segment, so keys written by hand with
 * `etcdctl put /gatehouse/api/10.0.0.7:8081 ""` work too. `[v6]:port` is the
 * IPv6 form in keys.
 *
 * {@link EtcdRegistry} (the proxy's side) keeps a watched local view and
 * answers `resolve` from memory; {@link EtcdRegistrar} (a replica's side)
 * holds a lease and a key.
 *
 * @module
 */

import {
  formatHostPort,
  isValidHost,
  isValidPort,
  isValidServiceName,
  readHostPort,
} from "../net/address.ts";
import { messageOf } from "../error_message.ts";
import type { Registrar, Registration, Registry, Replica } from "./types.ts";

/** The client port etcd listens on unless told otherwise. */
export const DEFAULT_ETCD_PORT = 2379;

/** How long a lease outlives its last keep-alive unless told otherwise: 10 s. */
export const DEFAULT_ETCD_TTL_MS = 10_000;

/** The key prefix used when an `etcd://` URL names none. */
export const DEFAULT_ETCD_PREFIX = "/gatehouse";

/** Where the cluster is and under which prefix replicas live. */
export interface EtcdTarget {
  /** Client URLs of the members, `http://host:port`, tried in this order. */
  endpoints: string[];
  /** Key prefix without a trailing slash, e.g. `/gatehouse`. */
  prefix: string;
}

/**
 * A key prefix as the registry keeps it: `/a/b/` and `a/b` become `/a/b`.
 *
 * @example
 * ```ts
 * import { normalizePrefix } from "./etcd.ts";
 * normalizePrefix("prod/"); // "/prod"
 * ```
 */
export function normalizePrefix(prefix: string): string {
  const trimmed = prefix.replace(/\/+$/, "");
  const withSlash = trimmed.startsWith("/") ? trimmed : `/${trimmed}`;
  if (withSlash === "/") return "";
  return withSlash;
}

/**
 * The key under which `replica` of `service` is stored.
 *
 * @example
 * ```ts
 * replicaKey("/gatehouse", "api", { host: "10.0.0.7", port: 8081 });
 * // "/gatehouse/api/10.0.0.7:8081"
 * ```
 */
export function replicaKey(prefix: string, service: string, replica: Replica): string {
  return `${normalizePrefix(prefix)}/${service}/${formatHostPort(replica.host, replica.port)}`;
}

// ---------------------------------------------------------------------------
// The v3 JSON gateway: encoding, one request, failover between members
// ---------------------------------------------------------------------------

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function toBase64(bytes: Uint8Array): string {
  let binary = "";
  for (let i = 0; i < bytes.length; i++) binary += String.fromCharCode(bytes[i]);
  return btoa(binary);
}

function b64(text: string): string {
  return toBase64(encoder.encode(text));
}

function unb64(text: string | undefined): string {
  if (text === undefined || text === "") return "";
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return decoder.decode(bytes);
}

/** The smallest key after every key that starts with `prefix`. */
function prefixEnd(prefix: string): string {
  const bytes = encoder.encode(prefix);
  for (let i = bytes.length - 1; i >= 0; i--) {
    if (bytes[i] < 0xff) {
      const end = bytes.slice(0, i + 1);
      end[i]++;
      return toBase64(end);
    }
  }
  return toBase64(new Uint8Array([0])); // All 0xff: to the end of the keyspace.
}

/** gRPC status codes that are answers about the request, not about the member. */
const FINAL_CODES = new Set([3, 5, 6, 7, 9, 11, 12, 16]);

/** An etcd request that failed; `retryable` when another member may do better. */
export class EtcdError extends Error {
  override name = "EtcdError";
  /** gRPC status code from the gateway, when it gave one (5 = NOT_FOUND). */
  readonly code: number | undefined;
  /** True for outages (network, timeout, no leader), false for answers. */
  readonly retryable: boolean;

  constructor(message: string, code?: number, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
    this.retryable = code === undefined || !FINAL_CODES.has(code);
  }
}

// deno-lint-ignore no-explicit-any
type Json = any;

/** Why an abort happened, kept apart from the runtime's own AbortError. */
class Aborted extends Error {
  override name = "Aborted";
}

/**
 * A controller aborted by `parent` too, and by a timer after `timeoutMs`
 * (none when undefined). `dispose` must be called to drop the timer and the
 * listener.
 */
function linkedController(
  parent: AbortSignal,
  timeoutMs: number | undefined,
  what: string,
): { controller: AbortController; dispose(): void } {
  const controller = new AbortController();
  const onParent = () => controller.abort(new Aborted("closed"));
  if (parent.aborted) onParent();
  else parent.addEventListener("abort", onParent, { once: true });
  const timer = timeoutMs === undefined ? undefined : setTimeout(
    () => controller.abort(new Aborted(`${what}: no answer in ${timeoutMs} ms`)),
    timeoutMs,
  );
  return {
    controller,
    dispose() {
      clearTimeout(timer);
      parent.removeEventListener("abort", onParent);
    },
  };
}

/** The reason an aborted fetch failed, in words. */
function failureText(err: unknown, signal: AbortSignal): string {
  if (signal.aborted && signal.reason instanceof Error) return signal.reason.message;
  if (!(err instanceof Error)) return String(err);
  // "fetch failed" alone says little; the cause says "connection refused".
  const text = err.cause instanceof Error ? `${err.message}: ${err.cause.message}` : err.message;
  return text.replace(/error sending request for url \([^)]*\): /, "");
}

/** Read a gateway answer: one JSON object, or `{"result": ...}` from a stream call. */
function readAnswer(status: number, text: string, where: string): Json {
  let json: Json;
  try {
    json = JSON.parse(text.trim().split("\n")[0] || "{}");
  } catch {
    throw new EtcdError(`${where}: HTTP ${status}, not JSON: ${text.slice(0, 200)}`);
  }
  const error = json.error;
  if (status !== 200 || error !== undefined) {
    // Unary calls: {"error": "...", "code": N}; stream calls: {"error": {"grpc_code": N, ...}}.
    const code = typeof error === "object" && error !== null ? error.grpc_code : json.code;
    const message = typeof error === "object" && error !== null ? error.message : error;
    throw new EtcdError(`${where}: ${message ?? `HTTP ${status}`}`, code);
  }
  return json.result ?? json;
}

/** One POST to one member. */
async function post(
  endpoint: string,
  path: string,
  body: unknown,
  timeoutMs: number,
  closed: AbortSignal,
): Promise<Json> {
  const where = `etcd ${endpoint}${path}`;
  const { controller, dispose } = linkedController(closed, timeoutMs, where);
  try {
    const res = await fetch(`${endpoint}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
      signal: controller.signal,
    });
    return readAnswer(res.status, await res.text(), where);
  } catch (err) {
    if (err instanceof EtcdError) throw err;
    throw new EtcdError(failureText(err, controller.signal), undefined, { cause: err });
  } finally {
    dispose();
  }
}

/**
 * The members of a cluster and which one is in use. A call goes to the
 * current member; on an outage it moves to the next and tries again, so the
 * next call starts where the last one succeeded.
 */
class Members {
  readonly endpoints: readonly string[];
  readonly #timeoutMs: number;
  readonly #closed: AbortSignal;
  #current = 0;

  constructor(endpoints: readonly string[], timeoutMs: number, closed: AbortSignal) {
    if (endpoints.length === 0) throw new Error("etcd: no endpoints");
    this.endpoints = endpoints;
    this.#timeoutMs = timeoutMs;
    this.#closed = closed;
  }

  get current(): string {
    return this.endpoints[this.#current];
  }

  /** Move to the next member. */
  advance(): string {
    this.#current = (this.#current + 1) % this.endpoints.length;
    return this.current;
  }

  /** One request to a given member. */
  postTo(
    endpoint: string,
    path: string,
    body: unknown,
    timeoutMs = this.#timeoutMs,
  ): Promise<Json> {
    return post(endpoint, path, body, timeoutMs, this.#closed);
  }

  /**
   * Try every member once per round, starting with the current one, for
   * `rounds` rounds. Answers (NOT_FOUND, bad request) reject at once.
   */
  async call(path: string, body: unknown, rounds = 1, timeoutMs = this.#timeoutMs): Promise<Json> {
    const failures = new Map<string, string>(); // The last failure per member.
    const attempts = this.endpoints.length * rounds;
    for (let attempt = 0; attempt < attempts; attempt++) {
      if (this.#closed.aborted) throw new EtcdError("etcd client closed");
      const endpoint = this.current;
      try {
        return await this.postTo(endpoint, path, body, timeoutMs);
      } catch (err) {
        const e = err as EtcdError;
        if (!e.retryable || this.#closed.aborted) throw e;
        failures.set(endpoint, e.message);
        this.advance();
        // Between rounds, give an election a moment.
        if ((attempt + 1) % this.endpoints.length === 0 && attempt + 1 < attempts) {
          await abortableSleep(500, this.#closed);
        }
      }
    }
    const list = [...failures].map(([endpoint, why]) => `${endpoint}: ${why}`);
    throw new EtcdError(`no etcd member answered ${path} (${list.join("; ")})`);
  }
}

/** setTimeout as a promise that resolves early when `signal` aborts. */
function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}

// ---------------------------------------------------------------------------
// Reading: the watched view
// ---------------------------------------------------------------------------

/** Options for {@link EtcdRegistry.connect}. */
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
  /** Where reconnects and resyncs are reported (one line each). Default: silent. */
  log?: (line: string) => void;
}

/** Counters, for tests and diagnostics. */
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

interface ServiceView {
  /** Replicas by key, in the order they appeared. */
  byKey: Map<string, Replica>;
  /** `byKey`'s values, rebuilt on change. */
  list: Replica[];
  /** Round-robin position. */
  next: number;
}

interface KeyValue {
  key?: string;
  value?: string;
  mod_revision?: string;
}

interface WatchEvent {
  type?: "PUT" | "DELETE";
  kv?: KeyValue;
}

/** How one watch stream ended. */
type WatchEnd =
  | { kind: "compacted"; revision: number }
  | { kind: "failed"; reason: string; created: boolean };

/**
 * A {@link Registry} over etcd that answers from a watched local view.
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
  readonly #services = new Map<string, ServiceView>();
  readonly #stats: EtcdRegistryStats = { ranges: 0, watches: 0, reconnects: 0, events: 0 };
  #revision = 0;
  #compactedAt = 0;
  #watching: string | undefined;
  #loop: Promise<void> = Promise.resolve();

  private constructor(target: EtcdTarget, options: EtcdRegistryOptions) {
    this.#prefix = target.prefix;
    this.#idleTimeoutMs = options.idleTimeoutMs ?? 3000;
    this.#log = options.log ?? (() => {});
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
  resolve(service: string): Replica[] {
    const view = this.#services.get(service);
    if (view === undefined) return [];
    const list = view.list;
    const n = list.length;
    const start = view.next % n;
    view.next = start + 1;
    const out = new Array<Replica>(n);
    for (let i = 0; i < n; i++) out[i] = list[(start + i) % n];
    return out;
  }

  /** Names of the services with at least one replica. */
  services(): string[] {
    return [...this.#services.keys()];
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
    this.#services.clear();
    for (const kv of (answer.kvs ?? []) as KeyValue[]) this.#put(kv);
    this.#revision = Number(answer.header?.revision ?? 0);
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
    let message: Json;
    try {
      message = JSON.parse(line);
    } catch {
      return { failed: `unreadable watch line: ${line.slice(0, 200)}` };
    }
    if (message.error !== undefined) {
      const error = message.error;
      return { failed: `watch error: ${typeof error === "object" ? error.message : error}` };
    }
    const result = message.result ?? {};
    if (result.canceled) {
      const compacted = Number(result.compact_revision ?? 0);
      if (compacted > 0) {
        this.#compactedAt = compacted;
        return "compacted";
      }
      return { failed: `watch canceled: ${result.cancel_reason || "no reason given"}` };
    }
    if (result.created) return "created";
    const events = (result.events ?? []) as WatchEvent[];
    // Progress notifications carry a header revision too, but etcd 3.4 may
    // send one ahead of events still queued, so only events move the revision.
    if (events.length === 0) return "progress";
    // A revision is never split across responses, so anything at or below
    // the last applied revision is a replay and is skipped.
    const floor = this.#revision;
    for (const event of events) {
      const kv = event.kv ?? {};
      const revision = Number(kv.mod_revision ?? 0);
      if (revision <= floor) continue;
      if (event.type === "DELETE") this.#delete(kv);
      else this.#put(kv);
      this.#stats.events++;
      if (revision > this.#revision) this.#revision = revision;
    }
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

  /** Split a key into service and the key's address part. */
  #parseKey(key: string): { service: string; address: string } | undefined {
    const head = `${this.#prefix}/`;
    if (!key.startsWith(head)) return undefined;
    const rest = key.slice(head.length);
    const slash = rest.indexOf("/");
    if (slash <= 0) return undefined;
    return { service: rest.slice(0, slash), address: rest.slice(slash + 1) };
  }

  #put(kv: KeyValue): void {
    const key = unb64(kv.key);
    const parsed = this.#parseKey(key);
    if (parsed === undefined) return;
    const replica = parseReplicaValue(unb64(kv.value)) ?? readHostPort(parsed.address);
    if (replica === undefined) {
      // Not a replica we can use; make sure an older good value is dropped.
      this.#delete(kv);
      return;
    }
    let view = this.#services.get(parsed.service);
    if (view === undefined) {
      view = { byKey: new Map(), list: [], next: 0 };
      this.#services.set(parsed.service, view);
    }
    view.byKey.set(key, replica);
    view.list = [...view.byKey.values()];
  }

  #delete(kv: KeyValue): void {
    const key = unb64(kv.key);
    const parsed = this.#parseKey(key);
    if (parsed === undefined) return;
    const view = this.#services.get(parsed.service);
    if (view === undefined || !view.byKey.delete(key)) return;
    if (view.byKey.size === 0) this.#services.delete(parsed.service);
    else view.list = [...view.byKey.values()];
  }
}

/** `{"host":"h","port":n}` or `host:port`; undefined when it is neither. */
function parseReplicaValue(value: string): Replica | undefined {
  const text = value.trim();
  if (text === "") return undefined;
  if (text.startsWith("{")) {
    try {
      const json = JSON.parse(text);
      const { host, port } = json as { host?: unknown; port?: unknown };
      if (
        typeof host === "string" && isValidHost(host) && typeof port === "number" &&
        isValidPort(port)
      ) {
        return { host, port };
      }
    } catch {
      // Fall through: not a replica.
    }
    return undefined;
  }
  return readHostPort(text);
}

function resolveTarget(options: Partial<EtcdTarget>): EtcdTarget {
  if (options.endpoints === undefined || options.endpoints.length === 0) {
    throw new Error("etcd: give a url or at least one endpoint");
  }
  return {
    endpoints: options.endpoints.map((e) => e.replace(/\/+$/, "")),
    prefix: normalizePrefix(options.prefix ?? DEFAULT_ETCD_PREFIX),
  };
}

// ---------------------------------------------------------------------------
// Writing: leases and keys
// ---------------------------------------------------------------------------

/** Options for {@link EtcdRegistrar}. */
export interface EtcdRegistrarOptions extends Partial<EtcdTarget> {
  /**
   * Lease TTL in seconds: how long a replica stays after its last
   * keepalive. Keepalives go every TTL/3. Default 10. (etcd raises TTLs
   * below its minimum, about 2 s with default timing.)
   */
  ttlSeconds?: number;
  /** Timeout of each request. Default 3000 ms. */
  requestTimeoutMs?: number;
  /** Where keepalive trouble is reported. Default: silent. */
  log?: (line: string) => void;
}

/** A live registration in etcd; see {@link EtcdRegistrar.register}. */
export interface EtcdRegistration extends Registration {
  /** The replica's key. */
  readonly key: string;
  /** The lease the key is bound to now (a decimal string). */
  readonly leaseId: string;
}

/**
 * A key bound to a lease kept alive every TTL/3. If the lease is found
 * expired (say, after a long partition), a new lease is granted and the key
 * written again.
 */
class LeaseRegistration implements EtcdRegistration {
  /** The replica's key. */
  readonly key: string;
  readonly #value: string;
  readonly #forget: (registration: LeaseRegistration) => void;
  readonly #members: Members;
  readonly #ttlSeconds: number;
  readonly #requestTimeoutMs: number;
  readonly #log: (line: string) => void;
  #lease = "0";
  #timer: ReturnType<typeof setTimeout> | undefined;
  #tick: Promise<void> = Promise.resolve();
  #closed = false;

  constructor(
    forget: (registration: LeaseRegistration) => void,
    members: Members,
    key: string,
    replica: Replica,
    ttlSeconds: number,
    requestTimeoutMs: number,
    log: (line: string) => void,
  ) {
    this.#forget = forget;
    this.#members = members;
    this.key = key;
    this.#value = JSON.stringify({ host: replica.host, port: replica.port });
    this.#ttlSeconds = ttlSeconds;
    this.#requestTimeoutMs = requestTimeoutMs;
    this.#log = log;
  }

  /** The lease the key is bound to (a decimal string). */
  get leaseId(): string {
    return this.#lease;
  }

  /** Grant a lease, write the key, start the keepalives. */
  async start(): Promise<void> {
    await this.#writeKey(2);
    this.#schedule();
  }

  /**
   * Stop the keepalives and revoke the lease. Revoking deletes the key in
   * the same step, and only if it is still bound to this lease, so a
   * successor that wrote the same key meanwhile is left alone. Rejects when
   * no member could be reached (the key then goes when the lease runs out).
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#timer);
    await this.#tick;
    this.#forget(this);
    try {
      await this.#members.call("/v3/lease/revoke", { ID: this.#lease }, 2);
    } catch (err) {
      if ((err as EtcdError).code === 5) return; // Lease already gone, and the key with it.
      throw new Error(
        `cannot remove ${this.key} from etcd (it expires in at most ${this.#ttlSeconds} s): ${
          messageOf(err)
        }`,
        { cause: err },
      );
    }
  }

  async #writeKey(rounds: number): Promise<void> {
    const grant = await this.#members.call(
      "/v3/lease/grant",
      { TTL: String(this.#ttlSeconds) },
      rounds,
    );
    this.#lease = String(grant.ID);
    try {
      await this.#members.call(
        "/v3/kv/put",
        { key: b64(this.key), value: b64(this.#value), lease: this.#lease },
        rounds,
      );
    } catch (err) {
      // Do not leave the lease to run out on its own.
      await this.#members.call("/v3/lease/revoke", { ID: this.#lease }).catch(() => {});
      throw err;
    }
  }

  #schedule(): void {
    if (this.#closed) return;
    const interval = Math.max(100, Math.floor((this.#ttlSeconds * 1000) / 3));
    this.#timer = setTimeout(() => {
      this.#tick = this.#keepalive().finally(() => this.#schedule());
    }, interval);
  }

  async #keepalive(): Promise<void> {
    try {
      // A hung member must not eat the lease: give each try at most TTL/3.
      const answer = await this.#members.call(
        "/v3/lease/keepalive",
        { ID: this.#lease },
        1,
        Math.min(this.#requestTimeoutMs, Math.max(500, (this.#ttlSeconds * 1000) / 3)),
      );
      if (this.#closed) return;
      if (Number(answer.TTL ?? 0) > 0) return;
      this.#log(`etcd: lease of ${this.key} had expired; registering again`);
      await this.#writeKey(1);
    } catch (err) {
      if (!this.#closed) {
        this.#log(`etcd: keepalive of ${this.key} failed: ${messageOf(err)}`);
      }
    }
  }
}

/**
 * The writing side of the etcd registry: each registration is a lease (TTL
 * 10 s by default) and a key `<prefix>/<service>/<host:port>` with value
 * `{"host","port"}`, kept alive every TTL/3. Requests fail over between the
 * members.
 *
 * @example
 * ```ts
 * const registrar = new EtcdRegistrar({ endpoints: ["http://10.0.0.1:2379"], prefix: "/gatehouse" });
 * const registration = await registrar.register("api", { host: "10.0.0.7", port: 8081 });
 * // ... serve ...
 * await registration.close(); // the key is gone at once
 * await registrar.close();
 * ```
 */
export class EtcdRegistrar implements Registrar {
  /** The key prefix in use. */
  readonly prefix: string;
  readonly #members: Members;
  readonly #ttlSeconds: number;
  readonly #requestTimeoutMs: number;
  readonly #log: (line: string) => void;
  readonly #closing = new AbortController();
  readonly #live = new Set<LeaseRegistration>();

  /** No network until {@link register}. Throws on a bad URL. */
  constructor(options: EtcdRegistrarOptions) {
    const resolved = resolveTarget(options);
    this.prefix = resolved.prefix;
    const ttl = options.ttlSeconds ?? DEFAULT_ETCD_TTL_MS / 1000;
    if (!Number.isInteger(ttl) || ttl < 1) {
      throw new Error(`etcd: lease TTL must be a whole number of seconds >= 1, not ${ttl}`);
    }
    this.#ttlSeconds = ttl;
    this.#requestTimeoutMs = options.requestTimeoutMs ?? 3000;
    this.#log = options.log ?? (() => {});
    this.#members = new Members(resolved.endpoints, this.#requestTimeoutMs, this.#closing.signal);
  }

  /**
   * Grant a lease, write the replica's key, and keep the lease alive until
   * the registration is closed. Rejects on a service name or host that
   * cannot be a key, or when no member answers.
   */
  async register(service: string, replica: Replica): Promise<EtcdRegistration> {
    if (!isValidServiceName(service)) throw new Error(`invalid service name "${service}"`);
    if (!isValidHost(replica.host) || !isValidPort(replica.port)) {
      throw new Error(`invalid replica address ${formatHostPort(replica.host, replica.port)}`);
    }
    if (this.#closing.signal.aborted) throw new Error("etcd registrar is closed");
    const key = replicaKey(this.prefix, service, replica);
    const registration = new LeaseRegistration(
      (r) => this.#live.delete(r),
      this.#members,
      key,
      replica,
      this.#ttlSeconds,
      this.#requestTimeoutMs,
      this.#log,
    );
    await registration.start();
    if (this.#closing.signal.aborted) {
      await registration.close().catch(() => {});
      throw new Error("etcd registrar closed while registering");
    }
    this.#live.add(registration);
    return registration;
  }

  /** Close every live registration (revoking its lease), then stop. */
  async close(): Promise<void> {
    const results = await Promise.allSettled([...this.#live].map((r) => r.close()));
    this.#closing.abort();
    const failed = results.find((r) => r.status === "rejected");
    if (failed) throw (failed as PromiseRejectedResult).reason;
  }
}
