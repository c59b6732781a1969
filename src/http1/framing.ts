/**
 * Message body framing (RFC 9112 section 6): how long a body is, decided once
 * from the head. Request framing is strict, because an ingress that frames a
 * request differently from its backend is a request-smuggling hole.
 *
 * @module
 */

import type { Field, RequestHead, ResponseHead } from "./head.ts";

/** How a body is delimited. */
export type Framing =
  | { kind: "none" }
  | { kind: "length"; length: number }
  | { kind: "chunked" }
  | { kind: "close" };

/** A framing error: the message cannot be relayed safely. */
export interface FramingError {
  kind: "error";
  reason: string;
}

const NONE: Framing = { kind: "none" };
const CHUNKED: Framing = { kind: "chunked" };
const CLOSE: Framing = { kind: "close" };

/** Parse a Content-Length value: 1*DIGIT, at most 15 digits (safe integer). */
function parseLength(value: string): number {
  if (value.length === 0 || value.length > 15) return -1;
  let n = 0;
  for (let i = 0; i < value.length; i++) {
    const d = value.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return -1;
    n = n * 10 + d;
  }
  return n;
}

/** True when the Transfer-Encoding list ends in "chunked" and chunked appears nowhere else. */
function finalChunked(codings: string[]): boolean {
  const last = codings.length - 1;
  for (let i = 0; i < last; i++) if (codings[i] === "chunked") return false;
  return codings[last] === "chunked";
}

/** Trim spaces and tabs only (String#trim also strips obs-text like U+00A0). */
function trimOws(s: string): string {
  let a = 0, b = s.length;
  while (a < b && (s.charCodeAt(a) === 0x20 || s.charCodeAt(a) === 0x09)) a++;
  while (b > a && (s.charCodeAt(b - 1) === 0x20 || s.charCodeAt(b - 1) === 0x09)) b--;
  return a === 0 && b === s.length ? s : s.slice(a, b);
}

function collect(fields: Field[]): { cl: string[]; te: string[] } {
  const cl: string[] = [];
  const te: string[] = [];
  for (let i = 0; i < fields.length; i++) {
    const f = fields[i];
    if (f.name === "content-length") cl.push(f.value);
    else if (f.name === "transfer-encoding") {
      for (const part of f.value.split(",")) te.push(trimOws(part).toLowerCase());
    }
  }
  return { cl, te };
}

/**
 * Framing of a request body. Rejects Content-Length together with
 * Transfer-Encoding, duplicate or malformed Content-Length, and any
 * Transfer-Encoding whose final coding is not chunked.
 *
 * @example
 * ```ts
 * const framing = requestFraming(head);
 * if (framing.kind === "error") respond(400, framing.reason);
 * ```
 */
export function requestFraming(head: RequestHead): Framing | FramingError {
  const { cl, te } = collect(head.fields);
  if (te.length > 0) {
    if (cl.length > 0) {
      return { kind: "error", reason: "both Content-Length and Transfer-Encoding" };
    }
    if (head.minor === 0) return { kind: "error", reason: "Transfer-Encoding in HTTP/1.0" };
    if (!finalChunked(te)) return { kind: "error", reason: "unsupported Transfer-Encoding" };
    return CHUNKED;
  }
  if (cl.length > 1) return { kind: "error", reason: "duplicate Content-Length" };
  if (cl.length === 1) {
    const n = parseLength(cl[0]);
    if (n < 0) return { kind: "error", reason: "invalid Content-Length" };
    return n === 0 ? NONE : { kind: "length", length: n };
  }
  return NONE;
}

/**
 * Framing of a response body, which depends on the request method and status.
 *
 * @example
 * ```ts
 * const framing = responseFraming("GET", head);
 * ```
 */
export function responseFraming(method: string, head: ResponseHead): Framing | FramingError {
  const s = head.status;
  if (method === "HEAD" || s < 200 || s === 204 || s === 304) return NONE;
  const { cl, te } = collect(head.fields);
  if (te.length > 0) return finalChunked(te) && head.minor === 1 ? CHUNKED : CLOSE;
  if (cl.length > 0) {
    const n = parseLength(cl[0]);
    for (let i = 1; i < cl.length; i++) {
      if (cl[i] !== cl[0]) return { kind: "error", reason: "conflicting Content-Length" };
    }
    if (n < 0) return { kind: "error", reason: "invalid Content-Length" };
    return n === 0 ? NONE : { kind: "length", length: n };
  }
  return CLOSE;
}
