/**
 * Starting, reloading and stopping a whole ingress: the registry, the
 * configuration snapshot (config/keeper.ts), the replicas' book, the
 * listeners (listeners.ts) and graceful shutdown.
 *
 * @module
 */

import type { Runtime } from "../runtime/types.ts";
import { ConfigKeeper, type StaticConfig } from "../config/keeper.ts";
import { formatHostPort } from "../net/address.ts";
import { ListenerSet } from "./listeners.ts";
import { ConnectionPool } from "../proxy/pool.ts";
import { DeadlineClock } from "../proxy/deadlines.ts";
import type { ProxyContext, ProxyMeter } from "../proxy/context.ts";
import { randomRequestIdSource } from "../proxy/request_id.ts";
import { observers, type RequestObserver } from "../proxy/observe.ts";
import { startAccessLog } from "./access_log_sink.ts";
import type { TowerServer } from "../tower.ts";
import type { IngressConfig } from "./config.ts";
import { ReplicaBook } from "../replicas/book.ts";
import { checkReplica, probeReplica } from "../replicas/probe.ts";
import { type EmbeddedOptions, openRegistry } from "./registry.ts";
import type { Registry } from "../registry/types.ts";

/** A running ingress. */
export interface Ingress {
  /** The first listener's bound port. */
  readonly port: number;
  /** Every listener's bound port, in the order of the config's listeners. */
  readonly ports: number[];
  /** "http://HOST:PORT" of each listener. */
  readonly urls: string[];
  /** The embedded Tower, when there is one. */
  readonly tower: TowerServer | null;
  /** Open client connections right now. */
  readonly connections: number;
  /** The configuration snapshot now and its generation. */
  readonly keeper: ConfigKeeper;
  /** What this process knows of each service's replicas. */
  readonly replicas: ReplicaBook;
  /** The registry services are resolved with, and the idle backend connections. */
  readonly registry: Registry;
  readonly pool: ConnectionPool;
  /** The configuration running now (the last applied reload's). */
  readonly config: IngressConfig;
  /**
   * Apply a reloaded configuration: listeners opened and drained, then the
   * routes and service settings swapped in at once. Returns the new
   * generation; throws (changing nothing) when a listener cannot open.
   * Settings a reload cannot change are named in one log line.
   */
  reload(next: IngressConfig, why: string): Promise<number>;
  /** Open the access log file again (SIGUSR1: logrotate moved it away). */
  reopenLogs(): void;
  /**
   * Stop accepting, let in-flight requests finish (at most `graceMs`), then
   * close everything. Resolves when done.
   */
  shutdown(graceMs: number): Promise<void>;
}

/** How this process takes part in a `--procs` group (all optional; defaults: alone). */
export interface IngressOptions {
  /** Listen with SO_REUSEPORT, so other processes can share the ports. */
  reusePort?: boolean;
  /** The ports to bind, listener for listener, over the config's (a worker's shared ports). */
  ports?: readonly number[];
  /** Reloads leave the listeners as they are (a `--procs` group shares them). */
  fixedListeners?: boolean;
  /** The embedded Tower's state and whether this process serves it (see {@link EmbeddedOptions}). */
  embedded?: EmbeddedOptions;
  /** More observers of finished requests (metrics, the dashboard's rates), beside the access log. */
  observers?: readonly RequestObserver[];
  /** Hears what the connect phase measures (metrics). */
  meter?: ProxyMeter;
}

/**
 * Start the ingress described by `config`.
 *
 * @example
 * ```ts
 * import { startIngress } from "./ingress.ts";
 * import type { IngressConfig } from "./config.ts";
 * import { currentRuntime } from "../runtime/current.ts";
 * declare const config: IngressConfig;
 * const ingress = await startIngress(config, currentRuntime(), console.error);
 * await ingress.shutdown(10_000);
 * ```
 */
export async function startIngress(
  config: IngressConfig,
  runtime: Runtime,
  log: (line: string) => void,
  options: IngressOptions = {},
): Promise<Ingress> {
  const { registry, tower } = await openRegistry(config.registry, {
    security: config.towerSecurity,
    lookupCacheMs: config.lookupCacheMs,
    runtime,
    log,
    embedded: options.embedded,
  });

  if (
    config.upstreamReceiveBufferGiven && config.upstreamReceiveBuffer > 0 &&
    !runtime.receiveBufferApplies
  ) {
    log(
      `--upstream-rcvbuf has no effect under ${runtime.name} (it exposes no socket options); the kernel sizes backend receive buffers`,
    );
  }

  const clock = new DeadlineClock(100);
  const pool = new ConnectionPool({
    maxIdle: config.poolSize,
    idleTimeoutMs: config.poolIdleTimeoutMs,
  });
  const poolSweeper = {
    deadline: clock.now + 1000,
    expire(now: number) {
      pool.sweep(now);
      this.deadline = now + 1000;
    },
  };
  clock.add(poolSweeper);
  const keeper = new ConfigKeeper(staticOf(config), log);
  const replicas = new ReplicaBook(config.serviceDefaults.replicaPolicy, {
    clock,
    precise: Date.now,
    log,
    dropIdle: (address) => pool.drop(address),
    probe: (host, port, timeoutMs) => probeReplica(runtime, host, port, timeoutMs),
    check: (host, port, p) =>
      checkReplica(runtime, host, port, p.method, p.path, p.host, p.timeoutMs),
  }, config.serviceDefaults.health);
  replicas.configure(config.serviceDefaults, config.services);
  keeper.live.onSwap((next, previous) => {
    if (next.services !== previous.services || next.defaults !== previous.defaults) {
      replicas.configure(next.defaults, next.services);
    }
  });
  // Returns from ejection, stall probes and health checks are looked at every 100 ms.
  const replicaSweeper = {
    deadline: clock.now + 100,
    expire(now: number) {
      replicas.sweep();
      this.deadline = now + 100;
    },
  };
  clock.add(replicaSweeper);
  // Health checks start when a replica appears, where the registry holds every service.
  const known = registry.known?.bind(registry);
  if (known !== undefined) {
    // Read every second only while some service has checks (a reload may turn them on).
    if (replicas.checking) replicas.catchUp(known());
    clock.add({
      deadline: clock.now + 1000,
      expire(now: number) {
        if (replicas.checking) replicas.catchUp(known());
        this.deadline = now + 1000;
      },
    });
  }
  registry.watchRoutes?.((routes) => keeper.declared(registrySource(config.registry), routes));
  registry.watchRemovals?.((service, replica) => replicas.removed(service, replica));
  const accessLog = startAccessLog(config, runtime, log);
  const ctx: ProxyContext = {
    runtime,
    config: keeper.live,
    registry,
    pool,
    replicas,
    clock,
    proto: "http",
    trustedProxies: config.trustedProxies,
    via: config.via,
    requestIds: randomRequestIdSource(),
    debugErrors: config.debugErrors,
    headLimits: { maxSize: config.maxHeaderSize },
    headerTimeoutMs: config.headerTimeoutMs,
    keepaliveTimeoutMs: config.keepaliveTimeoutMs,
    upstreamConnect: {
      timeoutMs: config.connectTimeoutMs,
      receiveBuffer: config.upstreamReceiveBuffer,
    },
    stallLimits: {
      bodyTimeoutMs: config.bodyTimeoutMs,
      upstreamSendTimeoutMs: config.upstreamSendTimeoutMs,
      upstreamTimeoutMs: config.upstreamTimeoutMs,
      tryTimeoutMs: config.tryTimeoutMs,
      upstreamReadTimeoutMs: config.upstreamReadTimeoutMs,
      sendTimeoutMs: config.sendTimeoutMs,
    },
    tunnelIdleTimeoutMs: config.tunnelIdleTimeoutMs,
    draining: false,
    log,
    observe: observers([
      ...(accessLog.observer === null ? [] : [accessLog.observer]),
      ...(options.observers ?? []),
    ]),
    meter: options.meter ?? null,
  };

  runtime.startHeapPolicy();
  const listeners = new ListenerSet({
    runtime,
    base: ctx,
    cap: config.connectionCap,
    reusePort: options.reusePort ?? false,
  });
  try {
    await listeners.apply(config.listeners, options.ports);
  } catch (e) {
    tower?.close();
    await registry.close();
    clock.close();
    await accessLog.close();
    throw e;
  }

  let current = config;
  let stopping: Promise<void> | null = null;
  return {
    get port() {
      return listeners.ports[0];
    },
    get ports() {
      return listeners.ports;
    },
    get urls() {
      return listeners.urls;
    },
    tower,
    keeper,
    replicas,
    registry,
    pool,
    get config() {
      return current;
    },
    get connections() {
      return listeners.connections;
    },
    async reload(next: IngressConfig, why: string) {
      // One log line says it all: why, the listeners opened and closed, what waits for a restart.
      const notes = [why];
      // Listeners first: one that cannot open refuses the reload before anything changed.
      if (!options.fixedListeners) {
        const changed = await listeners.apply(next.listeners, undefined);
        if (changed !== "") notes.push(changed);
      } else if (keyOfListeners(next) !== keyOfListeners(current)) {
        notes.push("listeners changed, which under --procs takes a restart");
      }
      const fixed = unreloadable(current, next);
      if (fixed.length > 0) notes.push(`${fixed.join(", ")} changed, which takes a restart`);
      const generation = keeper.reload(staticOf(next), notes.join("; "));
      current = next;
      return generation;
    },
    reopenLogs() {
      accessLog.reopen();
    },
    shutdown(graceMs: number) {
      stopping ??= (async () => {
        await listeners.shutdown(graceMs);
        // Every request has been observed: what the access log holds is written.
        await accessLog.close();
        pool.close();
        clock.close();
        tower?.close();
        await registry.close();
      })();
      return stopping;
    },
  };
}

/** The part of a config that goes into snapshots. */
function staticOf(config: IngressConfig): StaticConfig {
  const tls = config.listeners.find((l) => l.tls !== null);
  return {
    routes: config.routes,
    serviceDefaults: config.serviceDefaults,
    services: config.services,
    tlsPort: tls === undefined ? null : tls.listen.port,
  };
}

function keyOfListeners(config: IngressConfig): string {
  return JSON.stringify(config.listeners);
}

/** What a reload cannot change, with the setting's name (the log says it takes a restart). */
const FIXED: Partial<Record<keyof IngressConfig, string>> = {
  registry: "the registry",
  towerSecurity: "the tower-* settings",
  procs: "procs",
  connectionCap: "workers",
  maxHeaderSize: "max-header-size",
  headerTimeoutMs: "header-timeout",
  keepaliveTimeoutMs: "keepalive-timeout",
  connectTimeoutMs: "connect-timeout",
  upstreamTimeoutMs: "upstream-timeout",
  bodyTimeoutMs: "body-timeout",
  upstreamReadTimeoutMs: "upstream-read-timeout",
  sendTimeoutMs: "send-timeout",
  upstreamSendTimeoutMs: "upstream-send-timeout",
  tryTimeoutMs: "try-timeout",
  upstreamReceiveBuffer: "upstream-rcvbuf",
  tunnelIdleTimeoutMs: "idle-timeout",
  graceMs: "grace",
  shutdownDelayMs: "shutdown-delay",
  admin: "admin",
  poolSize: "pool-size",
  poolIdleTimeoutMs: "pool-idle-timeout",
  trustedProxies: "trusted-proxies",
  via: "via",
  lookupCacheMs: "lookup-cache",
  accessLog: "access-log",
  accessLogFormat: "access-log-format",
  accessLogFile: "access-log-file",
  debugErrors: "debug-errors",
};

/** The settings that differ between `a` and `b` and need a restart, by name. */
function unreloadable(a: IngressConfig, b: IngressConfig): string[] {
  return (Object.entries(FIXED) as [keyof IngressConfig, string][])
    .filter(([k]) => JSON.stringify(a[k]) !== JSON.stringify(b[k]))
    .map(([, name]) => name);
}

/** A registry's name in log lines about the routes it declares. */
function registrySource(r: IngressConfig["registry"]): string {
  switch (r.kind) {
    case "embedded":
      return "the embedded Tower";
    case "tower":
      return `the Tower at ${formatHostPort(r.address.host, r.address.port)}`;
    case "etcd":
      return `etcd ${r.url}`;
    case "dns":
      return `DNS ${r.url}`;
  }
}
