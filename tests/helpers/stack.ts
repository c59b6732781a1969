/**
 * A test stack: one Gatehouse with an embedded Tower on free ports, plus an
 * echo backend registered for each named service.
 *
 * @module
 */

import { type EchoBackend, type EchoOptions, startEchoBackend } from "./backends.ts";
import { freePortFlags, type Gatehouse, startGatehouse, type StartOptions } from "./gatehouse.ts";
import { register } from "./tower.ts";

/** A running stack. */
export interface Stack {
  gh: Gatehouse;
  /** Gatehouse's HTTP port. */
  port: number;
  /** The embedded Tower's UDP port. */
  towerPort: number;
  /** Echo backend per service name (the backend's name is the service's). */
  backends: Record<string, EchoBackend>;
  /** Kills Gatehouse and closes the backends. */
  close(): Promise<void>;
}

/**
 * Starts echo backends for `services`, then Gatehouse with loopback ports
 * and `args`, then registers each backend under its service name.
 *
 * @example
 * ```ts
 * import { startStack } from "./stack.ts";
 * import { request } from "./http.ts";
 * const stack = await startStack(["--route", "/api:api"], ["api"]);
 * const res = await request(stack.port, { path: "/api/x" });
 * await stack.close();
 * ```
 */
export async function startStack(
  args: string[],
  services: string[],
  opts: { echo?: Record<string, EchoOptions>; start?: StartOptions } = {},
): Promise<Stack> {
  const backends: Record<string, EchoBackend> = {};
  let gh: Gatehouse | undefined;
  const close = async () => {
    await gh?.kill();
    await Promise.all(Object.values(backends).map((b) => b.close()));
  };
  try {
    for (const s of services) backends[s] = await startEchoBackend(s, opts.echo?.[s]);
    gh = await startGatehouse([...freePortFlags(), ...args], opts.start);
    const towerPort = gh.towerPort!;
    for (const s of services) await register(towerPort, s, backends[s].port);
    return { gh, port: gh.httpPort, towerPort, backends, close };
  } catch (err) {
    await close();
    throw err;
  }
}
