/**
 * The Tower's UDP server: one datagram in, at most one reply out. The
 * datagram-to-reply path ({@link respond}) is pure over a {@link TowerState},
 * so it is tested without a socket; {@link startTowerServer} binds it to one.
 *
 * @module
 */

import type { Runtime, UdpSocket } from "../runtime/types.ts";
import { TowerGuard, type TowerRateLimit } from "./guard.ts";
import { errorReply } from "./errors.ts";
import { formatReply, MAX_DATAGRAM_BYTES, type TowerReply, type TowerRequest } from "./protocol.ts";
import { isSignedKind, readRequest } from "./signing.ts";
import { TowerState } from "./state.ts";
import { TowerTally } from "./tally.ts";
import { formatHostPort } from "../net/address.ts";

const decoder = new TextDecoder();
const encoder = new TextEncoder();

/**
 * Apply one request to the state and return the reply. `sender` (the
 * datagram's `ip:port`) declares a ROUTE or UNROUTE; default "local".
 *
 * @example
 * ```ts
 * import { handleRequest } from "./server.ts";
 * import { TowerState } from "./state.ts";
 * const state = new TowerState();
 * handleRequest(state, { kind: "PING" }); // { kind: "PONG" }
 * handleRequest(state, { kind: "LOOKUP", name: "web" });
 * // { kind: "ERR", reason: "NOT_FOUND", name: "web" }
 * state.close();
 * ```
 */
export function handleRequest(
  state: TowerState,
  request: TowerRequest,
  sender = "local",
): TowerReply {
  switch (request.kind) {
    case "REGISTER":
      state.register(request.name, request.host, request.port, request.weight);
      return { kind: "REGISTERED", name: request.name };
    case "DEREGISTER":
      return state.deregister(request.name, request.host, request.port)
        ? { kind: "DEREGISTERED", name: request.name }
        : errorReply("NOT_FOUND", request.name);
    case "LOOKUP": {
      const replica = state.lookup(request.name);
      return replica === undefined
        ? errorReply("NOT_FOUND", request.name)
        : { kind: "LOOKUP", name: request.name, replica };
    }
    case "LOOKUPALL": {
      const replicas = state.replicas(request.name);
      return replicas.length === 0
        ? errorReply("NOT_FOUND", request.name)
        : { kind: "LOOKUPALL", name: request.name, replicas };
    }
    case "LIST":
      return { kind: "LIST", entries: state.list() };
    case "PING":
      return { kind: "PONG" };
    case "ROUTE":
      state.routes.declare(request.name, request.route, request.rules, sender);
      return { kind: "ROUTED", name: request.name };
    case "UNROUTE":
      return state.routes.withdraw(request.name, request.route, sender)
        ? { kind: "UNROUTED", name: request.name }
        : errorReply("NOT_FOUND", request.name);
    case "ROUTES":
      return state.routes.page(request.page);
  }
}

/**
 * Options for {@link respond}.
 *
 * @example
 * ```ts
 * import type { RespondOptions } from "./server.ts";
 * const stranger: RespondOptions = { mayChange: false, senderIp: "192.0.2.1" };
 * ```
 */
export interface RespondOptions {
  /** False answers REGISTER, DEREGISTER, ROUTE and UNROUTE with `ERR|FORBIDDEN|<name>`. Default true. */
  mayChange?: boolean;
  /** Rate limit, signature and caps for REGISTER, DEREGISTER, ROUTE and UNROUTE. Default: none. */
  guard?: TowerGuard;
  /** The sender's IP address, for the guard's per-sender rate limit. */
  senderIp?: string;
  /** The sender's UDP port: with `senderIp`, who declares a ROUTE. */
  senderPort?: number;
  /**
   * True takes ROUTE, UNROUTE and ROUTES (declared routes); otherwise they
   * get `ERR|ROUTES_DISABLED|<name>` (`ERR|ROUTES_DISABLED` for ROUTES) and
   * change nothing. Default false.
   */
  routes?: boolean;
  /** Counts the changes accepted and refused (for metrics). Default: none. */
  tally?: TowerTally;
}

/**
 * One datagram in, the reply line out: what the UDP server does, without the
 * socket. Undefined means "send nothing" (oversized datagram).
 *
 * Checks run in this order, and the first refusal is the reply: size, parse,
 * `routes` for ROUTE, UNROUTE and ROUTES (`ERR|ROUTES_DISABLED`), `mayChange`
 * (`ERR|FORBIDDEN|<name>`), then the `guard`'s rate limit, signature and
 * caps (see {@link TowerGuard}). Only REGISTER, DEREGISTER, ROUTE and
 * UNROUTE meet the last four. Never throws unless the state does.
 *
 * @example
 * ```ts
 * import { respond } from "./server.ts";
 * import { TowerState } from "./state.ts";
 * const state = new TowerState();
 * respond(state, "REGISTER|web|10.0.0.7|8080\n"); // "OK|REGISTERED|web"
 * respond(state, "LOOKUP|web");                   // "OK|LOOKUP|web|10.0.0.7|8080"
 * respond(state, "REGISTER|web|10.0.0.9|80", { mayChange: false }); // "ERR|FORBIDDEN|web"
 * state.close();
 * ```
 */
export function respond(
  state: TowerState,
  datagram: Uint8Array | string,
  options?: RespondOptions,
): string | undefined {
  const bytes = typeof datagram === "string" ? encoder.encode(datagram) : datagram;
  if (bytes.byteLength > MAX_DATAGRAM_BYTES) return undefined;
  // Non-ASCII bytes decode to characters no validator accepts, so they end as ERR.
  const { request, signature } = readRequest(decoder.decode(bytes));
  const tally = options?.tally;
  if (request.kind === "ERR") {
    tally?.refuse(request, false);
    return formatReply(request);
  }
  const ip = options?.senderIp;
  const sender = ip === undefined ? "local" : formatHostPort(ip, options?.senderPort ?? 0);
  if (request.kind === "ROUTES" || request.kind === "ROUTE" || request.kind === "UNROUTE") {
    if (options?.routes !== true) {
      if (request.kind === "ROUTES") return formatReply(errorReply("ROUTES_DISABLED"));
      const refusal = errorReply("ROUTES_DISABLED", request.name);
      tally?.refuse(refusal, false);
      return formatReply(refusal);
    }
  }
  if (isSignedKind(request.kind)) {
    const { name } = request as { name: string };
    if (options?.mayChange === false) {
      const forbidden = errorReply("FORBIDDEN", name);
      tally?.refuse(forbidden, false);
      return formatReply(forbidden);
    }
    const refusal = options?.guard?.admit(
      state,
      request,
      signature,
      options.senderIp ?? "",
      sender,
    );
    if (refusal !== undefined) {
      tally?.refuse(refusal, signature !== undefined);
      return formatReply(refusal);
    }
    const reply = handleRequest(state, request, sender);
    if (reply.kind !== "ERR") tally?.accept(request.kind);
    return formatReply(reply);
  }
  return formatReply(handleRequest(state, request, sender));
}

/**
 * The runtime's UDP bind function (`Runtime.bindUdp`, or `bindUdp` from runtime/udp.ts).
 *
 * @example
 * ```ts
 * import type { BindUdp } from "./server.ts";
 * import { bindUdp } from "../runtime/udp.ts";
 * const bind: BindUdp = bindUdp;
 * ```
 */
export type BindUdp = Runtime["bindUdp"];

/**
 * Options for {@link startTowerServer}.
 *
 * @example
 * ```ts
 * import type { TowerServerOptions } from "./server.ts";
 * import { bindUdp } from "../runtime/udp.ts";
 * const options: TowerServerOptions = { hostname: "127.0.0.1", port: 0, bindUdp, maxEntries: 100 };
 * ```
 */
export interface TowerServerOptions {
  /** Address to bind, e.g. "0.0.0.0", "127.0.0.1" or "::". */
  hostname: string;
  /** UDP port; 0 picks a free one. */
  port: number;
  /** Share a state with an in-process registry; one is created (and owned) otherwise. */
  state?: TowerState;
  /** How to bind a UDP socket (from the runtime layer). */
  bindUdp: BindUdp;
  /**
   * Clock in milliseconds for a created state (a `state` passed in keeps its
   * own) and for signature timestamps and rate limiting. Default `Date.now`.
   */
  now?: () => number;
  /**
   * Which senders may REGISTER and DEREGISTER, by source IP (e.g.
   * `(ip) => allowlist.contains(ip)`); others get `ERR|FORBIDDEN|<name>`. Lookups
   * stay open to all. Default: anyone.
   */
  mayRegister?: (senderIp: string) => boolean;
  /**
   * Shared secret: REGISTER and DEREGISTER must then be signed
   * ({@link signTowerRequest}, docs/tower-signing.md); unsigned or wrongly
   * signed ones get `ERR|UNAUTHORIZED|<name>`, stale ones `ERR|STALE|<name>`,
   * replayed ones `ERR|REPLAY|<name>`. Must not be empty. Default: none.
   */
  secret?: string;
  /**
   * Token bucket per sender IP for REGISTER and DEREGISTER; over it:
   * `ERR|RATE_LIMITED|<name>`. Default: no limit.
   */
  rateLimit?: TowerRateLimit;
  /**
   * Most entries REGISTERs may create (refreshes always work); beyond it:
   * `ERR|registry full`. 0 means no cap. Default {@link DEFAULT_MAX_ENTRIES}.
   */
  maxEntries?: number;
  /**
   * Take route declarations (ROUTE, UNROUTE, ROUTES; docs/tower-routes.md).
   * Default false: they get `ERR|ROUTES_DISABLED`.
   */
  routes?: boolean;
  /**
   * Most route declarations ROUTEs may create (refreshes always work);
   * beyond it: `ERR|ROUTES_FULL|<name>`. 0 means no cap. Default
   * {@link DEFAULT_MAX_ROUTES}.
   */
  maxRoutes?: number;
}

/**
 * A running Tower server.
 *
 * @example
 * ```ts
 * import { startTowerServer, type TowerServer } from "./server.ts";
 * import { bindUdp } from "../runtime/udp.ts";
 * const tower: TowerServer = await startTowerServer({ hostname: "127.0.0.1", port: 0, bindUdp });
 * tower.state.size; // 0
 * tower.close();
 * ```
 */
export interface TowerServer {
  /** The bound port. */
  readonly port: number;
  /** The bound address. */
  readonly hostname: string;
  /** The state it serves. */
  readonly state: TowerState;
  /** The changes it accepted and refused. */
  readonly tally: TowerTally;
  /** Close the socket (and the state, if the server created it). Idempotent. */
  close(): void;
}

/**
 * Serve the Tower protocol on a UDP socket. Logs nothing; the caller prints
 * its own ready line. Rejects when the port cannot be bound, and with a
 * TypeError (before binding) for an invalid `secret`, `rateLimit` or
 * `maxEntries`.
 *
 * @example
 * ```ts
 * import { startTowerServer } from "./server.ts";
 * import { bindUdp } from "../runtime/udp.ts";
 * const tower = await startTowerServer({ hostname: "0.0.0.0", port: 7772, bindUdp });
 * console.log(`tower listening on udp ${tower.hostname}:${tower.port}`);
 * tower.close();
 * ```
 */
export async function startTowerServer(options: TowerServerOptions): Promise<TowerServer> {
  const { mayRegister } = options;
  const guard = new TowerGuard({
    secret: options.secret,
    rateLimit: options.rateLimit,
    maxEntries: options.maxEntries,
    maxRoutes: options.maxRoutes,
    now: options.now,
  });
  const routes = options.routes === true;
  const tally = new TowerTally();
  const ownsState = options.state === undefined;
  const state = options.state ?? new TowerState({ now: options.now });
  let socket: UdpSocket | undefined;
  try {
    socket = await options.bindUdp(options.hostname, options.port, (datagram) => {
      // A datagram is untrusted input: nothing in it may take the server down.
      try {
        const mayChange = mayRegister === undefined || mayRegister(datagram.host);
        const reply = respond(state, datagram.data, {
          mayChange,
          guard,
          senderIp: datagram.host,
          senderPort: datagram.port,
          routes,
          tally,
        });
        if (reply !== undefined && socket !== undefined) {
          socket.send(encoder.encode(reply), datagram.port, datagram.host);
        }
      } catch {
        // Unanswerable (e.g. sender port 0); UDP is best effort.
      }
    });
  } catch (err) {
    if (ownsState) state.close();
    throw err;
  }
  const bound = socket;
  let closed = false;
  return {
    port: bound.port,
    hostname: bound.hostname,
    state,
    tally,
    close() {
      if (closed) return;
      closed = true;
      bound.close();
      if (ownsState) state.close();
    },
  };
}
