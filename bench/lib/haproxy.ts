/**
 * haproxy configuration for the benchmark: one thread, HTTP mode, server
 * connections reused across client connections, the forwarding headers an
 * ingress sets, a request id; to one backend, or to several replicas with
 * health checks and retries for the chaos benchmark. Pure string builder.
 * @module
 */

/** The `timeout` settings of the defaults section. */
export type HaproxyTimeouts = Partial<
  Record<"connect" | "client" | "server" | "http-keep-alive" | "check", string>
>;

/** Where haproxy listens and forwards. */
export interface HaproxyOptions {
  port: number;
  /** The backend's port, or the ports of several replicas of one backend. */
  upstreamPort: number | readonly number[];
  /** Connection limit; must exceed the largest wrk -c. */
  maxconn?: number;
  /** Timeouts in place of the defaults (connect 5s, client 30s, server 30s, keep-alive 65s). */
  timeouts?: HaproxyTimeouts;
  /** More lines for the backend section (balance, checks, retries). */
  backendDirectives?: readonly string[];
  /** Appended to every `server` line (e.g. `check inter 500ms`). */
  serverParameters?: string;
}

const DEFAULT_TIMEOUTS: HaproxyTimeouts = {
  connect: "5s",
  client: "30s",
  server: "30s",
  "http-keep-alive": "65s",
};

/**
 * The haproxy.cfg for the proxy under test. Run it with `haproxy -db -f`
 * (foreground, no daemon), so the harness owns the process.
 *
 * @example
 * ```ts
 * const cfg = haproxyConfig({ port: 18082, upstreamPort: 18080 });
 * ```
 */
export function haproxyConfig(o: HaproxyOptions): string {
  const maxconn = o.maxconn ?? 8192;
  const timeouts = Object.entries({ ...DEFAULT_TIMEOUTS, ...o.timeouts })
    .map(([name, value]) => `  timeout ${name} ${value}`).join("\n");
  const ports = typeof o.upstreamPort === "number" ? [o.upstreamPort] : o.upstreamPort;
  const params = o.serverParameters ? ` ${o.serverParameters}` : "";
  const servers = ports
    .map((p, i) => `  server backend${i + 1} 127.0.0.1:${p} maxconn ${maxconn}${params}`)
    .join("\n");
  const extra = (o.backendDirectives ?? []).map((d) => `  ${d}\n`).join("");
  return `global
  nbthread 1
  maxconn ${maxconn}

defaults
  mode http
  option http-keep-alive
  # Reuse idle backend connections across client connections, like nginx's
  # upstream keepalive pool.
  http-reuse always
${timeouts}

frontend bench_in
  bind 127.0.0.1:${o.port}
  maxconn ${maxconn}
  # A request id per request (process, time, request counter), to the
  # backend and back to the client, as Gatehouse's.
  unique-id-format %{+X}o%pid-%Ts-%rt
  http-request set-header X-Request-Id %[unique-id]
  http-response set-header X-Request-Id %[unique-id]
  default_backend bench_backend

backend bench_backend
  # The forwarding headers Gatehouse sets on every request, so that both
  # proxies do the same work and the backend parses the same head.
  option forwardfor
  http-request set-header X-Real-IP %[src]
  http-request set-header X-Forwarded-Proto http
  http-request set-header X-Forwarded-Host %[req.hdr(host)]
  # Via: this hop after the client's (a field line of its own, which a
  # backend reads as the same list as Gatehouse's one joined line).
  http-request add-header Via "%[req.ver] gatehouse"
${extra}${servers}
`;
}
