/**
 * The bytes a request's record counts: the response bytes the relay hands
 * the client (heads, interim heads and a 101's included; of them, the
 * body's) and the request body bytes taken from the client, checked
 * against what a fake client socket was actually given.
 */

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { ResponseRelay, type ResponseSink } from "../../src/proxy/response.ts";
import { RequestBody } from "../../src/proxy/request_body.ts";
import { ClientInput } from "../../src/proxy/client_input.ts";
import { RequestId } from "../../src/proxy/request_id.ts";
import { KeptBuffer } from "../../src/proxy/kept_buffer.ts";
import type { HeadScan } from "../../src/http1/head.ts";
import type { ConnectionTokens } from "../../src/http1/connection_tokens.ts";
import type { Socket } from "../../src/runtime/types.ts";
import type { TransferTimers } from "../../src/proxy/transfer_timers.ts";

const enc = (s: string) => new TextEncoder().encode(s);

/** A socket that keeps a copy of what it is given. */
function recordingSocket(): Socket & { given: number; text: string } {
  const s = {
    given: 0,
    text: "",
    write(data: Uint8Array) {
      s.given += data.length;
      s.text += new TextDecoder().decode(data);
      return true;
    },
  };
  return s as unknown as Socket & { given: number; text: string };
}

/** A sink that relays to a recording client, as the exchange does (the 101's head too). */
class Sink implements ResponseSink {
  readonly client = recordingSocket();
  readonly replyHead = new KeptBuffer(4096, null);
  relay!: ResponseRelay;
  done = false;
  upgradedRest = "";
  mustCloseClient = () => false;
  interimSent() {}
  retryInstead = () => false;
  responseStarted() {}
  responseDone() {
    this.done = true;
  }
  responseInvalid(reason: string) {
    throw new Error(`invalid: ${reason}`);
  }
  responseBroken() {
    throw new Error("broken");
  }
  upgraded(scan: HeadScan, tokens: ConnectionTokens, rest: Uint8Array) {
    this.client.write(this.relay.upgradeHead(scan, tokens));
    this.upgradedRest = new TextDecoder().decode(rest);
  }
  pauseBackend() {}
}

function relayOf(method = "GET", minor = 1, upgrade: string | null = null) {
  const sink = new Sink();
  const relay = new ResponseRelay(sink, new RequestId());
  sink.relay = relay;
  relay.begin(method, minor, upgrade);
  return { sink, relay };
}

/** The body of what the client got (after its last head's empty line). */
function bodyOf(text: string): string {
  return text.slice(text.lastIndexOf("\r\n\r\n") + 4);
}

describe("bytes out: what the relay hands the client", () => {
  it("counts a head with its body joined, and the body alone", () => {
    const { sink, relay } = relayOf();
    relay.onData(enc("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"));
    assert.ok(sink.done);
    assert.equal(relay.bytesSent, sink.client.given);
    assert.equal(relay.bodyBytesSent, 5);
    assert.equal(bodyOf(sink.client.text), "hello");
  });

  it("counts a body that comes in pieces, and one too large to join its head", () => {
    const { sink, relay } = relayOf();
    relay.onData(enc("HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\n"));
    relay.onData(enc("abc"));
    relay.onData(enc("defg"));
    assert.equal(relay.bytesSent, sink.client.given);
    assert.equal(relay.bodyBytesSent, 7);

    const big = relayOf();
    const body = "x".repeat(40_000);
    big.relay.onData(enc(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n${body}`));
    assert.ok(big.sink.done);
    assert.equal(big.relay.bytesSent, big.sink.client.given);
    assert.equal(big.relay.bodyBytesSent, 40_000);
  });

  it("counts a chunked body as sent: framing passed through, or dechunked for HTTP/1.0", () => {
    const chunked = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
    const body = "5\r\nhello\r\n3\r\nabc\r\n0\r\n\r\n";
    const through = relayOf();
    through.relay.onData(enc(chunked));
    through.relay.onData(enc(body));
    assert.ok(through.sink.done);
    assert.equal(through.relay.bytesSent, through.sink.client.given);
    assert.equal(through.relay.bodyBytesSent, body.length);

    const old = relayOf("GET", 0);
    old.relay.onData(enc(chunked));
    old.relay.onData(enc(body));
    assert.equal(old.relay.bytesSent, old.sink.client.given);
    assert.equal(old.relay.bodyBytesSent, 8);
    assert.equal(bodyOf(old.sink.client.text), "helloabc");
  });

  it("counts interim heads as head bytes", () => {
    const { sink, relay } = relayOf("POST");
    relay.onData(enc("HTTP/1.1 100 Continue\r\n\r\n"));
    const interim = sink.client.given;
    assert.ok(interim > 0);
    assert.equal(relay.bytesSent, interim);
    relay.onData(enc("HTTP/1.1 204 No Content\r\n\r\n"));
    assert.equal(relay.bytesSent, sink.client.given);
    assert.equal(relay.bodyBytesSent, 0);
  });

  it("counts a 101's head, not what the tunnel carries after it", () => {
    const { sink, relay } = relayOf("GET", 1, "websocket");
    relay.onData(
      enc(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\nhi",
      ),
    );
    assert.equal(sink.upgradedRest, "hi");
    assert.ok(sink.client.given > 0);
    assert.equal(relay.bytesSent, sink.client.given);
    assert.equal(relay.bodyBytesSent, 0);
  });

  it("starts from 0 for each response", () => {
    const { sink, relay } = relayOf();
    relay.onData(enc("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"));
    const first = sink.client.given;
    relay.begin("HEAD", 1, null);
    assert.equal(relay.bytesSent, 0);
    relay.onData(enc("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n"));
    assert.equal(relay.bytesSent, sink.client.given - first);
    assert.equal(relay.bodyBytesSent, 0);
  });
});

describe("bytes in: the request body taken from the client", () => {
  const timers = {} as TransferTimers;
  const backend = recordingSocket();

  it("counts a sized body as it comes, and nothing of what follows it", () => {
    const input = new ClientInput();
    const body = new RequestBody(input, recordingSocket(), timers);
    body.begin({ kind: "length", length: 10 });
    input.append(enc("hello"));
    body.pump(input, backend);
    assert.equal(body.received, 5);
    input.append(enc("worldGET / HTTP/1.1\r\n"));
    body.pump(input, backend);
    assert.equal(body.received, 10);
    assert.ok(body.done);
  });

  it("counts a chunked body with its framing, as it came", () => {
    const input = new ClientInput();
    const body = new RequestBody(input, recordingSocket(), timers);
    body.begin({ kind: "chunked" });
    const wire = "5\r\nhello\r\n0\r\n\r\n";
    input.append(enc(wire));
    body.pump(input, backend);
    assert.ok(body.done);
    assert.equal(body.received, wire.length);
  });

  it("starts from 0 for each request, and for one refused before its body began", () => {
    const input = new ClientInput();
    const body = new RequestBody(input, recordingSocket(), timers);
    body.begin({ kind: "length", length: 3 });
    input.append(enc("abc"));
    body.pump(input, backend);
    assert.equal(body.received, 3);
    body.letGo();
    assert.equal(body.received, 0);
    body.begin({ kind: "none" });
    assert.equal(body.received, 0);
  });
});
