/**
 * `--procs N`: N processes serve one port (SO_REUSEPORT), one event loop
 * each. The first process (the primary) runs the embedded Tower and
 * supervises N-1 workers, which are the same program started again.
 *
 * Each worker routes against its own in-process Tower state, so resolving a
 * service stays a map lookup with no syscall. The primary keeps those states
 * in step: it writes every REGISTER and DEREGISTER its Tower accepts to each
 * worker's stdin as one line, after a snapshot of the live entries when the
 * worker starts. A relayed REGISTER carries the entry's age, so TTLs expire
 * at the same moment everywhere.
 *
 * The primary restarts a worker that dies, passes SIGTERM/SIGINT on for a
 * graceful shutdown, and waits for the workers before it exits. A worker
 * whose stdin ends (the primary is gone) shuts down by itself.
 *
 * Spawning and pipes use `node:child_process` and `node:process`, which Deno
 * and Bun both provide.
 *
 * @module
 */

import type { ChildProcess } from "node:child_process";
import process from "node:process";
import { TowerState, type TowerStateOptions } from "./tower.ts";
import { builtin } from "./runtime/builtin.ts";

/** Environment variable that makes a process a worker; its value is the port to share. */
export const WORKER_PORT_ENV = "GATEHOUSE_WORKER_PORT";

/** The line a worker prints on stdout once it is accepting connections. */
export const WORKER_READY = "gatehouse: worker ready";

/** How to start this same program again (the arguments given to it are appended). */
export interface SelfCommand {
  cmd: string;
  args: string[];
}

// ---------------------------------------------------------------------------
// The relay protocol: one line per change, primary -> worker stdin
// ---------------------------------------------------------------------------

/**
 * A REGISTER line: `R|name|host|port|ageMs` (the entry was refreshed `ageMs`
 * ago). Names and hosts never contain "|" or a newline (the Tower validates
 * them).
 *
 * @example
 * ```ts
 * registerLine("web", "10.0.0.7", 8080, 0); // "R|web|10.0.0.7|8080|0\n"
 * ```
 */
export function registerLine(name: string, host: string, port: number, ageMs: number): string {
  return `R|${name}|${host}|${port}|${Math.max(0, Math.round(ageMs))}\n`;
}

/**
 * A DEREGISTER line: `D|name|host|port`.
 *
 * @example
 * ```ts
 * deregisterLine("web", "10.0.0.7", 8080); // "D|web|10.0.0.7|8080\n"
 * ```
 */
export function deregisterLine(name: string, host: string, port: number): string {
  return `D|${name}|${host}|${port}\n`;
}

/**
 * The primary's Tower state: a {@link TowerState} that also tells `onChange`
 * every REGISTER (new or heartbeat) and DEREGISTER it accepts, and can list
 * its live entries with their exact age for a starting worker.
 *
 * @example
 * ```ts
 * const state = new RelayedTowerState((line) => worker.stdin.write(line));
 * state.register("web", "10.0.0.7", 8080); // relays "R|web|10.0.0.7|8080|0\n"
 * state.close();
 * ```
 */
export class RelayedTowerState extends TowerState {
  /** Called with each relay line. */
  onChange: ((line: string) => void) | null;
  /** When each name|host|port was last registered, for exact snapshot ages. */
  readonly #registeredAt = new Map<string, number>();
  readonly #clock: () => number;

  constructor(onChange: ((line: string) => void) | null = null, options: TowerStateOptions = {}) {
    super(options);
    this.onChange = onChange;
    this.#clock = options.now ?? Date.now;
  }

  override register(name: string, host: string, port: number): boolean {
    const isNew = super.register(name, host, port);
    this.#registeredAt.set(`${name}|${host}|${port}`, this.#clock());
    this.onChange?.(registerLine(name, host, port, 0));
    return isNew;
  }

  override deregister(name: string, host: string, port: number): boolean {
    const removed = super.deregister(name, host, port);
    this.#registeredAt.delete(`${name}|${host}|${port}`);
    this.onChange?.(deregisterLine(name, host, port));
    return removed;
  }

  /** Every live entry as REGISTER lines with its age (what a new worker is sent first). */
  snapshot(): string {
    const now = this.#clock();
    const live = new Set<string>();
    let out = "";
    for (const e of this.list()) {
      const key = `${e.name}|${e.host}|${e.port}`;
      live.add(key);
      const at = this.#registeredAt.get(key);
      const age = at !== undefined ? now - at : this.ttlMs - e.ttlLeft * 1000;
      out += registerLine(e.name, e.host, e.port, age);
    }
    // Forget the times of entries that expired.
    for (const key of this.#registeredAt.keys()) if (!live.has(key)) this.#registeredAt.delete(key);
    return out;
  }
}

/**
 * A worker's Tower state and how relay lines change it. A REGISTER that is
 * `ageMs` old is applied with the state's clock set back by that much, so
 * the entry expires when the primary's does.
 *
 * @example
 * ```ts
 * const w = new WorkerTowerState();
 * w.apply("R|web|10.0.0.7|8080|1500");
 * w.state.replicas("web"); // [{ host: "10.0.0.7", port: 8080 }]
 * ```
 */
export class WorkerTowerState {
  readonly state: TowerState;
  #skew = 0;

  constructor(options: TowerStateOptions = {}) {
    const clock = options.now ?? Date.now;
    this.state = new TowerState({
      ...options,
      now: () => this.#skew === 0 ? clock() : clock() - this.#skew,
    });
  }

  /** Apply one relay line; false when it is not one (it is ignored). */
  apply(line: string): boolean {
    const f = line.trim().split("|");
    const port = Number(f[3]);
    try {
      if (f[0] === "R" && f.length === 5) {
        this.#skew = Number(f[4]) || 0;
        try {
          this.state.register(f[1], f[2], port);
        } finally {
          this.#skew = 0;
        }
        return true;
      }
      if (f[0] === "D" && f.length === 4) {
        this.state.deregister(f[1], f[2], port);
        return true;
      }
    } catch {
      // An invalid entry (the state refuses it) changes nothing.
    }
    return false;
  }

  close(): void {
    this.state.close();
  }
}

/**
 * Feed relay lines from this process's stdin into `target`; `onEnd` runs once
 * stdin ends (the primary is gone or closed the pipe).
 *
 * @example
 * ```ts
 * followRelay(new WorkerTowerState(), () => shutdown());
 * ```
 */
export function followRelay(target: { apply(line: string): unknown }, onEnd: () => void): void {
  let partial = "";
  let ended = false;
  const end = () => {
    if (ended) return;
    ended = true;
    onEnd();
  };
  const stdin = process.stdin;
  stdin.setEncoding("utf8");
  stdin.on("data", (chunk: string) => {
    partial += chunk;
    let nl: number;
    while ((nl = partial.indexOf("\n")) >= 0) {
      target.apply(partial.slice(0, nl));
      partial = partial.slice(nl + 1);
    }
  });
  stdin.on("end", end);
  stdin.on("close", end);
  stdin.on("error", end);
}

/** The port a worker must share, when this process is a worker. */
export function workerPort(env: (name: string) => string | undefined): number | undefined {
  const text = env(WORKER_PORT_ENV);
  if (text === undefined || !/^\d{1,5}$/.test(text)) return undefined;
  return Number(text);
}

// ---------------------------------------------------------------------------
// The primary's supervisor
// ---------------------------------------------------------------------------

/** Options for {@link Supervisor}. */
export interface SupervisorOptions {
  /** Workers to keep running. */
  count: number;
  /** How to start this program again. */
  command: SelfCommand;
  /** The program's own arguments, passed on unchanged. */
  args: string[];
  /** The bound port the workers share. */
  port: number;
  /** The primary's Tower state, when workers route against relayed copies of it. */
  relay: RelayedTowerState | null;
  /** Log lines (stderr). */
  log(line: string): void;
  /** How long a worker may take to report ready (default 30 s). */
  readyTimeoutMs?: number;
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
 * const sup = new Supervisor({ count: 1, command, args, port, relay, log });
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

  #broadcast(line: string): void {
    for (const slot of this.#slots) {
      const stdin = slot.child?.stdin;
      if (stdin && !stdin.destroyed) stdin.write(line);
    }
  }

  #spawn(slot: Slot): Promise<void> {
    const { command, args, port, relay } = this.#opts;
    const { spawn } = builtin<typeof import("node:child_process")>("node:child_process");
    const child = spawn(command.cmd, [...command.args, ...args], {
      env: { ...process.env, [WORKER_PORT_ENV]: String(port) },
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
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      let out = "";
      const timer = setTimeout(() => {
        if (settled) return;
        settled = true;
        reject(new Error(`worker ${child.pid} did not start within ${this.#readyTimeout} ms`));
      }, this.#readyTimeout);
      child.stdout!.setEncoding("utf8");
      child.stdout!.on("data", (chunk: string) => {
        if (settled) return;
        out += chunk;
        if (out.includes(WORKER_READY)) {
          settled = true;
          clearTimeout(timer);
          resolve();
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
