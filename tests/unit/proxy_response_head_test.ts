/**
 * The head a client receives (src/proxy/response_head.ts): the status line
 * as HTTP/1.1, hop-by-hop fields removed, Connection as the ingress will
 * treat the connection, never both framings, and the request's id.
 */

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  downstreamResponseHead,
  parseResponseHead,
  responseFraming,
  type ResponseHead,
} from "../helpers/http1_text.ts";
import { RequestId, RequestIdSource } from "../../src/proxy/request_id.ts";

const encoder = new TextEncoder();

function response(statusLine: string, lines: string[]): ResponseHead {
  const b = encoder.encode(`${statusLine}\r\n${lines.map((l) => l + "\r\n").join("")}\r\n`);
  const r = parseResponseHead(b, 0, b.length, { maxSize: 65536 });
  if (r.kind !== "done") assert.fail(`test head did not parse: ${JSON.stringify(r)}`);
  return r.head;
}

/** The field lines of a head (status line and final CRLF removed). */
function lines(head: string): string[] {
  assert.ok(head.endsWith("\r\n\r\n"), "a head ends with an empty line");
  return head.slice(0, -4).split("\r\n").slice(1);
}

/** A request id, as the ingress makes them. */
const ID = new RequestId();
new RequestIdSource("p").next(ID);

describe("downstreamResponseHead", () => {
  it("rebuilds the status line as HTTP/1.1 and keeps end-to-end fields verbatim", () => {
    const res = response("HTTP/1.0 200 OK", ["Content-Type: text/plain", "content-length: 2"]);
    assert.equal(
      downstreamResponseHead(res, null, null),
      "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\ncontent-length: 2\r\n\r\n",
    );
  });

  it("keeps an empty reason phrase", () => {
    assert.equal(
      downstreamResponseHead(response("HTTP/1.1 204", []), null, null),
      "HTTP/1.1 204 \r\n\r\n",
    );
  });

  it("removes hop-by-hop fields and fields named in Connection", () => {
    const res = response("HTTP/1.1 200 OK", [
      "Connection: keep-alive, X-Backend-Only",
      "Keep-Alive: timeout=5",
      "X-Backend-Only: secret",
      "Proxy-Authenticate: Basic",
      "Trailer: X-Sum",
      "Upgrade: h2c",
      "Content-Length: 0",
    ]);
    assert.equal(
      downstreamResponseHead(res, null, null),
      "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
    );
  });

  it("sets Connection to what the ingress will do", () => {
    const res = response("HTTP/1.1 200 OK", ["Connection: close", "Content-Length: 0"]);
    assert.equal(
      downstreamResponseHead(res, "keep-alive", null),
      "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n",
    );
    assert.equal(
      downstreamResponseHead(res, "close", null),
      "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    );
  });

  it("announces the upgrade for a 101", () => {
    const res = response("HTTP/1.1 101 Switching Protocols", [
      "Connection: Upgrade",
      "Upgrade: websocket",
      "Sec-WebSocket-Accept: abc=",
    ]);
    assert.equal(
      downstreamResponseHead(res, "upgrade", "websocket"),
      "HTTP/1.1 101 Switching Protocols\r\nSec-WebSocket-Accept: abc=\r\n" +
        "Connection: upgrade\r\nUpgrade: websocket\r\n\r\n",
    );
  });

  it("drops Transfer-Encoding only when asked (de-chunking for HTTP/1.0)", () => {
    const res = response("HTTP/1.1 200 OK", ["Transfer-Encoding: chunked", "X: 1"]);
    assert.equal(
      downstreamResponseHead(res, null, null),
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX: 1\r\n\r\n",
    );
    assert.equal(
      downstreamResponseHead(res, "close", null, true),
      "HTTP/1.1 200 OK\r\nX: 1\r\nConnection: close\r\n\r\n",
    );
  });

  it("never lets Connection strip the framing fields of a response", () => {
    const res = response("HTTP/1.1 200 OK", ["Connection: Content-Length", "Content-Length: 5"]);
    const framing = responseFraming("GET", res);
    assert.deepEqual(framing, { kind: "length", length: 5 });
    // The ingress frames the body by Content-Length, so the client must see it.
    assert.ok(
      lines(downstreamResponseHead(res, null, null)).includes("Content-Length: 5"),
      "Content-Length lost",
    );
  });

  it("never sends a client both Transfer-Encoding and Content-Length", () => {
    // RFC 9112 6.3: an intermediary forwarding such a message must first remove Content-Length.
    const res = response("HTTP/1.1 200 OK", ["Content-Length: 5", "Transfer-Encoding: chunked"]);
    const framing = responseFraming("GET", res);
    if (framing.kind === "error") return; // refusing the response is fine too
    const got = lines(downstreamResponseHead(res, null, null));
    const hasCl = got.some((l) => /^content-length:/i.test(l));
    const hasTe = got.some((l) => /^transfer-encoding:/i.test(l));
    assert.equal(hasCl && hasTe, false, JSON.stringify(got));
  });
});

describe("downstreamResponseHead: X-Request-Id", () => {
  it("sets the response's X-Request-Id to the request's, in place of the backend's", () => {
    const res = response("HTTP/1.1 200 OK", ["X-Request-Id: backend-7", "Content-Length: 0"]);
    assert.equal(
      downstreamResponseHead(res, "close", null, false, ID),
      "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX-Request-Id: p-1\r\nConnection: close\r\n\r\n",
    );
    const upgrade = response("HTTP/1.1 101 Switching Protocols", ["Upgrade: websocket"]);
    assert.equal(
      downstreamResponseHead(upgrade, "upgrade", "websocket", false, ID),
      "HTTP/1.1 101 Switching Protocols\r\nX-Request-Id: p-1\r\n" +
        "Connection: upgrade\r\nUpgrade: websocket\r\n\r\n",
    );
  });

  it("passes the backend's fields when given no id", () => {
    const res = response("HTTP/1.1 200 OK", ["X-Request-Id: backend-7", "Content-Length: 0"]);
    assert.deepEqual(lines(downstreamResponseHead(res, null, null)), [
      "X-Request-Id: backend-7",
      "Content-Length: 0",
    ]);
  });
});
