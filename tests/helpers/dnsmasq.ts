/**
 * A throwaway dnsmasq for end-to-end tests: serves the given SRV and host
 * records on 127.0.0.1 at a fixed UDP port, reads no system configuration,
 * and can be restarted with other records or stopped.
 *
 * @module
 */

import { spawn } from "node:child_process";
import { type Started, stopProcess } from "./process.ts";
import { Resolver } from "node:dns/promises";

/** One SRV record: `name` → `target:port`. */
export interface SrvRecordSpec {
  /** Full SRV name, e.g. `_http._tcp.web.svc.local`. */
  name: string;
  /** Host name or IP literal. */
  target: string;
  port: number;
  priority?: number;
  weight?: number;
}

/** A name with its A and/or AAAA addresses. */
export interface HostRecordSpec {
  name: string;
  addresses: string[];
}

/** The records dnsmasq serves. */
export interface DnsmasqRecords {
  srv?: SrvRecordSpec[];
  hosts?: HostRecordSpec[];
}

/** Options for {@link startDnsmasq}. */
export interface DnsmasqOptions {
  /** UDP port on 127.0.0.1. Default 25353. */
  port?: number;
  /** TTL of every record, in seconds. Default 1. */
  ttl?: number;
  /**
   * Domain dnsmasq answers for on its own: unknown names in it get NXDOMAIN
   * (not REFUSED, which is what a server without upstreams says). Default
   * `svc.local`.
   */
  domain?: string;
}

/** A running (or stopped) dnsmasq. */
export interface Dnsmasq {
  /** The UDP port it listens on. */
  readonly port: number;
  /** `127.0.0.1:PORT`, for a registry's servers list. */
  readonly server: string;
  /** True between a start and a stop. */
  readonly running: boolean;
  /** Stop (if running) and start again, with `records` when given. */
  restart(records?: DnsmasqRecords): Promise<void>;
  /** SIGTERM and wait for the exit; a no-op when stopped. */
  stop(): Promise<void>;
}

/** Where dnsmasq is looked for when it is not on PATH (Debian puts it in sbin). */
const CANDIDATES = ["dnsmasq", "/usr/sbin/dnsmasq", "/sbin/dnsmasq"];

/**
 * Start dnsmasq with `records` and resolve once it answers queries.
 * Rejects with its stderr when it exits or stays silent for 10 s.
 *
 * @example
 * ```ts
 * const dns = await startDnsmasq({
 *   srv: [{ name: "_http._tcp.web.svc.local", target: "web-1.svc.local", port: 8081 }],
 *   hosts: [{ name: "web-1.svc.local", addresses: ["127.0.0.1"] }],
 * });
 * await dns.stop();
 * ```
 */
export async function startDnsmasq(
  records: DnsmasqRecords,
  options: DnsmasqOptions = {},
): Promise<Dnsmasq> {
  const port = options.port ?? 25353;
  const ttl = options.ttl ?? 1;
  const domain = options.domain ?? "svc.local";
  let current = records;
  let proc: Started | undefined;

  const start = async () => {
    proc = await launch(argsFor(current, port, ttl, domain));
    try {
      await waitUntilAnswering(port, proc.closed);
    } catch (e) {
      await stopProcess(proc);
      proc = undefined;
      throw e;
    }
  };

  await start();
  return {
    port,
    server: `127.0.0.1:${port}`,
    get running() {
      return proc !== undefined;
    },
    async restart(next?: DnsmasqRecords) {
      if (next !== undefined) current = next;
      if (proc !== undefined) await stopProcess(proc);
      proc = undefined;
      await start();
    },
    async stop() {
      if (proc === undefined) return;
      const p = proc;
      proc = undefined;
      await stopProcess(p);
    },
  };
}

function argsFor(records: DnsmasqRecords, port: number, ttl: number, domain: string): string[] {
  const args = [
    "--no-daemon",
    "--conf-file=/dev/null", // no /etc/dnsmasq.conf, no conf-dir
    "--no-resolv",
    "--no-hosts",
    "--no-poll",
    `--port=${port}`,
    "--listen-address=127.0.0.1",
    "--bind-interfaces",
    `--local=/${domain}/`,
    `--local-ttl=${ttl}`,
    `--neg-ttl=${ttl}`,
    "--pid-file=", // none: it would need root and a system path
    "--cache-size=0",
  ];
  for (const r of records.srv ?? []) {
    args.push(
      `--srv-host=${r.name},${r.target},${r.port},${r.priority ?? 0},${r.weight ?? 0}`,
    );
  }
  for (const h of records.hosts ?? []) {
    args.push(`--host-record=${h.name},${h.addresses.join(",")},${ttl}`);
  }
  return args;
}

async function launch(args: string[]): Promise<Started> {
  let lastError: unknown;
  for (const command of CANDIDATES) {
    const child = spawn(command, args, { stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr!.setEncoding("utf8");
    child.stderr!.on("data", (chunk: string) => stderr += chunk);
    const spawned = await new Promise<unknown>((resolve) => {
      child.once("spawn", () => resolve(undefined));
      child.once("error", (e) => resolve(e));
    });
    if (spawned !== undefined) {
      lastError = spawned;
      continue;
    }
    const closed = new Promise<void>((resolve) => {
      child.once("close", (code, signal) => {
        if (code !== 0 && signal === null) {
          console.error(`dnsmasq exited with ${code}: ${stderr.trim()}`);
        }
        resolve();
      });
    });
    return { child, closed };
  }
  throw new Error(
    `cannot run dnsmasq (install it: apt-get install dnsmasq): ${
      lastError instanceof Error ? lastError.message : String(lastError)
    }`,
  );
}

/** Poll with queries until dnsmasq answers one (any answer, even NXDOMAIN). */
async function waitUntilAnswering(port: number, closed: Promise<void>): Promise<void> {
  let exited = false;
  void closed.then(() => exited = true);
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (exited) throw new Error("dnsmasq exited during startup (see its stderr above)");
    const resolver = new Resolver({ timeout: 200, tries: 1 });
    resolver.setServers([`127.0.0.1:${port}`]);
    try {
      await resolver.resolve4("probe.invalid");
      return;
    } catch (e) {
      const code = (e as { code?: string }).code;
      if (code !== "ETIMEOUT" && code !== "ECONNREFUSED" && code !== "ECANCELLED") return;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`dnsmasq did not answer on 127.0.0.1:${port} within 10 s`);
}
