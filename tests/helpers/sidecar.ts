/**
 * `gatehouse register`, the registration sidecar, as a child process for
 * end-to-end tests: what it prints, line by line, its signals and its exit.
 *
 * @module
 */

import { type ChildProcess, spawn } from "node:child_process";
import process from "node:process";
import { Buffer } from "node:buffer";
import { gatehouseCommand, REPO_ROOT } from "./gatehouse.ts";

/** A sidecar process and what it printed. */
export interface Sidecar {
  proc: ChildProcess;
  lines: string[];
  readonly stderr: string;
  exited: Promise<number | null>;
  /** Resolves with the first stdout line matching `re` (rejects after `timeoutMs`). */
  line(re: RegExp, timeoutMs?: number): Promise<string>;
  signal(signal: NodeJS.Signals): void;
  kill(): Promise<void>;
}

/**
 * The sidecars started and not yet seen to exit; after-hooks kill what is left.
 *
 * @example
 * ```ts
 * import { sidecars } from "./sidecar.ts";
 * for (const sidecar of [...sidecars]) await sidecar.kill();
 * ```
 */
export const sidecars: Set<Sidecar> = new Set<Sidecar>();

/**
 * Start `gatehouse register <args>` and collect what it prints.
 *
 * @example
 * ```ts
 * import { startSidecar } from "./sidecar.ts";
 * const sidecar = startSidecar(["--registry", "tower://127.0.0.1:7772", "--service", "api", "--addr", "127.0.0.1:8081"]);
 * await sidecar.line(/^gatehouse: registered /);
 * sidecar.signal("SIGTERM");
 * ```
 */
export function startSidecar(args: string[]): Sidecar {
  const { cmd, prefix } = gatehouseCommand();
  const proc = spawn(cmd, [...prefix, "register", ...args], {
    cwd: REPO_ROOT,
    env: { ...process.env, NO_COLOR: "1" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const lines: string[] = [];
  const waiters = new Set<() => void>();
  let stderr = "";
  let partial = "";
  proc.stdout!.on("data", (chunk: Buffer) => {
    partial += chunk.toString("utf8");
    let nl: number;
    while ((nl = partial.indexOf("\n")) >= 0) {
      lines.push(partial.slice(0, nl));
      partial = partial.slice(nl + 1);
    }
    for (const wake of waiters) wake();
  });
  proc.stderr!.on("data", (chunk: Buffer) => {
    stderr += chunk.toString("utf8");
  });
  let done = false;
  const exited = new Promise<number | null>((resolve) => {
    proc.once("exit", (code) => {
      done = true;
      for (const wake of waiters) wake();
      resolve(code);
    });
  });
  const sidecar: Sidecar = {
    proc,
    lines,
    get stderr() {
      return stderr;
    },
    exited,
    line(re, timeoutMs = 30_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const found = lines.find((l) => re.test(l));
          if (found !== undefined) {
            finish();
            resolve(found);
          } else if (done) {
            finish();
            reject(new Error(`sidecar exited without printing ${re}\n${describe()}`));
          }
        };
        const timer = setTimeout(() => {
          finish();
          reject(new Error(`no ${re} within ${timeoutMs} ms\n${describe()}`));
        }, timeoutMs);
        const finish = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
    signal(signal) {
      if (!done && proc.pid !== undefined) process.kill(proc.pid, signal);
    },
    async kill() {
      sidecars.delete(sidecar);
      if (!done) proc.kill("SIGKILL");
      await exited;
    },
  };
  const describe = () => `stdout: ${JSON.stringify(lines)}\nstderr: ${stderr}`;
  sidecars.add(sidecar);
  return sidecar;
}

/**
 * Waits for the exit code, killing the process after `timeoutMs`.
 *
 * @example
 * ```ts
 * import { exitCode, type Sidecar } from "./sidecar.ts";
 * declare const sidecar: Sidecar;
 * const code = await exitCode(sidecar); // 0 after a SIGTERM without a command
 * ```
 */
export async function exitCode(sidecar: Sidecar, timeoutMs = 30_000): Promise<number | null> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<"late">((
    resolve,
  ) => (timer = setTimeout(() => resolve("late"), timeoutMs)));
  const result = await Promise.race([sidecar.exited, late]);
  clearTimeout(timer);
  if (result === "late") {
    await sidecar.kill();
    throw new Error(`sidecar still running ${timeoutMs} ms later\nstderr: ${sidecar.stderr}`);
  }
  sidecars.delete(sidecar);
  return result;
}
