/**
 * One request's phases, in the order they run:
 *
 *   read head      the scanned head: framing, target, Host, Connection
 *                  (request_head.ts)
 *   route          host + longest prefix on the current configuration
 *                  snapshot (config/snapshot.ts), kept to the request's end
 *   request rules  the route's own: a redirect, a fixed answer, a body
 *                  limit, its target and header changes, its limits
 *                  (request_rules.ts; skipped for a route without rules)
 *   forward head   the head the backend will get (forwarding headers)
 *   pick replica   the registry's live replicas -> a failover plan
 *   connect        a pooled connection or a new one; fail over to the next
 *                  distinct replica when one fails
 *   forward        head, kept body bytes (a retry), then the body as it comes
 *   relay          the response, through {@link ResponseRelay}
 *   finish         the access log line, the backend connection to the pool,
 *                  the connection's next request
 *
 * A connection keeps one exchange and starts it again for each of its
 * requests (they run one at a time), so a request allocates no exchange.
 * What can outlive a request (a registry answer, a connect, a backend
 * socket's events) is checked against the request it belongs to: by the
 * upstream's request count for answers, by `link` for sockets. Nothing may touch the exchange after a
 * call that ends its request (`#finish`, `#fail`): the connection may have
 * started its next request on it already.
 *
 * Longer than the 400-line guide: the exchange is the hot path of every
 * request, one reused object per connection whose phases share its fields;
 * each phase's own work lives in its module (request_head, forwarded,
 * failover, request_body, response, transfer_timers), and what stays here is
 * the order of the phases and their hand-offs.
 *
 * @module
 */

import type { HeadScan } from "../http1/head.ts";
import type { ConnectionTokens } from "../http1/connection_tokens.ts";
import type { HeadSpace } from "../http1/head_writer.ts";
import type { Route } from "../routing/router.ts";
import type { Socket } from "../runtime/types.ts";
import { messageOf } from "../error_message.ts";
import type { ProxyContext } from "./context.ts";
import { Upstream, type UpstreamListener } from "./failover.ts";
import { ForwardHead } from "./forwarded.ts";
import type { Downstream } from "./downstream.ts";
import type { ProxyError } from "./errors.ts";
import type { BackendLink } from "./backend_link.ts";
import { RequestBody } from "./request_body.ts";
import { ResponseRelay, type ResponseSink } from "./response.ts";
import {
  readRecordHead,
  type RequestObserver,
  type RequestRecord,
  startRecord,
} from "./observe.ts";
import { replicaAddress } from "../registry/types.ts";
import { newIncomingRequest, readRequest } from "./request_head.ts";
import { answerByRule, type RoutePlan, RuleAnswer, RulePlans } from "./request_rules.ts";
import { NO_RULES } from "../routing/rules.ts";
import { Stall, TransferTimers } from "./transfer_timers.ts";
import { Outcome } from "../replicas/state.ts";
import { balanceKey } from "./balance_key.ts";

const IDEMPOTENT = new Set(["GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"]);

// A head is scanned, read, routed and turned into the bytes to send within one
// synchronous step, so one read request serves every exchange.
const incoming = newIncomingRequest();

/**
 * One request and its response on a client connection.
 *
 * @example
 * ```ts
 * import { Exchange } from "./exchange.ts";
 * import type { Downstream } from "./downstream.ts";
 * import type { ProxyContext } from "./context.ts";
 * import type { HeadScan } from "../http1/head.ts";
 * declare const connection: Downstream, ctx: ProxyContext, scan: HeadScan;
 * const exchange = new Exchange(connection, ctx);
 * exchange.start(scan); // runs the request's phases; the connection hears how it ends
 * ```
 */
export class Exchange implements UpstreamListener, ResponseSink {
  readonly #down: Downstream;
  readonly #ctx: ProxyContext;
  /** The request is this exchange's and not over yet. */
  #active = false;
  #method = "";
  /** The request-target as sent (for logs and messages). */
  #target = "";
  #route: Route | null = null;
  readonly #head = new ForwardHead();
  /** The plans of the routes with rules (see request_rules.ts). */
  readonly #plans: RulePlans;

  readonly #upstream: Upstream;
  readonly #body: RequestBody;
  readonly #response: ResponseRelay;
  readonly #timers: TransferTimers;

  constructor(down: Downstream, ctx: ProxyContext) {
    this.#down = down;
    this.#ctx = ctx;
    this.#plans = RulePlans.of(ctx);
    this.#upstream = new Upstream(this, ctx);
    this.#response = new ResponseRelay(this, down.requestId);
    this.#timers = new TransferTimers(ctx.stallLimits, ctx.clock, this);
    this.#body = new RequestBody(down.input, down.socket, this.#timers);
  }

  /** The link of the current connect attempt (its backend socket's events are heard). */
  get link(): BackendLink | null {
    return this.#upstream.link;
  }

  /** The transfer timers' earlier deadline becomes the connection's while the request runs. */
  deadline(at: number): void {
    if (this.#active) this.#down.setDeadline(at);
  }

  get waiting(): boolean {
    return this.#active;
  }

  get client(): Socket {
    return this.#down.socket;
  }

  get replyHead(): HeadSpace {
    return this.#down.replyHead;
  }

  // --- start: the request head --------------------------------------------------

  /**
   * A request head has been scanned (and consumed from the input): run the
   * request through its phases. The connection hears how it ends.
   */
  start(scan: HeadScan): void {
    // Whatever the last request came to, nothing it alone held carries over.
    this.#letGo();
    this.#active = true;
    this.#upstream.reset();
    this.#route = null;
    const req = incoming;
    const error = readRequest(scan, req);
    this.#method = req.method;
    this.#target = req.target;
    if (error !== null) return this.#fail(error, true);
    if (req.close) this.#down.closeAfterThis();
    const { host, url } = req;

    // route: on the snapshot current now; the request keeps it to its end.
    const snap = this.#ctx.config.current;
    const route = snap.table.match(host, url.path === "*" ? "/" : url.path);
    if (this.#ctx.observe !== null) this.#observeStart(scan, host, snap.generation, route);
    if (route === undefined) {
      return this.#fail({ kind: "NoRoute", host, path: url.path }, req.framing.kind !== "none");
    }
    this.#route = route;
    const service = snap.service(route.service);

    // request rules: one identity check for a route without any.
    let plan: RoutePlan | null = null;
    if (route.rules !== NO_RULES) {
      plan = this.#plans.plan(route);
      const answer = plan.answer(req, this.#ctx.proto);
      if (answer !== RuleAnswer.Forward) {
        this.#ended();
        return answerByRule(plan, answer, req, this.#down, this.#ctx.draining);
      }
    }

    // forward head: built now, while the scan is this request's; retries resend it.
    this.#head.build(scan, req, this.#down.clientInfo(), this.#down.requestId, plan);
    this.#body.begin(req.framing, plan === null ? -1 : plan.maxBody);
    const stall = plan === null ? this.#ctx.stallLimits : plan.stall;
    this.#timers.begin(req.expectContinue && req.minor === 1 && !this.#body.done, stall);
    this.#response.begin(req.method, req.minor, req.upgrade, plan?.responseEdits ?? null);
    const key = balanceKey(service.balance, scan, this.#down.clientInfo());
    const retries = plan?.retries ?? service.retries;
    this.#upstream.pick(route.service, retries, service.balance, key, plan);
  }

  // --- pick replica, connect (failover.ts) --------------------------------------------

  registryFailed(e: unknown): void {
    if (!this.#active) return;
    this.#fail(
      { kind: "RegistryFailed", service: this.#route!.service, reason: messageOf(e) },
      !this.#body.done,
    );
  }

  noReplicas(): void {
    if (!this.#active) return;
    this.#fail({ kind: "NoReplicas", service: this.#route!.service }, !this.#body.done);
  }

  upstreamConnected(): void {
    this.#forward();
  }

  retryInstead(status: number): boolean {
    // An idempotent request whose whole body was kept goes to another replica, as nginx's
    // proxy_next_upstream http_500..504 does, when one is left and the retry budget allows.
    if (!this.#active || !IDEMPOTENT.has(this.#method)) return false;
    if (!this.#body.done || !this.#body.replayable) return false;
    // Judged first: the 5xx that ejects its replica makes this failover, which no budget limits.
    this.#upstream.judgeStatus(status);
    if (!this.#upstream.canRetry()) return false;
    this.#timers.reset();
    this.#upstream.abandon(`answered ${status}`);
    return true;
  }

  replicaStalled(): void {
    // Only a try that can go elsewhere safely does.
    if (!this.#active || !this.#retryable()) return;
    this.#timers.reset();
    this.#upstream.abandon("stalled");
  }

  upstreamFailed(): void {
    if (!this.#active) return;
    this.#fail(
      {
        kind: "UpstreamFailed",
        service: this.#route!.service,
        attempts: this.#upstream.attempts,
        reason: this.#upstream.errors || "connection failed",
      },
      !this.#body.done,
    );
  }

  // --- forward: head, body ----------------------------------------------------------

  #forward(): void {
    this.resend(this.#upstream.socket!);
    this.#timers.requestSent();
    this.#pumpBody();
  }

  /** The head, and the body bytes already sent (a retry or a hedge sends them again). */
  resend(socket: Socket): void {
    socket.write(this.#head.bytes);
    this.#body.replayTo(socket);
  }

  hedgeable(): boolean {
    // A protocol switch is not raced: the connection it makes is the client's for good.
    return this.#active && this.#retryable() && !this.#response.upgrading;
  }

  hedgeWon(): void {
    // The rest of the winner's head is waited for as any first byte is.
    this.#timers.download(Stall.FirstByte);
  }

  /** Client bytes arrived while this exchange is current. */
  onClientBytes(): void {
    if (!this.#body.done && this.#upstream.socket !== null) this.#pumpBody();
  }

  /** Forward as much of the request body as is buffered. */
  #pumpBody(): void {
    const error = this.#body.forward(this.#upstream.socket!, this.#response.status !== 0);
    if (error !== null) this.#badBody(error);
  }

  /** The body is malformed or cut short: the partial request must not stay on a backend. */
  #badBody(reason: string): void {
    this.#ended();
    this.#upstream.close();
    if (this.#response.started) return this.#down.close();
    this.#fail(
      this.#body.tooLarge ? { kind: "BodyTooLarge" } : { kind: "BadRequest", reason },
      true,
    );
  }

  /** The client half-closed: a body it has not finished never will be. */
  clientEnded(): void {
    this.#body.clientEnded();
    if (this.#active && !this.#body.done && this.#upstream.socket !== null) this.#pumpBody();
  }

  onBackendDrain(): void {
    this.#body.backendDrained(this.#active);
  }

  /** A deadline passed (called through the connection's): what was waited for stalled. */
  expire(now: number): void {
    if (!this.#active) return;
    switch (this.#timers.due(now)) {
      case Stall.ClientBody:
        // The body stalled: a partial request must not stay on a backend connection.
        this.#ended();
        this.#upstream.close();
        if (this.#response.status !== 0) return this.#down.close();
        return this.#fail({ kind: "BodyTimeout" }, true);
      case Stall.BackendAccept:
        if (this.#response.status !== 0) return this.#drop();
        this.#upstream.close();
        return this.#upstream.broke("stopped reading the request body", false);
      case Stall.FirstByte: {
        if (this.#timers.firstByteWaited(now) < this.#timers.limits.upstreamTimeoutMs) {
          return this.#tryTimedOut();
        }
        const replica = this.#upstream.replica;
        this.#upstream.judge(Outcome.GatewayFailure, "did not answer in time");
        this.#upstream.close();
        return this.#fail(
          { kind: "UpstreamTimeout", service: this.#route!.service, replica },
          true,
        );
      }
      case Stall.BackendRead:
        this.#upstream.judge(Outcome.GatewayFailure, "stalled mid-response");
        return this.#drop();
      case Stall.ClientAccept:
        return this.#drop();
      default:
        // Nothing was due after all (a wait progressed as the clock swept): time what is left.
        this.deadline(this.#timers.next);
    }
  }

  /**
   * `--try-timeout` passed: a request that can be sent again goes to the next
   * replica; another keeps waiting for the rest of `--upstream-timeout`.
   */
  #tryTimedOut(): void {
    if (!this.#retryable()) return this.#timers.firstByteRest();
    this.#upstream.judge(Outcome.GatewayFailure, "no answer within --try-timeout");
    this.#timers.reset();
    this.#upstream.abandon("no answer within --try-timeout");
  }

  /** Nothing of the response came yet and the whole request can be sent again. */
  #retryable(): boolean {
    return !this.#response.started && IDEMPOTENT.has(this.#method) && this.#body.done &&
      this.#body.replayable;
  }

  /** End both connections mid-transfer (the client sees the connection end). */
  #drop(): void {
    this.#ended();
    this.#upstream.close();
    this.#down.close();
  }

  // --- relay: the response (ResponseSink) -------------------------------------------

  onBackendData(chunk: Uint8Array): void {
    if (!this.#active) return;
    this.#timers.responseData();
    this.#upstream.heard();
    this.#response.onData(chunk);
  }

  mustCloseClient(): boolean {
    return this.#down.closeAfter || this.#ctx.draining || !this.#body.done;
  }

  interimSent(): void {
    this.#timers.continueSent(this.#body.done);
  }

  responseStarted(): void {
    this.#upstream.judgeStatus(this.#response.status);
    this.#timers.download(Stall.BackendRead);
  }

  responseDone(): void {
    this.#finish();
  }

  responseInvalid(reason: string): void {
    this.#upstream.judge(Outcome.GatewayFailure, `invalid response: ${reason}`);
    this.#upstream.close();
    this.#fail(
      {
        kind: "BadResponse",
        service: this.#route!.service,
        replica: this.#upstream.replica,
        reason,
      },
      true,
    );
  }

  responseBroken(): void {
    this.#drop();
  }

  pauseBackend(): void {
    this.#upstream.socket?.pause();
    this.#timers.download(Stall.ClientAccept);
  }

  onClientDrain(): void {
    this.#upstream.socket?.resume();
    this.#timers.clientDrained();
  }

  upgraded(scan: HeadScan, tokens: ConnectionTokens, rest: Uint8Array): void {
    this.#ended();
    const backend = this.#upstream.detach();
    this.#down.socket.write(this.#response.upgradeHead(scan, tokens));
    // A tunnel's request is observed as its 101 goes out: what was sent by then.
    if (this.#ctx.observe !== null) this.#observeEnd(this.#ctx.observe, 101);
    // The tunnel outlives the exchange, which holds none of it: not the response's bytes, and not
    // through the link (the backend socket's, for as long as the tunnel runs).
    this.#letGo();
    this.#down.tunnel(backend, rest);
  }

  onBackendEnd(): void {
    if (!this.#active) return;
    if (this.#response.status !== 0 && this.#response.delimitedByClose) {
      this.#response.notReusable();
      return this.#finish();
    }
    this.onBackendGone(new Error("backend closed the connection"));
  }

  /** The backend connection ended before the response did. */
  onBackendGone(error?: Error): void {
    if (!this.#active) return;
    this.#upstream.close();
    const response = this.#response;
    if (response.status !== 0) {
      if (response.delimitedByClose) return this.#finish();
      // Truncated response: the client must not mistake it for a whole one.
      this.#ended();
      return this.#down.close();
    }
    // Nothing is waited for while another connection is made (the connect timeout bounds it).
    this.#timers.reset();
    this.#upstream.broke(error?.message ?? "connection closed", this.#retryable());
  }

  // --- finish -------------------------------------------------------------------------

  get #record(): RequestRecord {
    return this.#down.record;
  }

  /** Observed: the request begins, routed (or not) on `generation`. */
  #observeStart(scan: HeadScan, host: string, generation: number, route?: Route): void {
    const r = this.#record;
    startRecord(r, host, generation);
    readRecordHead(r, scan, this.#ctx.observe!.readsHeaders === true);
    if (route !== undefined) {
      r.route = route.source;
      r.service = route.service;
    }
  }

  /** Observed: the response went through; the observers hear the whole request. */
  #observeEnd(observe: RequestObserver, status: number): void {
    const r = this.#record;
    const replica = this.#upstream.replica;
    r.durationMs = Date.now() - r.startedAt;
    r.client = this.#down.socket.remoteAddress;
    r.method = this.#method;
    r.target = this.#target;
    r.status = status;
    r.bytesIn = this.#body.received;
    r.bytesOut = this.#response.bytesSent;
    r.bodyBytesOut = this.#response.bodyBytesSent;
    r.upstream = replica === null ? "" : replicaAddress(replica);
    r.tries = this.#upstream.attempts;
    r.error = "";
    observe.request(r);
  }

  #finish(): void {
    if (!this.#active) return;
    this.#active = false;
    const ctx = this.#ctx;
    const response = this.#response;
    if (ctx.observe !== null) this.#observeEnd(ctx.observe, response.status);
    // The connection goes back to the pool (unless its replica was ejected meanwhile), then
    // the request stops counting as in flight.
    this.#upstream.finish(response.reusable && this.#body.done);
    this.#upstream.end();
    const close = response.closesClient;
    this.#letGo();
    this.#down.exchangeDone(close);
  }

  #fail(error: ProxyError, close: boolean): void {
    if (this.#ctx.observe !== null) {
      this.#record.tries = this.#upstream.attempts;
      this.#record.bytesIn = this.#body.received;
    }
    this.#ended();
    this.#letGo();
    this.#down.fail(error, close, this.#method, this.#target);
  }

  /**
   * The request is over: let go of what it alone held (body bytes kept for a
   * retry, up to MAX_REPLAY), so that an idle connection holds none of it.
   * Called before the connection is told (it may start the next request at
   * once), and by {@link start} for a request that ended without it.
   */
  #letGo(): void {
    this.#head.letGo();
    this.#body.letGo();
    this.#response.letGo();
  }

  /** The request is over: nothing of it counts as in flight any more. */
  #ended(): void {
    this.#active = false;
    this.#upstream.end();
  }

  /** The client went away: drop the backend connection, it is mid-exchange. */
  abort(): void {
    if (!this.#active) return;
    this.#ended();
    this.#upstream.close();
  }
}
