/**
 * The header field names the engine acts on (Host, Content-Length,
 * Connection, the forwarding headers, ...), recognized from bytes without
 * allocating, as small integer ids.
 *
 * @module
 */

/** Id of a field name the engine looks at; 0 for any other name. */
export type FieldId = number;

/** `FIELD.HOST` etc.: ids of the names in {@link FIELD_NAMES}. */
export const FIELD = {
  OTHER: 0,
  HOST: 1,
  CONTENT_LENGTH: 2,
  TRANSFER_ENCODING: 3,
  CONNECTION: 4,
  UPGRADE: 5,
  KEEP_ALIVE: 6,
  PROXY_CONNECTION: 7,
  TE: 8,
  TRAILER: 9,
  PROXY_AUTHENTICATE: 10,
  PROXY_AUTHORIZATION: 11,
  X_FORWARDED_FOR: 12,
  X_REAL_IP: 13,
  X_FORWARDED_PROTO: 14,
  X_FORWARDED_HOST: 15,
  /** Common names without meaning to the engine: interned so they cost no allocation. */
  CONTENT_TYPE: 16,
  DATE: 17,
  SERVER: 18,
  USER_AGENT: 19,
  ACCEPT: 20,
  /** Appended to when forwarding a request. */
  VIA: 21,
  /** Set by the ingress on requests and responses. */
  X_REQUEST_ID: 22,
  /** Starts the request body clock at the 100 Continue. */
  EXPECT: 23,
  /** Read for the access log's combined format. */
  REFERER: 24,
} as const;

/** Lower-case name of each {@link FIELD} id (index = id). */
export const FIELD_NAMES: readonly string[] = [
  "",
  "host",
  "content-length",
  "transfer-encoding",
  "connection",
  "upgrade",
  "keep-alive",
  "proxy-connection",
  "te",
  "trailer",
  "proxy-authenticate",
  "proxy-authorization",
  "x-forwarded-for",
  "x-real-ip",
  "x-forwarded-proto",
  "x-forwarded-host",
  "content-type",
  "date",
  "server",
  "user-agent",
  "accept",
  "via",
  "x-request-id",
  "expect",
  "referer",
];

/** Known names by length: ids to compare against a name of that length. */
const BY_LENGTH: number[][] = [];
const NAME_BYTES: Uint8Array[] = FIELD_NAMES.map((n) => {
  const b = new Uint8Array(n.length);
  for (let i = 0; i < n.length; i++) b[i] = n.charCodeAt(i);
  return b;
});
for (let id = 1; id < FIELD_NAMES.length; id++) {
  (BY_LENGTH[FIELD_NAMES[id].length] ??= []).push(id);
}

/**
 * The id of the field name in buf[start, end), compared without regard to
 * case. Known names are lower-case letters and "-", for which `b | 0x20` is an
 * exact case fold (no other tchar folds onto them).
 *
 * @example
 * ```ts
 * import { FIELD, fieldId } from "./fields.ts";
 * fieldId(new TextEncoder().encode("Content-Length"), 0, 14) === FIELD.CONTENT_LENGTH; // true
 * ```
 */
export function fieldId(buf: Uint8Array, start: number, end: number): FieldId {
  const ids = BY_LENGTH[end - start];
  if (ids === undefined) return 0;
  for (let k = 0; k < ids.length; k++) {
    const name = NAME_BYTES[ids[k]];
    let i = 0;
    while (i < name.length && (buf[start + i] | 0x20) === name[i]) i++;
    if (i === name.length) return ids[k];
  }
  return 0;
}

/**
 * ASCII letters lower-cased, other characters as they are.
 *
 * @example
 * ```ts
 * import { lowerAscii } from "./fields.ts";
 * lowerAscii("X-Custom"); // "x-custom"
 * ```
 */
export function lowerAscii(s: string): string {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 65 && c <= 90) return s.toLowerCase();
  }
  return s;
}
