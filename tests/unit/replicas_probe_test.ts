/**
 * Stall detection's probe (src/replicas/probe.ts) against real sockets on
 * 127.0.0.1, through the runtime this test runs on (src/runtime/current.ts):
 * true when the server answers anything, false when it accepts and stays
 * silent (after the timeout), refuses, or closes at once; the request it
 * sends is `OPTIONS *`; the probe's connection is closed once it has its
 * answer. Runs under `deno test` and `bun test`.
 */

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { probeReplica } from "../../src/replicas/probe.ts";
import { currentRuntime } from "../../src/runtime/current.ts";
import type { Listener, Socket } from "../../src/runtime/types.ts";

const runtime = currentRuntime();
const HOST = "127.0.0.1";
/** The probe's timeout where the server is silent: short, so the test is quick. */
const SHORT_MS = 300;
/** The probe's timeout where the answer should come sooner: long, so it tells the two apart. */
const LONG_MS = 5_000;

/** One connection the test server accepted: what it received, and whether it is gone. */
interface Accepted {
  socket: Socket;
  received: string;
  /** The peer ended or closed the connection. */
  ended: Promise<void>;
}

/** What the server does with a connection. */
type Behavior = "answer-byte" | "answer-http" | "silent" | "close";

/** A TCP server on 127.0.0.1 behaving as told with each connection. */
async function server(behavior: Behavior) {
  const accepted: Accepted[] = [];
  const decoder = new TextDecoder();
  let connected: () => void = () => {};
  const firstConnection = new Promise<void>((resolve) => connected = resolve);
  const listener: Listener = await runtime.listen({ hostname: HOST, port: 0 }, (socket) => {
    let endedNow: () => void = () => {};
    const conn: Accepted = {
      socket,
      received: "",
      ended: new Promise<void>((resolve) => endedNow = resolve),
    };
    accepted.push(conn);
    connected();
    if (behavior === "close") queueMicrotask(() => socket.close());
    let answered = false;
    return {
      onData(chunk) {
        conn.received += decoder.decode(chunk, { stream: true });
        if (answered) return;
        if (behavior === "answer-byte") {
          answered = true;
          socket.write(new TextEncoder().encode("x"));
        } else if (behavior === "answer-http" && conn.received.includes("\r\n\r\n")) {
          answered = true;
          socket.write(
            new TextEncoder().encode(
              "HTTP/1.1 204 No Content\r\nAllow: GET, OPTIONS\r\nConnection: close\r\n\r\n",
            ),
          );
        }
      },
      onDrain() {},
      onEnd: () => endedNow(),
      onClose: () => endedNow(),
    };
  });
  return {
    port: listener.port,
    accepted,
    firstConnection,
    close() {
      listener.close();
      for (const a of accepted) a.socket.close();
    },
  };
}

/** `promise`, or a rejection when it has not settled within `ms`. */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

/** A port nothing listens on: one just listened on, then closed. */
async function closedPort(): Promise<number> {
  const listener = await runtime.listen({ hostname: HOST, port: 0 }, () => ({
    onData() {},
    onDrain() {},
    onEnd() {},
    onClose() {},
  }));
  const port = listener.port;
  listener.close();
  return port;
}

describe("probeReplica", () => {
  it("is true when the server answers a single byte", async () => {
    const s = await server("answer-byte");
    try {
      const alive = await within(probeReplica(runtime, HOST, s.port, LONG_MS), 3_000, "probe");
      assert.equal(alive, true);
    } finally {
      s.close();
    }
  });

  it("is true when the server answers HTTP, and closes its connection then", async () => {
    const s = await server("answer-http");
    try {
      const alive = await within(probeReplica(runtime, HOST, s.port, LONG_MS), 3_000, "probe");
      assert.equal(alive, true);
      assert.equal(s.accepted.length, 1);
      await within(s.accepted[0].ended, 2_000, "the probe's connection closing");
    } finally {
      s.close();
    }
  });

  it("sends OPTIONS * on one new connection, a complete request head", async () => {
    const s = await server("answer-http");
    try {
      await within(probeReplica(runtime, HOST, s.port, LONG_MS), 3_000, "probe");
      assert.equal(s.accepted.length, 1);
      const request = s.accepted[0].received;
      assert.ok(request.startsWith("OPTIONS * HTTP/1.1\r\n"), `sent ${JSON.stringify(request)}`);
      assert.ok(request.endsWith("\r\n\r\n"), `sent ${JSON.stringify(request)}`);
      assert.match(request, new RegExp(`\r\nHost: 127\\.0\\.0\\.1:${s.port}\r\n`, "i"));
    } finally {
      s.close();
    }
  });

  it("is false when the server accepts and never answers, once the timeout passes", async () => {
    const s = await server("silent");
    try {
      const alive = await within(probeReplica(runtime, HOST, s.port, SHORT_MS), 5_000, "probe");
      assert.equal(alive, false);
      assert.equal(s.accepted.length, 1, "it did connect");
      assert.ok(s.accepted[0].received.startsWith("OPTIONS * "), "and asked");
      // It does not leave its connection open behind it.
      await within(s.accepted[0].ended, 2_000, "the probe's connection closing");
    } finally {
      s.close();
    }
  });

  it("is false, before its timeout, when nothing listens on the port", async () => {
    const port = await closedPort();
    const alive = await within(probeReplica(runtime, HOST, port, LONG_MS), 3_000, "probe");
    assert.equal(alive, false);
  });

  it("is false, before its timeout, when the server accepts and closes at once", async () => {
    const s = await server("close");
    try {
      const alive = await within(probeReplica(runtime, HOST, s.port, LONG_MS), 3_000, "probe");
      assert.equal(alive, false);
      await within(s.firstConnection, 1_000, "the server accepting");
    } finally {
      s.close();
    }
  });

  it("answers each of several probes at once on its own", async () => {
    const answering = await server("answer-byte");
    const silent = await server("silent");
    const gone = await closedPort();
    try {
      const results = await within(
        Promise.all([
          probeReplica(runtime, HOST, answering.port, SHORT_MS),
          probeReplica(runtime, HOST, silent.port, SHORT_MS),
          probeReplica(runtime, HOST, gone, SHORT_MS),
          probeReplica(runtime, HOST, answering.port, SHORT_MS),
        ]),
        5_000,
        "probes",
      );
      assert.deepEqual(results, [true, false, false, true]);
      assert.equal(answering.accepted.length, 2, "a new connection for each probe");
    } finally {
      answering.close();
      silent.close();
    }
  });
});
