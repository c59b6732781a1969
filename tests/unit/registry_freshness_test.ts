/**
 * A registry over the network says when it was last heard from (for the
 * staleness metric): DNS at its last good answer, not at a failed one, and
 * through the cache in front of a remote Tower.
 */

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { DnsResolver, SrvRecord } from "../../src/registry/dns/records.ts";
import { DnsRegistry } from "../../src/registry/dns/registry.ts";
import { CachedRegistry } from "../../src/registry/cached.ts";
import type { Registry } from "../../src/registry/types.ts";

/** One SRV record for `web` while `up`; every query fails otherwise. */
class Resolver implements DnsResolver {
  up = true;
  resolveSrv(name: string): Promise<SrvRecord[]> {
    return this.up
      ? Promise.resolve([{ priority: 0, weight: 1, port: 8081, name: "10.0.0.1" }])
      : Promise.reject(Object.assign(new Error(`query ETIMEOUT ${name}`), { code: "ETIMEOUT" }));
  }
  resolve4(): Promise<{ address: string; ttl: number }[]> {
    return Promise.resolve([]);
  }
  resolve6(): Promise<{ address: string; ttl: number }[]> {
    return Promise.resolve([]);
  }
  cancel(): void {}
}

describe("registry freshness", () => {
  it("DNS: never heard before a good answer; heard at it; a failure does not count", async () => {
    const resolver = new Resolver();
    const registry = new DnsRegistry({ resolver, refreshMs: 1_000, timeoutMs: 100 });
    try {
      assert.deepEqual(registry.freshness(), { kind: "dns", heardAt: 0 });
      const before = Date.now();
      await registry.resolve("web");
      const heard = registry.freshness().heardAt;
      assert.ok(heard >= before && heard <= Date.now(), String(heard));
      resolver.up = false;
      await Promise.resolve(registry.resolve("other")).then(() => {}, () => {});
      assert.equal(registry.freshness().heardAt, heard);
    } finally {
      registry.close();
    }
  });

  it("passes through the cache in front of a remote Tower, and only where the inner has it", () => {
    const inner: Registry = {
      resolve: () => [],
      freshness: () => ({ kind: "tower", heardAt: 1234 }),
      close() {},
    };
    const cached = new CachedRegistry(inner, { cacheMs: 0, staleMs: 60_000 });
    assert.deepEqual(cached.freshness?.(), { kind: "tower", heardAt: 1234 });
    const none = new CachedRegistry({ resolve: () => [], close() {} }, {
      cacheMs: 0,
      staleMs: 60_000,
    });
    assert.equal(none.freshness, undefined);
  });
});
