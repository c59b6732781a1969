/**
 * The default registry: the Tower's state living in the proxy's own process,
 * so resolving a service is a map lookup, with no datagram and no promise.
 *
 * @module
 */

import { TowerState } from "../../tower.ts";
import type { DeclaredRoute, Registry, Replica } from "../types.ts";

/**
 * A {@link Registry} over an in-process {@link TowerState}. Share the state
 * with `startTowerServer` so replicas that REGISTER over UDP are visible to
 * the proxy at once.
 *
 * `resolve` answers synchronously (a plain array): it runs once per request.
 *
 * @example
 * ```ts
 * import { EmbeddedTowerRegistry } from "./embedded.ts";
 * import { bindUdp } from "../../runtime/udp.ts";
 * import { startTowerServer, TowerState } from "../../tower.ts";
 *
 * const state = new TowerState();
 * const tower = await startTowerServer({ hostname: "0.0.0.0", port: 7772, state, bindUdp });
 * const registry = new EmbeddedTowerRegistry(state);
 * registry.resolve("api-service"); // [] until a replica registers
 * tower.close();
 * registry.close();
 * state.close();
 * ```
 */
export class EmbeddedTowerRegistry implements Registry {
  /** The state resolved against. */
  readonly state: TowerState;
  readonly #ownsState: boolean;

  /**
   * The routes services declared with the Tower (ROUTE datagrams, or a
   * `--procs` primary's relay): the whole set at once, then again after
   * every change, an expiry told when it happens. Present only when the
   * Tower takes routes (`routes`): otherwise it carries none.
   */
  readonly watchRoutes?: (listener: (routes: readonly DeclaredRoute[]) => void) => void;

  /**
   * Wrap `state`, or a new one (owned, and closed by {@link close}) when
   * none is given. A state passed in stays the caller's to close. With
   * `routes`, the Tower takes declared routes (`--tower-routes`) and this
   * registry hands them on.
   */
  constructor(state?: TowerState, options: { routes?: boolean } = {}) {
    this.#ownsState = state === undefined;
    this.state = state ?? new TowerState();
    if (options.routes === true) this.watchRoutes = (l) => this.state.routes.watch(l);
  }

  /**
   * Live replicas of `service`, least recently served first (that one is
   * marked served, so successive calls rotate); the rest are failover
   * candidates. Empty when none is registered.
   */
  resolve(service: string): readonly Replica[] {
    return this.state.replicas(service);
  }

  /** Every service and its replicas, without a lookup's round robin. */
  known(): [string, readonly Replica[]][] {
    return this.state.known();
  }

  /** Deregistrations and expiries of the state, as they happen. */
  watchRemovals(listener: (service: string, replica: Replica) => void): void {
    this.state.onRemoved = listener;
  }

  /** Close the state if this registry created it. */
  close(): void {
    if (this.#ownsState) this.state.close();
  }
}
