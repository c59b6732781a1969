/**
 * Active health checks, end to end: real replicas whose health path the
 * test flips between 200 and 503, registered in the embedded Tower; what
 * clients see (which replica answers), what the log says, and the same
 * under --procs 2. Timings are in seconds: checks run every 300 ms here.
 */

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { sleep } from "../helpers/backends.ts";
import { HttpConnection } from "../helpers/http.ts";
import {
  freePortFlags,
  type Gatehouse,
  runGatehouse,
  startGatehouse,
  stderrMatching,
} from "../helpers/gatehouse.ts";
import { register } from "../helpers/tower.ts";
import { type NamedReplica, startNamedReplica } from "../helpers/named_replica.ts";

type Replica = NamedReplica;
const startReplica = (name: string, health = 200): Promise<Replica> =>
  startNamedReplica(name, health);

const CHECKS = [
  "--health-path",
  "/healthz",
  "--health-interval",
  "300ms",
  "--health-timeout",
  "1s",
  "--health-rise",
  "2",
  "--health-fall",
  "2",
];

/** Wait until stderr, from offset `from` on, matches `pattern` (at most 5 s). */
async function logged(gh: Gatehouse, from: number, pattern: RegExp): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!pattern.test(gh.stderr.slice(from))) {
    if (Date.now() > deadline) {
      assert.fail(`stderr did not say ${pattern}:\n${gh.stderr.slice(from)}`);
    }
    await sleep(20);
  }
}

/** `n` GETs on fresh connections; who answered each, counted. */
async function whoAnswers(port: number, n: number): Promise<Map<string, number>> {
  const by = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const conn = await HttpConnection.open(port);
    conn.write("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    const res = await conn.readResponse({ timeoutMs: 10_000 });
    conn.close();
    assert.equal(res.status, 200);
    const name = res.body.toString().trim();
    by.set(name, (by.get(name) ?? 0) + 1);
  }
  return by;
}

describe("active health checks", () => {
  let gh: Gatehouse;
  let ready: Replica;
  let starting: Replica;

  before(async () => {
    ready = await startReplica("ready");
    // Registered, but not ready: its health path answers 503.
    starting = await startReplica("starting", 503);
    gh = await startGatehouse([...freePortFlags(), "--route", "/:web", ...CHECKS]);
    await register(gh.towerPort!, "web", ready.port);
    await register(gh.towerPort!, "web", starting.port);
  });

  after(async () => {
    await gh?.kill();
    await Promise.all([ready.close(), starting.close()]);
  });

  it("keep a registered replica that is not ready out from the start, and let it in once it passes", async () => {
    // Checked as soon as they register, before any request: the very first ones avoid it.
    await stderrMatching(gh, /replica web \S+ unhealthy \(health check answered 503\)/);
    await stderrMatching(gh, /replica web \S+ healthy \(health check passed \(200\)\)/);
    assert.deepEqual([...(await whoAnswers(gh.httpPort, 20)).keys()], ["ready"]);
    assert.doesNotMatch(gh.stderr, /panic/, "no request went out before the checks");
    const from = gh.stderr.length;
    starting.health = 200;
    await logged(gh, from, new RegExp(`web 127.0.0.1:${starting.port} healthy`));
    const by = await whoAnswers(gh.httpPort, 20);
    assert.ok((by.get("starting") ?? 0) > 0, `the ready replica took them all: ${[...by]}`);
  });

  it("take a replica whose checks start failing out after two failures", async () => {
    let from = gh.stderr.length;
    ready.health = 500;
    await logged(
      gh,
      from,
      new RegExp(`web 127.0.0.1:${ready.port} unhealthy \\(health check answered 500\\)`),
    );
    assert.deepEqual([...(await whoAnswers(gh.httpPort, 20)).keys()], ["starting"]);
    from = gh.stderr.length;
    ready.health = 200;
    await logged(gh, from, new RegExp(`web 127.0.0.1:${ready.port} healthy`));
  });

  it("route to every replica when none is healthy, and say so once", async () => {
    const from = gh.stderr.length;
    ready.health = 503;
    starting.health = 503;
    await logged(gh, from, new RegExp(`web 127.0.0.1:${ready.port} unhealthy`));
    await logged(gh, from, new RegExp(`web 127.0.0.1:${starting.port} unhealthy`));
    const by = await whoAnswers(gh.httpPort, 10);
    assert.equal([...by.values()].reduce((a, b) => a + b, 0), 10, "requests failed");
    await logged(gh, from, /service web: every replica is ejected or not healthy; routing to all/);
    const panics = gh.stderr.slice(from).match(/routing to all \(panic\)/g) ?? [];
    assert.equal(panics.length, 1, "the panic was logged more than once");
    ready.health = 200;
    starting.health = 200;
    await logged(gh, from, /service web: a replica is back; panic over/);
  });

  it("check on the interval: about three checks a second per replica", async () => {
    const before = ready.checks;
    await sleep(3_000);
    const made = ready.checks - before;
    assert.ok(made >= 4 && made <= 14, `${made} checks in 3 s at a 300 ms interval`);
  });
});

describe("active health checks under --procs 2", () => {
  it("keep an unhealthy replica out of every process", async () => {
    const good = await startReplica("good");
    const bad = await startReplica("bad", 503);
    const gh = await startGatehouse([
      ...freePortFlags(),
      "--route",
      "/:web",
      "--procs",
      "2",
      ...CHECKS,
    ]);
    try {
      await register(gh.towerPort!, "web", good.port);
      await register(gh.towerPort!, "web", bad.port);
      // Make the service known to both processes, then give their checks time.
      await whoAnswers(gh.httpPort, 20);
      await sleep(2_000);
      assert.deepEqual([...(await whoAnswers(gh.httpPort, 40)).keys()], ["good"]);
      assert.ok(bad.checks >= 2, `the bad replica was checked ${bad.checks} times`);
    } finally {
      await gh.kill();
      await Promise.all([good.close(), bad.close()]);
    }
  });
});

describe("health check flags", () => {
  it("refuse the other --health-* flags without --health-path, and a bad value", async () => {
    let r = await runGatehouse(["--route", "/:web", "--health-interval", "1s"]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--health-interval needs --health-path/);
    r = await runGatehouse(["--route", "/:web", "--health-path", "healthz"]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--health-path: "healthz" must be a path starting with \//);
    r = await runGatehouse(["--route", "/:web", "--health-path", "/h", "--health-status", "2yy"]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--health-status: "2yy" must be statuses or ranges/);
  });
});
