/**
 * Stalled transfers: the four timeouts after a request head has passed
 * (client body, backend response, client not reading, backend not reading),
 * Expect: 100-continue, and a client that half-closes or closes mid-body.
 * Real sockets: Gatehouse as a process, raw backends that stall on purpose.
 */

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import type net from "node:net";
import { Buffer } from "node:buffer";
import { type RawBackend, sleep, startRawBackend } from "../helpers/backends.ts";
import { HttpConnection, preview } from "../helpers/http.ts";
import { freePortFlags, type Gatehouse, startGatehouse } from "../helpers/gatehouse.ts";
import { register } from "../helpers/tower.ts";

/** What a backend connection saw: the bytes of its head, and when it closed. */
interface Seen {
  socket: net.Socket;
  head: Promise<{ head: string; rest: Buffer }>;
  closed: Promise<void>;
}

/** Reads one request head off `socket` (the bytes after it come back as `rest`). */
function watch(socket: net.Socket): Seen {
  let buf = Buffer.alloc(0);
  const head = new Promise<{ head: string; rest: Buffer }>((resolve) => {
    const onData = (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      const end = buf.indexOf("\r\n\r\n");
      if (end < 0) return;
      socket.off("data", onData);
      resolve({ head: buf.subarray(0, end).toString("latin1"), rest: buf.subarray(end + 4) });
    };
    socket.on("data", onData);
  });
  const closed = new Promise<void>((resolve) => socket.once("close", () => resolve()));
  return { socket, head, closed };
}

/** Resolves true when `p` settles within `ms`. */
async function within(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  const done = await Promise.race([p.then(() => true as const), late]);
  clearTimeout(timer);
  return done;
}

/** A backend whose behaviour each test sets; every connection it accepted is kept in `seen`. */
class Backend {
  raw!: RawBackend;
  seen: Seen[] = [];
  onConnection: (socket: net.Socket, seen: Seen) => void = () => {};
  async start(): Promise<this> {
    this.raw = await startRawBackend((socket) => {
      const seen = watch(socket);
      this.seen.push(seen);
      this.onConnection(socket, seen);
    });
    return this;
  }
  /** The next connection's record (waits for it). */
  async next(index: number): Promise<Seen> {
    for (let i = 0; i < 200 && this.seen.length <= index; i++) await sleep(25);
    assert.ok(this.seen.length > index, "the backend got no connection");
    return this.seen[index];
  }
}

describe("stalled transfers", () => {
  let gh: Gatehouse;
  const backend = new Backend();

  before(async () => {
    await backend.start();
    gh = await startGatehouse([
      ...freePortFlags(),
      "--route",
      "/:web",
      "--body-timeout",
      "1s",
      "--upstream-read-timeout",
      "1s",
      "--send-timeout",
      "1s",
      "--upstream-send-timeout",
      "1s",
      "--upstream-timeout",
      "3s",
    ]);
    await register(gh.towerPort!, "web", backend.raw.port);
  });

  after(async () => {
    await gh?.kill();
    await backend.raw?.close();
  });

  it("a client body that stalls gets 408 and the partial request's backend connection is closed", async () => {
    const index = backend.seen.length;
    backend.onConnection = () => {};
    const conn = await HttpConnection.open(gh.httpPort);
    conn.write("POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789");
    const seen = await backend.next(index);
    assert.match((await seen.head).head, /^POST \/upload HTTP\/1\.1/);
    const res = await conn.readResponse({ timeoutMs: 10_000 });
    assert.equal(res.status, 408, res.text);
    assert.match(res.text, /request body stalled/);
    assert.ok(await conn.waitClosed(5_000), "client connection left open after 408");
    assert.ok(await within(seen.closed, 5_000), "backend connection left open");
  });

  it("a client body that stalls after the response began ends the connection", async () => {
    const index = backend.seen.length;
    backend.onConnection = async (socket, seen) => {
      await seen.head;
      // Answers at once, before the body, and keeps the response open (chunked, not ended).
      socket.write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nearly\r\n");
      const keep = setInterval(() => socket.write("1\r\n.\r\n"), 300);
      socket.once("close", () => clearInterval(keep));
    };
    const conn = await HttpConnection.open(gh.httpPort);
    conn.write("POST /early HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789");
    const seen = await backend.next(index);
    assert.ok(await conn.waitClosed(10_000), "client connection left open");
    const text = conn.buffer.toString("latin1");
    assert.match(text, /^HTTP\/1\.1 200 /, preview(conn.buffer));
    assert.doesNotMatch(text, /408/, "a second response after a response began");
    assert.ok(await within(seen.closed, 5_000), "backend connection left open");
  });

  it("a backend that stalls mid-response ends the client connection and is closed", async () => {
    const index = backend.seen.length;
    backend.onConnection = async (socket, seen) => {
      await seen.head;
      socket.write("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789");
    };
    const conn = await HttpConnection.open(gh.httpPort);
    conn.write("GET /half HTTP/1.1\r\nHost: x\r\n\r\n");
    const seen = await backend.next(index);
    assert.ok(await conn.waitClosed(10_000), "client connection left open");
    assert.match(conn.buffer.toString("latin1"), /^HTTP\/1\.1 200 [^]*\r\n\r\n0123456789$/);
    assert.ok(await within(seen.closed, 5_000), "backend connection left open");
  });

  it("a client that stops reading is dropped along with its backend connection", async () => {
    const index = backend.seen.length;
    backend.onConnection = async (socket, seen) => {
      await seen.head;
      socket.write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
      const block = `10000\r\n${"x".repeat(0x10000)}\r\n`;
      const pump = () => {
        while (!socket.destroyed && socket.write(block));
      };
      socket.on("drain", pump);
      pump();
    };
    const conn = await HttpConnection.open(gh.httpPort);
    conn.pauseReading();
    conn.write("GET /big HTTP/1.1\r\nHost: x\r\n\r\n");
    const seen = await backend.next(index);
    assert.ok(await within(seen.closed, 10_000), "backend connection left open");
    conn.resumeReading();
    assert.ok(await conn.waitClosed(10_000), "client connection left open");
  });

  it("a backend that stops reading the body is a failed try: 502, and its connection is closed", async () => {
    const index = backend.seen.length;
    backend.onConnection = (socket) => socket.pause();
    const conn = await HttpConnection.open(gh.httpPort);
    const size = 64 * 1024 * 1024;
    conn.write(`PUT /blob HTTP/1.1\r\nHost: x\r\nContent-Length: ${size}\r\n\r\n`);
    const chunk = Buffer.alloc(256 * 1024, 0x61);
    let sent = 0;
    const feed = setInterval(() => {
      if (conn.ended || sent >= size) return clearInterval(feed);
      conn.write(chunk);
      sent += chunk.length;
    }, 5);
    try {
      const seen = await backend.next(index);
      const res = await conn.readResponse({ timeoutMs: 15_000 });
      assert.equal(res.status, 502, res.text);
      // The backend reads again: past what was sent before the stall, it finds the connection closed.
      seen.socket.resume();
      assert.ok(await within(seen.closed, 10_000), "backend connection left open");
    } finally {
      clearInterval(feed);
      conn.close();
    }
  });

  it("with Expect: 100-continue the body clock starts when the 100 goes out", async () => {
    const index = backend.seen.length;
    backend.onConnection = async (socket, seen) => {
      const { rest } = await seen.head;
      // Longer than --body-timeout before the 100: the client's wait for it is not a stall.
      await sleep(2_000);
      socket.write("HTTP/1.1 100 Continue\r\n\r\n");
      let body = rest;
      socket.on("data", (chunk: Buffer) => {
        body = Buffer.concat([body, chunk]);
        if (body.length >= 5) {
          socket.end(
            `HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
          );
        }
      });
    };
    const conn = await HttpConnection.open(gh.httpPort);
    conn.write(
      "POST /expect HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n",
    );
    await backend.next(index);
    await conn.waitFor(
      () => (/^HTTP\/1\.1 100 /.test(conn.buffer.toString("latin1")) ? true : undefined),
      10_000,
      "the 100 Continue",
    );
    conn.write("hello");
    const res = await conn.readResponse({ timeoutMs: 10_000 });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.toString(), "hello");
    conn.close();
  });

  it("with Expect: 100-continue a body that never comes after the 100 gets 408", async () => {
    const index = backend.seen.length;
    backend.onConnection = async (socket, seen) => {
      await seen.head;
      socket.write("HTTP/1.1 100 Continue\r\n\r\n");
    };
    const conn = await HttpConnection.open(gh.httpPort);
    conn.write(
      "POST /expect HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n",
    );
    const seen = await backend.next(index);
    const res = await conn.readResponse({ timeoutMs: 10_000 });
    assert.equal(res.status, 408, res.text);
    assert.ok(await within(seen.closed, 5_000), "backend connection left open");
  });
});

describe("a client that ends mid-body", () => {
  let gh: Gatehouse;
  const backend = new Backend();

  before(async () => {
    await backend.start();
    // Timeouts long enough that only the half-close or close itself can explain what happens.
    gh = await startGatehouse([...freePortFlags(), "--route", "/:web", "--body-timeout", "60s"]);
    await register(gh.towerPort!, "web", backend.raw.port);
  });

  after(async () => {
    await gh?.kill();
    await backend.raw?.close();
  });

  it("half-closing with the body incomplete gets 400 at once, and the backend connection is closed", async () => {
    const index = backend.seen.length;
    backend.onConnection = () => {};
    const conn = await HttpConnection.open(gh.httpPort);
    conn.write("POST /cut HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789");
    const seen = await backend.next(index);
    await seen.head;
    conn.endWriting();
    const res = await conn.readResponse({ timeoutMs: 5_000 });
    assert.equal(res.status, 400, res.text);
    assert.match(res.text, /ended early/);
    assert.ok(await within(seen.closed, 5_000), "backend connection left open");
  });

  it("half-closing before the backend is reached gets 400 too", async () => {
    backend.onConnection = () => {};
    const conn = await HttpConnection.open(gh.httpPort);
    conn.write("POST /cut HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n012");
    conn.endWriting();
    const res = await conn.readResponse({ timeoutMs: 5_000 });
    assert.equal(res.status, 400, res.text);
  });

  it("half-closing after the whole body still gets the response", async () => {
    backend.onConnection = async (socket, seen) => {
      const { rest } = await seen.head;
      let body = rest;
      const answer = () => {
        if (body.length >= 10) socket.end(`HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok`);
      };
      socket.on("data", (chunk: Buffer) => {
        body = Buffer.concat([body, chunk]);
        answer();
      });
      answer();
    };
    const conn = await HttpConnection.open(gh.httpPort);
    conn.write("POST /whole HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n0123456789");
    conn.endWriting();
    const res = await conn.readResponse({ timeoutMs: 5_000 });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.toString(), "ok");
  });

  it("closing mid-body closes the backend connection; it is never reused", async () => {
    const index = backend.seen.length;
    backend.onConnection = async (socket, seen) => {
      const { head } = await seen.head;
      if (head.startsWith("GET")) socket.write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    };
    const cut = await HttpConnection.open(gh.httpPort);
    cut.write("POST /cut HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789");
    const seen = await backend.next(index);
    await seen.head;
    cut.close();
    assert.ok(await within(seen.closed, 5_000), "backend connection left open");
    const conn = await HttpConnection.open(gh.httpPort);
    conn.write("GET /next HTTP/1.1\r\nHost: x\r\n\r\n");
    const res = await conn.readResponse({ timeoutMs: 5_000 });
    assert.equal(res.status, 200, res.text);
    assert.equal(backend.seen.length, index + 2, "the next request went to a new connection");
    conn.close();
  });
});
