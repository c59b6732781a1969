/**
 * The arithmetic of judging replicas (src/replicas/policy.ts): the defaults,
 * how long the n-th ejection lasts and its cap, how the ejection count
 * decays while a replica stays in, how many replicas of a service may be
 * out at once (never fewer than one), the retry budget with its minimum,
 * and the delay before each retry (the first at once, later ones random
 * below a bound that doubles up to 250 ms). Runs under `deno test` and
 * `bun test`.
 */

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  decayedEjections,
  DEFAULT_POLICY,
  ejectionMs,
  maxEjected,
  retryAllowed,
  retryDelayMs,
} from "../../src/replicas/policy.ts";
import type { ReplicaPolicy } from "../../src/replicas/state.ts";

/** The default policy with some settings changed. */
function policy(changes: Partial<ReplicaPolicy>): ReplicaPolicy {
  return { ...DEFAULT_POLICY, ...changes };
}

/** The largest value `Math.random` may return. */
const ALMOST_ONE = 1 - Number.EPSILON;

describe("DEFAULT_POLICY", () => {
  it("holds the documented defaults", () => {
    assert.deepEqual({ ...DEFAULT_POLICY }, {
      gatewayFailures: 5,
      serverErrors: 5,
      baseEjectionMs: 30_000,
      maxEjectionMs: 300_000,
      maxEjectedPercent: 50,
      stallWindowMs: 1_000,
      retryBudgetPercent: 20,
      retryBudgetMin: 3,
      hedge: true,
      slowStartMs: 0,
    });
  });
});

describe("ejectionMs", () => {
  it("lasts the base time for the first ejection", () => {
    assert.equal(ejectionMs(DEFAULT_POLICY, 1), 30_000);
  });

  it("lasts n base times for the n-th ejection", () => {
    assert.equal(ejectionMs(DEFAULT_POLICY, 2), 60_000);
    assert.equal(ejectionMs(DEFAULT_POLICY, 3), 90_000);
    assert.equal(ejectionMs(DEFAULT_POLICY, 9), 270_000);
  });

  it("is capped at the longest ejection", () => {
    assert.equal(ejectionMs(DEFAULT_POLICY, 10), 300_000);
    assert.equal(ejectionMs(DEFAULT_POLICY, 11), 300_000);
    assert.equal(ejectionMs(DEFAULT_POLICY, 20), 300_000);
    assert.equal(ejectionMs(DEFAULT_POLICY, 1_000_000), 300_000);
  });

  it("counts no ejection yet as the first", () => {
    assert.equal(ejectionMs(DEFAULT_POLICY, 0), 30_000);
  });

  it("follows the policy's own base and cap, even a cap between two steps", () => {
    const p = policy({ baseEjectionMs: 100, maxEjectionMs: 250 });
    assert.deepEqual([1, 2, 3, 4].map((n) => ejectionMs(p, n)), [100, 200, 250, 250]);
  });

  it("never grows as the count falls", () => {
    let last = Infinity;
    for (let n = 30; n >= 1; n--) {
      const ms = ejectionMs(DEFAULT_POLICY, n);
      assert.ok(ms <= last, `ejection ${n} lasts ${ms} ms, longer than ejection ${n + 1}`);
      last = ms;
    }
  });
});

describe("decayedEjections", () => {
  it("keeps the count while less than one base time has passed", () => {
    assert.equal(decayedEjections(DEFAULT_POLICY, 3, 0, 0), 3);
    assert.equal(decayedEjections(DEFAULT_POLICY, 3, 0, 29_999), 3);
  });

  it("drops one per whole base time since the replica came back", () => {
    assert.equal(decayedEjections(DEFAULT_POLICY, 3, 0, 30_000), 2);
    assert.equal(decayedEjections(DEFAULT_POLICY, 3, 0, 59_999), 2);
    assert.equal(decayedEjections(DEFAULT_POLICY, 3, 0, 65_000), 1);
    assert.equal(decayedEjections(DEFAULT_POLICY, 3, 0, 90_000), 0);
  });

  it("counts from when the replica came back, not from time zero", () => {
    const back = 1_700_000_000_000;
    assert.equal(decayedEjections(DEFAULT_POLICY, 4, back, back + 10_000), 4);
    assert.equal(decayedEjections(DEFAULT_POLICY, 4, back, back + 60_000), 2);
  });

  it("never goes below zero", () => {
    assert.equal(decayedEjections(DEFAULT_POLICY, 3, 0, 10_000_000), 0);
    assert.equal(decayedEjections(DEFAULT_POLICY, 1, 0, Number.MAX_SAFE_INTEGER), 0);
  });

  it("leaves a count of zero at zero", () => {
    assert.equal(decayedEjections(DEFAULT_POLICY, 0, 0, 0), 0);
    assert.equal(decayedEjections(DEFAULT_POLICY, 0, 0, 1_000_000), 0);
  });

  it("follows the policy's base time", () => {
    const p = policy({ baseEjectionMs: 1_000 });
    assert.equal(decayedEjections(p, 5, 0, 2_500), 3);
  });

  it("does not decay with a base time of zero", () => {
    const p = policy({ baseEjectionMs: 0 });
    assert.equal(decayedEjections(p, 5, 0, 1_000_000), 5);
  });
});

describe("maxEjected", () => {
  it("allows the policy's share of the replicas, rounded down", () => {
    assert.equal(maxEjected(DEFAULT_POLICY, 4), 2);
    assert.equal(maxEjected(DEFAULT_POLICY, 5), 2);
    assert.equal(maxEjected(DEFAULT_POLICY, 10), 5);
    assert.equal(maxEjected(DEFAULT_POLICY, 11), 5);
    assert.equal(maxEjected(policy({ maxEjectedPercent: 10 }), 20), 2);
    assert.equal(maxEjected(policy({ maxEjectedPercent: 10 }), 29), 2);
    assert.equal(maxEjected(policy({ maxEjectedPercent: 100 }), 7), 7);
  });

  it("always allows one, whatever the share", () => {
    assert.equal(maxEjected(DEFAULT_POLICY, 1), 1);
    assert.equal(maxEjected(DEFAULT_POLICY, 2), 1);
    assert.equal(maxEjected(DEFAULT_POLICY, 3), 1);
    assert.equal(maxEjected(policy({ maxEjectedPercent: 10 }), 3), 1);
    assert.equal(maxEjected(policy({ maxEjectedPercent: 10 }), 9), 1);
    assert.equal(maxEjected(policy({ maxEjectedPercent: 0 }), 100), 1);
  });

  it("allows one for a service with no replica known yet", () => {
    assert.equal(maxEjected(DEFAULT_POLICY, 0), 1);
  });
});

describe("retryAllowed", () => {
  it("always allows the minimum number of retries in flight", () => {
    assert.equal(retryAllowed(DEFAULT_POLICY, 0, 0), true);
    assert.equal(retryAllowed(DEFAULT_POLICY, 1, 2), true);
    assert.equal(retryAllowed(DEFAULT_POLICY, 10, 2), true);
  });

  it("refuses once the minimum is out and the share is no larger", () => {
    assert.equal(retryAllowed(DEFAULT_POLICY, 0, 3), false);
    assert.equal(retryAllowed(DEFAULT_POLICY, 10, 3), false);
    // 20% of 19 is 3.8, rounded down to 3: still the minimum.
    assert.equal(retryAllowed(DEFAULT_POLICY, 19, 3), false);
  });

  it("allows the policy's share of requests in flight above the minimum", () => {
    assert.equal(retryAllowed(DEFAULT_POLICY, 20, 3), true);
    assert.equal(retryAllowed(DEFAULT_POLICY, 20, 4), false);
    assert.equal(retryAllowed(DEFAULT_POLICY, 100, 19), true);
    assert.equal(retryAllowed(DEFAULT_POLICY, 100, 20), false);
    assert.equal(retryAllowed(DEFAULT_POLICY, 100, 50), false);
  });

  it("follows the policy's share and minimum", () => {
    const p = policy({ retryBudgetPercent: 50, retryBudgetMin: 1 });
    assert.equal(retryAllowed(p, 0, 0), true);
    assert.equal(retryAllowed(p, 0, 1), false);
    assert.equal(retryAllowed(p, 10, 4), true);
    assert.equal(retryAllowed(p, 10, 5), false);
  });

  it("allows no retry with neither share nor minimum", () => {
    const p = policy({ retryBudgetPercent: 0, retryBudgetMin: 0 });
    assert.equal(retryAllowed(p, 0, 0), false);
    assert.equal(retryAllowed(p, 1_000, 0), false);
  });
});

describe("retryDelayMs", () => {
  it("sends the first retry at once, whatever the random draw", () => {
    for (const draw of [0, 0.5, ALMOST_ONE]) {
      assert.equal(retryDelayMs(1, () => draw), 0);
    }
    assert.equal(retryDelayMs(0, () => 0.5), 0);
  });

  it("waits a random share of 25 ms before the second retry", () => {
    assert.equal(retryDelayMs(2, () => 0), 0);
    assert.equal(retryDelayMs(2, () => 0.5), 12);
    assert.equal(retryDelayMs(2, () => ALMOST_ONE), 24);
  });

  it("doubles the bound with each later retry, up to 250 ms", () => {
    const longest = [2, 3, 4, 5, 6, 7, 10, 50].map((n) => retryDelayMs(n, () => ALMOST_ONE));
    assert.deepEqual(longest, [24, 49, 99, 199, 249, 249, 249, 249]);
    const half = [2, 3, 4, 5, 6].map((n) => retryDelayMs(n, () => 0.5));
    assert.deepEqual(half, [12, 25, 50, 100, 125]);
  });

  it("is a whole number of ms within its bound for any draw", () => {
    for (let n = 2; n <= 12; n++) {
      const bound = Math.min(250, 25 * 2 ** (n - 2));
      for (let i = 0; i < 200; i++) {
        const ms = retryDelayMs(n, Math.random);
        assert.ok(Number.isInteger(ms), `retry ${n}: ${ms} ms is not whole`);
        assert.ok(ms >= 0 && ms < bound, `retry ${n}: ${ms} ms is outside [0, ${bound})`);
      }
    }
  });
});
