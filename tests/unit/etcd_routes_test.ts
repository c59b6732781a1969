/**
 * Declared routes in etcd, without a server (src/registry/etcd/keys.ts,
 * routes.ts, view.ts): the keys under `<prefix>/routes/` are routes and
 * never replicas, a value that is no JSON object is logged once and left
 * out, the set is ordered by create revision and told only when it
 * changed. Pure: runs unchanged under `deno test` and `bun test`.
 */

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  declaredRouteKey,
  declaredRouteValue,
  isRouteKey,
  splitReplicaKey,
} from "../../src/registry/etcd/keys.ts";
import { RouteView } from "../../src/registry/etcd/routes.ts";
import { ReplicaView } from "../../src/registry/etcd/view.ts";
import { b64 } from "../../src/registry/etcd/gateway.ts";
import { parseRouteTarget } from "../../src/routing/declared.ts";

function kv(key: string, value: string, created: number) {
  return { key: b64(key), value: b64(value), create_revision: String(created) };
}

describe("etcd keys for declared routes", () => {
  it("puts a sidecar's route under <prefix>/routes/<service>/<replica>/<route>", () => {
    const replica = { host: "::1", port: 8081 };
    const key = declaredRouteKey("/gh/", "api", replica, parseRouteTarget("Shop.Example.com/api/"));
    assert.equal(key, "/gh/routes/api/[::1]:8081/shop.example.com%2Fapi");
    assert.equal(isRouteKey("/gh", key), true);
    assert.equal(
      declaredRouteValue("api", parseRouteTarget("/img*")),
      '{"prefix":"/img*","service":"api"}',
    );
  });

  it("never reads a route key as a replica", () => {
    assert.equal(splitReplicaKey("/gh", "/gh/routes/127.0.0.1:8081"), undefined);
    assert.equal(splitReplicaKey("/gh", "/gh/routes/api/127.0.0.1:8081/%2Fapi"), undefined);
    assert.deepEqual(splitReplicaKey("/gh", "/gh/routesx/127.0.0.1:8081"), {
      service: "routesx",
      address: "127.0.0.1:8081",
    });
    const view = new ReplicaView("/gh");
    view.put(kv("/gh/routes/127.0.0.1:8081", '{"host":"127.0.0.1","port":8081}', 2));
    assert.deepEqual(view.services(), []);
    assert.deepEqual(view.resolve("routes"), []);
  });
});

describe("RouteView", () => {
  it("hands out the routes in create-revision order, each with its key as origin", () => {
    const view = new RouteView(() => {});
    view.put(kv("/gh/routes/web", '{"host":"shop.example.com","prefix":"/","service":"web"}', 9));
    view.put(kv("/gh/routes/api", '{"prefix":"/api","service":"api","strip-prefix":true}', 4));
    assert.equal(view.changed(), true);
    assert.deepEqual(view.routes(), [
      {
        spec: { prefix: "/api", service: "api", "strip-prefix": true },
        origin: "etcd /gh/routes/api",
        order: 4,
      },
      {
        spec: { host: "shop.example.com", prefix: "/", service: "web" },
        origin: "etcd /gh/routes/web",
        order: 9,
      },
    ]);
    assert.equal(view.routes(), view.routes());
  });

  it("hands out a route declared alike under several keys once, the earliest", () => {
    const view = new RouteView(() => {});
    const spec = '{"prefix":"/api","service":"api"}';
    view.put(kv("/gh/routes/api/127.0.0.1:8082/%2Fapi", spec, 8));
    view.put(kv("/gh/routes/api/127.0.0.1:8081/%2Fapi", spec, 5));
    view.put(kv("/gh/routes/other", '{"prefix":"/api","service":"api-v2"}', 6));
    view.changed();
    assert.deepEqual(view.routes().map((r) => `${r.order} ${r.origin}`), [
      "5 etcd /gh/routes/api/127.0.0.1:8081/%2Fapi",
      "6 etcd /gh/routes/other",
    ]);
    // The first replica leaves: the route stays, declared by the other.
    view.delete({ key: b64("/gh/routes/api/127.0.0.1:8081/%2Fapi") });
    assert.equal(view.changed(), true);
    assert.deepEqual(view.routes().map((r) => `${r.order} ${r.origin}`), [
      "6 etcd /gh/routes/other",
      "8 etcd /gh/routes/api/127.0.0.1:8082/%2Fapi",
    ]);
  });

  it("tells a change once, and a rewrite of the same value (or a reread) is none", () => {
    const view = new RouteView(() => {});
    assert.equal(view.changed(), false);
    view.put(kv("/gh/routes/api", '{"prefix":"/api","service":"api"}', 4));
    assert.equal(view.changed(), true);
    assert.equal(view.changed(), false);
    view.put(kv("/gh/routes/api", '{"prefix":"/api","service":"api"}', 4));
    assert.equal(view.changed(), false);
    view.clear();
    view.put(kv("/gh/routes/api", '{"prefix":"/api","service":"api"}', 4));
    assert.equal(view.changed(), false);
    view.put(kv("/gh/routes/api", '{"prefix":"/v2","service":"api"}', 4));
    assert.equal(view.changed(), true);
    view.delete({ key: b64("/gh/routes/api") });
    assert.equal(view.changed(), true);
    assert.deepEqual(view.routes(), []);
  });

  it("leaves out a value that is no JSON object, logged once per value", () => {
    const logged: string[] = [];
    const view = new RouteView((line) => logged.push(line));
    view.put(kv("/gh/routes/api", '{"prefix":"/api","service":"api"}', 4));
    view.changed();
    for (const bad of ["/api:api", "[1]", "null", '"x"', "{"]) {
      view.put(kv("/gh/routes/api", bad, 4));
      view.put(kv("/gh/routes/api", bad, 4));
    }
    view.clear();
    view.put(kv("/gh/routes/api", "{", 4)); // reread after a compaction: said already
    assert.deepEqual(logged, [
      'etcd: /gh/routes/api is not a route (a JSON object): "/api:api"; left out',
      'etcd: /gh/routes/api is not a route (a JSON object): "[1]"; left out',
      'etcd: /gh/routes/api is not a route (a JSON object): "null"; left out',
      'etcd: /gh/routes/api is not a route (a JSON object): "\\"x\\""; left out',
      'etcd: /gh/routes/api is not a route (a JSON object): "{"; left out',
    ]);
    assert.equal(view.changed(), true);
    assert.deepEqual(view.routes(), []);
    // Deleted and written bad again: said again.
    view.delete({ key: b64("/gh/routes/api") });
    view.put(kv("/gh/routes/api", "{", 7));
    assert.equal(logged.length, 6);
  });
});
