import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { COALESCE_MAX, nextSend } from "../../src/runtime/coalesce.ts";

const bytes = (n: number, v = 1) => new Uint8Array(n).fill(v);

describe("nextSend", () => {
  it("sends a lone chunk as it is, without copying", () => {
    const a = bytes(10);
    const r = nextSend([a]);
    assert.equal(r.data, a);
    assert.equal(r.taken, 1);
  });

  it("joins small chunks, in order, up to the limit", () => {
    const r = nextSend([bytes(3, 1), bytes(2, 2), bytes(COALESCE_MAX, 3)]);
    assert.equal(r.taken, 2);
    assert.deepEqual([...r.data], [1, 1, 1, 2, 2]);
  });

  it("never copies a large first chunk", () => {
    const big = bytes(COALESCE_MAX);
    const r = nextSend([big, bytes(1)]);
    assert.equal(r.data, big);
    assert.equal(r.taken, 1);
  });
});
