/**
 * An ingress's metrics, put together: what requests and the connect phase
 * count (request_metrics.ts), what is read from the ingress at a scrape
 * (ingress_gauges.ts), the process's own (process_metrics.ts), and config
 * reloads. Made only when the admin listener is on: without it there is no
 * observer, no meter and no timer, so nothing on the hot path costs a
 * thing.
 *
 * In a `--procs` group every process keeps its own; the primary's scrape
 * asks the workers for theirs (procs.ts) and sums them in.
 *
 * @module
 */

import type { Ingress, IngressOptions } from "../app/ingress.ts";
import { CATALOG, FAMILIES } from "./catalog.ts";
import { DEFAULT_CAPS, type LabelCaps, RequestMetrics } from "./request_metrics.ts";
import { ingressGauges } from "./ingress_gauges.ts";
import { LoopProbe, processFamilies } from "./process_metrics.ts";
import { family, labelled, labels, mergeSnapshot, type Snapshot } from "./snapshot.ts";
import type { WorkerScrapes } from "./procs.ts";

/** Options for {@link IngressMetrics}. */
export interface MetricsOptions {
  /** The primary (or a lone process): it reports the Tower, reloads and the generation. */
  primary: boolean;
  /** Label caps (default 1000 routes, 500 services). */
  caps?: LabelCaps;
  /** Time the event loop (default true). */
  loopProbe?: boolean;
}

/**
 * The metrics of one process.
 *
 * @example
 * ```ts
 * import { IngressMetrics } from "./metrics.ts";
 * import { startIngress } from "../app/ingress.ts";
 * import type { IngressConfig } from "../app/config.ts";
 * import { currentRuntime } from "../runtime/current.ts";
 * declare const config: IngressConfig;
 * const metrics = new IngressMetrics({ primary: true });
 * const ingress = await startIngress(config, currentRuntime(), console.error, metrics.hooks);
 * metrics.attach(ingress);
 * metrics.snapshot(); // every family of this process
 * ```
 */
export class IngressMetrics {
  readonly requests: RequestMetrics;
  readonly #primary: boolean;
  readonly #probe: LoopProbe | null;
  #ingress: Ingress | null = null;
  readonly #reloads = { ok: 0, refused: 0 };
  #lastSuccess = Date.now() / 1000;
  #lastApplied = true;

  constructor(options: MetricsOptions) {
    this.#primary = options.primary;
    this.requests = new RequestMetrics(options.caps ?? DEFAULT_CAPS);
    // The probe's beat also lets go of closed backend sockets, so they never pile up.
    this.#probe = options.loopProbe === false ? null : new LoopProbe(this.#everySecond());
  }

  /** What {@link startIngress} takes to feed these metrics (its observer and meter). */
  get hooks(): Pick<IngressOptions, "observers" | "meter"> {
    return { observers: [this.requests], meter: this.requests };
  }

  /** The ingress started with {@link hooks}: its book's ejections and reloads are followed. */
  attach(ingress: Ingress): void {
    this.#ingress = ingress;
    ingress.replicas.onEjected = (state) => this.requests.ejected(state);
    ingress.keeper.live.onSwap((next) => {
      const book = ingress.replicas;
      const held = new Set<string>();
      for (const s of book.services()) for (const r of s.states()) if (r.listed) held.add(s.name);
      this.requests.retain(next.table.routes.map((r) => r.source), (name) => held.has(name));
    });
  }

  /** A reload of the config file was applied, or refused. */
  reloaded(applied: boolean): void {
    this.#lastApplied = applied;
    if (applied) {
      this.#reloads.ok++;
      this.#lastSuccess = Date.now() / 1000;
    } else this.#reloads.refused++;
  }

  /** This process's families now, without `proc` labels. */
  snapshot(): Snapshot {
    const out: Snapshot = this.requests.snapshot();
    const ingress = this.#ingress;
    if (ingress !== null) {
      const requests = this.requests;
      out.push(...ingressGauges(ingress, {
        now: Date.now(),
        serviceLabel: (name) => requests.serviceLabel(name),
        primary: this.#primary,
      }));
    }
    if (this.#primary) {
      const reloads = family(CATALOG.reloads);
      reloads.samples.set(labels(["result", "ok"]), this.#reloads.ok);
      reloads.samples.set(labels(["result", "refused"]), this.#reloads.refused);
      const last = family(CATALOG.lastReloadSuccess);
      last.samples.set("", Math.round(this.#lastSuccess * 1000) / 1000);
      const ok = family(CATALOG.lastReloadOk);
      ok.samples.set("", this.#lastApplied ? 1 : 0);
      out.push(reloads, last, ok);
    }
    out.push(...processFamilies(this.#probe));
    return inCatalogOrder(out);
  }

  /** Stop the event-loop probe. */
  close(): void {
    this.#probe?.close();
  }

  #everySecond(): () => void {
    let beats = 0;
    return () => {
      if (++beats % 10 === 0) this.requests.sweep();
    };
  }
}

/** Families sorted as the catalog lists them. */
function inCatalogOrder(snapshot: Snapshot): Snapshot {
  const order = new Map(FAMILIES.map((f, i) => [f.name, i]));
  return snapshot.sort((a, b) => (order.get(a.spec.name) ?? 0) - (order.get(b.spec.name) ?? 0));
}

/**
 * One scrape: this process's snapshot (as `proc` 0) with every worker's
 * that answers within `timeoutMs` summed in (`workers` null: none).
 *
 * @example
 * ```ts
 * import { IngressMetrics, scrape } from "./metrics.ts";
 * const metrics = new IngressMetrics({ primary: true, loopProbe: false });
 * const snapshot = await scrape(metrics, null);
 * ```
 */
export async function scrape(
  metrics: IngressMetrics,
  workers: WorkerScrapes | null,
  timeoutMs = 500,
): Promise<Snapshot> {
  const all = labelled(metrics.snapshot(), 0);
  if (workers !== null) {
    for (const [proc, snapshot] of await workers.ask(timeoutMs)) {
      mergeSnapshot(all, snapshot, proc);
    }
  }
  return inCatalogOrder(all);
}
