/**
 * Two Gatehouse processes sharing one 3-member etcd cluster: both route a
 * replica as soon as it registers, both stop when it is gone, and both keep
 * routing when the member their watch uses dies; a weight in a replica's
 * value weighs it; replicas learnt from etcd are health-checked. Prints the measured
 * registration-to-routable and removal-to-503 latencies seen through the
 * ingress.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { EtcdRegistrar } from "../../src/registry/etcd/registrar.ts";
import type { Registration } from "../../src/registry/types.ts";
import { type EtcdCluster, startEtcdCluster } from "../helpers/etcd.ts";
import { type Gatehouse, startGatehouse, stderrMatching } from "../helpers/gatehouse.ts";
import { type EchoBackend, sleep, startEchoBackend } from "../helpers/backends.ts";
import { echoOf, request } from "../helpers/http.ts";

const BASE_PORT = 23300;
const PREFIX = "/gh-e2e";

/** Poll `port` until `ok(status)` holds; returns the time it took. */
async function until(
  port: number,
  ok: (status: number) => boolean,
  timeoutMs = 10_000,
  path = "/svc/x",
): Promise<number> {
  const start = performance.now();
  while (performance.now() - start < timeoutMs) {
    const res = await request(port, { path });
    if (ok(res.status)) return performance.now() - start;
    await sleep(2);
  }
  throw new Error(`port ${port}: condition not met within ${timeoutMs} ms`);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

describe("two ingress processes on one etcd cluster", () => {
  let cluster: EtcdCluster;
  let backend: EchoBackend;
  let registrar: EtcdRegistrar;
  const ingresses: Gatehouse[] = [];

  before(async () => {
    cluster = await startEtcdCluster({ size: 3, basePort: BASE_PORT });
    backend = await startEchoBackend("api");
    for (let i = 0; i < 2; i++) {
      ingresses.push(
        await startGatehouse([
          "--listen",
          "127.0.0.1:0",
          "--registry",
          cluster.url(PREFIX),
          "--route",
          "/svc:api",
        ], { ready: ["http"] }),
      );
    }
    registrar = new EtcdRegistrar({ endpoints: cluster.endpoints, prefix: PREFIX, ttlSeconds: 5 });
  });

  after(async () => {
    for (const g of ingresses) await g.kill();
    await registrar?.close();
    await backend?.close();
    await cluster?.stop();
  });

  it("both answer 503 before, route once registered, and 503 again once deregistered", async () => {
    for (const g of ingresses) {
      const res = await request(g.httpPort, { path: "/svc/x" });
      assert.equal(res.status, 503);
      assert.match(
        res.text,
        /^service unavailable: no live replica is registered \(request id \S+\)\n$/,
      );
      const id = res.headers["x-request-id"];
      await stderrMatching(g, new RegExp(`request ${id} .*no live replica for service "api"`));
    }
    const visible: number[] = [];
    const gone: number[] = [];
    for (let round = 0; round < 5; round++) {
      const reg: Registration = await registrar.register("api", {
        host: "127.0.0.1",
        port: backend.port,
      });
      for (const g of ingresses) visible.push(await until(g.httpPort, (s) => s === 200));
      for (const g of ingresses) {
        const res = await request(g.httpPort, { path: "/svc/x?round=" + round });
        assert.equal(res.status, 200);
        assert.equal(echoOf(res).url, "/svc/x?round=" + round);
      }
      await reg.close();
      for (const g of ingresses) gone.push(await until(g.httpPort, (s) => s === 503));
    }
    console.log(
      `etcd via ingress: register -> routable median ${median(visible).toFixed(1)} ms ` +
        `(max ${Math.max(...visible).toFixed(1)} ms); deregister -> 503 median ` +
        `${median(gone).toFixed(1)} ms (max ${Math.max(...gone).toFixed(1)} ms); 2 ingresses`,
    );
  });

  it("weighs replicas by the weight in their value: 3:1 under round robin", async () => {
    const heavy = await startEchoBackend("heavy");
    const light = await startEchoBackend("light");
    const gh = await startGatehouse([
      "--listen",
      "127.0.0.1:0",
      "--registry",
      cluster.url(PREFIX),
      "--route",
      "/w:weighted",
      "--lb",
      "round-robin",
    ], { ready: ["http"] });
    const regs = [
      await registrar.register("weighted", { host: "127.0.0.1", port: heavy.port, weight: 3 }),
      await registrar.register("weighted", { host: "127.0.0.1", port: light.port }),
    ];
    try {
      // Both registered and seen: wait until the light one answers too.
      const seen = new Set<string>();
      const deadline = Date.now() + 10_000;
      while (seen.size < 2 && Date.now() < deadline) {
        seen.add(echoOf(await request(gh.httpPort, { path: "/w/x" })).backend);
      }
      assert.equal(seen.size, 2);
      const by = new Map<string, number>();
      for (let i = 0; i < 40; i++) {
        const name = echoOf(await request(gh.httpPort, { path: "/w/x" })).backend;
        by.set(name, (by.get(name) ?? 0) + 1);
      }
      assert.deepEqual([by.get("heavy"), by.get("light")], [30, 10]);
    } finally {
      for (const r of regs) await r.close();
      await gh.kill();
      await heavy.close();
      await light.close();
    }
  });

  it("health-checks replicas it learns from etcd: one whose health path fails gets nothing", async () => {
    let sickHealth = 503;
    const well = await startEchoBackend("well");
    const sick = await startEchoBackend("sick", {
      respond: (req, res) => {
        if (req.url !== "/healthz") return false;
        res.statusCode = sickHealth;
        res.end();
        return true;
      },
    });
    const gh = await startGatehouse([
      "--listen",
      "127.0.0.1:0",
      "--registry",
      cluster.url(PREFIX),
      "--route",
      "/h:checked",
      "--health-path",
      "/healthz",
      "--health-interval",
      "300ms",
    ], { ready: ["http"] });
    const regs = [
      await registrar.register("checked", { host: "127.0.0.1", port: well.port }),
      await registrar.register("checked", { host: "127.0.0.1", port: sick.port }),
    ];
    try {
      await until(gh.httpPort, (s) => s === 200, 10_000, "/h/x");
      await stderrMatching(gh, new RegExp(`checked 127.0.0.1:${sick.port} unhealthy`));
      await stderrMatching(gh, new RegExp(`checked 127.0.0.1:${well.port} healthy`));
      const seen = new Set<string>();
      for (let i = 0; i < 20; i++) {
        seen.add(echoOf(await request(gh.httpPort, { path: "/h/x" })).backend);
      }
      assert.deepEqual([...seen], ["well"]);
      sickHealth = 200;
      await stderrMatching(gh, new RegExp(`checked 127.0.0.1:${sick.port} healthy`));
    } finally {
      for (const r of regs) await r.close();
      await gh.kill();
      await well.close();
      await sick.close();
    }
  });

  it("keeps routing on both when an etcd member dies", async () => {
    const reg = await registrar.register("api", { host: "127.0.0.1", port: backend.port });
    for (const g of ingresses) await until(g.httpPort, (s) => s === 200);
    await cluster.kill(0);
    for (const g of ingresses) {
      const res = await request(g.httpPort, { path: "/svc/after-kill" });
      assert.equal(res.status, 200, "the watched view still routes");
    }
    // A change made after the kill still reaches both ingresses.
    await reg.close();
    for (const g of ingresses) await until(g.httpPort, (s) => s === 503, 15_000);
  });
});
