/**
 * `deno task chaos` options from the command line and the environment.
 * Pure: the caller passes `args` and an env lookup.
 * @module
 */

import { list, parseModeFlags, positiveNumber, wholeNumber } from "../options.ts";
import {
  CHAOS_PROXIES,
  type ChaosProxyId,
  CONNECTIONS,
  FAULT_AT_S,
  FAULT_IDS,
  type FaultId,
  WRK_TIMEOUT_S,
} from "./faults.ts";

/** Everything that shapes one chaos benchmark. */
export interface ChaosOptions {
  /** Runs per (fault, proxy) cell; the cell reports their medians. */
  runs: number;
  /** Seconds of load per recorded run (wrk -d). */
  durationS: number;
  /** Seconds into the run at which the fault happens. */
  faultAtS: number;
  /** Seconds of unrecorded load before each recorded run (0: none). */
  warmupS: number;
  /** Proxies to measure, in report order. */
  proxies: ChaosProxyId[];
  /** Faults to run, in report order. */
  faults: FaultId[];
  /** Flags added to Gatehouse's (BENCH_CHAOS_GATEHOUSE_ARGS). */
  gatehouseArgs: string[];
  /** Set by `--quick`: one short run per cell. */
  quick: boolean;
  /** Set by `--render`: rewrite the reports from bench/out/chaos.json. */
  render: boolean;
  /** Set by `--help`. */
  help: boolean;
}

/** The shortest recorded run of a full benchmark, in seconds. */
export const MIN_DURATION_S = 12;

/**
 * A `--quick` run's length: 5 s after the fault, enough for a replica that
 * stopped getting requests within 2.5 s to show it (`STILL_AT_END_S`).
 */
export const QUICK_DURATION_S = 8;

/** Usage text for `--help` and option errors. */
export const CHAOS_USAGE = `usage: deno task chaos [--quick] [--render] [--help]

Three single-process nginx replicas of one service behind nginx, haproxy and
the Gatehouse binary; wrk -c${CONNECTIONS} keep-alive (--timeout ${WRK_TIMEOUT_S}s) through each
while one replica fails ${FAULT_AT_S} s into the run: ${FAULT_IDS.join(", ")}.

  --quick              1 run of ${QUICK_DURATION_S} s per cell (a smoke test, not a result)
  --render             rewrite the chaos section of RESULTS.md and chaos.svg from
                       bench/out/chaos.json

environment:
  BENCH_CHAOS_RUNS           runs per cell, medians reported (default 3)
  BENCH_CHAOS_DURATION       seconds per run, at least ${MIN_DURATION_S} (default ${MIN_DURATION_S})
  BENCH_CHAOS_WARMUP         unrecorded seconds of load before each run (default 2; 0: none)
  BENCH_CHAOS_PROXIES        comma list of ${CHAOS_PROXIES.join(", ")}
  BENCH_CHAOS_FAULTS         comma list of ${FAULT_IDS.join(", ")}
  BENCH_CHAOS_GATEHOUSE_ARGS more Gatehouse flags, after the benchmark's own
                             (a later flag wins: "--upstream-timeout 1s")
`;

/**
 * Builds the options.
 *
 * @example
 * ```ts
 * const opts = parseChaosOptions(["--quick"], (k) => process.env[k]);
 * opts.durationS; // 8
 * ```
 * @throws {RangeError} on a bad value, with a message fit for the user.
 */
export function parseChaosOptions(
  args: readonly string[],
  env: (name: string) => string | undefined,
): ChaosOptions {
  const { quick, render, help } = parseModeFlags(args);
  const durationS = quick ? QUICK_DURATION_S : wholeNumber(
    "BENCH_CHAOS_DURATION",
    env("BENCH_CHAOS_DURATION"),
    MIN_DURATION_S,
    "whole seconds",
  );
  if (durationS < MIN_DURATION_S && !quick) {
    throw new RangeError(
      `BENCH_CHAOS_DURATION must be at least ${MIN_DURATION_S} (--quick makes short runs)`,
    );
  }
  return {
    runs: quick
      ? 1
      : Math.max(1, Math.round(positiveNumber("BENCH_CHAOS_RUNS", env("BENCH_CHAOS_RUNS"), 3))),
    durationS,
    faultAtS: FAULT_AT_S,
    warmupS: wholeNumber(
      "BENCH_CHAOS_WARMUP",
      env("BENCH_CHAOS_WARMUP"),
      quick ? 1 : 2,
      "whole seconds",
    ),
    proxies: list("BENCH_CHAOS_PROXIES", env("BENCH_CHAOS_PROXIES"), CHAOS_PROXIES),
    faults: list("BENCH_CHAOS_FAULTS", env("BENCH_CHAOS_FAULTS"), FAULT_IDS),
    gatehouseArgs: (env("BENCH_CHAOS_GATEHOUSE_ARGS") ?? "").split(/\s+/).filter((a) => a !== ""),
    quick,
    render,
    help,
  };
}
