/**
 * The pick-replica and connect phases: the registry's live replicas of the
 * route's service, the one to try (replicas/pick.ts), then one request's
 * backend connection to it, taken from the pool or made anew, failing over
 * across distinct replicas up to `--retries` attempts, within the service's
 * retry budget; a try on a replica gone quiet gets a hedge (hedge.ts).
 * Every try's outcome is reported to the service state (try_report.ts,
 * replicas/book.ts), which ejects replicas that fail or freeze.
 *
 * Longer than the 400-line guide: Upstream is one request's backend side on
 * the hot path, and its tries, its hedge and its wait for the retry budget
 * share the same few fields (the link, the plan, the request count), which a
 * split would pass back and forth per request.
 *
 * @module
 */

import { isAnswer, type Replica } from "../registry/types.ts";
import type { ConnectOptions, Socket } from "../runtime/types.ts";
import { messageOf } from "../error_message.ts";
import { formatHostPort } from "../net/address.ts";
import type { ProxyContext } from "./context.ts";
import type { StallLimits } from "./transfer_timers.ts";
import { FailoverPlan } from "../replicas/pick.ts";
import { Outcome, type ReplicaState, type StallListener } from "../replicas/state.ts";
import { retryDelayMs } from "../replicas/policy.ts";
import { replicaAddress } from "../registry/types.ts";
import { BackendLink, type BackendListener } from "./backend_link.ts";
import { Hedge, type HedgeOwner } from "./hedge.ts";
import { TryReport } from "./try_report.ts";
import { type BalancePolicy, LEAST_OUTSTANDING } from "../replicas/balance.ts";

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
  /** Whether the request may be sent to a second replica now (nothing answered, body kept). */
  hedgeable(): boolean;
  /** Write the request (head and kept body) to `socket`: a hedge's connection. */
  resend(socket: Socket): void;
  /** A hedge answered first: its connection is `upstream.socket` now, its first bytes follow. */
  hedgeWon(): void;
  /** Every attempt failed (`upstream.errors` says why). */
  upstreamFailed(): void;
}

/** A route's own connect options and timeouts (request_rules.ts). */
export interface UpstreamLimits {
  readonly connect: ConnectOptions;
  readonly stall: StallLimits;
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
export class Upstream implements StallListener, HedgeOwner {
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
  /** The request's and its tries' standing with the service state. */
  readonly #report: TryReport;
  /** What went wrong with each attempt, `replica: error; ...` in order ("" when nothing did). */
  errors = "";
  /** A second try in flight (see hedge.ts), and whether this request had one. */
  #hedge: Hedge | null = null;
  #hedged = false;
  /** The first try failed while the hedge was out: the hedge carries the request. */
  #primaryGone = false;
  /** What a hashing policy hashes for this request ("" for none). */
  #key = "";
  #balance: BalancePolicy = LEAST_OUTSTANDING;
  /** Until when a retry may wait for room in the budget (0: it has not waited). */
  #budgetDeadline = 0;
  /** How this request's connects are made, and how long a try may wait to be answered. */
  #connectOptions: ConnectOptions;
  #timeoutMs = 0;
  /** When the current connect began (precise; set only with metrics on). */
  #connectAt = 0;

  constructor(listener: UpstreamListener, ctx: ProxyContext) {
    this.#listener = listener;
    this.#ctx = ctx;
    this.#report = new TryReport(ctx, this);
    this.#connectOptions = ctx.upstreamConnect;
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
    this.#hedged = false;
    this.#primaryGone = false;
    this.#budgetDeadline = 0;
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
   * connect to the first of them that accepts, at most `retries` of them,
   * in the order `balance` puts them; `key` is what a hashing policy hashes
   * ("" for none); `limits`: the route's connect options and timeouts, when
   * it has its own.
   */
  pick(
    service: string,
    retries: number,
    balance = LEAST_OUTSTANDING,
    key = "",
    limits: UpstreamLimits | null = null,
  ): void {
    this.#key = key;
    this.#balance = balance;
    const ctx = this.#ctx;
    this.#connectOptions = limits === null ? ctx.upstreamConnect : limits.connect;
    this.#timeoutMs = (limits === null ? ctx.stallLimits : limits.stall).upstreamTimeoutMs;
    this.#report.begin(service);
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
    const ctx = this.#ctx;
    this.#plan.reset(
      replicas,
      retries,
      this.#report.service,
      ctx.replicas.now,
      this.#balance,
      this.#key,
    );
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
      return this.#connectTo(replica, this.#report.state, false);
    }
    this.judge(Outcome.GatewayFailure, reason);
    if (replayable && this.#hedge !== null) return this.#leaveToHedge();
    if (replayable) return this.#next();
    this.#listener.upstreamFailed();
  }

  /** Give the current try up (its replica froze, or it timed out) for the next replica. */
  abandon(reason: string): void {
    this.#failed(this.#replica!, reason);
    this.close();
    if (this.#hedge !== null) return this.#leaveToHedge();
    this.#next();
  }

  /** The first try is over without an answer; the hedge out carries the request on. */
  #leaveToHedge(): void {
    this.link = null;
    this.#report.over();
    this.#primaryGone = true;
  }

  slowCheck(now: number, slowAfter: number, answeredAt: number): void {
    const report = this.#report;
    if (this.#hedged || report.answered || this.link === null || report.state === null) return;
    const started = report.startedAt;
    if (now - started <= slowAfter || answeredAt <= started) return;
    if (!this.#listener.hedgeable() || !this.#plan.hasNext(now)) return;
    // A hedge is a retry: within the budget (refused quietly: it is only a hedge).
    if (!report.mayRetry("")) return;
    this.#hedged = true;
    const replica = this.#plan.next(now)!;
    const ctx = this.#ctx, state = this.#plan.state!;
    this.#hedge = new Hedge(this, ctx, replica, state, this.#connectOptions, this.#timeoutMs);
    this.#hedge.start();
  }

  resend(socket: Socket): void {
    this.#listener.resend(socket);
  }

  hedgeAnswered(hedge: Hedge, chunk: Uint8Array): void {
    if (hedge !== this.#hedge) return;
    this.#hedge = null;
    // The first try loses: its connection closes.
    const first = this.link?.socket;
    this.link = null;
    first?.close();
    this.#report.lostToHedge();
    // The hedge's try becomes the request's before the hedge lets go of it (its replica's count
    // of tries out never drops to 0 between, which could forget a deregistered replica's state).
    this.#report.started(hedge.state, hedge.startedAt);
    const link = hedge.handOver();
    link.rebind(this.#listener);
    this.link = link;
    this.#replica = hedge.replica;
    this.#reused = hedge.reused;
    this.#primaryGone = false;
    this.#listener.hedgeWon();
    this.#listener.onBackendData(chunk);
  }

  hedgeFailed(hedge: Hedge, reason: string): void {
    if (hedge !== this.#hedge) return;
    this.#hedge = null;
    this.#failed(hedge.replica, reason);
    this.#ctx.replicas.judge(hedge.state, Outcome.GatewayFailure, reason);
    if (!this.#primaryGone) return;
    // Both tries failed: on to the next replica, as after any failed try.
    this.#primaryGone = false;
    if (this.#listener.waiting) this.#next();
  }

  #cancelHedge(): void {
    const hedge = this.#hedge;
    if (hedge === null) return;
    this.#hedge = null;
    hedge.cancel();
  }

  /** Whether the request could go to another replica now (one is left, and the budget allows). */
  canRetry(): boolean {
    if (!this.#plan.hasNext(this.#ctx.replicas.now)) return false;
    // Moving away from a replica just ejected is failover, not extra load: no budget limits it.
    if (this.#report.leavingEjected || this.#report.mayRetry("")) return true;
    // No room now: the retry waits for some (see #awaitBudget), unless the budget never has any.
    if (this.#budgetHasRoom()) return true;
    this.#report.budgetRefused("an answer is passed on as it is");
    return false;
  }

  /** The budget allows retries at all (not `--retry-budget 0:0`). */
  #budgetHasRoom(): boolean {
    const p = this.#report.service!.policy;
    return p.retryBudgetPercent > 0 || p.retryBudgetMin > 0;
  }

  /**
   * The budget has no room for this retry now: wait a moment for some
   * (retries take milliseconds, so room comes soon), at most
   * {@link BUDGET_WAIT_MS} in all; false when waited that long already, or
   * when the budget never has room. Retries in flight never exceed it.
   */
  #awaitBudget(unsent: boolean): boolean {
    if (!this.#budgetHasRoom()) return false;
    const now = Date.now();
    if (this.#budgetDeadline === 0) this.#budgetDeadline = now + BUDGET_WAIT_MS;
    else if (now >= this.#budgetDeadline) return false;
    // The failed try is over: nothing waits on its replica meanwhile.
    this.#report.over();
    const request = this.#request;
    setTimeout(
      () =>
        request === this.#request && this.#listener.waiting && this.link === null &&
        this.#hedge === null && this.#next(unsent),
      BUDGET_RECHECK_MS,
    );
    return true;
  }

  /**
   * On to the next replica. A retry draws on the service's budget, unless
   * no replica got the request (`unsent`: the connect failed, so the try
   * put no load on the service) or it leaves a replica just ejected.
   */
  #next(unsent = false): void {
    const retry = this.#plan.attempts;
    if (
      retry > 0 && !unsent && !this.#report.leavingEjected && !this.#report.mayRetry("")
    ) {
      if (this.#awaitBudget(unsent)) return;
      this.#report.budgetRefused("a request fails without retry");
      this.errors += this.errors === "" ? "retry budget exhausted" : "; retry budget exhausted";
      return this.#listener.upstreamFailed();
    }
    const replica = this.#plan.next(this.#ctx.replicas.now);
    // None at the first attempt: every replica is drained, so none is live for new requests.
    if (replica === undefined && retry === 0) return this.#listener.noReplicas();
    if (replica === undefined) return this.#listener.upstreamFailed();
    const state = this.#plan.state;
    const delay = retryDelayMs(retry, Math.random);
    if (delay === 0) return this.#connectTo(replica, state, true);
    const request = this.#request;
    setTimeout(
      () =>
        request === this.#request && this.#listener.waiting && this.link === null &&
        this.#hedge === null && this.#connectTo(replica, state, true),
      delay,
    );
  }

  /** What the current try's failure says about its replica. */
  judge(outcome: Outcome, error = ""): void {
    this.#report.judge(outcome, error);
  }

  /** The answer's status (once per try): a 5xx counts against the replica, anything else for it. */
  judgeStatus(status: number): void {
    this.#report.judgeStatus(status);
  }

  /** A response byte came from the current try's replica. */
  heard(): void {
    // The first try answered first: a hedge out is not needed.
    if (!this.#report.answered) this.#cancelHedge();
    this.#report.heard();
  }

  replicaStalled(): void {
    this.#listener.replicaStalled();
  }

  /** The request is over: it no longer counts in its service's requests or retries. */
  end(): void {
    this.#cancelHedge();
    this.#report.end();
  }

  #connectTo(replica: Replica, state: ReplicaState | null, usePool: boolean): void {
    this.#replica = replica;
    const ctx = this.#ctx;
    if (state !== null) this.#report.started(state);
    else this.#report.over();
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
    // Connect time, for metrics only: no clock is read when they are off.
    if (ctx.meter !== null) this.#connectAt = performance.now();
    ctx.runtime.connect(replica.host, replica.port, link, this.#connectOptions).then(
      (socket) => this.#connected(link, socket),
      (e) => this.#refused(link, replica, e),
    );
  }

  #connected(link: BackendLink, socket: Socket): void {
    if (this.link !== link || !this.#listener.waiting) return socket.close();
    link.attach(socket);
    this.#report.connected(socket, this.#connectAt);
    this.#listener.upstreamConnected();
  }

  #refused(link: BackendLink, replica: Replica, e: unknown): void {
    if (this.link !== link || !this.#listener.waiting) return;
    const error = messageOf(e);
    this.#failed(replica, error);
    this.judge(Outcome.GatewayFailure, error);
    this.link = null;
    // A hedge out carries the request on (it may be answering already).
    if (this.#hedge !== null) return this.#leaveToHedge();
    this.#next(true);
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
    // A replica ejected or drained meanwhile gets no connection back into the pool.
    const ejected = this.#report.leavingEjected || this.#report.state?.drained === true;
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
/** How long a retry may wait for room in the retry budget, in all, and how often it looks. */
const BUDGET_WAIT_MS = 250;
const BUDGET_RECHECK_MS = 5;
