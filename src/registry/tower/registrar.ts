/**
 * The writing side of the Tower: a replica REGISTERs, repeats it as its
 * heartbeat (the Tower forgets an entry 30 s after the last one), and
 * DEREGISTERs when it stops; the routes it declares go the same way, with
 * ROUTE after each REGISTER and UNROUTE before the DEREGISTER.
 *
 * @module
 */

import { messageOf } from "../../error_message.ts";
import {
  type BindUdp,
  DEFAULT_TTL_MS,
  DEREGISTER_SYNTAX,
  formatReply,
  REGISTER_SYNTAX,
  REGISTRY_FULL,
  ROUTE_SYNTAX,
  TowerClient,
  type TowerReply,
  type TowerRequest,
  UNKNOWN_COMMAND,
  UNROUTE_SYNTAX,
} from "../../tower.ts";
import type { RouteTarget } from "../../routing/declared.ts";
import { formatHostPort, type HostPort } from "../../net/address.ts";
import { checkRegistration, type Registrar, type Registration, type Replica } from "../types.ts";
import { openTowerClient } from "./remote.ts";

/**
 * The Tower answered REGISTER with an error (`ERR|registry full`,
 * `ERR|REGISTER syntax: name|ip|port`, `ERR|FORBIDDEN|<name>`, ...): sending
 * it again will not help. The message quotes the reply and says what it means.
 *
 * @example
 * ```ts
 * import { TowerRefusedError } from "./registrar.ts";
 * const giveUp = (err: unknown) => err instanceof TowerRefusedError; // not worth a retry
 * ```
 */
export class TowerRefusedError extends Error {
  override name = "TowerRefusedError";
}

/** What a refusal means, for the message; the seed's texts say little by themselves. */
const MEANINGS = new Map<string, string>([
  [
    REGISTER_SYNTAX,
    "the Tower cannot read this registration; a seed Tower reads addresses of at most 15 " +
    "characters, so a long IPv6 address or host name needs a Gatehouse Tower",
  ],
  [
    DEREGISTER_SYNTAX,
    "the Tower cannot read this address; a seed Tower reads addresses of at most 15 characters",
  ],
  [
    REGISTRY_FULL,
    "the Tower has as many entries as it holds; it takes new ones as old ones expire or deregister",
  ],
  [UNKNOWN_COMMAND, "the Tower does not know this command: is it a Tower?"],
  ["FORBIDDEN", "this host is not in the Tower's allowlist"],
  ["UNAUTHORIZED", "the Tower wants it signed with its secret (GATEHOUSE_TOWER_SECRET)"],
  ["STALE", "this clock and the Tower's differ by more than 30 s"],
  ["RATE_LIMITED", "too many registrations from this host for the Tower's rate limit"],
  [
    "ROUTES_DISABLED",
    "the Tower takes no declared routes: run it with --routes (gatehouse tower), or an " +
    "ingress with --tower-routes",
  ],
  ["ROUTES_FULL", "the Tower holds as many route declarations as its --max-routes allows"],
  [ROUTE_SYNTAX, "the Tower cannot read this route"],
  [UNROUTE_SYNTAX, "the Tower cannot read this route"],
]);

/** What an unknown command means for a route: a Tower from before declared routes. */
const ROUTE_UNKNOWN =
  "a seed Tower, or a Gatehouse Tower older than declared routes: they need a Gatehouse " +
  "Tower run with --routes";

/** `"<reply>"`, and what it means (for `command`) when that is known. */
function describeReply(reply: TowerReply, command?: string): string {
  let meaning = reply.kind === "ERR" ? MEANINGS.get(reply.reason) : undefined;
  const routing = command === "ROUTE" || command === "UNROUTE";
  if (routing && reply.kind === "ERR" && reply.reason === UNKNOWN_COMMAND) meaning = ROUTE_UNKNOWN;
  return `"${formatReply(reply)}"${meaning === undefined ? "" : ` (${meaning})`}`;
}

/**
 * Options for {@link TowerRegistrar.open}.
 *
 * @example
 * ```ts
 * import type { TowerRegistrarOptions } from "./registrar.ts";
 * const options: TowerRegistrarOptions = { intervalMs: 5_000, log: console.error };
 * ```
 */
export interface TowerRegistrarOptions {
  /**
   * Time between REGISTERs (heartbeats). Default 10 s: a third of the
   * Tower's 30 s expiry, so two datagrams may be lost in a row.
   */
  intervalMs?: number;
  /** Sign REGISTER/DEREGISTER with this shared secret (a Tower run with --tower-secret). */
  secret?: string;
  /** Wait this long for each reply. Default 500 ms. */
  timeoutMs?: number;
  /** Send again this many times on silence. Default 3. */
  retries?: number;
  /** UDP bind function; defaults to the `node:dgram` one from runtime/udp.ts. */
  bindUdp?: BindUdp;
  /** Where failed heartbeats are reported. Default: silent. */
  log?: (line: string) => void;
}

/**
 * Registers replicas with a Tower (embedded in an ingress or standalone)
 * over UDP and keeps them alive.
 *
 * @example
 * ```ts
 * import { TowerRegistrar } from "./registrar.ts";
 * const registrar = await TowerRegistrar.open({ host: "127.0.0.1", port: 7772 });
 * const registration = await registrar.register("api", { host: "127.0.0.1", port: 8081 });
 * // ... serve ...
 * await registration.close(); // DEREGISTER
 * await registrar.close();
 * ```
 */
export class TowerRegistrar implements Registrar {
  readonly #client: TowerClient;
  readonly #intervalMs: number;
  readonly #log: (line: string) => void;
  readonly #live = new Set<TowerRegistration>();

  private constructor(client: TowerClient, intervalMs: number, log: (line: string) => void) {
    this.#client = client;
    this.#intervalMs = intervalMs;
    this.#log = log;
  }

  /**
   * Resolve the Tower's host name once and bind the client socket.
   * Rejects when the name does not resolve or the socket cannot bind.
   */
  static async open(
    address: HostPort,
    options: TowerRegistrarOptions = {},
  ): Promise<TowerRegistrar> {
    const { host, port } = address;
    const intervalMs = options.intervalMs ?? DEFAULT_TTL_MS / 3;
    if (!(intervalMs > 0)) {
      throw new Error(`heartbeat interval must be positive, not ${intervalMs}`);
    }
    const client = await openTowerClient({ host, port }, {
      bindUdp: options.bindUdp,
      timeoutMs: options.timeoutMs ?? 500,
      retries: options.retries ?? 3,
      secret: options.secret,
    });
    return new TowerRegistrar(client, intervalMs, options.log ?? (() => {}));
  }

  /** The Tower's resolved `ip:port` (IPv6 bracketed). */
  get address(): string {
    return this.#client.address;
  }

  /**
   * REGISTER `replica` as `service`, then ROUTE each of `routes` for it, and
   * repeat them every interval until the registration is closed (UNROUTE,
   * then DEREGISTER). Rejects with a {@link TowerRefusedError} when the
   * Tower refuses (its reply is in the message; a replica registered before
   * a refused ROUTE is deregistered), with another Error when it stays
   * silent.
   */
  async register(
    service: string,
    replica: Replica,
    routes: readonly RouteTarget[] = [],
  ): Promise<Registration> {
    checkRegistration(service, replica);
    const registration = new TowerRegistration(
      this.#client,
      service,
      replica,
      routes,
      this.#intervalMs,
      this.#log,
      (r) => this.#live.delete(r),
    );
    await registration.start();
    this.#live.add(registration);
    return registration;
  }

  /** DEREGISTER every live registration, then close the socket. */
  async close(): Promise<void> {
    const results = await Promise.allSettled([...this.#live].map((r) => r.close()));
    this.#client.close();
    const failed = results.find((r) => r.status === "rejected");
    if (failed) throw (failed as PromiseRejectedResult).reason;
  }
}

/** One replica, and the routes it declares, kept registered by heartbeats. */
class TowerRegistration implements Registration {
  readonly #client: TowerClient;
  readonly #service: string;
  readonly #replica: Replica;
  readonly #routes: readonly RouteTarget[];
  readonly #intervalMs: number;
  readonly #log: (line: string) => void;
  readonly #forget: (registration: TowerRegistration) => void;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #beat: Promise<void> = Promise.resolve();
  #closed = false;

  constructor(
    client: TowerClient,
    service: string,
    replica: Replica,
    routes: readonly RouteTarget[],
    intervalMs: number,
    log: (line: string) => void,
    forget: (registration: TowerRegistration) => void,
  ) {
    this.#client = client;
    this.#service = service;
    this.#replica = replica;
    this.#routes = routes;
    this.#intervalMs = intervalMs;
    this.#log = log;
    this.#forget = forget;
  }

  get #label(): string {
    return `${this.#service} ${formatHostPort(this.#replica.host, this.#replica.port)}`;
  }

  async start(): Promise<void> {
    await this.#register();
    try {
      await this.#declare();
    } catch (err) {
      // A replica without the routes it came to declare would only half work: not at all, then.
      await this.#deregister().catch(() => {});
      throw err;
    }
    this.#schedule();
  }

  /**
   * Stop the heartbeats, UNROUTE each route, then DEREGISTER. NOT_FOUND
   * (already expired) is fine. Every one is tried; the first failure is
   * thrown after.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#timer);
    await this.#beat;
    this.#forget(this);
    const failures: unknown[] = [];
    for (const target of this.#routes) {
      await this.#end({ kind: "UNROUTE", name: this.#service, route: target.text })
        .catch((err) => failures.push(err));
    }
    await this.#deregister().catch((err) => failures.push(err));
    if (failures.length > 0) throw failures[0];
  }

  #deregister(): Promise<void> {
    const { host, port } = this.#replica;
    return this.#end({ kind: "DEREGISTER", name: this.#service, host, port });
  }

  /** Send an UNROUTE or DEREGISTER; NOT_FOUND (expired meanwhile) is done too. */
  async #end(request: TowerRequest & { kind: "UNROUTE" | "DEREGISTER" }): Promise<void> {
    const what = request.kind === "UNROUTE"
      ? `${request.kind} ${this.#service} ${request.route}`
      : `${request.kind} ${this.#label}`;
    let reply;
    try {
      reply = await this.#client.send(request);
    } catch (err) {
      throw new Error(
        `cannot ${what} at the Tower ${this.#client.address} (it expires by itself): ${
          messageOf(err)
        }`,
        { cause: err },
      );
    }
    if (reply.kind === "DEREGISTERED" || reply.kind === "UNROUTED") return;
    if (reply.kind === "ERR" && reply.reason === "NOT_FOUND") return;
    throw new Error(
      `the Tower ${this.#client.address} answered ${what} with ${
        describeReply(reply, request.kind)
      }`,
    );
  }

  /** ROUTE each declared route; a refusal is a {@link TowerRefusedError}. */
  async #declare(): Promise<void> {
    for (const target of this.#routes) {
      const reply = await this.#client.send({
        kind: "ROUTE",
        name: this.#service,
        route: target.text,
      });
      if (reply.kind !== "ROUTED") {
        throw new TowerRefusedError(
          `the Tower ${this.#client.address} answered ROUTE ${this.#service} ${target.text} ` +
            `with ${describeReply(reply, "ROUTE")}`,
        );
      }
    }
  }

  async #register(): Promise<void> {
    const { host, port, weight } = this.#replica;
    // A weight other than 1 goes as the REGISTER extension (a seed Tower refuses it).
    const reply = await this.#client.send(
      weight === undefined || weight === 1
        ? { kind: "REGISTER", name: this.#service, host, port }
        : { kind: "REGISTER", name: this.#service, host, port, weight },
    );
    if (reply.kind !== "REGISTERED") {
      throw new TowerRefusedError(
        `the Tower ${this.#client.address} answered REGISTER ${this.#label} with ${
          describeReply(reply)
        }`,
      );
    }
  }

  #schedule(): void {
    if (this.#closed) return;
    this.#timer = setTimeout(() => {
      this.#beat = this.#register()
        .then(() => this.#declare())
        .catch((err) => {
          if (!this.#closed) this.#log(`heartbeat for ${this.#label} failed: ${messageOf(err)}`);
        })
        .finally(() => this.#schedule());
    }, this.#intervalMs);
  }
}
