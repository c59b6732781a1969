/**
 * Keep-alive and message framing: per-request routing on one connection,
 * pipelining, streamed request and response bodies, bodiless responses,
 * hop-by-hop headers and backend connection reuse.
 */

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { Buffer } from "node:buffer";
import { echoOf, HttpConnection, request } from "../helpers/http.ts";
import { type RawBackend, readRequest, startRawBackend } from "../helpers/backends.ts";
import { type Stack, startStack } from "../helpers/stack.ts";
import { register } from "../helpers/tower.ts";

const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

/** Deterministic bytes so a failure can be reproduced. */
function pattern(length: number, seed: number): Buffer {
  const b = Buffer.alloc(length);
  let x = seed;
  for (let i = 0; i < length; i++) {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    b[i] = x >>> 16;
  }
  return b;
}

const CHUNKED_BODY = pattern(700 * 1024, 7);
const LENGTH_BODY = pattern(3 * 1024 * 1024, 11);
const CLOSE_BODY = pattern(300 * 1024, 13);

describe("keep-alive and framing", () => {
  let stack: Stack;
  let rawClose: RawBackend;

  before(async () => {
    stack = await startStack(
      [
        "--route",
        "/a:svc-a",
        "--route",
        "/b:svc-b",
        "--route",
        "/pool:svc-pool",
        "--route",
        "/stream:streamer",
        "--route",
        "/raw:raw-close",
        "--route",
        "/none:svc-none",
      ],
      ["svc-a", "svc-b", "svc-pool", "streamer"],
      {
        echo: {
          streamer: {
            respond(req, res) {
              const url = req.url ?? "";
              if (url.startsWith("/stream/chunked")) {
                // No Content-Length: node:http frames this as chunked.
                res.writeHead(200, { "Content-Type": "application/octet-stream" });
                let off = 0;
                const step = () => {
                  if (off >= CHUNKED_BODY.length) return res.end();
                  const n = 10_000 + (off % 7) * 1000;
                  res.write(CHUNKED_BODY.subarray(off, off + n));
                  off += n;
                  setImmediate(step);
                };
                step();
                return true;
              }
              if (url.startsWith("/stream/length")) {
                res.writeHead(200, {
                  "Content-Type": "application/octet-stream",
                  "Content-Length": LENGTH_BODY.length,
                });
                res.end(LENGTH_BODY);
                return true;
              }
              if (url.startsWith("/stream/head")) {
                res.writeHead(200, { "Content-Type": "text/plain", "Content-Length": 1234 });
                res.end(req.method === "HEAD" ? undefined : "x".repeat(1234));
                return true;
              }
              if (url.startsWith("/stream/204")) {
                res.writeHead(204, { "X-Kind": "no-content" });
                res.end();
                return true;
              }
              if (url.startsWith("/stream/304")) {
                res.writeHead(304, { "ETag": '"v1"', "X-Kind": "not-modified" });
                res.end();
                return true;
              }
              if (url.startsWith("/stream/hop")) {
                res.writeHead(200, {
                  "Content-Type": "text/plain",
                  "Content-Length": 2,
                  "Connection": "X-Backend-Hop",
                  "X-Backend-Hop": "secret",
                  "X-End-To-End-Response": "kept",
                });
                res.end("ok");
                return true;
              }
              return false;
            },
          },
        },
      },
    );
    // Answers without Content-Length or chunking: the body ends at close.
    rawClose = await startRawBackend(async (socket) => {
      try {
        await readRequest(socket);
      } catch {
        return;
      }
      socket.write("HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n\r\n");
      for (let off = 0; off < CLOSE_BODY.length; off += 50_000) {
        socket.write(CLOSE_BODY.subarray(off, off + 50_000));
      }
      socket.end();
    });
    await register(stack.towerPort, "raw-close", rawClose.port);
  });

  after(async () => {
    await stack?.close();
    await rawClose?.close();
  });

  it("routes every request on one keep-alive connection by its own path", async () => {
    const conn = await HttpConnection.open(stack.port);
    try {
      const seen: string[] = [];
      for (const path of ["/a/1", "/b/2", "/a/3", "/b/4"]) {
        conn.write(`GET ${path} HTTP/1.1\r\nHost: localhost\r\n\r\n`);
        const res = await conn.readResponse();
        assert.equal(res.status, 200, `${path}: ${res.status} ${res.text}`);
        const echo = echoOf(res);
        assert.equal(echo.url, path);
        seen.push(echo.backend);
        assert.equal(conn.ended, false, "connection closed between keep-alive requests");
      }
      assert.deepEqual(seen, ["svc-a", "svc-b", "svc-a", "svc-b"]);
    } finally {
      conn.close();
    }
  });

  it("closes after the response when the client sends Connection: close", async () => {
    const conn = await HttpConnection.open(stack.port);
    try {
      conn.write("GET /a/bye HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
      const res = await conn.readResponse();
      assert.equal(res.status, 200);
      assert.equal(echoOf(res).url, "/a/bye");
      assert.equal(
        await conn.waitClosed(10_000),
        true,
        "connection left open after Connection: close",
      );
    } finally {
      conn.close();
    }
  });

  it("answers an HTTP/1.0 request and then closes", async () => {
    const conn = await HttpConnection.open(stack.port);
    try {
      conn.write("GET /b/old HTTP/1.0\r\nHost: localhost\r\n\r\n");
      const res = await conn.readResponse();
      assert.equal(res.status, 200);
      assert.equal(echoOf(res).url, "/b/old");
      assert.equal(res.framing === "chunked", false, "chunked encoding sent to an HTTP/1.0 client");
      assert.equal(await conn.waitClosed(10_000), true, "HTTP/1.0 connection left open");
    } finally {
      conn.close();
    }
  });

  it("honours Expect: 100-continue (the client gets 100 before sending its body)", async () => {
    const conn = await HttpConnection.open(stack.port);
    try {
      conn.write(
        "POST /a/expect HTTP/1.1\r\nHost: localhost\r\nContent-Length: 7\r\n" +
          "Expect: 100-continue\r\n\r\n",
      );
      // curl waits for this before sending the body (1 s, then sends anyway).
      await conn.waitFor(
        () => (/^HTTP\/1\.1 100 /.test(conn.buffer.toString("latin1")) ? true : undefined),
        10_000,
        "an interim 100 Continue",
      );
      conn.write("payload");
      const res = await conn.readResponse();
      assert.equal(res.status, 200, res.text);
      assert.equal(echoOf(res).body, "payload");
    } finally {
      conn.close();
    }
  });

  it("answers pipelined requests (sent in one write) in order", async () => {
    const conn = await HttpConnection.open(stack.port);
    try {
      conn.write(
        "GET /a/first HTTP/1.1\r\nHost: localhost\r\n\r\n" +
          "POST /b/second HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n\r\nhello" +
          "GET /a/third?n=3 HTTP/1.1\r\nHost: localhost\r\n\r\n" +
          "GET /b/fourth HTTP/1.1\r\nHost: localhost\r\n\r\n",
      );
      const got: Array<[string, string, string]> = [];
      for (let i = 0; i < 4; i++) {
        const res = await conn.readResponse();
        assert.equal(res.status, 200, `response ${i + 1}: ${res.status} ${res.text}`);
        const e = echoOf(res);
        got.push([e.backend, e.url, e.body]);
      }
      assert.deepEqual(got, [
        ["svc-a", "/a/first", ""],
        ["svc-b", "/b/second", "hello"],
        ["svc-a", "/a/third?n=3", ""],
        ["svc-b", "/b/fourth", ""],
      ]);
    } finally {
      conn.close();
    }
  });

  it("starts each request on a connection clean, whatever the one before came to", async () => {
    const conn = await HttpConnection.open(stack.port);
    try {
      conn.write("POST /b/one HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n\r\nhello");
      const posted = await conn.readResponse();
      assert.equal(posted.status, 200);
      assert.equal(echoOf(posted).body, "hello");
      // Answered by the ingress itself, and the connection stays open.
      conn.write("GET /nowhere HTTP/1.1\r\nHost: localhost\r\n\r\n");
      assert.equal((await conn.readResponse()).status, 404);
      conn.write("GET /none/x HTTP/1.1\r\nHost: localhost\r\n\r\n");
      assert.equal((await conn.readResponse()).status, 503);
      conn.write("HEAD /stream/head HTTP/1.1\r\nHost: localhost\r\n\r\n");
      const head = await conn.readResponse({ head: true });
      assert.equal(head.status, 200);
      assert.equal(head.body.length, 0);
      // Nothing of the POST's body, the errors or the HEAD carries over.
      conn.write("GET /a/two HTTP/1.1\r\nHost: localhost\r\n\r\n");
      const two = await conn.readResponse();
      assert.equal(two.status, 200);
      assert.deepEqual([echoOf(two).backend, echoOf(two).url, echoOf(two).body], [
        "svc-a",
        "/a/two",
        "",
      ]);
      conn.write("GET /stream/head HTTP/1.1\r\nHost: localhost\r\n\r\n");
      const full = await conn.readResponse();
      assert.equal(full.status, 200);
      assert.equal(full.text, "x".repeat(1234));
    } finally {
      conn.close();
    }
  });

  it("streams a 5 MiB Content-Length upload to the backend intact", async () => {
    const body = randomBytes(5 * 1024 * 1024);
    const conn = await HttpConnection.open(stack.port);
    try {
      conn.write(
        `POST /a/upload HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/octet-stream\r\n` +
          `Content-Length: ${body.length}\r\n\r\n`,
      );
      conn.write(body);
      const res = await conn.readResponse({ timeoutMs: 60_000 });
      assert.equal(res.status, 200, res.text);
      const e = echoOf(res);
      assert.equal(e.bodyLength, body.length);
      assert.equal(e.bodySha256, sha256(body));
      // The connection is still in step: a next request works.
      conn.write("GET /b/after HTTP/1.1\r\nHost: localhost\r\n\r\n");
      assert.equal(echoOf(await conn.readResponse()).url, "/b/after");
    } finally {
      conn.close();
    }
  });

  it("streams a 5 MiB chunked upload to the backend intact", async () => {
    const body = randomBytes(5 * 1024 * 1024);
    const conn = await HttpConnection.open(stack.port);
    try {
      conn.write(
        "POST /a/chunked-upload HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n",
      );
      let off = 0;
      let i = 0;
      while (off < body.length) {
        const n = Math.min(body.length - off, 60_000 + (i % 5) * 4099);
        // One chunk carries an extension, which a recipient must ignore.
        const ext = i === 3 ? ";name=value" : "";
        conn.write(
          Buffer.concat([
            Buffer.from(`${n.toString(16)}${ext}\r\n`),
            body.subarray(off, off + n),
            Buffer.from("\r\n"),
          ]),
        );
        off += n;
        i++;
      }
      conn.write("0\r\n\r\n");
      const res = await conn.readResponse({ timeoutMs: 60_000 });
      assert.equal(res.status, 200, res.text);
      const e = echoOf(res);
      assert.equal(e.bodyLength, body.length);
      assert.equal(e.bodySha256, sha256(body));
      conn.write("GET /b/after-chunked HTTP/1.1\r\nHost: localhost\r\n\r\n");
      assert.equal(echoOf(await conn.readResponse()).url, "/b/after-chunked");
    } finally {
      conn.close();
    }
  });

  it("streams a chunked response body intact", async () => {
    const conn = await HttpConnection.open(stack.port);
    try {
      conn.write("GET /stream/chunked HTTP/1.1\r\nHost: localhost\r\n\r\n");
      const res = await conn.readResponse({ timeoutMs: 30_000 });
      assert.equal(res.status, 200);
      assert.equal(res.body.length, CHUNKED_BODY.length);
      assert.ok(res.body.equals(CHUNKED_BODY), "chunked response body differs");
      conn.write("GET /a/next HTTP/1.1\r\nHost: localhost\r\n\r\n");
      assert.equal(echoOf(await conn.readResponse()).url, "/a/next");
    } finally {
      conn.close();
    }
  });

  it("streams a 3 MiB Content-Length response body intact", async () => {
    const res = await request(stack.port, { path: "/stream/length" }, {
      responseTimeoutMs: 30_000,
    });
    assert.equal(res.status, 200);
    assert.equal(res.body.length, LENGTH_BODY.length);
    assert.ok(res.body.equals(LENGTH_BODY), "response body differs");
  });

  it("relays a close-delimited response from a backend that closes after the body", async () => {
    const conn = await HttpConnection.open(stack.port);
    try {
      conn.write("GET /raw/close HTTP/1.1\r\nHost: localhost\r\n\r\n");
      const res = await conn.readResponse({ timeoutMs: 30_000 });
      assert.equal(res.status, 200);
      assert.equal(res.body.length, CLOSE_BODY.length);
      assert.ok(res.body.equals(CLOSE_BODY), "close-delimited body differs");
    } finally {
      conn.close();
    }
  });

  it("sends no body for HEAD and keeps the connection usable", async () => {
    const conn = await HttpConnection.open(stack.port);
    try {
      conn.write("HEAD /stream/head HTTP/1.1\r\nHost: localhost\r\n\r\n");
      const head = await conn.readResponse({ head: true });
      assert.equal(head.status, 200);
      assert.equal(head.headers["content-length"], "1234");
      // Any body bytes after the HEAD response would corrupt this next one.
      conn.write("GET /a/after-head HTTP/1.1\r\nHost: localhost\r\n\r\n");
      const next = await conn.readResponse();
      assert.equal(next.status, 200);
      assert.equal(echoOf(next).url, "/a/after-head");
    } finally {
      conn.close();
    }
  });

  it("sends no body for 204 and 304 and keeps the connection usable", async () => {
    const conn = await HttpConnection.open(stack.port);
    try {
      conn.write("GET /stream/204 HTTP/1.1\r\nHost: localhost\r\n\r\n");
      const r204 = await conn.readResponse();
      assert.equal(r204.status, 204);
      assert.equal(r204.headers["x-kind"], "no-content");
      assert.equal(r204.headers["transfer-encoding"], undefined);
      conn.write('GET /stream/304 HTTP/1.1\r\nHost: localhost\r\nIf-None-Match: "v1"\r\n\r\n');
      const r304 = await conn.readResponse();
      assert.equal(r304.status, 304);
      assert.equal(r304.headers["etag"], '"v1"');
      conn.write("GET /a/after-304 HTTP/1.1\r\nHost: localhost\r\n\r\n");
      const next = await conn.readResponse();
      assert.equal(next.status, 200);
      assert.equal(echoOf(next).url, "/a/after-304");
    } finally {
      conn.close();
    }
  });

  it("does not forward hop-by-hop request headers to the backend", async () => {
    const res = await request(stack.port, {
      path: "/a/hop",
      headers: [
        ["Connection", "keep-alive, X-Secret-Hop"],
        ["X-Secret-Hop", "must-not-pass"],
        ["Keep-Alive", "timeout=5"],
        ["Proxy-Connection", "keep-alive"],
        ["TE", "trailers"],
        ["Trailer", "X-Checksum"],
        ["Upgrade", "h2c"],
        ["X-End-To-End", "kept"],
      ],
    });
    assert.equal(res.status, 200, res.text);
    const h = echoOf(res).headers;
    assert.equal(h["x-end-to-end"], "kept");
    for (
      const name of ["x-secret-hop", "keep-alive", "proxy-connection", "te", "trailer", "upgrade"]
    ) {
      assert.equal(h[name], undefined, `backend saw hop-by-hop header ${name}: ${h[name]}`);
    }
    const connection = String(h["connection"] ?? "");
    assert.doesNotMatch(
      connection,
      /x-secret-hop|upgrade/i,
      `backend saw Connection: ${connection}`,
    );
  });

  it("does not forward hop-by-hop response headers to the client", async () => {
    const res = await request(stack.port, { path: "/stream/hop" });
    assert.equal(res.status, 200);
    assert.equal(res.text, "ok");
    assert.equal(res.headers["x-end-to-end-response"], "kept");
    assert.equal(res.headers["x-backend-hop"], undefined, "client saw X-Backend-Hop");
    assert.doesNotMatch(res.headers["connection"] ?? "", /x-backend-hop/i);
  });

  it("reuses backend connections across client connections", async () => {
    const pool = stack.backends["svc-pool"];
    const before = pool.requests.length;
    const connectionsBefore = pool.connections;
    let sent = 0;
    for (let c = 0; c < 3; c++) {
      const conn = await HttpConnection.open(stack.port);
      try {
        for (let r = 0; r < 3; r++) {
          conn.write(`GET /pool/${c}/${r} HTTP/1.1\r\nHost: localhost\r\n\r\n`);
          const res = await conn.readResponse();
          assert.equal(res.status, 200);
          sent++;
        }
      } finally {
        conn.close();
      }
    }
    assert.equal(pool.requests.length - before, sent);
    const used = pool.connections - connectionsBefore;
    assert.ok(used < sent, `backend saw ${used} TCP connections for ${sent} requests`);
  });
});
