/**
 * What a Tower server did with the changes it was sent (REGISTER,
 * DEREGISTER, ROUTE, UNROUTE): accepted, or refused and why, counted by a
 * fixed set of names (the metrics' labels). Lookups are not counted.
 *
 * @module
 */

import type { TowerErrorReply } from "./errors.ts";
import {
  DEREGISTER_SYNTAX,
  REGISTER_SYNTAX,
  REGISTRY_FULL,
  ROUTE_SYNTAX,
  UNROUTE_SYNTAX,
} from "./errors.ts";

/** The commands that change a Tower, by their counted name. */
export const TALLIED_COMMANDS = ["register", "deregister", "route", "unroute"] as const;

/** Why a change was refused, by counted name. */
export const REFUSAL_REASONS = [
  "forbidden",
  "unsigned",
  "bad_signature",
  "stale",
  "replay",
  "rate_limited",
  "full",
  "routes_full",
  "routes_disabled",
  "syntax",
] as const;

/** One of {@link REFUSAL_REASONS}. */
export type RefusalReason = typeof REFUSAL_REASONS[number];

const SYNTAX: ReadonlySet<string> = new Set([
  REGISTER_SYNTAX,
  DEREGISTER_SYNTAX,
  ROUTE_SYNTAX,
  UNROUTE_SYNTAX,
]);

/**
 * The counted reason of a refusal `reply` to a change (`signed`: it carried
 * a signature), or undefined when the reply is not a refusal of one
 * (`NOT_FOUND`, an unknown command).
 *
 * @example
 * ```ts
 * import { refusalReason } from "./tally.ts";
 * refusalReason({ kind: "ERR", reason: "UNAUTHORIZED", name: "web" }, false); // "unsigned"
 * refusalReason({ kind: "ERR", reason: "UNAUTHORIZED", name: "web" }, true);  // "bad_signature"
 * ```
 */
export function refusalReason(reply: TowerErrorReply, signed: boolean): RefusalReason | undefined {
  switch (reply.reason) {
    case "FORBIDDEN":
      return "forbidden";
    case "UNAUTHORIZED":
      return signed ? "bad_signature" : "unsigned";
    case "STALE":
      return "stale";
    case "REPLAY":
      return "replay";
    case "RATE_LIMITED":
      return "rate_limited";
    case REGISTRY_FULL:
      return "full";
    case "ROUTES_FULL":
      return "routes_full";
    case "ROUTES_DISABLED":
      return "routes_disabled";
  }
  return SYNTAX.has(reply.reason) ? "syntax" : undefined;
}

/**
 * Counts of accepted and refused changes; every name starts at 0.
 *
 * @example
 * ```ts
 * import { TowerTally } from "./tally.ts";
 * const tally = new TowerTally();
 * tally.accept("REGISTER");
 * tally.accepted.get("register"); // 1
 * tally.refused.get("forbidden"); // 0
 * ```
 */
export class TowerTally {
  readonly accepted = new Map<string, number>(TALLIED_COMMANDS.map((c) => [c, 0]));
  readonly refused = new Map<string, number>(REFUSAL_REASONS.map((r) => [r, 0]));

  /** A change `kind` (REGISTER, ...) was applied. */
  accept(kind: string): void {
    const name = kind.toLowerCase();
    const n = this.accepted.get(name);
    if (n !== undefined) this.accepted.set(name, n + 1);
  }

  /** A change was refused with `reply` (`signed`: it carried a signature); other replies are not counted. */
  refuse(reply: TowerErrorReply, signed: boolean): void {
    const reason = refusalReason(reply, signed);
    if (reason !== undefined) this.refused.set(reason, this.refused.get(reason)! + 1);
  }
}
