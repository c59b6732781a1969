/**
 * The service state (src/replicas/book.ts) on a manual clock with fake
 * hooks: ejection on consecutive gateway failures and 5xx (a 502/503/504
 * counting as both, a success resetting both), ejection lengths that grow
 * with the count and decay while the replica stays in, the share of a
 * service that may be out at once, sweeping replicas back and ending a
 * panic, the count of tries outstanding, stall detection by probe, the
 * registry's list forgetting replicas, and the retry budget. Runs under
 * `deno test` and `bun test`.
 */

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { type BookHooks, ReplicaBook } from "../../src/replicas/book.ts";
import { DEFAULT_POLICY } from "../../src/replicas/policy.ts";
import {
  Outcome,
  type ReplicaPolicy,
  type ReplicaState,
  type StallListener,
} from "../../src/replicas/state.ts";
import type { Replica } from "../../src/registry/types.ts";

const A: Replica = { host: "10.0.0.1", port: 8080 };
const B: Replica = { host: "10.0.0.2", port: 8080 };
const C: Replica = { host: "10.0.0.3", port: 8080 };
const D: Replica = { host: "10.0.0.4", port: 8080 };
const T0 = 1_700_000_000_000;

/** A probe the book asked for, answered when the test says. */
interface AskedProbe {
  host: string;
  port: number;
  timeoutMs: number;
  answer(alive: boolean): Promise<void>;
  fail(): Promise<void>;
}

/** Fake hooks: a manual clock, and records of what the book did. */
class World implements BookHooks {
  readonly clock = { now: T0 };
  readonly lines: string[] = [];
  readonly dropped: string[] = [];
  readonly probes: AskedProbe[] = [];

  log(line: string): void {
    this.lines.push(line);
  }

  dropIdle(address: string): void {
    this.dropped.push(address);
  }

  probe(host: string, port: number, timeoutMs: number): Promise<boolean> {
    return new Promise((resolve, reject) => {
      this.probes.push({
        host,
        port,
        timeoutMs,
        answer: (alive) => {
          resolve(alive);
          return settle();
        },
        fail: () => {
          reject(new Error("probe failed"));
          return settle();
        },
      });
    });
  }

  /** Log lines matching `pattern`. */
  linesMatching(pattern: RegExp): string[] {
    return this.lines.filter((l) => pattern.test(l));
  }

  advance(ms: number): void {
    this.clock.now += ms;
  }
}

/** Let promise callbacks run. */
function settle(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

/** A book over fake hooks, with the default policy changed where asked. */
function setup(changes: Partial<ReplicaPolicy> = {}) {
  const world = new World();
  const book = new ReplicaBook({ ...DEFAULT_POLICY, ...changes }, world);
  return { world, book, clock: world.clock };
}

/** A try's owner that counts how often it was told its replica stalled, and keeps each slow check. */
class Waiter implements StallListener {
  stalled = 0;
  readonly checks: { now: number; slowAfter: number; answeredAt: number }[] = [];
  constructor(readonly onStall: () => void = () => {}) {}
  replicaStalled(): void {
    this.stalled++;
    this.onStall();
  }
  slowCheck(now: number, slowAfter: number, answeredAt: number): void {
    this.checks.push({ now, slowAfter, answeredAt });
  }
}

/** `outcome` judged `times` times in a row. */
function judgeTimes(book: ReplicaBook, state: ReplicaState, outcome: Outcome, times: number) {
  for (let i = 0; i < times; i++) book.judge(state, outcome);
}

/** How long `state` is ejected for from `now`. */
function ejectedFor(state: ReplicaState, now: number): number {
  return state.ejected(now) ? state.ejectedUntil - now : 0;
}

describe("ReplicaBook.judge: consecutive failures", () => {
  it("ejects at the policy's count of consecutive gateway failures", () => {
    const { book, clock } = setup();
    const a = book.service("api").stateOf(A);
    judgeTimes(book, a, Outcome.GatewayFailure, 4);
    assert.equal(a.ejected(clock.now), false);
    assert.equal(a.gatewayFailures, 4);
    book.judge(a, Outcome.GatewayFailure, "connection refused");
    assert.equal(a.ejected(clock.now), true);
    assert.match(a.reason, /5 consecutive gateway failures/);
  });

  it("follows another gateway failure count", () => {
    const { book, clock } = setup({ gatewayFailures: 2 });
    const a = book.service("api").stateOf(A);
    book.judge(a, Outcome.GatewayFailure);
    assert.equal(a.ejected(clock.now), false);
    book.judge(a, Outcome.GatewayFailure);
    assert.equal(a.ejected(clock.now), true);
  });

  it("ejects at the policy's count of consecutive 5xx", () => {
    const { book, clock } = setup();
    const a = book.service("api").stateOf(A);
    judgeTimes(book, a, Outcome.ServerError, 4);
    assert.equal(a.ejected(clock.now), false);
    assert.equal(a.serverErrors, 4);
    book.judge(a, Outcome.ServerError, "answered 500");
    assert.equal(a.ejected(clock.now), true);
    assert.match(a.reason, /5 consecutive 5xx/);
  });

  it("does not count a gateway failure as a 5xx, nor a 5xx as a gateway failure", () => {
    const { book, clock } = setup({ gatewayFailures: 3, serverErrors: 3 });
    const a = book.service("api").stateOf(A);
    // Alternating, neither kind reaches three in a row of its own.
    for (let i = 0; i < 2; i++) {
      book.judge(a, Outcome.GatewayFailure);
      book.judge(a, Outcome.ServerError);
    }
    assert.equal(a.gatewayFailures, 2);
    assert.equal(a.serverErrors, 2);
    assert.equal(a.ejected(clock.now), false);
    // With the other count off, many of one kind eject nothing.
    const { book: onlyGateway, clock: c2 } = setup({ gatewayFailures: 3, serverErrors: 0 });
    const x = onlyGateway.service("api").stateOf(A);
    judgeTimes(onlyGateway, x, Outcome.ServerError, 20);
    assert.equal(x.ejected(c2.now), false);
    const { book: only5xx, clock: c3 } = setup({ gatewayFailures: 0, serverErrors: 3 });
    const y = only5xx.service("api").stateOf(A);
    judgeTimes(only5xx, y, Outcome.GatewayFailure, 20);
    assert.equal(y.ejected(c3.now), false);
  });

  it("never ejects on a count of zero", () => {
    const { book, clock, world } = setup({ gatewayFailures: 0, serverErrors: 0 });
    const a = book.service("api").stateOf(A);
    judgeTimes(book, a, Outcome.GatewayFailure, 50);
    judgeTimes(book, a, Outcome.GatewayResponse, 50);
    judgeTimes(book, a, Outcome.ServerError, 50);
    assert.equal(a.ejected(clock.now), false);
    assert.deepEqual(world.dropped, []);
    assert.deepEqual(world.linesMatching(/ejected/), []);
  });

  it("counts a 502/503/504 as a gateway failure", () => {
    const { book, clock } = setup({ gatewayFailures: 3, serverErrors: 0 });
    const a = book.service("api").stateOf(A);
    judgeTimes(book, a, Outcome.GatewayResponse, 2);
    assert.equal(a.ejected(clock.now), false);
    book.judge(a, Outcome.GatewayResponse);
    assert.equal(a.ejected(clock.now), true);
    // Mixed with refusals, it continues their run.
    const { book: b2, clock: c2 } = setup({ gatewayFailures: 3, serverErrors: 0 });
    const x = b2.service("api").stateOf(A);
    judgeTimes(b2, x, Outcome.GatewayFailure, 2);
    b2.judge(x, Outcome.GatewayResponse);
    assert.equal(x.ejected(c2.now), true);
  });

  it("counts a 502/503/504 as a 5xx", () => {
    const { book, clock } = setup({ gatewayFailures: 0, serverErrors: 3 });
    const a = book.service("api").stateOf(A);
    judgeTimes(book, a, Outcome.GatewayResponse, 2);
    assert.equal(a.ejected(clock.now), false);
    book.judge(a, Outcome.GatewayResponse);
    assert.equal(a.ejected(clock.now), true);
    // Mixed with 500s, it continues their run.
    const { book: b2, clock: c2 } = setup({ gatewayFailures: 0, serverErrors: 3 });
    const x = b2.service("api").stateOf(A);
    judgeTimes(b2, x, Outcome.ServerError, 2);
    b2.judge(x, Outcome.GatewayResponse);
    assert.equal(x.ejected(c2.now), true);
  });

  it("counts a 502/503/504 in both runs at once", () => {
    const { book, clock } = setup({ gatewayFailures: 10, serverErrors: 10 });
    const a = book.service("api").stateOf(A);
    judgeTimes(book, a, Outcome.GatewayResponse, 3);
    assert.equal(a.gatewayFailures, 3);
    assert.equal(a.serverErrors, 3);
    assert.equal(a.ejected(clock.now), false);
  });

  // A refused gateway ejection must not cost the 5xx count its 502/503/504.
  it("counts a 502/503/504 as a 5xx even when its gateway ejection is refused", () => {
    const { book, clock } = setup({ gatewayFailures: 2, serverErrors: 3 });
    const svc = book.service("api");
    svc.listed([A, B]);
    const a = svc.stateOf(A), b = svc.stateOf(B);
    assert.equal(book.eject(b, "x"), true);
    book.judge(a, Outcome.GatewayResponse);
    book.judge(a, Outcome.GatewayResponse); // two gateway failures: ejection refused, B is out
    assert.equal(a.ejected(clock.now), false);
    clock.now += 30_000;
    book.sweep(); // B is back: there is room again
    book.judge(a, Outcome.ServerError); // the third 5xx in a row
    assert.equal(a.ejected(clock.now), true, `not ejected; serverErrors is ${a.serverErrors}`);
  });

  it("resets both runs on a success", () => {
    const { book, clock } = setup();
    const a = book.service("api").stateOf(A);
    judgeTimes(book, a, Outcome.GatewayFailure, 4);
    judgeTimes(book, a, Outcome.ServerError, 4);
    book.judge(a, Outcome.Success);
    assert.equal(a.gatewayFailures, 0);
    assert.equal(a.serverErrors, 0);
    judgeTimes(book, a, Outcome.GatewayFailure, 4);
    judgeTimes(book, a, Outcome.ServerError, 4);
    assert.equal(a.ejected(clock.now), false);
    book.judge(a, Outcome.GatewayFailure);
    assert.equal(a.ejected(clock.now), true);
  });

  it("neither counts nor resets on a try ended without a verdict", () => {
    const { book, clock } = setup();
    const a = book.service("api").stateOf(A);
    judgeTimes(book, a, Outcome.GatewayFailure, 4);
    judgeTimes(book, a, Outcome.None, 10);
    assert.equal(a.gatewayFailures, 4);
    assert.equal(a.ejected(clock.now), false);
    book.judge(a, Outcome.GatewayFailure);
    assert.equal(a.ejected(clock.now), true);
  });

  it("remembers the last error and when it came", () => {
    const { book, clock } = setup();
    const a = book.service("api").stateOf(A);
    book.judge(a, Outcome.GatewayFailure, "connection refused");
    clock.now += 250;
    book.judge(a, Outcome.ServerError, "answered 500");
    assert.equal(a.lastError, "answered 500");
    assert.equal(a.lastErrorAt, T0 + 250);
  });

  it("judges each replica on its own", () => {
    const { book, clock } = setup();
    const svc = book.service("api");
    const a = svc.stateOf(A), b = svc.stateOf(B);
    for (let i = 0; i < 4; i++) {
      book.judge(a, Outcome.GatewayFailure);
      book.judge(b, Outcome.GatewayFailure);
      book.judge(b, Outcome.Success);
    }
    book.judge(a, Outcome.GatewayFailure);
    assert.equal(a.ejected(clock.now), true);
    assert.equal(b.ejected(clock.now), false);
  });
});

describe("ReplicaBook.eject", () => {
  it("closes the replica's idle connections and logs one line", () => {
    const { book, world } = setup();
    const svc = book.service("api");
    svc.listed([A, B]);
    assert.equal(book.eject(svc.stateOf(B), "test"), true);
    assert.deepEqual(world.dropped, ["10.0.0.2:8080"]);
    const lines = world.linesMatching(/ejected/);
    assert.equal(lines.length, 1);
    assert.match(lines[0], /10\.0\.0\.2:8080/);
    assert.match(lines[0], /\b30 s\b/);
    assert.match(lines[0], /test/);
  });

  it("ejects for the base time first, and the judged failures start over", () => {
    const { book, clock, world } = setup();
    const svc = book.service("api");
    svc.listed([A, B]);
    const a = svc.stateOf(A);
    judgeTimes(book, a, Outcome.GatewayFailure, 5);
    assert.equal(a.ejectedUntil, T0 + 30_000);
    assert.equal(a.ejected(T0 + 29_999), true);
    assert.equal(a.ejected(T0 + 30_000), false);
    assert.equal(a.gatewayFailures, 0);
    clock.now = T0 + 30_000;
    book.sweep();
    // Four more failures after its return are not five in a row.
    judgeTimes(book, a, Outcome.GatewayFailure, 4);
    assert.equal(a.ejected(clock.now), false);
    assert.equal(world.linesMatching(/ ejected for /).length, 1);
  });

  it("counts an ejection of an ejected replica as done, without a second one", () => {
    const { book, clock, world } = setup();
    const svc = book.service("api");
    svc.listed([A, B]);
    const a = svc.stateOf(A);
    assert.equal(book.eject(a, "first"), true);
    clock.now += 1_000;
    assert.equal(book.eject(a, "second"), true);
    assert.equal(a.ejectedUntil, T0 + 30_000);
    assert.equal(a.reason, "first");
    assert.equal(world.linesMatching(/ ejected for /).length, 1);
    assert.deepEqual(world.dropped, ["10.0.0.1:8080"]);
  });

  it("ejects for n base times on the n-th ejection in a row, up to the cap", () => {
    const { book, clock, world } = setup();
    const svc = book.service("api");
    svc.listed([A, B]);
    const a = svc.stateOf(A);
    const lengths: number[] = [];
    for (let n = 1; n <= 12; n++) {
      assert.equal(book.eject(a, `round ${n}`), true);
      lengths.push(ejectedFor(a, clock.now));
      clock.now = a.ejectedUntil;
      book.sweep();
      assert.equal(a.ejected(clock.now), false);
    }
    assert.deepEqual(lengths, [
      30_000,
      60_000,
      90_000,
      120_000,
      150_000,
      180_000,
      210_000,
      240_000,
      270_000,
      300_000,
      300_000,
      300_000,
    ]);
    assert.match(world.linesMatching(/ ejected for /)[1], /\b60 s\b/);
    assert.match(world.linesMatching(/ ejected for /)[11], /\b300 s\b/);
  });

  it("shortens the next ejection by one base time for each base time the replica stayed in", () => {
    const { book, clock } = setup();
    const svc = book.service("api");
    svc.listed([A, B]);
    const a = svc.stateOf(A);
    // Three ejections in a row: the third lasts 90 s.
    for (let n = 1; n <= 3; n++) {
      book.eject(a, "x");
      clock.now = a.ejectedUntil;
      book.sweep();
    }
    assert.equal(a.ejections, 3);
    // In for 65 s (two base times): the next is the second, 60 s.
    clock.now += 65_000;
    book.eject(a, "x");
    assert.equal(ejectedFor(a, clock.now), 60_000);
    clock.now = a.ejectedUntil;
    book.sweep();
    // In for 29 s: no decay, the third, 90 s.
    clock.now += 29_000;
    book.eject(a, "x");
    assert.equal(ejectedFor(a, clock.now), 90_000);
    clock.now = a.ejectedUntil;
    book.sweep();
    // In for a long while: back to the base time.
    clock.now += 3_600_000;
    book.eject(a, "x");
    assert.equal(ejectedFor(a, clock.now), 30_000);
  });

  it("ejects no more than the policy's share of a service at once, and logs the refusal", () => {
    const { book, clock, world } = setup();
    const svc = book.service("api");
    svc.listed([A, B, C, D]);
    const [a, b, c] = [svc.stateOf(A), svc.stateOf(B), svc.stateOf(C)];
    judgeTimes(book, a, Outcome.GatewayFailure, 5);
    judgeTimes(book, b, Outcome.ServerError, 5);
    assert.equal(svc.ejectedCount(clock.now), 2);
    world.lines.length = 0;
    world.dropped.length = 0;
    judgeTimes(book, c, Outcome.GatewayFailure, 5);
    assert.equal(c.ejected(clock.now), false);
    assert.equal(svc.ejectedCount(clock.now), 2);
    assert.deepEqual(world.dropped, []);
    assert.equal(world.lines.length, 1);
    assert.match(world.lines[0], /10\.0\.0\.3:8080 not ejected/);
    assert.equal(book.eject(c, "by hand"), false);
    assert.equal(c.ejected(clock.now), false);
  });

  it("makes room again once an ejected replica is back", () => {
    const { book, clock } = setup();
    const svc = book.service("api");
    svc.listed([A, B, C]);
    const [a, b] = [svc.stateOf(A), svc.stateOf(B)];
    assert.equal(book.eject(a, "x"), true);
    assert.equal(book.eject(b, "x"), false);
    clock.now += 30_000;
    book.sweep();
    assert.equal(book.eject(b, "x"), true);
    assert.equal(svc.ejectedCount(clock.now), 1);
  });

  it("always lets one replica go, even the only one", () => {
    const { book, clock, world } = setup({ maxEjectedPercent: 10 });
    const solo = book.service("solo");
    solo.listed([A]);
    assert.equal(book.eject(solo.stateOf(A), "x"), true);
    assert.equal(solo.stateOf(A).ejected(clock.now), true);
    const trio = book.service("trio");
    trio.listed([B, C, D]);
    assert.equal(book.eject(trio.stateOf(B), "x"), true);
    assert.equal(book.eject(trio.stateOf(C), "x"), false);
    assert.equal(world.linesMatching(/not ejected/).length, 1);
  });

  // A replica listed twice is one replica when the share is taken.
  it("takes the share of distinct replicas when the registry lists one twice", () => {
    const { book, clock } = setup();
    const svc = book.service("api");
    svc.listed([A, { ...A }, B, { ...B }]);
    assert.equal(book.eject(svc.stateOf(A), "x"), true);
    assert.equal(book.eject(svc.stateOf(B), "x"), false, "1 of 2 replicas may be out at 50%");
    assert.equal(svc.ejectedCount(clock.now), 1);
  });

  it("counts the share per service", () => {
    const { book, clock } = setup();
    const api = book.service("api"), web = book.service("web");
    api.listed([A, B]);
    web.listed([C, D]);
    assert.equal(book.eject(api.stateOf(A), "x"), true);
    assert.equal(book.eject(web.stateOf(C), "x"), true);
    assert.equal(api.ejectedCount(clock.now), 1);
    assert.equal(web.ejectedCount(clock.now), 1);
  });
});

describe("ReplicaBook.sweep: return and panic", () => {
  it("brings a replica back once its time is over, with one line", () => {
    const { book, clock, world } = setup();
    const svc = book.service("api");
    svc.listed([A, B]);
    const a = svc.stateOf(A);
    book.eject(a, "5 consecutive gateway failures");
    clock.now += 29_999;
    book.sweep();
    assert.equal(a.ejected(clock.now), true);
    assert.deepEqual(world.linesMatching(/returned/), []);
    clock.now += 1;
    book.sweep();
    assert.equal(a.ejected(clock.now), false);
    assert.equal(a.ejectedUntil, 0);
    assert.equal(a.returnedAt, clock.now);
    clock.now += 100;
    book.sweep();
    book.sweep();
    const returned = world.linesMatching(/returned/);
    assert.equal(returned.length, 1);
    assert.match(returned[0], /10\.0\.0\.1:8080/);
    assert.match(returned[0], /5 consecutive gateway failures/);
  });

  it("says panic once, and ends it when a replica is back", () => {
    const { book, clock, world } = setup();
    const svc = book.service("api");
    svc.listed([A]);
    book.eject(svc.stateOf(A), "x");
    svc.panic();
    svc.panic();
    assert.equal(svc.panicking, true);
    assert.equal(world.linesMatching(/panic/).length, 1);
    assert.match(world.linesMatching(/panic/)[0], /api/);
    clock.now += 10_000;
    book.sweep();
    assert.equal(svc.panicking, true, "still panicking while every replica is out");
    clock.now += 20_000;
    book.sweep();
    assert.equal(svc.panicking, false);
    const over = world.linesMatching(/panic over/);
    assert.equal(over.length, 1);
    book.sweep();
    assert.equal(world.linesMatching(/panic over/).length, 1);
    svc.panic();
    assert.equal(world.linesMatching(/routing to all/).length, 2, "a new panic is said again");
  });

  it("sweeps every service", () => {
    const { book, clock, world } = setup();
    const api = book.service("api"), web = book.service("web");
    api.listed([A, B]);
    web.listed([C, D]);
    book.eject(api.stateOf(A), "x");
    book.eject(web.stateOf(C), "x");
    clock.now += 30_000;
    book.sweep();
    assert.equal(world.linesMatching(/returned/).length, 2);
    assert.deepEqual([...book.services()].map((s) => s.name), ["api", "web"]);
  });
});

describe("ReplicaBook.tryStarted / tryEnded", () => {
  it("counts the tries out on a replica, and when it became busy", () => {
    const { book, clock } = setup();
    const a = book.service("api").stateOf(A);
    const [w1, w2] = [new Waiter(), new Waiter()];
    book.tryStarted(a, w1);
    assert.equal(a.active, 1);
    assert.equal(a.busySince, T0);
    clock.now += 40;
    book.tryStarted(a, w2);
    assert.equal(a.active, 2);
    assert.equal(a.busySince, T0, "still busy since the first try");
    book.tryEnded(a, w1);
    assert.equal(a.active, 1);
    book.tryEnded(a, w2);
    assert.equal(a.active, 0);
    clock.now += 60;
    book.tryStarted(a, w1);
    assert.equal(a.busySince, T0 + 100, "busy anew");
  });

  it("does not count a try ended twice, nor one never started", () => {
    const { book } = setup();
    const a = book.service("api").stateOf(A);
    const [w1, w2] = [new Waiter(), new Waiter()];
    book.tryStarted(a, w1);
    book.tryStarted(a, w2);
    book.tryEnded(a, w1);
    book.tryEnded(a, w1);
    assert.equal(a.active, 1);
    book.tryEnded(a, w2);
    book.tryEnded(a, w2);
    book.tryEnded(a, new Waiter());
    assert.equal(a.active, 0);
  });

  it("keeps each replica's count on its own", () => {
    const { book } = setup();
    const svc = book.service("api");
    const w = new Waiter();
    book.tryStarted(svc.stateOf(A), w);
    book.tryStarted(svc.stateOf(B), w);
    book.tryEnded(svc.stateOf(A), w);
    assert.equal(svc.stateOf(A).active, 0);
    assert.equal(svc.stateOf(B).active, 1);
  });
});

describe("ReplicaBook.sweep: hedging", () => {
  /** A service of A and B; `tries` wait on A from T0, and B answers at T0 + 100. */
  function quiet(tries: number, changes: Partial<ReplicaPolicy> = {}) {
    const env = setup(changes);
    const svc = env.book.service("api");
    svc.listed([A, B]);
    svc.requests = tries;
    const a = svc.stateOf(A), b = svc.stateOf(B);
    const waiters = Array.from({ length: tries }, () => new Waiter());
    for (const w of waiters) env.book.tryStarted(a, w);
    env.clock.now = T0 + 100;
    env.book.heard(b, svc);
    return { ...env, svc, a, b, waiters };
  }

  it("offers a hedge to each try on a replica quiet far longer than its quickest peer takes", () => {
    const { book, clock, waiters } = quiet(2);
    clock.now = T0 + 200;
    book.sweep();
    for (const w of waiters) {
      // B answers in no time: slow means 8 x 0 ms + 25 ms.
      assert.deepEqual(w.checks, [{ now: T0 + 200, slowAfter: 25, answeredAt: T0 + 100 }]);
    }
  });

  it("waits for 8 times the quickest peer's latency plus 25 ms", () => {
    const { book, clock, b, waiters } = quiet(2);
    b.answeredIn(20, T0 + 100);
    clock.now = T0 + 180;
    book.sweep();
    assert.equal(waiters[0].checks.length, 0, "quiet 180 ms, slow after about 185 ms");
    clock.now = T0 + 190;
    book.sweep();
    assert.equal(waiters[0].checks.length, 1);
    // B's 20 ms fades a little in 90 ms (a half-life of about 7 s).
    const expected = 8 * 20 * Math.exp(-90 / 10_000) + 25;
    assert.ok(Math.abs(waiters[0].checks[0].slowAfter - expected) < 0.01);
  });

  it("offers none for a lone try: one slow request may be a slow endpoint", () => {
    const { book, clock, waiters } = quiet(1);
    clock.now = T0 + 5_000;
    book.sweep();
    assert.deepEqual(waiters[0].checks, []);
  });

  it("offers none when no peer answered since the replica went quiet", () => {
    const { book, clock, svc, a, waiters } = quiet(2);
    // A byte from A after B's answer: A's quiet starts after the service's last answer.
    clock.now = T0 + 150;
    book.heard(a, svc);
    svc.lastAnswerAt = T0 + 100;
    clock.now = T0 + 5_000;
    book.sweep();
    assert.deepEqual(waiters.map((w) => w.checks.length), [0, 0]);
  });

  it("offers one for a lone try on a replica that lost a race since it last answered well", () => {
    const { book, clock, a, waiters } = quiet(1);
    a.lostRaces = 1;
    clock.now = T0 + 200;
    book.sweep();
    assert.equal(waiters[0].checks.length, 1);
    book.judge(a, Outcome.Success);
    assert.equal(a.lostRaces, 0, "a good answer clears it");
  });

  it("offers none with hedging off", () => {
    const { book, clock, waiters } = quiet(2, { hedge: false });
    clock.now = T0 + 5_000;
    book.sweep();
    assert.deepEqual(waiters.map((w) => w.checks.length), [0, 0]);
  });

  it("offers none for an ejected replica (its tries move when it is found stalled)", () => {
    const { book, clock, a, waiters } = quiet(2);
    book.eject(a, "test");
    clock.now = T0 + 200;
    book.sweep();
    assert.deepEqual(waiters.map((w) => w.checks.length), [0, 0]);
  });
});

describe("ReplicaBook.sweep: stall detection", () => {
  /** A service of A and B; two tries wait on A from T0, and B answers at T0 + 100. */
  function stalling(changes: Partial<ReplicaPolicy> = {}) {
    const env = setup(changes);
    const svc = env.book.service("api");
    svc.listed([A, B]);
    const a = svc.stateOf(A), b = svc.stateOf(B);
    const waiters = [new Waiter(), new Waiter()];
    for (const w of waiters) env.book.tryStarted(a, w);
    env.clock.now = T0 + 100;
    env.book.heard(b, svc);
    return { ...env, svc, a, b, waiters };
  }

  it("probes a replica quiet for half the stall window while a peer answered, once", () => {
    const { book, clock, world } = stalling();
    clock.now = T0 + 499;
    book.sweep();
    assert.equal(world.probes.length, 0, "not quiet long enough yet");
    clock.now = T0 + 500;
    book.sweep();
    assert.equal(world.probes.length, 1);
    assert.equal(world.probes[0].host, "10.0.0.1");
    assert.equal(world.probes[0].port, 8080);
    assert.ok(world.probes[0].timeoutMs > 0 && world.probes[0].timeoutMs <= 1_000);
    clock.now = T0 + 600;
    book.sweep();
    clock.now = T0 + 5_000;
    book.sweep();
    assert.equal(world.probes.length, 1, "one probe out at a time");
  });

  it("ejects a replica whose probe goes unanswered, and tells every waiting try", async () => {
    const { book, clock, world, a, waiters } = stalling();
    clock.now = T0 + 500;
    book.sweep();
    clock.now = T0 + 1_000;
    await world.probes[0].answer(false);
    assert.equal(a.ejected(clock.now), true);
    assert.match(a.reason, /stalled/);
    assert.deepEqual(world.dropped, ["10.0.0.1:8080"]);
    assert.equal(world.linesMatching(/ ejected for .*stalled/).length, 1);
    assert.deepEqual(waiters.map((w) => w.stalled), [1, 1]);
  });

  it("tells every waiting try even when each leaves as it is told", async () => {
    const { book, clock, world } = setup();
    const svc = book.service("api");
    svc.listed([A, B]);
    const a = svc.stateOf(A);
    const waiters: Waiter[] = [];
    for (let i = 0; i < 3; i++) {
      const w: Waiter = new Waiter(() => book.tryEnded(a, w));
      waiters.push(w);
      book.tryStarted(a, w);
    }
    clock.now = T0 + 100;
    book.heard(svc.stateOf(B), svc);
    clock.now = T0 + 600;
    book.sweep();
    await world.probes[0].answer(false);
    assert.deepEqual(waiters.map((w) => w.stalled), [1, 1, 1]);
    assert.equal(a.active, 0);
  });

  it("takes a probe that fails for an unanswered one", async () => {
    const { book, clock, world, a, waiters } = stalling();
    clock.now = T0 + 500;
    book.sweep();
    await world.probes[0].fail();
    assert.equal(a.ejected(clock.now), true);
    assert.deepEqual(waiters.map((w) => w.stalled), [1, 1]);
  });

  it("leaves a replica in whose probe is answered, and starts its quiet over", async () => {
    const { book, clock, world, a, b, svc, waiters } = stalling();
    clock.now = T0 + 500;
    book.sweep();
    clock.now = T0 + 700;
    await world.probes[0].answer(true);
    assert.equal(a.ejected(clock.now), false);
    assert.deepEqual(waiters.map((w) => w.stalled), [0, 0]);
    assert.deepEqual(world.dropped, []);
    assert.equal(a.lastByteAt, T0 + 700);
    // Quiet again for less than half the window since the answer: no probe.
    clock.now = T0 + 800;
    book.heard(b, svc);
    clock.now = T0 + 1_100;
    book.sweep();
    assert.equal(world.probes.length, 1);
    // Half a window after the answer, with the peer answering meanwhile: probed again.
    clock.now = T0 + 1_200;
    book.sweep();
    assert.equal(world.probes.length, 2);
  });

  it("leaves a replica in when a byte of a response came while the probe was out", async () => {
    const { book, clock, world, a, svc, waiters } = stalling();
    clock.now = T0 + 500;
    book.sweep();
    clock.now = T0 + 600;
    book.heard(a, svc);
    clock.now = T0 + 1_000;
    await world.probes[0].answer(false);
    assert.equal(a.ejected(clock.now), false);
    assert.deepEqual(waiters.map((w) => w.stalled), [0, 0]);
    assert.equal(world.linesMatching(/ejected/).length, 0);
  });

  it("leaves a replica in when its tries ended while the probe was out", async () => {
    const { book, clock, world, a, waiters } = stalling();
    clock.now = T0 + 500;
    book.sweep();
    for (const w of waiters) book.tryEnded(a, w);
    await world.probes[0].answer(false);
    assert.equal(a.ejected(clock.now), false);
    assert.deepEqual(waiters.map((w) => w.stalled), [0, 0]);
  });

  it("does not probe a replica whose peers did not answer either", () => {
    const { book, clock, world } = setup();
    const svc = book.service("api");
    svc.listed([A, B]);
    book.tryStarted(svc.stateOf(A), new Waiter());
    book.tryStarted(svc.stateOf(B), new Waiter());
    clock.now = T0 + 5_000;
    book.sweep();
    assert.equal(world.probes.length, 0);
  });

  it("does not probe a replica whose peer answered only before it went quiet", () => {
    const { book, clock, world } = setup();
    const svc = book.service("api");
    svc.listed([A, B]);
    book.heard(svc.stateOf(B), svc);
    clock.now = T0 + 100;
    book.tryStarted(svc.stateOf(A), new Waiter());
    clock.now = T0 + 5_000;
    book.sweep();
    assert.equal(world.probes.length, 0);
  });

  it("does not probe a replica that sent a byte within half the window", () => {
    const { book, clock, world, a, svc } = stalling();
    clock.now = T0 + 300;
    book.heard(a, svc);
    clock.now = T0 + 400;
    book.heard(svc.stateOf(B), svc);
    clock.now = T0 + 799;
    book.sweep();
    assert.equal(world.probes.length, 0);
    clock.now = T0 + 800;
    book.sweep();
    assert.equal(world.probes.length, 1);
  });

  it("does not probe a replica with no try out", () => {
    const { book, clock, world, a, waiters } = stalling();
    for (const w of waiters) book.tryEnded(a, w);
    clock.now = T0 + 5_000;
    book.sweep();
    assert.equal(world.probes.length, 0);
  });

  it("does not probe an ejected replica", () => {
    const { book, clock, world, a } = stalling();
    book.eject(a, "x");
    clock.now = T0 + 5_000;
    book.sweep();
    assert.equal(world.probes.length, 0);
  });

  it("does not probe with a stall window of zero", () => {
    const { book, clock, world } = stalling({ stallWindowMs: 0 });
    clock.now = T0 + 60_000;
    book.sweep();
    assert.equal(world.probes.length, 0);
  });
});

describe("ServiceReplicas.listed", () => {
  it("knows the registry's replicas and their number", () => {
    const { book } = setup();
    const svc = book.service("api");
    svc.listed([A, B, C]);
    assert.equal(svc.size, 3);
    assert.deepEqual([...svc.states()].map((s) => s.address).sort(), [
      "10.0.0.1:8080",
      "10.0.0.2:8080",
      "10.0.0.3:8080",
    ]);
    assert.equal(svc.stateOf(A), svc.stateOf({ host: "10.0.0.1", port: 8080 }));
  });

  it("forgets a replica no longer listed, and closes its idle connections", () => {
    const { book, world, clock } = setup();
    const svc = book.service("api");
    svc.listed([A, B, C]);
    const a = svc.stateOf(A);
    judgeTimes(book, a, Outcome.GatewayFailure, 3);
    svc.listed([B, C]);
    assert.deepEqual(world.dropped, ["10.0.0.1:8080"]);
    assert.equal(svc.size, 2);
    assert.deepEqual([...svc.states()].map((s) => s.address).sort(), [
      "10.0.0.2:8080",
      "10.0.0.3:8080",
    ]);
    // Listed again, it starts afresh.
    svc.listed([A, B, C]);
    assert.notEqual(svc.stateOf(A), a);
    assert.equal(svc.stateOf(A).gatewayFailures, 0);
    assert.equal(svc.stateOf(A).ejected(clock.now), false);
  });

  it("keeps a replica no longer listed while a try is out on it, until the try ends", () => {
    const { book, world } = setup();
    const svc = book.service("api");
    svc.listed([A, B]);
    const a = svc.stateOf(A);
    const w = new Waiter();
    book.tryStarted(a, w);
    svc.listed([B]);
    assert.deepEqual(world.dropped, ["10.0.0.1:8080"]);
    assert.ok([...svc.states()].includes(a), "still known while its try is out");
    assert.equal(a.listed, false);
    assert.equal(svc.size, 1);
    book.tryEnded(a, w);
    assert.ok(![...svc.states()].includes(a), "forgotten once its try ended");
    assert.equal([...svc.states()].length, 1);
  });

  it("does not count an unlisted replica among the ejected", () => {
    const { book, clock } = setup();
    const svc = book.service("api");
    svc.listed([A, B]);
    const a = svc.stateOf(A);
    book.tryStarted(a, new Waiter());
    book.eject(a, "x");
    assert.equal(svc.ejectedCount(clock.now), 1);
    svc.listed([B, C]);
    assert.equal(svc.ejectedCount(clock.now), 0);
    assert.equal(book.eject(svc.stateOf(B), "x"), true);
  });

  it("reuses what it read of a list handed out again, unless the replicas listed changed", () => {
    const { book, world } = setup();
    const svc = book.service("api");
    // The embedded Tower's rotations of one membership: a few arrays, handed out in turn.
    const ab = [A, B], ba = [B, A], bc = [B, C];
    const first = svc.listed(ab);
    assert.deepEqual(svc.listed(ba).map((s) => s.address), ["10.0.0.2:8080", "10.0.0.1:8080"]);
    assert.equal(svc.listed(ab), first, "read before, with the same replicas listed");
    // The membership changes: an old array is read afresh, and its forgotten replica is new.
    svc.listed(bc);
    assert.deepEqual(world.dropped, ["10.0.0.1:8080"]);
    const again = svc.listed(ab);
    assert.notEqual(again, first);
    assert.notEqual(again[0], first[0], "A was forgotten: a new state");
    assert.equal(again[1], first[1], "B stayed");
    assert.equal(svc.size, 2);
  });

  it("keeps a replica listed again before its try ended", () => {
    const { book } = setup();
    const svc = book.service("api");
    svc.listed([A, B]);
    const a = svc.stateOf(A);
    const w = new Waiter();
    book.tryStarted(a, w);
    judgeTimes(book, a, Outcome.ServerError, 2);
    svc.listed([B]);
    svc.listed([A, B]);
    book.tryEnded(a, w);
    assert.equal(svc.stateOf(A), a);
    assert.equal(a.serverErrors, 2);
    assert.equal(a.listed, true);
  });
});

describe("ReplicaBook.mayRetry", () => {
  it("follows the retry budget with the service's requests and retries in flight", () => {
    const { book } = setup();
    const svc = book.service("api");
    assert.equal(book.mayRetry(svc), true);
    svc.requests = 10;
    svc.retries = 2;
    assert.equal(book.mayRetry(svc), true);
    svc.retries = 3;
    assert.equal(book.mayRetry(svc), false);
    svc.requests = 100;
    svc.retries = 19;
    assert.equal(book.mayRetry(svc), true);
    svc.retries = 20;
    assert.equal(book.mayRetry(svc), false);
  });

  it("follows the policy's budget, per service", () => {
    const { book } = setup({ retryBudgetPercent: 50, retryBudgetMin: 0 });
    const api = book.service("api"), web = book.service("web");
    assert.equal(book.mayRetry(api), false);
    api.requests = 4;
    api.retries = 1;
    assert.equal(book.mayRetry(api), true);
    api.retries = 2;
    assert.equal(book.mayRetry(api), false);
    web.requests = 4;
    assert.equal(book.mayRetry(web), true);
  });
});

describe("ReplicaBook: an ejection that ran out before any sweep", () => {
  it("counts as a return (one line) when the replica is ejected again, and decays from its end", () => {
    const { book, world, clock } = setup();
    const svc = book.service("api");
    svc.listed([A, B, C, D]);
    const a = svc.stateOf(A);
    assert.equal(book.eject(a, "first"), true);
    const firstEnd = a.ejectedUntil;
    // Long after the 30 s ejection ended (three base times), with no sweep in between.
    clock.now = firstEnd + 95_000;
    assert.equal(book.eject(a, "second"), true);
    assert.equal(world.linesMatching(/returned \(was: first\)/).length, 1);
    assert.equal(a.returnedAt, firstEnd);
    assert.equal(a.ejections, 1, "the count decayed from the first ejection's end");
    assert.equal(a.ejectedUntil, clock.now + 30_000);
  });
});
