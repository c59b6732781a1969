/**
 * The Tower's UDP client (src/tower/client.ts) over a fake socket: signing
 * on every send, retries, and which request a reply goes to. Runs unchanged
 * under `deno test` and `bun test`.
 */

import { afterEach, describe, it } from "node:test";
import assert from "node:assert/strict";
import { TowerClient } from "../../src/tower/client.ts";
import { Clock, fakeNetwork, opened, SECRET, setup, T0 } from "../helpers/tower_fixtures.ts";

afterEach(() => {
  for (const state of opened.splice(0)) state.close();
});

describe("TowerClient with a secret", () => {
  it("signs REGISTER and DEREGISTER afresh on every send; lookups stay plain", async () => {
    const net = fakeNetwork();
    const clock = new Clock();
    const client = await TowerClient.open("127.0.0.1", 7772, {
      bindUdp: net.bindUdp,
      secret: SECRET,
      now: clock.now,
      timeoutMs: 20,
      retries: 1_000,
    });
    try {
      const registered = client.send("REGISTER|web|10.0.0.7|8080");
      const looked = client.send({ kind: "LOOKUP", name: "web" });
      const [first, lookup] = net.sent.map((s) => s.text);
      assert.equal(lookup, "LOOKUP|web");
      assert.match(
        first,
        /^REGISTER\|web\|10\.0\.0\.7\|8080\|1700000000000\|[0-9a-f]{32}\|[0-9a-f]{64}$/,
      );
      // The Tower accepts exactly what the client sent.
      const { ask, clock: towerClock } = setup({ secret: SECRET });
      towerClock.t = clock.t;
      assert.equal(ask(first), "OK|REGISTERED|web");

      // Silence: the retry is a new datagram with a new nonce and time.
      clock.advance(25);
      const isRetry = (t: string) => t.startsWith("REGISTER") && t !== first;
      for (let waited = 0; waited < 2_000 && !net.sent.some((s) => isRetry(s.text)); waited += 10) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      const retry = net.sent.map((s) => s.text).find(isRetry);
      assert.ok(retry !== undefined, "a retry was sent");
      assert.notEqual(retry.split("|")[5], first.split("|")[5]);
      assert.equal(retry.split("|")[4], String(T0 + 25));
      assert.equal(ask(retry), "OK|REGISTERED|web");

      net.deliver(40_000, "OK|REGISTERED|web", "127.0.0.1", 7772);
      net.deliver(40_000, "ERR|NOT_FOUND|web", "127.0.0.1", 7772);
      assert.deepEqual(await registered, { kind: "REGISTERED", name: "web" });
      assert.deepEqual(await looked, { kind: "ERR", reason: "NOT_FOUND", name: "web" });

      const gone = client.send({ kind: "DEREGISTER", name: "web", host: "10.0.0.7", port: 8080 });
      const last = net.sent[net.sent.length - 1].text;
      assert.match(last, /^DEREGISTER\|web\|10\.0\.0\.7\|8080\|\d+\|[0-9a-f]{32}\|[0-9a-f]{64}$/);
      net.deliver(40_000, "OK|DEREGISTERED|web", "127.0.0.1", 7772);
      assert.deepEqual(await gone, { kind: "DEREGISTERED", name: "web" });
    } finally {
      client.close();
    }
  });

  it("a refusal goes to the REGISTER, not to a LOOKUP of the same service", async () => {
    const net = fakeNetwork();
    const client = await TowerClient.open("127.0.0.1", 7772, { bindUdp: net.bindUdp });
    try {
      const looked = client.send("LOOKUP|web");
      const registered = client.send("REGISTER|web|10.0.0.7|8080");
      const other = client.send("LOOKUP|api");
      net.deliver(40_000, "ERR|UNAUTHORIZED|web", "127.0.0.1", 7772);
      assert.deepEqual(await registered, { kind: "ERR", reason: "UNAUTHORIZED", name: "web" });
      // A late duplicate refusal is handed to no one.
      net.deliver(40_000, "ERR|RATE_LIMITED|web", "127.0.0.1", 7772);
      net.deliver(40_000, "OK|LOOKUP|web|10.0.0.7|8080", "127.0.0.1", 7772);
      net.deliver(40_000, "OK|LOOKUP|api|10.0.0.8|80", "127.0.0.1", 7772);
      assert.equal((await looked).kind, "LOOKUP");
      assert.deepEqual(await other, {
        kind: "LOOKUP",
        name: "api",
        replica: { host: "10.0.0.8", port: 80 },
      });
    } finally {
      client.close();
    }
  });

  it("rejects an empty secret", async () => {
    const net = fakeNetwork();
    await assert.rejects(
      TowerClient.open("127.0.0.1", 7772, { bindUdp: net.bindUdp, secret: "" }),
      TypeError,
    );
    assert.equal(net.binds(), 0);
  });
});
