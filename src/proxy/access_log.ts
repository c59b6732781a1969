/**
 * The access log's line: one per request, whoever answered it (a replica,
 * or the ingress itself with an error).
 *
 * @module
 */

/**
 * `peer "METHOD target" status service replica`, `-` for what is unknown.
 *
 * @example
 * ```ts
 * import { accessLogLine } from "./access_log.ts";
 * accessLogLine("10.0.0.9", "GET", "/api", 200, "api", "10.0.0.7:8081");
 * // '10.0.0.9 "GET /api" 200 api 10.0.0.7:8081'
 * ```
 */
export function accessLogLine(
  peer: string,
  method: string,
  target: string,
  status: number,
  service: string,
  replica: string,
): string {
  return `${peer} "${method} ${target}" ${status} ${service} ${replica}`;
}
