/**
 * A real etcd cluster on loopback for end-to-end tests: N members (1 or 3) on
 * fixed ports, temporary data dirs, watch progress notifications every
 * second, and the faults the registry must survive (kill, freeze, restart).
 *
 * Each test file passes its own `basePort` (somewhere in 23000-23999) so
 * files running in parallel never share a port: member `i` serves clients on
 * `basePort + i` and peers on `basePort + 10 + i`.
 *
 * Also a tiny v3 JSON gateway client (put, delete, get, leases, compaction)
 * that fails over between running members, so a test can write while one
 * member is down or frozen.
 *
 * @module
 */

import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "node:net";
import { Buffer } from "node:buffer";
import process from "node:process";

/** One etcd member process. */
export interface EtcdMember {
  readonly name: string;
  /** `http://127.0.0.1:<clientPort>` */
  readonly endpoint: string;
  readonly clientPort: number;
  readonly peerPort: number;
  readonly dataDir: string;
  /** True while the process runs (frozen members run). */
  readonly running: boolean;
  /** True between {@link EtcdCluster.freeze} and {@link EtcdCluster.thaw}. */
  readonly frozen: boolean;
  /** The last few KB the process wrote, for failure messages. */
  readonly output: string;
}

/** Options for {@link startEtcdCluster}. */
export interface EtcdClusterOptions {
  /** 1 or 3 members. Default 3. */
  size?: number;
  /** First port; see the module notes. */
  basePort: number;
  /** How long to wait for a healthy cluster. Default 60 s. */
  readyTimeoutMs?: number;
}

/** A running cluster; see {@link startEtcdCluster}. */
export interface EtcdCluster {
  readonly members: readonly EtcdMember[];
  /** Client endpoints, `http://127.0.0.1:PORT`, in member order. */
  readonly endpoints: string[];
  /** An `etcd://h1:p1,h2:p2,.../prefix` URL for Gatehouse. */
  url(prefix: string): string;
  /** Index of the member serving `endpoint` (`http://127.0.0.1:PORT`). */
  indexOf(endpoint: string): number;
  /** SIGKILL member `i` and wait for it to exit. */
  kill(i: number): Promise<void>;
  /** SIGSTOP member `i`: it keeps its sockets but answers nothing. */
  freeze(i: number): void;
  /** SIGCONT member `i`. */
  thaw(i: number): void;
  /** Start a killed member again on its data dir and wait until it is healthy. */
  restart(i: number): Promise<void>;
  /** Wait until every running, unfrozen member reports healthy. */
  waitHealthy(timeoutMs?: number): Promise<void>;
  /** Put `key` (optionally bound to a lease); resolves with the new revision. */
  put(key: string, value: string, lease?: string): Promise<number>;
  /** Delete `key`; resolves with the new revision. */
  del(key: string): Promise<number>;
  /** The value and lease of `key`, or undefined when absent. */
  get(key: string): Promise<{ value: string; lease: string } | undefined>;
  /** Grant a lease; resolves with its id (a decimal string). */
  grant(ttlSeconds: number): Promise<string>;
  /** Remaining TTL of a lease in seconds; -1 when it does not exist. */
  leaseTtl(id: string): Promise<number>;
  /** The cluster's current revision. */
  revision(): Promise<number>;
  /** Compact the key-value history up to `revision`. */
  compact(revision: number): Promise<void>;
  /** Kill every member and remove the data dirs. Never rejects. */
  stop(): Promise<void>;
}

const OUTPUT_TAIL = 8192;

/** Base64 of a string's UTF-8 bytes, as the gateway wants keys and values. */
export function b64(text: string): string {
  return Buffer.from(text, "utf8").toString("base64");
}

/** The inverse of {@link b64}. */
export function unb64(text: string | undefined): string {
  return text === undefined ? "" : Buffer.from(text, "base64").toString("utf8");
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** True when something accepts TCP connections on 127.0.0.1:`port`. */
function portBusy(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port });
    const done = (busy: boolean) => {
      socket.removeAllListeners();
      socket.destroy();
      resolve(busy);
    };
    socket.once("connect", () => done(true));
    socket.once("error", () => done(false));
    socket.setTimeout(1000, () => done(false));
  });
}

/** POST JSON to one member with a timeout; resolves with the parsed answer. */
async function post(
  endpoint: string,
  path: string,
  body: unknown,
  timeoutMs: number,
): Promise<Record<string, unknown>> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new Error("timeout")), timeoutMs);
  try {
    const res = await fetch(`${endpoint}${path}`, {
      method: "POST",
      body: JSON.stringify(body),
      signal: controller.signal,
    });
    const text = await res.text();
    const json = JSON.parse(text.trim().split("\n")[0] || "{}");
    if (!res.ok || json.error !== undefined) {
      const error = new Error(`${endpoint}${path}: HTTP ${res.status} ${text.slice(0, 200)}`);
      (error as Error & { code?: number }).code = json.code;
      throw error;
    }
    return json;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Signal a member through `process.kill`: Deno's `ChildProcess.kill` sends
 * nothing more once it has sent one signal (so no SIGCONT after SIGSTOP).
 */
function signal(s: MemberState, name: "SIGKILL" | "SIGSTOP" | "SIGCONT"): void {
  const pid = s.proc?.pid;
  if (pid === undefined) return;
  try {
    process.kill(pid, name);
  } catch {
    // Already gone.
  }
}

interface MemberState {
  name: string;
  endpoint: string;
  clientPort: number;
  peerPort: number;
  dataDir: string;
  proc: ChildProcess | undefined;
  exited: Promise<void>;
  frozen: boolean;
  /** False once killed on purpose; a wanted member that exits is a failure. */
  wanted: boolean;
  output: string;
}

/**
 * Start an etcd cluster on loopback and wait until it is healthy. Rejects
 * with the members' output when it does not come up; nothing stays running
 * then.
 *
 * @example
 * ```ts
 * const cluster = await startEtcdCluster({ size: 3, basePort: 23100 });
 * await cluster.put("/gatehouse/api/127.0.0.1:8081", '{"host":"127.0.0.1","port":8081}');
 * await cluster.stop();
 * ```
 */
export async function startEtcdCluster(options: EtcdClusterOptions): Promise<EtcdCluster> {
  const size = options.size ?? 3;
  const probe = spawnSync("etcd", ["--version"], { encoding: "utf8" });
  if (probe.error !== undefined || probe.status !== 0) {
    throw new Error(
      "etcd is not installed (Debian: apt-get install etcd-server; the test command installs it): " +
        (probe.error?.message ?? probe.stderr),
    );
  }
  const base = options.basePort;
  const root = await mkdtemp(join(tmpdir(), "gatehouse-etcd-"));
  const states: MemberState[] = [];
  for (let i = 0; i < size; i++) {
    states.push({
      name: `m${i}`,
      endpoint: `http://127.0.0.1:${base + i}`,
      clientPort: base + i,
      peerPort: base + 10 + i,
      dataDir: join(root, `m${i}`),
      proc: undefined,
      exited: Promise.resolve(),
      frozen: false,
      wanted: false,
      output: "",
    });
  }
  for (const s of states) {
    for (const port of [s.clientPort, s.peerPort]) {
      if (await portBusy(port)) {
        await rm(root, { recursive: true, force: true });
        throw new Error(
          `port ${port} on 127.0.0.1 is in use (a stale etcd from an earlier run?); ` +
            `the etcd test cluster needs ports ${base}-${base + 10 + size - 1}`,
        );
      }
    }
  }
  const initialCluster = states.map((s) => `${s.name}=http://127.0.0.1:${s.peerPort}`).join(",");

  const launch = (s: MemberState) => {
    const proc = spawn("etcd", [
      "--name",
      s.name,
      "--data-dir",
      s.dataDir,
      "--listen-client-urls",
      s.endpoint,
      "--advertise-client-urls",
      s.endpoint,
      "--listen-peer-urls",
      `http://127.0.0.1:${s.peerPort}`,
      "--initial-advertise-peer-urls",
      `http://127.0.0.1:${s.peerPort}`,
      "--initial-cluster",
      initialCluster,
      "--initial-cluster-state",
      "new",
      "--initial-cluster-token",
      `gatehouse-test-${base}`,
      "--experimental-watch-progress-notify-interval=1s",
      "--logger=zap",
      "--log-outputs=stderr",
      "--log-level=warn",
    ], { stdio: ["ignore", "pipe", "pipe"] });
    s.proc = proc;
    s.frozen = false;
    s.wanted = true;
    const keep = (chunk: Buffer) => {
      s.output = (s.output + chunk.toString("utf8")).slice(-OUTPUT_TAIL);
    };
    proc.stdout!.on("data", keep);
    proc.stderr!.on("data", keep);
    s.exited = new Promise<void>((resolve) => {
      proc.once("exit", () => {
        s.proc = undefined;
        resolve();
      });
      proc.once("error", (err) => {
        s.output += `\nspawn error: ${err.message}`;
        s.proc = undefined;
        resolve();
      });
    });
  };

  /** Members that can answer now. */
  const live = () => states.filter((s) => s.proc !== undefined && !s.frozen);

  /** POST to live members in turn until one answers, for up to `deadlineMs`. */
  const call = async (path: string, body: unknown, deadlineMs = 20_000) => {
    const until = Date.now() + deadlineMs;
    let last: unknown = new Error("no live etcd member");
    for (let round = 0; Date.now() < until; round++) {
      for (const s of live()) {
        try {
          return await post(s.endpoint, path, body, 3000);
        } catch (err) {
          last = err;
          // NOT_FOUND (5) and INVALID_ARGUMENT (3) are answers, not outages.
          const code = (err as { code?: number }).code;
          if (code === 5 || code === 3) throw err;
        }
      }
      await sleep(Math.min(1000, 100 * 2 ** round));
    }
    throw last;
  };

  const healthy = async (s: MemberState): Promise<boolean> => {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), 2000);
    try {
      const res = await fetch(`${s.endpoint}/health`, { signal: controller.signal });
      const body = await res.json();
      return body.health === "true";
    } catch {
      return false;
    } finally {
      clearTimeout(timer);
    }
  };

  const waitHealthy = async (timeoutMs = 60_000) => {
    const until = Date.now() + timeoutMs;
    while (true) {
      const dead = states.find((s) => s.wanted && s.proc === undefined);
      if (dead !== undefined) {
        throw new Error(`etcd member ${dead.name} exited\n${dead.output.slice(-3000)}`);
      }
      const members = live();
      const ok = await Promise.all(members.map(healthy));
      if (ok.every(Boolean)) return;
      if (Date.now() > until) {
        const report = members.map((s, i) =>
          `${s.name} ${s.endpoint} healthy=${ok[i]}\n${s.output.slice(-2000)}`
        );
        throw new Error(`etcd cluster not healthy within ${timeoutMs} ms\n${report.join("\n")}`);
      }
      await sleep(200);
    }
  };

  const killMember = async (s: MemberState) => {
    s.wanted = false;
    if (s.proc === undefined) return;
    signal(s, "SIGKILL");
    // Never hang a test run on a process that will not go.
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([s.exited, new Promise((resolve) => (timer = setTimeout(resolve, 10_000)))]);
    clearTimeout(timer);
    s.frozen = false;
  };

  const stop = async () => {
    await Promise.all(states.map(killMember));
    await rm(root, { recursive: true, force: true }).catch(() => {});
  };

  for (const s of states) launch(s);
  try {
    await waitHealthy(options.readyTimeoutMs ?? 60_000);
  } catch (err) {
    await stop();
    throw err;
  }

  const member = (i: number): MemberState => {
    const s = states[i];
    if (s === undefined) throw new RangeError(`no etcd member ${i}`);
    return s;
  };

  return {
    members: states.map((s) => ({
      get name() {
        return s.name;
      },
      get endpoint() {
        return s.endpoint;
      },
      get clientPort() {
        return s.clientPort;
      },
      get peerPort() {
        return s.peerPort;
      },
      get dataDir() {
        return s.dataDir;
      },
      get running() {
        return s.proc !== undefined;
      },
      get frozen() {
        return s.frozen;
      },
      get output() {
        return s.output;
      },
    })),
    endpoints: states.map((s) => s.endpoint),
    url(prefix: string) {
      const hosts = states.map((s) => `127.0.0.1:${s.clientPort}`).join(",");
      return `etcd://${hosts}${prefix.startsWith("/") ? prefix : `/${prefix}`}`;
    },
    indexOf(endpoint: string) {
      return states.findIndex((s) => s.endpoint === endpoint.replace(/\/$/, ""));
    },
    kill: (i) => killMember(member(i)),
    freeze(i) {
      const s = member(i);
      signal(s, "SIGSTOP");
      s.frozen = true;
    },
    thaw(i) {
      const s = member(i);
      signal(s, "SIGCONT");
      s.frozen = false;
    },
    async restart(i) {
      const s = member(i);
      await killMember(s);
      launch(s);
      await waitHealthy();
    },
    waitHealthy,
    async put(key, value, lease) {
      const body: Record<string, string> = { key: b64(key), value: b64(value) };
      if (lease !== undefined) body.lease = lease;
      const res = await call("/v3/kv/put", body);
      return Number((res.header as { revision: string }).revision);
    },
    async del(key) {
      const res = await call("/v3/kv/deleterange", { key: b64(key) });
      return Number((res.header as { revision: string }).revision);
    },
    async get(key) {
      const res = await call("/v3/kv/range", { key: b64(key) });
      const kv = (res.kvs as { value?: string; lease?: string }[] | undefined)?.[0];
      return kv === undefined ? undefined : { value: unb64(kv.value), lease: kv.lease ?? "0" };
    },
    async grant(ttlSeconds) {
      const res = await call("/v3/lease/grant", { TTL: String(ttlSeconds) });
      return String(res.ID);
    },
    async leaseTtl(id) {
      const res = await call("/v3/lease/timetolive", { ID: id });
      return Number(res.TTL ?? -1);
    },
    async revision() {
      const res = await call("/v3/kv/range", { key: b64("\0"), limit: "1" });
      return Number((res.header as { revision: string }).revision);
    },
    async compact(revision) {
      await call("/v3/kv/compaction", { revision: String(revision), physical: true });
    },
    stop,
  };
}
