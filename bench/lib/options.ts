/**
 * Benchmark options from the command line and environment. Pure: the
 * caller passes `args` and an env lookup.
 * @module
 */

import { parseArgs } from "node:util";
import { DEFAULT_PROXY_IDS, PROXY_IDS, type ProxyId, SCENARIOS } from "./scenarios.ts";

/** Everything that shapes one benchmark run. */
export interface BenchOptions {
  /** Seconds of load per run (wrk -d). */
  durationS: number;
  /** Runs per (proxy, scenario) cell; the cell reports their median. */
  runs: number;
  /** Seconds of unrecorded load per proxy before measuring (JIT warm-up). */
  warmupS: number;
  /**
   * Seconds of unrecorded load with the run's own scenario right before each
   * recorded run (0: none), so every proxy is measured in a steady state.
   */
  settleS: number;
  /** Re-runs allowed when a run was disturbed by foreign CPU use. */
  maxRetries: number;
  /** Foreign share of the proxy's core above which a run is repeated. */
  foreignLimit: number;
  /** Proxies to measure, in report order. */
  proxies: ProxyId[];
  /** Scenario ids to run, in report order. */
  scenarios: string[];
  /**
   * Extra (reference, Gatehouse binary) pairs at keep-alive c50 after the
   * regular rounds, for the p99 comparison; 0: none.
   */
  p99Pairs: number;
  /** Set by `--quick`: one short run per cell. */
  quick: boolean;
  /** Set by `--render`: rewrite the reports from bench/out/results.json. */
  render: boolean;
  /** Set by `--help`. */
  help: boolean;
}

/** Usage text for `--help` and option errors. */
export const USAGE = `usage: deno task bench [--quick] [--help]

  --quick              1 run of 3 s per cell (a smoke test, not a result)
  --render             rewrite RESULTS.md and results.svg from bench/out/results.json

environment:
  BENCH_DURATION       seconds per run (default 10; "10s" also accepted)
  BENCH_RUNS           runs per cell, median reported (default 3)
  BENCH_WARMUP         warm-up seconds per proxy (default 2)
  BENCH_SETTLE         unrecorded seconds before each run, same load (default 2; 0: none)
  BENCH_P99_PAIRS      extra nginx/gatehouse-bin pairs at keep-alive c50 for the p99
                       comparison (default 24; 0: none; --quick: 0)
  BENCH_PROXIES        comma list of ${PROXY_IDS.join(", ")}
                       (default: all but the -log pair; nginx-log,gatehouse-bin-log compares
                       a JSON access log to a file, ratios to nginx-log)
  BENCH_SCENARIOS      comma list of ${SCENARIOS.map((s) => s.id).join(", ")}
`;

/** A number as the environment gives it ("10" or "10s"), or undefined when blank. */
function numberIn(raw: string | undefined): number | undefined {
  if (raw === undefined || raw.trim() === "") return undefined;
  return Number(raw.trim().replace(/s$/, ""));
}

/**
 * A positive number from the environment's `raw` value ("10" or "10s"), or
 * `fallback` when it is blank.
 *
 * @example
 * ```ts
 * positiveNumber("BENCH_RUNS", "5", 3); // 5
 * positiveNumber("BENCH_RUNS", undefined, 3); // 3
 * ```
 * @throws {RangeError} naming `name` when it is not a positive number.
 */
export function positiveNumber(name: string, raw: string | undefined, fallback: number): number {
  const n = numberIn(raw);
  if (n === undefined) return fallback;
  if (!Number.isFinite(n) || n <= 0) throw new RangeError(`${name} must be a positive number`);
  return n;
}

/**
 * A whole number, 0 allowed (wrk takes whole seconds); `what` names it in
 * the error ("whole seconds", "a whole number").
 *
 * @example
 * ```ts
 * wholeNumber("BENCH_SETTLE", "0", 2, "whole seconds"); // 0
 * ```
 * @throws {RangeError} naming `name` when it is not a whole number.
 */
export function wholeNumber(
  name: string,
  raw: string | undefined,
  fallback: number,
  what: string,
): number {
  const n = numberIn(raw);
  if (n === undefined) return fallback;
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`${name} must be ${what} (0 or more)`);
  return n;
}

/**
 * The items of a comma list from the environment, each one of `allowed`,
 * in `allowed`'s order; all of them when it is blank.
 *
 * @example
 * ```ts
 * list("BENCH_PROXIES", "haproxy,nginx", ["nginx", "haproxy", "envoy"]); // ["nginx", "haproxy"]
 * ```
 * @throws {RangeError} naming `name` and the unknown item.
 */
export function list<T extends string>(
  name: string,
  raw: string | undefined,
  allowed: readonly T[],
): T[] {
  if (raw === undefined || raw.trim() === "") return [...allowed];
  const wanted = raw.split(",").map((s) => s.trim()).filter((s) => s !== "");
  for (const w of wanted) {
    if (!allowed.includes(w as T)) {
      throw new RangeError(`${name}: unknown ${JSON.stringify(w)} (known: ${allowed.join(", ")})`);
    }
  }
  // Keep report order whatever order the user typed.
  return allowed.filter((a) => wanted.includes(a));
}

/** The command-line flags of the benchmarks: what kind of run. */
export interface ModeFlags {
  /** `--quick`: short runs, a smoke test. */
  quick: boolean;
  /** `--render`: the reports again from the last run's JSON. */
  render: boolean;
  /** `--help` or `-h`. */
  help: boolean;
}

/**
 * Reads `--quick`, `--render` and `--help` (`-h`); anything else throws.
 *
 * @example
 * ```ts
 * parseModeFlags(["--quick"]); // { quick: true, render: false, help: false }
 * ```
 */
export function parseModeFlags(args: readonly string[]): ModeFlags {
  const { values } = parseArgs({
    args: [...args],
    options: {
      quick: { type: "boolean", default: false },
      render: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  return {
    quick: values.quick === true,
    render: values.render === true,
    help: values.help === true,
  };
}

/**
 * Builds the options.
 *
 * @example
 * ```ts
 * const opts = parseBenchOptions(["--quick"], (k) => process.env[k]);
 * opts.runs; // 1
 * ```
 * @throws {RangeError} on a bad value, with a message fit for the user.
 */
export function parseBenchOptions(
  args: readonly string[],
  env: (name: string) => string | undefined,
): BenchOptions {
  const { quick, render, help } = parseModeFlags(args);
  const runs = quick
    ? 1
    : Math.max(1, Math.round(positiveNumber("BENCH_RUNS", env("BENCH_RUNS"), 3)));
  return {
    // wrk takes whole seconds.
    durationS: quick
      ? 3
      : Math.max(1, Math.round(positiveNumber("BENCH_DURATION", env("BENCH_DURATION"), 10))),
    runs,
    warmupS: positiveNumber("BENCH_WARMUP", env("BENCH_WARMUP"), quick ? 1 : 2),
    settleS: quick ? 0 : wholeNumber("BENCH_SETTLE", env("BENCH_SETTLE"), 2, "whole seconds"),
    p99Pairs: quick
      ? 0
      : wholeNumber("BENCH_P99_PAIRS", env("BENCH_P99_PAIRS"), 24, "a whole number"),
    maxRetries: 2,
    foreignLimit: 0.10,
    proxies: (env("BENCH_PROXIES") ?? "").trim() === ""
      ? [...DEFAULT_PROXY_IDS]
      : list("BENCH_PROXIES", env("BENCH_PROXIES"), PROXY_IDS),
    scenarios: list("BENCH_SCENARIOS", env("BENCH_SCENARIOS"), SCENARIOS.map((s) => s.id)),
    quick,
    render,
    help,
  };
}
