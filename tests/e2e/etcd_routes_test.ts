/**
 * Routes declared in etcd, against a real one-member etcd: a key under
 * `<prefix>/routes/` is a route as soon as it is PUT and none once it is
 * deleted or its lease runs out, both for the registry's watchers and
 * through an ingress (404 after); a value that is no JSON object is logged
 * once and left out, and never read as a replica; `gatehouse register
 * --route` declares its routes on its replica's lease and withdraws them
 * on SIGTERM. Prints how long a route took to be routable and to go.
 */

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { EtcdRegistry } from "../../src/registry/etcd/registry.ts";
import type { DeclaredRoute } from "../../src/registry/types.ts";
import { type EtcdCluster, startEtcdCluster } from "../helpers/etcd.ts";
import { type Gatehouse, startGatehouse, stderrMatching } from "../helpers/gatehouse.ts";
import { type EchoBackend, sleep, startEchoBackend } from "../helpers/backends.ts";
import { echoOf, getOrNull, request, statusBecomes } from "../helpers/http.ts";
import { exitCode, sidecars, startSidecar } from "../helpers/sidecar.ts";

/** Ports 23400-23410: this file's one-member etcd. */
const BASE_PORT = 23400;
const PREFIX = "/declared";

/** Poll until `condition` holds. */
async function waitFor(condition: () => boolean, withinMs: number, what: () => string) {
  const until = Date.now() + withinMs;
  while (!condition()) {
    if (Date.now() > until) throw new Error(`not within ${withinMs} ms: ${what()}`);
    await sleep(5);
  }
}

describe("routes declared in etcd", () => {
  let cluster: EtcdCluster;
  let api: EchoBackend;
  let ingress: Gatehouse;

  before(async () => {
    cluster = await startEtcdCluster({ size: 1, basePort: BASE_PORT });
    api = await startEchoBackend("api");
    // No --route: every route comes from etcd.
    ingress = await startGatehouse(
      ["--listen", "127.0.0.1:0", "--registry", cluster.url(PREFIX)],
      { ready: ["http"] },
    );
    await cluster.put(`${PREFIX}/api/127.0.0.1:${api.port}`, "");
  });

  after(async () => {
    for (const sidecar of [...sidecars]) await sidecar.kill();
    await ingress?.kill();
    await api?.close();
    await cluster?.stop();
  });

  it("tells watchers of a PUT, a DELETE and an expired lease; leaves out a value that is no route", async () => {
    const logged: string[] = [];
    const registry = await EtcdRegistry.connect({
      endpoints: cluster.endpoints,
      prefix: "/watched",
      log: (line) => logged.push(line),
    });
    try {
      const sets: (readonly DeclaredRoute[])[] = [];
      registry.watchRoutes((routes) => sets.push(routes));
      assert.equal(sets.length, 1);
      assert.equal(sets[0].length, 0);
      await waitFor(() => registry.watchingEndpoint !== undefined, 10_000, () => "no watch");

      const revision = await cluster.put(
        "/watched/routes/api",
        '{"prefix":"/api","service":"api","strip-prefix":true}',
      );
      await waitFor(() => sets.length === 2, 2_000, () => JSON.stringify(sets));
      assert.deepEqual(sets[1], [{
        spec: { prefix: "/api", service: "api", "strip-prefix": true },
        origin: "etcd /watched/routes/api",
        order: revision,
      }]);

      // Not a route: logged once, left out, and never a replica.
      await cluster.put("/watched/routes/bad", "/api:api");
      await cluster.put("/watched/routes/bad", "/api:api");
      await cluster.put("/watched/routes/127.0.0.1:8081", '{"host":"127.0.0.1","port":8081}');
      await waitFor(() => sets.length === 3, 2_000, () => JSON.stringify(sets));
      await sleep(200);
      assert.equal(sets.length, 3, "a rewrite of a bad value is no change");
      assert.deepEqual(sets[2].map((r) => r.origin), [
        "etcd /watched/routes/api",
        "etcd /watched/routes/127.0.0.1:8081",
      ]);
      assert.deepEqual(
        logged.filter((l) => l.includes("is not a route")),
        ['etcd: /watched/routes/bad is not a route (a JSON object): "/api:api"; left out'],
      );
      assert.deepEqual(registry.services(), []);
      assert.deepEqual(registry.resolve("routes"), []);

      await cluster.del("/watched/routes/api");
      await cluster.del("/watched/routes/127.0.0.1:8081");
      await waitFor(() => sets.at(-1)!.length === 0, 2_000, () => JSON.stringify(sets));

      // Bound to a lease: gone when the lease runs out.
      const lease = await cluster.grant(2);
      await cluster.put("/watched/routes/brief", '{"prefix":"/brief","service":"api"}', lease);
      await waitFor(() => sets.at(-1)!.length === 1, 2_000, () => JSON.stringify(sets));
      const start = performance.now();
      await waitFor(() => sets.at(-1)!.length === 0, 10_000, () => JSON.stringify(sets));
      console.log(
        `etcd routes: a lease-bound route went ${
          (performance.now() - start).toFixed(0)
        } ms after its PUT`,
      );
    } finally {
      await registry.close();
    }
  });

  it("an ingress routes a route PUT into etcd at once, and answers 404 once it is deleted", async () => {
    const key = `${PREFIX}/routes/api`;
    assert.equal((await getOrNull(ingress.httpPort, "/api/users"))?.status, 404);
    await cluster.put(key, '{"prefix":"/api","service":"api","strip-prefix":true}');
    const routable = await statusBecomes(ingress.httpPort, "/api/users", 200, 2_000);
    const res = await getOrNull(ingress.httpPort, "/api/users");
    assert.equal(echoOf(res!).backend, "api");
    assert.equal(echoOf(res!).url, "/users");
    await cluster.del(key);
    const gone = await statusBecomes(ingress.httpPort, "/api/users", 404, 2_000);
    console.log(
      `etcd routes through the ingress: routable ${routable.toFixed(1)} ms after the PUT, ` +
        `404 ${gone.toFixed(1)} ms after the DELETE`,
    );
    await stderrMatching(ingress, /routes declared in .*; removed \/api/);
  });

  it("a route key on a lease stops being routed when the lease runs out", async () => {
    const lease = await cluster.grant(2);
    await cluster.put(`${PREFIX}/routes/leased`, '{"prefix":"/leased","service":"api"}', lease);
    await statusBecomes(ingress.httpPort, "/leased", 200, 2_000);
    await statusBecomes(ingress.httpPort, "/leased", 404, 10_000);
  });

  it("gatehouse register --route declares on the replica's lease and withdraws on SIGTERM", async () => {
    const app = await startEchoBackend("app");
    try {
      const registry = cluster.url(PREFIX);
      const sidecar = startSidecar([
        "--registry",
        registry,
        "--service",
        "app",
        "--addr",
        `127.0.0.1:${app.port}`,
        "--ttl",
        "3s",
        "--route",
        "/app",
        "--route",
        "shop.example.com/",
      ]);
      await sidecar.line(/^gatehouse: registered app .* with routes \/app shop\.example\.com\/$/);
      const replica = await cluster.get(`${PREFIX}/app/127.0.0.1:${app.port}`);
      const route = await cluster.get(`${PREFIX}/routes/app/127.0.0.1:${app.port}/%2Fapp`);
      const hosted = await cluster.get(
        `${PREFIX}/routes/app/127.0.0.1:${app.port}/shop.example.com%2F`,
      );
      assert.ok(replica && route && hosted, "keys missing after registration");
      assert.deepEqual(JSON.parse(route.value), { prefix: "/app", service: "app" });
      assert.deepEqual(JSON.parse(hosted.value), {
        host: "shop.example.com",
        prefix: "/",
        service: "app",
      });
      assert.equal(route.lease, replica.lease);
      assert.equal(hosted.lease, replica.lease);

      await statusBecomes(ingress.httpPort, "/app/x", 200, 2_000);
      const shop = await request(ingress.httpPort, { path: "/", host: "shop.example.com" });
      assert.equal(shop.status, 200);
      assert.equal(echoOf(shop).backend, "app");
      // Twice the lease TTL: only keepalives keep the routes.
      await sleep(6_500);
      assert.equal((await getOrNull(ingress.httpPort, "/app/x"))?.status, 200, "the route expired");

      sidecar.signal("SIGTERM");
      assert.equal(await exitCode(sidecar), 0, sidecar.stderr);
      assert.equal(
        await cluster.get(`${PREFIX}/routes/app/127.0.0.1:${app.port}/%2Fapp`),
        undefined,
      );
      await statusBecomes(ingress.httpPort, "/app/x", 404, 2_000);
    } finally {
      await app.close();
    }
  });

  it('gatehouse register refuses the service "routes" in etcd', async () => {
    const sidecar = startSidecar([
      "--registry",
      cluster.url(PREFIX),
      "--service",
      "routes",
      "--addr",
      `127.0.0.1:${api.port}`,
    ]);
    assert.equal(await exitCode(sidecar), 2);
    assert.match(
      sidecar.stderr,
      /--service: "routes" cannot be a service name in etcd: \/declared\/routes\/ holds declared routes/,
    );
  });
});
