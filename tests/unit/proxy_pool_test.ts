/**
 * The idle backend connection pool (src/proxy/pool.ts), driven with fake sockets:
 * last-in first-out reuse, per-replica bounds, idle expiry, and dropping
 * sockets that speak, end or close while idle.
 */

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { ConnectionPool } from "../../src/proxy/pool.ts";
import { replicaAddress } from "../../src/registry/types.ts";
import type { Socket, SocketHandler } from "../../src/runtime/types.ts";

/**
 * A socket that records what is done to it; close() reports onClose at once, like the adapters.
 * While paused it reads nothing, so it hears neither data nor the peer's end, as a real one.
 */
class FakeSocket implements Socket {
  handler: SocketHandler | null = null;
  closed = false;
  paused = false;
  /** The peer ended while the socket was paused: heard on resume. */
  #endPending = false;
  closeCalls = 0;
  readonly remotePort = 8080;
  readonly localAddress = "127.0.0.1";
  readonly localPort = 40000;
  readonly bufferedAmount = 0;
  constructor(readonly remoteAddress = "127.0.0.1", readonly name = "s") {}
  write(): boolean {
    return true;
  }
  end(): void {
    this.close();
  }
  close(): void {
    this.closeCalls++;
    if (this.closed) return;
    this.closed = true;
    this.handler?.onClose();
  }
  pause(): void {
    this.paused = true;
  }
  resume(): void {
    this.paused = false;
    if (this.#endPending) {
      this.#endPending = false;
      this.handler?.onEnd();
    }
  }
  setHandler(handler: SocketHandler): void {
    this.handler = handler;
  }
  /** The peer ended its side (FIN): heard now, or on resume when paused. */
  peerEnded(): void {
    if (this.paused) this.#endPending = true;
    else this.handler?.onEnd();
  }
  /** The peer closed the connection. */
  peerClosed(): void {
    if (this.closed) return;
    this.closed = true;
    this.handler?.onClose();
  }
}

const KEY = "127.0.0.1:8080";
const OPTS = { maxIdle: 4, idleTimeoutMs: 1000 };

describe("replicaAddress (the pool's key)", () => {
  it("joins host and port, IPv6 in brackets", () => {
    assert.equal(replicaAddress({ host: "10.0.0.1", port: 8080 }), "10.0.0.1:8080");
    assert.equal(replicaAddress({ host: "::1", port: 80 }), "[::1]:80");
  });
});

describe("ConnectionPool: drop", () => {
  it("closes every idle connection to one replica and none to another", () => {
    const pool = new ConnectionPool(OPTS);
    const a1 = new FakeSocket(), a2 = new FakeSocket(), b = new FakeSocket();
    pool.release(KEY, a1, 0);
    pool.release(KEY, a2, 0);
    pool.release("10.0.0.2:80", b, 0);
    pool.drop(KEY);
    assert.equal(a1.closed, true);
    assert.equal(a2.closed, true);
    assert.equal(b.closed, false);
    assert.equal(pool.size, 1);
    assert.equal(pool.acquire(KEY, 0), undefined);
    assert.equal(pool.acquire("10.0.0.2:80", 0), b);
  });
});

describe("ConnectionPool: reuse", () => {
  it("gives nothing for a replica with no idle connection", () => {
    const pool = new ConnectionPool(OPTS);
    assert.equal(pool.acquire(KEY, 0), undefined);
    assert.equal(pool.size, 0);
  });

  it("gives back a released connection, once", () => {
    const pool = new ConnectionPool(OPTS);
    const s = new FakeSocket();
    pool.release(KEY, s, 0);
    assert.equal(pool.size, 1);
    assert.equal(pool.acquire(KEY, 10), s);
    assert.equal(pool.size, 0);
    assert.equal(pool.acquire(KEY, 10), undefined);
    assert.equal(s.closeCalls, 0);
  });

  it("reuses the most recently released connection first", () => {
    const pool = new ConnectionPool(OPTS);
    const [a, b, c] = [new FakeSocket(), new FakeSocket(), new FakeSocket()];
    pool.release(KEY, a, 0);
    pool.release(KEY, b, 1);
    pool.release(KEY, c, 2);
    assert.equal(pool.acquire(KEY, 3), c);
    assert.equal(pool.acquire(KEY, 3), b);
    assert.equal(pool.acquire(KEY, 3), a);
  });

  it("pools a connection again after it was taken, as often as it comes back", () => {
    const pool = new ConnectionPool(OPTS);
    const s = new FakeSocket();
    for (let i = 0; i < 3; i++) {
      pool.release(KEY, s, i);
      assert.equal(pool.size, 1);
      assert.equal(pool.acquire(KEY, i), s);
      s.setHandler({ onData() {}, onDrain() {}, onEnd() {}, onClose() {} });
    }
    pool.release(KEY, s, 3);
    // Idle again: its events are the pool's, and a close drops it.
    s.peerClosed();
    assert.equal(pool.size, 0);
    assert.equal(pool.acquire(KEY, 4), undefined);
  });

  it("keeps replicas apart", () => {
    const pool = new ConnectionPool(OPTS);
    const a = new FakeSocket("10.0.0.1");
    const b = new FakeSocket("10.0.0.2");
    pool.release("10.0.0.1:80", a, 0);
    pool.release("10.0.0.2:80", b, 0);
    assert.equal(pool.acquire("10.0.0.2:80", 1), b);
    assert.equal(pool.acquire("10.0.0.2:80", 1), undefined);
    assert.equal(pool.acquire("10.0.0.1:80", 1), a);
  });

  it("takes over the socket's events while it is idle", () => {
    const pool = new ConnectionPool(OPTS);
    const s = new FakeSocket();
    const owner: SocketHandler = { onData() {}, onDrain() {}, onEnd() {}, onClose() {} };
    s.setHandler(owner);
    pool.release(KEY, s, 0);
    assert.notEqual(s.handler, owner);
    assert.notEqual(s.handler, null);
  });

  it("ignores a socket that is already closed", () => {
    const pool = new ConnectionPool(OPTS);
    const s = new FakeSocket();
    s.closed = true;
    pool.release(KEY, s, 0);
    assert.equal(pool.size, 0);
    assert.equal(pool.acquire(KEY, 0), undefined);
  });
});

describe("ConnectionPool: bounds", () => {
  it("keeps at most maxIdle connections per replica and closes the rest", () => {
    const pool = new ConnectionPool({ maxIdle: 2, idleTimeoutMs: 1000 });
    const socks = [new FakeSocket(), new FakeSocket(), new FakeSocket()];
    for (const s of socks) pool.release(KEY, s, 0);
    assert.equal(pool.size, 2);
    assert.equal(socks[0].closed, false);
    assert.equal(socks[1].closed, false);
    assert.equal(socks[2].closed, true);
    // Another replica has its own bound.
    pool.release("other:1", new FakeSocket(), 0);
    assert.equal(pool.size, 3);
  });

  it("keeps nothing with maxIdle 0", () => {
    const pool = new ConnectionPool({ maxIdle: 0, idleTimeoutMs: 1000 });
    const s = new FakeSocket();
    pool.release(KEY, s, 0);
    assert.equal(s.closed, true);
    assert.equal(pool.size, 0);
    assert.equal(pool.acquire(KEY, 0), undefined);
  });

  it("makes room again once a connection is taken", () => {
    const pool = new ConnectionPool({ maxIdle: 1, idleTimeoutMs: 1000 });
    const a = new FakeSocket(), b = new FakeSocket();
    pool.release(KEY, a, 0);
    assert.equal(pool.acquire(KEY, 0), a);
    pool.release(KEY, b, 0);
    assert.equal(b.closed, false);
    assert.equal(pool.size, 1);
  });
});

describe("ConnectionPool: expiry", () => {
  it("hands out a connection idle for exactly the timeout", () => {
    const pool = new ConnectionPool(OPTS);
    const s = new FakeSocket();
    pool.release(KEY, s, 5000);
    assert.equal(pool.acquire(KEY, 6000), s);
  });

  it("closes a connection idle for longer than the timeout instead of handing it out", () => {
    const pool = new ConnectionPool(OPTS);
    const old = new FakeSocket();
    pool.release(KEY, old, 5000);
    assert.equal(pool.acquire(KEY, 6001), undefined);
    assert.equal(old.closed, true);
    assert.equal(pool.size, 0);
  });

  it("hands out the fresh newest connection and closes the expired older one", () => {
    const pool = new ConnectionPool(OPTS);
    const older = new FakeSocket(), newer = new FakeSocket();
    pool.release(KEY, older, 0);
    pool.release(KEY, newer, 900);
    // At 1500 the newer one (idle 600 ms) is fresh and comes first.
    assert.equal(pool.acquire(KEY, 1500), newer);
    // The older one (idle 1500 ms) is expired: closed, not returned.
    assert.equal(pool.acquire(KEY, 1500), undefined);
    assert.equal(older.closed, true);
    assert.equal(pool.size, 0);
  });

  it("skips connections that closed while idle", () => {
    const pool = new ConnectionPool(OPTS);
    const a = new FakeSocket(), b = new FakeSocket();
    pool.release(KEY, a, 0);
    pool.release(KEY, b, 0);
    b.closed = true; // closed without an event reaching the pool yet
    assert.equal(pool.acquire(KEY, 1), a);
    assert.equal(pool.size, 0);
  });

  it("sweeps out expired connections only", () => {
    const pool = new ConnectionPool(OPTS);
    const a = new FakeSocket(), b = new FakeSocket(), c = new FakeSocket();
    pool.release(KEY, a, 0);
    pool.release(KEY, b, 500);
    pool.release("other:1", c, 100);
    pool.sweep(1200);
    assert.equal(a.closed, true);
    assert.equal(c.closed, true);
    assert.equal(b.closed, false);
    assert.equal(pool.size, 1);
    assert.equal(pool.acquire(KEY, 1200), b);
    assert.equal(pool.acquire("other:1", 1200), undefined);
  });

  it("sweeps nothing before the timeout", () => {
    const pool = new ConnectionPool(OPTS);
    const a = new FakeSocket();
    pool.release(KEY, a, 0);
    pool.sweep(1000);
    assert.equal(a.closed, false);
    assert.equal(pool.size, 1);
  });
});

describe("ConnectionPool: events on idle connections", () => {
  it("drops and closes a connection whose backend speaks unasked", () => {
    const pool = new ConnectionPool(OPTS);
    const a = new FakeSocket(), b = new FakeSocket();
    pool.release(KEY, a, 0);
    pool.release(KEY, b, 0);
    b.handler!.onData(new TextEncoder().encode("HTTP/1.1 200 OK\r\n\r\n"));
    assert.equal(b.closed, true);
    assert.equal(pool.size, 1);
    assert.equal(pool.acquire(KEY, 1), a);
  });

  it("drops a connection whose backend ends it", () => {
    const pool = new ConnectionPool(OPTS);
    const a = new FakeSocket();
    pool.release(KEY, a, 0);
    a.peerEnded();
    assert.equal(a.closed, true);
    assert.equal(pool.size, 0);
    assert.equal(pool.acquire(KEY, 1), undefined);
  });

  it("drops a connection the peer closed", () => {
    const pool = new ConnectionPool(OPTS);
    const a = new FakeSocket(), b = new FakeSocket();
    pool.release(KEY, a, 0);
    pool.release(KEY, b, 0);
    a.peerClosed();
    assert.equal(pool.size, 1);
    assert.equal(pool.acquire(KEY, 1), b);
    assert.equal(pool.acquire(KEY, 1), undefined);
  });

  it("reads a connection given back paused, so it hears the backend end it", () => {
    // A response's last bytes can fill the client's queue and pause the backend socket just as
    // the exchange ends; held paused, a backend that closes it idle goes unnoticed until the next
    // request is written into it (and a POST cannot be retried).
    const pool = new ConnectionPool(OPTS);
    const a = new FakeSocket();
    a.pause();
    pool.release(KEY, a, 0);
    assert.equal(a.paused, false);
    a.peerEnded();
    assert.equal(pool.size, 0);
    assert.equal(a.closed, true);
    assert.equal(pool.acquire(KEY, 1), undefined);
  });

  it("ignores drain events", () => {
    const pool = new ConnectionPool(OPTS);
    const a = new FakeSocket();
    pool.release(KEY, a, 0);
    a.handler!.onDrain();
    assert.equal(a.closed, false);
    assert.equal(pool.acquire(KEY, 1), a);
  });

  it("does not count an acquired connection when its old idle handler fires late", () => {
    const pool = new ConnectionPool(OPTS);
    const a = new FakeSocket(), b = new FakeSocket();
    pool.release(KEY, a, 0);
    const idleHandler = a.handler!;
    assert.equal(pool.acquire(KEY, 1), a);
    pool.release(KEY, b, 1);
    idleHandler.onClose();
    assert.equal(pool.size, 1);
    assert.equal(pool.acquire(KEY, 2), b);
  });
});

describe("ConnectionPool.close", () => {
  it("closes every idle connection", () => {
    const pool = new ConnectionPool(OPTS);
    const socks = [new FakeSocket(), new FakeSocket(), new FakeSocket(), new FakeSocket()];
    for (const s of socks) pool.release(KEY, s, 0);
    const other = new FakeSocket();
    pool.release("other:1", other, 0);
    pool.close();
    assert.deepEqual(socks.map((s) => s.closed), [true, true, true, true]);
    assert.equal(other.closed, true);
    assert.equal(pool.size, 0);
    assert.equal(pool.acquire(KEY, 0), undefined);
  });

  it("is harmless on an empty pool", () => {
    const pool = new ConnectionPool(OPTS);
    pool.close();
    assert.equal(pool.size, 0);
  });
});
