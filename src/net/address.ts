/**
 * The one source of address rules: IPv4 and IPv6 literals, host names,
 * ports, `host:port` both ways, and service names. Flags, registry URLs,
 * the Tower's datagrams and etcd's values all read addresses through here,
 * so one rule holds everywhere.
 *
 * @module
 */

/** A host (IP literal or name) and a port. */
export interface HostPort {
  host: string;
  port: number;
}

const SERVICE_NAME = /^[A-Za-z0-9._-]{1,63}$/;
const IPV4_OCTET = "(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])";
const IPV4 = new RegExp(`^${IPV4_OCTET}(?:\\.${IPV4_OCTET}){3}$`);
const IPV6_GROUP = /^[0-9A-Fa-f]{1,4}$/;
const LABEL = "[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?";
const HOSTNAME = new RegExp(`^(?=.{1,253}$)(?:${LABEL}\\.)*${LABEL}$`);
const NUMERIC_LAST_LABEL = /(?:^|\.)[0-9]+$/;

/**
 * True for a service name: 1–63 characters of `[A-Za-z0-9._-]` (what the
 * Tower's datagrams, etcd keys and routes all accept).
 *
 * @example
 * ```ts
 * import { isValidServiceName } from "./address.ts";
 * isValidServiceName("api-service"); // true
 * isValidServiceName("a|b");         // false
 * ```
 */
export function isValidServiceName(name: string): boolean {
  return SERVICE_NAME.test(name);
}

/**
 * True for a dotted-quad IPv4 literal (no leading zeros, which some parsers
 * read as octal).
 *
 * @example
 * ```ts
 * import { isIPv4 } from "./address.ts";
 * isIPv4("10.0.0.7"); // true
 * isIPv4("10.0.0.07"); // false
 * ```
 */
export function isIPv4(text: string): boolean {
  return IPV4.test(text);
}

/**
 * True for an IPv6 literal without brackets or zone id, including `::`
 * compression and an embedded IPv4 tail (`::ffff:10.0.0.1`).
 *
 * @example
 * ```ts
 * import { isIPv6 } from "./address.ts";
 * isIPv6("fe80::1"); // true
 * isIPv6("1::2::3"); // false
 * ```
 */
export function isIPv6(text: string): boolean {
  if (text.length < 2 || text.length > 45) return false;
  const gap = text.indexOf("::");
  if (gap !== -1 && text.indexOf("::", gap + 1) !== -1) return false;
  const parts = gap === -1 ? text.split(":") : [
    ...(gap === 0 ? [] : text.slice(0, gap).split(":")),
    ...(gap + 2 === text.length ? [] : text.slice(gap + 2).split(":")),
  ];
  let groups = 0;
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i];
    if (i === parts.length - 1 && part.includes(".")) {
      if (!isIPv4(part)) return false;
      groups += 2;
    } else if (IPV6_GROUP.test(part)) {
      groups += 1;
    } else {
      return false;
    }
  }
  // "::" must stand for at least one zero group.
  return gap === -1 ? groups === 8 : groups < 8;
}

/**
 * True for an IPv4 or IPv6 literal.
 *
 * @example
 * ```ts
 * import { isIP } from "./address.ts";
 * isIP("::1"); // true
 * isIP("localhost"); // false
 * ```
 */
export function isIP(text: string): boolean {
  return isIPv4(text) || isIPv6(text);
}

/**
 * True for an IP literal or a DNS host name (RFC 1123 labels, at most 253
 * characters, last label not all digits, so that a mistyped IPv4 such as
 * `10.0.0.256` is refused rather than taken for a name).
 *
 * @example
 * ```ts
 * import { isValidHost } from "./address.ts";
 * isValidHost("web-1.internal"); // true
 * isValidHost("10.0.0.256");     // false
 * ```
 */
export function isValidHost(host: string): boolean {
  if (host.includes(":")) return isIPv6(host);
  if (isIPv4(host)) return true;
  return HOSTNAME.test(host) && !NUMERIC_LAST_LABEL.test(host);
}

/**
 * True for an address that stands for every interface (`0.0.0.0`, `::`):
 * fine to listen on, useless to connect to.
 *
 * @example
 * ```ts
 * import { isWildcard } from "./address.ts";
 * isWildcard("0.0.0.0"); // true
 * ```
 */
export function isWildcard(host: string): boolean {
  return host === "0.0.0.0" || (host.includes(":") && /^[0:]+$/.test(host));
}

/**
 * True for exactly one `host[:port]`, as a request names the host it is for
 * (its Host field, or the authority of an absolute-form target): what the
 * ingress routes by and hands the backend, so anything else is refused.
 *
 * - host: an IPv4 literal; an IPv6 literal in brackets (no zone id, no
 *   IPvFuture); or a name of dot-separated labels, each 1–63 letters, digits,
 *   `-` or `_`, at most 253 characters, one trailing dot allowed. This is
 *   narrower than RFC 3986's reg-name (no percent-encoding, no sub-delims
 *   such as `,` `;` `=` `!`): names outside it are no DNS or service name
 *   anyway, and a `,` would make the field a list. As in {@link isValidHost}, a
 *   name whose last label is all digits must be an IPv4 literal.
 * - port (optional): as {@link parsePort}: 1–65535, digits only, no leading
 *   zero; an empty port (`host:`) is refused.
 *
 * Checked character by character: it runs for every request.
 *
 * @example
 * ```ts
 * import { isValidAuthority } from "./address.ts";
 * isValidAuthority("shop.example.com:8080"); // true
 * isValidAuthority("[::1]:9090");            // true
 * isValidAuthority("a.com, b.com");          // false
 * isValidAuthority("user@a.com");            // false
 * isValidAuthority("a.com:");                // false
 * ```
 */
export function isValidAuthority(text: string): boolean {
  const n = text.length;
  let hostEnd: number;
  if (n > 0 && text.charCodeAt(0) === 0x5b) {
    const close = text.indexOf("]");
    if (close < 0 || !isIPv6(text.slice(1, close))) return false;
    hostEnd = close + 1;
  } else {
    hostEnd = text.indexOf(":");
    if (hostEnd < 0) hostEnd = n;
    if (!isNameOrIPv4(text, hostEnd)) return false;
  }
  if (hostEnd === n) return true;
  return text.charCodeAt(hostEnd) === 0x3a && portIn(text, hostEnd + 1, n) > 0;
}

/** text[0, end) is a host name or an IPv4 literal by the rules of {@link isValidAuthority}. */
function isNameOrIPv4(text: string, end: number): boolean {
  const dotted = end > 0 && text.charCodeAt(end - 1) === 0x2e;
  if (dotted) end--; // one trailing dot: the absolute form of a name
  if (end === 0 || end > 253) return false;
  let labelStart = 0;
  let labels = 0;
  let numericLabels = 0;
  let octetsValid = true;
  let digitsOnly = true;
  let value = 0; // of the label, while it is all digits
  for (let i = 0; i <= end; i++) {
    const c = i < end ? text.charCodeAt(i) : 0x2e;
    if (c === 0x2e) {
      const length = i - labelStart;
      if (length === 0 || length > 63) return false;
      labels++;
      if (digitsOnly) {
        numericLabels++;
        // An IPv4 octet: 0-255, no leading zero (which some parsers read as octal).
        if (value > 255 || (length > 1 && text.charCodeAt(labelStart) === 0x30)) {
          octetsValid = false;
        }
      }
      labelStart = i + 1;
      value = 0;
      if (i < end) digitsOnly = true;
    } else if (c >= 0x30 && c <= 0x39) {
      // A digit: the label may still be numeric (the value stops mattering past 255).
      if (value <= 255) value = value * 10 + c - 0x30;
    } else if (
      (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || c === 0x2d || c === 0x5f
    ) digitsOnly = false;
    else return false;
  }
  // An all-digit last label is no name: only a whole, valid IPv4 literal passes.
  if (!digitsOnly) return true;
  return !dotted && labels === 4 && numericLabels === 4 && octetsValid;
}

/**
 * A decimal port written without sign, spaces or leading zeros: 1–65535, or
 * 0 too when `zero` is true (a listener's "any free port"). Undefined
 * otherwise.
 *
 * @example
 * ```ts
 * import { parsePort } from "./address.ts";
 * parsePort("8080"); // 8080
 * parsePort("080");  // undefined
 * parsePort("0", { zero: true }); // 0
 * ```
 */
export function parsePort(text: string, options: { zero?: boolean } = {}): number | undefined {
  if (text === "0") return options.zero ? 0 : undefined;
  const port = portIn(text, 0, text.length);
  return port > 0 ? port : undefined;
}

/**
 * The port written in text[start, end) by the rule of {@link parsePort}
 * (1–65535, digits only, no leading zero), or -1: read in place, so a
 * request's Host is checked without slicing it.
 */
function portIn(text: string, start: number, end: number): number {
  if (end - start < 1 || end - start > 5 || text.charCodeAt(start) === 0x30) return -1;
  let port = 0;
  for (let i = start; i < end; i++) {
    const d = text.charCodeAt(i) - 0x30;
    if (d < 0 || d > 9) return -1;
    port = port * 10 + d;
  }
  return port <= 65535 ? port : -1;
}

/**
 * True for a port number a replica can have: a whole number 1–65535 (the
 * check for numbers in protocol fields, as {@link parsePort} is for text).
 *
 * @example
 * ```ts
 * import { isValidPort } from "./address.ts";
 * isValidPort(8081); // true
 * isValidPort(0);    // false
 * isValidPort(80.5); // false
 * ```
 */
export function isValidPort(port: number): boolean {
  return Number.isInteger(port) && port >= 1 && port <= 65535;
}

/**
 * `host:port`, with an IPv6 host in brackets.
 *
 * @example
 * ```ts
 * import { formatHostPort } from "./address.ts";
 * formatHostPort("::1", 8080); // "[::1]:8080"
 * ```
 */
export function formatHostPort(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

/** How {@link parseAddress} reads a value; by default it wants exactly `HOST:PORT`. */
export interface AddressRules {
  /** A value without a port gets this one (else the port is required). */
  defaultPort?: number;
  /** A bare `PORT` is allowed, with this host. */
  defaultHost?: string;
  /** Port 0 is allowed (a listener's "any free port"). */
  zeroPort?: boolean;
  /** The host must be an IP literal (no name to resolve). */
  ipOnly?: boolean;
  /** With a default port, a bare IPv6 literal without brackets is read as a host. */
  bareIPv6?: boolean;
}

/** Why a value is not an address; the message says what is wrong with it. */
export class AddressError extends Error {
  override name = "AddressError";
}

/**
 * Read `HOST:PORT`, `[IPv6]:PORT`, and (as `rules` allow) `HOST`, `[IPv6]`,
 * a bare IPv6 literal or a bare `PORT`. Throws an {@link AddressError}
 * whose message says what is wrong (without repeating the value).
 *
 * @example
 * ```ts
 * import { parseAddress } from "./address.ts";
 * parseAddress("[::1]:8080");                        // { host: "::1", port: 8080 }
 * parseAddress("tower", { defaultPort: 7772 });      // { host: "tower", port: 7772 }
 * parseAddress("9090", { defaultHost: "0.0.0.0" });  // { host: "0.0.0.0", port: 9090 }
 * ```
 */
export function parseAddress(text: string, rules: AddressRules = {}): HostPort {
  if (rules.defaultHost !== undefined && /^[0-9]+$/.test(text)) {
    return { host: rules.defaultHost, port: readPort(text, rules) };
  }
  let host = text;
  let portText: string | undefined;
  if (text.startsWith("[")) {
    const close = text.indexOf("]");
    if (close === -1) throw new AddressError("missing ] after the IPv6 address");
    host = text.slice(1, close);
    const rest = text.slice(close + 1);
    if (rest !== "") {
      if (!rest.startsWith(":")) throw new AddressError("unexpected text after ]");
      portText = rest.slice(1);
    }
    if (!isIPv6(host)) throw new AddressError(`"${host}" is not an IPv6 address`);
  } else if (text.indexOf(":") !== text.lastIndexOf(":")) {
    // Several colons and no brackets: only a bare IPv6 literal, and only when asked for.
    if (!rules.bareIPv6 || rules.defaultPort === undefined || !isIPv6(text)) {
      throw new AddressError("write IPv6 as [ADDR]:PORT");
    }
  } else {
    const colon = text.indexOf(":");
    if (colon !== -1) {
      host = text.slice(0, colon);
      portText = text.slice(colon + 1);
    }
    if (host === "") throw new AddressError("empty host");
    if (rules.ipOnly ? !isIPv4(host) : !isValidHost(host)) {
      throw new AddressError(
        rules.ipOnly
          ? `"${host}" is not an IP address`
          : `"${host}" is not an IP address or host name`,
      );
    }
  }
  if (portText === undefined) {
    if (rules.defaultPort === undefined) throw new AddressError("needs a port (HOST:PORT)");
    return { host, port: rules.defaultPort };
  }
  return { host, port: readPort(portText, rules) };
}

function readPort(text: string, rules: AddressRules): number {
  const port = parsePort(text, { zero: rules.zeroPort });
  if (port === undefined) {
    throw new AddressError(`port must be ${rules.zeroPort ? "0" : "1"}-65535`);
  }
  return port;
}

/**
 * `host:port` or `[v6]:port` with a port 1–65535, or undefined: the
 * non-throwing form for protocol fields (a Tower reply, an etcd value).
 *
 * @example
 * ```ts
 * import { readHostPort } from "./address.ts";
 * readHostPort("[::1]:8080"); // { host: "::1", port: 8080 }
 * readHostPort("10.0.0.7");   // undefined
 * ```
 */
export function readHostPort(text: string): HostPort | undefined {
  try {
    return parseAddress(text);
  } catch {
    return undefined;
  }
}
