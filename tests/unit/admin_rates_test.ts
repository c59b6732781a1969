/**
 * The dashboard's rates (src/admin/rates.ts): requests, 5xx and the
 * ingress's own errors per second over the last complete seconds, latency
 * percentiles from log-scale buckets, a per-second series, and old seconds
 * falling out of the window. Runs under `deno test` and `bun test`.
 */

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  latencyBucket,
  RATE_SECONDS,
  RequestRates,
  SERIES_SECONDS,
} from "../../src/admin/rates.ts";
import { newRequestRecord, type RequestRecord } from "../../src/proxy/observe.ts";

const T0 = 1_700_000_000_000;

function record(fields: Partial<RequestRecord>): RequestRecord {
  return Object.assign(newRequestRecord(), { status: 200, service: "api", ...fields });
}

describe("latencyBucket", () => {
  it("grows by a quarter doubling, and keeps the extremes in the first and last", () => {
    assert.equal(latencyBucket(0), 0);
    assert.equal(latencyBucket(0.1), 0);
    assert.equal(latencyBucket(0.11), 1);
    assert.equal(latencyBucket(0.2), 4);
    assert.equal(latencyBucket(0.4), 8);
    assert.ok(latencyBucket(1e9) === latencyBucket(1e12));
    assert.ok(latencyBucket(NaN) === 0);
  });
});

describe("RequestRates", () => {
  it("counts requests, 5xx and the ingress's own errors per second over the window", () => {
    const rates = new RequestRates();
    // 30 requests in one second: 20 fine, 5 answered 500 by the backend, 5 the ingress's 502.
    for (let i = 0; i < 20; i++) rates.request(record({ startedAt: T0, durationMs: 2 }));
    for (let i = 0; i < 5; i++) rates.request(record({ startedAt: T0, status: 500 }));
    for (let i = 0; i < 5; i++) {
      rates.request(record({ startedAt: T0, status: 502, error: "UpstreamFailed" }));
    }
    // And one 404 for no route: the service "".
    rates.request(record({ startedAt: T0, status: 404, service: "", error: "NoRoute" }));
    const now = T0 + 1_000;
    const api = rates.read(now).get("api")!;
    assert.equal(api.rate, 30 / RATE_SECONDS);
    assert.equal(api.serverErrorRate, 10 / RATE_SECONDS);
    assert.equal(api.ingressErrorRate, 5 / RATE_SECONDS);
    assert.equal(api.errorRate, 10 / 30);
    assert.equal(api.series.length, SERIES_SECONDS);
    assert.equal(api.series.at(-1), 30);
    const none = rates.read(now).get("")!;
    assert.equal(none.errorRate, 1);
  });

  it("reads percentiles within a bucket's width (about 19%)", () => {
    const rates = new RequestRates();
    for (let i = 1; i <= 100; i++) rates.request(record({ startedAt: T0, durationMs: i }));
    const api = rates.read(T0 + 1_000).get("api")!;
    assert.ok(api.p50! >= 50 && api.p50! <= 50 * 1.19, `p50 ${api.p50}`);
    assert.ok(api.p99! >= 99 && api.p99! <= 99 * 1.19, `p99 ${api.p99}`);
  });

  it("leaves out the second under way, and seconds older than the window", () => {
    const rates = new RequestRates();
    rates.request(record({ startedAt: T0, durationMs: 1 }));
    assert.equal(rates.read(T0 + 500).get("api")!.rate, 0, "the second is not over yet");
    assert.equal(rates.read(T0 + 1_000).get("api")!.rate, 0.1);
    const later = rates.read(T0 + (RATE_SECONDS + 1) * 1_000).get("api")!;
    assert.equal(later.rate, 0);
    assert.equal(later.p50, null);
    assert.equal(later.series.reduce((a, b) => a + b), 1, "still in the series");
    assert.equal(rates.read(T0 + (SERIES_SECONDS + 2) * 1_000).has("api"), false, "forgotten");
  });

  it("reuses a slot a minute on without counting the old second", () => {
    const rates = new RequestRates();
    rates.request(record({ startedAt: T0, durationMs: 1 }));
    rates.request(record({ startedAt: T0 + SERIES_SECONDS * 1_000, durationMs: 1 }));
    const api = rates.read(T0 + (SERIES_SECONDS + 1) * 1_000).get("api")!;
    assert.equal(api.series.reduce((a, b) => a + b), 1);
    assert.equal(api.rate, 0.1);
  });
});
