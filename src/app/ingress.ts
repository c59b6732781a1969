/**
 * Starting and stopping a whole ingress: the registry, the listener, the
 * connection cap and graceful shutdown.
 *
 * @module
 */

import type { Runtime, Socket, SocketHandler } from "../runtime/types.ts";
import { RouteTable } from "../routing/router.ts";
import { ConfigSnapshot, LiveConfig } from "../config/snapshot.ts";
import { ConnectionPool } from "../proxy/pool.ts";
import { DeadlineClock } from "../proxy/deadlines.ts";
import { ClientConnection } from "../proxy/connection.ts";
import type { ProxyContext } from "../proxy/context.ts";
import { errorResponse } from "../proxy/errors.ts";
import { randomRequestIdSource } from "../proxy/request_id.ts";
import type { TowerServer } from "../tower.ts";
import { messageOf } from "../error_message.ts";
import type { IngressConfig } from "./config.ts";
import { StartupError } from "./errors.ts";
import { ReplicaBook } from "../replicas/book.ts";
import { checkReplica, probeReplica } from "../replicas/probe.ts";
import { type EmbeddedOptions, openRegistry } from "./registry.ts";

/** A running ingress. */
export interface Ingress {
  /** The bound HTTP(S) port. */
  readonly port: number;
  /** The embedded Tower, when there is one. */
  readonly tower: TowerServer | null;
  /** Open client connections right now. */
  readonly connections: number;
  /**
   * Stop accepting, let in-flight requests finish (at most `graceMs`), then
   * close everything. Resolves when done.
   */
  shutdown(graceMs: number): Promise<void>;
}

/** How this process takes part in a `--procs` group (all optional; defaults: alone). */
export interface IngressOptions {
  /** Listen with SO_REUSEPORT, so other processes can share the port. */
  reusePort?: boolean;
  /** The embedded Tower's state and whether this process serves it (see {@link EmbeddedOptions}). */
  embedded?: EmbeddedOptions;
}

/** The handler for a connection refused over the cap: answer 503 and close. */
const refused: SocketHandler = { onData() {}, onDrain() {}, onEnd() {}, onClose() {} };

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

  let tls: { cert: string; key: string } | undefined;
  if (config.tls) {
    try {
      tls = {
        cert: await runtime.readTextFile(config.tls.certPath),
        key: await runtime.readTextFile(config.tls.keyPath),
      };
    } catch (e) {
      tower?.close();
      await registry.close();
      throw new StartupError(`cannot read the TLS certificate or key: ${messageOf(e)}`);
    }
  }

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
  const replicas = new ReplicaBook(config.replicaPolicy, {
    clock,
    precise: Date.now,
    log,
    dropIdle: (address) => pool.drop(address),
    probe: (host, port, timeoutMs) => probeReplica(runtime, host, port, timeoutMs),
    check: (host, port, p) =>
      checkReplica(runtime, host, port, p.method, p.path, p.host, p.timeoutMs),
  }, config.health);
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
  if (config.health !== null && known !== undefined) {
    replicas.catchUp(known());
    clock.add({
      deadline: clock.now + 1000,
      expire(now: number) {
        replicas.catchUp(known());
        this.deadline = now + 1000;
      },
    });
  }
  registry.watchRemovals?.((service, replica) => replicas.removed(service, replica));
  const ctx: ProxyContext = {
    runtime,
    config: new LiveConfig(
      new ConfigSnapshot(1, new RouteTable(config.routes), new Map(), {
        balance: config.balance,
        retries: config.retries,
        replicaPolicy: config.replicaPolicy,
        health: config.health,
      }),
    ),
    registry,
    pool,
    replicas,
    clock,
    proto: config.tls ? "https" : "http",
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
    accessLog: config.accessLog ? log : null,
  };

  const open = new Set<ClientConnection>();
  let onEmpty: (() => void) | null = null;
  const gone = (c: ClientConnection) => {
    open.delete(c);
    if (open.size === 0) onEmpty?.();
  };
  const accept = (socket: Socket): SocketHandler => {
    if (ctx.draining) {
      socket.write(errorResponse({ kind: "ShuttingDown" }, true, false, ctx.requestIds.nextText()));
      socket.end();
      return refused;
    }
    if (open.size >= config.connectionCap) {
      // Over the cap: answer and close; the slot count only ever holds open connections.
      const id = ctx.requestIds.nextText();
      socket.write(errorResponse({ kind: "TooManyConnections" }, true, false, id));
      socket.end();
      return refused;
    }
    const conn = new ClientConnection(socket, ctx, gone);
    open.add(conn);
    return conn;
  };

  runtime.startHeapPolicy();
  let listener;
  try {
    listener = await runtime.listen({
      hostname: config.listen.host,
      port: config.listen.port,
      reusePort: options.reusePort,
      tls,
    }, accept);
  } catch (e) {
    tower?.close();
    await registry.close();
    clock.close();
    throw new StartupError(
      `cannot listen on ${config.listen.host}:${config.listen.port}: ${messageOf(e)}`,
    );
  }

  let stopping: Promise<void> | null = null;
  return {
    port: listener.port,
    tower,
    get connections() {
      return open.size;
    },
    shutdown(graceMs: number) {
      stopping ??= (async () => {
        ctx.draining = true;
        listener.close();
        for (const c of [...open]) c.drain();
        if (open.size > 0) {
          let timer: ReturnType<typeof setTimeout> | undefined;
          await new Promise<void>((resolve) => {
            onEmpty = resolve;
            timer = setTimeout(resolve, graceMs);
          });
          clearTimeout(timer);
        }
        for (const c of [...open]) c.socket.close();
        pool.close();
        clock.close();
        tower?.close();
        await registry.close();
      })();
      return stopping;
    },
  };
}
