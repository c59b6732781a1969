/**
 * What every connection of a listener shares: the live configuration, the
 * registry, the backend pool, the deadline clock and the limits. Built once
 * when the ingress starts.
 *
 * @module
 */

import type { HeadLimits } from "../http1/head.ts";
import type { CidrList } from "../net/cidr.ts";
import type { Registry } from "../registry/types.ts";
import type { LiveConfig } from "../config/snapshot.ts";
import type { ConnectOptions, Runtime, Socket } from "../runtime/types.ts";
import type { ConnectionPool } from "./pool.ts";
import type { DeadlineClock } from "./deadlines.ts";
import type { StallLimits } from "./transfer_timers.ts";
import type { ReplicaBook } from "../replicas/book.ts";
import type { RequestIdSource } from "./request_id.ts";
import type { RequestObserver } from "./observe.ts";

/** Everything a connection needs, shared by all connections of a listener. */
export interface ProxyContext {
  runtime: Runtime;
  /** The current routes and service settings, read once per request. */
  config: LiveConfig;
  registry: Registry;
  pool: ConnectionPool;
  /** What this process knows of each replica: outstanding tries, failures, ejections. */
  replicas: ReplicaBook;
  clock: DeadlineClock;
  /** "http" or "https": the scheme clients used. */
  proto: string;
  trustedProxies: CidrList;
  /** Via's received-by on forwarded requests (`--via`), or null for none. */
  via: string | null;
  /** Where the ids of requests come from (those without a trusted proxy's). */
  requestIds: RequestIdSource;
  /** Error bodies carry the failure's details (`--debug-errors`), not only its kind. */
  debugErrors: boolean;
  /** Largest request head; longer gets 431. */
  headLimits: HeadLimits;
  headerTimeoutMs: number;
  keepaliveTimeoutMs: number;
  /** How connections to replicas are made (connect timeout, receive buffer). */
  upstreamConnect: ConnectOptions;
  /** How long each party of a transfer may stall (see transfer_timers.ts). */
  stallLimits: StallLimits;
  tunnelIdleTimeoutMs: number;
  /** Set when the ingress is shutting down: finish the current request, then close. */
  draining: boolean;
  /** Called for events worth a log line. */
  log(line: string): void;
  /** Hears every finished request (access log, metrics), or null: nobody listens. */
  observe: RequestObserver | null;
  /** Hears what the connect phase measures (metrics), or null: nothing is measured. */
  meter: ProxyMeter | null;
}

/**
 * What the connect phase tells metrics, when they are on.
 *
 * @example
 * ```ts
 * import type { ProxyMeter } from "./context.ts";
 * const meter: ProxyMeter = { connected() {}, retryRefused() {} };
 * ```
 */
export interface ProxyMeter {
  /** A new connection to a replica of `service` took `ms` to connect; `socket` is it. */
  connected(service: string, ms: number, socket: Socket): void;
  /** A retry for `service` was given up: the retry budget had no room. */
  retryRefused(service: string): void;
}
