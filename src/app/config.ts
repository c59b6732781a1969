/**
 * What an ingress runs with: one validated value, built by the command line
 * (src/cli/) and read by the start-up code (src/app/). Types only.
 *
 * @module
 */

import type { HostPort } from "../net/address.ts";
import type { CidrList } from "../net/cidr.ts";
import type { Route } from "../routing/router.ts";
import type { DnsRegistryOptions } from "../registry/dns/registry.ts";
import type { ServiceSettings } from "../replicas/settings.ts";
import type { AccessLogFormat } from "../proxy/access_log.ts";

/** A registry in another process, as a `--registry` URL names it. */
export type RegistryUrl =
  /** A Tower, asked over UDP. */
  | { kind: "tower"; address: HostPort }
  /** An etcd cluster's v3 gateway. */
  | { kind: "etcd"; url: string; endpoints: string[]; prefix: string }
  /** DNS SRV records. */
  | { kind: "dns"; url: string; options: DnsRegistryOptions };

/** Where replicas are looked up: the Tower in this process, serving UDP on `listen`, or another. */
export type RegistryChoice = { kind: "embedded"; listen: HostPort } | RegistryUrl;

/** Registration rules for a Tower this process runs (all off by default: open, like the protocol). */
export interface TowerSecurity {
  /** Who may REGISTER/DEREGISTER (empty: anyone). */
  allow: CidrList;
  /** REGISTER/DEREGISTER must be HMAC-signed with this secret (null: plain datagrams). */
  secret: string | null;
  /** Per-source token bucket for REGISTER/DEREGISTER (null: unlimited). */
  rate: { perSecond: number; burst: number } | null;
  /** Most entries the Tower holds (0: no cap). */
  maxEntries: number;
  /** Services may declare routes with ROUTE (`--tower-routes`, `gatehouse tower --routes`). */
  routes: boolean;
  /** Most route declarations the Tower holds, apart from `maxEntries` (0: no cap). */
  maxRoutes: number;
}

/** Where clients connect: an address, and a certificate for HTTPS. */
export interface ListenerConfig {
  listen: HostPort;
  /** PEM certificate and key paths, or null for plain HTTP. */
  tls: { certPath: string; keyPath: string } | null;
}

/** The admin listener (`--admin`): metrics, the admin API, probes, the dashboard. */
export interface AdminConfig {
  listen: HostPort;
  /** Bearer token every admin path but the probes needs, or null (loopback only). */
  token: string | null;
}

/** Everything an ingress needs to run. */
export interface IngressConfig {
  /** Where clients connect (`--listen` and `--tls-*`, or the file's `listeners:`). */
  listeners: ListenerConfig[];
  /** The static routes: the `--route` flags', then the config file's. */
  routes: Route[];
  /** The config file's path (`--config`), or null. */
  configFile: string | null;
  registry: RegistryChoice;
  /** Most concurrent client connections (flag `--workers`); over it, 503. */
  connectionCap: number;
  /** Every service's settings but those of `services` (the flags and the file's top level). */
  serviceDefaults: ServiceSettings;
  /** Services with settings of their own (the file's `services:`). */
  services: ReadonlyMap<string, ServiceSettings>;
  maxHeaderSize: number;
  headerTimeoutMs: number;
  keepaliveTimeoutMs: number;
  connectTimeoutMs: number;
  /** SO_RCVBUF asked for on connections to replicas, in bytes (0: the kernel's sizing). */
  upstreamReceiveBuffer: number;
  /** True when --upstream-rcvbuf was given (not the default). */
  upstreamReceiveBufferGiven: boolean;
  /** Time for a backend to start its response, once the request is sent. */
  upstreamTimeoutMs: number;
  /** One try's wait for its first byte before the request goes to another replica (0: off). */
  tryTimeoutMs: number;
  /** Longest pause between two reads of a request body from the client. */
  bodyTimeoutMs: number;
  /** Longest pause between two reads of a response from the backend. */
  upstreamReadTimeoutMs: number;
  /** Longest time a client may take no response bytes. */
  sendTimeoutMs: number;
  /** Longest time a backend may take no request body bytes. */
  upstreamSendTimeoutMs: number;
  /** An upgraded tunnel idle this long is closed. */
  tunnelIdleTimeoutMs: number;
  graceMs: number;
  /** On SIGTERM, how long /readyz fails before the listeners close (`--shutdown-delay`). */
  shutdownDelayMs: number;
  /** The admin listener, or null: off. */
  admin: AdminConfig | null;
  poolSize: number;
  poolIdleTimeoutMs: number;
  trustedProxies: CidrList;
  /** The pseudonym added to Via on forwarded requests (`--via`), or null: no Via. */
  via: string | null;
  /** Remote Tower answers are reused this long (0: ask per request, always fresh). */
  lookupCacheMs: number;
  /** Rules for the embedded Tower. */
  towerSecurity: TowerSecurity;
  /** Log one line per request (`--access-log`, or implied by the two settings below). */
  accessLog: boolean;
  /** The access log's format (`--access-log-format`; default `classic`). */
  accessLogFormat: AccessLogFormat;
  /** The file the access log is appended to (`--access-log-file`), or null: stderr. */
  accessLogFile: string | null;
  /** Error bodies carry a failure's details (replicas, their errors), for development. */
  debugErrors: boolean;
  /** Processes sharing the listening port (SO_REUSEPORT). */
  procs: number;
}
