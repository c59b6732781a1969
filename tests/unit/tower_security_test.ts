/**
 * Tower security, without sockets: signed REGISTER/DEREGISTER (HMAC, clock
 * window, replay), the per-sender rate limit, the entry cap, the order of the
 * checks, and TowerClient's signing over a fake socket. Runs unchanged under
 * `deno test` and `bun test`.
 */

import { afterEach, describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  DEFAULT_MAX_ENTRIES,
  MAX_DATAGRAM_BYTES,
  respond,
  type RespondOptions,
  SIGNATURE_WINDOW_MS,
  signTowerRequest,
  startTowerServer,
  TowerClient,
  TowerGuard,
  type TowerGuardOptions,
  TowerState,
} from "../../src/tower.ts";
import type { Datagram, UdpSocket } from "../../src/runtime/types.ts";

const SECRET = "gatehouse-example-secret";
const T0 = 1_700_000_000_000;

/** A manual clock, in milliseconds. */
class Clock {
  t = T0;
  now = () => this.t;
  advance(ms: number): void {
    this.t += ms;
  }
}

const opened: TowerState[] = [];

afterEach(() => {
  for (const state of opened.splice(0)) state.close();
});

/**
 * A state and a guard sharing a manual clock, and `ask(line, sender?)`
 * answering the way the UDP server does.
 */
function setup(options: TowerGuardOptions = {}, extra: RespondOptions = {}) {
  const clock = new Clock();
  const state = new TowerState({ now: clock.now, sweepIntervalMs: 0 });
  opened.push(state);
  const guard = new TowerGuard({ now: clock.now, ...options });
  const ask = (line: string, senderIp = "10.9.9.9") =>
    respond(state, line, { ...extra, guard, senderIp });
  const sign = (line: string, at = clock.t, nonce?: string) =>
    signTowerRequest(SECRET, line, at, nonce);
  return { clock, state, guard, ask, sign };
}

/** Replace field `index` (0-based, "|"-separated) of a line. */
function withField(line: string, index: number, value: string): string {
  const fields = line.split("|");
  fields[index] = value;
  return fields.join("|");
}

describe("signTowerRequest", () => {
  it("appends <unix_ms>|<nonce>|<hex HMAC-SHA256 of everything before>", () => {
    // Known answers, also computed with `openssl dgst -sha256 -hmac` (docs/tower-signing.md).
    assert.equal(
      signTowerRequest(
        SECRET,
        "REGISTER|web|10.0.0.7|8080",
        T0,
        "0123456789abcdef0123456789abcdef",
      ),
      "REGISTER|web|10.0.0.7|8080|1700000000000|0123456789abcdef0123456789abcdef|" +
        "787ab0afb926b8c8be916c679a804ebe1cbc8b10c39f2915adb8bb8d8fcc5225",
    );
    assert.equal(
      signTowerRequest(
        SECRET,
        "DEREGISTER|web|10.0.0.7|8080",
        T0 + 5_000,
        "fedcba9876543210fedcba9876543210",
      ),
      "DEREGISTER|web|10.0.0.7|8080|1700000005000|fedcba9876543210fedcba9876543210|" +
        "26a4d1b4cb07d049ea031222d8080856df8c88bb62b03e2cd9559c2826c16175",
    );
  });

  it("picks a fresh 32-hex-digit nonce each time unless given one", () => {
    const a = signTowerRequest(SECRET, "REGISTER|web|10.0.0.7|8080", T0).split("|");
    const b = signTowerRequest(SECRET, "REGISTER|web|10.0.0.7|8080", T0).split("|");
    assert.equal(a.length, 7);
    assert.match(a[5], /^[0-9a-f]{32}$/);
    assert.notEqual(a[5], b[5]);
    assert.notEqual(a[6], b[6]);
  });

  it("signs the canonical line: echo's newline is not part of it", () => {
    assert.equal(
      signTowerRequest(SECRET, "REGISTER|web|::1|8080\n", T0, "nonce-123"),
      signTowerRequest(SECRET, "REGISTER|web|::1|8080", T0, "nonce-123"),
    );
  });

  it("refuses what cannot be signed, with a TypeError", () => {
    const line = "REGISTER|web|10.0.0.7|8080";
    const bad: [string, string, number, string?][] = [
      ["", line, T0],
      [SECRET, "LOOKUP|web", T0],
      [SECRET, "PING", T0],
      [SECRET, "REGISTER|web|10.0.0.7", T0],
      [SECRET, "REGISTER|web|10.0.0.7|0", T0],
      [SECRET, line, -1],
      [SECRET, line, 1.5],
      [SECRET, line, Number.NaN],
      [SECRET, line, T0, "short"],
      [SECRET, line, T0, "x".repeat(65)],
      [SECRET, line, T0, "has|pipe"],
      [SECRET, line, T0, "has space"],
    ];
    for (const [secret, text, at, nonce] of bad) {
      assert.throws(
        () => signTowerRequest(secret, text, at, nonce),
        TypeError,
        JSON.stringify([secret, text, at, nonce]),
      );
    }
  });
});

describe("a Tower with a secret", () => {
  it("accepts signed REGISTER and DEREGISTER", () => {
    const { ask, sign, state } = setup({ secret: SECRET });
    assert.equal(ask(sign("REGISTER|web|10.0.0.7|8080")), "OK|REGISTERED|web");
    assert.equal(ask(sign("REGISTER|web|::1|8081\n")), "OK|REGISTERED|web");
    assert.equal(ask("LOOKUPALL|web"), "OK|LOOKUPALL|web|2|10.0.0.7:8080,[::1]:8081");
    assert.equal(ask(sign("DEREGISTER|web|10.0.0.7|8080")), "OK|DEREGISTERED|web");
    assert.equal(ask(sign("DEREGISTER|web|10.0.0.7|8080")), "ERR|NOT_FOUND|web");
    assert.equal(state.size, 1);
  });

  it("accepts the MAC in upper case too", () => {
    const { ask, sign } = setup({ secret: SECRET });
    const line = sign("REGISTER|web|10.0.0.7|8080");
    const at = line.lastIndexOf("|") + 1;
    assert.equal(ask(line.slice(0, at) + line.slice(at).toUpperCase()), "OK|REGISTERED|web");
  });

  it("refuses unsigned REGISTER and DEREGISTER with UNAUTHORIZED, changing nothing", () => {
    const { ask, state } = setup({ secret: SECRET });
    state.register("web", "10.0.0.7", 8080);
    const before = ask("LIST");
    assert.equal(ask("REGISTER|web|10.0.0.8|8080"), "ERR|UNAUTHORIZED|web");
    assert.equal(ask("REGISTER|api|10.0.0.8|8080\n"), "ERR|UNAUTHORIZED|api");
    assert.equal(ask("DEREGISTER|web|10.0.0.7|8080"), "ERR|UNAUTHORIZED|web");
    assert.equal(ask("LIST"), before);
    assert.equal(state.size, 1);
  });

  it("refuses a wrong secret with UNAUTHORIZED", () => {
    const { ask, state, clock } = setup({ secret: SECRET });
    for (const secret of ["wrong", SECRET + " ", SECRET.toUpperCase(), SECRET.slice(1)]) {
      const line = signTowerRequest(secret, "REGISTER|web|10.0.0.7|8080", clock.t);
      assert.equal(ask(line), "ERR|UNAUTHORIZED|web", secret);
    }
    assert.equal(state.size, 0);
  });

  it("refuses any tampered field with UNAUTHORIZED", () => {
    const { ask, sign, state } = setup({ secret: SECRET });
    state.register("web", "10.0.0.7", 8080);
    const before = ask("LIST");
    const line = sign("REGISTER|web|10.0.0.7|8080");
    const fields = line.split("|");
    const flipped = fields[6][0] === "0" ? "1" + fields[6].slice(1) : "0" + fields[6].slice(1);
    const tampered: [string, string][] = [
      [withField(line, 0, "DEREGISTER"), "ERR|UNAUTHORIZED|web"],
      [withField(line, 1, "api"), "ERR|UNAUTHORIZED|api"],
      [withField(line, 2, "10.0.0.8"), "ERR|UNAUTHORIZED|web"],
      [withField(line, 3, "8081"), "ERR|UNAUTHORIZED|web"],
      [withField(line, 4, String(Number(fields[4]) + 1)), "ERR|UNAUTHORIZED|web"],
      [withField(line, 5, fields[5].slice(0, -1) + "x"), "ERR|UNAUTHORIZED|web"],
      [withField(line, 6, flipped), "ERR|UNAUTHORIZED|web"],
    ];
    for (const [text, reply] of tampered) assert.equal(ask(text), reply, text);
    assert.equal(ask("LIST"), before);
    // The untouched line is still good: refused lines use up no nonce.
    assert.equal(ask(line), "OK|REGISTERED|web");
  });

  it(`refuses timestamps more than ${SIGNATURE_WINDOW_MS} ms off with STALE`, () => {
    const { ask, sign, clock, state } = setup({ secret: SECRET });
    const w = SIGNATURE_WINDOW_MS;
    assert.equal(ask(sign("REGISTER|web|10.0.0.7|8080", clock.t - w - 1)), "ERR|STALE|web");
    assert.equal(ask(sign("REGISTER|web|10.0.0.7|8080", clock.t + w + 1)), "ERR|STALE|web");
    assert.equal(ask(sign("REGISTER|web|10.0.0.7|8080", 0)), "ERR|STALE|web");
    assert.equal(ask(sign("DEREGISTER|web|10.0.0.7|8080", clock.t - 3_600_000)), "ERR|STALE|web");
    assert.equal(state.size, 0);
    // The edges of the window are inside it.
    assert.equal(ask(sign("REGISTER|web|10.0.0.7|8080", clock.t - w)), "OK|REGISTERED|web");
    assert.equal(ask(sign("REGISTER|web|10.0.0.8|8080", clock.t + w)), "OK|REGISTERED|web");
  });

  it("refuses a replayed request with REPLAY, and later as STALE", () => {
    const { ask, sign, clock, state } = setup({ secret: SECRET });
    const register = sign("REGISTER|web|10.0.0.7|8080");
    assert.equal(ask(register), "OK|REGISTERED|web");
    const deregister = sign("DEREGISTER|web|10.0.0.7|8080");
    assert.equal(ask(deregister), "OK|DEREGISTERED|web");
    // Replaying the REGISTER would bring back what was deregistered.
    assert.equal(ask(register), "ERR|REPLAY|web");
    assert.equal(ask(register, "10.1.1.1"), "ERR|REPLAY|web");
    assert.equal(state.size, 0);
    clock.advance(SIGNATURE_WINDOW_MS);
    assert.equal(ask(register), "ERR|REPLAY|web");
    clock.advance(1);
    assert.equal(ask(register), "ERR|STALE|web");
    assert.equal(ask(deregister), "ERR|STALE|web");
    assert.equal(state.size, 0);
  });

  it("a nonce is single-use even in a new, correctly signed request", () => {
    const { ask, sign, clock } = setup({ secret: SECRET });
    assert.equal(
      ask(sign("REGISTER|web|10.0.0.7|8080", clock.t, "nonce-0001")),
      "OK|REGISTERED|web",
    );
    clock.advance(1_000);
    assert.equal(ask(sign("REGISTER|api|10.0.0.7|9000", clock.t, "nonce-0001")), "ERR|REPLAY|api");
  });

  it("remembers nonces only while their requests could be fresh", () => {
    const { ask, sign, clock, guard } = setup({ secret: SECRET });
    for (let i = 0; i < 50; i++) {
      assert.equal(ask(sign("REGISTER|web|10.0.0.7|8080")), "OK|REGISTERED|web");
      clock.advance(100);
    }
    assert.equal(guard.rememberedNonces, 50);
    clock.advance(SIGNATURE_WINDOW_MS);
    assert.equal(
      ask(sign("REGISTER|web|10.0.0.7|8080", clock.t, "nonce-0001")),
      "OK|REGISTERED|web",
    );
    assert.equal(guard.rememberedNonces, 1);
    // Once stale, the old nonce may be used again in a new request.
    clock.advance(SIGNATURE_WINDOW_MS + 1);
    assert.equal(
      ask(sign("REGISTER|web|10.0.0.7|8080", clock.t, "nonce-0001")),
      "OK|REGISTERED|web",
    );
  });

  it("keeps at most maxNonces; past that, signed requests are RATE_LIMITED until some expire", () => {
    const { ask, sign, clock, guard, state } = setup({ secret: SECRET, maxNonces: 3 });
    for (let i = 1; i <= 3; i++) {
      assert.equal(ask(sign(`REGISTER|web|10.0.0.${i}|8080`)), "OK|REGISTERED|web");
    }
    assert.equal(ask(sign("REGISTER|web|10.0.0.4|8080")), "ERR|RATE_LIMITED|web");
    assert.equal(guard.rememberedNonces, 3);
    assert.equal(state.size, 3);
    clock.advance(SIGNATURE_WINDOW_MS + 1);
    assert.equal(ask(sign("REGISTER|web|10.0.0.4|8080")), "OK|REGISTERED|web");
    assert.equal(guard.rememberedNonces, 1);
  });

  it("LOOKUP, LOOKUPALL, LIST and PING stay plain", () => {
    const { ask, sign, clock } = setup({ secret: SECRET });
    assert.equal(ask(sign("REGISTER|web|10.0.0.7|8080")), "OK|REGISTERED|web");
    clock.advance(1_000);
    assert.equal(ask("LOOKUP|web"), "OK|LOOKUP|web|10.0.0.7|8080");
    assert.equal(ask("LOOKUP|web\n"), "OK|LOOKUP|web|10.0.0.7|8080");
    assert.equal(ask("LOOKUPALL|web"), "OK|LOOKUPALL|web|1|10.0.0.7:8080");
    assert.equal(ask("LOOKUP|api"), "ERR|NOT_FOUND|api");
    assert.equal(ask("LIST"), "OK|LIST|1|web:10.0.0.7:8080:29");
    assert.equal(ask("PING"), "OK|PONG|tower");
  });

  it("signature fields of the wrong form are MALFORMED", () => {
    const { ask, sign, state } = setup({ secret: SECRET });
    const line = sign("REGISTER|web|10.0.0.7|8080");
    const [command, name, host, port, at, nonce, mac] = line.split("|");
    const head = `${command}|${name}|${host}|${port}`;
    const cases = [
      `${head}|${at}`,
      `${head}|${at}|${nonce}`,
      `${line}|extra`,
      `${head}|0${at}|${nonce}|${mac}`,
      `${head}|+${at}|${nonce}|${mac}`,
      `${head}|${at}.0|${nonce}|${mac}`,
      `${head}||${nonce}|${mac}`,
      `${head}|99999999999999999|${nonce}|${mac}`,
      `${head}|${at}|short|${mac}`,
      `${head}|${at}|${"n".repeat(65)}|${mac}`,
      `${head}|${at}|bad.nonce|${mac}`,
      `${head}|${at}|${nonce}|${mac.slice(1)}`,
      `${head}|${at}|${nonce}|${mac}0`,
      `${head}|${at}|${nonce}|${"g".repeat(64)}`,
      `${line}\n\n`,
      `${line} `,
    ];
    for (const text of cases) assert.equal(ask(text), "ERR|MALFORMED", JSON.stringify(text));
    // The first four fields are read as always.
    assert.equal(ask(withField(line, 3, "0")), "ERR|BAD_PORT");
    assert.equal(ask(withField(line, 3, "80\n")), "ERR|BAD_PORT");
    assert.equal(ask(withField(line, 2, "10.0.0.256")), "ERR|BAD_HOST");
    assert.equal(ask(withField(line, 1, "a b")), "ERR|BAD_NAME");
    assert.equal(ask(withField(line, 0, "LOOKUP")), "ERR|MALFORMED");
    assert.equal(state.size, 0);
    // One trailing newline is tolerated, as for any request.
    assert.equal(ask(line + "\r\n"), "OK|REGISTERED|web");
  });

  it("rejects an empty secret", () => {
    assert.throws(() => new TowerGuard({ secret: "" }), TypeError);
  });
});

describe("a Tower without a secret", () => {
  it("behaves as before for plain requests", () => {
    const { ask } = setup();
    assert.equal(ask("REGISTER|web|10.0.0.7|8080"), "OK|REGISTERED|web");
    assert.equal(ask("LOOKUP|web"), "OK|LOOKUP|web|10.0.0.7|8080");
    assert.equal(ask("DEREGISTER|web|10.0.0.7|8080"), "OK|DEREGISTERED|web");
    assert.equal(ask("REGISTER|web|10.0.0.7|80|x"), "ERR|MALFORMED");
  });

  it("accepts signed requests with the signature ignored, so clients can sign first", () => {
    const { ask, state, clock } = setup();
    const stale = signTowerRequest("any", "REGISTER|web|10.0.0.7|8080", 0, "nonce-0001");
    assert.equal(ask(stale), "OK|REGISTERED|web");
    assert.equal(ask(stale), "OK|REGISTERED|web");
    const line = signTowerRequest("any", "DEREGISTER|web|10.0.0.7|8080", clock.t);
    assert.equal(ask(line), "OK|DEREGISTERED|web");
    assert.equal(state.size, 0);
    // ... but still only in the signed form.
    assert.equal(ask(stale.replace(/\|[0-9a-f]+$/, "|xyz")), "ERR|MALFORMED");
  });
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
  it("refuses new entries beyond maxEntries with FULL but still refreshes old ones", () => {
    const { ask, clock, state } = setup({ maxEntries: 2 });
    assert.equal(ask("REGISTER|web|10.0.0.7|8080"), "OK|REGISTERED|web");
    assert.equal(ask("REGISTER|api|10.0.0.7|9000"), "OK|REGISTERED|api");
    assert.equal(ask("REGISTER|web|10.0.0.8|8080"), "ERR|FULL|web");
    assert.equal(ask("REGISTER|db|10.0.0.9|5432"), "ERR|FULL|db");
    assert.equal(state.size, 2);
    clock.advance(20_000);
    assert.equal(ask("REGISTER|web|10.0.0.7|8080"), "OK|REGISTERED|web");
    assert.equal(ask("LIST"), "OK|LIST|2|web:10.0.0.7:8080:30,api:10.0.0.7:9000:10");
    // Room comes back by DEREGISTER ...
    assert.equal(ask("DEREGISTER|web|10.0.0.7|8080"), "OK|DEREGISTERED|web");
    assert.equal(ask("REGISTER|web|10.0.0.8|8080"), "OK|REGISTERED|web");
    assert.equal(ask("REGISTER|db|10.0.0.9|5432"), "ERR|FULL|db");
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
    assert.equal(capped.ask("REGISTER|web|10.9.0.1|8080"), "ERR|FULL|web");
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
    assert.equal(ask("REGISTER|web|10.0.0.7|0"), "ERR|BAD_PORT");
    assert.equal(ask("REGISTER|web|10.0.0.7|8080|1|nonce-0001"), "ERR|MALFORMED");
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
    assert.equal(ask(full), "ERR|FULL|web");
    // A verified nonce is used up whatever happened next.
    assert.equal(ask(full), "ERR|REPLAY|web");
    assert.equal(guard.rememberedNonces, 2);
  });
});

// ---------------------------------------------------------------------------
// Through startTowerServer and TowerClient, over a fake socket
// ---------------------------------------------------------------------------

/** A BindUdp whose sockets record what they send and take datagrams from the test. */
function fakeNetwork() {
  const sent: { text: string; port: number; host: string }[] = [];
  const sockets: { port: number; deliver: (d: Datagram) => void }[] = [];
  let binds = 0;
  const bindUdp = (hostname: string, port: number, onMessage: (d: Datagram) => void) => {
    binds++;
    const bound = port === 0 ? 40_000 + sockets.length : port;
    sockets.push({ port: bound, deliver: onMessage });
    const socket: UdpSocket = {
      hostname,
      port: bound,
      send: (data, toPort, toHost) => {
        sent.push({ text: new TextDecoder().decode(data), port: toPort, host: toHost });
      },
      close: () => {},
    };
    return Promise.resolve(socket);
  };
  /** Deliver `text` to the socket bound on `port`, as if from `host:fromPort`. */
  const deliver = (port: number, text: string, host = "10.9.9.9", fromPort = 5000) => {
    const socket = sockets.find((s) => s.port === port);
    assert.ok(socket, `no socket on ${port}`);
    socket.deliver({ data: new TextEncoder().encode(text), host, port: fromPort });
  };
  return { bindUdp, sent, deliver, binds: () => binds };
}

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
      "10.1.1.2 ERR|FULL|web",
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

describe("TowerClient with a secret", () => {
  it("signs REGISTER and DEREGISTER afresh on every send; lookups stay plain", async () => {
    const net = fakeNetwork();
    const clock = new Clock();
    const client = await TowerClient.open("127.0.0.1", 7772, {
      bindUdp: net.bindUdp,
      secret: SECRET,
      now: clock.now,
      timeoutMs: 20,
      retries: 1_000,
    });
    try {
      const registered = client.send("REGISTER|web|10.0.0.7|8080");
      const looked = client.send({ kind: "LOOKUP", name: "web" });
      const [first, lookup] = net.sent.map((s) => s.text);
      assert.equal(lookup, "LOOKUP|web");
      assert.match(
        first,
        /^REGISTER\|web\|10\.0\.0\.7\|8080\|1700000000000\|[0-9a-f]{32}\|[0-9a-f]{64}$/,
      );
      // The Tower accepts exactly what the client sent.
      const { ask, clock: towerClock } = setup({ secret: SECRET });
      towerClock.t = clock.t;
      assert.equal(ask(first), "OK|REGISTERED|web");

      // Silence: the retry is a new datagram with a new nonce and time.
      clock.advance(25);
      const isRetry = (t: string) => t.startsWith("REGISTER") && t !== first;
      for (let waited = 0; waited < 2_000 && !net.sent.some((s) => isRetry(s.text)); waited += 10) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      const retry = net.sent.map((s) => s.text).find(isRetry);
      assert.ok(retry !== undefined, "a retry was sent");
      assert.notEqual(retry.split("|")[5], first.split("|")[5]);
      assert.equal(retry.split("|")[4], String(T0 + 25));
      assert.equal(ask(retry), "OK|REGISTERED|web");

      net.deliver(40_000, "OK|REGISTERED|web", "127.0.0.1", 7772);
      net.deliver(40_000, "ERR|NOT_FOUND|web", "127.0.0.1", 7772);
      assert.deepEqual(await registered, { kind: "REGISTERED", name: "web" });
      assert.deepEqual(await looked, { kind: "ERR", reason: "NOT_FOUND", name: "web" });

      const gone = client.send({ kind: "DEREGISTER", name: "web", host: "10.0.0.7", port: 8080 });
      const last = net.sent[net.sent.length - 1].text;
      assert.match(last, /^DEREGISTER\|web\|10\.0\.0\.7\|8080\|\d+\|[0-9a-f]{32}\|[0-9a-f]{64}$/);
      net.deliver(40_000, "OK|DEREGISTERED|web", "127.0.0.1", 7772);
      assert.deepEqual(await gone, { kind: "DEREGISTERED", name: "web" });
    } finally {
      client.close();
    }
  });

  it("a refusal goes to the REGISTER, not to a LOOKUP of the same service", async () => {
    const net = fakeNetwork();
    const client = await TowerClient.open("127.0.0.1", 7772, { bindUdp: net.bindUdp });
    try {
      const looked = client.send("LOOKUP|web");
      const registered = client.send("REGISTER|web|10.0.0.7|8080");
      const other = client.send("LOOKUP|api");
      net.deliver(40_000, "ERR|UNAUTHORIZED|web", "127.0.0.1", 7772);
      assert.deepEqual(await registered, { kind: "ERR", reason: "UNAUTHORIZED", name: "web" });
      // A late duplicate refusal is handed to no one.
      net.deliver(40_000, "ERR|RATE_LIMITED|web", "127.0.0.1", 7772);
      net.deliver(40_000, "OK|LOOKUP|web|10.0.0.7|8080", "127.0.0.1", 7772);
      net.deliver(40_000, "OK|LOOKUP|api|10.0.0.8|80", "127.0.0.1", 7772);
      assert.equal((await looked).kind, "LOOKUP");
      assert.deepEqual(await other, {
        kind: "LOOKUP",
        name: "api",
        replica: { host: "10.0.0.8", port: 80 },
      });
    } finally {
      client.close();
    }
  });

  it("rejects an empty secret", async () => {
    const net = fakeNetwork();
    await assert.rejects(
      TowerClient.open("127.0.0.1", 7772, { bindUdp: net.bindUdp, secret: "" }),
      TypeError,
    );
    assert.equal(net.binds(), 0);
  });
});
