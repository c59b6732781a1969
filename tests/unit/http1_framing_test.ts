/**
 * Body framing (src/http1/framing.ts). Request framing is where request
 * smuggling lives: every head an ingress and a backend could frame
 * differently must be refused.
 */

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  parseRequestHead,
  parseResponseHead,
  requestFraming,
  type RequestHead,
  responseFraming,
  type ResponseHead,
} from "../helpers/http1_text.ts";

/** Bytes of a string, one byte per char (so "\xa0" is the single byte 0xA0). */
function bytes(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

/** A request head parsed from its fields, as the proxy would see it. */
function request(fields: string[], version = "HTTP/1.1"): RequestHead {
  const text = `POST /x ${version}\r\nHost: a\r\n${fields.map((f) => f + "\r\n").join("")}\r\n`;
  const b = bytes(text);
  const r = parseRequestHead(b, 0, b.length, { maxSize: 65536 });
  if (r.kind !== "done") assert.fail(`test head did not parse: ${JSON.stringify(r)}`);
  return r.head;
}

function response(statusLine: string, fields: string[]): ResponseHead {
  const text = `${statusLine}\r\n${fields.map((f) => f + "\r\n").join("")}\r\n`;
  const b = bytes(text);
  const r = parseResponseHead(b, 0, b.length, { maxSize: 65536 });
  if (r.kind !== "done") assert.fail(`test head did not parse: ${JSON.stringify(r)}`);
  return r.head;
}

function refused(fields: string[], reason: string, version = "HTTP/1.1"): void {
  assert.deepEqual(
    requestFraming(request(fields, version)),
    { kind: "error", reason },
    JSON.stringify(fields),
  );
}

describe("requestFraming: accepted framings", () => {
  it("has no body without Content-Length or Transfer-Encoding", () => {
    assert.deepEqual(requestFraming(request([])), { kind: "none" });
    assert.deepEqual(requestFraming(request([], "HTTP/1.0")), { kind: "none" });
  });

  it("reads a Content-Length", () => {
    assert.deepEqual(requestFraming(request(["Content-Length: 42"])), {
      kind: "length",
      length: 42,
    });
    assert.deepEqual(requestFraming(request(["content-length:7"], "HTTP/1.0")), {
      kind: "length",
      length: 7,
    });
  });

  it("treats Content-Length: 0 as no body", () => {
    assert.deepEqual(requestFraming(request(["Content-Length: 0"])), { kind: "none" });
    assert.deepEqual(requestFraming(request(["Content-Length: 000"])), { kind: "none" });
  });

  it("accepts leading zeros and the largest 15-digit length", () => {
    assert.deepEqual(requestFraming(request(["Content-Length: 0010"])), {
      kind: "length",
      length: 10,
    });
    assert.deepEqual(requestFraming(request(["Content-Length: 999999999999999"])), {
      kind: "length",
      length: 999999999999999,
    });
  });

  it("accepts chunked in any letter case and after other codings", () => {
    for (
      const te of [
        "chunked",
        "Chunked",
        "CHUNKED",
        "gzip, chunked",
        "gzip,chunked",
        "deflate , chunked",
      ]
    ) {
      assert.deepEqual(
        requestFraming(request([`Transfer-Encoding: ${te}`])),
        { kind: "chunked" },
        te,
      );
    }
  });

  it("accepts codings spread over several Transfer-Encoding fields when chunked is last", () => {
    assert.deepEqual(
      requestFraming(request(["Transfer-Encoding: gzip", "Transfer-Encoding: chunked"])),
      { kind: "chunked" },
    );
  });

  it("ignores fields whose names only resemble framing fields", () => {
    assert.deepEqual(
      requestFraming(request(["Content-Length-X: 5", "X-Transfer-Encoding: chunked"])),
      { kind: "none" },
    );
  });
});

describe("requestFraming: smuggling vectors are refused", () => {
  it("refuses Content-Length together with Transfer-Encoding (CL.TE / TE.CL)", () => {
    const reason = "both Content-Length and Transfer-Encoding";
    refused(["Content-Length: 5", "Transfer-Encoding: chunked"], reason);
    refused(["Transfer-Encoding: chunked", "Content-Length: 5"], reason);
    refused(["Transfer-Encoding: chunked", "Content-Length: 0"], reason);
    refused(["Transfer-Encoding: gzip", "Content-Length: 5"], reason);
  });

  it("refuses duplicate Content-Length fields, even when equal", () => {
    refused(["Content-Length: 5", "Content-Length: 5"], "duplicate Content-Length");
    refused(["Content-Length: 5", "Content-Length: 6"], "duplicate Content-Length");
    refused(["Content-Length: 0", "content-length: 0"], "duplicate Content-Length");
  });

  it("refuses a Content-Length list in one field", () => {
    refused(["Content-Length: 5, 5"], "invalid Content-Length");
    refused(["Content-Length: 5,5"], "invalid Content-Length");
  });

  it("refuses Content-Length with a sign, inner space, hex, exponent or fraction", () => {
    for (
      const v of [
        "+5",
        "-5",
        "5 5",
        "0x10",
        "0X10",
        "1e3",
        "5.0",
        "a",
        "five",
        "5\t5",
        "1_000",
        "\xb5",
        "5\xa0",
      ]
    ) {
      refused([`Content-Length: ${v}`], "invalid Content-Length");
    }
  });

  it("refuses an empty Content-Length", () => {
    refused(["Content-Length:"], "invalid Content-Length");
    refused(["Content-Length:   "], "invalid Content-Length");
  });

  it("refuses a Content-Length of 16 digits or more (beyond safe integers)", () => {
    refused(["Content-Length: 1000000000000000"], "invalid Content-Length");
    refused(["Content-Length: 99999999999999999999"], "invalid Content-Length");
  });

  it("refuses a Transfer-Encoding whose final coding is not chunked", () => {
    const reason = "unsupported Transfer-Encoding";
    refused(["Transfer-Encoding: chunked, gzip"], reason);
    refused(["Transfer-Encoding: gzip"], reason);
    refused(["Transfer-Encoding: identity"], reason);
    refused(["Transfer-Encoding: chunkedx"], reason);
    refused(["Transfer-Encoding: xchunked"], reason);
    refused(['Transfer-Encoding: "chunked"'], reason);
    refused(["Transfer-Encoding: chunked;q=1"], reason);
    refused(["Transfer-Encoding:"], reason);
    refused(["Transfer-Encoding: chunked,"], reason);
    refused(["Transfer-Encoding: chunked", "Transfer-Encoding: gzip"], reason);
  });

  it("refuses a chunked wrapped in obs-text that a backend may not read as chunked", () => {
    // Only SP and HTAB are whitespace in HTTP. The field is forwarded verbatim,
    // so a backend that does not see "chunked" here would frame the body
    // differently (no body, then the chunks as the next request).
    const reason = "unsupported Transfer-Encoding";
    refused(["Transfer-Encoding: chunked\xa0"], reason);
    refused(["Transfer-Encoding: \xa0chunked"], reason);
    refused(["Transfer-Encoding: gzip,\xa0chunked"], reason);
  });

  it("refuses chunked applied twice, in one field or two", () => {
    const reason = "unsupported Transfer-Encoding";
    refused(["Transfer-Encoding: chunked, chunked"], reason);
    refused(["Transfer-Encoding: chunked", "Transfer-Encoding: chunked"], reason);
    refused(["Transfer-Encoding: chunked, gzip, chunked"], reason);
  });

  it("refuses Transfer-Encoding in an HTTP/1.0 request", () => {
    refused(["Transfer-Encoding: chunked"], "Transfer-Encoding in HTTP/1.0", "HTTP/1.0");
    refused(["Transfer-Encoding: gzip"], "Transfer-Encoding in HTTP/1.0", "HTTP/1.0");
  });
});

describe("responseFraming", () => {
  it("has no body for HEAD, whatever the head says", () => {
    const head = response("HTTP/1.1 200 OK", ["Content-Length: 10"]);
    assert.deepEqual(responseFraming("HEAD", head), { kind: "none" });
    const chunked = response("HTTP/1.1 200 OK", ["Transfer-Encoding: chunked"]);
    assert.deepEqual(responseFraming("HEAD", chunked), { kind: "none" });
  });

  it("has no body for 1xx, 204 and 304", () => {
    for (
      const status of ["100 Continue", "103 Early Hints", "204 No Content", "304 Not Modified"]
    ) {
      const head = response(`HTTP/1.1 ${status}`, ["Content-Length: 10"]);
      assert.deepEqual(responseFraming("GET", head), { kind: "none" }, status);
    }
  });

  it("reads Content-Length, treating 0 as no body", () => {
    assert.deepEqual(responseFraming("GET", response("HTTP/1.1 200 OK", ["Content-Length: 12"])), {
      kind: "length",
      length: 12,
    });
    assert.deepEqual(
      responseFraming("GET", response("HTTP/1.1 200 OK", ["Content-Length: 0"])),
      { kind: "none" },
    );
  });

  it("allows repeated identical Content-Length but not conflicting ones", () => {
    assert.deepEqual(
      responseFraming(
        "GET",
        response("HTTP/1.1 200 OK", ["Content-Length: 3", "Content-Length: 3"]),
      ),
      { kind: "length", length: 3 },
    );
    assert.deepEqual(
      responseFraming(
        "GET",
        response("HTTP/1.1 200 OK", ["Content-Length: 3", "Content-Length: 4"]),
      ),
      { kind: "error", reason: "conflicting Content-Length" },
    );
  });

  it("refuses an invalid Content-Length", () => {
    for (const v of ["-1", "+3", "0x3", "3 3", ""]) {
      assert.deepEqual(
        responseFraming("GET", response("HTTP/1.1 200 OK", [`Content-Length: ${v}`])),
        { kind: "error", reason: "invalid Content-Length" },
        v,
      );
    }
  });

  it("reads chunked from an HTTP/1.1 backend", () => {
    assert.deepEqual(
      responseFraming("GET", response("HTTP/1.1 200 OK", ["Transfer-Encoding: gzip, chunked"])),
      { kind: "chunked" },
    );
  });

  it("lets Transfer-Encoding override Content-Length", () => {
    const head = response("HTTP/1.1 200 OK", ["Content-Length: 5", "Transfer-Encoding: chunked"]);
    assert.deepEqual(responseFraming("GET", head), { kind: "chunked" });
  });

  it("reads to close when chunked is not the final coding, or from HTTP/1.0", () => {
    assert.deepEqual(
      responseFraming("GET", response("HTTP/1.1 200 OK", ["Transfer-Encoding: chunked, gzip"])),
      { kind: "close" },
    );
    assert.deepEqual(
      responseFraming("GET", response("HTTP/1.0 200 OK", ["Transfer-Encoding: chunked"])),
      { kind: "close" },
    );
  });

  it("reads to close without any framing field", () => {
    assert.deepEqual(responseFraming("GET", response("HTTP/1.1 200 OK", [])), { kind: "close" });
    assert.deepEqual(responseFraming("POST", response("HTTP/1.0 500 Oops", [])), { kind: "close" });
  });
});
