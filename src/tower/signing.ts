/**
 * Signed REGISTER, DEREGISTER, ROUTE and UNROUTE (docs/tower-signing.md,
 * docs/tower-routes.md): the signature's
 * wire form, signing a line, and checking a MAC against the shared secret.
 * Which nonces a Tower has already seen is the guard's to remember.
 *
 * @module
 */

import { builtin } from "../runtime/builtin.ts";
import { syntaxError, type TowerErrorReply } from "./errors.ts";
import {
  formatRequest,
  parseRequest,
  parseRequestFields,
  stripLineEnd,
  type TowerRequest,
} from "./protocol.ts";

/** node:crypto, loaded the first time something is signed or verified. */
function nodeCrypto(): typeof import("node:crypto") {
  return builtin<typeof import("node:crypto")>("node:crypto");
}

/**
 * A signed request is accepted while its timestamp is within this many
 * milliseconds of the Tower's clock (either way): 30 s.
 *
 * @example
 * ```ts
 * import { SIGNATURE_WINDOW_MS } from "./signing.ts";
 * const fresh = (signedAtMs: number) => Math.abs(Date.now() - signedAtMs) <= SIGNATURE_WINDOW_MS;
 * ```
 */
export const SIGNATURE_WINDOW_MS = 30_000;

const UNIX_MS = /^(?:0|[1-9][0-9]{0,15})$/;
const NONCE = /^[A-Za-z0-9_-]{8,64}$/;
const MAC_HEX = /^[0-9A-Fa-f]{64}$/;

const encoder = new TextEncoder();

/**
 * The signature fields of a signed REGISTER, DEREGISTER, ROUTE or UNROUTE.
 *
 * @example
 * ```ts
 * import { readRequest } from "./signing.ts";
 * const line = `REGISTER|web|10.0.0.7|8080|1700000000000|nonce-0001|${"0".repeat(64)}`;
 * readRequest(line).signature?.signedText; // "REGISTER|web|10.0.0.7|8080|1700000000000|nonce-0001"
 * ```
 */
export interface TowerSignature {
  /** The signer's clock when it signed, Unix milliseconds. */
  timestampMs: number;
  /** Single-use token chosen by the signer: 8–64 of `[A-Za-z0-9_-]`. */
  nonce: string;
  /** HMAC-SHA256 of `signedText`, 64 hex digits (lowercase). */
  mac: string;
  /** Exactly what the MAC covers: the request line up to its last "|". */
  signedText: string;
}

/**
 * A parsed datagram: the request (or the ERR to send) and its signature, if signed.
 *
 * @example
 * ```ts
 * import { readRequest, type SignedRequest } from "./signing.ts";
 * const read: SignedRequest = readRequest("LOOKUP|web");
 * // { request: { kind: "LOOKUP", name: "web" } }, no signature
 * ```
 */
export interface SignedRequest {
  request: TowerRequest | TowerErrorReply;
  signature?: TowerSignature;
}

/**
 * Parse a request line that may be signed. Plain lines go through
 * {@link parseRequest} unchanged; a signed one (a 7-field REGISTER or
 * DEREGISTER, 8 for a REGISTER with a weight; a 6-field UNROUTE; a ROUTE of
 * 6 fields or more ending in 64 hex digits) has its request fields parsed
 * the same way and its signature fields checked for form (not for
 * validity: that needs the secret). A signed line with fields of the wrong
 * form is a request the Tower cannot read, so it gets the syntax error
 * like any other.
 *
 * @example
 * ```ts
 * import { readRequest } from "./signing.ts";
 * readRequest("REGISTER|web|10.0.0.7|8080|1700000000000|nonce-0001|xyz");
 * // { request: { kind: "ERR", reason: "REGISTER syntax: name|ip|port" } }
 * ```
 */
export function readRequest(line: string): SignedRequest {
  const text = stripLineEnd(line);
  const fields = text.split("|");
  const kept = signedFieldCount(fields);
  if (kept === undefined) return { request: parseRequestFields(fields) };
  const command = fields[0] as SignedCommand;
  const request = parseRequestFields(fields.slice(0, kept));
  if (request.kind === "ERR") return { request };
  const [timeText, nonce, mac] = fields.slice(-3);
  const timestampMs = Number(timeText);
  if (
    !UNIX_MS.test(timeText) || !Number.isSafeInteger(timestampMs) || !NONCE.test(nonce) ||
    !MAC_HEX.test(mac)
  ) {
    return { request: syntaxError(command) };
  }
  return {
    request,
    signature: {
      timestampMs,
      nonce,
      mac: mac.toLowerCase(),
      signedText: text.slice(0, text.lastIndexOf("|")),
    },
  };
}

/** The commands a Tower with a secret wants signed: the ones that change it. */
type SignedCommand = "REGISTER" | "DEREGISTER" | "ROUTE" | "UNROUTE";

/**
 * True for the requests a Tower with a secret wants signed: REGISTER,
 * DEREGISTER, ROUTE and UNROUTE.
 *
 * @example
 * ```ts
 * import { isSignedKind } from "./signing.ts";
 * isSignedKind("ROUTE");  // true
 * isSignedKind("ROUTES"); // false: a query, open like LIST
 * ```
 */
export function isSignedKind(kind: string): kind is SignedCommand {
  return kind === "REGISTER" || kind === "DEREGISTER" || kind === "ROUTE" || kind === "UNROUTE";
}

/**
 * How many leading fields are the request when `fields` is a signed line
 * (its last three are then time, nonce and MAC); undefined when it is not.
 * A ROUTE's rules are the rest of its line, so it is signed when it ends in
 * something MAC-shaped (a JSON object ends in "}").
 */
function signedFieldCount(fields: string[]): number | undefined {
  const n = fields.length;
  switch (fields[0]) {
    case "REGISTER": // A weighted REGISTER has five fields of its own.
      return n === 7 || n === 8 ? n - 3 : undefined;
    case "DEREGISTER":
      return n === 7 ? 4 : undefined;
    case "UNROUTE":
      return n === 6 ? 3 : undefined;
    case "ROUTE":
      return n >= 6 && MAC_HEX.test(fields[n - 1]) ? n - 3 : undefined;
    default:
      return undefined;
  }
}

/**
 * Throws a TypeError unless `secret` is a non-empty string: the one check
 * of a shared secret, wherever one is given (signing, the guard, the client).
 *
 * @example
 * ```ts
 * import { assertTowerSecret } from "./signing.ts";
 * assertTowerSecret("s3cret"); // fine
 * assertTowerSecret("");       // throws TypeError: the Tower secret must be a non-empty string
 * ```
 */
export function assertTowerSecret(secret: unknown): asserts secret is string {
  if (typeof secret !== "string" || secret === "") {
    throw new TypeError("the Tower secret must be a non-empty string");
  }
}

/** HMAC-SHA256 of `text` keyed with the UTF-8 bytes of `secret`, lowercase hex. */
function hmacHex(secret: string, text: string): string {
  return nodeCrypto().createHmac("sha256", secret).update(text).digest("hex");
}

/**
 * Sign a REGISTER, DEREGISTER, ROUTE or UNROUTE line for a Tower that has a shared secret:
 * appends `|<nowMs>|<nonce>|<hmac>`, where hmac is the lowercase hex
 * HMAC-SHA256, keyed with the secret's UTF-8 bytes, of everything before it.
 * A fresh random nonce (32 hex digits) is used unless one is given; a nonce
 * must never be reused. Sign each datagram anew, retries included: the Tower
 * refuses a nonce it has already seen (`ERR|REPLAY|<name>`).
 *
 * Throws a TypeError for an empty secret, a line that is not a valid
 * REGISTER, DEREGISTER, ROUTE or UNROUTE, a time that is not a non-negative integer, or a
 * nonce outside 8–64 characters of `[A-Za-z0-9_-]`.
 *
 * @example
 * ```ts
 * import { signTowerRequest } from "./signing.ts";
 * signTowerRequest("s3cret", "REGISTER|web|10.0.0.7|8080", 1_700_000_000_000, "0123456789abcdef");
 * // "REGISTER|web|10.0.0.7|8080|1700000000000|0123456789abcdef|<64 hex digits>"
 * ```
 */
export function signTowerRequest(
  secret: string,
  line: string,
  nowMs: number,
  nonce: string = nodeCrypto().randomBytes(16).toString("hex"),
): string {
  assertTowerSecret(secret);
  const request = parseRequest(line);
  if (request.kind === "ERR" || !isSignedKind(request.kind)) {
    throw new TypeError(`only REGISTER, DEREGISTER, ROUTE and UNROUTE are signed, not: ${line}`);
  }
  if (!Number.isSafeInteger(nowMs) || nowMs < 0) {
    throw new TypeError(`signing time must be a non-negative integer of ms: ${nowMs}`);
  }
  if (!NONCE.test(nonce)) {
    throw new TypeError(`nonce must be 8-64 characters of [A-Za-z0-9_-]: ${nonce}`);
  }
  const signedText = `${formatRequest(request)}|${nowMs}|${nonce}`;
  return `${signedText}|${hmacHex(secret, signedText)}`;
}

/**
 * Whether `signature.mac` (as {@link readRequest} read it) is the HMAC of its
 * signed text under `secret`, compared in constant time. Says nothing of its
 * age or its nonce.
 *
 * @example
 * ```ts
 * import { macMatches, readRequest, signTowerRequest } from "./signing.ts";
 * const { signature } = readRequest(signTowerRequest("s3cret", "REGISTER|web|10.0.0.7|80", 0));
 * macMatches("s3cret", signature!); // true
 * macMatches("other", signature!);  // false
 * ```
 */
export function macMatches(secret: string, signature: TowerSignature): boolean {
  // readRequest admits 64 hex digits only, the HMAC's length: timingSafeEqual never throws here.
  const expected = encoder.encode(hmacHex(secret, signature.signedText));
  return nodeCrypto().timingSafeEqual(expected, encoder.encode(signature.mac));
}
