/**
 * The writing side of the etcd registry: a replica's key, and the keys of
 * the routes it declares, bound to a lease that is granted, kept alive
 * every TTL/3 and revoked when the replica leaves (the key layout is in
 * keys.ts).
 *
 * @module
 */

import { messageOf } from "../../error_message.ts";
import { checkRegistration, type Registrar, type Registration, type Replica } from "../types.ts";
import {
  declaredRouteKey,
  declaredRouteValue,
  DEFAULT_ETCD_TTL_MS,
  type EtcdTarget,
  replicaKey,
  replicaValue,
  resolveTarget,
  ROUTES_SEGMENT,
} from "./keys.ts";
import type { RouteTarget } from "../../routing/declared.ts";
import { b64, EtcdError, Members } from "./gateway.ts";

/**
 * Options for {@link EtcdRegistrar}.
 *
 * @example
 * ```ts
 * import type { EtcdRegistrarOptions } from "./registrar.ts";
 * const options: EtcdRegistrarOptions = { endpoints: ["http://10.0.0.1:2379"], ttlSeconds: 10 };
 * ```
 */
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

/**
 * A live registration in etcd; see {@link EtcdRegistrar.register}.
 *
 * @example
 * ```ts
 * import { EtcdRegistrar, type EtcdRegistration } from "./registrar.ts";
 * const registrar = new EtcdRegistrar({ endpoints: ["http://10.0.0.1:2379"] });
 * const registration: EtcdRegistration = await registrar.register("api", { host: "10.0.0.7", port: 8081 });
 * registration.key; // "/gatehouse/api/10.0.0.7:8081"
 * ```
 */
export interface EtcdRegistration extends Registration {
  /** The replica's key. */
  readonly key: string;
  /** The keys of the routes it declares (under `<prefix>/routes/`), on the same lease. */
  readonly routeKeys: readonly string[];
  /** The lease the key is bound to now (a decimal string). */
  readonly leaseId: string;
}

/**
 * A replica's key, and its routes' keys, bound to a lease kept alive every
 * TTL/3. If the lease is found expired (say, after a long partition), a
 * new lease is granted and the keys written again.
 */
class LeaseRegistration implements EtcdRegistration {
  /** The replica's key. */
  readonly key: string;
  readonly #value: string;
  /** The routes' keys and values. */
  readonly #routes: readonly { key: string; value: string }[];
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
    routes: readonly { key: string; value: string }[],
    ttlSeconds: number,
    requestTimeoutMs: number,
    log: (line: string) => void,
  ) {
    this.#forget = forget;
    this.#members = members;
    this.key = key;
    this.#value = replicaValue(replica);
    this.#routes = routes;
    this.#ttlSeconds = ttlSeconds;
    this.#requestTimeoutMs = requestTimeoutMs;
    this.#log = log;
  }

  /** The lease the key is bound to (a decimal string). */
  get leaseId(): string {
    return this.#lease;
  }

  get routeKeys(): readonly string[] {
    return this.#routes.map((r) => r.key);
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
    const lease = this.#lease;
    try {
      // One transaction: the replica and its routes appear together, in one watch event.
      const puts = [{ key: this.key, value: this.#value }, ...this.#routes].map((kv) => ({
        request_put: { key: b64(kv.key), value: b64(kv.value), lease },
      }));
      await this.#members.call("/v3/kv/txn", { success: puts }, rounds);
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
 * `{"host","port"}`, with a key under `<prefix>/routes/` for each route it
 * declares, kept alive every TTL/3. Requests fail over between the members.
 *
 * @example
 * ```ts
 * import { EtcdRegistrar } from "./registrar.ts";
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
   * Grant a lease, write the replica's key (and a key for each of `routes`,
   * declared for `service`), and keep the lease alive until the
   * registration is closed, which takes them all away. Rejects on a service
   * name or host that cannot be a key ("routes" included: declared routes
   * live there), or when no member answers.
   */
  async register(
    service: string,
    replica: Replica,
    routes: readonly RouteTarget[] = [],
  ): Promise<EtcdRegistration> {
    checkRegistration(service, replica);
    if (service === ROUTES_SEGMENT) {
      // An answer, not an outage (INVALID_ARGUMENT): a sidecar does not retry it.
      throw new EtcdError(
        `"${ROUTES_SEGMENT}" cannot be a service name in etcd: ` +
          `${this.prefix}/${ROUTES_SEGMENT}/ holds declared routes`,
        3,
      );
    }
    if (this.#closing.signal.aborted) throw new Error("etcd registrar is closed");
    const key = replicaKey(this.prefix, service, replica);
    const registration = new LeaseRegistration(
      (r) => this.#live.delete(r),
      this.#members,
      key,
      replica,
      routes.map((target) => ({
        key: declaredRouteKey(this.prefix, service, replica, target),
        value: declaredRouteValue(service, target),
      })),
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
