/**
 * The dashboard's rates: a request observer that keeps, per service, a
 * ring of one-second buckets (requests, 5xx, the ingress's own errors) and,
 * for the last few seconds, a latency histogram per second on fixed
 * log-scale buckets, so a request costs a few additions and one logarithm,
 * and memory stays fixed per service however busy it is. Rates and
 * percentiles are read over the last complete seconds.
 *
 * @module
 */

import type { RequestObserver, RequestRecord } from "../proxy/observe.ts";

/** Seconds of request counts kept (the dashboard's sparkline). */
export const SERIES_SECONDS = 60;
/** Seconds that rates and percentiles are read over. */
export const RATE_SECONDS = 10;

/** Latency buckets: 4 per doubling from 0.1 ms, up to about 100 s (the last takes the rest). */
const PER_DOUBLING = 4;
const FIRST_MS = 0.1;
const LATENCY_BUCKETS = 2 + PER_DOUBLING * 20;

/** The upper bound of latency bucket `i`, in ms. */
function bucketLimit(i: number): number {
  return FIRST_MS * 2 ** (i / PER_DOUBLING);
}

/**
 * The latency bucket of `ms`: 0 up to 0.1 ms, then one per quarter
 * doubling (about 19% wide), the last for anything longer.
 *
 * @example
 * ```ts
 * import { latencyBucket } from "./rates.ts";
 * latencyBucket(0.05); // 0
 * latencyBucket(0.1); // 0
 * latencyBucket(0.2); // 4
 * ```
 */
export function latencyBucket(ms: number): number {
  if (!(ms > FIRST_MS)) return 0;
  const i = Math.ceil(PER_DOUBLING * Math.log2(ms / FIRST_MS) - 1e-9);
  return i < LATENCY_BUCKETS ? i : LATENCY_BUCKETS - 1;
}

/** One service's rates over the last {@link RATE_SECONDS} complete seconds. */
export interface ServiceRates {
  /** Requests per second. */
  rate: number;
  /** Share of those requests that failed: a 5xx, or an error the ingress answered with (0-1). */
  errorRate: number;
  /** 5xx answers per second (the backends' and the ingress's own). */
  serverErrorRate: number;
  /** The ingress's own error answers per second (no route, no replica, bad request, timeout). */
  ingressErrorRate: number;
  /** Latency percentiles in ms (head read to response sent), null without requests. */
  p50: number | null;
  p99: number | null;
  /** Requests in each of the last {@link SERIES_SECONDS} complete seconds, oldest first. */
  series: number[];
}

/** One service's ring. */
class ServiceRing {
  /** The second each slot holds (epoch seconds; -1: none yet). */
  readonly seconds = new Float64Array(SERIES_SECONDS).fill(-1);
  readonly requests = new Uint32Array(SERIES_SECONDS);
  readonly serverErrors = new Uint32Array(SERIES_SECONDS);
  readonly ingressErrors = new Uint32Array(SERIES_SECONDS);
  /** Requests that were either (a 502 the ingress answered is both). */
  readonly failed = new Uint32Array(SERIES_SECONDS);
  /** Latency histograms of the last RATE_SECONDS + 1 seconds, by slot. */
  readonly latency = new Uint32Array((RATE_SECONDS + 1) * LATENCY_BUCKETS);
  readonly latencySeconds = new Float64Array(RATE_SECONDS + 1).fill(-1);
  /** The last second a request finished in. */
  last = -1;

  add(second: number, durationMs: number, serverError: boolean, ingressError: boolean): void {
    const slot = second % SERIES_SECONDS;
    if (this.seconds[slot] !== second) {
      this.seconds[slot] = second;
      this.requests[slot] = 0;
      this.serverErrors[slot] = 0;
      this.ingressErrors[slot] = 0;
      this.failed[slot] = 0;
    }
    this.requests[slot]++;
    if (serverError) this.serverErrors[slot]++;
    if (ingressError) this.ingressErrors[slot]++;
    if (serverError || ingressError) this.failed[slot]++;
    const h = second % (RATE_SECONDS + 1);
    if (this.latencySeconds[h] !== second) {
      this.latencySeconds[h] = second;
      this.latency.fill(0, h * LATENCY_BUCKETS, (h + 1) * LATENCY_BUCKETS);
    }
    this.latency[h * LATENCY_BUCKETS + latencyBucket(durationMs)]++;
    if (second > this.last) this.last = second;
  }

  /** Rates over the complete seconds before `now` (epoch seconds). */
  read(now: number): ServiceRates {
    const series: number[] = [];
    let requests = 0, serverErrors = 0, ingressErrors = 0, failed = 0;
    for (let s = now - SERIES_SECONDS; s < now; s++) {
      const slot = s % SERIES_SECONDS;
      const n = this.seconds[slot] === s ? this.requests[slot] : 0;
      series.push(n);
      if (s >= now - RATE_SECONDS && n > 0) {
        requests += n;
        serverErrors += this.serverErrors[slot];
        ingressErrors += this.ingressErrors[slot];
        failed += this.failed[slot];
      }
    }
    const histogram = new Uint32Array(LATENCY_BUCKETS);
    for (let s = now - RATE_SECONDS; s < now; s++) {
      const h = s % (RATE_SECONDS + 1);
      if (this.latencySeconds[h] !== s) continue;
      for (let i = 0; i < LATENCY_BUCKETS; i++) {
        histogram[i] += this.latency[h * LATENCY_BUCKETS + i];
      }
    }
    return {
      rate: requests / RATE_SECONDS,
      errorRate: requests === 0 ? 0 : failed / requests,
      serverErrorRate: serverErrors / RATE_SECONDS,
      ingressErrorRate: ingressErrors / RATE_SECONDS,
      p50: percentile(histogram, requests, 0.5),
      p99: percentile(histogram, requests, 0.99),
      series,
    };
  }
}

/** The upper bound of the bucket holding the `q` quantile of `count` requests; null for none. */
function percentile(histogram: Uint32Array, count: number, q: number): number | null {
  if (count === 0) return null;
  const rank = Math.ceil(q * count);
  let seen = 0;
  for (let i = 0; i < histogram.length; i++) {
    seen += histogram[i];
    if (seen >= rank) return Math.round(bucketLimit(i) * 1000) / 1000;
  }
  return null;
}

/**
 * The request observer behind the dashboard's rates. Requests the ingress
 * answered without a route count under the service "".
 *
 * @example
 * ```ts
 * import { RequestRates } from "./rates.ts";
 * import { newRequestRecord } from "../proxy/observe.ts";
 * const rates = new RequestRates();
 * const r = newRequestRecord();
 * Object.assign(r, { startedAt: 1_000, durationMs: 3, status: 200, service: "api" });
 * rates.request(r);
 * rates.read(12_000).get("api")?.rate; // 0.1: one request in the last 10 s
 * ```
 */
export class RequestRates implements RequestObserver {
  readonly #services = new Map<string, ServiceRing>();

  request(record: Readonly<RequestRecord>): void {
    let ring = this.#services.get(record.service);
    if (ring === undefined) this.#services.set(record.service, ring = new ServiceRing());
    const second = Math.floor((record.startedAt + record.durationMs) / 1000);
    ring.add(second, record.durationMs, record.status >= 500, record.error !== "");
  }

  /**
   * Every service's rates at `nowMs` (default: now), over the complete
   * seconds before it. A service quiet for longer than the series is
   * forgotten.
   */
  read(nowMs = Date.now()): Map<string, ServiceRates> {
    const now = Math.floor(nowMs / 1000);
    const out = new Map<string, ServiceRates>();
    for (const [name, ring] of this.#services) {
      if (ring.last < now - SERIES_SECONDS) {
        this.#services.delete(name);
        continue;
      }
      out.set(name, ring.read(now));
    }
    return out;
  }
}
