/**
 * Errors as values (src/proxy/errors.ts) and the responses the ingress writes
 * itself (src/http1/serialize.ts): one status per kind, the exact text a
 * user sees, and the exact bytes on the wire.
 */

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  errorBody,
  errorResponse,
  failureDetails,
  failureLogLine,
  type ProxyError,
  STATUS,
} from "../../src/proxy/errors.ts";
import { encodeHead, STATUS_TEXT, textResponse } from "../../src/http1/serialize.ts";

const decoder = new TextDecoder();
const ID = "9f86d081884c7d65-7";
const R1 = { host: "10.0.0.7", port: 8081 };

/**
 * Every kind, with the status and body a user must see (request id `ID`),
 * and the operator's details (null: no log line).
 */
const CASES: Array<[ProxyError, number, string, string | null]> = [
  [{ kind: "BadRequest", reason: "bare LF in head" }, 400, "bad request: bare LF in head\n", null],
  [{ kind: "HeadTooLarge" }, 431, "request header fields too large\n", null],
  [
    { kind: "HeadTimeout" },
    408,
    "request timeout: the request head did not arrive in time\n",
    null,
  ],
  [{ kind: "BodyTimeout" }, 408, "request timeout: the request body stalled\n", null],
  [
    { kind: "BodyTooLarge" },
    413,
    "content too large: the request body is longer than this route accepts\n",
    null,
  ],
  [
    { kind: "NoRoute", host: "example.com", path: "/x" },
    404,
    'no route for "example.com/x"\n',
    null,
  ],
  [
    { kind: "NoReplicas", service: "api" },
    503,
    `service unavailable: no live replica is registered (request id ${ID})\n`,
    'no live replica for service "api"',
  ],
  [
    { kind: "RegistryFailed", service: "api", reason: "timeout" },
    503,
    `service unavailable: the registry failed (request id ${ID})\n`,
    'registry unavailable for service "api": timeout',
  ],
  [
    {
      kind: "UpstreamFailed",
      service: "api",
      attempts: 2,
      reason: "10.0.0.7:8081: connection refused; [::1]:81: connect timeout",
    },
    502,
    `bad gateway: every replica tried failed (request id ${ID})\n`,
    'service "api" failed after 2 attempts: 10.0.0.7:8081: connection refused; [::1]:81: ' +
    "connect timeout",
  ],
  [
    { kind: "BadResponse", service: "api", replica: R1, reason: "bad status line" },
    502,
    `bad gateway: the backend sent an invalid response (request id ${ID})\n`,
    'service "api": invalid response from 10.0.0.7:8081: bad status line',
  ],
  [
    { kind: "UpstreamTimeout", service: "api", replica: { host: "::1", port: 81 } },
    504,
    `gateway timeout: the backend did not answer in time (request id ${ID})\n`,
    'service "api": [::1]:81 did not answer in time',
  ],
  [
    { kind: "TooManyConnections" },
    503,
    `service unavailable: too many connections (request id ${ID})\n`,
    null,
  ],
  [
    { kind: "ShuttingDown" },
    503,
    `service unavailable: shutting down (request id ${ID})\n`,
    null,
  ],
];

describe("STATUS and errorBody", () => {
  it("maps every kind to its status", () => {
    for (const [error, status] of CASES) assert.equal(STATUS[error.kind], status, error.kind);
    assert.equal(Object.keys(STATUS).length, CASES.length);
  });

  it("says what went wrong for every kind, and the request id for every 5xx", () => {
    for (const [error, , body] of CASES) assert.equal(errorBody(error, ID), body, error.kind);
  });

  it("never tells the client a replica's address or a backend's error", () => {
    for (const [error] of CASES) {
      if (STATUS[error.kind] < 500) continue;
      const body = errorBody(error, ID);
      for (
        const secret of ["10.0.0.7", "8081", "::1", "refused", "connect timeout", "status", "api"]
      ) {
        assert.ok(!body.includes(secret), `${error.kind} body tells ${secret}: ${body}`);
      }
    }
  });

  it("adds the details on a second line with --debug-errors", () => {
    for (const [error, , body, details] of CASES) {
      const debug = errorBody(error, ID, true);
      assert.equal(debug, details === null ? body : body + details + "\n", error.kind);
    }
  });

  it("says 'attempt' for one attempt and 'attempts' otherwise", () => {
    const details = (attempts: number) =>
      failureDetails({ kind: "UpstreamFailed", service: "s", attempts, reason: "r" });
    assert.equal(details(1), 'service "s" failed after 1 attempt: r');
    assert.equal(details(0), 'service "s" failed after 0 attempts: r');
    assert.equal(details(2), 'service "s" failed after 2 attempts: r');
  });

  it("has a reason phrase for every status it uses", () => {
    for (const [error] of CASES) assert.ok(STATUS_TEXT[STATUS[error.kind]], error.kind);
  });
});

describe("failureLogLine", () => {
  it("writes one line per failure behind the ingress: id, request, status, details", () => {
    for (const [error, status, , details] of CASES) {
      const line = failureLogLine(error, ID, "GET", "/api/x");
      if (details === null) assert.equal(line, null, error.kind);
      else assert.equal(line, `request ${ID} "GET /api/x": ${status} ${details}`, error.kind);
    }
  });

  it("names a timeout without a replica", () => {
    assert.equal(
      failureDetails({ kind: "UpstreamTimeout", service: "api", replica: null }),
      'service "api": (no replica) did not answer in time',
    );
  });
});

describe("errorResponse", () => {
  it("writes the exact bytes of a keep-alive error response", () => {
    const bytes = errorResponse({ kind: "NoReplicas", service: "api" }, false, false, "p-1");
    assert.equal(
      decoder.decode(bytes),
      "HTTP/1.1 503 Service Unavailable\r\n" +
        "Content-Type: text/plain; charset=utf-8\r\n" +
        "Content-Length: 68\r\n" +
        "X-Request-Id: p-1\r\n" +
        "\r\n" +
        "service unavailable: no live replica is registered (request id p-1)\n",
    );
  });

  it("adds Connection: close when the connection will close", () => {
    const bytes = errorResponse({ kind: "HeadTooLarge" }, true, false, "p-2");
    assert.equal(
      decoder.decode(bytes),
      "HTTP/1.1 431 Request Header Fields Too Large\r\n" +
        "Content-Type: text/plain; charset=utf-8\r\n" +
        "Content-Length: 32\r\n" +
        "X-Request-Id: p-2\r\n" +
        "Connection: close\r\n" +
        "\r\n" +
        "request header fields too large\n",
    );
  });

  it("sends only the head to a HEAD request, with the body's length", () => {
    const bytes = errorResponse({ kind: "NoRoute", host: "h", path: "/" }, false, true, "p-3");
    assert.equal(
      decoder.decode(bytes),
      "HTTP/1.1 404 Not Found\r\n" +
        "Content-Type: text/plain; charset=utf-8\r\n" +
        "Content-Length: 18\r\n" +
        "X-Request-Id: p-3\r\n" +
        "\r\n",
    );
  });

  it("uses the status and a Content-Length matching the body for every kind", () => {
    for (const debug of [false, true]) {
      for (const [error, status] of CASES) {
        const text = decoder.decode(errorResponse(error, false, false, ID, debug));
        const [head, rest] = text.split("\r\n\r\n");
        const body = errorBody(error, ID, debug);
        assert.ok(head.startsWith(`HTTP/1.1 ${status} ${STATUS_TEXT[status]}\r\n`), error.kind);
        assert.ok(head.includes(`\r\nContent-Length: ${new TextEncoder().encode(body).length}`));
        assert.ok(head.includes(`\r\nX-Request-Id: ${ID}`), error.kind);
        assert.equal(rest, body);
      }
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
