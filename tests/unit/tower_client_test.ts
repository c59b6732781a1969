/**
 * The Tower's UDP client (src/tower/client.ts) over a fake socket: signing
 * on every send, retries, and which request a reply goes to, with the seed's
 * errors that name no service. Runs unchanged under `deno test` and
 * `bun test`.
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

describe("TowerClient: which request a reply answers", () => {
  const TOWER = 7772;
  const CLIENT = 40_000;

  /** "settled" when `promise` has settled by now, "pending" otherwise. */
  const status = (promise: Promise<unknown>) =>
    Promise.race([
      promise.then(() => "settled", () => "settled"),
      Promise.resolve("pending"),
    ]);

  async function open(timeoutMs = 5_000, retries = 1) {
    const net = fakeNetwork();
    const client = await TowerClient.open("127.0.0.1", TOWER, {
      bindUdp: net.bindUdp,
      timeoutMs,
      retries,
    });
    const reply = (text: string) => net.deliver(CLIENT, text, "127.0.0.1", TOWER);
    const sent = () => net.sent.map((s) => s.text);
    return { client, reply, sent };
  }

  it("an ERR that names nothing goes to the request that can have it, not the oldest", async () => {
    const { client, reply, sent } = await open();
    try {
      const looked = client.send("LOOKUP|web");
      const registered = client.send("REGISTER|api|10.0.0.7|8080");
      assert.deepEqual(sent(), ["LOOKUP|web", "REGISTER|api|10.0.0.7|8080"]);
      reply("ERR|registry full");
      assert.deepEqual(await registered, { kind: "ERR", reason: "registry full" });
      assert.equal(await status(looked), "pending");
      reply("ERR|NOT_FOUND|web");
      assert.deepEqual(await looked, { kind: "ERR", reason: "NOT_FOUND", name: "web" });
    } finally {
      client.close();
    }
  });

  it("one REGISTER or DEREGISTER at a time: a syntax error has one owner", async () => {
    const { client, reply, sent } = await open();
    try {
      const a = client.send("REGISTER|a|10.0.0.7|80");
      const b = client.send("REGISTER|b|10.0.0.7|80");
      const c = client.send("DEREGISTER|c|10.0.0.7|80");
      const looked = client.send("LOOKUP|d");
      // The LOOKUP cannot be confused with them and goes at once.
      assert.deepEqual(sent(), ["REGISTER|a|10.0.0.7|80", "LOOKUP|d"]);
      reply("ERR|REGISTER syntax: name|ip|port");
      assert.deepEqual(await a, { kind: "ERR", reason: "REGISTER syntax: name|ip|port" });
      assert.equal(sent().at(-1), "REGISTER|b|10.0.0.7|80");
      assert.equal(await status(b), "pending");
      reply("OK|REGISTERED|b");
      assert.deepEqual(await b, { kind: "REGISTERED", name: "b" });
      assert.equal(sent().at(-1), "DEREGISTER|c|10.0.0.7|80");
      reply("ERR|DEREGISTER syntax: name|ip|port");
      assert.deepEqual(await c, { kind: "ERR", reason: "DEREGISTER syntax: name|ip|port" });
      reply("ERR|NOT_FOUND|d");
      assert.deepEqual(await looked, { kind: "ERR", reason: "NOT_FOUND", name: "d" });
      assert.equal(sent().length, 4);
    } finally {
      client.close();
    }
  });

  it("LOOKUPALLs share a seed's unknown command; a LOOKUP and a REGISTER wait", async () => {
    const { client, reply, sent } = await open();
    try {
      const looked = client.send("LOOKUP|x");
      const a = client.send("LOOKUPALL|a");
      const b = client.send("LOOKUPALL|b");
      const registered = client.send("REGISTER|c|10.0.0.7|80");
      // A REGISTER and a LOOKUPALL could both get an unnamed ERR: it waits.
      assert.deepEqual(sent(), ["LOOKUP|x", "LOOKUPALL|a", "LOOKUPALL|b"]);
      reply("ERR|unknown command");
      reply("ERR|unknown command");
      assert.deepEqual(await a, { kind: "ERR", reason: "unknown command" });
      assert.deepEqual(await b, { kind: "ERR", reason: "unknown command" });
      assert.equal(await status(looked), "pending");
      assert.equal(sent().at(-1), "REGISTER|c|10.0.0.7|80");
      reply("ERR|unknown command");
      assert.deepEqual(await registered, { kind: "ERR", reason: "unknown command" });
      assert.equal(await status(looked), "pending");
      reply("ERR|NOT_FOUND|x");
      assert.deepEqual(await looked, { kind: "ERR", reason: "NOT_FOUND", name: "x" });
    } finally {
      client.close();
    }
  });

  it("a LOOKUP waits for a LOOKUPALL of its service: both may get its NOT_FOUND", async () => {
    const { client, reply, sent } = await open();
    try {
      const all = client.send("LOOKUPALL|web");
      const one = client.send("LOOKUP|web");
      assert.deepEqual(sent(), ["LOOKUPALL|web"]);
      reply("ERR|NOT_FOUND|web");
      assert.deepEqual(await all, { kind: "ERR", reason: "NOT_FOUND", name: "web" });
      assert.deepEqual(sent(), ["LOOKUPALL|web", "LOOKUP|web"]);
      reply("OK|LOOKUP|web|10.0.0.7|80");
      assert.equal((await one).kind, "LOOKUP");
    } finally {
      client.close();
    }
  });

  it("a late answer to a retried request is nobody's: the next request retries", async () => {
    const { client, reply, sent } = await open(40, 5);
    try {
      const first = client.send("REGISTER|a|10.0.0.7|80");
      while (sent().length < 2) await new Promise((resolve) => setTimeout(resolve, 5));
      reply("ERR|registry full");
      assert.deepEqual(await first, { kind: "ERR", reason: "registry full" });
      const second = client.send("REGISTER|b|10.0.0.7|80");
      assert.equal(sent().length, 3);
      // The answer to the first one's other datagram, or the second one's? No telling.
      reply("ERR|registry full");
      assert.equal(await status(second), "pending");
      // Its retry comes after the first one's late answers stopped being expected.
      while (sent().length < 4) await new Promise((resolve) => setTimeout(resolve, 5));
      assert.equal(sent()[3], "REGISTER|b|10.0.0.7|80");
      reply("ERR|registry full");
      assert.deepEqual(await second, { kind: "ERR", reason: "registry full" });
    } finally {
      client.close();
    }
  });

  it("a named answer is never in doubt, retries or not", async () => {
    const { client, reply, sent } = await open(40, 5);
    try {
      const first = client.send("REGISTER|a|10.0.0.7|80");
      while (sent().length < 2) await new Promise((resolve) => setTimeout(resolve, 5));
      reply("OK|REGISTERED|a");
      assert.deepEqual(await first, { kind: "REGISTERED", name: "a" });
      const second = client.send("DEREGISTER|b|10.0.0.7|80");
      reply("OK|REGISTERED|a"); // the late one
      assert.equal(await status(second), "pending");
      reply("ERR|NOT_FOUND|b");
      assert.deepEqual(await second, { kind: "ERR", reason: "NOT_FOUND", name: "b" });
      assert.equal(sent().length, 3);
    } finally {
      client.close();
    }
  });

  it("refuses a request value a Tower would refuse, without sending it", async () => {
    const { client, sent } = await open();
    try {
      await assert.rejects(client.send({ kind: "LOOKUP", name: "a|b" }), TypeError);
      await assert.rejects(
        client.send({ kind: "REGISTER", name: "web", host: "10.0.0.7", port: 70_000 }),
        TypeError,
      );
      assert.deepEqual(sent(), []);
    } finally {
      client.close();
    }
  });
});
