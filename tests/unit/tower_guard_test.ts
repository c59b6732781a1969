/**
 * Admission of REGISTER and DEREGISTER (src/tower/guard.ts): the per-sender
 * rate limit, the entry cap, and the order of all the checks. No sockets, so
 * the file runs unchanged under `deno test` and `bun test`.
 */

import { afterEach, describe, it } from "node:test";
import assert from "node:assert/strict";
import { DEFAULT_MAX_ENTRIES, TowerGuard } from "../../src/tower/guard.ts";
import { MAX_DATAGRAM_BYTES } from "../../src/tower/protocol.ts";
import { TowerState } from "../../src/tower/state.ts";
import { Clock, opened, SECRET, setup } from "../helpers/tower_fixtures.ts";

afterEach(() => {
  for (const state of opened.splice(0)) state.close();
});

describe("per-sender rate limit", () => {
  it("refuses the burst+1-th request in a second, and recovers", () => {
    const { ask, clock, state } = setup({ rateLimit: { perSecond: 1, burst: 3 } });
    for (let i = 1; i <= 3; i++) {
      assert.equal(ask(`REGISTER|web|10.0.0.${i}|8080`), "OK|REGISTERED|web");
    }
    assert.equal(ask("REGISTER|web|10.0.0.4|8080"), "ERR|RATE_LIMITED|web");
    assert.equal(ask("DEREGISTER|web|10.0.0.1|8080"), "ERR|RATE_LIMITED|web");
    assert.equal(state.size, 3);
    clock.advance(999);
    assert.equal(ask("REGISTER|web|10.0.0.4|8080"), "ERR|RATE_LIMITED|web");
    clock.advance(1);
    assert.equal(ask("REGISTER|web|10.0.0.4|8080"), "OK|REGISTERED|web");
    assert.equal(ask("REGISTER|web|10.0.0.5|8080"), "ERR|RATE_LIMITED|web");
    // A long pause refills up to the burst, not beyond.
    clock.advance(60_000);
    for (let i = 5; i <= 7; i++) {
      assert.equal(ask(`REGISTER|web|10.0.0.${i}|8080`), "OK|REGISTERED|web");
    }
    assert.equal(ask("REGISTER|web|10.0.0.8|8080"), "ERR|RATE_LIMITED|web");
  });

  it("a sustained rate at perSecond is never refused", () => {
    const { ask, clock } = setup({ rateLimit: { perSecond: 4, burst: 1 } });
    for (let i = 0; i < 40; i++) {
      assert.equal(ask("REGISTER|web|10.0.0.7|8080"), "OK|REGISTERED|web", `request ${i}`);
      clock.advance(250);
    }
  });

  it("each sender has its own bucket; lookups are never limited", () => {
    const { ask } = setup({ rateLimit: { perSecond: 1, burst: 1 } });
    assert.equal(ask("REGISTER|web|10.0.0.7|8080", "10.1.1.1"), "OK|REGISTERED|web");
    assert.equal(ask("REGISTER|web|10.0.0.7|8080", "10.1.1.1"), "ERR|RATE_LIMITED|web");
    assert.equal(ask("REGISTER|web|10.0.0.8|8080", "10.1.1.2"), "OK|REGISTERED|web");
    assert.equal(ask("REGISTER|web|10.0.0.8|8080", "::1"), "OK|REGISTERED|web");
    for (let i = 0; i < 20; i++) {
      assert.equal(
        ask("LOOKUPALL|web", "10.1.1.1"),
        "OK|LOOKUPALL|web|2|" +
          (i % 2 === 0 ? "10.0.0.7:8080,10.0.0.8:8080" : "10.0.0.8:8080,10.0.0.7:8080"),
      );
      assert.equal(ask("PING", "10.1.1.1"), "OK|PONG|tower");
    }
  });

  it("remembers at most maxSenders, forgetting the least recently seen", () => {
    const { ask, guard } = setup({ rateLimit: { perSecond: 1, burst: 1 }, maxSenders: 100 });
    assert.equal(ask("REGISTER|web|10.0.0.7|8080", "10.1.1.1"), "OK|REGISTERED|web");
    assert.equal(ask("REGISTER|web|10.0.0.7|8080", "10.2.2.2"), "OK|REGISTERED|web");
    // A spoofed flood from 10000 addresses; 10.2.2.2 keeps coming back meanwhile.
    for (let i = 0; i < 10_000; i++) {
      ask("REGISTER|web|10.0.0.7|8080", `172.16.${i >> 8}.${i & 255}`);
      if (i % 50 === 0) ask("REGISTER|web|10.0.0.7|8080", "10.2.2.2");
      assert.ok(guard.trackedSenders <= 100);
    }
    assert.equal(guard.trackedSenders, 100);
    // 10.1.1.1 was forgotten (a fresh bucket); 10.2.2.2 was not.
    assert.equal(ask("REGISTER|web|10.0.0.7|8080", "10.1.1.1"), "OK|REGISTERED|web");
    assert.equal(ask("REGISTER|web|10.0.0.7|8080", "10.2.2.2"), "ERR|RATE_LIMITED|web");
  });

  it("rejects invalid limits", () => {
    for (
      const rateLimit of [
        { perSecond: 0, burst: 1 },
        { perSecond: -1, burst: 1 },
        { perSecond: Number.NaN, burst: 1 },
        { perSecond: Infinity, burst: 1 },
        { perSecond: 1, burst: 0 },
        { perSecond: 1, burst: 0.5 },
        { perSecond: 1, burst: Infinity },
      ]
    ) {
      assert.throws(() => new TowerGuard({ rateLimit }), TypeError, JSON.stringify(rateLimit));
    }
    assert.throws(() => new TowerGuard({ maxSenders: 0 }), TypeError);
    assert.throws(() => new TowerGuard({ maxNonces: 1.5 }), TypeError);
  });
});

describe("entry cap", () => {
  it("refuses new entries beyond maxEntries with ERR|registry full but still refreshes old ones", () => {
    const { ask, clock, state } = setup({ maxEntries: 2 });
    assert.equal(ask("REGISTER|web|10.0.0.7|8080"), "OK|REGISTERED|web");
    assert.equal(ask("REGISTER|api|10.0.0.7|9000"), "OK|REGISTERED|api");
    assert.equal(ask("REGISTER|web|10.0.0.8|8080"), "ERR|registry full");
    assert.equal(ask("REGISTER|db|10.0.0.9|5432"), "ERR|registry full");
    assert.equal(state.size, 2);
    clock.advance(20_000);
    assert.equal(ask("REGISTER|web|10.0.0.7|8080"), "OK|REGISTERED|web");
    assert.equal(ask("LIST"), "OK|LIST|2|web:10.0.0.7:8080:30,api:10.0.0.7:9000:10");
    // Room comes back by DEREGISTER ...
    assert.equal(ask("DEREGISTER|web|10.0.0.7|8080"), "OK|DEREGISTERED|web");
    assert.equal(ask("REGISTER|web|10.0.0.8|8080"), "OK|REGISTERED|web");
    assert.equal(ask("REGISTER|db|10.0.0.9|5432"), "ERR|registry full");
    // ... and by expiry, though nobody looked the expired entry up.
    clock.advance(10_000);
    assert.equal(ask("REGISTER|db|10.0.0.9|5432"), "OK|REGISTERED|db");
    assert.equal(ask("LIST"), "OK|LIST|2|web:10.0.0.8:8080:20,db:10.0.0.9:5432:30");
  });

  it(`is ${DEFAULT_MAX_ENTRIES} by default, and 0 means no cap`, () => {
    const capped = setup();
    for (let i = 0; i < DEFAULT_MAX_ENTRIES; i++) {
      const reply = capped.ask(`REGISTER|s${i % 100}|10.0.${i >> 8}.${i & 255}|8080`);
      assert.equal(reply, `OK|REGISTERED|s${i % 100}`);
    }
    assert.equal(capped.ask("REGISTER|web|10.9.0.1|8080"), "ERR|registry full");
    assert.equal(capped.ask("REGISTER|s0|10.0.0.0|8080"), "OK|REGISTERED|s0");
    assert.equal(capped.state.size, DEFAULT_MAX_ENTRIES);

    const open = setup({ maxEntries: 0 });
    for (let i = 0; i < DEFAULT_MAX_ENTRIES + 10; i++) {
      open.ask(`REGISTER|web|10.0.${i >> 8}.${i & 255}|8080`);
    }
    assert.equal(open.state.size, DEFAULT_MAX_ENTRIES + 10);
  });

  it("rejects an invalid cap", () => {
    for (const maxEntries of [-1, 1.5, Number.NaN]) {
      assert.throws(() => new TowerGuard({ maxEntries }), TypeError, String(maxEntries));
    }
  });

  it("TowerState.hasRoomFor counts live entries only", () => {
    const clock = new Clock();
    const state = new TowerState({ now: clock.now, sweepIntervalMs: 0 });
    opened.push(state);
    state.register("web", "10.0.0.7", 8080);
    clock.advance(10_000);
    state.register("web", "10.0.0.8", 8080);
    assert.equal(state.hasRoomFor("api", "10.0.0.9", 80, 3), true);
    assert.equal(state.hasRoomFor("api", "10.0.0.9", 80, 2), false);
    assert.equal(state.hasRoomFor("web", "10.0.0.8", 8080, 2), true);
    assert.equal(state.hasRoomFor("web", "10.0.0.8", 8080, 1), true);
    clock.advance(20_000); // the first entry has now expired
    assert.equal(state.hasRoomFor("api", "10.0.0.9", 80, 2), true);
    assert.equal(state.hasRoomFor("api", "10.0.0.9", 80, 1), false);
    assert.equal(state.size, 1);
  });
});

describe("order of checks: size, parse, allowlist, rate limit, signature, cap", () => {
  it("size before anything", () => {
    const { ask, sign } = setup({ secret: SECRET });
    const line = sign("REGISTER|web|10.0.0.7|8080");
    assert.equal(ask(line + "\n" + "x".repeat(MAX_DATAGRAM_BYTES)), undefined);
  });

  it("parse before the allowlist; the allowlist before the rate limit and signature", () => {
    const { ask, sign } = setup(
      { secret: SECRET, rateLimit: { perSecond: 1, burst: 1 } },
      { mayChange: false },
    );
    assert.equal(ask("REGISTER|web|10.0.0.7|0"), "ERR|REGISTER syntax: name|ip|port");
    assert.equal(
      ask("REGISTER|web|10.0.0.7|8080|1|nonce-0001"),
      "ERR|REGISTER syntax: name|ip|port",
    );
    for (let i = 0; i < 5; i++) {
      assert.equal(ask("REGISTER|web|10.0.0.7|8080"), "ERR|FORBIDDEN|web");
      assert.equal(ask(sign("REGISTER|web|10.0.0.7|8080")), "ERR|FORBIDDEN|web");
    }
  });

  it("the rate limit before the signature: forgeries use up tokens, not HMACs", () => {
    const { ask, sign } = setup({ secret: SECRET, rateLimit: { perSecond: 1, burst: 2 } });
    assert.equal(ask("REGISTER|web|10.0.0.7|8080"), "ERR|UNAUTHORIZED|web");
    assert.equal(ask("REGISTER|web|10.0.0.7|8080"), "ERR|UNAUTHORIZED|web");
    assert.equal(ask("REGISTER|web|10.0.0.7|8080"), "ERR|RATE_LIMITED|web");
    assert.equal(ask(sign("REGISTER|web|10.0.0.7|8080")), "ERR|RATE_LIMITED|web");
    assert.equal(ask(sign("REGISTER|web|10.0.0.7|8080"), "10.1.1.1"), "OK|REGISTERED|web");
  });

  it("the signature before the cap: only a signed request learns the Tower is full", () => {
    const { ask, sign, guard } = setup({ secret: SECRET, maxEntries: 1 });
    assert.equal(ask(sign("REGISTER|web|10.0.0.7|8080")), "OK|REGISTERED|web");
    assert.equal(ask("REGISTER|web|10.0.0.8|8080"), "ERR|UNAUTHORIZED|web");
    const full = sign("REGISTER|web|10.0.0.8|8080");
    assert.equal(ask(full), "ERR|registry full");
    // A verified nonce is used up whatever happened next.
    assert.equal(ask(full), "ERR|REPLAY|web");
    assert.equal(guard.rememberedNonces, 2);
  });
});
