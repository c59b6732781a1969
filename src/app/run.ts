/**
 * The long-running commands: a standalone Tower, and an ingress (alone, as
 * the primary of a `--procs` group, or as one of its workers), with the
 * demo backend when asked. Each prints its ready lines on stdout and stops
 * cleanly on SIGTERM/SIGINT.
 *
 * @module
 */

import type { HostPort } from "../net/address.ts";
import { formatHostPort } from "../net/address.ts";
import type { Runtime } from "../runtime/types.ts";
import type { IngressConfig, TowerSecurity } from "./config.ts";
import { StartupError } from "./errors.ts";
import { startIngress } from "./ingress.ts";
import { startTower } from "./tower.ts";
import { startDemoBackend } from "./demo.ts";
import { followRelay, RelayedTowerState, WorkerTowerState } from "./procs/relay.ts";
import { Supervisor, WORKER_READY, workerPort } from "./procs/supervisor.ts";
import { messageOf } from "../error_message.ts";

/** Where the stop-on-signal handlers go. */
function onStop(runtime: Runtime, stop: () => void): void {
  // Handlers first: a signal right after the ready lines must still stop cleanly.
  runtime.onSignal("SIGTERM", stop);
  runtime.onSignal("SIGINT", stop);
}

/**
 * `gatehouse tower`: serve a Tower until SIGTERM/SIGINT.
 *
 * @example
 * ```ts
 * import { runTower } from "./run.ts";
 * import { CidrList } from "../net/cidr.ts";
 * import { currentRuntime } from "../runtime/current.ts";
 * await runTower({ host: "127.0.0.1", port: 7772 }, {
 *   allow: CidrList.parse(""), secret: null, rate: null, maxEntries: 10_000,
 *   routes: false, maxRoutes: 1_000,
 * }, currentRuntime());
 * ```
 */
export async function runTower(
  listen: HostPort,
  security: TowerSecurity,
  runtime: Runtime,
): Promise<void> {
  const tower = await startTower(listen, security, runtime);
  onStop(runtime, () => {
    tower.close();
    runtime.exit(0);
  });
  console.log(`gatehouse: tower on udp ${formatHostPort(tower.hostname, tower.port)}`);
}

/**
 * Run the ingress `config` describes (with the demo backend when `demo`):
 * a `--procs` worker when this process was started as one, else the
 * primary, which starts the other processes.
 *
 * @example
 * ```ts
 * import { runIngress } from "./run.ts";
 * import type { IngressConfig } from "./config.ts";
 * import { currentRuntime } from "../runtime/current.ts";
 * declare const config: IngressConfig;
 * await runIngress(config, false, currentRuntime());
 * ```
 */
export async function runIngress(
  config: IngressConfig,
  demo: boolean,
  runtime: Runtime,
): Promise<void> {
  const log = (line: string) => console.error(`gatehouse: ${line}`);
  const sharedPort = workerPort(runtime.env);
  if (sharedPort !== undefined) return await runWorker(config, sharedPort, runtime, log);
  const procs = config.procs;
  // With --procs, the workers route against copies of this Tower's state, kept in step.
  const relay = procs > 1 && config.registry.kind === "embedded" ? new RelayedTowerState() : null;
  const ingress = await startIngress(
    config,
    runtime,
    log,
    procs > 1 ? { reusePort: true, embedded: { state: relay ?? undefined } } : {},
  );
  const supervisor = procs > 1
    ? new Supervisor({
      count: procs - 1,
      command: runtime.selfCommand(),
      args: [...runtime.args],
      port: ingress.port,
      relay,
      log,
    })
    : null;
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    log(`shutting down (grace ${config.graceMs} ms)`);
    await Promise.all([ingress.shutdown(config.graceMs), supervisor?.stop(config.graceMs)]);
    relay?.close();
    runtime.exit(0);
  };
  onStop(runtime, stop);
  if (supervisor !== null) {
    try {
      await supervisor.start();
    } catch (e) {
      if (stopping) return;
      stopping = true;
      await supervisor.stop(0);
      await ingress.shutdown(0);
      throw new StartupError(`cannot start the --procs workers: ${messageOf(e)}`);
    }
  }
  if (ingress.tower) {
    console.log(
      `gatehouse: tower on udp ${formatHostPort(ingress.tower.hostname, ingress.tower.port)}`,
    );
  }
  if (demo) {
    const tower = ingress.tower;
    if (!tower) throw new StartupError("the demo needs the embedded Tower");
    const backend = await startDemoBackend(runtime, "frontend");
    tower.state.register("frontend", "127.0.0.1", backend.port);
    // Heartbeat like any replica would, so the demo entry never expires.
    setInterval(() => tower.state.register("frontend", "127.0.0.1", backend.port), 10_000);
    console.log(`gatehouse: demo backend "frontend" on http://127.0.0.1:${backend.port}`);
  }
  const scheme = config.tls ? "https" : "http";
  console.log(
    `gatehouse: listening on ${scheme}://${formatHostPort(config.listen.host, ingress.port)}`,
  );
}

/**
 * A `--procs` worker: the same ingress on the shared port, routing against a
 * Tower state the primary keeps in step over stdin. It ends on SIGTERM/SIGINT
 * or when stdin ends (the primary is gone).
 */
async function runWorker(
  config: IngressConfig,
  port: number,
  runtime: Runtime,
  log: (line: string) => void,
): Promise<void> {
  const relayed = config.registry.kind === "embedded" ? new WorkerTowerState() : null;
  const ingress = await startIngress(
    { ...config, listen: { ...config.listen, port } },
    runtime,
    log,
    { reusePort: true, embedded: { state: relayed?.state, serve: false } },
  );
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await ingress.shutdown(config.graceMs);
    relayed?.close();
    runtime.exit(0);
  };
  onStop(runtime, stop);
  followRelay(relayed ?? { apply: () => false }, stop);
  console.log(WORKER_READY);
}
