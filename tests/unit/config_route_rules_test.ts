/**
 * A route's rules read from its config entry (src/config/route_rules.ts):
 * every key's accepted forms, and every mistake reported at its key with
 * what is allowed.
 */

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { parseRouteRules, RULE_KEYS } from "../../src/config/route_rules.ts";
import { ConfigError, type Problem } from "../../src/config/errors.ts";
import { NO_RULES, type RouteRules } from "../../src/routing/rules.ts";
import { parseSize } from "../../src/cli/values.ts";

const problem: Problem = (key, message) => {
  throw new ConfigError(`${key}: ${message}`);
};

/** The rules of a route entry with these keys beside host, prefix and service. */
function rules(keys: Record<string, unknown>, tlsPort: number | null = 8443): RouteRules {
  return parseRouteRules(
    { host: "a.example", prefix: "/api", service: "api", ...keys },
    problem,
    tlsPort,
  );
}

/** The message reading `keys` fails with (it must fail). */
function mistake(keys: Record<string, unknown>, tlsPort: number | null = 8443): string {
  try {
    rules(keys, tlsPort);
  } catch (e) {
    assert.ok(e instanceof ConfigError, `a ConfigError, not ${e}`);
    return e.message;
  }
  assert.fail(`${JSON.stringify(keys)} was accepted`);
}

describe("parseRouteRules: an entry without rules", () => {
  it("is NO_RULES itself (the proxy's one identity check), whatever else the entry holds", () => {
    assert.equal(
      parseRouteRules({ prefix: "/", service: "web", whatever: 1 }, problem, null),
      NO_RULES,
    );
  });

  it("names every rule key", () => {
    assert.deepEqual([...RULE_KEYS].sort(), [
      "max-body",
      "redirect-https",
      "replace-prefix",
      "request-headers",
      "respond",
      "response-headers",
      "retries",
      "strip-prefix",
      "timeouts",
    ]);
  });
});

describe("parseRouteRules: prefixes", () => {
  it("reads strip-prefix", () => {
    assert.equal(rules({ "strip-prefix": true }).stripPrefix, true);
    assert.equal(rules({ "strip-prefix": false }).stripPrefix, false);
    assert.match(mistake({ "strip-prefix": "yes" }), /^strip-prefix: "yes" must be true or false$/);
  });

  it("reads replace-prefix as a path", () => {
    assert.equal(rules({ "replace-prefix": "/v2" }).replacePrefix, "/v2");
    assert.equal(rules({ "replace-prefix": "/" }).replacePrefix, "/");
    assert.equal(rules({ "replace-prefix": "/a/b%20c/" }).replacePrefix, "/a/b%20c/");
    for (const bad of ["v2", "/a b", "/a?x", "/a#x", "//a", "/a/../b", "/./a", "/a/..", "", 7]) {
      assert.match(
        mistake({ "replace-prefix": bad }),
        /^replace-prefix: ".*" must be a path starting with "\/"/,
        JSON.stringify(bad),
      );
    }
  });

  it("refuses strip-prefix together with replace-prefix", () => {
    assert.match(
      mistake({ "strip-prefix": true, "replace-prefix": "/v2" }),
      /^replace-prefix: strip-prefix and replace-prefix exclude each other/,
    );
    assert.equal(rules({ "strip-prefix": false, "replace-prefix": "/v2" }).replacePrefix, "/v2");
  });
});

describe("parseRouteRules: header edits", () => {
  it("reads remove, set and add (a list of values for add)", () => {
    const r = rules({
      "request-headers": {
        remove: ["X-Debug", "x-debug", "X-Other"],
        set: { "X-Env": "prod", "X-Port": 8080 },
        add: { "X-Tag": ["a", "b"], "X-One": "c" },
      },
    });
    assert.deepEqual(r.requestHeaders, {
      remove: ["x-debug", "x-other"],
      set: [["X-Env", "prod"], ["X-Port", "8080"]],
      add: [["X-Tag", "a"], ["X-Tag", "b"], ["X-One", "c"]],
    });
    assert.equal(r.responseHeaders, null);
  });

  it("takes one name for remove, and values with inner spaces and tabs", () => {
    const r = rules({
      "response-headers": { remove: "Server", set: { "Cache-Control": "no-store,\tmax-age=0" } },
    });
    assert.deepEqual(r.responseHeaders, {
      remove: ["server"],
      set: [["Cache-Control", "no-store,\tmax-age=0"]],
      add: [],
    });
  });

  it("lets a request set Host (only set: a request carries one)", () => {
    assert.deepEqual(
      rules({ "request-headers": { set: { Host: "internal" } } }).requestHeaders?.set,
      [
        ["Host", "internal"],
      ],
    );
    assert.match(
      mistake({ "request-headers": { add: { Host: "x" } } }),
      /^request-headers\.add\.Host: "Host" can only be set/,
    );
    assert.match(
      mistake({ "request-headers": { remove: ["host"] } }),
      /^request-headers\.remove: "host" can only be set/,
    );
    assert.match(
      mistake({ "response-headers": { set: { Host: "x" } } }),
      /^response-headers\.set\.Host: "Host" is a request header/,
    );
  });

  it("refuses the fields that frame a message or belong to one connection, either way", () => {
    const refused = [
      "Connection",
      "Keep-Alive",
      "TE",
      "Trailer",
      "Upgrade",
      "Transfer-Encoding",
      "Content-Length",
      "Proxy-Connection",
      "Proxy-Authorization",
    ];
    for (const side of ["request-headers", "response-headers"]) {
      for (const name of refused) {
        for (
          const edit of [{ remove: [name] }, { set: { [name]: "x" } }, { add: { [name]: "x" } }]
        ) {
          assert.match(
            mistake({ [side]: edit }),
            new RegExp(`^${side}\\.\\S+: "${name}" .*no route may edit it$`),
            `${side} ${JSON.stringify(edit)}`,
          );
        }
      }
    }
  });

  it("refuses editing Expect on requests (the ingress answers 100-continue), not on responses", () => {
    assert.match(
      mistake({ "request-headers": { remove: ["Expect"] } }),
      /^request-headers\.remove: "Expect" is acted on by the ingress/,
    );
    assert.deepEqual(
      rules({ "response-headers": { remove: ["Expect"] } }).responseHeaders?.remove,
      [
        "expect",
      ],
    );
  });

  it("refuses names that are not tokens, and values with line breaks or controls", () => {
    assert.match(
      mistake({ "request-headers": { set: { "X Env": "a" } } }),
      /^request-headers\.set\.X Env: "X Env" is not a header name/,
    );
    assert.match(
      mistake({ "request-headers": { remove: ["X:Y"] } }),
      /^request-headers\.remove: "X:Y" is not a header name/,
    );
    assert.match(
      mistake({ "request-headers": { remove: [7] } }),
      /^request-headers\.remove: 7 is not a header name/,
    );
    for (
      const bad of ["a\r\nX-Evil: 1", "a\nb", "a\x00", " lead", "trail\t", "caf\u00e9", { a: 1 }]
    ) {
      assert.match(
        mistake({ "response-headers": { add: { "X-A": bad } } }),
        /^response-headers\.add\.X-A: .* must be a header value: .*no line breaks/,
        JSON.stringify(bad),
      );
    }
    assert.match(
      mistake({ "request-headers": { set: { "X-A": "x".repeat(4097) } } }),
      /at most 4096/,
    );
  });

  it("refuses a name set twice, a list under set, unknown keys and non-mappings", () => {
    assert.match(
      mistake({ "request-headers": { set: { "X-A": "1", "x-a": "2" } } }),
      /^request-headers\.set\.x-a: "x-a" is set twice/,
    );
    assert.match(
      mistake({ "request-headers": { set: { "X-A": ["1", "2"] } } }),
      /^request-headers\.set\.X-A: set takes one value; use add for several$/,
    );
    assert.match(
      mistake({ "request-headers": { replace: { "X-A": "1" } } }),
      /^request-headers\.replace: is not a key of request-headers \(allowed: remove, set, add\)$/,
    );
    assert.match(mistake({ "response-headers": ["X-A"] }), /^response-headers: must be a mapping/);
    assert.match(
      mistake({ "request-headers": { set: ["X-A"] } }),
      /^request-headers\.set: must be a mapping/,
    );
    assert.match(
      mistake({ "request-headers": { remove: { "X-A": 1 } } }),
      /^request-headers\.remove: must be a list of header names$/,
    );
  });
});

describe("parseRouteRules: limits", () => {
  it("reads timeouts as the flags take durations, each one optional", () => {
    assert.deepEqual(
      rules({
        timeouts: {
          connect: "1s",
          upstream: "5s",
          try: "500ms",
          "upstream-read": 10,
          body: "1.5m",
        },
      }).timeouts,
      { connectMs: 1000, upstreamMs: 5000, tryMs: 500, upstreamReadMs: 10_000, bodyMs: 90_000 },
    );
    assert.deepEqual(rules({ timeouts: { try: "0" } }).timeouts, { tryMs: 0 });
  });

  it("refuses a bad duration, an unknown timeout and a non-mapping", () => {
    assert.match(
      mistake({ timeouts: { upstream: "soon" } }),
      /^timeouts\.upstream: "soon" is not a duration \(like 500ms, 10s, 2m\)$/,
    );
    assert.match(
      mistake({ timeouts: { connect: "30d" } }),
      /^timeouts\.connect: "30d" is not a duration/,
    );
    assert.match(
      mistake({ timeouts: { send: "1s" } }),
      /^timeouts\.send: is not a key of timeouts \(allowed: connect, upstream, try, upstream-read, body\)$/,
    );
    assert.match(mistake({ timeouts: "5s" }), /^timeouts: must be a mapping/);
  });

  it("reads retries from 1 to 100", () => {
    assert.equal(rules({ retries: 1 }).retries, 1);
    assert.equal(rules({ retries: "100" }).retries, 100);
    for (const bad of [0, 101, 2.5, "two", true]) {
      assert.match(
        mistake({ retries: bad }),
        /^retries: ".*" must be a whole number from 1 to 100$/,
        JSON.stringify(bad),
      );
    }
  });

  it("reads max-body as bytes, with k, m and g as powers of 1024", () => {
    assert.equal(rules({ "max-body": 1000 }).maxBodyBytes, 1000);
    assert.equal(rules({ "max-body": 0 }).maxBodyBytes, 0);
    assert.equal(rules({ "max-body": "512k" }).maxBodyBytes, 512 * 1024);
    assert.equal(rules({ "max-body": "10M" }).maxBodyBytes, 10 * 1024 * 1024);
    assert.equal(rules({ "max-body": "1g" }).maxBodyBytes, 1024 ** 3);
    for (const bad of ["1.5m", "10mb", "-1", "lots", 1.5, "99999999999999999g"]) {
      assert.match(
        mistake({ "max-body": bad }),
        /^max-body: ".*" is not a size in bytes \(a whole number, or like 512k, 10m, 1g\)$/,
        JSON.stringify(bad),
      );
    }
  });

  it("parseSize reads what max-body takes", () => {
    assert.equal(parseSize(" 2k "), 2048);
    assert.throws(() => parseSize("k"), /is not a size in bytes/);
  });
});

describe("parseRouteRules: answers the ingress gives itself", () => {
  it("reads redirect-https: true is a 308, or one of the redirect statuses, to the TLS port", () => {
    assert.deepEqual(rules({ "redirect-https": true }, 443).redirectHttps, {
      status: 308,
      port: 443,
    });
    for (const status of [301, 302, 307, 308]) {
      assert.deepEqual(rules({ "redirect-https": status }, 8443).redirectHttps, {
        status,
        port: 8443,
      });
    }
    assert.equal(rules({ "redirect-https": false }, null).redirectHttps, null);
  });

  it("refuses another status, and a redirect without a TLS listener", () => {
    for (const bad of [300, 200, "308", "yes"]) {
      assert.match(
        mistake({ "redirect-https": bad }),
        /^redirect-https: ".*" must be true \(a 308\) or one of 301, 302, 307, 308$/,
      );
    }
    assert.match(
      mistake({ "redirect-https": true }, null),
      /^redirect-https: needs a listener with tls: to redirect to/,
    );
    assert.match(
      mistake({ "redirect-https": 301 }, 0),
      /^redirect-https: needs the TLS listener on a fixed port \(it is on port 0\)$/,
    );
  });

  it("reads respond, with an empty body and a text content type by default", () => {
    assert.deepEqual(rules({ respond: { status: 410 } }).respond, {
      status: 410,
      body: "",
      contentType: "text/plain; charset=utf-8",
    });
    assert.deepEqual(
      rules({ respond: { status: "503", body: "down\n", "content-type": "application/json" } })
        .respond,
      { status: 503, body: "down\n", contentType: "application/json" },
    );
  });

  it("allows response headers and a redirect beside respond", () => {
    const r = rules({
      respond: { status: 200, body: "ok" },
      "response-headers": { set: { "Cache-Control": "no-store" } },
      "redirect-https": true,
    });
    assert.equal(r.respond?.status, 200);
    assert.equal(r.redirectHttps?.status, 308);
    assert.deepEqual(r.responseHeaders?.set, [["Cache-Control", "no-store"]]);
  });

  it("refuses a bad respond", () => {
    assert.match(mistake({ respond: {} }), /^respond\.status: is required \(200-599\)$/);
    for (const bad of [199, 600, "ok", 20.5]) {
      assert.match(
        mistake({ respond: { status: bad } }),
        /^respond\.status: ".*" must be a whole number from 200 to 599$/,
      );
    }
    assert.match(
      mistake({ respond: { status: 200, body: ["a"] } }),
      /^respond\.body: must be text$/,
    );
    assert.match(
      mistake({ respond: { status: 200, "content-type": "text/plain\r\nX: 1" } }),
      /^respond\.content-type: .* must be a header value/,
    );
    assert.match(
      mistake({ respond: { status: 200, headers: {} } }),
      /^respond\.headers: is not a key of respond \(allowed: status, body, content-type\)$/,
    );
    assert.match(
      mistake({ respond: 503 }),
      /^respond: must be a mapping of status, body and content-type$/,
    );
  });

  it("refuses keys that only act on forwarding beside respond", () => {
    for (
      const [key, v] of [
        ["strip-prefix", true],
        ["replace-prefix", "/v2"],
        ["request-headers", { set: { "X-A": "1" } }],
        ["timeouts", { upstream: "1s" }],
        ["retries", 2],
        ["max-body", "1k"],
      ] as const
    ) {
      assert.match(
        mistake({ respond: { status: 200 }, [key]: v }),
        new RegExp(`^${key}: a route with respond answers itself .* so ${key} would do nothing`),
      );
    }
  });

  it("returns frozen rules", () => {
    const r = rules({ "request-headers": { set: { "X-A": "1" } }, timeouts: { upstream: "1s" } });
    assert.ok(
      Object.isFrozen(r) && Object.isFrozen(r.requestHeaders) && Object.isFrozen(r.timeouts),
    );
    assert.ok(Object.isFrozen(r.requestHeaders!.set) && Object.isFrozen(r.requestHeaders!.set[0]));
  });
});
