/**
 * A standalone Tower (`gatehouse tower`) and an ingress that asks it per
 * request (`--tower HOST:PORT`).
 */

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { type EchoBackend, startEchoBackend } from "../helpers/backends.ts";
import { type Gatehouse, startGatehouse, stderrMatching } from "../helpers/gatehouse.ts";
import { echoOf, request } from "../helpers/http.ts";
import { deregister, ping, register, towerRequest } from "../helpers/tower.ts";

describe("remote Tower", () => {
  let tower: Gatehouse;
  let ingress: Gatehouse;
  let one: EchoBackend;
  let two: EchoBackend;

  before(async () => {
    one = await startEchoBackend("web-1");
    two = await startEchoBackend("web-2");
    tower = await startGatehouse(["tower", "--listen", "127.0.0.1:0"]);
    ingress = await startGatehouse([
      "--listen",
      "127.0.0.1:0",
      "--tower",
      `127.0.0.1:${tower.towerPort}`,
      "--route",
      "/:web",
    ]);
  });

  after(async () => {
    await ingress?.kill();
    await tower?.kill();
    await one?.close();
    await two?.close();
  });

  it("runs a standalone Tower that answers PING", async () => {
    assert.equal(tower.towerHost, "127.0.0.1");
    assert.equal(await ping(tower.towerPort!), "OK|PONG|tower");
  });

  it("does not start its own Tower when --tower is given", () => {
    assert.equal(
      ingress.stdoutLines.some((l) => l.startsWith("gatehouse: tower on udp")),
      false,
      `unexpected embedded Tower: ${ingress.stdoutLines.join(" | ")}`,
    );
  });

  it("routes to a backend registered on the standalone Tower", async () => {
    await register(tower.towerPort!, "web", one.port);
    const res = await request(ingress.httpPort, { path: "/hello" });
    assert.equal(res.status, 200, res.text);
    assert.equal(echoOf(res).backend, "web-1");
  });

  it("spreads requests over the Tower's replicas", async () => {
    await register(tower.towerPort!, "web", two.port);
    const seen = new Set<string>();
    for (let i = 0; i < 6; i++) {
      const res = await request(ingress.httpPort, { path: `/rr/${i}` });
      assert.equal(res.status, 200, res.text);
      seen.add(echoOf(res).backend);
    }
    assert.deepEqual([...seen].sort(), ["web-1", "web-2"]);
  });

  it("weighs replicas by the weight they registered with, through LOOKUPALL", async () => {
    assert.equal(
      await towerRequest(tower.towerPort!, `REGISTER|web|127.0.0.1|${one.port}|weight=3`),
      "OK|REGISTERED|web",
    );
    const by = new Map<string, number>();
    for (let i = 0; i < 40; i++) {
      const name = echoOf(await request(ingress.httpPort, { path: `/w/${i}` })).backend;
      by.set(name, (by.get(name) ?? 0) + 1);
    }
    // 3:1 (the running credit of the earlier even turns may lend one either way).
    assert.ok(Math.abs((by.get("web-1") ?? 0) - 30) <= 1, JSON.stringify([...by]));
  });

  it("sees a DEREGISTER on the remote Tower at the next request", async () => {
    await deregister(tower.towerPort!, "web", one.port);
    await deregister(tower.towerPort!, "web", two.port);
    const res = await request(ingress.httpPort, { path: "/gone" });
    assert.equal(res.status, 503, res.text);
    assert.match(
      res.text,
      /^service unavailable: no live replica is registered \(request id \S+\)\n$/,
    );
    const id = res.headers["x-request-id"];
    await stderrMatching(ingress, new RegExp(`request ${id} .*no live replica for service "web"`));
  });

  it("answers (does not hang) when the remote Tower is gone", async () => {
    await register(tower.towerPort!, "web", one.port);
    await tower.kill();
    const res = await request(ingress.httpPort, { path: "/no-tower" }, {
      responseTimeoutMs: 30_000,
    });
    // A stale answer (200 from the last known replica) or a clean 5xx are both fine.
    assert.ok([200, 502, 503, 504].includes(res.status), `got ${res.status} ${res.text}`);
  });
});
