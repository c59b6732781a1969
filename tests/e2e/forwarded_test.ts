/**
 * Forwarded headers as the backend sees them: X-Forwarded-For appended,
 * X-Real-IP / X-Forwarded-Proto / X-Forwarded-Host set by the ingress unless
 * the client is a trusted proxy; a Host for a request that names none.
 */

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  type EchoBackend,
  type RecordingBackend,
  startEchoBackend,
  startRecordingBackend,
} from "../helpers/backends.ts";
import { type Gatehouse, startGatehouse } from "../helpers/gatehouse.ts";
import { echoOf, type EchoView, HttpConnection, request } from "../helpers/http.ts";
import { type Stack, startStack } from "../helpers/stack.ts";
import { register } from "../helpers/tower.ts";

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

  it("adds itself to Via, after the hops the request came through", async () => {
    assert.equal((await backendView(stack, []))["via"], "1.1 gatehouse");
    const h = await backendView(stack, [["Via", "1.0 fred, 1.1 p.example.net"], ["Via", "1.1 x"]]);
    assert.equal(h["via"], "1.0 fred, 1.1 p.example.net, 1.1 x, 1.1 gatehouse");
  });
});

describe("Via: --via NAME and --via off", () => {
  let named: Stack;
  let off: Stack;

  before(async () => {
    named = await startStack(["--route", "/:web", "--via", "edge-1"], ["web"]);
    off = await startStack(["--route", "/:web", "--via", "off"], ["web"]);
  });

  after(async () => {
    await named?.close();
    await off?.close();
  });

  it("names this hop as told", async () => {
    assert.equal((await backendView(named, [["Via", "1.1 cdn"]]))["via"], "1.1 cdn, 1.1 edge-1");
  });

  it("adds no Via when off, and passes the client's as it came", async () => {
    assert.equal((await backendView(off, []))["via"], undefined);
    const res = await request(off.port, {
      path: "/fwd",
      headers: [["Via", "1.1 a"], ["X-A", "1"], ["via", "1.0 b"]],
    });
    assert.equal(res.status, 200, res.text);
    const raw = echoOf(res).rawHeaders;
    const pairs = raw.flatMap((v, i) => (i % 2 === 0 ? [[v, raw[i + 1]]] : []));
    assert.deepEqual(pairs.slice(0, 4), [["Host", "localhost"], ["Via", "1.1 a"], ["X-A", "1"], [
      "via",
      "1.0 b",
    ]]);
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

describe("a request that names no host (HTTP/1.0 without Host)", () => {
  let recording: RecordingBackend;
  let named: EchoBackend;
  const started: Gatehouse[] = [];

  before(async () => {
    recording = await startRecordingBackend();
    named = await startEchoBackend("named");
  });

  after(async () => {
    await Promise.all(started.map((gh) => gh.kill()));
    await recording?.close();
    await named?.close();
  });

  /** A Gatehouse listening on `listen`, the recording backend behind its host-less route. */
  async function gatehouseOn(listen: string): Promise<Gatehouse> {
    const gh = await startGatehouse([
      "--listen",
      listen,
      "--tower-listen",
      "127.0.0.1:0",
      // A route naming the address clients connect to: a request naming no host is routed
      // by the host-less routes, as before, not by the address it came in on.
      "--route",
      "127.0.0.1/:named",
      "--route",
      "/:rec",
    ]);
    started.push(gh);
    await register(gh.towerPort!, "rec", recording.port);
    await register(gh.towerPort!, "named", named.port);
    return gh;
  }

  /**
   * Send `raw` on a new connection to `host`:`port`: the head the backend
   * received, and the request id the client got back.
   */
  async function forwardedHead(
    port: number,
    host: string,
    raw: string,
  ): Promise<{ head: string; id: string }> {
    const before = recording.requests.length;
    const conn = await HttpConnection.open(port, { host });
    let id: string;
    try {
      conn.write(raw);
      const res = await conn.readResponse();
      assert.equal(res.status, 200, res.text);
      assert.equal(res.text, "ok");
      id = res.headers["x-request-id"];
    } finally {
      conn.close();
    }
    assert.equal(recording.requests.length, before + 1, "the host-less route's backend missed it");
    return { head: recording.requests[before].head, id };
  }

  it("goes out as HTTP/1.1 with Host: the IPv4 address and port it came in on", async () => {
    const gh = await gatehouseOn("127.0.0.1:0");
    const { head, id } = await forwardedHead(
      gh.httpPort,
      "127.0.0.1",
      "GET /old?q=1 HTTP/1.0\r\n\r\n",
    );
    // The client named no host: there is no X-Forwarded-Host to send.
    assert.equal(
      head,
      "GET /old?q=1 HTTP/1.1\r\n" +
        `Host: 127.0.0.1:${gh.httpPort}\r\n` +
        "X-Forwarded-For: 127.0.0.1\r\n" +
        "X-Real-IP: 127.0.0.1\r\n" +
        "X-Forwarded-Proto: http\r\n" +
        // The version the request arrived with.
        "Via: 1.0 gatehouse\r\n" +
        `X-Request-Id: ${id}`,
    );
  });

  it("writes an IPv6 address in brackets", async () => {
    const gh = await gatehouseOn("[::1]:0");
    const { head, id } = await forwardedHead(
      gh.httpPort,
      "::1",
      "GET /v6 HTTP/1.0\r\nX-A: 1\r\n\r\n",
    );
    assert.equal(
      head,
      "GET /v6 HTTP/1.1\r\n" +
        "X-A: 1\r\n" +
        `Host: [::1]:${gh.httpPort}\r\n` +
        "X-Forwarded-For: ::1\r\n" +
        "X-Real-IP: ::1\r\n" +
        "X-Forwarded-Proto: http\r\n" +
        "Via: 1.0 gatehouse\r\n" +
        `X-Request-Id: ${id}`,
    );
  });

  it("keeps the Host an HTTP/1.0 request does send", async () => {
    const gh = await gatehouseOn("127.0.0.1:0");
    const { head } = await forwardedHead(
      gh.httpPort,
      "127.0.0.1",
      "GET /named HTTP/1.0\r\nHost: shop.example.com\r\n\r\n",
    );
    assert.match(head, /^GET \/named HTTP\/1\.1\r\nHost: shop\.example\.com\r\n/);
    assert.match(head, /\r\nX-Forwarded-Host: shop\.example\.com(\r\n|$)/);
  });
});
