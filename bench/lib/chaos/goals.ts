/**
 * The goals the chaos benchmark is run to check, each judged met or not
 * from the cells' numbers, for the proxy under test (Gatehouse). Pure.
 * @module
 */

import { formatLatency } from "../report.ts";
import { type ChaosProxyId, type FaultId, FAULTS, GRACE_S, SUBJECT } from "./faults.ts";
import { type ChaosCell, type ChaosRecord, summarizeChaos } from "./results.ts";

/**
 * How far below another proxy's completed requests still counts as "no
 * worse": the host's speed alone moves one run's count by about this much
 * (see the main benchmark's notes), so a smaller gap says nothing.
 */
export const COMPLETED_TOLERANCE = 0.05;

/** One goal and whether the numbers meet it. */
export interface GoalVerdict {
  /** The goal, as set. */
  goal: string;
  /** `undefined`: the run did not measure what the goal needs. */
  met: boolean | undefined;
  /** The numbers behind the verdict. */
  detail: string;
  /** In how many of the single runs the goal was met (each run judged alone). */
  runsMet?: { met: number; of: number };
}

type Lookup = (fault: FaultId, proxy: ChaosProxyId) => ChaosCell | undefined;

const pct = (x: number) => `${(x * 100).toFixed(x < 0.1 ? 2 : 1)}%`;
const count = (n: number) => Math.round(n).toLocaleString("en-US");
const title = (fault: FaultId) => FAULTS.find((f) => f.id === fault)?.title ?? fault;
const missing = (what: string) => ({ met: undefined, detail: `not measured (${what})` });

function killGoal(get: Lookup, subject: ChaosProxyId): Omit<GoalVerdict, "goal"> {
  const kill = get("sigkill", subject);
  if (kill?.errorsTotal === undefined) return missing("no SIGKILL run");
  return { met: kill.errorsTotal === 0, detail: `${count(kill.errorsTotal)} errors` };
}

function stopGoal(get: Lookup, subject: ChaosProxyId): Omit<GoalVerdict, "goal"> {
  const [stop, kill] = [get("sigstop", subject), get("sigkill", subject)];
  if (stop?.completed === undefined || stop.errorsTotal === undefined) {
    return missing("no SIGSTOP run");
  }
  if (kill?.completed === undefined || kill.completed === 0) return missing("no SIGKILL run");
  const ratio = stop.completed / kill.completed;
  return {
    met: ratio >= 0.95 && stop.errorsTotal === 0,
    detail: `completed ${count(stop.completed)}, ${pct(ratio)} of SIGKILL's ` +
      `${count(kill.completed)}; ${count(stop.errorsTotal)} errors`,
  };
}

function http500Goal(get: Lookup, subject: ChaosProxyId): Omit<GoalVerdict, "goal"> {
  const cell = get("http500", subject);
  if (cell?.status500Share === undefined) return missing("no 500 run");
  return { met: cell.status500Share < 0.01, detail: `${pct(cell.status500Share)} were 500s` };
}

function slowGoal(get: Lookup, subject: ChaosProxyId): Omit<GoalVerdict, "goal"> {
  const [slow, none] = [get("slow", subject), get("none", subject)];
  if (slow?.p99S === undefined) return missing("no slow-replica run");
  if (none?.p99S === undefined || none.p99S <= 0) return missing("no run without a fault");
  const ratio = slow.p99S / none.p99S;
  const shareText = slow.sickShareAfterGrace === undefined
    ? "no request reached any replica"
    : `${pct(slow.sickShareAfterGrace)} of requests reached it`;
  return {
    met: slow.sickShareAfterGrace !== undefined && slow.sickShareAfterGrace < 0.01 &&
      ratio <= 2,
    detail: `${shareText} from ${GRACE_S} s after the fault on; p99 ` +
      `${formatLatency(slow.p99S)}, ${ratio.toFixed(2)}x the no-fault run's ` +
      formatLatency(none.p99S),
  };
}

/** Where `mine` falls short of the `others` on one row: "errors 50 vs nginx 0, ...". */
function unreadyGoal(get: Lookup, subject: ChaosProxyId): Omit<GoalVerdict, "goal"> {
  const cell = get("unready", subject);
  if (cell?.errorsTotal === undefined || cell.sickShareWhileFaulty === undefined) {
    return missing("no not-ready run");
  }
  return {
    met: cell.errorsTotal === 0 && cell.sickShareWhileFaulty < 0.01,
    detail: `${count(cell.errorsTotal)} errors; ${pct(cell.sickShareWhileFaulty)} of requests ` +
      "reached it while not ready",
  };
}

function shortfalls(
  mine: ChaosCell,
  others: readonly [ChaosProxyId, ChaosCell][],
): string[] {
  const worse = (
    what: string,
    value: number,
    of: (c: ChaosCell) => number,
    isWorse: (theirs: number) => boolean,
  ) => {
    const beaten = others.filter(([, c]) => isWorse(of(c)));
    return beaten.length === 0
      ? []
      : [`${what} ${count(value)} vs ${beaten.map(([p, c]) => `${p} ${count(of(c))}`).join(", ")}`];
  };
  const errors = mine.errorsTotal ?? 0;
  const completed = mine.completed ?? 0;
  return [
    ...worse("errors", errors, (c) => c.errorsTotal ?? 0, (theirs) => errors > theirs),
    ...worse(
      "completed",
      completed,
      (c) => c.completed ?? 0,
      (theirs) => completed < theirs * (1 - COMPLETED_TOLERANCE),
    ),
  ];
}

function noWorseGoal(
  get: Lookup,
  subject: ChaosProxyId,
  others: readonly ChaosProxyId[],
  faults: readonly FaultId[],
): Omit<GoalVerdict, "goal"> {
  if (!faults.some((fault) => get(fault, subject) !== undefined)) {
    return missing(`no ${subject} figures`);
  }
  const rows: string[] = [];
  let compared = 0;
  for (const fault of faults) {
    const theirs = others.flatMap((p) => {
      const c = get(fault, p);
      return c === undefined ? [] : [[p, c] as [ChaosProxyId, ChaosCell]];
    });
    if (theirs.length === 0) continue;
    compared++;
    const mine = get(fault, subject);
    const short = mine === undefined ? ["no figures"] : shortfalls(mine, theirs);
    if (short.length > 0) rows.push(`${title(fault)}: ${short.join("; ")}`);
  }
  if (compared === 0) return missing("no other proxy measured");
  return {
    met: rows.length === 0,
    detail: rows.length === 0
      ? `every row (completed within ${COMPLETED_TOLERANCE * 100}% counts as no worse)`
      : rows.join(". "),
  };
}

/**
 * Judges every goal from the cells (the medians over the runs).
 *
 * @example
 * ```ts
 * import { goalVerdicts } from "./goals.ts";
 * import type { ChaosCell } from "./results.ts";
 * declare const cells: ChaosCell[];
 * for (const v of goalVerdicts(cells)) console.log(v.goal, v.met, v.detail);
 * ```
 */
export function goalVerdicts(
  cells: readonly ChaosCell[],
  subject: ChaosProxyId = SUBJECT,
): GoalVerdict[] {
  const get: Lookup = (fault, proxy) =>
    cells.find((c) => c.fault === fault && c.proxy === proxy && c.status === "ok");
  const others = [...new Set(cells.map((c) => c.proxy))].filter((p) => p !== subject);
  const faults = [...new Set(cells.map((c) => c.fault))];
  return [
    { goal: "SIGKILL: 0 client-visible errors", ...killGoal(get, subject) },
    {
      goal: "SIGSTOP: completed at least 95% of the SIGKILL run's, no GET fails",
      ...stopGoal(get, subject),
    },
    {
      goal: "500s: under 1% of all responses are the replica's 500s",
      ...http500Goal(get, subject),
    },
    {
      goal: `slow replica: under 1% of requests go to it from ${GRACE_S} s after the fault ` +
        "on; p99 at most 2x the no-fault run's",
      ...slowGoal(get, subject),
    },
    {
      goal: `not ready: no client-visible error; under 1% of requests go to it from ${GRACE_S} s ` +
        "after it turns unready until it is ready",
      ...unreadyGoal(get, subject),
    },
    {
      goal: `no worse than ${others.join(" and ") || "the others"} on errors and completed ` +
        "requests on any row",
      ...noWorseGoal(get, subject, others, faults),
    },
  ];
}

/**
 * The verdicts of the medians, each with in how many single runs it was
 * met too (run i of every cell judged together, as one benchmark).
 *
 * @example
 * ```ts
 * import { goalsWithRuns } from "./goals.ts";
 * import type { ChaosCell, ChaosRecord } from "./results.ts";
 * declare const records: ChaosRecord[];
 * declare const cells: ChaosCell[];
 * goalsWithRuns(cells, records, ["none", "sigkill"], ["nginx", "gatehouse-bin"])[0].runsMet;
 * // { met: 3, of: 3 }
 * ```
 */
export function goalsWithRuns(
  cells: readonly ChaosCell[],
  records: readonly ChaosRecord[],
  faults: readonly FaultId[],
  proxies: readonly ChaosProxyId[],
): GoalVerdict[] {
  const verdicts = goalVerdicts(cells);
  const runs = [...new Set(records.map((r) => r.run))].sort((a, b) => a - b);
  if (runs.length < 2) return verdicts;
  const perRun = runs.map((run) =>
    goalVerdicts(summarizeChaos(records.filter((r) => r.run === run), faults, proxies))
  );
  return verdicts.map((v, i) => ({
    ...v,
    runsMet: { met: perRun.filter((p) => p[i].met === true).length, of: runs.length },
  }));
}
