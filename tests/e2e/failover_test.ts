/**
 * Resolution and failover: 503 without replicas, 502 on dead replicas, 504 on
 * silent ones, DEREGISTER taking effect at once, failover across distinct
 * replicas bounded by --retries, and no retry of a POST that was sent.
 */

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import type net from "node:net";
import {
  closedPort,
  type RawBackend,
  readRequest,
  sleep,
  startRawBackend,
} from "../helpers/backends.ts";
import { stderrMatching } from "../helpers/gatehouse.ts";
import { echoOf, HttpConnection, request } from "../helpers/http.ts";
import { type Stack, startStack } from "../helpers/stack.ts";
import { deregister, register } from "../helpers/tower.ts";

/** Accepts a connection and closes it at once (connect succeeds, no answer). */
function acceptThenDestroy(): Promise<RawBackend> {
  return startRawBackend((socket) => socket.destroy());
}

function resetSocket(socket: net.Socket): void {
  const s = socket as net.Socket & { resetAndDestroy?: () => void };
  if (typeof s.resetAndDestroy === "function") s.resetAndDestroy();
  else socket.destroy();
}

/** Reads one whole request (body included), then resets; counts requests read. */
async function readThenReset(): Promise<RawBackend & { requestsRead: string[] }> {
  const requestsRead: string[] = [];
  const backend = await startRawBackend(async (socket) => {
    try {
      const req = await readRequest(socket);
      requestsRead.push(`${req.requestLine} body=${req.body.toString()}`);
    } catch {
      // closed early: nothing read
    }
    resetSocket(socket);
  });
  return Object.assign(backend, { requestsRead });
}

describe("resolution and failover (default --retries)", () => {
  let stack: Stack;
  const raws: RawBackend[] = [];

  before(async () => {
    stack = await startStack(
      [
        "--upstream-timeout",
        "1s",
        "--route",
        "/api:api-service",
        "--route",
        "/dead:dead-svc",
        "--route",
        "/hung:hung-svc",
        "--route",
        "/dereg:dereg-svc",
        "--route",
        "/mixed:mixed",
        "--route",
        "/alldead:alldead",
        "--route",
        "/postreset:postreset",
        "--route",
        "/getretry:getretry",
      ],
      ["dereg-svc", "mixed", "getretry"],
    );
  });

  after(async () => {
    await stack?.close();
    await Promise.all(raws.map((r) => r.close()));
  });

  it("answers 503 when no replica is registered, naming the service in the log", async () => {
    const res = await request(stack.port, { path: "/api/users" });
    assert.equal(res.status, 503);
    assert.match(
      res.text,
      /^service unavailable: no live replica is registered \(request id \S+\)\n$/,
    );
    assert.match(res.headers["content-type"] ?? "", /^text\/plain/);
    const id = res.headers["x-request-id"];
    await stderrMatching(
      stack.gh,
      new RegExp(`request ${id} "GET /api/users": 503 no live replica for service "api-service"`),
    );
  });

  it("answers 502 when the only replica refuses connections", async () => {
    await register(stack.towerPort, "dead-svc", await closedPort());
    const res = await request(stack.port, { path: "/dead/x" }, { responseTimeoutMs: 30_000 });
    assert.equal(res.status, 502, res.text);
    assert.match(res.text, /bad gateway/i);
    assert.match(res.headers["content-type"] ?? "", /^text\/plain/);
    assert.doesNotMatch(res.text, /127\.0\.0\.1/, "the body names a replica");
  });

  it("answers 504 when a replica accepts but never answers (--upstream-timeout 1s)", async () => {
    const hung = await startRawBackend(() => {/* read nothing, answer nothing */});
    raws.push(hung);
    await register(stack.towerPort, "hung-svc", hung.port);
    const res = await request(stack.port, { path: "/hung/x" }, { responseTimeoutMs: 30_000 });
    assert.equal(res.status, 504, res.text);
    assert.match(res.text, /gateway timeout/i);
    assert.ok(hung.connections >= 1, "the hung replica was never contacted");
  });

  it("answers 503 to the very next request after DEREGISTER", async () => {
    const backend = stack.backends["dereg-svc"];
    const conn = await HttpConnection.open(stack.port);
    try {
      conn.write("GET /dereg/1 HTTP/1.1\r\nHost: x\r\n\r\n");
      const first = await conn.readResponse();
      assert.equal(first.status, 200);
      assert.equal(echoOf(first).backend, "dereg-svc");
      await deregister(stack.towerPort, "dereg-svc", backend.port);
      // Same client connection (a pooled backend connection must not be used).
      conn.write("GET /dereg/2 HTTP/1.1\r\nHost: x\r\n\r\n");
      const second = await conn.readResponse();
      assert.equal(second.status, 503, second.text);
      assert.match(
        second.text,
        /^service unavailable: no live replica is registered \(request id \S+\)\n$/,
      );
      await stderrMatching(
        stack.gh,
        new RegExp(
          `request ${second.headers["x-request-id"]} .*no live replica for service "dereg-svc"`,
        ),
      );
    } finally {
      conn.close();
    }
    const fresh = await request(stack.port, { path: "/dereg/3" });
    assert.equal(fresh.status, 503);
    assert.equal(backend.requests.length, 1, "the deregistered backend was still used");
  });

  it("fails over from two refusing replicas to the live one", async () => {
    await register(stack.towerPort, "mixed", await closedPort());
    await register(stack.towerPort, "mixed", await closedPort());
    // Several requests so every round-robin starting point is exercised.
    for (let i = 0; i < 6; i++) {
      const res = await request(stack.port, { path: `/mixed/${i}` }, { responseTimeoutMs: 30_000 });
      assert.equal(res.status, 200, `request ${i}: ${res.status} ${res.text}`);
      assert.equal(echoOf(res).backend, "mixed");
    }
  });

  it("retries a POST whose replica refused the connection (nothing was sent)", async () => {
    for (let i = 0; i < 3; i++) {
      const res = await request(stack.port, {
        method: "POST",
        path: `/mixed/post${i}`,
        body: "data",
      });
      assert.equal(res.status, 200, `POST ${i}: ${res.status} ${res.text}`);
      assert.equal(echoOf(res).body, "data");
    }
  });

  it("tries each of 3 failing replicas once, then answers 502", async () => {
    const dead = [await acceptThenDestroy(), await acceptThenDestroy(), await acceptThenDestroy()];
    raws.push(...dead);
    for (const d of dead) await register(stack.towerPort, "alldead", d.port);
    const res = await request(stack.port, { path: "/alldead/x" }, { responseTimeoutMs: 30_000 });
    assert.equal(res.status, 502, res.text);
    await sleep(300);
    assert.deepEqual(
      dead.map((d) => d.connections),
      [1, 1, 1],
      "expected one attempt on each distinct replica",
    );
  });

  it("does not retry a POST whose body was sent before the replica reset", async () => {
    const a = await readThenReset();
    const b = await readThenReset();
    raws.push(a, b);
    await register(stack.towerPort, "postreset", a.port);
    await register(stack.towerPort, "postreset", b.port);
    const res = await request(
      stack.port,
      { method: "POST", path: "/postreset/order", body: "charge-the-card-once" },
      { responseTimeoutMs: 30_000 },
    );
    assert.equal(res.status, 502, res.text);
    await sleep(300);
    const all = [...a.requestsRead, ...b.requestsRead];
    assert.equal(
      all.length,
      1,
      `the POST reached replicas ${all.length} times: ${all.join(" | ")}`,
    );
  });

  it("retries a GET whose replica reset after reading it", async () => {
    const flaky = await readThenReset();
    raws.push(flaky);
    await register(stack.towerPort, "getretry", flaky.port);
    for (let i = 0; i < 4; i++) {
      const res = await request(stack.port, { path: `/getretry/${i}` }, {
        responseTimeoutMs: 30_000,
      });
      assert.equal(res.status, 200, `GET ${i}: ${res.status} ${res.text}`);
      assert.equal(echoOf(res).backend, "getretry");
    }
    assert.ok(
      flaky.requestsRead.length >= 1,
      "round robin never chose the resetting replica, so the retry was not exercised",
    );
  });
});

describe("failover with --retries 1", () => {
  let stack: Stack;
  const dead: RawBackend[] = [];

  before(async () => {
    stack = await startStack(["--retries", "1", "--route", "/:alldead"], []);
    for (let i = 0; i < 3; i++) {
      const d = await acceptThenDestroy();
      dead.push(d);
      await register(stack.towerPort, "alldead", d.port);
    }
  });

  after(async () => {
    await stack?.close();
    await Promise.all(dead.map((d) => d.close()));
  });

  it("makes exactly one attempt per request", async () => {
    for (let i = 1; i <= 2; i++) {
      const res = await request(stack.port, { path: `/r${i}` }, { responseTimeoutMs: 30_000 });
      assert.equal(res.status, 502, res.text);
      await sleep(300);
      const total = dead.reduce((n, d) => n + d.connections, 0);
      assert.equal(total, i, `after ${i} request(s) the replicas saw ${total} connections`);
    }
  });
});
