/**
 * The heads that cross the ingress (src/proxy/forwarded.ts): what a backend learns
 * about the client (X-Forwarded-*, X-Real-IP), Via, and which connection-specific
 * headers are removed on the way in (the way out: proxy_response_head_test.ts).
 */

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { type ClientInfo, upstreamHeadBytes } from "../../src/proxy/forwarded.ts";
import { ConnectionTokens } from "../../src/http1/connection_tokens.ts";
import {
  connectionTokens,
  type Field,
  parseRequestHead,
  upstreamRequestHead,
} from "../helpers/http1_text.ts";
import { downstreamHeadBytes } from "../../src/proxy/response_head.ts";
import { type HeadSpace } from "../../src/http1/head_writer.ts";
import { HeadScan, scanRequestHead, scanResponseHead } from "../../src/http1/head.ts";
import { RequestId, RequestIdSource } from "../../src/proxy/request_id.ts";

const encoder = new TextEncoder();

function fields(lines: string[]): Field[] {
  const b = encoder.encode(`GET / HTTP/1.1\r\n${lines.map((l) => l + "\r\n").join("")}\r\n`);
  const r = parseRequestHead(b, 0, b.length, { maxSize: 65536 });
  if (r.kind !== "done") assert.fail(`test head did not parse: ${JSON.stringify(r)}`);
  return r.head.fields;
}

/** Clients of a listener on 192.0.2.1:9090 with the default Via pseudonym. */
const UNTRUSTED: ClientInfo = {
  peer: "203.0.113.7",
  proto: "http",
  trusted: false,
  local: "192.0.2.1:9090",
  via: "gatehouse",
};
const TRUSTED: ClientInfo = {
  peer: "10.0.0.2",
  proto: "https",
  trusted: true,
  local: "[::1]:443",
  via: "gatehouse",
};

/** A request id, as the ingress makes them. */
const ID = new RequestId();
new RequestIdSource("p").next(ID);

/** The upstream head for a GET of /x with these request lines. */
function upstream(
  lines: string[],
  info: ClientInfo = UNTRUSTED,
  host = "example.com",
  upgrade: string | null = null,
): string {
  return upstreamRequestHead("GET", "/x", fields(lines), host, info, upgrade);
}

/** The field lines of a head (request or status line and final CRLF removed). */
function lines(head: string): string[] {
  assert.ok(head.endsWith("\r\n\r\n"), "a head ends with an empty line");
  return head.slice(0, -4).split("\r\n").slice(1);
}

describe("upstreamRequestHead: the whole head", () => {
  it("builds the exact head for a plain request from an untrusted client", () => {
    const head = upstream(["Host: example.com", "User-Agent: t/1", "Accept: */*"]);
    assert.equal(
      head,
      "GET /x HTTP/1.1\r\n" +
        "Host: example.com\r\n" +
        "User-Agent: t/1\r\n" +
        "Accept: */*\r\n" +
        "X-Forwarded-For: 203.0.113.7\r\n" +
        "X-Real-IP: 203.0.113.7\r\n" +
        "X-Forwarded-Proto: http\r\n" +
        "X-Forwarded-Host: example.com\r\n" +
        "Via: 1.1 gatehouse\r\n" +
        "\r\n",
    );
  });

  it("always speaks HTTP/1.1 upstream and keeps method and target as given", () => {
    const head = upstreamRequestHead("DELETE", "/a/b?c=1", fields([]), "h", UNTRUSTED, null);
    assert.ok(head.startsWith("DELETE /a/b?c=1 HTTP/1.1\r\n"));
  });

  it("forwards end-to-end field lines verbatim and in order", () => {
    const got = lines(upstream([
      "X-B:  two  ",
      "Cookie: a=1",
      "x-a: one",
      "Cookie: b=2",
      "Accept: */*",
    ]));
    assert.deepEqual(got.filter((l) => !/^(host|x-forwarded-|x-real-ip|via)/i.test(l)), [
      "X-B:  two  ",
      "Cookie: a=1",
      "x-a: one",
      "Cookie: b=2",
      "Accept: */*",
    ]);
  });

  it("adds Host when the client sent none (HTTP/1.0 or absolute-form)", () => {
    const got = lines(upstream([], UNTRUSTED, "example.com:8080"));
    assert.equal(got[0], "Host: example.com:8080");
    assert.ok(got.includes("X-Forwarded-Host: example.com:8080"));
  });

  it("sends the host the request was routed by, not a different Host field", () => {
    // Absolute-form "GET http://admin.internal/x" with "Host: public.example" is routed
    // by admin.internal; RFC 9112 3.2.2: a proxy MUST generate a new Host from the
    // target rather than forward the received one, so the backend sees the same host.
    const got = lines(
      upstream(["Host: public.example", "Accept: */*"], UNTRUSTED, "admin.internal"),
    );
    assert.deepEqual(got.filter((l) => /^host:/i.test(l)), ["Host: admin.internal"]);
  });

  it("sends the address the client connected to as Host when the request names none", () => {
    // An HTTP/1.0 request without Host goes out as HTTP/1.1, which requires one; the client
    // named no host, so there is no X-Forwarded-Host.
    const got = lines(upstream([], UNTRUSTED, ""));
    assert.deepEqual(got, [
      "Host: 192.0.2.1:9090",
      "X-Forwarded-For: 203.0.113.7",
      "X-Real-IP: 203.0.113.7",
      "X-Forwarded-Proto: http",
      "Via: 1.1 gatehouse",
    ]);
    const v6 = lines(upstream([], TRUSTED, ""));
    assert.equal(v6[0], "Host: [::1]:443");
  });

  it("reports https for a TLS listener", () => {
    const v6: ClientInfo = { ...UNTRUSTED, peer: "::1", proto: "https", local: "[::1]:443" };
    const got = lines(upstream(["Host: a"], v6, "a"));
    assert.ok(got.includes("X-Forwarded-Proto: https"));
    assert.ok(got.includes("X-Forwarded-For: ::1"));
    assert.ok(got.includes("X-Real-IP: ::1"));
  });
});

describe("upstreamRequestHead: X-Forwarded-For and X-Real-IP", () => {
  it("appends the peer to a client's X-Forwarded-For", () => {
    const got = lines(upstream(["Host: a", "X-Forwarded-For: 1.1.1.1"]));
    assert.deepEqual(got.filter((l) => /^x-forwarded-for:/i.test(l)), [
      "X-Forwarded-For: 1.1.1.1, 203.0.113.7",
    ]);
  });

  it("joins several X-Forwarded-For fields into one, peer last", () => {
    const got = lines(upstream([
      "x-forwarded-for: 1.1.1.1, 2.2.2.2",
      "Host: a",
      "X-Forwarded-For: 3.3.3.3",
    ]));
    assert.deepEqual(got.filter((l) => /^x-forwarded-for:/i.test(l)), [
      "X-Forwarded-For: 1.1.1.1, 2.2.2.2, 3.3.3.3, 203.0.113.7",
    ]);
  });

  it("appends the peer for a trusted proxy too", () => {
    const got = lines(upstream(["Host: a", "X-Forwarded-For: 198.51.100.1"], TRUSTED));
    assert.ok(got.includes("X-Forwarded-For: 198.51.100.1, 10.0.0.2"));
  });

  it("overwrites X-Real-IP from an untrusted client with the peer", () => {
    const got = lines(upstream(["Host: a", "X-Real-IP: 6.6.6.6"]));
    assert.deepEqual(got.filter((l) => /^x-real-ip:/i.test(l)), ["X-Real-IP: 203.0.113.7"]);
  });

  it("keeps X-Real-IP from a trusted proxy (the first one)", () => {
    const got = lines(
      upstream(["Host: a", "X-Real-IP: 198.51.100.1", "X-Real-IP: 9.9.9.9"], TRUSTED),
    );
    assert.deepEqual(got.filter((l) => /^x-real-ip:/i.test(l)), ["X-Real-IP: 198.51.100.1"]);
  });

  it("uses the peer for X-Real-IP when a trusted proxy sent none", () => {
    const got = lines(upstream(["Host: a"], TRUSTED));
    assert.ok(got.includes("X-Real-IP: 10.0.0.2"));
  });

  it("matches the forwarding field names in any letter case", () => {
    const got = lines(upstream(["Host: a", "x-REAL-ip: 6.6.6.6", "X-FORWARDED-PROTO: https"]));
    assert.deepEqual(got.filter((l) => /^x-(real-ip|forwarded-proto):/i.test(l)), [
      "X-Real-IP: 203.0.113.7",
      "X-Forwarded-Proto: http",
    ]);
  });
});

describe("upstreamRequestHead: X-Forwarded-Proto and X-Forwarded-Host", () => {
  it("replaces both for an untrusted client", () => {
    const got = lines(upstream([
      "Host: example.com",
      "X-Forwarded-Proto: https",
      "X-Forwarded-Host: evil.test",
    ]));
    assert.deepEqual(got.filter((l) => /^x-forwarded-(proto|host):/i.test(l)), [
      "X-Forwarded-Proto: http",
      "X-Forwarded-Host: example.com",
    ]);
  });

  it("keeps both from a trusted proxy", () => {
    const got = lines(upstream([
      "Host: example.com",
      "X-Forwarded-Proto: http",
      "X-Forwarded-Host: public.example",
    ], TRUSTED));
    assert.deepEqual(got.filter((l) => /^x-forwarded-(proto|host):/i.test(l)), [
      "X-Forwarded-Proto: http",
      "X-Forwarded-Host: public.example",
    ]);
  });

  it("fills them in for a trusted proxy that sent none", () => {
    const got = lines(upstream(["Host: example.com"], TRUSTED));
    assert.ok(got.includes("X-Forwarded-Proto: https"));
    assert.ok(got.includes("X-Forwarded-Host: example.com"));
  });

  it("emits each forwarding field exactly once", () => {
    const got = lines(upstream(
      [
        "Host: a",
        "X-Forwarded-For: 1.1.1.1",
        "X-Real-IP: 1.1.1.1",
        "X-Forwarded-Proto: https",
        "X-Forwarded-Host: b",
        "X-Forwarded-Proto: http",
      ],
      TRUSTED,
      "a",
    ));
    for (const name of ["x-forwarded-for", "x-real-ip", "x-forwarded-proto", "x-forwarded-host"]) {
      assert.equal(got.filter((l) => l.toLowerCase().startsWith(name + ":")).length, 1, name);
    }
  });

  it("leaves other X- fields alone", () => {
    const got = lines(upstream(["Host: a", "X-Trace-Id: 42", "X-Forwarded-Port: 80"]));
    assert.ok(got.includes("X-Trace-Id: 42"));
    assert.ok(got.includes("X-Forwarded-Port: 80"));
  });
});

describe("upstreamRequestHead: Via", () => {
  const via = (head: string) => lines(head).filter((l) => /^via:/i.test(l));

  it("adds this hop when the client sent no Via", () => {
    assert.deepEqual(via(upstream(["Host: a"])), ["Via: 1.1 gatehouse"]);
  });

  it("appends this hop to the client's Via", () => {
    assert.deepEqual(via(upstream(["Host: a", "Via: 1.0 fred, 1.1 p.example.net"])), [
      "Via: 1.0 fred, 1.1 p.example.net, 1.1 gatehouse",
    ]);
  });

  it("joins several Via fields into one, in order, this hop last", () => {
    assert.deepEqual(via(upstream(["via:", "Via: 1.1 a", "Host: h", "VIA: 1.0 b", "Via:"])), [
      "Via: 1.1 a, 1.0 b, , 1.1 gatehouse",
    ]);
  });

  it("says the version the request arrived with: 1.0 for HTTP/1.0", () => {
    const bytes = encoder.encode("GET /x HTTP/1.0\r\nHost: a\r\nVia: 1.1 edge\r\n\r\n");
    const scan = new HeadScan();
    assert.equal(scanRequestHead(bytes, 0, bytes.length, { maxSize: 65536 }, scan), null);
    const tokens = new ConnectionTokens().read(scan);
    const head = new TextDecoder().decode(
      upstreamHeadBytes(scan, tokens, "GET", "/x", "a", UNTRUSTED, null, null),
    );
    assert.ok(head.startsWith("GET /x HTTP/1.1\r\n"), head);
    assert.deepEqual(via(head), ["Via: 1.1 edge, 1.0 gatehouse"]);
  });

  it("uses the pseudonym configured", () => {
    const edge = { ...UNTRUSTED, via: "edge-1" };
    assert.deepEqual(via(upstream(["Host: a", "Via: 1.1 x"], edge)), ["Via: 1.1 x, 1.1 edge-1"]);
  });

  it("adds none with --via off, and passes a client's Via as it came", () => {
    const off = { ...UNTRUSTED, via: null };
    assert.deepEqual(via(upstream(["Host: a"], off)), []);
    assert.deepEqual(lines(upstream(["Via: 1.1 a", "Host: a", "via: 1.0 b"], off, "a")), [
      "Via: 1.1 a",
      "Host: a",
      "via: 1.0 b",
      "X-Forwarded-For: 203.0.113.7",
      "X-Real-IP: 203.0.113.7",
      "X-Forwarded-Proto: http",
      "X-Forwarded-Host: a",
    ]);
  });

  it("cannot be told by Connection to drop this hop", () => {
    assert.deepEqual(via(upstream(["Host: a", "Connection: via", "Via: 1.1 x"])), [
      "Via: 1.1 gatehouse",
    ]);
  });
});

describe("upstreamRequestHead: hop-by-hop fields", () => {
  it("removes every hop-by-hop field", () => {
    const got = lines(upstream(
      [
        "Host: a",
        "Connection: keep-alive",
        "Keep-Alive: timeout=5",
        "Proxy-Connection: keep-alive",
        "TE: trailers",
        "Trailer: X-Sum",
        "Upgrade: websocket",
        "Proxy-Authorization: Basic eDp5",
        "Proxy-Authenticate: Basic",
        "Accept: */*",
      ],
      UNTRUSTED,
      "a",
    ));
    assert.deepEqual(got, [
      "Host: a",
      "Accept: */*",
      "X-Forwarded-For: 203.0.113.7",
      "X-Real-IP: 203.0.113.7",
      "X-Forwarded-Proto: http",
      "X-Forwarded-Host: a",
      "Via: 1.1 gatehouse",
    ]);
  });

  it("removes fields named in Connection, in any case and across Connection fields", () => {
    const got = lines(upstream(
      [
        "Host: a",
        "Connection: close, X-Secret",
        "X-Secret: 1",
        "x-other: 2",
        "connection: X-OTHER , ,",
        "X-Kept: 3",
      ],
      UNTRUSTED,
      "a",
    ));
    assert.deepEqual(got.slice(0, 2), ["Host: a", "X-Kept: 3"]);
  });

  it("keeps Upgrade only when the request is being upgraded", () => {
    const plain = lines(upstream(["Host: a", "Connection: Upgrade", "Upgrade: websocket"]));
    assert.equal(plain.some((l) => /^(upgrade|connection):/i.test(l)), false);

    const upgrading = lines(
      upstream(
        ["Host: a", "Connection: Upgrade", "Upgrade: websocket"],
        UNTRUSTED,
        "a",
        "websocket",
      ),
    );
    assert.deepEqual(upgrading.slice(-2), ["Connection: upgrade", "Upgrade: websocket"]);
    assert.equal(upgrading.filter((l) => /^upgrade:/i.test(l)).length, 1);
  });

  it("cannot be used to strip the peer's forwarding fields", () => {
    // Naming X-Forwarded-For or X-Real-IP in Connection drops the client's copy,
    // never the one the ingress adds.
    const got = lines(upstream([
      "Host: a",
      "Connection: X-Forwarded-For, X-Real-IP",
      "X-Forwarded-For: 1.1.1.1",
      "X-Real-IP: 1.1.1.1",
    ]));
    assert.ok(got.includes("X-Forwarded-For: 203.0.113.7"));
    assert.ok(got.includes("X-Real-IP: 203.0.113.7"));
  });

  it("re-adds Host when Connection names it", () => {
    const got = lines(
      upstream(["Host: example.com", "Connection: host"], UNTRUSTED, "example.com"),
    );
    assert.deepEqual(got.filter((l) => /^host:/i.test(l)), ["Host: example.com"]);
  });

  it("never lets Connection strip the framing fields of a request with a body", () => {
    // The ingress frames the body by these fields; if the backend did not see
    // them it would read the body as the next request (request smuggling).
    const cl = lines(upstreamRequestHead(
      "POST",
      "/x",
      fields(["Host: a", "Connection: Content-Length", "Content-Length: 5"]),
      "a",
      UNTRUSTED,
      null,
    ));
    assert.ok(cl.includes("Content-Length: 5"), `Content-Length lost: ${JSON.stringify(cl)}`);
    const te = lines(upstreamRequestHead(
      "POST",
      "/x",
      fields(["Host: a", "Connection: transfer-encoding", "Transfer-Encoding: chunked"]),
      "a",
      UNTRUSTED,
      null,
    ));
    assert.ok(
      te.includes("Transfer-Encoding: chunked"),
      `Transfer-Encoding lost: ${JSON.stringify(te)}`,
    );
  });
});

describe("head builders writing into space the caller reuses", () => {
  /** A space over one buffer that records the sizes asked for. */
  const recording = () => {
    const buffer = new Uint8Array(1024);
    const asked: number[] = [];
    const space: HeadSpace = {
      take(size: number) {
        asked.push(size);
        return buffer.subarray(0, size);
      },
    };
    return { buffer, asked, space };
  };
  const scanned = (text: string, response: boolean) => {
    const bytes = encoder.encode(text);
    const scan = new HeadScan();
    const limits = { maxSize: 65536 };
    assert.equal(
      response
        ? scanResponseHead(bytes, 0, bytes.length, limits, scan)
        : scanRequestHead(bytes, 0, bytes.length, limits, scan),
      null,
    );
    return { scan, tokens: new ConnectionTokens().read(scan) };
  };
  const upstream = (text: string, space?: HeadSpace) => {
    const { scan, tokens } = scanned(text, false);
    return upstreamHeadBytes(
      scan,
      tokens,
      scan.method(),
      scan.target(),
      "a.example",
      UNTRUSTED,
      null,
      ID,
      space,
    );
  };
  const downstream = (text: string, body: Uint8Array, space?: HeadSpace) => {
    const { scan, tokens } = scanned(text, true);
    return downstreamHeadBytes(scan, tokens, null, null, ID, false, body, 0, body.length, space);
  };

  it("upstream: writes exactly the head it would have allocated, into the space given", () => {
    const { buffer, asked, space } = recording();
    const long = "GET /first/and/longer?q=1 HTTP/1.1\r\nHost: a.example\r\nX-Long: " +
      "v".repeat(100) + "\r\n\r\n";
    const short = "GET /2 HTTP/1.1\r\nHost: a.example\r\n\r\n";
    const first = upstream(long, space);
    assert.equal(first.buffer, buffer.buffer);
    assert.deepEqual(first, upstream(long));
    // The next head overwrites the same space, shorter, and is whole on its own.
    const second = upstream(short, space);
    assert.equal(second.buffer, buffer.buffer);
    assert.deepEqual(second, upstream(short));
    assert.deepEqual(asked, [first.length, second.length]);
  });

  it("downstream: writes head and joined body exactly as allocated, into the space given", () => {
    const { buffer, asked, space } = recording();
    const head = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: keep-alive\r\n\r\n";
    const body = encoder.encode("hello");
    const first = downstream(head, body, space);
    assert.equal(first.buffer, buffer.buffer);
    assert.deepEqual(first, downstream(head, body));
    assert.equal(
      new TextDecoder().decode(first),
      "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Request-Id: p-1\r\n\r\nhello",
    );
    const next = downstream("HTTP/1.1 204 No Content\r\n\r\n", new Uint8Array(0), space);
    assert.equal(next.buffer, buffer.buffer);
    assert.equal(
      new TextDecoder().decode(next),
      "HTTP/1.1 204 No Content\r\nX-Request-Id: p-1\r\n\r\n",
    );
    assert.deepEqual(asked, [first.length, next.length]);
  });
});

describe("connectionTokens", () => {
  it("is null without a Connection field", () => {
    assert.equal(connectionTokens(fields(["Host: a"])), null);
  });

  it("collects lower-cased tokens from every Connection field", () => {
    const tokens = connectionTokens(fields(["Connection: Keep-Alive, X-A", "connection: close,,"]));
    assert.deepEqual([...tokens!].sort(), ["close", "keep-alive", "x-a"]);
  });

  it("is an empty set for an empty Connection field", () => {
    assert.deepEqual([...connectionTokens(fields(["Connection:"]))!], []);
  });
});
