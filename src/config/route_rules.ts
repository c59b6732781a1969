/**
 * A route entry's rules (placeholder until the request-rules phase lands:
 * no rule keys yet).
 *
 * @module
 */

import type { Problem } from "./errors.ts";
import { NO_RULES, type RouteRules } from "../routing/rules.ts";

/** The keys of a route entry that are rules. */
export const RULE_KEYS: readonly string[] = [];

/**
 * The rules of a route entry.
 *
 * @example
 * ```ts
 * import { parseRouteRules } from "./route_rules.ts";
 * parseRouteRules({ prefix: "/" }, () => {
 *   throw new Error();
 * }, null);
 * ```
 */
export function parseRouteRules(
  _entry: Readonly<Record<string, unknown>>,
  _problem: Problem,
  _tlsPort: number | null,
): RouteRules {
  return NO_RULES;
}
