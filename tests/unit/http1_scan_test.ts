/**
 * The byte-level head scan the proxy works from (HeadScan, scanRequestHead,
 * scanResponseHead, requestFramingOf, responseFramingOf, the byte builders
 * of src/proxy/forwarded.ts): it must decide exactly what the field-based API
 * decides, on the same heads, including every framing the smuggling rules
 * refuse.
 */

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { HeadScan, scanRequestHead, scanResponseHead } from "../../src/http1/head.ts";
import { FIELD } from "../../src/http1/fields.ts";
import {
  parseRequestHead,
  parseResponseHead,
  requestFraming,
  responseFraming,
} from "../helpers/http1_text.ts";
import { requestFramingOf, responseFramingOf } from "../../src/http1/framing.ts";
import { ConnectionTokens } from "../../src/http1/connection_tokens.ts";
import { downstreamHeadBytes } from "../../src/proxy/response_head.ts";
import { upstreamHeadBytes } from "../../src/proxy/forwarded.ts";

function bytes(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

function text(b: Uint8Array): string {
  let s = "";
  for (const x of b) s += String.fromCharCode(x);
  return s;
}

const LIMITS = { maxSize: 65536 };

/** Request field sets covering accepted and refused framings. */
const REQUEST_FIELDS: string[][] = [
  [],
  ["Content-Length: 42"],
  ["content-length:7"],
  ["Content-Length: 0"],
  ["Content-Length:  12  "],
  ["Content-Length: 1", "Content-Length: 1"],
  ["Content-Length: 1, 1"],
  ["Content-Length: +1"],
  ["Content-Length: -1"],
  ["Content-Length: 1e3"],
  ["Content-Length: 0x10"],
  ["Content-Length: "],
  ["Content-Length: 1234567890123456"],
  ["Content-Length: 123456789012345"],
  ["Content-Length: \xb9"],
  ["Transfer-Encoding: chunked"],
  ["Transfer-Encoding: CHUNKED"],
  ["Transfer-Encoding: gzip, chunked"],
  ["Transfer-Encoding: chunked, gzip"],
  ["Transfer-Encoding: chunked", "Transfer-Encoding: chunked"],
  ["Transfer-Encoding: chunked", "Content-Length: 3"],
  ["Content-Length: 3", "Transfer-Encoding: identity"],
  ["Transfer-Encoding: chunked\xa0"],
  ["Transfer-Encoding: \tchunked "],
  ["Transfer-Encoding: "],
];

describe("requestFramingOf agrees with requestFraming", () => {
  for (const version of ["HTTP/1.1", "HTTP/1.0"]) {
    for (const fields of REQUEST_FIELDS) {
      it(`${version} ${JSON.stringify(fields)}`, () => {
        const b = bytes(
          `POST /x ${version}\r\nHost: a\r\n${fields.map((f) => f + "\r\n").join("")}\r\n`,
        );
        const parsed = parseRequestHead(b, 0, b.length, LIMITS);
        assert.equal(parsed.kind, "done");
        const scan = new HeadScan();
        assert.equal(scanRequestHead(b, 0, b.length, LIMITS, scan), null);
        if (parsed.kind !== "done") return;
        assert.deepEqual(requestFramingOf(scan), requestFraming(parsed.head));
      });
    }
  }
});

describe("responseFramingOf agrees with responseFraming", () => {
  const statusLines = ["HTTP/1.1 200 OK", "HTTP/1.0 200 OK", "HTTP/1.1 204 No Content"];
  const fieldSets = [
    ...REQUEST_FIELDS,
    ["Content-Length: 5", "Content-Length: 6"],
    ["Content-Length: 5", "Content-Length: 5"],
  ];
  for (const method of ["GET", "HEAD"]) {
    for (const statusLine of statusLines) {
      for (const fields of fieldSets) {
        it(`${method} ${statusLine} ${JSON.stringify(fields)}`, () => {
          const b = bytes(`${statusLine}\r\n${fields.map((f) => f + "\r\n").join("")}\r\n`);
          const parsed = parseResponseHead(b, 0, b.length, LIMITS);
          assert.equal(parsed.kind, "done");
          const scan = new HeadScan();
          assert.equal(scanResponseHead(b, 0, b.length, LIMITS, scan), null);
          if (parsed.kind !== "done") return;
          assert.deepEqual(responseFramingOf(method, scan), responseFraming(method, parsed.head));
        });
      }
    }
  }
});

describe("HeadScan", () => {
  it("knows the engine's field names in any case, and only as whole names", () => {
    const b = bytes(
      "GET /p?q HTTP/1.1\r\nHOST: h\r\ncontent-LENGTH: 0\r\nX-Forwarded-For: a\r\n" +
        "X-Hostname: b\r\nHos: c\r\nConnection: close\r\n\r\n",
    );
    const scan = new HeadScan();
    assert.equal(scanRequestHead(b, 0, b.length, LIMITS, scan), null);
    assert.deepEqual(
      Array.from({ length: scan.count }, (_, i) => scan.id(i)),
      [FIELD.HOST, FIELD.CONTENT_LENGTH, FIELD.X_FORWARDED_FOR, 0, 0, FIELD.CONNECTION],
    );
    assert.deepEqual(
      Array.from({ length: scan.count }, (_, i) => scan.name(i)),
      ["host", "content-length", "x-forwarded-for", "x-hostname", "hos", "connection"],
    );
    assert.equal(scan.method(), "GET");
    assert.equal(scan.target(), "/p?q");
    assert.equal(scan.value(0), "h");
    assert.equal(scan.find(FIELD.CONNECTION), 5);
    assert.equal(scan.find(FIELD.UPGRADE), -1);
  });

  it("gives the same texts for values met again (and different ones for different bytes)", () => {
    const scan = new HeadScan();
    const values: string[] = [];
    for (const host of ["example.com", "example.org", "example.com", "caf\xe9"]) {
      const b = bytes(`GET / HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
      assert.equal(scanRequestHead(b, 0, b.length, LIMITS, scan), null);
      values.push(scan.value(0));
    }
    assert.deepEqual(values, ["example.com", "example.org", "example.com", "caf\u00e9"]);
  });

  it("reports the same errors as parseRequestHead", () => {
    const heads = [
      "GET / HTTP/1.1\r\nX: a\nY: b\r\n\r\n",
      "GET / HTTP/1.1\r\nX: a\rb\r\n\r\n",
      "GET / HTTP/1.1\r\n X: a\r\n\r\n",
      "GET / HTTP/1.1\r\nX : a\r\n\r\n",
      "GET / HTTP/1.1\r\nX: a\x01\r\n\r\n",
      "GET  / HTTP/1.1\r\n\r\n",
      "GET / HTTP/2.0\r\n\r\n",
      "GET / HTTP/1.1\r\n" + "X: " + "a".repeat(70000) + "\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: a\r\n",
    ];
    for (const h of heads) {
      const b = bytes(h);
      const parsed = parseRequestHead(b, 0, b.length, LIMITS);
      const scanned = scanRequestHead(b, 0, b.length, LIMITS, new HeadScan());
      assert.deepEqual(scanned, parsed, JSON.stringify(h.slice(0, 40)));
    }
  });
});

describe("the byte builders", () => {
  const info = {
    peer: "203.0.113.7",
    proto: "http",
    trusted: false,
    local: "192.0.2.1:9090",
    via: "gatehouse",
  };

  it("copy the field lines byte for byte, obs-text included", () => {
    const b = bytes("GET / HTTP/1.1\r\nHost: h\r\nX-Name: caf\xe9 \xff\r\n\r\n");
    const scan = new HeadScan();
    assert.equal(scanRequestHead(b, 0, b.length, LIMITS, scan), null);
    const out = upstreamHeadBytes(
      scan,
      new ConnectionTokens().read(scan),
      "GET",
      "/",
      "h",
      info,
      null,
      null,
    );
    assert.equal(
      text(out),
      "GET / HTTP/1.1\r\nHost: h\r\nX-Name: caf\xe9 \xff\r\nX-Forwarded-For: 203.0.113.7\r\n" +
        "X-Real-IP: 203.0.113.7\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Host: h\r\n" +
        "Via: 1.1 gatehouse\r\n\r\n",
    );
  });

  it("append the body bytes that came with a response head", () => {
    const b = bytes("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: keep-alive\r\n\r\nhello!");
    const scan = new HeadScan();
    assert.equal(scanResponseHead(b, 0, b.length, LIMITS, scan), null);
    const tokens = new ConnectionTokens().read(scan);
    assert.equal(tokens.keepAlive, true);
    const out = downstreamHeadBytes(
      scan,
      tokens,
      null,
      null,
      null,
      false,
      b,
      scan.end,
      scan.end + 5,
    );
    assert.equal(text(out), "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello");
  });

  it("drop what Connection names, but never the framing or Host fields", () => {
    const b = bytes(
      "HTTP/1.1 200 OK\r\nConnection: X-A, content-length,\xa0close \r\nX-A: 1\r\nx-a: 2\r\n" +
        "Content-Length: 0\r\nClose: 3\r\n\r\n",
    );
    const scan = new HeadScan();
    assert.equal(scanResponseHead(b, 0, b.length, LIMITS, scan), null);
    const tokens = new ConnectionTokens().read(scan);
    assert.equal(tokens.close, true);
    assert.equal(
      text(downstreamHeadBytes(scan, tokens, "close", null, null)),
      "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    );
  });
});
