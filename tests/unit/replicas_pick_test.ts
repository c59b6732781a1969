/**
 * Failover across distinct replicas (src/replicas/pick.ts, used by
 * src/proxy/failover.ts): which replicas are tried, in which order, how many
 * times, and what the caller gets back; without service state (registry
 * order) and with it (fewest tries outstanding, ties to registry order,
 * ejected replicas left out unless all are, two random choices above 16
 * replicas). Runs under `deno test` and `bun test`.
 */

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { FailoverPlan } from "../../src/replicas/pick.ts";
import { ReplicaBook } from "../../src/replicas/book.ts";
import type { ServiceReplicas } from "../../src/replicas/service.ts";
import { DEFAULT_POLICY } from "../../src/replicas/policy.ts";
import type { ReplicaPolicy, StallListener } from "../../src/replicas/state.ts";
import type { Replica } from "../../src/registry/types.ts";

const A: Replica = { host: "10.0.0.1", port: 8080 };
const B: Replica = { host: "10.0.0.2", port: 8080 };
const C: Replica = { host: "10.0.0.3", port: 8080 };
const D: Replica = { host: "10.0.0.4", port: 8080 };

/** Every replica the plan hands out, in order. */
function drain(plan: FailoverPlan): Replica[] {
  const out: Replica[] = [];
  for (let r = plan.next(); r !== undefined; r = plan.next()) out.push(r);
  return out;
}

describe("FailoverPlan", () => {
  it("hands out replicas in registry order", () => {
    assert.deepEqual(drain(new FailoverPlan([A, B, C], 3)), [A, B, C]);
  });

  it("stops after the maximum number of attempts", () => {
    const plan = new FailoverPlan([A, B, C, D], 3);
    assert.deepEqual(drain(plan), [A, B, C]);
    assert.equal(plan.attempts, 3);
    assert.equal(plan.next(), undefined);
    assert.equal(plan.attempts, 3);
  });

  it("stops when replicas run out before attempts do", () => {
    const plan = new FailoverPlan([A, B], 5);
    assert.deepEqual(drain(plan), [A, B]);
    assert.equal(plan.attempts, 2);
  });

  it("never tries the same replica twice", () => {
    const plan = new FailoverPlan([A, A, B, { ...A }, B, C], 10);
    assert.deepEqual(drain(plan), [A, B, C]);
    assert.equal(plan.attempts, 3);
  });

  it("does not spend attempts on duplicates", () => {
    assert.deepEqual(drain(new FailoverPlan([A, A, A, B, C], 2)), [A, B]);
  });

  it("tells replicas apart by host and port", () => {
    const samePortOtherHost = { host: "10.0.0.9", port: 8080 };
    const sameHostOtherPort = { host: "10.0.0.1", port: 8081 };
    assert.deepEqual(drain(new FailoverPlan([A, sameHostOtherPort, samePortOtherHost], 3)), [
      A,
      sameHostOtherPort,
      samePortOtherHost,
    ]);
  });

  it("has nothing to offer with no replicas or no attempts", () => {
    const empty = new FailoverPlan([], 3);
    assert.equal(empty.next(), undefined);
    assert.equal(empty.attempts, 0);
    const none = new FailoverPlan([A, B], 0);
    assert.equal(none.next(), undefined);
    assert.equal(none.attempts, 0);
  });

  it("starts over on reset, as a new plan would", () => {
    const plan = new FailoverPlan([A, B, C], 2);
    assert.deepEqual(drain(plan), [A, B]);
    plan.reset([C, A, C, D], 3);
    assert.equal(plan.attempts, 0);
    assert.deepEqual(drain(plan), [C, A, D]);
    assert.equal(plan.attempts, 3);
    plan.reset([], 3);
    assert.equal(plan.next(), undefined);
    assert.equal(plan.attempts, 0);
  });

  it("counts attempts as they are handed out", () => {
    const plan = new FailoverPlan([A, B, C], 3);
    assert.equal(plan.attempts, 0);
    plan.next();
    assert.equal(plan.attempts, 1);
    plan.next();
    assert.equal(plan.attempts, 2);
  });
});

/**
 * The plan driven the way the exchange drives it: connect to the first
 * replica that accepts, trying distinct replicas in order; reject with the
 * last error when every attempt failed.
 */
async function connectWithFailover<S>(
  plan: FailoverPlan,
  connect: (replica: Replica) => Promise<S>,
): Promise<{ socket: S; replica: Replica }> {
  let last: unknown = new Error("no replica to try");
  for (let r = plan.next(); r !== undefined; r = plan.next()) {
    try {
      return { socket: await connect(r), replica: r };
    } catch (e) {
      last = e;
    }
  }
  throw last;
}

describe("connectWithFailover", () => {
  it("returns the first replica that accepts, without trying more", async () => {
    const tried: Replica[] = [];
    const result = await connectWithFailover(new FailoverPlan([A, B, C], 3), (r) => {
      tried.push(r);
      return Promise.resolve(`socket to ${r.host}`);
    });
    assert.deepEqual(result, { socket: "socket to 10.0.0.1", replica: A });
    assert.deepEqual(tried, [A]);
  });

  it("fails over to the next distinct replica on refusal", async () => {
    const tried: Replica[] = [];
    const plan = new FailoverPlan([A, A, B, C], 3);
    const result = await connectWithFailover(plan, (r) => {
      tried.push(r);
      return r === C ? Promise.resolve("ok") : Promise.reject(new Error(`refused ${r.host}`));
    });
    assert.deepEqual(result, { socket: "ok", replica: C });
    assert.deepEqual(tried, [A, B, C]);
    assert.equal(plan.attempts, 3);
  });

  it("rejects with the last error when every attempt fails", async () => {
    const tried: Replica[] = [];
    const plan = new FailoverPlan([A, B, C, D], 3);
    await assert.rejects(
      connectWithFailover(plan, (r) => {
        tried.push(r);
        return Promise.reject(new Error(`refused ${r.host}`));
      }),
      { message: "refused 10.0.0.3" },
    );
    assert.deepEqual(tried, [A, B, C]);
    assert.equal(plan.attempts, 3);
  });

  it("handles a connect function that throws synchronously", async () => {
    const plan = new FailoverPlan([A, B], 3);
    const result = await connectWithFailover(plan, (r) => {
      if (r === A) throw new Error("sync failure");
      return Promise.resolve("ok");
    });
    assert.deepEqual(result, { socket: "ok", replica: B });
  });

  it("rejects without connecting when there is no replica", async () => {
    let calls = 0;
    await assert.rejects(
      connectWithFailover(new FailoverPlan([], 3), () => {
        calls++;
        return Promise.resolve("never");
      }),
      { message: "no replica to try" },
    );
    assert.equal(calls, 0);
  });

  it("tries replicas one after another, never in parallel", async () => {
    let inFlight = 0;
    let most = 0;
    await assert.rejects(
      connectWithFailover(new FailoverPlan([A, B, C], 3), async () => {
        inFlight++;
        most = Math.max(most, inFlight);
        await new Promise((r) => setTimeout(r, 5));
        inFlight--;
        throw new Error("refused");
      }),
    );
    assert.equal(most, 1);
  });
});

/** A book over inert hooks on a manual clock, recording its log lines. */
function stateWorld(changes: Partial<ReplicaPolicy> = {}) {
  const clock = { now: 1_700_000_000_000 };
  const lines: string[] = [];
  const book = new ReplicaBook({ ...DEFAULT_POLICY, ...changes }, {
    clock,
    log: (line) => lines.push(line),
    dropIdle: () => {},
    probe: () => Promise.resolve(true),
  });
  return { clock, lines, book, svc: book.service("api") };
}

/** A try's owner that nothing is asked of. */
const WAITER: StallListener = { replicaStalled() {}, slowCheck() {} };

/** Start `n` tries on `replica` of `svc`. */
function load(book: ReplicaBook, svc: ServiceReplicas, replica: Replica, n: number): void {
  for (let i = 0; i < n; i++) book.tryStarted(svc.stateOf(replica), { ...WAITER });
}

/** `n` distinct replicas. */
function many(n: number): Replica[] {
  return Array.from({ length: n }, (_, i) => ({ host: `10.1.0.${i + 1}`, port: 9000 }));
}

/** Every replica the plan hands out at `now`, in order. */
function drainAt(plan: FailoverPlan, now: number): Replica[] {
  const out: Replica[] = [];
  for (let r = plan.next(now); r !== undefined; r = plan.next(now)) out.push(r);
  return out;
}

/** `host:port` of each replica. */
function keys(replicas: readonly Replica[]): string[] {
  return replicas.map((r) => `${r.host}:${r.port}`);
}

describe("FailoverPlan with service state", () => {
  it("takes the replica with the fewest tries outstanding first", () => {
    const { book, svc, clock } = stateWorld();
    load(book, svc, A, 2);
    load(book, svc, C, 1);
    const plan = new FailoverPlan([], 0);
    plan.reset([A, B, C], 3, svc, clock.now);
    assert.deepEqual(drainAt(plan, clock.now), [B, C, A]);
  });

  it("reads the tries outstanding at each pick", () => {
    const { book, svc, clock } = stateWorld();
    const plan = new FailoverPlan([], 0);
    plan.reset([A, B, C], 3, svc, clock.now);
    assert.equal(plan.next(clock.now), A);
    load(book, svc, B, 1);
    assert.equal(plan.next(clock.now), C);
    assert.equal(plan.next(clock.now), B);
  });

  it("breaks ties by the registry's order", () => {
    const { book, svc, clock } = stateWorld();
    const plan = new FailoverPlan([], 0);
    plan.reset([C, A, B], 3, svc, clock.now);
    assert.deepEqual(drainAt(plan, clock.now), [C, A, B]);
    load(book, svc, A, 1);
    load(book, svc, B, 1);
    plan.reset([A, B, C, D], 4, svc, clock.now);
    assert.deepEqual(drainAt(plan, clock.now), [C, D, A, B]);
    plan.reset([D, C, B, A], 4, svc, clock.now);
    assert.deepEqual(drainAt(plan, clock.now), [D, C, B, A]);
  });

  it("leaves an ejected replica out while another is eligible", () => {
    const { book, svc, clock, lines } = stateWorld();
    svc.listed([A, B, C]);
    load(book, svc, B, 3);
    load(book, svc, C, 1);
    assert.equal(book.eject(svc.stateOf(A), "test"), true);
    const plan = new FailoverPlan([], 0);
    plan.reset([A, B, C], 3, svc, clock.now);
    assert.deepEqual(drainAt(plan, clock.now), [C, B]);
    assert.equal(plan.attempts, 2);
    assert.equal(svc.panicking, false);
    assert.deepEqual(lines.filter((l) => /panic/.test(l)), []);
  });

  it("takes a replica again once its ejection is over", () => {
    const { book, svc, clock } = stateWorld();
    svc.listed([A, B]);
    book.eject(svc.stateOf(A), "test");
    const later = svc.stateOf(A).ejectedUntil;
    const plan = new FailoverPlan([], 0);
    plan.reset([A, B], 2, svc, later - 1);
    assert.deepEqual(drainAt(plan, later - 1), [B]);
    // Its time is over: picked again, even before a sweep brings it back.
    clock.now = later;
    plan.reset([A, B], 2, svc, clock.now);
    assert.deepEqual(drainAt(plan, clock.now), [A, B]);
  });

  it("uses every replica when all are ejected, and says panic once", () => {
    const { book, svc, clock, lines } = stateWorld({ maxEjectedPercent: 100 });
    svc.listed([A, B, C]);
    for (const r of [A, B, C]) assert.equal(book.eject(svc.stateOf(r), "test"), true);
    load(book, svc, A, 1);
    const plan = new FailoverPlan([], 0);
    plan.reset([A, B, C], 5, svc, clock.now);
    assert.deepEqual(drainAt(plan, clock.now), [B, C, A]);
    assert.equal(svc.panicking, true);
    const another = new FailoverPlan([], 0);
    another.reset([A, B, C], 5, svc, clock.now);
    assert.deepEqual(drainAt(another, clock.now), [B, C, A]);
    plan.reset([A, B, C], 1, svc, clock.now);
    assert.deepEqual(drainAt(plan, clock.now), [B]);
    const panics = lines.filter((l) => /panic/.test(l));
    assert.equal(panics.length, 1);
    assert.match(panics[0], /\bapi\b/);
  });

  it("never tries a replica twice in one request, also when it is listed twice", () => {
    const { book, svc, clock } = stateWorld();
    load(book, svc, B, 1);
    const plan = new FailoverPlan([], 0);
    plan.reset([A, { ...A }, B, A, { ...B }], 5, svc, clock.now);
    // As the exchange does: each try starts and ends, so A's load is back to none.
    const tried: Replica[] = [];
    for (let r = plan.next(clock.now); r !== undefined; r = plan.next(clock.now)) {
      tried.push(r);
      book.tryStarted(svc.stateOf(r), WAITER);
      book.tryEnded(svc.stateOf(r), WAITER);
    }
    assert.deepEqual(keys(tried), ["10.0.0.1:8080", "10.0.0.2:8080"]);
    assert.equal(plan.attempts, 2);
  });

  it("starts over on reset, with the tries of the last request forgotten", () => {
    const { svc, clock } = stateWorld();
    const plan = new FailoverPlan([], 0);
    plan.reset([A, B], 2, svc, clock.now);
    assert.deepEqual(drainAt(plan, clock.now), [A, B]);
    plan.reset([A, B], 2, svc, clock.now);
    assert.deepEqual(drainAt(plan, clock.now), [A, B]);
  });
});

describe("FailoverPlan with service state, above 16 replicas (two random choices)", () => {
  const ROUNDS = 300;

  it("never hands out a replica twice in one request", () => {
    const { book, svc, clock } = stateWorld();
    const replicas = many(20);
    // Copies by value of every other replica, listed after the originals.
    const listed = [...replicas, ...replicas.filter((_, i) => i % 2 === 0).map((r) => ({ ...r }))];
    replicas.forEach((r, i) => load(book, svc, r, i % 4));
    const plan = new FailoverPlan([], 0);
    for (let round = 0; round < ROUNDS; round++) {
      plan.reset(listed, listed.length, svc, clock.now);
      const got = keys(drainAt(plan, clock.now));
      assert.equal(got.length, 20, `round ${round}: ${got.length} picks`);
      assert.equal(new Set(got).size, 20, `round ${round}: a replica was handed out twice`);
      assert.equal(plan.next(clock.now), undefined);
    }
  });

  it("never hands out an ejected replica outside a panic", () => {
    const { book, svc, clock } = stateWorld();
    const replicas = many(20);
    svc.listed(replicas);
    const ejected = new Set<string>();
    for (let i = 0; i < 20; i += 2) {
      assert.equal(book.eject(svc.stateOf(replicas[i]), "test"), true);
      ejected.add(keys([replicas[i]])[0]);
    }
    const plan = new FailoverPlan([], 0);
    for (let round = 0; round < ROUNDS; round++) {
      plan.reset(replicas, 20, svc, clock.now);
      const got = keys(drainAt(plan, clock.now));
      assert.equal(got.length, 10, `round ${round}: ${got.length} picks`);
      for (const k of got) assert.ok(!ejected.has(k), `round ${round}: ejected ${k} picked`);
    }
    assert.equal(svc.panicking, false);
  });

  it("finds the one replica left in among many ejected", () => {
    const { book, svc, clock } = stateWorld({ maxEjectedPercent: 100 });
    const replicas = many(20);
    svc.listed(replicas);
    for (let i = 0; i < 19; i++) book.eject(svc.stateOf(replicas[i]), "test");
    const plan = new FailoverPlan([], 0);
    for (let round = 0; round < ROUNDS; round++) {
      plan.reset(replicas, 3, svc, clock.now);
      assert.deepEqual(drainAt(plan, clock.now), [replicas[19]], `round ${round}`);
    }
  });

  it("uses every replica, each once, when all are ejected", () => {
    const { book, svc, clock, lines } = stateWorld({ maxEjectedPercent: 100 });
    const replicas = many(20);
    svc.listed(replicas);
    for (const r of replicas) book.eject(svc.stateOf(r), "test");
    const plan = new FailoverPlan([], 0);
    for (let round = 0; round < ROUNDS; round++) {
      plan.reset(replicas, 20, svc, clock.now);
      const got = keys(drainAt(plan, clock.now));
      assert.equal(new Set(got).size, 20, `round ${round}: ${got.length} picks`);
    }
    assert.equal(lines.filter((l) => /panic/.test(l)).length, 1);
  });

  it("prefers less loaded replicas", () => {
    // Half the replicas have no try out, half three each. A pick that ignored
    // load would take an idle one half the time; two choices take one unless
    // both draws are busy: about 1 - (10/20) * (9/19) = 76% of the time. Over
    // 4000 draws the share is within 0.02 of that with near certainty (its
    // standard deviation is under 0.007); the bound below leaves 0.11.
    const { book, svc, clock } = stateWorld();
    const replicas = many(20);
    const idle = new Set(keys(replicas.filter((_, i) => i % 2 === 0)));
    replicas.forEach((r, i) => load(book, svc, r, i % 2 === 0 ? 0 : 3));
    // And one far busier than all: two choices take it only if every draw lands on it.
    const busiest = replicas[1];
    load(book, svc, busiest, 100);
    const DRAWS = 4000;
    const plan = new FailoverPlan([], 0);
    let idlePicks = 0, busiestPicks = 0;
    for (let i = 0; i < DRAWS; i++) {
      plan.reset(replicas, 1, svc, clock.now);
      const r = plan.next(clock.now)!;
      if (idle.has(keys([r])[0])) idlePicks++;
      if (r === busiest) busiestPicks++;
    }
    const share = idlePicks / DRAWS;
    assert.ok(share > 0.65, `idle replicas got ${(share * 100).toFixed(1)}% of the picks`);
    assert.equal(busiestPicks, 0);
  });
});

describe("FailoverPlan with service state: slow replicas", () => {
  it("picks a replica much slower than its peers only when no quicker one is left", () => {
    const { svc, clock } = stateWorld();
    svc.stateOf(A).answeredIn(2_000, clock.now);
    svc.stateOf(B).answeredIn(1, clock.now);
    svc.stateOf(C).answeredIn(2, clock.now);
    const plan = new FailoverPlan([], 0);
    plan.reset([A, B, C], 3, svc, clock.now);
    assert.deepEqual(drainAt(plan, clock.now), [B, C, A]);
  });

  it("keeps round robin among replicas of similar speed", () => {
    const { svc, clock } = stateWorld();
    svc.stateOf(A).answeredIn(3, clock.now);
    svc.stateOf(B).answeredIn(1, clock.now);
    svc.stateOf(C).answeredIn(2, clock.now);
    const plan = new FailoverPlan([], 0);
    plan.reset([A, B, C], 3, svc, clock.now);
    assert.deepEqual(drainAt(plan, clock.now), [A, B, C], "3 ms is not slow next to 1 ms");
  });

  it("counts a replica whose tries have sent nothing for long as slow, before any answer", () => {
    const { book, svc, clock } = stateWorld();
    for (const r of [A, B, C]) svc.stateOf(r).answeredIn(1, clock.now);
    load(book, svc, A, 1); // outstanding since now, and silent
    load(book, svc, B, 2);
    book.heard(svc.stateOf(B), svc);
    clock.now += 500;
    book.heard(svc.stateOf(B), svc); // B keeps answering
    const plan = new FailoverPlan([], 0);
    plan.reset([A, B, C], 3, svc, clock.now);
    assert.deepEqual(drainAt(plan, clock.now), [C, B, A], "A's silent try makes it last");
  });

  it("forgets a slow answer with time, so a replica gets another chance", () => {
    const { svc, clock } = stateWorld();
    svc.stateOf(A).answeredIn(2_000, clock.now);
    svc.stateOf(B).answeredIn(1, clock.now);
    clock.now += 60_000;
    svc.stateOf(B).answeredIn(1, clock.now);
    const plan = new FailoverPlan([], 0);
    plan.reset([A, B], 2, svc, clock.now);
    assert.equal(plan.next(clock.now), A, "a minute on, A is no longer marked slow");
  });
});
