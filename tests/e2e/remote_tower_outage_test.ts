/**
 * An ingress using a remote Tower keeps routing to the replicas the Tower
 * last gave when the Tower stops answering, instead of failing every request.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { type Gatehouse, startGatehouse, stderrMatching } from "../helpers/gatehouse.ts";
import { type EchoBackend, startEchoBackend } from "../helpers/backends.ts";
import { echoOf, request } from "../helpers/http.ts";
import { register } from "../helpers/tower.ts";

describe("remote Tower outage", () => {
  let tower: Gatehouse;
  let ingress: Gatehouse;
  let backend: EchoBackend;

  before(async () => {
    backend = await startEchoBackend("api");
    tower = await startGatehouse(["tower", "--listen", "127.0.0.1:0"]);
    ingress = await startGatehouse([
      "--listen",
      "127.0.0.1:0",
      "--tower",
      `127.0.0.1:${tower.towerPort}`,
      "--route",
      "/:api",
      "--route",
      "/other:web",
    ]);
  });
  after(async () => {
    await ingress?.kill();
    await tower?.kill();
    await backend?.close();
  });

  it("serves the last answer while the Tower is gone, and says so once", async () => {
    await register(tower.towerPort!, "api", backend.port);
    const before = await request(ingress.httpPort, { path: "/one" });
    assert.equal(before.status, 200);
    await tower.kill();
    for (let i = 0; i < 3; i++) {
      const res = await request(ingress.httpPort, { path: `/during-${i}` });
      assert.equal(res.status, 200, "routed from the Tower's last answer");
      assert.equal(echoOf(res).url, `/during-${i}`);
    }
    const logged = ingress.stderr.match(/using its last answer/g) ?? [];
    assert.equal(logged.length, 1, ingress.stderr);
  });

  it("answers 503 for a service the Tower never answered for", async () => {
    const res = await request(ingress.httpPort, { path: "/other/x" });
    assert.equal(res.status, 503);
    assert.match(res.text, /^service unavailable: the registry failed \(request id \S+\)\n$/);
    const id = res.headers["x-request-id"];
    await stderrMatching(
      ingress,
      new RegExp(`request ${id} "GET /other/x": 503 registry unavailable for service "web": `),
    );
  });
});
