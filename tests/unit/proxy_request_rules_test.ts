/**
 * The request-rules phase's pieces (src/proxy/request_rules.ts,
 * src/proxy/header_edits.ts): the target a backend gets after a prefix is
 * stripped or replaced, an HTTPS redirect's Location, header edits on
 * finished heads, what a route decides for a request, the answers it gives
 * itself, and its limits merged over the ingress's.
 */

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  httpsLocation,
  rewriteTarget,
  RoutePlan,
  RuleAnswer,
  RulePlans,
} from "../../src/proxy/request_rules.ts";
import { HeadEdits } from "../../src/proxy/header_edits.ts";
import { type ClientInfo, ForwardHead } from "../../src/proxy/forwarded.ts";
import {
  type IncomingRequest,
  newIncomingRequest,
  readRequest,
} from "../../src/proxy/request_head.ts";
import { HeadScan, scanRequestHead } from "../../src/http1/head.ts";
import { RequestId, RequestIdSource } from "../../src/proxy/request_id.ts";
import { parseRoute, type Route } from "../../src/routing/router.ts";
import { NO_RULES, type RouteRules } from "../../src/routing/rules.ts";
import type { StallLimits } from "../../src/proxy/transfer_timers.ts";
import type { ConnectOptions } from "../../src/runtime/types.ts";
import type { ProxyContext } from "../../src/proxy/context.ts";

const encoder = new TextEncoder();
const latin1 = (b: Uint8Array) => String.fromCharCode(...b);

const STALL: StallLimits = {
  bodyTimeoutMs: 60_000,
  upstreamSendTimeoutMs: 60_000,
  upstreamTimeoutMs: 60_000,
  tryTimeoutMs: 0,
  upstreamReadTimeoutMs: 60_000,
  sendTimeoutMs: 60_000,
};
const CONNECT: ConnectOptions = { timeoutMs: 3000, receiveBuffer: 0 };

/** A route from a `--route` spec with these rules. */
function route(spec: string, rules: Partial<RouteRules>): Route {
  return { ...parseRoute(spec), rules: { ...NO_RULES, ...rules } };
}

function plan(spec: string, rules: Partial<RouteRules>): RoutePlan {
  return new RoutePlan(route(spec, rules), STALL, CONNECT);
}

/** The request read from `head` (kept apart from others: the scan is copied out). */
function read(head: string): { scan: HeadScan; req: IncomingRequest } {
  const scan = new HeadScan();
  const bytes = encoder.encode(head);
  assert.equal(scanRequestHead(bytes, 0, bytes.length, { maxSize: 65536 }, scan), null);
  const req = newIncomingRequest();
  assert.equal(readRequest(scan, req), null);
  if (req.framing.kind === "length") req.framing = { ...req.framing };
  return { scan, req };
}

const ID = new RequestId();
new RequestIdSource("t").next(ID);

describe("rewriteTarget", () => {
  it("strips a segment prefix, keeping the query and a leading /", () => {
    assert.equal(rewriteTarget("/api/users", "?page=2", "/api", false, ""), "/users?page=2");
    assert.equal(rewriteTarget("/api", "", "/api", false, ""), "/");
    assert.equal(rewriteTarget("/api/", "", "/api", false, ""), "/");
    assert.equal(rewriteTarget("/api", "?q", "/api", false, ""), "/?q");
    assert.equal(rewriteTarget("/a/b/c", "", "/a/b", false, ""), "/c");
  });

  it("leaves the path whole for the prefix /", () => {
    assert.equal(rewriteTarget("/x/y", "?q", "/", false, ""), "/x/y?q");
    assert.equal(rewriteTarget("/", "", "/", false, ""), "/");
    assert.equal(rewriteTarget("/x", "", "/", false, "/v2"), "/v2/x");
  });

  it("replaces a segment prefix", () => {
    assert.equal(rewriteTarget("/api/users", "?a=1", "/api", false, "/v2"), "/v2/users?a=1");
    assert.equal(rewriteTarget("/api", "", "/api", false, "/v2"), "/v2");
    assert.equal(rewriteTarget("/api/x", "", "/api", false, "/v2/"), "/v2/x");
    assert.equal(rewriteTarget("/api/x", "", "/api", false, "/"), "/x");
    assert.equal(rewriteTarget("/api", "", "/api", false, "/"), "/");
  });

  it("strips or replaces a string prefix literally", () => {
    assert.equal(rewriteTarget("/img2.png", "", "/img", true, ""), "/2.png");
    assert.equal(rewriteTarget("/img/a.png", "", "/img", true, ""), "/a.png");
    assert.equal(rewriteTarget("/img", "", "/img", true, ""), "/");
    assert.equal(rewriteTarget("/img/a.png", "", "/img/", true, ""), "/a.png");
    assert.equal(rewriteTarget("/img2.png", "?s=1", "/img", true, "/pics"), "/pics2.png?s=1");
    assert.equal(rewriteTarget("/img/a.png", "", "/img/", true, "/pics/"), "/pics/a.png");
  });
});

describe("httpsLocation", () => {
  it("drops the Host's port and adds the TLS port unless it is 443", () => {
    assert.equal(
      httpsLocation("example.com:8080", "/a?b", "/a", "?b", 443),
      "https://example.com/a?b",
    );
    assert.equal(httpsLocation("example.com", "/a", "/a", "", 8443), "https://example.com:8443/a");
    assert.equal(httpsLocation("[::1]:80", "/", "/", "", 8443), "https://[::1]:8443/");
    assert.equal(httpsLocation("[::1]", "/", "/", "", 443), "https://[::1]/");
  });

  it("keeps an origin-form target as sent, and takes the path of an absolute-form one", () => {
    assert.equal(
      httpsLocation("a.example", "/x/../y?%41", "/y", "?%41", 443),
      "https://a.example/x/../y?%41",
    );
    assert.equal(
      httpsLocation("a.example", "http://a.example/p?q", "/p", "?q", 443),
      "https://a.example/p?q",
    );
    assert.equal(httpsLocation("a.example", "*", "*", "", 443), "https://a.example/");
  });
});

describe("HeadEdits", () => {
  const head = (lines: string[], body = "") =>
    encoder.encode(`GET / HTTP/1.1\r\n${lines.map((l) => l + "\r\n").join("")}\r\n${body}`);

  it("removes every field of a name whatever its case, sets after the others, then adds", () => {
    const edits = new HeadEdits({
      remove: ["x-debug"],
      set: [["X-Env", "prod"]],
      add: [["X-Tag", "a"], ["X-Tag", "b"]],
    });
    const out = latin1(
      edits.apply(
        head(["Host: h", "X-DEBUG: 1", "x-env: dev", "X-Env: test", "X-Debug: 2", "X-Tag: c"]),
      ),
    );
    assert.equal(
      out,
      "GET / HTTP/1.1\r\nHost: h\r\nX-Tag: c\r\nX-Env: prod\r\nX-Tag: a\r\nX-Tag: b\r\n\r\n",
    );
  });

  it("leaves a name that only starts like a removed one", () => {
    const edits = new HeadEdits({ remove: ["x-a"], set: [], add: [] });
    assert.equal(
      latin1(edits.apply(head(["X-A: 1", "X-AB: 2", "X-: 3"]))),
      "GET / HTTP/1.1\r\nX-AB: 2\r\nX-: 3\r\n\r\n",
    );
  });

  it("keeps the body bytes joined to a head as they are", () => {
    const edits = new HeadEdits({ remove: [], set: [["X-A", "1"]], add: [] });
    const out = latin1(edits.apply(head(["Content-Length: 4"], "a\r\n\r")));
    assert.equal(out, "GET / HTTP/1.1\r\nContent-Length: 4\r\nX-A: 1\r\n\r\na\r\n\r");
  });

  it("puts fields set first before the edits, which override them", () => {
    const first = [["X-Forwarded-Prefix", "/api"]] as const;
    assert.equal(
      latin1(new HeadEdits(null, first).apply(head(["X-Forwarded-Prefix: /evil"]))),
      "GET / HTTP/1.1\r\nX-Forwarded-Prefix: /api\r\n\r\n",
    );
    const removed = new HeadEdits({ remove: ["x-forwarded-prefix"], set: [], add: [] }, first);
    assert.equal(
      latin1(removed.apply(head(["X-Forwarded-Prefix: /evil"]))),
      "GET / HTTP/1.1\r\n\r\n",
    );
    const set = new HeadEdits({ remove: [], set: [["x-forwarded-prefix", "/p"]], add: [] }, first);
    assert.equal(latin1(set.apply(head([]))), "GET / HTTP/1.1\r\nx-forwarded-prefix: /p\r\n\r\n");
  });
});

describe("RoutePlan.answer", () => {
  it("redirects on plain HTTP only, before a fixed response", () => {
    const p = plan("/:web", {
      redirectHttps: { status: 308, port: 443 },
      respond: { status: 200, body: "", contentType: "t" },
    });
    const { req } = read("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    assert.equal(p.answer(req, "http"), RuleAnswer.Redirect);
    assert.equal(p.answer(req, "https"), RuleAnswer.Respond);
    const forward = plan("/:web", { redirectHttps: { status: 308, port: 443 } });
    assert.equal(forward.answer(req, "https"), RuleAnswer.Forward);
  });

  it("has nothing to forward to on HTTPS for a redirect route without a service", () => {
    const p = new RoutePlan(
      { ...route("/:web", { redirectHttps: { status: 301, port: 443 } }), service: "" },
      STALL,
      CONNECT,
    );
    const { req } = read("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    assert.equal(p.answer(req, "https"), RuleAnswer.NoService);
  });

  it("refuses a Content-Length over max-body, not one at it, nor a chunked body (checked as it comes)", () => {
    const p = plan("/:web", { maxBodyBytes: 10 });
    assert.equal(
      p.answer(read("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\n").req, "http"),
      RuleAnswer.TooLarge,
    );
    assert.equal(
      p.answer(read("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n").req, "http"),
      RuleAnswer.Forward,
    );
    assert.equal(
      p.answer(
        read("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n").req,
        "http",
      ),
      RuleAnswer.Forward,
    );
    assert.equal(p.maxBody, 10);
    assert.equal(plan("/:web", { stripPrefix: true }).maxBody, -1);
  });
});

describe("RoutePlan.response", () => {
  const fixed = {
    status: 503,
    body: "down for maintenance – back soon\n",
    contentType: "text/plain; charset=utf-8",
  };

  it("answers with the fixed response: its length in bytes, the request id, keep-alive by default", () => {
    const p = plan("/:web", { respond: fixed });
    const { req } = read("GET /x HTTP/1.1\r\nHost: a\r\n\r\n");
    const body = encoder.encode(fixed.body);
    const text = new TextDecoder().decode(
      p.response(RuleAnswer.Respond, req, ID, false, "127.0.0.1:80"),
    );
    assert.equal(
      text,
      "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n" +
        `Content-Length: ${body.length}\r\nX-Request-Id: ${ID.text}\r\n\r\n${fixed.body}`,
    );
    assert.equal(p.status(RuleAnswer.Respond), 503);
  });

  it("sends no body for HEAD, says close when closing, keep-alive to an HTTP/1.0 client", () => {
    const p = plan("/:web", { respond: fixed });
    const head = latin1(
      p.response(RuleAnswer.Respond, read("HEAD / HTTP/1.1\r\nHost: a\r\n\r\n").req, ID, true, ""),
    );
    assert.match(head, /Content-Length: \d+\r\nX-Request-Id: \S+\r\nConnection: close\r\n\r\n$/);
    const old = latin1(
      p.response(RuleAnswer.Respond, read("GET / HTTP/1.0\r\n\r\n").req, ID, false, ""),
    );
    assert.match(old, /\r\nConnection: keep-alive\r\n\r\ndown/);
  });

  it("redirects to the same host and target on the TLS port, with an empty body", () => {
    const p = plan("/:web", { redirectHttps: { status: 301, port: 8443 } });
    const { req } = read(
      "POST /a/b?c=1 HTTP/1.1\r\nHost: Shop.example:8080\r\nContent-Length: 0\r\n\r\n",
    );
    assert.equal(
      latin1(p.response(RuleAnswer.Redirect, req, ID, false, "")),
      "HTTP/1.1 301 Moved Permanently\r\nLocation: https://Shop.example:8443/a/b?c=1\r\n" +
        `Content-Length: 0\r\nX-Request-Id: ${ID.text}\r\n\r\n`,
    );
    assert.equal(p.status(RuleAnswer.Redirect), 301);
    const noHost = read("GET / HTTP/1.0\r\n\r\n").req;
    assert.match(
      latin1(p.response(RuleAnswer.Redirect, noHost, ID, false, "[::1]:80")),
      /Location: https:\/\/\[::1\]:8443\/\r\n/,
    );
  });

  it("makes the route's response edits, and leaves an unknown status's reason empty", () => {
    const p = plan("/:web", {
      respond: { status: 299, body: "x", contentType: "text/plain" },
      responseHeaders: { remove: ["x-request-id"], set: [["Cache-Control", "no-store"]], add: [] },
    });
    assert.equal(
      latin1(
        p.response(
          RuleAnswer.Respond,
          read("GET / HTTP/1.1\r\nHost: a\r\n\r\n").req,
          ID,
          false,
          "",
        ),
      ),
      "HTTP/1.1 299 \r\nContent-Type: text/plain\r\nContent-Length: 1\r\nCache-Control: no-store\r\n\r\nx",
    );
  });
});

describe("RoutePlan: the head a backend gets", () => {
  const info: ClientInfo = {
    peer: "10.0.0.9",
    proto: "http",
    trusted: false,
    local: "10.0.0.1:80",
    via: null,
  };

  function forwarded(p: RoutePlan, head: string): string {
    const { scan, req } = read(head);
    const fh = new ForwardHead();
    fh.build(scan, req, info, null, p);
    return latin1(fh.bytes);
  }

  it("strips the prefix and says it in X-Forwarded-Prefix, replacing the client's", () => {
    const out = forwarded(
      plan("/api:api", { stripPrefix: true }),
      "GET /api/users?x=1 HTTP/1.1\r\nHost: a\r\nX-Forwarded-Prefix: /evil\r\n\r\n",
    );
    assert.match(out, /^GET \/users\?x=1 HTTP\/1\.1\r\n/);
    assert.deepEqual(out.match(/X-Forwarded-Prefix: .*/gi), ["X-Forwarded-Prefix: /api"]);
  });

  it("routes on the normalized path, and rewrites that", () => {
    const out = forwarded(
      plan("/api:api", { replacePrefix: "/v2" }),
      "GET /x/../api/%75sers HTTP/1.1\r\nHost: a\r\n\r\n",
    );
    assert.match(out, /^GET \/v2\/users HTTP\/1\.1\r\n/);
    assert.doesNotMatch(out, /X-Forwarded-Prefix/i);
  });

  it("edits after the forwarding headers are written, so a route may set those too", () => {
    const out = forwarded(
      plan("/:web", {
        requestHeaders: {
          remove: ["x-real-ip"],
          set: [["X-Forwarded-Proto", "https"], ["Host", "internal"]],
          add: [],
        },
      }),
      "GET /p HTTP/1.1\r\nHost: a\r\n\r\n",
    );
    assert.match(out, /^GET \/p HTTP\/1\.1\r\n/);
    assert.doesNotMatch(out, /X-Real-IP/i);
    assert.deepEqual(out.match(/X-Forwarded-Proto: .*/g), ["X-Forwarded-Proto: https"]);
    assert.deepEqual(out.match(/^Host: .*/gm), ["Host: internal"]);
    assert.match(out, /X-Forwarded-Host: a\r\n/);
  });

  it("keeps OPTIONS * as it is", () => {
    const out = forwarded(
      plan("/:web", { stripPrefix: true }),
      "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
    );
    assert.match(out, /^OPTIONS \* HTTP\/1\.1\r\n/);
  });
});

describe("RoutePlan: limits", () => {
  it("merges the route's timeouts over the ingress's, and uses the ingress's own objects without any", () => {
    const p = plan("/:web", {
      timeouts: { connectMs: 100, tryMs: 50, upstreamMs: 500 },
      retries: 7,
    });
    assert.deepEqual(p.stall, { ...STALL, tryTimeoutMs: 50, upstreamTimeoutMs: 500 });
    assert.deepEqual(p.connect, { timeoutMs: 100, receiveBuffer: 0 });
    assert.equal(p.retries, 7);
    const body = plan("/:web", { timeouts: { bodyMs: 1, upstreamReadMs: 2 } });
    assert.deepEqual(body.stall, { ...STALL, bodyTimeoutMs: 1, upstreamReadTimeoutMs: 2 });
    assert.equal(body.connect, CONNECT);
    const none = plan("/:web", { stripPrefix: true });
    assert.equal(none.stall, STALL);
    assert.equal(none.connect, CONNECT);
    assert.equal(none.retries, null);
  });

  it("is made once per route and context, and again when the context's limits change", () => {
    const ctx = { stallLimits: STALL, upstreamConnect: CONNECT } as unknown as ProxyContext;
    const plans = RulePlans.of(ctx);
    assert.equal(RulePlans.of(ctx), plans);
    const r = route("/:web", { timeouts: { upstreamMs: 5 } });
    const first = plans.plan(r);
    assert.equal(plans.plan(r), first);
    assert.notEqual(plans.plan(route("/:web", { timeouts: { upstreamMs: 5 } })), first);
    ctx.stallLimits = { ...STALL, bodyTimeoutMs: 9 };
    const again = plans.plan(r);
    assert.notEqual(again, first);
    assert.equal(again.stall.bodyTimeoutMs, 9);
    assert.equal(again.stall.upstreamTimeoutMs, 5);
  });
});
