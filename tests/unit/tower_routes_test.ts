/**
 * The Tower's declared routes (src/tower/routes.ts): a route per service and
 * `[host]/prefix`, each declarer with its own TTL, the order of the first
 * declaration, watchers told of every change they can see (expiry included,
 * when it happens), ROUTES pages within one datagram, and LIST, LOOKUP and
 * LOOKUPALL unchanged by routes. No sockets, so the file runs unchanged
 * under `deno test` and `bun test`.
 */

import { afterEach, describe, it } from "node:test";
import assert from "node:assert/strict";
import { MAX_REPLY_BYTES, parseReply } from "../../src/tower/protocol.ts";
import { respond } from "../../src/tower/server.ts";
import { TowerRoutes } from "../../src/tower/routes.ts";
import type { DeclaredRoute } from "../../src/registry/types.ts";
import { Clock, newState, opened } from "../helpers/tower_fixtures.ts";

const routeSets: TowerRoutes[] = [];
afterEach(() => {
  for (const state of opened.splice(0)) state.close();
  for (const routes of routeSets.splice(0)) routes.close();
});

function newRoutes(ttlMs = 30_000): { routes: TowerRoutes; clock: Clock; seen: string[][] } {
  const clock = new Clock();
  const routes = new TowerRoutes({ now: clock.now, ttlMs });
  routeSets.push(routes);
  const seen: string[][] = [];
  routes.watch((set) => seen.push(set.map(describeRoute)));
  return { routes, clock, seen };
}

/** `order service [host]prefix rules origin`, what a watcher sees of a route. */
function describeRoute(route: DeclaredRoute): string {
  const { host, prefix, service, ...rules } = route.spec as Record<string, unknown>;
  const ruleText = Object.keys(rules).length === 0 ? "" : ` ${JSON.stringify(rules)}`;
  return `${route.order} ${service} ${host ?? ""}${prefix}${ruleText} ${route.origin}`;
}

describe("TowerRoutes", () => {
  it("hands out each route's spec in the config file's keys, in declaration order", () => {
    const { routes, seen } = newRoutes();
    routes.declare("web", "Shop.Example.com/", undefined, "10.0.0.7:41000");
    routes.declare("api", "/api/", '{"strip-prefix":true}', "10.0.0.8:41000");
    routes.declare("img", "/img*", undefined, "10.0.0.9:41000");
    assert.deepEqual(routes.routes(), [
      {
        spec: { host: "shop.example.com", prefix: "/", service: "web" },
        origin: "tower 10.0.0.7:41000",
        order: 1,
      },
      {
        spec: { prefix: "/api", service: "api", "strip-prefix": true },
        origin: "tower 10.0.0.8:41000",
        order: 2,
      },
      { spec: { prefix: "/img*", service: "img" }, origin: "tower 10.0.0.9:41000", order: 3 },
    ]);
    // The watcher got the empty set at once, then one set per change.
    assert.equal(seen.length, 4);
    assert.deepEqual(seen[0], []);
    // The same frozen array until something changes.
    assert.equal(routes.routes(), routes.routes());
    assert.ok(Object.isFrozen(routes.routes()[0].spec));
  });

  it("a heartbeat changes nothing a watcher sees; new rules do; two services may declare one prefix", () => {
    const { routes, clock, seen } = newRoutes();
    routes.declare("api", "/api", undefined, "10.0.0.7:41000");
    const version = routes.version;
    clock.advance(10_000);
    assert.equal(routes.declare("api", "/api", undefined, "10.0.0.7:41000"), false);
    assert.equal(routes.version, version);
    assert.equal(seen.length, 2);
    routes.declare("api", "/api", '{"max-body":"1m"}', "10.0.0.7:41000");
    assert.notEqual(routes.version, version);
    routes.declare("api-v2", "/api", undefined, "10.0.0.9:41000");
    assert.deepEqual(seen.at(-1), [
      '1 api /api {"max-body":"1m"} tower 10.0.0.7:41000',
      "2 api-v2 /api tower 10.0.0.9:41000",
    ]);
  });

  it("expires a declaration 30 s after its last ROUTE, each declarer on its own", () => {
    const { routes, clock, seen } = newRoutes();
    routes.declare("api", "/api", undefined, "10.0.0.7:41000");
    clock.advance(20_000);
    // A second replica of the service declares the same route.
    assert.equal(routes.declare("api", "/api", undefined, "10.0.0.8:41000"), true);
    assert.equal(routes.held, 2);
    clock.advance(9_999);
    assert.deepEqual(routes.routes().map(describeRoute), ["1 api /api tower 10.0.0.7:41000"]);
    clock.advance(1);
    // The first declarer expired: the route stays, its origin is the one left.
    assert.deepEqual(routes.routes().map(describeRoute), ["1 api /api tower 10.0.0.8:41000"]);
    assert.equal(routes.held, 1);
    clock.advance(20_000);
    assert.deepEqual(routes.routes(), []);
    assert.deepEqual(seen.map((s) => s.length), [0, 1, 1, 0]);
    assert.equal(routes.held, 0);
    // Declared again: a new route, a new order.
    routes.declare("api", "/api", undefined, "10.0.0.7:41000");
    assert.equal(routes.routes()[0].order, 2);
  });

  it("UNROUTE from a declarer withdraws its declaration; from anyone else, the route", () => {
    const { routes } = newRoutes();
    routes.declare("api", "/api", undefined, "10.0.0.7:41000");
    routes.declare("api", "/api", undefined, "10.0.0.8:41000");
    assert.equal(routes.withdraw("api", "/api", "10.0.0.7:41000"), true);
    // One replica leaving does not take the route from the other.
    assert.deepEqual(routes.routes().map(describeRoute), ["1 api /api tower 10.0.0.8:41000"]);
    assert.equal(routes.withdraw("api", "/api", "10.0.0.7:41000"), true);
    assert.equal(routes.routes().length, 0);
    assert.equal(routes.held, 0);
    assert.equal(routes.withdraw("api", "/api", "10.0.0.8:41000"), false);
    assert.equal(routes.withdraw("api", "not-a-route", "10.0.0.8:41000"), false);
  });

  it("tells watchers of an expiry when it happens, by its timer", async () => {
    const routes = new TowerRoutes({ ttlMs: 150 });
    routeSets.push(routes);
    const seen: number[] = [];
    const when: number[] = [];
    const start = Date.now();
    routes.watch((set) => {
      seen.push(set.length);
      when.push(Date.now() - start);
    });
    routes.declare("api", "/api", undefined, "10.0.0.7:41000");
    await new Promise((resolve) => setTimeout(resolve, 400));
    assert.deepEqual(seen, [0, 1, 0]);
    assert.ok(when[2] >= 150 && when[2] < 350, `expired after ${when[2]} ms`);
  });

  it("pages ROUTES replies to fit one datagram, every page of one set with one version", () => {
    const { state } = newState();
    const rules = JSON.stringify({ "request-headers": { set: { "x-pad": "p".repeat(800) } } });
    for (let i = 0; i < 200; i++) {
      state.routes.declare(`svc-${i}`, `/p${i}`, rules, `10.0.0.7:${1000 + i}`);
    }
    const first = state.routes.page(0);
    assert.ok(first.pages >= 3, String(first.pages));
    const orders: number[] = [];
    for (let p = 0; p < first.pages; p++) {
      const line = respond(state, `ROUTES|${p}`, { routes: true })!;
      assert.ok(new TextEncoder().encode(line).byteLength <= MAX_REPLY_BYTES, `page ${p}`);
      const reply = parseReply(line);
      assert.ok(reply?.kind === "ROUTES", line.slice(0, 80));
      assert.equal(reply.version, first.version);
      assert.equal(reply.pages, first.pages);
      orders.push(...reply.entries.map((e) => e.order));
    }
    assert.deepEqual(orders, Array.from({ length: 200 }, (_, i) => i + 1));
    assert.equal(
      respond(state, `ROUTES|${first.pages}`, { routes: true }),
      `OK|ROUTES|${first.version}|${first.pages}|${first.pages}|0`,
    );
  });
});

describe("a Tower with routes", () => {
  it("answers LIST, LOOKUP and LOOKUPALL byte for byte as without them", () => {
    const answers = (withRoutes: boolean) => {
      const { state, clock } = newState();
      const ask = (line: string, port = 5000) =>
        respond(state, line, { routes: true, senderIp: "10.9.9.9", senderPort: port });
      ask("REGISTER|api|10.0.0.7|8081");
      clock.advance(1_500);
      if (withRoutes) {
        assert.equal(ask("ROUTE|api|/api"), "OK|ROUTED|api");
        assert.equal(ask('ROUTE|LIST|/list|{"x":"LIST"}', 5001), "OK|ROUTED|LIST");
        assert.equal(ask("ROUTE|ghost|/ghost"), "OK|ROUTED|ghost");
      }
      ask("REGISTER|web|::1|8080");
      clock.advance(1_000);
      return ["LIST", "LOOKUPALL|api", "LOOKUP|web", "LOOKUP|ghost", "LOOKUPALL|ghost", "LIST"]
        .map((line) => ask(line));
    };
    const plain = answers(false);
    assert.deepEqual(answers(true), plain);
    assert.deepEqual(plain, [
      "OK|LIST|2|api:10.0.0.7:8081:28,web:[::1]:8080:29",
      "OK|LOOKUPALL|api|1|10.0.0.7:8081",
      "OK|LOOKUP|web|::1|8080",
      "ERR|NOT_FOUND|ghost",
      "ERR|NOT_FOUND|ghost",
      "OK|LIST|2|api:10.0.0.7:8081:28,web:[::1]:8080:29",
    ]);
  });

  it("takes the datagram's ip:port as the declarer", () => {
    const { state } = newState();
    const ask = (line: string, ip: string, port: number) =>
      respond(state, line, { routes: true, senderIp: ip, senderPort: port });
    ask("ROUTE|api|/api", "::1", 41000);
    ask("ROUTE|api|/api", "10.0.0.8", 41001);
    assert.equal(state.routes.routes()[0].origin, "tower [::1]:41000");
    assert.equal(ask("UNROUTE|api|/api", "::1", 41000), "OK|UNROUTED|api");
    assert.equal(state.routes.routes()[0].origin, "tower 10.0.0.8:41001");
  });
});
