/**
 * The chaos benchmark's data: one record per run, the figures a run yields
 * (completed requests, errors by kind, latency, the sick replica's share
 * and when it stopped getting requests), and one cell per (fault, proxy)
 * holding the medians over its runs. Pure.
 * @module
 */

import { median } from "../stats.ts";
import type { WrkResult } from "../wrk.ts";
import type { ReplicaCount, RunWindows } from "./arrivals.ts";
import { type ChaosProxyId, type FaultId, SICK_REPLICA, SLOW_REPLY_S } from "./faults.ts";
import type { CpuUsage } from "../cpu.ts";
import { clientErrors, type ErrorsByKind, totalErrors } from "./statuses.ts";

/** One recorded run of one proxy under one fault. */
export interface ChaosRecord {
  fault: FaultId;
  proxy: ChaosProxyId;
  /** 1-based repetition number. */
  run: number;
  /** Why the run gave no figures (a proxy that did not start, wrk failing). */
  error?: string;
  windows?: RunWindows;
  wrk?: WrkResult;
  /** Responses by status, as wrk's script counted them. */
  statuses?: Record<string, number>;
  /** Load requests each replica got, in replica order (the sick one is {@link SICK_REPLICA}). */
  replicas?: ReplicaCount[];
  /** How the sick replica's requests after the fault were counted. */
  sickCountedBy?: "access log" | "receive queues";
  /** The size of the proxy's request in bytes (what turns queued bytes into requests). */
  requestBytes?: number;
  /** CPU use during the recorded run (the proxy's core and the load core). */
  cpu?: CpuUsage;
}

/**
 * A run whose last request to the sick replica came this close to its end
 * was still getting requests: it never stopped. Longer than the slow
 * replica's answer, since a proxy that keeps using that replica sends it
 * the next request of a connection only when the last answer came back.
 */
export const STILL_AT_END_S = SLOW_REPLY_S + 0.5;

/** What one run shows. */
export interface RunFigures {
  /** Responses wrk got, of any status. */
  completed: number;
  errors: ErrorsByKind;
  errorsTotal: number;
  p99S?: number;
  maxS?: number;
  /** The client's 500s over all its responses: the sick replica's 500s that got through. */
  status500Share: number;
  /** The sick replica's requests over all replicas' requests after the fault. */
  sickShare?: number;
  /** The same from `GRACE_S` after the fault. */
  sickShareAfterGrace?: number;
  /** The same while a fault that ends lasts (from the grace on): `unready`'s. */
  sickShareWhileFaulty?: number;
  /**
   * Seconds from the fault to the last request that reached the sick
   * replica (0: none did); `null` when it was still getting requests in the
   * last {@link STILL_AT_END_S} s of the run.
   */
  stopAfterS: number | null;
}

/** A share of a total, or undefined when there is no total. */
function share(part: number, whole: number): number | undefined {
  return whole > 0 ? part / whole : undefined;
}

/**
 * The figures of one run; `undefined` for a failed run.
 *
 * @example
 * ```ts
 * import { type ChaosRecord, runFigures } from "./results.ts";
 * declare const record: ChaosRecord;
 * runFigures(record)?.stopAfterS; // 0.35
 * ```
 */
export function runFigures(r: ChaosRecord): RunFigures | undefined {
  if (r.wrk === undefined || r.windows === undefined) return undefined;
  const statuses = r.statuses ?? {};
  const errors = clientErrors(statuses, r.wrk.errors);
  const replicas = r.replicas ?? [];
  const sick = replicas[SICK_REPLICA];
  const sum = (f: (c: ReplicaCount) => number) => replicas.reduce((n, c) => n + f(c), 0);
  let stopAfterS: number | null = 0;
  if (sick?.lastAfterFaultMs !== undefined) {
    stopAfterS = sick.lastAfterFaultMs > r.windows.endMs - STILL_AT_END_S * 1000
      ? null
      : (sick.lastAfterFaultMs - r.windows.faultMs) / 1000;
  }
  return {
    completed: r.wrk.requests,
    errors,
    errorsTotal: totalErrors(errors),
    p99S: r.wrk.latency.p99S,
    maxS: r.wrk.latency.maxS,
    status500Share: share(statuses["500"] ?? 0, r.wrk.requests) ?? 0,
    sickShare: sick && share(sick.afterFault, sum((c) => c.afterFault)),
    sickShareAfterGrace: sick && share(sick.afterGrace, sum((c) => c.afterGrace)),
    sickShareWhileFaulty: sick && share(sick.whileFaulty ?? 0, sum((c) => c.whileFaulty ?? 0)),
    stopAfterS,
  };
}

/** Share of the proxy's core taken by other processes above which a run counts as disturbed. */
export const FOREIGN_LIMIT = 0.1;

/**
 * A note on the runs during which other processes took more than
 * {@link FOREIGN_LIMIT} of the proxy's core (they are kept: a fault run
 * cannot be repeated alone without changing what it is compared with);
 * `undefined` when there were none.
 *
 * @example
 * ```ts
 * import { disturbanceNote, type ChaosRecord } from "./results.ts";
 * declare const records: ChaosRecord[];
 * disturbanceNote(records); // "2 of 45 runs: other processes took more than 10% of ..."
 * ```
 */
export function disturbanceNote(records: readonly ChaosRecord[]): string | undefined {
  const measured = records.filter((r) => r.cpu !== undefined);
  const disturbed = measured.filter((r) => r.cpu!.foreign > FOREIGN_LIMIT);
  if (disturbed.length === 0) return undefined;
  const worst = Math.max(...disturbed.map((r) => r.cpu!.foreign));
  return `${disturbed.length} of ${measured.length} runs: other processes took more than ` +
    `${FOREIGN_LIMIT * 100}% of the proxy's core (at most ${Math.round(worst * 100)}%: ` +
    disturbed.map((r) => `${r.proxy} ${r.fault} run ${r.run}`).join(", ") + ")";
}

/** The medians of one (fault, proxy) over its runs. */
export interface ChaosCell extends Partial<RunFigures> {
  fault: FaultId;
  proxy: ChaosProxyId;
  status: "ok" | "failed";
  /** Why the cell has no figures. */
  reason?: string;
  /** Runs with figures. */
  runs: number;
}

/** The median of the defined values, or undefined when none is. */
function medianOf(values: readonly (number | undefined)[]): number | undefined {
  const present = values.filter((v): v is number => v !== undefined);
  return present.length === 0 ? undefined : median(present);
}

/** Each kind's median count, kinds missing from a run counting 0 there. */
function medianErrors(runs: readonly RunFigures[]): ErrorsByKind {
  const kinds = new Set(runs.flatMap((f) => Object.keys(f.errors)));
  const out: ErrorsByKind = {};
  for (const kind of kinds) {
    const m = median(runs.map((f) => f.errors[kind] ?? 0));
    if (m > 0) out[kind] = m;
  }
  return out;
}

/**
 * The median of times to stop, "never" (`null`) ranking above every time.
 *
 * @example
 * ```ts
 * medianStop([0.5, null, null]); // null
 * medianStop([0.5, 0.7, null]); // 0.7
 * ```
 */
export function medianStop(values: readonly (number | null)[]): number | null {
  const m = median(values.map((v) => v ?? Infinity));
  return Number.isFinite(m) ? m : null;
}

/**
 * The cell of one fault and proxy: the median of each figure over the runs
 * that have figures. (Each figure's own median: the error kinds' medians
 * need not add up to the median total.)
 *
 * @example
 * ```ts
 * import { type ChaosRecord, summarizeChaos } from "./results.ts";
 * declare const records: ChaosRecord[];
 * const cells = summarizeChaos(records, ["none", "sigkill"], ["nginx", "gatehouse-bin"]);
 * ```
 */
export function summarizeChaos(
  records: readonly ChaosRecord[],
  faults: readonly FaultId[],
  proxies: readonly ChaosProxyId[],
): ChaosCell[] {
  const cells: ChaosCell[] = [];
  for (const fault of faults) {
    for (const proxy of proxies) {
      const mine = records.filter((r) => r.fault === fault && r.proxy === proxy);
      const runs = mine.map(runFigures).filter((f): f is RunFigures => f !== undefined);
      if (runs.length === 0) {
        const reason = mine.find((r) => r.error !== undefined)?.error ?? "no runs";
        cells.push({ fault, proxy, status: "failed", reason, runs: 0 });
        continue;
      }
      cells.push({
        fault,
        proxy,
        status: "ok",
        runs: runs.length,
        completed: median(runs.map((f) => f.completed)),
        errors: medianErrors(runs),
        errorsTotal: median(runs.map((f) => f.errorsTotal)),
        p99S: medianOf(runs.map((f) => f.p99S)),
        maxS: medianOf(runs.map((f) => f.maxS)),
        status500Share: median(runs.map((f) => f.status500Share)),
        sickShare: medianOf(runs.map((f) => f.sickShare)),
        sickShareAfterGrace: medianOf(runs.map((f) => f.sickShareAfterGrace)),
        sickShareWhileFaulty: medianOf(runs.map((f) => f.sickShareWhileFaulty)),
        stopAfterS: medianStop(runs.map((f) => f.stopAfterS)),
      });
    }
  }
  return cells;
}
