/**
 * A remote Tower's declared routes as an ingress reads them
 * (src/registry/tower/route_poller.ts), over real UDP sockets against
 * Towers in this process: every page of a set larger than one datagram,
 * told again only when it changes, an expiry (a Tower with a short TTL),
 * a silent Tower (the last set stays), and Towers that serve no routes
 * (a seed, one without --routes: the empty set, said once).
 */

import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { RemoteTowerRegistry } from "../../src/registry/tower/remote.ts";
import { startTowerServer, type TowerServer, TowerState } from "../../src/tower.ts";
import { bindUdp } from "../../src/runtime/udp.ts";
import type { DeclaredRoute } from "../../src/registry/types.ts";
import { startSeedTower } from "../helpers/tower_seed.ts";
import { sleep } from "../helpers/backends.ts";

const closers: (() => unknown)[] = [];
after(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

async function tower(options: { ttlMs?: number; routes?: boolean } = {}): Promise<TowerServer> {
  const state = new TowerState({ ttlMs: options.ttlMs });
  const server = await startTowerServer({
    hostname: "127.0.0.1",
    port: 0,
    bindUdp,
    state,
    routes: options.routes ?? true,
    maxRoutes: 0,
  });
  closers.push(() => state.close(), () => server.close());
  return server;
}

/** A remote registry on `port` reading routes every 100 ms, and what it was told. */
async function watching(port: number) {
  const log: string[] = [];
  const registry = await RemoteTowerRegistry.connect({ host: "127.0.0.1", port }, {
    bindUdp,
    routesIntervalMs: 100,
    log: (line) => log.push(line),
  });
  closers.push(() => registry.close());
  const sets: (readonly DeclaredRoute[])[] = [];
  registry.watchRoutes((routes) => sets.push(routes));
  return { sets, log, last: () => sets.at(-1) };
}

async function waitFor(condition: () => boolean, withinMs: number, what: () => string) {
  const until = Date.now() + withinMs;
  while (!condition()) {
    if (Date.now() > until) throw new Error(`not within ${withinMs} ms: ${what()}`);
    await sleep(10);
  }
}

describe("reading a remote Tower's declared routes", () => {
  it("reads every page of a set larger than a datagram, and only the changes", async () => {
    const t = await tower();
    const rules = JSON.stringify({ "request-headers": { set: { "x-pad": "p".repeat(700) } } });
    for (let i = 0; i < 300; i++) {
      t.state.routes.declare(`svc-${i}`, `/p${i}`, rules, `10.0.0.7:${2000 + i}`);
    }
    assert.ok(t.state.routes.page(0).pages >= 3);
    const w = await watching(t.port);
    await waitFor(() => w.sets.length === 1, 3_000, () => "no set");
    assert.equal(w.last()!.length, 300);
    assert.deepEqual(w.last()!.map((r) => r.order), Array.from({ length: 300 }, (_, i) => i + 1));
    assert.deepEqual(w.last()![299], {
      spec: {
        prefix: "/p299",
        service: "svc-299",
        "request-headers": { set: { "x-pad": "p".repeat(700) } },
      },
      origin: "tower 10.0.0.7:2299",
      order: 300,
    });
    // Heartbeats change nothing: no new set.
    await sleep(300);
    t.state.routes.declare("svc-0", "/p0", rules, "10.0.0.7:2000");
    await sleep(300);
    assert.equal(w.sets.length, 1);
    t.state.routes.withdraw("svc-5", "/p5", "10.0.0.7:2005");
    await waitFor(() => w.sets.length === 2, 2_000, () => `${w.sets.length} sets`);
    assert.equal(w.last()!.length, 299);
  });

  it("tells an expiry on the Tower, within a read", async () => {
    const t = await tower({ ttlMs: 600 });
    const w = await watching(t.port);
    await waitFor(() => w.sets.length === 1, 3_000, () => "no set");
    assert.deepEqual(w.last(), []);
    t.state.routes.declare("api", "/api", undefined, "10.0.0.7:41000");
    const start = Date.now();
    await waitFor(() => w.last()!.length === 1, 2_000, () => "no route");
    await waitFor(() => w.last()!.length === 0, 3_000, () => "did not expire");
    const gone = Date.now() - start;
    assert.ok(gone >= 550 && gone < 1_500, `gone after ${gone} ms`);
  });

  it("keeps the last set while the Tower is silent, and says so once", async () => {
    const t = await tower();
    t.state.routes.declare("api", "/api", undefined, "10.0.0.7:41000");
    const w = await watching(t.port);
    await waitFor(() => w.sets.length === 1, 3_000, () => "no set");
    t.close();
    await waitFor(() => w.log.length > 0, 5_000, () => "nothing logged");
    await sleep(1_500);
    assert.equal(w.sets.length, 1, "the set stays while the Tower is silent");
    assert.equal(w.log.length, 1, w.log.join("\n"));
    assert.match(
      w.log[0],
      /^the Tower at 127\.0\.0\.1:\d+ did not answer ROUTES \(.*\); keeping the 1 declared routes read last$/,
    );
  });

  it("a seed Tower, or one without --routes, serves none: the empty set, said once", async () => {
    const seed = await startSeedTower();
    closers.push(() => seed.close());
    const off = await tower({ routes: false });
    for (const port of [seed.port, off.port]) {
      const w = await watching(port);
      await waitFor(() => w.sets.length === 1, 3_000, () => "no set");
      assert.deepEqual(w.last(), []);
      await sleep(500);
      assert.equal(w.log.length, 1, w.log.join("\n"));
      assert.match(
        w.log[0],
        /answered ROUTES with "ERR\|(unknown command|ROUTES_DISABLED)": it serves no declared routes/,
      );
    }
    // Asked once, then left alone (every 30 s).
    assert.equal(seed.received.filter((d) => d.startsWith("ROUTES")).length, 1);
  });
});
