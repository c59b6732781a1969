/**
 * What one request's tries tell the service state (replicas/book.ts): the
 * request counts among its service's requests in flight (and, once it
 * retries, among its retries: the retry budget), the current try among its
 * replica's tries outstanding, and the try's outcome (its first byte, its
 * status, or how it failed) is reported for picking, ejection and stall
 * detection.
 *
 * @module
 */

import type { ProxyContext } from "./context.ts";
import type { ServiceReplicas } from "../replicas/service.ts";
import { Outcome, type ReplicaState, type StallListener } from "../replicas/state.ts";
import type { Socket } from "../runtime/types.ts";

/**
 * One request's standing with its service's state. An upstream keeps one
 * and begins it again per request.
 *
 * @example
 * ```ts
 * import { TryReport } from "./try_report.ts";
 * import type { ProxyContext } from "./context.ts";
 * import type { ReplicaState, StallListener } from "../replicas/state.ts";
 * declare const ctx: ProxyContext, state: ReplicaState, owner: StallListener;
 * const report = new TryReport(ctx, owner);
 * report.begin("api");
 * report.started(state);
 * report.judgeStatus(200); // the replica works
 * report.end();
 * ```
 */
export class TryReport {
  readonly #ctx: ProxyContext;
  /** Told when the current try's replica is found frozen, or slow. */
  readonly #owner: StallListener;
  /** The request's service (counted in its requests in flight), or null. */
  service: ServiceReplicas | null = null;
  /** The current try's replica's state, or null between tries. */
  state: ReplicaState | null = null;
  /** When the current try began (a precise clock: latencies are milliseconds). */
  startedAt = 0;
  /** The current try's replica sent a byte. */
  answered = false;
  /** The current try's status was judged. */
  #judged = false;
  /** This request counts among its service's retries in flight. */
  #retrying = false;

  constructor(ctx: ProxyContext, owner: StallListener) {
    this.#ctx = ctx;
    this.#owner = owner;
  }

  /** A request for `service` begins: it counts in its requests in flight. */
  begin(service: string): ServiceReplicas {
    const s = this.service = this.#ctx.replicas.service(service);
    s.requests++;
    return s;
  }

  /** A try on `state` begins (at `now`, when it began earlier: a hedge's). */
  started(state: ReplicaState, now = this.#ctx.replicas.now): void {
    const old = this.state;
    this.state = state;
    this.startedAt = now;
    this.answered = false;
    this.#judged = false;
    // Another try on the same replica (a fresh connection for a stale pooled one) stays counted.
    if (old === state) return;
    // The new try counts before the old one ends, so a replica's count never passes through 0.
    this.#ctx.replicas.tryStarted(state, this.#owner, now);
    if (old !== null) this.#ctx.replicas.tryEnded(old, this.#owner);
  }

  /** The current try is over (the request moves on, or ends). */
  over(): void {
    this.answered = false;
    const state = this.state;
    if (state === null) return;
    this.state = null;
    this.#ctx.replicas.tryEnded(state, this.#owner);
  }

  /** The request is over: it no longer counts in its service's requests or retries. */
  end(): void {
    this.over();
    const service = this.service;
    if (service === null) return;
    this.service = null;
    service.requests--;
    if (this.#retrying) {
      this.#retrying = false;
      service.retries--;
    }
  }

  /** The current try's replica is ejected now (moving away from it is failover, not a retry). */
  get leavingEjected(): boolean {
    return this.state !== null && this.state.ejected(this.#ctx.clock.now);
  }

  /**
   * A retry may start within the service's budget: it then counts in it
   * until the request ends. A refusal is logged with `refused` (the
   * consequence), unless that is empty.
   */
  mayRetry(refused: string): boolean {
    const service = this.service;
    if (service === null || this.#retrying) return true;
    if (!this.#ctx.replicas.mayRetry(service)) {
      if (refused !== "") {
        this.#ctx.log(`service ${service.name}: retry budget exhausted; ${refused}`);
      }
      return false;
    }
    this.#retrying = true;
    service.retries++;
    return true;
  }

  /** A retry the budget had no room for is given up: logged with its `consequence`, and counted. */
  budgetRefused(consequence: string): void {
    const name = this.service?.name;
    this.#ctx.log(`service ${name}: retry budget exhausted; ${consequence}`);
    if (name !== undefined) this.#ctx.meter?.retryRefused(name);
  }

  /** The current try's new connection is up, connecting since `since` (precise): metrics time it. */
  connected(socket: Socket, since: number): void {
    const meter = this.#ctx.meter;
    if (meter !== null && this.service !== null) {
      meter.connected(this.service.name, performance.now() - since, socket);
    }
  }

  /** What the current try's failure (or answer) says about its replica. */
  judge(outcome: Outcome, error = ""): void {
    if (this.state !== null) this.#ctx.replicas.judge(this.state, outcome, error);
  }

  /** The answer's status (once per try): a 5xx counts against the replica, anything else for it. */
  judgeStatus(status: number): void {
    const state = this.state;
    if (state === null || this.#judged) return;
    this.#judged = true;
    state.answeredIn(this.#ctx.replicas.now - this.startedAt, this.#ctx.clock.now);
    if (status < 500) return this.#ctx.replicas.judge(state, Outcome.Success);
    this.judge(
      status >= 502 && status <= 504 ? Outcome.GatewayResponse : Outcome.ServerError,
      `answered ${status}`,
    );
  }

  /**
   * The current try lost to a hedge, and is over: its replica, quiet far
   * longer than its peers take, was at least this slow, and one beaten
   * again and again is ejected; the other tries waiting on it then move at
   * once, as from a stalled replica.
   */
  lostToHedge(): void {
    const state = this.state;
    if (state === null) return;
    const now = this.#ctx.clock.now;
    const ms = Math.round(this.#ctx.replicas.now - this.startedAt);
    state.answeredIn(ms, now);
    state.lostRaces++;
    this.judge(Outcome.GatewayFailure, `no answer in ${ms} ms; a hedge answered first`);
    this.over();
    if (state.ejected(now)) this.#ctx.replicas.moveWaiting(state);
  }

  /** A byte of the answer came from the current try's replica. */
  heard(): void {
    this.answered = true;
    if (this.state !== null) this.#ctx.replicas.heard(this.state, this.service!);
  }
}
