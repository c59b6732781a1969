/**
 * `gatehouse tower`: a standalone Tower's flags, and the Tower security
 * flags it shares with the ingress (there prefixed `--tower-`).
 *
 * @module
 */

import type { HostPort } from "../net/address.ts";
import { flagSettings, type Settings } from "../config/settings.ts";
import { DEFAULT_MAX_ENTRIES, DEFAULT_MAX_ROUTES, DEFAULT_TOWER_PORT } from "../tower.ts";
import type { TowerSecurity } from "../app/config.ts";
import { type FlagSpec, parseFlags } from "./flags.ts";
import {
  parseAddressValue,
  parseCidrList,
  parseCount,
  parseRate,
  readFlag,
  secretOf,
} from "./values.ts";

/** The environment variable that may hold the Tower secret instead of a flag. */
export const TOWER_SECRET_ENV = "GATEHOUSE_TOWER_SECRET";

/** The security flags (and whether routes may be declared), without their prefix. */
export const TOWER_SECURITY_FLAGS: Record<string, FlagSpec> = {
  allow: { type: "string" },
  secret: { type: "string" },
  rate: { type: "string" },
  "max-entries": { type: "string" },
  routes: { type: "boolean" },
  "max-routes": { type: "string" },
};

/**
 * The Tower's registration rules from flags named `--<prefix>allow`,
 * `--<prefix>secret` (or {@link TOWER_SECRET_ENV}), `--<prefix>rate`,
 * `--<prefix>max-entries`, `--<prefix>routes` and `--<prefix>max-routes`.
 *
 * @example
 * ```ts
 * import { towerSecurityOf } from "./tower_flags.ts";
 * import { flagSettings } from "../config/settings.ts";
 * towerSecurityOf("tower-", flagSettings({ "tower-rate": "5" }), () => undefined).rate;
 * // { perSecond: 5, burst: 10 }
 * ```
 */
export function towerSecurityOf(
  prefix: string,
  settings: Settings,
  env: (name: string) => string | undefined,
): TowerSecurity {
  const s = (name: string) => settings.get(`${prefix}${name}`);
  const label = (name: string) => settings.label(`${prefix}${name}`);
  const rate = s("rate");
  return {
    allow: readFlag(label("allow"), s("allow") ?? "", parseCidrList),
    secret: secretOf(s("secret"), env(TOWER_SECRET_ENV)),
    rate: rate === undefined ? null : readFlag(label("rate"), rate, parseRate),
    maxEntries: readFlag(
      label("max-entries"),
      s("max-entries") ?? String(DEFAULT_MAX_ENTRIES),
      (t) => parseCount(t, 0, 10_000_000),
    ),
    routes: s("routes") === "true",
    maxRoutes: readFlag(
      label("max-routes"),
      s("max-routes") ?? String(DEFAULT_MAX_ROUTES),
      (t) => parseCount(t, 0, 1_000_000),
    ),
  };
}

/**
 * Where a Tower listens: `HOST[:PORT]` (port 7772 by default) or a bare
 * port on 127.0.0.1; port 0 picks a free one.
 *
 * @example
 * ```ts
 * import { parseTowerListen } from "./tower_flags.ts";
 * parseTowerListen("0.0.0.0"); // { host: "0.0.0.0", port: 7772 }
 * ```
 */
export function parseTowerListen(text: string): HostPort {
  return parseAddressValue(text, {
    defaultHost: "127.0.0.1",
    defaultPort: DEFAULT_TOWER_PORT,
    zeroPort: true,
  });
}

/** A standalone Tower: where it listens and who may write to it. */
export interface TowerCommand {
  listen: HostPort;
  security: TowerSecurity;
}

/**
 * Read the arguments after `tower`; null for `--help`.
 *
 * @example
 * ```ts
 * import { towerCommand } from "./tower_flags.ts";
 * towerCommand(["--listen", "0.0.0.0:7772"], () => undefined)?.listen;
 * // { host: "0.0.0.0", port: 7772 }
 * ```
 */
export function towerCommand(
  args: readonly string[],
  env: (name: string) => string | undefined,
): TowerCommand | null {
  const values = parseFlags(args, {
    listen: { type: "string" },
    ...TOWER_SECURITY_FLAGS,
    help: { type: "boolean", short: "h" },
  });
  if (values.help) return null;
  return {
    listen: readFlag("--listen", (values.listen as string) ?? "127.0.0.1", parseTowerListen),
    security: towerSecurityOf("", flagSettings(values), env),
  };
}
