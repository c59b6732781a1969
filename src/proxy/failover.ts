/**
 * The pick-replica and connect phases: the registry's live replicas of the
 * route's service, then one request's backend connection to one of them,
 * taken from the pool or made anew, failing over across distinct replicas. Each attempt of a
 * request goes to a replica not tried before in that request, up to a fixed
 * number of attempts (`--retries`, 3 by default).
 *
 * @module
 */

import { isAnswer, type Replica } from "../registry/types.ts";
import type { Socket } from "../runtime/types.ts";
import { messageOf } from "../error_message.ts";
import { formatHostPort } from "../net/address.ts";
import type { ProxyContext } from "./context.ts";
import { replicaKey } from "./pool.ts";
import { BackendLink, type BackendListener } from "./backend_link.ts";

/**
 * The attempts left for one request.
 *
 * @example
 * ```ts
 * import { FailoverPlan } from "./failover.ts";
 * const a = { host: "10.0.0.1", port: 80 }, b = { host: "10.0.0.2", port: 80 };
 * const plan = new FailoverPlan([a, a, b], 3);
 * plan.next(); // a
 * plan.next(); // b (a is not tried twice)
 * plan.next(); // undefined
 * ```
 */
export class FailoverPlan {
  #replicas: readonly Replica[];
  #max: number;
  #index = 0;
  #attempts = 0;

  constructor(replicas: readonly Replica[], maxAttempts: number) {
    this.#replicas = replicas;
    this.#max = maxAttempts;
  }

  /** Start over with other replicas (one plan can serve request after request). */
  reset(replicas: readonly Replica[], maxAttempts: number): void {
    this.#replicas = replicas;
    this.#max = maxAttempts;
    this.#index = 0;
    this.#attempts = 0;
  }

  /** Attempts made so far. */
  get attempts(): number {
    return this.#attempts;
  }

  /** The next replica to try, or undefined when attempts or replicas are used up. */
  next(): Replica | undefined {
    if (this.#attempts >= this.#max) return undefined;
    // Registries may list a replica twice; never try the same one twice.
    while (this.#index < this.#replicas.length) {
      const r = this.#replicas[this.#index++];
      let seen = false;
      for (let i = 0; i < this.#index - 1; i++) {
        const p = this.#replicas[i];
        if (p.port === r.port && p.host === r.host) {
          seen = true;
          break;
        }
      }
      if (seen) continue;
      this.#attempts++;
      return r;
    }
    return undefined;
  }
}

/** What the pick and connect phases tell the exchange they work for. */
export interface UpstreamListener extends BackendListener {
  /** The request is still waiting for this connect (not ended meanwhile). */
  readonly waiting: boolean;
  /** The registry could not answer. */
  registryFailed(error: unknown): void;
  /** The registry knows no live replica of the service. */
  noReplicas(): void;
  /** A connection is ready (`upstream.socket`): forward the request. */
  upstreamConnected(): void;
  /** Every attempt failed (`upstream.errors` says why). */
  upstreamFailed(): void;
}

/**
 * The backend side of one request: which replica, over which connection,
 * and the attempts left. An exchange keeps one and resets it per request.
 *
 * @example
 * ```ts
 * import { Upstream, type UpstreamListener } from "./failover.ts";
 * import type { ProxyContext } from "./context.ts";
 * declare const exchange: UpstreamListener, ctx: ProxyContext;
 * const upstream = new Upstream(exchange, ctx);
 * upstream.connect([{ host: "10.0.0.7", port: 8081 }], 3); // exchange.upstreamConnected() when ready
 * ```
 */
export class Upstream {
  readonly #listener: UpstreamListener;
  readonly #ctx: ProxyContext;
  /** The current attempt's link; an earlier attempt's events are not heard. */
  link: BackendLink | null = null;
  readonly #plan = new FailoverPlan([], 0);
  #replica: Replica | null = null;
  #reused = false;
  #staleRetried = false;
  /** Counts requests; a registry answer for an earlier one is dropped. */
  #request = 0;
  /** What went wrong with each attempt, `replica: error; ...` in order ("" when nothing did). */
  errors = "";

  constructor(listener: UpstreamListener, ctx: ProxyContext) {
    this.#listener = listener;
    this.#ctx = ctx;
  }

  /** Forget the last request's attempts. */
  reset(): void {
    this.#request++;
    this.link = null;
    this.#plan.reset(NO_REPLICAS, 0);
    this.#replica = null;
    this.#reused = false;
    this.#staleRetried = false;
    this.errors = "";
  }

  /** The replica of the current attempt, or null. */
  get replica(): Replica | null {
    return this.#replica;
  }

  /** The connected backend socket, or null. */
  get socket(): Socket | null {
    return this.link?.socket ?? null;
  }

  /** Attempts made so far. */
  get attempts(): number {
    return this.#plan.attempts;
  }

  /**
   * Pick: ask the registry where `service`'s live replicas are now, then
   * connect to the first of them that accepts, at most `retries` of them.
   */
  pick(service: string, retries: number): void {
    let replicas: readonly Replica[] | Promise<readonly Replica[]>;
    try {
      replicas = this.#ctx.registry.resolve(service);
    } catch (e) {
      return this.#listener.registryFailed(e);
    }
    if (isAnswer(replicas)) this.connect(replicas, retries);
    else this.#awaitReplicas(replicas, retries);
  }

  // Callbacks live in methods of their own, off the synchronous path: a
  // function whose closures capture its variables allocates their scope on
  // every call, whichever branch it takes.
  #awaitReplicas(answer: Promise<readonly Replica[]>, retries: number): void {
    const request = this.#request;
    answer.then(
      (r) => request === this.#request && this.connect(r, retries),
      (e) => request === this.#request && this.#listener.registryFailed(e),
    );
  }

  /** Connect to the first of `replicas` that accepts, at most `retries` of them. */
  connect(replicas: readonly Replica[], retries: number): void {
    if (!this.#listener.waiting) return;
    if (replicas.length === 0) return this.#listener.noReplicas();
    this.#plan.reset(replicas, retries);
    this.#next();
  }

  /**
   * The connection broke before the response began. A request that can be
   * sent again (`replayable`) goes to a fresh connection to the same replica
   * when the broken one came from the pool (the backend had closed it while
   * idle), else to the next replica; otherwise the attempts are over.
   */
  broke(reason: string, replayable: boolean): void {
    const replica = this.#replica!;
    this.#failed(replica, reason);
    if (this.#reused && !this.#staleRetried && replayable) {
      this.#staleRetried = true;
      return this.#connectTo(replica, false);
    }
    if (replayable) return this.#next();
    this.#listener.upstreamFailed();
  }

  #next(): void {
    const replica = this.#plan.next();
    if (replica === undefined) return this.#listener.upstreamFailed();
    this.#connectTo(replica, true);
  }

  #connectTo(replica: Replica, usePool: boolean): void {
    this.#replica = replica;
    const ctx = this.#ctx;
    const pooled = usePool ? ctx.pool.acquire(replicaKey(replica), ctx.clock.now) : undefined;
    if (pooled !== undefined) {
      this.link = BackendLink.ofPooled(pooled, this.#listener);
      this.#reused = true;
      // The pool keeps its sockets reading (to hear them close): no resume to do.
      pooled.setHandler(this.link);
      return this.#listener.upstreamConnected();
    }
    this.#reused = false;
    // A new link for each connect: its answer counts while it is still `link`.
    const link = new BackendLink(this.#listener);
    this.link = link;
    ctx.runtime.connect(replica.host, replica.port, link, ctx.upstreamConnect).then(
      (socket) => this.#connected(link, socket),
      (e) => this.#refused(link, replica, e),
    );
  }

  #connected(link: BackendLink, socket: Socket): void {
    if (this.link !== link || !this.#listener.waiting) return socket.close();
    link.attach(socket);
    this.#listener.upstreamConnected();
  }

  #refused(link: BackendLink, replica: Replica, e: unknown): void {
    if (this.link !== link || !this.#listener.waiting) return;
    this.#failed(replica, messageOf(e));
    this.link = null;
    this.#next();
  }

  /** An attempt failed: its replica and error join {@link errors} (for the log). */
  #failed(replica: Replica, reason: string): void {
    const error = `${formatHostPort(replica.host, replica.port)}: ${reason}`;
    this.errors = this.errors === "" ? error : `${this.errors}; ${error}`;
  }

  /** The request is done with the connection: back to the pool when `reusable`, else closed. */
  finish(reusable: boolean): void {
    const link = this.link;
    this.link = null;
    const socket = link?.socket;
    if (!socket) return;
    if (reusable && !socket.closed) {
      link!.release();
      this.#ctx.pool.release(replicaKey(this.#replica!), socket, this.#ctx.clock.now);
    } else socket.close();
  }

  /** Hand the connected socket over (to a tunnel): this request no longer hears it. */
  detach(): Socket {
    const link = this.link!;
    this.link = null;
    link.release();
    return link.socket!;
  }

  /** Close the backend connection (the request ended mid-way). */
  close(): void {
    const socket = this.link?.socket;
    this.link = null;
    socket?.close();
  }
}

const NO_REPLICAS: readonly Replica[] = [];
