/**
 * The access log's line: one per request, whoever answered it (a replica,
 * or the ingress itself with an error).
 *
 * @module
 */

/**
 * `peer "METHOD target" status service replica request-id gN`, `-` for
 * what is unknown. The request id is the X-Request-Id the client and the
 * backend saw, and the one a failure's log line names; N is the generation
 * of the configuration that routed the request.
 *
 * @example
 * ```ts
 * import { accessLogLine } from "./access_log.ts";
 * accessLogLine("10.0.0.9", "GET", "/api", 200, "api", "10.0.0.7:8081", "9f86d081884c7d65-7", 3);
 * // '10.0.0.9 "GET /api" 200 api 10.0.0.7:8081 9f86d081884c7d65-7 g3'
 * ```
 */
export function accessLogLine(
  peer: string,
  method: string,
  target: string,
  status: number,
  service: string,
  replica: string,
  id: string,
  generation: number,
): string {
  return `${peer} "${method} ${target}" ${status} ${service} ${replica} ${id} g${generation}`;
}
