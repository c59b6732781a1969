/**
 * One request's phases, in the order they run:
 *
 *   read head      the scanned head: framing, target, Host, Connection
 *                  (request_head.ts)
 *   route          host + longest prefix on the route table
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
 * socket's events) is checked against the request it belongs to: `#request`
 * for answers, `link` for sockets. Nothing may touch the exchange after a
 * call that ends its request (`#finish`, `#fail`): the connection may have
 * started its next request on it already.
 *
 * @module
 */

import type { HeadScan } from "../http1/head.ts";
import type { ConnectionTokens } from "../http1/connection_tokens.ts";
import type { HeadSpace } from "../http1/head_writer.ts";
import type { Route } from "../routing/router.ts";
import { isAnswer, type Replica } from "../registry/types.ts";
import type { Socket } from "../runtime/types.ts";
import { messageOf } from "../error_message.ts";
import type { ProxyContext } from "./context.ts";
import type { ClientInput } from "./client_input.ts";
import { Upstream, type UpstreamListener } from "./failover.ts";
import { type ClientInfo, upstreamHeadBytes } from "./forwarded.ts";
import type { ProxyError } from "./errors.ts";
import { KeptBuffer } from "./kept_buffer.ts";
import type { BackendLink } from "./backend_link.ts";
import { RequestBody } from "./request_body.ts";
import { ResponseRelay, type ResponseSink } from "./response.ts";
import type { RequestId } from "./request_id.ts";
import { accessLogLine } from "./access_log.ts";
import { newIncomingRequest, readRequest } from "./request_head.ts";

const EMPTY = new Uint8Array(0);
const IDEMPOTENT = new Set(["GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"]);
/** Upstream heads up to this size are built in a buffer the exchange keeps. */
const MAX_KEPT_HEAD = 16 * 1024;

// A head is scanned, read, routed and turned into the bytes to send within one
// synchronous step, so one read request serves every exchange.
const incoming = newIncomingRequest();

/** What an exchange needs of the client connection it runs on. */
export interface Downstream {
  /** The client's socket. */
  readonly socket: Socket;
  /** Unconsumed client bytes: the request body comes from here. */
  readonly input: ClientInput;
  /** Where response heads are built. */
  readonly replyHead: HeadSpace;
  /** The current request's id (set before {@link Exchange.start}). */
  readonly requestId: RequestId;
  /** What the forwarding headers say about this client. */
  clientInfo(): ClientInfo;
  /** No request follows the current one (the client asked to close, or half-closed). */
  readonly closeAfter: boolean;
  /** This request asks that the connection close after it. */
  closeAfterThis(): void;
  /** Call the exchange's `expire` at `at` (a clock time), or never with 0. */
  setDeadline(at: number): void;
  /** The response has been sent; `close`: the connection must end now. */
  exchangeDone(close: boolean): void;
  /** Answer the request with an error; `close`: end the connection after it. */
  fail(error: ProxyError, close: boolean, method: string, target: string): void;
  /** The backend switched protocols: pipe both sockets from now on. */
  tunnel(backend: Socket, backendLeftover: Uint8Array): void;
  /** End the connection at once (a response already went out in part). */
  close(): void;
}

/**
 * One request and its response on a client connection.
 *
 * @example
 * ```ts
 * import { Exchange, type Downstream } from "./exchange.ts";
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
  /** Counts the requests this exchange has carried; an answer for an earlier one is dropped. */
  #request = 0;
  /** The request is this exchange's and not over yet. */
  #active = false;
  #method = "";
  /** The request-target as sent (for logs and messages). */
  #target = "";
  #route: Route | null = null;
  #upstreamHead: Uint8Array = EMPTY;
  /** The upstream head is built here, one request at a time (see {@link #forwardHead}). */
  readonly #headSpace = new KeptBuffer(MAX_KEPT_HEAD, null);

  readonly #upstream: Upstream;
  readonly #body = new RequestBody();
  readonly #response: ResponseRelay;

  constructor(down: Downstream, ctx: ProxyContext) {
    this.#down = down;
    this.#ctx = ctx;
    this.#upstream = new Upstream(this, ctx);
    this.#response = new ResponseRelay(this, down.requestId);
  }

  /** The link of the current connect attempt (its backend socket's events are heard). */
  get link(): BackendLink | null {
    return this.#upstream.link;
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
    this.#request++;
    // Whatever the last request came to, nothing it alone held carries over.
    this.#letGo();
    this.#active = true;
    this.#upstream.reset();
    this.#route = null;
    const req = incoming;
    const error = readRequest(scan, req);
    this.#method = req.method;
    this.#target = req.target;
    if (error !== null) return this.#reject(error);
    if (req.close) this.#down.closeAfterThis();
    const { host, url } = req;

    // route
    const route = this.#ctx.routes.match(host, url.path === "*" ? "/" : url.path);
    if (route === undefined) {
      return this.#reject({ kind: "NoRoute", host, path: url.path }, req.framing.kind !== "none");
    }
    this.#route = route;

    // forward head: built now, while the scan is this request's; retries resend it.
    this.#upstreamHead = upstreamHeadBytes(
      scan,
      req.tokens,
      req.method,
      url.path === "*" ? "*" : url.path + url.query,
      host,
      this.#down.clientInfo(),
      req.upgrade,
      this.#down.requestId,
      this.#headSpace,
    );
    this.#body.begin(req.framing);
    this.#response.begin(req.method, req.minor, req.upgrade);
    this.#pickReplica();
  }

  /** The request is refused before it reaches a backend (the body, if any, is not read). */
  #reject(error: ProxyError, close = true): void {
    this.#active = false;
    this.#down.fail(error, close, this.#method, this.#target);
  }

  // --- pick replica ---------------------------------------------------------------

  #pickReplica(): void {
    let replicas: readonly Replica[] | Promise<readonly Replica[]>;
    try {
      replicas = this.#ctx.registry.resolve(this.#route!.service);
    } catch (e) {
      return this.#registryFailed(e);
    }
    if (isAnswer(replicas)) this.#replicasKnown(replicas);
    else this.#awaitReplicas(replicas);
  }

  // Callbacks live in methods of their own, off the synchronous path: a
  // function whose closures capture its variables allocates their scope on
  // every call, whichever branch it takes.
  #awaitReplicas(answer: Promise<readonly Replica[]>): void {
    const request = this.#request;
    answer.then(
      (r) => request === this.#request && this.#replicasKnown(r),
      (e) => request === this.#request && this.#registryFailed(e),
    );
  }

  #registryFailed(e: unknown): void {
    if (!this.#active) return;
    this.#fail(
      { kind: "RegistryFailed", service: this.#route!.service, reason: messageOf(e) },
      !this.#body.done,
    );
  }

  #replicasKnown(replicas: readonly Replica[]): void {
    if (!this.#active) return;
    if (replicas.length === 0) {
      return this.#fail({ kind: "NoReplicas", service: this.#route!.service }, !this.#body.done);
    }
    this.#upstream.connect(replicas, this.#ctx.retries);
  }

  // --- connect (failover.ts) ----------------------------------------------------------

  upstreamConnected(): void {
    this.#forward();
  }

  upstreamFailed(): void {
    if (!this.#active) return;
    this.#down.setDeadline(0);
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
    const socket = this.#upstream.socket!;
    socket.write(this.#upstreamHead);
    // A retry replays the body bytes already sent.
    this.#body.replayTo(socket);
    const request = this.#request;
    this.#pumpBody();
    // A bad body ends the request: then this exchange may carry the next one already.
    if (request === this.#request && this.#body.done) this.#armUpstreamTimeout();
  }

  /** Client bytes arrived while this exchange is current. */
  onClientBytes(): void {
    if (!this.#body.done && this.#upstream.socket !== null) this.#pumpBody();
  }

  /** Forward as much of the request body as is buffered. */
  #pumpBody(): void {
    const body = this.#body;
    if (body.done) return;
    const error = body.pump(this.#down.input, this.#upstream.socket!);
    if (error !== null) return this.#badBody(error);
    if (body.blocked) this.#down.socket.pause();
    if (body.done) this.#armUpstreamTimeout();
  }

  #badBody(reason: string): void {
    this.#active = false;
    this.#upstream.close();
    if (this.#response.started) return this.#down.close();
    this.#fail({ kind: "BadRequest", reason }, true);
  }

  onBackendDrain(): void {
    this.#down.socket.resume();
  }

  #armUpstreamTimeout(): void {
    const ms = this.#ctx.upstreamTimeoutMs;
    if (this.#response.status !== 0 || ms <= 0 || !this.#active) return;
    this.#down.setDeadline(this.#ctx.clock.now + ms);
  }

  /** The upstream timeout passed (called through the connection's deadline). */
  expire(): void {
    if (!this.#active || this.#response.status !== 0) return;
    const replica = this.#upstream.replica;
    this.#upstream.close();
    this.#fail({ kind: "UpstreamTimeout", service: this.#route!.service, replica }, true);
  }

  // --- relay: the response (ResponseSink) -------------------------------------------

  onBackendData(chunk: Uint8Array): void {
    if (this.#active) this.#response.onData(chunk);
  }

  mustCloseClient(): boolean {
    return this.#down.closeAfter || this.#ctx.draining || !this.#body.done;
  }

  responseStarted(): void {
    this.#down.setDeadline(0);
  }

  responseDone(): void {
    this.#finish();
  }

  responseInvalid(reason: string): void {
    this.#down.setDeadline(0);
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
    this.#active = false;
    this.#upstream.close();
    this.#down.close();
  }

  pauseBackend(): void {
    this.#upstream.socket?.pause();
  }

  onClientDrain(): void {
    this.#upstream.socket?.resume();
  }

  upgraded(scan: HeadScan, tokens: ConnectionTokens, rest: Uint8Array): void {
    this.#active = false;
    this.#down.setDeadline(0);
    const backend = this.#upstream.detach();
    this.#down.socket.write(this.#response.upgradeHead(scan, tokens));
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
      this.#active = false;
      return this.#down.close();
    }
    const replayable = !response.started && IDEMPOTENT.has(this.#method) && this.#body.done &&
      this.#body.replayable;
    this.#down.setDeadline(0);
    this.#upstream.broke(error?.message ?? "connection closed", replayable);
  }

  // --- finish -------------------------------------------------------------------------

  #finish(): void {
    if (!this.#active) return;
    this.#active = false;
    const ctx = this.#ctx;
    const response = this.#response;
    if (ctx.accessLog !== null) {
      const r = this.#upstream.replica;
      ctx.accessLog(accessLogLine(
        this.#down.socket.remoteAddress,
        this.#method,
        this.#target,
        response.status,
        this.#route!.service,
        r ? `${r.host}:${r.port}` : "-",
        this.#down.requestId.text,
      ));
    }
    this.#upstream.finish(response.reusable && this.#body.done);
    const close = response.closesClient;
    this.#letGo();
    this.#down.exchangeDone(close);
  }

  #fail(error: ProxyError, close: boolean): void {
    this.#active = false;
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
    this.#upstreamHead = EMPTY;
    this.#body.letGo();
    this.#response.letGo();
  }

  /** The client went away: drop the backend connection, it is mid-exchange. */
  abort(): void {
    if (!this.#active) return;
    this.#active = false;
    this.#upstream.close();
  }
}
