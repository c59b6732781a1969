/**
 * Pure tests of the DNS SRV registry: SRV name templates and SRV ordering
 * (records.ts), and the cache (round robin, coalescing, grace, timeouts)
 * over a fake resolver (registry.ts). No sockets, so the file runs
 * unchanged under `deno test` and `bun test`.
 */

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  type AddressRecord,
  DEFAULT_SRV_NAME_TEMPLATE,
  type DnsResolver,
  expandSrvName,
  sortSrvRecords,
  type SrvRecord,
} from "../../src/registry/dns/records.ts";
import { DnsRegistry, type DnsRegistryOptions } from "../../src/registry/dns/registry.ts";
import type { Replica } from "../../src/registry/types.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function dnsError(code: string, name: string): Error {
  return Object.assign(new Error(`query ${code} ${name}`), { code });
}

/** A resolver answering from maps; `down` makes every query time out. */
class FakeResolver implements DnsResolver {
  srv = new Map<string, SrvRecord[]>();
  a = new Map<string, AddressRecord[]>();
  aaaa = new Map<string, AddressRecord[]>();
  srvQueries = 0;
  /** "timeout": reject with ETIMEOUT; "hang": never answer (until cancel). */
  down: false | "timeout" | "hang" = false;
  #hung: (() => void)[] = [];

  #answer<T>(map: Map<string, T[]>, name: string): Promise<T[]> {
    if (this.down === "timeout") return Promise.reject(dnsError("ETIMEOUT", name));
    if (this.down === "hang") {
      return new Promise((_, reject) =>
        this.#hung.push(() => reject(dnsError("ECANCELLED", name)))
      );
    }
    const found = map.get(name);
    return found === undefined
      ? Promise.reject(dnsError("ENOTFOUND", name))
      : Promise.resolve(found.map((r) => ({ ...r })));
  }
  resolveSrv(name: string): Promise<SrvRecord[]> {
    this.srvQueries++;
    return this.#answer(this.srv, name);
  }
  resolve4(name: string): Promise<AddressRecord[]> {
    return this.#answer(this.a, name);
  }
  resolve6(name: string): Promise<AddressRecord[]> {
    return this.#answer(this.aaaa, name);
  }
  cancel(): void {
    for (const reject of this.#hung.splice(0)) reject();
  }
}

/** `web` with two targets of weight 10 and 5, and a priority-10 backup. */
function webResolver(): FakeResolver {
  const r = new FakeResolver();
  r.srv.set("_http._tcp.web.svc.local", [
    { priority: 0, weight: 5, port: 8082, name: "web-2.svc.local" },
    { priority: 10, weight: 100, port: 8083, name: "10.0.0.3" },
    { priority: 0, weight: 10, port: 8081, name: "web-1.svc.local." },
  ]);
  r.a.set("web-1.svc.local", [{ address: "10.0.0.1", ttl: 30 }]);
  r.a.set("web-2.svc.local", [{ address: "10.0.0.2", ttl: 30 }]);
  return r;
}

const hostPorts = (replicas: Replica[]) => replicas.map((r) => `${r.host}:${r.port}`);

/** Runs `body` with a registry over `resolver`, closing it afterwards. */
async function withRegistry(
  resolver: DnsResolver,
  options: DnsRegistryOptions,
  body: (registry: DnsRegistry) => Promise<void>,
): Promise<void> {
  const registry = new DnsRegistry({ resolver, ...options });
  try {
    await body(registry);
  } finally {
    registry.close();
  }
}

describe("expandSrvName", () => {
  it("replaces {service} in the default template", () => {
    assert.equal(DEFAULT_SRV_NAME_TEMPLATE, "_http._tcp.{service}.svc.local");
    assert.equal(expandSrvName(DEFAULT_SRV_NAME_TEMPLATE, "web"), "_http._tcp.web.svc.local");
  });

  it("replaces every occurrence and keeps a trailing dot", () => {
    assert.equal(expandSrvName("_{service}._tcp.{service}.", "api"), "_api._tcp.api.");
  });

  it("lets a dotted service name span labels", () => {
    assert.equal(
      expandSrvName(DEFAULT_SRV_NAME_TEMPLATE, "api.v2"),
      "_http._tcp.api.v2.svc.local",
    );
  });

  it("rejects services that make an invalid DNS name", () => {
    assert.throws(() => expandSrvName(DEFAULT_SRV_NAME_TEMPLATE, "a b"), /bad label "a b"/);
    assert.throws(() => expandSrvName(DEFAULT_SRV_NAME_TEMPLATE, ""), /empty label/);
    assert.throws(() => expandSrvName(DEFAULT_SRV_NAME_TEMPLATE, "a..b"), /empty label/);
    assert.throws(() => expandSrvName("{service}", "x".repeat(64)), /bad label/);
    assert.throws(
      () => expandSrvName("{service}.x", Array(64).fill("abcd").join(".")),
      /longer than 253/,
    );
  });
});

describe("sortSrvRecords", () => {
  it("orders by priority, then weight (highest first), then target and port", () => {
    const records: SrvRecord[] = [
      { priority: 10, weight: 50, port: 9000, name: "backup" },
      { priority: 0, weight: 5, port: 8082, name: "b" },
      { priority: 0, weight: 10, port: 8081, name: "a" },
      { priority: 0, weight: 5, port: 8080, name: "b" },
      { priority: 0, weight: 5, port: 8085, name: "a" },
    ];
    const sorted = sortSrvRecords(records);
    assert.deepEqual(sorted.map((r) => `${r.name}:${r.port}`), [
      "a:8081",
      "a:8085",
      "b:8080",
      "b:8082",
      "backup:9000",
    ]);
    assert.equal(records[0].name, "backup", "the input is not reordered");
  });
});

describe("DnsRegistry over a fake resolver", () => {
  it("answers the first lookup with a promise, later ones synchronously", async () => {
    await withRegistry(webResolver(), {}, async (registry) => {
      const first = registry.resolve("web");
      assert.ok(first instanceof Promise);
      assert.deepEqual(hostPorts(await first), ["10.0.0.1:8081", "10.0.0.2:8082", "10.0.0.3:8083"]);
      const second = registry.resolve("web");
      assert.ok(Array.isArray(second));
      assert.equal(second.length, 3);
    });
  });

  it("rotates by weight within the lowest priority; the backup only fails over", async () => {
    await withRegistry(webResolver(), {}, async (registry) => {
      await registry.resolve("web");
      const firsts: string[] = [];
      for (let i = 0; i < 15; i++) {
        const replicas = registry.resolve("web") as Replica[];
        assert.equal(replicas.length, 3);
        assert.equal(replicas[2].port, 8083, "priority 10 stays last");
        firsts.push(`${replicas[0].port}`);
      }
      assert.equal(firsts.filter((p) => p === "8081").length, 10);
      assert.equal(firsts.filter((p) => p === "8082").length, 5);
    });
  });

  it("shares evenly when every weight is zero", async () => {
    const r = new FakeResolver();
    r.srv.set("_http._tcp.z.svc.local", [
      { priority: 1, weight: 0, port: 1001, name: "10.0.0.1" },
      { priority: 1, weight: 0, port: 1002, name: "10.0.0.1" },
    ]);
    await withRegistry(r, {}, async (registry) => {
      await registry.resolve("z");
      const a = registry.resolve("z") as Replica[];
      const b = registry.resolve("z") as Replica[];
      assert.notEqual(a[0].port, b[0].port);
    });
  });

  it("uses A and AAAA addresses, drops duplicates and '.' targets", async () => {
    const r = new FakeResolver();
    r.srv.set("_http._tcp.mix.svc.local", [
      { priority: 0, weight: 1, port: 80, name: "dual.svc.local" },
      { priority: 0, weight: 1, port: 80, name: "dual.svc.local" },
      { priority: 0, weight: 1, port: 81, name: "." },
      { priority: 0, weight: 1, port: 82, name: "gone.svc.local" },
      { priority: 1, weight: 1, port: 83, name: "::2" },
    ]);
    r.a.set("dual.svc.local", [{ address: "10.0.0.9", ttl: 5 }]);
    r.aaaa.set("dual.svc.local", [{ address: "fd00::9", ttl: 5 }]);
    await withRegistry(r, {}, async (registry) => {
      assert.deepEqual(hostPorts(await registry.resolve("mix")), [
        "10.0.0.9:80",
        "fd00::9:80",
        "::2:83",
      ]);
    });
    await withRegistry(r, { family: 4 }, async (registry) => {
      assert.deepEqual(hostPorts(await registry.resolve("mix")), ["10.0.0.9:80", "::2:83"]);
    });
  });

  it("answers [] for NXDOMAIN, and rejects a service that is no DNS name", async () => {
    await withRegistry(webResolver(), {}, async (registry) => {
      assert.deepEqual(await registry.resolve("nope"), []);
      assert.deepEqual(registry.resolve("nope"), []);
      await assert.rejects(async () => await registry.resolve("bad name"), /bad label/);
    });
  });

  it("coalesces concurrent first lookups of one service", async () => {
    const r = webResolver();
    await withRegistry(r, {}, async (registry) => {
      const all = await Promise.all(Array.from({ length: 20 }, () => registry.resolve("web")));
      assert.equal(r.srvQueries, 1);
      assert.ok(all.every((x) => x.length === 3));
    });
  });

  it("uses the substituted template name", async () => {
    const r = new FakeResolver();
    r.srv.set("_grpc._tcp.api.prod", [{ priority: 0, weight: 0, port: 9, name: "10.1.1.1" }]);
    await withRegistry(r, { nameTemplate: "_grpc._tcp.{service}.prod" }, async (registry) => {
      assert.deepEqual(hostPorts(await registry.resolve("api")), ["10.1.1.1:9"]);
    });
  });

  it("refreshes in the background and picks up a change", async () => {
    const r = webResolver();
    r.a.set("web-1.svc.local", [{ address: "10.0.0.1", ttl: 0 }]);
    await withRegistry(r, { minTtlMs: 40 }, async (registry) => {
      await registry.resolve("web");
      r.srv.set("_http._tcp.web.svc.local", [
        { priority: 0, weight: 1, port: 9999, name: "web-1.svc.local" },
      ]);
      const deadline = Date.now() + 2000;
      let replicas = registry.resolve("web") as Replica[];
      while (replicas[0].port !== 9999 && Date.now() < deadline) {
        await sleep(10);
        replicas = registry.resolve("web") as Replica[];
      }
      assert.deepEqual(hostPorts(replicas), ["10.0.0.1:9999"]);
      assert.ok(r.srvQueries >= 2);
    });
  });

  it("serves the last good answer within the grace, says so once, then []", async () => {
    const r = webResolver();
    r.a.set("web-1.svc.local", [{ address: "10.0.0.1", ttl: 0 }]);
    const lines: string[] = [];
    const options = { minTtlMs: 30, graceMs: 300, log: (l: string) => lines.push(l) };
    await withRegistry(r, options, async (registry) => {
      await registry.resolve("web");
      r.down = "timeout";
      await sleep(150);
      assert.equal((registry.resolve("web") as Replica[]).length, 3, "stale answer served");
      const stale = lines.filter((l) => l.includes("serving the last good answer"));
      assert.equal(stale.length, 1, lines.join("\n"));
      assert.match(stale[0], /_http\._tcp\.web\.svc\.local.*ETIMEOUT.*"web" \(3 replicas\)/);
      await sleep(400);
      assert.deepEqual(registry.resolve("web"), []);
      assert.equal(lines.filter((l) => l.includes("grace over")).length, 1, lines.join("\n"));
      r.down = false;
      const deadline = Date.now() + 2000;
      while ((registry.resolve("web") as Replica[]).length === 0 && Date.now() < deadline) {
        await sleep(10);
      }
      assert.equal((registry.resolve("web") as Replica[]).length, 3, "recovered");
      assert.ok(lines.some((l) => l.includes("answers again")), lines.join("\n"));
    });
  });

  it("bounds a lookup by the timeout and rejects a failed first lookup", async () => {
    const r = webResolver();
    r.down = "hang";
    await withRegistry(r, { timeoutMs: 100, minTtlMs: 50 }, async (registry) => {
      const t0 = Date.now();
      await assert.rejects(
        async () => await registry.resolve("web"),
        /DNS lookup of _http\._tcp\.web\.svc\.local at the system resolvers failed: no answer within 100 ms/,
      );
      const took = Date.now() - t0;
      assert.ok(took >= 90 && took < 400, `settled after ${took} ms`);
      // Within minTtlMs the failure is repeated without a new query.
      const queries = r.srvQueries;
      await assert.rejects(async () => await registry.resolve("web"), /no answer/);
      assert.equal(r.srvQueries, queries);
      r.cancel();
    });
  });

  it("settles lookups in flight on close", async () => {
    const r = webResolver();
    r.down = "hang";
    const registry = new DnsRegistry({ resolver: r, timeoutMs: 10_000 });
    const pending = registry.resolve("web");
    registry.close();
    await assert.rejects(async () => await pending, /closed/);
    await assert.rejects(async () => await registry.resolve("web"), /closed/);
    r.cancel();
  });

  it("rejects bad options", () => {
    assert.throws(() => new DnsRegistry({ timeoutMs: 0 }), /timeoutMs must be >= 1/);
    assert.throws(() => new DnsRegistry({ nameTemplate: "x.y" }), /does not contain/);
    assert.throws(
      () => new DnsRegistry({ servers: ["dns.example"] }),
      /server "dns.example": "dns.example" is not an IP address/,
    );
    assert.throws(
      () => new DnsRegistry({ family: 5 as unknown as 4 }),
      /family must be 0, 4 or 6/,
    );
  });
});
