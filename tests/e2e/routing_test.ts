/**
 * Routing: host + longest segment-aware prefix, string prefixes, routing on
 * the normalized path, untouched query strings, 404 without a route.
 */

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { echoOf, request, type RequestSpec } from "../helpers/http.ts";
import { type Stack, startStack } from "../helpers/stack.ts";

describe("routing", () => {
  let stack: Stack;

  before(async () => {
    stack = await startStack(
      [
        "--route",
        "api.example.com/:hostsvc",
        "--route",
        "/api:api",
        "--route",
        "/api/v2:apiv2",
        "--route",
        "/img*:images",
        "--route",
        "/admin:admin",
        "--route",
        "/public:public",
      ],
      ["hostsvc", "api", "apiv2", "images", "admin", "public"],
    );
  });

  after(async () => {
    await stack?.close();
  });

  /** Sends a request and returns the name of the backend that answered. */
  async function routedTo(spec: RequestSpec): Promise<string> {
    const res = await request(stack.port, spec);
    assert.equal(res.status, 200, `${spec.path} -> ${res.status} ${res.text}`);
    return echoOf(res).backend;
  }

  async function assertNoRoute(spec: RequestSpec): Promise<void> {
    const res = await request(stack.port, spec);
    assert.equal(
      res.status,
      404,
      `${spec.path} should have no route, got ${res.status} ${res.text}`,
    );
    assert.match(res.text, /no route for/);
    assert.match(res.headers["content-type"] ?? "", /^text\/plain/);
  }

  it("matches a prefix on whole segments: /api, /api/, /api/x but not /apix", async () => {
    assert.equal(await routedTo({ path: "/api" }), "api");
    assert.equal(await routedTo({ path: "/api/" }), "api");
    assert.equal(await routedTo({ path: "/api/x" }), "api");
    assert.equal(await routedTo({ path: "/api/x/y/z" }), "api");
    await assertNoRoute({ path: "/apix" });
    await assertNoRoute({ path: "/ap" });
  });

  it("prefers the longest matching prefix", async () => {
    assert.equal(await routedTo({ path: "/api/v2" }), "apiv2");
    assert.equal(await routedTo({ path: "/api/v2/users" }), "apiv2");
    // "/api/v20" is not inside the "/api/v2" segment, so "/api" handles it.
    assert.equal(await routedTo({ path: "/api/v20" }), "api");
  });

  it("treats a prefix ending in * as a plain string prefix", async () => {
    assert.equal(await routedTo({ path: "/img" }), "images");
    assert.equal(await routedTo({ path: "/img/logo.png" }), "images");
    // Unlike a segment prefix, "/img*" also matches inside the first segment.
    assert.equal(await routedTo({ path: "/imgs/x" }), "images");
    assert.equal(await routedTo({ path: "/img2.png" }), "images");
    await assertNoRoute({ path: "/im" });
    // "/images" does not start with "/img" (the spec's "/images/x" example
    // cannot hold for a plain string prefix).
    await assertNoRoute({ path: "/images/x" });
  });

  it("routes on the path ignoring the query string", async () => {
    assert.equal(await routedTo({ path: "/api?x=/admin" }), "api");
    await assertNoRoute({ path: "/apix?y=/api" });
  });

  it("passes the request target, query included, to the backend untouched", async () => {
    const target = "/api/search?q=a%2Fb&x=1&x=2&empty=&plus=a+b&enc=%C3%A9";
    const res = await request(stack.port, { path: target });
    assert.equal(res.status, 200);
    assert.equal(echoOf(res).url, target);
  });

  it("chooses the route on the normalized path (dot segments)", async () => {
    assert.equal(await routedTo({ path: "/public/../admin" }), "admin");
    assert.equal(await routedTo({ path: "/public/../admin/panel" }), "admin");
    assert.equal(await routedTo({ path: "/admin/../public/x" }), "public");
    assert.equal(await routedTo({ path: "/public/./x" }), "public");
    assert.equal(await routedTo({ path: "/x/../api/y" }), "api");
  });

  it("counts percent-encoded dots as dots", async () => {
    assert.equal(await routedTo({ path: "/public/%2e%2e/admin" }), "admin");
    assert.equal(await routedTo({ path: "/public/%2E%2E/admin" }), "admin");
    assert.equal(await routedTo({ path: "/public/.%2e/admin" }), "admin");
    assert.equal(await routedTo({ path: "/public/%2e./admin?q=1" }), "admin");
  });

  it("answers 404 with a short text body when no route matches", async () => {
    await assertNoRoute({ path: "/" });
    await assertNoRoute({ path: "/nothing/here" });
    await assertNoRoute({ path: "/public/../nothing" });
  });

  it("matches a route's host ignoring port and case", async () => {
    assert.equal(await routedTo({ path: "/anything", host: "api.example.com" }), "hostsvc");
    assert.equal(await routedTo({ path: "/anything", host: "API.Example.COM:8080" }), "hostsvc");
    assert.equal(await routedTo({ path: "/", host: "api.example.com:80" }), "hostsvc");
    await assertNoRoute({ path: "/anything", host: "other.example.com" });
    // Host-less routes still apply to other hosts.
    assert.equal(await routedTo({ path: "/api/x", host: "other.example.com" }), "api");
  });

  it("routes an absolute-form target by its authority and path", async () => {
    const res = await request(stack.port, {
      path: "http://api.example.com/anything?x=1",
      host: "api.example.com",
    });
    assert.equal(res.status, 200, res.text);
    assert.equal(echoOf(res).backend, "hostsvc");
    // RFC 9112 3.2.2: the target's authority replaces Host.
    const other = await request(stack.port, {
      path: "http://other.example.com/api/x",
      host: "api.example.com",
    });
    assert.equal(other.status, 200, other.text);
    assert.equal(echoOf(other).backend, "api");
  });

  it("forwards any method unchanged", async () => {
    for (const method of ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "PURGE"]) {
      const res = await request(stack.port, {
        method,
        path: "/api/m",
        body: method === "GET" || method === "OPTIONS" ? undefined : "b",
      });
      assert.equal(res.status, 200, `${method}: ${res.text}`);
      assert.equal(echoOf(res).method, method);
    }
  });

  it("lets a host's routes win over host-less ones (like an nginx server block)", async () => {
    // Ambiguous in the spec; nginx picks the server block by host first.
    assert.equal(await routedTo({ path: "/api/x", host: "api.example.com" }), "hostsvc");
  });
});
