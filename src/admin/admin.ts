/**
 * The admin listener's paths, put together: the probes (here), and what the
 * other admin modules serve. Runs in the primary process of a `--procs`
 * group (the one that owns the Tower and the config file).
 *
 * @module
 */

import type { Runtime } from "../runtime/types.ts";
import type { AdminConfig } from "../app/config.ts";
import type { Ingress } from "../app/ingress.ts";
import { AdminServer } from "./server.ts";
import { metricsHandler } from "../metrics/endpoint.ts";
import type { Snapshot } from "../metrics/snapshot.ts";
import { registerApi } from "./api.ts";
import type { RequestRates } from "./rates.ts";

/** What the admin paths read. */
export interface AdminView {
  /** The running ingress: its snapshot, replicas, listeners. */
  readonly ingress: Ingress;
  /** False once shutdown began (SIGTERM): /readyz fails from then on. */
  readonly ready: boolean;
  /** Gathers the metrics of every process for GET /metrics (absent: no metrics path). */
  readonly scrape?: () => Promise<Snapshot>;
  /** This process's rates of finished requests (the dashboard's), when kept. */
  readonly rates?: RequestRates | null;
  /** Send a relay line to every `--procs` worker (a drain), when there are workers. */
  broadcast?(line: string): void;
}

/** A running admin listener. */
export interface Admin {
  readonly port: number;
  readonly server: AdminServer;
  close(): void;
}

/**
 * Start the admin listener `config` describes.
 *
 * @example
 * ```ts
 * import { startAdmin, type AdminView } from "./admin.ts";
 * import { currentRuntime } from "../runtime/current.ts";
 * declare const view: AdminView;
 * const admin = await startAdmin({ listen: { host: "127.0.0.1", port: 9901 }, token: null }, currentRuntime(), console.error, view);
 * admin.close();
 * ```
 */
export async function startAdmin(
  config: AdminConfig,
  runtime: Runtime,
  log: (line: string) => void,
  view: AdminView,
): Promise<Admin> {
  const server = new AdminServer(runtime, config.token, log);
  // Probes are open: they say only alive or ready, and orchestrators send no tokens.
  server.route("GET", "/healthz", () => ({ status: 200, body: "ok\n" }), true);
  server.route(
    "GET",
    "/readyz",
    () => view.ready ? { status: 200, body: "ready\n" } : { status: 503, body: "shutting down\n" },
    true,
  );
  if (view.scrape !== undefined) server.route("GET", "/metrics", metricsHandler(view.scrape));
  registerApi(server, view, log);
  const port = await server.listen(config.listen.host, config.listen.port);
  return { port, server, close: () => server.close() };
}
