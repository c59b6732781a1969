/**
 * The admin API against known states: a replica ejected by its 5xx, one
 * unhealthy by its health checks, one drained through its heartbeats (a
 * REGISTER again keeps the drain) and undrained, a drain forgotten when
 * its replica leaves the registry; the routes with their origins (a flag,
 * a file's line, a Tower declaration) and rules; 4xx JSON for bad
 * requests; and `gatehouse routes|services` printing the same as tables.
 */

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  adminPort,
  type Gatehouse,
  runGatehouse,
  startGatehouse,
  stderrMatching,
} from "../helpers/gatehouse.ts";
import { request } from "../helpers/http.ts";
import { deregister, register, towerRequest } from "../helpers/tower.ts";
import { type NamedReplica, startNamedReplica } from "../helpers/named_replica.ts";
import { closedPort, sleep } from "../helpers/backends.ts";

// deno-lint-ignore no-explicit-any
type Json = any;

/** An admin API call: status and parsed JSON body. */
async function api(
  port: number,
  path: string,
  init: { method?: string; body?: string; token?: string } = {},
): Promise<{ status: number; body: Json; type: string }> {
  const headers: [string, string][] = [];
  if (init.token) headers.push(["Authorization", `Bearer ${init.token}`]);
  const res = await request(port, { method: init.method ?? "GET", path, body: init.body, headers });
  return { status: res.status, body: JSON.parse(res.text), type: res.headers["content-type"] };
}

/** A replica of `service` at `address` as /api/services shows it (undefined: not listed). */
async function replicaOf(port: number, service: string, address: string): Promise<Json> {
  const { body } = await api(port, "/api/services");
  return body.services.find((s: Json) => s.name === service)?.replicas
    .find((r: Json) => r.address === address);
}

/** Poll until the replica's state is `state`; its view then. */
async function stateBecomes(
  port: number,
  service: string,
  address: string,
  state: string,
  timeoutMs = 8_000,
): Promise<Json> {
  const deadline = Date.now() + timeoutMs;
  let last: Json;
  while (Date.now() < deadline) {
    last = await replicaOf(port, service, address);
    if (last?.state === state) return last;
    await sleep(50);
  }
  assert.fail(`${service} ${address} never became ${state}: ${JSON.stringify(last)}`);
}

const CONFIG = `services:
  checked:
    health-path: /healthz
    health-interval: 200ms
routes:
  - prefix: /shop
    service: shop
    strip-prefix: true
    timeouts: { upstream: 5s }
  - prefix: /checked
    service: checked
`;

describe("admin API", () => {
  let dir = "";
  let file = "";
  let gh: Gatehouse;
  let admin = 0;
  let tower = 0;
  const replicas: NamedReplica[] = [];
  const start = async (name: string, health = 200) => {
    const r = await startNamedReplica(name, health);
    replicas.push(r);
    return r;
  };
  const addr = (r: NamedReplica) => `127.0.0.1:${r.port}`;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "gatehouse-admin-api-"));
    file = join(dir, "gatehouse.yaml");
    await writeFile(file, CONFIG);
    gh = await startGatehouse([
      "--listen",
      "127.0.0.1:0",
      "--tower-listen",
      "127.0.0.1:0",
      "--config",
      file,
      "--route",
      "/api:api",
      "--route",
      "/web:web",
      "--admin",
      "127.0.0.1:0",
      "--tower-routes",
      "--outlier-5xx",
      "2",
    ]);
    admin = adminPort(gh);
    tower = gh.towerPort!;
  });

  after(async () => {
    await gh?.kill();
    for (const r of replicas) await r.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("lists the routes with their origins, rules and the generation", async () => {
    assert.equal(await towerRequest(tower, "ROUTE|web|/declared"), "OK|ROUTED|web");
    const deadline = Date.now() + 5_000;
    let body: Json;
    do {
      ({ body } = await api(admin, "/api/routes"));
    } while (!body.routes.some((r: Json) => r.route === "/declared") && Date.now() < deadline);
    const by = (route: string) => body.routes.find((r: Json) => r.route === route);
    assert.ok(body.generation >= 2, "the declaration made a new generation");
    assert.deepEqual(by("/api"), {
      route: "/api",
      host: "",
      prefix: "/api",
      stringPrefix: false,
      service: "api",
      origin: "--route",
      rules: {},
    });
    assert.equal(by("/shop").origin, `${file}:6`);
    assert.deepEqual(by("/shop").rules, { "strip-prefix": true, timeouts: { upstream: "5s" } });
    assert.equal(by("/checked").origin, `${file}:10`);
    assert.match(by("/declared").origin, /^tower 127\.0\.0\.1:\d+$/);
    assert.equal(by("/declared").service, "web");
  });

  it("shows a replica ejected by its 5xx, with the count, the reason and the last error", async () => {
    const a = await start("a"), b = await start("b");
    a.status = 500;
    await register(tower, "api", a.port);
    await register(tower, "api", b.port);
    // Each 500 of a's is retried on b (a GET), so the client sees 200; two in a row eject a.
    for (let i = 0; i < 6; i++) {
      assert.equal((await request(gh.httpPort, { path: "/api/x" })).status, 200);
    }
    const view = await stateBecomes(admin, "api", addr(a), "ejected");
    assert.equal(view.ejections, 1);
    assert.equal(view.reason, "2 consecutive 5xx");
    assert.ok(Date.parse(view.ejectedUntil) > Date.now());
    assert.equal(view.source, "embedded Tower");
    assert.notEqual(view.lastError, "");
    assert.ok(Date.now() - Date.parse(view.lastErrorAt) < 10_000);
    const other = await replicaOf(admin, "api", addr(b));
    assert.equal(other.state, "healthy");
    assert.equal(other.ejections, 0);
  });

  it("shows a replica its health checks find unhealthy, and its healthy peer", async () => {
    const c = await start("c"), d = await start("d", 503);
    await register(tower, "checked", c.port);
    await register(tower, "checked", d.port);
    const sick = await stateBecomes(admin, "checked", addr(d), "unhealthy");
    assert.equal(sick.health, "unhealthy");
    const well = await stateBecomes(admin, "checked", addr(c), "healthy");
    assert.equal(well.health, "healthy");
    const { body } = await api(admin, "/api/services");
    assert.equal(body.services.find((s: Json) => s.name === "checked").checked, true);
    // A service only a route names is listed too, with no replica.
    assert.deepEqual(body.services.find((s: Json) => s.name === "shop").replicas, []);
  });

  it("drains a replica through its heartbeats, and undrains it", async () => {
    const e = await start("e"), f = await start("f");
    await register(tower, "web", e.port);
    await register(tower, "web", f.port);
    const drained = await api(admin, "/api/replicas/drain", {
      method: "POST",
      body: JSON.stringify({ service: "web", address: addr(e) }),
    });
    assert.equal(drained.status, 200);
    assert.match(drained.type, /application\/json/);
    assert.equal(drained.body.state, "draining");
    assert.equal(drained.body.drained, true);
    await stderrMatching(gh, new RegExp(`replica web ${addr(e)} draining \\(admin API`));
    const served = e.served;
    for (let i = 0; i < 8; i++) {
      assert.equal((await request(gh.httpPort, { path: "/web/x" })).text, "f\n");
    }
    // Heartbeats (a REGISTER again) keep the drain.
    await register(tower, "web", e.port);
    for (let i = 0; i < 8; i++) {
      assert.equal((await request(gh.httpPort, { path: "/web/x" })).text, "f\n");
    }
    assert.equal(e.served, served, "the drained replica got no request");
    assert.equal((await replicaOf(admin, "web", addr(e))).state, "draining");

    const undrained = await api(admin, "/api/replicas/undrain", {
      method: "POST",
      body: JSON.stringify({ service: "web", address: addr(e) }),
    });
    assert.equal(undrained.status, 200);
    assert.equal(undrained.body.state, "healthy");
    await stderrMatching(gh, new RegExp(`replica web ${addr(e)} undrained \\(admin API`));
    for (let i = 0; i < 8; i++) await request(gh.httpPort, { path: "/web/x" });
    assert.ok(e.served > served, "undrained, it gets requests again");
  });

  it("forgets a drain when the replica leaves the registry", async () => {
    const g = await start("g");
    await register(tower, "web", g.port);
    const body = JSON.stringify({ service: "web", address: addr(g) });
    assert.equal((await api(admin, "/api/replicas/drain", { method: "POST", body })).status, 200);
    await deregister(tower, "web", g.port);
    await stderrMatching(
      gh,
      new RegExp(`replica web ${addr(g)} left the registry; its drain ends`),
    );
    await register(tower, "web", g.port);
    assert.equal((await replicaOf(admin, "web", addr(g))).state, "healthy");
    // Undraining what is not drained is no mistake: nothing changes.
    const again = await api(admin, "/api/replicas/undrain", { method: "POST", body });
    assert.equal(again.status, 200);
    assert.equal(again.body.drained, false);
  });

  it("answers bad requests with a 4xx and a JSON error", async () => {
    const post = (body: string, path = "/api/replicas/drain") =>
      api(admin, path, { method: "POST", body });
    const cases: [string, number, RegExp][] = [
      ["{not json", 400, /must be JSON/],
      ["[1]", 400, /JSON object/],
      ['{"address": "127.0.0.1:1"}', 400, /service is required/],
      ['{"service": "web"}', 400, /address is required/],
      ['{"service": "web", "address": "nowhere"}', 400, /is not HOST:PORT/],
      ['{"service": "nosuch", "address": "127.0.0.1:1"}', 404, /no service nosuch/],
      [
        '{"service": "web", "address": "127.0.0.1:1"}',
        404,
        /no replica 127\.0\.0\.1:1 of service web/,
      ],
    ];
    for (const [body, status, error] of cases) {
      const res = await post(body);
      assert.equal(res.status, status, body);
      assert.match(res.type, /application\/json/);
      assert.match(res.body.error, error, body);
    }
    const wrongMethod = await api(admin, "/api/replicas/drain");
    assert.equal(wrongMethod.status, 405);
    assert.match(wrongMethod.body.error, /takes POST/);
    assert.equal((await api(admin, "/api/routes", { method: "DELETE" })).status, 405);
  });

  it("prints the routes and the services as tables (gatehouse routes|services)", async () => {
    const url = `http://127.0.0.1:${admin}`;
    const routes = await runGatehouse(["routes", "--admin", url]);
    assert.equal(routes.code, 0, routes.stderr);
    const lines = routes.stdout.trim().split("\n");
    assert.match(lines[0], /^ROUTE\s+SERVICE\s+ORIGIN\s+RULES$/);
    assert.ok(lines.some((l) => /^\/api\s+api\s+--route$/.test(l)), routes.stdout);
    assert.ok(
      lines.some((l) =>
        l.includes(`${file}:6`) && l.includes('strip-prefix, timeouts={"upstream":"5s"}')
      ),
      routes.stdout,
    );
    assert.match(lines.at(-1)!, /^config generation \d+, \d+ routes$/);
    const services = await runGatehouse(["services", "--admin", `127.0.0.1:${admin}`]);
    assert.equal(services.code, 0, services.stderr);
    assert.match(
      services.stdout,
      /^SERVICE\s+REPLICA\s+STATE\s+ACTIVE\s+WEIGHT\s+EJECTIONS\s+LAST ERROR$/m,
    );
    assert.match(
      services.stdout,
      /^api\s+127\.0\.0\.1:\d+\s+ejected: 2 consecutive 5xx\s+0\s+1\s+1\s+\S/m,
    );
    assert.match(services.stdout, /^checked\s+127\.0\.0\.1:\d+\s+unhealthy\s/m);
    assert.match(services.stdout, /^shop\s+-\s+\(no replica\)$/m);
    assert.match(services.stdout, /^registry: embedded Tower$/m);
  });
});

describe("gatehouse routes|services failing", () => {
  it("exits 1 with one line when the admin listener cannot be reached", async () => {
    const port = await closedPort();
    const r = await runGatehouse(["services", "--admin", `http://127.0.0.1:${port}`]);
    assert.equal(r.code, 1);
    assert.equal(
      r.stderr.trim(),
      `gatehouse: cannot reach the admin listener at http://127.0.0.1:${port}: connection refused`,
    );
  });

  it("exits 1 when the admin listener wants a token or refuses it, and works with it", async () => {
    const gh = await startGatehouse([
      "--listen",
      "127.0.0.1:0",
      "--tower-listen",
      "127.0.0.1:0",
      "--route",
      "/:web",
      "--admin",
      "127.0.0.1:0",
      "--admin-token",
      "s3cret",
    ]);
    try {
      const url = `http://127.0.0.1:${adminPort(gh)}`;
      const none = await runGatehouse(["routes", "--admin", url]);
      assert.equal(none.code, 1);
      assert.match(none.stderr, /needs a token \(--admin-token or GATEHOUSE_ADMIN_TOKEN\)/);
      const wrong = await runGatehouse(["routes", "--admin", url, "--admin-token", "nope"]);
      assert.equal(wrong.code, 1);
      assert.match(wrong.stderr, /refused the token/);
      const right = await runGatehouse(["routes", "--admin", url, "--admin-token", "s3cret"]);
      assert.equal(right.code, 0, right.stderr);
      assert.match(right.stdout, /^\/\s+web\s+--route$/m);
      const bad = await runGatehouse(["routes", "--admin", "ftp://x"]);
      assert.equal(bad.code, 2);
    } finally {
      await gh.kill();
    }
  });
});
