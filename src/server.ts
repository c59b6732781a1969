/**
 * Starting and stopping a whole ingress: the registry (embedded Tower or a
 * remote one), the listener, the connection cap and graceful shutdown.
 *
 * @module
 */

import { type IngressConfig, towerGuard } from "./config.ts";
import type { Runtime, Socket, SocketHandler } from "./runtime/types.ts";
import type { Registry } from "./registry/types.ts";
import { RouteTable } from "./router.ts";
import { ConnectionPool } from "./pool.ts";
import { DeadlineClock } from "./deadlines.ts";
import { ClientConnection, type ProxyContext } from "./proxy.ts";
import { errorResponse } from "./errors.ts";
import { startTowerServer, type TowerServer, type TowerState } from "./tower.ts";
import { EmbeddedTowerRegistry } from "./registry/embedded.ts";
import { RemoteTowerRegistry } from "./registry/remote_tower.ts";
import { EtcdRegistry } from "./registry/etcd.ts";
import { DnsRegistry } from "./registry/dns.ts";
import type { RegistryUrl } from "./registry/url.ts";
import { CachedRegistry } from "./registry/cached.ts";

/** How long the last answer of a remote Tower is used while it does not answer. */
const STALE_MS = 60_000;

/** Open an etcd or DNS registry; a failure to reach it is a startup error. */
async function openRegistry(url: RegistryUrl, log: (line: string) => void): Promise<Registry> {
  if (url.kind === "dns") return new DnsRegistry({ ...url.options, log });
  if (url.kind === "etcd") {
    try {
      return await EtcdRegistry.connect({ endpoints: url.endpoints, prefix: url.prefix, log });
    } catch (e) {
      throw new StartupError(`cannot use the etcd registry ${url.url}: ${message(e)}`);
    }
  }
  throw new StartupError(`registry ${url.kind} is not opened here`);
}

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
  /** The embedded Tower's state (instead of a new one); stays the caller's to close. */
  towerState?: TowerState;
  /** False: route against `towerState` without serving the Tower over UDP (a worker). */
  serveTower?: boolean;
}

/** A runtime failure that stops startup (exit code 1), e.g. a taken port. */
export class StartupError extends Error {
  override name = "StartupError";
}

/** The handler for a connection refused over the cap: answer 503 and close. */
const refused: SocketHandler = { onData() {}, onDrain() {}, onEnd() {}, onClose() {} };

/**
 * Start the ingress described by `config`.
 *
 * @example
 * ```ts
 * const ingress = await startIngress(config, denoRuntime, console.error);
 * await ingress.shutdown(10_000);
 * ```
 */
export async function startIngress(
  config: IngressConfig,
  runtime: Runtime,
  log: (line: string) => void,
  options: IngressOptions = {},
): Promise<Ingress> {
  let tower: TowerServer | null = null;
  let registry: Registry;
  if (config.tower.mode === "embedded" && options.serveTower === false) {
    // A --procs worker: the primary serves the Tower and relays its changes into this state.
    registry = new EmbeddedTowerRegistry(options.towerState);
  } else if (config.tower.mode === "embedded") {
    const embedded = new EmbeddedTowerRegistry(options.towerState);
    const { hostname, port } = config.tower.listen;
    try {
      tower = await startTowerServer({
        hostname,
        port,
        state: embedded.state,
        bindUdp: runtime.bindUdp,
        ...towerGuard(config.towerAllow, config.towerSecurity),
      });
    } catch (e) {
      embedded.close();
      throw new StartupError(`cannot start the Tower on udp ${hostname}:${port}: ${message(e)}`);
    }
    registry = embedded;
  } else if (config.tower.mode === "registry") {
    registry = await openRegistry(config.tower.registry, log);
  } else {
    const { hostname, port } = config.tower.address;
    try {
      const remote = await RemoteTowerRegistry.connect({ host: hostname, port }, {
        bindUdp: runtime.bindUdp,
      });
      // Seed semantics (ask per request) unless --lookup-cache; a silent Tower does not fail
      // every request: its last answer is used for a minute.
      registry = new CachedRegistry(remote, {
        cacheMs: config.lookupCacheMs,
        staleMs: STALE_MS,
        log,
      });
    } catch (e) {
      throw new StartupError(`cannot use the Tower at ${hostname}:${port}: ${message(e)}`);
    }
  }

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
      throw new StartupError(`cannot read the TLS certificate or key: ${message(e)}`);
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
  const ctx: ProxyContext = {
    runtime,
    routes: new RouteTable(config.routes),
    registry,
    pool,
    clock,
    proto: config.tls ? "https" : "http",
    trustedProxies: config.trustedProxies,
    retries: config.retries,
    headLimits: { maxSize: config.maxHeaderSize },
    headerTimeoutMs: config.headerTimeoutMs,
    keepaliveTimeoutMs: config.keepaliveTimeoutMs,
    upstreamConnect: {
      timeoutMs: config.connectTimeoutMs,
      receiveBuffer: config.upstreamReceiveBuffer,
    },
    upstreamTimeoutMs: config.upstreamTimeoutMs,
    tunnelIdleTimeoutMs: config.idleTimeoutMs,
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
      socket.write(errorResponse({ kind: "ShuttingDown" }, true, false));
      socket.end();
      return refused;
    }
    if (open.size >= config.workers) {
      // Over the cap: answer and close without taking a slot (the seed leaked them).
      socket.write(errorResponse({ kind: "TooManyConnections" }, true, false));
      socket.end();
      return refused;
    }
    const conn = new ClientConnection(socket, ctx, gone);
    open.add(conn);
    return conn;
  };

  let listener;
  try {
    listener = await runtime.listen({
      hostname: config.listen.hostname,
      port: config.listen.port,
      reusePort: options.reusePort,
      tls,
    }, accept);
  } catch (e) {
    tower?.close();
    await registry.close();
    clock.close();
    throw new StartupError(
      `cannot listen on ${config.listen.hostname}:${config.listen.port}: ${message(e)}`,
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

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
