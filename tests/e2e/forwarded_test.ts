/**
 * Forwarded headers as the backend sees them: X-Forwarded-For appended,
 * X-Real-IP / X-Forwarded-Proto / X-Forwarded-Host set by the ingress unless
 * the client is a trusted proxy.
 */

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { echoOf, type EchoView, request } from "../helpers/http.ts";
import { type Stack, startStack } from "../helpers/stack.ts";

async function backendView(
  stack: Stack,
  headers: Array<[string, string]>,
  host = "shop.example.com",
): Promise<EchoView["headers"]> {
  const res = await request(stack.port, { path: "/fwd", host, headers });
  assert.equal(res.status, 200, res.text);
  return echoOf(res).headers;
}

describe("forwarded headers (untrusted client)", () => {
  let stack: Stack;

  before(async () => {
    stack = await startStack(["--route", "/:web"], ["web"]);
  });

  after(async () => {
    await stack?.close();
  });

  it("appends the client address to X-Forwarded-For", async () => {
    const h = await backendView(stack, [["X-Forwarded-For", "client-sent"]]);
    assert.equal(h["x-forwarded-for"], "client-sent, 127.0.0.1");
  });

  it("sets X-Forwarded-For to the client address when none was sent", async () => {
    const h = await backendView(stack, []);
    assert.equal(h["x-forwarded-for"], "127.0.0.1");
  });

  it("keeps every client X-Forwarded-For field, in order, before the client address", async () => {
    const h = await backendView(stack, [
      ["X-Forwarded-For", "10.1.1.1"],
      ["X-Forwarded-For", "10.2.2.2"],
    ]);
    assert.equal(h["x-forwarded-for"], "10.1.1.1, 10.2.2.2, 127.0.0.1");
  });

  it("replaces a client-sent X-Real-IP with the client address", async () => {
    const h = await backendView(stack, [["X-Real-IP", "6.6.6.6"]]);
    assert.equal(h["x-real-ip"], "127.0.0.1");
  });

  it("sets X-Forwarded-Proto to http, whatever the client claimed", async () => {
    assert.equal((await backendView(stack, []))["x-forwarded-proto"], "http");
    const h = await backendView(stack, [["X-Forwarded-Proto", "https"]]);
    assert.equal(h["x-forwarded-proto"], "http");
  });

  it("sets X-Forwarded-Host to the client's Host", async () => {
    const h = await backendView(stack, [["X-Forwarded-Host", "evil.example"]], "shop.example.com");
    assert.equal(h["x-forwarded-host"], "shop.example.com");
  });
});

describe("forwarded headers (--trusted-proxies 127.0.0.0/8)", () => {
  let stack: Stack;

  before(async () => {
    stack = await startStack(["--route", "/:web", "--trusted-proxies", "127.0.0.0/8"], ["web"]);
  });

  after(async () => {
    await stack?.close();
  });

  it("lets a trusted proxy's X-Real-IP and X-Forwarded-Proto stand", async () => {
    const h = await backendView(stack, [
      ["X-Real-IP", "6.6.6.6"],
      ["X-Forwarded-Proto", "https"],
      ["X-Forwarded-For", "6.6.6.6"],
    ]);
    assert.equal(h["x-real-ip"], "6.6.6.6");
    assert.equal(h["x-forwarded-proto"], "https");
    assert.equal(h["x-forwarded-for"], "6.6.6.6, 127.0.0.1");
  });

  it("still fills in X-Real-IP and X-Forwarded-Proto when the proxy sent none", async () => {
    const h = await backendView(stack, []);
    assert.equal(h["x-real-ip"], "127.0.0.1");
    assert.equal(h["x-forwarded-proto"], "http");
    assert.equal(h["x-forwarded-for"], "127.0.0.1");
  });
});
