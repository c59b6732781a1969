/**
 * The read-head phase's checks: what a scanned request head says that the
 * ingress acts on (framing, target, Host, Connection, Upgrade), and the
 * requests it refuses before routing (bad framing, a target it cannot
 * route, CONNECT, a missing, repeated or invalid Host).
 *
 * @module
 */

import { type Framing, requestFramingOf } from "../http1/framing.ts";
import { FIELD_STRIDE, type HeadScan } from "../http1/head.ts";
import { FIELD } from "../http1/fields.ts";
import { ConnectionTokens } from "../http1/connection_tokens.ts";
import { parseTarget, type Target } from "../routing/path.ts";
import { isValidAuthority } from "../net/address.ts";
import type { ProxyError } from "./errors.ts";

/**
 * What the ingress read from one request head. One instance is reused from
 * request to request (like the scan it is read from): read it before the
 * next head is scanned.
 */
export interface IncomingRequest {
  method: string;
  /** The request-target as sent. */
  target: string;
  /** The client's HTTP minor version. */
  minor: number;
  framing: Framing;
  /**
   * The host the request is routed by: the target's authority, else Host,
   * else "" (an HTTP/1.0 request without Host: routed by host-less routes).
   * Always one valid `host[:port]` when not "" ({@link isValidAuthority}).
   */
  host: string;
  /** The normalized path and the query, as routes and backends see them. */
  url: Target;
  /** The head's Connection tokens. */
  tokens: ConnectionTokens;
  /** The protocol the client asks to switch to (Upgrade with Connection: upgrade), or null. */
  upgrade: string | null;
  /** The client asked that the connection close after this request. */
  close: boolean;
  /** `Expect: 100-continue`: the client waits for a 100 before it sends the body. */
  expectContinue: boolean;
}

/**
 * Read `scan` into `out`; returns why the request is refused, or null.
 * `out.method` and `out.target` are set even then (for the answer and the
 * access log).
 *
 * @example
 * ```ts
 * import { newIncomingRequest, readRequest } from "./request_head.ts";
 * import { HeadScan, scanRequestHead } from "../http1/head.ts";
 * const scan = new HeadScan();
 * const bytes = new TextEncoder().encode("GET /a?b HTTP/1.1\r\nHost: x\r\n\r\n");
 * scanRequestHead(bytes, 0, bytes.length, { maxSize: 32768 }, scan);
 * const req = newIncomingRequest();
 * readRequest(scan, req); // null; req.host === "x", req.url.path === "/a"
 * ```
 */
export function readRequest(scan: HeadScan, out: IncomingRequest): ProxyError | null {
  out.method = scan.method();
  out.target = scan.target();
  out.minor = scan.minor;
  const framing = requestFramingOf(scan);
  if (framing.kind === "error") return { kind: "BadRequest", reason: framing.reason };
  out.framing = framing;
  if (parseTarget(out.target, out.url) === null) {
    return { kind: "BadRequest", reason: "invalid request target" };
  }
  if (out.method === "CONNECT") return { kind: "BadRequest", reason: "CONNECT is not supported" };
  let hostAt = -1;
  let hosts = 0;
  let upgradeAt = -1;
  let expectAt = -1;
  const f = scan.fields;
  for (let i = 0, o = 5; i < scan.count; i++, o += FIELD_STRIDE) {
    if (f[o] === FIELD.HOST) {
      hostAt = i;
      hosts++;
    } else if (f[o] === FIELD.UPGRADE) upgradeAt = i;
    else if (f[o] === FIELD.EXPECT) expectAt = i;
  }
  if (hosts > 1) return { kind: "BadRequest", reason: "more than one Host header" };
  if (hosts === 0 && scan.minor === 1) return { kind: "BadRequest", reason: "missing Host header" };
  // What the request names is routed by and handed on: a list, a path or userinfo
  // smuggled into it would mean one thing here and another to the backend.
  const authority = out.url.authority;
  if (authority !== "" && !isValidAuthority(authority)) {
    return { kind: "BadRequest", reason: "invalid host in the request target" };
  }
  const host = hostAt >= 0 ? scan.value(hostAt) : "";
  if (hostAt >= 0 && !isValidHost(host)) {
    return { kind: "BadRequest", reason: "invalid Host header" };
  }
  out.host = authority !== "" ? authority : host;
  const tokens = out.tokens.read(scan);
  out.close = tokens.close || (scan.minor === 0 && !tokens.keepAlive);
  out.upgrade = upgradeAt >= 0 && tokens.upgrade ? scan.value(upgradeAt) : null;
  out.expectContinue = expectAt >= 0 && scan.value(expectAt).toLowerCase() === "100-continue";
  return null;
}

/** The last Host value found valid (never ""). */
let validHost = "\n";

/**
 * {@link isValidAuthority} for a Host value: clients send the same Host
 * request after request (and the scan hands out the same text for the same
 * bytes), so the last one found valid is not checked again.
 */
function isValidHost(host: string): boolean {
  if (host === validHost) return true;
  if (!isValidAuthority(host)) return false;
  validHost = host;
  return true;
}

/**
 * An empty {@link IncomingRequest} to read heads into.
 *
 * @example
 * ```ts
 * import { newIncomingRequest } from "./request_head.ts";
 * const req = newIncomingRequest(); // req.method === ""
 * ```
 */
export function newIncomingRequest(): IncomingRequest {
  return {
    method: "",
    target: "",
    minor: 1,
    framing: { kind: "none" },
    host: "",
    url: { path: "", query: "", authority: "" },
    tokens: new ConnectionTokens(),
    upgrade: null,
    close: false,
    expectContinue: false,
  };
}
