/**
 * `deno task bench`: Gatehouse against nginx and haproxy as equivalent
 * reverse proxies to one nginx backend, measured with wrk in one run.
 *
 * Layout: proxies on CPU 0; wrk, the backend and this harness on CPU 1. Each
 * (scenario, proxy) cell is the median of BENCH_RUNS runs; a run during which
 * foreign processes took over 10% of CPU 0 is repeated (at most twice).
 * The proxy's resident memory (its process tree's VmRSS) is sampled every
 * 250 ms during each run and the peak recorded. After the regular rounds,
 * BENCH_P99_PAIRS more nginx / gatehouse-bin pairs at keep-alive c50 feed a
 * paired p99 comparison with a confidence interval (lib/results.ts).
 * Writes bench/RESULTS.md, bench/results.svg and bench/out/results.json.
 *
 * @example
 * ```sh
 * deno task bench                  # 3 runs x 10 s per cell
 * deno task bench --quick          # 1 run x 3 s per cell
 * BENCH_PROXIES=nginx,haproxy BENCH_DURATION=5 deno task bench
 * BENCH_PROXIES=gatehouse-bin,gatehouse-bin-1k deno task bench   # route-table cost
 * BENCH_PROXIES=gatehouse-bin,gatehouse-bin-metrics deno task bench   # metrics cost
 * ```
 * @module
 */

import { cpuUsage } from "./lib/cpu.ts";
import { collectMachineFacts } from "./lib/machine.ts";
import { type BenchOptions, parseBenchOptions, USAGE } from "./lib/options.ts";
import { PeakSampler } from "./lib/memory.ts";
import {
  clockTicks,
  formatReports,
  processTreeRssKiB,
  runCommand,
  sampleCpu,
  Supervisor,
} from "./lib/proc.ts";
import {
  type BenchContext,
  LOAD_CPU,
  pinned,
  PROXY_CPU,
  type Running,
  startBackend,
  startProxy,
} from "./lib/proxies.ts";
import {
  type BenchResults,
  formatLatency,
  formatMiB,
  formatNumber,
  formatTable,
  metricsCostLine,
  p99ComparisonText,
  resultsChart,
  resultsMarkdown,
  routeCostLine,
  rssLine,
} from "./lib/report.ts";
import { compareP99, type P99Comparison, type RunRecord, summarize } from "./lib/results.ts";
import {
  P99_COMPARISON,
  p99PairOrder,
  type ProxyId,
  REFERENCE_PROXY,
  referenceOf,
  type Scenario,
  SCENARIOS,
} from "./lib/scenarios.ts";
import { barChartSvg } from "./lib/svg.ts";
import { sectionOf, spliceSection } from "./lib/chaos/report.ts";
import { findTools } from "./lib/tools.ts";
import { parseWrkOutput, wrkArgs, type WrkResult } from "./lib/wrk.ts";

const BENCH_DIR = decodeURIComponent(new URL(".", import.meta.url).pathname).replace(/\/$/, "");
const REPO_ROOT = BENCH_DIR.replace(/\/bench$/, "");
const OUT_DIR = `${BENCH_DIR}/out`;

const log = (msg: string) => console.log(`bench: ${msg}`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let wrkRuns = 0;

/**
 * One round's runs, in order: the reference right before each other proxy
 * (a group of two, paired), or each proxy alone when there is no reference
 * or nothing to compare it with.
 */
function roundOrder<T>(proxies: readonly T[], isReference: (p: T) => boolean): T[][] {
  const reference = proxies.find(isReference);
  const others = proxies.filter((p) => !isReference(p));
  if (reference === undefined) return others.map((p) => [p]);
  return others.length === 0 ? [[reference]] : others.map((p) => [reference, p]);
}

/** One wrk run against `port`; `undefined` result with an error on failure. */
async function runWrk(
  ctx: BenchContext,
  label: string,
  port: number,
  scenario: Scenario,
  durationS: number,
): Promise<{ wrk?: WrkResult; error?: string }> {
  const args = wrkArgs({
    url: `http://127.0.0.1:${port}${scenario.path}`,
    connections: scenario.connections,
    threads: 1,
    durationS,
    headers: scenario.headers,
    timeoutS: 5,
  });
  const [cmd, cmdArgs] = pinned(ctx.tools, LOAD_CPU, ctx.tools.wrk, args);
  // wrk.log keeps every run's full report, each under a header.
  await Deno.writeTextFile(`${OUT_DIR}/wrk.log`, `\n=== ${label}: wrk ${args.join(" ")}\n`, {
    append: true,
  });
  const m = ctx.sup.spawn(`wrk-${++wrkRuns}`, cmd, cmdArgs, { logFile: `${OUT_DIR}/wrk.log` });
  const guard = setTimeout(() => ctx.sup.stop(m), (durationS + 30) * 1000);
  const code = await m.exited;
  clearTimeout(guard);
  const output = m.tail(200);
  try {
    const wrk = parseWrkOutput(output);
    if (wrk.requests === 0) return { error: "no request completed" };
    return { wrk };
  } catch {
    const why = output.trim().split("\n").slice(-1)[0] || `wrk exited with ${code}`;
    return { error: `wrk: ${why}` };
  }
}

/**
 * One cell run with the disturbance rule: repeat while foreign CPU use on
 * the proxy's core exceeds the limit, keeping the least disturbed attempt.
 */
async function measure(
  ctx: BenchContext,
  opts: BenchOptions,
  hz: number,
  proxy: Running,
  backendPid: number,
  scenario: Scenario,
  run: number,
): Promise<RunRecord> {
  const record: RunRecord = {
    proxy: proxy.id as ProxyId,
    scenario: scenario.id,
    run,
    foreignByAttempt: [],
    disturbed: false,
  };
  let best:
    | { wrk: WrkResult; cpu: ReturnType<typeof cpuUsage>; rssKiB: number | undefined }
    | undefined;
  if (opts.settleS > 0 && proxy.managed.exitCode === undefined) {
    // The same load, unrecorded: a JIT-compiled proxy that idled while the
    // others ran, or served another scenario, re-optimises here, not in the run.
    // (A repeated attempt follows its predecessor at once: no need again.)
    await runWrk(ctx, `${proxy.id} ${scenario.id} settle`, proxy.port, scenario, opts.settleS);
  }
  for (let attempt = 0; attempt <= opts.maxRetries; attempt++) {
    if (proxy.managed.exitCode !== undefined) {
      record.error = `proxy exited with code ${proxy.managed.exitCode}`;
      break;
    }
    const pid = proxy.managed.pid;
    const rss = new PeakSampler(() => processTreeRssKiB(pid));
    const before = sampleCpu(pid, PROXY_CPU, [backendPid], LOAD_CPU);
    const label = `${proxy.id} ${scenario.id} run ${run} attempt ${attempt + 1}`;
    rss.start();
    let result: Awaited<ReturnType<typeof runWrk>>;
    try {
      result = await runWrk(ctx, label, proxy.port, scenario, opts.durationS);
    } finally {
      rss.stop();
    }
    const rssKiB = rss.peak;
    const after = sampleCpu(pid, PROXY_CPU, [backendPid], LOAD_CPU);
    if (!result.wrk) {
      record.error = proxy.managed.exitCode !== undefined
        ? `proxy exited with code ${proxy.managed.exitCode}`
        : result.error;
      break;
    }
    const cpu = cpuUsage(before, after, hz);
    record.foreignByAttempt.push(cpu.foreign);
    if (!best || cpu.foreign < best.cpu.foreign) best = { wrk: result.wrk, cpu, rssKiB };
    if (cpu.foreign <= opts.foreignLimit) break;
    log(
      `  foreign processes took ${Math.round(cpu.foreign * 100)}% of CPU ${PROXY_CPU}` +
        (attempt < opts.maxRetries ? "; repeating the run" : "; keeping the least disturbed run"),
    );
    await sleep(1000);
  }
  if (best) {
    record.wrk = best.wrk;
    record.cpu = best.cpu;
    record.disturbed = best.cpu.foreign > opts.foreignLimit;
    if (best.rssKiB !== undefined) record.rssKiB = best.rssKiB;
    delete record.error;
  }
  return record;
}

/** Unrecorded load so JIT-compiled proxies are measured warm. */
async function warmUp(
  ctx: BenchContext,
  opts: BenchOptions,
  proxy: Running,
  scenarios: readonly Scenario[],
) {
  const seen = new Set<string>();
  for (const s of scenarios) {
    if (seen.has(s.path)) continue;
    seen.add(s.path);
    await runWrk(ctx, `${proxy.id} warm-up`, proxy.port, s, Math.max(1, Math.round(opts.warmupS)));
  }
}

function describeRun(r: RunRecord): string {
  if (!r.wrk) return `FAILED (${r.error})`;
  const pct = (x: number | undefined) => x === undefined ? "-" : `${Math.round(x * 100)}%`;
  const cpu = r.cpu
    ? ` cpu ${pct(r.cpu.proxy)} foreign ${pct(r.cpu.foreign)} (load CPU ${pct(r.cpu.loadForeign)})`
    : "";
  const rss = r.rssKiB === undefined ? "" : ` rss ${formatMiB(r.rssKiB / 1024)}`;
  return `${formatNumber(r.wrk.requestsPerSec)} req/s ` +
    `${formatNumber(r.wrk.bytesPerSec / 1048576)} MiB/s ` +
    `p50 ${formatLatency(r.wrk.latency.p50S)} p99 ${formatLatency(r.wrk.latency.p99S)}${cpu}${rss}`;
}

/** The memory, route-table and p99 lines of the report, on the console. */
function printCallouts(
  cells: BenchResults["cells"],
  scenarios: readonly Scenario[],
  proxies: readonly string[],
  p99: P99Comparison | undefined,
): void {
  const lines = [
    rssLine(cells, scenarios, proxies),
    routeCostLine(cells, scenarios),
    metricsCostLine(cells, scenarios),
  ];
  for (const line of lines) {
    if (line !== undefined) console.log(line);
  }
  if (p99 !== undefined) console.log(p99ComparisonText(p99, scenarios));
}

/**
 * Whether a run over these proxies and scenarios makes the p99 comparison of
 * {@link P99_COMPARISON}.
 */
function comparesP99(proxies: readonly ProxyId[], scenarioIds: readonly string[]): boolean {
  return proxies.includes(REFERENCE_PROXY) && proxies.includes(P99_COMPARISON.proxy) &&
    scenarioIds.includes(P99_COMPARISON.scenario);
}

/**
 * The p99 comparison of {@link P99_COMPARISON} over `records`, or undefined
 * when the run did not measure both proxies in its scenario.
 */
function p99Comparison(
  records: readonly RunRecord[],
  proxies: readonly ProxyId[],
  scenarios: readonly Scenario[],
): P99Comparison | undefined {
  if (!comparesP99(proxies, scenarios.map((s) => s.id))) return undefined;
  return compareP99(records, P99_COMPARISON.proxy, REFERENCE_PROXY, P99_COMPARISON.scenario);
}

/** Writes RESULTS.md, results.svg and out/results.json from one run's data. */
async function writeReports(results: BenchResults): Promise<void> {
  await Deno.mkdir(OUT_DIR, { recursive: true });
  await Deno.writeTextFile(`${OUT_DIR}/results.json`, JSON.stringify(results, null, 2) + "\n");
  await Deno.writeTextFile(`${BENCH_DIR}/results.svg`, barChartSvg(resultsChart(results)));
  const markdown = resultsMarkdown({
    cells: results.cells,
    scenarios: results.scenarios,
    proxies: results.options.proxies,
    options: results.options,
    machine: results.machine,
    chartFile: "results.svg",
    notes: results.notes,
    p99: results.p99,
  });
  // The section `deno task chaos` writes stays as it was.
  const chaos = await Deno.readTextFile(`${BENCH_DIR}/RESULTS.md`).then(sectionOf, () => undefined);
  await Deno.writeTextFile(
    `${BENCH_DIR}/RESULTS.md`,
    chaos === undefined ? markdown : spliceSection(markdown, chaos),
  );
  await formatReports(REPO_ROOT, ["bench/RESULTS.md", "bench/results.svg"]);
  log("wrote bench/RESULTS.md, bench/results.svg, bench/out/results.json");
}

async function main(): Promise<number> {
  let opts: BenchOptions;
  try {
    opts = parseBenchOptions(Deno.args, (k) => Deno.env.get(k));
  } catch (e) {
    console.error(`bench: ${e instanceof Error ? e.message : e}\n\n${USAGE}`);
    return 2;
  }
  if (opts.help) {
    console.log(USAGE);
    return 0;
  }
  if (opts.render) {
    // Re-render the reports from the last run, e.g. after changing the chart.
    const results = JSON.parse(await Deno.readTextFile(`${OUT_DIR}/results.json`)) as BenchResults;
    results.notes ??= [];
    // The cells are folded again from the run records, with this version's rules.
    if (Array.isArray(results.records) && results.records.length > 0) {
      results.cells = summarize(
        results.records,
        results.options.proxies,
        results.scenarios,
        referenceOf(results.options.proxies),
        new Map(Object.entries(results.startFailures ?? {}) as [ProxyId, string][]),
        results.options.foreignLimit,
      );
    }
    console.log(
      formatTable(results.cells, results.scenarios, referenceOf(results.options.proxies)),
    );
    results.p99 = p99Comparison(
      results.records ?? [],
      results.options.proxies,
      results.scenarios,
    );
    printCallouts(results.cells, results.scenarios, results.options.proxies, results.p99);
    await writeReports(results);
    return 0;
  }
  if (Deno.build.os !== "linux") {
    console.error("bench: needs Linux (/proc for CPU accounting, taskset for pinning)");
    return 1;
  }
  const tools = findTools(log);
  if (!tools) return 1;

  await Deno.remove(OUT_DIR, { recursive: true }).catch(() => {});
  await Deno.mkdir(OUT_DIR, { recursive: true });

  const sup = new Supervisor();
  const running: Running[] = [];
  let stopping = false;
  const cleanup = async () => {
    await Promise.all(running.map((r) => r.close().catch(() => {})));
    await sup.stopAll();
  };
  const onSignal = () => {
    if (stopping) return;
    stopping = true;
    console.error("\nbench: interrupted; stopping child processes");
    cleanup().finally(() => Deno.exit(130));
  };
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);
  // Last resort if something calls Deno.exit mid-run.
  globalThis.addEventListener("unload", () => sup.killAllNow());

  const ctx: BenchContext = {
    sup,
    repoRoot: REPO_ROOT,
    outDir: OUT_DIR,
    tools,
    gatehouseArgs: (Deno.env.get("BENCH_GATEHOUSE_ARGS") ?? "").split(/\s+/).filter((a) =>
      a !== ""
    ),
    log,
  };

  try {
    // Keep the harness (and its heartbeat timers) off the proxies' core.
    if (tools.taskset) {
      await runCommand(tools.taskset, ["-a", "-p", "-c", String(LOAD_CPU), String(Deno.pid)]);
    }
    const hz = await clockTicks();
    const machine = await collectMachineFacts(tools, REPO_ROOT);
    const scenarios = SCENARIOS.filter((s) => opts.scenarios.includes(s.id));
    const p99Runs = comparesP99(opts.proxies, opts.scenarios) ? 2 * opts.p99Pairs : 0;
    // nginx, or the logging nginx in the access log comparison.
    const reference = referenceOf(opts.proxies);
    const cells = roundOrder(opts.proxies, (p) => p === reference).flat().length *
        scenarios.length * opts.runs + p99Runs;
    log(
      `${opts.proxies.join(", ")} x ${scenarios.length} scenarios x ${opts.runs} round(s) ` +
        `of ${opts.durationS} s runs, ${reference} before each other proxy, ` +
        `${p99Runs} runs for the p99 comparison = ${cells} runs (~${
          Math.ceil(cells * (opts.durationS + opts.settleS + 1) / 60)
        } min plus warm-up)`,
    );

    let backend: Running;
    try {
      backend = await startBackend(ctx);
    } catch (e) {
      console.error(`bench: backend nginx failed to start: ${e instanceof Error ? e.message : e}`);
      return 1;
    }
    running.push(backend);
    log(`backend nginx on 127.0.0.1:${backend.port} (CPU ${LOAD_CPU})`);

    const startFailures = new Map<ProxyId, string>();
    const proxies: Running[] = [];
    for (const id of opts.proxies) {
      if (stopping) break;
      try {
        const p = await startProxy(ctx, id, backend.port);
        running.push(p);
        proxies.push(p);
        log(`${id} on 127.0.0.1:${p.port} (CPU ${PROXY_CPU}, pid ${p.managed.pid})`);
      } catch (e) {
        const why = (e instanceof Error ? e.message : String(e)).replaceAll("\n", " / ");
        startFailures.set(id, `did not start: ${why}`);
        log(`${id} FAILED to start: ${why}`);
      }
    }

    for (const p of proxies) {
      log(`warming up ${p.id} (${opts.warmupS} s per path)`);
      await warmUp(ctx, opts, p, scenarios);
    }

    // Interleave (scenario, round, proxy) so slow drift of the machine
    // touches every proxy alike, and run the reference right before each
    // other proxy: the host's speed moves within a minute, so each ratio is
    // taken against the reference run next to it (see RunRecord.pair).
    const records: RunRecord[] = [];
    const order = roundOrder(proxies, (p) => p.id === reference);
    const total = order.flat().length * scenarios.length * opts.runs;
    let done = 0;
    let pair = 0;
    for (const scenario of scenarios) {
      for (let run = 1; run <= opts.runs; run++) {
        for (const group of order) {
          const pairId = group.length === 2 ? ++pair : undefined;
          for (const p of group) {
            if (stopping) return 130;
            const r = await measure(ctx, opts, hz, p, backend.managed.pid, scenario, run);
            if (pairId !== undefined) r.pair = pairId;
            records.push(r);
            done++;
            log(
              `[${done}/${total}] ${p.id.padEnd(14)} ${scenario.id.padEnd(14)} run ${run}: ${
                describeRun(r)
              }`,
            );
            await sleep(300);
          }
        }
      }
    }

    // Extra pairs for the p99 comparison: the regular rounds' pairs of this
    // scenario count too; these records stay out of the table's medians.
    const p99Scenario = scenarios.find((s) => s.id === P99_COMPARISON.scenario);
    const p99Reference = proxies.find((p) => p.id === REFERENCE_PROXY);
    const p99Proxy = proxies.find((p) => p.id === P99_COMPARISON.proxy);
    if (opts.p99Pairs > 0 && p99Scenario && p99Reference && p99Proxy) {
      log(
        `p99 comparison: ${opts.p99Pairs} more ${p99Reference.id}/${p99Proxy.id} pairs ` +
          `at ${p99Scenario.id}, each other pair in the opposite order`,
      );
      for (let i = 1; i <= opts.p99Pairs; i++) {
        const pairId = ++pair;
        for (const p of p99PairOrder(i, p99Reference, p99Proxy)) {
          if (stopping) return 130;
          const r = await measure(
            ctx,
            opts,
            hz,
            p,
            backend.managed.pid,
            p99Scenario,
            opts.runs + i,
          );
          r.pair = pairId;
          r.p99Extra = true;
          records.push(r);
          log(`[p99 ${i}/${opts.p99Pairs}] ${p.id.padEnd(14)} ${describeRun(r)}`);
          await sleep(300);
        }
      }
    }

    const table = summarize(
      records,
      opts.proxies,
      scenarios,
      reference,
      startFailures,
      opts.foreignLimit,
    );
    const p99 = p99Comparison(records, opts.proxies, scenarios);
    console.log(`\n${formatTable(table, scenarios, reference)}\n`);
    printCallouts(table, scenarios, opts.proxies, p99);

    const notes = [...startFailures].map(([id, why]) => `${id}: ${why}`);
    if (reference !== REFERENCE_PROXY) notes.push(`Ratios in this run are to ${reference}.`);
    for (const p of proxies) {
      if (p.managed.exitCode !== undefined) {
        notes.push(`${p.id} exited with code ${p.managed.exitCode} during the run`);
      }
    }
    await writeReports({
      machine,
      options: opts,
      clockTicksPerSecond: hz,
      scenarios,
      startFailures: Object.fromEntries(startFailures),
      notes,
      cells: table,
      records,
      p99,
    });
    return 0;
  } finally {
    if (!stopping) {
      stopping = true;
      await cleanup();
    }
  }
}

if (import.meta.main) {
  let code = 1;
  try {
    code = await main();
  } catch (e) {
    console.error("bench: error:", e);
  }
  Deno.exit(code);
}
