/**
 * The chaos benchmark's output: a table per fault for the console, the
 * section of bench/RESULTS.md (put in place of the last one), and the
 * chart of completed requests. Pure.
 * @module
 */

import { formatLatency, type MachineFacts } from "../report.ts";
import { alignedTable, markdownTable } from "../tables.ts";
import { PROXY_COLORS } from "../scenarios.ts";
import { type BarChart, formatShort } from "../svg.ts";
import {
  type ChaosProxyId,
  CONNECTIONS,
  type FaultId,
  FAULTS,
  GRACE_S,
  REPLICAS,
  SUBJECT,
  WRK_TIMEOUT_S,
} from "./faults.ts";
import type { GoalVerdict } from "./goals.ts";
import type { ChaosOptions } from "./options.ts";
import { type ChaosCell, type ChaosRecord, STILL_AT_END_S } from "./results.ts";
import { SETTINGS_WHY } from "./settings.ts";
import type { ErrorsByKind } from "./statuses.ts";

/** Everything one chaos benchmark produced: the content of bench/out/chaos.json. */
export interface ChaosResults {
  machine: MachineFacts;
  options: ChaosOptions;
  /** Each proxy's fault settings, as printed. */
  settings: Partial<Record<ChaosProxyId, string[]>>;
  notes: string[];
  records: ChaosRecord[];
  cells: ChaosCell[];
  goals: GoalVerdict[];
}

/**
 * A run's errors: the total, then each kind's count.
 *
 * @example
 * ```ts
 * formatErrors({ "500": 2812, read: 3 }, 2815); // "2,815 (500: 2,812, read: 3)"
 * formatErrors({}, 0); // "0"
 * ```
 */
export function formatErrors(errors: ErrorsByKind | undefined, total: number | undefined): string {
  if (total === undefined) return "-";
  const count = (n: number) => Math.round(n).toLocaleString("en-US");
  const kinds = Object.entries(errors ?? {}).map(([k, n]) => `${k}: ${count(n)}`);
  const sum = count(total);
  return kinds.length === 0 ? sum : `${sum} (${kinds.join(", ")})`;
}

/**
 * A share as a percentage, with more digits under 1% where the goals sit.
 *
 * @example
 * ```ts
 * formatShare(0.3333); // "33.3%"
 * formatShare(0.00042); // "0.04%"
 * ```
 */
export function formatShare(share: number | undefined): string {
  if (share === undefined) return "-";
  return `${(share * 100).toFixed(share < 0.01 ? 2 : 1)}%`;
}

/**
 * A time to stop: seconds, or "never" when the replica still got requests
 * at the end.
 *
 * @example
 * ```ts
 * formatStop(0.456); // "0.46 s"
 * formatStop(null); // "never"
 * ```
 */
export function formatStop(s: number | null | undefined): string {
  if (s === undefined) return "-";
  return s === null ? "never" : `${s.toFixed(2)} s`;
}

const HEAD = [
  "proxy",
  "completed",
  "errors (by kind)",
  "p99",
  "max",
  "sick replica's share after fault",
  "stopped getting requests after",
];
const NUMERIC = new Set([1, 3, 4, 5, 6]);

/**
 * One fault's rows: a proxy each, in `proxies` order.
 *
 * @example
 * ```ts
 * import { faultRows } from "./report.ts";
 * import type { ChaosCell } from "./results.ts";
 * declare const cells: ChaosCell[];
 * faultRows(cells, "sigkill", ["nginx", "gatehouse-bin"]); // [["nginx", "812,345", "0", ...], ...]
 * ```
 */
export function faultRows(
  cells: readonly ChaosCell[],
  fault: FaultId,
  proxies: readonly ChaosProxyId[],
): string[][] {
  return proxies.map((proxy) => {
    const c = cells.find((x) => x.fault === fault && x.proxy === proxy);
    if (c === undefined || c.status === "failed") {
      return [proxy, "-", `FAILED: ${c?.reason ?? "not run"}`, "-", "-", "-", "-"];
    }
    return [
      proxy,
      c.completed === undefined ? "-" : Math.round(c.completed).toLocaleString("en-US"),
      formatErrors(c.errors, c.errorsTotal),
      formatLatency(c.p99S),
      formatLatency(c.maxS),
      // A fault that ends is judged while it lasts (after that the replica is fine again).
      formatShare(fault === "unready" ? c.sickShareWhileFaulty : c.sickShare),
      formatStop(c.stopAfterS),
    ];
  });
}

const faultTitle = (id: FaultId) => FAULTS.find((f) => f.id === id)?.title ?? id;

/** A verdict as one line: met or not, the goal, the numbers. */
function verdictLine(v: GoalVerdict): string {
  const mark = v.met === undefined ? "not measured" : v.met ? "met" : "NOT MET";
  const runs = v.runsMet ? ` (met in ${v.runsMet.met} of ${v.runsMet.of} runs)` : "";
  return `${mark}: ${v.goal}: ${v.detail}${runs}`;
}

/**
 * What the console shows: each proxy's settings, a table per fault, the
 * goals.
 *
 * @example
 * ```ts
 * import { chaosConsole, type ChaosResults } from "./report.ts";
 * declare const results: ChaosResults;
 * console.log(chaosConsole(results));
 * ```
 */
export function chaosConsole(r: ChaosResults): string {
  const out: string[] = [];
  for (const proxy of r.options.proxies) {
    out.push(`${proxy} settings:`, ...(r.settings[proxy] ?? []).map((l) => `  ${l}`), "");
  }
  for (const fault of r.options.faults) {
    out.push(
      `${faultTitle(fault)}:`,
      alignedTable(HEAD, faultRows(r.cells, fault, r.options.proxies), NUMERIC),
      "",
    );
  }
  out.push(`Goals for ${SUBJECT}:`, ...r.goals.map((v) => `  ${verdictLine(v)}`));
  return out.join("\n");
}

/**
 * The chart: a panel per fault, a bar per proxy (its completed requests),
 * its client-visible errors under each bar.
 *
 * @example
 * ```ts
 * import { chaosChart, type ChaosResults } from "./report.ts";
 * import { barChartSvg } from "../svg.ts";
 * declare const results: ChaosResults;
 * await Deno.writeTextFile("bench/chaos.svg", barChartSvg(chaosChart(results)));
 * ```
 */
export function chaosChart(r: ChaosResults): BarChart {
  const { options, cells, machine } = r;
  const cell = (fault: FaultId, proxy: ChaosProxyId) =>
    cells.find((c) => c.fault === fault && c.proxy === proxy && c.status === "ok");
  const runs = options.runs === 1 ? "1 run" : `median of ${options.runs} runs`;
  return {
    title: "Requests completed while one of three replicas fails (higher is better)",
    subtitle: `${runs} of ${options.durationS} s, fault at ${options.faultAtS} s · ` +
      `proxy on 1 core · ${machine.date.slice(0, 10)} · under each bar: client-visible errors`,
    yLabel: "requests completed in the run",
    xLabel: `fault on one replica (wrk -c${CONNECTIONS} keep-alive GET)`,
    series: options.proxies.map((id) => ({ name: id, color: PROXY_COLORS[id] })),
    panels: options.faults.map((fault) => ({
      title: faultTitle(fault),
      values: options.proxies.map((p) => cell(fault, p)?.completed),
      annotations: options.proxies.map((p) => {
        const total = cell(fault, p)?.errorsTotal;
        return total === undefined ? undefined : `${formatShort(total)} errors`;
      }),
    })),
  };
}

/** The first and last line of the chaos section in RESULTS.md. */
export const SECTION_BEGIN = "<!-- chaos:begin (written by `deno task chaos`) -->";
/** See {@link SECTION_BEGIN}. */
export const SECTION_END = "<!-- chaos:end -->";

/**
 * The chaos section of RESULTS.md, between {@link SECTION_BEGIN} and
 * {@link SECTION_END}.
 *
 * @example
 * ```ts
 * import { chaosSection, type ChaosResults } from "./report.ts";
 * declare const results: ChaosResults;
 * chaosSection(results, "chaos.svg").startsWith("<!-- chaos:begin"); // true
 * ```
 */
export function chaosSection(r: ChaosResults, chartFile: string): string {
  const { options: o, machine } = r;
  const runs = o.runs === 1 ? "1 run" : `the median of ${o.runs} runs`;
  const goals = r.goals.map((v) => `- ${verdictLine(v)}`).join("\n");
  const tables = o.faults.map((id) => {
    const f = FAULTS.find((x) => x.id === id);
    const rows = faultRows(r.cells, id, o.proxies);
    return `### ${f?.title ?? id}\n\n${f?.how ?? ""}.\n\n${markdownTable(HEAD, rows, NUMERIC)}`;
  }).join("\n\n");
  const settings = o.proxies.map((p) =>
    `**${p}**: ${SETTINGS_WHY[p]}\n\n\`\`\`\n${(r.settings[p] ?? []).join("\n")}\n\`\`\``
  ).join("\n\n");
  const notes = r.notes.length > 0
    ? `\n\nNotes:\n\n${r.notes.map((n) => `- ${n}`).join("\n")}`
    : "";
  return `${SECTION_BEGIN}

## Gray failures: one of three replicas fails

Generated by \`deno task chaos\` on ${machine.date}${
    o.quick ? " (`--quick`: smoke test only)" : ""
  }. ${REPLICAS} replicas of one service, each a single nginx process answering GET / with 13
bytes, behind each proxy in turn; \`wrk -t1 -c${CONNECTIONS}\` keep-alive, \`--timeout ${WRK_TIMEOUT_S}s\`,
${o.durationS} s per run; ${o.faultAtS} s into the run one replica fails. Every figure is ${runs}.

### Goals for ${SUBJECT}

${goals}

![requests completed per fault and proxy](${chartFile})

${tables}

### How it is measured

- Every run starts the replicas and the proxy afresh (nothing learnt in one run carries over),
  gives them ${o.warmupS} s of unrecorded load, then records ${o.durationS} s. The proxy runs
  on CPU 0; wrk, the replicas and the harness on CPU 1.
- Completed: responses wrk got, any status. Errors: responses outside 200-399 by status (a
  wrk script counts them), and wrk's socket errors (\`connect\`, \`read\`, \`write\`,
  \`timeout\`: a response later than ${WRK_TIMEOUT_S} s). A request still waiting when the run
  ends is in neither.
- Each replica logs every request with the time it arrived (nginx's \`$msec\` less
  \`$request_time\`), so a 2 s answer counts when it was asked for; health checks are on
  \`/health\` and are not counted. The frozen replica logs nothing, so its requests are counted
  from its connections' receive queues, read from \`/proc/net/tcp\` every 50 ms: what a queue
  gained between two looks arrived between them, in requests of the proxy's size. The SIGKILL
  run reads the killed replica's queues the same way (finding none), so that the two runs the
  SIGSTOP goal compares carry the same measuring load on the load CPU.
- Sick replica's share: its requests over all replicas' requests from the fault to the end.
  Stopped getting requests after: from the fault to the last request that reached it (0: none
  did); "never" when one reached it in the last ${STILL_AT_END_S} s of the run. The slow
  replica's goal counts from ${GRACE_S} s after the fault.

### Settings

${settings}${notes}

${SECTION_END}
`;
}

/**
 * RESULTS.md with `section` in place of its chaos section, or added at the
 * end when it has none.
 *
 * @example
 * ```ts
 * import { SECTION_BEGIN, SECTION_END, spliceSection } from "./report.ts";
 * const doc = `# Results\n\n${SECTION_BEGIN}\nold\n${SECTION_END}\n\n## Later\n`;
 * spliceSection(doc, `${SECTION_BEGIN}\nnew\n${SECTION_END}\n`);
 * // "# Results\n\n<!-- chaos:begin ... -->\nnew\n<!-- chaos:end -->\n\n## Later\n"
 * ```
 */
export function spliceSection(doc: string, section: string): string {
  const begin = doc.indexOf(SECTION_BEGIN);
  const end = doc.indexOf(SECTION_END, begin);
  if (begin < 0 || end < 0) return `${doc.trimEnd()}\n\n${section}`;
  const after = doc.slice(end + SECTION_END.length).replace(/^\n/, "");
  return `${doc.slice(0, begin)}${section}${after}`;
}

/**
 * The chaos section of a RESULTS.md, markers included, or `undefined`:
 * what the main benchmark keeps when it writes the file anew.
 *
 * @example
 * ```ts
 * import { SECTION_BEGIN, SECTION_END, sectionOf } from "./report.ts";
 * sectionOf(`# R\n${SECTION_BEGIN}\nx\n${SECTION_END}\n`); // "<!-- chaos:begin ... -->\nx\n<!-- chaos:end -->\n"
 * ```
 */
export function sectionOf(doc: string): string | undefined {
  const begin = doc.indexOf(SECTION_BEGIN);
  const end = doc.indexOf(SECTION_END, begin);
  if (begin < 0 || end < 0) return undefined;
  return `${doc.slice(begin, end + SECTION_END.length)}\n`;
}
