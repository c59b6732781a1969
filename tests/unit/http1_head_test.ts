/**
 * The sans-I/O head parser (src/http1/head.ts): strict request heads, what is
 * rejected and with which status, size limits at their exact boundary,
 * incremental input at every split point, and response heads.
 */

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { type HeadLimits } from "../../src/http1/head.ts";
import { latin1 } from "../../src/http1/latin1.ts";
import {
  parseRequestHead,
  parseResponseHead,
  type ParseResult,
  type RequestHead,
  type ResponseHead,
} from "../helpers/http1_text.ts";
import { encodeHead } from "../../src/http1/serialize.ts";

const LIMITS: HeadLimits = { maxSize: 32768 };

/** Bytes of a string, one byte per char (so "\xe9" is the single byte 0xE9). */
function bytes(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

function req(s: string, limits: HeadLimits = LIMITS): ParseResult<RequestHead> {
  const b = bytes(s);
  return parseRequestHead(b, 0, b.length, limits);
}

function res(s: string, limits: HeadLimits = { maxSize: 65536 }): ParseResult<ResponseHead> {
  const b = bytes(s);
  return parseResponseHead(b, 0, b.length, limits);
}

function done<T>(r: ParseResult<T>): { head: T; size: number } {
  if (r.kind !== "done") assert.fail(`expected a parsed head, got ${JSON.stringify(r)}`);
  return r;
}

/** The outcome without the parsed head, so a failure message stays short. */
function outcome<T>(r: ParseResult<T>): unknown {
  return r.kind === "done" ? { kind: "done", size: r.size } : r;
}

function rejected(s: string, status: number, reason: string, limits?: HeadLimits): void {
  assert.deepEqual(
    outcome(req(s, limits)),
    { kind: "error", status, reason },
    JSON.stringify(s.length > 80 ? s.slice(0, 80) + "..." : s),
  );
}

describe("parseRequestHead: well-formed heads", () => {
  it("parses method, target, version and fields", () => {
    const text = "GET /a/b?x=1 HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\n";
    const { head, size } = done(req(text));
    assert.equal(size, text.length);
    assert.equal(head.method, "GET");
    assert.equal(head.target, "/a/b?x=1");
    assert.equal(head.minor, 1);
    assert.equal(head.highBytes, false);
    assert.deepEqual(head.fields, [
      { name: "host", value: "example.com", line: "Host: example.com" },
      { name: "accept", value: "*/*", line: "Accept: */*" },
    ]);
  });

  it("reads HTTP/1.0 as minor 0", () => {
    const { head } = done(req("GET / HTTP/1.0\r\n\r\n"));
    assert.equal(head.minor, 0);
    assert.deepEqual(head.fields, []);
  });

  it("lower-cases names for lookup but keeps the line verbatim", () => {
    const { head } = done(req("GET / HTTP/1.1\r\nX-MiXeD-Case:  Value Here \t\r\n\r\n"));
    assert.deepEqual(head.fields, [
      { name: "x-mixed-case", value: "Value Here", line: "X-MiXeD-Case:  Value Here \t" },
    ]);
  });

  it("accepts an empty value and inner whitespace", () => {
    const { head } = done(req("GET / HTTP/1.1\r\nX-Empty:\r\nX-Tab:\ta\tb\t\r\n\r\n"));
    assert.deepEqual(head.fields.map((f) => [f.name, f.value]), [["x-empty", ""], [
      "x-tab",
      "a\tb",
    ]]);
  });

  it("accepts every tchar in a field name and a method", () => {
    const token = "!#$%&'*+-.^_`|~09azAZ";
    const { head } = done(req(`${token} / HTTP/1.1\r\n${token}: v\r\n\r\n`));
    assert.equal(head.method, token);
    assert.equal(head.fields[0].name, token.toLowerCase());
  });

  it("keeps the method's case (methods are case-sensitive)", () => {
    assert.equal(done(req("get / HTTP/1.1\r\n\r\n")).head.method, "get");
  });

  it("accepts absolute-form and asterisk-form targets as sent", () => {
    assert.equal(done(req("GET http://h/x HTTP/1.1\r\n\r\n")).head.target, "http://h/x");
    assert.equal(done(req("OPTIONS * HTTP/1.1\r\n\r\n")).head.target, "*");
  });

  it("reports the size of the head only, leaving pipelined bytes alone", () => {
    const first = "GET /1 HTTP/1.1\r\nHost: a\r\n\r\n";
    const both = first + "GET /2 HTTP/1.1\r\nHost: a\r\n\r\n";
    const { head, size } = done(req(both));
    assert.equal(head.target, "/1");
    assert.equal(size, first.length);
    const b = bytes(both);
    const second = done(parseRequestHead(b, size, b.length, LIMITS));
    assert.equal(second.head.target, "/2");
    assert.equal(second.size, b.length - size);
  });

  it("parses from a start offset and ignores bytes outside [start, end)", () => {
    const text = "garbage\nGET /x HTTP/1.1\r\nHost: a\r\n\r\nmore\x00";
    const b = bytes(text);
    const start = "garbage\n".length;
    const end = text.length - "more\x00".length;
    const { head, size } = done(parseRequestHead(b, start, end, LIMITS));
    assert.equal(head.target, "/x");
    assert.equal(size, end - start);
  });

  it("skips empty lines before the request line and counts them in size", () => {
    const text = "\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n";
    const { head, size } = done(req(text));
    assert.equal(head.method, "GET");
    assert.equal(size, text.length);
    assert.deepEqual(head.fields, [{ name: "host", value: "a", line: "Host: a" }]);
  });

  it("waits while only empty lines have arrived", () => {
    assert.deepEqual(req("\r\n"), { kind: "incomplete" });
    assert.deepEqual(req("\r\n\r\n\r"), { kind: "incomplete" });
  });

  it("decodes obs-text bytes as latin1 and flags them", () => {
    const text = "GET / HTTP/1.1\r\nX-Name: caf\xe9 \xff\r\n\r\n";
    const { head } = done(req(text));
    assert.equal(head.highBytes, true);
    assert.equal(head.fields[0].value, "caf\u00e9 \u00ff");
    // The line re-encodes to the exact bytes received.
    assert.deepEqual(encodeHead(head.fields[0].line, true), bytes("X-Name: caf\xe9 \xff"));
  });
});

describe("parseRequestHead: incomplete input", () => {
  const heads = [
    "GET / HTTP/1.1\r\n\r\n",
    "POST /upload?x=1 HTTP/1.1\r\nHost: example.com\r\nContent-Length: 3\r\n\r\n",
    "\r\n\r\nGET / HTTP/1.0\r\nA: b\r\nC:\r\n\r\n",
    "GET / HTTP/1.1\r\nX: caf\xe9\r\n\r\n",
  ];
  for (const text of heads) {
    it(`is incomplete for every proper prefix of ${JSON.stringify(text)}`, () => {
      const b = bytes(text);
      for (let k = 0; k < b.length; k++) {
        assert.deepEqual(
          parseRequestHead(b, 0, k, LIMITS),
          { kind: "incomplete" },
          `prefix of ${k} bytes`,
        );
      }
      assert.equal(done(parseRequestHead(b, 0, b.length, LIMITS)).size, b.length);
    });
  }

  it("is incomplete for prefixes that start at an offset", () => {
    const text = "xxGET / HTTP/1.1\r\nHost: a\r\n\r\n";
    const b = bytes(text);
    for (let k = 2; k < b.length; k++) {
      assert.equal(parseRequestHead(b, 2, k, LIMITS).kind, "incomplete", `end ${k}`);
    }
    assert.equal(done(parseRequestHead(b, 2, b.length, LIMITS)).size, b.length - 2);
  });
});

describe("parseRequestHead: line endings", () => {
  it("rejects bare LF line endings", () => {
    rejected("GET / HTTP/1.1\nHost: a\r\n\r\n", 400, "bare LF in head");
    rejected("GET / HTTP/1.1\r\nHost: a\n\r\n", 400, "bare LF in head");
    rejected("GET / HTTP/1.1\r\nHost: a\r\n\n", 400, "bare LF in head");
    rejected("GET / HTTP/1.1\n\n", 400, "bare LF in head");
  });

  it("rejects a bare LF inside a value", () => {
    rejected("GET / HTTP/1.1\r\nX: a\nb\r\n\r\n", 400, "bare LF in head");
  });

  it("rejects a bare LF before the request line", () => {
    rejected("\nGET / HTTP/1.1\r\n\r\n", 400, "bare LF in head");
  });

  it("rejects bare CR anywhere", () => {
    rejected("GET / HTTP/1.1\rHost: a\r\n\r\n", 400, "bare CR in head");
    rejected("GET / HTTP/1.1\r\nX: a\rb\r\n\r\n", 400, "bare CR in head");
    rejected("GET / HTTP/1.1\r\nX: a\r\r\n\r\n", 400, "bare CR in head");
    rejected("GET / HTTP/1.1\r\n\rX", 400, "bare CR in head");
    rejected("GET /a\rb HTTP/1.1\r\n\r\n", 400, "bare CR in head");
  });

  it("rejects a bare CR as soon as the byte after it is seen", () => {
    // No need to wait for the end of the head to refuse it.
    rejected("GET / HTTP/1.1\r\nX: a\rb", 400, "bare CR in head");
    assert.deepEqual(req("GET / HTTP/1.1\r\nX: a\r"), { kind: "incomplete" });
  });

  it("rejects obsolete line folding (space or tab)", () => {
    rejected("GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n", 400, "obsolete line folding");
    rejected("GET / HTTP/1.1\r\nX: a\r\n\tb\r\n\r\n", 400, "obsolete line folding");
    // A "folded" first field line is no better.
    rejected("GET / HTTP/1.1\r\n Host: a\r\n\r\n", 400, "obsolete line folding");
  });
});

describe("parseRequestHead: field syntax", () => {
  it("rejects whitespace between the name and the colon", () => {
    rejected("GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400, "invalid header field name");
    rejected("GET / HTTP/1.1\r\nContent-Length\t: 5\r\n\r\n", 400, "invalid header field name");
  });

  it("rejects an empty field name", () => {
    rejected("GET / HTTP/1.1\r\n: a\r\n\r\n", 400, "invalid header field name");
  });

  it("rejects a line without a colon", () => {
    rejected("GET / HTTP/1.1\r\nHost\r\n\r\n", 400, "invalid header field name");
    rejected("GET / HTTP/1.1\r\nHost a\r\n\r\n", 400, "invalid header field name");
  });

  it("rejects separators and non-ASCII in field names", () => {
    for (const name of ["X(y)", "X/y", "X@y", "X,y", 'X"y', "X[y]", "X{y}", "X\xe9", "X\x00y"]) {
      rejected(`GET / HTTP/1.1\r\n${name}: v\r\n\r\n`, 400, "invalid header field name");
    }
  });

  it("rejects every control character in a value except HTAB", () => {
    for (let b = 0; b < 0x20; b++) {
      if (b === 0x09 || b === 0x0a || b === 0x0d) continue;
      rejected(
        `GET / HTTP/1.1\r\nX: a${String.fromCharCode(b)}b\r\n\r\n`,
        400,
        "invalid character in header value",
      );
    }
    rejected("GET / HTTP/1.1\r\nX: a\x7fb\r\n\r\n", 400, "invalid character in header value");
  });

  it("rejects NUL at the start or end of a value", () => {
    rejected("GET / HTTP/1.1\r\nX: \x00\r\n\r\n", 400, "invalid character in header value");
    rejected("GET / HTTP/1.1\r\nX: a\x00\r\n\r\n", 400, "invalid character in header value");
    rejected(
      "GET / HTTP/1.1\r\nHost: a\x00.evil\r\n\r\n",
      400,
      "invalid character in header value",
    );
  });
});

describe("parseRequestHead: request line", () => {
  it("rejects a request line with only a method", () => {
    rejected("GET\r\n\r\n", 400, "invalid method");
    rejected("GET \r\n\r\n", 400, "invalid request target");
  });

  it("rejects malformed methods", () => {
    rejected(" / HTTP/1.1\r\n\r\n", 400, "invalid method");
    rejected("GE(T / HTTP/1.1\r\n\r\n", 400, "invalid method");
    rejected("GET\t/ HTTP/1.1\r\n\r\n", 400, "invalid method");
    rejected("GE\x00T / HTTP/1.1\r\n\r\n", 400, "invalid method");
    rejected("G\xc9T / HTTP/1.1\r\n\r\n", 400, "invalid method");
  });

  it("rejects malformed targets", () => {
    rejected("GET  / HTTP/1.1\r\n\r\n", 400, "invalid request target");
    rejected("GET /\r\n\r\n", 400, "invalid request target");
    rejected("GET /a\x00b HTTP/1.1\r\n\r\n", 400, "invalid request target");
    rejected("GET /a\tb HTTP/1.1\r\n\r\n", 400, "invalid request target");
    rejected("GET /a\x7fb HTTP/1.1\r\n\r\n", 400, "invalid request target");
    rejected("GET /caf\xe9 HTTP/1.1\r\n\r\n", 400, "invalid request target");
    rejected("GET /a\x1bb HTTP/1.1\r\n\r\n", 400, "invalid request target");
  });

  it("rejects malformed versions", () => {
    rejected("GET / HTTP/1.1 \r\n\r\n", 400, "invalid HTTP version");
    rejected("GET / HTTP/1.11\r\n\r\n", 400, "invalid HTTP version");
    rejected("GET / HTTP/1\r\n\r\n", 400, "invalid HTTP version");
    rejected("GET / \r\n\r\n", 400, "invalid HTTP version");
    rejected("GET / a b\r\n\r\n", 400, "invalid HTTP version");
  });

  it("rejects versions other than HTTP/1.0 and HTTP/1.1", () => {
    rejected("GET / HTTP/2.0\r\n\r\n", 400, "unsupported HTTP version");
    rejected("GET / HTTP/1.2\r\n\r\n", 400, "unsupported HTTP version");
    rejected("GET / HTTP/0.9\r\n\r\n", 400, "unsupported HTTP version");
    rejected("GET / http/1.1\r\n\r\n", 400, "unsupported HTTP version");
    rejected("GET / HTTPS1.1\r\n\r\n", 400, "unsupported HTTP version");
  });
});

describe("parseRequestHead: limits", () => {
  /** A request head of exactly `n` bytes (n >= 40). */
  function headOfSize(n: number): string {
    const fixed = "GET / HTTP/1.1\r\nX: \r\n\r\n";
    const head = `GET / HTTP/1.1\r\nX: ${"a".repeat(n - fixed.length)}\r\n\r\n`;
    assert.equal(head.length, n);
    return head;
  }

  it("accepts a head of exactly maxSize bytes", () => {
    const head = headOfSize(1024);
    assert.equal(done(req(head, { maxSize: 1024 })).size, 1024);
  });

  it("answers 431 for a head one byte over maxSize (the exact boundary)", () => {
    rejected(headOfSize(1025), 431, "request header fields too large", { maxSize: 1024 });
  });

  it("answers 431 for a head two bytes over maxSize", () => {
    rejected(headOfSize(1026), 431, "request header fields too large", { maxSize: 1024 });
  });

  it("waits below the limit and answers 431 once maxSize bytes hold no complete head", () => {
    const head = headOfSize(4000);
    const b = bytes(head);
    assert.deepEqual(parseRequestHead(b, 0, 1023, { maxSize: 1024 }), { kind: "incomplete" });
    assert.deepEqual(parseRequestHead(b, 0, 1024, { maxSize: 1024 }), {
      kind: "error",
      status: 431,
      reason: "request header fields too large",
    });
    assert.equal(parseRequestHead(b, 0, 3000, { maxSize: 1024 }).kind, "error");
  });

  it("counts the limit from the start offset", () => {
    const head = headOfSize(1024);
    const b = bytes("PADDING" + head);
    assert.equal(done(parseRequestHead(b, 7, b.length, { maxSize: 1024 })).size, 1024);
  });

  it("accepts exactly maxFields fields and answers 431 for one more", () => {
    const fields = (n: number) =>
      "GET / HTTP/1.1\r\n" + Array.from({ length: n }, (_, i) => `X-${i}: ${i}\r\n`).join("") +
      "\r\n";
    assert.equal(done(req(fields(3), { maxSize: 32768, maxFields: 3 })).head.fields.length, 3);
    rejected(fields(4), 431, "too many header fields", { maxSize: 32768, maxFields: 3 });
  });

  it("defaults to 256 fields", () => {
    const fields = (n: number) =>
      "GET / HTTP/1.1\r\n" + Array.from({ length: n }, (_, i) => `X-${i}: ${i}\r\n`).join("") +
      "\r\n";
    assert.equal(done(req(fields(256))).head.fields.length, 256);
    rejected(fields(257), 431, "too many header fields");
  });
});

describe("parseResponseHead", () => {
  it("parses status, reason, version and fields", () => {
    const text = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: b\r\n\r\nhello";
    const { head, size } = done(res(text));
    assert.equal(size, text.length - 5);
    assert.equal(head.status, 200);
    assert.equal(head.reason, "OK");
    assert.equal(head.minor, 1);
    assert.equal(head.highBytes, false);
    assert.deepEqual(head.fields, [
      { name: "content-length", value: "5", line: "Content-Length: 5" },
      { name: "x-a", value: "b", line: "X-A: b" },
    ]);
  });

  it("keeps a multi-word reason and HTTP/1.0", () => {
    const { head } = done(res("HTTP/1.0 404 Not Found Here\r\n\r\n"));
    assert.equal(head.status, 404);
    assert.equal(head.reason, "Not Found Here");
    assert.equal(head.minor, 0);
  });

  it("allows an empty reason with or without the space", () => {
    assert.equal(done(res("HTTP/1.1 204 \r\n\r\n")).head.reason, "");
    assert.equal(done(res("HTTP/1.1 204\r\n\r\n")).head.reason, "");
    assert.equal(done(res("HTTP/1.1 204\r\n\r\n")).head.status, 204);
  });

  it("parses interim and upgrade statuses", () => {
    assert.equal(done(res("HTTP/1.1 100 Continue\r\n\r\n")).head.status, 100);
    assert.equal(done(res("HTTP/1.1 101 Switching Protocols\r\n\r\n")).head.status, 101);
  });

  it("parses at an offset", () => {
    const b = bytes("junkHTTP/1.1 302 Found\r\nLocation: /x\r\n\r\n");
    const { head, size } = done(parseResponseHead(b, 4, b.length, { maxSize: 65536 }));
    assert.equal(head.status, 302);
    assert.equal(head.reason, "Found");
    assert.equal(size, b.length - 4);
  });

  it("rejects malformed status lines with 502", () => {
    const cases: Array<[string, string]> = [
      ["HTTP/2 200 OK\r\n\r\n", "invalid status line"],
      ["http/1.1 200 OK\r\n\r\n", "invalid status line"],
      ["HTTP/1.1\r\n\r\n", "invalid status line"],
      ["HTTP/1.1 20\r\n\r\n", "invalid status line"],
      ["HTTP/1.1-200 OK\r\n\r\n", "invalid status line"],
      ["HTTP/1.1 20 OK\r\n\r\n", "invalid status code"],
      ["HTTP/1.1  200 OK\r\n\r\n", "invalid status code"],
      ["HTTP/1.1 2000 OK\r\n\r\n", "invalid status code"],
      ["HTTP/1.1 099 Low\r\n\r\n", "invalid status code"],
      ["HTTP/1.1 2x0 OK\r\n\r\n", "invalid status code"],
      ["HTTP/1.1 200OK\r\n\r\n", "invalid status code"],
      ["\r\nHTTP/1.1 200 OK\r\n\r\n", "empty status line"],
    ];
    for (const [text, reason] of cases) {
      assert.deepEqual(res(text), { kind: "error", status: 502, reason }, JSON.stringify(text));
    }
  });

  it("rejects bad framing bytes and fields with 502 and a backend-side reason", () => {
    assert.deepEqual(res("HTTP/1.1 200 OK\nX: a\r\n\r\n"), {
      kind: "error",
      status: 502,
      reason: "backend sent bare LF in head",
    });
    assert.deepEqual(res("HTTP/1.1 200 OK\r\nX: a\rb\r\n\r\n"), {
      kind: "error",
      status: 502,
      reason: "backend sent bare CR in head",
    });
    assert.deepEqual(res("HTTP/1.1 200 OK\r\nX : a\r\n\r\n"), {
      kind: "error",
      status: 502,
      reason: "invalid header field name",
    });
    assert.deepEqual(res("HTTP/1.1 200 OK\r\nX: a\x00\r\n\r\n"), {
      kind: "error",
      status: 502,
      reason: "invalid character in header value",
    });
    assert.deepEqual(res("HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n"), {
      kind: "error",
      status: 502,
      reason: "obsolete line folding",
    });
  });

  it("rejects control characters in the reason phrase as it does in field values", () => {
    // reason-phrase = *( HTAB / SP / VCHAR / obs-text ); the reason is forwarded to clients.
    for (const ctl of ["\x00", "\x01", "\x1b", "\x7f"]) {
      const r = res(`HTTP/1.1 200 O${ctl}K\r\nContent-Length: 0\r\n\r\n`);
      assert.equal(r.kind, "error", JSON.stringify(ctl));
      assert.equal(r.kind === "error" && r.status, 502);
    }
    assert.equal(done(res("HTTP/1.1 200 O\tK\r\n\r\n")).head.reason, "O\tK");
  });

  it("rejects an oversized response head with 502", () => {
    const big = "HTTP/1.1 200 OK\r\nX: " + "a".repeat(2000) + "\r\n\r\n";
    assert.deepEqual(res(big, { maxSize: 1024 }), {
      kind: "error",
      status: 502,
      reason: "backend sent too large",
    });
  });

  it("rejects too many response fields with 502", () => {
    const text = "HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n";
    assert.deepEqual(res(text, { maxSize: 65536, maxFields: 2 }), {
      kind: "error",
      status: 502,
      reason: "too many header fields",
    });
  });

  it("is incomplete for every proper prefix", () => {
    const text = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 0\r\n\r\n";
    const b = bytes(text);
    for (let k = 0; k < b.length; k++) {
      assert.deepEqual(
        parseResponseHead(b, 0, k, { maxSize: 65536 }),
        { kind: "incomplete" },
        `${k}`,
      );
    }
    assert.equal(done(parseResponseHead(b, 0, b.length, { maxSize: 65536 })).size, b.length);
  });

  it("keeps obs-text in the reason and fields as latin1", () => {
    const { head } = done(res("HTTP/1.1 200 Tr\xe8s bien\r\nX: \xfc\r\n\r\n"));
    assert.equal(head.highBytes, true);
    assert.equal(head.reason, "Tr\u00e8s bien");
    assert.equal(head.fields[0].value, "\u00fc");
  });
});

describe("latin1", () => {
  it("decodes ASCII through the fast path", () => {
    const b = bytes("xxhello");
    assert.equal(latin1(b, 2, 7, false), "hello");
  });

  it("maps every byte to the char of the same code, across its 4096-byte batches", () => {
    const b = new Uint8Array(10000);
    for (let i = 0; i < b.length; i++) b[i] = (i * 7) & 0xff;
    const s = latin1(b, 3, 9999, true);
    assert.equal(s.length, 9996);
    for (let i = 0; i < s.length; i++) {
      if (s.charCodeAt(i) !== b[i + 3]) assert.fail(`char ${i}: ${s.charCodeAt(i)} != ${b[i + 3]}`);
    }
  });
});
