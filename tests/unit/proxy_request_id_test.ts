/**
 * Request ids (src/proxy/request_id.ts): made from a per-process prefix and
 * a counter, kept from a trusted proxy only when usable, replaced otherwise.
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
