/**
 * Starting the backend and each proxy under test (Deno): config files into
 * the out dir, the process pinned to its core, and a readiness check that a
 * GET through it returns the backend's body.
 * @module
 */

import { haproxyConfig } from "./haproxy.ts";
import { nginxBackendConfig, type NginxFiles, nginxProxyConfig } from "./nginx.ts";
import { probe, tcpPortFree } from "./probe.ts";
import { type Managed, runCommand, type Supervisor } from "./proc.ts";
import { GATEHOUSE_VARIANTS, type ProxyId, routeFlags, variantArgs } from "./scenarios.ts";
import { TowerRegistration, udpPortFree } from "./tower.ts";

/** The 13-byte body the backend serves at `/`. */
export const SMALL_BODY = "hello, world\n";
/** Size of the body at `/big`. */
export const BIG_BODY_BYTES = 1024 * 1024;
/** CPU the proxies run on; everything else runs on {@link LOAD_CPU}. */
export const PROXY_CPU = 0;
/** CPU for wrk, the backend and the harness itself. */
export const LOAD_CPU = 1;
/** Tower heartbeat period; entries expire after 30 s. */
const HEARTBEAT_MS = 10_000;

/** Resolved paths of the external tools. */
export interface Tools {
  nginx: string;
  haproxy: string;
  wrk: string;
  /** Absent when pinning is impossible (one CPU, no taskset). */
  taskset?: string;
}

/** What starting a process needs. */
export interface BenchContext {
  sup: Supervisor;
  repoRoot: string;
  outDir: string;
  tools: Tools;
  /** Extra Gatehouse flags (BENCH_GATEHOUSE_ARGS). */
  gatehouseArgs: readonly string[];
  /** Progress output. */
  log: (msg: string) => void;
}

/** A started, serving process. */
export interface Running {
  id: string;
  port: number;
  managed: Managed;
  /** Stops it (and its Tower heartbeat). */
  close(): Promise<void>;
}

/**
 * `[cmd, args]` that runs `cmd` pinned to `cpu`, or unpinned without taskset.
 *
 * @example
 * ```ts
 * import { pinned, type Tools } from "./proxies.ts";
 * declare const tools: Tools;
 * declare const url: string;
 * const [cmd, args] = pinned(tools, 1, "wrk", ["-t1", url]);
 * ```
 */
export function pinned(
  tools: Tools,
  cpu: number,
  cmd: string,
  args: readonly string[],
): [string, string[]] {
  return tools.taskset ? [tools.taskset, ["-c", String(cpu), cmd, ...args]] : [cmd, [...args]];
}

// Ports below the ephemeral range (32768+) clash less with client sockets.
let nextPort = 18080;

/** The next free loopback TCP port from a fixed range. */
function freeTcpPort(): number {
  while (!tcpPortFree(nextPort)) nextPort++;
  return nextPort++;
}

async function freeUdpPort(): Promise<number> {
  while (!(await udpPortFree("127.0.0.1", nextPort))) nextPort++;
  return nextPort++;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls GET / until it returns the backend's body; throws with the log tail otherwise. */
async function waitUntilServing(m: Managed, port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = "no answer";
  while (Date.now() < deadline) {
    if (m.exitCode !== undefined) {
      throw new Error(`exited with code ${m.exitCode}: ${m.tail(5) || "(no output)"}`);
    }
    try {
      const r = await probe(port, "/", 1000);
      if (r.status === 200 && r.body.includes(SMALL_BODY.trim())) return;
      last = `GET / answered ${r.status}`;
    } catch (e) {
      last = e instanceof Error ? e.message : String(e);
    }
    await sleep(100);
  }
  throw new Error(`not serving after ${timeoutMs / 1000} s (${last})`);
}

function nginxFiles(dir: string): NginxFiles {
  return {
    prefix: dir,
    pidFile: `${dir}/nginx.pid`,
    errorLog: `${dir}/error.log`,
    // As root, nginx workers would run as nobody, who may not be able to
    // read the out dir; keep them as root for the benchmark.
    user: Deno.uid() === 0 ? "root" : undefined,
  };
}

/**
 * Starts an nginx pinned to `cpu` with the configuration `conf` writes for
 * its files (under the out dir's folder `id`) and a free port, and waits
 * until GET / returns {@link SMALL_BODY}.
 *
 * @example
 * ```ts
 * import { type BenchContext, LOAD_CPU, SMALL_BODY, startNginx } from "./proxies.ts";
 * import { nginxBackendConfig } from "./nginx.ts";
 * declare const ctx: BenchContext;
 * const replica = await startNginx(ctx, "replica-1", LOAD_CPU, (files, port) =>
 *   nginxBackendConfig({ ...files, port, smallBody: SMALL_BODY, bigFile: "/tmp/big.bin" }));
 * ```
 * @throws with a one-line reason when it does not start or serve.
 */
export async function startNginx(
  ctx: BenchContext,
  id: string,
  cpu: number,
  conf: (files: NginxFiles, port: number) => string,
): Promise<Running> {
  const dir = `${ctx.outDir}/${id}`;
  await Deno.mkdir(dir, { recursive: true });
  const files = nginxFiles(dir);
  const port = freeTcpPort();
  const confFile = `${dir}/nginx.conf`;
  await Deno.writeTextFile(confFile, conf(files, port));
  const [cmd, args] = pinned(ctx.tools, cpu, ctx.tools.nginx, [
    "-p",
    `${dir}/`,
    "-e",
    files.errorLog,
    "-c",
    confFile,
  ]);
  const m = ctx.sup.spawn(id, cmd, args, { logFile: `${dir}/stdout.log` });
  await waitUntilServing(m, port, 10_000);
  return { id, port, managed: m, close: () => ctx.sup.stop(m) };
}

/**
 * Starts the backend nginx on {@link LOAD_CPU}, serving {@link SMALL_BODY}
 * at `/` and a {@link BIG_BODY_BYTES} file at `/big`.
 */
export async function startBackend(ctx: BenchContext): Promise<Running> {
  const bigFile = `${ctx.outDir}/big.bin`;
  const big = new Uint8Array(BIG_BODY_BYTES);
  for (let i = 0; i < big.length; i++) big[i] = (i * 31 + 7) & 0xff;
  await Deno.writeFile(bigFile, big);
  return await startNginx(
    ctx,
    "backend",
    LOAD_CPU,
    (files, port) => nginxBackendConfig({ ...files, port, smallBody: SMALL_BODY, bigFile }),
  );
}

/**
 * Starts haproxy pinned to {@link PROXY_CPU} with the configuration `config`
 * writes for a free port, and waits until GET / through it returns
 * {@link SMALL_BODY}.
 *
 * @example
 * ```ts
 * import { type BenchContext, startHaproxy } from "./proxies.ts";
 * import { haproxyConfig } from "./haproxy.ts";
 * declare const ctx: BenchContext;
 * const proxy = await startHaproxy(ctx, (port) => haproxyConfig({ port, upstreamPort: 18080 }));
 * ```
 * @throws with a one-line reason when it does not start or serve.
 */
export async function startHaproxy(
  ctx: BenchContext,
  config: (port: number) => string,
): Promise<Running> {
  const dir = `${ctx.outDir}/haproxy`;
  await Deno.mkdir(dir, { recursive: true });
  const port = freeTcpPort();
  const cfg = `${dir}/haproxy.cfg`;
  await Deno.writeTextFile(cfg, config(port));
  // -db: stay in the foreground so the harness owns (and can stop) it.
  const [cmd, args] = pinned(ctx.tools, PROXY_CPU, ctx.tools.haproxy, ["-db", "-f", cfg]);
  const m = ctx.sup.spawn("haproxy", cmd, args, { logFile: `${dir}/stdout.log` });
  await waitUntilServing(m, port, 10_000);
  return { id: "haproxy", port, managed: m, close: () => ctx.sup.stop(m) };
}

// Two variants run the binary; build it (or fail) once for both.
let binary: Promise<string> | undefined;

/** Builds dist/gatehouse with compile.sh when it is missing (once per run). */
function ensureBinary(ctx: BenchContext): Promise<string> {
  binary ??= findOrBuildBinary(ctx);
  return binary;
}

async function findOrBuildBinary(ctx: BenchContext): Promise<string> {
  const bin = `${ctx.repoRoot}/dist/gatehouse`;
  try {
    const info = await Deno.stat(bin);
    ctx.log(`using dist/gatehouse built ${info.mtime?.toISOString() ?? "at an unknown time"}`);
    return bin;
  } catch {
    // Build it below.
  }
  ctx.log("dist/gatehouse missing; running ./compile.sh");
  const r = await runCommand(`${ctx.repoRoot}/compile.sh`, [], {
    cwd: ctx.repoRoot,
    timeoutMs: 600_000,
  });
  await Deno.writeTextFile(`${ctx.outDir}/compile.log`, r.stdout + r.stderr);
  if (r.code !== 0) {
    const tail = (r.stdout + r.stderr).trim().split("\n").slice(-3).join(" / ");
    throw new Error(`compile.sh failed (${tail})`);
  }
  return bin;
}

/** What a Gatehouse under test is started with. */
export interface GatehouseLaunch {
  /** Name of its process and folder in the out dir. */
  id: string;
  /** The compiled binary, or `deno run main.ts`. */
  program: "binary" | "deno run";
  /** Its `--route` flags. */
  routes: readonly string[];
  /** The service the replicas are registered as. */
  service: string;
  /** The replicas' ports on 127.0.0.1, each registered over the Tower protocol. */
  backendPorts: readonly number[];
  /** More flags, after the others. */
  extraArgs: readonly string[];
}

/**
 * Starts Gatehouse pinned to {@link PROXY_CPU} with an embedded Tower,
 * registers every replica in it (and keeps them registered), and waits
 * until GET / through it returns {@link SMALL_BODY}.
 *
 * @example
 * ```ts
 * import { type BenchContext, startGatehouse } from "./proxies.ts";
 * declare const ctx: BenchContext;
 * const proxy = await startGatehouse(ctx, {
 *   id: "gatehouse-bin", program: "binary", routes: ["--route", "/:bench"],
 *   service: "bench", backendPorts: [18080, 18081], extraArgs: ["--retries", "3"],
 * });
 * ```
 * @throws with a one-line reason when it does not start, register or serve.
 */
export async function startGatehouse(ctx: BenchContext, g: GatehouseLaunch): Promise<Running> {
  try {
    await Deno.stat(`${ctx.repoRoot}/main.ts`);
  } catch {
    throw new Error("main.ts does not exist yet");
  }
  const dir = `${ctx.outDir}/${g.id}`;
  await Deno.mkdir(dir, { recursive: true });
  const port = freeTcpPort();
  const towerPort = await freeUdpPort();
  const flags = [
    "--listen",
    `127.0.0.1:${port}`,
    "--tower-listen",
    `127.0.0.1:${towerPort}`,
    ...g.routes,
    ...g.extraArgs,
  ];
  const [program, programArgs] = g.program === "binary"
    ? [await ensureBinary(ctx), flags]
    : [Deno.execPath(), ["run", "-A", "main.ts", ...flags]];
  const [cmd, args] = pinned(ctx.tools, PROXY_CPU, program, programArgs);
  const m = ctx.sup.spawn(g.id, cmd, args, { cwd: ctx.repoRoot, logFile: `${dir}/output.log` });

  const ready = await m.waitForLine(/gatehouse: listening on http:\/\/\S+:(\d+)/, 30_000);
  if (!ready) {
    await ctx.sup.stop(m);
    const output = m.tail(5) || "(no output)";
    throw new Error(
      m.exitCode !== undefined
        ? `exited with code ${m.exitCode}: ${output}`
        : `no "gatehouse: listening on" line within 30 s: ${output}`,
    );
  }

  const registrations = g.backendPorts.map((backendPort) =>
    new TowerRegistration({
      towerHost: "127.0.0.1",
      towerPort,
      service: g.service,
      ip: "127.0.0.1",
      port: backendPort,
    })
  );
  const close = async () => {
    for (const r of registrations) r.close();
    await ctx.sup.stop(m);
  };
  try {
    for (const registration of registrations) {
      let reply: string | undefined;
      for (let i = 0; i < 10 && reply === undefined; i++) reply = await registration.register(500);
      if (reply === undefined) throw new Error(`Tower on UDP ${towerPort} did not answer REGISTER`);
      if (!reply.startsWith("OK|REGISTERED|")) throw new Error(`Tower answered ${reply}`);
      registration.startHeartbeat(HEARTBEAT_MS);
    }
    await waitUntilServing(m, Number(ready[1]), 10_000);
  } catch (e) {
    await close();
    throw e;
  }
  return { id: g.id, port: Number(ready[1]), managed: m, close };
}

/**
 * Starts one proxy in front of the backend, pinned to {@link PROXY_CPU}.
 *
 * @example
 * ```ts
 * import { type BenchContext, startBackend, startProxy } from "./proxies.ts";
 * declare const ctx: BenchContext;
 * const backend = await startBackend(ctx);
 * const proxy = await startProxy(ctx, "haproxy", backend.port);
 * ```
 * @throws with a one-line reason when it does not start or serve.
 */
export async function startProxy(
  ctx: BenchContext,
  id: ProxyId,
  backendPort: number,
): Promise<Running> {
  switch (id) {
    case "nginx":
      return await startNginx(
        ctx,
        "nginx",
        PROXY_CPU,
        (files, port) => nginxProxyConfig({ ...files, port, upstreamPort: backendPort }),
      );
    case "nginx-log":
      return await startNginx(
        ctx,
        "nginx-log",
        PROXY_CPU,
        (files, port) =>
          nginxProxyConfig({
            ...files,
            port,
            upstreamPort: backendPort,
            accessLog: `${files.prefix}/access.log`,
          }),
      );
    case "haproxy":
      return await startHaproxy(ctx, (port) => haproxyConfig({ port, upstreamPort: backendPort }));
    case "gatehouse-bin":
    case "gatehouse-deno":
    case "gatehouse-bin-1k":
    case "gatehouse-bin-metrics":
    case "gatehouse-bin-log": {
      const variant: { program: "binary" | "deno run"; routes: number; accessLog?: string } =
        GATEHOUSE_VARIANTS[id];
      const log = variant.accessLog === undefined ? [] : [
        "--access-log-format",
        variant.accessLog,
        "--access-log-file",
        `${ctx.outDir}/${id}/access.log`,
      ];
      return await startGatehouse(ctx, {
        id,
        program: variant.program,
        // Only /:bench is served; the others just fill the route table.
        routes: routeFlags(variant.routes),
        service: "bench",
        backendPorts: [backendPort],
        extraArgs: [...log, ...variantArgs(id), ...ctx.gatehouseArgs],
      });
    }
  }
}
