/**
 * Coarse deadlines on one timer (src/proxy/deadlines.ts): who expires, when, how
 * often, and that a failing handler does not stop the others.
 */

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { DeadlineClock, type Expiring } from "../../src/proxy/deadlines.ts";

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** A party that records each expiry. */
function party(deadline: number): Expiring & { expired: number[] } {
  const expired: number[] = [];
  return {
    deadline,
    expired,
    expire(now: number) {
      expired.push(now);
    },
  };
}

describe("DeadlineClock.sweep", () => {
  it("expires parties whose deadline has passed, and only those", () => {
    const clock = new DeadlineClock(1000);
    try {
      const now = clock.tick();
      const late = party(now - 1);
      const due = party(now);
      const later = party(now + 60_000);
      clock.add(late);
      clock.add(due);
      clock.add(later);
      clock.sweep();
      assert.equal(late.expired.length, 1);
      assert.equal(due.expired.length, 1);
      assert.equal(later.expired.length, 0);
      assert.equal(later.deadline, now + 60_000);
    } finally {
      clock.close();
    }
  });

  it("clears the deadline before calling expire, and expires once", () => {
    const clock = new DeadlineClock(1000);
    try {
      let seen = -1;
      const p: Expiring = {
        deadline: 1,
        expire() {
          seen = p.deadline;
        },
      };
      let calls = 0;
      const counter: Expiring = {
        deadline: 1,
        expire() {
          calls++;
        },
      };
      clock.add(p);
      clock.add(counter);
      clock.sweep();
      clock.sweep();
      assert.equal(seen, 0);
      assert.equal(p.deadline, 0);
      assert.equal(calls, 1);
    } finally {
      clock.close();
    }
  });

  it("passes the sweep's time to expire and refreshes now", () => {
    const clock = new DeadlineClock(1000);
    try {
      const p = party(1);
      clock.add(p);
      const before = Date.now();
      clock.sweep();
      const after = Date.now();
      assert.equal(p.expired.length, 1);
      assert.ok(p.expired[0] >= before && p.expired[0] <= after);
      assert.equal(clock.now, p.expired[0]);
    } finally {
      clock.close();
    }
  });

  it("ignores a deadline of 0 (none)", () => {
    const clock = new DeadlineClock(1000);
    try {
      const p = party(0);
      clock.add(p);
      clock.sweep();
      assert.deepEqual(p.expired, []);
    } finally {
      clock.close();
    }
  });

  it("expires a party again after it sets a new deadline", () => {
    const clock = new DeadlineClock(1000);
    try {
      const p = party(1);
      clock.add(p);
      clock.sweep();
      p.deadline = 2;
      clock.sweep();
      assert.equal(p.expired.length, 2);
    } finally {
      clock.close();
    }
  });

  it("forgets deleted parties", () => {
    const clock = new DeadlineClock(1000);
    try {
      const p = party(1);
      clock.add(p);
      clock.delete(p);
      clock.sweep();
      assert.deepEqual(p.expired, []);
    } finally {
      clock.close();
    }
  });

  it("lets a party delete itself or another while being swept", () => {
    const clock = new DeadlineClock(1000);
    try {
      const other = party(1);
      const self: Expiring = {
        deadline: 1,
        expire() {
          clock.delete(self);
        },
      };
      clock.add(self);
      clock.add(other);
      clock.sweep();
      assert.equal(other.expired.length, 1);
      self.deadline = 1;
      clock.sweep();
      assert.equal(self.deadline, 1, "a deleted party is not swept");
    } finally {
      clock.close();
    }
  });

  it("keeps sweeping the others when one handler throws", () => {
    const clock = new DeadlineClock(1000);
    const original = console.error;
    const logged: unknown[][] = [];
    console.error = (...args: unknown[]) => logged.push(args);
    try {
      const bad: Expiring = {
        deadline: 1,
        expire() {
          throw new Error("boom");
        },
      };
      const good = party(1);
      clock.add(bad);
      clock.add(good);
      clock.sweep();
      assert.equal(good.expired.length, 1);
      assert.equal(bad.deadline, 0);
      assert.equal(logged.length, 1);
      assert.equal(logged[0][0], "gatehouse: timeout handler failed:");
      assert.equal((logged[0][1] as Error).message, "boom");
    } finally {
      console.error = original;
      clock.close();
    }
  });
});

describe("DeadlineClock timer", () => {
  it("tick refreshes now", async () => {
    const clock = new DeadlineClock(1000);
    const first = clock.now;
    await sleep(15);
    const t = clock.tick();
    assert.equal(clock.now, t);
    assert.ok(t >= first + 10, `${t} vs ${first}`);
  });

  it("sweeps on its own at the set resolution once a party is added", async () => {
    const clock = new DeadlineClock(10);
    try {
      const deadline = clock.tick() + 100;
      const p = party(deadline);
      clock.add(p);
      await sleep(5);
      assert.deepEqual(p.expired, []);
      const start = Date.now();
      while (p.expired.length === 0 && Date.now() - start < 3000) await sleep(5);
      assert.equal(p.expired.length, 1);
      assert.ok(p.expired[0] >= deadline, "never before the deadline");
    } finally {
      clock.close();
    }
  });

  it("stops sweeping after close", async () => {
    const clock = new DeadlineClock(10);
    const p = party(clock.tick() + 20);
    clock.add(p);
    clock.close();
    await sleep(60);
    assert.deepEqual(p.expired, []);
    // close twice is harmless
    clock.close();
  });

  it("starts a new timer when a party is added after close", async () => {
    const clock = new DeadlineClock(10);
    try {
      clock.add(party(0));
      clock.close();
      const p = party(clock.tick() + 10);
      clock.add(p);
      const start = Date.now();
      while (p.expired.length === 0 && Date.now() - start < 1000) await sleep(5);
      assert.equal(p.expired.length, 1);
    } finally {
      clock.close();
    }
  });
});
