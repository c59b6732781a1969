/**
 * Seed compatibility: started the way the C ingress was, with a bare
 * `--listen PORT`, registration by a shell `printf > /dev/udp/...`, and the
 * embedded Tower on its default UDP port 7772.
 */

import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import dgram from "node:dgram";
import { type EchoBackend, startEchoBackend } from "../helpers/backends.ts";
import { type Gatehouse, startGatehouse, stderrMatching } from "../helpers/gatehouse.ts";
import { echoOf, request } from "../helpers/http.ts";
import { ping, register, towerRequest } from "../helpers/tower.ts";

/** Registers with bash's /dev/udp, exactly as the seed's docs did. */
function bashRegister(service: string, port: number, towerPort: number): Promise<void> {
  const script = `printf 'REGISTER|${service}|127.0.0.1|${port}' > /dev/udp/127.0.0.1/${towerPort}`;
  return new Promise((resolve, reject) => {
    execFile("bash", ["-c", script], (err, _stdout, stderr) => {
      if (err) reject(new Error(`bash printf failed: ${err.message} ${stderr}`));
      else resolve();
    });
  });
}

/** Fails clearly when something else already holds UDP 127.0.0.1:7772. */
async function assert7772Free(): Promise<void> {
  const probe = dgram.createSocket("udp4");
  try {
    await new Promise<void>((resolve, reject) => {
      probe.once("error", reject);
      probe.bind(7772, "127.0.0.1", () => resolve());
    });
  } catch (err) {
    throw new Error(
      `UDP 127.0.0.1:7772 is already in use (${(err as Error).message}); ` +
        "stop the other Tower/gatehouse and rerun this test",
    );
  } finally {
    try {
      probe.close();
    } catch {
      // not bound
    }
  }
}

describe("seed-compatible start", () => {
  const started: Gatehouse[] = [];
  const backends: EchoBackend[] = [];

  after(async () => {
    await Promise.all(started.map((g) => g.kill()));
    await Promise.all(backends.map((b) => b.close()));
  });

  it("routes the very next request to a backend registered by bash printf", async () => {
    const frontend = await startEchoBackend("frontend");
    backends.push(frontend);
    const gh = await startGatehouse([
      "--listen",
      "0",
      "--tower-listen",
      "127.0.0.1:0",
      "--route",
      "/api:api-service",
      "--route",
      "/:frontend",
    ]);
    started.push(gh);
    // A bare port listens on every interface.
    assert.equal(gh.httpHost, "0.0.0.0");
    assert.equal(gh.scheme, "http");

    await bashRegister("frontend", frontend.port, gh.towerPort!);
    const res = await request(gh.httpPort, { path: "/index.html" });
    assert.equal(res.status, 200, res.text);
    assert.equal(echoOf(res).backend, "frontend");
    assert.equal(echoOf(res).url, "/index.html");

    const api = await request(gh.httpPort, { path: "/api/users" });
    assert.equal(api.status, 503);
    assert.match(
      api.text,
      /^service unavailable: no live replica is registered \(request id \S+\)\n$/,
    );
    const id = api.headers["x-request-id"];
    await stderrMatching(
      gh,
      new RegExp(`request ${id} .*no live replica for service "api-service"`),
    );
  });

  it("answers the seed's error texts byte for byte", async () => {
    const frontend = await startEchoBackend("frontend-texts");
    backends.push(frontend);
    const gh = await startGatehouse([
      "--listen",
      "127.0.0.1:0",
      "--tower-listen",
      "127.0.0.1:0",
      "--tower-max-entries",
      "1",
      "--route",
      "/:frontend",
    ]);
    started.push(gh);
    const ask = (line: string) => towerRequest(gh.towerPort!, line);
    const registerSyntax = "ERR|REGISTER syntax: name|ip|port";
    const deregisterSyntax = "ERR|DEREGISTER syntax: name|ip|port";
    assert.equal(await ask("HELLO|x"), "ERR|unknown command");
    assert.equal(await ask(""), "ERR|unknown command");
    assert.equal(await ask("REGISTER|frontend|127.0.0.1"), registerSyntax);
    assert.equal(await ask("REGISTER|frontend|127.0.0.1|80|x"), registerSyntax);
    // Values the seed took and Gatehouse refuses on purpose get the seed's syntax text too.
    assert.equal(await ask("REGISTER|frontend|127.0.0.1|70000"), registerSyntax);
    assert.equal(await ask("REGISTER|frontend|127.0.0.1|0"), registerSyntax);
    assert.equal(await ask("REGISTER|front end|127.0.0.1|80"), registerSyntax);
    assert.equal(await ask(`REGISTER|${"f".repeat(64)}|127.0.0.1|80`), registerSyntax);
    assert.equal(await ask("REGISTER|frontend|not_an_address|80"), registerSyntax);
    assert.equal(await ask("DEREGISTER|frontend|127.0.0.1"), deregisterSyntax);
    assert.equal(await ask("LOOKUP|frontend"), "ERR|NOT_FOUND|frontend");
    assert.equal(await ask("LOOKUP|"), "ERR|NOT_FOUND|");
    assert.equal(await ask("LOOKUP|front end"), "ERR|NOT_FOUND|front end");
    await register(gh.towerPort!, "frontend", frontend.port);
    assert.equal(await ask(`REGISTER|api|127.0.0.1|${frontend.port}`), "ERR|registry full");
    // A refresh of the one entry still works, and nothing refused was stored.
    await register(gh.towerPort!, "frontend", frontend.port);
    assert.match(await ask("LIST"), /^OK\|LIST\|1\|frontend:127\.0\.0\.1:\d+:30$/);
    const res = await request(gh.httpPort, { path: "/" });
    assert.equal(res.status, 200, res.text);
  });

  it("embeds a Tower on UDP 127.0.0.1:7772 by default", async () => {
    await assert7772Free();
    const frontend = await startEchoBackend("frontend-default");
    backends.push(frontend);
    const gh = await startGatehouse(["--listen", "127.0.0.1:0", "--route", "/:frontend"]);
    started.push(gh);
    assert.equal(gh.towerPort, 7772);
    assert.equal(await ping(7772), "OK|PONG|tower");
    await register(7772, "frontend", frontend.port);
    const res = await request(gh.httpPort, { path: "/" });
    assert.equal(res.status, 200, res.text);
    assert.equal(echoOf(res).backend, "frontend-default");
  });
});
