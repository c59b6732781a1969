/**
 * The pick-replica and connect phases: the registry's live replicas of the
 * route's service, the one to try (replicas/pick.ts), then one request's
 * backend connection to it, taken from the pool or made anew, failing over
 * across distinct replicas up to `--retries` attempts, within the service's
 * retry budget. Every try's outcome is reported to the service state
 * (replicas/book.ts), which ejects replicas that fail or freeze.
 *
 * @module
 */

import { isAnswer, type Replica } from "../registry/types.ts";
import type { Socket } from "../runtime/types.ts";
import { messageOf } from "../error_message.ts";
import { formatHostPort } from "../net/address.ts";
import type { ProxyContext } from "./context.ts";
import { FailoverPlan } from "../replicas/pick.ts";
import type { ServiceReplicas } from "../replicas/book.ts";
import { Outcome, type ReplicaState, type StallListener } from "../replicas/state.ts";
import { retryDelayMs } from "../replicas/policy.ts";
import { replicaAddress } from "../registry/types.ts";
import { BackendLink, type BackendListener } from "./backend_link.ts";

/** What the pick and connect phases tell the exchange they work for. */
export interface UpstreamListener extends BackendListener {
  /** The request is still waiting for this connect (not ended meanwhile). */
  readonly waiting: boolean;
  /** The registry could not answer. */
  registryFailed(error: unknown): void;
  /** The registry knows no live replica of the service. */
  noReplicas(): void;
  /** The replica of the current try was found frozen: move the request elsewhere if it can go. */
  replicaStalled(): void;
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
export class Upstream implements StallListener {
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
  /** The service's state (counted in its requests in flight), and the current try's replica's. */
  #service: ServiceReplicas | null = null;
  #state: ReplicaState | null = null;
  /** This request counts among its service's retries in flight. */
  #retrying = false;
  /** When the current try began (a precise clock: latencies are milliseconds). */
  #tryStartedAt = 0;
  /** What went wrong with each attempt, `replica: error; ...` in order ("" when nothing did). */
  errors = "";

  constructor(listener: UpstreamListener, ctx: ProxyContext) {
    this.#listener = listener;
    this.#ctx = ctx;
  }

  /** Forget the last request's attempts. */
  reset(): void {
    this.end();
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
    this.#service = this.#ctx.replicas.service(service);
    this.#service.requests++;
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
    this.#plan.reset(replicas, retries, this.#service, this.#ctx.replicas.now);
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
      // A pooled connection the backend closed while idle: no fault of the replica.
      this.#staleRetried = true;
      return this.#connectTo(replica, false);
    }
    this.judge(Outcome.GatewayFailure, reason);
    if (replayable) return this.#next();
    this.#listener.upstreamFailed();
  }

  /** Give the current try up (its replica froze, or it timed out) for the next replica. */
  abandon(reason: string): void {
    this.#failed(this.#replica!, reason);
    this.close();
    this.#next();
  }

  /** Whether the request could go to another replica now (one is left, and the budget allows). */
  canRetry(): boolean {
    if (!this.#plan.hasNext(this.#ctx.replicas.now)) return false;
    const service = this.#service;
    if (service === null || this.#retrying || this.#leavingEjected()) return true;
    if (this.#ctx.replicas.mayRetry(service)) return true;
    this.#ctx.log(
      `service ${service.name}: retry budget exhausted; an answer is passed on as it is`,
    );
    return false;
  }

  /**
   * The current try's replica is ejected now: moving its request elsewhere
   * is failover from a replica judged gone, not extra load on a sick service,
   * so the retry budget does not limit it.
   */
  #leavingEjected(): boolean {
    return this.#state !== null && this.#state.ejected(this.#ctx.clock.now);
  }

  #next(): void {
    const retry = this.#plan.attempts;
    if (retry > 0 && !this.#leavingEjected() && !this.#mayRetry()) {
      this.errors += this.errors === "" ? "retry budget exhausted" : "; retry budget exhausted";
      return this.#listener.upstreamFailed();
    }
    const replica = this.#plan.next(this.#ctx.replicas.now);
    if (replica === undefined) return this.#listener.upstreamFailed();
    const delay = retryDelayMs(retry, Math.random);
    if (delay === 0) return this.#connectTo(replica, true);
    const request = this.#request;
    setTimeout(
      () => request === this.#request && this.#listener.waiting && this.#connectTo(replica, true),
      delay,
    );
  }

  /** A retry may start within the service's budget (it then counts in it until the request ends). */
  #mayRetry(): boolean {
    const service = this.#service;
    if (service === null || this.#retrying) return true;
    if (!this.#ctx.replicas.mayRetry(service)) {
      this.#ctx.log(
        `service ${service.name}: retry budget exhausted; a request fails without retry`,
      );
      return false;
    }
    this.#retrying = true;
    service.retries++;
    return true;
  }

  /** What the current try's response head (or failure) says about its replica. */
  judge(outcome: Outcome, error = ""): void {
    if (this.#state !== null) this.#ctx.replicas.judge(this.#state, outcome, error);
  }

  /** The response's status: a 5xx counts against the replica, anything else for it. */
  judgeStatus(status: number): void {
    const state = this.#state;
    if (state === null) return;
    state.answeredIn(this.#ctx.replicas.now - this.#tryStartedAt, this.#ctx.clock.now);
    if (status < 500) return this.#ctx.replicas.judge(state, Outcome.Success);
    this.judge(
      status >= 502 && status <= 504 ? Outcome.GatewayResponse : Outcome.ServerError,
      `answered ${status}`,
    );
  }

  /** A response byte came from the current try's replica. */
  heard(): void {
    if (this.#state !== null) this.#ctx.replicas.heard(this.#state, this.#service!);
  }

  replicaStalled(): void {
    this.#listener.replicaStalled();
  }

  /** The try on the current replica is over (the request moves on, or ends). */
  #tryOver(): void {
    if (this.#state === null) return;
    this.#ctx.replicas.tryEnded(this.#state, this);
    this.#state = null;
  }

  /** The request is over: it no longer counts in its service's requests or retries. */
  end(): void {
    this.#tryOver();
    const service = this.#service;
    if (service === null) return;
    this.#service = null;
    service.requests--;
    if (this.#retrying) {
      this.#retrying = false;
      service.retries--;
    }
  }

  #connectTo(replica: Replica, usePool: boolean): void {
    this.#replica = replica;
    const ctx = this.#ctx;
    this.#tryOver();
    const state = this.#plan.state;
    if (state !== null) {
      this.#state = state;
      const now = this.#tryStartedAt = ctx.replicas.now;
      ctx.replicas.tryStarted(state, this, now);
    }
    const pooled = usePool ? ctx.pool.acquire(replicaAddress(replica), ctx.clock.now) : undefined;
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
    const error = messageOf(e);
    this.#failed(replica, error);
    this.judge(Outcome.GatewayFailure, error);
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
    // A replica ejected meanwhile gets no connection back into the pool.
    const ejected = this.#state?.ejected(this.#ctx.clock.now) ?? false;
    if (reusable && !socket.closed && !ejected) {
      link!.release();
      this.#ctx.pool.release(replicaAddress(this.#replica!), socket, this.#ctx.clock.now);
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
