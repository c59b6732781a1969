/**
 * The forward phase's head: what a backend receives. Always HTTP/1.1 and
 * persistent; hop-by-hop fields removed; Host set to the host the request
 * was routed by (for an HTTP/1.0 request that names none, the address the
 * client connected to: HTTP/1.1 requires a Host); X-Forwarded-For,
 * X-Real-IP, X-Forwarded-Proto and X-Forwarded-Host set from what the
 * ingress itself saw; the ingress appended to Via (RFC 9110 7.6.3); the
 * request's id as X-Request-Id (the client's own only when it is the id, see
 * request_id.ts).
 *
 * A client's own X-Real-IP / X-Forwarded-Proto / X-Forwarded-Host are only
 * kept when the peer is a trusted proxy; X-Forwarded-For is always appended
 * to (the peer is added last, so a backend reading the last entry is safe).
 * The field lines that pass are copied from the bytes received, so nothing
 * is decoded or encoded on the way through.
 *
 * @module
 */

import { FIELD_STRIDE, type HeadScan } from "../http1/head.ts";
import { FIELD } from "../http1/fields.ts";
import type { ConnectionTokens } from "../http1/connection_tokens.ts";
import { type HeadSpace, headWriter } from "../http1/head_writer.ts";
import { formatHostPort } from "../net/address.ts";
import type { Socket } from "../runtime/types.ts";
import type { RequestId } from "./request_id.ts";
import type { IncomingRequest } from "./request_head.ts";
import { KeptBuffer } from "./kept_buffer.ts";
import type { HeadEdits } from "./header_edits.ts";
import type { Target } from "../routing/path.ts";

/** What the ingress knows about the client side of a request. */
export interface ClientInfo {
  /** Immediate peer address. */
  peer: string;
  /** "http" or "https". */
  proto: string;
  /** Whether the peer is a trusted proxy whose forwarding headers stand. */
  trusted: boolean;
  /**
   * The address the client connected to, `host:port` (IPv6 in brackets):
   * the Host sent for a request that names no host.
   */
  readonly local: string;
  /**
   * Via's received-by for this listener's requests (a pseudonym, `--via`),
   * or null: no Via is added and a client's Via passes as it came.
   */
  readonly via: string | null;
}

/** A connection's {@link ClientInfo}; `local` is read from the socket only when a request needs it. */
class SocketClientInfo implements ClientInfo {
  readonly peer: string;
  readonly proto: string;
  readonly trusted: boolean;
  readonly via: string | null;
  readonly #socket: Socket;
  #local = "";

  constructor(socket: Socket, proto: string, trusted: boolean, via: string | null) {
    this.peer = socket.remoteAddress;
    this.proto = proto;
    this.trusted = trusted;
    this.via = via;
    this.#socket = socket;
  }

  get local(): string {
    if (this.#local === "") {
      const s = this.#socket;
      this.#local = formatHostPort(s.localAddress, s.localPort);
    }
    return this.#local;
  }
}

/**
 * The {@link ClientInfo} of an accepted client socket, built once per
 * connection.
 *
 * @example
 * ```ts
 * import { clientInfoOf } from "./forwarded.ts";
 * import type { Socket } from "../runtime/types.ts";
 * declare const socket: Socket;
 * const info = clientInfoOf(socket, "http", false, "gatehouse");
 * info.local; // e.g. "[::1]:9090"
 * ```
 */
export function clientInfoOf(
  socket: Socket,
  proto: string,
  trusted: boolean,
  via: string | null,
): ClientInfo {
  return new SocketClientInfo(socket, proto, trusted, via);
}

const HTTP11 = "HTTP/1.1";

/**
 * Build the request head sent to the backend (always HTTP/1.1, persistent),
 * from the client's scanned head. `conn` holds that head's Connection tokens.
 * `requestId`, when not null, is sent as the one X-Request-Id (the client's
 * fields are dropped; null passes them). The head is written into `space` when
 * given (a caller can hand out a view of a buffer it reuses), else into a
 * new array.
 *
 * @example
 * ```ts
 * import { upstreamHeadBytes } from "./forwarded.ts";
 * import { HeadScan, scanRequestHead } from "../http1/head.ts";
 * import { ConnectionTokens } from "../http1/connection_tokens.ts";
 * const scan = new HeadScan();
 * const bytes = new TextEncoder().encode("GET /x HTTP/1.1\r\nHost: example.com\r\n\r\n");
 * scanRequestHead(bytes, 0, bytes.length, { maxSize: 32768 }, scan);
 * const info = {
 *   peer: "10.0.0.9", proto: "http", trusted: false, local: "10.0.0.1:9090", via: "gatehouse",
 * };
 * const tokens = new ConnectionTokens().read(scan);
 * upstreamHeadBytes(scan, tokens, "GET", "/x", "example.com", info, null, null);
 * ```
 */
export function upstreamHeadBytes(
  scan: HeadScan,
  conn: ConnectionTokens,
  method: string,
  target: string,
  host: string,
  info: ClientInfo,
  upgrade: string | null,
  requestId: RequestId | null,
  space?: HeadSpace,
): Uint8Array {
  const buf = scan.buf;
  const f = scan.fields;
  // Pass 1: what goes out, and how long it is.
  let size = method.length + 1 + target.length + 1 + HTTP11.length + 2;
  let xffBytes = 0; // client X-Forwarded-For values, joined as joinValues writes them
  let xffStarted = false;
  const via = info.via;
  let viaBytes = 0; // client Via values, joined the same way
  let viaStarted = false;
  let realIp = -1, proto = -1, fwdHost = -1; // trusted client values (field index)
  let hostAt = -1; // index of the Host field whose place the routed host takes
  for (let i = 0, o = 0; i < scan.count; i++, o += FIELD_STRIDE) {
    if (conn.drops(scan, i)) continue;
    const id = f[o + 5];
    const valueLength = f[o + 3] - f[o + 2];
    if (id === FIELD.X_FORWARDED_FOR) {
      // Empty values before the first non-empty one add nothing; later ones add ", ".
      if (xffStarted) xffBytes += 2 + valueLength;
      else if (valueLength > 0) {
        xffBytes = valueLength;
        xffStarted = true;
      }
    } else if (id === FIELD.VIA && via !== null) {
      if (viaStarted) viaBytes += 2 + valueLength;
      else if (valueLength > 0) {
        viaBytes = valueLength;
        viaStarted = true;
      }
    } else if (id === FIELD.X_REAL_IP) {
      if (info.trusted && realIp < 0 && valueLength > 0) realIp = i;
    } else if (id === FIELD.X_FORWARDED_PROTO) {
      if (info.trusted && proto < 0 && valueLength > 0) proto = i;
    } else if (id === FIELD.X_FORWARDED_HOST) {
      if (info.trusted && fwdHost < 0 && valueLength > 0) fwdHost = i;
    } else if (id === FIELD.HOST) {
      if (hostAt < 0) hostAt = i;
    } else if (id !== FIELD.X_REQUEST_ID || requestId === null) size += f[o + 4] - f[o] + 2;
  }
  // A request that names no host (HTTP/1.0) is still sent one: the address it came in on.
  const sentHost = host !== "" ? host : info.local;
  size += 6 + sentHost.length + 2; // "Host: " + host + CRLF
  const peer = info.peer;
  size += 17 + (xffStarted ? xffBytes + 2 : 0) + peer.length + 2; // X-Forwarded-For
  size += 11 + (realIp >= 0 ? valueLength(f, realIp) : peer.length) + 2; // X-Real-IP
  size += 19 + (proto >= 0 ? valueLength(f, proto) : info.proto.length) + 2; // X-Forwarded-Proto
  if (fwdHost >= 0) size += 18 + valueLength(f, fwdHost) + 2;
  else if (host !== "") size += 18 + host.length + 2;
  // "Via: " + client values + ", " + "1.x " + received-by + CRLF
  if (via !== null) size += 5 + (viaStarted ? viaBytes + 2 : 0) + 4 + via.length + 2;
  if (requestId !== null) size += 14 + requestId.length + 2; // "X-Request-Id: " + id + CRLF
  if (upgrade !== null) size += 21 + 9 + upgrade.length + 2;
  size += 2;
  // Pass 2: write it.
  const w = headWriter.begin(size, space);
  w.text(method);
  w.out[w.o++] = 0x20;
  w.text(target);
  w.out[w.o++] = 0x20;
  w.text(HTTP11);
  w.crlf();
  let wroteHost = false;
  for (let i = 0, o = 0; i < scan.count; i++, o += FIELD_STRIDE) {
    const id = f[o + 5];
    if (
      id === FIELD.X_FORWARDED_FOR || id === FIELD.X_REAL_IP || id === FIELD.X_FORWARDED_PROTO ||
      id === FIELD.X_FORWARDED_HOST || (id === FIELD.VIA && via !== null) ||
      (id === FIELD.X_REQUEST_ID && requestId !== null) || conn.drops(scan, i)
    ) continue;
    if (id === FIELD.HOST) {
      // The host the request was routed by, in the Host field's place: for an
      // absolute-form target that is its authority, not the field (RFC 9112 3.2.2).
      if (i === hostAt) {
        w.text("Host: ");
        w.text(sentHost);
        w.crlf();
        wroteHost = true;
      }
      continue;
    }
    w.bytes(buf, f[o], f[o + 4]);
    w.crlf();
  }
  if (!wroteHost) {
    w.text("Host: ");
    w.text(sentHost);
    w.crlf();
  }
  w.text("X-Forwarded-For: ");
  if (xffStarted) joinValues(scan, conn, FIELD.X_FORWARDED_FOR);
  w.text(peer);
  w.crlf();
  w.text("X-Real-IP: ");
  if (realIp >= 0) w.bytes(buf, f[realIp * FIELD_STRIDE + 2], f[realIp * FIELD_STRIDE + 3]);
  else w.text(peer);
  w.crlf();
  w.text("X-Forwarded-Proto: ");
  if (proto >= 0) w.bytes(buf, f[proto * FIELD_STRIDE + 2], f[proto * FIELD_STRIDE + 3]);
  else w.text(info.proto);
  w.crlf();
  if (fwdHost >= 0 || host !== "") {
    w.text("X-Forwarded-Host: ");
    if (fwdHost >= 0) w.bytes(buf, f[fwdHost * FIELD_STRIDE + 2], f[fwdHost * FIELD_STRIDE + 3]);
    else w.text(host);
    w.crlf();
  }
  if (via !== null) {
    // The version the request arrived with (RFC 9110 7.6.3), this hop last.
    w.text("Via: ");
    if (viaStarted) joinValues(scan, conn, FIELD.VIA);
    w.text(scan.minor === 0 ? "1.0 " : "1.1 ");
    w.text(via);
    w.crlf();
  }
  if (requestId !== null) {
    w.text("X-Request-Id: ");
    w.bytes(requestId.bytes, 0, requestId.length);
    w.crlf();
  }
  if (upgrade !== null) {
    w.text("Connection: upgrade\r\nUpgrade: ");
    w.text(upgrade);
    w.crlf();
  }
  w.crlf();
  return w.finish();
}

/**
 * Write the values of the fields `id` that pass (dropping empty ones before
 * the first non-empty one), joined by ", ", and a ", " to append to.
 */
function joinValues(scan: HeadScan, conn: ConnectionTokens, id: number): void {
  const w = headWriter;
  const f = scan.fields;
  let started = false;
  for (let i = 0, o = 0; i < scan.count; i++, o += FIELD_STRIDE) {
    if (f[o + 5] !== id || conn.drops(scan, i)) continue;
    if (started) w.text(", ");
    else if (f[o + 3] === f[o + 2]) continue;
    started = true;
    w.bytes(scan.buf, f[o + 2], f[o + 3]);
  }
  w.text(", ");
}

function valueLength(f: Int32Array, i: number): number {
  return f[i * FIELD_STRIDE + 3] - f[i * FIELD_STRIDE + 2];
}

/**
 * A route's changes to the head a backend gets (request_rules.ts): the
 * target in place of the one received, and field edits made after the
 * ingress's own fields are written.
 */
export interface RequestRewrite {
  /** The request-target to send for `url` (a path, not "*"). */
  target(url: Target): string;
  /** Edits to the finished head, or null. */
  readonly edits: HeadEdits | null;
}

const NO_HEAD = new Uint8Array(0);
/** Heads up to this size are built in a buffer the forward head keeps. */
const MAX_KEPT_HEAD = 16 * 1024;

/**
 * One exchange's forward head: built once per request, while the scan is
 * that request's, and sent again on a retry. It is built into a buffer kept
 * from request to request; reusing it is safe because a request ends only
 * after its backend took the whole head (the response answers it) or after
 * that backend socket was closed (which drops what it had queued).
 *
 * @example
 * ```ts
 * import { ForwardHead } from "./forwarded.ts";
 * import { newIncomingRequest, readRequest } from "./request_head.ts";
 * import { HeadScan, scanRequestHead } from "../http1/head.ts";
 * const scan = new HeadScan();
 * const bytes = new TextEncoder().encode("GET /x HTTP/1.1\r\nHost: example.com\r\n\r\n");
 * scanRequestHead(bytes, 0, bytes.length, { maxSize: 32768 }, scan);
 * const req = newIncomingRequest();
 * readRequest(scan, req);
 * const head = new ForwardHead();
 * const info = { peer: "10.0.0.9", proto: "http", trusted: false, local: "10.0.0.1:80", via: null };
 * head.build(scan, req, info, null);
 * head.bytes.length > 0; // true
 * ```
 */
export class ForwardHead {
  readonly #space = new KeptBuffer(MAX_KEPT_HEAD, null);
  /** The head to send (empty when none is built). */
  bytes: Uint8Array = NO_HEAD;

  /** Build the head for the request read into `req` from `scan`, changed by `rewrite` if given. */
  build(
    scan: HeadScan,
    req: IncomingRequest,
    info: ClientInfo,
    id: RequestId | null,
    rewrite: RequestRewrite | null = null,
  ): void {
    const { url } = req;
    this.bytes = upstreamHeadBytes(
      scan,
      req.tokens,
      req.method,
      url.path === "*" ? "*" : rewrite === null ? url.path + url.query : rewrite.target(url),
      req.host,
      info,
      req.upgrade,
      id,
      this.#space,
    );
    if (rewrite?.edits) this.bytes = rewrite.edits.apply(this.bytes);
  }

  /** The request is over: hold none of its head. */
  letGo(): void {
    this.bytes = NO_HEAD;
  }
}
