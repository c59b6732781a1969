/**
 * The admin API: the live routes, every service's replicas and their
 * state, the rates of finished requests, drains, a stream of all of it
 * each second for the dashboard, and the dashboard page itself. JSON in and
 * out; a request that cannot be done says why with a 4xx and
 * `{"error": ...}`.
 *
 * @module
 */

import { type AdminRequest, type AdminServer, json } from "./server.ts";
import type { AdminView } from "./admin.ts";
import { registryName, type ReplicaView, replicaView, routesView, servicesView } from "./views.ts";
import { RATE_SECONDS } from "./rates.ts";
import { DASHBOARD_HTML } from "./dashboard.ts";
import { drainLine } from "../app/procs/drain_relay.ts";
import { type Replica, replicaAddress } from "../registry/types.ts";
import { formatHostPort, readHostPort } from "../net/address.ts";
import { messageOf } from "../error_message.ts";

/** How often the event stream sends the state. */
const EVENT_INTERVAL_MS = 1000;

/** A request the API refuses: its status and why. */
class Refusal extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

/**
 * Serve the admin API and the dashboard on `server`, reading `view`; drains
 * and their ends are logged with `log`.
 *
 * @example
 * ```ts
 * import { registerApi } from "./api.ts";
 * import type { AdminServer } from "./server.ts";
 * import type { AdminView } from "./admin.ts";
 * declare const server: AdminServer, view: AdminView;
 * registerApi(server, view, console.error);
 * ```
 */
export function registerApi(
  server: AdminServer,
  view: AdminView,
  log: (line: string) => void,
): void {
  const { ingress } = view;
  const source = registryName(ingress.config.registry);
  // The registry dropped a drained replica: the drain ends here and in every worker.
  ingress.replicas.onDrainForgotten = (service, address) => {
    log(`replica ${service} ${address} left the registry; its drain ends`);
    view.broadcast?.(drainLine(service, address, false));
  };

  /** Where the registry holds every service, its replicas now become the book's. */
  const catchUp = () => {
    const known = ingress.registry.known?.();
    if (known !== undefined) ingress.replicas.catchUp(known);
  };
  const services = () => {
    catchUp();
    const routed = ingress.keeper.live.current.table.routes.map((r) => r.service);
    return servicesView(ingress.replicas, routed, ingress.replicas.hooks.clock.now, source);
  };
  const rates = () => Object.fromEntries(view.rates?.read() ?? []);
  const state = (withRoutes: boolean) => ({
    at: new Date().toISOString(),
    procs: ingress.config.procs,
    registry: source,
    rateSeconds: RATE_SECONDS,
    ...(withRoutes ? routesView(ingress.keeper.live.current) : {}),
    generation: ingress.keeper.live.current.generation,
    services: services(),
    rates: rates(),
  });

  server.route("GET", "/api/routes", () => json(200, routesView(ingress.keeper.live.current)));
  server.route("GET", "/api/services", () =>
    json(200, {
      registry: source,
      services: services(),
    }));
  server.route("GET", "/api/stats", () =>
    json(200, {
      rateSeconds: RATE_SECONDS,
      procs: ingress.config.procs,
      services: rates(),
    }));
  server.route("GET", "/api/events", () => ({
    stream: {
      type: "text/event-stream",
      open(write) {
        // Routes go again only when the snapshot changed: a thousand of them each second is waste.
        let generation = -1;
        const send = () => {
          const now = ingress.keeper.live.current.generation;
          write(`data: ${JSON.stringify(state(now !== generation))}\n\n`);
          generation = now;
        };
        send();
        const timer = setInterval(send, EVENT_INTERVAL_MS);
        return () => clearInterval(timer);
      },
    },
  }));

  /** A drain or undrain: the replica must be one the registry lists now. */
  const drain = (on: boolean) => async (req: AdminRequest) => {
    try {
      const { service, address } = target(req.body);
      let replicas: readonly Replica[];
      try {
        replicas = await listedNow(view, service);
      } catch (e) {
        throw new Refusal(503, `the registry failed: ${messageOf(e)}`);
      }
      if (!replicas.some((r) => replicaAddress(r) === address)) {
        const routed = ingress.keeper.live.current.table.routes.some((r) => r.service === service);
        const known = routed || replicas.length > 0 ||
          [...ingress.replicas.services()].some((s) => s.name === service);
        throw new Refusal(
          404,
          known
            ? `no replica ${address} of service ${service} in the registry`
            : `no service ${service}`,
        );
      }
      const book = ingress.replicas;
      const states = book.service(service).listed(replicas);
      if (book.drain(service, address, on)) {
        log(
          `replica ${service} ${address} ${on ? "draining" : "undrained"} (admin API, ${req.peer})`,
        );
        view.broadcast?.(drainLine(service, address, on));
      }
      const s = states.find((s) => s.address === address)!;
      const shown: ReplicaView = replicaView(
        s,
        book.service(service),
        book.hooks.clock.now,
        source,
      );
      return json(200, { service, ...shown });
    } catch (e) {
      if (e instanceof Refusal) return json(e.status, { error: e.message });
      throw e;
    }
  };
  server.route("POST", "/api/replicas/drain", drain(true));
  server.route("POST", "/api/replicas/undrain", drain(false));

  // The page holds no data and no secret (it asks for the token itself): open, as a page must be.
  server.route("GET", "/", () => ({
    status: 200,
    type: "text/html; charset=utf-8",
    body: DASHBOARD_HTML,
    headers: {
      "Content-Security-Policy":
        "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src data:",
      "X-Frame-Options": "DENY",
    },
  }), true);
}

/** The service and replica address a drain names; a {@link Refusal} (400) for anything else. */
function target(body: string): { service: string; address: string } {
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    throw new Refusal(400, 'the body must be JSON: {"service": "api", "address": "10.0.0.7:8081"}');
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new Refusal(400, 'the body must be a JSON object: {"service": ..., "address": ...}');
  }
  const { service, address } = value as Record<string, unknown>;
  if (typeof service !== "string" || service === "") {
    throw new Refusal(400, "service is required (a service name)");
  }
  if (typeof address !== "string" || address === "") {
    throw new Refusal(400, "address is required (HOST:PORT of a replica)");
  }
  const hp = readHostPort(address);
  if (hp === undefined) {
    throw new Refusal(400, `address "${address}" is not HOST:PORT ([V6]:PORT for IPv6)`);
  }
  return { service, address: formatHostPort(hp.host, hp.port) };
}

/** The replicas of `service` the registry lists now (a lookup where it holds no view of all). */
async function listedNow(view: AdminView, service: string): Promise<readonly Replica[]> {
  const registry = view.ingress.registry;
  const known = registry.known?.();
  if (known === undefined) return await registry.resolve(service);
  for (const [name, replicas] of known) if (name === service) return replicas;
  return [];
}
