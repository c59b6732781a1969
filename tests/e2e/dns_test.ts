/**
 * The DNS SRV registry against a real dnsmasq on 127.0.0.1: replicas and
 * ports from SRV records, changes picked up after the TTL, the last good
 * answer served while the server is down, lookups bounded by the timeout,
 * unknown services answered with no replicas.
 */

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import dgram from "node:dgram";
import { DnsRegistry, type DnsRegistryOptions } from "../../src/registry/dns/registry.ts";
import type { Replica } from "../../src/registry/types.ts";
import { type Dnsmasq, type DnsmasqRecords, startDnsmasq } from "../helpers/dnsmasq.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const hostPorts = (replicas: Replica[]) => replicas.map((r) => `${r.host}:${r.port}`).sort();

const WEB = "_http._tcp.web.svc.local";

/** web-1 (weight 10) and web-2 (weight 5), both priority 0; TTL 1 s. */
function records(web2Port = 8082): DnsmasqRecords {
  return {
    srv: [
      { name: WEB, target: "web-1.svc.local", port: 8081, priority: 0, weight: 10 },
      { name: WEB, target: "web-2.svc.local", port: web2Port, priority: 0, weight: 5 },
    ],
    hosts: [
      { name: "web-1.svc.local", addresses: ["127.0.0.1"] },
      { name: "web-2.svc.local", addresses: ["127.0.0.2"] },
    ],
  };
}

/** Polls the synchronous answer until `done` holds; returns the ms it took. */
async function until(
  registry: DnsRegistry,
  done: (replicas: Replica[]) => boolean,
  limitMs: number,
): Promise<number> {
  const t0 = performance.now();
  for (;;) {
    const answer = registry.resolve("web");
    assert.ok(Array.isArray(answer), "answered from the cache");
    if (done(answer)) return performance.now() - t0;
    if (performance.now() - t0 > limitMs) {
      assert.fail(`not within ${limitMs} ms; last answer ${hostPorts(answer).join(", ")}`);
    }
    await sleep(5);
  }
}

describe("DNS SRV registry against dnsmasq", () => {
  let dns: Dnsmasq;
  const registries: DnsRegistry[] = [];
  const open = (options: DnsRegistryOptions = {}) => {
    const registry = new DnsRegistry({ servers: [dns.server], ...options });
    registries.push(registry);
    return registry;
  };

  before(async () => {
    dns = await startDnsmasq(records());
  });

  after(async () => {
    for (const r of registries) r.close();
    await dns?.stop();
  });

  it("resolves two SRV replicas with their ports, then answers from the cache", async () => {
    const registry = open();
    const first = registry.resolve("web");
    assert.ok(first instanceof Promise, "the first lookup is asynchronous");
    assert.deepEqual(hostPorts(await first), ["127.0.0.1:8081", "127.0.0.2:8082"]);
    const again = registry.resolve("web");
    assert.ok(Array.isArray(again), "later lookups are synchronous");
    assert.deepEqual(hostPorts(again), ["127.0.0.1:8081", "127.0.0.2:8082"]);
    // Weighted round robin: weight 10 leads twice as often as weight 5.
    let web1First = 0;
    for (let i = 0; i < 30; i++) {
      if ((registry.resolve("web") as Replica[])[0].port === 8081) web1First++;
    }
    assert.equal(web1First, 20);
    // Each replica carries its record's weight, which every load-balancing policy uses.
    const weights = (again as Replica[]).map((r) => [r.port, r.weight]).sort();
    assert.deepEqual(weights, [[8081, 10], [8082, 5]]);
  });

  it("answers [] promptly for an unknown service", async () => {
    const registry = open();
    const t0 = performance.now();
    assert.deepEqual(await registry.resolve("nosuch"), []);
    const ms = performance.now() - t0;
    assert.ok(ms < 500, `took ${ms.toFixed(0)} ms`);
    assert.deepEqual(registry.resolve("nosuch"), []);
  });

  it("picks up a record change after the TTL", { timeout: 30_000 }, async () => {
    const registry = open();
    await registry.resolve("web");
    const samples: number[] = [];
    for (let round = 1; round <= 5; round++) {
      const port = 9000 + round;
      // Change at different points of the refresh cycle (it is 750 ms at TTL 1 s).
      await sleep((round - 1) * 150);
      await dns.restart(records(port));
      samples.push(
        await until(registry, (r) => r.some((x) => x.port === port), 5_000),
      );
    }
    samples.sort((a, b) => a - b);
    console.log(
      `dns: record change -> visible (TTL 1 s, ${samples.length} changes): ` +
        `min ${samples[0].toFixed(0)} ms, median ${samples[2].toFixed(0)} ms, ` +
        `max ${samples[samples.length - 1].toFixed(0)} ms`,
    );
    await dns.restart(records());
    await until(registry, (r) => r.some((x) => x.port === 8082), 5_000);
  });

  it("serves the last good answer while dnsmasq is down, within the grace", {
    timeout: 30_000,
  }, async () => {
    const lines: string[] = [];
    const registry = open({ graceMs: 3_000, timeoutMs: 300, log: (l) => lines.push(l) });
    await registry.resolve("web");
    await dns.stop();
    const stoppedAt = performance.now();
    await sleep(2_000); // past the 1 s TTL: every refresh since has failed
    assert.deepEqual(hostPorts(registry.resolve("web") as Replica[]), [
      "127.0.0.1:8081",
      "127.0.0.2:8082",
    ]);
    const stale = lines.filter((l) => l.includes("serving the last good answer"));
    assert.equal(stale.length, 1, lines.join("\n"));

    await until(registry, (r) => r.length === 0, 5_000);
    const emptyAfter = performance.now() - stoppedAt;
    console.log(
      `dns: server down -> [] after ${emptyAfter.toFixed(0)} ms (TTL 1 s + grace 3 s)`,
    );
    assert.ok(emptyAfter >= 3_000, `[] after ${emptyAfter.toFixed(0)} ms`);
    assert.equal(lines.filter((l) => l.includes("grace over")).length, 1, lines.join("\n"));

    await dns.restart();
    const back = await until(registry, (r) => r.length === 2, 5_000);
    console.log(`dns: server back -> answers again after ${back.toFixed(0)} ms`);
    assert.ok(lines.some((l) => l.includes("answers again")), lines.join("\n"));
  });

  it("bounds a lookup by the timeout when nothing answers", async () => {
    const silent = dgram.createSocket("udp4");
    await new Promise<void>((resolve) => silent.bind(0, "127.0.0.1", () => resolve()));
    let datagrams = 0;
    silent.on("message", () => datagrams++);
    try {
      const quiet = open({ servers: [`127.0.0.1:${silent.address().port}`], timeoutMs: 500 });
      const t0 = performance.now();
      await assert.rejects(
        async () => await quiet.resolve("web"),
        /DNS lookup of _http\._tcp\.web\.svc\.local at 127\.0\.0\.1:\d+ failed/,
      );
      const ms = performance.now() - t0;
      console.log(`dns: silent server -> rejected after ${ms.toFixed(0)} ms (timeout 500 ms)`);
      assert.ok(ms >= 450 && ms < 1_000, `settled after ${ms.toFixed(0)} ms`);
      assert.ok(datagrams >= 1, "the query reached the silent server");
      quiet.close();
    } finally {
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });
});
