/**
 * The route table (src/routing/router.ts): `--route` parsing, segment-aware longest
 * prefix matching, string prefixes, and host routes (exact, with port and
 * case, and one-label wildcards).
 */

import { NO_RULES } from "../../src/routing/rules.ts";
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { hostName, parseRoute, RouteTable } from "../../src/routing/router.ts";
import { normalizePath } from "../../src/routing/path.ts";

function table(...specs: string[]): RouteTable {
  return new RouteTable(specs.map(parseRoute));
}

/** The service chosen for host + path, or "-" when none. */
function pick(t: RouteTable, host: string, path: string): string {
  return t.match(host, path)?.service ?? "-";
}

function picks(t: RouteTable, cases: Array<[host: string, path: string, service: string]>): void {
  for (const [host, path, service] of cases) {
    assert.equal(pick(t, host, path), service, `${host}${path}`);
  }
}

describe("parseRoute", () => {
  it("parses a host-less prefix route", () => {
    assert.deepEqual(parseRoute("/api:api-service"), {
      host: "",
      prefix: "/api",
      stringPrefix: false,
      service: "api-service",
      source: "/api:api-service",
      origin: "--route",
      rules: NO_RULES,
    });
  });

  it("parses the root route", () => {
    assert.deepEqual(parseRoute("/:frontend"), {
      host: "",
      prefix: "/",
      stringPrefix: false,
      service: "frontend",
      source: "/:frontend",
      origin: "--route",
      rules: NO_RULES,
    });
  });

  it("drops a trailing slash from a segment prefix", () => {
    assert.equal(parseRoute("/api/:a").prefix, "/api");
    assert.equal(parseRoute("/api/v1/:a").prefix, "/api/v1");
  });

  it("parses a string prefix written with a trailing '*'", () => {
    const r = parseRoute("/img*:images");
    assert.equal(r.prefix, "/img");
    assert.equal(r.stringPrefix, true);
    assert.equal(r.service, "images");
    // A trailing slash is part of a string prefix.
    assert.equal(parseRoute("/img/*:images").prefix, "/img/");
    assert.equal(parseRoute("/*:all").prefix, "/");
  });

  it("parses a host, lower-cased", () => {
    const r = parseRoute("Shop.Example.COM/cart:cart");
    assert.equal(r.host, "shop.example.com");
    assert.equal(r.prefix, "/cart");
    assert.equal(r.service, "cart");
    assert.equal(r.source, "Shop.Example.COM/cart:cart");
  });

  it("parses a wildcard host", () => {
    const r = parseRoute("*.example.com/:tenant");
    assert.equal(r.host, "*.example.com");
    assert.equal(r.prefix, "/");
  });

  it("takes the service after the last colon, so a prefix may hold colons", () => {
    const r = parseRoute("/a:b:svc");
    assert.equal(r.prefix, "/a:b");
    assert.equal(r.service, "svc");
  });

  it("accepts service names of 1 to 63 of [A-Za-z0-9._-]", () => {
    assert.equal(parseRoute("/:a").service, "a");
    assert.equal(parseRoute("/:A.b_c-9").service, "A.b_c-9");
    assert.equal(parseRoute(`/:${"s".repeat(63)}`).service, "s".repeat(63));
  });

  it("explains a missing colon", () => {
    assert.throws(() => parseRoute("/api"), {
      message: 'invalid route "/api": expected [HOST]/PREFIX:SERVICE',
    });
  });

  it("explains a bad service name", () => {
    const message = (spec: string) =>
      `invalid route "${spec}": service name must be 1-63 of [A-Za-z0-9._-]`;
    for (const spec of ["/api:", "/api:a b", "/api:a/b", "/api:é", `/api:${"s".repeat(64)}`]) {
      assert.throws(() => parseRoute(spec), { message: message(spec) }, spec);
    }
  });

  it("explains a prefix that does not start with '/'", () => {
    assert.throws(() => parseRoute("api:svc"), {
      message: 'invalid route "api:svc": the path prefix must start with "/"',
    });
    assert.throws(() => parseRoute(":svc"), {
      message: 'invalid route ":svc": the path prefix must start with "/"',
    });
  });

  it("explains a bad host", () => {
    for (
      const host of [
        "bad_host",
        "-a.com",
        "a-.com",
        "a..com",
        ".a.com",
        "*.*.a.com",
        "a.*.com",
        "*",
        "a.com:8080",
        "[::1]",
      ]
    ) {
      const spec = `${host}/:svc`;
      assert.throws(
        () => parseRoute(spec),
        { message: `invalid route "${spec}": "${host.toLowerCase()}" is not a host name` },
        spec,
      );
    }
  });

  it("explains spaces, '?', '#' and inner '*' in a prefix", () => {
    for (const spec of ["/a b:svc", "/a\tb:svc", "/a?b:svc", "/a#b:svc", "/a*b:svc", "/a**:svc"]) {
      assert.throws(() => parseRoute(spec), {
        message: `invalid route "${spec}": the prefix may not contain spaces, "?", "#" or "*"`,
      }, spec);
    }
  });
});

describe("RouteTable: segment-aware prefixes", () => {
  const t = table("/:web", "/api:api", "/api/v1:v1", "/static/css:css");

  it("matches a prefix on whole segments only", () => {
    picks(t, [
      ["h", "/api", "api"],
      ["h", "/api/", "api"],
      ["h", "/api/users", "api"],
      ["h", "/apix", "web"],
      ["h", "/api-docs", "web"],
      ["h", "/ap", "web"],
    ]);
  });

  it("picks the longest matching prefix", () => {
    picks(t, [
      ["h", "/api/v1", "v1"],
      ["h", "/api/v1/", "v1"],
      ["h", "/api/v1/users/7", "v1"],
      ["h", "/api/v10", "api"],
      ["h", "/api/v2/x", "api"],
      ["h", "/static/css/site.css", "css"],
      ["h", "/static/js/app.js", "web"],
      ["h", "/static", "web"],
    ]);
  });

  it("falls back to the root route", () => {
    picks(t, [
      ["h", "/", "web"],
      ["h", "/anything/else", "web"],
    ]);
  });

  it("matches nothing without a root route", () => {
    const only = table("/api:api");
    picks(only, [
      ["h", "/", "-"],
      ["h", "/apix", "-"],
      ["h", "/other/api", "-"],
      ["h", "/api/x", "api"],
    ]);
  });

  it("treats an encoded slash as part of a segment", () => {
    picks(table("/api:api", "/:web"), [["h", "/api%2Fx", "web"]]);
  });

  it("is case-sensitive in the path", () => {
    picks(table("/api:api", "/:web"), [["h", "/API", "web"], ["h", "/Api/x", "web"]]);
  });

  it("treats a prefix written with a trailing slash like one without", () => {
    picks(table("/api/:api", "/:web"), [
      ["h", "/api", "api"],
      ["h", "/api/", "api"],
      ["h", "/api/x", "api"],
      ["h", "/apix", "web"],
    ]);
  });

  it("routes paths the proxy normalized to the route they really name", () => {
    const t2 = table("/public:public", "/admin:admin", "/:web");
    picks(t2, [
      ["h", normalizePath("/public/../admin"), "admin"],
      ["h", normalizePath("/public/%2e%2e/admin/x"), "admin"],
      ["h", normalizePath("//public//x"), "public"],
      ["h", normalizePath("/%70ublic/x"), "public"],
      ["h", normalizePath("/public/..%2Fadmin"), "public"],
    ]);
  });

  it("does not accept a route that could never match a normalized path", () => {
    // A prefix is compared with normalized paths, so an un-normalized prefix
    // must either be normalized when parsed or refused, never silently dead.
    for (
      const [spec, path] of [
        ["/a//b:svc", "/a/b/c"],
        ["/a/./b:svc", "/a/b"],
        ["/x/../b:svc", "/b"],
        ["/%7Euser:svc", "/~user/file"],
        ["/a%2fb:svc", "/a%2Fb"],
      ]
    ) {
      let t2: RouteTable;
      try {
        t2 = table(spec);
      } catch {
        continue; // refusing it at startup is fine too
      }
      assert.equal(pick(t2, "h", normalizePath(path)), "svc", `${spec} for ${path}`);
    }
  });
});

describe("RouteTable: string prefixes", () => {
  it("matches any path starting with the string", () => {
    const t = table("/img*:img", "/:web");
    picks(t, [
      ["h", "/img", "img"],
      ["h", "/imgs", "img"],
      ["h", "/img-large/a", "img"],
      ["h", "/img/x.png", "img"],
      ["h", "/images", "web"],
      ["h", "/imgx/y", "img"],
      ["h", "/im", "web"],
      ["h", "/x/img", "web"],
    ]);
  });

  it("picks the longest of several string prefixes", () => {
    const t = table("/i*:i", "/img*:img", "/img/large*:large");
    picks(t, [
      ["h", "/i", "i"],
      ["h", "/images", "i"],
      ["h", "/imgs", "img"],
      ["h", "/img/large-1.png", "large"],
      ["h", "/img/small.png", "img"],
    ]);
  });

  it("competes with segment prefixes by length", () => {
    const t = table("/img/big:seg", "/img*:str", "/:web");
    picks(t, [
      ["h", "/img/big/a", "seg"],
      ["h", "/img/big", "seg"],
      ["h", "/img/bigger", "str"],
      ["h", "/imgs", "str"],
      ["h", "/img", "str"],
      ["h", "/im", "web"],
    ]);
  });

  it("lets a longer string prefix beat a shorter segment prefix", () => {
    const t = table("/api:api", "/api/v*:versions");
    picks(t, [
      ["h", "/api/v1", "versions"],
      ["h", "/api/x", "api"],
    ]);
  });

  it("prefers the segment prefix when both have the same length", () => {
    const t = table("/api*:str", "/api:seg");
    picks(t, [
      ["h", "/api/x", "seg"],
      ["h", "/apix", "str"],
    ]);
  });

  it("keeps a string prefix's trailing slash significant", () => {
    const t = table("/img/*:img", "/:web");
    picks(t, [
      ["h", "/img/a", "img"],
      ["h", "/img/", "img"],
      ["h", "/img", "web"],
    ]);
  });
});

describe("RouteTable: hosts", () => {
  const t = table(
    "/:any",
    "/api/v1/deep:any-deep",
    "shop.example.com/:shop",
    "shop.example.com/cart:cart",
    "*.example.com/:tenant",
    "*.eu.example.com/:eu",
  );

  it("prefers a route for the request's host over any host-less route", () => {
    picks(t, [
      ["shop.example.com", "/api/v1/deep/x", "shop"],
      ["shop.example.com", "/cart/items", "cart"],
      ["shop.example.com", "/", "shop"],
    ]);
  });

  it("ignores the port and letter case of the Host header", () => {
    picks(t, [
      ["SHOP.Example.Com", "/cart", "cart"],
      ["shop.example.com:8080", "/cart", "cart"],
      ["Shop.Example.COM:443", "/", "shop"],
      ["shop.example.com.", "/cart", "cart"],
    ]);
  });

  it("matches a wildcard host for exactly one more label", () => {
    picks(t, [
      ["acme.example.com", "/", "tenant"],
      ["ACME.example.com:80", "/x", "tenant"],
      ["a.b.example.com", "/", "any"],
      ["example.com", "/", "any"],
      [".example.com", "/", "any"],
      ["badexample.com", "/", "any"],
      ["acme.example.com.evil", "/", "any"],
    ]);
  });

  it("prefers the longer wildcard", () => {
    picks(t, [
      ["paris.eu.example.com", "/", "eu"],
      ["eu.example.com", "/", "tenant"],
    ]);
  });

  it("prefers the exact host over a wildcard that also matches", () => {
    picks(t, [["shop.example.com", "/x", "shop"]]);
  });

  it("uses host-less routes for other hosts and for no host", () => {
    picks(t, [
      ["other.org", "/", "any"],
      ["other.org", "/api/v1/deep", "any-deep"],
      ["", "/", "any"],
      ["[::1]:8080", "/", "any"],
      ["127.0.0.1:9090", "/api/v1/deep/1", "any-deep"],
    ]);
  });

  it("falls back to wildcard then host-less routes when the host's routes do not match", () => {
    const t2 = table("a.example.com/api:a-api", "*.example.com/web:wild", "/:any");
    picks(t2, [
      ["a.example.com", "/api/x", "a-api"],
      ["a.example.com", "/web", "wild"],
      ["a.example.com", "/other", "any"],
    ]);
  });

  it("answers undefined with no routes at all", () => {
    assert.equal(new RouteTable([]).match("h", "/"), undefined);
  });

  it("keeps every route, in the order given", () => {
    assert.deepEqual(t.routes.map((r) => r.service), [
      "any",
      "any-deep",
      "shop",
      "cart",
      "tenant",
      "eu",
    ]);
  });
});

describe("hostName", () => {
  it("lower-cases and strips the port", () => {
    assert.equal(hostName("Example.COM:8080"), "example.com");
    assert.equal(hostName("example.com"), "example.com");
    assert.equal(hostName("example.com:"), "example.com");
    assert.equal(hostName("127.0.0.1:80"), "127.0.0.1");
  });

  it("keeps a bracketed IPv6 literal", () => {
    assert.equal(hostName("[::1]:80"), "[::1]");
    assert.equal(hostName("[FE80::1]"), "[fe80::1]");
  });

  it("drops a trailing dot", () => {
    assert.equal(hostName("Example.com."), "example.com");
    assert.equal(hostName("example.com.:443"), "example.com");
  });

  it("returns an empty host as empty", () => {
    assert.equal(hostName(""), "");
  });
});
