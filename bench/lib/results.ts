/**
 * The benchmark's data model: one record per wrk run, folded into one cell
 * per (proxy, scenario) with medians and a ratio to the reference proxy.
 * Pure.
 * @module
 */

import type { CpuUsage } from "./cpu.ts";
import { median, medianDefined, medianInterval } from "./stats.ts";
import type { ProxyId, Scenario } from "./scenarios.ts";
import { countErrors, type WrkResult } from "./wrk.ts";

/** One measured run (after any retries) of one proxy under one scenario. */
export interface RunRecord {
  proxy: ProxyId;
  scenario: string;
  /** 1-based repetition number. */
  run: number;
  /** wrk's figures; absent when the run failed. */
  wrk?: WrkResult;
  /** Why the run failed (wrk error, proxy exited). */
  error?: string;
  /** CPU use during the kept attempt. */
  cpu?: CpuUsage;
  /** Foreign share of the proxy's core for every attempt, in order. */
  foreignByAttempt: number[];
  /** True when even the kept attempt exceeded the foreign-CPU limit. */
  disturbed: boolean;
  /**
   * Peak resident memory of the proxy's process tree during the kept
   * attempt, in KiB (sum of VmRSS, sampled every 250 ms); absent when no
   * sample was taken (older results, the proxy gone).
   */
  rssKiB?: number;
  /**
   * Pairs a run of the reference proxy with the run of another proxy made
   * right after it (same number on both records): the host's speed drifts
   * over tens of seconds, so a ratio is taken within each pair. Absent in
   * results written before pairing.
   */
  pair?: number;
  /**
   * True for the extra pairs run only to compare p99 ({@link compareP99}):
   * they are left out of the cells, whose method stays the median of the
   * regular rounds.
   */
  p99Extra?: boolean;
}

/** The summary of one (proxy, scenario) pair. */
export interface Cell {
  proxy: ProxyId;
  scenario: string;
  status: "ok" | "failed";
  /** Why the cell failed. */
  reason?: string;
  /** Runs that produced figures. */
  runs: number;
  /** Medians over those runs. */
  reqPerSec?: number;
  p50S?: number;
  p99S?: number;
  mibPerSec?: number;
  /** Median share of one core the proxy used (0..1). */
  proxyCpu?: number;
  /** Median over the runs of each run's peak resident memory, in MiB. */
  rssMiB?: number;
  /** Errors summed over all runs. */
  errors: number;
  /**
   * Primary figure relative to the reference proxy's, same scenario: the
   * median over pairs of (this run / the reference run just before it), or,
   * for records without pairs, this cell's median over the reference's.
   */
  ratio?: number;
  /** How many pairs {@link ratio} was taken over; absent when it is a ratio of medians. */
  pairs?: number;
  /** Re-runs caused by foreign CPU use, summed over the runs. */
  retries: number;
  /** Runs still disturbed after the retries ran out. */
  disturbedRuns: number;
  /** Runs during which foreign processes took over the limit of the load CPU. */
  loadDisturbedRuns: number;
}

const MIB = 1024 * 1024;

const toMiB = (kib: number | undefined) => kib === undefined ? undefined : kib / 1024;

/** The figure a scenario ranks by, for one cell. */
export function primaryValue(cell: Cell, scenario: Scenario): number | undefined {
  return scenario.primary === "MiB/s" ? cell.mibPerSec : cell.reqPerSec;
}

function summarizeCell(
  proxy: ProxyId,
  scenario: Scenario,
  records: readonly RunRecord[],
  startFailure: string | undefined,
  foreignLimit: number,
): Cell {
  const mine = records.filter((r) =>
    r.proxy === proxy && r.scenario === scenario.id && !r.p99Extra
  );
  const good = mine.filter((r): r is RunRecord & { wrk: WrkResult } => r.wrk !== undefined);
  const base = {
    proxy,
    scenario: scenario.id,
    runs: good.length,
    errors: good.reduce((sum, r) => sum + countErrors(r.wrk.errors), 0),
    retries: mine.reduce((sum, r) => sum + Math.max(0, r.foreignByAttempt.length - 1), 0),
    disturbedRuns: mine.filter((r) => r.disturbed).length,
    loadDisturbedRuns: mine.filter((r) => (r.cpu?.loadForeign ?? 0) > foreignLimit).length,
  };
  if (startFailure !== undefined) return { ...base, status: "failed", reason: startFailure };
  if (good.length === 0) {
    const reason = mine.find((r) => r.error !== undefined)?.error ?? "no runs";
    return { ...base, status: "failed", reason };
  }
  return {
    ...base,
    status: "ok",
    reqPerSec: median(good.map((r) => r.wrk.requestsPerSec)),
    p50S: medianDefined(good.map((r) => r.wrk.latency.p50S)),
    p99S: medianDefined(good.map((r) => r.wrk.latency.p99S)),
    mibPerSec: median(good.map((r) => r.wrk.bytesPerSec / MIB)),
    proxyCpu: medianDefined(good.map((r) => r.cpu?.proxy)),
    rssMiB: toMiB(medianDefined(good.map((r) => r.rssKiB))),
  };
}

/**
 * Folds run records into cells, in (scenario, proxy) order, and fills in
 * each cell's ratio to `reference`.
 *
 * @example
 * ```ts
 * import { type RunRecord, summarize } from "./results.ts";
 * import { SCENARIOS } from "./scenarios.ts";
 * declare const records: RunRecord[];
 * const cells = summarize(records, ["nginx", "haproxy"], SCENARIOS, "nginx", new Map());
 * ```
 * @param startFailures proxies that never started, with the reason; all of
 * their cells are failed.
 * @param foreignLimit foreign share of the load CPU above which a run is
 * counted in `loadDisturbedRuns`.
 */
export function summarize(
  records: readonly RunRecord[],
  proxies: readonly ProxyId[],
  scenarios: readonly Scenario[],
  reference: ProxyId,
  startFailures: ReadonlyMap<ProxyId, string>,
  foreignLimit = 0.1,
): Cell[] {
  const cells: Cell[] = [];
  for (const scenario of scenarios) {
    const row = proxies.map((p) =>
      summarizeCell(p, scenario, records, startFailures.get(p), foreignLimit)
    );
    const ref = row.find((c) => c.proxy === reference);
    const refValue = ref ? primaryValue(ref, scenario) : undefined;
    for (const cell of row) {
      const paired = cell.proxy === reference || cell.status !== "ok"
        ? undefined
        : pairedRatio(records, cell.proxy, reference, scenario);
      const value = primaryValue(cell, scenario);
      if (paired !== undefined) {
        cell.ratio = paired.ratio;
        cell.pairs = paired.pairs;
      } else if (value !== undefined && refValue !== undefined && refValue > 0) {
        cell.ratio = value / refValue;
      }
    }
    cells.push(...row);
  }
  return cells;
}

/** A run's primary figure (req/s or MiB/s), or undefined when it failed. */
function runValue(r: RunRecord, scenario: Scenario): number | undefined {
  if (r.wrk === undefined) return undefined;
  return scenario.primary === "MiB/s" ? r.wrk.bytesPerSec / MIB : r.wrk.requestsPerSec;
}

/**
 * The median over pairs of `proxy`'s run divided by the reference run paired
 * with it, and how many pairs that was; undefined when no pair has figures
 * on both sides.
 */
function pairedRatio(
  records: readonly RunRecord[],
  proxy: ProxyId,
  reference: ProxyId,
  scenario: Scenario,
): { ratio: number; pairs: number } | undefined {
  const refByPair = new Map<number, number>();
  for (const r of records) {
    if (r.proxy !== reference || r.scenario !== scenario.id || r.pair === undefined || r.p99Extra) {
      continue;
    }
    const v = runValue(r, scenario);
    if (v !== undefined && v > 0) refByPair.set(r.pair, v);
  }
  const ratios: number[] = [];
  for (const r of records) {
    if (r.proxy !== proxy || r.scenario !== scenario.id || r.pair === undefined || r.p99Extra) {
      continue;
    }
    const v = runValue(r, scenario);
    const refValue = refByPair.get(r.pair);
    if (v !== undefined && refValue !== undefined) ratios.push(v / refValue);
  }
  return ratios.length > 0 ? { ratio: median(ratios), pairs: ratios.length } : undefined;
}

/** One pair of {@link compareP99}: the reference's p99 and the proxy's right after it. */
export interface P99Pair {
  pair: number;
  referenceP99S: number;
  p99S: number;
  /** p99S / referenceP99S. */
  ratio: number;
}

/** How one proxy's p99 compares with the reference's, pair by pair. */
export interface P99Comparison {
  proxy: ProxyId;
  reference: ProxyId;
  scenario: string;
  pairs: P99Pair[];
  /** Pairs in which the proxy's p99 was the lower one. */
  lower: number;
  /** Median of the pairs' ratios with its confidence interval; absent under 6 pairs. */
  median?: number;
  low?: number;
  high?: number;
  confidence?: number;
  /**
   * "lower" when the whole interval is below 1, "higher" when it is above 1,
   * "no measurable difference" when it holds 1, "too few pairs" without one.
   */
  verdict: "lower" | "higher" | "no measurable difference" | "too few pairs";
}

/**
 * Compares `proxy`'s p99 with `reference`'s over every pair of runs in
 * `scenario` (the regular rounds and the extra ones): the ratio of the two
 * p99s within each pair, their median, and a distribution-free 95%
 * confidence interval for that median. A pair counts only when both runs
 * have a p99 and neither was disturbed by foreign CPU use. One 10 s run's
 * p99 moves by a third with the host, so three runs cannot tell a few
 * percent apart; many pairs and an interval can say whether they can.
 *
 * @example
 * ```ts
 * import { compareP99, type RunRecord } from "./results.ts";
 * declare const records: RunRecord[];
 * const c = compareP99(records, "gatehouse-bin", "nginx", "keepalive-c50");
 * c.verdict; // "lower"
 * ```
 */
export function compareP99(
  records: readonly RunRecord[],
  proxy: ProxyId,
  reference: ProxyId,
  scenario: string,
): P99Comparison {
  const usable = (r: RunRecord) =>
    r.scenario === scenario && r.pair !== undefined && !r.disturbed &&
    r.wrk?.latency.p99S !== undefined && r.wrk.latency.p99S > 0;
  const refByPair = new Map<number, number>();
  for (const r of records) {
    if (r.proxy === reference && usable(r)) refByPair.set(r.pair!, r.wrk!.latency.p99S!);
  }
  const pairs: P99Pair[] = [];
  for (const r of records) {
    if (r.proxy !== proxy || !usable(r)) continue;
    const referenceP99S = refByPair.get(r.pair!);
    if (referenceP99S === undefined) continue;
    const p99S = r.wrk!.latency.p99S!;
    pairs.push({ pair: r.pair!, referenceP99S, p99S, ratio: p99S / referenceP99S });
  }
  pairs.sort((a, b) => a.pair - b.pair);
  const lower = pairs.filter((p) => p.p99S < p.referenceP99S).length;
  const interval = medianInterval(pairs.map((p) => p.ratio));
  const base = { proxy, reference, scenario, pairs, lower };
  if (interval === undefined) return { ...base, verdict: "too few pairs" };
  const verdict = interval.high < 1
    ? "lower"
    : interval.low > 1
    ? "higher"
    : "no measurable difference";
  return { ...base, ...interval, verdict };
}
