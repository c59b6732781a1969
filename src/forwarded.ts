/**
 * The head a backend receives: hop-by-hop headers removed, X-Forwarded-* and
 * X-Real-IP set from what the ingress itself saw.
 *
 * A client's own X-Real-IP / X-Forwarded-Proto / X-Forwarded-Host are only
 * kept when the peer is a trusted proxy; X-Forwarded-For is always appended
 * to (the peer is added last, so a backend reading the last entry is safe).
 *
 * @module
 */

import type { Field, ResponseHead } from "./http1/head.ts";

/** Headers that describe one connection, never forwarded (RFC 9110 7.6.1). */
const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "te",
  "trailer",
  "upgrade",
  "proxy-authenticate",
  "proxy-authorization",
]);

/** Framing and routing fields a Connection header may never remove (that would desync framing). */
const PROTECTED = new Set(["content-length", "transfer-encoding", "host"]);

/** True when the field must not be forwarded: hop-by-hop, or named in Connection. */
function isHopByHop(name: string, tokens: Set<string> | null): boolean {
  return HOP_BY_HOP.has(name) || (tokens !== null && tokens.has(name) && !PROTECTED.has(name));
}

/** What the ingress knows about the client side of a request. */
export interface ClientInfo {
  /** Immediate peer address. */
  peer: string;
  /** "http" or "https". */
  proto: string;
  /** Whether the peer is a trusted proxy whose forwarding headers stand. */
  trusted: boolean;
}

/** Names listed in Connection headers (lower case), or null when there are none. */
export function connectionTokens(fields: Field[]): Set<string> | null {
  let tokens: Set<string> | null = null;
  for (let i = 0; i < fields.length; i++) {
    if (fields[i].name !== "connection") continue;
    tokens ??= new Set();
    for (const t of fields[i].value.split(",")) {
      const v = t.trim().toLowerCase();
      if (v) tokens.add(v);
    }
  }
  return tokens;
}

/**
 * Build the request head sent to the backend (always HTTP/1.1, persistent).
 *
 * @example
 * ```ts
 * const text = upstreamRequestHead("GET", "/x", head.fields, "example.com", info, null);
 * ```
 */
export function upstreamRequestHead(
  method: string,
  target: string,
  fields: Field[],
  host: string,
  info: ClientInfo,
  upgrade: string | null,
): string {
  const tokens = connectionTokens(fields);
  let head = method + " " + target + " HTTP/1.1\r\n";
  let xff = "";
  let realIp = "";
  let proto = "";
  let fwdHost = "";
  let wroteHost = false;
  for (let i = 0; i < fields.length; i++) {
    const f = fields[i];
    const name = f.name;
    if (isHopByHop(name, tokens)) continue;
    if (name.charCodeAt(0) === 0x78 /* x */) {
      if (name === "x-forwarded-for") {
        xff = xff === "" ? f.value : xff + ", " + f.value;
        continue;
      }
      if (name === "x-real-ip") {
        if (info.trusted && realIp === "") realIp = f.value;
        continue;
      }
      if (name === "x-forwarded-proto") {
        if (info.trusted && proto === "") proto = f.value;
        continue;
      }
      if (name === "x-forwarded-host") {
        if (info.trusted && fwdHost === "") fwdHost = f.value;
        continue;
      }
    } else if (name === "host") {
      // The host the request was routed by, in the Host field's place: for an
      // absolute-form target that is its authority, not the field (RFC 9112 3.2.2).
      if (!wroteHost && host !== "") head += "Host: " + host + "\r\n";
      wroteHost = true;
      continue;
    }
    head += f.line + "\r\n";
  }
  if (!wroteHost && host !== "") head += "Host: " + host + "\r\n";
  head += "X-Forwarded-For: " + (xff === "" ? info.peer : xff + ", " + info.peer) + "\r\n" +
    "X-Real-IP: " + (realIp || info.peer) + "\r\n" +
    "X-Forwarded-Proto: " + (proto || info.proto) + "\r\n";
  if (fwdHost || host) head += "X-Forwarded-Host: " + (fwdHost || host) + "\r\n";
  if (upgrade !== null) head += "Connection: upgrade\r\nUpgrade: " + upgrade + "\r\n";
  return head + "\r\n";
}

/**
 * Build the response head sent to the client: hop-by-hop headers removed,
 * and Connection set to what the ingress will do with the client connection.
 *
 * @example
 * ```ts
 * const text = downstreamResponseHead(head, "close");
 * ```
 */
export function downstreamResponseHead(
  res: ResponseHead,
  connection: "close" | "keep-alive" | "upgrade" | null,
  upgrade: string | null,
  dropTransferEncoding = false,
): string {
  const tokens = connectionTokens(res.fields);
  let head = "HTTP/1.1 " + res.status + " " + res.reason + "\r\n";
  const fields = res.fields;
  let chunked = false;
  for (let i = 0; i < fields.length; i++) {
    if (fields[i].name === "transfer-encoding") chunked = true;
  }
  for (let i = 0; i < fields.length; i++) {
    const f = fields[i];
    if (isHopByHop(f.name, tokens)) continue;
    if (dropTransferEncoding && f.name === "transfer-encoding") continue;
    // Transfer-Encoding overrides Content-Length; never send a client both (RFC 9112 6.3).
    if (chunked && f.name === "content-length") continue;
    head += f.line + "\r\n";
  }
  if (connection === "upgrade") head += "Connection: upgrade\r\nUpgrade: " + upgrade + "\r\n";
  else if (connection !== null) head += "Connection: " + connection + "\r\n";
  return head + "\r\n";
}
