/**
 * A registry that asks a Tower in another process (`--tower HOST[:PORT]`) on
 * every resolve: always fresh, one round trip each (concurrent resolves of
 * one service share it).
 *
 * @module
 */

import { messageOf } from "../../error_message.ts";
import { builtin } from "../../runtime/builtin.ts";
import { bindUdp as nodeBindUdp } from "../../runtime/udp.ts";
import { type BindUdp, formatReply, TowerClient, type TowerReply } from "../../tower.ts";
import { type HostPort, isIP, isValidServiceName } from "../../net/address.ts";
import type { DeclaredRoute, Registry, RegistryFreshness, Replica } from "../types.ts";
import { TowerRoutePoller } from "./route_poller.ts";

/**
 * Options for {@link RemoteTowerRegistry.connect}.
 *
 * @example
 * ```ts
 * import type { RemoteTowerOptions } from "./remote.ts";
 * const options: RemoteTowerOptions = { timeoutMs: 200, retries: 2 };
 * ```
 */
export interface RemoteTowerOptions {
  /** Wait this long for each try. Default 300 ms. */
  timeoutMs?: number;
  /** Send again this many times on silence. Default 1. */
  retries?: number;
  /** UDP bind function; defaults to the `node:dgram` one from runtime/udp.ts. */
  bindUdp?: BindUdp;
  /** Where the declared routes' troubles are reported (see {@link TowerRoutePoller}). */
  log?: (line: string) => void;
  /** Between two reads of the declared routes. Default 1 s. */
  routesIntervalMs?: number;
}

/**
 * Resolve a Tower's host name once (so no lookup happens per request) and
 * bind a client socket to it. Rejects when the name does not resolve or the
 * socket cannot bind.
 *
 * @example
 * ```ts
 * import { openTowerClient } from "./remote.ts";
 * const client = await openTowerClient({ host: "tower.internal", port: 7772 }, { timeoutMs: 300 });
 * ```
 */
export async function openTowerClient(
  address: HostPort,
  options: RemoteTowerOptions & { secret?: string } = {},
): Promise<TowerClient> {
  const { host, port } = address;
  let ip = host;
  if (!isIP(host)) {
    try {
      const { lookup } = builtin<typeof import("node:dns/promises")>("node:dns/promises");
      ip = (await lookup(host)).address;
    } catch (err) {
      throw new Error(`cannot resolve Tower host "${host}": ${messageOf(err)}`, {
        cause: err,
      });
    }
  }
  return TowerClient.open(ip, port, {
    bindUdp: options.bindUdp ?? nodeBindUdp,
    timeoutMs: options.timeoutMs,
    retries: options.retries,
    secret: options.secret,
  });
}

/**
 * A {@link Registry} backed by a remote Tower over UDP.
 *
 * It asks `LOOKUPALL|<name>` to learn every replica (so the proxy can fail
 * over). A seed Tower does not know that command and answers
 * `ERR|unknown command`: the first `ERR` other than `NOT_FOUND` switches this
 * registry to plain `LOOKUP|<name>` for good, which yields one replica (the
 * Tower's round-robin pick) per resolve.
 *
 * `resolve` rejects when the Tower stays silent (timeout and retry) or gives
 * an answer that makes no sense; it resolves `[]` on `NOT_FOUND`.
 *
 * @example
 * ```ts
 * import { RemoteTowerRegistry } from "./remote.ts";
 * const registry = await RemoteTowerRegistry.connect({ host: "tower.internal", port: 7772 });
 * const replicas = await registry.resolve("api-service");
 * registry.close();
 * ```
 */
export class RemoteTowerRegistry implements Registry {
  readonly #client: TowerClient;
  readonly #options: RemoteTowerOptions;
  #legacy = false;
  #poller: Promise<TowerRoutePoller | undefined> | undefined;
  #polling: TowerRoutePoller | undefined;
  #closed = false;

  private constructor(client: TowerClient, options: RemoteTowerOptions) {
    this.#client = client;
    this.#options = options;
  }

  /**
   * Resolve the Tower's host name once (so no lookup happens per request)
   * and bind the client socket. Rejects when the name does not resolve or the socket cannot bind.
   */
  static async connect(
    address: HostPort,
    options: RemoteTowerOptions = {},
  ): Promise<RemoteTowerRegistry> {
    return new RemoteTowerRegistry(await openTowerClient(address, options), options);
  }

  /** The Tower's resolved `ip:port` (IPv6 bracketed). */
  get address(): string {
    return this.#client.address;
  }

  /** True once the Tower turned out not to know `LOOKUPALL` (a seed Tower). */
  get usesLookupFallback(): boolean {
    return this.#legacy;
  }

  /**
   * Live replicas of `service`, the Tower's round-robin pick first. Rejects
   * for a service name the protocol cannot carry, a silent Tower, or an
   * unexpected answer.
   */
  async resolve(service: string): Promise<Replica[]> {
    // A bad name would come back as an ERR, which would look like a seed
    // Tower and flip the fallback; a "|" would even forge another command.
    if (!isValidServiceName(service)) {
      throw new Error(`invalid service name for the Tower: "${service}"`);
    }
    if (!this.#legacy) {
      const reply = await this.#client.send({ kind: "LOOKUPALL", name: service });
      if (reply.kind === "LOOKUPALL") return reply.replicas.slice();
      if (reply.kind !== "ERR") throw this.#unexpected(reply, "LOOKUPALL", service);
      if (reply.reason === "NOT_FOUND") return [];
      this.#legacy = true;
    }
    const reply = await this.#client.send({ kind: "LOOKUP", name: service });
    if (reply.kind === "LOOKUP") return [reply.replica];
    if (reply.kind === "ERR" && reply.reason === "NOT_FOUND") return [];
    throw this.#unexpected(reply, "LOOKUP", service);
  }

  /**
   * The routes services declared with the Tower, read with `ROUTES` every
   * second on a socket of their own (the first watcher opens it): the whole
   * set once first read, then after every change. A Tower that does not
   * serve them gives the empty set (logged once).
   */
  watchRoutes(listener: (routes: readonly DeclaredRoute[]) => void): void {
    const log = this.#options.log ?? (() => {});
    this.#poller ??= TowerRoutePoller.open(this.#client.host, this.#client.port, {
      bindUdp: this.#options.bindUdp ?? nodeBindUdp,
      intervalMs: this.#options.routesIntervalMs,
      timeoutMs: this.#options.timeoutMs,
      log,
    }).then((poller) => {
      if (this.#closed) poller.close();
      else this.#polling = poller;
      return this.#closed ? undefined : poller;
    }, (err) => {
      log(`cannot read declared routes from the Tower at ${this.address}: ${messageOf(err)}`);
      return undefined;
    });
    void this.#poller.then((poller) => poller?.watch(listener));
  }

  /** When the Tower last replied (to a lookup, or to the declared routes' poller). */
  freshness(): RegistryFreshness {
    return { kind: "tower", heardAt: Math.max(this.#client.heardAt, this.#polling?.heardAt ?? 0) };
  }

  /** Close the sockets; resolves in flight reject. */
  close(): void {
    this.#closed = true;
    this.#client.close();
    void this.#poller?.then((poller) => poller?.close());
  }

  #unexpected(reply: TowerReply, command: string, service: string): Error {
    return new Error(
      `Tower at ${this.address} answered ${command}|${service} with "${formatReply(reply)}"`,
    );
  }
}
