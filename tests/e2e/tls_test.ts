/**
 * TLS termination with --tls-cert/--tls-key (a throwaway self-signed cert made
 * with openssl): https ready line, X-Forwarded-Proto https, keep-alive over
 * TLS, and a stalled handshake that does not hold up other clients.
 */

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { echoOf, HttpConnection, request } from "../helpers/http.ts";
import { type Stack, startStack } from "../helpers/stack.ts";
import { makeCert } from "../helpers/certs.ts";

describe("TLS", () => {
  let dir: string;
  let stack: Stack;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "gatehouse-tls-"));
    const { cert, key } = await makeCert(dir);
    stack = await startStack(
      ["--route", "/a:svc-a", "--route", "/b:svc-b", "--tls-cert", cert, "--tls-key", key],
      ["svc-a", "svc-b"],
    );
  });

  after(async () => {
    await stack?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("announces an https listener", () => {
    assert.equal(stack.gh.scheme, "https");
  });

  it("serves a request over TLS with X-Forwarded-Proto https", async () => {
    const res = await request(stack.port, { path: "/a/secure" }, { tls: true });
    assert.equal(res.status, 200, res.text);
    const e = echoOf(res);
    assert.equal(e.backend, "svc-a");
    assert.equal(e.headers["x-forwarded-proto"], "https");
    assert.equal(e.headers["x-forwarded-for"], "127.0.0.1");
  });

  it("routes each request of a keep-alive TLS connection by its path", async () => {
    const conn = await HttpConnection.open(stack.port, { tls: true });
    try {
      conn.write("GET /a/1 HTTP/1.1\r\nHost: localhost\r\n\r\n");
      assert.equal(echoOf(await conn.readResponse()).backend, "svc-a");
      conn.write("GET /b/2 HTTP/1.1\r\nHost: localhost\r\n\r\n");
      assert.equal(echoOf(await conn.readResponse()).backend, "svc-b");
    } finally {
      conn.close();
    }
  });

  it("keeps serving others while a client stalls in the TLS handshake", async () => {
    // Plain TCP connections that start a handshake record and then go quiet.
    const stalled = [
      await HttpConnection.open(stack.port),
      await HttpConnection.open(stack.port),
    ];
    try {
      for (const s of stalled) s.write(new Uint8Array([0x16, 0x03, 0x01]));
      const res = await request(stack.port, { path: "/b/while-stalled" }, {
        tls: true,
        responseTimeoutMs: 15_000,
      });
      assert.equal(res.status, 200, res.text);
      assert.equal(echoOf(res).backend, "svc-b");
    } finally {
      for (const s of stalled) s.close();
    }
  });
});
