/**
 * A drain under `--procs 2`: the primary takes it (the admin API) and
 * relays it, so the worker sends the drained replica nothing either; a
 * worker started later gets the drains in force; an undrain reaches the
 * worker too.
 *
 * Which process answers a connection is the kernel's choice, so the
 * worker's part is shown by stopping the primary (SIGSTOP): the
 * connections answered then are the worker's.
 */

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import { sleep } from "../helpers/backends.ts";
import { adminPort, freePortFlags, type Gatehouse, startGatehouse } from "../helpers/gatehouse.ts";
import { type HttpResponse, request } from "../helpers/http.ts";
import { register } from "../helpers/tower.ts";
import { type NamedReplica, startNamedReplica } from "../helpers/named_replica.ts";
import { childrenOf } from "../helpers/process.ts";

/** Answers to `n` fresh connections at once, while the primary is stopped: the worker's. */
async function workerAnswers(gh: Gatehouse, n: number): Promise<string[]> {
  gh.signal("SIGSTOP");
  try {
    const opts = { timeoutMs: 1_500, responseTimeoutMs: 1_500 };
    const all = await Promise.all(
      Array.from({ length: n }, () => request(gh.httpPort, { path: "/" }, opts).catch(() => null)),
    );
    return all.filter((r): r is HttpResponse => r !== null).map((r) => `${r.status} ${r.text}`);
  } finally {
    gh.signal("SIGCONT");
  }
}

/** POST a drain or undrain to the admin listener; its status. */
async function drain(admin: number, on: boolean, service: string, port: number): Promise<number> {
  const res = await request(admin, {
    method: "POST",
    path: `/api/replicas/${on ? "drain" : "undrain"}`,
    body: JSON.stringify({ service, address: `127.0.0.1:${port}` }),
  });
  return res.status;
}

describe("draining under --procs 2", () => {
  let gh: Gatehouse;
  let admin = 0;
  let a: NamedReplica, b: NamedReplica;

  before(async () => {
    a = await startNamedReplica("a");
    b = await startNamedReplica("b");
    gh = await startGatehouse([
      ...freePortFlags(),
      "--procs",
      "2",
      "--route",
      "/:web",
      "--admin",
      "127.0.0.1:0",
    ]);
    admin = adminPort(gh);
    await register(gh.towerPort!, "web", a.port);
    await register(gh.towerPort!, "web", b.port);
  });

  after(async () => {
    await gh?.kill();
    await a?.close();
    await b?.close();
  });

  it("keeps the drained replica out of the worker's picks too", async () => {
    const before = await workerAnswers(gh, 30);
    assert.ok(before.some((r) => r === "200 a\n"), `the worker uses a at first: ${before}`);
    // The primary serves what queued while it was stopped: let that finish before counting.
    await sleep(500);
    assert.equal(await drain(admin, true, "web", a.port), 200);
    // Let the primary flush the drain line to the worker before workerAnswers stops it.
    await sleep(300);
    const served = a.served;
    // The worker's answers, and then everyone's: none from a.
    const fromWorker = await workerAnswers(gh, 30);
    assert.ok(fromWorker.length > 0, "the worker answered nothing");
    assert.deepEqual(new Set(fromWorker), new Set(["200 b\n"]));
    for (let i = 0; i < 20; i++) await request(gh.httpPort, { path: "/" });
    assert.equal(a.served, served, "a drained replica got no request from any process");
  });

  it("gives a restarted worker the drains in force", async () => {
    const [old] = childrenOf(gh.proc.pid!);
    process.kill(old, "SIGKILL");
    const deadline = Date.now() + 10_000;
    while (!(childrenOf(gh.proc.pid!).length === 1 && childrenOf(gh.proc.pid!)[0] !== old)) {
      assert.ok(Date.now() < deadline, "no new worker");
      await sleep(50);
    }
    await sleep(2_000);
    const served = a.served;
    const fromWorker = await workerAnswers(gh, 30);
    assert.ok(fromWorker.length > 0, "the new worker answered nothing");
    assert.deepEqual(new Set(fromWorker), new Set(["200 b\n"]));
    assert.equal(a.served, served);
  });

  it("undrains in every process", async () => {
    assert.equal(await drain(admin, false, "web", a.port), 200);
    // The undrain goes to the worker down the relay pipe, which the primary flushes only while it
    // runs (workerAnswers stops it): ask again until the worker has it, within a few seconds.
    let fromWorker: string[] = [];
    for (let round = 0; round < 10 && !fromWorker.includes("200 a\n"); round++) {
      if (round > 0) await new Promise((resolve) => setTimeout(resolve, 200));
      fromWorker = await workerAnswers(gh, 30);
    }
    assert.ok(fromWorker.includes("200 a\n"), `the worker uses a again: ${fromWorker}`);
    // One line per drain and undrain, from the primary alone.
    const lines = gh.stderr.split("\n").filter((l) => l.includes(`web 127.0.0.1:${a.port} `));
    assert.deepEqual(lines.map((l) => l.replace(/ \(admin API.*$/, "")), [
      `gatehouse: replica web 127.0.0.1:${a.port} draining`,
      `gatehouse: replica web 127.0.0.1:${a.port} undrained`,
    ]);
  });
});
