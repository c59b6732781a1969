/**
 * Opening the registry an ingress resolves services with: the embedded
 * Tower (served over UDP, or, in a `--procs` worker, a state the primary
 * keeps in step), a remote Tower, etcd or DNS SRV.
 *
 * @module
 */

import type { Registry } from "../registry/types.ts";
import { EmbeddedTowerRegistry } from "../registry/tower/embedded.ts";
import { RemoteTowerRegistry } from "../registry/tower/remote.ts";
import { CachedRegistry } from "../registry/cached.ts";
import { EtcdRegistry } from "../registry/etcd/registry.ts";
import { DnsRegistry } from "../registry/dns/registry.ts";
import type { Runtime } from "../runtime/types.ts";
import type { TowerServer, TowerState } from "../tower.ts";
import { messageOf } from "../error_message.ts";
import type { RegistryChoice, TowerSecurity } from "./config.ts";
import { StartupError } from "./errors.ts";
import { startTower } from "./tower.ts";

/** How long the last answer of a remote Tower is used while it does not answer. */
const STALE_MS = 60_000;

/** An open registry, and the Tower served over UDP when it is the embedded one. */
export interface OpenRegistry {
  registry: Registry;
  tower: TowerServer | null;
}

/** How this process's embedded Tower takes part in a `--procs` group. */
export interface EmbeddedOptions {
  /** The Tower's state (instead of a new one); stays the caller's to close. */
  state?: TowerState;
  /** False: route against `state` without serving the Tower over UDP (a worker). */
  serve?: boolean;
}

/**
 * Open the registry `choice` names. A registry that cannot be reached or a
 * Tower port that cannot be bound is a {@link StartupError}.
 *
 * @example
 * ```ts
 * import { openRegistry } from "./registry.ts";
 * import { CidrList } from "../net/cidr.ts";
 * import { currentRuntime } from "../runtime/current.ts";
 * const security = {
 *   allow: CidrList.parse(""), secret: null, rate: null, maxEntries: 0, routes: true, maxRoutes: 0,
 * };
 * const { registry, tower } = await openRegistry(
 *   { kind: "embedded", listen: { host: "127.0.0.1", port: 0 } },
 *   { security, lookupCacheMs: 0, runtime: currentRuntime(), log: console.error },
 * );
 * tower?.close();
 * await registry.close();
 * ```
 */
export async function openRegistry(
  choice: RegistryChoice,
  options: {
    security: TowerSecurity;
    lookupCacheMs: number;
    runtime: Runtime;
    log: (line: string) => void;
    embedded?: EmbeddedOptions;
  },
): Promise<OpenRegistry> {
  const { runtime, log } = options;
  switch (choice.kind) {
    case "embedded": {
      const embedded = new EmbeddedTowerRegistry(options.embedded?.state, {
        routes: options.security.routes,
      });
      if (options.embedded?.serve === false) return { registry: embedded, tower: null };
      try {
        const tower = await startTower(choice.listen, options.security, runtime, embedded.state);
        return { registry: embedded, tower };
      } catch (e) {
        embedded.close();
        throw e;
      }
    }
    case "tower": {
      const { host, port } = choice.address;
      try {
        const remote = await RemoteTowerRegistry.connect(choice.address, {
          bindUdp: runtime.bindUdp,
          log,
        });
        // Seed semantics (ask per request) unless --lookup-cache; a silent Tower does not fail
        // every request: its last answer is used for a minute.
        const registry = new CachedRegistry(remote, {
          cacheMs: options.lookupCacheMs,
          staleMs: STALE_MS,
          log,
        });
        return { registry, tower: null };
      } catch (e) {
        throw new StartupError(`cannot use the Tower at ${host}:${port}: ${messageOf(e)}`);
      }
    }
    case "etcd":
      try {
        const registry = await EtcdRegistry.connect({
          endpoints: choice.endpoints,
          prefix: choice.prefix,
          log,
        });
        return { registry, tower: null };
      } catch (e) {
        throw new StartupError(`cannot use the etcd registry ${choice.url}: ${messageOf(e)}`);
      }
    case "dns":
      return { registry: new DnsRegistry({ ...choice.options, log }), tower: null };
  }
}
