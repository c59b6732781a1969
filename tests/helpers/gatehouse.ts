/**
 * Starts Gatehouse as a child process for end-to-end tests and reads its
 * ready lines to learn the real ports.
 *
 * The command is `$GATEHOUSE_BIN <args>` when that variable is set (the
 * compiled binary), otherwise `<current runtime> run -A <repo>/main.ts <args>`.
 *
 * @module
 */

import { type ChildProcess, spawn } from "node:child_process";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { resolve as resolvePath } from "node:path";
import { Buffer } from "node:buffer";

/** The repository root (two folders above this file). */
export const REPO_ROOT: string = fileURLToPath(new URL("../../", import.meta.url));

/** Which ready line a start waits for. */
export type ReadyLine = "http" | "tower";

/** Options for {@link startGatehouse}. */
export interface StartOptions {
  /**
   * Ready lines to wait for. Default: "tower" only for `tower ...`, "http"
   * only when `--tower` (remote) is given, otherwise both.
   */
  ready?: ReadyLine[];
  /** How long to wait for the ready lines (default 30 s). */
  readyTimeoutMs?: number;
  /** Extra environment variables. */
  env?: Record<string, string>;
}

/** How a process ended. */
export interface ExitInfo {
  code: number | null;
  signal: string | null;
}

/** A running Gatehouse process. */
export interface Gatehouse {
  proc: ChildProcess;
  /** "http" or "https", from the listening line. */
  scheme: string;
  /** Host printed in the listening line. */
  httpHost: string;
  /** The HTTP(S) port (0 when no listening line was awaited). */
  httpPort: number;
  /** Host printed in the Tower line, if one was awaited. */
  towerHost?: string;
  /** The Tower's UDP port, if a Tower line was awaited. */
  towerPort?: number;
  /** Every stdout line so far. */
  stdoutLines: string[];
  /** Everything written to stderr so far. */
  readonly stderr: string;
  /** Resolves when the process exits. */
  exited: Promise<ExitInfo>;
  /** True once the process has exited. */
  readonly hasExited: boolean;
  /**
   * Sends `signal` to the process. (Deno's `ChildProcess.kill` reports the
   * signal as the cause of any later exit, hiding the real exit code, so
   * this goes through `process.kill(pid)`.)
   */
  signal(signal: NodeJS.Signals): void;
  /**
   * Sends `signal` (default SIGTERM) and resolves with the exit code (null
   * when killed by a signal). After `timeoutMs` (default 20 s) it sends
   * SIGKILL and rejects.
   */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<number | null>;
  /** SIGKILL and wait; never rejects. For after-hooks. */
  kill(): Promise<void>;
}

const LISTEN_RE = /^gatehouse: listening on (https?):\/\/(.+):(\d+)$/;
const TOWER_RE = /^gatehouse: tower on udp (.+):(\d+)$/;

/** The command and leading arguments that run Gatehouse. */
export function gatehouseCommand(): { cmd: string; prefix: string[] } {
  const bin = process.env.GATEHOUSE_BIN;
  if (bin) return { cmd: resolvePath(process.cwd(), bin), prefix: [] };
  const main = `${REPO_ROOT}main.ts`;
  // Under Bun the runtime has no -A; under Deno it is required.
  return {
    cmd: process.execPath,
    prefix: gatehouseRuntime() === "bun" ? ["run", main] : ["run", "-A", main],
  };
}

/** The runtime {@link gatehouseCommand} runs Gatehouse under ("bun" for the compiled binary). */
export function gatehouseRuntime(): "bun" | "deno" {
  if (process.env.GATEHOUSE_BIN) return "bun";
  return typeof (process.versions as Record<string, string | undefined>).bun === "string"
    ? "bun"
    : "deno";
}

const running = new Set<Gatehouse>();

function defaultReady(args: string[]): ReadyLine[] {
  if (args[0] === "tower") return ["tower"];
  if (args.includes("--tower")) return ["http"];
  return ["http", "tower"];
}

/**
 * Starts Gatehouse with `args` and waits for its ready lines.
 *
 * @example
 * ```ts
 * import { startGatehouse } from "./gatehouse.ts";
 * import { startEchoBackend } from "./backends.ts";
 * import { register } from "./tower.ts";
 * const backend = await startEchoBackend("web");
 * const gh = await startGatehouse([
 *   "--listen", "127.0.0.1:0", "--tower-listen", "127.0.0.1:0", "--route", "/:web",
 * ]);
 * await register(gh.towerPort!, "web", backend.port);
 * await gh.kill();
 * ```
 */
export function startGatehouse(args: string[], opts: StartOptions = {}): Promise<Gatehouse> {
  const { cmd, prefix } = gatehouseCommand();
  const want = new Set(opts.ready ?? defaultReady(args));
  const proc = spawn(cmd, [...prefix, ...args], {
    cwd: REPO_ROOT,
    env: { ...process.env, NO_COLOR: "1", ...opts.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const stdoutLines: string[] = [];
  let stderr = "";
  let partial = "";
  let exitInfo: ExitInfo | undefined;
  const lineListeners = new Set<(line: string) => void>();
  proc.stdout!.on("data", (chunk: Buffer) => {
    partial += chunk.toString("utf8");
    let nl: number;
    while ((nl = partial.indexOf("\n")) >= 0) {
      const line = partial.slice(0, nl).replace(/\r$/, "");
      partial = partial.slice(nl + 1);
      stdoutLines.push(line);
      for (const l of lineListeners) l(line);
    }
  });
  proc.stderr!.on("data", (chunk: Buffer) => {
    stderr += chunk.toString("utf8");
  });
  const exited = new Promise<ExitInfo>((resolve) => {
    proc.on("exit", (code, signal) => {
      exitInfo = { code, signal };
      resolve(exitInfo);
    });
    proc.on("error", (err) => {
      stderr += `spawn error: ${err.message}\n`;
      exitInfo = { code: -1, signal: null };
      resolve(exitInfo);
    });
  });

  const gh: Gatehouse = {
    proc,
    scheme: "http",
    httpHost: "",
    httpPort: 0,
    stdoutLines,
    get stderr() {
      return stderr;
    },
    exited,
    get hasExited() {
      return exitInfo !== undefined;
    },
    signal(signal: NodeJS.Signals) {
      if (!exitInfo && proc.pid !== undefined) process.kill(proc.pid, signal);
    },
    async stop(signal: NodeJS.Signals = "SIGTERM", timeoutMs = 20_000) {
      gh.signal(signal);
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<"timeout">((resolve) => {
        timer = setTimeout(() => resolve("timeout"), timeoutMs);
      });
      const result = await Promise.race([exited, timeout]);
      clearTimeout(timer);
      running.delete(gh);
      if (result === "timeout") {
        proc.kill("SIGKILL");
        await exited;
        throw new Error(`gatehouse did not exit within ${timeoutMs} ms of ${signal}`);
      }
      return result.code;
    },
    async kill() {
      running.delete(gh);
      if (!exitInfo) proc.kill("SIGKILL");
      await exited;
    },
  };
  running.add(gh);

  return new Promise<Gatehouse>((resolve, reject) => {
    const timeoutMs = opts.readyTimeoutMs ?? 30_000;
    const describeState = () =>
      `command: ${[cmd, ...prefix, ...args].join(" ")}\nstdout: ${
        JSON.stringify(stdoutLines)
      }\nstderr: ${stderr}`;
    const onLine = (line: string) => {
      const l = LISTEN_RE.exec(line);
      if (l && want.has("http")) {
        gh.scheme = l[1];
        gh.httpHost = l[2];
        gh.httpPort = Number(l[3]);
        want.delete("http");
      }
      const t = TOWER_RE.exec(line);
      if (t && want.has("tower")) {
        gh.towerHost = t[1];
        gh.towerPort = Number(t[2]);
        want.delete("tower");
      }
      if (want.size === 0) finish();
    };
    const timer = setTimeout(() => {
      cleanup();
      gh.kill().then(() =>
        reject(
          new Error(
            `gatehouse not ready within ${timeoutMs} ms (waiting for ${[...want]})\n` +
              describeState(),
          ),
        )
      );
    }, timeoutMs);
    const finish = () => {
      cleanup();
      resolve(gh);
    };
    const cleanup = () => {
      clearTimeout(timer);
      lineListeners.delete(onLine);
    };
    lineListeners.add(onLine);
    for (const line of [...stdoutLines]) onLine(line);
    exited.then((info) => {
      if (want.size === 0) return;
      cleanup();
      // Let the last stderr bytes arrive before reporting.
      setTimeout(() => {
        running.delete(gh);
        reject(
          new Error(
            `gatehouse exited before it was ready (code ${info.code}, signal ${info.signal})\n` +
              describeState(),
          ),
        );
      }, 50);
    });
  });
}

/**
 * Waits until what `gh` wrote to stderr matches `pattern` (a log line may
 * arrive after the response it belongs to), and returns the match; rejects
 * after `timeoutMs` with stderr so far.
 *
 * @example
 * ```ts
 * import { type Gatehouse, stderrMatching } from "./gatehouse.ts";
 * declare const gh: Gatehouse;
 * const [line] = await stderrMatching(gh, /request \S+ "GET \/x": 502 .*$/m);
 * ```
 */
export async function stderrMatching(
  gh: Gatehouse,
  pattern: RegExp,
  timeoutMs = 5_000,
): Promise<RegExpMatchArray> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const m = gh.stderr.match(pattern);
    if (m !== null) return m;
    if (Date.now() > deadline) {
      throw new Error(`stderr did not match ${pattern} within ${timeoutMs} ms:\n${gh.stderr}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Result of {@link runGatehouse}. */
export interface RunResult {
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  /** The process had to be killed because it did not exit in time. */
  timedOut: boolean;
}

/**
 * Runs Gatehouse to completion (for flag errors and the like); kills it after
 * `timeoutMs` (default 20 s) and reports `timedOut`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { runGatehouse } from "./gatehouse.ts";
 * const r = await runGatehouse(["--bogus"]);
 * assert.equal(r.code, 2);
 * ```
 */
export function runGatehouse(args: string[], timeoutMs = 20_000): Promise<RunResult> {
  const { cmd, prefix } = gatehouseCommand();
  return new Promise((resolve) => {
    const proc = spawn(cmd, [...prefix, ...args], {
      cwd: REPO_ROOT,
      env: { ...process.env, NO_COLOR: "1" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    let timedOut = false;
    proc.stdout!.on("data", (c: Buffer) => (stdout += c.toString("utf8")));
    proc.stderr!.on("data", (c: Buffer) => (stderr += c.toString("utf8")));
    const timer = setTimeout(() => {
      timedOut = true;
      proc.kill("SIGKILL");
    }, timeoutMs);
    proc.on("error", (err) => {
      clearTimeout(timer);
      resolve({ code: -1, signal: null, stdout, stderr: `spawn error: ${err.message}`, timedOut });
    });
    proc.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, timedOut });
    });
  });
}

/** SIGKILLs every Gatehouse this module started that is still running. */
export async function killAll(): Promise<void> {
  await Promise.all([...running].map((gh) => gh.kill()));
}

/** The usual flags for a test instance: loopback HTTP and Tower on free ports. */
export function freePortFlags(): string[] {
  return ["--listen", "127.0.0.1:0", "--tower-listen", "127.0.0.1:0"];
}

/**
 * The admin port from `gatehouse: admin on http://HOST:PORT`.
 *
 * @example
 * ```ts
 * import { adminPort, type Gatehouse } from "./gatehouse.ts";
 * declare const gh: Gatehouse;
 * const port = adminPort(gh);
 * ```
 */
export function adminPort(gh: Gatehouse): number {
  const line = gh.stdoutLines.find((l) => l.startsWith("gatehouse: admin on http://"));
  if (line === undefined) {
    throw new Error(`no admin ready line in ${JSON.stringify(gh.stdoutLines)}`);
  }
  return Number(line.slice(line.lastIndexOf(":") + 1));
}
