/**
 * etcd's v3 JSON gateway, spoken with plain `fetch` (no client library, no
 * gRPC) so it runs unchanged on Deno and Bun: keys and values in base64,
 * one request with a timeout and an abort, the errors it gives, and
 * failover between the members of a cluster.
 *
 * @module
 */

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function toBase64(bytes: Uint8Array): string {
  let binary = "";
  for (let i = 0; i < bytes.length; i++) binary += String.fromCharCode(bytes[i]);
  return btoa(binary);
}

/**
 * `text` as the gateway wants keys and values: UTF-8, then base64.
 *
 * @example
 * ```ts
 * import { b64 } from "./gateway.ts";
 * b64("/gatehouse/"); // "L2dhdGVob3VzZS8="
 * ```
 */
export function b64(text: string): string {
  return toBase64(encoder.encode(text));
}

/**
 * A key or value from the gateway back to text ("" when absent or empty).
 *
 * @example
 * ```ts
 * import { unb64 } from "./gateway.ts";
 * unb64("L2dhdGVob3VzZS8="); // "/gatehouse/"
 * ```
 */
export function unb64(text: string | undefined): string {
  if (text === undefined || text === "") return "";
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return decoder.decode(bytes);
}

/**
 * The smallest key after every key that starts with `prefix`, in base64:
 * the `range_end` that makes a range or watch cover the prefix.
 *
 * @example
 * ```ts
 * import { b64, prefixEnd } from "./gateway.ts";
 * const range = { key: b64("/gatehouse/"), range_end: prefixEnd("/gatehouse/") }; // up to "/gatehouse0"
 * ```
 */
export function prefixEnd(prefix: string): string {
  const bytes = encoder.encode(prefix);
  for (let i = bytes.length - 1; i >= 0; i--) {
    if (bytes[i] < 0xff) {
      const end = bytes.slice(0, i + 1);
      end[i]++;
      return toBase64(end);
    }
  }
  return toBase64(new Uint8Array([0])); // All 0xff: to the end of the keyspace.
}

/** gRPC status codes that are answers about the request, not about the member. */
const FINAL_CODES = new Set([3, 5, 6, 7, 9, 11, 12, 16]);

/**
 * An etcd request that failed; `retryable` when another member may do better.
 *
 * @example
 * ```ts
 * import { EtcdError } from "./gateway.ts";
 * const notFound = new EtcdError("etcd http://10.0.0.1:2379/v3/lease/revoke: lease not found", 5);
 * notFound.retryable; // false: an answer, not an outage
 * ```
 */
export class EtcdError extends Error {
  override name = "EtcdError";
  /** gRPC status code from the gateway, when it gave one (5 = NOT_FOUND). */
  readonly code: number | undefined;
  /** True for outages (network, timeout, no leader), false for answers. */
  readonly retryable: boolean;

  constructor(message: string, code?: number, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
    this.retryable = code === undefined || !FINAL_CODES.has(code);
  }
}

/**
 * A gateway answer: JSON whose shape each call knows.
 *
 * @example
 * ```ts
 * import type { Json } from "./gateway.ts";
 * const answer: Json = JSON.parse('{"header":{"revision":"7"}}');
 * Number(answer.header?.revision ?? 0); // 7
 * ```
 */
// deno-lint-ignore no-explicit-any
export type Json = any;

/**
 * Why an abort happened, kept apart from the runtime's own AbortError.
 *
 * @example
 * ```ts
 * import { Aborted } from "./gateway.ts";
 * new AbortController().abort(new Aborted("watch finished"));
 * ```
 */
export class Aborted extends Error {
  override name = "Aborted";
}

/**
 * A controller aborted by `parent` too, and by a timer after `timeoutMs`
 * (none when undefined). `dispose` must be called to drop the timer and the
 * listener.
 *
 * @example
 * ```ts
 * import { linkedController } from "./gateway.ts";
 * const closing = new AbortController();
 * const { controller, dispose } = linkedController(closing.signal, 3000, "etcd range");
 * dispose(); // once the request is done
 * ```
 */
export function linkedController(
  parent: AbortSignal,
  timeoutMs: number | undefined,
  what: string,
): { controller: AbortController; dispose(): void } {
  const controller = new AbortController();
  const onParent = () => controller.abort(new Aborted("closed"));
  if (parent.aborted) onParent();
  else parent.addEventListener("abort", onParent, { once: true });
  const timer = timeoutMs === undefined ? undefined : setTimeout(
    () => controller.abort(new Aborted(`${what}: no answer in ${timeoutMs} ms`)),
    timeoutMs,
  );
  return {
    controller,
    dispose() {
      clearTimeout(timer);
      parent.removeEventListener("abort", onParent);
    },
  };
}

/**
 * Why a fetch failed, in words: the abort's reason when `signal` was
 * aborted, else the error and its cause.
 *
 * @example
 * ```ts
 * import { failureText } from "./gateway.ts";
 * failureText(new TypeError("fetch failed"), new AbortController().signal); // "fetch failed"
 * ```
 */
export function failureText(err: unknown, signal: AbortSignal): string {
  if (signal.aborted && signal.reason instanceof Error) return signal.reason.message;
  if (!(err instanceof Error)) return String(err);
  // "fetch failed" alone says little; the cause says "connection refused".
  const text = err.cause instanceof Error ? `${err.message}: ${err.cause.message}` : err.message;
  return text.replace(/error sending request for url \([^)]*\): /, "");
}

/** Read a gateway answer: one JSON object, or `{"result": ...}` from a stream call. */
function readAnswer(status: number, text: string, where: string): Json {
  let json: Json;
  try {
    json = JSON.parse(text.trim().split("\n")[0] || "{}");
  } catch {
    throw new EtcdError(`${where}: HTTP ${status}, not JSON: ${text.slice(0, 200)}`);
  }
  const error = json.error;
  if (status !== 200 || error !== undefined) {
    // Unary calls: {"error": "...", "code": N}; stream calls: {"error": {"grpc_code": N, ...}}.
    const code = typeof error === "object" && error !== null ? error.grpc_code : json.code;
    const message = typeof error === "object" && error !== null ? error.message : error;
    throw new EtcdError(`${where}: ${message ?? `HTTP ${status}`}`, code);
  }
  return json.result ?? json;
}

/**
 * One POST to one member, bounded by `timeoutMs` and aborted by `closed`.
 * Rejects with an {@link EtcdError}.
 *
 * @example
 * ```ts
 * import { b64, post } from "./gateway.ts";
 * const closed = new AbortController().signal;
 * await post("http://10.0.0.1:2379", "/v3/kv/range", { key: b64("/gatehouse/") }, 3000, closed);
 * ```
 */
export async function post(
  endpoint: string,
  path: string,
  body: unknown,
  timeoutMs: number,
  closed: AbortSignal,
): Promise<Json> {
  const where = `etcd ${endpoint}${path}`;
  const { controller, dispose } = linkedController(closed, timeoutMs, where);
  try {
    const res = await fetch(`${endpoint}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
      signal: controller.signal,
    });
    return readAnswer(res.status, await res.text(), where);
  } catch (err) {
    if (err instanceof EtcdError) throw err;
    throw new EtcdError(failureText(err, controller.signal), undefined, { cause: err });
  } finally {
    dispose();
  }
}

/**
 * The members of a cluster and which one is in use. A call goes to the
 * current member; on an outage it moves to the next and tries again, so the
 * next call starts where the last one succeeded.
 *
 * @example
 * ```ts
 * import { Members } from "./gateway.ts";
 * const closing = new AbortController();
 * const members = new Members(["http://10.0.0.1:2379", "http://10.0.0.2:2379"], 3000, closing.signal);
 * const grant = await members.call("/v3/lease/grant", { TTL: "10" }, 2);
 * ```
 */
export class Members {
  readonly endpoints: readonly string[];
  readonly #timeoutMs: number;
  readonly #closed: AbortSignal;
  #current = 0;

  constructor(endpoints: readonly string[], timeoutMs: number, closed: AbortSignal) {
    if (endpoints.length === 0) throw new Error("etcd: no endpoints");
    this.endpoints = endpoints;
    this.#timeoutMs = timeoutMs;
    this.#closed = closed;
  }

  get current(): string {
    return this.endpoints[this.#current];
  }

  /** Move to the next member. */
  advance(): string {
    this.#current = (this.#current + 1) % this.endpoints.length;
    return this.current;
  }

  /** One request to a given member. */
  postTo(
    endpoint: string,
    path: string,
    body: unknown,
    timeoutMs = this.#timeoutMs,
  ): Promise<Json> {
    return post(endpoint, path, body, timeoutMs, this.#closed);
  }

  /**
   * Try every member once per round, starting with the current one, for
   * `rounds` rounds. Answers (NOT_FOUND, bad request) reject at once.
   */
  async call(path: string, body: unknown, rounds = 1, timeoutMs = this.#timeoutMs): Promise<Json> {
    const failures = new Map<string, string>(); // The last failure per member.
    const attempts = this.endpoints.length * rounds;
    for (let attempt = 0; attempt < attempts; attempt++) {
      if (this.#closed.aborted) throw new EtcdError("etcd client closed");
      const endpoint = this.current;
      try {
        return await this.postTo(endpoint, path, body, timeoutMs);
      } catch (err) {
        const e = err as EtcdError;
        if (!e.retryable || this.#closed.aborted) throw e;
        failures.set(endpoint, e.message);
        this.advance();
        // Between rounds, give an election a moment.
        if ((attempt + 1) % this.endpoints.length === 0 && attempt + 1 < attempts) {
          await abortableSleep(500, this.#closed);
        }
      }
    }
    const list = [...failures].map(([endpoint, why]) => `${endpoint}: ${why}`);
    throw new EtcdError(`no etcd member answered ${path} (${list.join("; ")})`);
  }
}

/**
 * setTimeout as a promise that resolves early when `signal` aborts.
 *
 * @example
 * ```ts
 * import { abortableSleep } from "./gateway.ts";
 * await abortableSleep(500, new AbortController().signal);
 * ```
 */
export function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}
