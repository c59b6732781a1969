/**
 * Routes declared through the Tower, end to end: ROUTE datagrams to an
 * ingress's embedded Tower (`--tower-routes`) route requests at once, an
 * UNROUTE or 30 s without a ROUTE takes them away (404), LIST is byte for
 * byte what it was; a Tower without the flag or with a secret refuses what
 * it must; an ingress using a remote Tower reads its routes with ROUTES
 * (and says once when a Tower has none); `--procs` workers route them too;
 * and `gatehouse register --route` declares and withdraws its routes with
 * its replica. Real processes, real sockets.
 */

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { type EchoBackend, sleep, startEchoBackend } from "../helpers/backends.ts";
import {
  freePortFlags,
  type Gatehouse,
  startGatehouse,
  stderrMatching,
} from "../helpers/gatehouse.ts";
import { echoOf, getOrNull, type HttpResponse, statusBecomes } from "../helpers/http.ts";
import { register, towerRequest } from "../helpers/tower.ts";
import { exitCode, sidecars, startSidecar } from "../helpers/sidecar.ts";
import { TowerClient } from "../../src/tower/client.ts";
import { bindUdp } from "../../src/runtime/udp.ts";

describe("routes declared with an ingress's embedded Tower (--tower-routes)", () => {
  let gh: Gatehouse;
  let api: EchoBackend;

  before(async () => {
    api = await startEchoBackend("api");
    // No --route: every route comes from the services.
    gh = await startGatehouse([...freePortFlags(), "--tower-routes"]);
    await register(gh.towerPort!, "api", api.port);
  });

  after(async () => {
    for (const sidecar of [...sidecars]) await sidecar.kill();
    await gh?.kill();
    await api?.close();
  });

  it("routes a ROUTE's prefix at once, with its rules; an UNROUTE takes it away (404)", async () => {
    assert.equal((await getOrNull(gh.httpPort, "/api/users"))?.status, 404);
    assert.equal(await towerRequest(gh.towerPort!, "ROUTE|api|/api"), "OK|ROUTED|api");
    const res = await getOrNull(gh.httpPort, "/api/users");
    assert.equal(res?.status, 200, res?.text);
    assert.equal(echoOf(res!).backend, "api");
    assert.equal(echoOf(res!).url, "/api/users");

    // A ROUTE with other rules changes the route.
    assert.equal(
      await towerRequest(gh.towerPort!, 'ROUTE|api|/api|{"strip-prefix":true}'),
      "OK|ROUTED|api",
    );
    assert.equal(echoOf((await getOrNull(gh.httpPort, "/api/users"))!).url, "/users");

    assert.equal(await towerRequest(gh.towerPort!, "UNROUTE|api|/api"), "OK|UNROUTED|api");
    const gone = await getOrNull(gh.httpPort, "/api/users");
    assert.equal(gone?.status, 404, gone?.text);
    await stderrMatching(gh, /config generation \d+: routes declared in .*; removed \/api/);
  });

  it("answers LIST, LOOKUP and LOOKUPALL byte for byte as without routes", async () => {
    const answers = async () => {
      // A heartbeat just before, so the TTL left reads 30 s both times.
      await register(gh.towerPort!, "api", api.port);
      const out: string[] = [];
      for (const line of ["LIST", "LOOKUPALL|api", "LOOKUP|listed", "LOOKUPALL|listed"]) {
        out.push(await towerRequest(gh.towerPort!, line));
      }
      return out;
    };
    const before = await answers();
    assert.equal(before[0], `OK|LIST|1|api:127.0.0.1:${api.port}:30`);
    assert.equal(await towerRequest(gh.towerPort!, "ROUTE|listed|/l"), "OK|ROUTED|listed");
    assert.equal(
      await towerRequest(gh.towerPort!, 'ROUTE|api|a.example.com/x|{"x":"a|b,c:d"}'),
      "OK|ROUTED|api",
    );
    assert.deepEqual(await answers(), before);
    await towerRequest(gh.towerPort!, "UNROUTE|listed|/l");
    await towerRequest(gh.towerPort!, "UNROUTE|api|a.example.com/x");
  });

  it("gatehouse register --route declares with its replica and withdraws on SIGTERM", async () => {
    const app = await startEchoBackend("app");
    try {
      const sidecar = startSidecar([
        "--registry",
        `tower://127.0.0.1:${gh.towerPort}`,
        "--service",
        "app",
        "--addr",
        `127.0.0.1:${app.port}`,
        "--route",
        "/app",
        "--route",
        "/static*",
      ]);
      const line = await sidecar.line(/^gatehouse: registered /);
      assert.equal(
        line,
        `gatehouse: registered app 127.0.0.1:${app.port} in tower://127.0.0.1:${gh.towerPort} ` +
          "with routes /app /static*",
      );
      for (const path of ["/app/x", "/statics.css"]) {
        const res = await getOrNull(gh.httpPort, path);
        assert.equal(res?.status, 200, `${path}: ${res?.text}`);
        assert.equal(echoOf(res!).backend, "app");
      }
      sidecar.signal("SIGTERM");
      assert.equal(await exitCode(sidecar), 0, sidecar.stderr);
      assert.equal((await getOrNull(gh.httpPort, "/app/x"))?.status, 404);
      assert.equal((await getOrNull(gh.httpPort, "/statics.css"))?.status, 404);
      assert.equal(await towerRequest(gh.towerPort!, "LOOKUP|app"), "ERR|NOT_FOUND|app");
    } finally {
      await app.close();
    }
  });

  it("forgets a route 30 s after its last ROUTE", async () => {
    assert.equal(await towerRequest(gh.towerPort!, "ROUTE|api|/brief"), "OK|ROUTED|api");
    const declared = Date.now();
    assert.equal((await getOrNull(gh.httpPort, "/brief"))?.status, 200);
    await sleep(28_000);
    assert.equal((await getOrNull(gh.httpPort, "/brief"))?.status, 200, "expired early");
    // The expiry is told when it happens, not at the next lookup.
    await statusBecomes(gh.httpPort, "/brief", 404, 5_000);
    const after = Date.now() - declared;
    assert.ok(after >= 30_000 && after < 32_500, `gone after ${after} ms`);
  });
});

describe("a Tower that must refuse a ROUTE", () => {
  let plain: Gatehouse;
  let guarded: Gatehouse;
  let api: EchoBackend;

  before(async () => {
    api = await startEchoBackend("api");
    plain = await startGatehouse([...freePortFlags(), "--route", "/web:web"]);
    guarded = await startGatehouse(
      [...freePortFlags(), "--tower-routes", "--tower-secret", "s3cret"],
    );
    await register(plain.towerPort!, "api", api.port);
  });

  after(async () => {
    await plain?.kill();
    await guarded?.kill();
    await api?.close();
  });

  it("without --tower-routes: ERR|ROUTES_DISABLED, and nothing is routed", async () => {
    assert.equal(await towerRequest(plain.towerPort!, "ROUTE|api|/api"), "ERR|ROUTES_DISABLED|api");
    assert.equal(
      await towerRequest(plain.towerPort!, "UNROUTE|api|/api"),
      "ERR|ROUTES_DISABLED|api",
    );
    assert.equal(await towerRequest(plain.towerPort!, "ROUTES"), "ERR|ROUTES_DISABLED");
    assert.equal((await getOrNull(plain.httpPort, "/api"))?.status, 404);
  });

  it("gatehouse register --route against it exits 1, saying why, and leaves no replica", async () => {
    const sidecar = startSidecar([
      "--registry",
      `tower://127.0.0.1:${plain.towerPort}`,
      "--service",
      "late",
      "--addr",
      `127.0.0.1:${api.port}`,
      "--route",
      "/late",
    ]);
    assert.equal(await exitCode(sidecar), 1);
    assert.match(
      sidecar.stderr,
      /answered ROUTE late \/late with "ERR\|ROUTES_DISABLED\|late" \(the Tower takes no declared routes: run it with --routes/,
    );
    assert.equal(await towerRequest(plain.towerPort!, "LOOKUP|late"), "ERR|NOT_FOUND|late");
  });

  it("with a secret: an unsigned ROUTE is UNAUTHORIZED; a signed one routes", async () => {
    await register(guarded.towerPort!, "api", api.port).catch(() => {});
    assert.equal(await towerRequest(guarded.towerPort!, "ROUTE|api|/api"), "ERR|UNAUTHORIZED|api");
    assert.equal(await towerRequest(guarded.towerPort!, "ROUTES"), await routesOf(guarded));
    assert.equal((await getOrNull(guarded.httpPort, "/api"))?.status, 404);
    const client = await TowerClient.open("127.0.0.1", guarded.towerPort!, {
      bindUdp,
      secret: "s3cret",
    });
    try {
      assert.deepEqual(
        await client.send(`REGISTER|api|127.0.0.1|${api.port}`),
        { kind: "REGISTERED", name: "api" },
      );
      assert.deepEqual(await client.send("ROUTE|api|/api"), { kind: "ROUTED", name: "api" });
      assert.equal((await getOrNull(guarded.httpPort, "/api"))?.status, 200);
      assert.equal(
        await towerRequest(guarded.towerPort!, "UNROUTE|api|/api"),
        "ERR|UNAUTHORIZED|api",
      );
      assert.equal((await getOrNull(guarded.httpPort, "/api"))?.status, 200);
      assert.deepEqual(await client.send("UNROUTE|api|/api"), { kind: "UNROUTED", name: "api" });
      assert.equal((await getOrNull(guarded.httpPort, "/api"))?.status, 404);
    } finally {
      client.close();
    }
  });
});

/** The Tower's ROUTES page 0 with no route: the version is its own. */
async function routesOf(gh: Gatehouse): Promise<string> {
  const reply = await towerRequest(gh.towerPort!, "ROUTES");
  assert.match(reply, /^OK\|ROUTES\|[a-z0-9]+\.\d+\|0\|1\|0$/);
  return reply;
}

describe("an ingress using a remote Tower", () => {
  let tower: Gatehouse;
  let old: Gatehouse;
  let ingress: Gatehouse;
  let blind: Gatehouse;
  let api: EchoBackend;

  before(async () => {
    api = await startEchoBackend("api");
    tower = await startGatehouse(["tower", "--listen", "127.0.0.1:0", "--routes"]);
    old = await startGatehouse(["tower", "--listen", "127.0.0.1:0"]);
    ingress = await startGatehouse([
      "--listen",
      "127.0.0.1:0",
      "--tower",
      `127.0.0.1:${tower.towerPort}`,
    ]);
    blind = await startGatehouse([
      "--listen",
      "127.0.0.1:0",
      "--tower",
      `127.0.0.1:${old.towerPort}`,
    ]);
    await register(tower.towerPort!, "api", api.port);
  });

  after(async () => {
    await ingress?.kill();
    await blind?.kill();
    await tower?.kill();
    await old?.kill();
    await api?.close();
  });

  it("routes what services declare with the Tower within about a second, and stops after UNROUTE", async () => {
    assert.equal(await towerRequest(tower.towerPort!, "ROUTE|api|/api"), "OK|ROUTED|api");
    const appeared = await statusBecomes(ingress.httpPort, "/api/x", 200, 3_000);
    assert.equal(await towerRequest(tower.towerPort!, "UNROUTE|api|/api"), "OK|UNROUTED|api");
    const gone = await statusBecomes(ingress.httpPort, "/api/x", 404, 3_000);
    console.log(`remote Tower routes: routable after ${appeared} ms, gone after ${gone} ms`);
  });

  it("says once that a Tower without --routes serves none, and routes nothing from it", async () => {
    await register(old.towerPort!, "api", api.port);
    assert.equal(await towerRequest(old.towerPort!, "ROUTE|api|/api"), "ERR|ROUTES_DISABLED|api");
    await stderrMatching(
      blind,
      /the Tower at 127\.0\.0\.1:\d+ answered ROUTES with "ERR\|ROUTES_DISABLED": it serves no declared routes/,
    );
    await sleep(2_500);
    assert.equal(blind.stderr.match(/serves no declared routes/g)?.length, 1, blind.stderr);
    assert.equal((await getOrNull(blind.httpPort, "/api"))?.status, 404);
  });
});

describe("--procs 2 with --tower-routes", () => {
  let gh: Gatehouse;
  let api: EchoBackend;

  before(async () => {
    api = await startEchoBackend("api");
    gh = await startGatehouse([...freePortFlags(), "--procs", "2", "--tower-routes"]);
    await register(gh.towerPort!, "api", api.port);
  });

  after(async () => {
    await gh?.kill();
    await api?.close();
  });

  /** With the primary stopped, fresh connections reach only the worker. */
  async function workerAnswers(path: string, n: number): Promise<HttpResponse[]> {
    gh.signal("SIGSTOP");
    try {
      const all = await Promise.all(
        Array.from({ length: n }, () => getOrNull(gh.httpPort, path, 1_500)),
      );
      return all.filter((r) => r !== null) as HttpResponse[];
    } finally {
      gh.signal("SIGCONT");
    }
  }

  it("the worker routes a declared route too, and drops it on UNROUTE", async () => {
    assert.equal(await towerRequest(gh.towerPort!, "ROUTE|api|/api"), "OK|ROUTED|api");
    await sleep(200);
    const routed = await workerAnswers("/api", 40);
    assert.ok(routed.length > 0, "no connection was answered while the primary was stopped");
    for (const r of routed) assert.equal(r.status, 200, "the worker knows the route");
    assert.equal(await towerRequest(gh.towerPort!, "UNROUTE|api|/api"), "OK|UNROUTED|api");
    await sleep(200);
    const dropped = await workerAnswers("/api", 40);
    assert.ok(dropped.length > 0);
    for (const r of dropped) assert.equal(r.status, 404, "the worker dropped the route");
  });
});
