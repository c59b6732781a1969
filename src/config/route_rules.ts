/**
 * A route's request rules as written in the config file (or in a route a
 * registry declares, as JSON): the keys besides `host`, `prefix` and
 * `service`, read into a {@link RouteRules}. Every bad value is reported
 * through the caller's {@link Problem} with what is allowed.
 *
 * Header edits never touch the fields that frame a message or belong to one
 * connection (Connection, Keep-Alive, Transfer-Encoding, Content-Length, TE,
 * Trailer, Upgrade, Proxy-*): the ingress sets those itself, and an edit
 * would let the ingress and its peer read a message's end differently.
 *
 * @module
 */

import { parseCount, parseDuration, parseSize, ValueError } from "../cli/values.ts";
import type {
  FixedResponse,
  HeaderEdits,
  HttpsRedirect,
  RouteRules,
  RouteTimeouts,
} from "../routing/rules.ts";
import { NO_RULES } from "../routing/rules.ts";
import type { Problem } from "./errors.ts";

/** The keys of a route entry that are rules (the others: host, prefix, service). */
export const RULE_KEYS: readonly string[] = Object.freeze([
  "strip-prefix",
  "replace-prefix",
  "request-headers",
  "response-headers",
  "timeouts",
  "retries",
  "max-body",
  "redirect-https",
  "respond",
]);

/** The keys that only mean something when the request goes to a backend. */
const FORWARDING_KEYS = [
  "strip-prefix",
  "replace-prefix",
  "request-headers",
  "timeouts",
  "retries",
  "max-body",
];

const TIMEOUT_KEYS: Record<string, keyof RouteTimeouts> = {
  connect: "connectMs",
  upstream: "upstreamMs",
  try: "tryMs",
  "upstream-read": "upstreamReadMs",
  body: "bodyMs",
};

const REDIRECT_STATUSES = [301, 302, 307, 308];

/**
 * Fields no edit may touch, in either direction, and why: they frame the
 * message or belong to one connection, and the ingress sets them itself.
 */
const HOP_BY_HOP: Record<string, string> = {
  connection: "belongs to one connection",
  "keep-alive": "belongs to one connection",
  te: "belongs to one connection",
  trailer: "belongs to one connection",
  upgrade: "belongs to one connection",
  "transfer-encoding": "frames the body",
  "content-length": "frames the body",
};

/**
 * Read `entry`'s rule keys into a route's rules (other keys are ignored:
 * `host`, `prefix` and `service` are the caller's); `tlsPort` is the port of
 * the TLS listener a redirect sends clients to, or null when there is none.
 * Every bad value calls `problem`, which throws. An entry without rule keys
 * gets {@link NO_RULES} itself.
 *
 * @example
 * ```ts
 * import { parseRouteRules } from "./route_rules.ts";
 * import { ConfigError, type Problem } from "./errors.ts";
 * const problem: Problem = (key, message) => {
 *   throw new ConfigError(`routes[0].${key}: ${message}`);
 * };
 * const rules = parseRouteRules(
 *   { prefix: "/api", service: "api", "strip-prefix": true, "max-body": "1m" },
 *   problem,
 *   null,
 * );
 * rules.maxBodyBytes; // 1048576
 * ```
 */
export function parseRouteRules(
  entry: Readonly<Record<string, unknown>>,
  problem: Problem,
  tlsPort: number | null,
): RouteRules {
  if (!RULE_KEYS.some((k) => entry[k] !== undefined)) return NO_RULES;
  const stripPrefix = entry["strip-prefix"] === undefined
    ? false
    : bool(entry["strip-prefix"], "strip-prefix", problem);
  const replacePrefix = entry["replace-prefix"] === undefined
    ? null
    : pathPrefix(entry["replace-prefix"], "replace-prefix", problem);
  if (stripPrefix && replacePrefix !== null) {
    problem("replace-prefix", "strip-prefix and replace-prefix exclude each other: use one");
  }
  const respond = entry.respond === undefined ? null : fixedResponse(entry.respond, problem);
  if (respond !== null) {
    const needless = FORWARDING_KEYS.find((k) => entry[k] !== undefined);
    if (needless !== undefined) {
      problem(
        needless,
        "a route with respond answers itself and sends nothing to a backend, " +
          `so ${needless} would do nothing: remove one of them`,
      );
    }
  }
  return Object.freeze({
    stripPrefix,
    replacePrefix,
    requestHeaders: entry["request-headers"] === undefined
      ? null
      : headerEdits(entry["request-headers"], "request-headers", true, problem),
    responseHeaders: entry["response-headers"] === undefined
      ? null
      : headerEdits(entry["response-headers"], "response-headers", false, problem),
    timeouts: entry.timeouts === undefined ? null : timeouts(entry.timeouts, problem),
    retries: entry.retries === undefined
      ? null
      : value(entry.retries, "retries", problem, (t) => parseCount(t, 1, 100)),
    maxBodyBytes: entry["max-body"] === undefined
      ? null
      : value(entry["max-body"], "max-body", problem, parseSize),
    redirectHttps: entry["redirect-https"] === undefined
      ? null
      : redirect(entry["redirect-https"], tlsPort, problem),
    respond,
  });
}

/**
 * `v` as the text a value parser reads: YAML reads `2` as a number and `10s`
 * as a string, and both mean what the flag's text would. Anything else is
 * shown as JSON, which no parser here accepts, so its message says what is
 * allowed.
 */
function textOf(v: unknown): string {
  if (typeof v === "string") return v;
  if (typeof v === "number") return String(v);
  return JSON.stringify(v) ?? String(v);
}

/** `parse` over `v`; its {@link ValueError} reported at `key`, as a flag's would be. */
function value<T>(v: unknown, key: string, problem: Problem, parse: (text: string) => T): T {
  const text = textOf(v);
  try {
    return parse(text);
  } catch (e) {
    if (!(e instanceof ValueError)) throw e;
    return problem(key, e.namesValue ? e.message : `"${text}" ${e.message}`);
  }
}

function bool(v: unknown, key: string, problem: Problem): boolean {
  if (typeof v !== "boolean") problem(key, `"${textOf(v)}" must be true or false`);
  return v as boolean;
}

/** A mapping (a YAML map, a JSON object), else a problem at `key`. */
function mapping(v: unknown, key: string, problem: Problem, what: string): Record<string, unknown> {
  if (typeof v !== "object" || v === null || Array.isArray(v)) {
    return problem(key, `must be a mapping of ${what}`);
  }
  return v as Record<string, unknown>;
}

/** Keys of `map` outside `allowed` are a problem (a typo would otherwise do nothing). */
function onlyKeys(
  map: Record<string, unknown>,
  allowed: readonly string[],
  key: string,
  problem: Problem,
): void {
  for (const k of Object.keys(map)) {
    if (!allowed.includes(k)) {
      problem(`${key}.${k}`, `is not a key of ${key} (allowed: ${allowed.join(", ")})`);
    }
  }
}

/**
 * A path prefix to put in place of the matched one: "/" and then path
 * characters (RFC 3986 pchar), no empty, "." or ".." segment, no query.
 */
function pathPrefix(v: unknown, key: string, problem: Problem): string {
  const text = textOf(v);
  const ok = typeof v === "string" && text.length <= 1024 &&
    /^\/(?:[A-Za-z0-9\-._~!$&'()*+,;=:@\/]|%[0-9A-Fa-f]{2})*$/.test(text) &&
    !/\/\/|\/\.\.?(?:\/|$)/.test(text);
  if (!ok) {
    problem(
      key,
      `"${text}" must be a path starting with "/" (no spaces, "?", "#", "//", "." or ".." segments)`,
    );
  }
  return text;
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** A field value: visible ASCII, spaces and tabs inside, none at either end (RFC 9110 5.5). */
const FIELD_VALUE = /^(?:[\x21-\x7e](?:[\x20\x21-\x7e\t]*[\x21-\x7e])?)?$/;
const MAX_VALUE = 4096;

/** A field name an edit may touch in `request`s (else responses), lower case. */
function fieldName(
  name: string,
  key: string,
  request: boolean,
  verb: string,
  problem: Problem,
): string {
  if (name.length > 256 || !TOKEN.test(name)) {
    problem(key, `"${name}" is not a header name (letters, digits and !#$%&'*+-.^_\`|~)`);
  }
  const lower = name.toLowerCase();
  const why = HOP_BY_HOP[lower] ?? (lower.startsWith("proxy-") ? "is meant for proxies" : null);
  if (why !== null) {
    problem(key, `"${name}" ${why}: the ingress sets it, no route may edit it`);
  }
  if (lower === "host") {
    if (!request) problem(key, `"${name}" is a request header: it means nothing in a response`);
    else if (verb !== "set") {
      problem(key, `"${name}" can only be set (a request carries exactly one Host)`);
    }
  }
  if (request && lower === "expect") {
    problem(key, `"${name}" is acted on by the ingress (100-continue): no route may edit it`);
  }
  return lower;
}

function fieldValue(v: unknown, key: string, problem: Problem): string {
  const text = textOf(v);
  const scalar = typeof v === "string" || typeof v === "number" || typeof v === "boolean";
  if (!scalar || text.length > MAX_VALUE || !FIELD_VALUE.test(text)) {
    problem(
      key,
      `${JSON.stringify(text)} must be a header value: at most ${MAX_VALUE} visible ASCII ` +
        "characters, spaces and tabs, no line breaks and no space at either end",
    );
  }
  return String(v);
}

/** `request-headers` or `response-headers`: `remove`, `set` and `add`. */
function headerEdits(v: unknown, key: string, request: boolean, problem: Problem): HeaderEdits {
  const map = mapping(v, key, problem, "remove, set and add");
  onlyKeys(map, ["remove", "set", "add"], key, problem);
  const remove: string[] = [];
  if (map.remove !== undefined) {
    const list = typeof map.remove === "string" ? [map.remove] : map.remove;
    if (!Array.isArray(list)) problem(`${key}.remove`, "must be a list of header names");
    for (const name of list as unknown[]) {
      if (typeof name !== "string") {
        problem(`${key}.remove`, `${JSON.stringify(name)} is not a header name`);
      }
      const lower = fieldName(name as string, `${key}.remove`, request, "remove", problem);
      if (!remove.includes(lower)) remove.push(lower);
    }
  }
  const set: (readonly [string, string])[] = [];
  if (map.set !== undefined) {
    const fields = mapping(map.set, `${key}.set`, problem, "header names to one value each");
    const seen = new Set<string>();
    for (const [name, val] of Object.entries(fields)) {
      const at = `${key}.set.${name}`;
      const lower = fieldName(name, at, request, "set", problem);
      if (seen.has(lower)) problem(at, `"${name}" is set twice (names ignore case)`);
      seen.add(lower);
      if (Array.isArray(val)) problem(at, "set takes one value; use add for several");
      set.push(Object.freeze([name, fieldValue(val, at, problem)] as const));
    }
  }
  const add: (readonly [string, string])[] = [];
  if (map.add !== undefined) {
    const fields = mapping(map.add, `${key}.add`, problem, "header names to a value or a list");
    for (const [name, val] of Object.entries(fields)) {
      const at = `${key}.add.${name}`;
      fieldName(name, at, request, "add", problem);
      for (const one of Array.isArray(val) ? val : [val]) {
        add.push(Object.freeze([name, fieldValue(one, at, problem)] as const));
      }
    }
  }
  return Object.freeze({
    remove: Object.freeze(remove),
    set: Object.freeze(set),
    add: Object.freeze(add),
  });
}

function timeouts(v: unknown, problem: Problem): RouteTimeouts {
  const map = mapping(v, "timeouts", problem, "timeouts (connect, upstream, try, ...)");
  const names = Object.keys(TIMEOUT_KEYS);
  onlyKeys(map, names, "timeouts", problem);
  const out: Record<string, number> = {};
  for (const name of names) {
    if (map[name] === undefined) continue;
    out[TIMEOUT_KEYS[name]] = value(map[name], `timeouts.${name}`, problem, parseDuration);
  }
  return Object.freeze(out);
}

function redirect(v: unknown, tlsPort: number | null, problem: Problem): HttpsRedirect | null {
  if (v === false) return null;
  const status = v === true ? 308 : typeof v === "number" ? v : 0;
  if (!REDIRECT_STATUSES.includes(status)) {
    problem(
      "redirect-https",
      `"${textOf(v)}" must be true (a 308) or one of ${REDIRECT_STATUSES.join(", ")}`,
    );
  }
  if (tlsPort === null) {
    problem("redirect-https", "needs a listener with tls: to redirect to, and none is configured");
  }
  if (tlsPort === 0) {
    // A free port is picked when the listener opens: no Location could name it.
    problem("redirect-https", "needs the TLS listener on a fixed port (it is on port 0)");
  }
  return Object.freeze({ status, port: tlsPort! });
}

function fixedResponse(v: unknown, problem: Problem): FixedResponse {
  const map = mapping(v, "respond", problem, "status, body and content-type");
  onlyKeys(map, ["status", "body", "content-type"], "respond", problem);
  if (map.status === undefined) problem("respond.status", "is required (200-599)");
  const status = value(map.status, "respond.status", problem, (t) => parseCount(t, 200, 599));
  let body = "";
  if (map.body !== undefined) {
    if (typeof map.body !== "string" && typeof map.body !== "number") {
      problem("respond.body", "must be text");
    }
    body = String(map.body);
  }
  const contentType = map["content-type"] === undefined
    ? "text/plain; charset=utf-8"
    : fieldValue(map["content-type"], "respond.content-type", problem);
  return Object.freeze({ status, body, contentType });
}
