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
import { requestFraming, responseFraming } from "./http1/framing.ts";
import type { RequestHead, ResponseHead } from "./http1/head.ts";
import { parseRequestHead, parseResponseHead } from "./http1/head.ts";
import { ChunkedScanner } from "./http1/chunked.ts";
import { encodeHead } from "./http1/serialize.ts";
import { parseTarget } from "./path.ts";
import type { Route, RouteTable } from "./router.ts";
import type { Registry, Replica } from "./registry/types.ts";
import type { Runtime, Socket, SocketHandler } from "./runtime/types.ts";
import { FailoverPlan } from "./failover.ts";
import { ConnectionPool, replicaKey } from "./pool.ts";
import { connectionTokens, downstreamResponseHead, upstreamRequestHead } from "./forwarded.ts";
import type { CidrList } from "./cidr.ts";
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
  maxHeaderSize: number;
  headerTimeoutMs: number;
  keepaliveTimeoutMs: number;
  connectTimeoutMs: number;
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
/** Stop reading from the client when this much is buffered and unconsumed. */
const MAX_BUFFERED = 256 * 1024;
/** Request bodies up to this size are kept for a retry on another replica. */
const MAX_REPLAY = 64 * 1024;
const MAX_RESPONSE_HEAD = 64 * 1024;
const IDEMPOTENT = new Set(["GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"]);

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
  /** The client half-closed or asked for close: no request after the current one. */
  closeAfter = false;
  readonly #onGone: (c: ClientConnection) => void;
  #waitingForFirstByte = true;
  #gone = false;

  constructor(socket: Socket, ctx: ProxyContext, onGone: (c: ClientConnection) => void) {
    this.socket = socket;
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
    if (this.state !== Wait.Head) return;
    if (this.buffered === 0) this.close(); // idle keep-alive connection: just close
    else this.fail({ kind: "HeadTimeout" }, true);
  }

  // --- request parsing -----------------------------------------------------

  /** Parse and start the next request, if its head is complete. */
  nextRequest(): void {
    if (this.state !== Wait.Head) return;
    if (this.buffered === 0) {
      if (this.closeAfter || this.ctx.draining) return this.close();
      this.#waitingForFirstByte = true;
      this.deadline = this.ctx.clock.now + this.ctx.keepaliveTimeoutMs;
      this.socket.resume();
      return;
    }
    const r = parseRequestHead(this.buf, this.off, this.buf.length, {
      maxSize: this.ctx.maxHeaderSize,
    });
    if (r.kind === "incomplete") return;
    if (r.kind === "error") {
      return this.fail(
        r.status === 431 ? { kind: "HeadTooLarge" } : { kind: "BadRequest", reason: r.reason },
        true,
      );
    }
    this.off += r.size;
    this.deadline = 0;
    this.#startExchange(r.head);
  }

  #startExchange(head: RequestHead): void {
    const framing = requestFraming(head);
    if (framing.kind === "error") return this.fail({ kind: "BadRequest", reason: framing.reason });
    const target = parseTarget(head.target);
    if (target === null) return this.fail({ kind: "BadRequest", reason: "invalid request target" });
    if (head.method === "CONNECT") {
      return this.fail({ kind: "BadRequest", reason: "CONNECT is not supported" });
    }
    let host = "";
    let hosts = 0;
    let upgrade: string | null = null;
    for (const f of head.fields) {
      if (f.name === "host") {
        host = f.value;
        hosts++;
      } else if (f.name === "upgrade") upgrade = f.value;
    }
    if (hosts > 1) return this.fail({ kind: "BadRequest", reason: "more than one Host header" });
    if (hosts === 0 && head.minor === 1) {
      return this.fail({ kind: "BadRequest", reason: "missing Host header" });
    }
    if (target.authority !== "") host = target.authority;
    const tokens = connectionTokens(head.fields);
    if (tokens?.has("close") || (head.minor === 0 && !tokens?.has("keep-alive"))) {
      this.closeAfter = true;
    }
    if (upgrade !== null && !tokens?.has("upgrade")) upgrade = null;
    const route = this.ctx.routes.match(host, target.path === "*" ? "/" : target.path);
    const bodyless = framing.kind === "none";
    if (route === undefined) {
      return this.fail({ kind: "NoRoute", host, path: target.path }, !bodyless, head.method);
    }
    const forwardTarget = target.path === "*" ? "*" : target.path + target.query;
    this.state = Wait.Exchange;
    this.exchange = new Exchange(
      this,
      head,
      framing,
      route,
      host,
      forwardTarget,
      upgrade,
    );
    this.exchange.start();
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

/** Backend socket events, tagged with the attempt they belong to. */
class BackendLink implements SocketHandler {
  readonly #ex: Exchange;
  readonly attempt: number;
  socket: Socket | null = null;
  constructor(ex: Exchange, attempt: number) {
    this.#ex = ex;
    this.attempt = attempt;
  }
  onData(chunk: Uint8Array): void {
    if (this.#ex.link === this) this.#ex.onBackendData(chunk);
  }
  onDrain(): void {
    if (this.#ex.link === this) this.#ex.onBackendDrain();
  }
  onEnd(): void {
    if (this.#ex.link === this) this.#ex.onBackendEnd();
  }
  onClose(error?: Error): void {
    if (this.#ex.link === this) this.#ex.onBackendGone(error);
  }
}

/** One request and its response. */
class Exchange implements Expiring {
  readonly conn: ClientConnection;
  readonly ctx: ProxyContext;
  readonly head: RequestHead;
  readonly route: Route;
  readonly #framing: Framing;
  readonly #host: string;
  readonly #target: string;
  readonly #upgrade: string | null;
  deadline = 0;

  // Backend side.
  link: BackendLink | null = null;
  #plan: FailoverPlan | null = null;
  #replica: Replica | null = null;
  #reused = false;
  #staleRetried = false;
  #attempt = 0;
  #lastError = "";
  #upstreamHead: Uint8Array | null = null;

  // Request body.
  #bodyLeft = 0;
  #scanner: ChunkedScanner | null = null;
  #bodyDone: boolean;
  #replay: Uint8Array[] | null = [];
  #replayBytes = 0;
  #sentAny = false;

  // Response.
  #resBuf: Uint8Array = EMPTY;
  #gotResponseByte = false;
  #res: ResponseHead | null = null;
  #resFraming: Framing | null = null;
  #resLeft = 0;
  #resScanner: ChunkedScanner | null = null;
  #closeClient = false;
  /** HTTP/1.0 client, chunked response: send the data only, delimited by close. */
  #dechunk = false;
  #backendReusable = false;
  #finished = false;

  constructor(
    conn: ClientConnection,
    head: RequestHead,
    framing: Framing,
    route: Route,
    host: string,
    target: string,
    upgrade: string | null,
  ) {
    this.conn = conn;
    this.ctx = conn.ctx;
    this.head = head;
    this.route = route;
    this.#framing = framing;
    this.#host = host;
    this.#target = target;
    this.#upgrade = upgrade;
    this.#bodyDone = framing.kind === "none";
    if (framing.kind === "length") this.#bodyLeft = framing.length;
    else if (framing.kind === "chunked") this.#scanner = new ChunkedScanner();
  }

  #fail(error: ProxyError, close: boolean, _method?: string): void {
    this.conn.fail(error, close, this.head.method, this.head.target);
  }

  // --- resolve ---------------------------------------------------------------

  start(): void {
    let replicas: Replica[] | Promise<Replica[]>;
    try {
      replicas = this.ctx.registry.resolve(this.route.service);
    } catch (e) {
      return this.#registryFailed(e);
    }
    if (Array.isArray(replicas)) this.#resolved(replicas);
    else replicas.then((r) => this.#resolved(r), (e) => this.#registryFailed(e));
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

  #resolved(replicas: Replica[]): void {
    if (this.#finished) return;
    if (replicas.length === 0) {
      this.#finished = true;
      return this.#fail(
        { kind: "NoReplicas", service: this.route.service },
        !this.#bodyDone,
        this.head.method,
      );
    }
    this.#plan = new FailoverPlan(replicas, this.ctx.retries);
    this.#connectNext();
  }

  // --- connect / failover ----------------------------------------------------

  #connectNext(): void {
    const replica = this.#plan!.next();
    if (replica === undefined) return this.#upstreamFailed();
    this.#connectTo(replica, true);
  }

  #connectTo(replica: Replica, usePool: boolean): void {
    this.#replica = replica;
    const link = new BackendLink(this, ++this.#attempt);
    this.link = link;
    const pooled = usePool
      ? this.ctx.pool.acquire(replicaKey(replica), this.ctx.clock.now)
      : undefined;
    if (pooled !== undefined) {
      this.#reused = true;
      link.socket = pooled;
      pooled.setHandler(link);
      pooled.resume();
      return this.#send();
    }
    this.#reused = false;
    this.ctx.runtime.connect(replica.host, replica.port, link, this.ctx.connectTimeoutMs).then(
      (socket) => {
        if (this.link !== link || this.#finished) return socket.close();
        link.socket = socket;
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
    this.deadline = 0;
    this.ctx.clock.delete(this);
    this.#fail(
      {
        kind: "UpstreamFailed",
        service: this.route.service,
        attempts: this.#plan?.attempts ?? 0,
        reason: this.#lastError || "connection failed",
      },
      !this.#bodyDone,
      this.head.method,
    );
  }

  // --- forward the request ---------------------------------------------------

  #send(): void {
    const socket = this.link!.socket!;
    this.#upstreamHead ??= encodeHead(
      upstreamRequestHead(
        this.head.method,
        this.#target,
        this.head.fields,
        this.#host,
        {
          peer: this.conn.socket.remoteAddress,
          proto: this.ctx.proto,
          trusted: this.ctx.trustedProxies.contains(this.conn.socket.remoteAddress),
        },
        this.#upgrade,
      ),
      this.head.highBytes,
    );
    socket.write(this.#upstreamHead);
    this.#sentAny = true;
    // A retry replays the body bytes already sent.
    if (this.#replay !== null) {
      for (const chunk of this.#replay) socket.write(chunk);
    }
    this.#pumpBody();
    if (this.#bodyDone) this.#armUpstreamTimeout();
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
    if (this.#replay !== null) {
      this.#replayBytes += n;
      if (this.#replayBytes > MAX_REPLAY) this.#replay = null;
      else this.#replay.push(chunk);
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
    if (this.#res !== null || this.ctx.upstreamTimeoutMs <= 0) return;
    this.deadline = this.ctx.clock.now + this.ctx.upstreamTimeoutMs;
    this.ctx.clock.add(this);
  }

  expire(): void {
    if (this.#finished || this.#res !== null) return;
    this.#finished = true;
    this.ctx.clock.delete(this);
    this.#closeBackend();
    this.#fail(
      { kind: "UpstreamTimeout", service: this.route.service },
      true,
      this.head.method,
    );
  }

  // --- the response ------------------------------------------------------------

  onBackendData(chunk: Uint8Array): void {
    if (this.#finished) return;
    this.#gotResponseByte = true;
    if (this.#res === null || this.#res.status < 200) {
      this.#resBuf = this.#resBuf.length === 0 ? chunk : concat(this.#resBuf, chunk);
      this.#parseResponse();
    } else {
      this.#forwardBody(chunk);
    }
  }

  #parseResponse(): void {
    while (true) {
      const r = parseResponseHead(this.#resBuf, 0, this.#resBuf.length, {
        maxSize: MAX_RESPONSE_HEAD,
      });
      if (r.kind === "incomplete") {
        if (this.#resBuf.length >= MAX_RESPONSE_HEAD) return this.#badResponse("head too large");
        return;
      }
      if (r.kind === "error") return this.#badResponse(r.reason);
      const res = r.head;
      const rest = this.#resBuf.subarray(r.size);
      this.#resBuf = EMPTY;
      if (res.status === 101) {
        if (this.#upgrade === null) return this.#badResponse("101 without an upgrade request");
        return this.#upgraded(res, rest);
      }
      if (res.status < 200) {
        // Interim responses (100 Continue, 103 Early Hints) go to HTTP/1.1 clients as they come.
        if (this.head.minor === 1) {
          this.conn.socket.write(
            encodeHead(downstreamResponseHead(res, null, null), res.highBytes),
          );
        }
        this.#resBuf = rest;
        if (rest.length === 0) return;
        continue;
      }
      return this.#responseHead(res, rest);
    }
  }

  #responseHead(res: ResponseHead, rest: Uint8Array): void {
    const framing = responseFraming(this.head.method, res);
    if (framing.kind === "error") return this.#badResponse(framing.reason);
    this.#res = res;
    this.#resFraming = framing;
    this.deadline = 0;
    this.ctx.clock.delete(this);
    const backendClose = res.minor === 0 || connectionTokens(res.fields)?.has("close") === true;
    this.#backendReusable = !backendClose && framing.kind !== "close";
    // A client that cannot see where the body ends must see the connection end.
    this.#closeClient = this.conn.closeAfter || this.ctx.draining || framing.kind === "close" ||
      (framing.kind === "chunked" && this.head.minor === 0) || !this.#bodyDone;
    const connection = this.#closeClient ? "close" : this.head.minor === 0 ? "keep-alive" : null;
    if (framing.kind === "length") this.#resLeft = framing.length;
    else if (framing.kind === "chunked") this.#resScanner = new ChunkedScanner();
    this.#dechunk = framing.kind === "chunked" && this.head.minor === 0;
    this.conn.socket.write(
      encodeHead(downstreamResponseHead(res, connection, null, this.#dechunk), res.highBytes),
    );
    if (framing.kind === "none") {
      if (rest.length > 0) this.#backendReusable = false;
      return this.#finish();
    }
    if (rest.length > 0) this.#forwardBody(rest);
  }

  #forwardBody(chunk: Uint8Array): void {
    const framing = this.#resFraming!;
    let out = chunk;
    let done = false;
    if (framing.kind === "length") {
      if (chunk.length >= this.#resLeft) {
        if (chunk.length > this.#resLeft) this.#backendReusable = false;
        out = chunk.subarray(0, this.#resLeft);
        this.#resLeft = 0;
        done = true;
      } else this.#resLeft -= chunk.length;
    } else if (framing.kind === "chunked") {
      const client = this.conn.socket;
      const r = this.#dechunk
        ? this.#resScanner!.scan(chunk, 0, chunk.length, (s, e) => {
          if (e > s) client.write(chunk.subarray(s, e));
        })
        : this.#resScanner!.scan(chunk, 0, chunk.length);
      if (this.#dechunk) out = EMPTY;
      if (r.error !== undefined) {
        this.#finished = true;
        this.#closeBackend();
        return this.conn.close();
      }
      if (r.done) {
        done = true;
        if (r.consumed < chunk.length) this.#backendReusable = false;
        if (!this.#dechunk) out = chunk.subarray(0, r.consumed);
      }
    }
    if (out.length > 0 && !this.conn.socket.write(out)) this.link?.socket?.pause();
    if (done) this.#finish();
  }

  onClientDrain(): void {
    this.link?.socket?.resume();
  }

  #upgraded(res: ResponseHead, rest: Uint8Array): void {
    this.#finished = true;
    this.deadline = 0;
    this.ctx.clock.delete(this);
    const backend = this.link!.socket!;
    this.link = null;
    this.conn.socket.write(
      encodeHead(downstreamResponseHead(res, "upgrade", this.#upgrade), res.highBytes),
    );
    this.conn.tunnel(backend, rest);
  }

  #badResponse(reason: string): void {
    this.#lastError = `invalid response: ${reason}`;
    this.#finished = true;
    this.deadline = 0;
    this.ctx.clock.delete(this);
    this.#closeBackend();
    if (this.#res !== null) return this.conn.close();
    this.#fail(
      {
        kind: "UpstreamFailed",
        service: this.route.service,
        attempts: this.#plan?.attempts ?? 1,
        reason: this.#lastError,
      },
      true,
      this.head.method,
    );
  }

  onBackendEnd(): void {
    if (this.#finished) return;
    if (this.#res !== null && this.#resFraming!.kind === "close") {
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
    if (this.#res !== null) {
      if (this.#resFraming!.kind === "close") return this.#finish();
      // Truncated response: the client must not mistake it for a whole one.
      this.#finished = true;
      return this.conn.close();
    }
    const replayable = !this.#gotResponseByte && IDEMPOTENT.has(this.head.method) &&
      (this.#bodyDone && this.#replay !== null);
    const reason = error?.message ?? "connection closed";
    this.#lastError = `${this.#replica!.host}:${this.#replica!.port}: ${reason}`;
    this.deadline = 0;
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
        this.head.method,
        this.head.target,
        this.#res?.status ?? 0,
        this.route.service,
        r ? `${r.host}:${r.port}` : "-",
      );
    }
    const socket = this.link?.socket;
    this.link = null;
    if (socket) {
      if (this.#backendReusable && this.#bodyDone && !socket.closed) {
        this.ctx.pool.release(replicaKey(this.#replica!), socket, this.ctx.clock.now);
      } else socket.close();
    }
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
    this.deadline = 0;
    this.ctx.clock.delete(this);
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
