/**
 * The Tower's tallies of accepted and refused changes (src/tower/tally.ts),
 * counted as the server answers: each refusal under its fixed reason,
 * lookups not at all.
 */

import { afterEach, describe, it } from "node:test";
import assert from "node:assert/strict";
import { refusalReason, TowerTally } from "../../src/tower/tally.ts";
import { startTowerServer } from "../../src/tower/server.ts";
import { fakeNetwork, opened, SECRET, setup } from "../helpers/tower_fixtures.ts";

afterEach(() => {
  for (const state of opened.splice(0)) state.close();
});

/** The non-zero counts of a tally. */
function nonZero(counts: Map<string, number>): Record<string, number> {
  return Object.fromEntries([...counts].filter(([, n]) => n > 0));
}

describe("TowerTally", () => {
  it("counts accepted changes by command, and lookups not at all", () => {
    const tally = new TowerTally();
    const { ask } = setup({}, { tally, routes: true });
    assert.equal(ask("REGISTER|web|10.0.0.7|8080"), "OK|REGISTERED|web");
    assert.equal(ask("REGISTER|web|10.0.0.7|8080"), "OK|REGISTERED|web");
    assert.equal(ask("LOOKUP|web"), "OK|LOOKUP|web|10.0.0.7|8080");
    assert.equal(ask("ROUTE|web|/web"), "OK|ROUTED|web");
    assert.equal(ask("DEREGISTER|web|10.0.0.7|8080"), "OK|DEREGISTERED|web");
    // Nothing to deregister: not a change, not a refusal.
    assert.equal(ask("DEREGISTER|web|10.0.0.7|8080"), "ERR|NOT_FOUND|web");
    assert.deepEqual(nonZero(tally.accepted), { register: 2, route: 1, deregister: 1 });
    assert.deepEqual(nonZero(tally.refused), {});
  });

  it("counts unsigned, wrongly signed, stale and replayed changes apart", () => {
    const tally = new TowerTally();
    const { ask, sign, clock } = setup({ secret: SECRET }, { tally });
    assert.equal(ask("REGISTER|web|10.0.0.7|8080"), "ERR|UNAUTHORIZED|web");
    const signed = sign("REGISTER|web|10.0.0.7|8080");
    const forged = signed.replace(/[0-9a-f]$/, (c) => c === "0" ? "1" : "0");
    assert.equal(ask(forged), "ERR|UNAUTHORIZED|web");
    assert.equal(ask(signed), "OK|REGISTERED|web");
    assert.equal(ask(signed), "ERR|REPLAY|web");
    assert.equal(ask(sign("REGISTER|web|10.0.0.7|8080", clock.t - 60_000)), "ERR|STALE|web");
    assert.deepEqual(nonZero(tally.refused), {
      unsigned: 1,
      bad_signature: 1,
      replay: 1,
      stale: 1,
    });
    assert.deepEqual(nonZero(tally.accepted), { register: 1 });
  });

  it("counts refusals by the allowlist, the rate limit, the caps and the syntax", () => {
    const tally = new TowerTally();
    const { ask } = setup({ rateLimit: { perSecond: 1, burst: 1 }, maxEntries: 1 }, {
      tally,
      mayChange: true,
    });
    assert.equal(ask("REGISTER|web|10.0.0.7|8080", "10.0.0.1"), "OK|REGISTERED|web");
    assert.equal(ask("REGISTER|web|10.0.0.8|8080", "10.0.0.1"), "ERR|RATE_LIMITED|web");
    assert.equal(ask("REGISTER|web|10.0.0.8|8080", "10.0.0.2"), "ERR|registry full");
    assert.equal(ask("REGISTER|web|10.0.0.8|0", "10.0.0.3"), "ERR|REGISTER syntax: name|ip|port");
    assert.equal(ask("ROUTE|web|/web", "10.0.0.4"), "ERR|ROUTES_DISABLED|web");
    assert.equal(ask("HELLO", "10.0.0.5"), "ERR|unknown command");
    const forbidden = setup({}, { tally, mayChange: false });
    assert.equal(forbidden.ask("REGISTER|web|10.0.0.7|8080"), "ERR|FORBIDDEN|web");
    assert.deepEqual(nonZero(tally.refused), {
      rate_limited: 1,
      full: 1,
      syntax: 1,
      routes_disabled: 1,
      forbidden: 1,
    });
    assert.equal(refusalReason({ kind: "ERR", reason: "NOT_FOUND", name: "x" }, false), undefined);
  });

  it("is kept by the UDP server, for every datagram it answers", async () => {
    const net = fakeNetwork();
    const tower = await startTowerServer({
      hostname: "0.0.0.0",
      port: 7772,
      bindUdp: net.bindUdp,
      mayRegister: (ip) => ip === "10.1.1.1",
    });
    net.deliver(7772, "REGISTER|web|10.0.0.7|8080", "10.1.1.1");
    net.deliver(7772, "REGISTER|web|10.0.0.7|8080", "10.6.6.6");
    assert.equal(tower.tally.accepted.get("register"), 1);
    assert.equal(tower.tally.refused.get("forbidden"), 1);
    tower.close();
  });
});
