/**
 * The Tower's UDP server (src/tower/server.ts): the datagram -> reply
 * function byte for byte, and startTowerServer over a fake socket, with and
 * without its security options. Runs unchanged under `deno test` and
 * `bun test`.
 */

import { afterEach, describe, it } from "node:test";
import assert from "node:assert/strict";
import { MAX_DATAGRAM_BYTES } from "../../src/tower/protocol.ts";
import { respond, startTowerServer } from "../../src/tower/server.ts";
import { signTowerRequest } from "../../src/tower/signing.ts";
import { TowerState } from "../../src/tower/state.ts";
import type { Datagram, UdpSocket } from "../../src/runtime/types.ts";
import { Clock, fakeNetwork, newState, opened, SECRET, T0 } from "../helpers/tower_fixtures.ts";

afterEach(() => {
  for (const state of opened.splice(0)) state.close();
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

  it("errors reply the seed's texts and change nothing", () => {
    const { state } = newState();
    respond(state, "REGISTER|web|10.0.0.7|8080");
    const before = respond(state, "LIST");
    const register = "ERR|REGISTER syntax: name|ip|port";
    const deregister = "ERR|DEREGISTER syntax: name|ip|port";
    const cases: [string, string][] = [
      ["HELLO|web", "ERR|unknown command"],
      ["", "ERR|unknown command"],
      ["REGISTER", "ERR|unknown command"],
      ["REGISTER|web|10.0.0.8", register],
      ["REGISTER|web|10.0.0.8|80|", register],
      ["REGISTER|we b|10.0.0.8|80", register],
      ["REGISTER|web|10.0.0.8|99999", register],
      ["REGISTER|web|not_a_host|80", register],
      ["DEREGISTER|web|10.0.0.7|08080", deregister],
      ["DEREGISTER|web|10.0.0.7", deregister],
      ["LOOKUP|web|extra", "ERR|NOT_FOUND|web|extra"],
      ["REGISTER|web|10.0.0.8|80\n\n", register],
      ["REGISTER|web|10.0.0.8|80\0", register],
    ];
    for (const [line, reply] of cases) {
      assert.equal(respond(state, line), reply, JSON.stringify(line));
    }
    assert.equal(respond(state, "LIST"), before);
    assert.equal(state.size, 1);
  });

  it("values the seed took and Gatehouse refuses get the seed's syntax text", () => {
    const { state } = newState();
    const register = "ERR|REGISTER syntax: name|ip|port";
    for (
      const line of [
        "REGISTER|web|10.0.0.7|0",
        "REGISTER|web|10.0.0.7|65536",
        "REGISTER|web|10.0.0.7|-80",
        "REGISTER|web|not an address|80",
        "REGISTER|web|10.0.0.999|80",
        `REGISTER|${"w".repeat(64)}|10.0.0.7|80`,
        "REGISTER|w/b|10.0.0.7|80",
      ]
    ) {
      assert.equal(respond(state, line), register, line);
    }
    assert.equal(
      respond(state, `DEREGISTER|${"w".repeat(64)}|10.0.0.7|80`),
      "ERR|DEREGISTER syntax: name|ip|port",
    );
    assert.equal(
      respond(state, `REGISTER|${"w".repeat(63)}|10.0.0.7|65535`),
      `OK|REGISTERED|${"w".repeat(63)}`,
    );
    assert.equal(state.size, 1);
  });

  it("echoes an unknown name as the seed does: to a NUL, at most 127 characters", () => {
    const { state } = newState();
    assert.equal(respond(state, "LOOKUP|<script>"), "ERR|NOT_FOUND|<script>");
    assert.equal(respond(state, "LOOKUPALL|<script>"), "ERR|NOT_FOUND|<script>");
    assert.equal(respond(state, "LOOKUP|"), "ERR|NOT_FOUND|");
    assert.equal(respond(state, "LOOKUP|a\0b"), "ERR|NOT_FOUND|a");
    assert.equal(respond(state, "LOOKUP|" + "x".repeat(500)), "ERR|NOT_FOUND|" + "x".repeat(127));
    // Only a name is echoed, never a command.
    assert.equal(respond(state, "EVIL|x|y"), "ERR|unknown command");
  });

  it("non-ASCII and binary datagrams get ERR, not an exception", () => {
    const { state } = newState();
    assert.equal(respond(state, "LOOKUP|wéb"), "ERR|NOT_FOUND|wéb");
    assert.equal(respond(state, new Uint8Array([0xff, 0xfe, 0x00, 0x7c])), "ERR|unknown command");
    assert.equal(respond(state, new Uint8Array(0)), "ERR|unknown command");
    assert.equal(state.size, 0);
  });

  it(`drops datagrams over ${MAX_DATAGRAM_BYTES} bytes without a reply`, () => {
    const { state } = newState();
    const pad = (total: number) => "PING|" + "x".repeat(total - 5);
    assert.equal(pad(1024).length, 1024);
    assert.equal(respond(state, pad(1024)), "ERR|unknown command");
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
    assert.equal(respond(state, "REGISTER|web|x|0", locked), "ERR|REGISTER syntax: name|ip|port");
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

describe("startTowerServer security options", () => {
  it("secret, rateLimit and maxEntries, keyed by the datagram's sender", async () => {
    const net = fakeNetwork();
    const clock = new Clock();
    const tower = await startTowerServer({
      hostname: "0.0.0.0",
      port: 7772,
      bindUdp: net.bindUdp,
      now: clock.now,
      secret: SECRET,
      rateLimit: { perSecond: 1, burst: 2 },
      maxEntries: 1,
    });
    const sign = (line: string) => signTowerRequest(SECRET, line, clock.t);
    net.deliver(7772, "REGISTER|web|10.0.0.7|8080", "10.1.1.1");
    net.deliver(7772, sign("REGISTER|web|10.0.0.7|8080"), "10.1.1.1");
    net.deliver(7772, sign("REGISTER|web|10.0.0.7|8080"), "10.1.1.1");
    net.deliver(7772, sign("REGISTER|web|10.0.0.8|8080"), "10.1.1.2");
    net.deliver(7772, "LOOKUP|web", "10.1.1.1");
    net.deliver(
      7772,
      signTowerRequest(SECRET, "REGISTER|api|10.0.0.8|80", T0 - 60_000),
      "10.3.3.3",
    );
    assert.deepEqual(net.sent.map((s) => `${s.host} ${s.text}`), [
      "10.1.1.1 ERR|UNAUTHORIZED|web",
      "10.1.1.1 OK|REGISTERED|web",
      "10.1.1.1 ERR|RATE_LIMITED|web",
      "10.1.1.2 ERR|registry full",
      "10.1.1.1 OK|LOOKUP|web|10.0.0.7|8080",
      "10.3.3.3 ERR|STALE|api",
    ]);
    tower.close();
  });

  it("the allowlist still answers FORBIDDEN", async () => {
    const net = fakeNetwork();
    const tower = await startTowerServer({
      hostname: "0.0.0.0",
      port: 7772,
      bindUdp: net.bindUdp,
      secret: SECRET,
      mayRegister: (ip) => ip === "10.1.1.1",
    });
    const line = signTowerRequest(SECRET, "REGISTER|web|10.0.0.7|8080", Date.now());
    net.deliver(7772, line, "10.6.6.6");
    net.deliver(7772, line, "10.1.1.1");
    assert.deepEqual(net.sent.map((s) => s.text), ["ERR|FORBIDDEN|web", "OK|REGISTERED|web"]);
    tower.close();
  });

  it("invalid options reject with a TypeError before binding", async () => {
    const net = fakeNetwork();
    const base = { hostname: "0.0.0.0", port: 7772, bindUdp: net.bindUdp };
    for (
      const bad of [
        { secret: "" },
        { rateLimit: { perSecond: 0, burst: 1 } },
        { rateLimit: { perSecond: 1, burst: 0 } },
        { maxEntries: -1 },
        { maxEntries: 2.5 },
      ]
    ) {
      await assert.rejects(startTowerServer({ ...base, ...bad }), TypeError, JSON.stringify(bad));
    }
    assert.equal(net.binds(), 0);
  });

  it("no datagram makes the handler throw", async () => {
    const net = fakeNetwork();
    const tower = await startTowerServer({
      hostname: "0.0.0.0",
      port: 7772,
      bindUdp: net.bindUdp,
      secret: SECRET,
      rateLimit: { perSecond: 1000, burst: 1000 },
      maxEntries: 1,
    });
    const line = signTowerRequest(SECRET, "REGISTER|web|10.0.0.7|8080", Date.now());
    const nasty = [
      line,
      line,
      line.toUpperCase(),
      line.replace(/\|[0-9a-f]{64}$/, "|" + "\u00ff".repeat(64)),
      line.replace(/\|[0-9a-f]{64}$/, "|" + "é".repeat(32)),
      "REGISTER|web|10.0.0.7|8080|||",
      "DEREGISTER|||||||",
      "REGISTER|web|10.0.0.7|8080|9007199254740993|nonce-0001|" + "0".repeat(64),
      "\u0000".repeat(100),
    ];
    for (const text of nasty) assert.doesNotThrow(() => net.deliver(7772, text), text);
    net.deliver(7772, "", "", 0);
    assert.equal(net.sent.length, nasty.length + 1);
    assert.equal(tower.state.size, 1);
    tower.close();
  });
});
