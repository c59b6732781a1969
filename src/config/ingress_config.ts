/**
 * Settings (flags over a config file's keys), the file's listeners,
 * services and routes, and the `--route` flags to one validated
 * {@link IngressConfig}. Every mistake is a UsageError (a ConfigError when
 * it is in the file) with one line saying where and what; nothing here
 * touches the network or the disk.
 *
 * @module
 */

import type { AdminConfig, IngressConfig, ListenerConfig, RegistryChoice } from "../app/config.ts";
import { parseRoute, type Route, RouteTable } from "../routing/router.ts";
import { UsageError } from "../cli/flags.ts";
import { parseRegistryUrl, parseTowerAddress } from "../cli/registry_url.ts";
import { parseTowerListen, towerSecurityOf } from "../cli/tower_flags.ts";
import { DEFAULT_POLICY } from "../replicas/policy.ts";
import { LEAST_OUTSTANDING } from "../replicas/balance.ts";
import { HEALTH_DEFAULTS, type HealthPolicy } from "../replicas/health.ts";
import type { ReplicaPolicy } from "../replicas/state.ts";
import type { ServiceSettings } from "../replicas/settings.ts";
import {
  parseAddressValue,
  parseBalance,
  parseCidrList,
  parseCount,
  parseDuration,
  parseHealthPath,
  parseHostHeader,
  parseMethod,
  parseOnOff,
  parseReceiveBuffer,
  parseRetryBudget,
  parseStatusList,
  parseVia,
  readFlag,
  secretOf,
  ValueError,
} from "../cli/values.ts";
import { ACCESS_LOG_FORMATS, type AccessLogFormat } from "../proxy/access_log.ts";
import { ConfigError } from "./errors.ts";
import type { ConfigFile } from "./file.ts";
import { layered, readSetting, type Settings } from "./settings.ts";
import { routeFromEntry } from "./route_entry.ts";

/** The `--health-*` settings, each `health-<name>`. */
export const HEALTH_KEYS = [
  "path",
  "method",
  "interval",
  "timeout",
  "rise",
  "fall",
  "status",
  "host",
];

/** Settings a service may have of its own (a `services:` entry's keys). */
export const SERVICE_KEYS: readonly string[] = [
  "lb",
  "retries",
  "outlier-gateway-failures",
  "outlier-5xx",
  "ejection-time",
  "max-ejection-time",
  "max-ejected",
  "stall-window",
  "retry-budget",
  "hedge",
  "slow-start",
  ...HEALTH_KEYS.map((k) => `health-${k}`),
];

/** How replicas are judged, from the outlier, stall and retry-budget settings. */
function replicaPolicyOf(s: Settings): ReplicaPolicy {
  const dflt = DEFAULT_POLICY;
  const n = (name: string, def: number, max: number) =>
    readSetting(s, name, (t) => parseCount(t, 0, max), def);
  const d = (name: string, def: number) => readSetting(s, name, parseDuration, def);
  const { percent, min } = readSetting(s, "retry-budget", parseRetryBudget, {
    percent: dflt.retryBudgetPercent,
    min: dflt.retryBudgetMin,
  });
  const policy: ReplicaPolicy = {
    gatewayFailures: n("outlier-gateway-failures", dflt.gatewayFailures, 1000),
    serverErrors: n("outlier-5xx", dflt.serverErrors, 1000),
    baseEjectionMs: d("ejection-time", dflt.baseEjectionMs),
    maxEjectionMs: d("max-ejection-time", dflt.maxEjectionMs),
    maxEjectedPercent: n("max-ejected", dflt.maxEjectedPercent, 100),
    stallWindowMs: d("stall-window", dflt.stallWindowMs),
    slowStartMs: d("slow-start", dflt.slowStartMs),
    retryBudgetPercent: percent,
    retryBudgetMin: min,
    hedge: readSetting(s, "hedge", parseOnOff, dflt.hedge),
  };
  if (policy.maxEjectionMs < policy.baseEjectionMs) {
    const label = s.label("max-ejection-time");
    throw new UsageError(
      `${label} must be at least ${label.startsWith("--") ? "--" : ""}ejection-time`,
    );
  }
  return policy;
}

/** Active health checks from the `health-*` settings: on with `health-path`, else null. */
function healthOf(s: Settings): HealthPolicy | null {
  const path = s.get("health-path");
  if (path === undefined || path === "off") {
    const stray = HEALTH_KEYS.find((name) =>
      name !== "path" && s.get(`health-${name}`) !== undefined
    );
    if (stray !== undefined && path === undefined) {
      const label = s.label(`health-${stray}`);
      throw new UsageError(`${label} needs ${label.startsWith("--") ? "--" : ""}health-path`);
    }
    return null;
  }
  const dflt = HEALTH_DEFAULTS;
  const d = (name: string, def: number) => readSetting(s, name, parseDuration, def);
  const n = (name: string, def: number) => readSetting(s, name, (t) => parseCount(t, 1, 100), def);
  const health: HealthPolicy = {
    path: readFlag(s.label("health-path"), path, parseHealthPath),
    method: readSetting(s, "health-method", parseMethod, dflt.method),
    intervalMs: d("health-interval", dflt.intervalMs),
    timeoutMs: d("health-timeout", dflt.timeoutMs),
    rise: n("health-rise", dflt.rise),
    fall: n("health-fall", dflt.fall),
    statuses: readSetting(s, "health-status", parseStatusList, dflt.statuses),
    host: readSetting(s, "health-host", parseHostHeader, dflt.host),
  };
  if (health.intervalMs <= 0 || health.timeoutMs <= 0) {
    const dashes = s.label("health-interval").startsWith("--") ? "--" : "";
    throw new UsageError(
      `${dashes}health-interval and ${dashes}health-timeout must be more than 0`,
    );
  }
  return health;
}

/** A service's settings: its own over the ingress's. */
function serviceSettingsOf(s: Settings): ServiceSettings {
  return {
    balance: readSetting(s, "lb", parseBalance, LEAST_OUTSTANDING),
    retries: readSetting(s, "retries", (t) => parseCount(t, 1, 100), 3),
    replicaPolicy: replicaPolicyOf(s),
    health: healthOf(s),
  };
}

/** The ingress's listener: `[HOST:]PORT`, host 0.0.0.0 by default, port 0 picks a free one. */
function parseListen(text: string) {
  return parseAddressValue(text, { defaultHost: "0.0.0.0", zeroPort: true });
}

/** Where clients connect: `--listen`/`--tls-*` (flags or top-level keys) or `listeners:`. */
function listenersOf(flags: Settings, file: ConfigFile | null): ListenerConfig[] {
  const s = file === null ? flags : layered(flags, file.settings);
  const certPath = s.get("tls-cert"), keyPath = s.get("tls-key");
  if ((certPath === undefined) !== (keyPath === undefined)) {
    throw new UsageError("--tls-cert and --tls-key go together");
  }
  const flagsGiven = ["listen", "tls-cert"].some((k) => flags.get(k) !== undefined);
  if (file?.listeners && !flagsGiven) {
    const single = ["listen", "tls-cert"].find((k) => file.settings.get(k) !== undefined);
    if (single !== undefined) {
      throw new ConfigError(`${file.settings.label(single)}: use listeners: or listen:, not both`);
    }
    const seen = new Set<string>();
    return file.listeners.map((l) => {
      let listen;
      try {
        listen = parseListen(l.listen);
      } catch (e) {
        return l.problem("listen", (e as Error).message.replace(/^"[^"]*": /, ""));
      }
      const key = `${listen.host}:${listen.port}`;
      if (listen.port !== 0 && seen.has(key)) l.problem("listen", `${key} is listed twice`);
      seen.add(key);
      return { listen, tls: l.tls };
    });
  }
  return [{
    listen: readSetting(s, "listen", parseListen, { host: "0.0.0.0", port: 9090 }),
    tls: certPath !== undefined ? { certPath, keyPath: keyPath! } : null,
  }];
}

function registryOf(s: Settings): RegistryChoice {
  const given = ["tower", "tower-listen", "registry"].filter((f) => s.get(f) !== undefined);
  if (given.length > 1) {
    throw new UsageError(`--${given.join(" and --")} exclude each other: pick one registry`);
  }
  const wrap = <T>(name: string, parse: () => T): T => {
    try {
      return parse();
    } catch (e) {
      throw new UsageError(`${s.label(name)}: ${(e as Error).message}`);
    }
  };
  const url = s.get("registry");
  if (url !== undefined) return wrap("registry", () => parseRegistryUrl(url));
  const tower = s.get("tower");
  if (tower !== undefined) {
    return wrap("tower", () => ({ kind: "tower", address: parseTowerAddress(tower) }));
  }
  const listen = s.get("tower-listen") ?? "127.0.0.1";
  return { kind: "embedded", listen: readFlag(s.label("tower-listen"), listen, parseTowerListen) };
}

/** Environment variable for the admin token (`--admin-token` wins). */
export const ADMIN_TOKEN_ENV = "GATEHOUSE_ADMIN_TOKEN";

/** True for an address only this machine reaches. */
function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** The admin listener: `--admin [HOST:]PORT` (loopback by default), its token, or null. */
function adminOf(s: Settings, env: (name: string) => string | undefined): AdminConfig | null {
  const text = s.get("admin");
  if (text === undefined || text === "off") {
    if (s.get("admin-token") !== undefined) {
      throw new UsageError(`${s.label("admin-token")} needs an admin listener (admin)`);
    }
    return null;
  }
  const listen = readFlag(
    s.label("admin"),
    text,
    (t) => parseAddressValue(t, { defaultHost: "127.0.0.1", zeroPort: true }),
  );
  const token = secretOf(s.get("admin-token"), env(ADMIN_TOKEN_ENV));
  if (token === null && !isLoopback(listen.host)) {
    throw new UsageError(
      `${s.label("admin")}: ${listen.host} is reachable beyond this machine; ` +
        `set an admin token (admin-token or ${ADMIN_TOKEN_ENV}) or bind to 127.0.0.1`,
    );
  }
  return { listen, token };
}

/** An access log format's name. */
function parseAccessLogFormat(text: string): AccessLogFormat {
  const format = ACCESS_LOG_FORMATS.find((f) => f === text);
  if (format === undefined) {
    throw new ValueError("must be classic, json, common or combined");
  }
  return format;
}

function parseLogPath(text: string): string {
  if (text === "") throw new ValueError("must name a file", true);
  return text;
}

/** The access log: on with `access-log`, or with a format or a file, which imply it. */
function accessLogOf(
  s: Settings,
): Pick<IngressConfig, "accessLog" | "accessLogFormat" | "accessLogFile"> {
  const format = readSetting(s, "access-log-format", parseAccessLogFormat, "classic");
  const file = readSetting<string | null>(s, "access-log-file", parseLogPath, null);
  const implied = s.get("access-log-format") !== undefined || file !== null;
  return {
    accessLog: implied || s.get("access-log") === "true",
    accessLogFormat: format,
    accessLogFile: file,
  };
}

/** The static routes: `--route` flags first, then the file's. */
function routesOf(
  specs: readonly string[],
  file: ConfigFile | null,
  tlsPort: number | null,
  demo: boolean,
): Route[] {
  const routes = specs.map((spec) => {
    try {
      return parseRoute(spec);
    } catch (e) {
      throw new UsageError(`--route: ${(e as Error).message}`);
    }
  });
  for (const r of file?.routes ?? []) {
    routes.push(routeFromEntry(r.entry, r.origin, r.problem, tlsPort));
  }
  if (demo && routes.length === 0) routes.push(parseRoute("/:frontend"));
  try {
    new RouteTable(routes);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  return routes;
}

/**
 * The ingress's configuration from its flags (`flags`, `routeFlags`) and
 * config file (`file`, or null), with the demo's default route when
 * `demo`.
 *
 * @example
 * ```ts
 * import { buildIngressConfig } from "./ingress_config.ts";
 * import { flagSettings } from "./settings.ts";
 * buildIngressConfig(flagSettings({ listen: "8080" }), ["/:web"], null, false, () => undefined)
 *   .listeners[0].listen; // { host: "0.0.0.0", port: 8080 }
 * ```
 */
export function buildIngressConfig(
  flags: Settings,
  routeFlags: readonly string[],
  file: ConfigFile | null,
  demo: boolean,
  env: (name: string) => string | undefined,
): IngressConfig {
  const s = file === null ? flags : layered(flags, file.settings);
  const listeners = listenersOf(flags, file);
  const tls = listeners.find((l) => l.tls !== null);
  const routes = routesOf(routeFlags, file, tls === undefined ? null : tls.listen.port, demo);
  const registry = registryOf(s);
  if (registry.kind !== "embedded") {
    const local = [
      "tower-allow",
      "tower-rate",
      "tower-max-entries",
      "tower-routes",
      "tower-max-routes",
    ].find((f) => s.get(f) !== undefined);
    if (local !== undefined) {
      throw new UsageError(`${s.label(local)} applies to the embedded Tower only`);
    }
  }
  // Services may declare every route in etcd, a remote Tower or the embedded one with --tower-routes.
  const declares = registry.kind === "etcd" || registry.kind === "tower" ||
    (registry.kind === "embedded" && s.get("tower-routes") === "true");
  if (routes.length === 0 && file === null && !declares) {
    throw new UsageError("no routes: add at least one --route [HOST]/PREFIX:SERVICE");
  }
  const serviceDefaults = serviceSettingsOf(s);
  const services = new Map<string, ServiceSettings>();
  for (const [name, own] of file?.services ?? []) {
    services.set(name, serviceSettingsOf(layered(own, s)));
  }
  const d = (name: string, def: string) =>
    readFlag(s.label(name), s.get(name) ?? def, parseDuration);
  const n = (name: string, def: string, min: number, max: number) =>
    readFlag(s.label(name), s.get(name) ?? def, (t) => parseCount(t, min, max));
  return {
    listeners,
    routes,
    configFile: file?.path ?? null,
    registry,
    connectionCap: n("workers", "10000", 1, 1_000_000),
    serviceDefaults,
    services,
    maxHeaderSize: n("max-header-size", "32768", 1024, 1024 * 1024),
    headerTimeoutMs: d("header-timeout", "10s"),
    keepaliveTimeoutMs: d("keepalive-timeout", "60s"),
    connectTimeoutMs: d("connect-timeout", "3s"),
    upstreamTimeoutMs: d("upstream-timeout", "60s"),
    bodyTimeoutMs: d("body-timeout", "60s"),
    upstreamReadTimeoutMs: d("upstream-read-timeout", "60s"),
    sendTimeoutMs: d("send-timeout", "60s"),
    upstreamSendTimeoutMs: d("upstream-send-timeout", "60s"),
    tryTimeoutMs: d("try-timeout", "0"),
    upstreamReceiveBuffer: readFlag(
      s.label("upstream-rcvbuf"),
      s.get("upstream-rcvbuf") ?? "131072",
      parseReceiveBuffer,
    ),
    upstreamReceiveBufferGiven: s.get("upstream-rcvbuf") !== undefined,
    tunnelIdleTimeoutMs: d("idle-timeout", "30s"),
    graceMs: d("grace", "10s"),
    shutdownDelayMs: d("shutdown-delay", "0"),
    admin: adminOf(s, env),
    poolSize: n("pool-size", "1024", 0, 100_000),
    poolIdleTimeoutMs: d("pool-idle-timeout", "4s"),
    trustedProxies: readFlag(
      s.label("trusted-proxies"),
      s.get("trusted-proxies") ?? "",
      parseCidrList,
    ),
    via: readFlag(s.label("via"), s.get("via") ?? "gatehouse", parseVia),
    towerSecurity: towerSecurityOf("tower-", s, env),
    lookupCacheMs: d("lookup-cache", "0"),
    ...accessLogOf(s),
    debugErrors: s.get("debug-errors") === "true",
    procs: n("procs", "1", 1, 64),
  };
}
