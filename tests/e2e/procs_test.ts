/**
 * `--procs N`: several processes share the listening port. The primary runs
 * the embedded Tower and relays every registration change to the workers,
 * which route against their own copy; it restarts a worker that dies and
 * passes SIGTERM on.
 *
 * Which process answers a connection is the kernel's choice (SO_REUSEPORT
 * hashes each new connection to one listener), so the worker's part is shown
 * by stopping the primary (SIGSTOP): connections hashed to the worker are
 * still answered, and with what the worker knows.
 */

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import { type EchoBackend, sleep, startEchoBackend } from "../helpers/backends.ts";
import { freePortFlags, type Gatehouse, startGatehouse } from "../helpers/gatehouse.ts";
import { echoOf, type HttpResponse, request } from "../helpers/http.ts";
import { deregister, register } from "../helpers/tower.ts";
import { childrenOf } from "../helpers/process.ts";

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Polls `check` every 50 ms until it returns a value, or fails after `ms`. */
async function eventually<T>(what: string, ms: number, check: () => T | undefined): Promise<T> {
  const deadline = Date.now() + ms;
  while (true) {
    const v = check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) assert.fail(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(50);
  }
}

/** GET / on `n` fresh connections at once; a response, or null when none came in time. */
function fresh(port: number, n: number, timeoutMs = 5_000): Promise<(HttpResponse | null)[]> {
  return Promise.all(
    Array.from(
      { length: n },
      () =>
        request(port, { path: "/" }, { timeoutMs, responseTimeoutMs: timeoutMs }).catch(() => null),
    ),
  );
}

function statuses(responses: (HttpResponse | null)[]): string {
  const counts = new Map<string, number>();
  for (const r of responses) {
    const k = r === null ? "none" : String(r.status);
    counts.set(k, (counts.get(k) ?? 0) + 1);
  }
  return JSON.stringify(Object.fromEntries(counts));
}

/**
 * With the primary stopped, fresh connections reach only the worker (the
 * others wait in the primary's accept queue): the answers that come are the
 * worker's.
 */
async function workerAnswers(gh: Gatehouse, n: number): Promise<HttpResponse[]> {
  gh.signal("SIGSTOP");
  try {
    const answered = (await fresh(gh.httpPort, n, 1_500)).filter((r) => r !== null);
    return answered as HttpResponse[];
  } finally {
    gh.signal("SIGCONT");
  }
}

describe("--procs 2", () => {
  let gh: Gatehouse;
  let web: EchoBackend;

  before(async () => {
    web = await startEchoBackend("web");
    gh = await startGatehouse([...freePortFlags(), "--procs", "2", "--route", "/:web"]);
    await register(gh.towerPort!, "web", web.port);
  });

  after(async () => {
    await gh?.kill();
    await web?.close();
  });

  it("runs one worker beside the primary, which serves the Tower", () => {
    assert.equal(childrenOf(gh.proc.pid!).length, 1, "one worker process");
  });

  it("routes every request on fresh connections to the registered replica", async () => {
    const before = web.requests.length;
    const responses = await fresh(gh.httpPort, 60);
    assert.ok(responses.every((r) => r?.status === 200), statuses(responses));
    for (const r of responses) assert.equal(echoOf(r!).backend, "web");
    assert.equal(web.requests.length - before, 60, "the backend saw every request");
  });

  it("serves from the worker too, with the primary's registrations", async () => {
    const answered = await workerAnswers(gh, 40);
    assert.ok(answered.length > 0, "no connection was answered while the primary was stopped");
    for (const r of answered) {
      assert.equal(r.status, 200, "the worker knows the replica");
      assert.equal(echoOf(r).backend, "web");
    }
  });

  it("honours a DEREGISTER in every process within moments", async () => {
    await deregister(gh.towerPort!, "web", web.port);
    // Every process must answer 503 now: any 200 is a process that missed it.
    const deadline = Date.now() + 2_000;
    let last = "";
    while (true) {
      const responses = await fresh(gh.httpPort, 40);
      if (responses.every((r) => r?.status === 503)) break;
      last = statuses(responses);
      if (Date.now() > deadline) assert.fail(`still routed 2 s after DEREGISTER: ${last}`);
      await sleep(100);
    }
    const fromWorker = await workerAnswers(gh, 30);
    assert.ok(fromWorker.length > 0);
    for (const r of fromWorker) assert.equal(r.status, 503, "the worker dropped the replica");
    await register(gh.towerPort!, "web", web.port);
  });

  it("restarts a worker that dies, and the new one starts with the live entries", async () => {
    const [old] = childrenOf(gh.proc.pid!);
    process.kill(old, "SIGKILL");
    const replacement = await eventually("a new worker", 10_000, () => {
      const now = childrenOf(gh.proc.pid!);
      return now.length === 1 && now[0] !== old ? now[0] : undefined;
    });
    assert.ok(alive(replacement));
    // Give it time to listen, then ask it alone: it must know the replica from the snapshot.
    await sleep(2_000);
    const answered = await workerAnswers(gh, 40);
    assert.ok(answered.length > 0, "the new worker answered nothing");
    for (const r of answered) assert.equal(r.status, 200, "the new worker knows the replica");
    assert.match(gh.stderr, /worker exited \(SIGKILL\); restarting/);
  });

  it("exits 0 on SIGTERM and takes the workers down", async () => {
    const workers = childrenOf(gh.proc.pid!);
    assert.equal(workers.length, 1);
    const code = await gh.stop("SIGTERM");
    assert.equal(code, 0, `exit code; stderr: ${gh.stderr}`);
    await eventually("the worker to exit", 5_000, () => workers.some(alive) ? undefined : true);
  });
});
