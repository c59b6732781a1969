/**
 * `gatehouse register`: the registration sidecar. It announces one replica
 * to a registry (a Tower or etcd), keeps it alive with heartbeats, and takes
 * it out again when the replica stops.
 *
 * Without a command it registers at once and deregisters on SIGTERM/SIGINT.
 * With one it runs the command (stdio inherited), registers only once
 * `--addr` accepts TCP connections, deregisters before forwarding a
 * SIGTERM/SIGINT to the command, and exits with the command's status.
 *
 * @module
 */

import type { ChildProcess } from "node:child_process";
import process from "node:process";
import type { RegistryUrl } from "./config.ts";
import { formatHostPort } from "../net/address.ts";
import { EtcdError } from "../registry/etcd/gateway.ts";
import { EtcdRegistrar } from "../registry/etcd/registrar.ts";
import { TowerRefusedError, TowerRegistrar } from "../registry/tower/registrar.ts";
import type { Registrar, Registration, Replica } from "../registry/types.ts";
import type { Runtime } from "../runtime/types.ts";
import { builtin } from "../runtime/builtin.ts";
import type { RouteTarget } from "../routing/declared.ts";

/** What the sidecar registers, where, and what it wraps. */
export interface RegisterOptions {
  /** The `--registry` value as given (for messages). */
  registryText: string;
  registry: RegistryUrl;
  service: string;
  /** Where the ingress reaches it, and its weight when `--weight` gave one. */
  replica: Replica;
  /** Heartbeat TTL in milliseconds (heartbeats every third of it). */
  ttlMs: number;
  /** The command to run after `--`, or null. */
  command: string[] | null;
  /** The secret REGISTER/DEREGISTER are signed with (a Tower run with --tower-secret), or null. */
  secret: string | null;
  /** The routes it declares for the service while registered (`--route`). */
  routes: RouteTarget[];
}

/**
 * A {@link Registrar} for a parsed `--registry` URL (tower or etcd; DNS
 * rejects). The Tower's name is resolved and its socket bound here; etcd is
 * not contacted until `register`.
 *
 * @example
 * ```ts
 * import { openRegistrar } from "./register.ts";
 * const registrar = await openRegistrar(
 *   { kind: "tower", address: { host: "127.0.0.1", port: 7772 } },
 *   { ttlMs: 30_000 },
 * );
 * ```
 */
export function openRegistrar(
  registry: RegistryUrl,
  options: { ttlMs: number; log?: (line: string) => void; secret?: string },
): Promise<Registrar> {
  if (registry.kind === "dns") {
    return Promise.reject(new Error(`cannot register in ${registry.url}: DNS is read-only`));
  }
  if (registry.kind === "tower") {
    return TowerRegistrar.open(registry.address, {
      intervalMs: options.ttlMs / 3,
      log: options.log,
      secret: options.secret,
    });
  }
  return Promise.resolve(
    new EtcdRegistrar({
      endpoints: registry.endpoints,
      prefix: registry.prefix,
      ttlSeconds: Math.ceil(options.ttlMs / 1000),
      log: options.log,
    }),
  );
}

type StopSignal = "SIGTERM" | "SIGINT";

/** A promise with its resolve function outside. */
function deferred<T>(): { promise: Promise<T>; resolve(value: T): void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/** setTimeout as a promise that resolves early (with true) when `stop` settles. */
function sleepUnless(ms: number, stop: Promise<unknown>): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms))),
    stop.then(() => true),
  ]).finally(() => clearTimeout(timer));
}

/** The exit status a shell would report for a child's end. */
function exitStatus(code: number | null, signal: string | null): number {
  if (code !== null) return code;
  const number = signal === null
    ? undefined
    : (builtin<typeof import("node:os")>("node:os").constants.signals as Record<
      string,
      number | undefined
    >)[signal];
  return 128 + (number ?? 0);
}

/** The command run by the sidecar. */
interface Child {
  /** Resolves with the exit status (127 when it could not start). */
  exited: Promise<number>;
  running(): boolean;
  kill(signal: StopSignal): void;
}

function startChild(argv: string[], warn: (line: string) => void): Child {
  let proc: ChildProcess | undefined;
  let done = false;
  const exited = deferred<number>();
  const finish = (status: number) => {
    if (done) return;
    done = true;
    exited.resolve(status);
  };
  try {
    const { spawn } = builtin<typeof import("node:child_process")>("node:child_process");
    proc = spawn(argv[0], argv.slice(1), { stdio: "inherit" });
    proc.once("exit", (code, signal) => finish(exitStatus(code, signal)));
    proc.once("error", (err) => {
      warn(`cannot run ${argv[0]}: ${err.message}`);
      finish(127);
    });
  } catch (err) {
    warn(`cannot run ${argv[0]}: ${(err as Error).message}`);
    finish(127);
  }
  return {
    exited: exited.promise,
    running: () => !done,
    kill(signal) {
      if (done || proc?.pid === undefined) return;
      try {
        // Not proc.kill: on Deno that reports the signal as the cause of any
        // later exit, hiding the command's own exit code.
        process.kill(proc.pid, signal);
      } catch {
        // Exited in the meantime.
      }
    },
  };
}

/**
 * True when `replica` accepts a TCP connection now. A connection that came
 * back from itself does not count: when the port is in the ephemeral range,
 * the kernel may pick it as the probe's own source port (TCP self-connect).
 */
function accepts(replica: Replica, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const { connect } = builtin<typeof import("node:net")>("node:net");
    const socket = connect({ host: replica.host, port: replica.port });
    const timer = setTimeout(() => done(false), timeoutMs);
    const done = (ok: boolean) => {
      clearTimeout(timer);
      socket.removeAllListeners();
      socket.on("error", () => {});
      socket.destroy();
      resolve(ok);
    };
    socket.once("connect", () => {
      const self = socket.localPort === socket.remotePort &&
        socket.localAddress === socket.remoteAddress;
      done(!self);
    });
    socket.once("error", () => done(false));
  });
}

/** Poll until `replica` accepts a TCP connection; false when `stop` came first. */
async function waitForPort(replica: Replica, stop: Promise<unknown>): Promise<boolean> {
  let stopped = false;
  stop.then(() => (stopped = true));
  while (!stopped) {
    if (await accepts(replica, 1000)) return true;
    if (await sleepUnless(100, stop)) return false;
  }
  return false;
}

/** Errors that the same request will only meet again. */
function isPermanent(err: unknown): boolean {
  return err instanceof TowerRefusedError || (err instanceof EtcdError && !err.retryable);
}

/**
 * Register, retrying with backoff while the registry is unreachable, until it
 * works, fails for good (rejects), or `stop` settles (resolves undefined; a
 * registration that completes late is closed again).
 */
async function registerUntilStopped(
  registrar: Registrar,
  service: string,
  replica: Replica,
  routes: readonly RouteTarget[],
  stop: Promise<unknown>,
  warn: (line: string) => void,
): Promise<Registration | undefined> {
  let delay = 1000;
  while (true) {
    const attempt = registrar.register(service, replica, routes);
    const outcome = await Promise.race([
      attempt.then((registration) => ({ registration }), (error: unknown) => ({ error })),
      stop.then(() => ({ stopped: true })),
    ]);
    if ("registration" in outcome) return outcome.registration;
    if ("stopped" in outcome) {
      const late = await attempt.catch(() => undefined);
      await late?.close().catch(() => {});
      return undefined;
    }
    if (isPermanent(outcome.error)) throw outcome.error;
    warn(`cannot register yet: ${(outcome.error as Error).message}; retrying in ${delay / 1000}s`);
    if (await sleepUnless(delay, stop)) return undefined;
    delay = Math.min(delay * 2, 10_000);
  }
}

/**
 * Run the sidecar to the end and resolve with the exit code: 0
 * after a signal (no command), the command's status (with a command; 128+N
 * when a signal ended it), 127 when the command cannot start. Prints
 * `gatehouse: registered <service> <addr> in <registry>` (and
 * ` with routes <route> ...` when it declares some) on stdout once
 * registered and `gatehouse: deregistered <service> <addr> from <registry>`
 * after; warnings go to stderr.
 *
 * Throws an Error when the registry cannot be set up or refuses the replica (exit 1; a
 * running command is stopped first). An unreachable registry is retried.
 * It installs SIGTERM and SIGINT handlers, so call it once per process.
 *
 * @example
 * ```ts
 * import { runRegister } from "./register.ts";
 * import { currentRuntime } from "../runtime/current.ts";
 * const runtime = currentRuntime();
 * const code = await runRegister({
 *   registryText: "tower://127.0.0.1",
 *   registry: { kind: "tower", address: { host: "127.0.0.1", port: 7772 } },
 *   service: "api",
 *   replica: { host: "127.0.0.1", port: 8081 },
 *   ttlMs: 30_000,
 *   command: null,
 *   secret: null,
 *   routes: [],
 * }, runtime);
 * runtime.exit(code);
 * ```
 */
export async function runRegister(options: RegisterOptions, runtime: Runtime): Promise<number> {
  const { service, replica, registryText } = options;
  const addr = formatHostPort(replica.host, replica.port);
  const warn = (line: string) => console.error(`gatehouse: ${line}`);

  let child: Child | undefined;
  const signalled = deferred<StopSignal>();
  let received: StopSignal | undefined;
  const onSignal = (signal: StopSignal) => {
    if (received === undefined) {
      received = signal;
      signalled.resolve(signal);
    } else if (child?.running()) {
      child.kill(signal); // A second signal goes straight through.
    }
  };
  runtime.onSignal("SIGTERM", () => onSignal("SIGTERM"));
  runtime.onSignal("SIGINT", () => onSignal("SIGINT"));

  const registrar = await openRegistrar(options.registry, {
    ttlMs: options.ttlMs,
    log: warn,
    secret: options.secret ?? undefined,
  });
  try {
    if (options.command !== null) child = startChild(options.command, warn);
    const childExit = child?.exited ?? new Promise<number>(() => {});
    const stop = Promise.race([signalled.promise, childExit]);

    /** Ends the command after a signal and reports its status. */
    const finishChild = async (): Promise<number> => {
      if (child === undefined) return 0;
      if (received !== undefined) child.kill(received);
      return await child.exited;
    };

    if (child !== undefined) {
      warn(`waiting for ${addr} to accept connections`);
      if (!(await waitForPort(replica, stop))) {
        if (!child.running()) {
          const status = await child.exited;
          warn(`command exited (status ${status}) before ${addr} accepted connections`);
          return status;
        }
        return await finishChild();
      }
    }

    let registration: Registration | undefined;
    try {
      registration = await registerUntilStopped(
        registrar,
        service,
        replica,
        options.routes,
        stop,
        warn,
      );
    } catch (err) {
      if (child?.running()) {
        child.kill("SIGTERM");
        await child.exited;
      }
      throw err;
    }
    if (registration === undefined) return await finishChild();
    const routes = options.routes.length === 0
      ? ""
      : ` with routes ${options.routes.map((r) => r.text).join(" ")}`;
    console.log(`gatehouse: registered ${service} ${addr} in ${registryText}${routes}`);

    await stop;
    try {
      await registration.close();
      console.log(`gatehouse: deregistered ${service} ${addr} from ${registryText}`);
    } catch (err) {
      warn(`deregistering ${service} ${addr} failed: ${(err as Error).message}`);
    }
    return await finishChild();
  } finally {
    try {
      await registrar.close();
    } catch (err) {
      warn((err as Error).message);
    }
  }
}
