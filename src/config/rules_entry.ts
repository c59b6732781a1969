/**
 * A route's rules written back in the config file's keys (the inverse of
 * route_rules.ts), for the admin API and whoever reads a route as the
 * operator wrote it: `strip-prefix`, `timeouts: { upstream: 5s }`,
 * `max-body: 1048576`. Read again with `parseRouteRules`, it gives the same
 * rules.
 *
 * @module
 */

import type { HeaderEdits, RouteRules, RouteTimeouts } from "../routing/rules.ts";

/** A duration as a flag takes it: whole seconds as `5s`, else `500ms`. */
function duration(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}

const TIMEOUT_NAMES: Record<keyof RouteTimeouts, string> = {
  connectMs: "connect",
  upstreamMs: "upstream",
  tryMs: "try",
  upstreamReadMs: "upstream-read",
  bodyMs: "body",
};

function headerEntry(edits: HeaderEdits): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (edits.remove.length > 0) out.remove = [...edits.remove];
  if (edits.set.length > 0) out.set = Object.fromEntries(edits.set);
  if (edits.add.length > 0) {
    const add: Record<string, string[]> = {};
    for (const [name, value] of edits.add) (add[name] ??= []).push(value);
    out.add = add;
  }
  return out;
}

/**
 * `rules` in the config file's keys; `{}` for a route that only forwards.
 *
 * @example
 * ```ts
 * import { ruleEntry } from "./rules_entry.ts";
 * import { NO_RULES } from "../routing/rules.ts";
 * ruleEntry({ ...NO_RULES, stripPrefix: true, timeouts: { upstreamMs: 5000 } });
 * // { "strip-prefix": true, timeouts: { upstream: "5s" } }
 * ```
 */
export function ruleEntry(rules: RouteRules): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (rules.stripPrefix) out["strip-prefix"] = true;
  if (rules.replacePrefix !== null) out["replace-prefix"] = rules.replacePrefix;
  if (rules.requestHeaders !== null) out["request-headers"] = headerEntry(rules.requestHeaders);
  if (rules.responseHeaders !== null) out["response-headers"] = headerEntry(rules.responseHeaders);
  if (rules.timeouts !== null) {
    const t: Record<string, string> = {};
    for (const [key, name] of Object.entries(TIMEOUT_NAMES) as [keyof RouteTimeouts, string][]) {
      const ms = rules.timeouts[key];
      if (ms !== undefined) t[name] = duration(ms);
    }
    out.timeouts = t;
  }
  if (rules.retries !== null) out.retries = rules.retries;
  if (rules.maxBodyBytes !== null) out["max-body"] = rules.maxBodyBytes;
  if (rules.redirectHttps !== null) out["redirect-https"] = rules.redirectHttps.status;
  if (rules.respond !== null) {
    out.respond = {
      status: rules.respond.status,
      body: rules.respond.body,
      "content-type": rules.respond.contentType,
    };
  }
  return out;
}
