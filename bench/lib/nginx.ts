/**
 * nginx configurations for the benchmark: the backend every proxy forwards
 * to, and nginx as the reference reverse proxy (to one backend, or to
 * several replicas with failover settings for the chaos benchmark). Pure
 * string builders.
 * @module
 */

/** Where one nginx instance keeps its files (all inside the bench out dir). */
export interface NginxFiles {
  /** Prefix directory (`nginx -p`); temp paths live under it. */
  prefix: string;
  /** The pid file. */
  pidFile: string;
  /** The error log. */
  errorLog: string;
  /** Worker user (`user` directive); only meaningful when started as root. */
  user?: string;
}

/** The backend: a fixed small body at `/` and a large file at `/big`. */
export interface NginxBackendOptions extends NginxFiles {
  port: number;
  /** Body served at `/` (the benchmark uses 13 bytes). */
  smallBody: string;
  /** Absolute path of the file served at `/big`. */
  bigFile: string;
}

/** nginx as a keep-alive reverse proxy to the backend. */
export interface NginxProxyOptions extends NginxFiles {
  port: number;
  /** The backend's port, or the ports of several replicas of one upstream. */
  upstreamPort: number | readonly number[];
  /** Appended to every upstream `server` line (e.g. `max_fails=1 fail_timeout=10s`). */
  serverParameters?: string;
  /** More directives for the proxying location (retries, timeouts), each with its `;`. */
  proxyDirectives?: readonly string[];
  /** Write a JSON access log line per request to this file, buffered (else no access log). */
  accessLog?: string;
}

/**
 * nginx's access log as an operator would set it for JSON lines: the fields
 * Gatehouse's `--access-log-format json` writes (nginx's own time and
 * durations), buffered 64 KiB and flushed every second.
 *
 * @example
 * ```ts
 * import { nginxJsonAccessLog } from "./nginx.ts";
 * nginxJsonAccessLog("/tmp/p/access.log").access.includes("buffer=64k flush=1s"); // true
 * ```
 */
export function nginxJsonAccessLog(path: string): { format: string; access: string } {
  const fields = [
    `"time":"$time_iso8601"`,
    `"client":"$remote_addr"`,
    `"method":"$request_method"`,
    `"host":"$host"`,
    `"path":"$request_uri"`,
    `"status":$status`,
    `"bytes_in":$request_length`,
    `"bytes_out":$bytes_sent`,
    `"duration_s":$request_time`,
    `"upstream":"$upstream_addr"`,
    `"upstream_status":"$upstream_status"`,
    `"request_id":"$request_id"`,
  ];
  return {
    format: `  log_format json_lines escape=json '{${fields.join(",")}}';`,
    access: `    access_log ${path} json_lines buffer=64k flush=1s;`,
  };
}

/** How the main context runs nginx. */
export interface NginxMainOptions {
  /**
   * One process and no master (`master_process off`): a signal to the pid
   * the harness started reaches the process that serves, so SIGSTOP freezes
   * and SIGKILL ends the whole server.
   */
  singleProcess?: boolean;
  /** Absolute paths of dynamic modules to load (`load_module`). */
  modules?: readonly string[];
}

/**
 * The main-context lines: one worker in the foreground, pid and error log in
 * the instance's files, room for thousands of connections.
 *
 * @example
 * ```ts
 * import { nginxMainContext } from "./nginx.ts";
 * const files = { prefix: "/tmp/r", pidFile: "/tmp/r/nginx.pid", errorLog: "/tmp/r/error.log" };
 * nginxMainContext(files, { singleProcess: true }).includes("master_process off;"); // true
 * ```
 */
export function nginxMainContext(files: NginxFiles, o: NginxMainOptions = {}): string {
  return [
    // load_module must come before the directives of the module it loads.
    ...(o.modules ?? []).map((m) => `load_module ${m};`),
    ...(files.user ? [`user ${files.user};`] : []),
    "worker_processes 1;",
    "daemon off;",
    `master_process ${o.singleProcess ? "off" : "on"};`,
    `pid ${files.pidFile};`,
    `error_log ${files.errorLog} warn;`,
    // Enough for -c500 clients plus one upstream connection each.
    "worker_rlimit_nofile 16384;",
    "events { worker_connections 8192; multi_accept on; }",
  ].join("\n");
}

/**
 * The http-context lines every configuration shares: no logging, long
 * keep-alive, temp files inside the prefix.
 *
 * @example
 * ```ts
 * import { nginxHttpCommon } from "./nginx.ts";
 * const files = { prefix: "/tmp/r", pidFile: "/tmp/r/nginx.pid", errorLog: "/tmp/r/error.log" };
 * nginxHttpCommon(files).includes("access_log off;"); // true
 * ```
 */
export function nginxHttpCommon(files: NginxFiles): string {
  const p = files.prefix;
  return [
    "  access_log off;",
    // The default (1000) would close client connections mid-run; the other
    // proxies have no such limit.
    "  keepalive_requests 1000000;",
    "  keepalive_timeout 65s;",
    "  tcp_nodelay on;",
    `  client_body_temp_path ${p}/client_body;`,
    `  proxy_temp_path ${p}/proxy;`,
    `  fastcgi_temp_path ${p}/fastcgi;`,
    `  uwsgi_temp_path ${p}/uwsgi;`,
    `  scgi_temp_path ${p}/scgi;`,
  ].join("\n");
}

/**
 * A string as a double-quoted nginx config literal (nginx reads `\n` in one
 * as a newline).
 *
 * @example
 * ```ts
 * nginxString('say "hi"\n'); // '"say \\"hi\\"\\n"'
 * ```
 */
export function nginxString(s: string): string {
  return `"${s.replaceAll("\\", "\\\\").replaceAll('"', '\\"').replaceAll("\n", "\\n")}"`;
}

/**
 * The backend's nginx.conf.
 *
 * @example
 * ```ts
 * const conf = nginxBackendConfig({
 *   prefix: "/tmp/b", pidFile: "/tmp/b/nginx.pid", errorLog: "/tmp/b/error.log",
 *   port: 18080, smallBody: "hello, world\n", bigFile: "/tmp/b/big.bin",
 * });
 * ```
 */
export function nginxBackendConfig(o: NginxBackendOptions): string {
  if (o.smallBody.includes("$")) throw new RangeError("smallBody must not contain '$'");
  return `${nginxMainContext(o)}
http {
${nginxHttpCommon(o)}
  sendfile on;
  tcp_nopush on;
  server {
    listen 127.0.0.1:${o.port} backlog=4096;
    location = / {
      default_type text/plain;
      return 200 ${nginxString(o.smallBody)};
    }
    location = /big {
      default_type application/octet-stream;
      alias ${o.bigFile};
    }
  }
}
`;
}

/**
 * The reference proxy's nginx.conf: one worker, an upstream keep-alive pool
 * of 64 (over one backend or several replicas), HTTP/1.1 to the backend and the forwarding headers an ingress sets
 * (the client's Host, X-Forwarded-For appended to, X-Real-IP,
 * X-Forwarded-Proto, X-Forwarded-Host, Via appended to, and a request id
 * made per request, sent as X-Request-Id and returned to the client), as an
 * operator would configure it.
 *
 * @example
 * ```ts
 * const conf = nginxProxyConfig({
 *   prefix: "/tmp/p", pidFile: "/tmp/p/nginx.pid", errorLog: "/tmp/p/error.log",
 *   port: 18081, upstreamPort: 18080,
 * });
 * ```
 */
export function nginxProxyConfig(o: NginxProxyOptions): string {
  const ports = typeof o.upstreamPort === "number" ? [o.upstreamPort] : o.upstreamPort;
  const params = o.serverParameters ? ` ${o.serverParameters}` : "";
  const servers = ports.map((p) => `    server 127.0.0.1:${p}${params};`).join("\n");
  const extra = (o.proxyDirectives ?? []).map((d) => `\n      ${d}`).join("");
  const log = o.accessLog === undefined ? null : nginxJsonAccessLog(o.accessLog);
  return `${nginxMainContext(o)}
http {
${nginxHttpCommon(o)}${log === null ? "" : `\n${log.format}`}
  # Via as Gatehouse appends it: the version the request arrived with, the
  # pseudonym, after the client's own Via if it sent one.
  map $server_protocol $via_version {
    "HTTP/1.0" "1.0";
    default "1.1";
  }
  map $http_via $via_out {
    "" "\${via_version} gatehouse";
    default "\${http_via}, \${via_version} gatehouse";
  }
  upstream backend {
${servers}
    keepalive 64;
    keepalive_requests 1000000;
  }
  server {
    listen 127.0.0.1:${o.port} backlog=4096;${log === null ? "" : `\n${log.access}`}
    location / {
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      # The forwarding headers Gatehouse sets on every request, so that both
      # proxies do the same work and the backend parses the same head.
      proxy_set_header Host $http_host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Real-IP $remote_addr;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_set_header X-Forwarded-Host $http_host;
      proxy_set_header Via $via_out;
      # A request id per request (nginx's own: 32 random hex digits), to the
      # backend and back to the client in place of any the backend sets.
      proxy_set_header X-Request-Id $request_id;
      proxy_hide_header X-Request-Id;
      add_header X-Request-Id $request_id always;
      # Stream large bodies through memory buffers rather than spooling them
      # to a temp file, which is what the other proxies do too.
      proxy_max_temp_file_size 0;${extra}
    }
  }
}
`;
}
