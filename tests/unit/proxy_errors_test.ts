/**
 * Errors as values (src/proxy/errors.ts) and the responses the ingress writes
 * itself (src/http1/serialize.ts): one status per kind, the exact text a
 * user sees, and the exact bytes on the wire.
 */

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { errorBody, errorResponse, type ProxyError, STATUS } from "../../src/proxy/errors.ts";
import { encodeHead, STATUS_TEXT, textResponse } from "../../src/http1/serialize.ts";

const decoder = new TextDecoder();

/** Every kind, with the status and body a user must see. */
const CASES: Array<[ProxyError, number, string]> = [
  [{ kind: "BadRequest", reason: "bare LF in head" }, 400, "bad request: bare LF in head\n"],
  [{ kind: "HeadTooLarge" }, 431, "request header fields too large\n"],
  [
    { kind: "HeadTimeout" },
    408,
    "request timeout: the request head did not arrive in time\n",
  ],
  [{ kind: "BodyTimeout" }, 408, "request timeout: the request body stalled\n"],
  [{ kind: "NoRoute", host: "example.com", path: "/x" }, 404, 'no route for "example.com/x"\n'],
  [{ kind: "NoReplicas", service: "api" }, 503, 'no live replica for service "api"\n'],
  [
    { kind: "RegistryFailed", service: "api", reason: "timeout" },
    503,
    'registry unavailable for service "api": timeout\n',
  ],
  [
    { kind: "UpstreamFailed", service: "api", attempts: 3, reason: "connection refused" },
    502,
    'bad gateway: service "api" failed after 3 attempts: connection refused\n',
  ],
  [
    { kind: "UpstreamTimeout", service: "api" },
    504,
    'gateway timeout: service "api" did not answer in time\n',
  ],
  [{ kind: "TooManyConnections" }, 503, "service unavailable: too many connections\n"],
  [{ kind: "ShuttingDown" }, 503, "service unavailable: shutting down\n"],
];

describe("STATUS and errorBody", () => {
  it("maps every kind to its status", () => {
    for (const [error, status] of CASES) assert.equal(STATUS[error.kind], status, error.kind);
    assert.equal(Object.keys(STATUS).length, CASES.length);
  });

  it("says what went wrong for every kind", () => {
    for (const [error, , body] of CASES) assert.equal(errorBody(error), body, error.kind);
  });

  it("says 'attempt' for one attempt and 'attempts' otherwise", () => {
    const body = (attempts: number) =>
      errorBody({ kind: "UpstreamFailed", service: "s", attempts, reason: "r" });
    assert.equal(body(1), 'bad gateway: service "s" failed after 1 attempt: r\n');
    assert.equal(body(0), 'bad gateway: service "s" failed after 0 attempts: r\n');
    assert.equal(body(2), 'bad gateway: service "s" failed after 2 attempts: r\n');
  });

  it("has a reason phrase for every status it uses", () => {
    for (const [error] of CASES) assert.ok(STATUS_TEXT[STATUS[error.kind]], error.kind);
  });
});

describe("errorResponse", () => {
  it("writes the exact bytes of a keep-alive error response", () => {
    const bytes = errorResponse({ kind: "NoReplicas", service: "api" }, false, false);
    assert.equal(
      decoder.decode(bytes),
      "HTTP/1.1 503 Service Unavailable\r\n" +
        "Content-Type: text/plain; charset=utf-8\r\n" +
        "Content-Length: 34\r\n" +
        "\r\n" +
        'no live replica for service "api"\n',
    );
  });

  it("adds Connection: close when the connection will close", () => {
    const bytes = errorResponse({ kind: "HeadTooLarge" }, true, false);
    assert.equal(
      decoder.decode(bytes),
      "HTTP/1.1 431 Request Header Fields Too Large\r\n" +
        "Content-Type: text/plain; charset=utf-8\r\n" +
        "Content-Length: 32\r\n" +
        "Connection: close\r\n" +
        "\r\n" +
        "request header fields too large\n",
    );
  });

  it("sends only the head to a HEAD request, with the body's length", () => {
    const bytes = errorResponse({ kind: "NoRoute", host: "h", path: "/" }, false, true);
    assert.equal(
      decoder.decode(bytes),
      "HTTP/1.1 404 Not Found\r\n" +
        "Content-Type: text/plain; charset=utf-8\r\n" +
        "Content-Length: 18\r\n" +
        "\r\n",
    );
  });

  it("uses the status and a Content-Length matching the body for every kind", () => {
    for (const [error, status, body] of CASES) {
      const text = decoder.decode(errorResponse(error, false, false));
      const [head, rest] = text.split("\r\n\r\n");
      assert.ok(head.startsWith(`HTTP/1.1 ${status} ${STATUS_TEXT[status]}\r\n`), error.kind);
      assert.ok(head.includes(`\r\nContent-Length: ${new TextEncoder().encode(body).length}`));
      assert.equal(rest, body);
    }
  });
});

describe("textResponse", () => {
  it("counts Content-Length in UTF-8 bytes, not characters", () => {
    const bytes = textResponse(400, "caf\u00e9 \u2713\n", false);
    const text = decoder.decode(bytes);
    assert.ok(text.includes("\r\nContent-Length: 10\r\n"), text);
    assert.ok(text.endsWith("\r\n\r\ncaf\u00e9 \u2713\n"));
  });

  it("falls back to 'Error' for a status without a reason phrase", () => {
    assert.equal(
      decoder.decode(textResponse(418, "", true)),
      "HTTP/1.1 418 Error\r\nContent-Type: text/plain; charset=utf-8\r\n" +
        "Content-Length: 0\r\nConnection: close\r\n\r\n",
    );
  });

  it("uses the standard reason phrases", () => {
    assert.equal(STATUS_TEXT[400], "Bad Request");
    assert.equal(STATUS_TEXT[404], "Not Found");
    assert.equal(STATUS_TEXT[408], "Request Timeout");
    assert.equal(STATUS_TEXT[413], "Content Too Large");
    assert.equal(STATUS_TEXT[431], "Request Header Fields Too Large");
    assert.equal(STATUS_TEXT[502], "Bad Gateway");
    assert.equal(STATUS_TEXT[503], "Service Unavailable");
    assert.equal(STATUS_TEXT[504], "Gateway Timeout");
    assert.equal(STATUS_TEXT[505], "HTTP Version Not Supported");
  });
});

describe("encodeHead", () => {
  it("encodes an ASCII head byte for byte", () => {
    assert.deepEqual(
      [...encodeHead("HTTP/1.1 204 No Content\r\n\r\n", false)],
      [..."HTTP/1.1 204 No Content\r\n\r\n"].map((c) => c.charCodeAt(0)),
    );
  });

  it("encodes a head with obs-text as latin1, one byte per char", () => {
    const text = "HTTP/1.1 200 OK\r\nX: caf\u00e9\u00ff\r\n\r\n";
    const bytes = encodeHead(text, true);
    assert.equal(bytes.length, text.length);
    assert.equal(bytes[text.indexOf("\u00e9")], 0xe9);
    assert.equal(bytes[text.indexOf("\u00ff")], 0xff);
  });
});
