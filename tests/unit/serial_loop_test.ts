/**
 * SerialLoop (src/serial_loop.ts): a step that asks for itself while it runs
 * runs again after, never nested, and a throwing step leaves the loop usable.
 */

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { SerialLoop } from "../../src/serial_loop.ts";

describe("SerialLoop", () => {
  it("runs a step asked for from inside it after the current round, not nested", () => {
    const events: string[] = [];
    let depth = 0;
    let rounds = 0;
    const loop = new SerialLoop(() => {
      depth++;
      events.push(`start ${rounds} depth ${depth}`);
      if (++rounds < 3) loop.run();
      events.push(`end ${rounds}`);
      depth--;
    });
    loop.run();
    assert.deepEqual(events, [
      "start 0 depth 1",
      "end 1",
      "start 1 depth 1",
      "end 2",
      "start 2 depth 1",
      "end 3",
    ]);
  });

  it("folds many requests made during one round into one more round", () => {
    let rounds = 0;
    const loop = new SerialLoop(() => {
      rounds++;
      if (rounds === 1) { for (let i = 0; i < 5; i++) loop.run(); }
    });
    loop.run();
    assert.equal(rounds, 2);
  });

  it("takes no more stack for 100,000 rounds than for one", () => {
    let rounds = 0;
    const loop = new SerialLoop(() => {
      if (++rounds < 100_000) loop.run();
    });
    loop.run();
    assert.equal(rounds, 100_000);
  });

  it("is usable again after a step throws", () => {
    let fail = true;
    let rounds = 0;
    const loop = new SerialLoop(() => {
      rounds++;
      if (fail) throw new Error("step failed");
    });
    assert.throws(() => loop.run(), /step failed/);
    fail = false;
    loop.run();
    assert.equal(rounds, 2);
  });
});
