/**
 * Gray failures, end to end: a replica that answers 500 to everything, one
 * that is killed, one frozen with SIGSTOP, one slow but alive, endpoints
 * that are legitimately slow on every replica, the retry budget, and
 * ejection under --procs 2. Real processes and sockets; the replicas say
 * their name in every answer, so the tests count who served what.
 */

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import process from "node:process";
import { sleep } from "../helpers/backends.ts";
import { HttpConnection } from "../helpers/http.ts";
import { freePortFlags, type Gatehouse, REPO_ROOT, startGatehouse } from "../helpers/gatehouse.ts";
import { deregister, register } from "../helpers/tower.ts";
import { type NamedReplica, startNamedReplica } from "../helpers/named_replica.ts";
import { rendezvousScore } from "../../src/replicas/balance.ts";

type Replica = NamedReplica;
const startReplica = (name: string): Promise<Replica> => startNamedReplica(name);

/** What a load run saw. */
interface LoadResult {
  statuses: Map<number, number>;
  /** Requests per replica name (from the answers' bodies). */
  by: Map<string, number>;
  /** Failed requests (no response: reset, timeout). */
  failures: number;
  total: number;
  maxLatencyMs: number;
}

/** `connections` keep-alive clients sending `method` `path` one after the other for `ms`. */
async function load(
  port: number,
  path: string,
  connections: number,
  ms: number,
  method = "GET",
): Promise<LoadResult> {
  const result: LoadResult = {
    statuses: new Map(),
    by: new Map(),
    failures: 0,
    total: 0,
    maxLatencyMs: 0,
  };
  const end = Date.now() + ms;
  const client = async () => {
    let conn = await HttpConnection.open(port);
    while (Date.now() < end) {
      const started = Date.now();
      try {
        conn.write(`${method} ${path} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n`);
        const res = await conn.readResponse({ timeoutMs: 15_000 });
        result.statuses.set(res.status, (result.statuses.get(res.status) ?? 0) + 1);
        const name = res.body.toString().trim();
        result.by.set(name, (result.by.get(name) ?? 0) + 1);
      } catch {
        result.failures++;
        conn.close();
        conn = await HttpConnection.open(port);
      }
      result.total++;
      result.maxLatencyMs = Math.max(result.maxLatencyMs, Date.now() - started);
    }
    conn.close();
  };
  await Promise.all(Array.from({ length: connections }, client));
  return result;
}

/** `n` GETs one after the other on one connection; the statuses in order. */
async function sequence(port: number, n: number): Promise<number[]> {
  const conn = await HttpConnection.open(port);
  const statuses: number[] = [];
  for (let i = 0; i < n; i++) {
    conn.write(`GET /r${i} HTTP/1.1\r\nHost: x\r\n\r\n`);
    statuses.push((await conn.readResponse({ timeoutMs: 15_000 })).status);
  }
  conn.close();
  return statuses;
}

const count = (list: number[], status: number) => list.filter((s) => s === status).length;

async function gatehouseWith(replicas: { port: number }[], extra: string[] = []) {
  const gh = await startGatehouse([...freePortFlags(), "--route", "/:web", ...extra]);
  for (const r of replicas) await register(gh.towerPort!, "web", r.port);
  return gh;
}

describe("a replica answering 500 to everything", () => {
  let gh: Gatehouse;
  const replicas: Replica[] = [];

  before(async () => {
    for (const name of ["a", "b", "c"]) replicas.push(await startReplica(name));
    replicas[2].status = 500;
    gh = await gatehouseWith(replicas);
  });

  after(async () => {
    await gh?.kill();
    await Promise.all(replicas.map((r) => r.close()));
  });

  it("costs no GET an error, is ejected after five 500s, and gets no more", async () => {
    const statuses = await sequence(gh.httpPort, 60);
    // Each 500 went to another replica instead (GET is idempotent).
    assert.equal(count(statuses, 200), 60, JSON.stringify(statuses));
    assert.equal(replicas[2].served, 5, "the failing replica answered more than five");
    assert.match(gh.stderr, /replica web 127\.0\.0\.1:\d+ ejected for 30 s \(5 consecutive 5xx/);
    const sick = replicas[2];
    const servedAtEjection = sick.served;
    for (let i = 0; i < 40 && sick.open > 0; i++) await sleep(50);
    assert.equal(sick.open, 0, "pooled connections to the ejected replica still open");
    assert.equal(count(await sequence(gh.httpPort, 30), 200), 30);
    assert.equal(sick.served, servedAtEjection, "the ejected replica still got requests");
  });
});

describe("a killed replica", () => {
  let gh: Gatehouse;
  const replicas: Replica[] = [];

  before(async () => {
    for (const name of ["a", "b", "c"]) replicas.push(await startReplica(name));
    gh = await gatehouseWith(replicas);
    await sequence(gh.httpPort, 9); // every replica has pooled connections now
    await replicas[2].close();
  });

  after(async () => {
    await gh?.kill();
    await Promise.all(replicas.slice(0, 2).map((r) => r.close()));
  });

  it("costs no client an error, and is ejected after five gateway failures", async () => {
    const statuses = await sequence(gh.httpPort, 60);
    assert.equal(count(statuses, 200), 60, JSON.stringify(statuses));
    assert.match(gh.stderr, /ejected for 30 s \(5 consecutive gateway failures/);
  });
});

describe("a POST to a replica answering 500", () => {
  let gh: Gatehouse;
  const replicas: Replica[] = [];

  before(async () => {
    for (const name of ["a", "b"]) replicas.push(await startReplica(name));
    for (const r of replicas) r.status = 500;
    gh = await gatehouseWith(replicas);
  });

  after(async () => {
    await gh?.kill();
    await Promise.all(replicas.map((r) => r.close()));
  });

  it("is not sent twice: the client gets the 500", async () => {
    const conn = await HttpConnection.open(gh.httpPort);
    conn.write("POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi");
    const res = await conn.readResponse({ timeoutMs: 15_000 });
    conn.close();
    assert.equal(res.status, 500);
    assert.equal(replicas[0].served + replicas[1].served, 1);
  });

  it("a GET whose every try gets 500 gets the last 500", async () => {
    const before = replicas[0].served + replicas[1].served;
    const conn = await HttpConnection.open(gh.httpPort);
    conn.write("GET /g HTTP/1.1\r\nHost: x\r\n\r\n");
    const res = await conn.readResponse({ timeoutMs: 15_000 });
    conn.close();
    assert.equal(res.status, 500);
    assert.equal(replicas[0].served + replicas[1].served - before, 2, "each replica tried once");
  });
});

describe("the retry budget", () => {
  let gh: Gatehouse;
  let live: Replica;
  let failing: Replica;
  let dead: Replica;

  before(async () => {
    failing = await startReplica("failing");
    failing.status = 500;
    dead = await startReplica("dead");
    live = await startReplica("live");
    await dead.close();
    gh = await gatehouseWith([failing, dead, live], ["--retry-budget", "0:0"]);
  });

  after(async () => {
    await gh?.kill();
    await Promise.all([live.close(), failing.close()]);
  });

  it("with no budget, a GET whose answer was a 500 gets it: no retry", async () => {
    const statuses = await sequence(gh.httpPort, 6);
    assert.ok(count(statuses, 500) >= 1, JSON.stringify(statuses));
    assert.match(gh.stderr, /retry budget exhausted; an answer is passed on as it is/);
  });

  it("with no budget, a request whose connect was refused still goes on: no replica got it", async () => {
    const statuses = await sequence(gh.httpPort, 12);
    assert.equal(count(statuses, 502), 0, JSON.stringify(statuses));
    assert.ok(failing.served + live.served >= 12);
  });
});

describe("a replica that answers after 2 s", () => {
  let gh: Gatehouse;
  const replicas: Replica[] = [];

  before(async () => {
    for (const name of ["a", "b", "c"]) replicas.push(await startReplica(name));
    replicas[2].delayMs = 2_000;
    gh = await gatehouseWith(replicas);
  });

  after(async () => {
    await gh?.kill();
    await Promise.all(replicas.map((r) => r.close()));
  });

  it("gets few requests: its requests pile up, so new ones go to its peers", async () => {
    const result = await load(gh.httpPort, "/", 8, 4_000);
    assert.equal(result.failures, 0);
    const slow = result.by.get("c") ?? 0;
    assert.ok(result.total > 200, `only ${result.total} requests`);
    assert.ok(slow / result.total < 0.05, `the slow replica served ${slow} of ${result.total}`);
  });
});

describe("a retry the budget has no room for", () => {
  it("waits for room instead of passing the 500 on", async () => {
    const failing = await startReplica("failing");
    const live = await startReplica("live");
    failing.status = 500;
    // Both GETs are on the failing replica together and get their 500s at once; the first retry
    // takes 100 ms on the live one, while the budget (one retry in flight) has no room.
    failing.delayMs = 300;
    live.delayMs = 100;
    // A key whose first choice, by rendezvous hashing, is the failing replica.
    const address = (r: Replica) => `127.0.0.1:${r.port}`;
    let key = 0;
    while (
      rendezvousScore(`k${key}`, address(failing)) < rendezvousScore(`k${key}`, address(live))
    ) {
      key++;
    }
    const gh = await gatehouseWith([failing, live], [
      "--retry-budget",
      "0:1",
      "--lb",
      "header:X-K",
    ]);
    try {
      const get = async () => {
        const conn = await HttpConnection.open(gh.httpPort);
        conn.write(`GET / HTTP/1.1\r\nHost: x\r\nX-K: k${key}\r\n\r\n`);
        const res = await conn.readResponse({ timeoutMs: 10_000 });
        conn.close();
        return `${res.status} ${res.body.toString().trim()}`;
      };
      assert.deepEqual(await Promise.all([get(), get()]), ["200 live", "200 live"]);
      assert.equal(failing.served, 2, "both went to the failing replica first");
      assert.doesNotMatch(gh.stderr, /retry budget exhausted/);
    } finally {
      await gh.kill();
      await Promise.all([failing.close(), live.close()]);
    }
  });
});

describe("hedging: a replica that sends nothing while its peers answer", () => {
  let fast: Replica;
  let slow: Replica;

  before(async () => {
    fast = await startReplica("fast");
    slow = await startReplica("slow");
    slow.delayMs = 5_000;
  });

  after(async () => {
    await Promise.all([fast.close(), slow.close()]);
  });

  /**
   * 8 clients for 3 s through a fresh Gatehouse. The fast replica takes
   * 500 ms for its first answers, so that the first requests spread over
   * both (a lone slow request is a slow endpoint's, not a slow replica's,
   * and is not hedged); then it answers at once.
   */
  async function run(method: string, extra: string[] = []) {
    const gh = await gatehouseWith([slow, fast], extra);
    fast.delayMs = 500;
    const quick = setTimeout(() => fast.delayMs = 0, 200);
    try {
      return await load(gh.httpPort, "/", 8, 3_000, method);
    } finally {
      clearTimeout(quick);
      await gh.kill();
    }
  }

  it("sends the GETs waiting on it to its peer as well: the first answer wins, none waits 5 s", async () => {
    const result = await run("GET");
    assert.equal(result.failures, 0);
    assert.deepEqual([...result.statuses.keys()], [200]);
    assert.equal(result.by.get("slow") ?? 0, 0, "an answer of the slow replica won");
    assert.ok(result.maxLatencyMs < 3_500, `a GET took ${result.maxLatencyMs} ms`);
  });

  it("with --hedge off, GETs that went to it wait its 5 s", async () => {
    const result = await run("GET", ["--hedge", "off"]);
    assert.equal(result.failures, 0);
    assert.ok(result.maxLatencyMs >= 4_500, `the longest GET took ${result.maxLatencyMs} ms`);
  });

  it("never sends a POST twice: POSTs that went to it wait its 5 s", async () => {
    const result = await run("POST");
    assert.equal(result.failures, 0);
    assert.ok((result.by.get("slow") ?? 0) > 0, "no POST went to the slow replica");
    assert.ok(result.maxLatencyMs >= 4_500, `the longest POST took ${result.maxLatencyMs} ms`);
  });
});

describe("legitimately slow endpoints", () => {
  let gh: Gatehouse;
  const replicas: Replica[] = [];

  before(async () => {
    for (const name of ["a", "b", "c"]) replicas.push(await startReplica(name));
    gh = await gatehouseWith(replicas);
  });

  after(async () => {
    await gh?.kill();
    await Promise.all(replicas.map((r) => r.close()));
  });

  it("a slow request on a replica that answers others keeps its replica, while fast ones flow", async () => {
    for (const r of replicas) r.slowPathMs = 4_000;
    const slow = HttpConnection.open(gh.httpPort).then(async (conn) => {
      conn.write("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n");
      const res = await conn.readResponse({ timeoutMs: 15_000 });
      conn.close();
      return res;
    });
    const fast = await load(gh.httpPort, "/", 4, 5_000);
    const res = await slow;
    assert.equal(res.status, 200);
    assert.equal(fast.failures, 0);
    assert.doesNotMatch(gh.stderr, /ejected|stalled/);
    const total = replicas.reduce((n, r) => n + r.served, 0);
    assert.equal(total, fast.total + 1, "the slow request was sent more than once");
  });

  it("a route whose every replica takes 20 s still gets its answers", async () => {
    for (const r of replicas) r.slowPathMs = 20_000;
    const conns = await Promise.all([0, 1].map(() => HttpConnection.open(gh.httpPort)));
    for (const c of conns) c.write("GET /slow20 HTTP/1.1\r\nHost: x\r\n\r\n");
    const answers = await Promise.all(conns.map((c) => c.readResponse({ timeoutMs: 40_000 })));
    for (const c of conns) c.close();
    assert.deepEqual(answers.map((r) => r.status), [200, 200]);
    assert.doesNotMatch(gh.stderr, /ejected|stalled/);
  });
});

/** A replica in its own process, so SIGSTOP freezes it and only it. */
async function spawnReplica(name: string): Promise<{ child: ChildProcess; port: number }> {
  const isBun = typeof (process.versions as Record<string, string | undefined>).bun === "string";
  const script = `${REPO_ROOT}tests/helpers/replica_server.ts`;
  const child = spawn(
    process.execPath,
    isBun ? ["run", script, name] : ["run", "-A", script, name],
    {
      stdio: ["ignore", "pipe", "inherit"],
    },
  );
  const port = await new Promise<number>((resolve, reject) => {
    let out = "";
    child.stdout!.on("data", (chunk: Buffer) => {
      out += chunk.toString();
      const m = /replica: listening on (\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.once("exit", () => reject(new Error(`replica ${name} exited before listening`)));
  });
  return { child, port };
}

describe("a replica frozen with SIGSTOP", () => {
  const replicas: { child: ChildProcess; port: number }[] = [];

  before(async () => {
    for (const name of ["a", "b", "c"]) replicas.push(await spawnReplica(name));
  });

  after(() => {
    for (const r of replicas) {
      r.child.kill("SIGCONT");
      r.child.kill("SIGKILL");
    }
  });

  /** 8 clients for 7 s through a fresh Gatehouse; replica c freezes 1.5 s in, thaws at the end. */
  async function frozen(extra: string[] = []) {
    const gh = await gatehouseWith(replicas, extra);
    try {
      const running = load(gh.httpPort, "/", 8, 7_000);
      await sleep(1_500);
      replicas[2].child.kill("SIGSTOP");
      const result = await running;
      return { result, stderr: gh.stderr };
    } finally {
      replicas[2].child.kill("SIGCONT");
      await gh.kill();
    }
  }

  it("costs no GET an error or a wait: those waiting on it are hedged to its peers", async () => {
    const { result } = await frozen();
    assert.equal(result.failures, 0, "requests failed");
    assert.deepEqual([...result.statuses.keys()], [200]);
    assert.ok(result.maxLatencyMs < 3_000, `a request took ${result.maxLatencyMs} ms`);
  });

  it("without hedging, is found stalled within seconds; GETs waiting on it move and none fails", async () => {
    const { result, stderr } = await frozen(["--hedge", "off"]);
    assert.equal(result.failures, 0, "requests failed");
    assert.deepEqual([...result.statuses.keys()], [200]);
    assert.ok(result.maxLatencyMs < 8_000, `a request took ${result.maxLatencyMs} ms`);
    assert.match(stderr, /stalled: no byte for/);
  });
});

describe("ejection under --procs 2", () => {
  let gh: Gatehouse;
  const replicas: Replica[] = [];

  before(async () => {
    for (const name of ["a", "b", "c"]) replicas.push(await startReplica(name));
    replicas[2].status = 500;
    gh = await gatehouseWith(replicas, ["--procs", "2"]);
  });

  after(async () => {
    await gh?.kill();
    await Promise.all(replicas.map((r) => r.close()));
  });

  it("each process ejects the failing replica on its own", async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 120; i++) {
      const conn = await HttpConnection.open(gh.httpPort);
      conn.write("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
      statuses.push((await conn.readResponse({ timeoutMs: 15_000 })).status);
      conn.close();
    }
    assert.equal(count(statuses, 200), 120);
    // Five 500s at most per process before it ejects the replica.
    const served = replicas[2].served;
    assert.ok(served >= 5 && served <= 10, `the failing replica answered ${served} requests`);
  });
});

describe("--try-timeout", () => {
  let gh: Gatehouse;
  let slow: Replica;
  let fast: Replica;

  before(async () => {
    slow = await startReplica("slow");
    fast = await startReplica("fast");
    slow.delayMs = 3_000;
    gh = await gatehouseWith([slow, fast], ["--try-timeout", "500ms"]);
  });

  after(async () => {
    await gh?.kill();
    await Promise.all([slow.close(), fast.close()]);
  });

  it("moves a GET whose try got no first byte in time to the next replica", async () => {
    const conn = await HttpConnection.open(gh.httpPort);
    for (let i = 0; i < 4; i++) {
      const started = Date.now();
      conn.write(`GET /t${i} HTTP/1.1\r\nHost: x\r\n\r\n`);
      const res = await conn.readResponse({ timeoutMs: 15_000 });
      assert.equal(res.status, 200);
      assert.equal(res.body.toString(), "fast\n");
      assert.ok(Date.now() - started < 2_500, `answered after ${Date.now() - started} ms`);
    }
    conn.close();
  });

  it("lets a POST, which cannot be sent twice, wait for its answer", async () => {
    slow.status = 200;
    fast.status = 503; // only the slow replica gives a 2xx: the POST must wait for it
    const conn = await HttpConnection.open(gh.httpPort);
    let res;
    for (let i = 0; i < 4; i++) {
      conn.write("POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi");
      res = await conn.readResponse({ timeoutMs: 15_000 });
      if (res.body.toString() === "slow\n") break;
    }
    conn.close();
    assert.equal(res!.status, 200);
    assert.equal(res!.body.toString(), "slow\n");
  });
});

describe("a replica that leaves the registry", () => {
  let gh: Gatehouse;
  const replicas: Replica[] = [];

  before(async () => {
    for (const name of ["a", "b"]) replicas.push(await startReplica(name));
    gh = await gatehouseWith(replicas);
  });

  after(async () => {
    await gh?.kill();
    await Promise.all(replicas.map((r) => r.close()));
  });

  it("has its idle pooled connections closed at once when it deregisters", async () => {
    await sequence(gh.httpPort, 6);
    const gone = replicas[1];
    assert.ok(gone.open > 0, "no pooled connection to begin with");
    await deregister(gh.towerPort!, "web", gone.port);
    for (let i = 0; i < 40 && gone.open > 0; i++) await sleep(50);
    assert.equal(gone.open, 0, "pooled connections to a deregistered replica still open");
    const served = gone.served;
    await sequence(gh.httpPort, 6);
    assert.equal(gone.served, served);
  });
});
