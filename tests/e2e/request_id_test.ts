/**
 * Request ids and what errors say: every request gets an X-Request-Id (made
 * by the ingress, or a trusted proxy's), the backend gets it, the client gets
 * it back on every response, the ingress's own errors included. A 502/503/504
 * body says the kind of failure and the id, never a replica or a backend's
 * error; those go to one log line under the same id (and into the body with
 * --debug-errors). The access log carries the id.
 */

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  closedPort,
  type RawBackend,
  type RecordingBackend,
  startRawBackend,
  startRecordingBackend,
} from "../helpers/backends.ts";
import { stderrMatching } from "../helpers/gatehouse.ts";
import {
  HttpConnection,
  type HttpResponse,
  preview,
  rawExchange,
  request,
  tryParseResponse,
} from "../helpers/http.ts";
import { type Stack, startStack } from "../helpers/stack.ts";
import { register } from "../helpers/tower.ts";

/** An id the ingress makes: its per-process prefix, a counter. */
const MADE = /^[0-9a-f]{16}-\d+$/;

/** The X-Request-Id fields of a response (exactly one is expected). */
function requestIdOf(res: HttpResponse): string {
  const ids = res.rawHeaders.filter(([name]) => name.toLowerCase() === "x-request-id");
  assert.equal(ids.length, 1, `X-Request-Id fields: ${JSON.stringify(res.rawHeaders)}`);
  return ids[0][1];
}

/** Escape text for a RegExp. */
function re(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

describe("request ids and error answers", () => {
  let stack: Stack;
  let recording: RecordingBackend;
  const raws: RawBackend[] = [];
  const dead: number[] = [];
  let hung: RawBackend;
  let garbled: RawBackend;
  let ownId: RawBackend;

  before(async () => {
    stack = await startStack([
      "--access-log",
      "--upstream-timeout",
      "1s",
      "--route",
      "/rec:rec",
      "--route",
      "/none:none",
      "--route",
      "/dead:dead",
      "--route",
      "/hung:hung",
      "--route",
      "/garbled:garbled",
      "--route",
      "/own:own",
    ], []);
    recording = await startRecordingBackend();
    raws.push(recording);
    await register(stack.towerPort, "rec", recording.port);
    for (let i = 0; i < 2; i++) {
      dead.push(await closedPort());
      await register(stack.towerPort, "dead", dead[i]);
    }
    hung = await startRawBackend(() => {/* reads nothing, answers nothing */});
    garbled = await startRawBackend((s) => s.on("data", () => s.write("HELLO\r\n\r\n")));
    ownId = await startRawBackend((s) =>
      s.on(
        "data",
        () =>
          s.write("HTTP/1.1 200 OK\r\nX-Request-Id: backend-own\r\nContent-Length: 2\r\n\r\nok"),
      )
    );
    raws.push(hung, garbled, ownId);
    await register(stack.towerPort, "hung", hung.port);
    await register(stack.towerPort, "garbled", garbled.port);
    await register(stack.towerPort, "own", ownId.port);
  });

  after(async () => {
    await stack?.close();
    await Promise.all(raws.map((r) => r.close()));
  });

  it("makes an id per request, sends it to the backend and returns it", async () => {
    const conn = await HttpConnection.open(stack.port);
    const ids: string[] = [];
    try {
      for (const path of ["/rec/a", "/rec/b"]) {
        const before = recording.requests.length;
        conn.write(`GET ${path} HTTP/1.1\r\nHost: shop.example.com\r\n\r\n`);
        const res = await conn.readResponse();
        assert.equal(res.status, 200, res.text);
        const id = requestIdOf(res);
        assert.match(id, MADE);
        assert.equal(
          recording.requests[before].head,
          `GET ${path} HTTP/1.1\r\n` +
            "Host: shop.example.com\r\n" +
            "X-Forwarded-For: 127.0.0.1\r\n" +
            "X-Real-IP: 127.0.0.1\r\n" +
            "X-Forwarded-Proto: http\r\n" +
            "X-Forwarded-Host: shop.example.com\r\n" +
            "Via: 1.1 gatehouse\r\n" +
            `X-Request-Id: ${id}`,
        );
        ids.push(id);
      }
    } finally {
      conn.close();
    }
    assert.notEqual(ids[0], ids[1]);
    // Same process, same prefix; the counter moved on.
    assert.equal(ids[0].split("-")[0], ids[1].split("-")[0]);
  });

  it("replaces the id a client sent (it is no trusted proxy)", async () => {
    const before = recording.requests.length;
    const res = await request(stack.port, {
      path: "/rec/mine",
      headers: [["X-Request-Id", "mine"], ["x-request-id", "mine-too"]],
    });
    assert.equal(res.status, 200, res.text);
    const id = requestIdOf(res);
    assert.match(id, MADE);
    const head = recording.requests[before].head;
    assert.deepEqual(head.match(/^x-request-id:.*$/gim), [`X-Request-Id: ${id}`]);
  });

  it("returns the id the backend was sent, not one the backend set", async () => {
    const res = await request(stack.port, { path: "/own/x" });
    assert.equal(res.status, 200, res.text);
    assert.match(requestIdOf(res), MADE);
  });

  it("puts an id on the ingress's own answers: 404, 400, and in a 503's body", async () => {
    const notFound = await request(stack.port, { path: "/nowhere" });
    assert.equal(notFound.status, 404);
    assert.match(requestIdOf(notFound), MADE);

    const reply = await rawExchange(stack.port, "GET / HTTP/1.1\r\nHost: a.com, b.com\r\n\r\n");
    const bad = tryParseResponse(reply.data, true)?.response;
    assert.ok(bad, preview(reply.data));
    assert.equal(bad.status, 400);
    assert.match(requestIdOf(bad), MADE);

    const none = await request(stack.port, { path: "/none/x" });
    assert.equal(none.status, 503);
    const id = requestIdOf(none);
    assert.equal(
      none.text,
      `service unavailable: no live replica is registered (request id ${id})\n`,
    );
    await stderrMatching(
      stack.gh,
      new RegExp(`request ${re(id)} "GET /none/x": 503 no live replica for service "none"\n`),
    );
  });

  it("502: the body says every replica failed; the log line names each and its error", async () => {
    const res = await request(stack.port, { path: "/dead/x" }, { responseTimeoutMs: 30_000 });
    assert.equal(res.status, 502, res.text);
    const id = requestIdOf(res);
    assert.equal(res.text, `bad gateway: every replica tried failed (request id ${id})\n`);
    const [line] = await stderrMatching(
      stack.gh,
      new RegExp(`request ${re(id)} "GET /dead/x": 502 service "dead" failed after 2 attempts: .*`),
    );
    for (const port of dead) assert.match(line, new RegExp(`127\\.0\\.0\\.1:${port}: \\S`), line);
    // One line per failure.
    assert.equal(stack.gh.stderr.split(`request ${id} `).length, 2, stack.gh.stderr);
  });

  it("504: the body says the backend did not answer; the log line names the replica", async () => {
    const res = await request(stack.port, { path: "/hung/x" }, { responseTimeoutMs: 30_000 });
    assert.equal(res.status, 504, res.text);
    const id = requestIdOf(res);
    assert.equal(
      res.text,
      `gateway timeout: the backend did not answer in time (request id ${id})\n`,
    );
    await stderrMatching(
      stack.gh,
      new RegExp(
        `request ${re(id)} "GET /hung/x": 504 service "hung": 127\\.0\\.0\\.1:${hung.port} ` +
          "did not answer in time\n",
      ),
    );
  });

  it("502 for an invalid response: the body says so; the log line says from whom and why", async () => {
    const res = await request(stack.port, { path: "/garbled/x" });
    assert.equal(res.status, 502, res.text);
    const id = requestIdOf(res);
    assert.equal(
      res.text,
      `bad gateway: the backend sent an invalid response (request id ${id})\n`,
    );
    await stderrMatching(
      stack.gh,
      new RegExp(
        `request ${re(id)} "GET /garbled/x": 502 service "garbled": invalid response from ` +
          `127\\.0\\.0\\.1:${garbled.port}: \\S`,
      ),
    );
  });

  it("writes the service, the id and the config's generation in the access log line, proxied or answered by the ingress", async () => {
    const ok = await request(stack.port, { path: "/rec/logged" });
    const okId = requestIdOf(ok);
    await stderrMatching(
      stack.gh,
      new RegExp(
        `127\\.0\\.0\\.1 "GET /rec/logged" 200 rec 127\\.0\\.0\\.1:${recording.port} ${
          re(okId)
        } g1\n`,
      ),
    );
    const none = await request(stack.port, { path: "/none/logged" });
    await stderrMatching(
      stack.gh,
      new RegExp(`127\\.0\\.0\\.1 "GET /none/logged" 503 none - ${re(requestIdOf(none))} g1\n`),
    );
  });
});

describe("request ids from a trusted proxy, and --debug-errors", () => {
  let stack: Stack;
  let recording: RecordingBackend;
  let deadPort: number;

  before(async () => {
    stack = await startStack([
      "--trusted-proxies",
      "127.0.0.0/8",
      "--debug-errors",
      "--route",
      "/rec:rec",
      "--route",
      "/dead:dead",
    ], []);
    recording = await startRecordingBackend();
    await register(stack.towerPort, "rec", recording.port);
    deadPort = await closedPort();
    await register(stack.towerPort, "dead", deadPort);
  });

  after(async () => {
    await stack?.close();
    await recording?.close();
  });

  it("keeps a trusted proxy's id: to the backend, back to the client", async () => {
    const before = recording.requests.length;
    const res = await request(stack.port, {
      path: "/rec/x",
      headers: [["X-Request-Id", "edge-42"], ["X-Request-Id", "second"]],
    });
    assert.equal(res.status, 200, res.text);
    assert.equal(requestIdOf(res), "edge-42");
    assert.deepEqual(recording.requests[before].head.match(/^x-request-id:.*$/gim), [
      "X-Request-Id: edge-42",
    ]);
    const notFound = await request(stack.port, {
      path: "/nowhere",
      headers: [["X-Request-Id", "edge-43"]],
    });
    assert.equal(notFound.status, 404);
    assert.equal(requestIdOf(notFound), "edge-43");
  });

  it("makes one when the trusted proxy's is no usable id", async () => {
    const res = await request(stack.port, { path: "/rec/y", headers: [["X-Request-Id", "a b"]] });
    assert.match(requestIdOf(res), MADE);
    const long = await request(stack.port, {
      path: "/rec/z",
      headers: [["X-Request-Id", "x".repeat(129)]],
    });
    assert.match(requestIdOf(long), MADE);
  });

  it("tells the details in the body with --debug-errors", async () => {
    const res = await request(stack.port, {
      path: "/dead/x",
      headers: [["X-Request-Id", "edge-44"]],
    }, { responseTimeoutMs: 30_000 });
    assert.equal(res.status, 502, res.text);
    assert.equal(requestIdOf(res), "edge-44");
    const lines = res.text.split("\n");
    assert.equal(lines[0], "bad gateway: every replica tried failed (request id edge-44)");
    assert.match(
      lines[1],
      new RegExp(`^service "dead" failed after 1 attempt: 127\\.0\\.0\\.1:${deadPort}: \\S`),
    );
    assert.deepEqual(lines.slice(2), [""]);
    await stderrMatching(stack.gh, /request edge-44 "GET \/dead\/x": 502 service "dead"/);
  });
});
