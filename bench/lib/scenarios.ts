/**
 * The load scenarios every proxy is measured under, and the proxies
 * compared. Pure data.
 * @module
 */

/** One load shape for wrk. */
export interface Scenario {
  /** Stable id used in results.json and on the command line. */
  id: string;
  /** Short human title for tables and the chart. */
  title: string;
  /** Request path on the proxy. */
  path: string;
  /** wrk `-c`. */
  connections: number;
  /** Extra request headers. */
  headers: readonly string[];
  /** The figure that ranks proxies in this scenario. */
  primary: "req/s" | "MiB/s";
}

/** The four scenarios, in report order. */
export const SCENARIOS: readonly Scenario[] = [
  {
    id: "keepalive-c50",
    title: "keep-alive GET, 50 conns",
    path: "/",
    connections: 50,
    headers: [],
    primary: "req/s",
  },
  {
    id: "keepalive-c500",
    title: "keep-alive GET, 500 conns",
    path: "/",
    connections: 500,
    headers: [],
    primary: "req/s",
  },
  {
    id: "close-c50",
    title: "Connection: close, 50 conns",
    path: "/",
    connections: 50,
    headers: ["Connection: close"],
    primary: "req/s",
  },
  {
    id: "body-1mib-c10",
    title: "1 MiB body, 10 conns",
    path: "/big",
    connections: 10,
    headers: [],
    primary: "MiB/s",
  },
];

/**
 * The proxies compared, in report order; `nginx` is the reference. The last
 * two write an access log to a file (JSON lines), each in its own buffered
 * way: the access log comparison, run only when asked for.
 */
export const PROXY_IDS = [
  "nginx",
  "haproxy",
  "gatehouse-bin",
  "gatehouse-deno",
  "gatehouse-bin-1k",
  "gatehouse-bin-metrics",
  "nginx-log",
  "gatehouse-bin-log",
] as const;

/** One of {@link PROXY_IDS}. */
export type ProxyId = typeof PROXY_IDS[number];

/** What a run measures unless BENCH_PROXIES says: every proxy but the access log pair. */
export const DEFAULT_PROXY_IDS: readonly ProxyId[] = PROXY_IDS.filter((id) => !id.endsWith("-log"));

/** The proxy every ratio is taken against. */
export const REFERENCE_PROXY: ProxyId = "nginx";

/**
 * The reference of a run over `proxies`: {@link REFERENCE_PROXY}, or
 * `nginx-log` in a run without it (the access log comparison, where the
 * logging nginx is the one to measure against).
 *
 * @example
 * ```ts
 * referenceOf(["nginx", "gatehouse-bin"]); // "nginx"
 * referenceOf(["nginx-log", "gatehouse-bin-log"]); // "nginx-log"
 * ```
 */
export function referenceOf(proxies: readonly ProxyId[]): ProxyId {
  return !proxies.includes(REFERENCE_PROXY) && proxies.includes("nginx-log")
    ? "nginx-log"
    : REFERENCE_PROXY;
}

/** Bar colours per proxy, fixed so charts from different runs compare. */
export const PROXY_COLORS: Record<ProxyId, string> = {
  "nginx": "#2b8a3e",
  "haproxy": "#1c64b4",
  "gatehouse-bin": "#e8590c",
  "gatehouse-deno": "#9c36b5",
  // A lighter shade of gatehouse-bin's orange: the same binary, more routes.
  "gatehouse-bin-1k": "#f59f00",
  // A darker red-orange: the same binary, metrics on.
  "gatehouse-bin-metrics": "#c92a2a",
  // nginx's green and the binary's orange, darker: the same, with an access log file.
  "nginx-log": "#1b5e20",
  "gatehouse-bin-log": "#a63c06",
};

/**
 * The Gatehouse variants: which program runs, how many routes it is given,
 * other flags, and the format of the access log it writes to a file, if it does.
 */
export const GATEHOUSE_VARIANTS = {
  "gatehouse-bin": { program: "binary", routes: 3 },
  "gatehouse-deno": { program: "deno run", routes: 3 },
  "gatehouse-bin-1k": { program: "binary", routes: 1000 },
  // The admin listener turns metrics on: every request observed, connects timed.
  "gatehouse-bin-metrics": { program: "binary", routes: 3, args: ["--admin", "127.0.0.1:0"] },
  "gatehouse-bin-log": { program: "binary", routes: 3, accessLog: "json" },
} as const satisfies Partial<
  Record<ProxyId, { program: string; routes: number; args?: readonly string[]; accessLog?: string }>
>;

/**
 * The flags a variant adds to the bench's own.
 *
 * @example
 * ```ts
 * import { variantArgs } from "./scenarios.ts";
 * variantArgs("gatehouse-bin-metrics"); // ["--admin", "127.0.0.1:0"]
 * ```
 */
export function variantArgs(id: GatehouseId): readonly string[] {
  return (GATEHOUSE_VARIANTS[id] as { args?: readonly string[] }).args ?? [];
}

/** A Gatehouse proxy id. */
export type GatehouseId = keyof typeof GATEHOUSE_VARIANTS;

/** The metrics comparison: the binary with metrics on against without, in the same run. */
export const METRICS_COST = {
  on: "gatehouse-bin-metrics",
  off: "gatehouse-bin",
  scenario: "keepalive-c50",
} as const satisfies { on: GatehouseId; off: GatehouseId; scenario: string };

/** The route-table comparison: the large table against the small one, same binary. */
export const ROUTE_COST = {
  large: "gatehouse-bin-1k",
  small: "gatehouse-bin",
  scenario: "keepalive-c50",
} as const satisfies { large: GatehouseId; small: GatehouseId; scenario: string };

/**
 * The p99 comparison run in extra pairs after the regular rounds: the shipped
 * binary against the reference at keep-alive c50, where the goal asks for a
 * p99 no worse than nginx's and three runs cannot tell.
 */
export const P99_COMPARISON = {
  proxy: "gatehouse-bin",
  scenario: "keepalive-c50",
} as const satisfies { proxy: GatehouseId; scenario: string };

/**
 * The order of the two runs of extra p99 pair `i` (counted from 1): the
 * reference first in odd pairs, the proxy first in even ones, so that a host
 * speeding up or slowing down across a pair favours neither side.
 *
 * @example
 * ```ts
 * p99PairOrder(1, "nginx", "gatehouse-bin"); // ["nginx", "gatehouse-bin"]
 * p99PairOrder(2, "nginx", "gatehouse-bin"); // ["gatehouse-bin", "nginx"]
 * ```
 */
export function p99PairOrder<T>(i: number, reference: T, proxy: T): [T, T] {
  return i % 2 === 1 ? [reference, proxy] : [proxy, reference];
}

/** The scenario whose memory figures the report calls out (the 64 MiB goal). */
export const RSS_SCENARIO = "keepalive-c500";

/** The memory goal for Gatehouse at {@link RSS_SCENARIO}, in MiB. */
export const RSS_GOAL_MIB = 64;

/**
 * The `--route` flags that give Gatehouse a table of `total` routes: the one
 * that serves (`/:bench`) plus `total - 1` others (`/rN/a:svcN`) whose
 * services are never registered, so they only make the table bigger.
 *
 * @example
 * ```ts
 * routeFlags(2); // ["--route", "/r0/a:svc0", "--route", "/:bench"]
 * ```
 * @throws {RangeError} when `total` is not a positive integer.
 */
export function routeFlags(total: number): string[] {
  if (!Number.isInteger(total) || total < 1) {
    throw new RangeError(`route count must be a positive integer, got ${total}`);
  }
  const flags: string[] = [];
  for (let i = 0; i < total - 1; i++) flags.push("--route", `/r${i}/a:svc${i}`);
  flags.push("--route", "/:bench");
  return flags;
}
