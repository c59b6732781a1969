/**
 * Command-line flags to a validated configuration. Every mistake becomes a
 * {@link UsageError} with one clear line; nothing here touches the network.
 *
 * @module
 */

import { parseArgs } from "node:util";
import type { Route } from "./router.ts";
import { parseRoute, RouteTable } from "./router.ts";
import { CidrList } from "./cidr.ts";
import { parseRegistryUrl, type RegistryUrl } from "./registry/url.ts";

/** A mistake in how Gatehouse was invoked (exit code 2). */
export class UsageError extends Error {
  override name = "UsageError";
}

/** A host and port to bind or reach. */
export interface HostPort {
  hostname: string;
  port: number;
}

/** Where replicas are looked up. */
export type TowerChoice =
  | { mode: "embedded"; listen: HostPort }
  | { mode: "remote"; address: HostPort }
  | { mode: "registry"; registry: RegistryUrl };

/** Everything the ingress needs to run. */
export interface IngressConfig {
  listen: HostPort;
  routes: Route[];
  tower: TowerChoice;
  workers: number;
  retries: number;
  tls: { certPath: string; keyPath: string } | null;
  maxHeaderSize: number;
  headerTimeoutMs: number;
  keepaliveTimeoutMs: number;
  connectTimeoutMs: number;
  /** SO_RCVBUF asked for on connections to replicas, in bytes (0: the kernel's sizing). */
  upstreamReceiveBuffer: number;
  /** True when --upstream-rcvbuf was given (not the default). */
  upstreamReceiveBufferGiven: boolean;
  upstreamTimeoutMs: number;
  idleTimeoutMs: number;
  graceMs: number;
  poolSize: number;
  poolIdleTimeoutMs: number;
  trustedProxies: CidrList;
  /** Remote Tower answers are reused this long (0: ask per request, as the seed). */
  lookupCacheMs: number;
  /** Who may REGISTER/DEREGISTER with the embedded Tower (empty: anyone, as the seed). */
  towerAllow: CidrList;
  /** Who may write to the Tower this process runs, and how often. */
  towerSecurity: TowerSecurity;
  /** Log one line per request to stderr. */
  accessLog: boolean;
  /** Processes sharing the listening port (SO_REUSEPORT); absent means 1. */
  procs?: number;
}

/** Registration rules for a Tower run by this process (all off by default, as the seed). */
export interface TowerSecurity {
  /** REGISTER/DEREGISTER must be HMAC-signed with this secret (null: unsigned, as the seed). */
  secret: string | null;
  /** Per-source token bucket for REGISTER/DEREGISTER (null: unlimited). */
  rate: { perSecond: number; burst: number } | null;
  /** Most entries the Tower holds (0: no cap). */
  maxEntries: number;
}

/**
 * The `startTowerServer` options for an allowlist and {@link TowerSecurity}.
 *
 * @example
 * ```ts
 * startTowerServer({ hostname, port, bindUdp, ...towerGuard(allow, security) });
 * ```
 */
export function towerGuard(allow: CidrList, security: TowerSecurity): {
  mayRegister?: (ip: string) => boolean;
  secret?: string;
  rateLimit?: { perSecond: number; burst: number };
  maxEntries: number;
} {
  return {
    mayRegister: allow.empty ? undefined : (ip) => allow.contains(ip),
    secret: security.secret ?? undefined,
    rateLimit: security.rate ?? undefined,
    maxEntries: security.maxEntries,
  };
}

/** Parse `PER_SECOND[:BURST]` (burst defaults to twice the rate). */
function parseRate(flag: string, text: string): { perSecond: number; burst: number } {
  const m = /^(\d+(?:\.\d+)?)(?::(\d+))?$/.exec(text);
  const perSecond = m ? Number(m[1]) : 0;
  const burst = m?.[2] !== undefined ? Number(m[2]) : Math.ceil(2 * perSecond);
  if (!m || perSecond <= 0 || burst < 1) {
    throw new UsageError(`${flag}: "${text}" must be PER_SECOND[:BURST], e.g. 5 or 5:20`);
  }
  return { perSecond, burst };
}

/** Read the Tower security flags (the secret may come from GATEHOUSE_TOWER_SECRET). */
function towerSecurity(
  prefix: string,
  v: Record<string, string | boolean | string[] | undefined>,
  env: (name: string) => string | undefined,
): TowerSecurity {
  const secret = (v[`${prefix}secret`] as string | undefined) ?? env("GATEHOUSE_TOWER_SECRET");
  const rate = v[`${prefix}rate`] as string | undefined;
  const max = v[`${prefix}max-entries`] as string | undefined;
  return {
    secret: secret === undefined || secret === "" ? null : secret,
    rate: rate === undefined ? null : parseRate(`--${prefix}rate`, rate),
    maxEntries: parseCount(`--${prefix}max-entries`, max ?? "10000", 0, 10_000_000),
  };
}

/** Default Tower port (the seed's). */
export const TOWER_PORT = 7772;

/** The flags of the ingress command, with their defaults, for --help. */
export const USAGE =
  `usage: gatehouse [flags]            run the ingress (embedded Tower unless --tower)
       gatehouse tower [--listen HOST:PORT] [--allow CIDR,...] [--secret S] [--rate N[:B]]
                       [--max-entries N]
                                          run a standalone Tower (default 127.0.0.1:7772)
       gatehouse register --registry URL --service NAME --addr HOST:PORT [-- COMMAND ARGS...]
                                          register a replica and heartbeat it (see register --help)
       gatehouse demo [--listen PORT]     ingress + embedded Tower + a demo backend ("frontend")

flags:
  --listen [HOST:]PORT        where clients connect (default 0.0.0.0:9090)
  --route [HOST]/PREFIX:SVC   route requests to a service (repeatable); PREFIX* = string prefix
  --tower HOST[:PORT]         use a remote Tower (default port 7772) instead of the embedded one
  --tower-listen HOST:PORT    where the embedded Tower listens (default 127.0.0.1:7772)
  --registry URL              tower://HOST[:PORT], etcd://H1:2379,H2:2379/PREFIX or dns://IP:PORT
  --lookup-cache DUR          remote Tower: reuse an answer this long (default 0 = ask per request)
  --workers N                 most concurrent client connections (default 10000)
  --retries N                 connect attempts per request, distinct replicas (default 3)
  --tls-cert PATH --tls-key PATH   serve HTTPS with this PEM certificate and key
  --max-header-size BYTES     largest request head (default 32768)
  --header-timeout DUR        time for a request head to arrive (default 10s)
  --keepalive-timeout DUR     idle time between requests on a connection (default 60s)
  --connect-timeout DUR       time to connect to a replica (default 3s)
  --upstream-timeout DUR      time for a backend to start answering (default 60s)
  --upstream-rcvbuf BYTES     receive buffer of backend connections (default 131072, 0 = kernel's)
  --idle-timeout DUR          idle time before an upgraded tunnel is closed (default 30s)
  --grace DUR                 how long shutdown waits for in-flight requests (default 10s)
  --pool-size N               idle backend connections kept per replica (default 1024)
  --pool-idle-timeout DUR     idle backend connections older than this are closed (default 4s)
  --trusted-proxies CIDR,...  peers whose X-Real-IP / X-Forwarded-* are kept
  --tower-allow CIDR,...      who may REGISTER/DEREGISTER with the Tower (default: anyone)
  --tower-secret SECRET       REGISTER/DEREGISTER must be HMAC-signed (or env GATEHOUSE_TOWER_SECRET)
  --tower-rate N[:BURST]      REGISTER/DEREGISTER per second per source (default: unlimited)
  --tower-max-entries N       most Tower entries (default 10000, 0 = no cap)
  --access-log                log each request to stderr
  --procs N                   processes sharing the listening port (default 1)
  --help, --version
DUR: 500ms, 10s, 2m, 1h, or a bare number of seconds.`;

const MAX_TIMER_MS = 2 ** 31 - 1;

/** Parse a duration ("500ms", "10s", "2m", "1h", bare seconds) to milliseconds. */
export function parseDuration(flag: string, text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!m) throw new UsageError(`${flag}: "${text}" is not a duration (like 500ms, 10s, 2m)`);
  const n = Number(m[1]);
  const unit = m[2] ?? "s";
  const ms = unit === "ms" ? n : unit === "s" ? n * 1000 : unit === "m" ? n * 60_000 : n * 3600_000;
  // Timers hold at most 2^31-1 ms; a longer one would fire at once.
  if (ms > MAX_TIMER_MS) throw new UsageError(`${flag}: "${text}" is longer than 24 days`);
  return Math.round(ms);
}

/** Parse a positive integer within bounds. */
export function parseCount(flag: string, text: string, min: number, max: number): number {
  if (!/^\d+$/.test(text.trim()) || Number(text) < min || Number(text) > max) {
    throw new UsageError(`${flag}: "${text}" must be a whole number from ${min} to ${max}`);
  }
  return Number(text);
}

/** Smallest and largest receive buffer `--upstream-rcvbuf` accepts (besides 0). */
export const RCVBUF_MIN = 4096;
export const RCVBUF_MAX = 64 * 1024 * 1024;

/** Parse a receive-buffer size in bytes: 0 (leave it to the kernel) or RCVBUF_MIN..RCVBUF_MAX. */
function receiveBuffer(flag: string, text: string): number {
  if (text.trim() === "0") return 0;
  if (!/^\d+$/.test(text.trim()) || Number(text) < RCVBUF_MIN || Number(text) > RCVBUF_MAX) {
    throw new UsageError(
      `${flag}: "${text}" must be 0 (the kernel's sizing) or bytes from ${RCVBUF_MIN} to ${RCVBUF_MAX}`,
    );
  }
  return Number(text);
}

/** Parse a port number 0-65535. */
function parsePort(flag: string, text: string): number {
  if (!/^\d{1,5}$/.test(text) || Number(text) > 65535) {
    throw new UsageError(`${flag}: "${text}" is not a port (0-65535)`);
  }
  return Number(text);
}

/**
 * Parse `PORT`, `HOST:PORT` or `[V6]:PORT`. With `defaultPort`, a bare host
 * is allowed too.
 *
 * @example
 * ```ts
 * parseHostPort("--listen", "9090", "0.0.0.0"); // { hostname: "0.0.0.0", port: 9090 }
 * ```
 */
export function parseHostPort(
  flag: string,
  text: string,
  defaultHost: string,
  defaultPort?: number,
): HostPort {
  if (/^\d+$/.test(text)) return { hostname: defaultHost, port: parsePort(flag, text) };
  let host: string;
  let port: string | undefined;
  const v6 = /^\[([0-9a-fA-F:.]+)\](?::(\d+))?$/.exec(text);
  if (v6) {
    host = v6[1];
    port = v6[2];
  } else {
    const colon = text.lastIndexOf(":");
    if (colon >= 0 && text.indexOf(":") !== colon) {
      throw new UsageError(`${flag}: "${text}" is ambiguous; write IPv6 as [ADDR]:PORT`);
    }
    host = colon < 0 ? text : text.slice(0, colon);
    port = colon < 0 ? undefined : text.slice(colon + 1);
  }
  if (!/^[A-Za-z0-9.:_-]+$/.test(host)) {
    throw new UsageError(`${flag}: "${text}" is not HOST:PORT`);
  }
  if (port === undefined) {
    if (defaultPort === undefined) throw new UsageError(`${flag}: "${text}" needs a port`);
    return { hostname: host, port: defaultPort };
  }
  return { hostname: host, port: parsePort(flag, port) };
}

const FLAGS = {
  listen: { type: "string" },
  route: { type: "string", multiple: true },
  tower: { type: "string" },
  "tower-listen": { type: "string" },
  registry: { type: "string" },
  "lookup-cache": { type: "string" },
  workers: { type: "string" },
  retries: { type: "string" },
  "tls-cert": { type: "string" },
  "tls-key": { type: "string" },
  "max-header-size": { type: "string" },
  "header-timeout": { type: "string" },
  "keepalive-timeout": { type: "string" },
  "connect-timeout": { type: "string" },
  "upstream-timeout": { type: "string" },
  "upstream-rcvbuf": { type: "string" },
  "idle-timeout": { type: "string" },
  grace: { type: "string" },
  "pool-size": { type: "string" },
  "pool-idle-timeout": { type: "string" },
  "trusted-proxies": { type: "string" },
  "tower-allow": { type: "string" },
  "tower-secret": { type: "string" },
  "tower-rate": { type: "string" },
  "tower-max-entries": { type: "string" },
  "access-log": { type: "boolean" },
  procs: { type: "string" },
  help: { type: "boolean", short: "h" },
  version: { type: "boolean" },
} as const;

/** Run node's parseArgs, turning its errors into one-line UsageErrors. */
export function parseFlags(
  args: string[],
  options: Record<string, { type: "string" | "boolean"; multiple?: boolean; short?: string }>,
): { values: Record<string, string | boolean | string[] | undefined> } {
  try {
    return parseArgs({ args, options, strict: true, allowPositionals: false }) as {
      values: Record<string, string | boolean | string[] | undefined>;
    };
  } catch (e) {
    const msg = (e as Error).message.split("\n")[0];
    throw new UsageError(msg.replace(/\. To specify a positional argument.*$/, ""));
  }
}

/** What the command line asks for. */
export type Command =
  | { kind: "help" }
  | { kind: "version" }
  | { kind: "ingress"; config: IngressConfig }
  | { kind: "tower"; listen: HostPort; allow: CidrList; security: TowerSecurity }
  | { kind: "demo"; config: IngressConfig };

/**
 * Parse the whole command line.
 *
 * @example
 * ```ts
 * const cmd = parseCommandLine(["--listen", "9090", "--route", "/:frontend"]);
 * ```
 */
export function parseCommandLine(
  args: string[],
  env: (name: string) => string | undefined = () => undefined,
): Command {
  if (args[0] === "tower") {
    const { values } = parseFlags(args.slice(1), {
      listen: { type: "string" },
      allow: { type: "string" },
      secret: { type: "string" },
      rate: { type: "string" },
      "max-entries": { type: "string" },
      help: { type: "boolean", short: "h" },
    });
    if (values.help) return { kind: "help" };
    return {
      kind: "tower",
      allow: cidrFlag("--allow", values.allow as string | undefined),
      security: towerSecurity("", values, env),
      listen: parseHostPort(
        "--listen",
        (values.listen as string) ?? "127.0.0.1",
        "127.0.0.1",
        TOWER_PORT,
      ),
    };
  }
  if (args[0] === "demo") {
    const config = ingressConfig(args.slice(1), true, env);
    return config === null ? { kind: "help" } : { kind: "demo", config };
  }
  if (args[0] !== undefined && !args[0].startsWith("-")) {
    throw new UsageError(`unknown command "${args[0]}" (try --help)`);
  }
  const { values } = parseFlags(args, FLAGS);
  if (values.help) return { kind: "help" };
  if (values.version) return { kind: "version" };
  const config = ingressConfig(args, false, env);
  return config === null ? { kind: "help" } : { kind: "ingress", config };
}

function cidrFlag(flag: string, text: string | undefined): CidrList {
  try {
    return CidrList.parse(text ?? "");
  } catch (e) {
    throw new UsageError(`${flag}: ${(e as Error).message}`);
  }
}

function ingressConfig(
  args: string[],
  demo: boolean,
  env: (name: string) => string | undefined,
): IngressConfig | null {
  const { values: v } = parseFlags(args, FLAGS);
  if (v.help) return null;
  const s = (name: keyof typeof FLAGS) => v[name] as string | undefined;
  const routes = ((v.route as string[] | undefined) ?? []).map((r) => {
    try {
      return parseRoute(r);
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
  const choices = ["tower", "tower-listen", "registry"].filter((f) => v[f] !== undefined);
  if (choices.length > 1) {
    throw new UsageError(`--${choices.join(" and --")} exclude each other: pick one registry`);
  }
  let registry: RegistryUrl | undefined;
  if (s("registry") !== undefined) {
    try {
      registry = parseRegistryUrl(s("registry")!);
    } catch (e) {
      throw new UsageError(`--registry: ${(e as Error).message}`);
    }
  }
  const tower: TowerChoice = registry?.kind === "tower"
    ? { mode: "remote", address: { hostname: registry.host, port: registry.port } }
    : registry !== undefined
    ? { mode: "registry", registry }
    : s("tower") !== undefined
    ? { mode: "remote", address: parseHostPort("--tower", s("tower")!, "", TOWER_PORT) }
    : {
      mode: "embedded",
      listen: parseHostPort(
        "--tower-listen",
        s("tower-listen") ?? "127.0.0.1",
        "127.0.0.1",
        TOWER_PORT,
      ),
    };
  if (tower.mode === "remote" && tower.address.port === 0) {
    throw new UsageError("--tower: port 0 is not a Tower address");
  }
  const certPath = s("tls-cert"), keyPath = s("tls-key");
  if ((certPath === undefined) !== (keyPath === undefined)) {
    throw new UsageError("--tls-cert and --tls-key go together");
  }
  const trusted = cidrFlag("--trusted-proxies", s("trusted-proxies"));
  const towerAllow = cidrFlag("--tower-allow", s("tower-allow"));
  if (tower.mode !== "embedded") {
    const local = ["tower-allow", "tower-rate", "tower-max-entries"].find((f) =>
      v[f] !== undefined
    );
    if (local !== undefined) throw new UsageError(`--${local} applies to the embedded Tower only`);
  }
  const d = (flag: keyof typeof FLAGS, def: string) => parseDuration(`--${flag}`, s(flag) ?? def);
  const n = (flag: keyof typeof FLAGS, def: string, min: number, max: number) =>
    parseCount(`--${flag}`, s(flag) ?? def, min, max);
  return {
    listen: parseHostPort("--listen", s("listen") ?? "9090", "0.0.0.0"),
    routes,
    tower,
    workers: n("workers", "10000", 1, 1_000_000),
    retries: n("retries", "3", 1, 100),
    tls: certPath !== undefined ? { certPath, keyPath: keyPath! } : null,
    maxHeaderSize: n("max-header-size", "32768", 1024, 1024 * 1024),
    headerTimeoutMs: d("header-timeout", "10s"),
    keepaliveTimeoutMs: d("keepalive-timeout", "60s"),
    connectTimeoutMs: d("connect-timeout", "3s"),
    upstreamTimeoutMs: d("upstream-timeout", "60s"),
    upstreamReceiveBuffer: receiveBuffer("--upstream-rcvbuf", s("upstream-rcvbuf") ?? "131072"),
    upstreamReceiveBufferGiven: s("upstream-rcvbuf") !== undefined,
    idleTimeoutMs: d("idle-timeout", "30s"),
    graceMs: d("grace", "10s"),
    poolSize: n("pool-size", "1024", 0, 100_000),
    poolIdleTimeoutMs: d("pool-idle-timeout", "4s"),
    trustedProxies: trusted,
    towerAllow,
    towerSecurity: towerSecurity("tower-", v, env),
    lookupCacheMs: d("lookup-cache", "0"),
    accessLog: v["access-log"] === true,
    ...(s("procs") !== undefined ? { procs: n("procs", "1", 1, 64) } : {}),
  };
}
