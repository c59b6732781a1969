/**
 * `GET /metrics` on the admin listener: a scrape, written in the format
 * the scraper's Accept header asks for (exposition.ts).
 *
 * @module
 */

import type { AdminHandler } from "../admin/server.ts";
import { CONTENT_TYPES, negotiate, render } from "./exposition.ts";
import type { Snapshot } from "./snapshot.ts";

/**
 * The handler of the metrics path: `scrape` gathers the snapshot (from
 * every process of a `--procs` group).
 *
 * @example
 * ```ts
 * import { metricsHandler } from "./endpoint.ts";
 * import { AdminServer } from "../admin/server.ts";
 * import { currentRuntime } from "../runtime/current.ts";
 * const admin = new AdminServer(currentRuntime(), null, console.error);
 * admin.route("GET", "/metrics", metricsHandler(() => Promise.resolve([])));
 * ```
 */
export function metricsHandler(scrape: () => Promise<Snapshot>): AdminHandler {
  return async (req) => {
    const format = negotiate(req.headers.get("accept"));
    const body = render(await scrape(), format);
    return { status: 200, type: CONTENT_TYPES[format], body };
  };
}
