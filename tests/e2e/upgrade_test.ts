/**
 * Upgrade (WebSocket-style) tunnels: 101 relayed, bytes both ways, close
 * propagation, and the --idle-timeout on an idle tunnel.
 */

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { randomBytes } from "node:crypto";
import {
  type RawBackend,
  type RawRequest,
  readRequest,
  sleep,
  startRawBackend,
} from "../helpers/backends.ts";
import { HttpConnection } from "../helpers/http.ts";
import { type Stack, startStack } from "../helpers/stack.ts";
import { register } from "../helpers/tower.ts";

const WELCOME = "welcome|";
const UPGRADE_REQUEST = "GET /ws/chat HTTP/1.1\r\nHost: chat.example.com\r\n" +
  "Connection: Upgrade\r\nUpgrade: websocket\r\n" +
  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

describe("upgrade tunnels", () => {
  let stack: Stack;
  let ws: RawBackend;
  const heads: RawRequest[] = [];
  let backendCloses = 0;

  before(async () => {
    stack = await startStack(["--route", "/ws:ws", "--idle-timeout", "1s"], []);
    // Answers 101 plus a greeting in the same write, then echoes; closes on "close-me".
    ws = await startRawBackend(async (socket) => {
      socket.on("close", () => backendCloses++);
      let req: RawRequest;
      try {
        req = await readRequest(socket);
      } catch {
        return;
      }
      heads.push(req);
      socket.write(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
          "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n" + WELCOME,
      );
      if (req.rest.length > 0) socket.write(req.rest);
      socket.on("data", (d: Buffer) => {
        if (d.includes("close-me")) socket.destroy();
        else socket.write(d);
      });
    });
    await register(stack.towerPort, "ws", ws.port);
  });

  after(async () => {
    await stack?.close();
    await ws?.close();
  });

  async function openTunnel(): Promise<HttpConnection> {
    const conn = await HttpConnection.open(stack.port);
    conn.write(UPGRADE_REQUEST);
    const res = await conn.readResponse();
    assert.equal(res.status, 101, `expected 101, got ${res.status} ${res.text}`);
    assert.equal(res.headers["upgrade"]?.toLowerCase(), "websocket");
    // The 101 carries the request's id, the one the backend was sent.
    assert.match(res.headers["x-request-id"] ?? "", /^[0-9a-f]{16}-\d+$/);
    assert.equal(heads.at(-1)!.headers["x-request-id"], res.headers["x-request-id"]);
    assert.equal((await conn.readBytes(WELCOME.length)).toString(), WELCOME);
    return conn;
  }

  it("relays the 101 and moves bytes both ways", async () => {
    const conn = await openTunnel();
    try {
      const head = heads.at(-1)!;
      assert.match(head.requestLine, /^GET \/ws\/chat HTTP\/1\.1$/);
      assert.equal(head.headers["upgrade"]?.toLowerCase(), "websocket");
      assert.match(head.headers["connection"] ?? "", /upgrade/i);
      assert.equal(head.headers["sec-websocket-key"], "dGhlIHNhbXBsZSBub25jZQ==");

      conn.write("ping-1");
      assert.equal((await conn.readBytes(6)).toString(), "ping-1");
      const big = randomBytes(256 * 1024);
      conn.write(big);
      const back = await conn.readBytes(big.length, 30_000);
      assert.ok(back.equals(big), "256 KiB echoed through the tunnel differ");
    } finally {
      conn.close();
    }
  });

  it("closes the client when the backend closes", async () => {
    const conn = await openTunnel();
    try {
      conn.write("close-me");
      assert.equal(await conn.waitClosed(10_000), true, "client still open after backend closed");
    } finally {
      conn.close();
    }
  });

  it("closes the backend when the client closes", async () => {
    const conn = await openTunnel();
    const closesBefore = backendCloses;
    conn.close();
    for (let i = 0; i < 50 && backendCloses === closesBefore; i++) await sleep(200);
    assert.ok(backendCloses > closesBefore, "backend side still open after the client left");
  });

  it("keeps an active tunnel open past the idle timeout", async () => {
    const conn = await openTunnel();
    try {
      // 12 round trips over ~2.4 s: never 1 s without traffic.
      for (let i = 0; i < 12; i++) {
        const msg = `tick-${String(i).padStart(2, "0")}`;
        conn.write(msg);
        assert.equal((await conn.readBytes(msg.length)).toString(), msg);
        await sleep(200);
      }
      assert.equal(conn.ended, false, "an active tunnel was closed");
    } finally {
      conn.close();
    }
  });

  it("closes an idle tunnel after --idle-timeout 1s", async () => {
    const conn = await openTunnel();
    const closesBefore = backendCloses;
    try {
      conn.write("once");
      assert.equal((await conn.readBytes(4)).toString(), "once");
      assert.equal(await conn.waitClosed(15_000), true, "idle tunnel still open after 15 s");
      for (let i = 0; i < 50 && backendCloses === closesBefore; i++) await sleep(200);
      assert.ok(backendCloses > closesBefore, "backend side of the idle tunnel still open");
    } finally {
      conn.close();
    }
  });
});
