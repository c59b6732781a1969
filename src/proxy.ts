/**
 * One client connection's life, read top to bottom:
 *
 *   accept → parse head → route → resolve → connect/failover → forward →
 *   response → next request on the connection
 *
 * `ClientConnection` owns the client socket and parses requests one after
 * the other (pipelined ones wait their turn, so answers keep their order).
 * Each request becomes an `Exchange`, which resolves the route's service,
 * connects with failover, streams the request body up and the response back,
 * and then hands the backend connection to the pool.
 *
 * Only web-standard APIs are used here; sockets come from a {@link Runtime}.
 *
 * @module
 */

import type { Framing } from "./http1/framing.ts";
import { requestFramingOf, responseFramingOf } from "./http1/framing.ts";
import type { HeadLimits } from "./http1/head.ts";
import { FIELD, FIELD_STRIDE, HeadScan, scanRequestHead, scanResponseHead } from "./http1/head.ts";
import { ChunkedScanner } from "./http1/chunked.ts";
import { parseTarget, type Target } from "./routing/path.ts";
import type { Route, RouteTable } from "./routing/router.ts";
import { isAnswer, type Registry, type Replica } from "./registry/types.ts";
import type { ConnectOptions, Runtime, Socket, SocketHandler } from "./runtime/types.ts";
import { FailoverPlan } from "./failover.ts";
import { ConnectionPool, replicaKey } from "./pool.ts";
import {
  type ClientInfo,
  ConnectionTokens,
  downstreamHeadBytes,
  type HeadSpace,
  upstreamHeadBytes,
} from "./forwarded.ts";
import type { CidrList } from "./net/cidr.ts";
import type { DeadlineClock, Expiring } from "./deadlines.ts";
import type { ProxyError } from "./errors.ts";
import { errorResponse, STATUS } from "./errors.ts";
import { socketStreams } from "./socket_streams.ts";
import { pipeBidirectional } from "./pipe.ts";

/** Everything a connection needs, shared by all connections of a listener. */
export interface ProxyContext {
  runtime: Runtime;
  routes: RouteTable;
  registry: Registry;
  pool: ConnectionPool;
  clock: DeadlineClock;
  /** "http" or "https": the scheme clients used. */
  proto: string;
  trustedProxies: CidrList;
  /** Connect attempts per request, each to a distinct replica. */
  retries: number;
  /** Largest request head; longer gets 431. */
  headLimits: HeadLimits;
  headerTimeoutMs: number;
  keepaliveTimeoutMs: number;
  /** How connections to replicas are made (connect timeout, receive buffer). */
  upstreamConnect: ConnectOptions;
  upstreamTimeoutMs: number;
  tunnelIdleTimeoutMs: number;
  /** Set when the ingress is shutting down: finish the current request, then close. */
  draining: boolean;
  /** Called for events worth a log line. */
  log(line: string): void;
  /** Called with one line per request when access logging is on. */
  accessLog: ((line: string) => void) | null;
}

const EMPTY = new Uint8Array(0);
const NO_REPLICAS: readonly Replica[] = [];
/** Stop reading from the client when this much is buffered and unconsumed. */
const MAX_BUFFERED = 256 * 1024;
/** Request bodies up to this size are kept for a retry on another replica. */
const MAX_REPLAY = 64 * 1024;
const MAX_RESPONSE_HEAD = 64 * 1024;
const RESPONSE_HEAD_LIMITS: HeadLimits = { maxSize: MAX_RESPONSE_HEAD };
const IDEMPOTENT = new Set(["GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"]);
/** Upstream heads up to this size are built in a buffer the connection keeps. */
const MAX_KEPT_HEAD = 16 * 1024;
/** Response heads (with the body bytes joined to them) up to this size, likewise. */
const MAX_KEPT_REPLY = 4 * 1024;
/** A response body that arrived with its head, up to this size, leaves in the head's write. */
const JOIN_BODY_MAX = 16 * 1024;

// Heads are scanned and turned into the bytes to send within one synchronous
// step, so one scan, one token set and one parsed target serve every connection.
const requestScan = new HeadScan();
const requestTokens = new ConnectionTokens();
const requestTarget: Target = { path: "", query: "", authority: "" };
/** Each backend socket's link (see {@link BackendLink}), found again when the pool hands it out. */
const backendLinks = new WeakMap<Socket, BackendLink>();
const responseScan = new HeadScan();
const responseTokens = new ConnectionTokens();

const enum Wait {
  /** Waiting for (more of) a request head. */
  Head,
  /** An exchange is in progress. */
  Exchange,
  /** Upgraded: bytes are piped both ways. */
  Tunnel,
  /** Closing or closed. */
  Closed,
}

/**
 * A buffer a connection reuses for the heads it builds, one at a time: a
 * view of it when the head fits in `max` bytes, else a new array. With a
 * socket, only while that socket has nothing queued: the previous head was
 * then handed to the kernel whole (or the socket was closed, which drops what
 * it had queued), so no pending write still points into the buffer.
 */
class KeptBuffer implements HeadSpace {
  readonly #max: number;
  readonly #socket: Socket | null;
  #buf: Uint8Array = EMPTY;
  /** The last view handed out: the next head of the same size (a repeated request) reuses it. */
  #view: Uint8Array = EMPTY;

  constructor(max: number, socket: Socket | null) {
    this.#max = max;
    this.#socket = socket;
  }

  take(size: number): Uint8Array {
    if (size > this.#max || (this.#socket !== null && this.#socket.bufferedAmount !== 0)) {
      return new Uint8Array(size);
    }
    if (this.#view.length === size) return this.#view;
    if (this.#buf.length < size) {
      this.#buf = new Uint8Array(Math.max(512, 2 ** Math.ceil(Math.log2(size))));
    }
    return this.#view = this.#buf.subarray(0, size);
  }
}

/**
 * The client side of one accepted connection.
 *
 * @example
 * ```ts
 * runtime.listen(opts, (socket) => new ClientConnection(socket, ctx, onGone));
 * ```
 */
export class ClientConnection implements SocketHandler, Expiring {
  readonly socket: Socket;
  readonly ctx: ProxyContext;
  deadline = 0;
  /** Unconsumed client bytes are buf[off, buf.length). */
  buf: Uint8Array = EMPTY;
  off = 0;
  state = Wait.Head;
  exchange: Exchange | null = null;
  /** The exchange object, kept from request to request (see {@link Exchange}). */
  #exchange: Exchange | null = null;
  /** The client half-closed or asked for close: no request after the current one. */
  closeAfter = false;
  readonly #onGone: (c: ClientConnection) => void;
  #waitingForFirstByte = true;
  #gone = false;
  /** {@link nextRequest} is running; `#startAgain`: a request ended meanwhile, go on. */
  #starting = false;
  #startAgain = false;
  /** Whether the peer is a trusted proxy (asked once: the peer does not change). */
  #trusted: boolean | undefined;
  /** What the forwarding headers say about this client (built once, on its first request). */
  #info: ClientInfo | undefined;
  /**
   * The upstream head of the current exchange is built here, one exchange at
   * a time. Reusing it is safe because an exchange ends only after its
   * backend took the whole head (the response answers it) or after that
   * backend socket was closed (which drops what it had queued): no queued
   * write still points here when the next exchange overwrites it.
   */
  readonly #upstreamHead = new KeptBuffer(MAX_KEPT_HEAD, null);
  /** Response heads are built here while the client socket has nothing queued. */
  readonly replyHead: KeptBuffer;

  constructor(socket: Socket, ctx: ProxyContext, onGone: (c: ClientConnection) => void) {
    this.socket = socket;
    this.replyHead = new KeptBuffer(MAX_KEPT_REPLY, socket);
    this.ctx = ctx;
    this.#onGone = onGone;
    // The first request must arrive within the header timeout (slow clients are cut off).
    this.deadline = ctx.clock.now + ctx.headerTimeoutMs;
    this.#waitingForFirstByte = false;
    ctx.clock.add(this);
  }

  /** Bytes buffered and not yet consumed. */
  get buffered(): number {
    return this.buf.length - this.off;
  }

  // --- socket events -------------------------------------------------------

  onData(chunk: Uint8Array): void {
    if (this.state === Wait.Closed) return;
    if (this.off >= this.buf.length) {
      this.buf = chunk;
      this.off = 0;
    } else {
      const merged = new Uint8Array(this.buf.length - this.off + chunk.length);
      merged.set(this.buf.subarray(this.off));
      merged.set(chunk, this.buf.length - this.off);
      this.buf = merged;
      this.off = 0;
    }
    if (this.state === Wait.Head) {
      if (this.#waitingForFirstByte) {
        // Keep-alive idle is over; the head itself must now arrive in time.
        this.#waitingForFirstByte = false;
        this.deadline = this.ctx.clock.now + this.ctx.headerTimeoutMs;
      }
      this.nextRequest();
    } else if (this.state === Wait.Exchange) {
      this.exchange!.onClientBytes();
    }
    if (this.buffered > MAX_BUFFERED && (this.state as Wait) !== Wait.Closed) this.socket.pause();
  }

  onDrain(): void {
    this.exchange?.onClientDrain();
  }

  onEnd(): void {
    this.closeAfter = true;
    if (this.state === Wait.Head) this.close();
  }

  onClose(): void {
    this.state = Wait.Closed;
    this.exchange?.abort();
    this.exchange = null;
    this.#release();
  }

  expire(): void {
    // One deadline per connection: the exchange's upstream timeout uses it too.
    if (this.state === Wait.Exchange) return this.exchange?.expire();
    if (this.state !== Wait.Head) return;
    if (this.buffered === 0) this.close(); // idle keep-alive connection: just close
    else this.fail({ kind: "HeadTimeout" }, true);
  }

  /** Whether the peer's forwarding headers stand. */
  get trusted(): boolean {
    return this.#trusted ??= this.ctx.trustedProxies.contains(this.socket.remoteAddress);
  }

  // --- request parsing -----------------------------------------------------

  /**
   * Parse and start the next request, if its head is complete. A request the
   * ingress answers itself (an error) ends within this call and asks for the
   * next: that one is started by this loop, not from inside the answer, so any
   * number of pipelined requests takes no more stack than one.
   */
  nextRequest(): void {
    if (this.#starting) {
      this.#startAgain = true;
      return;
    }
    this.#starting = true;
    try {
      do {
        this.#startAgain = false;
        this.#startNext();
      } while (this.#startAgain);
    } finally {
      this.#starting = false;
    }
  }

  #startNext(): void {
    if (this.state !== Wait.Head) return;
    if (this.buffered === 0) {
      if (this.closeAfter || this.ctx.draining) return this.close();
      this.#waitingForFirstByte = true;
      this.deadline = this.ctx.clock.now + this.ctx.keepaliveTimeoutMs;
      this.socket.resume();
      return;
    }
    const scan = requestScan;
    const r = scanRequestHead(this.buf, this.off, this.buf.length, this.ctx.headLimits, scan);
    if (r !== null) {
      if (r.kind === "incomplete") return;
      return this.fail(
        r.status === 431 ? { kind: "HeadTooLarge" } : { kind: "BadRequest", reason: r.reason },
        true,
      );
    }
    this.off += scan.size;
    this.deadline = 0;
    this.#startExchange(scan);
  }

  #startExchange(scan: HeadScan): void {
    const framing = requestFramingOf(scan);
    if (framing.kind === "error") return this.fail({ kind: "BadRequest", reason: framing.reason });
    const rawTarget = scan.target();
    const target = parseTarget(rawTarget, requestTarget);
    if (target === null) return this.fail({ kind: "BadRequest", reason: "invalid request target" });
    const method = scan.method();
    if (method === "CONNECT") {
      return this.fail({ kind: "BadRequest", reason: "CONNECT is not supported" });
    }
    let hostAt = -1;
    let hosts = 0;
    let upgradeAt = -1;
    const f = scan.fields;
    for (let i = 0, o = 5; i < scan.count; i++, o += FIELD_STRIDE) {
      if (f[o] === FIELD.HOST) {
        hostAt = i;
        hosts++;
      } else if (f[o] === FIELD.UPGRADE) upgradeAt = i;
    }
    if (hosts > 1) return this.fail({ kind: "BadRequest", reason: "more than one Host header" });
    if (hosts === 0 && scan.minor === 1) {
      return this.fail({ kind: "BadRequest", reason: "missing Host header" });
    }
    const host = target.authority !== "" ? target.authority : hostAt >= 0 ? scan.value(hostAt) : "";
    const tokens = requestTokens.read(scan);
    if (tokens.close || (scan.minor === 0 && !tokens.keepAlive)) this.closeAfter = true;
    const upgrade = upgradeAt >= 0 && tokens.upgrade ? scan.value(upgradeAt) : null;
    const route = this.ctx.routes.match(host, target.path === "*" ? "/" : target.path);
    const bodyless = framing.kind === "none";
    if (route === undefined) {
      return this.fail({ kind: "NoRoute", host, path: target.path }, !bodyless, method);
    }
    const forwardTarget = target.path === "*" ? "*" : target.path + target.query;
    // The upstream head is built now, while the scan is this request's; retries resend it.
    this.#info ??= {
      peer: this.socket.remoteAddress,
      proto: this.ctx.proto,
      trusted: this.trusted,
    };
    const upstreamHead = upstreamHeadBytes(
      scan,
      tokens,
      method,
      forwardTarget,
      host,
      this.#info,
      upgrade,
      this.#upstreamHead,
    );
    this.state = Wait.Exchange;
    const exchange = this.exchange = this.#exchange ??= new Exchange(this);
    exchange.begin(
      method,
      rawTarget,
      scan.minor,
      framing,
      route,
      upstreamHead,
      upgrade,
    );
    exchange.start();
  }

  // --- endings ---------------------------------------------------------------

  /** Called by the exchange when its response has been fully sent. */
  exchangeDone(close: boolean): void {
    this.exchange = null;
    if (this.state === Wait.Closed) return;
    if (close || this.closeAfter || this.ctx.draining) {
      this.state = Wait.Closed;
      this.socket.end();
      return;
    }
    this.state = Wait.Head;
    this.socket.resume();
    this.nextRequest();
  }

  /** Answer with an error. Closes afterwards when asked (or when the request is unusable). */
  fail(error: ProxyError, close = true, method = "", target = ""): void {
    this.exchange = null;
    if (this.state === Wait.Closed) return;
    if (this.ctx.accessLog !== null) {
      this.logRequest(method || "-", target || "-", STATUS[error.kind], "-", "-");
    }
    const mustClose = close || this.closeAfter || this.ctx.draining;
    this.socket.write(errorResponse(error, mustClose, method === "HEAD"));
    if (mustClose) {
      this.state = Wait.Closed;
      this.socket.end();
    } else {
      this.state = Wait.Head;
      this.nextRequest();
    }
  }

  /** One access-log line: peer, request, status, service, replica. */
  logRequest(method: string, target: string, status: number, service: string, replica: string) {
    this.ctx.accessLog?.(
      `${this.socket.remoteAddress} "${method} ${target}" ${status} ${service} ${replica}`,
    );
  }

  /** Switch to tunnel mode after a 101: pipe client and backend both ways. */
  tunnel(backend: Socket, backendLeftover: Uint8Array): void {
    this.state = Wait.Tunnel;
    this.exchange = null;
    this.deadline = 0;
    const clientLeftover = this.buf.subarray(this.off);
    this.buf = EMPTY;
    this.off = 0;
    const client = socketStreams(this.socket, clientLeftover.length ? clientLeftover : undefined);
    const server = socketStreams(backend, backendLeftover.length ? backendLeftover : undefined);
    this.socket.resume();
    backend.resume();
    pipeBidirectional(client, server, this.ctx.tunnelIdleTimeoutMs).then((end) => {
      if (end === "idle") this.ctx.log("tunnel closed after idle timeout");
      this.#release();
    });
  }

  /** Close at once. */
  close(): void {
    if (this.state === Wait.Tunnel) return;
    this.state = Wait.Closed;
    this.socket.close();
  }

  /** Shutting down: close when idle, otherwise after the current exchange. */
  drain(): void {
    if (this.state === Wait.Head && this.buffered === 0) this.close();
  }

  #release(): void {
    if (this.#gone) return;
    this.#gone = true;
    this.ctx.clock.delete(this);
    this.#onGone(this);
  }
}

/**
 * One backend socket's events, heard by the exchange that socket serves
 * while it is that exchange's `link`: an attempt the exchange has moved on
 * from is heard no more. A socket keeps its link for life (in the pool, the
 * pool's handler hears it), so taking a pooled socket allocates nothing and
 * a link only ever speaks for its own socket.
 */
class BackendLink implements SocketHandler {
  /** The exchange served; null while the socket waits in the pool (which then holds no exchange). */
  #ex: Exchange | null;
  socket: Socket | null = null;
  constructor(ex: Exchange) {
    this.#ex = ex;
  }
  /** Serve `ex` now (a pooled socket taken by an exchange), or no exchange. */
  serve(ex: Exchange | null): void {
    this.#ex = ex;
  }
  /** The exchange that hears this socket now, or undefined. */
  #listener(): Exchange | undefined {
    const ex = this.#ex;
    return ex !== null && ex.link === this ? ex : undefined;
  }
  onData(chunk: Uint8Array): void {
    this.#listener()?.onBackendData(chunk);
  }
  onDrain(): void {
    this.#listener()?.onBackendDrain();
  }
  onEnd(): void {
    this.#listener()?.onBackendEnd();
  }
  onClose(error?: Error): void {
    this.#listener()?.onBackendGone(error);
  }
}

/**
 * One request and its response. A connection keeps one and begins it again
 * for each of its requests (they run one at a time), so a request allocates
 * no exchange. What can outlive a request (a registry answer, a connect, a
 * backend socket's events) is checked against the request it belongs to:
 * `#request` for answers, `link` for sockets. Nothing may touch the exchange
 * after a call that ends the request (`#finish`, `#fail`): the connection may
 * have begun its next request on it already.
 */
class Exchange {
  readonly conn: ClientConnection;
  readonly ctx: ProxyContext;
  /** Counts the requests this exchange has carried; an answer for an earlier one is dropped. */
  #request = 0;
  method = "";
  /** The request-target as sent (for logs and messages). */
  target = "";
  /** The client's HTTP minor version. */
  minor = 1;
  route!: Route;
  #upstreamHead: Uint8Array = EMPTY;
  #upgrade: string | null = null;

  // Backend side.
  link: BackendLink | null = null;
  readonly #plan = new FailoverPlan([], 0);
  #replica: Replica | null = null;
  #reused = false;
  #staleRetried = false;
  #lastError = "";

  // Request body.
  #bodyLeft = 0;
  #scanner: ChunkedScanner | null = null;
  #bodyDone = true;
  /** Body bytes sent so far, kept for a retry while they fit in MAX_REPLAY. */
  #replay: Uint8Array[] | null = null;
  #replayBytes = 0;
  #replayable = true;
  #sentAny = false;

  // Response.
  #resBuf: Uint8Array = EMPTY;
  #gotResponseByte = false;
  /** Status of the final response once its head has been handled; 0 before. */
  #status = 0;
  /** How the response body is delimited (the framing's kind, once the head is handled). */
  #resKind: Framing["kind"] = "none";
  #resLeft = 0;
  #resScanner: ChunkedScanner | null = null;
  #closeClient = false;
  /** HTTP/1.0 client, chunked response: send the data only, delimited by close. */
  #dechunk = false;
  #backendReusable = false;
  #finished = true;

  constructor(conn: ClientConnection) {
    this.conn = conn;
    this.ctx = conn.ctx;
  }

  /** Take on the next request of the connection; every per-request field starts over. */
  begin(
    method: string,
    target: string,
    minor: number,
    framing: Framing,
    route: Route,
    upstreamHead: Uint8Array,
    upgrade: string | null,
  ): void {
    this.#request++;
    // Whatever the last request came to, nothing it alone held carries over.
    this.#letGo();
    this.method = method;
    this.target = target;
    this.minor = minor;
    this.route = route;
    this.#upstreamHead = upstreamHead;
    this.#upgrade = upgrade;
    this.link = null;
    this.#plan.reset(NO_REPLICAS, 0);
    this.#replica = null;
    this.#reused = false;
    this.#staleRetried = false;
    this.#lastError = "";
    this.#bodyLeft = framing.kind === "length" ? framing.length : 0;
    this.#scanner = framing.kind === "chunked" ? new ChunkedScanner() : null;
    this.#bodyDone = framing.kind === "none";
    this.#replayBytes = 0;
    this.#replayable = true;
    this.#sentAny = false;
    this.#gotResponseByte = false;
    this.#status = 0;
    this.#resKind = "none";
    this.#resLeft = 0;
    this.#closeClient = false;
    this.#dechunk = false;
    this.#backendReusable = false;
    this.#finished = false;
  }

  #fail(error: ProxyError, close: boolean): void {
    this.#letGo();
    this.conn.fail(error, close, this.method, this.target);
  }

  /**
   * The request is over: let go of what it alone held (body bytes kept for a
   * retry, up to MAX_REPLAY), so that an idle connection holds none of it.
   * Called before the connection is told (it may begin the next request at
   * once), and by {@link begin} for a request that ended without it.
   */
  #letGo(): void {
    this.#replay = null;
    this.#upstreamHead = EMPTY;
    this.#resBuf = EMPTY;
    this.#scanner = null;
    this.#resScanner = null;
  }

  /** Stop the upstream timer (it is the connection's deadline while this exchange runs). */
  #disarm(): void {
    if (this.conn.exchange === this) this.conn.deadline = 0;
  }

  // --- resolve ---------------------------------------------------------------

  start(): void {
    let replicas: readonly Replica[] | Promise<readonly Replica[]>;
    try {
      replicas = this.ctx.registry.resolve(this.route.service);
    } catch (e) {
      return this.#registryFailed(e);
    }
    if (isAnswer(replicas)) this.#resolved(replicas);
    else this.#awaitReplicas(replicas);
  }

  // Callbacks live in methods of their own, off the synchronous path: a
  // function whose closures capture its variables allocates their scope on
  // every call, whichever branch it takes.
  #awaitReplicas(answer: Promise<readonly Replica[]>): void {
    const request = this.#request;
    answer.then(
      (r) => request === this.#request && this.#resolved(r),
      (e) => request === this.#request && this.#registryFailed(e),
    );
  }

  #registryFailed(e: unknown): void {
    if (this.#finished) return;
    this.#finished = true;
    const reason = e instanceof Error ? e.message : String(e);
    this.#fail(
      { kind: "RegistryFailed", service: this.route.service, reason },
      !this.#bodyDone,
    );
  }

  #resolved(replicas: readonly Replica[]): void {
    if (this.#finished) return;
    if (replicas.length === 0) {
      this.#finished = true;
      return this.#fail({ kind: "NoReplicas", service: this.route.service }, !this.#bodyDone);
    }
    this.#plan.reset(replicas, this.ctx.retries);
    this.#connectNext();
  }

  // --- connect / failover ----------------------------------------------------

  #connectNext(): void {
    const replica = this.#plan.next();
    if (replica === undefined) return this.#upstreamFailed();
    this.#connectTo(replica, true);
  }

  #connectTo(replica: Replica, usePool: boolean): void {
    this.#replica = replica;
    const pooled = usePool
      ? this.ctx.pool.acquire(replicaKey(replica), this.ctx.clock.now)
      : undefined;
    if (pooled !== undefined) {
      // Every backend socket gets its link when it connects (a socket pooled by other means, one).
      let link = backendLinks.get(pooled);
      if (link === undefined) backendLinks.set(pooled, link = new BackendLink(this));
      link.socket = pooled;
      link.serve(this);
      this.link = link;
      this.#reused = true;
      // The pool keeps its sockets reading (to hear them close): no resume to do.
      pooled.setHandler(link);
      return this.#send();
    }
    this.#reused = false;
    this.#connect(replica);
  }

  #connect(replica: Replica): void {
    // A new link for each connect: its answer counts while it is still `link`.
    const link = new BackendLink(this);
    this.link = link;
    this.ctx.runtime.connect(replica.host, replica.port, link, this.ctx.upstreamConnect).then(
      (socket) => {
        if (this.link !== link || this.#finished) return socket.close();
        link.socket = socket;
        backendLinks.set(socket, link);
        this.#send();
      },
      (e) => {
        if (this.link !== link || this.#finished) return;
        this.#lastError = `${replica.host}:${replica.port}: ${e?.message ?? e}`;
        this.link = null;
        this.#connectNext();
      },
    );
  }

  #upstreamFailed(): void {
    if (this.#finished) return;
    this.#finished = true;
    this.#disarm();
    this.#fail(
      {
        kind: "UpstreamFailed",
        service: this.route.service,
        attempts: this.#plan.attempts,
        reason: this.#lastError || "connection failed",
      },
      !this.#bodyDone,
    );
  }

  // --- forward the request ---------------------------------------------------

  #send(): void {
    const socket = this.link!.socket!;
    socket.write(this.#upstreamHead);
    this.#sentAny = true;
    // A retry replays the body bytes already sent.
    if (this.#replay !== null && this.#replayable) {
      for (const chunk of this.#replay) socket.write(chunk);
    }
    const request = this.#request;
    this.#pumpBody();
    // A bad body ends the request: then this exchange may carry the next one already.
    if (request === this.#request && this.#bodyDone) this.#armUpstreamTimeout();
  }

  /** Client bytes arrived while this exchange is current. */
  onClientBytes(): void {
    if (!this.#bodyDone && this.link?.socket) this.#pumpBody();
  }

  /** Forward as much of the request body as is buffered. */
  #pumpBody(): void {
    if (this.#bodyDone) return;
    const conn = this.conn;
    const socket = this.link!.socket!;
    const start = conn.off;
    const end = conn.buf.length;
    if (start >= end) return;
    let n: number;
    if (this.#scanner !== null) {
      const r = this.#scanner.scan(conn.buf, start, end);
      if (r.error !== undefined) return this.#badBody(r.error);
      n = r.consumed;
      if (r.done) this.#bodyDone = true;
    } else {
      n = Math.min(this.#bodyLeft, end - start);
      this.#bodyLeft -= n;
      if (this.#bodyLeft === 0) this.#bodyDone = true;
    }
    if (n === 0) return;
    const chunk = conn.buf.subarray(start, start + n);
    conn.off += n;
    if (this.#replayable) {
      this.#replayBytes += n;
      if (this.#replayBytes > MAX_REPLAY) {
        this.#replayable = false;
        this.#replay = null;
      } else (this.#replay ??= []).push(chunk);
    }
    if (!socket.write(chunk)) conn.socket.pause();
    if (this.#bodyDone) this.#armUpstreamTimeout();
  }

  #badBody(reason: string): void {
    this.#finished = true;
    this.#closeBackend();
    if (this.#gotResponseByte) return this.conn.close();
    this.#fail({ kind: "BadRequest", reason }, true);
  }

  onBackendDrain(): void {
    this.conn.socket.resume();
  }

  #armUpstreamTimeout(): void {
    if (this.#status !== 0 || this.ctx.upstreamTimeoutMs <= 0) return;
    if (this.conn.exchange === this) {
      this.conn.deadline = this.ctx.clock.now + this.ctx.upstreamTimeoutMs;
    }
  }

  /** The upstream timeout passed (called through the connection's deadline). */
  expire(): void {
    if (this.#finished || this.#status !== 0) return;
    this.#finished = true;
    this.#closeBackend();
    this.#fail({ kind: "UpstreamTimeout", service: this.route.service }, true);
  }

  // --- the response ------------------------------------------------------------

  onBackendData(chunk: Uint8Array): void {
    if (this.#finished) return;
    this.#gotResponseByte = true;
    if (this.#status === 0) {
      this.#resBuf = this.#resBuf.length === 0 ? chunk : concat(this.#resBuf, chunk);
      this.#parseResponse();
    } else {
      this.#forwardBody(chunk, 0);
    }
  }

  #parseResponse(): void {
    const scan = responseScan;
    let start = 0;
    while (true) {
      const buf = this.#resBuf;
      const r = scanResponseHead(buf, start, buf.length, RESPONSE_HEAD_LIMITS, scan);
      if (r !== null) {
        if (r.kind === "error") return this.#badResponse(r.reason);
        this.#resBuf = start === 0 ? buf : buf.subarray(start);
        if (buf.length - start >= MAX_RESPONSE_HEAD) return this.#badResponse("head too large");
        return;
      }
      const tokens = responseTokens.read(scan);
      const status = scan.status;
      if (status === 101) {
        if (this.#upgrade === null) return this.#badResponse("101 without an upgrade request");
        return this.#upgraded(scan, tokens, buf.subarray(scan.end));
      }
      if (status < 200) {
        // Interim responses (100 Continue, 103 Early Hints) go to HTTP/1.1 clients as they come.
        if (this.minor === 1) this.conn.socket.write(downstreamHeadBytes(scan, tokens, null, null));
        start = scan.end;
        if (start === buf.length) {
          this.#resBuf = EMPTY;
          return;
        }
        continue;
      }
      this.#resBuf = EMPTY;
      return this.#responseHead(scan, tokens, buf, scan.end);
    }
  }

  /** The final response head is in `scan`; buf[restStart..] are the body bytes that came with it. */
  #responseHead(
    scan: HeadScan,
    tokens: ConnectionTokens,
    buf: Uint8Array,
    restStart: number,
  ): void {
    const framing = responseFramingOf(this.method, scan);
    if (framing.kind === "error") return this.#badResponse(framing.reason);
    this.#status = scan.status;
    this.#resKind = framing.kind;
    this.#disarm();
    const backendClose = scan.minor === 0 || tokens.close;
    this.#backendReusable = !backendClose && framing.kind !== "close";
    // A client that cannot see where the body ends must see the connection end.
    this.#closeClient = this.conn.closeAfter || this.ctx.draining || framing.kind === "close" ||
      (framing.kind === "chunked" && this.minor === 0) || !this.#bodyDone;
    const connection = this.#closeClient ? "close" : this.minor === 0 ? "keep-alive" : null;
    this.#dechunk = framing.kind === "chunked" && this.minor === 0;
    const restLength = buf.length - restStart;
    if (framing.kind === "length") {
      this.#resLeft = framing.length;
      if (restLength > 0 && restLength <= JOIN_BODY_MAX) {
        // Head and the body bytes that came with it leave in one write.
        const n = Math.min(restLength, framing.length);
        if (restLength > n) this.#backendReusable = false;
        this.#resLeft -= n;
        this.#sendHead(scan, tokens, connection, buf, restStart, restStart + n);
        if (this.#resLeft === 0) this.#finish();
        return;
      }
    } else if (framing.kind === "chunked") this.#resScanner = new ChunkedScanner();
    this.#sendHead(scan, tokens, connection);
    if (framing.kind === "none") {
      if (restLength > 0) this.#backendReusable = false;
      return this.#finish();
    }
    if (restLength > 0) this.#forwardBody(buf, restStart);
  }

  /** Send the client the final response head, with body[start, end) joined to it when given. */
  #sendHead(
    scan: HeadScan,
    tokens: ConnectionTokens,
    connection: "close" | "keep-alive" | null,
    body?: Uint8Array,
    start = 0,
    end = 0,
  ): void {
    this.conn.socket.write(
      downstreamHeadBytes(
        scan,
        tokens,
        connection,
        null,
        this.#dechunk,
        body,
        start,
        end,
        this.conn.replyHead,
      ),
    );
  }

  /** Forward response body bytes chunk[from..]. */
  #forwardBody(chunk: Uint8Array, from: number): void {
    const kind = this.#resKind;
    let out = from === 0 ? chunk : chunk.subarray(from);
    let done = false;
    if (kind === "length") {
      if (out.length >= this.#resLeft) {
        if (out.length > this.#resLeft) {
          this.#backendReusable = false;
          out = out.subarray(0, this.#resLeft);
        }
        this.#resLeft = 0;
        done = true;
      } else this.#resLeft -= out.length;
    } else if (kind === "chunked") {
      const client = this.conn.socket;
      const data = out;
      const r = this.#dechunk
        ? this.#resScanner!.scan(data, 0, data.length, (s, e) => {
          if (e > s) client.write(data.subarray(s, e));
        })
        : this.#resScanner!.scan(data, 0, data.length);
      if (this.#dechunk) out = EMPTY;
      if (r.error !== undefined) {
        this.#finished = true;
        this.#closeBackend();
        return this.conn.close();
      }
      if (r.done) {
        done = true;
        if (r.consumed < data.length) this.#backendReusable = false;
        if (!this.#dechunk) out = data.subarray(0, r.consumed);
      }
    }
    if (out.length > 0 && !this.conn.socket.write(out)) this.link?.socket?.pause();
    if (done) this.#finish();
  }

  onClientDrain(): void {
    this.link?.socket?.resume();
  }

  #upgraded(scan: HeadScan, tokens: ConnectionTokens, rest: Uint8Array): void {
    this.#finished = true;
    this.#disarm();
    const link = this.link!;
    const backend = link.socket!;
    this.link = null;
    this.conn.socket.write(downstreamHeadBytes(scan, tokens, "upgrade", this.#upgrade));
    // The tunnel outlives the exchange, which holds none of it: not the response's bytes, and not
    // through the link (the backend socket's, for as long as the tunnel runs).
    link.serve(null);
    this.#letGo();
    this.conn.tunnel(backend, rest);
  }

  #badResponse(reason: string): void {
    this.#lastError = `invalid response: ${reason}`;
    this.#finished = true;
    this.#disarm();
    this.#closeBackend();
    if (this.#status !== 0) return this.conn.close();
    this.#fail(
      {
        kind: "UpstreamFailed",
        service: this.route.service,
        attempts: this.#plan.attempts || 1,
        reason: this.#lastError,
      },
      true,
    );
  }

  onBackendEnd(): void {
    if (this.#finished) return;
    if (this.#status !== 0 && this.#resKind === "close") {
      this.#backendReusable = false;
      return this.#finish();
    }
    this.onBackendGone(new Error("backend closed the connection"));
  }

  /** The backend connection ended before the response did. */
  onBackendGone(error?: Error): void {
    if (this.#finished) return;
    const socket = this.link?.socket;
    this.link = null;
    socket?.close();
    if (this.#status !== 0) {
      if (this.#resKind === "close") return this.#finish();
      // Truncated response: the client must not mistake it for a whole one.
      this.#finished = true;
      return this.conn.close();
    }
    const replayable = !this.#gotResponseByte && IDEMPOTENT.has(this.method) &&
      this.#bodyDone && this.#replayable;
    const reason = error?.message ?? "connection closed";
    this.#lastError = `${this.#replica!.host}:${this.#replica!.port}: ${reason}`;
    this.#disarm();
    if (this.#reused && !this.#staleRetried && replayable) {
      // A pooled connection the backend had already closed: same replica, fresh connection.
      this.#staleRetried = true;
      return this.#connectTo(this.#replica!, false);
    }
    if (replayable) return this.#connectNext();
    this.#upstreamFailed();
  }

  // --- completion ----------------------------------------------------------------

  #finish(): void {
    if (this.#finished) return;
    this.#finished = true;
    if (this.ctx.accessLog !== null) {
      const r = this.#replica;
      this.conn.logRequest(
        this.method,
        this.target,
        this.#status,
        this.route.service,
        r ? `${r.host}:${r.port}` : "-",
      );
    }
    const link = this.link;
    this.link = null;
    const socket = link?.socket;
    if (socket) {
      if (this.#backendReusable && this.#bodyDone && !socket.closed) {
        link!.serve(null);
        this.ctx.pool.release(replicaKey(this.#replica!), socket, this.ctx.clock.now);
      } else socket.close();
    }
    this.#letGo();
    this.conn.exchangeDone(this.#closeClient);
  }

  #closeBackend(): void {
    const socket = this.link?.socket;
    this.link = null;
    socket?.close();
  }

  /** The client went away: drop the backend connection, it is mid-exchange. */
  abort(): void {
    if (this.#finished) return;
    this.#finished = true;
    this.#closeBackend();
  }

  /** Whether anything was sent to a backend yet (for diagnostics). */
  get sentAny(): boolean {
    return this.#sentAny;
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}
