/**
 * The ingress's flags (also `gatehouse demo`'s) to a validated
 * {@link IngressConfig}. Every mistake is a {@link UsageError} with one
 * clear line; nothing here touches the network.
 *
 * @module
 */

import type { IngressConfig } from "../app/config.ts";
import { DEFAULT_TOWER_PORT } from "../tower.ts";
import { type FlagSpec, parseFlags } from "./flags.ts";
import { TOWER_SECURITY_FLAGS } from "./tower_flags.ts";
import { messageOf } from "../error_message.ts";
import { ConfigError } from "../config/errors.ts";
import { type ConfigFile, type FileKeys, readConfigFile } from "../config/file.ts";
import { buildIngressConfig, HEALTH_KEYS, SERVICE_KEYS } from "../config/ingress_config.ts";
import { flagSettings } from "../config/settings.ts";

/** The ingress's flags. */
export const INGRESS_FLAGS: Record<string, FlagSpec> = {
  config: { type: "string" },
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
  ...Object.fromEntries(HEALTH_KEYS.map((name) => [`health-${name}`, { type: "string" }])),
  "upstream-rcvbuf": { type: "string" },
  "idle-timeout": { type: "string" },
  grace: { type: "string" },
  "shutdown-delay": { type: "string" },
  admin: { type: "string" },
  "admin-token": { type: "string" },
  "pool-size": { type: "string" },
  "pool-idle-timeout": { type: "string" },
  "trusted-proxies": { type: "string" },
  via: { type: "string" },
  ...Object.fromEntries(
    Object.entries(TOWER_SECURITY_FLAGS).map(([name, spec]) => [`tower-${name}`, spec]),
  ),
  "access-log": { type: "boolean" },
  "access-log-format": { type: "string" },
  "access-log-file": { type: "string" },
  "debug-errors": { type: "boolean" },
  procs: { type: "string" },
  help: { type: "boolean", short: "h" },
  version: { type: "boolean" },
};

/** What a config file may hold: every setting flag, `services:` keys. */
const FILE_KEYS: FileKeys = {
  settings: new Set(
    Object.keys(INGRESS_FLAGS).filter((k) => !["route", "config", "help", "version"].includes(k)),
  ),
  switches: new Set(
    Object.entries(INGRESS_FLAGS).filter(([, f]) => f.type === "boolean").map(([k]) => k),
  ),
  service: new Set(SERVICE_KEYS),
};

/** Reads a file whole (the runtime's, at start; a test's own). */
export type ReadFile = (path: string) => string;

/**
 * The config file `path` read and checked for shape (see
 * src/config/file.ts). A file that cannot be read is a ConfigError.
 *
 * @example
 * ```ts
 * import { configFileOf } from "./ingress_flags.ts";
 * configFileOf("g.yaml", () => "routes: [/:web]").routes.length; // 1
 * ```
 */
export function configFileOf(path: string, read: ReadFile): ConfigFile {
  let text: string;
  try {
    text = read(path);
  } catch (e) {
    throw new ConfigError(`cannot read the config file ${path}: ${messageOf(e)}`);
  }
  return readConfigFile(path, text, FILE_KEYS);
}

const noFiles: ReadFile = () => {
  throw new Error("no file reading here");
};

/**
 * Read the ingress's flags (`demo`: with the demo's default route) and the
 * config file `--config` names, read with `read`. Returns null for `--help`.
 *
 * @example
 * ```ts
 * import { ingressConfig } from "./ingress_flags.ts";
 * ingressConfig(["--listen", "9090", "--route", "/:web"], false, () => undefined)?.listeners;
 * // [{ listen: { host: "0.0.0.0", port: 9090 }, tls: null }]
 * ```
 */
export function ingressConfig(
  args: readonly string[],
  demo: boolean,
  env: (name: string) => string | undefined,
  read: ReadFile = noFiles,
): IngressConfig | null {
  const v = parseFlags(args, INGRESS_FLAGS);
  if (v.help) return null;
  const path = v.config as string | undefined;
  const file = path === undefined ? null : configFileOf(path, read);
  return buildIngressConfig(
    flagSettings(v),
    (v.route as string[] | undefined) ?? [],
    file,
    demo,
    env,
  );
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
       gatehouse check --config FILE [flags]
                                          validate a configuration; print its listeners, services, routes
       gatehouse routes [--admin URL] [--admin-token T]
                                          the routes a running ingress has, with their origins
       gatehouse services [--admin URL] [--admin-token T]
                                          a running ingress's services, replicas and their state

flags:
  --config FILE               read settings, listeners, services and routes from a YAML (or JSON)
                              file, and reload it when it changes or on SIGHUP; flags override it
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
  --shutdown-delay DUR        on SIGTERM, /readyz fails this long before the listeners close (default 0)
  --admin [HOST:]PORT         admin listener: /metrics, /api/..., /healthz, /readyz, the dashboard at /
                              (default off; host 127.0.0.1; beyond loopback it needs a token)
  --admin-token TOKEN         bearer token for the admin listener (or env GATEHOUSE_ADMIN_TOKEN)
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
  --access-log-format FMT     classic (default), json, common or combined; implies --access-log
  --access-log-file PATH      append the access log to PATH (reopened on SIGUSR1), not stderr
  --debug-errors              error bodies say which replicas failed and why (development only)
  --procs N                   processes sharing the listening port (default 1)
  --help, --version
DUR: 500ms, 10s, 2m, 1h, or a bare number of seconds.`;
