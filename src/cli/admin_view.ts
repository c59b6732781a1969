/**
 * `gatehouse routes` and `gatehouse services`: what a running ingress's
 * admin API says (GET /api/routes, /api/services), printed as text tables.
 * A listener that cannot be reached, or that refuses the token, is one line
 * and exit code 1.
 *
 * @module
 */

import type { RouteView, ServiceView } from "../admin/views.ts";
import { StartupError } from "../app/errors.ts";
import { ADMIN_TOKEN_ENV } from "../config/ingress_config.ts";
import { messageOf } from "../error_message.ts";
import { parseFlags, UsageError } from "./flags.ts";
import { secretOf } from "./values.ts";

/** Where the admin listener is unless `--admin` says otherwise. */
export const DEFAULT_ADMIN_URL = "http://127.0.0.1:9901";

/** What `gatehouse routes|services` asks for. */
export interface AdminViewCommand {
  what: "routes" | "services";
  /** The admin listener's base URL, without a trailing slash. */
  admin: string;
  token: string | null;
}

/** `gatehouse routes --help` and `gatehouse services --help`. */
export const ADMIN_VIEW_USAGE =
  `usage: gatehouse routes   [--admin URL] [--admin-token TOKEN]   the routes in force, with origins
       gatehouse services [--admin URL] [--admin-token TOKEN]   every service's replicas and state

Asks a running ingress's admin listener (its --admin) and prints a table.

  --admin URL          the admin listener (default ${DEFAULT_ADMIN_URL}; HOST:PORT works too)
  --admin-token TOKEN  its bearer token (or env ${ADMIN_TOKEN_ENV})`;

/**
 * Read `gatehouse routes|services` flags; null for --help.
 *
 * @example
 * ```ts
 * import { adminViewCommand } from "./admin_view.ts";
 * adminViewCommand("routes", ["--admin", "127.0.0.1:9901"], () => undefined);
 * // { what: "routes", admin: "http://127.0.0.1:9901", token: null }
 * ```
 */
export function adminViewCommand(
  what: "routes" | "services",
  args: readonly string[],
  env: (name: string) => string | undefined,
): AdminViewCommand | null {
  const values = parseFlags(args, {
    admin: { type: "string" },
    "admin-token": { type: "string" },
    help: { type: "boolean", short: "h" },
  });
  if (values.help) return null;
  let admin = (values.admin as string | undefined) ?? DEFAULT_ADMIN_URL;
  if (!admin.includes("://")) admin = `http://${admin}`;
  try {
    const url = new URL(admin);
    if (url.protocol !== "http:" && url.protocol !== "https:") throw new Error();
  } catch {
    throw new UsageError(`--admin: "${admin}" is not an http:// URL or HOST:PORT`);
  }
  const token = secretOf(values["admin-token"] as string | undefined, env(ADMIN_TOKEN_ENV));
  return { what, admin: admin.replace(/\/+$/, ""), token };
}

/**
 * GET `path` of the admin listener as JSON. Throws a {@link StartupError}
 * (exit 1) saying what went wrong: unreachable, token refused, or an error.
 */
async function getJson(command: AdminViewCommand, path: string): Promise<unknown> {
  const url = `${command.admin}${path}`;
  let res: Response;
  try {
    res = await fetch(url, {
      headers: command.token === null ? {} : { Authorization: `Bearer ${command.token}` },
      signal: AbortSignal.timeout(5_000),
    });
  } catch (e) {
    throw new StartupError(`cannot reach the admin listener at ${command.admin}: ${whyNot(e)}`);
  }
  const text = await res.text();
  if (res.status === 401) {
    throw new StartupError(
      command.token === null
        ? `the admin listener at ${command.admin} needs a token (--admin-token or ${ADMIN_TOKEN_ENV})`
        : `the admin listener at ${command.admin} refused the token`,
    );
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new StartupError(
      `${url} did not answer with JSON (${res.status}): is it Gatehouse's admin listener?`,
    );
  }
  if (!res.ok) {
    const error = (body as { error?: string }).error ?? `status ${res.status}`;
    throw new StartupError(`${url}: ${error}`);
  }
  return body;
}

/** Why a fetch failed, in words the same under Deno and Bun. */
function whyNot(e: unknown): string {
  if (e instanceof Error && (e.name === "TimeoutError" || e.name === "AbortError")) {
    return "no answer within 5 s";
  }
  const cause = e instanceof Error && e.cause instanceof Error ? e.cause.message : "";
  const text = cause || messageOf(e);
  return /refused|ECONNREFUSED/i.test(text) ? "connection refused" : text;
}

/** Rows as columns padded to their widest cell (the last column unpadded). */
function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => i === cells.length - 1 ? c : c.padEnd(widths[i])).join("  ").trimEnd();
  return [line(header), ...rows.map(line)].join("\n");
}

/** A route's rules in a few words: `strip-prefix, timeouts={"upstream":"5s"}`. */
function rulesText(rules: Record<string, unknown>): string {
  return Object.entries(rules).map(([k, v]) =>
    v === true ? k : `${k}=${typeof v === "object" ? JSON.stringify(v) : String(v)}`
  ).join(", ");
}

/**
 * The routes table.
 *
 * @example
 * ```ts
 * import { routesTable } from "./admin_view.ts";
 * routesTable({ generation: 1, routes: [] }); // "ROUTE  SERVICE  ORIGIN  RULES\n(no route)\n..."
 * ```
 */
export function routesTable(view: { generation: number; routes: RouteView[] }): string {
  const rows = view.routes.map((r) => [
    r.route,
    r.service === "" ? "(the ingress answers)" : r.service,
    r.origin,
    rulesText(r.rules),
  ]);
  const lines = [table(["ROUTE", "SERVICE", "ORIGIN", "RULES"], rows)];
  if (rows.length === 0) lines.push("(no route)");
  lines.push(`config generation ${view.generation}, ${rows.length} routes`);
  return lines.join("\n");
}

/** How long ago an ISO time was, in a few characters. */
function ago(iso: string | null, now: number): string {
  if (iso === null) return "";
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  return s < 120
    ? `${s} s ago`
    : s < 7200
    ? `${Math.round(s / 60)} min ago`
    : `${Math.round(s / 3600)} h ago`;
}

/**
 * The services table: one row per replica (one for a service without any).
 *
 * @example
 * ```ts
 * import { servicesTable } from "./admin_view.ts";
 * servicesTable({ registry: "embedded Tower", services: [] }, Date.now());
 * ```
 */
export function servicesTable(
  view: { registry: string; services: ServiceView[] },
  now: number,
): string {
  const rows: string[][] = [];
  for (const s of view.services) {
    if (s.replicas.length === 0) rows.push([s.name, "-", "(no replica)", "", "", "", ""]);
    for (const r of s.replicas) {
      const state = r.state === "ejected" && r.reason !== "" ? `ejected: ${r.reason}` : r.state;
      const weight = r.effectiveWeight === r.weight
        ? `${r.weight}`
        : `${r.effectiveWeight}/${r.weight}`;
      const error = r.lastError === "" ? "" : `${r.lastError} (${ago(r.lastErrorAt, now)})`;
      rows.push([s.name, r.address, state, `${r.active}`, weight, `${r.ejections}`, error]);
    }
  }
  const header = ["SERVICE", "REPLICA", "STATE", "ACTIVE", "WEIGHT", "EJECTIONS", "LAST ERROR"];
  const lines = [table(header, rows)];
  if (rows.length === 0) lines.push("(no service)");
  lines.push(`registry: ${view.registry}`);
  return lines.join("\n");
}

/**
 * Run `gatehouse routes|services`: the table, or a {@link StartupError}.
 *
 * @example
 * ```ts
 * import { adminViewText } from "./admin_view.ts";
 * console.log(await adminViewText({ what: "routes", admin: "http://127.0.0.1:9901", token: null }));
 * ```
 */
export async function adminViewText(command: AdminViewCommand): Promise<string> {
  if (command.what === "routes") {
    return routesTable(await getJson(command, "/api/routes") as Parameters<typeof routesTable>[0]);
  }
  const view = await getJson(command, "/api/services") as Parameters<typeof servicesTable>[0];
  return servicesTable(view, Date.now());
}
