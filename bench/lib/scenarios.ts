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

/** The proxies compared, in report order; `nginx` is the reference. */
export const PROXY_IDS = ["nginx", "haproxy", "gatehouse-bin", "gatehouse-deno"] as const;

/** One of {@link PROXY_IDS}. */
export type ProxyId = typeof PROXY_IDS[number];

/** The proxy every ratio is taken against. */
export const REFERENCE_PROXY: ProxyId = "nginx";

/** Bar colours per proxy, fixed so charts from different runs compare. */
export const PROXY_COLORS: Record<ProxyId, string> = {
  "nginx": "#2b8a3e",
  "haproxy": "#1c64b4",
  "gatehouse-bin": "#e8590c",
  "gatehouse-deno": "#9c36b5",
};
