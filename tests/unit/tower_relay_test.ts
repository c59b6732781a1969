/**
 * The `--procs` relay of the Tower's state (src/app/procs/relay.ts): the
 * primary's state keeps no registration time of its own, so replicas that
 * come and go leave nothing behind, and a starting worker still gets each
 * live entry's exact age; declared routes go the same way. Runs unchanged
 * under `deno test` and `bun test`.
 */

import { afterEach, describe, it } from "node:test";
import assert from "node:assert/strict";
import { RelayedTowerState, WorkerTowerState } from "../../src/app/procs/relay.ts";
import { respond } from "../../src/tower/server.ts";
import { Clock, opened } from "../helpers/tower_fixtures.ts";

afterEach(() => {
  for (const state of opened.splice(0)) state.close();
});

function relayed(clock: Clock, lines: string[] = []): RelayedTowerState {
  const relay = new RelayedTowerState((line) => lines.push(line), {
    now: clock.now,
    sweepIntervalMs: 0,
  });
  opened.push(relay);
  return relay;
}

describe("RelayedTowerState", () => {
  it("holds no more registration times than live entries while replicas churn", () => {
    const clock = new Clock();
    const lines: string[] = [];
    const relay = relayed(clock, lines);
    // 20 000 distinct replicas, a new one every 100 ms, each expiring 30 s after it came;
    // snapshot() is never called. The state sweeps every 5 s, as its timer does.
    const total = 20_000;
    const perSweep = 50;
    for (let i = 0; i < total; i++) {
      const host = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
      relay.register(`svc-${i % 7}`, host, 8000 + (i % 1000));
      clock.advance(100);
      if (i % perSweep === perSweep - 1) relay.sweep();
      // At most the live ones and those expired since the last sweep.
      assert.ok(relay.held <= relay.size + perSweep, `${relay.held} held, ${relay.size} live`);
    }
    relay.sweep();
    assert.ok(relay.size <= 300, String(relay.size));
    assert.equal(relay.held, relay.size);
    assert.equal(lines.length, total);

    // Deregistered ones go at once, their times with them.
    for (const e of relay.list()) relay.deregister(e.name, e.host, e.port);
    assert.equal(relay.held, 0);
    assert.equal(relay.size, 0);
  });

  it("a snapshot gives each live entry its exact age; a worker expires it in step", () => {
    const clock = new Clock();
    const relay = relayed(clock);
    relay.register("web", "10.0.0.7", 8080);
    clock.advance(1_234);
    relay.register("api", "::1", 9000);
    relay.register("gone", "10.0.0.9", 1);
    relay.deregister("gone", "10.0.0.9", 1);
    clock.advance(1_000);
    relay.register("web", "10.0.0.7", 8080); // a heartbeat: its age starts again
    clock.advance(500);
    const snapshot = relay.snapshot();
    assert.equal(snapshot, "R|web|10.0.0.7|8080|500\nR|api|::1|9000|1500\n");

    const worker = new WorkerTowerState({ now: clock.now, sweepIntervalMs: 0 });
    opened.push(worker.state);
    for (const line of snapshot.trim().split("\n")) assert.equal(worker.apply(line), true);
    clock.advance(28_499);
    assert.equal(relay.snapshot(), "R|web|10.0.0.7|8080|28999\nR|api|::1|9000|29999\n");
    assert.deepEqual(worker.state.replicas("api"), [{ host: "::1", port: 9000 }]);
    clock.advance(1);
    // The api entry expires on both sides at the same moment.
    assert.equal(relay.snapshot(), "R|web|10.0.0.7|8080|29000\n");
    assert.deepEqual(worker.state.replicas("api"), []);
    assert.deepEqual(worker.state.replicas("web"), [{ host: "10.0.0.7", port: 8080 }]);
  });

  it("relays a replica's weight, and a worker's entry carries it", () => {
    const clock = new Clock();
    const relay = relayed(clock);
    const lines: string[] = [];
    relay.onChange = (line) => lines.push(line);
    relay.register("web", "10.0.0.7", 8080, 3);
    assert.deepEqual(lines, ["R|web|10.0.0.7|8080|0|3\n"]);
    assert.equal(relay.snapshot(), "R|web|10.0.0.7|8080|0|3\n");
    const worker = new WorkerTowerState({ now: clock.now, sweepIntervalMs: 0 });
    opened.push(worker.state);
    assert.equal(worker.apply(lines[0]), true);
    assert.deepEqual(worker.state.replicas("web"), [{ host: "10.0.0.7", port: 8080, weight: 3 }]);
  });
});

describe("relayed declared routes", () => {
  it("a worker holds the primary's routes: same order, origin, rules and expiry", () => {
    const clock = new Clock();
    const lines: string[] = [];
    const relay = relayed(clock, lines);
    const ask = (line: string, port: number) =>
      respond(relay, line, { routes: true, senderIp: "10.0.0.7", senderPort: port });
    assert.equal(ask("ROUTE|web|/", 41000), "OK|ROUTED|web");
    clock.advance(1_000);
    assert.equal(ask('ROUTE|api|Shop.example.com/api|{"x":"a|b"}', 41001), "OK|ROUTED|api");
    assert.equal(ask("ROUTE|api|shop.example.com/api", 41002), "OK|ROUTED|api");
    assert.deepEqual(lines, [
      "A|1|0|10.0.0.7:41000|web|/\n",
      'A|2|0|10.0.0.7:41001|api|shop.example.com/api|{"x":"a|b"}\n',
      "A|2|0|10.0.0.7:41002|api|shop.example.com/api\n",
    ]);
    clock.advance(500);
    // A worker started now gets the snapshot: every declaration, with its age.
    assert.equal(
      relay.snapshot(),
      "A|1|1500|10.0.0.7:41000|web|/\n" +
        "A|2|500|10.0.0.7:41001|api|shop.example.com/api\n" +
        "A|2|500|10.0.0.7:41002|api|shop.example.com/api\n",
    );
    const worker = new WorkerTowerState({ now: clock.now, sweepIntervalMs: 0 });
    opened.push(worker.state);
    for (const line of relay.snapshot().trim().split("\n")) assert.equal(worker.apply(line), true);
    assert.deepEqual(worker.state.routes.routes(), relay.routes.routes());
    // The second ROUTE came without rules: the route has none now, on both sides.
    assert.deepEqual(relay.routes.routes()[1].spec, {
      host: "shop.example.com",
      prefix: "/api",
      service: "api",
    });

    // An UNROUTE from the route's first declarer moves its origin, everywhere.
    lines.length = 0;
    assert.equal(ask("UNROUTE|api|shop.example.com/api", 41001), "OK|UNROUTED|api");
    assert.deepEqual(lines, ["W|10.0.0.7:41001|api|shop.example.com/api\n"]);
    assert.equal(worker.apply(lines[0]), true);
    assert.equal(worker.state.routes.routes()[1].origin, "tower 10.0.0.7:41002");
    assert.deepEqual(worker.state.routes.routes(), relay.routes.routes());

    // web was declared 1.5 s before the snapshot: it expires on both sides at once.
    clock.advance(28_499);
    assert.equal(worker.state.routes.routes().length, 2);
    clock.advance(1);
    assert.deepEqual(worker.state.routes.routes().map((r) => r.spec.service), ["api"]);
    assert.deepEqual(worker.state.routes.routes(), relay.routes.routes());
  });

  it("a worker ignores route lines it cannot read, and replicas stay as they were", () => {
    const worker = new WorkerTowerState({ sweepIntervalMs: 0 });
    opened.push(worker.state);
    for (
      const line of [
        "A|0|0|10.0.0.7:1|api|/api",
        "A|1|x|10.0.0.7:1|api|/api",
        "A|1|0|10.0.0.7:1|a b|/api",
        "A|1|0|10.0.0.7:1|api|api",
        "A|1|0|10.0.0.7:1|api|/api|[1]",
        "W|10.0.0.7:1|api",
      ]
    ) {
      assert.equal(worker.apply(line), false, line);
    }
    assert.deepEqual(worker.state.routes.routes(), []);
    assert.deepEqual(worker.state.list(), []);
  });
});
