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
import { Supervisor, WORKER_READY, workerPorts } from "./procs/supervisor.ts";
import { Reloader } from "./reload.ts";
import { applyDrainLine, drainSnapshot } from "./procs/drain_relay.ts";
import { RequestRates } from "../admin/rates.ts";
import { type Admin, startAdmin } from "../admin/admin.ts";
import { IngressMetrics, scrape } from "../metrics/metrics.ts";
import { workerAnswer, WorkerScrapes } from "../metrics/procs.ts";
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

/** How a running ingress reads its config file again (null: it has none). */
export interface ConfigSource {
  /** The file's text at start. */
  text: string;
  /** The configuration a new text gives (the same flags over it); throws when invalid. */
  build(text: string): IngressConfig;
}

/**
 * Run the ingress `config` describes (with the demo backend when `demo`):
 * a `--procs` worker when this process was started as one, else the
 * primary, which starts the other processes. With a config file
 * (`source`), the primary reloads it on SIGHUP and when it changes, and
 * passes each text it applied on to the workers.
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
  source: ConfigSource | null = null,
): Promise<void> {
  const log = (line: string) => console.error(`gatehouse: ${line}`);
  const sharedPorts = workerPorts(runtime.env);
  if (sharedPorts !== undefined) {
    return await runWorker(config, sharedPorts, runtime, log, source);
  }
  const procs = config.procs;
  // With --procs, the workers route against copies of this Tower's state, kept in step.
  const relay = procs > 1 && config.registry.kind === "embedded" ? new RelayedTowerState() : null;
  // Metrics and the dashboard's rates live behind the admin listener: without it, nothing
  // observes or measures. The rates are this process's requests (the workers keep none).
  const metrics = config.admin === null ? null : new IngressMetrics({ primary: true });
  const rates = config.admin !== null ? new RequestRates() : null;
  const ingress = await startIngress(config, runtime, log, {
    ...(procs > 1
      ? { reusePort: true, fixedListeners: true, embedded: { state: relay ?? undefined } }
      : {}),
    ...metrics?.hooks,
    observers: [...(metrics?.hooks.observers ?? []), ...(rates === null ? [] : [rates])],
  });
  metrics?.attach(ingress);
  const reloader = source === null ? null : new Reloader({
    runtime,
    path: config.configFile!,
    text: source.text,
    apply: async (text, why) => {
      const generation = await ingress.reload(source.build(text), why);
      supervisor?.send(configLine(text));
      return generation;
    },
    log,
    outcome: (applied) => metrics?.reloaded(applied),
  });
  const supervisor = procs > 1
    ? new Supervisor({
      count: procs - 1,
      command: runtime.selfCommand(),
      args: [...runtime.args],
      ports: ingress.ports,
      relay,
      // The config it must run, then the drains in force (after the Tower's snapshot).
      greeting: () =>
        (reloader === null ? "" : configLine(reloader.text)) + drainSnapshot(ingress.replicas),
      log,
      onLine: (worker, line) => workerScrapes?.heard(worker, line),
    })
    : null;
  const workerScrapes = supervisor === null || metrics === null
    ? null
    : new WorkerScrapes((line) => supervisor.send(line), () => supervisor.pids.length);
  let stopping = false;
  const view = {
    ingress,
    ready: true,
    scrape: metrics === null ? undefined : () => scrape(metrics, workerScrapes),
    rates,
    broadcast: supervisor === null ? undefined : (line: string) => supervisor.send(line),
  };
  let admin: Admin | null = null;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    // Not ready first, so an orchestrator stops sending traffic before the listeners close.
    view.ready = false;
    reloader?.close();
    if (config.shutdownDelayMs > 0) {
      log(`shutting down: not ready; listeners close in ${config.shutdownDelayMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, config.shutdownDelayMs));
    }
    log(`shutting down (grace ${config.graceMs} ms)`);
    await Promise.all([ingress.shutdown(config.graceMs), supervisor?.stop(config.graceMs)]);
    admin?.close();
    relay?.close();
    runtime.exit(0);
  };
  onStop(runtime, stop);
  // logrotate's postrotate: every process opens the access log file again.
  runtime.onSignal("SIGUSR1", () => {
    ingress.reopenLogs();
    supervisor?.signal("SIGUSR1");
  });
  if (reloader !== null) {
    runtime.onSignal("SIGHUP", () => void reloader.reload("SIGHUP", true));
    reloader.watch();
  }
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
  if (config.admin !== null) {
    try {
      admin = await startAdmin(config.admin, runtime, log, view);
    } catch (e) {
      stopping = true;
      await Promise.all([ingress.shutdown(0), supervisor?.stop(0)]);
      const where = formatHostPort(config.admin.listen.host, config.admin.listen.port);
      throw new StartupError(`cannot listen for admin on ${where}: ${messageOf(e)}`);
    }
    const where = formatHostPort(config.admin.listen.host, admin.port);
    console.log(`gatehouse: admin on http://${where}`);
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
  for (const url of ingress.urls) console.log(`gatehouse: listening on ${url}`);
}

/** A config text as one relay line (the primary's reloads, passed to the workers). */
function configLine(text: string): string {
  return `C|${btoa(String.fromCharCode(...new TextEncoder().encode(text)))}\n`;
}

/** The text of a {@link configLine}, or null when `line` is not one. */
function configText(line: string): string | null {
  if (!line.startsWith("C|")) return null;
  const bytes = Uint8Array.from(atob(line.slice(2).trim()), (c) => c.charCodeAt(0));
  return new TextDecoder().decode(bytes);
}

/**
 * A `--procs` worker: the same ingress on the shared ports, routing against
 * a Tower state the primary keeps in step over stdin, and applying the
 * config texts the primary reloaded. It ends on SIGTERM/SIGINT or when stdin
 * ends (the primary is gone).
 */
async function runWorker(
  config: IngressConfig,
  ports: readonly number[],
  runtime: Runtime,
  log: (line: string) => void,
  source: ConfigSource | null,
): Promise<void> {
  const relayed = config.registry.kind === "embedded" ? new WorkerTowerState() : null;
  // The primary's scrape asks for this worker's metrics down the relay pipe (metrics/procs.ts).
  const metrics = config.admin === null ? null : new IngressMetrics({ primary: false });
  const ingress = await startIngress(config, runtime, log, {
    reusePort: true,
    ports,
    fixedListeners: true,
    embedded: { state: relayed?.state, serve: false },
    ...metrics?.hooks,
  });
  metrics?.attach(ingress);
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await ingress.shutdown(config.graceMs);
    relayed?.close();
    runtime.exit(0);
  };
  onStop(runtime, stop);
  runtime.onSignal("SIGUSR1", () => ingress.reopenLogs());
  // SIGHUP reaches the primary, which reloads and passes the text on: a worker only follows.
  runtime.onSignal("SIGHUP", () => {});
  // The first config line is what the primary runs when this worker starts: usually the
  // text this worker read itself. Every later one is a reload of the primary's, SIGHUP too.
  let first = true;
  let applying = Promise.resolve();
  followRelay({
    apply(line: string) {
      const answer = metrics === null ? null : workerAnswer(line, () => metrics.snapshot());
      if (answer !== null) return void console.log(answer);
      if (applyDrainLine(ingress.replicas, line)) return true;
      const text = configText(line);
      if (text === null) return relayed?.apply(line) ?? false;
      const startText = first && text === source?.text;
      first = false;
      if (source === null || startText) return true;
      // In order, one at a time, as the primary applied them.
      applying = applying.then(() =>
        ingress.reload(source.build(text), "the primary reloaded").then(
          () => {},
          (e) => log(`reload refused, the running config stays: ${messageOf(e)}`),
        )
      );
      return true;
    },
  }, stop);
  console.log(WORKER_READY);
}
