/**
 * Human-readable output: the console table and bench/RESULTS.md. Pure.
 * @module
 */

import type { BenchOptions } from "./options.ts";
import type { Cell, P99Comparison, RunRecord } from "./results.ts";
import { RSS_SAMPLE_INTERVAL_MS } from "./memory.ts";
import {
  GATEHOUSE_VARIANTS,
  METRICS_COST,
  PROXY_COLORS,
  REFERENCE_PROXY,
  ROUTE_COST,
  RSS_GOAL_MIB,
  RSS_SCENARIO,
  type Scenario,
} from "./scenarios.ts";
import type { BarChart } from "./svg.ts";
import { alignedTable, markdownTable } from "./tables.ts";

/** Facts about the machine and tools, recorded with every result. */
export interface MachineFacts {
  /** ISO 8601 time the run started. */
  date: string;
  nproc: number;
  cpuModel: string;
  kernel: string;
  /** Tool name to version string (nginx, haproxy, wrk, deno, bun). */
  versions: Record<string, string>;
}

/** Everything one benchmark run produced: the content of results.json. */
export interface BenchResults {
  machine: MachineFacts;
  options: BenchOptions;
  clockTicksPerSecond: number;
  scenarios: Scenario[];
  /** Proxy id to why it did not start. */
  startFailures: Record<string, string>;
  notes: string[];
  cells: Cell[];
  records: RunRecord[];
  /** The paired p99 comparison; absent when the run did not make one. */
  p99?: P99Comparison;
}

/**
 * The chart of a run: one panel per scenario, one bar per proxy (req/s),
 * the ratio to the reference under each bar.
 *
 * @example
 * ```ts
 * import { type BenchResults, resultsChart } from "./report.ts";
 * import { barChartSvg } from "./svg.ts";
 * declare const results: BenchResults;
 * await Deno.writeTextFile("bench/results.svg", barChartSvg(resultsChart(results)));
 * ```
 */
export function resultsChart(results: BenchResults): BarChart {
  const { options, machine, cells } = results;
  const cell = (proxy: string, scenario: string) =>
    cells.find((c) => c.proxy === proxy && c.scenario === scenario);
  const runs = options.runs === 1 ? "1 run" : `median of ${options.runs} runs`;
  return {
    title: "Requests per second through each proxy (higher is better)",
    subtitle: `${runs} of ${options.durationS} s · proxy on 1 core · ${machine.cpuModel} · ` +
      `${machine.date.slice(0, 10)} · each panel has its own scale; ` +
      `under each bar: ratio to ${REFERENCE_PROXY}`,
    yLabel: "requests per second",
    xLabel: "scenario (wrk -t1 over loopback to a 13-byte / 1 MiB nginx backend)",
    series: options.proxies.map((id) => ({ name: id, color: PROXY_COLORS[id] })),
    panels: results.scenarios.map((s) => ({
      title: s.title,
      values: options.proxies.map((id) => cell(id, s.id)?.reqPerSec),
      annotations: options.proxies.map((id) => {
        const ratio = cell(id, s.id)?.ratio;
        return ratio === undefined ? undefined : formatRatio(ratio);
      }),
    })),
  };
}

/**
 * The CPU model and logical processor count from `/proc/cpuinfo` text.
 *
 * @example
 * ```ts
 * parseCpuInfo("processor\t: 0\nmodel name\t: AMD EPYC\n");
 * // { model: "AMD EPYC", processors: 1 }
 * ```
 */
export function parseCpuInfo(text: string): { model: string; processors: number } {
  const model = /^model name\s*:\s*(.+)$/m.exec(text)?.[1].trim() ?? "unknown";
  const processors = [...text.matchAll(/^processor\s*:/gm)].length;
  return { model, processors };
}

/**
 * A request rate or throughput with thousands separators and sensible
 * precision; `-` when absent.
 *
 * @example
 * ```ts
 * formatNumber(83066.52); // "83,067"
 * formatNumber(12.345); // "12.3"
 * ```
 */
export function formatNumber(n: number | undefined): string {
  if (n === undefined) return "-";
  const digits = n >= 100 ? 0 : 1;
  return n.toLocaleString("en-US", {
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  });
}

/**
 * A latency in seconds as `541us`, `1.07ms` or `2.10s`; `-` when absent.
 *
 * @example
 * ```ts
 * formatLatency(0.00107); // "1.07ms"
 * ```
 */
export function formatLatency(s: number | undefined): string {
  if (s === undefined) return "-";
  if (s < 1e-3) return `${Math.round(s * 1e6)}us`;
  if (s < 1) return `${(s * 1e3).toFixed(2)}ms`;
  return `${s.toFixed(2)}s`;
}

/**
 * A ratio as `0.87x`; `-` when absent.
 *
 * @example
 * ```ts
 * formatRatio(0.8712); // "0.87x"
 * ```
 */
export function formatRatio(r: number | undefined): string {
  return r === undefined ? "-" : `${r.toFixed(2)}x`;
}

function formatPercent(share: number | undefined): string {
  return share === undefined ? "-" : `${Math.round(share * 100)}%`;
}

/**
 * A memory size in MiB with one decimal: `41.3 MiB`; `-` when absent.
 *
 * @example
 * ```ts
 * formatMiB(41.26); // "41.3 MiB"
 * ```
 */
export function formatMiB(mib: number | undefined): string {
  return mib === undefined ? "-" : `${mib.toFixed(1)} MiB`;
}

/**
 * The memory call-out under the ratios table: each proxy's RSS (median of
 * the runs' peaks) in the scenario the memory goal is set for
 * ({@link RSS_SCENARIO}, 500 open connections); `undefined` when that
 * scenario was not run or no proxy has a memory figure (results from before
 * memory was sampled).
 *
 * @example
 * ```ts
 * import { rssLine } from "./report.ts";
 * import type { Cell } from "./results.ts";
 * import { SCENARIOS } from "./scenarios.ts";
 * declare const cells: Cell[];
 * rssLine(cells, SCENARIOS, ["nginx", "gatehouse-bin"]);
 * // "RSS at 500 connections: nginx 5.2 MiB, gatehouse-bin 41.0 MiB (goal for Gatehouse: under 64 MiB)"
 * ```
 */
export function rssLine(
  cells: readonly Cell[],
  scenarios: readonly Scenario[],
  proxies: readonly string[],
  scenarioId: string = RSS_SCENARIO,
): string | undefined {
  const scenario = scenarios.find((s) => s.id === scenarioId);
  const row = proxies.map((p) => cells.find((x) => x.proxy === p && x.scenario === scenarioId));
  if (!scenario || row.every((c) => c?.rssMiB === undefined)) return undefined;
  const figures = proxies.map((p, i) => {
    const c = row[i];
    return c?.status === "ok" ? `${p} ${formatMiB(c.rssMiB)}` : `${p} failed`;
  });
  const goal = proxies.some((p) => p.startsWith("gatehouse"))
    ? ` (goal for Gatehouse: under ${RSS_GOAL_MIB} MiB)`
    : "";
  return `RSS at ${scenario.connections} connections: ${figures.join(", ")}${goal}`;
}

/**
 * The route-table call-out under the ratios table: the 1,000-route variant
 * against the 3-route one in the same scenario ({@link ROUTE_COST}), by
 * their paired ratios to the reference when both have them, else by req/s;
 * `undefined` unless both cells have figures.
 *
 * @example
 * ```ts
 * import { routeCostLine } from "./report.ts";
 * import type { Cell } from "./results.ts";
 * import { SCENARIOS } from "./scenarios.ts";
 * declare const cells: Cell[];
 * routeCostLine(cells, SCENARIOS);
 * // "1,000 routes vs 3: 28,500 req/s vs 30,000 req/s (5.0% slower) in keep-alive GET, 50 conns"
 * ```
 */
export function routeCostLine(
  cells: readonly Cell[],
  scenarios: readonly Scenario[],
  cost: { large: string; small: string; scenario: string } = ROUTE_COST,
  routes: (id: string) => number | undefined = routeCount,
): string | undefined {
  const [nLarge, nSmall] = [routes(cost.large), routes(cost.small)];
  if (nLarge === undefined || nSmall === undefined) return undefined;
  const compared = compareVariants(cells, scenarios, cost.large, cost.small, cost.scenario);
  if (compared === undefined) return undefined;
  return `${nLarge.toLocaleString("en-US")} routes vs ${nSmall.toLocaleString("en-US")}: ` +
    compared;
}

/**
 * Proxy `a` against `b` in `scenario`: "FIGURES (N% slower) in TITLE", by
 * their paired ratios to the reference when both have them, else by req/s.
 */
function compareVariants(
  cells: readonly Cell[],
  scenarios: readonly Scenario[],
  a: string,
  b: string,
  scenario: string,
): string | undefined {
  const get = (p: string) => cells.find((c) => c.proxy === p && c.scenario === scenario);
  const [aCell, bCell] = [get(a), get(b)];
  // Measured in pairs, the two are compared through their ratios: their own
  // runs were made up to a minute apart, each right after a reference run.
  const paired = aCell?.pairs !== undefined && bCell?.pairs !== undefined &&
    aCell.ratio !== undefined && bCell.ratio !== undefined;
  const large = paired ? aCell.ratio : aCell?.reqPerSec;
  const small = paired ? bCell.ratio : bCell?.reqPerSec;
  if (large === undefined || small === undefined || !(small > 0)) return undefined;
  const change = (1 - large / small) * 100;
  // Round first so that -0.04% does not print as "0.0% faster".
  const pct = Number(Math.abs(change).toFixed(1));
  const direction = change < 0 && pct > 0 ? "faster" : "slower";
  const title = scenarios.find((s) => s.id === scenario)?.title ?? scenario;
  const figures = paired
    ? `${formatRatio(large)} vs ${formatRatio(small)} ${REFERENCE_PROXY}`
    : `${formatNumber(large)} req/s vs ${formatNumber(small)} req/s`;
  return `${figures} (${pct.toFixed(1)}% ${direction}) in ${title}`;
}

/**
 * The metrics call-out: the binary with metrics on (its admin listener)
 * against without, in the same scenario ({@link METRICS_COST}); `undefined`
 * unless both cells have figures.
 *
 * @example
 * ```ts
 * import { metricsCostLine } from "./report.ts";
 * import type { Cell } from "./results.ts";
 * import { SCENARIOS } from "./scenarios.ts";
 * declare const cells: Cell[];
 * metricsCostLine(cells, SCENARIOS);
 * // "metrics on vs off: 1.02x vs 1.03x nginx (1.0% slower) in keep-alive GET, 50 conns"
 * ```
 */
export function metricsCostLine(
  cells: readonly Cell[],
  scenarios: readonly Scenario[],
  cost: { on: string; off: string; scenario: string } = METRICS_COST,
): string | undefined {
  const compared = compareVariants(cells, scenarios, cost.on, cost.off, cost.scenario);
  return compared === undefined ? undefined : `metrics on vs off: ${compared}`;
}

function routeCount(id: string): number | undefined {
  return (GATEHOUSE_VARIANTS as Record<string, { routes: number }>)[id]?.routes;
}

/**
 * The p99 comparison in one sentence: how many pairs, in how many the proxy
 * was lower, the median ratio with its interval, and what that says.
 *
 * @example
 * ```ts
 * import { p99ComparisonText } from "./report.ts";
 * import { compareP99, type RunRecord } from "./results.ts";
 * import { SCENARIOS } from "./scenarios.ts";
 * declare const records: RunRecord[];
 * const comparison = compareP99(records, "gatehouse-bin", "nginx", "keepalive-c50");
 * p99ComparisonText(comparison, SCENARIOS);
 * // "p99 in keep-alive GET, 50 conns, gatehouse-bin / nginx over 15 pairs: lower in 11;
 * //  median 0.95x (96% interval 0.91x-0.99x): lower than nginx's"
 * ```
 */
export function p99ComparisonText(c: P99Comparison, scenarios: readonly Scenario[]): string {
  const title = scenarios.find((s) => s.id === c.scenario)?.title ?? c.scenario;
  const head = `p99 in ${title}, ${c.proxy} / ${c.reference} over ${c.pairs.length} pairs: ` +
    `lower in ${c.lower}`;
  if (c.median === undefined || c.low === undefined || c.high === undefined) {
    return `${head}; too few pairs for an interval (6 needed)`;
  }
  const interval = `${Math.floor((c.confidence ?? 0) * 100)}% interval ` +
    `${formatRatio(c.low)}-${formatRatio(c.high)}`;
  const meaning = c.verdict === "lower"
    ? `lower than ${c.reference}'s`
    : c.verdict === "higher"
    ? `higher than ${c.reference}'s`
    : `no difference from ${c.reference}'s that these runs can measure`;
  return `${head}; median ${formatRatio(c.median)} (${interval}): ${meaning}`;
}

/** The RESULTS.md section of the p99 comparison: the sentence and every pair. */
function p99Section(c: P99Comparison, scenarios: readonly Scenario[], durationS: number): string {
  const head = ["pair", `${c.reference} p99`, `${c.proxy} p99`, "ratio"];
  const body = c.pairs.map((p, i) => [
    String(i + 1),
    formatLatency(p.referenceP99S),
    formatLatency(p.p99S),
    formatRatio(p.ratio),
  ]);
  return `## p99 at ${
    scenarios.find((s) => s.id === c.scenario)?.connections ?? "?"
  } connections, pair by pair

One ${durationS} s run's p99 moves by a third with the host, so the medians of three runs in the
table above cannot tell a difference of a few percent. Here every ${c.reference} run of this
scenario is paired with its ${c.proxy} run: in the regular rounds the one right after it, in the
extra pairs run for this the one right after or right before it, by turns (so that a host speeding
up or slowing down favours neither side). Each pair gives the ratio of the two p99s, and the
median of those ratios comes with a distribution-free confidence interval (order statistics of the
ratios, from the binomial distribution). An interval wholly below 1.00x means lower than
${c.reference}'s, wholly above means higher, and one that holds 1.00x means no difference these runs
can measure. Pairs with a disturbed run are left out.

${p99ComparisonText(c, scenarios)}.

${markdownTable(head, body, new Set([1, 2, 3]))}

`;
}

/** Share of a core above which a proxy counts as the bottleneck. */
const SATURATED = 0.85;

function notes(cell: Cell): string {
  const parts: string[] = [];
  if (cell.status === "failed") parts.push(`FAILED: ${cell.reason ?? "unknown"}`);
  if (cell.retries > 0) parts.push(`${cell.retries} re-run(s) for foreign CPU`);
  if (cell.disturbedRuns > 0) parts.push(`${cell.disturbedRuns} run(s) still disturbed`);
  if (cell.loadDisturbedRuns > 0) {
    parts.push(`wrk/backend CPU busy with others in ${cell.loadDisturbedRuns} run(s)`);
  }
  if (cell.errors > 0) parts.push(`${cell.errors} wrk errors`);
  // Below this the bottleneck was elsewhere (wrk or the backend on the
  // other core, or the kernel), so the ratio says less about the proxy.
  if (cell.proxyCpu !== undefined && cell.proxyCpu < SATURATED) {
    parts.push("proxy not CPU-bound");
  }
  return parts.join("; ");
}

/** The result table's columns, with ratios to `reference`. */
function headers(reference: string): string[] {
  return [
    "proxy",
    "scenario",
    "req/s",
    "p50",
    "p99",
    "MiB/s",
    `vs ${reference}`,
    "proxy CPU",
    "RSS",
    "notes",
  ];
}

const HEADERS = headers(REFERENCE_PROXY);

/** Columns of {@link HEADERS} that hold numbers (right-aligned). */
const NUMERIC = new Set([2, 3, 4, 5, 6, 7, 8]);

function rows(cells: readonly Cell[], scenarios: readonly Scenario[]): string[][] {
  const title = new Map(scenarios.map((s) => [s.id, s.title]));
  return cells.map((c) => [
    c.proxy,
    title.get(c.scenario) ?? c.scenario,
    formatNumber(c.reqPerSec),
    formatLatency(c.p50S),
    formatLatency(c.p99S),
    formatNumber(c.mibPerSec),
    formatRatio(c.ratio),
    formatPercent(c.proxyCpu),
    formatMiB(c.rssMiB),
    notes(c),
  ]);
}

/**
 * The result table as aligned plain text for the console.
 *
 * @example
 * ```ts
 * import { formatTable } from "./report.ts";
 * import type { Cell } from "./results.ts";
 * import { SCENARIOS } from "./scenarios.ts";
 * declare const cells: Cell[];
 * console.log(formatTable(cells, SCENARIOS));
 * ```
 */
export function formatTable(
  cells: readonly Cell[],
  scenarios: readonly Scenario[],
  reference: string = REFERENCE_PROXY,
): string {
  return alignedTable(headers(reference), rows(cells, scenarios), NUMERIC);
}

/** Everything RESULTS.md shows. */
export interface ResultsDocument {
  cells: readonly Cell[];
  scenarios: readonly Scenario[];
  proxies: readonly string[];
  options: BenchOptions;
  machine: MachineFacts;
  /** File name of the chart, relative to RESULTS.md. */
  chartFile: string;
  /** Extra notes (e.g. proxies that failed to start). */
  notes: readonly string[];
  /** The paired p99 comparison, when the run made one. */
  p99?: P99Comparison;
}

/**
 * The text of bench/RESULTS.md.
 *
 * @example
 * ```ts
 * import { type ResultsDocument, resultsMarkdown } from "./report.ts";
 * declare const doc: ResultsDocument;
 * await Deno.writeTextFile("bench/RESULTS.md", resultsMarkdown(doc));
 * ```
 */
export function resultsMarkdown(doc: ResultsDocument): string {
  const { cells, scenarios, proxies, options, machine } = doc;
  const detail = markdownTable(HEADERS, rows(cells, scenarios), NUMERIC);

  const ratioHead = ["scenario", ...proxies];
  const ratioBody = scenarios.map((s) => [
    `${s.title} (${s.primary})`,
    ...proxies.map((p) => {
      const c = cells.find((x) => x.proxy === p && x.scenario === s.id);
      return c?.status === "ok" ? formatRatio(c.ratio) : "failed";
    }),
  ]);
  const ratios = markdownTable(
    ratioHead,
    ratioBody,
    new Set(proxies.map((_, i) => i + 1)),
  );

  const versions = Object.entries(machine.versions).map(([k, v]) => `${k} ${v}`).join(", ");
  const runsText = options.runs === 1
    ? `1 run of ${options.durationS} s per cell`
    : `median of ${options.runs} runs of ${options.durationS} s per cell`;
  const sum = (f: (c: Cell) => number) => cells.reduce((n, c) => n + f(c), 0);
  const disturbance = `Disturbance: ${sum((c) => c.retries)} run(s) repeated because other ` +
    `processes used CPU 0, ${sum((c) => c.disturbedRuns)} kept although still disturbed, and ` +
    `${sum((c) => c.loadDisturbedRuns)} with others busy on CPU 1 (see notes per row).`;
  const callouts = [
    rssLine(cells, scenarios, proxies),
    routeCostLine(cells, scenarios),
    metricsCostLine(cells, scenarios),
  ]
    .filter((l): l is string => l !== undefined)
    .map((l) => `${l}.\n\n`)
    .join("");
  const variants = Object.entries(GATEHOUSE_VARIANTS)
    .map(([id, v]) => {
      const args = "args" in v ? `, \`${v.args.join(" ")}\`` : "";
      const log = "accessLog" in v ? `, ${v.accessLog} access log to a file` : "";
      return `\`${id}\` (${v.program}, ${v.routes.toLocaleString("en-US")} routes${args}${log})`;
    })
    .join(", ");
  const routes1k = GATEHOUSE_VARIANTS[ROUTE_COST.large].routes;
  const p99 = doc.p99 === undefined ? "" : p99Section(doc.p99, scenarios, options.durationS);
  const extra = doc.notes.length > 0
    ? `\n## Notes\n\n${doc.notes.map((n) => `- ${n}`).join("\n")}\n`
    : "";

  return `# Gatehouse benchmark results

Generated by \`deno task bench\` on ${machine.date}${
    options.quick ? " (`--quick`: smoke test only)" : ""
  }.

Machine: ${machine.nproc} CPUs, ${machine.cpuModel}, Linux ${machine.kernel}.
Tools: ${versions}.

## Ratios to ${REFERENCE_PROXY}

Primary figure of each scenario divided by ${REFERENCE_PROXY}'s, measured in pairs: the median over
the rounds of (the proxy's run / the ${REFERENCE_PROXY} run just before it). Higher is better.

${ratios}

${callouts}![requests per second by proxy and scenario](${doc.chartFile})

## All figures

${runsText}; p50/p99 from wrk \`--latency\`; "proxy CPU" is the share of one
core the proxy's processes used during the run; "RSS" is its peak resident memory during the run
(median over the runs). ${disturbance}

${detail}

${p99}${extra}
## Method

- Backend: nginx, 1 worker, \`access_log off\`, pinned to CPU 1; a fixed
  13-byte body at \`/\` and a 1 MiB file at \`/big\`.
- Proxies, each pinned to CPU 0 and forwarding to that backend over loopback:
  nginx (1 worker, upstream \`keepalive 64\`, HTTP/1.1, \`Connection ""\`);
  haproxy (\`nbthread 1\`, \`http-reuse always\`); Gatehouse as the compiled
  binary (\`dist/gatehouse\`) and under \`deno run -A main.ts\`, with the
  backend registered over the Tower UDP protocol (heartbeat every 10 s).
  nginx and haproxy set the forwarding headers Gatehouse sets (the client's
  Host, X-Forwarded-For appended to, X-Real-IP, X-Forwarded-Proto,
  X-Forwarded-Host), so all three do the same work and the backend parses the
  same head; an end-to-end test checks that the backend sees the same headers
  from each. (Runs before 2026-11-26 left these headers out of nginx's and
  haproxy's configurations, which made them about 3% faster at 50
  connections.)
- Gatehouse variants: ${variants}. Only \`/:bench\` is served; the other routes
  (\`--route /r0/a:svc0\`, \`/r1/a:svc1\`, ...) name services that are never
  registered, so they only make the route table bigger. \`${ROUTE_COST.large}\` is
  the same binary as \`${ROUTE_COST.small}\` with ${routes1k.toLocaleString("en-US")} routes: the
  difference between the two is what a large route table costs per request.
- Load: \`wrk -t1\` pinned to CPU 1, \`--latency\`, ${options.durationS} s per run:
  keep-alive GET at 50 and 500 connections, \`Connection: close\` at 50, and
  the 1 MiB body at 10 connections (reported in MiB/s).
- All proxies run side by side and are measured one after another; runs are
  interleaved (scenario, round, proxy) so slow drift hits all alike, and
  ${REFERENCE_PROXY} is measured again right before each other proxy: the
  host's speed moves within a minute (the same binary has measured 0.93x and
  1.14x in one run when compared with a ${REFERENCE_PROXY} run 40 s away), so a
  ratio is the median over the rounds of the proxy's figure divided by that
  of the ${REFERENCE_PROXY} run just before it. ${REFERENCE_PROXY}'s own figures are
  the medians of all its runs.
  Each proxy first gets ${options.warmupS} s of unrecorded load per path (JIT warm-up), and
  ${
    options.settleS > 0
      ? `every recorded run is preceded by ${options.settleS} s of the same load, unrecorded: a
  JIT-compiled proxy that idled while the others were measured, or served another scenario,
  recompiles in the first seconds of load (Gatehouse spent 120–210 ms of its core in the compiler
  then, which showed as a 3–5 ms p99), and the benchmark measures the steady state`
      : "recorded runs start without further unrecorded load"
  }.
- CPU accounting: the proxy's utime+stime (its whole process tree) from
  \`/proc/<pid>/stat\`, and CPU 0's busy time from \`/proc/stat\`, before and
  after each run. If other processes (or hypervisor steal) took more than
  ${
    Math.round(options.foreignLimit * 100)
  }% of CPU 0, the run is repeated, at most ${options.maxRetries} times, and the
  table notes it. Interrupt time is not counted as foreign: the kernel books
  loopback packet work there. CPU 1 is watched the same way (wrk, the backend
  and the harness count as ours); runs where others took over the limit there
  are noted, not repeated.
- Memory: during every run (after the warm-up) the harness reads \`VmRSS\` from
  \`/proc/<pid>/status\` for every process of the proxy's tree and sums them, when wrk
  starts, every ${RSS_SAMPLE_INTERVAL_MS} ms and when it ends; a run's figure is the peak of
  those samples, and "RSS" is the median of the runs' peaks (MiB = 1,048,576
  bytes). Pages shared by a proxy's processes (nginx's master and worker) count
  once per process, and file-backed pages count too (the part of an
  executable's code it has touched). Proxies are not restarted between
  scenarios, so a run's RSS includes memory kept from earlier runs; for the
  JavaScript runtimes that means heap the garbage collector has not returned.
- wrk and the backend share CPU 1, so absolute numbers are for comparison
  within one run, not capacity planning. A cell whose proxy used less than
  ${Math.round(SATURATED * 100)}% of its core is marked "proxy not CPU-bound": there the limit was
  wrk, the backend or the kernel, and the ratio says less about the proxy.
- nginx keeps at most 64 idle upstream connections (\`keepalive 64\`, as
  configured); at 500 client connections it opens and closes connections to
  the backend beyond those, which is part of why its 500-connection figure
  drops.
`;
}
