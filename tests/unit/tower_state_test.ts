/**
 * The Tower's state (src/tower/state.ts): TTL with an injected clock, least
 * recently served round robin, and the embedded registry over it. No
 * sockets, so the file runs unchanged under `deno test` and `bun test`.
 */

import { afterEach, describe, it } from "node:test";
import assert from "node:assert/strict";
import { DEFAULT_TTL_MS } from "../../src/tower/protocol.ts";
import { respond } from "../../src/tower/server.ts";
import { EmbeddedTowerRegistry } from "../../src/registry/tower/embedded.ts";
import { formatHostPort } from "../../src/net/address.ts";
import { newState, opened } from "../helpers/tower_fixtures.ts";

afterEach(() => {
  for (const state of opened.splice(0)) state.close();
});

const addr = (r: { host: string; port: number } | undefined) =>
  r === undefined ? "none" : formatHostPort(r.host, r.port);

describe("TowerState", () => {
  it("re-REGISTER refreshes the TTL and never duplicates", () => {
    const { state, clock } = newState();
    assert.equal(state.register("web", "10.0.0.7", 8080), true);
    clock.advance(20_000);
    assert.equal(state.register("web", "10.0.0.7", 8080), false);
    assert.equal(state.size, 1);
    clock.advance(20_000); // 40 s after the first REGISTER, 20 s after the heartbeat
    assert.equal(addr(state.lookup("web")), "10.0.0.7:8080");
    assert.deepEqual(state.list(), [{ name: "web", host: "10.0.0.7", port: 8080, ttlLeft: 10 }]);
  });

  it("keeps a replica's weight, changed by a heartbeat with another, and shown in no listing", () => {
    const { state } = newState();
    state.register("web", "10.0.0.7", 8080, 3);
    state.register("web", "10.0.0.8", 8080);
    const weights = () => state.replicas("web").map((r) => [r.host, r.weight ?? 1]).sort();
    assert.deepEqual(weights(), [["10.0.0.7", 3], ["10.0.0.8", 1]]);
    assert.equal(state.register("web", "10.0.0.7", 8080, 5), false);
    assert.deepEqual(weights(), [["10.0.0.7", 5], ["10.0.0.8", 1]]);
    assert.equal(state.register("web", "10.0.0.7", 8080), false);
    assert.deepEqual(weights(), [["10.0.0.7", 1], ["10.0.0.8", 1]]);
    assert.deepEqual(Object.keys(state.list()[0]), ["name", "host", "port", "ttlLeft"]);
  });

  it("known() lists every service's replicas without moving the round robin", () => {
    const { state } = newState();
    state.register("web", "10.0.0.7", 8080);
    state.register("web", "10.0.0.8", 8080);
    state.register("api", "10.0.0.9", 9000);
    const before = addr(state.lookup("web"));
    assert.deepEqual(
      state.known().map(([name, rs]) => [name, rs.map((r) => `${r.host}:${r.port}`).sort()]),
      [["web", ["10.0.0.7:8080", "10.0.0.8:8080"]], ["api", ["10.0.0.9:9000"]]],
    );
    state.known();
    assert.notEqual(addr(state.lookup("web")), before, "LOOKUP still alternates");
  });

  it("entries expire 30 s after their last REGISTER (lazily, at lookup)", () => {
    const { state, clock } = newState();
    state.register("web", "10.0.0.7", 8080);
    clock.advance(DEFAULT_TTL_MS - 1);
    assert.equal(addr(state.lookup("web")), "10.0.0.7:8080");
    assert.equal(state.list()[0].ttlLeft, 1);
    clock.advance(1);
    assert.equal(state.lookup("web"), undefined);
    assert.deepEqual(state.replicas("web"), []);
    assert.equal(state.size, 0);
    assert.deepEqual(state.list(), []);
  });

  it("expiry removes only the stale replica", () => {
    const { state, clock } = newState();
    state.register("web", "10.0.0.1", 80);
    clock.advance(10_000);
    state.register("web", "10.0.0.2", 80);
    clock.advance(25_000);
    assert.deepEqual(state.replicas("web").map(addr), ["10.0.0.2:80"]);
    assert.equal(respond(state, "LIST"), "OK|LIST|1|web:10.0.0.2:80:5");
  });

  it("a replica that re-registers after expiring comes back as new", () => {
    const { state, clock } = newState();
    state.register("web", "10.0.0.1", 80);
    clock.advance(31_000);
    assert.equal(state.register("web", "10.0.0.1", 80), true);
    assert.equal(addr(state.lookup("web")), "10.0.0.1:80");
  });

  it("ttl_left is whole seconds, rounded up", () => {
    const { state, clock } = newState();
    state.register("web", "10.0.0.7", 8080);
    const ttl = () => state.list()[0].ttlLeft;
    assert.equal(ttl(), 30);
    clock.advance(500);
    assert.equal(ttl(), 30);
    clock.advance(500);
    assert.equal(ttl(), 29);
    clock.advance(28_999);
    assert.equal(ttl(), 1);
  });

  it("round robin: least recently served first, over 3 replicas", () => {
    const { state } = newState();
    state.register("web", "10.0.0.1", 80);
    state.register("web", "10.0.0.2", 80);
    state.register("web", "10.0.0.3", 80);
    const served = Array.from({ length: 7 }, () => addr(state.lookup("web")));
    assert.deepEqual(served, [
      "10.0.0.1:80",
      "10.0.0.2:80",
      "10.0.0.3:80",
      "10.0.0.1:80",
      "10.0.0.2:80",
      "10.0.0.3:80",
      "10.0.0.1:80",
    ]);
  });

  it("a heartbeat does not move a replica in the rotation", () => {
    const { state } = newState();
    state.register("web", "10.0.0.1", 80);
    state.register("web", "10.0.0.2", 80);
    state.register("web", "10.0.0.3", 80);
    state.lookup("web"); // .1 served
    state.register("web", "10.0.0.1", 80);
    state.register("web", "10.0.0.2", 80);
    assert.deepEqual([1, 2, 3].map(() => addr(state.lookup("web"))), [
      "10.0.0.2:80",
      "10.0.0.3:80",
      "10.0.0.1:80",
    ]);
  });

  it("a new replica has never been served, so it goes next", () => {
    const { state } = newState();
    state.register("web", "10.0.0.1", 80);
    state.register("web", "10.0.0.2", 80);
    state.register("web", "10.0.0.3", 80);
    state.lookup("web"); // .1
    state.register("web", "10.0.0.4", 80);
    assert.deepEqual(state.replicas("web").map(addr), [
      "10.0.0.2:80",
      "10.0.0.3:80",
      "10.0.0.4:80",
      "10.0.0.1:80",
    ]);
    // .2 was just served by replicas(); never-served .3 and .4 come next.
    assert.deepEqual([1, 2, 3, 4].map(() => addr(state.lookup("web"))), [
      "10.0.0.3:80",
      "10.0.0.4:80",
      "10.0.0.1:80",
      "10.0.0.2:80",
    ]);
  });

  it("replicas(): all live, LRS first, rotating; shares one rotation with lookup()", () => {
    const { state } = newState();
    state.register("web", "10.0.0.1", 80);
    state.register("web", "10.0.0.2", 80);
    state.register("web", "10.0.0.3", 80);
    assert.deepEqual(state.replicas("web").map(addr), [
      "10.0.0.1:80",
      "10.0.0.2:80",
      "10.0.0.3:80",
    ]);
    assert.deepEqual(state.replicas("web").map(addr), [
      "10.0.0.2:80",
      "10.0.0.3:80",
      "10.0.0.1:80",
    ]);
    assert.equal(addr(state.lookup("web")), "10.0.0.3:80");
    assert.deepEqual(state.replicas("web").map(addr), [
      "10.0.0.1:80",
      "10.0.0.2:80",
      "10.0.0.3:80",
    ]);
  });

  it("replicas() returns frozen replicas", () => {
    const { state } = newState();
    state.register("web", "10.0.0.1", 80);
    const a = state.replicas("web");
    assert.throws(() => {
      (a[0] as { port: number }).port = 1;
    }, TypeError);
    assert.deepEqual(state.replicas("web"), [{ host: "10.0.0.1", port: 80 }]);
  });

  it("replicas() hands out one array per rotation until the membership changes", () => {
    const { state, clock } = newState();
    state.register("web", "10.0.0.1", 80);
    state.register("web", "10.0.0.2", 80);
    const first = state.replicas("web");
    const second = state.replicas("web");
    assert.deepEqual(first.map(addr), ["10.0.0.1:80", "10.0.0.2:80"]);
    assert.deepEqual(second.map(addr), ["10.0.0.2:80", "10.0.0.1:80"]);
    // The same rotation again: the same array, nothing allocated.
    assert.equal(state.replicas("web"), first);
    assert.equal(state.replicas("web"), second);
    // A new replica: new orders that include it, and the round robin goes on.
    state.register("web", "10.0.0.3", 80);
    const third = state.replicas("web");
    assert.notEqual(third, first);
    assert.deepEqual(third.map(addr), ["10.0.0.3:80", "10.0.0.1:80", "10.0.0.2:80"]);
    assert.deepEqual(state.replicas("web").map(addr), [
      "10.0.0.1:80",
      "10.0.0.2:80",
      "10.0.0.3:80",
    ]);
    // A deregistered one leaves every order at once.
    state.deregister("web", "10.0.0.2", 80);
    assert.deepEqual(state.replicas("web").map(addr), ["10.0.0.3:80", "10.0.0.1:80"]);
    assert.deepEqual(state.replicas("web").map(addr), ["10.0.0.1:80", "10.0.0.3:80"]);
    // So does an expired one, even with orders built while it was alive.
    clock.advance(20_000);
    state.register("web", "10.0.0.1", 80); // heartbeat: 10.0.0.3 is now the older one
    clock.advance(15_000);
    assert.deepEqual(state.replicas("web").map(addr), ["10.0.0.1:80"]);
    assert.deepEqual(state.replicas("web").map(addr), ["10.0.0.1:80"]);
  });

  it("replicas() of a service with many replicas still rotates through all of them", () => {
    const { state } = newState();
    const n = 40;
    for (let i = 1; i <= n; i++) state.register("big", `10.0.1.${i}`, 80);
    const seen = new Set<string>();
    for (let i = 0; i < n; i++) {
      const order = state.replicas("big");
      assert.equal(order.length, n);
      assert.equal(new Set(order.map(addr)).size, n);
      seen.add(addr(order[0]));
    }
    assert.equal(seen.size, n);
    assert.equal(addr(state.replicas("big")[0]), "10.0.1.1:80");
  });

  it("services are independent", () => {
    const { state } = newState();
    state.register("web", "10.0.0.1", 80);
    state.register("api", "10.0.0.1", 80);
    state.register("web", "10.0.0.2", 80);
    assert.equal(addr(state.lookup("api")), "10.0.0.1:80");
    assert.equal(addr(state.lookup("web")), "10.0.0.1:80");
    assert.equal(addr(state.lookup("api")), "10.0.0.1:80");
    assert.equal(addr(state.lookup("web")), "10.0.0.2:80");
    assert.equal(state.lookup("nope"), undefined);
  });

  it("DEREGISTER removes exactly one replica; the service goes when empty", () => {
    const { state, clock } = newState();
    state.register("web", "10.0.0.1", 80);
    state.register("web", "10.0.0.1", 81);
    state.register("web", "10.0.0.2", 80);
    assert.equal(state.deregister("web", "10.0.0.1", 80), true);
    assert.equal(state.deregister("web", "10.0.0.1", 80), false);
    assert.equal(state.deregister("api", "10.0.0.1", 81), false);
    assert.deepEqual(state.replicas("web").map(addr), ["10.0.0.1:81", "10.0.0.2:80"]);
    assert.equal(state.deregister("web", "10.0.0.1", 81), true);
    assert.equal(state.deregister("web", "10.0.0.2", 80), true);
    assert.equal(state.lookup("web"), undefined);
    assert.equal(respond(state, "LIST"), "OK|LIST|0|");
    // An expired entry is already gone.
    state.register("web", "10.0.0.3", 80);
    clock.advance(30_000);
    assert.equal(state.deregister("web", "10.0.0.3", 80), false);
  });

  it("register() refuses what the protocol could not carry", () => {
    const { state } = newState();
    assert.throws(() => state.register("a|b", "10.0.0.1", 80), TypeError);
    assert.throws(() => state.register("web", "10.0.0.1|80", 80), TypeError);
    assert.throws(() => state.register("web", "10.0.0.1", 0), TypeError);
    assert.throws(() => state.register("web", "10.0.0.1", 80.5), TypeError);
    assert.equal(state.size, 0);
  });

  it("sweep() drops expired entries of services nobody looks up", () => {
    const { state, clock } = newState();
    state.register("a", "10.0.0.1", 80);
    state.register("b", "10.0.0.1", 80);
    clock.advance(15_000);
    state.register("b", "10.0.0.2", 80);
    clock.advance(15_000);
    assert.equal(state.sweep(), 2);
    assert.equal(state.sweep(), 0);
    assert.equal(state.size, 1);
  });

  it("the background sweep runs on its timer", async () => {
    const { state, clock } = newState({ sweepIntervalMs: 5 });
    state.register("a", "10.0.0.1", 80);
    clock.advance(30_000);
    await new Promise((resolve) => setTimeout(resolve, 40));
    // The timer already dropped it, so a manual sweep finds nothing.
    assert.equal(state.sweep(), 0);
  });

  it("a custom TTL", () => {
    const { state, clock } = newState({ ttlMs: 1_000 });
    state.register("a", "10.0.0.1", 80);
    assert.equal(respond(state, "LIST"), "OK|LIST|1|a:10.0.0.1:80:1");
    clock.advance(1_000);
    assert.equal(state.lookup("a"), undefined);
  });
});

describe("TowerState.onRemoved", () => {
  it("hears each replica that is deregistered or expires, once", () => {
    const { state, clock } = newState();
    const gone: string[] = [];
    state.onRemoved = (name, r) => gone.push(`${name} ${r.host}:${r.port}`);
    state.register("web", "10.0.0.1", 80);
    state.register("web", "10.0.0.2", 80);
    state.register("api", "10.0.0.3", 80);
    state.deregister("web", "10.0.0.1", 80);
    state.deregister("web", "10.0.0.9", 80); // not there: nothing to hear
    assert.deepEqual(gone, ["web 10.0.0.1:80"]);
    clock.advance(DEFAULT_TTL_MS + 1);
    state.sweep();
    state.sweep();
    assert.deepEqual(gone.sort(), ["api 10.0.0.3:80", "web 10.0.0.1:80", "web 10.0.0.2:80"]);
  });
});

describe("EmbeddedTowerRegistry", () => {
  it("resolves synchronously, in round-robin order", () => {
    const { state } = newState();
    const registry = new EmbeddedTowerRegistry(state);
    state.register("web", "10.0.0.1", 80);
    state.register("web", "10.0.0.2", 80);
    const first = registry.resolve("web");
    assert.ok(Array.isArray(first), "an array, not a promise");
    assert.deepEqual(first.map(addr), ["10.0.0.1:80", "10.0.0.2:80"]);
    assert.deepEqual(registry.resolve("web").map(addr), ["10.0.0.2:80", "10.0.0.1:80"]);
    assert.deepEqual(registry.resolve("missing"), []);
    registry.close();
    // The state was passed in, so it is still the caller's and still works.
    assert.equal(state.size, 2);
  });

  it("owns and closes a state it created", () => {
    const registry = new EmbeddedTowerRegistry();
    registry.state.register("web", "10.0.0.1", 80);
    assert.deepEqual(registry.resolve("web"), [{ host: "10.0.0.1", port: 80 }]);
    registry.close();
  });
});
