/**
 * The Tower's route-declaration extension on the wire
 * (src/tower/route_protocol.ts, docs/tower-routes.md): ROUTE, UNROUTE and
 * ROUTES parsed and formatted, signed (known answers), and refused the way
 * a user sees: without --routes, unsigned to a Tower with a secret, from
 * outside the allowlist, beyond the cap. No sockets, so the file runs
 * unchanged under `deno test` and `bun test`.
 */

import { afterEach, describe, it } from "node:test";
import assert from "node:assert/strict";
import { formatRequest, parseReply, parseRequest } from "../../src/tower/protocol.ts";
import { readRequest, signTowerRequest } from "../../src/tower/signing.ts";
import { respond } from "../../src/tower/server.ts";
import { TowerGuard } from "../../src/tower/guard.ts";
import { answersAlike, canAnswer, conflicts } from "../../src/tower/matching.ts";
import type { TowerReply, TowerRequest } from "../../src/tower/protocol.ts";
import { newState, opened, SECRET, setup, T0 } from "../helpers/tower_fixtures.ts";

afterEach(() => {
  for (const state of opened.splice(0)) state.close();
});

const ROUTE_SYNTAX = "ERR|ROUTE syntax: service|[host]/prefix[|{rules}]";
const UNROUTE_SYNTAX = "ERR|UNROUTE syntax: service|[host]/prefix";

describe("ROUTE, UNROUTE and ROUTES requests", () => {
  it("read the route in its one written form, and rules as compact JSON", () => {
    assert.deepEqual(parseRequest("ROUTE|api|/api"), { kind: "ROUTE", name: "api", route: "/api" });
    assert.deepEqual(parseRequest("ROUTE|api|Shop.Example.com/api/\n"), {
      kind: "ROUTE",
      name: "api",
      route: "shop.example.com/api",
    });
    assert.deepEqual(parseRequest("ROUTE|img|/img*"), {
      kind: "ROUTE",
      name: "img",
      route: "/img*",
    });
    assert.deepEqual(parseRequest('ROUTE|api|/api|{ "strip-prefix": true, "x": "a|b" }'), {
      kind: "ROUTE",
      name: "api",
      route: "/api",
      rules: '{"strip-prefix":true,"x":"a|b"}',
    });
    // Empty rules are no rules.
    assert.deepEqual(parseRequest("ROUTE|api|/api|{}"), {
      kind: "ROUTE",
      name: "api",
      route: "/api",
    });
    assert.deepEqual(parseRequest("UNROUTE|api|/api/"), {
      kind: "UNROUTE",
      name: "api",
      route: "/api",
    });
    assert.deepEqual(parseRequest("ROUTES"), { kind: "ROUTES", page: 0 });
    assert.deepEqual(parseRequest("ROUTES|3"), { kind: "ROUTES", page: 3 });
  });

  it("write what they read", () => {
    for (
      const line of [
        "ROUTE|api|/api",
        "ROUTE|api|*.example.com/v2*",
        'ROUTE|api|/api|{"strip-prefix":true}',
        "UNROUTE|api|shop.example.com/",
        "ROUTES|0",
        "ROUTES|12",
      ]
    ) {
      assert.equal(formatRequest(parseRequest(line) as TowerRequest), line);
    }
  });

  it("refuse what they cannot read with a syntax text, and bare words as unknown", () => {
    for (
      const line of [
        "ROUTE|api",
        "ROUTE|a b|/api",
        "ROUTE|api|api",
        "ROUTE|api|/a b",
        "ROUTE|api|/api?x",
        "ROUTE|api|bad_host!/api",
        "ROUTE|api|/api|[1,2]",
        "ROUTE|api|/api|null",
        "ROUTE|api|/api|{nope}",
        'ROUTE|api|/api|{"service":"other"}',
        'ROUTE|api|/api|{"prefix":"/x"}',
        'ROUTE|api|/api|{"host":"x.com"}',
        "ROUTE|api|/apié",
      ]
    ) {
      assert.deepEqual(parseRequest(line), { kind: "ERR", reason: ROUTE_SYNTAX.slice(4) }, line);
    }
    for (const line of ["UNROUTE|api", "UNROUTE|api|/api|{}", "UNROUTE|api|x"]) {
      assert.deepEqual(parseRequest(line), { kind: "ERR", reason: UNROUTE_SYNTAX.slice(4) }, line);
    }
    assert.deepEqual(parseRequest("ROUTES|x"), {
      kind: "ERR",
      reason: "ROUTES syntax: ROUTES[|page]",
    });
    assert.deepEqual(parseRequest("ROUTE"), { kind: "ERR", reason: "unknown command" });
    assert.deepEqual(parseRequest("UNROUTE"), { kind: "ERR", reason: "unknown command" });
  });
});

describe("ROUTE replies", () => {
  it("parse OK|ROUTED, OK|UNROUTED and the ROUTES pages, whose rules may hold |", () => {
    assert.deepEqual(parseReply("OK|ROUTED|api"), { kind: "ROUTED", name: "api" });
    assert.deepEqual(parseReply("OK|UNROUTED|api"), { kind: "UNROUTED", name: "api" });
    assert.deepEqual(
      parseReply('OK|ROUTES|k2.7|1|2|2\n3|api|/api|10.0.0.7:41000\n9|web|a.com/|[::1]:5|{"x":"|"}'),
      {
        kind: "ROUTES",
        version: "k2.7",
        page: 1,
        pages: 2,
        entries: [
          { order: 3, name: "api", route: "/api", sender: "10.0.0.7:41000" },
          { order: 9, name: "web", route: "a.com/", sender: "[::1]:5", rules: '{"x":"|"}' },
        ],
      },
    );
    assert.deepEqual(parseReply("OK|ROUTES|k2.7|0|1|0"), {
      kind: "ROUTES",
      version: "k2.7",
      page: 0,
      pages: 1,
      entries: [],
    });
    // A count that disagrees, a bad line, no pages: not a reply.
    assert.equal(parseReply("OK|ROUTES|k2.7|0|1|1"), undefined);
    assert.equal(parseReply("OK|ROUTES|k2.7|0|1|1\n3|api|api|10.0.0.7:1"), undefined);
    assert.equal(parseReply("OK|ROUTES|k2.7|0|0|0"), undefined);
  });
});

describe("signed ROUTE and UNROUTE", () => {
  it("match the known answers of docs/tower-routes.md", () => {
    assert.equal(
      signTowerRequest(
        SECRET,
        'ROUTE|api|/api|{"strip-prefix":true}',
        T0 + 20_000,
        "0123456789abcdef0123456789abcdef",
      ),
      'ROUTE|api|/api|{"strip-prefix":true}|1700000020000|0123456789abcdef0123456789abcdef|' +
        "28a1638658e7015a41c8a5822a1c4d2b9225f3c4d47275d6488ee08b04e72bf2",
    );
    assert.equal(
      signTowerRequest(SECRET, "UNROUTE|api|/api", T0 + 25_000, "fedcba9876543210fedcba9876543210"),
      "UNROUTE|api|/api|1700000025000|fedcba9876543210fedcba9876543210|" +
        "7d39db9bd324af955abb982a3cb4ccd570177690e2a6793a9817300cc4477ea4",
    );
    assert.equal(
      signTowerRequest(
        SECRET,
        "ROUTE|api|shop.example.com/api",
        T0 + 30_000,
        "00112233445566778899aabbccddeeff",
      ),
      "ROUTE|api|shop.example.com/api|1700000030000|00112233445566778899aabbccddeeff|" +
        "1a386fea58b5604c4552330d6dfc577fcdf3f5a86e840bc6d6e68becccec9c65",
    );
  });

  it("cover the rules: a changed rule breaks the MAC", () => {
    const { ask, sign } = setup({ secret: SECRET }, { routes: true });
    const line = sign('ROUTE|api|/api|{"strip-prefix":true}');
    assert.deepEqual(readRequest(line).request, {
      kind: "ROUTE",
      name: "api",
      route: "/api",
      rules: '{"strip-prefix":true}',
    });
    const forged = line.replace('"strip-prefix":true', '"strip-prefix":false');
    assert.equal(ask(forged), "ERR|UNAUTHORIZED|api");
    assert.equal(ask(line), "OK|ROUTED|api");
    assert.equal(ask(line), "ERR|REPLAY|api");
    assert.equal(ask(sign("UNROUTE|api|/api")), "OK|UNROUTED|api");
  });

  it("a signed line with a bad signature field is a ROUTE the Tower cannot read", () => {
    const { ask, sign } = setup({ secret: SECRET }, { routes: true });
    const line = sign("ROUTE|api|/api");
    const fields = line.split("|");
    fields[4] = "short"; // the nonce
    assert.equal(ask(fields.join("|")), ROUTE_SYNTAX);
    const unroute = sign("UNROUTE|api|/api").split("|");
    unroute[3] = "-1";
    assert.equal(ask(unroute.join("|")), UNROUTE_SYNTAX);
  });
});

describe("refusals, which change nothing", () => {
  it("without --routes: ERR|ROUTES_DISABLED, and LIST and lookups as before", () => {
    const { state } = newState();
    assert.equal(
      respond(state, "ROUTE|api|/api", { senderIp: "10.0.0.7" }),
      "ERR|ROUTES_DISABLED|api",
    );
    assert.equal(respond(state, "UNROUTE|api|/api"), "ERR|ROUTES_DISABLED|api");
    assert.equal(respond(state, "ROUTES"), "ERR|ROUTES_DISABLED");
    assert.equal(state.routes.routes().length, 0);
    assert.equal(respond(state, "LIST"), "OK|LIST|0|");
    // A request it cannot read still gets its syntax text.
    assert.equal(respond(state, "ROUTE|api"), ROUTE_SYNTAX);
  });

  it("with a secret: an unsigned ROUTE or UNROUTE is UNAUTHORIZED; ROUTES stays open", () => {
    const { ask, sign, state } = setup({ secret: SECRET }, { routes: true });
    assert.equal(ask("ROUTE|api|/api"), "ERR|UNAUTHORIZED|api");
    assert.equal(ask('ROUTE|api|/api|{"strip-prefix":true}'), "ERR|UNAUTHORIZED|api");
    assert.deepEqual(state.routes.routes(), []);
    assert.equal(ask(sign("ROUTE|api|/api")), "OK|ROUTED|api");
    assert.equal(ask("UNROUTE|api|/api"), "ERR|UNAUTHORIZED|api");
    assert.equal(state.routes.routes().length, 1);
    assert.match(
      ask("ROUTES")!,
      /^OK\|ROUTES\|[a-z0-9]+\.1\|0\|1\|1\n1\|api\|\/api\|10\.9\.9\.9:0$/,
    );
  });

  it("outside the allowlist: FORBIDDEN; over the rate: RATE_LIMITED", () => {
    const { state } = newState();
    assert.equal(
      respond(state, "ROUTE|api|/api", { routes: true, mayChange: false }),
      "ERR|FORBIDDEN|api",
    );
    const guard = new TowerGuard({ rateLimit: { perSecond: 1, burst: 1 } });
    const ask = (line: string) =>
      respond(state, line, { routes: true, guard, senderIp: "10.1.1.1" });
    assert.equal(ask("ROUTE|api|/api"), "OK|ROUTED|api");
    assert.equal(ask("ROUTE|api|/v2"), "ERR|RATE_LIMITED|api");
    assert.equal(state.routes.routes().length, 1);
  });

  it("the route cap is its own: ROUTES_FULL beyond it, heartbeats still pass, replicas unaffected", () => {
    const { ask, state } = setup({ maxRoutes: 2, maxEntries: 1 }, { routes: true });
    assert.equal(ask("ROUTE|api|/a"), "OK|ROUTED|api");
    assert.equal(ask("ROUTE|api|/b"), "OK|ROUTED|api");
    assert.equal(ask("ROUTE|api|/c"), "ERR|ROUTES_FULL|api");
    assert.equal(ask("ROUTE|api|/a"), "OK|ROUTED|api");
    // Another sender's declaration of a held route is one more declaration.
    assert.equal(ask("ROUTE|api|/a", "10.1.1.1"), "ERR|ROUTES_FULL|api");
    assert.equal(ask("REGISTER|api|10.0.0.7|80"), "OK|REGISTERED|api");
    assert.equal(ask("REGISTER|api|10.0.0.8|80"), "ERR|registry full");
    assert.deepEqual(state.routes.routes().map((r) => r.spec.prefix), ["/a", "/b"]);
    assert.equal(ask("UNROUTE|api|/a"), "OK|UNROUTED|api");
    assert.equal(ask("ROUTE|api|/c"), "OK|ROUTED|api");
  });

  it("UNROUTE of a route nobody declared: NOT_FOUND", () => {
    const { ask } = setup({}, { routes: true });
    assert.equal(ask("UNROUTE|api|/api"), "ERR|NOT_FOUND|api");
  });
});

describe("reply matching with route requests", () => {
  const request = (line: string) => parseRequest(line) as TowerRequest;
  const reply = (line: string) => parseReply(line) as TowerReply;
  const REQUESTS = [
    "REGISTER|web|10.0.0.7|80",
    "DEREGISTER|web|10.0.0.7|80",
    "LOOKUP|web",
    "LOOKUPALL|web",
    "LOOKUPALL|api",
    "LIST",
    "ROUTE|web|/web",
    "ROUTE|web|/other",
    'ROUTE|web|/web|{"x":1}',
    "ROUTE|api|/api",
    "UNROUTE|web|/web",
    "UNROUTE|api|/api",
    "ROUTES|0",
    "ROUTES|1",
  ].map(request);
  const REPLIES = [
    "OK|REGISTERED|web",
    "OK|ROUTED|web",
    "OK|UNROUTED|web",
    "OK|ROUTES|a.1|0|2|0",
    "OK|ROUTES|a.1|1|2|0",
    "ERR|NOT_FOUND|web",
    "ERR|ROUTES_DISABLED|web",
    "ERR|ROUTES_DISABLED",
    "ERR|ROUTES_FULL|api",
    "ERR|UNAUTHORIZED|web",
    "ERR|unknown command",
    ROUTE_SYNTAX,
    UNROUTE_SYNTAX,
    "ERR|ROUTES syntax: ROUTES[|page]",
  ].map(reply);

  it("gives each reply to what can have received it", () => {
    const who = (text: string) =>
      REQUESTS.filter((r) => canAnswer(r, reply(text))).map(formatRequest);
    assert.deepEqual(who("OK|ROUTES|a.1|1|2|0"), ["ROUTES|1"]);
    assert.deepEqual(who("ERR|ROUTES_DISABLED"), ["ROUTES|0", "ROUTES|1"]);
    assert.deepEqual(who("ERR|NOT_FOUND|web"), [
      "DEREGISTER|web|10.0.0.7|80",
      "LOOKUP|web",
      "LOOKUPALL|web",
      "UNROUTE|web|/web",
    ]);
    assert.deepEqual(who(ROUTE_SYNTAX), [
      "ROUTE|web|/web",
      "ROUTE|web|/other",
      'ROUTE|web|/web|{"x":1}',
      "ROUTE|api|/api",
    ]);
    // An older Tower answers ROUTES (and a seed ROUTE) "unknown command".
    assert.ok(canAnswer(request("ROUTES|0"), reply("ERR|unknown command")));
    assert.ok(canAnswer(request("ROUTE|web|/web"), reply("ERR|unknown command")));
    assert.ok(!canAnswer(request("LOOKUPALL|web"), reply("ERR|ROUTES_DISABLED")));
  });

  it("never puts two requests one reply could answer differently in flight", () => {
    for (const a of REQUESTS) {
      for (const b of REQUESTS) {
        const expected = formatRequest(a) !== formatRequest(b) &&
          REPLIES.some((r) => canAnswer(a, r) && canAnswer(b, r) && !answersAlike(r, a, b));
        const label = `${formatRequest(a)} / ${formatRequest(b)}`;
        assert.equal(conflicts(a, b), expected, label);
      }
    }
    assert.equal(conflicts(request("ROUTES|0"), request("ROUTES|1")), false);
    assert.equal(conflicts(request("ROUTES|0"), request("LOOKUPALL|web")), true);
    assert.equal(conflicts(request("ROUTE|web|/web"), request("LOOKUP|web")), false);
    assert.equal(conflicts(request("ROUTE|web|/web"), request("REGISTER|web|10.0.0.7|80")), true);
  });
});
