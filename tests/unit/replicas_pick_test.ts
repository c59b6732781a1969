/**
 * Failover across distinct replicas (src/proxy/failover.ts): which replicas are
 * tried, in which order, how many times, and what the caller gets back.
 */

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { FailoverPlan } from "../../src/replicas/pick.ts";
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
