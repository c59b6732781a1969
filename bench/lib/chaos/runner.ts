/**
 * One recorded chaos run (Deno): three replicas and one proxy started
 * afresh, unrecorded load, then wrk while one replica fails, and the
 * replicas' logs (or the frozen one's receive queues) read into counts.
 * @module
 */

import { cpuUsage } from "../cpu.ts";
import { runCommand, sampleCpu } from "../proc.ts";
import {
  type BenchContext,
  LOAD_CPU,
  pinned,
  PROXY_CPU,
  type Running,
  SMALL_BODY,
  startGatehouse,
  startHaproxy,
  startNginx,
} from "../proxies.ts";
import { parseWrkOutput, wrkArgs } from "../wrk.ts";
import { ArrivalTally, parseProcNetTcp, QueueArrivals, type RunWindows } from "./arrivals.ts";
import {
  type ChaosProxyId,
  CONNECTIONS,
  type FaultId,
  REPLICAS,
  SICK_REPLICA,
  SLOW_REPLY_S,
  UNREADY_GATEHOUSE_ARGS,
  UNREADY_S,
  WRK_TIMEOUT_S,
} from "./faults.ts";
import type { ChaosOptions } from "./options.ts";
import { commonest, replicaConfig, replicaPaths, tallyAccessLog } from "./replica.ts";
import type { ChaosRecord } from "./results.ts";
import {
  CHAOS_SERVICE,
  chaosHaproxyConfig,
  chaosNginxConfig,
  GATEHOUSE_ROUTES,
  gatehouseChaosFlags,
} from "./settings.ts";
import { parseStatusLines } from "./statuses.ts";

/** What every run needs. */
export interface ChaosContext {
  bench: BenchContext;
  opts: ChaosOptions;
  /** Absolute path of nginx's echo module. */
  echoModule: string;
  /** The wrk script that counts statuses. */
  statusScript: string;
  /** Clock ticks per second of `/proc` times. */
  hz: number;
}

/** How often the frozen replica's receive queues are read. */
const QUEUE_LOOK_MS = 50;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Where nginx's echo module is (nginx-light depends on it in Debian), from
 * the modules path `nginx -V` reports.
 *
 * @example
 * ```ts
 * import { findEchoModule } from "./runner.ts";
 * await findEchoModule("/usr/sbin/nginx"); // "/usr/lib/nginx/modules/ngx_http_echo_module.so"
 * ```
 * @throws with what to install when it is missing.
 */
export async function findEchoModule(nginx: string): Promise<string> {
  const r = await runCommand(nginx, ["-V"], { timeoutMs: 10_000 });
  const dir = /--modules-path=(\S+)/.exec(r.stdout + r.stderr)?.[1] ?? "/usr/lib/nginx/modules";
  const path = `${dir}/ngx_http_echo_module.so`;
  try {
    await Deno.stat(path);
    return path;
  } catch {
    throw new Error(`${path} is missing: apt-get install -y libnginx-mod-http-echo`);
  }
}

let wrkRuns = 0;

/** One wrk run against `port`, pinned to the load core; resolves with its output. */
async function wrk(
  ctx: ChaosContext,
  label: string,
  port: number,
  durationS: number,
  script?: string,
): Promise<string> {
  const { bench } = ctx;
  const args = wrkArgs({
    url: `http://127.0.0.1:${port}/`,
    connections: CONNECTIONS,
    threads: 1,
    durationS,
    timeoutS: WRK_TIMEOUT_S,
    script,
  });
  const [cmd, cmdArgs] = pinned(bench.tools, LOAD_CPU, bench.tools.wrk, args);
  const logFile = `${bench.outDir}/wrk.log`;
  await Deno.writeTextFile(logFile, `\n=== ${label}: wrk ${args.join(" ")}\n`, { append: true });
  const m = bench.sup.spawn(`wrk-${++wrkRuns}`, cmd, cmdArgs, { logFile });
  const guard = setTimeout(() => bench.sup.stop(m), (durationS + 30) * 1000);
  await m.exited;
  clearTimeout(guard);
  return m.tail(200);
}

/** Starts the three replicas, their fault switches off and their logs empty. */
async function startReplicas(ctx: ChaosContext): Promise<Running[]> {
  const replicas: Running[] = [];
  for (let i = 1; i <= REPLICAS; i++) {
    const paths = replicaPaths(`${ctx.bench.outDir}/replica-${i}`);
    for (const file of [paths.accessLog, paths.answer500, paths.answerSlow, paths.answer503]) {
      await Deno.remove(file).catch(() => {});
    }
    replicas.push(
      await startNginx(
        ctx.bench,
        `replica-${i}`,
        LOAD_CPU,
        (files, port) =>
          replicaConfig({ ...files, port, smallBody: SMALL_BODY, echoModule: ctx.echoModule }),
      ),
    );
  }
  return replicas;
}

/** Starts `proxy` in front of the replicas on `ports`. */
function startChaosProxy(
  ctx: ChaosContext,
  proxy: ChaosProxyId,
  ports: readonly number[],
  fault: FaultId,
): Promise<Running> {
  switch (proxy) {
    case "nginx":
      return startNginx(
        ctx.bench,
        "nginx",
        PROXY_CPU,
        (f, port) => chaosNginxConfig(f, port, ports),
      );
    case "haproxy":
      return startHaproxy(ctx.bench, (port) => chaosHaproxyConfig(port, ports));
    case "gatehouse-bin":
      return startGatehouse(ctx.bench, {
        id: proxy,
        program: "binary",
        routes: GATEHOUSE_ROUTES,
        service: CHAOS_SERVICE,
        backendPorts: ports,
        extraArgs: gatehouseChaosFlags([
          ...(fault === "unready" ? UNREADY_GATEHOUSE_ARGS : []),
          ...ctx.opts.gatehouseArgs,
        ]),
      });
  }
}

/** A watch on a frozen replica's receive queues. */
interface QueueWatch {
  /** Ends the watch (after one last look); resolves with what the queues gained. */
  stop(): Promise<QueueArrivals>;
}

/**
 * Reads the receive queues of the replica on `port` every
 * {@link QUEUE_LOOK_MS}; resolves once the baseline look is taken, which
 * must come before the replica freezes: a proxy sends it a burst of
 * requests in the first milliseconds.
 */
async function watchQueues(port: number): Promise<QueueWatch> {
  const queues = new QueueArrivals();
  const look = async () =>
    queues.observe(Date.now(), parseProcNetTcp(await Deno.readTextFile("/proc/net/tcp"), port));
  await look();
  let watching = true;
  const loop = (async () => {
    while (watching) {
      await sleep(QUEUE_LOOK_MS);
      await look();
    }
  })();
  return {
    stop: async () => {
      watching = false;
      await loop;
      await look();
      return queues;
    },
  };
}

/**
 * Makes `fault` happen to `replica`; resolves with the moment it did and,
 * for SIGSTOP, the watch on its queues (its baseline taken just before).
 */
async function inflict(
  fault: FaultId,
  replica: Running,
  prefix: string,
): Promise<
  { atMs: number; queues?: QueueWatch; control?: QueueWatch; ended?: Promise<number> }
> {
  const paths = replicaPaths(prefix);
  switch (fault) {
    case "none":
      return { atMs: Date.now() };
    case "sigkill": {
      // The SIGSTOP goal compares the two runs, so this one carries the same watch (reading
      // /proc/net/tcp costs the load CPU some time), though a dead replica queues nothing.
      const control = await watchQueues(replica.port);
      const atMs = Date.now();
      Deno.kill(replica.managed.pid, "SIGKILL");
      return { atMs, control };
    }
    case "sigstop": {
      const queues = await watchQueues(replica.port);
      const atMs = Date.now();
      Deno.kill(replica.managed.pid, "SIGSTOP");
      return { atMs, queues };
    }
    case "unready": {
      const atMs = Date.now();
      await Deno.writeTextFile(paths.answer503, "");
      // Ready again after UNREADY_S: resolves with that moment.
      const ended = sleep(UNREADY_S * 1000).then(async () => {
        await Deno.remove(paths.answer503).catch(() => {});
        return Date.now();
      });
      return { atMs, ended };
    }
    case "http500":
    case "slow": {
      const atMs = Date.now();
      await Deno.writeTextFile(fault === "http500" ? paths.answer500 : paths.answerSlow, "");
      return { atMs };
    }
  }
}

/** Counts each replica's load requests in the run's windows, then drops the (large) logs. */
async function countRequests(
  ctx: ChaosContext,
  record: ChaosRecord,
  windows: RunWindows,
  queues: QueueArrivals | undefined,
): Promise<void> {
  const sizes = new Map<number, number>();
  const tallies: ArrivalTally[] = [];
  for (let i = 1; i <= REPLICAS; i++) {
    const { accessLog } = replicaPaths(`${ctx.bench.outDir}/replica-${i}`);
    const tally = new ArrivalTally(windows);
    const text = await Deno.readTextFile(accessLog).catch(() => "");
    tallyAccessLog(text, tally, sizes);
    await Deno.remove(accessLog).catch(() => {});
    tallies.push(tally);
  }
  record.requestBytes = commonest(sizes);
  record.sickCountedBy = "access log";
  if (queues !== undefined && record.requestBytes !== undefined) {
    for (const a of queues.arrivals(record.requestBytes)) {
      tallies[SICK_REPLICA].add(a.atMs, a.requests);
    }
    record.sickCountedBy = "receive queues";
  }
  record.replicas = tallies.map((t) => t.count());
}

/**
 * One recorded run of `proxy` under `fault`: everything started afresh,
 * `warmupS` of unrecorded load, then wrk with the fault `faultAtS` in.
 *
 * @example
 * ```ts
 * import { type ChaosContext, chaosRun } from "./runner.ts";
 * declare const ctx: ChaosContext;
 * const record = await chaosRun(ctx, "sigstop", "haproxy", 1);
 * ```
 */
export async function chaosRun(
  ctx: ChaosContext,
  fault: FaultId,
  proxy: ChaosProxyId,
  run: number,
): Promise<ChaosRecord> {
  const { opts } = ctx;
  const record: ChaosRecord = { fault, proxy, run };
  const running: Running[] = [];
  let frozen: Running | undefined;
  try {
    const replicas = await startReplicas(ctx);
    running.push(...replicas);
    const front = await startChaosProxy(ctx, proxy, replicas.map((r) => r.port), fault);
    running.unshift(front); // Stopped first, so the replicas see no more requests.
    const label = `${proxy} ${fault} run ${run}`;
    if (opts.warmupS > 0) await wrk(ctx, `${label} warm-up`, front.port, opts.warmupS);

    const sick = replicas[SICK_REPLICA];
    const sample = () =>
      sampleCpu(front.managed.pid, PROXY_CPU, replicas.map((r) => r.managed.pid), LOAD_CPU);
    const before = sample();
    const startMs = Date.now();
    const output = wrk(ctx, label, front.port, opts.durationS, ctx.statusScript);
    await Promise.race([output, sleep(opts.faultAtS * 1000)]);
    const hit = await inflict(fault, sick, `${ctx.bench.outDir}/replica-${SICK_REPLICA + 1}`);
    if (fault === "sigstop") frozen = sick;
    const text = await output;
    const faultEndMs = await hit.ended;
    const windows = { startMs, faultMs: hit.atMs, endMs: Date.now(), faultEndMs };
    record.cpu = cpuUsage(before, sample(), ctx.hz);
    const queues = await hit.queues?.stop();
    await hit.control?.stop();
    record.windows = windows;
    try {
      record.wrk = parseWrkOutput(text);
      record.statuses = parseStatusLines(text);
    } catch {
      record.error = `wrk: ${text.trim().split("\n").slice(-1)[0] || "no report"}`;
      return record;
    }
    // Answers still being slept on were asked for within the run: let them be logged.
    if (fault === "slow") await sleep(SLOW_REPLY_S * 1000 + 500);
    if (frozen) Deno.kill(frozen.managed.pid, "SIGCONT");
    frozen = undefined;
    for (const r of running.splice(0)) await r.close();
    await countRequests(ctx, record, windows, queues);
  } catch (e) {
    record.error = (e instanceof Error ? e.message : String(e)).replaceAll("\n", " / ");
  } finally {
    if (frozen) Deno.kill(frozen.managed.pid, "SIGCONT");
    for (const r of running) await r.close().catch(() => {});
  }
  return record;
}
