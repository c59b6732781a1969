/**
 * Pure tests of the Tower: protocol parsing and formatting, state, TTL with
 * an injected clock, round robin, and the datagram -> reply function. No
 * sockets, so the file runs unchanged under `deno test` and `bun test`.
 */

import { afterEach, describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  DEFAULT_TTL_MS,
  formatReply,
  formatRequest,
  MAX_DATAGRAM_BYTES,
  MAX_REPLY_BYTES,
  parseReply,
  parseRequest,
  respond,
  startTowerServer,
  type TowerRequest,
  TowerState,
  type TowerStateOptions,
} from "../../src/tower.ts";
import { EmbeddedTowerRegistry } from "../../src/registry/tower/embedded.ts";
import type { Datagram, UdpSocket } from "../../src/runtime/types.ts";
import { formatHostPort } from "../../src/net/address.ts";

/** A manual clock, in milliseconds. */
class Clock {
  t = 1_700_000_000_000;
  now = () => this.t;
  advance(ms: number): void {
    this.t += ms;
  }
}

const opened: TowerState[] = [];

/** A state on a manual clock with no background sweep; closed after each test. */
function newState(options: TowerStateOptions = {}): { state: TowerState; clock: Clock } {
  const clock = new Clock();
  const state = new TowerState({ now: clock.now, sweepIntervalMs: 0, ...options });
  opened.push(state);
  return { state, clock };
}

afterEach(() => {
  for (const state of opened.splice(0)) state.close();
});

const addr = (r: { host: string; port: number } | undefined) =>
  r === undefined ? "none" : formatHostPort(r.host, r.port);

describe("parseRequest", () => {
  it("reads every command", () => {
    assert.deepEqual(parseRequest("REGISTER|web|10.0.0.7|8080"), {
      kind: "REGISTER",
      name: "web",
      host: "10.0.0.7",
      port: 8080,
    });
    assert.deepEqual(parseRequest("DEREGISTER|web|::1|8080"), {
      kind: "DEREGISTER",
      name: "web",
      host: "::1",
      port: 8080,
    });
    assert.deepEqual(parseRequest("LOOKUP|web"), { kind: "LOOKUP", name: "web" });
    assert.deepEqual(parseRequest("LOOKUPALL|web"), { kind: "LOOKUPALL", name: "web" });
    assert.deepEqual(parseRequest("LIST"), { kind: "LIST" });
    assert.deepEqual(parseRequest("PING"), { kind: "PING" });
  });

  it("tolerates exactly one trailing \\n or \\r\\n", () => {
    assert.deepEqual(parseRequest("PING\n"), { kind: "PING" });
    assert.deepEqual(parseRequest("PING\r\n"), { kind: "PING" });
    assert.deepEqual(parseRequest("LOOKUP|web\n"), { kind: "LOOKUP", name: "web" });
    assert.deepEqual(parseRequest("REGISTER|web|10.0.0.7|8080\r\n"), {
      kind: "REGISTER",
      name: "web",
      host: "10.0.0.7",
      port: 8080,
    });
    assert.deepEqual(parseRequest("PING\n\n"), { kind: "ERR", reason: "UNKNOWN_COMMAND" });
    assert.deepEqual(parseRequest("LOOKUP|web\n\n"), { kind: "ERR", reason: "BAD_NAME" });
    assert.deepEqual(parseRequest("LOOKUP|web\r"), { kind: "ERR", reason: "BAD_NAME" });
  });

  it("names what is wrong", () => {
    const cases: [string, string][] = [
      ["", "MALFORMED"],
      ["\n", "MALFORMED"],
      ["HELLO", "UNKNOWN_COMMAND"],
      ["ping", "UNKNOWN_COMMAND"],
      [" PING", "UNKNOWN_COMMAND"],
      ["|", "MALFORMED"],
      ["PING|x", "MALFORMED"],
      ["LIST|", "MALFORMED"],
      ["LOOKUP", "MALFORMED"],
      ["LOOKUP|a|b", "MALFORMED"],
      ["LOOKUP|", "BAD_NAME"],
      ["LOOKUPALL|a b", "BAD_NAME"],
      ["REGISTER|web|10.0.0.7", "MALFORMED"],
      ["REGISTER|web|10.0.0.7|80|x", "MALFORMED"],
      ["REGISTER||10.0.0.7|80", "BAD_NAME"],
      [`REGISTER|${"n".repeat(64)}|10.0.0.7|80`, "BAD_NAME"],
      ["REGISTER|web|10.0.0.256|80", "BAD_HOST"],
      ["REGISTER|web||80", "BAD_HOST"],
      ["REGISTER|web|[::1]|80", "BAD_HOST"],
      ["REGISTER|web|10.0.0.7|0", "BAD_PORT"],
      ["REGISTER|web|10.0.0.7|65536", "BAD_PORT"],
      ["REGISTER|web|10.0.0.7|080", "BAD_PORT"],
      ["REGISTER|web|10.0.0.7|80x", "BAD_PORT"],
      ["REGISTER|web|10.0.0.7|", "BAD_PORT"],
      ["DEREGISTER|web|10.0.0.7|-1", "BAD_PORT"],
      ["DEREGISTER|web|10.0.0.7", "MALFORMED"],
    ];
    for (const [line, reason] of cases) {
      assert.deepEqual(parseRequest(line), { kind: "ERR", reason }, JSON.stringify(line));
    }
  });

  it("formatRequest writes what parseRequest reads", () => {
    const requests: TowerRequest[] = [
      { kind: "REGISTER", name: "web", host: "::1", port: 8080 },
      { kind: "DEREGISTER", name: "web", host: "10.0.0.7", port: 1 },
      { kind: "LOOKUP", name: "a.b" },
      { kind: "LOOKUPALL", name: "a-b" },
      { kind: "LIST" },
      { kind: "PING" },
    ];
    assert.equal(formatRequest(requests[0]), "REGISTER|web|::1|8080");
    assert.equal(formatRequest(requests[3]), "LOOKUPALL|a-b");
    for (const request of requests) assert.deepEqual(parseRequest(formatRequest(request)), request);
  });
});

describe("respond: replies byte for byte", () => {
  it("REGISTER, LOOKUP, LOOKUPALL, DEREGISTER, PING", () => {
    const { state } = newState();
    assert.equal(respond(state, "PING"), "OK|PONG|tower");
    assert.equal(respond(state, "LOOKUP|web"), "ERR|NOT_FOUND|web");
    assert.equal(respond(state, "LOOKUPALL|web"), "ERR|NOT_FOUND|web");
    assert.equal(respond(state, "REGISTER|web|10.0.0.7|8080"), "OK|REGISTERED|web");
    assert.equal(respond(state, "REGISTER|web|::1|8081\n"), "OK|REGISTERED|web");
    assert.equal(respond(state, "LOOKUP|web"), "OK|LOOKUP|web|10.0.0.7|8080");
    assert.equal(respond(state, "LOOKUP|web"), "OK|LOOKUP|web|::1|8081");
    assert.equal(respond(state, "LOOKUPALL|web"), "OK|LOOKUPALL|web|2|10.0.0.7:8080,[::1]:8081");
    assert.equal(respond(state, "LOOKUPALL|web"), "OK|LOOKUPALL|web|2|[::1]:8081,10.0.0.7:8080");
    assert.equal(respond(state, "DEREGISTER|web|10.0.0.7|8080"), "OK|DEREGISTERED|web");
    assert.equal(respond(state, "DEREGISTER|web|10.0.0.7|8080"), "ERR|NOT_FOUND|web");
    assert.equal(respond(state, "DEREGISTER|api|10.0.0.7|8080"), "ERR|NOT_FOUND|api");
    assert.equal(respond(state, "LOOKUPALL|web"), "OK|LOOKUPALL|web|1|[::1]:8081");
  });

  it("LIST: count, name:ip:port:ttl_left, registration order, IPv6 bracketed", () => {
    const { state, clock } = newState();
    assert.equal(respond(state, "LIST"), "OK|LIST|0|");
    respond(state, "REGISTER|web|10.0.0.7|8080");
    clock.advance(2_000);
    respond(state, "REGISTER|api|::1|9000");
    respond(state, "REGISTER|web|web-2.internal|8080");
    assert.equal(
      respond(state, "LIST"),
      "OK|LIST|3|web:10.0.0.7:8080:28,api:[::1]:9000:30,web:web-2.internal:8080:30",
    );
    // Lookups rotate replicas but leave LIST's order alone.
    respond(state, "LOOKUP|web");
    clock.advance(500);
    assert.equal(
      respond(state, "LIST"),
      "OK|LIST|3|web:10.0.0.7:8080:28,api:[::1]:9000:30,web:web-2.internal:8080:30",
    );
  });

  it("errors reply ERR|<reason> and change nothing", () => {
    const { state } = newState();
    respond(state, "REGISTER|web|10.0.0.7|8080");
    const before = respond(state, "LIST");
    const cases: [string, string][] = [
      ["HELLO|web", "ERR|UNKNOWN_COMMAND"],
      ["", "ERR|MALFORMED"],
      ["REGISTER|web|10.0.0.8", "ERR|MALFORMED"],
      ["REGISTER|web|10.0.0.8|80|", "ERR|MALFORMED"],
      ["REGISTER|we b|10.0.0.8|80", "ERR|BAD_NAME"],
      ["REGISTER|web|10.0.0.8|99999", "ERR|BAD_PORT"],
      ["REGISTER|web|not_a_host|80", "ERR|BAD_HOST"],
      ["DEREGISTER|web|10.0.0.7|08080", "ERR|BAD_PORT"],
      ["DEREGISTER|web|10.0.0.7", "ERR|MALFORMED"],
      ["LOOKUP|web|extra", "ERR|MALFORMED"],
      ["REGISTER|web|10.0.0.8|80\n\n", "ERR|BAD_PORT"],
      ["REGISTER|web|10.0.0.8|80\0", "ERR|BAD_PORT"],
    ];
    for (const [line, reply] of cases) {
      assert.equal(respond(state, line), reply, JSON.stringify(line));
    }
    assert.equal(respond(state, "LIST"), before);
    assert.equal(state.size, 1);
  });

  it("never echoes unvalidated input", () => {
    const { state } = newState();
    assert.equal(respond(state, "LOOKUP|<script>"), "ERR|BAD_NAME");
    assert.equal(respond(state, "EVIL|x|y"), "ERR|UNKNOWN_COMMAND");
  });

  it("non-ASCII and binary datagrams get ERR, not an exception", () => {
    const { state } = newState();
    assert.equal(respond(state, "LOOKUP|wéb"), "ERR|BAD_NAME");
    assert.equal(respond(state, new Uint8Array([0xff, 0xfe, 0x00, 0x7c])), "ERR|UNKNOWN_COMMAND");
    assert.equal(respond(state, new Uint8Array(0)), "ERR|MALFORMED");
    assert.equal(state.size, 0);
  });

  it(`drops datagrams over ${MAX_DATAGRAM_BYTES} bytes without a reply`, () => {
    const { state } = newState();
    const pad = (total: number) => "PING|" + "x".repeat(total - 5);
    assert.equal(pad(1024).length, 1024);
    assert.equal(respond(state, pad(1024)), "ERR|MALFORMED");
    assert.equal(respond(state, pad(1025)), undefined);
    assert.equal(respond(state, new Uint8Array(4096)), undefined);
    // Multi-byte characters count as bytes, not characters.
    assert.equal(respond(state, "LOOKUP|" + "é".repeat(509)), undefined);
  });

  it("mayChange: false refuses REGISTER and DEREGISTER only", () => {
    const { state } = newState();
    state.register("web", "10.0.0.7", 8080);
    const locked = { mayChange: false };
    assert.equal(respond(state, "REGISTER|web|10.0.0.9|80", locked), "ERR|FORBIDDEN|web");
    assert.equal(respond(state, "DEREGISTER|web|10.0.0.7|8080", locked), "ERR|FORBIDDEN|web");
    assert.equal(respond(state, "LOOKUP|web", locked), "OK|LOOKUP|web|10.0.0.7|8080");
    assert.equal(respond(state, "PING", locked), "OK|PONG|tower");
    assert.equal(respond(state, "LIST", locked), "OK|LIST|1|web:10.0.0.7:8080:30");
    // Malformed still says what is malformed, even to a stranger.
    assert.equal(respond(state, "REGISTER|web|x|0", locked), "ERR|BAD_PORT");
  });
});

describe("TowerState", () => {
  it("re-REGISTER refreshes the TTL and never duplicates", () => {
    const { state, clock } = newState();
    assert.equal(state.register("web", "10.0.0.7", 8080), true);
    clock.advance(20_000);
    assert.equal(state.register("web", "10.0.0.7", 8080), false);
    assert.equal(state.size, 1);
    clock.advance(20_000); // 40 s after the first REGISTER, 20 s after the heartbeat
    assert.equal(addr(state.lookup("web")), "10.0.0.7:8080");
    assert.deepEqual(state.list(), [{ name: "web", host: "10.0.0.7", port: 8080, ttlLeft: 10 }]);
  });

  it("entries expire 30 s after their last REGISTER (lazily, at lookup)", () => {
    const { state, clock } = newState();
    state.register("web", "10.0.0.7", 8080);
    clock.advance(DEFAULT_TTL_MS - 1);
    assert.equal(addr(state.lookup("web")), "10.0.0.7:8080");
    assert.equal(state.list()[0].ttlLeft, 1);
    clock.advance(1);
    assert.equal(state.lookup("web"), undefined);
    assert.deepEqual(state.replicas("web"), []);
    assert.equal(state.size, 0);
    assert.deepEqual(state.list(), []);
  });

  it("expiry removes only the stale replica", () => {
    const { state, clock } = newState();
    state.register("web", "10.0.0.1", 80);
    clock.advance(10_000);
    state.register("web", "10.0.0.2", 80);
    clock.advance(25_000);
    assert.deepEqual(state.replicas("web").map(addr), ["10.0.0.2:80"]);
    assert.equal(respond(state, "LIST"), "OK|LIST|1|web:10.0.0.2:80:5");
  });

  it("a replica that re-registers after expiring comes back as new", () => {
    const { state, clock } = newState();
    state.register("web", "10.0.0.1", 80);
    clock.advance(31_000);
    assert.equal(state.register("web", "10.0.0.1", 80), true);
    assert.equal(addr(state.lookup("web")), "10.0.0.1:80");
  });

  it("ttl_left is whole seconds, rounded up", () => {
    const { state, clock } = newState();
    state.register("web", "10.0.0.7", 8080);
    const ttl = () => state.list()[0].ttlLeft;
    assert.equal(ttl(), 30);
    clock.advance(500);
    assert.equal(ttl(), 30);
    clock.advance(500);
    assert.equal(ttl(), 29);
    clock.advance(28_999);
    assert.equal(ttl(), 1);
  });

  it("round robin: least recently served first, over 3 replicas", () => {
    const { state } = newState();
    state.register("web", "10.0.0.1", 80);
    state.register("web", "10.0.0.2", 80);
    state.register("web", "10.0.0.3", 80);
    const served = Array.from({ length: 7 }, () => addr(state.lookup("web")));
    assert.deepEqual(served, [
      "10.0.0.1:80",
      "10.0.0.2:80",
      "10.0.0.3:80",
      "10.0.0.1:80",
      "10.0.0.2:80",
      "10.0.0.3:80",
      "10.0.0.1:80",
    ]);
  });

  it("a heartbeat does not move a replica in the rotation", () => {
    const { state } = newState();
    state.register("web", "10.0.0.1", 80);
    state.register("web", "10.0.0.2", 80);
    state.register("web", "10.0.0.3", 80);
    state.lookup("web"); // .1 served
    state.register("web", "10.0.0.1", 80);
    state.register("web", "10.0.0.2", 80);
    assert.deepEqual([1, 2, 3].map(() => addr(state.lookup("web"))), [
      "10.0.0.2:80",
      "10.0.0.3:80",
      "10.0.0.1:80",
    ]);
  });

  it("a new replica has never been served, so it goes next", () => {
    const { state } = newState();
    state.register("web", "10.0.0.1", 80);
    state.register("web", "10.0.0.2", 80);
    state.register("web", "10.0.0.3", 80);
    state.lookup("web"); // .1
    state.register("web", "10.0.0.4", 80);
    assert.deepEqual(state.replicas("web").map(addr), [
      "10.0.0.2:80",
      "10.0.0.3:80",
      "10.0.0.4:80",
      "10.0.0.1:80",
    ]);
    // .2 was just served by replicas(); never-served .3 and .4 come next.
    assert.deepEqual([1, 2, 3, 4].map(() => addr(state.lookup("web"))), [
      "10.0.0.3:80",
      "10.0.0.4:80",
      "10.0.0.1:80",
      "10.0.0.2:80",
    ]);
  });

  it("replicas(): all live, LRS first, rotating; shares one rotation with lookup()", () => {
    const { state } = newState();
    state.register("web", "10.0.0.1", 80);
    state.register("web", "10.0.0.2", 80);
    state.register("web", "10.0.0.3", 80);
    assert.deepEqual(state.replicas("web").map(addr), [
      "10.0.0.1:80",
      "10.0.0.2:80",
      "10.0.0.3:80",
    ]);
    assert.deepEqual(state.replicas("web").map(addr), [
      "10.0.0.2:80",
      "10.0.0.3:80",
      "10.0.0.1:80",
    ]);
    assert.equal(addr(state.lookup("web")), "10.0.0.3:80");
    assert.deepEqual(state.replicas("web").map(addr), [
      "10.0.0.1:80",
      "10.0.0.2:80",
      "10.0.0.3:80",
    ]);
  });

  it("replicas() returns frozen replicas", () => {
    const { state } = newState();
    state.register("web", "10.0.0.1", 80);
    const a = state.replicas("web");
    assert.throws(() => {
      (a[0] as { port: number }).port = 1;
    }, TypeError);
    assert.deepEqual(state.replicas("web"), [{ host: "10.0.0.1", port: 80 }]);
  });

  it("replicas() hands out one array per rotation until the membership changes", () => {
    const { state, clock } = newState();
    state.register("web", "10.0.0.1", 80);
    state.register("web", "10.0.0.2", 80);
    const first = state.replicas("web");
    const second = state.replicas("web");
    assert.deepEqual(first.map(addr), ["10.0.0.1:80", "10.0.0.2:80"]);
    assert.deepEqual(second.map(addr), ["10.0.0.2:80", "10.0.0.1:80"]);
    // The same rotation again: the same array, nothing allocated.
    assert.equal(state.replicas("web"), first);
    assert.equal(state.replicas("web"), second);
    // A new replica: new orders that include it, and the round robin goes on.
    state.register("web", "10.0.0.3", 80);
    const third = state.replicas("web");
    assert.notEqual(third, first);
    assert.deepEqual(third.map(addr), ["10.0.0.3:80", "10.0.0.1:80", "10.0.0.2:80"]);
    assert.deepEqual(state.replicas("web").map(addr), [
      "10.0.0.1:80",
      "10.0.0.2:80",
      "10.0.0.3:80",
    ]);
    // A deregistered one leaves every order at once.
    state.deregister("web", "10.0.0.2", 80);
    assert.deepEqual(state.replicas("web").map(addr), ["10.0.0.3:80", "10.0.0.1:80"]);
    assert.deepEqual(state.replicas("web").map(addr), ["10.0.0.1:80", "10.0.0.3:80"]);
    // So does an expired one, even with orders built while it was alive.
    clock.advance(20_000);
    state.register("web", "10.0.0.1", 80); // heartbeat: 10.0.0.3 is now the older one
    clock.advance(15_000);
    assert.deepEqual(state.replicas("web").map(addr), ["10.0.0.1:80"]);
    assert.deepEqual(state.replicas("web").map(addr), ["10.0.0.1:80"]);
  });

  it("replicas() of a service with many replicas still rotates through all of them", () => {
    const { state } = newState();
    const n = 40;
    for (let i = 1; i <= n; i++) state.register("big", `10.0.1.${i}`, 80);
    const seen = new Set<string>();
    for (let i = 0; i < n; i++) {
      const order = state.replicas("big");
      assert.equal(order.length, n);
      assert.equal(new Set(order.map(addr)).size, n);
      seen.add(addr(order[0]));
    }
    assert.equal(seen.size, n);
    assert.equal(addr(state.replicas("big")[0]), "10.0.1.1:80");
  });

  it("services are independent", () => {
    const { state } = newState();
    state.register("web", "10.0.0.1", 80);
    state.register("api", "10.0.0.1", 80);
    state.register("web", "10.0.0.2", 80);
    assert.equal(addr(state.lookup("api")), "10.0.0.1:80");
    assert.equal(addr(state.lookup("web")), "10.0.0.1:80");
    assert.equal(addr(state.lookup("api")), "10.0.0.1:80");
    assert.equal(addr(state.lookup("web")), "10.0.0.2:80");
    assert.equal(state.lookup("nope"), undefined);
  });

  it("DEREGISTER removes exactly one replica; the service goes when empty", () => {
    const { state, clock } = newState();
    state.register("web", "10.0.0.1", 80);
    state.register("web", "10.0.0.1", 81);
    state.register("web", "10.0.0.2", 80);
    assert.equal(state.deregister("web", "10.0.0.1", 80), true);
    assert.equal(state.deregister("web", "10.0.0.1", 80), false);
    assert.equal(state.deregister("api", "10.0.0.1", 81), false);
    assert.deepEqual(state.replicas("web").map(addr), ["10.0.0.1:81", "10.0.0.2:80"]);
    assert.equal(state.deregister("web", "10.0.0.1", 81), true);
    assert.equal(state.deregister("web", "10.0.0.2", 80), true);
    assert.equal(state.lookup("web"), undefined);
    assert.equal(respond(state, "LIST"), "OK|LIST|0|");
    // An expired entry is already gone.
    state.register("web", "10.0.0.3", 80);
    clock.advance(30_000);
    assert.equal(state.deregister("web", "10.0.0.3", 80), false);
  });

  it("register() refuses what the protocol could not carry", () => {
    const { state } = newState();
    assert.throws(() => state.register("a|b", "10.0.0.1", 80), TypeError);
    assert.throws(() => state.register("web", "10.0.0.1|80", 80), TypeError);
    assert.throws(() => state.register("web", "10.0.0.1", 0), TypeError);
    assert.throws(() => state.register("web", "10.0.0.1", 80.5), TypeError);
    assert.equal(state.size, 0);
  });

  it("sweep() drops expired entries of services nobody looks up", () => {
    const { state, clock } = newState();
    state.register("a", "10.0.0.1", 80);
    state.register("b", "10.0.0.1", 80);
    clock.advance(15_000);
    state.register("b", "10.0.0.2", 80);
    clock.advance(15_000);
    assert.equal(state.sweep(), 2);
    assert.equal(state.sweep(), 0);
    assert.equal(state.size, 1);
  });

  it("the background sweep runs on its timer", async () => {
    const { state, clock } = newState({ sweepIntervalMs: 5 });
    state.register("a", "10.0.0.1", 80);
    clock.advance(30_000);
    await new Promise((resolve) => setTimeout(resolve, 40));
    // The timer already dropped it, so a manual sweep finds nothing.
    assert.equal(state.sweep(), 0);
  });

  it("a custom TTL", () => {
    const { state, clock } = newState({ ttlMs: 1_000 });
    state.register("a", "10.0.0.1", 80);
    assert.equal(respond(state, "LIST"), "OK|LIST|1|a:10.0.0.1:80:1");
    clock.advance(1_000);
    assert.equal(state.lookup("a"), undefined);
  });
});

describe("startTowerServer over a fake socket", () => {
  /** A BindUdp that records what is sent and lets the test deliver datagrams. */
  function fakeBind() {
    const sent: { text: string; port: number; host: string }[] = [];
    let deliver: (datagram: Datagram) => void = () => {};
    let closed = false;
    const bindUdp = (hostname: string, port: number, onMessage: (d: Datagram) => void) => {
      deliver = onMessage;
      const socket: UdpSocket = {
        hostname,
        port: port === 0 ? 40_000 : port,
        send: (data, toPort, toHost) => {
          sent.push({ text: new TextDecoder().decode(data), port: toPort, host: toHost });
        },
        close: () => {
          closed = true;
        },
      };
      return Promise.resolve(socket);
    };
    const datagram = (text: string, port = 5000): Datagram => ({
      data: new TextEncoder().encode(text),
      host: "10.9.9.9",
      port,
    });
    return { bindUdp, sent, deliver: (d: Datagram) => deliver(d), datagram, closed: () => closed };
  }

  it("answers each datagram to its sender and reports the bound port", async () => {
    const fake = fakeBind();
    const tower = await startTowerServer({ hostname: "0.0.0.0", port: 0, bindUdp: fake.bindUdp });
    assert.equal(tower.port, 40_000);
    assert.equal(tower.hostname, "0.0.0.0");
    fake.deliver(fake.datagram("REGISTER|web|10.0.0.7|8080", 5001));
    fake.deliver(fake.datagram("PING|" + "x".repeat(2000), 5002));
    fake.deliver(fake.datagram("LOOKUP|web", 5003));
    assert.deepEqual(fake.sent, [
      { text: "OK|REGISTERED|web", port: 5001, host: "10.9.9.9" },
      { text: "OK|LOOKUP|web|10.0.0.7|8080", port: 5003, host: "10.9.9.9" },
    ]);
    tower.close();
    assert.equal(fake.closed(), true);
  });

  it("nothing a datagram causes escapes the handler", async () => {
    class ExplodingState extends TowerState {
      override lookup(): never {
        throw new Error("boom");
      }
    }
    const state = new ExplodingState({ sweepIntervalMs: 0 });
    opened.push(state);
    const fake = fakeBind();
    const tower = await startTowerServer({
      hostname: "0.0.0.0",
      port: 0,
      bindUdp: fake.bindUdp,
      state,
    });
    assert.doesNotThrow(() => fake.deliver(fake.datagram("LOOKUP|web")));
    fake.deliver(fake.datagram("PING"));
    assert.deepEqual(fake.sent.map((s) => s.text), ["OK|PONG|tower"]);
    tower.close();
  });

  it("a bind failure rejects", async () => {
    await assert.rejects(
      startTowerServer({
        hostname: "0.0.0.0",
        port: 7772,
        bindUdp: () => Promise.reject(new Error("cannot bind UDP 0.0.0.0:7772: in use")),
      }),
      /cannot bind UDP/,
    );
  });
});

describe("reply size", () => {
  it("LIST and LOOKUPALL include only what fits, and count only that", () => {
    const { state } = newState();
    for (let i = 0; i < 3000; i++) {
      state.register("service-with-a-long-name", `10.0.${i >> 8}.${i & 255}`, 10000 + i);
    }
    const list = respond(state, "LIST")!;
    assert.ok(list.length <= MAX_REPLY_BYTES, `${list.length}`);
    const parsed = parseReply(list);
    assert.equal(parsed?.kind, "LIST");
    const count = Number(list.split("|")[2]);
    assert.ok(count > 100 && count < 3000, `${count}`);
    assert.equal(parsed?.kind === "LIST" && parsed.entries.length, count);

    const all = respond(state, "LOOKUPALL|service-with-a-long-name")!;
    assert.ok(all.length <= MAX_REPLY_BYTES);
    const reply = parseReply(all);
    assert.equal(reply?.kind === "LOOKUPALL" && reply.replicas.length, Number(all.split("|")[3]));
  });
});

describe("parseReply / formatReply", () => {
  it("round-trips every reply", () => {
    const lines = [
      "OK|REGISTERED|web",
      "OK|DEREGISTERED|web",
      "OK|LOOKUP|web|10.0.0.7|8080",
      "OK|LOOKUP|web|::1|8080",
      "OK|LOOKUPALL|web|1|10.0.0.7:8080",
      "OK|LOOKUPALL|web|3|10.0.0.7:8080,[::1]:8081,web-2.internal:80",
      "OK|LIST|0|",
      "OK|LIST|2|web:10.0.0.7:8080:30,api:[fe80::1]:9000:7",
      "OK|PONG|tower",
      "ERR|NOT_FOUND|web",
      "ERR|UNKNOWN_COMMAND",
    ];
    for (const line of lines) {
      const reply = parseReply(line);
      assert.ok(reply, line);
      assert.equal(formatReply(reply), line);
    }
  });

  it("gives the parts", () => {
    assert.deepEqual(parseReply("OK|LOOKUPALL|web|2|10.0.0.7:8080,[::1]:8081"), {
      kind: "LOOKUPALL",
      name: "web",
      replicas: [{ host: "10.0.0.7", port: 8080 }, { host: "::1", port: 8081 }],
    });
    assert.deepEqual(parseReply("OK|LIST|1|web:[::1]:8080:29"), {
      kind: "LIST",
      entries: [{ name: "web", host: "::1", port: 8080, ttlLeft: 29 }],
    });
    assert.deepEqual(parseReply("ERR|NOT_FOUND|web\n"), {
      kind: "ERR",
      reason: "NOT_FOUND",
      name: "web",
    });
    // A third field that is no service name is not taken for one.
    assert.deepEqual(parseReply("ERR|UNKNOWN_COMMAND|a b"), {
      kind: "ERR",
      reason: "UNKNOWN_COMMAND",
    });
    // Another Tower's wording is still an ERR.
    assert.deepEqual(parseReply("ERR|unknown command: LOOKUPALL|x|y"), {
      kind: "ERR",
      reason: "unknown command: LOOKUPALL",
    });
  });

  it("rejects what is not a reply", () => {
    for (
      const bad of [
        "",
        "OK",
        "HELLO|x",
        "OK|LOOKUP|web|10.0.0.7",
        "OK|LOOKUP|web|10.0.0.7|0",
        "OK|LOOKUPALL|web|2|10.0.0.7:8080",
        "OK|LOOKUPALL|web|x|10.0.0.7:8080",
        "OK|LOOKUPALL|web|1|::1:8080",
        "OK|LIST|1|",
        "OK|LIST|1|web:10.0.0.7:8080",
        "OK|REGISTERED",
        "OK|REGISTERED|a|b",
        "ERR",
        "ERR|",
        "ERR|tab\there",
        "OK|WHAT|web",
      ]
    ) {
      assert.equal(parseReply(bad), undefined, JSON.stringify(bad));
    }
  });
});

describe("EmbeddedTowerRegistry", () => {
  it("resolves synchronously, in round-robin order", () => {
    const { state } = newState();
    const registry = new EmbeddedTowerRegistry(state);
    state.register("web", "10.0.0.1", 80);
    state.register("web", "10.0.0.2", 80);
    const first = registry.resolve("web");
    assert.ok(Array.isArray(first), "an array, not a promise");
    assert.deepEqual(first.map(addr), ["10.0.0.1:80", "10.0.0.2:80"]);
    assert.deepEqual(registry.resolve("web").map(addr), ["10.0.0.2:80", "10.0.0.1:80"]);
    assert.deepEqual(registry.resolve("missing"), []);
    registry.close();
    // The state was passed in, so it is still the caller's and still works.
    assert.equal(state.size, 2);
  });

  it("owns and closes a state it created", () => {
    const registry = new EmbeddedTowerRegistry();
    registry.state.register("web", "10.0.0.1", 80);
    assert.deepEqual(registry.resolve("web"), [{ host: "10.0.0.1", port: 80 }]);
    registry.close();
  });
});
