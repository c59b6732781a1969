/**
 * The two lanes of a transfer's stall timeouts (src/proxy/transfer_timers.ts):
 * which wait each lane is in after each event, and which one a deadline names.
 */

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Stall, type StallLimits, TransferTimers } from "../../src/proxy/transfer_timers.ts";

const LIMITS: StallLimits = {
  bodyTimeoutMs: 1_000,
  upstreamSendTimeoutMs: 2_000,
  upstreamTimeoutMs: 3_000,
  tryTimeoutMs: 0,
  upstreamReadTimeoutMs: 4_000,
  sendTimeoutMs: 5_000,
};

function timers(limits: StallLimits = LIMITS) {
  const clock = { now: 10_000 };
  return { clock, t: new TransferTimers(limits, clock, { deadline: () => {} }) };
}

describe("TransferTimers", () => {
  it("a body that flows is timed per chunk; a finished one hands over to the first byte", () => {
    const { clock, t } = timers();
    t.begin(false);
    assert.equal(t.next, 0);
    t.bodyPumped(true, false, false, false);
    assert.equal(t.next, 11_000);
    clock.now = 10_500;
    t.bodyPumped(true, false, false, false);
    assert.equal(t.next, 11_500, "progress starts the wait over");
    assert.equal(t.due(11_499), Stall.None);
    assert.equal(t.due(11_500), Stall.ClientBody);
    t.bodyPumped(true, false, true, false);
    assert.equal(t.next, 13_500);
    assert.equal(t.due(13_500), Stall.FirstByte);
  });

  it("a full backend buffer times the backend, and a drain the client again", () => {
    const { t } = timers();
    t.begin(false);
    t.bodyPumped(true, true, false, false);
    assert.equal(t.due(12_000), Stall.BackendAccept);
    t.upload(Stall.ClientBody);
    assert.equal(t.due(11_000), Stall.ClientBody);
  });

  it("a response is timed between reads, and while the client does not take it", () => {
    const { clock, t } = timers();
    t.begin(false);
    t.bodyPumped(false, false, true, false);
    t.download(Stall.BackendRead);
    assert.equal(t.due(14_000), Stall.BackendRead);
    clock.now = 12_000;
    t.responseData();
    assert.equal(t.next, 16_000);
    t.download(Stall.ClientAccept);
    assert.equal(t.due(17_000), Stall.ClientAccept);
    t.responseData();
    assert.equal(t.due(17_000), Stall.ClientAccept, "backend bytes do not excuse a stuck client");
    t.clientDrained();
    assert.equal(t.due(16_000), Stall.BackendRead);
  });

  it("Expect: 100-continue waits for the backend until the 100, then for the body", () => {
    const { clock, t } = timers();
    t.begin(true);
    t.requestSent();
    t.bodyPumped(false, false, false, false);
    assert.equal(t.due(13_000), Stall.FirstByte, "no body clock before the 100");
    clock.now = 12_000;
    t.continueSent(false);
    assert.equal(t.next, 13_000);
    assert.equal(t.due(13_000), Stall.ClientBody);
  });

  it("a client that sends its body without waiting for the 100 is timed as usual", () => {
    const { t } = timers();
    t.begin(true);
    t.requestSent();
    t.bodyPumped(true, false, false, false);
    assert.equal(t.due(13_000), Stall.ClientBody);
    assert.equal(t.next, 11_000);
  });

  it("the earlier lane comes due first; a limit of 0 turns a wait off", () => {
    const { t } = timers({ ...LIMITS, upstreamReadTimeoutMs: 0 });
    t.begin(false);
    t.bodyPumped(true, false, false, true);
    t.download(Stall.BackendRead);
    assert.equal(t.next, 11_000);
    assert.equal(t.due(1e12), Stall.ClientBody);
    t.upload(Stall.None);
    assert.equal(t.next, 0, "nothing left to time");
    t.reset();
    assert.equal(t.due(1e12), Stall.None);
  });

  it("tells its owner the earlier deadline after every change", () => {
    const heard: number[] = [];
    const clock = { now: 10_000 };
    const t = new TransferTimers(LIMITS, clock, { deadline: (at) => heard.push(at) });
    t.begin(false);
    t.upload(Stall.ClientBody);
    t.download(Stall.FirstByte);
    t.upload(Stall.None);
    t.reset();
    assert.deepEqual(heard, [0, 11_000, 11_000, 13_000, 0]);
  });

  it("a try timeout shortens the wait for a first byte; the rest of the whole wait follows", () => {
    const { clock, t } = timers({ ...LIMITS, tryTimeoutMs: 500 });
    t.begin(false);
    t.bodyPumped(false, false, true, false);
    assert.equal(t.next, 10_500);
    assert.equal(t.due(10_500), Stall.FirstByte);
    assert.equal(t.firstByteWaited(10_500), 500);
    clock.now = 10_500;
    t.firstByteRest();
    assert.equal(t.next, 13_000, "what is left of --upstream-timeout");
    t.download(Stall.FirstByte);
    assert.equal(t.firstByteWaited(10_500), 500, "re-arming the same wait keeps its start");
  });
});
