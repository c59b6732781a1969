/**
 * `gatehouse register`, the registration sidecar, as a real process against
 * a standalone Tower and a one-member etcd: registered while it runs,
 * deregistered on SIGTERM or when its command exits, and with a command only
 * once the command's port accepts connections.
 *
 * The sidecar is Gatehouse itself, `gatehouse register ...` (the compiled
 * binary when GATEHOUSE_BIN is set).
 */

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { connect, createServer } from "node:net";
import { createSocket } from "node:dgram";
import process from "node:process";
import { type Gatehouse, REPO_ROOT, startGatehouse } from "../helpers/gatehouse.ts";
import { exitCode, type Sidecar, sidecars, startSidecar } from "../helpers/sidecar.ts";
import { towerRequest } from "../helpers/tower.ts";
import { type EtcdCluster, startEtcdCluster } from "../helpers/etcd.ts";

/** Ports 23200-23210: this file's one-member etcd. */
const ETCD_BASE_PORT = 23200;

const isBun = typeof (process.versions as Record<string, string | undefined>).bun === "string";
/** `<runtime> run [-A] <script>` for a helper script. */
function runScript(script: string): string[] {
  const path = `${REPO_ROOT}tests/helpers/${script}`;
  return [process.execPath, ...(isBun ? ["run", path] : ["run", "-A", path])];
}

/** A port nothing listens on right now. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** A UDP port nothing is bound to right now. */
function freeUdpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = createSocket("udp4");
    socket.once("error", reject);
    socket.bind(0, "127.0.0.1", () => {
      const { port } = socket.address();
      socket.close(() => resolve(port));
    });
  });
}

/** Polls `condition` every 50 ms. */
async function waitUntil(condition: () => boolean, timeoutMs: number, sidecar: Sidecar) {
  const until = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > until) {
      throw new Error(`condition not met within ${timeoutMs} ms\nstderr: ${sidecar.stderr}`);
    }
    await sleep(50);
  }
}

/** True when 127.0.0.1:`port` accepts a TCP connection. */
function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port });
    const done = (ok: boolean) => {
      socket.removeAllListeners();
      socket.destroy();
      resolve(ok);
    };
    socket.once("connect", () => done(true));
    socket.once("error", () => done(false));
  });
}

/** The Tower's LIST entries as `name:ip:port` strings with their TTL left. */
async function list(towerPort: number): Promise<Map<string, number>> {
  const reply = await towerRequest(towerPort, "LIST");
  const fields = reply.split("|");
  assert.equal(fields[0], "OK", reply);
  const entries = new Map<string, number>();
  for (const item of (fields[3] ?? "").split(",")) {
    if (item === "") continue;
    const cut = item.lastIndexOf(":");
    entries.set(item.slice(0, cut), Number(item.slice(cut + 1)));
  }
  return entries;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

describe("gatehouse register with a Tower", () => {
  let tower: Gatehouse;
  let registry: string;

  before(async () => {
    tower = await startGatehouse(["tower", "--listen", "127.0.0.1:0"]);
    registry = `tower://127.0.0.1:${tower.towerPort}`;
  });

  after(async () => {
    for (const sidecar of [...sidecars]) await sidecar.kill();
    await tower?.kill();
  });

  it("registers at once, heartbeats, and deregisters on SIGTERM", async () => {
    const port = await freePort();
    const sidecar = startSidecar([
      "--registry",
      registry,
      "--service",
      "plain",
      "--addr",
      `127.0.0.1:${port}`,
      "--ttl",
      "3s",
    ]);
    const line = await sidecar.line(/^gatehouse: registered /);
    assert.equal(line, `gatehouse: registered plain 127.0.0.1:${port} in ${registry}`);
    assert.ok((await list(tower.towerPort!)).has(`plain:127.0.0.1:${port}`));

    // --ttl 3s means a REGISTER every second, so the Tower's 30 s TTL stays
    // near full; without heartbeats it would be down to 26 s by now.
    await sleep(4000);
    const ttlLeft = (await list(tower.towerPort!)).get(`plain:127.0.0.1:${port}`);
    assert.ok(ttlLeft !== undefined && ttlLeft >= 28, `TTL left ${ttlLeft}`);

    sidecar.signal("SIGTERM");
    assert.equal(await exitCode(sidecar), 0, sidecar.stderr);
    assert.ok(
      sidecar.lines.includes(`gatehouse: deregistered plain 127.0.0.1:${port} from ${registry}`),
      JSON.stringify(sidecar.lines),
    );
    assert.equal((await list(tower.towerPort!)).has(`plain:127.0.0.1:${port}`), false);
  });

  it("with a command: registers only once the port accepts; SIGTERM reaches the command after deregistering", async () => {
    const port = await freePort();
    const sidecar = startSidecar([
      "--registry",
      registry,
      "--service",
      "late",
      "--addr",
      `127.0.0.1:${port}`,
      "--",
      ...runScript("slow_http_server.ts"),
      String(port),
      "2000",
    ]);
    const key = `late:127.0.0.1:${port}`;
    // Until the registered line: whenever the Tower lists the replica, its
    // port must already accept connections.
    let registered = false;
    sidecar.line(/^gatehouse: registered /, 60_000).then(() => (registered = true), () => {});
    let polls = 0;
    while (!registered && sidecar.proc.exitCode === null && polls < 600) {
      polls++;
      if ((await list(tower.towerPort!)).has(key)) {
        assert.ok(await accepts(port), "listed before the port accepted connections");
      }
      await sleep(100);
    }
    await sidecar.line(/^gatehouse: registered /, 60_000);
    const listening = sidecar.lines.indexOf(`server: listening on ${port}`);
    const registeredAt = sidecar.lines.indexOf(
      `gatehouse: registered late 127.0.0.1:${port} in ${registry}`,
    );
    assert.ok(listening >= 0 && registeredAt > listening, JSON.stringify(sidecar.lines));
    assert.ok((await list(tower.towerPort!)).has(key));
    assert.ok(await accepts(port));

    sidecar.signal("SIGTERM");
    assert.equal(await exitCode(sidecar), 0, sidecar.stderr);
    const deregistered = sidecar.lines.indexOf(
      `gatehouse: deregistered late 127.0.0.1:${port} from ${registry}`,
    );
    const forwarded = sidecar.lines.indexOf("server: SIGTERM");
    assert.ok(
      deregistered >= 0 && forwarded > deregistered,
      `expected deregistration before the command's SIGTERM: ${JSON.stringify(sidecar.lines)}`,
    );
    assert.equal((await list(tower.towerPort!)).has(key), false);
    assert.equal(await accepts(port), false, "the command still runs");
  });

  it("with a command: deregisters when the command exits and exits with its status", async () => {
    const port = await freePort();
    const sidecar = startSidecar([
      "--registry",
      registry,
      "--service",
      "brief",
      "--addr",
      `127.0.0.1:${port}`,
      "--",
      ...runScript("slow_http_server.ts"),
      String(port),
      "0",
      "3000",
      "3",
    ]);
    await sidecar.line(/^gatehouse: registered brief /, 60_000);
    assert.ok((await list(tower.towerPort!)).has(`brief:127.0.0.1:${port}`));
    assert.equal(await exitCode(sidecar), 3, sidecar.stderr);
    assert.ok(
      sidecar.lines.includes(`gatehouse: deregistered brief 127.0.0.1:${port} from ${registry}`),
      JSON.stringify(sidecar.lines),
    );
    assert.equal((await list(tower.towerPort!)).has(`brief:127.0.0.1:${port}`), false);
  });

  it("never registers a command that exits before its port accepts", async () => {
    const port = await freePort();
    const sidecar = startSidecar([
      "--registry",
      registry,
      "--service",
      "never",
      "--addr",
      `127.0.0.1:${port}`,
      "--",
      process.execPath,
      "eval",
      "Deno.exit(4)",
    ]);
    if (isBun) {
      await sidecar.kill(); // `eval` is Deno's; nothing to learn under Bun.
      return;
    }
    assert.equal(await exitCode(sidecar), 4, sidecar.stderr);
    assert.equal(sidecar.lines.some((l) => l.startsWith("gatehouse: registered")), false);
    assert.match(sidecar.stderr, /exited \(status 4\) before/);
    assert.equal((await list(tower.towerPort!)).has(`never:127.0.0.1:${port}`), false);
  });

  it("exits 2 on bad flags", async () => {
    const missing = startSidecar(["--registry", registry, "--addr", "127.0.0.1:1"]);
    assert.equal(await exitCode(missing), 2);
    assert.match(missing.stderr, /--service is required/);
    const scheme = startSidecar([
      "--registry",
      "zookeeper://127.0.0.1",
      "--service",
      "x",
      "--addr",
      "127.0.0.1:1",
    ]);
    assert.equal(await exitCode(scheme), 2);
    assert.match(scheme.stderr, /not a registry URL/);
    const dns = startSidecar([
      "--registry",
      "dns://127.0.0.1:53",
      "--service",
      "x",
      "--addr",
      "127.0.0.1:1",
    ]);
    assert.equal(await exitCode(dns), 2);
    assert.match(dns.stderr, /read-only/);
    const weight = startSidecar([
      "--registry",
      registry,
      "--service",
      "x",
      "--addr",
      "127.0.0.1:1",
      "--weight",
      "0",
    ]);
    assert.equal(await exitCode(weight), 2);
    assert.match(weight.stderr, /--weight: "0" must be a whole number from 1 to 1000/);
  });

  it("keeps trying while the Tower is not there yet", async () => {
    const towerPort = await freeUdpPort();
    const port = await freePort();
    const sidecar = startSidecar([
      "--registry",
      `tower://127.0.0.1:${towerPort}`,
      "--service",
      "patient",
      "--addr",
      `127.0.0.1:${port}`,
    ]);
    let late: Gatehouse | undefined;
    try {
      await waitUntil(() => /cannot register yet/.test(sidecar.stderr), 30_000, sidecar);
      late = await startGatehouse(["tower", "--listen", `127.0.0.1:${towerPort}`]);
      await sidecar.line(/^gatehouse: registered patient /, 30_000);
      assert.ok((await list(towerPort)).has(`patient:127.0.0.1:${port}`));
      sidecar.signal("SIGTERM");
      assert.equal(await exitCode(sidecar), 0, sidecar.stderr);
      assert.equal((await list(towerPort)).has(`patient:127.0.0.1:${port}`), false);
    } finally {
      await late?.kill();
    }
  });
});

describe("gatehouse register with etcd", () => {
  let cluster: EtcdCluster;

  before(async () => {
    cluster = await startEtcdCluster({ size: 1, basePort: ETCD_BASE_PORT });
  });

  after(async () => {
    for (const sidecar of [...sidecars]) await sidecar.kill();
    await cluster?.stop();
  });

  it("holds a lease-bound key while running and removes it on SIGTERM", async () => {
    const port = await freePort();
    const registry = cluster.url("/sidecar");
    const key = `/sidecar/api/127.0.0.1:${port}`;
    const sidecar = startSidecar([
      "--registry",
      registry,
      "--service",
      "api",
      "--addr",
      `127.0.0.1:${port}`,
      "--ttl",
      "3s",
    ]);
    await sidecar.line(/^gatehouse: registered api /);
    const entry = await cluster.get(key);
    assert.ok(entry, "key missing after registration");
    assert.deepEqual(JSON.parse(entry.value), { host: "127.0.0.1", port });
    assert.notEqual(entry.lease, "0");

    // Twice the lease TTL: only keepalives keep the key.
    await sleep(6500);
    assert.ok(await cluster.get(key), "key expired despite keepalives");
    assert.ok((await cluster.leaseTtl(entry.lease)) > 0);

    sidecar.signal("SIGTERM");
    assert.equal(await exitCode(sidecar), 0, sidecar.stderr);
    assert.ok(sidecar.lines.some((l) => l.startsWith("gatehouse: deregistered api ")));
    assert.equal(await cluster.get(key), undefined);
    assert.equal(await cluster.leaseTtl(entry.lease), -1);
  });
});
