/**
 * The ingress's flags (also `gatehouse demo`'s) to a validated
 * {@link IngressConfig}. Every mistake is a {@link UsageError} with one
 * clear line; nothing here touches the network.
 *
 * @module
 */

import type { IngressConfig, RegistryChoice } from "../app/config.ts";
import { parseRoute, type Route, RouteTable } from "../routing/router.ts";
import { DEFAULT_TOWER_PORT } from "../tower.ts";
import { type FlagSpec, parseFlags, UsageError } from "./flags.ts";
import { parseRegistryUrl, parseTowerAddress } from "./registry_url.ts";
import { parseTowerListen, TOWER_SECURITY_FLAGS, towerSecurityOf } from "./tower_flags.ts";
import { DEFAULT_POLICY } from "../replicas/policy.ts";
import { LEAST_OUTSTANDING } from "../replicas/balance.ts";
import { HEALTH_DEFAULTS, type HealthPolicy } from "../replicas/health.ts";
import type { ReplicaPolicy } from "../replicas/state.ts";
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
} from "./values.ts";

/** The `--health-*` flags, each `--health-<name>`. */
const HEALTH_FLAGS = ["path", "method", "interval", "timeout", "rise", "fall", "status", "host"];

/** The ingress's flags. */
export const INGRESS_FLAGS: Record<string, FlagSpec> = {
  listen: { type: "string" },
  route: { type: "string", multiple: true },
  tower: { type: "string" },
  "tower-listen": { type: "string" },
  registry: { type: "string" },
  "lookup-cache": { type: "string" },
  workers: { type: "string" },
  retries: { type: "string" },
  lb: { type: "string" },
  "tls-cert": { type: "string" },
  "tls-key": { type: "string" },
  "max-header-size": { type: "string" },
  "header-timeout": { type: "string" },
  "keepalive-timeout": { type: "string" },
  "connect-timeout": { type: "string" },
  "upstream-timeout": { type: "string" },
  "body-timeout": { type: "string" },
  "upstream-read-timeout": { type: "string" },
  "send-timeout": { type: "string" },
  "upstream-send-timeout": { type: "string" },
  "outlier-gateway-failures": { type: "string" },
  "outlier-5xx": { type: "string" },
  "ejection-time": { type: "string" },
  "max-ejection-time": { type: "string" },
  "max-ejected": { type: "string" },
  "stall-window": { type: "string" },
  "try-timeout": { type: "string" },
  "retry-budget": { type: "string" },
  hedge: { type: "string" },
  "slow-start": { type: "string" },
  ...Object.fromEntries(HEALTH_FLAGS.map((name) => [`health-${name}`, { type: "string" }])),
  "upstream-rcvbuf": { type: "string" },
  "idle-timeout": { type: "string" },
  grace: { type: "string" },
  "pool-size": { type: "string" },
  "pool-idle-timeout": { type: "string" },
  "trusted-proxies": { type: "string" },
  via: { type: "string" },
  ...Object.fromEntries(
    Object.entries(TOWER_SECURITY_FLAGS).map(([name, spec]) => [`tower-${name}`, spec]),
  ),
  "access-log": { type: "boolean" },
  "debug-errors": { type: "boolean" },
  procs: { type: "string" },
  help: { type: "boolean", short: "h" },
  version: { type: "boolean" },
};

/** How replicas are judged, from the outlier, stall and retry-budget flags. */
function replicaPolicyOf(s: (name: string) => string | undefined): ReplicaPolicy {
  const dflt = DEFAULT_POLICY;
  const n = (flag: string, def: number, max: number) =>
    readFlag(`--${flag}`, s(flag) ?? String(def), (t) => parseCount(t, 0, max));
  const d = (flag: string, def: number) =>
    s(flag) === undefined ? def : readFlag(`--${flag}`, s(flag)!, parseDuration);
  const budget = s("retry-budget");
  const { percent, min } = budget === undefined
    ? { percent: dflt.retryBudgetPercent, min: dflt.retryBudgetMin }
    : readFlag("--retry-budget", budget, parseRetryBudget);
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
    hedge: s("hedge") === undefined ? dflt.hedge : readFlag("--hedge", s("hedge")!, parseOnOff),
  };
  if (policy.maxEjectionMs < policy.baseEjectionMs) {
    throw new UsageError("--max-ejection-time must be at least --ejection-time");
  }
  return policy;
}

/** Active health checks from the `--health-*` flags: on with `--health-path`, else null. */
function healthOf(s: (name: string) => string | undefined): HealthPolicy | null {
  const path = s("health-path");
  if (path === undefined) {
    const stray = HEALTH_FLAGS.find((name) => s(`health-${name}`) !== undefined);
    if (stray !== undefined) throw new UsageError(`--health-${stray} needs --health-path`);
    return null;
  }
  const dflt = HEALTH_DEFAULTS;
  const d = (name: string, def: number) =>
    s(name) === undefined ? def : readFlag(`--${name}`, s(name)!, parseDuration);
  const n = (name: string, def: number) =>
    s(name) === undefined ? def : readFlag(`--${name}`, s(name)!, (t) => parseCount(t, 1, 100));
  const health: HealthPolicy = {
    path: readFlag("--health-path", path, parseHealthPath),
    method: s("health-method") === undefined
      ? dflt.method
      : readFlag("--health-method", s("health-method")!, parseMethod),
    intervalMs: d("health-interval", dflt.intervalMs),
    timeoutMs: d("health-timeout", dflt.timeoutMs),
    rise: n("health-rise", dflt.rise),
    fall: n("health-fall", dflt.fall),
    statuses: s("health-status") === undefined
      ? dflt.statuses
      : readFlag("--health-status", s("health-status")!, parseStatusList),
    host: s("health-host") === undefined
      ? dflt.host
      : readFlag("--health-host", s("health-host")!, parseHostHeader),
  };
  if (health.intervalMs <= 0 || health.timeoutMs <= 0) {
    throw new UsageError("--health-interval and --health-timeout must be more than 0");
  }
  return health;
}

/** The ingress's listener: `[HOST:]PORT`, host 0.0.0.0 by default, port 0 picks a free one. */
function parseListen(text: string) {
  return parseAddressValue(text, { defaultHost: "0.0.0.0", zeroPort: true });
}

function routesOf(specs: readonly string[], demo: boolean): Route[] {
  const routes = specs.map((spec) => {
    try {
      return parseRoute(spec);
    } catch (e) {
      throw new UsageError(`--route: ${(e as Error).message}`);
    }
  });
  if (demo && routes.length === 0) routes.push(parseRoute("/:frontend"));
  try {
    new RouteTable(routes);
  } catch (e) {
    throw new UsageError(`--route: ${(e as Error).message}`);
  }
  if (routes.length === 0) {
    throw new UsageError("no routes: add at least one --route [HOST]/PREFIX:SERVICE");
  }
  return routes;
}

function registryOf(s: (name: string) => string | undefined): RegistryChoice {
  const given = ["tower", "tower-listen", "registry"].filter((f) => s(f) !== undefined);
  if (given.length > 1) {
    throw new UsageError(`--${given.join(" and --")} exclude each other: pick one registry`);
  }
  const url = s("registry");
  if (url !== undefined) {
    try {
      return parseRegistryUrl(url);
    } catch (e) {
      throw new UsageError(`--registry: ${(e as Error).message}`);
    }
  }
  const tower = s("tower");
  if (tower !== undefined) {
    try {
      return { kind: "tower", address: parseTowerAddress(tower) };
    } catch (e) {
      throw new UsageError(`--tower: ${(e as Error).message}`);
    }
  }
  const listen = s("tower-listen") ?? "127.0.0.1";
  return { kind: "embedded", listen: readFlag("--tower-listen", listen, parseTowerListen) };
}

/**
 * Read the ingress's flags (`demo`: with the demo's default route).
 * Returns null for `--help`.
 *
 * @example
 * ```ts
 * import { ingressConfig } from "./ingress_flags.ts";
 * ingressConfig(["--listen", "9090", "--route", "/:web"], false, () => undefined)?.listen;
 * // { host: "0.0.0.0", port: 9090 }
 * ```
 */
export function ingressConfig(
  args: readonly string[],
  demo: boolean,
  env: (name: string) => string | undefined,
): IngressConfig | null {
  const v = parseFlags(args, INGRESS_FLAGS);
  if (v.help) return null;
  const s = (name: string) => v[name] as string | undefined;
  const routes = routesOf((v.route as string[] | undefined) ?? [], demo);
  const registry = registryOf(s);
  const certPath = s("tls-cert"), keyPath = s("tls-key");
  if ((certPath === undefined) !== (keyPath === undefined)) {
    throw new UsageError("--tls-cert and --tls-key go together");
  }
  if (registry.kind !== "embedded") {
    const local = [
      "tower-allow",
      "tower-rate",
      "tower-max-entries",
      "tower-routes",
      "tower-max-routes",
    ].find((f) => v[f] !== undefined);
    if (local !== undefined) throw new UsageError(`--${local} applies to the embedded Tower only`);
  }
  const d = (flag: string, def: string) => readFlag(`--${flag}`, s(flag) ?? def, parseDuration);
  const n = (flag: string, def: string, min: number, max: number) =>
    readFlag(`--${flag}`, s(flag) ?? def, (t) => parseCount(t, min, max));
  return {
    listen: readFlag("--listen", s("listen") ?? "9090", parseListen),
    routes,
    registry,
    connectionCap: n("workers", "10000", 1, 1_000_000),
    retries: n("retries", "3", 1, 100),
    balance: s("lb") === undefined ? LEAST_OUTSTANDING : readFlag("--lb", s("lb")!, parseBalance),
    tls: certPath !== undefined ? { certPath, keyPath: keyPath! } : null,
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
    replicaPolicy: replicaPolicyOf(s),
    health: healthOf(s),
    upstreamReceiveBuffer: readFlag(
      "--upstream-rcvbuf",
      s("upstream-rcvbuf") ?? "131072",
      parseReceiveBuffer,
    ),
    upstreamReceiveBufferGiven: s("upstream-rcvbuf") !== undefined,
    tunnelIdleTimeoutMs: d("idle-timeout", "30s"),
    graceMs: d("grace", "10s"),
    poolSize: n("pool-size", "1024", 0, 100_000),
    poolIdleTimeoutMs: d("pool-idle-timeout", "4s"),
    trustedProxies: readFlag("--trusted-proxies", s("trusted-proxies") ?? "", parseCidrList),
    via: readFlag("--via", s("via") ?? "gatehouse", parseVia),
    towerSecurity: towerSecurityOf("tower-", v, env),
    lookupCacheMs: d("lookup-cache", "0"),
    accessLog: v["access-log"] === true,
    debugErrors: v["debug-errors"] === true,
    procs: n("procs", "1", 1, 64),
  };
}

/** The Tower port, for the usage text. */
const TOWER_PORT_TEXT = String(DEFAULT_TOWER_PORT);

/** The commands and the ingress's flags, for --help. */
export const USAGE =
  `usage: gatehouse [flags]            run the ingress (embedded Tower unless --tower)
       gatehouse tower [--listen HOST:PORT] [--allow CIDR,...] [--secret S] [--rate N[:B]]
                       [--max-entries N] [--routes] [--max-routes N]
                                          run a standalone Tower (default 127.0.0.1:${TOWER_PORT_TEXT})
       gatehouse register --registry URL --service NAME --addr HOST:PORT [--route [HOST]/PREFIX]
                          [-- COMMAND ARGS...]
                                          register a replica and heartbeat it (see register --help)
       gatehouse demo [--listen PORT]     ingress + embedded Tower + a demo backend ("frontend")

flags:
  --listen [HOST:]PORT        where clients connect (default 0.0.0.0:9090)
  --route [HOST]/PREFIX:SVC   route requests to a service (repeatable); PREFIX* = string prefix
  --tower HOST[:PORT]         use a remote Tower (default port ${TOWER_PORT_TEXT}) instead of the embedded one
  --tower-listen HOST:PORT    where the embedded Tower listens (default 127.0.0.1:${TOWER_PORT_TEXT})
  --registry URL              tower://HOST[:PORT], etcd://H1:2379,H2:2379/PREFIX or dns://IP:PORT
  --lookup-cache DUR          remote Tower: reuse an answer this long (default 0 = ask per request)
  --workers N                 most concurrent client connections (default 10000)
  --retries N                 connect attempts per request, distinct replicas (default 3)
  --lb POLICY                 least-outstanding (default), round-robin, random, or consistent
                              hashing on header:NAME, cookie:NAME or client-ip
  --tls-cert PATH --tls-key PATH   serve HTTPS with this PEM certificate and key
  --max-header-size BYTES     largest request head (default 32768)
  --header-timeout DUR        time for a request head to arrive (default 10s)
  --keepalive-timeout DUR     idle time between requests on a connection (default 60s)
  --connect-timeout DUR       time to connect to a replica (default 3s)
  --upstream-timeout DUR      time for a backend to start answering (default 60s)
  --upstream-read-timeout DUR longest pause in a backend's response (default 60s)
  --upstream-send-timeout DUR longest a backend may take no request body (default 60s)
  --body-timeout DUR          longest pause in a client's request body (default 60s)
  --send-timeout DUR          longest a client may take no response (default 60s)
  --outlier-gateway-failures N  consecutive gateway failures that eject a replica (default 5, 0 off)
  --outlier-5xx N             consecutive 5xx that eject a replica (default 5, 0 off)
  --ejection-time DUR         first ejection's length, times the ejection count (default 30s)
  --max-ejection-time DUR     longest ejection (default 300s)
  --max-ejected PERCENT       most of a service's replicas ejected at once (default 50; one always may)
  --stall-window DUR          a replica silent this long while its peers answer is probed (default 1s, 0 off)
  --try-timeout DUR           a try with no first byte this long moves to the next replica (default 0 = off)
  --retry-budget PCT[:MIN]    retries in flight per service: PCT of its requests, at least MIN (default 20:3)
  --health-path PATH          active health checks: GET PATH on every replica (default off); with
                              --health-method M (GET), --health-interval DUR (5s, +-10% jitter),
                              --health-timeout DUR (2s), --health-rise N (2), --health-fall N (3),
                              --health-status LIST (200-399; e.g. 200,204 or 2xx), --health-host NAME
                              (the replica's address)
  --slow-start DUR            a replica that appears, returns from ejection or turns healthy ramps from
                              a tenth of its weight to all of it over DUR (default 0 = off)
  --hedge on|off              a try far slower than the service's quickest replica gets a second try
                              on another replica, first answer wins (idempotent requests; default on)
  --upstream-rcvbuf BYTES     receive buffer of backend connections (default 131072, 0 = kernel's)
  --idle-timeout DUR          idle time before an upgraded tunnel is closed (default 30s)
  --grace DUR                 how long shutdown waits for in-flight requests (default 10s)
  --pool-size N               idle backend connections kept per replica (default 1024)
  --pool-idle-timeout DUR     idle backend connections older than this are closed (default 4s)
  --trusted-proxies CIDR,...  peers whose X-Real-IP / X-Forwarded-* / X-Request-Id are kept
  --via NAME|off              pseudonym added to Via on forwarded requests (default gatehouse)
  --tower-allow CIDR,...      who may REGISTER/DEREGISTER with the Tower (default: anyone)
  --tower-secret SECRET       REGISTER/DEREGISTER must be HMAC-signed (or env GATEHOUSE_TOWER_SECRET)
  --tower-rate N[:BURST]      REGISTER/DEREGISTER per second per source (default: unlimited)
  --tower-max-entries N       most Tower entries (default 10000, 0 = no cap)
  --tower-routes              services may declare routes with the Tower (ROUTE; default off)
  --tower-max-routes N        most route declarations the Tower holds (default 1000, 0 = no cap)
  --access-log                log each request to stderr
  --debug-errors              error bodies say which replicas failed and why (development only)
  --procs N                   processes sharing the listening port (default 1)
  --help, --version
DUR: 500ms, 10s, 2m, 1h, or a bare number of seconds.`;
