/**
 * Request ids (src/proxy/request_id.ts): made from a per-process prefix and
 * a counter, kept from a trusted proxy only when usable, replaced otherwise,
 * and sent to the backend as the one X-Request-Id (src/proxy/forwarded.ts).
 */

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { HeadScan, scanRequestHead } from "../../src/http1/head.ts";
import {
  MAX_REQUEST_ID,
  randomRequestIdSource,
  RequestId,
  RequestIdSource,
} from "../../src/proxy/request_id.ts";
import type { ClientInfo } from "../../src/proxy/forwarded.ts";
import { type Field, parseRequestHead, upstreamRequestHead } from "../helpers/http1_text.ts";

/** A scanned request head with these field lines. */
function scanned(lines: string[]): HeadScan {
  const text = `GET / HTTP/1.1\r\nHost: a\r\n${lines.map((l) => l + "\r\n").join("")}\r\n`;
  const bytes = new Uint8Array([...text].map((c) => c.charCodeAt(0)));
  const scan = new HeadScan();
  assert.equal(scanRequestHead(bytes, 0, bytes.length, { maxSize: 65536 }, scan), null);
  return scan;
}

describe("RequestIdSource", () => {
  it("makes prefix-counter ids, counting from 1, across digit boundaries", () => {
    const source = new RequestIdSource("abc");
    const id = new RequestId();
    const seen: string[] = [];
    for (let i = 0; i < 101; i++) {
      source.next(id);
      seen.push(id.text);
    }
    assert.deepEqual(seen.slice(0, 3), ["abc-1", "abc-2", "abc-3"]);
    assert.deepEqual(seen.slice(8, 11), ["abc-9", "abc-10", "abc-11"]);
    assert.deepEqual(seen.slice(98), ["abc-99", "abc-100", "abc-101"]);
    assert.equal(source.nextText(), "abc-102");
    assert.equal(new Set(seen).size, seen.length);
  });

  it("writes the id's bytes for the heads, its text only when asked", () => {
    const id = new RequestId();
    new RequestIdSource("p").next(id);
    assert.deepEqual([...id.bytes.subarray(0, id.length)], [0x70, 0x2d, 0x31]);
    assert.equal(id.text, "p-1");
  });

  it("draws a 16-hex-digit prefix per source", () => {
    const a = randomRequestIdSource().nextText();
    const b = randomRequestIdSource().nextText();
    assert.match(a, /^[0-9a-f]{16}-1$/);
    assert.match(b, /^[0-9a-f]{16}-1$/);
    assert.notEqual(a, b);
  });
});

describe("RequestId.take", () => {
  const take = (lines: string[], trusted: boolean) => {
    const id = new RequestId();
    id.take(scanned(lines), trusted, new RequestIdSource("gen"));
    return id.text;
  };

  it("keeps a trusted proxy's id (the first X-Request-Id field)", () => {
    assert.equal(take(["X-Request-Id: edge-42"], true), "edge-42");
    assert.equal(take(["x-request-id: a", "X-Request-Id: b"], true), "a");
    const long = "x".repeat(MAX_REQUEST_ID);
    assert.equal(take([`X-Request-Id: ${long}`], true), long);
    assert.equal(
      take(["X-Request-Id: !#$%&'*+-.^_`|~\"(),/:;<=>?@[]{}"], true),
      "!#$%&'*+-.^_`|~\"(),/:;<=>?@[]{}",
    );
  });

  it("replaces anyone else's id", () => {
    assert.equal(take(["X-Request-Id: edge-42"], false), "gen-1");
  });

  it("makes one when a trusted proxy sent none or one that is no usable id", () => {
    assert.equal(take([], true), "gen-1");
    assert.equal(take(["X-Request-Id:"], true), "gen-1");
    assert.equal(take(["X-Request-Id: a b"], true), "gen-1");
    assert.equal(take(["X-Request-Id: caf\xe9"], true), "gen-1");
    assert.equal(take([`X-Request-Id: ${"x".repeat(MAX_REQUEST_ID + 1)}`], true), "gen-1");
  });

  it("gives the new id's text after the next request", () => {
    const id = new RequestId();
    const source = new RequestIdSource("p");
    id.take(scanned(["X-Request-Id: first"]), true, source);
    assert.equal(id.text, "first");
    id.take(scanned([]), true, source);
    assert.equal(id.text, "p-1");
  });
});

describe("the id in the forwarded head", () => {
  const client: ClientInfo = {
    peer: "203.0.113.7",
    proto: "http",
    trusted: false,
    local: "192.0.2.1:9090",
    via: "gatehouse",
  };
  const id = new RequestId();
  new RequestIdSource("p").next(id);
  const fields = (lines: string[]): Field[] => {
    const text = `GET / HTTP/1.1\r\n${lines.map((l) => l + "\r\n").join("")}\r\n`;
    const b = new TextEncoder().encode(text);
    const r = parseRequestHead(b, 0, b.length, { maxSize: 65536 });
    if (r.kind !== "done") assert.fail(`test head did not parse: ${JSON.stringify(r)}`);
    return r.head.fields;
  };
  const head = (lines: string[], requestId: RequestId | null = id) =>
    upstreamRequestHead("GET", "/x", fields(lines), "a", client, null, requestId);
  const ids = (text: string) => text.split("\r\n").filter((l) => /^x-request-id:/i.test(l));

  it("builds the exact head with Via and the request's id", () => {
    assert.equal(
      head(["Host: a"]),
      "GET /x HTTP/1.1\r\n" +
        "Host: a\r\n" +
        "X-Forwarded-For: 203.0.113.7\r\n" +
        "X-Real-IP: 203.0.113.7\r\n" +
        "X-Forwarded-Proto: http\r\n" +
        "X-Forwarded-Host: a\r\n" +
        "Via: 1.1 gatehouse\r\n" +
        "X-Request-Id: p-1\r\n" +
        "\r\n",
    );
  });

  it("sends the request's id as the one X-Request-Id, in place of the client's", () => {
    const text = head(["Host: a", "X-Request-Id: 42", "x-request-id: 43", "Accept: */*"]);
    assert.deepEqual(ids(text), ["X-Request-Id: p-1"]);
    assert.ok(text.includes("\r\nAccept: */*\r\n"));
  });

  it("passes the client's fields when given no id", () => {
    assert.deepEqual(ids(head(["Host: a", "X-Request-Id: 42"], null)), ["X-Request-Id: 42"]);
  });
});
