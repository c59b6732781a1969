/**
 * One parser per kind of value a user writes: durations, counts, sizes,
 * rates, addresses, address lists, secrets. Each throws a
 * {@link ValueError} that says what is wrong without naming where the value
 * came from; {@link readFlag} adds the flag, a URL parser its parameter.
 *
 * @module
 */

import { AddressError, type AddressRules, type HostPort, parseAddress } from "../net/address.ts";
import { CidrList } from "../net/cidr.ts";
import { UsageError } from "./flags.ts";
import { ConfigError } from "../config/errors.ts";
import { type BalancePolicy, parseBalancePolicy } from "../replicas/balance.ts";
import { parseStatuses } from "../replicas/health.ts";
import { messageOf } from "../error_message.ts";

/**
 * A value that cannot be read; the message says why (`is not a duration`),
 * or, with `namesValue`, says it naming the faulty part itself
 * (`invalid CIDR "x": not an IP address`).
 */
export class ValueError extends Error {
  override name = "ValueError";
  constructor(message: string, readonly namesValue = false) {
    super(message);
  }
}

/**
 * `parse(text)` for the flag `flag`: a {@link ValueError} becomes a
 * {@link UsageError} reading `--flag: "text" <why>` (a ConfigError when
 * `flag` names a config file's key instead: `gatehouse.yaml:7: grace`).
 *
 * @example
 * ```ts
 * import { parseDuration, readFlag } from "./values.ts";
 * readFlag("--grace", "10s", parseDuration); // 10000
 * ```
 */
export function readFlag<T>(flag: string, text: string, parse: (text: string) => T): T {
  try {
    return parse(text);
  } catch (e) {
    if (!(e instanceof ValueError)) throw e;
    const message = e.namesValue ? `${flag}: ${e.message}` : `${flag}: "${text}" ${e.message}`;
    // A label that is no flag names a place in a config file ("gatehouse.yaml:7: grace").
    throw flag.startsWith("-") ? new UsageError(message) : new ConfigError(message);
  }
}

/** Timers hold at most 2^31-1 ms; a longer one fires at once. */
export const MAX_DURATION_MS = 2 ** 31 - 1;

const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };

/**
 * A duration in milliseconds: `500ms`, `10s`, `1.5m`, `1h`, or bare seconds.
 * At most {@link MAX_DURATION_MS} (about 24 days), so any duration read
 * here fits a timer.
 *
 * @example
 * ```ts
 * import { parseDuration } from "./values.ts";
 * parseDuration("500ms"); // 500
 * parseDuration("2m");    // 120000
 * ```
 */
export function parseDuration(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!m) throw new ValueError("is not a duration (like 500ms, 10s, 2m)");
  const ms = Number(m[1]) * UNIT_MS[m[2] ?? "s"];
  if (ms > MAX_DURATION_MS) throw new ValueError("is longer than 24 days");
  return Math.round(ms);
}

/**
 * A whole number from `min` to `max`.
 *
 * @example
 * ```ts
 * import { parseCount } from "./values.ts";
 * parseCount("5", 1, 10); // 5
 * ```
 */
export function parseCount(text: string, min: number, max: number): number {
  if (!/^\d+$/.test(text.trim()) || Number(text) < min || Number(text) > max) {
    throw new ValueError(`must be a whole number from ${min} to ${max}`);
  }
  return Number(text);
}

const SIZE_UNITS: Record<string, number> = { "": 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 };

/**
 * A size in bytes: a whole number, or one with `k`, `m` or `g` after it
 * (powers of 1024), at most 2^53 - 1.
 *
 * @example
 * ```ts
 * import { parseSize } from "./values.ts";
 * parseSize("512k"); // 524288
 * parseSize("1m");   // 1048576
 * ```
 */
export function parseSize(text: string): number {
  const m = /^(\d+)([kmg]?)$/i.exec(text.trim());
  const bytes = m ? Number(m[1]) * SIZE_UNITS[m[2].toLowerCase()] : NaN;
  if (!Number.isSafeInteger(bytes)) {
    throw new ValueError("is not a size in bytes (a whole number, or like 512k, 10m, 1g)");
  }
  return bytes;
}

/** A rate of events per second with a burst. */
export interface Rate {
  perSecond: number;
  burst: number;
}

/**
 * `PER_SECOND[:BURST]`; the burst defaults to twice the rate.
 *
 * @example
 * ```ts
 * import { parseRate } from "./values.ts";
 * parseRate("5");    // { perSecond: 5, burst: 10 }
 * parseRate("5:20"); // { perSecond: 5, burst: 20 }
 * ```
 */
export function parseRate(text: string): Rate {
  const m = /^(\d+(?:\.\d+)?)(?::(\d+))?$/.exec(text);
  const perSecond = m ? Number(m[1]) : 0;
  const burst = m?.[2] !== undefined ? Number(m[2]) : Math.ceil(2 * perSecond);
  if (!m || perSecond <= 0 || burst < 1) {
    throw new ValueError("must be PER_SECOND[:BURST], e.g. 5 or 5:20");
  }
  return { perSecond, burst };
}

/**
 * A retry budget, `PERCENT[:MIN]`: retries in flight may be at most PERCENT
 * of a service's requests in flight, but MIN may always be (default 3).
 *
 * @example
 * ```ts
 * import { parseRetryBudget } from "./values.ts";
 * parseRetryBudget("20");   // { percent: 20, min: 3 }
 * parseRetryBudget("50:1"); // { percent: 50, min: 1 }
 * ```
 */
export function parseRetryBudget(text: string): { percent: number; min: number } {
  const m = /^(\d{1,3})%?(?::(\d{1,6}))?$/.exec(text.trim());
  if (!m || Number(m[1]) > 100) {
    throw new ValueError(
      "must be PERCENT[:MIN], a share of requests from 0 to 100, e.g. 20 or 20:3",
    );
  }
  return { percent: Number(m[1]), min: m[2] !== undefined ? Number(m[2]) : 3 };
}

/**
 * A load-balancing policy (see replicas/balance.ts for the names).
 *
 * @example
 * ```ts
 * import { parseBalance } from "./values.ts";
 * parseBalance("round-robin"); // { kind: "round-robin" }
 * ```
 */
export function parseBalance(text: string): BalancePolicy {
  return asValue(parseBalancePolicy, text);
}

/**
 * A health check's path: origin-form, `/` then visible ASCII (at most 1024).
 *
 * @example
 * ```ts
 * import { parseHealthPath } from "./values.ts";
 * parseHealthPath("/healthz?full=1"); // "/healthz?full=1"
 * ```
 */
export function parseHealthPath(text: string): string {
  if (!/^\/[\x21-\x7e]{0,1023}$/.test(text)) {
    throw new ValueError("must be a path starting with / (visible ASCII, no spaces)");
  }
  return text;
}

/**
 * An HTTP method: a token in capitals, e.g. `GET` or `HEAD`.
 *
 * @example
 * ```ts
 * import { parseMethod } from "./values.ts";
 * parseMethod("HEAD"); // "HEAD"
 * ```
 */
export function parseMethod(text: string): string {
  if (!/^[A-Z]{1,16}$/.test(text)) throw new ValueError("must be a method such as GET or HEAD");
  return text;
}

/**
 * A Host header's value: a host name or address, with an optional port.
 *
 * @example
 * ```ts
 * import { parseHostHeader } from "./values.ts";
 * parseHostHeader("api.internal:8080"); // "api.internal:8080"
 * ```
 */
export function parseHostHeader(text: string): string {
  if (!/^[A-Za-z0-9.\-_:\[\]]{1,255}$/.test(text)) {
    throw new ValueError("must be a host name or address, with an optional :port");
  }
  return text;
}

/**
 * Statuses a health check accepts (see replicas/health.ts).
 *
 * @example
 * ```ts
 * import { parseStatusList } from "./values.ts";
 * parseStatusList("2xx,304"); // [[200, 299], [304, 304]]
 * ```
 */
export function parseStatusList(text: string): [number, number][] {
  return asValue(parseStatuses, text);
}

/** `parse(text)`, its error (a grammar outside src/cli/ throws plain Errors) as a {@link ValueError}. */
function asValue<T>(parse: (text: string) => T, text: string): T {
  try {
    return parse(text);
  } catch (e) {
    throw new ValueError(messageOf(e));
  }
}

/**
 * A switch: `on` or `off`.
 *
 * @example
 * ```ts
 * import { parseOnOff } from "./values.ts";
 * parseOnOff("off"); // false
 * ```
 */
export function parseOnOff(text: string): boolean {
  if (text === "on") return true;
  if (text === "off") return false;
  throw new ValueError("must be on or off");
}

/** Smallest and largest receive buffer `--upstream-rcvbuf` accepts (besides 0). */
export const RCVBUF_MIN = 4096;
export const RCVBUF_MAX = 64 * 1024 * 1024;

/**
 * A socket receive-buffer size: 0 (the kernel's sizing) or bytes from
 * {@link RCVBUF_MIN} to {@link RCVBUF_MAX}.
 *
 * @example
 * ```ts
 * import { parseReceiveBuffer } from "./values.ts";
 * parseReceiveBuffer("131072"); // 131072
 * ```
 */
export function parseReceiveBuffer(text: string): number {
  if (text.trim() === "0") return 0;
  if (!/^\d+$/.test(text.trim()) || Number(text) < RCVBUF_MIN || Number(text) > RCVBUF_MAX) {
    throw new ValueError(
      `must be 0 (the kernel's sizing) or bytes from ${RCVBUF_MIN} to ${RCVBUF_MAX}`,
    );
  }
  return Number(text);
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,64}$/;

/**
 * Via's received-by (`--via`): a pseudonym, which RFC 9110 7.6.3 makes an
 * HTTP token (1–64 characters here: it goes into every forwarded head), or
 * `off` for no Via at all (null).
 *
 * @example
 * ```ts
 * import { parseVia } from "./values.ts";
 * parseVia("edge-1"); // "edge-1"
 * parseVia("off");    // null
 * ```
 */
export function parseVia(text: string): string | null {
  if (text === "off") return null;
  if (!TOKEN.test(text)) {
    throw new ValueError(
      "is not a token (1-64 letters, digits or !#$%&'*+-.^_`|~), or off for no Via",
    );
  }
  return text;
}

/**
 * An address by the rules of {@link parseAddress}, its problems as a
 * {@link ValueError}.
 *
 * @example
 * ```ts
 * import { parseAddressValue } from "./values.ts";
 * parseAddressValue("9090", { defaultHost: "0.0.0.0", zeroPort: true });
 * // { host: "0.0.0.0", port: 9090 }
 * ```
 */
export function parseAddressValue(text: string, rules: AddressRules = {}): HostPort {
  try {
    return parseAddress(text, rules);
  } catch (e) {
    if (e instanceof AddressError) throw new ValueError(`"${text}": ${e.message}`, true);
    throw e;
  }
}

/**
 * A comma-separated list of addresses and CIDR blocks; empty text is an
 * empty list.
 *
 * @example
 * ```ts
 * import { parseCidrList } from "./values.ts";
 * parseCidrList("10.0.0.0/8,::1").contains("10.1.2.3"); // true
 * ```
 */
export function parseCidrList(text: string): CidrList {
  try {
    return CidrList.parse(text);
  } catch (e) {
    throw new ValueError((e as Error).message, true);
  }
}

/**
 * A shared secret from a flag or else the environment: null when neither
 * gives one. An empty value means "no secret", the same everywhere.
 *
 * @example
 * ```ts
 * import { secretOf } from "./values.ts";
 * secretOf(undefined, "s3cret"); // "s3cret"
 * secretOf("", undefined);       // null
 * ```
 */
export function secretOf(flag: string | undefined, env: string | undefined): string | null {
  const secret = flag ?? env;
  return secret === undefined || secret === "" ? null : secret;
}
