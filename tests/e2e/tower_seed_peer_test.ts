/**
 * Gatehouse's Tower client against a seed-like Tower over real UDP
 * (tests/helpers/tower_seed.ts), several requests in flight and the replies
 * sent back out of order: each reply reaches the request it answers, though
 * the seed's errors (`ERR|unknown command`, `ERR|registry full`,
 * `ERR|REGISTER syntax: name|ip|port`) name no service.
 */

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { bindUdp } from "../../src/runtime/udp.ts";
import { TowerClient } from "../../src/tower.ts";
import { RemoteTowerRegistry } from "../../src/registry/tower/remote.ts";
import { TowerRefusedError, TowerRegistrar } from "../../src/registry/tower/registrar.ts";
import { startSeedTower } from "../helpers/tower_seed.ts";

/** Per test: a lost reply must fail a test, not hang the run. */
const LIMIT = { timeout: 15_000 };
/** 39 characters: the seed reads at most 15 of an address. */
const LONG_IPV6 = "2001:db8:1234:5678:9abc:def0:1234:5678";

describe("TowerClient against a seed Tower, replies out of order", () => {
  it("gives each request its own reply, the seed's errors included", LIMIT, async () => {
    const seed = await startSeedTower({ maxEntries: 1, reorderAfterMs: 40 });
    const client = await TowerClient.open("127.0.0.1", seed.port, { bindUdp, timeoutMs: 2_000 });
    try {
      const [lookup, lookupAll, v6, first, second, deregister, pong] = await Promise.all([
        client.send("LOOKUP|x"),
        client.send("LOOKUPALL|y"),
        client.send(`REGISTER|a|${LONG_IPV6}|80`),
        client.send("REGISTER|b|10.0.0.1|80"),
        client.send("REGISTER|c|10.0.0.2|80"),
        client.send(`DEREGISTER|d|${LONG_IPV6}|80`),
        client.send("PING"),
      ]);
      assert.deepEqual(lookup, { kind: "ERR", reason: "NOT_FOUND", name: "x" });
      assert.deepEqual(lookupAll, { kind: "ERR", reason: "unknown command" });
      assert.deepEqual(v6, { kind: "ERR", reason: "REGISTER syntax: name|ip|port" });
      assert.deepEqual(first, { kind: "REGISTERED", name: "b" });
      assert.deepEqual(second, { kind: "ERR", reason: "registry full" });
      assert.deepEqual(deregister, { kind: "ERR", reason: "DEREGISTER syntax: name|ip|port" });
      assert.deepEqual(pong, { kind: "PONG" });
      // Each request was sent once: no reply went missing or astray.
      assert.equal(seed.received.length, 7, seed.received.join(" "));
    } finally {
      client.close();
      seed.close();
    }
  });

  it(
    "LOOKUPALLs of several services take the seed's unknown command, a LOOKUP none",
    LIMIT,
    async () => {
      const seed = await startSeedTower({ reorderAfterMs: 40 });
      const client = await TowerClient.open("127.0.0.1", seed.port, { bindUdp, timeoutMs: 2_000 });
      try {
        const replies = await Promise.all([
          client.send("LOOKUP|b"),
          client.send("LOOKUPALL|a"),
          client.send("LOOKUPALL|c"),
          client.send("LOOKUPALL|d"),
        ]);
        assert.deepEqual(replies, [
          { kind: "ERR", reason: "NOT_FOUND", name: "b" },
          { kind: "ERR", reason: "unknown command" },
          { kind: "ERR", reason: "unknown command" },
          { kind: "ERR", reason: "unknown command" },
        ]);
        assert.equal(seed.received.length, 4);
      } finally {
        client.close();
        seed.close();
      }
    },
  );
});

describe("RemoteTowerRegistry against a seed Tower", () => {
  it("falls back to LOOKUP with several resolves in flight", LIMIT, async () => {
    const seed = await startSeedTower({ reorderAfterMs: 30 }, [
      { name: "web", ip: "127.0.0.1", port: 8081 },
      { name: "api", ip: "127.0.0.1", port: 9001 },
    ]);
    const registry = await RemoteTowerRegistry.connect({ host: "127.0.0.1", port: seed.port }, {
      timeoutMs: 2_000,
    });
    try {
      const [web, api, none] = await Promise.all([
        registry.resolve("web"),
        registry.resolve("api"),
        registry.resolve("none"),
      ]);
      assert.deepEqual(web, [{ host: "127.0.0.1", port: 8081 }]);
      assert.deepEqual(api, [{ host: "127.0.0.1", port: 9001 }]);
      assert.deepEqual(none, []);
      assert.equal(registry.usesLookupFallback, true);
      assert.deepEqual(seed.received.slice(0, 3).sort(), [
        "LOOKUPALL|api",
        "LOOKUPALL|none",
        "LOOKUPALL|web",
      ]);
      assert.deepEqual(seed.received.slice(3).sort(), ["LOOKUP|api", "LOOKUP|none", "LOOKUP|web"]);
      // For good: no more LOOKUPALL.
      assert.deepEqual(await registry.resolve("web"), [{ host: "127.0.0.1", port: 8081 }]);
      assert.equal(seed.received.at(-1), "LOOKUP|web");
    } finally {
      registry.close();
      seed.close();
    }
  });
});

describe("TowerRegistrar against a seed Tower", () => {
  it(
    "reports each refusal, in the seed's words, for the registration it refused",
    LIMIT,
    async () => {
      const seed = await startSeedTower({ maxEntries: 1, reorderAfterMs: 30 });
      const registrar = await TowerRegistrar.open({ host: "127.0.0.1", port: seed.port }, {
        bindUdp,
        timeoutMs: 2_000,
      });
      try {
        const [ok, v6, full] = await Promise.allSettled([
          registrar.register("web", { host: "127.0.0.1", port: 8081 }),
          registrar.register("api", { host: LONG_IPV6, port: 9001 }),
          registrar.register("db", { host: "127.0.0.1", port: 5432 }),
        ]);
        assert.equal(ok.status, "fulfilled");
        assert.equal(v6.status, "rejected");
        const syntax = (v6 as PromiseRejectedResult).reason;
        assert.ok(syntax instanceof TowerRefusedError, String(syntax));
        assert.match(syntax.message, /REGISTER api \[2001:db8:[0-9a-f:]+\]:9001/);
        assert.match(syntax.message, /"ERR\|REGISTER syntax: name\|ip\|port"/);
        assert.match(syntax.message, /at most 15 characters/);
        assert.equal(full.status, "rejected");
        const refused = (full as PromiseRejectedResult).reason;
        assert.ok(refused instanceof TowerRefusedError, String(refused));
        assert.match(refused.message, /REGISTER db 127\.0\.0\.1:5432 with "ERR\|registry full"/);
        assert.match(refused.message, /as many entries as it holds/);
      } finally {
        await registrar.close();
        seed.close();
      }
    },
  );
});
