/**
 * `gatehouse check --config FILE [flags]`: validate a configuration without
 * running it, and print what it would run: listeners, service settings and
 * routes with where each came from.
 *
 * @module
 */

import type { IngressConfig } from "../app/config.ts";
import { formatHostPort } from "../net/address.ts";
import { balanceName } from "../replicas/balance.ts";
import type { ServiceSettings } from "../replicas/settings.ts";
import type { Route } from "../routing/router.ts";
import type { RouteRules } from "../routing/rules.ts";

function seconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}

function serviceLine(s: ServiceSettings): string {
  const p = s.replicaPolicy;
  const parts = [
    `lb ${balanceName(s.balance)}`,
    `retries ${s.retries}`,
    `outlier 5xx ${p.serverErrors} / gateway ${p.gatewayFailures}`,
    `ejection ${seconds(p.baseEjectionMs)}-${
      seconds(p.maxEjectionMs)
    }, max ${p.maxEjectedPercent}%`,
    `hedge ${p.hedge ? "on" : "off"}`,
  ];
  if (p.slowStartMs > 0) parts.push(`slow start ${seconds(p.slowStartMs)}`);
  const h = s.health;
  parts.push(
    h === null
      ? "health checks off"
      : `health ${h.method} ${h.path} every ${seconds(h.intervalMs)}`,
  );
  return parts.join(", ");
}

/** The rules of a route in a few words ("" for none). */
export function rulesText(r: RouteRules): string {
  const parts: string[] = [];
  if (r.respond) parts.push(`respond ${r.respond.status}`);
  if (r.redirectHttps) parts.push(`redirect-https ${r.redirectHttps.status}`);
  if (r.stripPrefix) parts.push("strip-prefix");
  if (r.replacePrefix !== null) parts.push(`replace-prefix ${r.replacePrefix}`);
  if (r.requestHeaders) parts.push("request-headers");
  if (r.responseHeaders) parts.push("response-headers");
  if (r.timeouts) parts.push("timeouts");
  if (r.retries !== null) parts.push(`retries ${r.retries}`);
  if (r.maxBodyBytes !== null) parts.push(`max-body ${r.maxBodyBytes}`);
  return parts.join(", ");
}

/** Where the access log goes, in a few words. */
function accessLogText(c: IngressConfig): string {
  if (!c.accessLog) return "off";
  const where = c.accessLogFile === null ? "stderr" : `${c.accessLogFile} (reopened on SIGUSR1)`;
  return `${c.accessLogFormat} to ${where}`;
}

/** One route as `check` prints it. */
export function routeLine(r: Route): string {
  const where = `${r.host}${r.prefix}${r.stringPrefix ? "*" : ""}`;
  const to = r.service === "" ? "(answered by the ingress)" : `-> ${r.service}`;
  const rules = rulesText(r.rules);
  return `${where} ${to}${rules === "" ? "" : ` [${rules}]`} (${r.origin})`;
}

/**
 * What `check` prints for a valid configuration.
 *
 * @example
 * ```ts
 * import { describeConfig } from "./check.ts";
 * import type { IngressConfig } from "../app/config.ts";
 * declare const config: IngressConfig;
 * console.log(describeConfig(config));
 * ```
 */
export function describeConfig(config: IngressConfig): string {
  const lines = [`config ${config.configFile ?? "(flags only)"}: valid`, "listeners:"];
  for (const l of config.listeners) {
    const scheme = l.tls ? "https" : "http";
    const tls = l.tls ? ` (cert ${l.tls.certPath}, key ${l.tls.keyPath})` : "";
    lines.push(`  ${scheme}://${formatHostPort(l.listen.host, l.listen.port)}${tls}`);
  }
  lines.push(`access log: ${accessLogText(config)}`);
  lines.push("services:", `  every service: ${serviceLine(config.serviceDefaults)}`);
  for (const [name, s] of config.services) lines.push(`  ${name}: ${serviceLine(s)}`);
  lines.push(`routes (${config.routes.length}):`);
  for (const r of config.routes) lines.push(`  ${routeLine(r)}`);
  if (config.routes.length === 0) lines.push("  none: every route comes from the registry");
  return lines.join("\n");
}
