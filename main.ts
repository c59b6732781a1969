/**
 * Gatehouse: a dynamic HTTP ingress with an embedded service registry.
 *
 * flags -> config -> start (the listener and the Tower). Runs on Deno and, as
 * the compiled single binary, on Bun.
 *
 * @module
 */

import { parseCommandLine, towerGuard, USAGE, UsageError } from "./src/config.ts";
import type { Runtime } from "./src/runtime/types.ts";
import { denoRuntime, denoSelfCommand } from "./src/runtime/deno.ts";
import { bunRuntime, bunSelfCommand } from "./src/runtime/bun.ts";
import { startIngress, StartupError } from "./src/server.ts";
import type { IngressConfig } from "./src/config.ts";
import {
  followRelay,
  RelayedTowerState,
  Supervisor,
  WORKER_READY,
  workerPort,
  WorkerTowerState,
} from "./src/procs.ts";
import { startTowerServer } from "./src/tower.ts";
import { startDemoBackend } from "./src/demo.ts";
import { runRegister } from "./src/register.ts";
import { VERSION } from "./src/version.ts";

const runtime: Runtime = "Deno" in globalThis ? denoRuntime : bunRuntime;

function fail(code: number, message: string): never {
  console.error(`gatehouse: ${message}`);
  return runtime.exit(code);
}

function hostLabel(hostname: string): string {
  return hostname.includes(":") ? `[${hostname}]` : hostname;
}

async function main(args: string[]): Promise<void> {
  if (args[0] === "register") {
    // The registration sidecar: its exit code is the wrapped command's.
    runtime.exit(await runRegister(args.slice(1), runtime));
  }
  const command = parseCommandLine(args, runtime.env);
  switch (command.kind) {
    case "help":
      console.log(USAGE);
      return;
    case "version":
      console.log(`gatehouse ${VERSION} (${runtime.name})`);
      return;
    case "tower": {
      const { hostname, port } = command.listen;
      let tower;
      try {
        tower = await startTowerServer({
          hostname,
          port,
          bindUdp: runtime.bindUdp,
          ...towerGuard(command.allow, command.security),
        });
      } catch (e) {
        throw new StartupError(
          `cannot start the Tower on udp ${hostname}:${port}: ${(e as Error).message}`,
        );
      }
      const stop = () => {
        tower.close();
        runtime.exit(0);
      };
      // Handlers first: a signal right after the ready line must still exit cleanly.
      runtime.onSignal("SIGTERM", stop);
      runtime.onSignal("SIGINT", stop);
      console.log(`gatehouse: tower on udp ${hostLabel(tower.hostname)}:${tower.port}`);
      return;
    }
    case "ingress":
    case "demo": {
      const config = command.config;
      const log = (line: string) => console.error(`gatehouse: ${line}`);
      const sharedPort = workerPort(runtime.env);
      if (sharedPort !== undefined) return await runWorker(config, sharedPort, log);
      const procs = config.procs ?? 1;
      // With --procs, the workers route against copies of this Tower's state, kept in step.
      const relay = procs > 1 && config.tower.mode === "embedded" ? new RelayedTowerState() : null;
      const ingress = await startIngress(
        config,
        runtime,
        log,
        procs > 1 ? { reusePort: true, towerState: relay ?? undefined } : {},
      );
      const supervisor = procs > 1
        ? new Supervisor({
          count: procs - 1,
          command: runtime.name === "deno" ? denoSelfCommand() : bunSelfCommand(),
          args,
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
      // Handlers first: a signal right after the ready lines must still drain and exit 0.
      runtime.onSignal("SIGTERM", stop);
      runtime.onSignal("SIGINT", stop);
      if (supervisor !== null) {
        try {
          await supervisor.start();
        } catch (e) {
          if (stopping) return;
          stopping = true;
          await supervisor.stop(0);
          await ingress.shutdown(0);
          throw new StartupError(`cannot start the --procs workers: ${(e as Error).message}`);
        }
      }
      if (ingress.tower) {
        console.log(
          `gatehouse: tower on udp ${hostLabel(ingress.tower.hostname)}:${ingress.tower.port}`,
        );
      }
      if (command.kind === "demo") {
        if (!ingress.tower) throw new StartupError("the demo needs the embedded Tower");
        const demo = await startDemoBackend(runtime, "frontend");
        ingress.tower.state.register("frontend", "127.0.0.1", demo.port);
        // Heartbeat like any replica would, so the demo entry never expires.
        setInterval(
          () => ingress.tower!.state.register("frontend", "127.0.0.1", demo.port),
          10_000,
        );
        console.log(`gatehouse: demo backend "frontend" on http://127.0.0.1:${demo.port}`);
      }
      const scheme = config.tls ? "https" : "http";
      console.log(
        `gatehouse: listening on ${scheme}://${hostLabel(config.listen.hostname)}:${ingress.port}`,
      );
      return;
    }
  }
}

/**
 * A `--procs` worker: the same ingress on the shared port, routing against a
 * Tower state the primary keeps in step over stdin. It ends on SIGTERM/SIGINT
 * or when stdin ends (the primary is gone).
 */
async function runWorker(
  config: IngressConfig,
  port: number,
  log: (line: string) => void,
): Promise<void> {
  const relayed = config.tower.mode === "embedded" ? new WorkerTowerState() : null;
  const ingress = await startIngress(
    { ...config, listen: { ...config.listen, port } },
    runtime,
    log,
    { reusePort: true, towerState: relayed?.state, serveTower: false },
  );
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await ingress.shutdown(config.graceMs);
    relayed?.close();
    runtime.exit(0);
  };
  runtime.onSignal("SIGTERM", stop);
  runtime.onSignal("SIGINT", stop);
  followRelay(relayed ?? { apply: () => false }, stop);
  console.log(WORKER_READY);
}

try {
  await main(runtime.name === "deno" ? Deno.args : bunArgs());
} catch (e) {
  if (e instanceof UsageError) fail(2, `${e.message} (see --help)`);
  if (e instanceof StartupError) fail(1, e.message);
  fail(1, `fatal: ${e instanceof Error ? e.message : String(e)}`);
}

function bunArgs(): string[] {
  const p = (globalThis as unknown as { process: { argv: string[] } }).process;
  return p.argv.slice(2);
}
