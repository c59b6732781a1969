/**
 * The etcd registry against a real three-member etcd cluster on loopback:
 * the watched view follows PUT, DELETE and lease expiry at once, survives a
 * killed or frozen member without missing an event, rereads after a
 * compaction, and EtcdRegistrar keeps a key alive and removes it.
 *
 * Measured latencies are printed (`etcd latency: ...`) for the README.
 */

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { EtcdRegistrar } from "../../src/registry/etcd/registrar.ts";
import { EtcdRegistry } from "../../src/registry/etcd/registry.ts";
import type { Replica } from "../../src/registry/types.ts";
import { type EtcdCluster, startEtcdCluster } from "../helpers/etcd.ts";

/** Ports 23100-23112: this file's three members. */
const BASE_PORT = 23100;
/** Generous: the bound is about a slow shared machine, not the design. */
const VISIBLE_WITHIN_MS = 1000;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Poll `condition` every 2 ms; resolves with the time it took (ms). */
async function waitFor(
  condition: () => boolean,
  timeoutMs: number,
  what: () => string,
): Promise<number> {
  const start = performance.now();
  while (!condition()) {
    if (performance.now() - start > timeoutMs) {
      throw new Error(`not within ${timeoutMs} ms: ${what()}`);
    }
    await sleep(2);
  }
  return performance.now() - start;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function ms(value: number): string {
  return `${value.toFixed(1)} ms`;
}

function replicaValue(port: number): string {
  return JSON.stringify({ host: "127.0.0.1", port });
}

/** The ports of `service` in the registry's view, sorted. */
function ports(registry: EtcdRegistry, service: string): number[] {
  return registry.resolve(service).map((r: Replica) => r.port).sort((a, b) => a - b);
}

describe("etcd registry on a 3-member cluster", () => {
  let cluster: EtcdCluster;
  const open = new Set<{ close(): unknown }>();

  /** Connect a registry on `prefix`, and wait until its watch is open. */
  async function connect(prefix: string, log: string[] = []): Promise<EtcdRegistry> {
    const registry = await EtcdRegistry.connect({
      endpoints: cluster.endpoints,
      prefix,
      idleTimeoutMs: 3000,
      log: (line) => log.push(line),
    });
    open.add(registry);
    await waitFor(
      () => registry.watchingEndpoint !== undefined,
      20_000,
      () => "watch never opened",
    );
    return registry;
  }

  async function close(thing: { close(): unknown }): Promise<void> {
    open.delete(thing);
    await thing.close();
  }

  before(async () => {
    cluster = await startEtcdCluster({ size: 3, basePort: BASE_PORT });
  });

  after(async () => {
    for (const thing of [...open]) await close(thing);
    await cluster?.stop();
  });

  it("shows a PUT and drops a DELETE at once, and resolves round robin", async () => {
    const registry = await connect("/latency");
    const puts: number[] = [];
    const acks: number[] = [];
    const deletes: number[] = [];
    for (let i = 0; i < 10; i++) {
      const port = 30_000 + i;
      const start = performance.now();
      await cluster.put(`/latency/api/127.0.0.1:${port}`, replicaValue(port));
      acks.push(performance.now() - start);
      await waitFor(
        () => ports(registry, "api").includes(port),
        VISIBLE_WITHIN_MS,
        () => `PUT of ${port} not visible`,
      );
      puts.push(performance.now() - start);
    }
    // Round robin: ten resolves start at ten different replicas.
    const firsts = new Set<number>();
    for (let i = 0; i < 10; i++) firsts.add(registry.resolve("api")[0].port);
    assert.equal(firsts.size, 10);
    assert.equal(registry.resolve("api").length, 10);
    // A turn of the round robin later, the same arrays come back (nothing is copied per request).
    const turn = Array.from({ length: 10 }, () => registry.resolve("api"));
    for (let i = 0; i < 10; i++) assert.equal(registry.resolve("api"), turn[i]);

    for (let i = 0; i < 10; i++) {
      const port = 30_000 + i;
      const start = performance.now();
      await cluster.del(`/latency/api/127.0.0.1:${port}`);
      await waitFor(
        () => !ports(registry, "api").includes(port),
        VISIBLE_WITHIN_MS,
        () => `DELETE of ${port} still visible`,
      );
      deletes.push(performance.now() - start);
    }
    assert.deepEqual(registry.resolve("api"), []);
    console.log(
      `etcd latency: PUT -> visible median ${ms(median(puts))} (max ${ms(Math.max(...puts))}, ` +
        `PUT answered median ${ms(median(acks))}); DELETE -> gone median ${
          ms(median(deletes))
        } (max ${ms(Math.max(...deletes))}); 10 each, 3 members`,
    );
    await close(registry);
  });

  it("reads keys that exist before it connects, in either value form", async () => {
    await cluster.put("/preload/web/127.0.0.1:31001", replicaValue(31001));
    await cluster.put("/preload/web/127.0.0.1:31002", "127.0.0.1:31002");
    await cluster.put("/preload/web/127.0.0.1:31003", "");
    await cluster.put("/preload/web/not-an-address", "garbage");
    const registry = await connect("/preload");
    assert.deepEqual(ports(registry, "web"), [31001, 31002, 31003]);
    assert.deepEqual(registry.services(), ["web"]);
    await close(registry);
  });

  it("reads a weight beside the address, and leaves out one that is no positive number", async () => {
    await cluster.put(
      "/weights/web/127.0.0.1:31101",
      '{"host":"127.0.0.1","port":31101,"weight":3}',
    );
    await cluster.put(
      "/weights/web/127.0.0.1:31102",
      '{"host":"127.0.0.1","port":31102,"weight":0}',
    );
    await cluster.put(
      "/weights/web/127.0.0.1:31103",
      '{"host":"127.0.0.1","port":31103,"weight":"x"}',
    );
    const registry = await connect("/weights");
    const weights = registry.resolve("web").map((r: Replica) => [r.port, r.weight ?? 1]).sort();
    assert.deepEqual(weights, [[31101, 3], [31102, 1], [31103, 1]]);
    await close(registry);
  });

  it("drops a replica when its lease expires", async () => {
    const registry = await connect("/lease");
    const lease = await cluster.grant(3);
    await cluster.put("/lease/api/127.0.0.1:32000", replicaValue(32000), lease);
    await waitFor(() => ports(registry, "api").length === 1, VISIBLE_WITHIN_MS, () => "not seen");
    const gone = await waitFor(
      () => ports(registry, "api").length === 0,
      20_000,
      () => "replica outlived its lease",
    );
    console.log(`etcd latency: lease TTL 3 s -> replica gone after ${ms(gone)}`);
    await close(registry);
  });

  it("misses nothing when the member it watches is killed", async () => {
    const log: string[] = [];
    const registry = await connect("/kill", log);
    await cluster.put("/kill/api/127.0.0.1:33000", replicaValue(33000));
    await waitFor(() => ports(registry, "api").length === 1, VISIBLE_WITHIN_MS, () => "not seen");
    const victim = cluster.indexOf(registry.watchingEndpoint!);
    const before = registry.stats;
    const start = performance.now();
    await cluster.kill(victim);
    try {
      // Written right after the kill, while the registry moves over.
      for (let i = 1; i <= 5; i++) {
        await cluster.put(`/kill/api/127.0.0.1:${33000 + i}`, replicaValue(33000 + i));
      }
      await cluster.del("/kill/api/127.0.0.1:33000");
      const expected = [33001, 33002, 33003, 33004, 33005];
      await waitFor(
        () => JSON.stringify(ports(registry, "api")) === JSON.stringify(expected),
        20_000,
        () => `view ${ports(registry, "api")}; log: ${log.join(" | ")}`,
      );
      const took = performance.now() - start;
      const after = registry.stats;
      assert.notEqual(cluster.indexOf(registry.watchingEndpoint ?? ""), victim);
      assert.equal(after.events - before.events, 6, "each event applied exactly once");
      assert.equal(after.ranges, before.ranges, "resumed from its revision, no full reread");
      assert.ok(after.reconnects > before.reconnects);
      console.log(
        `etcd failover: killed (SIGKILL) the watched member; the 6 events written after ` +
          `it (through a new leader if it was the leader) all seen ${ms(took)} after the kill`,
      );
    } finally {
      await cluster.restart(victim);
    }
    await close(registry);
  });

  it("moves on from a frozen member within the idle timeout", async () => {
    const log: string[] = [];
    const registry = await connect("/freeze", log);
    // Let a progress notification arrive first: from then on silence alone
    // counts (before it, a probe decides, which takes up to 2 s more).
    await sleep(1500);
    const frozen = cluster.indexOf(registry.watchingEndpoint!);
    cluster.freeze(frozen);
    try {
      const start = performance.now();
      await cluster.put("/freeze/api/127.0.0.1:34000", replicaValue(34000));
      await cluster.del("/freeze/api/127.0.0.1:34000");
      await cluster.put("/freeze/api/127.0.0.1:34001", replicaValue(34001));
      await waitFor(
        () => JSON.stringify(ports(registry, "api")) === "[34001]",
        20_000,
        () => `view ${ports(registry, "api")}; log: ${log.join(" | ")}`,
      );
      const took = performance.now() - start;
      const now = cluster.indexOf(registry.watchingEndpoint ?? "");
      assert.notEqual(now, frozen);
      assert.ok(log.some((l) => l.includes("nothing for 3000 ms")), log.join(" | "));
      console.log(
        `etcd failover: froze (SIGSTOP) the watched member; events written after it ` +
          `seen ${ms(took)} later (idle timeout 3 s, progress notifications every 1 s)`,
      );
    } finally {
      cluster.thaw(frozen);
    }
    await cluster.waitHealthy();
    await close(registry);
  });

  it("rereads the prefix when its resume revision was compacted", async () => {
    const log: string[] = [];
    const registry = await connect("/compact", log);
    await cluster.put("/compact/api/127.0.0.1:35000", replicaValue(35000));
    await waitFor(() => ports(registry, "api").length === 1, VISIBLE_WITHIN_MS, () => "not seen");
    const frozen = cluster.indexOf(registry.watchingEndpoint!);
    cluster.freeze(frozen);
    try {
      await cluster.put("/compact/api/127.0.0.1:35001", replicaValue(35001));
      await cluster.del("/compact/api/127.0.0.1:35000");
      await cluster.put("/compact/api/127.0.0.1:35002", replicaValue(35002));
      await cluster.compact(await cluster.revision());
      await waitFor(
        () => JSON.stringify(ports(registry, "api")) === "[35001,35002]",
        20_000,
        () => `view ${ports(registry, "api")}; log: ${log.join(" | ")}`,
      );
      assert.equal(registry.stats.ranges, 2, log.join(" | "));
      assert.ok(log.some((l) => l.includes("compacted")), log.join(" | "));
    } finally {
      cluster.thaw(frozen);
    }
    await cluster.waitHealthy();
    await close(registry);
  });

  it("EtcdRegistrar: keepalives hold the key past its TTL; close() removes it", async () => {
    const registry = await connect("/registrar");
    const registrar = new EtcdRegistrar({
      endpoints: cluster.endpoints,
      prefix: "/registrar",
      ttlSeconds: 3,
    });
    open.add(registrar);
    const replica = { host: "127.0.0.1", port: 36000 };
    const registration = await registrar.register("api", replica);
    assert.equal(registration.key, "/registrar/api/127.0.0.1:36000");
    await waitFor(() => ports(registry, "api").length === 1, VISIBLE_WITHIN_MS, () => "not seen");

    await sleep(7000); // Over twice the TTL.
    assert.deepEqual(ports(registry, "api"), [36000]);
    const stored = await cluster.get(registration.key);
    assert.ok(stored);
    assert.deepEqual(JSON.parse(stored.value), replica);
    assert.equal(stored.lease, registration.leaseId);
    assert.ok((await cluster.leaseTtl(registration.leaseId)) > 0);

    await registration.close();
    assert.equal(await cluster.get(registration.key), undefined);
    assert.equal(await cluster.leaseTtl(registration.leaseId), -1);
    await waitFor(() => ports(registry, "api").length === 0, VISIBLE_WITHIN_MS, () => "still seen");
    await close(registrar);
    await close(registry);
  });

  it("EtcdRegistrar: register -> visible and close -> gone (median of 10)", async () => {
    const registry = await connect("/churn");
    const registrar = new EtcdRegistrar({
      endpoints: cluster.endpoints,
      prefix: "/churn",
      ttlSeconds: 10,
    });
    open.add(registrar);
    const visible: number[] = [];
    const gone: number[] = [];
    for (let i = 0; i < 10; i++) {
      const port = 37000 + i;
      let start = performance.now();
      const registration = await registrar.register("api", { host: "127.0.0.1", port });
      await waitFor(
        () => ports(registry, "api").includes(port),
        VISIBLE_WITHIN_MS,
        () => `${port} not visible`,
      );
      visible.push(performance.now() - start);
      start = performance.now();
      await registration.close();
      await waitFor(
        () => !ports(registry, "api").includes(port),
        VISIBLE_WITHIN_MS,
        () => `${port} still visible`,
      );
      gone.push(performance.now() - start);
    }
    console.log(
      `etcd latency: register (lease grant + put) -> visible median ${ms(median(visible))} ` +
        `(max ${ms(Math.max(...visible))}); deregister (lease revoke) -> gone median ${
          ms(median(gone))
        } (max ${ms(Math.max(...gone))})`,
    );
    await close(registrar);
    await close(registry);
  });

  it("EtcdRegistrar: keepalives fail over when the member in use dies or freezes", async () => {
    const log: string[] = [];
    const registry = await connect("/regfail");
    // The registrar starts with the first member of the URL and moves to the
    // next one when it fails.
    const registrar = new EtcdRegistrar({
      endpoints: cluster.endpoints,
      prefix: "/regfail",
      ttlSeconds: 3,
      log: (line) => log.push(line),
    });
    open.add(registrar);
    const registration = await registrar.register("api", { host: "127.0.0.1", port: 38000 });
    await waitFor(() => ports(registry, "api").length === 1, VISIBLE_WITHIN_MS, () => "not seen");
    await cluster.kill(0);
    try {
      await sleep(7000); // Over twice the TTL.
      assert.ok(await cluster.get(registration.key), `key expired; log: ${log.join(" | ")}`);
      assert.deepEqual(ports(registry, "api"), [38000]);
    } finally {
      await cluster.restart(0);
    }
    cluster.freeze(1); // The member it moved to.
    try {
      await sleep(7000);
      assert.ok(await cluster.get(registration.key), `key expired; log: ${log.join(" | ")}`);
    } finally {
      cluster.thaw(1);
    }
    await cluster.waitHealthy();
    // The registry's own watch may still be moving off the frozen member (idle timeout);
    // once it has, its view must hold the replica again.
    await waitFor(
      () => ports(registry, "api").join() === "38000",
      10_000,
      () => `view ${JSON.stringify(ports(registry, "api"))}; log: ${log.join(" | ")}`,
    );
    await registration.close();
    assert.equal(await cluster.get(registration.key), undefined);
    await waitFor(() => ports(registry, "api").length === 0, 10_000, () => "still seen");
    await close(registrar);
    await close(registry);
  });

  it("connect() rejects, naming the members, when none answers", async () => {
    const start = performance.now();
    await assert.rejects(
      EtcdRegistry.connect({
        endpoints: ["http://127.0.0.1:23190", "http://127.0.0.1:23191"],
        requestTimeoutMs: 1000,
      }),
      /cannot load the registry from etcd \(http:\/\/127\.0\.0\.1:23190, http:\/\/127\.0\.0\.1:23191\)/,
    );
    assert.ok(performance.now() - start < 10_000);
  });
});
