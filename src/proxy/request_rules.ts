/**
 * The request-rules phase: what a route's rules (routing/rules.ts) do to a
 * request it matched, between routing and picking a replica. A request is
 * redirected to HTTPS, answered with the route's fixed response, refused
 * for a body over the route's limit, or forwarded, with its target's prefix
 * stripped or replaced, its header edits, and the route's timeouts and
 * retries over the ingress's.
 *
 * Routes are immutable, so each one's rules are turned once into a
 * {@link RoutePlan} (edits compiled to bytes, limits merged); a request pays
 * for a route's rules only when it has some: the exchange skips this phase
 * with one identity check against NO_RULES.
 *
 * @module
 */

import type { Route } from "../routing/router.ts";
import type { Target } from "../routing/path.ts";
import type { RouteRules } from "../routing/rules.ts";
import type { ConnectOptions } from "../runtime/types.ts";
import { encodeHead, STATUS_TEXT } from "../http1/serialize.ts";
import type { ProxyContext } from "./context.ts";
import type { StallLimits } from "./transfer_timers.ts";
import type { IncomingRequest } from "./request_head.ts";
import type { RequestId } from "./request_id.ts";
import type { RequestRewrite } from "./forwarded.ts";
import type { Downstream } from "./downstream.ts";
import { HeadEdits } from "./header_edits.ts";

/** What the phase decided for a request. */
export const RuleAnswer = {
  /** Send it on to the route's service. */
  Forward: 0,
  /** Answer with the route's fixed response. */
  Respond: 1,
  /** Redirect the client to HTTPS. */
  Redirect: 2,
  /** Its Content-Length is over the route's max-body: 413. */
  TooLarge: 3,
  /** It would be forwarded, but the route has no service (only a redirect, on HTTPS). */
  NoService: 4,
} as const;

/** One of {@link RuleAnswer}'s values. */
export type RuleAnswer = typeof RuleAnswer[keyof typeof RuleAnswer];

const encoder = new TextEncoder();
const NO_BODY = new Uint8Array(0);

/**
 * The request-target sent to the backend when the matched `prefix` is
 * replaced by `replacement` ("" strips it): the rest of `path` follows it,
 * the result always starts with "/", and the `query` is kept. For a segment
 * prefix of "/" the whole path is the rest.
 *
 * @example
 * ```ts
 * import { rewriteTarget } from "./request_rules.ts";
 * rewriteTarget("/api/users", "?page=2", "/api", false, ""); // "/users?page=2"
 * rewriteTarget("/api", "", "/api", false, "");              // "/"
 * rewriteTarget("/api/users", "", "/api", false, "/v2");     // "/v2/users"
 * rewriteTarget("/img2.png", "", "/img", true, "");          // "/2.png"
 * ```
 */
export function rewriteTarget(
  path: string,
  query: string,
  prefix: string,
  stringPrefix: boolean,
  replacement: string,
): string {
  const rest = !stringPrefix && prefix === "/" ? path : path.slice(prefix.length);
  let out = replacement.endsWith("/") && rest.charCodeAt(0) === 0x2f
    ? replacement + rest.slice(1)
    : replacement + rest;
  if (out.charCodeAt(0) !== 0x2f) out = "/" + out;
  return out + query;
}

/**
 * The Location of an HTTPS redirect: the request's host without its port,
 * `port` unless it is 443, and the target as the client sent it (in origin
 * form; an absolute-form target's path and query).
 *
 * @example
 * ```ts
 * import { httpsLocation } from "./request_rules.ts";
 * httpsLocation("example.com:8080", "/a?b=1", "/a", "?b=1", 443); // "https://example.com/a?b=1"
 * httpsLocation("[::1]:80", "/", "/", "", 8443);                 // "https://[::1]:8443/"
 * ```
 */
export function httpsLocation(
  host: string,
  target: string,
  path: string,
  query: string,
  port: number,
): string {
  const colon = host.lastIndexOf(":");
  const name = colon > host.lastIndexOf("]") ? host.slice(0, colon) : host;
  const sent = target.charCodeAt(0) === 0x2f ? target : path === "*" ? "/" : path + query;
  return `https://${name}${port === 443 ? "" : `:${port}`}${sent}`;
}

/**
 * One route's rules, ready to apply: made once per route (and listener) by
 * {@link RulePlans}, read by every request the route matches.
 *
 * @example
 * ```ts
 * import { RoutePlan, RuleAnswer } from "./request_rules.ts";
 * import { parseRoute } from "../routing/router.ts";
 * import type { ProxyContext } from "./context.ts";
 * import type { IncomingRequest } from "./request_head.ts";
 * declare const ctx: ProxyContext, req: IncomingRequest;
 * const route = { ...parseRoute("/api:api"), rules: { ...parseRoute("/:x").rules, stripPrefix: true } };
 * const plan = new RoutePlan(route, ctx.stallLimits, ctx.upstreamConnect);
 * plan.answer(req, "http") === RuleAnswer.Forward; // true: a request to strip and forward
 * plan.target({ path: "/api/x", query: "", authority: "" }); // "/x"
 * ```
 */
export class RoutePlan implements RequestRewrite {
  readonly route: Route;
  readonly rules: RouteRules;
  /** What takes the matched prefix's place, or null: the target goes as it came. */
  readonly #replacement: string | null;
  /** Edits to the head sent to the backend (X-Forwarded-Prefix of a strip among them), or null. */
  readonly edits: HeadEdits | null;
  /** Edits to the heads sent to the client, or null. */
  readonly responseEdits: HeadEdits | null;
  /** The limits this plan's were merged over (a context's own). */
  readonly baseStall: StallLimits;
  readonly baseConnect: ConnectOptions;
  /** The transfer timeouts of the route's requests. */
  readonly stall: StallLimits;
  /** How the route's connects are made. */
  readonly connect: ConnectOptions;
  /** Largest request body in bytes, or -1: no limit. */
  readonly maxBody: number;
  /** A fixed response's head up to its Content-Length, and its body. */
  readonly #fixedHead: string = "";
  readonly #fixedBody: Uint8Array = NO_BODY;

  constructor(route: Route, baseStall: StallLimits, baseConnect: ConnectOptions) {
    const rules = route.rules;
    this.route = route;
    this.rules = rules;
    this.baseStall = baseStall;
    this.baseConnect = baseConnect;
    this.#replacement = rules.stripPrefix ? "" : rules.replacePrefix;
    const forwardedPrefix = rules.stripPrefix
      ? [["X-Forwarded-Prefix", route.prefix] as const]
      : [];
    this.edits = rules.requestHeaders !== null || rules.stripPrefix
      ? new HeadEdits(rules.requestHeaders, forwardedPrefix)
      : null;
    this.responseEdits = rules.responseHeaders !== null
      ? new HeadEdits(rules.responseHeaders)
      : null;
    const t = rules.timeouts;
    this.stall = t === null ? baseStall : {
      ...baseStall,
      upstreamTimeoutMs: t.upstreamMs ?? baseStall.upstreamTimeoutMs,
      tryTimeoutMs: t.tryMs ?? baseStall.tryTimeoutMs,
      upstreamReadTimeoutMs: t.upstreamReadMs ?? baseStall.upstreamReadTimeoutMs,
      bodyTimeoutMs: t.bodyMs ?? baseStall.bodyTimeoutMs,
    };
    this.connect = t?.connectMs === undefined
      ? baseConnect
      : { ...baseConnect, timeoutMs: t.connectMs };
    this.maxBody = rules.maxBodyBytes ?? -1;
    const fixed = rules.respond;
    if (fixed !== null) {
      this.#fixedBody = encoder.encode(fixed.body);
      this.#fixedHead = `${statusLine(fixed.status)}Content-Type: ${fixed.contentType}\r\n` +
        `Content-Length: ${this.#fixedBody.length}\r\n`;
    }
  }

  /** Connect attempts for the route's requests, or null: the service's. */
  get retries(): number | null {
    return this.rules.retries;
  }

  /** What to do with `req`, which arrived on a listener speaking `proto` ("http" or "https"). */
  answer(req: IncomingRequest, proto: string): RuleAnswer {
    const rules = this.rules;
    if (rules.redirectHttps !== null && proto === "http") return RuleAnswer.Redirect;
    if (rules.respond !== null) return RuleAnswer.Respond;
    if (this.route.service === "") return RuleAnswer.NoService;
    const framing = req.framing;
    if (framing.kind === "length" && this.maxBody >= 0 && framing.length > this.maxBody) {
      return RuleAnswer.TooLarge;
    }
    return RuleAnswer.Forward;
  }

  /** The status of the answer the ingress gives itself (`Respond` or `Redirect`). */
  status(answer: RuleAnswer): number {
    return answer === RuleAnswer.Redirect
      ? this.rules.redirectHttps!.status
      : this.rules.respond!.status;
  }

  /** The request-target the backend gets (see {@link rewriteTarget}). */
  target(url: Target): string {
    const replacement = this.#replacement;
    if (replacement === null) return url.path + url.query;
    const route = this.route;
    return rewriteTarget(url.path, url.query, route.prefix, route.stringPrefix, replacement);
  }

  /**
   * The whole response of a `Respond` or `Redirect` answer to `req`, with
   * the request's id, `Connection: close` when `close`, and the route's
   * response edits. `local` is the address the client connected to: the
   * host of a redirect for a request that names none.
   */
  response(
    answer: RuleAnswer,
    req: IncomingRequest,
    id: RequestId,
    close: boolean,
    local: string,
  ): Uint8Array {
    let head: string;
    let body: Uint8Array = NO_BODY;
    if (answer === RuleAnswer.Redirect) {
      const r = this.rules.redirectHttps!;
      const url = req.url;
      const location = httpsLocation(req.host || local, req.target, url.path, url.query, r.port);
      head = `${statusLine(r.status)}Location: ${location}\r\nContent-Length: 0\r\n`;
    } else {
      head = this.#fixedHead;
      if (req.method !== "HEAD") body = this.#fixedBody;
    }
    head += `X-Request-Id: ${id.text}\r\n`;
    if (close) head += "Connection: close\r\n";
    else if (req.minor === 0) head += "Connection: keep-alive\r\n";
    // Latin-1: a target may carry obs-text bytes, which go back as they came.
    const headBytes = encodeHead(head + "\r\n", true);
    const out = new Uint8Array(headBytes.length + body.length);
    out.set(headBytes);
    out.set(body, headBytes.length);
    return this.responseEdits === null ? out : this.responseEdits.apply(out);
  }
}

/**
 * Give the answer the route's rules decided on instead of forwarding `req`
 * (the exchange's request is over already). A body the client sends is
 * dropped when all of it is here; otherwise the connection closes after the
 * answer, as after an error.
 *
 * @example
 * ```ts
 * import { answerByRule, RoutePlan } from "./request_rules.ts";
 * import type { Downstream } from "./downstream.ts";
 * import type { IncomingRequest } from "./request_head.ts";
 * declare const plan: RoutePlan, req: IncomingRequest, down: Downstream;
 * const answer = plan.answer(req, "http");
 * answerByRule(plan, answer, req, down, false); // down.answer(...) or down.fail(...)
 * ```
 */
export function answerByRule(
  plan: RoutePlan,
  answer: RuleAnswer,
  req: IncomingRequest,
  down: Downstream,
  draining: boolean,
): void {
  const framing = req.framing;
  if (answer === RuleAnswer.TooLarge) {
    return down.fail({ kind: "BodyTooLarge" }, true, req.method, req.target);
  }
  if (answer === RuleAnswer.NoService) {
    const noRoute = { kind: "NoRoute", host: req.host, path: req.url.path } as const;
    return down.fail(noRoute, framing.kind !== "none", req.method, req.target);
  }
  let unread = framing.kind !== "none";
  if (framing.kind === "length" && down.input.buffered >= framing.length) {
    down.input.consume(framing.length);
    unread = false;
  }
  const close = unread || down.closeAfter || draining;
  const response = plan.response(answer, req, down.requestId, close, down.clientInfo().local);
  down.answer(response, plan.status(answer), close, req.method, req.target);
}

function statusLine(status: number): string {
  return `HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? ""}\r\n`;
}

/**
 * The plans of one listener's routes, each made on its first request and
 * kept while its route is (a new configuration snapshot has new routes).
 *
 * @example
 * ```ts
 * import { RulePlans } from "./request_rules.ts";
 * import type { ProxyContext } from "./context.ts";
 * import type { Route } from "../routing/router.ts";
 * declare const ctx: ProxyContext, route: Route;
 * const plans = RulePlans.of(ctx);
 * plans.plan(route) === plans.plan(route); // true: made once
 * ```
 */
export class RulePlans {
  readonly #ctx: ProxyContext;
  readonly #plans = new WeakMap<Route, RoutePlan>();

  private constructor(ctx: ProxyContext) {
    this.#ctx = ctx;
  }

  /** The plans of `ctx`'s routes (one set per listener context). */
  static of(ctx: ProxyContext): RulePlans {
    let plans = byContext.get(ctx);
    if (plans === undefined) byContext.set(ctx, plans = new RulePlans(ctx));
    return plans;
  }

  /** `route`'s plan, merged over the context's limits as they are now. */
  plan(route: Route): RoutePlan {
    const ctx = this.#ctx;
    let plan = this.#plans.get(route);
    if (
      plan === undefined || plan.baseStall !== ctx.stallLimits ||
      plan.baseConnect !== ctx.upstreamConnect
    ) {
      plan = new RoutePlan(route, ctx.stallLimits, ctx.upstreamConnect);
      this.#plans.set(route, plan);
    }
    return plan;
  }
}

const byContext = new WeakMap<ProxyContext, RulePlans>();
