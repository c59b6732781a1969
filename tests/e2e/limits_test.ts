/**
 * Limits: request head size (431), head read timeout (408 / close) and the
 * connection limit of --workers (503, slots given back on close).
 */

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  echoOf,
  HttpConnection,
  preview,
  rawExchange,
  request,
  tryParseResponse,
} from "../helpers/http.ts";
import { sleep } from "../helpers/backends.ts";
import { type Stack, startStack } from "../helpers/stack.ts";

/** A GET whose head is about `size` bytes long (one big header). */
function headOfSize(size: number): string {
  const start = "GET /big HTTP/1.1\r\nHost: x\r\nX-Big: ";
  const end = "\r\n\r\n";
  return start + "a".repeat(size - start.length - end.length) + end;
}

async function expect431(port: number, raw: string): Promise<void> {
  const reply = await rawExchange(port, raw);
  assert.match(reply.text, /^HTTP\/1\.1 431 /, `expected 431, got ${preview(reply.data)}`);
  assert.equal(reply.closed, true, "connection left open after 431");
  const parsed = tryParseResponse(reply.data, true);
  assert.ok(parsed);
  assert.match(parsed.response.headers["connection"] ?? "", /close/i);
  assert.match(parsed.response.headers["content-type"] ?? "", /^text\/plain/);
}

describe("request head size limit", () => {
  let defaults: Stack;
  let small: Stack;

  before(async () => {
    defaults = await startStack(["--route", "/:web"], ["web"]);
    small = await startStack(
      ["--route", "/:web", "--max-header-size", "4096", "--header-timeout", "1s"],
      ["web"],
    );
  });

  after(async () => {
    await defaults?.close();
    await small?.close();
  });

  it("accepts a 20 KiB head under the default 32 KiB limit", async () => {
    const reply = await rawExchange(
      defaults.port,
      headOfSize(20 * 1024).replace(
        "Host: x\r\n",
        "Host: x\r\nConnection: close\r\n",
      ),
    );
    const parsed = tryParseResponse(reply.data, true);
    assert.ok(parsed, preview(reply.data));
    assert.equal(parsed.response.status, 200, parsed.response.text);
    assert.equal(String(echoOf(parsed.response).headers["x-big"]).length > 20_000, true);
  });

  it("answers 431 to a 40 KiB head with the default limit", async () => {
    await expect431(defaults.port, headOfSize(40 * 1024));
  });

  it("answers 431 when many small fields add up over the default limit", async () => {
    let raw = "GET / HTTP/1.1\r\nHost: x\r\n";
    for (let i = 0; i < 50; i++) raw += `X-Field-${i}: ${"b".repeat(1000)}\r\n`;
    await expect431(defaults.port, raw + "\r\n");
  });

  it("answers 431 to 5000 bytes of head with --max-header-size 4096", async () => {
    await expect431(small.port, headOfSize(5000));
  });

  it("accepts 3000 bytes of head with --max-header-size 4096", async () => {
    const res = await request(small.port, {
      path: "/fits",
      headers: [["X-Big", "c".repeat(2900)]],
    });
    assert.equal(res.status, 200, res.text);
  });
});

describe("request head timeout", () => {
  let stack: Stack;

  before(async () => {
    stack = await startStack(
      ["--route", "/:web", "--header-timeout", "1s", "--keepalive-timeout", "1s"],
      ["web"],
    );
  });

  after(async () => {
    await stack?.close();
  });

  function assertCutOff(conn: HttpConnection, closed: boolean): void {
    assert.equal(closed, true, "a stalled head was not cut off");
    if (conn.buffer.length > 0) {
      assert.match(conn.buffer.toString("latin1"), /^HTTP\/1\.1 408 /, preview(conn.buffer));
    }
  }

  it("closes a connection that sends half a head and stalls", async () => {
    const conn = await HttpConnection.open(stack.port);
    try {
      conn.write("GET /slow HTTP/1.1\r\nHost: x\r\nX-Partial: ");
      assertCutOff(conn, await conn.waitClosed(15_000));
      assert.equal(stack.backends.web.requests.length, 0);
    } finally {
      conn.close();
    }
  });

  it("cuts off a head trickled a byte at a time (the limit is for the whole head)", async () => {
    const conn = await HttpConnection.open(stack.port);
    try {
      const head = "GET /trickle HTTP/1.1\r\nHost: x\r\nX-Slow: " + "z".repeat(200);
      let closed = false;
      for (let i = 0; i < head.length && !conn.ended; i++) {
        conn.write(head[i]);
        await sleep(100);
      }
      closed = await conn.waitClosed(10_000);
      assertCutOff(conn, closed);
    } finally {
      conn.close();
    }
  });

  it("closes an idle keep-alive connection after --keepalive-timeout 1s", async () => {
    const conn = await HttpConnection.open(stack.port);
    try {
      conn.write("GET /keepalive HTTP/1.1\r\nHost: x\r\n\r\n");
      assert.equal((await conn.readResponse()).status, 200);
      assert.equal(await conn.waitClosed(15_000), true, "idle keep-alive connection never closed");
      assert.equal(conn.buffer.length, 0, `unexpected bytes: ${preview(conn.buffer)}`);
    } finally {
      conn.close();
    }
  });

  it("still serves a client that sends its head promptly", async () => {
    const res = await request(stack.port, { path: "/prompt" });
    assert.equal(res.status, 200);
  });
});

describe("--workers connection limit", () => {
  let stack: Stack;

  before(async () => {
    stack = await startStack(["--route", "/:web", "--workers", "2"], ["web"]);
  });

  after(async () => {
    await stack?.close();
  });

  it("answers 503 to a third concurrent connection and frees slots on close", async () => {
    const held: HttpConnection[] = [];
    try {
      for (let i = 0; i < 2; i++) {
        const conn = await HttpConnection.open(stack.port);
        held.push(conn);
        conn.write(`GET /held/${i} HTTP/1.1\r\nHost: x\r\n\r\n`);
        assert.equal((await conn.readResponse()).status, 200);
      }
      const third = await rawExchange(
        stack.port,
        "GET /third HTTP/1.1\r\nHost: x\r\n\r\n",
        { waitMs: 15_000 },
      );
      assert.match(third.text, /^HTTP\/1\.1 503 /, `third connection got ${preview(third.data)}`);
      // Even a connection refused at accept gets an id, in the head and the body.
      const id = /\r\nX-Request-Id: ([0-9a-f]{16}-\d+)\r\n/.exec(third.text)?.[1];
      assert.ok(id, `no X-Request-Id: ${preview(third.data)}`);
      assert.ok(third.text.endsWith(`too many connections (request id ${id})\n`), third.text);
    } finally {
      for (const c of held) c.close();
    }
    // Slots come back once the held connections are closed.
    let last = "";
    for (let attempt = 0; attempt < 50; attempt++) {
      const reply = await rawExchange(
        stack.port,
        "GET /after HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
      );
      last = reply.text;
      if (/^HTTP\/1\.1 200 /.test(last)) return;
      await sleep(200);
    }
    assert.fail(`no 200 after the held connections closed; last reply: ${JSON.stringify(last)}`);
  });

  it("serves 2000 sequential connections (the seed stopped after 64)", async () => {
    const failures: string[] = [];
    let ok = 0;
    for (let i = 0; i < 2000; i++) {
      // Each connection: one GET, then the server closes (Connection: close).
      const conn = await HttpConnection.open(stack.port);
      try {
        conn.write(`GET /seq/${i} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
        const res = await conn.readResponse();
        if (res.status === 200) ok++;
        else if (failures.length < 5) {
          failures.push(`#${i}: ${res.status} ${res.text.slice(0, 80)}`);
        }
        await conn.waitClosed(5_000);
      } catch (err) {
        if (failures.length < 5) failures.push(`#${i}: ${(err as Error).message.slice(0, 120)}`);
      } finally {
        conn.close();
      }
    }
    assert.equal(ok, 2000, `only ${ok}/2000 succeeded; first failures:\n${failures.join("\n")}`);
  });
});
