/**
 * A route's rules end to end (routes from a config file, `--config`): the
 * target and headers a backend receives, the headers a client gets, the
 * answers the ingress gives itself (a fixed response, a redirect to HTTPS,
 * 413 for a body over the limit), and a route's own retries and timeouts.
 */

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Buffer } from "node:buffer";
import type net from "node:net";
import { echoOf, HttpConnection, request } from "../helpers/http.ts";
import {
  closedPort,
  type EchoBackend,
  type RawBackend,
  startEchoBackend,
  startRawBackend,
} from "../helpers/backends.ts";
import { type Gatehouse, startGatehouse } from "../helpers/gatehouse.ts";
import { register } from "../helpers/tower.ts";
import { makeCert } from "../helpers/certs.ts";

/** Starts Gatehouse on the config file `yaml` (written into `dir`), with `flags` over it. */
function startWithConfig(dir: string, yaml: string, flags: string[] = []): Promise<Gatehouse> {
  const path = join(dir, "gatehouse.yaml");
  writeFileSync(path, yaml);
  return startGatehouse(["--config", path, ...flags]);
}

/** The header values a backend received for `name` (any case), in order. */
function received(rawHeaders: string[], name: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < rawHeaders.length; i += 2) {
    if (rawHeaders[i].toLowerCase() === name) out.push(rawHeaders[i + 1]);
  }
  return out;
}

describe("route rules", () => {
  let dir: string;
  let gh: Gatehouse;
  let api: EchoBackend;
  let slow: EchoBackend;
  let failing: RawBackend;
  /** What the backend answering 502 to everything received, as text. */
  const failingGot: string[] = [];
  let early: RawBackend;
  /** Everything the backend that answers before the body ends received, as text. */
  let earlyGot = "";

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "gatehouse-rules-"));
    api = await startEchoBackend("api");
    slow = await startEchoBackend("slow", { delayMs: 1500 });
    failing = await startRawBackend((socket: net.Socket) => {
      socket.on("data", (chunk: Buffer) => {
        failingGot.push(chunk.toString("latin1"));
        socket.write("HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n");
      });
    });
    early = await startRawBackend((socket: net.Socket) => {
      let answered = false;
      socket.on("data", (chunk: Buffer) => {
        earlyGot += chunk.toString("latin1");
        // The response begins before the request body is over.
        if (!answered) {
          socket.write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n");
        }
        answered = true;
      });
    });
    gh = await startWithConfig(
      dir,
      `
listeners:
  - listen: 127.0.0.1:0
tower-listen: 127.0.0.1:0
retries: 3
services:
  flaky: { lb: round-robin }
routes:
  - prefix: /api
    service: api
    strip-prefix: true
  - prefix: /img*
    service: api
    strip-prefix: true
  - prefix: /old
    service: api
    replace-prefix: /v2
  - prefix: /flaky
    service: flaky
    strip-prefix: true
  - prefix: /edit
    service: api
    request-headers:
      remove: [X-Debug]
      set: { X-Env: prod, X-Forwarded-Proto: https }
      add: { X-Tag: [a, b] }
    response-headers:
      remove: [X-Backend]
      set: { Cache-Control: no-store }
      add: { X-Route: edit }
  - prefix: /upload
    service: api
    max-body: 1k
  - prefix: /early
    service: early
    max-body: 10
  - prefix: /fast
    service: slow
    timeouts: { upstream: 300ms }
  - prefix: /patient
    service: slow
  - prefix: /two-tries
    service: down-a
    retries: 2
  - prefix: /all-tries
    service: down-b
  - prefix: /
    respond: { status: 503, body: "down for maintenance\\n" }
`,
      ["--debug-errors"],
    );
    const tower = gh.towerPort!;
    await register(tower, "api", api.port);
    await register(tower, "slow", slow.port);
    await register(tower, "early", early.port);
    await register(tower, "flaky", failing.port);
    await register(tower, "flaky", api.port);
    for (const service of ["down-a", "down-b"]) {
      for (let i = 0; i < 3; i++) await register(tower, service, await closedPort());
    }
  });

  after(async () => {
    await gh?.kill();
    await Promise.all([api, slow, failing, early].map((b) => b?.close()));
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  describe("the target a backend gets", () => {
    it("strip-prefix: the matched prefix removed, the query kept, X-Forwarded-Prefix replaced", async () => {
      const res = await request(gh.httpPort, {
        path: "/api/users?page=2",
        headers: [["X-Forwarded-Prefix", "/evil"]],
      });
      assert.equal(res.status, 200, res.text);
      const e = echoOf(res);
      assert.equal(e.url, "/users?page=2");
      assert.deepEqual(received(e.rawHeaders, "x-forwarded-prefix"), ["/api"]);
      assert.equal(echoOf(await request(gh.httpPort, { path: "/api" })).url, "/");
      assert.equal(echoOf(await request(gh.httpPort, { path: "/api/?q" })).url, "/?q");
    });

    it("strip-prefix on a string prefix removes the literal prefix", async () => {
      const e = echoOf(await request(gh.httpPort, { path: "/img2.png" }));
      assert.equal(e.url, "/2.png");
      assert.deepEqual(received(e.rawHeaders, "x-forwarded-prefix"), ["/img"]);
    });

    it("replace-prefix: the matched prefix replaced, no X-Forwarded-Prefix added", async () => {
      const e = echoOf(await request(gh.httpPort, { path: "/old/x/y?z=1" }));
      assert.equal(e.url, "/v2/x/y?z=1");
      assert.deepEqual(received(e.rawHeaders, "x-forwarded-prefix"), []);
      assert.equal(echoOf(await request(gh.httpPort, { path: "/old" })).url, "/v2");
    });

    it("a retry on another replica sends the same rewritten head", async () => {
      // Round robin over a replica answering 502 and a good one: one of two requests meets the 502.
      for (let i = 0; i < 2; i++) {
        const res = await request(gh.httpPort, { path: "/flaky/x?i=" + i });
        assert.equal(res.status, 200, res.text);
        assert.equal(echoOf(res).url, `/x?i=${i}`);
      }
      assert.ok(failingGot.length >= 1, "the failing replica got a request");
      for (const got of failingGot) assert.match(got, /^GET \/x\?i=\d HTTP\/1\.1\r\n/);
      assert.match(failingGot.join(""), /\r\nX-Forwarded-Prefix: \/flaky\r\n/);
    });
  });

  describe("header edits", () => {
    it("the backend gets the request edited after the forwarding headers", async () => {
      const res = await request(gh.httpPort, {
        path: "/edit/p",
        headers: [["X-Debug", "1"], ["X-Env", "dev"], ["X-Tag", "c"], [
          "X-Forwarded-Proto",
          "gopher",
        ]],
      });
      assert.equal(res.status, 200, res.text);
      const e = echoOf(res);
      assert.equal(e.url, "/edit/p");
      assert.deepEqual(received(e.rawHeaders, "x-debug"), []);
      assert.deepEqual(received(e.rawHeaders, "x-env"), ["prod"]);
      assert.deepEqual(received(e.rawHeaders, "x-tag"), ["c", "a", "b"]);
      assert.deepEqual(received(e.rawHeaders, "x-forwarded-proto"), ["https"]);
      assert.deepEqual(received(e.rawHeaders, "x-forwarded-for"), ["127.0.0.1"]);
      assert.deepEqual(received(e.rawHeaders, "host"), ["localhost"]);
    });

    it("the client gets the response edited", async () => {
      const res = await request(gh.httpPort, { path: "/edit/p" });
      assert.equal(res.status, 200);
      assert.equal(res.headers["x-backend"], undefined);
      assert.equal(res.headers["cache-control"], "no-store");
      assert.equal(res.headers["x-route"], "edit");
      assert.match(res.headers["x-request-id"] ?? "", /\S/);
      assert.equal(echoOf(res).backend, "api");
    });

    it("a route without response edits passes the backend's fields", async () => {
      const res = await request(gh.httpPort, { path: "/api/x" });
      assert.equal(res.headers["x-backend"], "api");
      assert.equal(res.headers["x-route"], undefined);
    });
  });

  describe("a fixed response", () => {
    it("answers every path no other route matches, sending nothing to a backend", async () => {
      const before = api.requests.length + slow.requests.length;
      for (const path of ["/", "/nothing/here?x=1", "/apix"]) {
        const res = await request(gh.httpPort, { path });
        assert.equal(res.status, 503, path);
        assert.equal(res.text, "down for maintenance\n");
        assert.equal(res.headers["content-type"], "text/plain; charset=utf-8");
        assert.equal(res.headers["content-length"], "21");
        assert.match(res.headers["x-request-id"] ?? "", /\S/);
      }
      assert.equal(api.requests.length + slow.requests.length, before);
    });

    it("keeps the connection alive, drops a body it has whole, and sends no body for HEAD", async () => {
      const conn = await HttpConnection.open(gh.httpPort);
      try {
        conn.write("GET /a HTTP/1.1\r\nHost: x\r\n\r\n");
        assert.equal((await conn.readResponse()).status, 503);
        conn.write("POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc");
        const post = await conn.readResponse();
        assert.equal(post.status, 503);
        assert.equal(post.headers.connection, undefined);
        conn.write("HEAD /c HTTP/1.1\r\nHost: x\r\n\r\n");
        const head = await conn.readResponse({ head: true });
        assert.equal(head.headers["content-length"], "21");
        assert.equal(head.body.length, 0);
        // Still open, and nothing after the HEAD answer: the next response is the next request's.
        conn.write("GET /api/after HTTP/1.1\r\nHost: x\r\n\r\n");
        const next = await conn.readResponse();
        assert.equal(echoOf(next).url, "/after");
      } finally {
        conn.close();
      }
    });

    it("closes after answering a request whose body has not all arrived", async () => {
      const conn = await HttpConnection.open(gh.httpPort);
      try {
        conn.write("POST /b HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel");
        const res = await conn.readResponse();
        assert.equal(res.status, 503);
        assert.equal(res.headers.connection, "close");
        assert.ok(await conn.waitClosed(5000), "the connection closes");
      } finally {
        conn.close();
      }
    });
  });

  describe("max-body", () => {
    it("413 at once for a Content-Length over the limit; nothing reaches the backend", async () => {
      const before = api.requests.length;
      const conn = await HttpConnection.open(gh.httpPort);
      try {
        // The client waits for 100 Continue: the 413 comes without any body byte sent.
        conn.write(
          "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 1025\r\nExpect: 100-continue\r\n\r\n",
        );
        const res = await conn.readResponse({ timeoutMs: 5000 });
        assert.equal(res.status, 413);
        assert.equal(
          res.text,
          "content too large: the request body is longer than this route accepts\n",
        );
        assert.equal(res.headers.connection, "close");
        assert.ok(await conn.waitClosed(5000), "the connection closes");
      } finally {
        conn.close();
      }
      assert.equal(api.requests.length, before);
    });

    it("passes a body at the limit, by length and chunked", async () => {
      const body = "x".repeat(1024);
      const byLength = await request(gh.httpPort, { method: "POST", path: "/upload", body });
      assert.equal(byLength.status, 200, byLength.text);
      assert.equal(echoOf(byLength).bodyLength, 1024);
      const chunked = await request(gh.httpPort, {
        method: "POST",
        path: "/upload",
        headers: [["Transfer-Encoding", "chunked"]],
        body: `200\r\n${body.slice(0, 512)}\r\n200\r\n${body.slice(512)}\r\n0\r\n\r\n`,
      });
      assert.equal(chunked.status, 200, chunked.text);
      assert.equal(echoOf(chunked).bodyLength, 1024);
    });

    it("413 for a chunked body that grows over the limit before the response begins", async () => {
      const before = api.requests.length;
      const conn = await HttpConnection.open(gh.httpPort);
      try {
        conn.write(
          "POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" +
            `400\r\n${"y".repeat(1024)}\r\n1\r\nz\r\n0\r\n\r\n`,
        );
        const res = await conn.readResponse({ timeoutMs: 5000 });
        assert.equal(res.status, 413);
        assert.equal(res.headers.connection, "close");
        assert.ok(await conn.waitClosed(5000), "the connection closes");
      } finally {
        conn.close();
      }
      // The backend saw a request cut short, never a whole one.
      await new Promise((resolve) => setTimeout(resolve, 100));
      assert.equal(api.requests.length, before);
    });

    it("the connection ends when the body grows over the limit after the response began", async () => {
      const conn = await HttpConnection.open(gh.httpPort);
      try {
        conn.write(
          "POST /early HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n",
        );
        await conn.waitFor(
          () => (conn.buffer.includes("hello") ? true : undefined),
          5000,
          "the head",
        );
        conn.write(`10\r\n${"over".repeat(4)}\r\n0\r\n\r\n`);
        assert.ok(await conn.waitClosed(5000), "the connection ends");
        const text = conn.buffer.toString("latin1");
        assert.match(text, /^HTTP\/1\.1 200 OK\r\n/);
        assert.ok(!text.endsWith("0\r\n\r\n"), "the response is not passed off as whole");
      } finally {
        conn.close();
      }
      assert.match(earlyGot, /\r\n5\r\nfirst\r\n/);
      assert.ok(!earlyGot.includes("over"), "no byte over the limit reached the backend");
    });
  });

  describe("a route's own limits", () => {
    it("retries: the route's number of attempts over the ingress's", async () => {
      const two = await request(gh.httpPort, { path: "/two-tries" });
      assert.equal(two.status, 502);
      assert.match(two.text, /service "down-a" failed after 2 attempts:/);
      const three = await request(gh.httpPort, { path: "/all-tries" });
      assert.equal(three.status, 502);
      assert.match(three.text, /service "down-b" failed after 3 attempts:/);
    });

    it("timeouts: the route's upstream timeout, shorter than the ingress's", async () => {
      let started = Date.now();
      const fast = await request(gh.httpPort, { path: "/fast/x" });
      const fastMs = Date.now() - started;
      assert.equal(fast.status, 504, fast.text);
      // Timeouts are swept every 100 ms: 300 ms fires between 200 and 400 ms after the send.
      assert.ok(fastMs >= 150 && fastMs < 1200, `answered after ${fastMs} ms`);
      started = Date.now();
      const patient = await request(gh.httpPort, { path: "/patient/x" });
      assert.equal(patient.status, 200, patient.text);
      assert.ok(Date.now() - started >= 1400, "the other route waits for the slow backend");
    });
  });
});

describe("route rules: redirect-https", () => {
  let dir: string;
  let gh: Gatehouse;
  let web: EchoBackend;
  let tlsPort: number;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "gatehouse-redirect-"));
    const { cert, key } = await makeCert(dir);
    web = await startEchoBackend("web");
    // The redirect names the TLS listener's port, so it is a fixed one.
    tlsPort = await closedPort();
    gh = await startWithConfig(
      dir,
      `
listeners:
  - listen: 127.0.0.1:0
  - listen: 127.0.0.1:${tlsPort}
    tls: { cert: ${cert}, key: ${key} }
tower-listen: 127.0.0.1:0
routes:
  - prefix: /
    service: web
    redirect-https: true
  - prefix: /moved
    redirect-https: 301
`,
    );
    await register(gh.towerPort!, "web", web.port);
    // Both listening lines: the plain one was the ready line.
    const deadline = Date.now() + 5000;
    while (!gh.stdoutLines.some((l) => l.includes(`https://127.0.0.1:${tlsPort}`))) {
      if (Date.now() > deadline) throw new Error(`no TLS listener: ${gh.stdoutLines}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  });

  after(async () => {
    await gh?.kill();
    await web?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("announces the plain listener first", () => {
    assert.equal(gh.scheme, "http");
    assert.notEqual(gh.httpPort, tlsPort);
  });

  it("redirects plain HTTP to the same host and target on the TLS port, with an empty body", async () => {
    const before = web.requests.length;
    const res = await request(gh.httpPort, {
      method: "POST",
      path: "/a/b?c=1",
      host: "shop.example:8080",
      body: "x",
    });
    assert.equal(res.status, 308);
    assert.equal(res.reason, "Permanent Redirect");
    assert.equal(res.headers.location, `https://shop.example:${tlsPort}/a/b?c=1`);
    assert.equal(res.headers["content-length"], "0");
    assert.equal(res.body.length, 0);
    assert.equal(web.requests.length, before);
  });

  it("uses the route's status", async () => {
    const res = await request(gh.httpPort, { path: "/moved/x", host: "localhost" });
    assert.equal(res.status, 301);
    assert.equal(res.headers.location, `https://localhost:${tlsPort}/moved/x`);
  });

  it("forwards over HTTPS; a redirect route without a service has nothing to forward to", async () => {
    const res = await request(tlsPort, { path: "/a/b" }, { tls: true });
    assert.equal(res.status, 200, res.text);
    const e = echoOf(res);
    assert.equal(e.url, "/a/b");
    assert.equal(e.headers["x-forwarded-proto"], "https");
    const moved = await request(tlsPort, { path: "/moved/x" }, { tls: true });
    assert.equal(moved.status, 404);
  });
});
