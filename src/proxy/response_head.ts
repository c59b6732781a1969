/**
 * The relay phase's head: what a client receives. Hop-by-hop fields removed,
 * Connection set to what the ingress will do with the client connection,
 * Transfer-Encoding dropped for an HTTP/1.0 client (the body is then sent
 * dechunked), never both Transfer-Encoding and Content-Length, and the
 * request's id as X-Request-Id (the one the backend was sent, in place of
 * any the backend sets). No Via: see README, "What a request goes through".
 *
 * @module
 */

import { FIELD_STRIDE, type HeadScan } from "../http1/head.ts";
import { FIELD } from "../http1/fields.ts";
import type { ConnectionTokens } from "../http1/connection_tokens.ts";
import { type HeadSpace, headWriter } from "../http1/head_writer.ts";
import type { RequestId } from "./request_id.ts";

const HTTP11 = "HTTP/1.1";

/**
 * Build the response head sent to the client from the backend's scanned
 * head: hop-by-hop fields removed, Connection set to what the ingress will do
 * with the client connection, X-Request-Id set to `requestId` when not null
 * (null passes the backend's fields). `body[start, end)`, when given, is appended
 * so head and body leave in one write. The bytes are written into `space`
 * when given, as {@link upstreamHeadBytes} does.
 *
 * @example
 * ```ts
 * import { downstreamHeadBytes } from "./response_head.ts";
 * import { HeadScan, scanResponseHead } from "../http1/head.ts";
 * import { ConnectionTokens } from "../http1/connection_tokens.ts";
 * const scan = new HeadScan();
 * const bytes = new TextEncoder().encode("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
 * scanResponseHead(bytes, 0, bytes.length, { maxSize: 65536 }, scan);
 * downstreamHeadBytes(scan, new ConnectionTokens().read(scan), "close", null, null);
 * ```
 */
export function downstreamHeadBytes(
  scan: HeadScan,
  conn: ConnectionTokens,
  connection: "close" | "keep-alive" | "upgrade" | null,
  upgrade: string | null,
  requestId: RequestId | null,
  dropTransferEncoding = false,
  body?: Uint8Array,
  bodyStart = 0,
  bodyEnd = 0,
  space?: HeadSpace,
): Uint8Array {
  const buf = scan.buf;
  const f = scan.fields;
  const rs = scan.from, re = scan.lineEnd;
  let chunked = false;
  for (let i = 0, o = 5; i < scan.count; i++, o += FIELD_STRIDE) {
    if (f[o] === FIELD.TRANSFER_ENCODING) chunked = true;
  }
  // "HTTP/1.1 " + status + " " + reason
  let size = 9 + 3 + 1 + (re > rs + 13 ? re - rs - 13 : 0) + 2;
  for (let pass = 0; pass < 2; pass++) {
    // Pass 0 sizes, pass 1 writes: the same decisions both times.
    const w = pass === 1 ? headWriter.begin(size + (body ? bodyEnd - bodyStart : 0), space) : null;
    if (w !== null) {
      w.text(HTTP11);
      w.bytes(buf, rs + 8, rs + 12);
      w.out[w.o++] = 0x20;
      if (re > rs + 13) w.bytes(buf, rs + 13, re);
      w.crlf();
    }
    for (let i = 0, o = 0; i < scan.count; i++, o += FIELD_STRIDE) {
      const id = f[o + 5];
      if (conn.drops(scan, i)) continue;
      if (dropTransferEncoding && id === FIELD.TRANSFER_ENCODING) continue;
      // Transfer-Encoding overrides Content-Length; never send a client both (RFC 9112 6.3).
      if (chunked && id === FIELD.CONTENT_LENGTH) continue;
      // The request's id is the one the backend was sent; a different one would mislead.
      if (id === FIELD.X_REQUEST_ID && requestId !== null) continue;
      if (w === null) size += f[o + 4] - f[o] + 2;
      else {
        w.bytes(buf, f[o], f[o + 4]);
        w.crlf();
      }
    }
    if (w === null) {
      if (requestId !== null) size += 14 + requestId.length + 2;
      if (connection === "upgrade") size += 21 + 9 + (upgrade ?? "").length + 2;
      else if (connection !== null) size += 12 + connection.length + 2;
      size += 2;
      continue;
    }
    if (requestId !== null) {
      w.text("X-Request-Id: ");
      w.bytes(requestId.bytes, 0, requestId.length);
      w.crlf();
    }
    if (connection === "upgrade") {
      w.text("Connection: upgrade\r\nUpgrade: ");
      w.text(upgrade ?? "");
      w.crlf();
    } else if (connection !== null) {
      w.text("Connection: ");
      w.text(connection);
      w.crlf();
    }
    w.crlf();
    if (body) w.bytes(body, bodyStart, bodyEnd);
    return w.finish();
  }
  throw new Error("unreachable");
}
