/**
 * Request-target handling (src/routing/path.ts): the path a route sees must be the
 * path the backend resolves, so no encoding or dot-segment can make a request
 * look like it is for one prefix while it reaches another.
 */

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { normalizePath, parseTarget } from "../../src/routing/path.ts";

function normalizes(cases: Array<[string, string]>): void {
  for (const [input, expected] of cases) {
    assert.equal(normalizePath(input), expected, input);
  }
}

describe("normalizePath: dot-segments", () => {
  it("removes '..' together with the segment before it", () => {
    normalizes([
      ["/public/../admin", "/admin"],
      ["/a/b/../c", "/a/c"],
      ["/a/b/../../c", "/c"],
      ["/a/b/c/../../../d", "/d"],
    ]);
  });

  it("never climbs above the root", () => {
    normalizes([
      ["/..", "/"],
      ["/../", "/"],
      ["/../..", "/"],
      ["/../admin", "/admin"],
      ["/../../../etc/passwd", "/etc/passwd"],
      ["/a/../../b", "/b"],
    ]);
  });

  it("removes '.' segments", () => {
    normalizes([
      ["/a/./b", "/a/b"],
      ["/./a", "/a"],
      ["/.", "/"],
      ["/./", "/"],
    ]);
  });

  it("treats a trailing '.' or '..' as a directory (RFC 3986 5.2.4)", () => {
    normalizes([
      ["/a/b/..", "/a/"],
      ["/a/b/.", "/a/b/"],
      ["/a/..", "/"],
    ]);
  });

  it("keeps segments that merely contain dots", () => {
    normalizes([
      ["/a/.../b", "/a/.../b"],
      ["/a/..b/c", "/a/..b/c"],
      ["/a/b../c", "/a/b../c"],
      ["/file.txt", "/file.txt"],
      ["/.well-known/x", "/.well-known/x"],
    ]);
  });

  it("decodes percent-encoded dots before removing dot-segments", () => {
    normalizes([
      ["/%2e%2e/x", "/x"],
      ["/%2E%2E/x", "/x"],
      ["/.%2e/x", "/x"],
      ["/%2e./x", "/x"],
      ["/public/%2e%2e/admin", "/admin"],
      ["/a/%2e/b", "/a/b"],
      ["/api/v1/%2e%2e/%2e%2e/admin", "/admin"],
    ]);
  });
});

describe("normalizePath: slashes", () => {
  it("merges repeated slashes", () => {
    normalizes([
      ["/a/./b//c", "/a/b/c"],
      ["//a", "/a"],
      ["///a///b", "/a/b"],
      ["//", "/"],
      ["/a//../b", "/b"],
    ]);
  });

  it("keeps a trailing slash", () => {
    normalizes([
      ["/a/", "/a/"],
      ["/a/b/", "/a/b/"],
      ["/a//", "/a/"],
      ["/a/b//", "/a/b/"],
      ["/a/./b/", "/a/b/"],
      ["/%61/", "/a/"],
    ]);
  });

  it("returns plain paths unchanged", () => {
    for (const p of ["/", "/a", "/a/b/c", "/api/v1/users/42", "/a-b_c~d", "/a:b@c"]) {
      assert.equal(normalizePath(p), p);
    }
  });
});

describe("normalizePath: percent-encoding", () => {
  it("decodes percent-encoded unreserved characters", () => {
    normalizes([
      ["/%61%62%63", "/abc"],
      ["/%41%5A", "/AZ"],
      ["/%30%39", "/09"],
      ["/%2d%2E%5f%7E", "/-._~"],
      ["/%7euser", "/~user"],
      ["/a%2eb", "/a.b"],
    ]);
  });

  it("keeps an encoded slash encoded, so it never splits a segment", () => {
    normalizes([
      ["/a%2Fb", "/a%2Fb"],
      ["/a%2fb", "/a%2Fb"],
      ["/%2F", "/%2F"],
      ["/public/..%2Fadmin", "/public/..%2Fadmin"],
      ["/%2e%2e%2fadmin", "/..%2Fadmin"],
    ]);
  });

  it("keeps other reserved and non-ASCII escapes, with upper-case hex", () => {
    normalizes([
      ["/a%20b", "/a%20b"],
      ["/a%3fb", "/a%3Fb"],
      ["/%c3%a9", "/%C3%A9"],
      ["/%00", "/%00"],
      ["/%25", "/%25"],
    ]);
  });

  it("decodes only once", () => {
    // %252e is "%2e" after one decode, which must stay data, not become ".".
    normalizes([
      ["/%252e%252e/admin", "/%252e%252e/admin"],
      ["/a/%252e%252e", "/a/%252e%252e"],
    ]);
  });

  it("leaves malformed escapes as they are", () => {
    normalizes([
      ["/%zz", "/%zz"],
      ["/a%", "/a%"],
      ["/a%4", "/a%4"],
      ["/%g1/x", "/%g1/x"],
    ]);
  });
});

describe("parseTarget", () => {
  it("splits origin-form into normalized path and raw query", () => {
    assert.deepEqual(parseTarget("/a/../b?x=1"), { path: "/b", query: "?x=1", authority: "" });
    assert.deepEqual(parseTarget("/"), { path: "/", query: "", authority: "" });
    assert.deepEqual(parseTarget("/x?"), { path: "/x", query: "?", authority: "" });
  });

  it("never normalizes the query", () => {
    assert.deepEqual(parseTarget("/a?p=/../b//c&q=%2e"), {
      path: "/a",
      query: "?p=/../b//c&q=%2e",
      authority: "",
    });
    assert.deepEqual(parseTarget("/a?x?y"), { path: "/a", query: "?x?y", authority: "" });
  });

  it("fills the object it is given and leaves nothing of the previous target", () => {
    const into = { path: "", query: "", authority: "" };
    assert.equal(parseTarget("http://h/a?x=1", into), into);
    assert.deepEqual(into, { path: "/a", query: "?x=1", authority: "h" });
    assert.equal(parseTarget("/b", into), into);
    assert.deepEqual(into, { path: "/b", query: "", authority: "" });
    assert.equal(parseTarget("*", into), into);
    assert.deepEqual(into, { path: "*", query: "", authority: "" });
    assert.equal(parseTarget("nope", into), null);
  });

  it("keeps the asterisk form", () => {
    assert.deepEqual(parseTarget("*"), { path: "*", query: "", authority: "" });
  });

  it("takes the authority from absolute-form", () => {
    assert.deepEqual(parseTarget("http://Example.com:8080/a/./b?q"), {
      path: "/a/b",
      query: "?q",
      authority: "Example.com:8080",
    });
    assert.deepEqual(parseTarget("https://h/x"), { path: "/x", query: "", authority: "h" });
    assert.deepEqual(parseTarget("HTTP://h/x"), { path: "/x", query: "", authority: "h" });
  });

  it("gives absolute-form without a path the root path", () => {
    assert.deepEqual(parseTarget("http://h"), { path: "/", query: "", authority: "h" });
    assert.deepEqual(parseTarget("http://h?x=1"), { path: "/", query: "?x=1", authority: "h" });
  });

  it("normalizes the path of absolute-form too", () => {
    assert.deepEqual(parseTarget("http://h/public/%2e%2e/admin"), {
      path: "/admin",
      query: "",
      authority: "h",
    });
  });

  it("refuses userinfo and an empty authority", () => {
    assert.equal(parseTarget("http://user@h/x"), null);
    assert.equal(parseTarget("http://user:pw@h/"), null);
    assert.equal(parseTarget("http:///x"), null);
    assert.equal(parseTarget("http://"), null);
  });

  it("refuses other forms and schemes", () => {
    assert.equal(parseTarget("example.com:443"), null);
    assert.equal(parseTarget("ftp://h/x"), null);
    assert.equal(parseTarget("a/b"), null);
    assert.equal(parseTarget("**"), null);
    assert.equal(parseTarget("?x"), null);
    assert.equal(parseTarget(""), null);
  });
});
