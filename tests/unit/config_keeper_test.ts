/**
 * The configuration keeper: static and declared routes merged into one
 * snapshot per generation, static first, the earlier declaration next,
 * conflicts and bad declarations logged once, one log line per swap.
 */

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { ConfigKeeper, type StaticConfig } from "../../src/config/keeper.ts";
import { parseRoute } from "../../src/routing/router.ts";
import { DEFAULT_POLICY } from "../../src/replicas/policy.ts";
import { LEAST_OUTSTANDING } from "../../src/replicas/balance.ts";
import type { DeclaredRoute } from "../../src/registry/types.ts";

const DEFAULTS = {
  balance: LEAST_OUTSTANDING,
  retries: 3,
  replicaPolicy: DEFAULT_POLICY,
  health: null,
};

function config(...routes: string[]): StaticConfig {
  return {
    routes: routes.map(parseRoute),
    serviceDefaults: DEFAULTS,
    services: new Map(),
    tlsPort: null,
  };
}

function declared(prefix: string, service: string, order: number, extra = {}): DeclaredRoute {
  return { spec: { prefix, service, ...extra }, origin: `etcd /g/routes/${order}`, order };
}

function keeperWith(first: StaticConfig) {
  const lines: string[] = [];
  const keeper = new ConfigKeeper(first, (l) => lines.push(l));
  const serviceOf = (path: string) => keeper.live.current.table.match("h", path)?.service;
  return { keeper, lines, serviceOf };
}

describe("ConfigKeeper", () => {
  it("starts at generation 1 and counts up on every swap, with one line saying what changed", () => {
    const { keeper, lines, serviceOf } = keeperWith(config("/a:a", "/b:b"));
    assert.equal(keeper.live.current.generation, 1);
    assert.equal(keeper.reload(config("/a:x", "/c:c"), "SIGHUP"), 2);
    assert.equal(serviceOf("/a/1"), "x");
    assert.equal(serviceOf("/b"), undefined);
    assert.deepEqual(lines, [
      "config generation 2: SIGHUP; 2 routes; added /c; removed /b; changed /a",
    ]);
  });

  it("refuses a reload whose static routes repeat one another, keeping the running snapshot", () => {
    const { keeper, serviceOf } = keeperWith(config("/a:a"));
    assert.throws(() => keeper.reload(config("/x:x", "/x/:y"), "SIGHUP"), /repeats/);
    assert.equal(keeper.live.current.generation, 1);
    assert.equal(serviceOf("/a"), "a");
    assert.equal(keeper.static.routes[0].source, "/a:a");
  });

  it("adds declared routes after the static ones; a static route wins its host and prefix", () => {
    const { keeper, lines, serviceOf } = keeperWith(config("/a:a"));
    keeper.declared("etcd", [declared("/a", "theirs", 1), declared("/d", "d", 2)]);
    assert.equal(serviceOf("/a"), "a");
    assert.equal(serviceOf("/d"), "d");
    assert.equal(keeper.live.current.table.match("h", "/d")!.origin, "etcd /g/routes/2");
    assert.match(
      lines.join("\n"),
      /declared route \/a:theirs \(etcd \/g\/routes\/1\) left out: \/a:a \(--route\) holds any host\/a/,
    );
  });

  it("lets the earlier declaration win, whatever order they come in", () => {
    const { keeper, serviceOf } = keeperWith(config());
    keeper.declared("etcd", [declared("/p", "later", 9), declared("/p", "earlier", 3)]);
    assert.equal(serviceOf("/p"), "earlier");
  });

  it("logs a conflict or a bad declaration once, however many swaps it outlives", () => {
    const { keeper, lines } = keeperWith(config("/a:a"));
    const set = [declared("/a", "theirs", 1), declared("nope", "x", 2)];
    keeper.declared("etcd", set);
    keeper.declared("etcd", set);
    keeper.reload(config("/a:a", "/b:b"), "SIGHUP");
    assert.equal(lines.filter((l) => l.includes("left out")).length, 2, lines.join("\n"));
    assert.match(
      lines.join("\n"),
      /declared route etcd \/g\/routes\/2 left out: prefix: must start with "\/"/,
    );
    // Gone and back: logged again.
    keeper.declared("etcd", []);
    keeper.declared("etcd", set);
    assert.equal(lines.filter((l) => l.includes("left out")).length, 4);
  });

  it("takes the same declared set again (a registry's first read of none) as no change", () => {
    const { keeper, lines } = keeperWith(config("/a:a"));
    keeper.declared("tower", []);
    assert.equal(keeper.live.current.generation, 1);
    keeper.declared("etcd", [declared("/e", "e", 1)]);
    keeper.declared("etcd", [declared("/e", "e", 1)]);
    assert.equal(keeper.live.current.generation, 2);
    keeper.declared("etcd", [declared("/e", "e", 2)]);
    assert.equal(keeper.live.current.generation, 3);
    assert.equal(lines.length, 2, lines.join("\n"));
  });

  it("keeps each registry's declarations apart", () => {
    const { keeper, serviceOf } = keeperWith(config());
    keeper.declared("etcd", [declared("/e", "e", 1)]);
    keeper.declared("tower", [{
      spec: { prefix: "/t", service: "t" },
      origin: "tower 10.0.0.7:1",
      order: 1,
    }]);
    assert.equal(serviceOf("/e"), "e");
    assert.equal(serviceOf("/t"), "t");
    keeper.declared("etcd", []);
    assert.equal(serviceOf("/e"), undefined);
    assert.equal(serviceOf("/t"), "t");
  });

  it("says when service settings changed", () => {
    const { keeper, lines } = keeperWith(config("/a:a"));
    keeper.reload(
      { ...config("/a:a"), services: new Map([["a", { ...DEFAULTS, retries: 1 }]]) },
      "SIGHUP",
    );
    assert.match(lines[0], /no route changed; service settings changed$/);
    assert.equal(keeper.live.current.service("a").retries, 1);
    assert.equal(keeper.live.current.service("b").retries, 3);
  });

  it("keeps a request's snapshot whole: a swap makes a new one, the old stays as it was", () => {
    const { keeper } = keeperWith(config("/a:a"));
    const before = keeper.live.current;
    keeper.reload(config("/a:b"), "SIGHUP");
    assert.equal(before.table.match("h", "/a")!.service, "a");
    assert.equal(keeper.live.current.table.match("h", "/a")!.service, "b");
  });
});
