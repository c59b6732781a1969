import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { CachedRegistry } from "../../src/registry/cached.ts";
import type { Registry, Replica } from "../../src/registry/types.ts";

/** A registry whose answers the test scripts; counts how often it is asked. */
class Scripted implements Registry {
  asked = 0;
  answer: Replica[] | Error = [];
  closed = false;
  resolve(): Promise<Replica[]> {
    this.asked++;
    const a = this.answer;
    return a instanceof Error ? Promise.reject(a) : Promise.resolve(a);
  }
  close(): void {
    this.closed = true;
  }
}

const A: Replica = { host: "10.0.0.1", port: 80 };
const B: Replica = { host: "10.0.0.2", port: 80 };

describe("CachedRegistry", () => {
  it("asks on every request when cacheMs is 0 (the seed's semantics)", async () => {
    const inner = new Scripted();
    inner.answer = [A];
    const r = new CachedRegistry(inner, { cacheMs: 0, staleMs: 60_000 });
    assert.deepEqual(await r.resolve("api"), [A]);
    inner.answer = [B];
    assert.deepEqual(await r.resolve("api"), [B]);
    assert.equal(inner.asked, 2);
  });

  it("reuses an answer within cacheMs, synchronously, and asks again after", async () => {
    let now = 1000;
    const inner = new Scripted();
    inner.answer = [A];
    const r = new CachedRegistry(inner, { cacheMs: 500, staleMs: 60_000, now: () => now });
    assert.deepEqual(await r.resolve("api"), [A]);
    inner.answer = [B];
    now += 499;
    const cached = r.resolve("api");
    assert.ok(Array.isArray(cached), "a cached answer needs no promise");
    assert.deepEqual(cached, [A]);
    now += 2;
    assert.deepEqual(await r.resolve("api"), [B]);
    assert.equal(inner.asked, 2);
  });

  it("serves the last answer while the registry fails, within staleMs, and logs it once", async () => {
    let now = 0;
    const lines: string[] = [];
    const inner = new Scripted();
    inner.answer = [A];
    const r = new CachedRegistry(inner, {
      cacheMs: 0,
      staleMs: 10_000,
      now: () => now,
      log: (l) => lines.push(l),
    });
    await r.resolve("api");
    inner.answer = new Error("the Tower did not answer");
    now = 5_000;
    assert.deepEqual(await r.resolve("api"), [A]);
    assert.deepEqual(await r.resolve("api"), [A]);
    assert.equal(lines.length, 1);
    assert.match(lines[0], /the Tower did not answer/);
    now = 10_001;
    await assert.rejects(Promise.resolve(r.resolve("api")), /the Tower did not answer/);
    inner.answer = [B];
    assert.deepEqual(await r.resolve("api"), [B]);
    assert.equal(lines.length, 2, "recovery is logged");
  });

  it("fails at once for a service it never had an answer for", async () => {
    const inner = new Scripted();
    inner.answer = new Error("down");
    const r = new CachedRegistry(inner, { cacheMs: 0, staleMs: 60_000 });
    await assert.rejects(Promise.resolve(r.resolve("api")), /down/);
  });

  it("keeps services apart and closes the inner registry", async () => {
    const inner = new Scripted();
    inner.answer = [A];
    const r = new CachedRegistry(inner, { cacheMs: 0, staleMs: 60_000 });
    await r.resolve("api");
    inner.answer = new Error("down");
    await assert.rejects(Promise.resolve(r.resolve("web")), /down/);
    await r.close();
    assert.equal(inner.closed, true);
  });
});
