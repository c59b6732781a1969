/**
 * A hedge: a second try of a request, on another replica, while the first
 * still waits for its answer. It is started when the first try has waited
 * far longer than the service's quickest replica takes to answer while the
 * service answers other requests (replicas/book.ts decides when), and only
 * for a request that can be sent twice (idempotent, its whole body kept).
 * It sends the request as it is, and waits for the first byte of an answer:
 * the first try to answer wins, and the other is closed. Until it answers
 * the hedge is the upstream's alone; the exchange hears nothing of it.
 *
 * @module
 */

import type { Replica } from "../registry/types.ts";
import { replicaAddress } from "../registry/types.ts";
import type { ConnectOptions, Socket } from "../runtime/types.ts";
import { messageOf } from "../error_message.ts";
import type { ProxyContext } from "./context.ts";
import { BackendLink, type BackendListener } from "./backend_link.ts";
import type { ReplicaState, StallListener } from "../replicas/state.ts";

/** What a hedge tells the upstream it belongs to. */
export interface HedgeOwner {
  /** Write the request (head and kept body) to `socket`. */
  resend(socket: Socket): void;
  /** The hedge's replica answered first: `chunk` is the first of its answer. */
  hedgeAnswered(hedge: Hedge, chunk: Uint8Array): void;
  /** The hedge failed before answering (`reason` says how). */
  hedgeFailed(hedge: Hedge, reason: string): void;
}

/**
 * One hedged try: its connection, and its replica's state while it is out.
 *
 * @example
 * ```ts
 * import { Hedge, type HedgeOwner } from "./hedge.ts";
 * import type { ProxyContext } from "./context.ts";
 * import type { ReplicaState } from "../replicas/state.ts";
 * declare const owner: HedgeOwner, ctx: ProxyContext, state: ReplicaState;
 * const hedge = new Hedge(owner, ctx, { host: "10.0.0.8", port: 8081 }, state);
 * hedge.start(); // owner.hedgeAnswered(...) or owner.hedgeFailed(...) later
 * ```
 */
export class Hedge implements BackendListener, StallListener {
  readonly #owner: HedgeOwner;
  readonly #ctx: ProxyContext;
  readonly replica: Replica;
  readonly state: ReplicaState;
  /** The hedge's connection; null once it is over (answered, failed or cancelled). */
  link: BackendLink | null = null;
  /** Its connection came from the pool. */
  reused = false;
  /** When it began (the precise clock). */
  readonly startedAt: number;
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** Its pooled connection turned out closed, and a fresh one was made. */
  #staleRetried = false;

  /** How its connection is made, and how long it may wait for an answer (its request's). */
  readonly #connectOptions: ConnectOptions;
  readonly #timeoutMs: number;

  constructor(
    owner: HedgeOwner,
    ctx: ProxyContext,
    replica: Replica,
    state: ReplicaState,
    connect: ConnectOptions = ctx.upstreamConnect,
    timeoutMs: number = ctx.stallLimits.upstreamTimeoutMs,
  ) {
    this.#connectOptions = connect;
    this.#timeoutMs = timeoutMs;
    this.#owner = owner;
    this.#ctx = ctx;
    this.replica = replica;
    this.state = state;
    this.startedAt = ctx.replicas.now;
  }

  /** Connect (a pooled connection first) and send the request. */
  start(): void {
    const ctx = this.#ctx;
    ctx.replicas.tryStarted(this.state, this, this.startedAt);
    // The hedge answers within the upstream timeout (when there is one), as any try must.
    const timeoutMs = this.#timeoutMs;
    if (timeoutMs > 0) {
      this.#timer = setTimeout(() => this.#fail("did not answer in time"), timeoutMs);
    }
    const pooled = ctx.pool.acquire(replicaAddress(this.replica), ctx.clock.now);
    if (pooled !== undefined) {
      this.link = BackendLink.ofPooled(pooled, this);
      this.reused = true;
      pooled.setHandler(this.link);
      return this.#owner.resend(pooled);
    }
    this.#connect();
  }

  /** A new connection to the replica, and the request sent on it. */
  #connect(): void {
    const ctx = this.#ctx;
    const link = this.link = new BackendLink(this);
    const at = ctx.meter === null ? 0 : performance.now();
    ctx.runtime.connect(this.replica.host, this.replica.port, link, this.#connectOptions).then(
      (socket) => {
        if (this.link !== link) return socket.close();
        link.attach(socket);
        ctx.meter?.connected(this.state.service, performance.now() - at, socket);
        this.#owner.resend(socket);
      },
      (e) => this.link === link && this.#fail(messageOf(e)),
    );
  }

  /** The hedge is over without answering first: its connection closes. */
  cancel(): void {
    const socket = this.link?.socket;
    this.#over();
    socket?.close();
  }

  /** The hedge's link, handed to the upstream: the hedge is over, its connection lives on. */
  handOver(): BackendLink {
    const link = this.link!;
    this.#over();
    return link;
  }

  #over(): void {
    this.link = null;
    clearTimeout(this.#timer);
    this.#ctx.replicas.tryEnded(this.state, this);
  }

  /** The hedge failed; `closed`: its connection ended (perhaps a stale pooled one). */
  #fail(reason: string, closed = false): void {
    if (this.link === null) return;
    if (closed && this.reused && !this.#staleRetried) {
      // A pooled connection the backend had closed while idle: no fault of the replica's.
      this.#staleRetried = true;
      this.reused = false;
      const stale = this.link.socket;
      this.link = null;
      stale?.close();
      return this.#connect();
    }
    this.cancel();
    this.#owner.hedgeFailed(this, reason);
  }

  onBackendData(chunk: Uint8Array): void {
    if (this.link !== null) this.#owner.hedgeAnswered(this, chunk);
  }

  onBackendDrain(): void {}

  onBackendEnd(): void {
    this.#fail("backend closed the connection", true);
  }

  onBackendGone(error?: Error): void {
    this.#fail(error?.message ?? "connection closed", true);
  }

  replicaStalled(): void {
    this.#fail("stalled");
  }

  slowCheck(): void {
    // A hedge is not hedged again.
  }
}
