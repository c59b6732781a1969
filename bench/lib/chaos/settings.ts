/**
 * How each proxy is set up for the chaos benchmark's faults: the settings,
 * the configurations built from them, the lines the report prints and why
 * each value was chosen. Pure.
 * @module
 */

import { haproxyConfig, type HaproxyTimeouts } from "../haproxy.ts";
import { type NginxFiles, nginxProxyConfig } from "../nginx.ts";
import { routeFlags } from "../scenarios.ts";
import type { ChaosProxyId } from "./faults.ts";

/**
 * nginx: every replica out for 10 s after one failed try (nginx's own
 * defaults, written out), each fault's symptom retried on the next replica,
 * and timeouts far above a healthy answer (a millisecond) and far below the
 * slow replica's 2 s.
 */
export const NGINX_SETTINGS = {
  serverParameters: "max_fails=1 fail_timeout=10s",
  proxyDirectives: [
    "proxy_next_upstream error timeout http_500 http_502 http_503 http_504;",
    "proxy_next_upstream_tries 3;",
    "proxy_next_upstream_timeout 2s;",
    "proxy_connect_timeout 250ms;",
    "proxy_read_timeout 500ms;",
  ],
} as const;

/**
 * haproxy: active HTTP checks four times a second, live traffic observed
 * (the first 5xx or timeout marks a server down), failed tries retried on
 * another server, and the same connect and response timeouts as nginx.
 */
export const HAPROXY_SETTINGS = {
  timeouts: { connect: "250ms", server: "500ms", check: "250ms" } satisfies HaproxyTimeouts,
  backendDirectives: [
    "balance roundrobin",
    "option httpchk GET /health",
    "retries 3",
    "option redispatch 1",
    "retry-on all-retryable-errors",
  ],
  serverParameters:
    "check inter 250ms fall 2 rise 2 observe layer7 error-limit 1 on-error mark-down",
} as const;

/**
 * Gatehouse runs with its defaults: the goals are the defaults' to meet.
 * BENCH_CHAOS_GATEHOUSE_ARGS adds flags (to try other settings).
 */
export const GATEHOUSE_FLAGS: readonly string[] = [];

/** The service the replicas are registered as (Gatehouse's one route is `/:bench`). */
export const CHAOS_SERVICE = "bench";

/** Why each proxy's settings are what they are, for the report. */
export const SETTINGS_WHY: Record<ChaosProxyId, string> = {
  "nginx": "`max_fails=1 fail_timeout=10s` (nginx's defaults, written out) takes a replica " +
    "out for 10 s after one failed try, longer than what is left of the run; " +
    "`proxy_next_upstream` retries each fault's symptom (refused connect: `error`, " +
    "frozen or slow: `timeout`, 500: `http_500`) on the next replica, up to all three " +
    "within 2 s; a connect on loopback takes microseconds and a healthy answer about a " +
    "millisecond, so 250 ms and 500 ms never cut a healthy try, and a frozen or slow " +
    "replica costs one try half a second.",
  "haproxy": "HTTP checks of `/health` every 250 ms (2 failures down, 2 successes up; " +
    "`timeout check 250ms`, a hundred times a healthy answer) take a dead, frozen, slow or " +
    "failing replica out within about half a second and keep it out; " +
    "`retry-on all-retryable-errors` with `option redispatch 1` retries refused connects, " +
    "timeouts and 500/502/503/504 on another server, up to 3 times, so no client sees " +
    "them; `observe layer7 error-limit 1 on-error mark-down` would take a replica out at " +
    "the first 5xx or timeout of live traffic, but haproxy retries such a response before " +
    "it observes it, so the checks are what take it out (the runs show it); connect and " +
    "response timeouts as nginx's.",
  "gatehouse-bin": "the compiled binary with its embedded Tower, the three replicas " +
    "REGISTERed over UDP (and kept registered, the dead one too: a registry entry " +
    "outlives its process for up to 30 s); every setting at its default: `--retries 3` " +
    "tries each replica once, least-outstanding picking, ejection after 5 gateway failures " +
    "or 5 5xx, a 1 s stall window, a 20% retry budget, hedging on, " +
    "`--upstream-timeout 60s`, no `--try-timeout`.",
};

/**
 * The nginx proxy's configuration in front of the replicas.
 *
 * @example
 * ```ts
 * import { chaosNginxConfig } from "./settings.ts";
 * const files = { prefix: "/tmp/p", pidFile: "/tmp/p/nginx.pid", errorLog: "/tmp/p/error.log" };
 * chaosNginxConfig(files, 18090, [18080, 18081, 18082]).includes("max_fails=1"); // true
 * ```
 */
export function chaosNginxConfig(
  files: NginxFiles,
  port: number,
  replicaPorts: readonly number[],
): string {
  return nginxProxyConfig({ ...files, port, upstreamPort: replicaPorts, ...NGINX_SETTINGS });
}

/**
 * The haproxy configuration in front of the replicas.
 *
 * @example
 * ```ts
 * import { chaosHaproxyConfig } from "./settings.ts";
 * chaosHaproxyConfig(18091, [18080, 18081, 18082]).includes("retry-on all-retryable-errors"); // true
 * ```
 */
export function chaosHaproxyConfig(port: number, replicaPorts: readonly number[]): string {
  return haproxyConfig({ port, upstreamPort: replicaPorts, ...HAPROXY_SETTINGS });
}

/** Gatehouse's one route, `/:bench`. */
export const GATEHOUSE_ROUTES: readonly string[] = routeFlags(1);

/**
 * Gatehouse's flags for the chaos runs besides its route: the fault
 * settings, then `extra` (which win over them: a later flag replaces an
 * earlier one).
 *
 * @example
 * ```ts
 * gatehouseChaosFlags(["--retries", "2"]).slice(-2); // ["--retries", "2"]
 * ```
 */
export function gatehouseChaosFlags(extra: readonly string[]): string[] {
  return [...GATEHOUSE_FLAGS, ...extra];
}

/**
 * The settings a proxy runs with, as the lines of its configuration (or
 * command line) that concern the faults, for the console and the report.
 *
 * @example
 * ```ts
 * settingsLines("gatehouse-bin", []);
 * // ["gatehouse --route /:bench",
 * //  "REGISTER|bench|127.0.0.1|<port> for each replica, again every 10 s"]
 * ```
 */
export function settingsLines(proxy: ChaosProxyId, gatehouseExtra: readonly string[]): string[] {
  switch (proxy) {
    case "nginx":
      return [
        "upstream backend {",
        `  server 127.0.0.1:<port> ${NGINX_SETTINGS.serverParameters};  # each replica`,
        "  keepalive 64;",
        "}",
        ...NGINX_SETTINGS.proxyDirectives,
      ];
    case "haproxy":
      return [
        ...Object.entries(HAPROXY_SETTINGS.timeouts).map(([k, v]) => `timeout ${k} ${v}`),
        ...HAPROXY_SETTINGS.backendDirectives,
        `server backendN 127.0.0.1:<port> ${HAPROXY_SETTINGS.serverParameters}`,
      ];
    case "gatehouse-bin":
      return [
        `gatehouse ${[...GATEHOUSE_ROUTES, ...gatehouseChaosFlags(gatehouseExtra)].join(" ")}`,
        `REGISTER|${CHAOS_SERVICE}|127.0.0.1|<port> for each replica, again every 10 s`,
      ];
  }
}
