/**
 * The route table's lookup cost does not grow with the number of routes:
 * segment prefixes are found by walking up the request path's own segment
 * boundaries in a hash map. 1,000 routes must answer like 3 (the benchmark
 * holds the ingress to < 5% end to end; here, with timing noise in mind, the
 * bound is loose but would catch a lookup that scans the routes).
 */

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { parseRoute, RouteTable } from "../../src/routing/router.ts";

/** `total` routes: /r0/a ... and a catch-all "/", like the benchmark's variant. */
function table(total: number): RouteTable {
  const routes = [];
  for (let i = 0; i < total - 1; i++) routes.push(parseRoute(`/r${i}/a:svc${i}`));
  routes.push(parseRoute("/:bench"));
  return new RouteTable(routes);
}

const PATHS = ["/", "/r7/a", "/r7/a/b/c", "/r999/a", "/x/y/z", "/r5/b", "/r998/a/deep/er"];

/** Best of several rounds: nanoseconds per lookup. */
function timePerLookup(t: RouteTable): number {
  let best = Infinity;
  for (let round = 0; round < 7; round++) {
    const n = 100_000;
    const start = performance.now();
    let hits = 0;
    for (let i = 0; i < n; i++) {
      if (t.match("example.com", PATHS[i % PATHS.length]) !== undefined) hits++;
    }
    const ns = ((performance.now() - start) * 1e6) / n;
    assert.equal(hits, n);
    if (ns < best) best = ns;
  }
  return best;
}

describe("RouteTable at scale", () => {
  it("routes correctly among 1,000 routes", () => {
    const t = table(1000);
    assert.equal(t.match("h", "/r7/a")?.service, "svc7");
    assert.equal(t.match("h", "/r7/a/b/c")?.service, "svc7");
    assert.equal(t.match("h", "/r998/a/deep/er")?.service, "svc998");
    assert.equal(t.match("h", "/r999/a")?.service, "bench");
    assert.equal(t.match("h", "/r5/b")?.service, "bench");
    assert.equal(t.match("h", "/r7/ab")?.service, "bench");
  });

  it("looks up in about the same time with 1,000 routes as with 3", () => {
    const small = table(3), large = table(1000);
    timePerLookup(small); // warm up both before measuring
    timePerLookup(large);
    const ratio = timePerLookup(large) / timePerLookup(small);
    assert.ok(ratio < 2, `1,000 routes took ${ratio.toFixed(2)}x the time of 3`);
  });
});
