/**
 * The writing side of the Tower: a replica REGISTERs, repeats it as its
 * heartbeat (the Tower forgets an entry 30 s after the last one), and
 * DEREGISTERs when it stops.
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
  TowerClient,
  type TowerReply,
  UNKNOWN_COMMAND,
} from "../../tower.ts";
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
]);

/** `"<reply>"`, and what it means when that is known. */
function describeReply(reply: TowerReply): string {
  const meaning = reply.kind === "ERR" ? MEANINGS.get(reply.reason) : undefined;
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
   * REGISTER `replica` as `service` and repeat it every interval until the
   * registration is closed. Rejects with a {@link TowerRefusedError} when the
   * Tower refuses (its reply is in the message), with another Error when it
   * stays silent.
   */
  async register(service: string, replica: Replica): Promise<Registration> {
    checkRegistration(service, replica);
    const registration = new TowerRegistration(
      this.#client,
      service,
      replica,
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

/** One replica kept registered by heartbeats. */
class TowerRegistration implements Registration {
  readonly #client: TowerClient;
  readonly #service: string;
  readonly #replica: Replica;
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
    intervalMs: number,
    log: (line: string) => void,
    forget: (registration: TowerRegistration) => void,
  ) {
    this.#client = client;
    this.#service = service;
    this.#replica = replica;
    this.#intervalMs = intervalMs;
    this.#log = log;
    this.#forget = forget;
  }

  get #label(): string {
    return `${this.#service} ${formatHostPort(this.#replica.host, this.#replica.port)}`;
  }

  async start(): Promise<void> {
    await this.#register();
    this.#schedule();
  }

  /** Stop the heartbeats and DEREGISTER. NOT_FOUND (already expired) is fine. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#timer);
    await this.#beat;
    this.#forget(this);
    const { host, port } = this.#replica;
    let reply;
    try {
      reply = await this.#client.send({ kind: "DEREGISTER", name: this.#service, host, port });
    } catch (err) {
      throw new Error(
        `cannot DEREGISTER ${this.#label} at the Tower ${this.#client.address} ` +
          `(it expires by itself): ${messageOf(err)}`,
        { cause: err },
      );
    }
    if (reply.kind === "DEREGISTERED") return;
    if (reply.kind === "ERR" && reply.reason === "NOT_FOUND") return;
    throw new Error(
      `the Tower ${this.#client.address} answered DEREGISTER ${this.#label} with ${
        describeReply(reply)
      }`,
    );
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
        .catch((err) => {
          if (!this.#closed) this.#log(`heartbeat for ${this.#label} failed: ${messageOf(err)}`);
        })
        .finally(() => this.#schedule());
    }, this.#intervalMs);
  }
}
