/**
 * Robustness: split and slow writes, many concurrent clients without
 * cross-talk, client and backend failures mid-message, stale pooled backend
 * connections, and clients that half-close after their request.
 */

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import {
  type RawBackend,
  readRequest,
  sleep,
  startEchoBackend,
  startRawBackend,
} from "../helpers/backends.ts";
import { echoOf, HttpConnection, request } from "../helpers/http.ts";
import { type Stack, startStack } from "../helpers/stack.ts";
import { register } from "../helpers/tower.ts";

describe("robustness", () => {
  let stack: Stack;
  const raws: RawBackend[] = [];

  before(async () => {
    stack = await startStack(
      [
        "--route",
        "/a:svc-a",
        "--route",
        "/b:svc-b",
        "--route",
        "/big:big",
        "--route",
        "/mid:mid",
        "--route",
        "/short:short-body",
        "--route",
        "/garbage:garbage",
        "--route",
        "/stale:stale",
      ],
      ["svc-a", "svc-b", "big", "mid"],
      {
        echo: {
          // 64 KiB answers whose head names the request they answer.
          mid: {
            respond(req, res) {
              const seq = (req.url ?? "").split("/").pop() ?? "";
              const body = Buffer.alloc(64 * 1024, 0x30 + (Number(seq) % 10));
              res.writeHead(200, { "Content-Length": body.length, "X-Seq": seq });
              res.end(body);
              return true;
            },
          },
          big: {
            respond(_req, res) {
              const body = Buffer.alloc(8 * 1024 * 1024, 0x61);
              res.writeHead(200, { "Content-Length": body.length });
              res.end(body);
              return true;
            },
          },
        },
      },
    );
    // Promises 100 bytes, sends 10, closes.
    const short = await startRawBackend(async (socket) => {
      try {
        await readRequest(socket);
      } catch {
        return;
      }
      socket.end("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789");
    });
    // Answers with something that is not HTTP.
    const garbage = await startRawBackend(async (socket) => {
      try {
        await readRequest(socket);
      } catch {
        return;
      }
      socket.end("this is not http\r\n\r\n");
    });
    raws.push(short, garbage);
    await register(stack.towerPort, "short-body", short.port);
    await register(stack.towerPort, "garbage", garbage.port);
  });

  after(async () => {
    await stack?.close();
    await Promise.all(raws.map((r) => r.close()));
  });

  it("parses a request written one byte at a time", async () => {
    const conn = await HttpConnection.open(stack.port);
    try {
      const raw =
        "POST /a/bytewise?q=1 HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n\r\nhello";
      for (const ch of raw) {
        conn.write(ch);
        await sleep(2);
      }
      const res = await conn.readResponse();
      assert.equal(res.status, 200, res.text);
      const e = echoOf(res);
      assert.equal(e.url, "/a/bytewise?q=1");
      assert.equal(e.body, "hello");
    } finally {
      conn.close();
    }
  });

  it("decodes a chunked body split at awkward places", async () => {
    const conn = await HttpConnection.open(stack.port);
    try {
      const body = "4\r\nWiki\r\n6;ext=1\r\npedia \r\nE\r\nin \r\n\r\nchunks.\r\n0\r\n\r\n";
      conn.write("POST /a/split HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n");
      for (let i = 0; i < body.length; i += 3) {
        conn.write(body.slice(i, i + 3));
        await sleep(5);
      }
      conn.write("GET /b/next HTTP/1.1\r\nHost: localhost\r\n\r\n");
      const res = await conn.readResponse();
      assert.equal(res.status, 200, res.text);
      assert.equal(echoOf(res).body, "Wikipedia in \r\n\r\nchunks.");
      assert.equal(echoOf(await conn.readResponse()).url, "/b/next");
    } finally {
      conn.close();
    }
  });

  it("answers 50 pipelined requests in order", async () => {
    const conn = await HttpConnection.open(stack.port);
    try {
      let raw = "";
      for (let i = 0; i < 50; i++) {
        raw += `GET /${i % 2 ? "b" : "a"}/p${i} HTTP/1.1\r\nHost: localhost\r\n\r\n`;
      }
      conn.write(raw);
      for (let i = 0; i < 50; i++) {
        const res = await conn.readResponse();
        assert.equal(res.status, 200, `#${i}: ${res.text}`);
        const e = echoOf(res);
        assert.equal(e.url, `/${i % 2 ? "b" : "a"}/p${i}`);
        assert.equal(e.backend, i % 2 ? "svc-b" : "svc-a");
      }
    } finally {
      conn.close();
    }
  });

  it("answers 20,000 pipelined requests the ingress answers itself, and stays usable", async () => {
    // Each answer comes at once, without a backend: the next request must not
    // be started from inside the answer to the one before, or the stack runs out.
    const conn = await HttpConnection.open(stack.port);
    try {
      conn.write("GET /nowhere HTTP/1.1\r\nHost: localhost\r\n\r\n".repeat(20_000));
      for (let i = 0; i < 20_000; i++) {
        const res = await conn.readResponse({ timeoutMs: 30_000 });
        assert.equal(res.status, 404, `#${i}: ${res.text}`);
      }
      conn.write("GET /a/after HTTP/1.1\r\nHost: localhost\r\n\r\n");
      const after = await conn.readResponse();
      assert.equal(after.status, 200);
      assert.equal(echoOf(after).url, "/a/after");
    } finally {
      conn.close();
    }
  });

  it("keeps pipelined responses intact for a client that reads only later", async () => {
    // 300 answers of 64 KiB (19 MiB) for a client that is not reading: once
    // the kernel's buffers are full, answers wait in the ingress's queue, heads
    // and bodies, while the next ones are built. Each must arrive as sent.
    const conn = await HttpConnection.open(stack.port);
    try {
      let raw = "";
      for (let i = 0; i < 300; i++) raw += `GET /mid/${i} HTTP/1.1\r\nHost: localhost\r\n\r\n`;
      conn.pauseReading();
      conn.write(raw);
      await sleep(1000);
      conn.resumeReading();
      for (let i = 0; i < 300; i++) {
        const res = await conn.readResponse({ timeoutMs: 30_000 });
        assert.equal(res.status, 200, `#${i}`);
        assert.equal(res.headers["x-seq"], String(i));
        assert.equal(res.body.length, 64 * 1024, `#${i}`);
        assert.ok(res.body.every((b) => b === 0x30 + (i % 10)), `#${i}: body bytes`);
      }
    } finally {
      conn.close();
    }
  });

  it("keeps concurrent clients' responses apart (20 connections x 10 requests)", async () => {
    const client = async (c: number) => {
      const conn = await HttpConnection.open(stack.port);
      try {
        for (let r = 0; r < 10; r++) {
          const path = `/${(c + r) % 2 ? "b" : "a"}/c${c}/r${r}`;
          const body = `body-${c}-${r}`;
          conn.write(
            `POST ${path} HTTP/1.1\r\nHost: localhost\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
          );
          const res = await conn.readResponse({ timeoutMs: 30_000 });
          assert.equal(res.status, 200, `${path}: ${res.text}`);
          const e = echoOf(res);
          assert.equal(e.url, path);
          assert.equal(e.body, body);
        }
      } finally {
        conn.close();
      }
    };
    await Promise.all(Array.from({ length: 20 }, (_, c) => client(c)));
  });

  it("survives a client that disconnects in the middle of a large response", async () => {
    for (let i = 0; i < 3; i++) {
      const conn = await HttpConnection.open(stack.port);
      conn.write("GET /big/x HTTP/1.1\r\nHost: localhost\r\n\r\n");
      await conn.readBytes(1024);
      conn.close();
    }
    const res = await request(stack.port, { path: "/a/still-alive" });
    assert.equal(res.status, 200);
    assert.equal(stack.gh.hasExited, false);
  });

  it("closes the client connection when the backend's body ends short", async () => {
    const conn = await HttpConnection.open(stack.port);
    try {
      conn.write("GET /short/x HTTP/1.1\r\nHost: localhost\r\n\r\n");
      assert.equal(await conn.waitClosed(15_000), true, "client left hanging on a truncated body");
      await assert.rejects(
        conn.readResponse({ timeoutMs: 1_000 }),
        "a truncated body was delivered as a complete response",
      );
    } finally {
      conn.close();
    }
  });

  it("answers 502 when the backend's reply is not HTTP", async () => {
    const res = await request(stack.port, { path: "/garbage/x" }, { responseTimeoutMs: 30_000 });
    assert.equal(res.status, 502, res.text);
  });

  it("answers a client that half-closes after sending its request", async () => {
    const conn = await HttpConnection.open(stack.port);
    try {
      conn.write("GET /a/half-close HTTP/1.1\r\nHost: localhost\r\n\r\n");
      conn.endWriting();
      const res = await conn.readResponse();
      assert.equal(res.status, 200);
      assert.equal(echoOf(res).url, "/a/half-close");
    } finally {
      conn.close();
    }
  });

  it("does not fail a POST on a pooled connection the backend closed while idle", async () => {
    // This backend drops idle keep-alive connections after 300 ms.
    const stale = await startEchoBackend("stale", { keepAliveTimeoutMs: 300 });
    try {
      await register(stack.towerPort, "stale", stale.port);
      const first = await request(stack.port, { path: "/stale/1" });
      assert.equal(first.status, 200);
      await sleep(1_500);
      const second = await request(stack.port, { method: "POST", path: "/stale/2", body: "x" });
      assert.equal(
        second.status,
        200,
        `after the backend closed its idle connection: ${second.text}`,
      );
      assert.equal(echoOf(second).body, "x");
      // The scenario really happened: the second request needed a new connection.
      assert.equal(stale.connections, 2, "the backend did not drop its idle connection");
    } finally {
      await stale.close();
    }
  });
});
