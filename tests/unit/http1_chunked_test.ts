/**
 * The chunked-body scanner (src/http1/chunked.ts): where a chunked body ends,
 * what it carries, and that any way of cutting the bytes gives the same answer.
 */

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { ChunkedScanner } from "../../src/http1/chunked.ts";

function bytes(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

function text(b: Uint8Array): string {
  return String.fromCharCode(...b);
}

interface Outcome {
  consumed: number;
  done: boolean;
  error?: string;
  data: string;
}

/** Scan `input` fed in pieces cut at `cuts`; stop at the first error or at the end. */
function scanPieces(input: string, cuts: number[] = []): Outcome {
  const b = bytes(input);
  const scanner = new ChunkedScanner();
  let consumed = 0;
  let data = "";
  const bounds = [0, ...cuts, b.length];
  for (let p = 0; p + 1 < bounds.length; p++) {
    const r = scanner.scan(b, bounds[p], bounds[p + 1], (s, e) => data += text(b.subarray(s, e)));
    consumed += r.consumed;
    if (r.error !== undefined) return { consumed, done: r.done, error: r.error, data };
    if (r.done) {
      assert.equal(scanner.done, true);
      return { consumed, done: true, data };
    }
    assert.equal(r.consumed, bounds[p + 1] - bounds[p], "an unfinished body consumes all input");
  }
  assert.equal(scanner.done, false);
  return { consumed, done: false, data };
}

function scan(input: string): Outcome {
  return scanPieces(input);
}

function fails(input: string, error: string): void {
  const r = scan(input);
  assert.equal(r.error, error, JSON.stringify(input));
  assert.equal(r.done, false);
}

describe("ChunkedScanner: valid bodies", () => {
  it("scans a single chunk and the last chunk", () => {
    const body = "3\r\nabc\r\n0\r\n\r\n";
    assert.deepEqual(scan(body), { consumed: body.length, done: true, data: "abc" });
  });

  it("scans an empty body", () => {
    assert.deepEqual(scan("0\r\n\r\n"), { consumed: 5, done: true, data: "" });
  });

  it("reads hex sizes in either case", () => {
    const body = "A\r\n0123456789\r\nb\r\nabcdefghijk\r\n10\r\n" + "x".repeat(16) + "\r\n0\r\n\r\n";
    assert.deepEqual(scan(body), {
      consumed: body.length,
      done: true,
      data: "0123456789abcdefghijk" + "x".repeat(16),
    });
  });

  it("accepts leading zeros in a size", () => {
    const body = "0003\r\nabc\r\n000\r\n\r\n";
    assert.deepEqual(scan(body), { consumed: body.length, done: true, data: "abc" });
  });

  it("passes chunk extensions through, with optional whitespace before them", () => {
    const body = '3;name=value\r\nabc\r\n2 ; q="x y"\r\nde\r\n1\t;a\r\nf\r\n0;last\r\n\r\n';
    assert.deepEqual(scan(body), { consumed: body.length, done: true, data: "abcdef" });
  });

  it("accepts trailer fields", () => {
    const body = "2\r\nhi\r\n0\r\nX-Checksum: abc\r\nX-Other: 1\r\n\r\n";
    assert.deepEqual(scan(body), { consumed: body.length, done: true, data: "hi" });
  });

  it("carries CRLF and a fake last chunk inside chunk data as data", () => {
    const body = "5\r\n0\r\n\r\n\r\n0\r\n\r\n";
    assert.deepEqual(scan(body), { consumed: body.length, done: true, data: "0\r\n\r\n" });
  });

  it("stops at the end of the body and leaves the next message alone", () => {
    const body = "3\r\nabc\r\n0\r\n\r\n";
    const b = bytes(body + "GET / HTTP/1.1\r\n\r\n");
    const scanner = new ChunkedScanner();
    const r = scanner.scan(b, 0, b.length);
    assert.deepEqual(r, { consumed: body.length, done: true });
    // Once done, nothing more is consumed.
    assert.deepEqual(scanner.scan(b, body.length, b.length), { consumed: 0, done: true });
  });

  it("reports data ranges relative to the buffer it was given", () => {
    const b = bytes("prefix2\r\nhi\r\n0\r\n\r\n");
    const ranges: Array<[number, number]> = [];
    const r = new ChunkedScanner().scan(b, 6, b.length, (s, e) => ranges.push([s, e]));
    assert.deepEqual(r, { consumed: b.length - 6, done: true });
    assert.deepEqual(ranges, [[9, 11]]);
  });

  it("streams a large chunk given in many pieces", () => {
    const size = 0x10000;
    const body = size.toString(16) + "\r\n" + "z".repeat(size) + "\r\n0\r\n\r\n";
    const cuts: number[] = [];
    for (let c = 1000; c < body.length; c += 1000) cuts.push(c);
    const r = scanPieces(body, cuts);
    assert.equal(r.done, true);
    assert.equal(r.consumed, body.length);
    assert.equal(r.data.length, size);
  });

  it("is not done before the final CRLF", () => {
    const b = bytes("0\r\n\r\n");
    const scanner = new ChunkedScanner();
    assert.deepEqual(scanner.scan(b, 0, 4), { consumed: 4, done: false });
    assert.equal(scanner.done, false);
    assert.deepEqual(scanner.scan(b, 4, 5), { consumed: 1, done: true });
    assert.equal(scanner.done, true);
  });
});

describe("ChunkedScanner: any split gives the same result", () => {
  const bodies = [
    "3\r\nabc\r\n0\r\n\r\n",
    "1a;ext=1\r\n" + "abcdefghijklmnopqrstuvwxyz" + "\r\nF\r\n0123456789ABCDE\r\n0\r\nT: v\r\n\r\n",
    "5\r\n0\r\n\r\n\r\n0 ; x\r\nA: 1\r\nB:\t2\r\n\r\n",
  ];
  for (const body of bodies) {
    const whole = scan(body);

    it(`two pieces at every position: ${JSON.stringify(body.slice(0, 24))}`, () => {
      assert.equal(whole.done, true);
      assert.equal(whole.consumed, body.length);
      for (let p = 0; p <= body.length; p++) {
        assert.deepEqual(scanPieces(body, [p]), whole, `cut at ${p}`);
      }
    });

    it(`three pieces at every pair of positions: ${JSON.stringify(body.slice(0, 24))}`, () => {
      for (let p = 0; p <= body.length; p++) {
        for (let q = p; q <= body.length; q++) {
          assert.deepEqual(scanPieces(body, [p, q]), whole, `cuts at ${p}, ${q}`);
        }
      }
    });

    it(`one byte at a time: ${JSON.stringify(body.slice(0, 24))}`, () => {
      const cuts = Array.from({ length: body.length - 1 }, (_, i) => i + 1);
      assert.deepEqual(scanPieces(body, cuts), whole);
    });

    it(`not done for any proper prefix: ${JSON.stringify(body.slice(0, 24))}`, () => {
      for (let k = 0; k < body.length; k++) {
        const r = scanPieces(body.slice(0, k));
        assert.equal(r.done, false, `prefix ${k}`);
        assert.equal(r.error, undefined, `prefix ${k}`);
        assert.equal(r.consumed, k);
      }
    });
  }

  it("finds the same error wherever the input is cut", () => {
    const bad = "3\r\nabcX\r\n0\r\n\r\n";
    for (let p = 0; p <= bad.length; p++) {
      const r = scanPieces(bad, [p]);
      assert.equal(r.error, "missing CRLF after chunk", `cut at ${p}`);
      assert.equal(r.consumed, 6, `cut at ${p}`);
    }
  });
});

describe("ChunkedScanner: chunk sizes", () => {
  it("refuses a missing size", () => {
    fails("\r\nabc\r\n0\r\n\r\n", "invalid chunk size");
    fails(";ext\r\n", "invalid chunk size");
  });

  it("refuses non-hex sizes, signs, prefixes and leading whitespace", () => {
    fails("g\r\n", "invalid chunk size");
    fails("-1\r\n", "invalid chunk size");
    fails("+1\r\n", "invalid chunk size");
    fails("0x5\r\nhello\r\n0\r\n\r\n", "invalid chunk size");
    fails(" 5\r\nhello\r\n", "invalid chunk size");
    fails("5x\r\nhello\r\n", "invalid chunk size");
  });

  it("refuses a size line ended by a bare LF", () => {
    fails("3\nabc\r\n0\r\n\r\n", "invalid chunk size");
  });

  it("refuses a size line ended by a bare CR", () => {
    fails("3\rabc\r\n0\r\n\r\n", "bare CR in chunk");
    fails("0\r\r\n", "bare CR in chunk");
  });

  it("accepts the largest 13-digit size and refuses a 14th digit", () => {
    // 13 hex digits is 2^52 - 1: still waiting for data, no error.
    const r = scan("fffffffffffff\r\nabc");
    assert.equal(r.error, undefined);
    assert.equal(r.done, false);
    fails("10000000000000\r\n", "chunk size too large");
  });

  it("refuses sizes that would overflow a 64-bit integer", () => {
    fails("ffffffffffffffff\r\n", "chunk size too large");
    fails("10000000000000001\r\na\r\n", "chunk size too large");
    fails("f".repeat(100) + "\r\n", "chunk size too large");
  });
});

describe("ChunkedScanner: framing errors", () => {
  it("refuses chunk data not followed by CRLF", () => {
    fails("3\r\nabcd\r\n0\r\n\r\n", "missing CRLF after chunk");
    fails("3\r\nabc\n0\r\n\r\n", "missing CRLF after chunk");
    fails("3\r\nabc\rX0\r\n\r\n", "missing CRLF after chunk");
    fails("3\r\nab\r\n0\r\n\r\n", "missing CRLF after chunk");
  });

  it("reports how much was consumed before the error", () => {
    const r = scan("3\r\nabcd");
    assert.deepEqual(r, {
      consumed: 6,
      done: false,
      error: "missing CRLF after chunk",
      data: "abc",
    });
  });

  it("refuses control characters and bare LF in extensions", () => {
    fails("3;a\x00b\r\nabc\r\n", "invalid chunk extension");
    fails("3;a\nb\r\nabc\r\n", "invalid chunk extension");
    fails("3;a\x7f\r\nabc\r\n", "invalid chunk extension");
    fails("3;a\x1b\r\nabc\r\n", "invalid chunk extension");
  });

  it("refuses a bare CR after an extension", () => {
    fails("3;a\rb\r\nabc\r\n", "bare CR in chunk");
  });

  it("limits the extension length", () => {
    const ok = "3;" + "e".repeat(4000) + "\r\nabc\r\n0\r\n\r\n";
    assert.equal(scan(ok).done, true);
    fails("3;" + "e".repeat(5000) + "\r\nabc\r\n", "chunk extension too long");
  });

  it("refuses bare LF and control characters in trailers", () => {
    fails("0\r\nX: a\nb\r\n\r\n", "invalid trailer");
    fails("0\r\nX: a\x00\r\n\r\n", "invalid trailer");
    fails("0\r\n\n", "invalid trailer");
  });

  it("refuses a bare CR in a trailer or at the final line", () => {
    fails("0\r\nX: a\rb\r\n\r\n", "bare CR in trailer");
    fails("0\r\n\rX", "bare CR in trailer");
    fails("0\r\nX: 1\r\n\rX", "bare CR in trailer");
  });

  it("limits the trailer line length", () => {
    const ok = "0\r\nX: " + "t".repeat(8000) + "\r\n\r\n";
    assert.equal(scan(ok).done, true);
    fails("0\r\nX: " + "t".repeat(9000) + "\r\n\r\n", "trailer too long");
  });

  it("allows tabs in extensions and trailers", () => {
    assert.equal(scan("1;a=\tb\r\nx\r\n0\r\nT:\tv\r\n\r\n").done, true);
  });
});

describe("ChunkedScanner: a data limit", () => {
  it("passes a body whose chunks add up to the limit", () => {
    const b = bytes("3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n");
    const scanner = new ChunkedScanner(5);
    const r = scanner.scan(b, 0, b.length);
    assert.deepEqual(r, { consumed: b.length, done: true });
    assert.equal(scanner.overLimit, false);
  });

  it("refuses on the size line of the chunk that goes over, before its data", () => {
    const b = bytes("3\r\nabc\r\n3\r\ndef\r\n0\r\n\r\n");
    const scanner = new ChunkedScanner(5);
    const r = scanner.scan(b, 0, b.length);
    assert.equal(r.error, "body too large");
    assert.equal(r.done, false);
    // Only the first chunk and the size digits of the second belong to what was accepted.
    assert.ok(r.consumed <= "3\r\nabc\r\n3\r".length, `consumed ${r.consumed}`);
    assert.equal(scanner.overLimit, true);
  });

  it("counts data, not the framing around it, across pieces", () => {
    const b = bytes("1;ext=1\r\na\r\n1\r\nb\r\n0\r\nTrailer: x\r\n\r\n");
    const scanner = new ChunkedScanner(2);
    let consumed = 0;
    for (let i = 0; i < b.length; i++) {
      const r = scanner.scan(b, i, i + 1);
      assert.equal(r.error, undefined);
      consumed += r.consumed;
    }
    assert.equal(consumed, b.length);
    assert.equal(scanner.done, true);
  });

  it("has no limit by default, and a limit of 0 takes only an empty body", () => {
    const big = bytes("fffffff\r\n");
    assert.equal(new ChunkedScanner().scan(big, 0, big.length).error, undefined);
    const empty = bytes("0\r\n\r\n");
    assert.equal(new ChunkedScanner(0).scan(empty, 0, empty.length).done, true);
    const one = bytes("1\r\nx\r\n0\r\n\r\n");
    assert.equal(new ChunkedScanner(0).scan(one, 0, one.length).error, "body too large");
  });
});
