/**
 * Signed REGISTER/DEREGISTER (src/tower/signing.ts, docs/tower-signing.md):
 * known answers, and a Tower with and without a secret (HMAC, clock window,
 * replay). No sockets, so the file runs unchanged under `deno test` and
 * `bun test`.
 */

import { afterEach, describe, it } from "node:test";
import assert from "node:assert/strict";
import { SIGNATURE_WINDOW_MS, signTowerRequest } from "../../src/tower/signing.ts";
import { TowerGuard } from "../../src/tower/guard.ts";
import { opened, SECRET, setup, T0 } from "../helpers/tower_fixtures.ts";

afterEach(() => {
  for (const state of opened.splice(0)) state.close();
});

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

  it("signs a weighted REGISTER with its weight in the message", () => {
    assert.equal(
      signTowerRequest(
        SECRET,
        "REGISTER|web|10.0.0.7|8080|weight=3",
        T0 + 10_000,
        "00112233445566778899aabbccddeeff",
      ),
      "REGISTER|web|10.0.0.7|8080|weight=3|1700000010000|00112233445566778899aabbccddeeff|" +
        "03e96a2a9928fea958acb3c7e0e4b2b50c076fbedd641ba175d36d474f4e4bae",
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

  it("accepts a signed weighted REGISTER, and refuses its weight tampered with", () => {
    const { ask, sign, state } = setup({ secret: SECRET });
    assert.equal(ask(sign("REGISTER|web|10.0.0.7|8080|weight=3")), "OK|REGISTERED|web");
    assert.equal(state.replicas("web")[0].weight, 3);
    const line = sign("REGISTER|web|10.0.0.8|8080|weight=3").replace("weight=3", "weight=9");
    assert.equal(ask(line), "ERR|UNAUTHORIZED|web");
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

  it("signature fields of the wrong form get the seed's syntax text", () => {
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
    const syntax = "ERR|REGISTER syntax: name|ip|port";
    for (const text of cases) assert.equal(ask(text), syntax, JSON.stringify(text));
    assert.equal(
      ask(withField(sign("DEREGISTER|web|10.0.0.7|8080"), 6, "xyz")),
      "ERR|DEREGISTER syntax: name|ip|port",
    );
    // The first four fields are read as always.
    assert.equal(ask(withField(line, 3, "0")), syntax);
    assert.equal(ask(withField(line, 3, "80\n")), syntax);
    assert.equal(ask(withField(line, 2, "10.0.0.256")), syntax);
    assert.equal(ask(withField(line, 1, "a b")), syntax);
    // A LOOKUP takes everything after "LOOKUP|" as the name, as in the seed.
    const lookup = withField(line, 0, "LOOKUP");
    assert.equal(ask(lookup), `ERR|NOT_FOUND|${lookup.slice("LOOKUP|".length, 7 + 127)}`);
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
    assert.equal(ask("REGISTER|web|10.0.0.7|80|x"), "ERR|REGISTER syntax: name|ip|port");
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
    assert.equal(
      ask(stale.replace(/\|[0-9a-f]+$/, "|xyz")),
      "ERR|REGISTER syntax: name|ip|port",
    );
  });
});
