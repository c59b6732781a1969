/**
 * Hedging inside the upstream (src/proxy/failover.ts with src/proxy/hedge.ts)
 * on fake sockets and a runtime whose connects the test completes: the first
 * try's connect failing while a hedge is out leaves the request to the
 * hedge (no third try, no 502), and a hedge whose pooled connection turns
 * out closed goes again on a fresh one instead of failing its replica.
 * Runs under `deno test` and `bun test`.
 */

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Upstream, type UpstreamListener } from "../../src/proxy/failover.ts";
import type { ProxyContext } from "../../src/proxy/context.ts";
import { ReplicaBook } from "../../src/replicas/book.ts";
import { DEFAULT_POLICY } from "../../src/replicas/policy.ts";
import type { Socket, SocketHandler } from "../../src/runtime/types.ts";

const text = new TextEncoder();

class FakeSocket implements Socket {
  handler: SocketHandler | null = null;
  closed = false;
  readonly written: string[] = [];
  remoteAddress = "127.0.0.1";
  remotePort = 1;
  localAddress = "127.0.0.1";
  localPort = 2;
  bufferedAmount = 0;
  constructor(readonly name: string) {}
  write(d: Uint8Array): boolean {
    this.written.push(new TextDecoder().decode(d));
    return true;
  }
  end(): void {
    this.close();
  }
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.handler?.onClose();
  }
  pause(): void {}
  resume(): void {}
  setHandler(h: SocketHandler): void {
    this.handler = h;
  }
}

/** Let promise callbacks run. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 0));

/** An upstream over a fake world: connects wait for the test; `pooled` are idle connections. */
function world(pooled: Map<string, FakeSocket> = new Map()) {
  const connects = new Map<
    string,
    { resolve: (s: Socket) => void; reject: (e: Error) => void; handler: SocketHandler }
  >();
  const book = new ReplicaBook(DEFAULT_POLICY, {
    clock: { now: 1 },
    precise: () => 0,
    log: () => {},
    dropIdle: () => {},
    probe: () => Promise.resolve(true),
  });
  const ctx = {
    runtime: {
      connect: (host: string, _port: number, handler: SocketHandler) =>
        new Promise<Socket>((resolve, reject) => connects.set(host, { resolve, reject, handler })),
    },
    pool: { acquire: (address: string) => pooled.get(address), release: () => {} },
    replicas: book,
    clock: { now: 1 },
    upstreamConnect: { timeoutMs: 3000 },
    stallLimits: { upstreamTimeoutMs: 60_000 },
    log: () => {},
  } as unknown as ProxyContext;
  const events: string[] = [];
  const listener: UpstreamListener = {
    get link() {
      return up.link;
    },
    waiting: true,
    registryFailed() {},
    noReplicas() {},
    replicaStalled() {},
    upstreamConnected() {
      up.socket!.write(text.encode("GET /"));
    },
    hedgeable: () => true,
    resend: (s) => void s.write(text.encode("GET /")),
    hedgeWon: () => void events.push("hedge won"),
    upstreamFailed: () => void events.push("failed"),
    onBackendData(c) {
      events.push(`data ${new TextDecoder().decode(c)} from ${up.replica!.host}`);
      up.heard();
    },
    onBackendDrain() {},
    onBackendEnd() {},
    onBackendGone: () => void events.push("gone"),
  };
  // Declared after the listener, whose methods (called later) use it.
  const up: Upstream = new Upstream(listener, ctx);
  /** Complete the connect to `host` with a new fake socket. */
  const accept = async (host: string) => {
    const c = connects.get(host)!;
    const socket = new FakeSocket(host);
    socket.setHandler(c.handler);
    c.resolve(socket);
    await settle();
    return socket;
  };
  return { up, book, events, connects, accept };
}

describe("hedging in the upstream", () => {
  it("leaves the request to the hedge when the first try's connect fails: no third try", async () => {
    const { up, book, events, connects, accept } = world();
    up.reset();
    up.pick("svc", 3);
    up.connect([{ host: "A", port: 1 }, { host: "B", port: 1 }, { host: "C", port: 1 }], 3);
    // A's connect hangs; the sweep finds it slow and hedges to B, which connects.
    up.slowCheck(1000, 50, 500);
    const b = await accept("B");
    connects.get("A")!.reject(new Error("connect timed out"));
    await settle();
    b.handler!.onData(text.encode("HTTP/1.1 200 OK\r\n"));
    await new Promise((resolve) => setTimeout(resolve, 60)); // longer than any retry delay
    b.handler!.onData(text.encode("rest"));
    assert.equal(connects.has("C"), false, "a third replica was tried");
    assert.deepEqual(events, ["hedge won", "data HTTP/1.1 200 OK\r\n from B", "data rest from B"]);
    assert.equal(b.closed, false);
    up.finish(false);
    up.end();
    const svc = book.service("svc");
    for (const s of svc.states()) assert.equal(s.active, 0, s.address);
    assert.deepEqual([svc.requests, svc.retries], [0, 0]);
  });

  it("with two replicas, a failed first connect does not fail the request the hedge carries", async () => {
    const { up, events, connects, accept } = world();
    up.reset();
    up.pick("svc", 3);
    up.connect([{ host: "A", port: 1 }, { host: "B", port: 1 }], 3);
    up.slowCheck(1000, 50, 500);
    const b = await accept("B");
    connects.get("A")!.reject(new Error("connect timed out"));
    await settle();
    assert.deepEqual(events, []);
    b.handler!.onData(text.encode("HTTP/1.1 200 OK\r\n"));
    assert.deepEqual(events, ["hedge won", "data HTTP/1.1 200 OK\r\n from B"]);
  });

  it("goes again on a fresh connection when the hedge's pooled one was closed", async () => {
    const stale = new FakeSocket("B-pooled");
    const { up, book, events, connects, accept } = world(new Map([["B:1", stale]]));
    up.reset();
    up.pick("svc", 3);
    up.connect([{ host: "A", port: 1 }, { host: "B", port: 1 }], 3);
    up.slowCheck(1000, 50, 500);
    assert.deepEqual(stale.written, ["GET /"]);
    stale.handler!.onEnd(); // the backend had closed it while idle
    const fresh = await accept("B");
    assert.deepEqual(fresh.written, ["GET /"]);
    assert.equal(book.service("svc").stateOf({ host: "B", port: 1 }).gatewayFailures, 0);
    fresh.handler!.onData(text.encode("HTTP/1.1 200 OK\r\n"));
    assert.deepEqual(events, ["hedge won", "data HTTP/1.1 200 OK\r\n from B"]);
    assert.equal(connects.size, 2);
  });
});
