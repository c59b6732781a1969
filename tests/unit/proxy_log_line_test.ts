/**
 * Log lines built as bytes: numbers, UTF-8, the two escapings, and the
 * buffer growing for a long line without losing what it held.
 */

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { LineBuffer } from "../../src/proxy/log_line.ts";

function written(fill: (out: LineBuffer) => void, size = 16): string {
  const out = new LineBuffer(size);
  fill(out);
  return out.toText();
}

describe("LineBuffer", () => {
  it("writes whole numbers in decimal, and any other number as JavaScript does", () => {
    for (const n of [0, 7, 9, 10, 99, 100, 200, 12_345, 2 ** 31 - 1]) {
      assert.equal(written((o) => o.int(n)), String(n));
    }
    for (const n of [2 ** 31, 2 ** 53, -1, 1.5]) assert.equal(written((o) => o.int(n)), String(n));
  });

  it("writes text as UTF-8", () => {
    assert.equal(written((o) => o.text("plain")), "plain");
    const mixed = "a\u00e9\u20ac\u{1f600}z";
    const out = new LineBuffer(4);
    out.text(mixed);
    assert.deepEqual(out.bytes.subarray(0, out.length), new TextEncoder().encode(mixed));
  });

  it("escapes JSON to printable ASCII that reads back as the text", () => {
    const text = 'q"b\\s\n\r\t\u0000\u007f\u00ff\u20ac\u{1f600}';
    const json = written((o) => o.jsonString(text));
    assert.match(json, /^[\x20-\x7e]+$/);
    assert.equal(JSON.parse(json), text);
    assert.equal(json, '"q\\"b\\\\s\\n\\r\\t\\u0000\\u007f\\u00ff\\u20ac\\ud83d\\ude00"');
  });

  it("escapes as nginx: quote, backslash, controls and 0x7f up as \\xHH", () => {
    assert.equal(
      written((o) => o.nginxText('a"\\\u0001\u007f\u00e9\u20ac')),
      "a\\x22\\x5C\\x01\\x7F\\xE9\\xE2\\x82\\xAC",
    );
  });

  it("grows for a long line and keeps what it held", () => {
    const out = new LineBuffer(8);
    out.text("head:");
    const long = "x".repeat(10_000) + '"';
    out.jsonString(long);
    out.nginxText(long);
    out.byte(0x21);
    const text = out.toText();
    assert.ok(text.startsWith(`head:"${"x".repeat(10_000)}\\""`));
    assert.ok(text.endsWith(`${"x".repeat(10_000)}\\x22!`));
    assert.equal(out.length, 5 + 10_004 + 10_004 + 1);
  });
});
