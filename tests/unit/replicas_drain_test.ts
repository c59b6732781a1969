/**
 * Draining (src/replicas/service.ts, book.ts, pick.ts): a drained replica
 * is never picked (not in a panic either), keeps no idle pooled
 * connection, stays drained through the registry listing it again, and
 * its drain is forgotten once the registry drops it; a drain told before
 * the replica was seen (a `--procs` worker) applies when it appears. Runs
 * under `deno test` and `bun test`.
 */

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { ReplicaBook } from "../../src/replicas/book.ts";
import { FailoverPlan } from "../../src/replicas/pick.ts";
import { DEFAULT_POLICY } from "../../src/replicas/policy.ts";
import type { Replica } from "../../src/registry/types.ts";

const A: Replica = { host: "10.0.0.1", port: 8080 };
const B: Replica = { host: "10.0.0.2", port: 8080 };
const C: Replica = { host: "10.0.0.3", port: 8080 };

function world() {
  const dropped: string[] = [];
  const lines: string[] = [];
  const forgotten: string[] = [];
  const clock = { now: 1_700_000_000_000 };
  const book = new ReplicaBook(DEFAULT_POLICY, {
    clock,
    log: (l) => lines.push(l),
    dropIdle: (a) => dropped.push(a),
    probe: () => Promise.resolve(true),
  });
  book.onDrainForgotten = (service, address) => forgotten.push(`${service} ${address}`);
  return { book, dropped, lines, forgotten, clock };
}

/** Every replica a fresh plan over `list` hands out. */
function picks(book: ReplicaBook, list: readonly Replica[], now: number): string[] {
  const plan = new FailoverPlan(list, 10);
  plan.reset(list, 10, book.service("api"), now);
  const out: string[] = [];
  for (let r = plan.next(now); r !== undefined; r = plan.next(now)) out.push(r.host);
  return out;
}

describe("draining a replica", () => {
  it("leaves it out of picking and closes its idle connections", () => {
    const { book, dropped, clock } = world();
    const list = [A, B, C];
    book.service("api").listed(list);
    assert.equal(book.drain("api", "10.0.0.2:8080", true), true);
    assert.equal(book.drain("api", "10.0.0.2:8080", true), false, "a second drain changes nothing");
    assert.deepEqual(dropped, ["10.0.0.2:8080"]);
    assert.deepEqual(picks(book, list, clock.now), ["10.0.0.1", "10.0.0.3"]);
    assert.deepEqual([...book.drains()], [["api", "10.0.0.2:8080"]]);
    assert.equal(book.drain("api", "10.0.0.2:8080", false), true);
    assert.deepEqual(picks(book, list, clock.now), ["10.0.0.1", "10.0.0.2", "10.0.0.3"]);
    assert.deepEqual([...book.drains()], []);
  });

  it("stays drained while the registry lists it again (heartbeats, a new answer)", () => {
    const { book, clock, forgotten } = world();
    book.service("api").listed([A, B]);
    book.drain("api", "10.0.0.1:8080", true);
    // A new answer of the same replicas, in another order (a heartbeat, the Tower's rotation).
    const again = [{ ...B }, { ...A }];
    book.service("api").listed(again);
    assert.equal(book.service("api").stateOf(A).drained, true);
    assert.deepEqual(picks(book, again, clock.now), ["10.0.0.2"]);
    assert.deepEqual(forgotten, []);
  });

  it("is forgotten when the registry drops the replica, so it comes back undrained", () => {
    const { book, clock, forgotten } = world();
    book.service("api").listed([A, B]);
    book.drain("api", "10.0.0.1:8080", true);
    book.service("api").listed([B]);
    assert.deepEqual(forgotten, ["api 10.0.0.1:8080"]);
    assert.deepEqual([...book.drains()], []);
    const back = [A, B];
    book.service("api").listed(back);
    assert.deepEqual(picks(book, back, clock.now), ["10.0.0.1", "10.0.0.2"]);
  });

  it("is forgotten when the registry says the replica left (deregistered, expired)", () => {
    const { book, forgotten } = world();
    book.service("api").listed([A, B]);
    book.drain("api", "10.0.0.1:8080", true);
    book.removed("api", A);
    assert.deepEqual(forgotten, ["api 10.0.0.1:8080"]);
    assert.deepEqual([...book.drains()], []);
  });

  it("applies a drain told before the replica was seen once it appears", () => {
    const { book, clock, forgotten } = world();
    book.drain("api", "10.0.0.3:8080", true);
    const list = [A, C];
    assert.deepEqual(picks(book, list, clock.now), ["10.0.0.1"]);
    assert.equal(book.service("api").stateOf(C).drained, true);
    assert.deepEqual(forgotten, []);
  });

  it("keeps a drained replica out of a panic, and leaves none when every one is drained", () => {
    const { book, clock, lines } = world();
    const list = [A, B];
    book.service("api").listed(list);
    book.service("api").stateOf(A).ejectedUntil = clock.now + 30_000;
    book.drain("api", "10.0.0.2:8080", true);
    // Every replica out: the panic routes to the ejected one, not the drained one.
    assert.deepEqual(picks(book, list, clock.now), ["10.0.0.1"]);
    assert.match(lines.join("\n"), /every replica is ejected; routing to all \(panic\)/);
    book.drain("api", "10.0.0.1:8080", true);
    assert.deepEqual(picks(book, list, clock.now), []);
  });
});
