/**
 * Active health checks (src/replicas/health.ts, run by the service state in
 * src/replicas/book.ts and obeyed by picking in src/replicas/pick.ts) on a
 * manual clock with checks the test answers: the statuses that pass, a new
 * replica's first check, rise and fall, no burst when many replicas
 * appear, no checks for a replica the registry dropped, a passing check
 * ending an ejection, and picking only healthy replicas (all, in a panic,
 * when none is). Runs under `deno test` and `bun test`.
 */

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { HEALTH_DEFAULTS, type HealthPolicy, parseStatuses } from "../../src/replicas/health.ts";
import { ReplicaBook } from "../../src/replicas/book.ts";
import { DEFAULT_POLICY } from "../../src/replicas/policy.ts";
import { FailoverPlan } from "../../src/replicas/pick.ts";
import type { Replica } from "../../src/registry/types.ts";

const T0 = 1_700_000_000_000;
const POLICY: HealthPolicy = { ...HEALTH_DEFAULTS, path: "/healthz" };

/** A check the book asked for, answered when the test says. */
interface AskedCheck {
  host: string;
  answer(status: number): Promise<void>;
}

/** Let promise callbacks run. */
function settle(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

/** A book with health checks on, a manual clock, and the checks it asked for. */
function world(policy: HealthPolicy = POLICY) {
  const clock = { now: T0 };
  const lines: string[] = [];
  const checks: AskedCheck[] = [];
  const book = new ReplicaBook(DEFAULT_POLICY, {
    clock,
    log: (line) => lines.push(line),
    dropIdle: () => {},
    probe: () => Promise.resolve(true),
    check: (host) =>
      new Promise<number>((resolve) => {
        checks.push({
          host,
          answer: (status) => {
            resolve(status);
            return settle();
          },
        });
      }),
  }, policy);
  return { clock, lines, checks, book, svc: book.service("api") };
}

function many(n: number): Replica[] {
  return Array.from({ length: n }, (_, i) => ({ host: `10.3.${i >> 8}.${i & 255}`, port: 80 }));
}

const A: Replica = { host: "10.0.0.1", port: 80 };
const B: Replica = { host: "10.0.0.2", port: 80 };

/** Sweep at `ms` after T0. */
function sweepAt(w: ReturnType<typeof world>, ms: number): void {
  w.clock.now = T0 + ms;
  w.book.sweep();
}

describe("parseStatuses", () => {
  it("takes codes, ranges and classes, and refuses the rest", () => {
    assert.deepEqual(parseStatuses("200"), [[200, 200]]);
    assert.deepEqual(parseStatuses("200-399"), [[200, 399]]);
    assert.deepEqual(parseStatuses("2xx, 304"), [[200, 299], [304, 304]]);
    for (const bad of ["", "99", "600", "300-200", "2yy", "200;204", "ok"]) {
      assert.throws(() => parseStatuses(bad), /must be statuses/, bad);
    }
  });
});

describe("health checks", () => {
  it("check a new replica within a second, and route to it once that check passes", async () => {
    const w = world();
    w.svc.listed([A]);
    sweepAt(w, 0);
    sweepAt(w, 1_000);
    assert.equal(w.checks.length, 1);
    assert.equal(w.checks[0].host, "10.0.0.1");
    assert.equal(w.svc.stateOf(A).health, "new");
    await w.checks[0].answer(200);
    assert.equal(w.svc.stateOf(A).health, "healthy");
    assert.deepEqual(w.lines, ["replica api 10.0.0.1:80 healthy (health check passed (200))"]);
  });

  it("check again one interval later (±10%), never twice at once", async () => {
    const w = world();
    w.svc.listed([A]);
    sweepAt(w, 0);
    sweepAt(w, 1_000);
    sweepAt(w, 1_100);
    assert.equal(w.checks.length, 1, "one check out at a time");
    await w.checks[0].answer(200);
    sweepAt(w, 1_100 + 4_400);
    assert.equal(w.checks.length, 1, "not before 90% of the interval");
    sweepAt(w, 1_100 + 5_600);
    assert.equal(w.checks.length, 2);
  });

  it("make a healthy replica unhealthy after 3 failures in a row, healthy after 2 passes", async () => {
    const w = world();
    w.svc.listed([A]);
    sweepAt(w, 0);
    let t = 0;
    const check = async (status: number) => {
      t += 6_000;
      sweepAt(w, t);
      await w.checks[w.checks.length - 1].answer(status);
    };
    await check(200);
    await check(503);
    await check(0);
    assert.equal(w.svc.stateOf(A).health, "healthy", "two failures are not three");
    await check(503);
    assert.equal(w.svc.stateOf(A).health, "unhealthy");
    await check(200);
    assert.equal(w.svc.stateOf(A).health, "unhealthy", "one pass is not two");
    await check(200);
    assert.equal(w.svc.stateOf(A).health, "healthy");
    assert.deepEqual(w.lines, [
      "replica api 10.0.0.1:80 healthy (health check passed (200))",
      "replica api 10.0.0.1:80 unhealthy (health check answered 503)",
      "replica api 10.0.0.1:80 healthy (health check passed (200))",
    ]);
  });

  it("keep a new replica whose first check fails out, and say why", async () => {
    const w = world();
    w.svc.listed([A]);
    sweepAt(w, 0);
    sweepAt(w, 1_000);
    await w.checks[0].answer(0);
    assert.equal(w.svc.stateOf(A).health, "unhealthy");
    assert.deepEqual(w.lines, [
      "replica api 10.0.0.1:80 unhealthy (health check got no answer within 2 s)",
    ]);
  });

  it("make no burst when a thousand replicas appear: at most 64 checks out", () => {
    const w = world();
    w.svc.listed(many(1_000));
    sweepAt(w, 0);
    sweepAt(w, 5_000);
    assert.equal(w.checks.length, 64);
  });

  it("stop checking a replica the registry no longer lists", () => {
    const w = world();
    w.svc.listed([A, B]);
    sweepAt(w, 0);
    w.svc.listed([B]);
    sweepAt(w, 2_000);
    assert.deepEqual(w.checks.map((c) => c.host), ["10.0.0.2"]);
  });

  it("end an ejection with a passing check", async () => {
    const w = world();
    w.svc.listed([A, B]);
    const a = w.svc.stateOf(A);
    w.book.eject(a, "test");
    sweepAt(w, 0);
    sweepAt(w, 1_000);
    for (const c of w.checks) await c.answer(200);
    assert.equal(a.ejected(w.clock.now), false);
    assert.ok(w.lines.some((l) => /10\.0\.0\.1:80 returned \(was: test\)/.test(l)));
  });
});

describe("ReplicaBook.catchUp", () => {
  it("lists every service a registry holds, so checks start before any request", () => {
    const w = world();
    w.book.catchUp([["api", [A]], ["web", [B]]]);
    sweepAt(w, 0);
    sweepAt(w, 1_000);
    assert.deepEqual(w.checks.map((c) => c.host).sort(), ["10.0.0.1", "10.0.0.2"]);
  });

  it("lists none for a service the registry no longer holds: its checks stop", async () => {
    const w = world();
    w.book.catchUp([["api", [A]], ["web", [B]]]);
    sweepAt(w, 0);
    sweepAt(w, 1_000);
    for (const c of w.checks) await c.answer(200);
    w.book.catchUp([["api", [A]]]);
    sweepAt(w, 20_000);
    assert.deepEqual(w.checks.slice(2).map((c) => c.host), ["10.0.0.1"]);
    assert.equal(w.book.service("web").size, 0);
  });
});

describe("picking with health checks", () => {
  it("takes only healthy replicas; with none healthy, all (a panic, logged once)", async () => {
    const w = world();
    const plan = new FailoverPlan([], 0);
    plan.reset([A, B], 2, w.svc, w.clock.now);
    assert.equal(plan.next(w.clock.now), A, "none checked yet: a panic routes to all");
    assert.equal(w.lines.filter((l) => /panic/.test(l)).length, 1);
    assert.match(w.lines[0], /every replica is ejected or not healthy; routing to all/);
    sweepAt(w, 0);
    sweepAt(w, 1_000);
    const byHost = new Map(w.checks.map((c) => [c.host, c]));
    await byHost.get("10.0.0.1")!.answer(503);
    await byHost.get("10.0.0.2")!.answer(200);
    plan.reset([A, B], 2, w.svc, w.clock.now);
    assert.equal(plan.next(w.clock.now), B);
    assert.equal(plan.next(w.clock.now), undefined, "the unhealthy one is not a fallback");
  });
});
