/**
 * Every metric Gatehouse exposes, in one table: name, type, unit, labels,
 * what it means, and how the samples of `--procs` processes combine. The
 * exposition (exposition.ts) writes families in this order.
 *
 * Names follow the Prometheus conventions: a `gatehouse_` prefix (the
 * standard `process_` ones aside), base units as suffixes (`_seconds`,
 * `_bytes`), and counters named without `_total`, which the exposition
 * appends to their samples (OpenMetrics names a counter's family without
 * it; the text format 0.0.4 writes it everywhere).
 *
 * @module
 */

/** How samples of several processes (`--procs`) become one scrape. */
export type Merge =
  /** Added up, series by series: counters, histograms, and gauges whose total means something. */
  | "sum"
  /** Kept apart under a `proc` label (0: the primary, 1..N-1: the workers). */
  | "proc";

/** One metric family. */
export interface FamilySpec {
  /** The family's name (a counter's without `_total`). */
  readonly name: string;
  readonly type: "counter" | "gauge" | "histogram";
  readonly help: string;
  /** The unit its name ends in, for OpenMetrics' `# UNIT`. */
  readonly unit?: "seconds" | "bytes";
  /** Its labels, in the order written (`proc` comes first where merge is "proc"). */
  readonly labels: readonly string[];
  readonly merge: Merge;
  /** A histogram's upper bounds in seconds, ascending (+Inf is implied). */
  readonly buckets?: readonly number[];
}

/** Request durations: 1 ms to 60 s. */
export const DURATION_BUCKETS: readonly number[] = [
  0.001,
  0.0025,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
  30,
  60,
];

/** Connects: 0.1 ms (loopback) to 10 s (beyond the default connect timeout of 3 s). */
export const CONNECT_BUCKETS: readonly number[] = [
  0.0001,
  0.00025,
  0.0005,
  0.001,
  0.0025,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  3,
  10,
];

/** Event-loop lateness of a 100 ms timer: 1 ms to 5 s. */
export const LOOP_DELAY_BUCKETS: readonly number[] = [
  0.001,
  0.0025,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  5,
];

/**
 * Every family, by a short key.
 *
 * @example
 * ```ts
 * import { CATALOG } from "./catalog.ts";
 * CATALOG.requests.name; // "gatehouse_requests"
 * ```
 */
export const CATALOG = {
  requests: {
    name: "gatehouse_requests",
    type: "counter",
    help:
      "Requests answered, by route, service, status class and status code (code: one of 200 301 302 304 400 404 408 413 429 431 500 502 503 504, else other).",
    labels: ["route", "service", "class", "code"],
    merge: "sum",
  },
  requestDuration: {
    name: "gatehouse_request_duration_seconds",
    type: "histogram",
    unit: "seconds",
    help: "From a request's head read to its response sent, by service.",
    labels: ["service"],
    merge: "sum",
    buckets: DURATION_BUCKETS,
  },
  connectDuration: {
    name: "gatehouse_upstream_connect_duration_seconds",
    type: "histogram",
    unit: "seconds",
    help:
      "New connections to replicas: time to connect, by service (pooled connections take none).",
    labels: ["service"],
    merge: "sum",
    buckets: CONNECT_BUCKETS,
  },
  retries: {
    name: "gatehouse_retries",
    type: "counter",
    help: "Tries beyond a request's first (failover, a retried 5xx, hedges), by service.",
    labels: ["service"],
    merge: "sum",
  },
  budgetRefusals: {
    name: "gatehouse_retry_budget_refusals",
    type: "counter",
    help:
      "Retries the retry budget had no room for (the request failed, or its answer was passed on as it was), by service.",
    labels: ["service"],
    merge: "sum",
  },
  clientConnections: {
    name: "gatehouse_client_connections",
    type: "gauge",
    help: "Open client connections.",
    labels: [],
    merge: "sum",
  },
  backendConnections: {
    name: "gatehouse_backend_connections",
    type: "gauge",
    help: "Open connections to replicas that carry requests, idle pooled ones included.",
    labels: [],
    merge: "sum",
  },
  idleConnections: {
    name: "gatehouse_backend_idle_connections",
    type: "gauge",
    help: "Idle keep-alive connections to replicas in the pool.",
    labels: [],
    merge: "sum",
  },
  replicas: {
    name: "gatehouse_replicas",
    type: "gauge",
    help:
      "Replicas listed by the registry, as this process judges them, by service and state (healthy, slow_starting, ejected, unhealthy, unchecked, draining).",
    labels: ["proc", "service", "state"],
    merge: "proc",
  },
  ejections: {
    name: "gatehouse_ejections",
    type: "counter",
    help:
      "Replicas ejected, by service and reason (gateway_failures, server_errors, hedge_losses, stalled, other).",
    labels: ["service", "reason"],
    merge: "sum",
  },
  towerRegistrations: {
    name: "gatehouse_tower_registrations",
    type: "counter",
    help:
      "Changes the embedded Tower accepted, by command (register, deregister, route, unroute); heartbeats count.",
    labels: ["command"],
    merge: "sum",
  },
  towerRefusals: {
    name: "gatehouse_tower_refusals",
    type: "counter",
    help:
      "Changes the embedded Tower refused, by reason (forbidden, unsigned, bad_signature, stale, replay, rate_limited, full, routes_full, routes_disabled, syntax).",
    labels: ["reason"],
    merge: "sum",
  },
  towerEntries: {
    name: "gatehouse_tower_entries",
    type: "gauge",
    help: "Replicas registered with the embedded Tower.",
    labels: [],
    merge: "sum",
  },
  registryReconnects: {
    name: "gatehouse_registry_reconnects",
    type: "counter",
    help: "Registry watch streams that ended and were opened again (etcd).",
    labels: ["registry"],
    merge: "sum",
  },
  registryStaleness: {
    name: "gatehouse_registry_staleness_seconds",
    type: "gauge",
    unit: "seconds",
    help:
      "Seconds since the registry was last heard from (etcd: any watch line or read; remote Tower: any reply; DNS: the last good answer).",
    labels: ["proc", "registry"],
    merge: "proc",
  },
  reloads: {
    name: "gatehouse_config_reloads",
    type: "counter",
    help: "Config file reloads, by result (ok, refused).",
    labels: ["result"],
    merge: "sum",
  },
  generation: {
    name: "gatehouse_config_generation",
    type: "gauge",
    help:
      "The configuration generation routing now (a reload or a change of declared routes makes the next).",
    labels: [],
    merge: "sum",
  },
  lastReloadSuccess: {
    name: "gatehouse_config_last_reload_success_timestamp_seconds",
    type: "gauge",
    unit: "seconds",
    help: "When the configuration was last loaded successfully (at start, or a reload), Unix time.",
    labels: [],
    merge: "sum",
  },
  lastReloadOk: {
    name: "gatehouse_config_last_reload_successful",
    type: "gauge",
    help: "Whether the last reload was applied (1) or refused (0).",
    labels: [],
    merge: "sum",
  },
  folded: {
    name: "gatehouse_metrics_folded",
    type: "counter",
    help:
      'Observations whose route or service label went to "other" because the label\'s cap was reached, by label.',
    labels: ["label"],
    merge: "sum",
  },
  residentMemory: {
    name: "process_resident_memory_bytes",
    type: "gauge",
    unit: "bytes",
    help: "Resident memory size in bytes.",
    labels: ["proc"],
    merge: "proc",
  },
  cpuSeconds: {
    name: "process_cpu_seconds",
    type: "counter",
    unit: "seconds",
    help: "Total user and system CPU time spent in seconds.",
    labels: ["proc"],
    merge: "proc",
  },
  startTime: {
    name: "process_start_time_seconds",
    type: "gauge",
    unit: "seconds",
    help: "Start time of the process since unix epoch in seconds.",
    labels: ["proc"],
    merge: "proc",
  },
  loopDelay: {
    name: "gatehouse_event_loop_delay_seconds",
    type: "histogram",
    unit: "seconds",
    help: "How late a timer set every 100 ms fired: the event loop's delay.",
    labels: ["proc"],
    merge: "proc",
    buckets: LOOP_DELAY_BUCKETS,
  },
} as const satisfies Record<string, FamilySpec>;

/** Every family in exposition order. */
export const FAMILIES: readonly FamilySpec[] = Object.values(CATALOG);
