/**
 * The per-request metrics: N requests give +N in the right series, status
 * codes go to their code or their class, the duration histogram's count
 * and sum, retries, connects, refusals and ejections by reason, and the
 * label caps with their folded counts.
 */

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { RequestMetrics } from "../../src/metrics/request_metrics.ts";
import { EJECTION_REASONS, ejectionReason } from "../../src/metrics/ejection_reason.ts";
import { newRequestRecord, type RequestRecord } from "../../src/proxy/observe.ts";
import { ReplicaState } from "../../src/replicas/state.ts";
import type { HistogramValue, Snapshot } from "../../src/metrics/snapshot.ts";
import type { Socket } from "../../src/runtime/types.ts";

function record(route: string, service: string, status: number, ms = 1, tries = 1): RequestRecord {
  const r = newRequestRecord();
  r.route = route;
  r.service = service;
  r.status = status;
  r.durationMs = ms;
  r.tries = tries;
  return r;
}

function samples(snapshot: Snapshot, name: string): Map<string, unknown> {
  const f = snapshot.find((f) => f.spec.name === name);
  assert.ok(f, `family ${name}`);
  return f.samples;
}

const API_200 = 'route="/api",service="api",class="2xx",code="200"';

describe("RequestMetrics", () => {
  it("counts N requests as +N in their route, service, class and code", () => {
    const m = new RequestMetrics();
    for (let i = 0; i < 7; i++) m.request(record("/api:api", "api", 200));
    let requests = samples(m.snapshot(), "gatehouse_requests");
    assert.equal(requests.get(API_200), 7);
    for (let i = 0; i < 5; i++) m.request(record("/api:api", "api", 200));
    requests = samples(m.snapshot(), "gatehouse_requests");
    assert.equal(requests.get(API_200), 12);
    assert.equal(requests.size, 1);
  });

  it("keeps the fixed codes apart and puts any other code in its class", () => {
    const m = new RequestMetrics();
    for (const status of [404, 404, 201, 204, 502, 599, 101, 0]) {
      m.request(record("shop.example.com/:web", "web", status));
    }
    const requests = samples(m.snapshot(), "gatehouse_requests");
    const at = (cls: string, code: string) =>
      requests.get(`route="shop.example.com/",service="web",class="${cls}",code="${code}"`);
    assert.equal(at("4xx", "404"), 2);
    assert.equal(at("2xx", "other"), 2);
    assert.equal(at("5xx", "502"), 1);
    assert.equal(at("5xx", "other"), 1);
    assert.equal(at("1xx", "other"), 1);
    assert.equal(at("none", "none"), 1);
  });

  it("counts what the ingress answered unrouted under an empty route and service", () => {
    const m = new RequestMetrics();
    m.request(record("", "", 404));
    const requests = samples(m.snapshot(), "gatehouse_requests");
    assert.equal(requests.get('route="",service="",class="4xx",code="404"'), 1);
  });

  it("observes durations by service: count and sum in seconds, each in its bucket", () => {
    const m = new RequestMetrics();
    for (const ms of [0, 1, 3, 40, 2_000, 70_000]) m.request(record("/api:api", "api", 200, ms));
    const h = samples(m.snapshot(), "gatehouse_request_duration_seconds")
      .get('service="api"') as HistogramValue;
    assert.equal(h.count, 6);
    assert.ok(Math.abs(h.sum - 72.044) < 1e-9, String(h.sum));
    // 0 and 1 ms in le=0.001; 3 ms in le=0.005; 40 ms in le=0.05; 2 s in le=2.5; 70 s beyond 60 s.
    assert.deepEqual(h.counts, [2, 0, 1, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1]);
  });

  it("counts tries beyond the first as retries", () => {
    const m = new RequestMetrics();
    m.request(record("/api:api", "api", 200, 1, 1));
    m.request(record("/api:api", "api", 200, 1, 3));
    m.request(record("/api:api", "api", 502, 1, 2));
    assert.equal(samples(m.snapshot(), "gatehouse_retries").get('service="api"'), 3);
  });

  it("times connects, counts budget refusals and open backend sockets", () => {
    const m = new RequestMetrics();
    const socket = { closed: false } as Socket;
    m.connected("api", 0.3, socket);
    m.connected("api", 2, { closed: true } as Socket);
    m.retryRefused("api");
    const snap = m.snapshot();
    const h = samples(snap, "gatehouse_upstream_connect_duration_seconds")
      .get('service="api"') as HistogramValue;
    assert.equal(h.count, 2);
    assert.ok(Math.abs(h.sum - 0.0023) < 1e-12);
    assert.equal(samples(snap, "gatehouse_retry_budget_refusals").get('service="api"'), 1);
    assert.equal(samples(snap, "gatehouse_backend_connections").get(""), 1);
    (socket as { closed: boolean }).closed = true;
    assert.equal(m.backendConnections(), 0);
  });

  it("counts ejections by service and reason kind", () => {
    const m = new RequestMetrics();
    const s = new ReplicaState("api", { host: "10.0.0.7", port: 8081 });
    for (
      const [reason, lastError] of [
        ["5 consecutive gateway failures", "connect refused"],
        ["5 consecutive gateway failures", "no answer in 300 ms; a hedge answered first"],
        ["5 consecutive 5xx", "answered 500"],
        ["stalled: no byte for 1.0 s while its peers answered, and a probe went unanswered", ""],
        ["5 consecutive 5xx", "answered 503"],
      ]
    ) {
      s.reason = reason;
      s.lastError = lastError;
      m.ejected(s);
    }
    const ejections = samples(m.snapshot(), "gatehouse_ejections");
    const at = (r: string) => ejections.get(`service="api",reason="${r}"`);
    assert.equal(at("gateway_failures"), 1);
    assert.equal(at("hedge_losses"), 1);
    assert.equal(at("server_errors"), 2);
    assert.equal(at("stalled"), 1);
    assert.equal(at("other"), undefined);
    s.reason = "something new";
    assert.equal(EJECTION_REASONS[ejectionReason(s)], "other");
  });

  it('folds routes beyond the cap into route="other" of their service, and counts the folds', () => {
    const m = new RequestMetrics({ maxRoutes: 2, maxServices: 10 });
    m.request(record("/a:api", "api", 200));
    m.request(record("/b:api", "api", 200));
    for (let i = 0; i < 3; i++) m.request(record("/c:api", "api", 200));
    m.request(record("/d:web", "web", 200));
    const snap = m.snapshot();
    const requests = samples(snap, "gatehouse_requests");
    assert.equal(requests.get('route="/a",service="api",class="2xx",code="200"'), 1);
    assert.equal(requests.get('route="other",service="api",class="2xx",code="200"'), 3);
    assert.equal(requests.get('route="other",service="web",class="2xx",code="200"'), 1);
    assert.equal(requests.size, 4);
    const folded = samples(snap, "gatehouse_metrics_folded");
    assert.equal(folded.get('label="route"'), 4);
    assert.equal(folded.get('label="service"'), 0);
    assert.deepEqual(m.held, { routes: 2, services: 2 });
  });

  it('folds services beyond the cap into service="other"', () => {
    const m = new RequestMetrics({ maxRoutes: 100, maxServices: 1 });
    m.request(record("/a:api", "api", 200, 5));
    m.request(record("/b:web", "web", 200, 5));
    m.request(record("/c:img", "img", 500, 5));
    m.retryRefused("img");
    const snap = m.snapshot();
    const requests = samples(snap, "gatehouse_requests");
    assert.equal(requests.get('route="/b",service="other",class="2xx",code="200"'), 1);
    assert.equal(requests.get('route="/c",service="other",class="5xx",code="500"'), 1);
    const h = samples(snap, "gatehouse_request_duration_seconds");
    assert.equal((h.get('service="other"') as HistogramValue).count, 2);
    assert.equal(samples(snap, "gatehouse_retry_budget_refusals").get('service="other"'), 1);
    assert.equal(samples(snap, "gatehouse_metrics_folded").get('label="service"'), 3);
    assert.equal(m.serviceLabel("api"), "api");
    assert.equal(m.serviceLabel("zzz"), "other");
  });

  it("forgets routes a new table no longer has, making room under the cap", () => {
    const m = new RequestMetrics({ maxRoutes: 1, maxServices: 10 });
    m.request(record("/old:api", "api", 200));
    m.request(record("/new:api", "api", 200));
    m.request(record("", "", 404));
    m.retain(["/new:api"], () => false);
    m.request(record("/new:api", "api", 200));
    const requests = samples(m.snapshot(), "gatehouse_requests");
    assert.equal(requests.get('route="/old",service="api",class="2xx",code="200"'), undefined);
    assert.equal(requests.get('route="/new",service="api",class="2xx",code="200"'), 1);
    // The ingress's own answers stay.
    assert.equal(requests.get('route="",service="",class="4xx",code="404"'), 1);
  });
});
