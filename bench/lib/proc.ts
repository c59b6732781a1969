/**
 * Child processes of the harness (Deno): spawning with output captured to a
 * log file, waiting for a line, and stopping every child on exit. Plus the
 * `/proc` readers for CPU and memory accounting.
 * @module
 */

import {
  type CpuSample,
  descendants,
  parseCoreTimes,
  parseProcessStat,
  type ProcessStat,
} from "./cpu.ts";
import { parseVmRssKiB, sumDefined } from "./memory.ts";

/** How to start one child. */
export interface SpawnOptions {
  cwd?: string;
  env?: Record<string, string>;
  /** stdout and stderr are appended here. */
  logFile: string;
}

/** A child the {@link Supervisor} owns. */
export interface Managed {
  name: string;
  pid: number;
  logFile: string;
  /** Set once the process has exited. */
  exitCode: number | undefined;
  /** Resolves with the exit code. */
  exited: Promise<number>;
  /** The last lines of output, for error messages. */
  tail(lines?: number): string;
  /**
   * Resolves with the first output line (past or future) matching `re`, or
   * `undefined` on timeout or exit.
   */
  waitForLine(re: RegExp, timeoutMs: number): Promise<RegExpMatchArray | undefined>;
}

const KEEP_LINES = 200;

/** Writes all of `data` (a single write may be partial). */
async function writeAll(file: Deno.FsFile, data: Uint8Array): Promise<void> {
  let off = 0;
  while (off < data.length) off += await file.write(data.subarray(off));
}

/**
 * Owns the harness's children so that every one of them is stopped on any
 * way out: normal end, error, SIGINT or SIGTERM.
 */
export class Supervisor {
  #children = new Set<Managed & { child: Deno.ChildProcess }>();

  /**
   * Starts `cmd` with `args`, capturing its output.
   *
   * @example
   * ```ts
   * import { Supervisor } from "./proc.ts";
   * declare const conf: string;
   * const sup = new Supervisor();
   * const nginx = sup.spawn("backend", "nginx", ["-c", conf], { logFile: "out/backend.log" });
   * ```
   */
  spawn(name: string, cmd: string, args: readonly string[], opts: SpawnOptions): Managed {
    const child = new Deno.Command(cmd, {
      args: [...args],
      cwd: opts.cwd,
      env: opts.env,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();

    const lines: string[] = [];
    const listeners = new Set<(line: string) => void>();
    const log = Deno.openSync(opts.logFile, { create: true, append: true });
    let writes = Promise.resolve();

    const pump = async (stream: ReadableStream<Uint8Array>) => {
      const decoder = new TextDecoder();
      let partial = "";
      for await (const chunk of stream) {
        writes = writes.then(() => writeAll(log, chunk)).catch(() => {});
        partial += decoder.decode(chunk, { stream: true });
        const parts = partial.split("\n");
        partial = parts.pop() ?? "";
        for (const line of parts) {
          lines.push(line);
          if (lines.length > KEEP_LINES) lines.shift();
          for (const l of listeners) l(line);
        }
      }
      if (partial !== "") {
        lines.push(partial);
        for (const l of listeners) l(partial);
      }
    };
    const pumps = Promise.all([pump(child.stdout), pump(child.stderr)]).catch(() => {});

    const managed = {
      name,
      pid: child.pid,
      logFile: opts.logFile,
      exitCode: undefined as number | undefined,
      child,
      exited: child.status.then(async (s) => {
        managed.exitCode = s.code;
        // A grandchild that inherited the pipes can keep them open; do not
        // let that hold up the exit.
        await Promise.race([pumps, new Promise((r) => setTimeout(r, 1000))]);
        await writes;
        log.close();
        this.#children.delete(managed);
        return s.code;
      }),
      tail: (n = 15) => lines.slice(-n).join("\n"),
      waitForLine: (re: RegExp, timeoutMs: number) =>
        new Promise<RegExpMatchArray | undefined>((resolve) => {
          const seen = lines.map((l) => l.match(re)).find((m) => m !== null);
          if (seen) return resolve(seen);
          const done = (m: RegExpMatchArray | undefined) => {
            clearTimeout(timer);
            listeners.delete(onLine);
            resolve(m);
          };
          const onLine = (line: string) => {
            const m = line.match(re);
            if (m) done(m);
          };
          const timer = setTimeout(() => done(undefined), timeoutMs);
          listeners.add(onLine);
          managed.exited.then(() => done(undefined));
        }),
    };
    this.#children.add(managed);
    return managed;
  }

  /**
   * Stops one child: SIGTERM, then SIGKILL after `graceMs`; descendants that
   * outlive it (e.g. workers) are killed too.
   */
  async stop(m: Managed, graceMs = 3000): Promise<void> {
    if (m.exitCode !== undefined) return;
    const tree = processTree(m.pid);
    signal(m.pid, "SIGTERM");
    const timedOut = await Promise.race([
      m.exited.then(() => false),
      new Promise<boolean>((r) => setTimeout(() => r(true), graceMs)),
    ]);
    if (timedOut) signal(m.pid, "SIGKILL");
    for (const pid of tree) if (pid !== m.pid) signal(pid, "SIGKILL");
    await m.exited;
  }

  /** Stops every child still running, in parallel. */
  async stopAll(): Promise<void> {
    await Promise.all([...this.#children].map((c) => this.stop(c)));
  }

  /** Last resort for synchronous exit paths: SIGKILL every child. */
  killAllNow(): void {
    for (const c of this.#children) signal(c.pid, "SIGKILL");
  }
}

function signal(pid: number, sig: Deno.Signal): void {
  try {
    Deno.kill(pid, sig);
  } catch {
    // Already gone.
  }
}

/** Every process's pid and parent pid, from `/proc`. */
function allProcesses(): ProcessStat[] {
  const procs = [];
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      procs.push(parseProcessStat(Deno.readTextFileSync(`/proc/${entry.name}/stat`)));
    } catch {
      // Exited while we looked.
    }
  }
  return procs;
}

/**
 * The pids of `root` and its descendants.
 *
 * @example
 * ```ts
 * import { processTree } from "./proc.ts";
 * declare const nginxMasterPid: number;
 * processTree(nginxMasterPid); // Set {master, worker}
 * ```
 */
export function processTree(root: number): Set<number> {
  return descendants(root, allProcesses());
}

/**
 * utime + stime, in clock ticks, of `root` and all its descendants.
 *
 * @example
 * ```ts
 * import { type Managed, processTreeTicks } from "./proc.ts";
 * declare const proxy: Managed;
 * const ticks = processTreeTicks(proxy.pid);
 * ```
 */
export function processTreeTicks(root: number): number {
  const procs = allProcesses();
  const tree = descendants(root, procs);
  return procs.filter((p) => tree.has(p.pid)).reduce((sum, p) => sum + p.utime + p.stime, 0);
}

/**
 * Resident memory in KiB of `root` and all its descendants: the sum of their
 * `VmRSS` (pages shared between them, e.g. nginx's master and worker, count
 * once per process). `undefined` when none of them is left.
 *
 * @example
 * ```ts
 * import { type Managed, processTreeRssKiB } from "./proc.ts";
 * declare const proxy: Managed;
 * const kib = processTreeRssKiB(proxy.pid);
 * ```
 */
export function processTreeRssKiB(root: number): number | undefined {
  const readings = [...processTree(root)].map((pid) => {
    try {
      return parseVmRssKiB(Deno.readTextFileSync(`/proc/${pid}/status`));
    } catch {
      return undefined; // Exited while we looked.
    }
  });
  return sumDefined(readings);
}

/**
 * CPU ticks of this process, including reaped children (finished wrk runs).
 *
 * @example
 * ```ts
 * const before = selfTicks();
 * ```
 */
export function selfTicks(): number {
  const s = parseProcessStat(Deno.readTextFileSync("/proc/self/stat"));
  return s.utime + s.stime + s.cutime + s.cstime;
}

/**
 * CPU counters of two cores and of the processes the harness runs on each:
 * `proxyPid`'s tree on `proxyCpu`; `loadPids`' trees and this process (its
 * finished wrk runs included) on `loadCpu`. Two of them give a run's
 * {@link cpuUsage}.
 *
 * @example
 * ```ts
 * import { cpuUsage } from "./cpu.ts";
 * import { sampleCpu } from "./proc.ts";
 * declare const proxyPid: number, backendPid: number;
 * const before = sampleCpu(proxyPid, 0, [backendPid], 1);
 * // ... the run
 * const usage = cpuUsage(before, sampleCpu(proxyPid, 0, [backendPid], 1), 100);
 * ```
 */
export function sampleCpu(
  proxyPid: number,
  proxyCpu: number,
  loadPids: readonly number[],
  loadCpu: number,
): CpuSample {
  const proxyTicks = processTreeTicks(proxyPid);
  const loadTicks = loadPids.reduce((n, pid) => n + processTreeTicks(pid), 0) + selfTicks();
  const stat = Deno.readTextFileSync("/proc/stat");
  return {
    atMs: performance.now(),
    proxyTicks,
    core: parseCoreTimes(stat, proxyCpu),
    loadTicks,
    loadCore: parseCoreTimes(stat, loadCpu),
  };
}

/**
 * Clock ticks per second for `/proc` times (USER_HZ, 100 on Linux).
 *
 * @example
 * ```ts
 * const hz = await clockTicks(); // 100
 * ```
 */
export async function clockTicks(): Promise<number> {
  try {
    const r = await runCommand("getconf", ["CLK_TCK"]);
    const n = Number(r.stdout.trim());
    return n > 0 ? n : 100;
  } catch {
    return 100;
  }
}

/**
 * Runs a command to completion and returns its exit code and output.
 *
 * @example
 * ```ts
 * const { code, stdout } = await runCommand("nginx", ["-v"]);
 * ```
 */
export async function runCommand(
  cmd: string,
  args: readonly string[],
  opts: { cwd?: string; timeoutMs?: number } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = new Deno.Command(cmd, {
    args: [...args],
    cwd: opts.cwd,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const timer = opts.timeoutMs === undefined
    ? undefined
    : setTimeout(() => signal(child.pid, "SIGKILL"), opts.timeoutMs);
  try {
    const out = await child.output();
    const dec = new TextDecoder();
    return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Runs `deno fmt` on written reports (paths relative to `repoRoot`): the
 * committed outputs must pass `deno fmt --check`. A failure is ignored:
 * the reports are written either way.
 *
 * @example
 * ```ts
 * await formatReports(".", ["bench/RESULTS.md", "bench/results.svg"]);
 * ```
 */
export async function formatReports(repoRoot: string, files: readonly string[]): Promise<void> {
  await runCommand(Deno.execPath(), ["fmt", ...files], { cwd: repoRoot, timeoutMs: 60_000 })
    .catch(() => {});
}

/**
 * The absolute path of `name` on PATH (plus the sbin folders, where Debian
 * puts nginx and haproxy), or `undefined`.
 *
 * @example
 * ```ts
 * findExecutable("wrk"); // "/usr/bin/wrk"
 * ```
 */
export function findExecutable(name: string): string | undefined {
  const dirs = (Deno.env.get("PATH") ?? "").split(":").filter((d) => d !== "");
  for (const extra of ["/usr/local/sbin", "/usr/sbin", "/sbin"]) {
    if (!dirs.includes(extra)) dirs.push(extra);
  }
  for (const dir of dirs) {
    try {
      const info = Deno.statSync(`${dir}/${name}`);
      if (info.isFile && ((info.mode ?? 0) & 0o111) !== 0) return `${dir}/${name}`;
    } catch {
      // Not here.
    }
  }
  return undefined;
}
