/**
 * `--procs N`: N processes serve one port (SO_REUSEPORT), one event loop
 * each. The first process (the primary) runs the embedded Tower and
 * supervises N-1 workers, which are the same program started again.
 *
 * Each worker routes against its own in-process Tower state, so resolving a
 * service stays a map lookup with no syscall; the primary keeps those states
 * in step (relay.ts).
 *
 * The primary restarts a worker that dies, passes SIGTERM/SIGINT on for a
 * graceful shutdown (and SIGUSR1 on, for the access log file), and waits
 * for the workers before it exits. A worker
 * whose stdin ends (the primary is gone) shuts down by itself.
 *
 * Spawning and pipes use `node:child_process` and `node:process`, which Deno
 * and Bun both provide.
 *
 * @module
 */

import type { ChildProcess } from "node:child_process";
import process from "node:process";
import { builtin } from "../../runtime/builtin.ts";
import type { SelfCommand } from "../../runtime/types.ts";
import { parsePort } from "../../net/address.ts";
import type { RelayedTowerState } from "./relay.ts";

/** Environment variable that makes a process a worker; its value is the ports to share ("9090,9443"). */
export const WORKER_PORT_ENV = "GATEHOUSE_WORKER_PORT";

/** The line a worker prints on stdout once it is accepting connections. */
export const WORKER_READY = "gatehouse: worker ready";

/**
 * The ports a worker must share, listener for listener, when this process is a worker.
 *
 * @example
 * ```ts
 * import { workerPorts } from "./supervisor.ts";
 * workerPorts(() => "9090,9443"); // [9090, 9443]
 * ```
 */
export function workerPorts(env: (name: string) => string | undefined): number[] | undefined {
  const text = env(WORKER_PORT_ENV);
  if (text === undefined) return undefined;
  const ports = text.split(",").map((t) => parsePort(t));
  return ports.every((p) => p !== undefined) ? ports as number[] : undefined;
}

/** Options for {@link Supervisor}. */
export interface SupervisorOptions {
  /** Workers to keep running. */
  count: number;
  /** How to start this program again. */
  command: SelfCommand;
  /** The program's own arguments, passed on unchanged. */
  args: string[];
  /** The bound ports the workers share. */
  ports: readonly number[];
  /** Lines every new worker is sent after the Tower's snapshot (the config it must run). */
  greeting?: () => string;
  /** The primary's Tower state, when workers route against relayed copies of it. */
  relay: RelayedTowerState | null;
  /** Log lines (stderr). */
  log(line: string): void;
  /** How long a worker may take to report ready (default 30 s). */
  readyTimeoutMs?: number;
  /** Each line a worker writes on stdout after its ready line, with its number (1..count). */
  onLine?(worker: number, line: string): void;
}

interface Slot {
  child: ChildProcess | null;
  startedAt: number;
  restartDelayMs: number;
}

/**
 * Starts the workers, relays Tower changes to them, restarts any that dies,
 * and stops them all on shutdown.
 *
 * @example
 * ```ts
 * import { Supervisor } from "./supervisor.ts";
 * import { RelayedTowerState } from "./relay.ts";
 * import { currentRuntime } from "../../runtime/current.ts";
 * const runtime = currentRuntime();
 * const sup = new Supervisor({
 *   count: 1,
 *   command: runtime.selfCommand(),
 *   args: [...runtime.args],
 *   ports: [9090],
 *   relay: new RelayedTowerState(),
 *   log: console.error,
 * });
 * await sup.start();
 * await sup.stop(10_000);
 * ```
 */
export class Supervisor {
  readonly #opts: SupervisorOptions;
  readonly #slots: Slot[] = [];
  #stopping = false;

  constructor(opts: SupervisorOptions) {
    this.#opts = opts;
    if (opts.relay) opts.relay.onChange = (line) => this.#broadcast(line);
  }

  /** Process ids of the running workers. */
  get pids(): number[] {
    return this.#slots.flatMap((s) => s.child?.pid !== undefined ? [s.child.pid] : []);
  }

  /** Start every worker; resolves when all report ready, rejects when one cannot start. */
  async start(): Promise<void> {
    const ready: Promise<void>[] = [];
    for (let i = 0; i < this.#opts.count; i++) {
      const slot: Slot = { child: null, startedAt: 0, restartDelayMs: 250 };
      this.#slots.push(slot);
      ready.push(this.#spawn(slot));
    }
    await Promise.all(ready);
  }

  /** Send `line` to every worker (a config text the primary applied). */
  send(line: string): void {
    this.#broadcast(line);
  }

  /** Pass `signal` on to every running worker (SIGUSR1: reopen the access log file). */
  signal(signal: "SIGUSR1"): void {
    for (const slot of this.#slots) {
      const pid = slot.child?.pid;
      // process.kill, not child.kill: Deno's ChildProcess.kill also closes the child's pipes,
      // and a worker whose stdin ends shuts down.
      if (pid === undefined) continue;
      try {
        process.kill(pid, signal);
      } catch { /* gone */ }
    }
  }

  #broadcast(line: string): void {
    for (const slot of this.#slots) {
      const stdin = slot.child?.stdin;
      if (stdin && !stdin.destroyed) stdin.write(line);
    }
  }

  #spawn(slot: Slot): Promise<void> {
    const { command, args, ports, relay } = this.#opts;
    const { spawn } = builtin<typeof import("node:child_process")>("node:child_process");
    const child = spawn(command.cmd, [...command.args, ...args], {
      env: { ...process.env, [WORKER_PORT_ENV]: ports.join(",") },
      stdio: ["pipe", "pipe", "inherit"],
    });
    slot.child = child;
    slot.startedAt = Date.now();
    // A worker that exits while we write must not take the primary down.
    child.stdin!.on("error", () => {});
    // The snapshot goes first; later changes follow it down the same pipe, in order.
    if (relay) {
      const snapshot = relay.snapshot();
      if (snapshot !== "") child.stdin!.write(snapshot);
    }
    const greeting = this.#opts.greeting?.() ?? "";
    if (greeting !== "") child.stdin!.write(greeting);
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      let out = "";
      const timer = setTimeout(() => {
        if (settled) return;
        settled = true;
        reject(new Error(`worker ${child.pid} did not start within ${this.#readyTimeout} ms`));
      }, this.#readyTimeout);
      child.stdout!.setEncoding("utf8");
      const onLine = this.#opts.onLine;
      const worker = this.#slots.indexOf(slot) + 1;
      let ready = false;
      child.stdout!.on("data", (chunk: string) => {
        if (settled && !ready) return;
        out += chunk;
        if (!ready) {
          const at = out.indexOf(WORKER_READY);
          if (at < 0) return;
          ready = settled = true;
          clearTimeout(timer);
          resolve();
          out = out.slice(at + WORKER_READY.length);
        }
        // After the ready line, whole lines go to onLine (metrics answers).
        if (onLine === undefined) return void (out = "");
        let nl: number;
        while ((nl = out.indexOf("\n")) >= 0) {
          const line = out.slice(0, nl);
          out = out.slice(nl + 1);
          if (line !== "") onLine(worker, line);
        }
      });
      child.on("error", (e) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        reject(e);
      });
      child.on("exit", (code, signal) => {
        if (slot.child === child) slot.child = null;
        if (!settled) {
          settled = true;
          clearTimeout(timer);
          reject(new Error(`worker exited at start (${signal ?? `code ${code}`})`));
          return;
        }
        if (this.#stopping) return;
        this.#restart(slot, code, signal);
      });
    });
  }

  get #readyTimeout(): number {
    return this.#opts.readyTimeoutMs ?? 30_000;
  }

  #restart(slot: Slot, code: number | null, signal: string | null): void {
    // One that keeps dying soon after start is restarted less and less often.
    const quick = Date.now() - slot.startedAt < 5_000;
    slot.restartDelayMs = quick ? Math.min(slot.restartDelayMs * 2, 10_000) : 250;
    this.#opts.log(
      `worker exited (${signal ?? `code ${code}`}); restarting in ${slot.restartDelayMs} ms`,
    );
    setTimeout(() => {
      if (this.#stopping) return;
      this.#spawn(slot).catch((e) => {
        this.#opts.log(`worker restart failed: ${e instanceof Error ? e.message : e}`);
        if (!this.#stopping && slot.child === null) this.#restart(slot, null, null);
      });
    }, slot.restartDelayMs);
  }

  /**
   * Ask every worker to shut down (SIGTERM: it drains for its own grace
   * period) and wait for them, killing any still running after `graceMs`
   * plus a margin.
   */
  async stop(graceMs: number): Promise<void> {
    this.#stopping = true;
    const waits: Promise<void>[] = [];
    for (const slot of this.#slots) {
      const child = slot.child;
      if (!child || child.exitCode !== null || child.signalCode !== null) continue;
      waits.push(
        new Promise<void>((resolve) => {
          const timer = setTimeout(() => {
            try {
              child.kill("SIGKILL");
            } catch { /* gone */ }
            resolve();
          }, graceMs + 5_000);
          child.once("exit", () => {
            clearTimeout(timer);
            resolve();
          });
        }),
      );
      try {
        child.kill("SIGTERM");
      } catch { /* gone */ }
    }
    await Promise.all(waits);
  }
}
