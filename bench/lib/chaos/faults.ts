/**
 * The chaos benchmark's faults, the proxies it compares and the shape of a
 * run: one fault at a fixed moment on one of three replicas, under wrk's
 * keep-alive load. Pure data.
 * @module
 */

import type { ProxyId } from "../scenarios.ts";

/** The faults, in report order; `none` is the run every other is compared with. */
export const FAULT_IDS = ["none", "sigkill", "sigstop", "http500", "slow", "unready"] as const;

/** One of {@link FAULT_IDS}. */
export type FaultId = typeof FAULT_IDS[number];

/** A fault: its id, its name in tables and how the harness produces it. */
export interface Fault {
  id: FaultId;
  /** Short name for tables and the chart. */
  title: string;
  /** How the harness makes it happen, for the report. */
  how: string;
}

/** Seconds a replica takes to answer in the `slow` fault. */
export const SLOW_REPLY_S = 2;

/**
 * The window after the fault that the slow replica's goal leaves out: a
 * proxy needs one try that takes too long to learn that a replica is slow.
 */
export const GRACE_S = 1;

/** Seconds the replica is not ready in the `unready` fault. */
export const UNREADY_S = 5;

/**
 * Gatehouse's flags for the `unready` fault: active health checks, with
 * haproxy's settings in this benchmark (every 250 ms, 2 to fall or rise).
 */
export const UNREADY_GATEHOUSE_ARGS: readonly string[] = [
  "--health-path",
  "/health",
  "--health-interval",
  "250ms",
  "--health-timeout",
  "250ms",
  "--health-fall",
  "2",
  "--health-rise",
  "2",
];

/** Every fault, in report order. */
export const FAULTS: readonly Fault[] = [
  {
    id: "none",
    title: "no fault",
    how: "Nothing happens; replica 1's figures show what a healthy replica gets",
  },
  {
    id: "sigkill",
    title: "SIGKILL",
    how: "Replica 1 (one nginx process) gets SIGKILL and stays dead; it stays registered",
  },
  {
    id: "sigstop",
    title: "SIGSTOP",
    how: "Replica 1 gets SIGSTOP: the kernel still accepts connections into its backlog " +
      "and queues their requests, nothing answers; SIGCONT after the run",
  },
  {
    id: "http500",
    title: "answers 500",
    how: "A file appears that replica 1 checks on every request: from then on it answers " +
      "every request (health checks too) with 500",
  },
  {
    id: "slow",
    title: `answers after ${SLOW_REPLY_S} s`,
    how: "Another such file sends every request of replica 1 to a location that answers " +
      `after \`echo_sleep ${SLOW_REPLY_S}\` (nginx's echo module, which does not block)`,
  },
  {
    id: "unready",
    title: `not ready for ${UNREADY_S} s`,
    how: `Replica 1 is not ready for ${UNREADY_S} s (a third file makes it answer 503 to every ` +
      "request, its health path included), then ready again; it stays registered. The share " +
      `column counts only while it is not ready (${GRACE_S} s after the fault to ` +
      `${UNREADY_S} s). Gatehouse runs this row with active health checks at haproxy's ` +
      `settings: \`${UNREADY_GATEHOUSE_ARGS.join(" ")}\``,
  },
];

/** The proxies compared, in report order: the two references, then Gatehouse. */
export const CHAOS_PROXIES = [
  "nginx",
  "haproxy",
  "gatehouse-bin",
] as const satisfies readonly ProxyId[];

/** One of {@link CHAOS_PROXIES}. */
export type ChaosProxyId = typeof CHAOS_PROXIES[number];

/** The proxy the goals are set for. */
export const SUBJECT: ChaosProxyId = "gatehouse-bin";

/** How many replicas serve the service. */
export const REPLICAS = 3;

/** Which replica (0-based) the fault hits: "replica 1" in the report. */
export const SICK_REPLICA = 0;

/** Seconds into each recorded run at which the fault happens. */
export const FAULT_AT_S = 3;

/** wrk's open keep-alive connections. */
export const CONNECTIONS = 50;

/** wrk's `--timeout`: a response later than this counts as a timeout error. */
export const WRK_TIMEOUT_S = 10;

/**
 * Looks a fault up by id.
 *
 * @example
 * ```ts
 * faultById("sigkill").title; // "SIGKILL"
 * ```
 * @throws {RangeError} on an unknown id.
 */
export function faultById(id: string): Fault {
  const fault = FAULTS.find((f) => f.id === id);
  if (!fault) throw new RangeError(`unknown fault ${JSON.stringify(id)}`);
  return fault;
}
