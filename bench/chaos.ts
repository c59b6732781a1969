/**
 * `deno task chaos`: gray failures. Three single-process nginx replicas of
 * one service behind nginx, haproxy and the Gatehouse binary, each set up
 * for the faults; wrk's keep-alive load through each proxy while, 3 s in,
 * one replica is killed, frozen, made to answer 500 or to answer after 2 s.
 * Per fault and proxy: completed requests, client-visible errors by kind,
 * p99 and max latency, the sick replica's share of the requests after the
 * fault and when it stopped getting any; and whether Gatehouse meets the
 * goals set for it.
 *
 * Layout: the proxy on CPU 0; wrk, the replicas and this harness on CPU 1.
 * Writes bench/out/chaos.json, bench/chaos.svg and the chaos section of
 * bench/RESULTS.md.
 *
 * @example
 * ```sh
 * deno task chaos                  # 3 runs x 12 s per cell (~15 min)
 * deno task chaos --quick          # 1 run x 8 s per cell
 * BENCH_CHAOS_FAULTS=sigstop BENCH_CHAOS_PROXIES=gatehouse-bin deno task chaos --quick
 * deno task chaos --render         # the reports again from bench/out/chaos.json
 * ```
 * @module
 */

import { goalsWithRuns } from "./lib/chaos/goals.ts";
import { CHAOS_USAGE, type ChaosOptions, parseChaosOptions } from "./lib/chaos/options.ts";
import {
  chaosChart,
  chaosConsole,
  type ChaosResults,
  chaosSection,
  spliceSection,
} from "./lib/chaos/report.ts";
import { formatErrors, formatShare, formatStop } from "./lib/chaos/report.ts";
import {
  type ChaosRecord,
  disturbanceNote,
  runFigures,
  summarizeChaos,
} from "./lib/chaos/results.ts";
import { type ChaosContext, chaosRun, findEchoModule } from "./lib/chaos/runner.ts";
import { settingsLines } from "./lib/chaos/settings.ts";
import { STATUS_SCRIPT } from "./lib/chaos/statuses.ts";
import { collectMachineFacts } from "./lib/machine.ts";
import { clockTicks, formatReports, runCommand, Supervisor } from "./lib/proc.ts";
import { LOAD_CPU } from "./lib/proxies.ts";
import { formatLatency } from "./lib/report.ts";
import { barChartSvg } from "./lib/svg.ts";
import { findTools } from "./lib/tools.ts";

const BENCH_DIR = decodeURIComponent(new URL(".", import.meta.url).pathname).replace(/\/$/, "");
const REPO_ROOT = BENCH_DIR.replace(/\/bench$/, "");
const OUT_DIR = `${BENCH_DIR}/out`;
/** The replicas' and proxies' files; the main benchmark's stay untouched. */
const WORK_DIR = `${OUT_DIR}/chaos`;
const RESULTS_JSON = `${OUT_DIR}/chaos.json`;

const log = (msg: string) => console.log(`chaos: ${msg}`);

/** One line per run for the progress log. */
function describe(r: ChaosRecord): string {
  const f = runFigures(r);
  if (f === undefined) return `FAILED (${r.error ?? "no figures"})`;
  return `${f.completed.toLocaleString("en-US")} completed, errors ` +
    `${formatErrors(f.errors, f.errorsTotal)}, p99 ${formatLatency(f.p99S)}, ` +
    `max ${formatLatency(f.maxS)}, sick share ${formatShare(f.sickShare)} ` +
    `(counted from its ${r.sickCountedBy ?? "?"}), stopped after ${formatStop(f.stopAfterS)}`;
}

/** Cells and goals from the records, with this version's rules. */
function fold(results: ChaosResults): ChaosResults {
  const { faults, proxies } = results.options;
  const cells = summarizeChaos(results.records, faults, proxies);
  const notes = [disturbanceNote(results.records)].filter((n): n is string => n !== undefined);
  return {
    ...results,
    cells,
    goals: goalsWithRuns(cells, results.records, faults, proxies),
    notes,
  };
}

/** Writes chaos.json, chaos.svg and the chaos section of RESULTS.md. */
async function writeReports(results: ChaosResults): Promise<void> {
  await Deno.mkdir(OUT_DIR, { recursive: true });
  await Deno.writeTextFile(RESULTS_JSON, JSON.stringify(results, null, 2) + "\n");
  await Deno.writeTextFile(`${BENCH_DIR}/chaos.svg`, barChartSvg(chaosChart(results)));
  const doc = await Deno.readTextFile(`${BENCH_DIR}/RESULTS.md`).catch(() => "");
  await Deno.writeTextFile(
    `${BENCH_DIR}/RESULTS.md`,
    spliceSection(doc, chaosSection(results, "chaos.svg")),
  );
  await formatReports(REPO_ROOT, ["bench/RESULTS.md", "bench/chaos.svg"]);
  log("wrote bench/RESULTS.md (chaos section), bench/chaos.svg, bench/out/chaos.json");
}

/** Runs every (run, fault, proxy) in turn; resolves with the records. */
async function measure(
  ctx: ChaosContext,
  opts: ChaosOptions,
  stopping: () => boolean,
): Promise<ChaosRecord[]> {
  const records: ChaosRecord[] = [];
  const total = opts.runs * opts.faults.length * opts.proxies.length;
  // Round by round, so that the host's drift touches every cell alike.
  for (let run = 1; run <= opts.runs; run++) {
    for (const fault of opts.faults) {
      for (const proxy of opts.proxies) {
        if (stopping()) return records;
        const r = await chaosRun(ctx, fault, proxy, run);
        records.push(r);
        log(`[${records.length}/${total}] ${proxy} ${fault} run ${run}: ${describe(r)}`);
      }
    }
  }
  return records;
}

async function main(): Promise<number> {
  let opts: ChaosOptions;
  try {
    opts = parseChaosOptions(Deno.args, (k) => Deno.env.get(k));
  } catch (e) {
    console.error(`chaos: ${e instanceof Error ? e.message : e}\n\n${CHAOS_USAGE}`);
    return 2;
  }
  if (opts.help) {
    console.log(CHAOS_USAGE);
    return 0;
  }
  if (opts.render) {
    const results = fold(JSON.parse(await Deno.readTextFile(RESULTS_JSON)) as ChaosResults);
    console.log(chaosConsole(results));
    await writeReports(results);
    return 0;
  }
  if (Deno.build.os !== "linux") {
    console.error("chaos: needs Linux (/proc/net/tcp, taskset, signals to the replicas)");
    return 1;
  }
  const tools = findTools(log);
  if (!tools) return 1;
  let echoModule: string;
  try {
    echoModule = await findEchoModule(tools.nginx);
  } catch (e) {
    console.error(`chaos: ${e instanceof Error ? e.message : e}`);
    return 1;
  }
  await Deno.remove(WORK_DIR, { recursive: true }).catch(() => {});
  await Deno.mkdir(WORK_DIR, { recursive: true });
  const statusScript = `${WORK_DIR}/statuses.lua`;
  await Deno.writeTextFile(statusScript, STATUS_SCRIPT);

  const sup = new Supervisor();
  let stopping = false;
  const onSignal = () => {
    if (stopping) return;
    stopping = true;
    console.error("\nchaos: interrupted; stopping child processes");
    sup.stopAll().finally(() => Deno.exit(130));
  };
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);
  globalThis.addEventListener("unload", () => sup.killAllNow());
  try {
    // Keep the harness (and the queue reader) off the proxy's core.
    if (tools.taskset) {
      await runCommand(tools.taskset, ["-a", "-p", "-c", String(LOAD_CPU), String(Deno.pid)]);
    }
    const machine = await collectMachineFacts(tools, REPO_ROOT);
    const settings = Object.fromEntries(
      opts.proxies.map((p) => [p, settingsLines(p, opts.gatehouseArgs)]),
    );
    const runs = opts.runs * opts.faults.length * opts.proxies.length;
    log(
      `${opts.proxies.join(", ")} x ${opts.faults.join(", ")} x ${opts.runs} round(s) of ` +
        `${opts.durationS} s runs (fault at ${opts.faultAtS} s) = ${runs} runs ` +
        `(~${Math.ceil(runs * (opts.durationS + opts.warmupS + 4) / 60)} min)`,
    );
    const ctx: ChaosContext = {
      bench: { sup, repoRoot: REPO_ROOT, outDir: WORK_DIR, tools, gatehouseArgs: [], log },
      opts,
      echoModule,
      statusScript,
      hz: await clockTicks(),
    };
    const records = await measure(ctx, opts, () => stopping);
    if (stopping) return 130;
    const results = fold({
      machine,
      options: opts,
      settings,
      notes: [],
      records,
      cells: [],
      goals: [],
    });
    console.log(`\n${chaosConsole(results)}\n`);
    await writeReports(results);
    return 0;
  } finally {
    if (!stopping) await sup.stopAll();
  }
}

if (import.meta.main) {
  let code = 1;
  try {
    code = await main();
  } catch (e) {
    console.error("chaos: error:", e);
  }
  Deno.exit(code);
}
