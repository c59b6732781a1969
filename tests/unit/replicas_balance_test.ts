/**
 * Load-balancing policies (src/replicas/balance.ts, applied by
 * src/replicas/pick.ts): the names `--lb` takes, cookie values, how evenly
 * each policy spreads requests over many picks, rendezvous hashing's
 * stability when a replica joins or leaves, and a hashed pick's fallback to
 * the next replica in its order when its first choice is ejected or fails.
 * Runs under `deno test` and `bun test`.
 */

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  balanceName,
  type BalancePolicy,
  cookieValue,
  parseBalancePolicy,
  rendezvousScore,
} from "../../src/replicas/balance.ts";
import { FailoverPlan } from "../../src/replicas/pick.ts";
import { ReplicaBook } from "../../src/replicas/book.ts";
import { DEFAULT_POLICY } from "../../src/replicas/policy.ts";
import type { Replica } from "../../src/registry/types.ts";

const NOW = 1_700_000_000_000;

/** `n` distinct replicas. */
function many(n: number, from = 1): Replica[] {
  return Array.from({ length: n }, (_, i) => ({ host: `10.2.0.${from + i}`, port: 8080 }));
}

function book() {
  return new ReplicaBook(DEFAULT_POLICY, {
    clock: { now: NOW },
    log: () => {},
    dropIdle: () => {},
    probe: () => Promise.resolve(true),
  });
}

/** The first pick for each of `requests` requests (keys from `keyOf`), counted per replica. */
function spread(
  policy: BalancePolicy,
  replicas: readonly Replica[],
  requests: number,
  keyOf: (i: number) => string = () => "",
): Map<string, number> {
  const svc = book().service("api");
  const plan = new FailoverPlan([], 0);
  const counts = new Map<string, number>();
  for (let i = 0; i < requests; i++) {
    plan.reset(replicas, 3, svc, NOW, policy, keyOf(i));
    const r = plan.next(NOW)!;
    counts.set(r.host, (counts.get(r.host) ?? 0) + 1);
  }
  return counts;
}

/** The replica a key's request goes to first. */
function owner(replicas: readonly Replica[], key: string): string {
  const plan = new FailoverPlan([], 0);
  plan.reset(replicas, 3, book().service("api"), NOW, HASH, key);
  return plan.next(NOW)!.host;
}

const HASH: BalancePolicy = { kind: "hash", on: { kind: "header", name: "x-user" } };

describe("parseBalancePolicy", () => {
  it("takes every policy --lb names, and names it back", () => {
    for (const name of ["least-outstanding", "round-robin", "random", "client-ip"]) {
      assert.equal(balanceName(parseBalancePolicy(name)), name);
    }
    assert.deepEqual(parseBalancePolicy("header:X-User"), {
      kind: "hash",
      on: { kind: "header", name: "x-user" },
    });
    assert.deepEqual(parseBalancePolicy("cookie:SessionID"), {
      kind: "hash",
      on: { kind: "cookie", name: "SessionID" },
    });
    assert.equal(balanceName(parseBalancePolicy("cookie:SessionID")), "cookie:SessionID");
  });

  it("refuses anything else, saying what is allowed", () => {
    for (const bad of ["", "roundrobin", "hash", "header", "header:", "cookie:a b", "uri"]) {
      assert.throws(() => parseBalancePolicy(bad), /must be|names no valid/, bad);
    }
  });
});

describe("cookieValue", () => {
  it("finds a cookie among others, unquoted, and nothing for a missing or prefix name", () => {
    assert.equal(cookieValue("a=1; sid=xyz; b=2", "sid"), "xyz");
    assert.equal(cookieValue('sid="q v"', "sid"), "q v");
    assert.equal(cookieValue("sid=", "sid"), "");
    assert.equal(cookieValue("xsid=1; sidx=2", "sid"), undefined);
    assert.equal(cookieValue("novalue; sid=7", "sid"), "7");
  });
});

describe("policies spread requests", () => {
  const replicas = many(4);

  it("round robin: exactly in turn", () => {
    const counts = spread({ kind: "round-robin" }, replicas, 4_000);
    assert.deepEqual([...counts.values()], [1_000, 1_000, 1_000, 1_000]);
  });

  it("random: each within 10% of an even share over 8,000 picks", () => {
    const counts = spread({ kind: "random" }, replicas, 8_000);
    assert.equal(counts.size, 4);
    for (const n of counts.values()) assert.ok(Math.abs(n - 2_000) < 200, `${n} of 8000`);
  });

  it("hashing: distinct keys within 10% of an even share; one key always to one replica", () => {
    const counts = spread(HASH, replicas, 8_000, (i) => `user-${i}`);
    assert.equal(counts.size, 4);
    for (const n of counts.values()) assert.ok(Math.abs(n - 2_000) < 200, `${n} of 8000`);
    assert.deepEqual([...spread(HASH, replicas, 100, () => "user-7").values()], [100]);
  });

  it("hashing without a key falls back to the default policy", () => {
    const counts = spread(HASH, replicas, 400);
    // Least outstanding with nothing outstanding: the registry's first.
    assert.deepEqual([...counts.entries()], [["10.2.0.1", 400]]);
  });
});

describe("rendezvous hashing", () => {
  const keys = Array.from({ length: 10_000 }, (_, i) => `key-${i}`);

  it("moves only the keys a joining replica wins (about 1/5 of them going from 4 to 5)", () => {
    const before = many(4), after = many(5);
    let moved = 0, toNew = 0;
    for (const k of keys) {
      const a = owner(before, k), b = owner(after, k);
      if (a !== b) moved++;
      if (b === "10.2.0.5") toNew++;
    }
    assert.equal(moved, toNew, "a key moved between two old replicas");
    assert.ok(Math.abs(moved / keys.length - 0.2) < 0.02, `moved ${moved} of ${keys.length}`);
  });

  it("moves only the keys of a replica that leaves", () => {
    const before = many(5), after = many(5).filter((r) => r.host !== "10.2.0.3");
    for (const k of keys) {
      const a = owner(before, k);
      if (a !== "10.2.0.3") assert.equal(owner(after, k), a, k);
    }
  });

  it("falls back along the key's order when its first choice is ejected or fails", () => {
    const replicas = many(4);
    const b = book();
    const svc = b.service("api");
    const plan = new FailoverPlan([], 0);
    plan.reset(replicas, 4, svc, NOW, HASH, "user-42");
    const order = [plan.next(NOW)!, plan.next(NOW)!, plan.next(NOW)!, plan.next(NOW)!];
    assert.equal(new Set(order).size, 4);
    const byScore = [...replicas].sort((x, y) =>
      rendezvousScore("user-42", `${y.host}:8080`) - rendezvousScore("user-42", `${x.host}:8080`)
    );
    assert.deepEqual(order, byScore, "tries follow the score order");
    // Its first choice ejected: the next in its order takes the key.
    b.eject(svc.stateOf(order[0]), "test");
    plan.reset(replicas, 4, svc, NOW, HASH, "user-42");
    assert.equal(plan.next(NOW), order[1]);
  });

  it("weights scale a replica's share of keys", () => {
    const wins = [0, 0];
    for (const k of keys) {
      const heavy = rendezvousScore(k, "10.0.0.1:80", 3), light = rendezvousScore(k, "10.0.0.2:80");
      wins[heavy > light ? 0 : 1]++;
    }
    assert.ok(Math.abs(wins[0] / keys.length - 0.75) < 0.02, `heavy won ${wins[0]}`);
  });
});

/** `n` picks under `policy` with requests that end at once; replicas of the given weights. */
function weightedSpread(policy: BalancePolicy, weights: number[], n: number, key = ""): number[] {
  const replicas = weights.map((weight, i) => ({ host: `10.4.0.${i + 1}`, port: 80, weight }));
  const counts = weights.map(() => 0);
  const svc = book().service("api");
  const plan = new FailoverPlan([], 0);
  for (let i = 0; i < n; i++) {
    plan.reset(replicas, 1, svc, NOW, policy, key === "" ? "" : `${key}-${i}`);
    counts[replicas.indexOf(plan.next(NOW) as typeof replicas[0])]++;
  }
  return counts;
}

describe("weights", () => {
  it("round robin: exactly in proportion, 3:1", () => {
    assert.deepEqual(weightedSpread({ kind: "round-robin" }, [3, 1], 400), [300, 100]);
  });

  it("random and hashing: in proportion within 10%", () => {
    for (const [policy, key] of [[{ kind: "random" }, ""], [HASH, "user"]] as const) {
      const [heavy, light] = weightedSpread(policy, [3, 1], 8_000, key);
      assert.ok(Math.abs(heavy - 6_000) < 600, `${policy.kind}: ${heavy} of 8000`);
      assert.equal(heavy + light, 8_000);
    }
  });

  it("least outstanding: in proportion when requests end at once, 3:1", () => {
    assert.deepEqual(weightedSpread({ kind: "least-outstanding" }, [3, 1], 400), [300, 100]);
  });

  it("least outstanding: requests that stay out still go mostly to the heavier", () => {
    const replicas = [
      { host: "10.4.0.1", port: 80, weight: 3 },
      { host: "10.4.0.2", port: 80, weight: 1 },
    ];
    const b = book();
    const svc = b.service("api");
    const plan = new FailoverPlan([], 0);
    const picked = [0, 0];
    for (let i = 0; i < 40; i++) {
      plan.reset(replicas, 1, svc, NOW);
      const r = plan.next(NOW)!;
      b.tryStarted(plan.state!, { replicaStalled() {}, slowCheck() {} }, NOW);
      picked[replicas.indexOf(r as typeof replicas[0])]++;
    }
    // Loaded, the lighter one gets more than its quarter: it is less loaded. Never the reverse.
    assert.ok(picked[0] > picked[1] && picked[1] >= 10, JSON.stringify(picked));
  });
});

describe("slow start", () => {
  it("ramps a replica that appears later from a tenth of its share to all of it", () => {
    const b = new ReplicaBook({ ...DEFAULT_POLICY, slowStartMs: 10_000 }, {
      clock: { now: NOW },
      log: () => {},
      dropIdle: () => {},
      probe: () => Promise.resolve(true),
    });
    const svc = b.service("api");
    const [a, c] = many(2);
    svc.listed([a]);
    svc.listed([a, c]);
    const state = svc.stateOf(c);
    assert.equal(
      svc.stateOf(a).weightAt(NOW, 10_000),
      1,
      "the first answer's replicas do not ramp",
    );
    assert.equal(state.weightAt(NOW, 10_000), 0.1);
    assert.equal(state.weightAt(NOW + 5_000, 10_000), 0.5);
    assert.equal(state.weightAt(NOW + 10_000, 10_000), 1);
    // Under round robin, in its first second it gets about a tenth of its peer's requests.
    const plan = new FailoverPlan([], 0);
    let newOnes = 0;
    for (let i = 0; i < 1_100; i++) {
      plan.reset([a, c], 1, svc, NOW + 500, { kind: "round-robin" });
      if (plan.next(NOW + 500) === c) newOnes++;
    }
    assert.ok(Math.abs(newOnes - 100) <= 2, `${newOnes} of 1100`);
  });

  it("ramps a replica back from ejection", () => {
    const clock = { now: NOW };
    const b = new ReplicaBook({ ...DEFAULT_POLICY, slowStartMs: 10_000 }, {
      clock,
      log: () => {},
      dropIdle: () => {},
      probe: () => Promise.resolve(true),
    });
    const svc = b.service("api");
    const [a, c] = many(2);
    svc.listed([a, c]);
    b.eject(svc.stateOf(a), "test");
    clock.now = NOW + 30_000;
    b.sweep();
    assert.equal(svc.stateOf(a).weightAt(clock.now, 10_000), 0.1);
    assert.equal(svc.stateOf(a).weightAt(clock.now + 10_000, 10_000), 1);
  });
});

describe("priority groups (DNS SRV priority)", () => {
  const primary = [
    { host: "10.5.0.1", port: 80, priority: 0 },
    { host: "10.5.0.2", port: 80, priority: 0 },
  ];
  const backup = { host: "10.5.0.9", port: 80, priority: 10 };

  it("picks from the lowest group only, under every policy, however loaded it is", () => {
    for (
      const policy of [
        { kind: "least-outstanding" },
        { kind: "round-robin" },
        { kind: "random" },
        HASH,
      ] as BalancePolicy[]
    ) {
      const b = book();
      const svc = b.service("api");
      const plan = new FailoverPlan([], 0);
      for (let i = 0; i < 50; i++) {
        plan.reset([...primary, backup], 1, svc, NOW, policy, `k${i}`);
        assert.notEqual(plan.next(NOW), backup, policy.kind);
        // Requests stay out: the primaries grow loaded, and still the backup waits.
        b.tryStarted(plan.state!, { replicaStalled() {}, slowCheck() {} }, NOW);
      }
    }
  });

  it("fails over to the next group once the first group is tried or ejected", () => {
    const b = book();
    const svc = b.service("api");
    const plan = new FailoverPlan([], 0);
    plan.reset([...primary, backup], 3, svc, NOW);
    assert.deepEqual([plan.next(NOW), plan.next(NOW), plan.next(NOW)].map((r) => r!.host), [
      "10.5.0.1",
      "10.5.0.2",
      "10.5.0.9",
    ]);
    const all = new ReplicaBook({ ...DEFAULT_POLICY, maxEjectedPercent: 100 }, {
      clock: { now: NOW },
      log: () => {},
      dropIdle: () => {},
      probe: () => Promise.resolve(true),
    });
    const api = all.service("api");
    api.listed([...primary, backup]);
    assert.equal(all.eject(api.stateOf(primary[0]), "test"), true);
    assert.equal(all.eject(api.stateOf(primary[1]), "test"), true);
    plan.reset([...primary, backup], 1, api, NOW);
    assert.equal(plan.next(NOW), backup);
  });
});
