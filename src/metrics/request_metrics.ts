/**
 * The metrics fed per request, on the hot path: requests by route,
 * service and status; durations; retries; and, from the connect phase,
 * connect times, retry-budget refusals and the backend sockets; and
 * ejections from the replicas' book.
 *
 * A finished request costs one map lookup by its route's text (the same
 * string every time, whose hash the engine keeps), an index into a table
 * of statuses, and a few additions into typed arrays: no string is built
 * and nothing is allocated once a route has been seen.
 *
 * Label values are capped: routes and services come from registrants too
 * (declared routes), so beyond `maxRoutes` distinct routes (`maxServices`
 * services) new ones are counted under `route="other"` (`service="other"`)
 * and {@link RequestMetrics.folded} says how many observations went there.
 * A reload forgets the routes the new table no longer has (and services
 * nothing names any more), so the cap holds routes that exist.
 *
 * @module
 */

import type { Socket } from "../runtime/types.ts";
import type { RequestObserver, RequestRecord } from "../proxy/observe.ts";
import type { ProxyMeter } from "../proxy/context.ts";
import type { ReplicaState } from "../replicas/state.ts";
import { CATALOG, CONNECT_BUCKETS, DURATION_BUCKETS } from "./catalog.ts";
import { Histogram } from "./histogram.ts";
import { family, labels, type Snapshot } from "./snapshot.ts";
import { EJECTION_REASONS, ejectionReason } from "./ejection_reason.ts";

/** Status codes counted under their own `code` label; others go to `code="other"`. */
export const COUNTED_CODES: readonly number[] = [
  200,
  301,
  302,
  304,
  400,
  404,
  408,
  413,
  429,
  431,
  500,
  502,
  503,
  504,
];

/** Slots: one per counted code, one "other" per class 1xx-9xx, one for no status. */
const NONE_SLOT = COUNTED_CODES.length + 9;
const SLOT_COUNT = NONE_SLOT + 1;
/** Status (0-999) -> slot. */
const SLOT = new Uint8Array(1000).fill(NONE_SLOT);
/** Slot -> its rendered `class` and `code` labels. */
const SLOT_LABELS: string[] = [];
for (let status = 100; status < 1000; status++) {
  SLOT[status] = COUNTED_CODES.length + Math.floor(status / 100) - 1;
}
COUNTED_CODES.forEach((code, i) => {
  SLOT[code] = i;
  SLOT_LABELS[i] = labels(["class", `${Math.floor(code / 100)}xx`], ["code", String(code)]);
});
for (let c = 1; c <= 9; c++) {
  SLOT_LABELS[COUNTED_CODES.length + c - 1] = labels(["class", `${c}xx`], ["code", "other"]);
}
SLOT_LABELS[NONE_SLOT] = labels(["class", "none"], ["code", "none"]);

/** The label value of everything beyond a cap. */
export const OTHER = "other";

/** How many label values are kept before new ones are folded into "other". */
export interface LabelCaps {
  maxRoutes: number;
  maxServices: number;
}

/** Default caps. */
export const DEFAULT_CAPS: LabelCaps = { maxRoutes: 1000, maxServices: 500 };

/** A service's series. */
class ServiceSeries {
  readonly labels: string;
  readonly duration = new Histogram(DURATION_BUCKETS);
  connect: Histogram | null = null;
  retries = 0;
  budgetRefusals = 0;
  readonly ejections = new Float64Array(EJECTION_REASONS.length);
  /** Where this service's routes beyond the route cap are counted. */
  otherRoute: RouteSeries | null = null;

  constructor(readonly name: string, readonly folded: boolean) {
    this.labels = labels(["service", name]);
  }
}

/** A route's request counts, by status slot. */
class RouteSeries {
  readonly counts = new Float64Array(SLOT_COUNT);
  readonly labels: string;

  constructor(route: string, readonly service: ServiceSeries, readonly folded: boolean) {
    this.labels = labels(["route", route], ["service", service.name]);
  }
}

/** A route's label: as written, without the `:service` it ends in (a label of its own). */
function routeLabel(source: string, service: string): string {
  const suffix = `:${service}`;
  return service !== "" && source.endsWith(suffix) ? source.slice(0, -suffix.length) : source;
}

/**
 * Requests, durations, retries, connects and ejections, with capped labels.
 *
 * @example
 * ```ts
 * import { RequestMetrics } from "./request_metrics.ts";
 * import { newRequestRecord } from "../proxy/observe.ts";
 * const m = new RequestMetrics();
 * const r = newRequestRecord();
 * r.route = "/api:api";
 * r.service = "api";
 * r.status = 200;
 * m.request(r);
 * m.snapshot()[0].samples; // 'route="/api",service="api",class="2xx",code="200"' -> 1
 * ```
 */
export class RequestMetrics implements RequestObserver, ProxyMeter {
  readonly #caps: LabelCaps;
  /** By route text (a route names its service); folded ones point at their service's "other". */
  readonly #routes = new Map<string, RouteSeries>();
  #routeCount = 0;
  readonly #services = new Map<string, ServiceSeries>();
  #serviceCount = 0;
  readonly #otherService = new ServiceSeries(OTHER, true);
  /** Backend sockets opened for requests; closed ones leave at each sweep. */
  readonly #backends = new Set<Socket>();
  /** Observations folded into "other", by label. */
  foldedRoutes = 0;
  foldedServices = 0;

  constructor(caps: LabelCaps = DEFAULT_CAPS) {
    this.#caps = caps;
  }

  /** A finished request (the observe phase). */
  request(r: Readonly<RequestRecord>): void {
    let route = this.#routes.get(r.route);
    if (route === undefined) route = this.#newRoute(r.route, r.service);
    const status = r.status;
    route.counts[status >= 0 && status < 1000 ? SLOT[status] : NONE_SLOT]++;
    const service = route.service;
    service.duration.observe(r.durationMs);
    if (r.tries > 1) service.retries += r.tries - 1;
    if (route.folded) this.foldedRoutes++;
    if (service.folded) this.foldedServices++;
  }

  /** A new connection to a replica of `service`, made in `ms`. */
  connected(service: string, ms: number, socket: Socket): void {
    const s = this.#service(service);
    (s.connect ??= new Histogram(CONNECT_BUCKETS)).observe(ms);
    this.#backends.add(socket);
  }

  /** A retry for `service` that the budget had no room for. */
  retryRefused(service: string): void {
    this.#service(service).budgetRefusals++;
  }

  /** A replica was ejected (the book's hook). */
  ejected(state: ReplicaState): void {
    this.#service(state.service).ejections[ejectionReason(state)]++;
  }

  /** Open backend sockets (closed ones are let go now). */
  backendConnections(): number {
    this.sweep();
    return this.#backends.size;
  }

  /** Let go of closed backend sockets (run every second or so, so they do not pile up). */
  sweep(): void {
    for (const socket of this.#backends) if (socket.closed) this.#backends.delete(socket);
  }

  /** Distinct routes and services with series of their own (not folded). */
  get held(): { routes: number; services: number } {
    return { routes: this.#routeCount, services: this.#serviceCount };
  }

  /** The label a gauge of `service` goes under: its name, or "other" beyond the cap. */
  serviceLabel(service: string): string {
    const s = this.#services.get(service);
    if (s !== undefined) return s.name;
    if (service !== "" && this.#serviceCount >= this.#caps.maxServices) return OTHER;
    this.#services.set(service, new ServiceSeries(service, false));
    if (service !== "") this.#serviceCount++;
    return service;
  }

  /** The series of `name`, made (or folded) on first sight; counts a folded observation. */
  #service(name: string): ServiceSeries {
    let s = this.#services.get(name);
    if (s === undefined) {
      // "" (what the ingress answered unrouted) is one fixed value, outside the cap.
      if (name === "" || this.#serviceCount < this.#caps.maxServices) {
        this.#services.set(name, s = new ServiceSeries(name, false));
        if (name !== "") this.#serviceCount++;
      } else {
        s = this.#otherService;
        // Remember the fold (bounded), so a folded name costs a lookup, not this branch.
        if (this.#services.size < this.#caps.maxServices * 10) this.#services.set(name, s);
      }
    }
    if (s.folded) this.foldedServices++;
    return s;
  }

  #newRoute(route: string, serviceName: string): RouteSeries {
    let service = this.#services.get(serviceName);
    if (service === undefined) {
      service = this.#service(serviceName);
      // Counted again by request() for this observation.
      if (service.folded) this.foldedServices--;
    }
    let series: RouteSeries;
    if (route === "" || this.#routeCount < this.#caps.maxRoutes) {
      series = new RouteSeries(routeLabel(route, serviceName), service, false);
      if (route !== "") this.#routeCount++;
    } else {
      series = service.otherRoute ??= new RouteSeries(OTHER, service, true);
      if (this.#routes.size >= this.#caps.maxRoutes * 10) return series;
    }
    this.#routes.set(route, series);
    return series;
  }

  /**
   * A new route table: forget the routes it does not have (the ingress's
   * unrouted "" stays), and services no remaining route names for which
   * `inUse` says no (e.g. the book holds none of their replicas). Folds
   * are forgotten too, so a route folded before may get its own series now.
   */
  retain(routes: Iterable<string>, inUse: (service: string) => boolean): void {
    const live = new Set(routes);
    for (const [key, series] of this.#routes) {
      if (series.folded) this.#routes.delete(key);
      else if (key !== "" && !live.has(key)) {
        this.#routes.delete(key);
        this.#routeCount--;
      }
    }
    const named = new Set<ServiceSeries>();
    for (const series of this.#routes.values()) named.add(series.service);
    for (const [name, s] of this.#services) {
      if (s.folded) this.#services.delete(name);
      else if (name !== "" && !named.has(s) && !inUse(name)) {
        this.#services.delete(name);
        this.#serviceCount--;
      }
    }
  }

  /** Every service's series, "other" last when used. */
  #allServices(): ServiceSeries[] {
    const all = [...this.#services.values()].filter((s) => !s.folded);
    return this.foldedServices > 0 || this.#otherService.otherRoute !== null
      ? [...all, this.#otherService]
      : all;
  }

  /** These metrics as families (requests, durations, connects, retries, refusals, ejections, folds, backends). */
  snapshot(): Snapshot {
    const requests = family(CATALOG.requests);
    const routeSeries = [...this.#routes.values()].filter((r) => !r.folded);
    const services = this.#allServices();
    for (const s of services) if (s.otherRoute !== null) routeSeries.push(s.otherRoute);
    for (const r of routeSeries) {
      for (let slot = 0; slot < SLOT_COUNT; slot++) {
        const n = r.counts[slot];
        if (n > 0) requests.samples.set(`${r.labels},${SLOT_LABELS[slot]}`, n);
      }
    }
    const duration = family(CATALOG.requestDuration);
    const connect = family(CATALOG.connectDuration);
    const retries = family(CATALOG.retries);
    const refusals = family(CATALOG.budgetRefusals);
    const ejections = family(CATALOG.ejections);
    for (const s of services) {
      if (s.duration.count > 0) duration.samples.set(s.labels, s.duration.value());
      if (s.connect !== null) connect.samples.set(s.labels, s.connect.value());
      if (s.retries > 0) retries.samples.set(s.labels, s.retries);
      if (s.budgetRefusals > 0) refusals.samples.set(s.labels, s.budgetRefusals);
      EJECTION_REASONS.forEach((reason, i) => {
        const n = s.ejections[i];
        if (n > 0) ejections.samples.set(`${s.labels},${labels(["reason", reason])}`, n);
      });
    }
    const folded = family(CATALOG.folded);
    folded.samples.set(labels(["label", "route"]), this.foldedRoutes);
    folded.samples.set(labels(["label", "service"]), this.foldedServices);
    const backends = family(CATALOG.backendConnections);
    backends.samples.set("", this.backendConnections());
    return [requests, duration, connect, retries, refusals, backends, ejections, folded];
  }
}
