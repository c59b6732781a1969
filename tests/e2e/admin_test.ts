/**
 * The admin listener: off by default, its ready line, the token and
 * loopback rules, the probes, and readiness failing as soon as SIGTERM
 * arrives, before the listeners close (--shutdown-delay).
 */

import { afterEach, describe, it } from "node:test";
import assert from "node:assert/strict";
import { adminPort, type Gatehouse, runGatehouse, startGatehouse } from "../helpers/gatehouse.ts";
import { getOrNull, request } from "../helpers/http.ts";
import { sleep } from "../helpers/backends.ts";

const running: Gatehouse[] = [];
afterEach(async () => {
  for (const gh of running.splice(0)) await gh.kill();
});

/** Start Gatehouse with an admin listener on a free port; its admin port. */
async function start(
  extra: string[],
  env: Record<string, string> = {},
): Promise<{ gh: Gatehouse; admin: number }> {
  const gh = await startGatehouse([
    "--listen",
    "127.0.0.1:0",
    "--tower-listen",
    "127.0.0.1:0",
    "--route",
    "/:web",
    "--admin",
    "127.0.0.1:0",
    ...extra,
  ], { env });
  running.push(gh);
  return { gh, admin: adminPort(gh) };
}

describe("admin listener", () => {
  it("is off by default", async () => {
    const gh = await startGatehouse([
      "--listen",
      "127.0.0.1:0",
      "--tower-listen",
      "127.0.0.1:0",
      "--route",
      "/:web",
    ]);
    running.push(gh);
    assert.equal(gh.stdoutLines.some((l) => l.includes("admin on")), false);
  });

  it("answers the probes, and 404 for an unknown path", async () => {
    const { admin } = await start([]);
    const alive = await request(admin, { path: "/healthz" });
    assert.equal(alive.status, 200);
    assert.equal(alive.text, "ok\n");
    assert.equal((await request(admin, { path: "/readyz" })).status, 200);
    const none = await request(admin, { path: "/nothing" });
    assert.equal(none.status, 404);
    assert.match(none.headers["content-type"] ?? "", /application\/json/);
    assert.deepEqual(JSON.parse(none.text), { error: "no admin path /nothing" });
  });

  it("wants the token on every path but the probes when one is set, and tells nothing without it", async () => {
    const { admin } = await start(["--admin-token", "s3cret"]);
    for (const path of ["/nothing", "/api/routes", "/metrics"]) {
      const res = await request(admin, { path });
      assert.equal(res.status, 401, path);
      assert.equal(res.headers["www-authenticate"], 'Bearer realm="gatehouse admin"');
    }
    const wrong = await request(admin, {
      path: "/nothing",
      headers: [["Authorization", "Bearer s3cre"]],
    });
    assert.equal(wrong.status, 401);
    const right = await request(admin, {
      path: "/nothing",
      headers: [["Authorization", "Bearer s3cret"]],
    });
    assert.equal(right.status, 404);
    assert.equal((await request(admin, { path: "/healthz" })).status, 200);
  });

  it("takes the token from GATEHOUSE_ADMIN_TOKEN", async () => {
    const { admin } = await start([], { GATEHOUSE_ADMIN_TOKEN: "from-env" });
    assert.equal((await request(admin, { path: "/x" })).status, 401);
    assert.equal(
      (await request(admin, { path: "/x", headers: [["Authorization", "Bearer from-env"]] }))
        .status,
      404,
    );
  });

  it("refuses to bind beyond loopback without a token (exit 2)", async () => {
    const r = await runGatehouse(["--route", "/:web", "--admin", "0.0.0.0:0"]);
    assert.equal(r.code, 2);
    assert.match(
      r.stderr,
      /--admin: 0\.0\.0\.0 is reachable beyond this machine; set an admin token/,
    );
    const bad = await runGatehouse(["--route", "/:web", "--admin-token", "x"]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--admin-token needs an admin listener/);
  });

  it("fails /readyz as soon as SIGTERM arrives, while the listener still serves for --shutdown-delay", async () => {
    const { gh, admin } = await start(["--shutdown-delay", "1500ms"]);
    gh.signal("SIGTERM");
    const deadline = Date.now() + 1000;
    let ready = 200;
    while (ready === 200 && Date.now() < deadline) {
      ready = (await getOrNull(admin, "/readyz"))?.status ?? 0;
      if (ready === 200) await sleep(20);
    }
    assert.equal(ready, 503, "readyz fails once SIGTERM arrived");
    // The proxy still accepts during the delay (no replica: its own 503 with an id).
    const res = await getOrNull(gh.httpPort, "/");
    assert.equal(res?.status, 503);
    assert.match(res?.text ?? "", /no live replica/);
    assert.equal(await gh.exited.then((e) => e.code), 0);
  });
});
