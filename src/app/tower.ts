/**
 * Starting a Tower this process serves over UDP: the embedded one beside
 * the ingress, or a standalone `gatehouse tower`, with its registration
 * rules.
 *
 * @module
 */

import type { HostPort } from "../net/address.ts";
import type { Runtime } from "../runtime/types.ts";
import { startTowerServer, type TowerServer, type TowerState } from "../tower.ts";
import type { TowerSecurity } from "./config.ts";
import { StartupError } from "./errors.ts";

/**
 * Serve a Tower on udp `listen` with `security`'s rules, over `state` when
 * given (the embedded Tower shares the ingress's). A failure to bind is a
 * {@link StartupError}.
 *
 * @example
 * ```ts
 * import { startTower } from "./tower.ts";
 * import { CidrList } from "../net/cidr.ts";
 * import { currentRuntime } from "../runtime/current.ts";
 * const tower = await startTower({ host: "127.0.0.1", port: 0 }, {
 *   allow: CidrList.parse(""), secret: null, rate: null, maxEntries: 10_000,
 *   routes: true, maxRoutes: 1_000,
 * }, currentRuntime());
 * tower.close();
 * ```
 */
export async function startTower(
  listen: HostPort,
  security: TowerSecurity,
  runtime: Runtime,
  state?: TowerState,
): Promise<TowerServer> {
  const { allow } = security;
  try {
    return await startTowerServer({
      hostname: listen.host,
      port: listen.port,
      state,
      bindUdp: runtime.bindUdp,
      mayRegister: allow.empty ? undefined : (ip) => allow.contains(ip),
      secret: security.secret ?? undefined,
      rateLimit: security.rate ?? undefined,
      maxEntries: security.maxEntries,
      routes: security.routes,
      maxRoutes: security.maxRoutes,
    });
  } catch (e) {
    throw new StartupError(
      `cannot start the Tower on udp ${listen.host}:${listen.port}: ${(e as Error).message}`,
    );
  }
}
