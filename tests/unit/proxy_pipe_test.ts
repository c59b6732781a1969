/**
 * The Upgrade tunnel (src/proxy/pipe.ts over src/proxy/socket_streams.ts), driven with
 * fake push-based sockets: bytes both ways, backpressure, one side ending
 * closes the other, and the idle timeout closes both.
 */

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { pipeBidirectional } from "../../src/proxy/pipe.ts";
import { socketStreams } from "../../src/proxy/socket_streams.ts";
import type { Socket, SocketHandler } from "../../src/runtime/types.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Wait until `cond` holds, polling; fails after `ms`. */
async function until(cond: () => boolean, what: string, ms = 1000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await sleep(2);
  }
}

/**
 * A socket as the runtime adapters behave: `close()` drops what is queued and
 * reports onClose at once; `end()` flushes, then closes. In `slow` mode the
 * "kernel" takes queued bytes a few milliseconds later instead of at once.
 */
class FakeSocket implements Socket {
  handler: SocketHandler | null = null;
  closed = false;
  ended = false;
  paused = false;
  pauses = 0;
  resumes = 0;
  /** What write() answers: false simulates a full send queue. */
  writeResult = true;
  /** Bytes the peer has received, in order. */
  sent: string[] = [];
  readonly log: string[] = [];
  readonly remoteAddress = "127.0.0.1";
  readonly remotePort = 1;
  readonly localAddress = "127.0.0.1";
  readonly localPort = 2;
  #queue: Uint8Array[] = [];
  #flushing = false;

  constructor(readonly slow = false) {}

  get bufferedAmount(): number {
    return this.#queue.reduce((n, c) => n + c.length, 0);
  }

  write(data: Uint8Array): boolean {
    this.log.push("write");
    if (this.closed || this.ended) return false;
    if (!this.slow) this.sent.push(decoder.decode(data));
    else {
      this.#queue.push(data);
      this.#scheduleFlush();
    }
    return this.writeResult;
  }
  #scheduleFlush(): void {
    if (this.#flushing) return;
    this.#flushing = true;
    setTimeout(() => {
      this.#flushing = false;
      if (this.closed) return;
      for (const c of this.#queue) this.sent.push(decoder.decode(c));
      this.#queue = [];
      if (this.ended) this.#destroy();
    }, 5);
  }
  end(): void {
    this.log.push("end");
    if (this.closed || this.ended) return;
    this.ended = true;
    if (this.#queue.length === 0) this.#destroy();
  }
  close(): void {
    this.log.push("close");
    this.#destroy();
  }
  #destroy(error?: Error): void {
    if (this.closed) return;
    this.closed = true;
    this.#queue = [];
    this.handler?.onClose(error);
  }
  pause(): void {
    this.paused = true;
    this.pauses++;
  }
  resume(): void {
    this.paused = false;
    this.resumes++;
  }
  setHandler(handler: SocketHandler): void {
    this.handler = handler;
  }

  // --- the peer's side ---
  receive(text: string): void {
    this.handler!.onData(encoder.encode(text));
  }
  peerEnd(): void {
    this.handler!.onEnd();
  }
  peerReset(): void {
    this.#destroy(new Error("connection reset"));
  }
  drain(): void {
    this.handler!.onDrain();
  }
}

function tunnel(idleMs: number, aInitial?: string, bInitial?: string) {
  const a = new FakeSocket();
  const b = new FakeSocket();
  const done = pipeBidirectional(
    socketStreams(a, aInitial === undefined ? undefined : encoder.encode(aInitial)),
    socketStreams(b, bInitial === undefined ? undefined : encoder.encode(bInitial)),
    idleMs,
  );
  return { a, b, done };
}

describe("pipeBidirectional: bytes both ways", () => {
  it("moves bytes from each side to the other, in order", async () => {
    const { a, b, done } = tunnel(5000);
    a.receive("GET /ws");
    a.receive(" frame-1");
    b.receive("pong-1");
    a.receive(" frame-2");
    b.receive("pong-2");
    await until(() => b.sent.length === 3 && a.sent.length === 2, "delivery");
    assert.equal(b.sent.join(""), "GET /ws frame-1 frame-2");
    assert.equal(a.sent.join(""), "pong-1pong-2");
    a.peerEnd();
    assert.equal(await done, "closed");
  });

  it("delivers bytes read before the hand-over first", async () => {
    const { a, b, done } = tunnel(5000, "early-a", "early-b");
    a.receive("-later-a");
    b.receive("-later-b");
    await until(() => b.sent.length === 2 && a.sent.length === 2, "delivery");
    assert.equal(b.sent.join(""), "early-a-later-a");
    assert.equal(a.sent.join(""), "early-b-later-b");
    b.peerEnd();
    assert.equal(await done, "closed");
  });

  it("moves binary data unchanged", async () => {
    const a = new FakeSocket(), b = new FakeSocket();
    const got: number[] = [];
    b.write = (data: Uint8Array) => {
      got.push(...data);
      return true;
    };
    const done = pipeBidirectional(socketStreams(a), socketStreams(b), 5000);
    const all = new Uint8Array(256).map((_, i) => i);
    a.handler!.onData(all.slice(0, 100));
    a.handler!.onData(all.slice(100));
    await until(() => got.length === 256, "binary delivery");
    assert.deepEqual(got, [...all]);
    a.peerEnd();
    assert.equal(await done, "closed");
  });
});

describe("pipeBidirectional: endings", () => {
  it("ends the tunnel when the client ends: the backend is ended and both are closed", async () => {
    const { a, b, done } = tunnel(5000);
    a.receive("bye");
    a.peerEnd();
    assert.equal(await done, "closed");
    assert.equal(b.sent.join(""), "bye");
    assert.ok(b.log.includes("end"), `backend log: ${b.log}`);
    assert.equal(a.closed, true);
    assert.equal(b.closed, true);
  });

  it("ends the tunnel when the backend ends: the client is ended and both are closed", async () => {
    const { a, b, done } = tunnel(5000);
    b.receive("last words");
    b.peerEnd();
    assert.equal(await done, "closed");
    assert.equal(a.sent.join(""), "last words");
    assert.ok(a.log.includes("end"), `client log: ${a.log}`);
    assert.equal(a.closed, true);
    assert.equal(b.closed, true);
  });

  it("closes the other side when one side is reset", async () => {
    const { a, b, done } = tunnel(5000);
    b.peerReset();
    assert.equal(await done, "closed");
    assert.equal(a.closed, true);
    assert.equal(b.closed, true);
  });

  it("closes both when the client is reset while the backend is sending", async () => {
    const { a, b, done } = tunnel(5000);
    b.receive("x");
    a.peerReset();
    b.receive("y");
    assert.equal(await done, "closed");
    assert.equal(a.closed, true);
    assert.equal(b.closed, true);
  });

  it("delivers what a side sent just before ending, even through a slow peer", async () => {
    // end() flushes what is queued; close() drops it. The last bytes before an
    // EOF must reach the other side, not be dropped by an early close().
    const a = new FakeSocket();
    const b = new FakeSocket(true);
    const done = pipeBidirectional(socketStreams(a), socketStreams(b), 5000);
    a.receive("request-1;");
    a.receive("request-2;");
    a.peerEnd();
    assert.equal(await done, "closed");
    await sleep(30);
    assert.equal(b.sent.join(""), "request-1;request-2;");
  });
});

describe("pipeBidirectional: idle timeout", () => {
  it("closes both sides when nothing moves for the idle time", async () => {
    const started = Date.now();
    const { a, b, done } = tunnel(50);
    assert.equal(await done, "idle");
    const took = Date.now() - started;
    assert.ok(took >= 45, `closed after ${took} ms`);
    assert.ok(took < 1000, `closed after ${took} ms`);
    assert.equal(a.closed, true);
    assert.equal(b.closed, true);
  });

  it("stays open while bytes keep moving, in either direction", async () => {
    // 80 ms idle with a byte every 20 ms: generous enough for a loaded machine.
    const started = Date.now();
    const { a, b, done } = tunnel(80);
    let ended = false;
    done.then(() => ended = true);
    for (let i = 0; i < 8; i++) {
      await sleep(20);
      assert.equal(ended, false, `closed during traffic after ${Date.now() - started} ms`);
      if (i % 2 === 0) a.receive(`a${i}`);
      else b.receive(`b${i}`);
    }
    const lastActivity = Date.now();
    assert.equal(await done, "idle");
    const quiet = Date.now() - lastActivity;
    assert.ok(quiet >= 70, `closed ${quiet} ms after the last byte`);
    assert.equal(b.sent.join(""), "a0a2a4a6");
    assert.equal(a.sent.join(""), "b1b3b5b7");
    assert.equal(a.closed && b.closed, true);
  });

  it("never times out with an idle time of 0", async () => {
    const { a, b, done } = tunnel(0);
    let ended = false;
    done.then(() => ended = true);
    await sleep(80);
    assert.equal(ended, false);
    assert.equal(a.closed || b.closed, false);
    a.peerEnd();
    assert.equal(await done, "closed");
  });
});

describe("pipeBidirectional: backpressure", () => {
  it("waits for drain before writing more to a full side", async () => {
    const { a, b, done } = tunnel(5000);
    b.writeResult = false;
    a.receive("1");
    a.receive("2");
    a.receive("3");
    await until(() => b.sent.length === 1, "first write");
    await sleep(10);
    assert.deepEqual(b.sent, ["1"]);
    b.writeResult = true;
    b.drain();
    await until(() => b.sent.length === 3, "writes after drain");
    assert.deepEqual(b.sent, ["1", "2", "3"]);
    a.peerEnd();
    assert.equal(await done, "closed");
  });

  it("pauses a fast sender while the other side is full, and resumes it after drain", async () => {
    const { a, b, done } = tunnel(5000);
    b.writeResult = false;
    for (let i = 0; i < 12; i++) a.receive(`${i},`);
    await sleep(10);
    assert.ok(a.pauses > 0, "the sender was paused");
    assert.equal(a.paused, true);
    b.writeResult = true;
    while (b.sent.length < 12) {
      b.drain();
      await sleep(1);
    }
    assert.equal(b.sent.join(""), "0,1,2,3,4,5,6,7,8,9,10,11,");
    assert.equal(a.paused, false, "the sender was resumed");
    a.peerEnd();
    assert.equal(await done, "closed");
  });
});

describe("socketStreams", () => {
  it("reads initial bytes, then data, then ends on EOF", async () => {
    const s = new FakeSocket();
    const { readable } = socketStreams(s, encoder.encode("init|"));
    s.receive("one|");
    s.receive("two");
    s.peerEnd();
    let text = "";
    for await (const chunk of readable) text += decoder.decode(chunk);
    assert.equal(text, "init|one|two");
  });

  it("skips empty initial bytes", async () => {
    const s = new FakeSocket();
    const { readable } = socketStreams(s, new Uint8Array(0));
    s.receive("x");
    s.peerEnd();
    const chunks: string[] = [];
    for await (const chunk of readable) chunks.push(decoder.decode(chunk));
    assert.deepEqual(chunks, ["x"]);
  });

  it("errors the readable when the socket fails", async () => {
    const s = new FakeSocket();
    const { readable } = socketStreams(s);
    s.peerReset();
    await assert.rejects(readable.getReader().read(), { message: "connection reset" });
  });

  it("ignores data after EOF", async () => {
    const s = new FakeSocket();
    const { readable } = socketStreams(s);
    s.peerEnd();
    s.receive("late");
    const reader = readable.getReader();
    assert.deepEqual(await reader.read(), { done: true, value: undefined });
  });

  it("writes to the socket, ends it on close and closes it on abort", async () => {
    const s = new FakeSocket();
    const { writable } = socketStreams(s);
    const w = writable.getWriter();
    await w.write(encoder.encode("abc"));
    assert.deepEqual(s.sent, ["abc"]);
    await w.close();
    assert.deepEqual(s.log, ["write", "end"]);

    const t = new FakeSocket();
    const w2 = socketStreams(t).writable.getWriter();
    await w2.abort(new Error("stop"));
    assert.deepEqual(t.log, ["close"]);
  });

  it("refuses writes once the socket is gone", async () => {
    const s = new FakeSocket();
    const w = socketStreams(s).writable.getWriter();
    s.peerReset();
    await assert.rejects(w.write(encoder.encode("x")), { message: "connection reset" });
  });

  it("releases a write waiting for drain when the socket closes", async () => {
    const s = new FakeSocket();
    s.writeResult = false;
    const w = socketStreams(s).writable.getWriter();
    const pending = w.write(encoder.encode("x"));
    let settled = false;
    pending.then(() => settled = true, () => settled = true);
    await sleep(5);
    assert.equal(settled, false, "the write waits for drain");
    s.peerReset();
    await sleep(5);
    assert.equal(settled, true, "the write is released");
  });

  it("closes the socket when the readable is cancelled", async () => {
    const s = new FakeSocket();
    const { readable } = socketStreams(s);
    await readable.cancel();
    assert.equal(s.closed, true);
    assert.deepEqual(s.log, ["close"]);
  });

  it("pauses the socket when four chunks wait unread and resumes when read", async () => {
    const s = new FakeSocket();
    const { readable } = socketStreams(s);
    s.receive("1");
    s.receive("2");
    s.receive("3");
    assert.equal(s.paused, false);
    s.receive("4");
    assert.equal(s.paused, true);
    const reader = readable.getReader();
    assert.equal(decoder.decode((await reader.read()).value), "1");
    await sleep(1);
    assert.equal(s.paused, false);
    reader.releaseLock();
    await readable.cancel();
  });
});
