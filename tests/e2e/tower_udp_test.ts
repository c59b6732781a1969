/**
 * The Tower over real UDP sockets on loopback: the server, its client, the
 * seed's way of registering (bash's /dev/udp), signed registrations, rate
 * limit and entry cap, and RemoteTowerRegistry against a real Tower, a
 * seed-era Tower without LOOKUPALL, and a silent one.
 */

import { after, afterEach, before, beforeEach, describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFile, execFileSync } from "node:child_process";
import { createSocket, type Socket as DgramSocket } from "node:dgram";
import { bindUdp } from "../../src/runtime/udp.ts";
import {
  type BindUdp,
  SIGNATURE_WINDOW_MS,
  signTowerRequest,
  startTowerServer,
  TowerClient,
  type TowerServer,
  TowerState,
  TowerTimeoutError,
} from "../../src/tower.ts";
import { EmbeddedTowerRegistry } from "../../src/registry/tower/embedded.ts";
import { RemoteTowerRegistry } from "../../src/registry/tower/remote.ts";

const LOOPBACK = "127.0.0.1";
/**
 * Per test: Deno's node:test has no default timeout and ignores one on
 * `describe`, and a lost reply must fail a test, not hang the run.
 */
const LIMIT = { timeout: 15_000 };
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A plain node:dgram socket that sends lines and queues the replies. */
class Probe {
  readonly #socket: DgramSocket;
  readonly #replies: string[] = [];
  #waiting: ((reply: string) => void) | undefined;

  private constructor(socket: DgramSocket) {
    this.#socket = socket;
    socket.on("message", (message) => {
      const reply = decoder.decode(message);
      const waiting = this.#waiting;
      this.#waiting = undefined;
      if (waiting) waiting(reply);
      else this.#replies.push(reply);
    });
  }

  static open(): Promise<Probe> {
    const socket = createSocket("udp4");
    return new Promise((resolve) => socket.bind(0, LOOPBACK, () => resolve(new Probe(socket))));
  }

  send(port: number, data: string | Uint8Array): void {
    this.#socket.send(typeof data === "string" ? encoder.encode(data) : data, port, LOOPBACK);
  }

  /** The next reply, or a rejection after `timeoutMs`. */
  next(timeoutMs = 2_000): Promise<string> {
    const queued = this.#replies.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiting = undefined;
        reject(new Error(`no reply within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#waiting = (reply) => {
        clearTimeout(timer);
        resolve(reply);
      };
    });
  }

  ask(port: number, line: string): Promise<string> {
    this.send(port, line);
    return this.next();
  }

  close(): void {
    this.#socket.close();
  }
}

/** A scripted Tower on node:dgram: `answer` sends zero or more replies to each request. */
interface FakeTower {
  port: number;
  received: string[];
  close(): void;
}

function startFakeTower(
  answer: (line: string, reply: (text: string) => void, clientPort: number) => void,
): Promise<FakeTower> {
  const socket = createSocket("udp4");
  const received: string[] = [];
  socket.on("message", (message, from) => {
    const line = decoder.decode(message);
    received.push(line);
    answer(line, (text) => socket.send(encoder.encode(text), from.port, from.address), from.port);
  });
  return new Promise((resolve) =>
    socket.bind(
      0,
      LOOPBACK,
      () => resolve({ port: socket.address().port, received, close: () => socket.close() }),
    )
  );
}

function run(command: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile("bash", ["-c", command], (err) => (err ? reject(err) : resolve()));
  });
}

/** Whether `openssl` is on the PATH (for the test of a shell-signed registration). */
const HAS_OPENSSL = (() => {
  try {
    execFileSync("bash", ["-c", "command -v openssl"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
})();

/** Ask until `accept` likes the reply (the sender's datagram may still be in flight). */
async function askUntil(
  probe: Probe,
  port: number,
  line: string,
  accept: (reply: string) => boolean,
): Promise<string> {
  const deadline = Date.now() + 2_000;
  for (;;) {
    const reply = await probe.ask(port, line);
    if (accept(reply) || Date.now() > deadline) return reply;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe("Tower UDP server", () => {
  let tower: TowerServer;
  let probe: Probe;

  beforeEach(async () => {
    tower = await startTowerServer({ hostname: LOOPBACK, port: 0, bindUdp });
    probe = await Probe.open();
  });

  afterEach(() => {
    probe.close();
    tower.close();
  });

  it("binds port 0 to a real port and reports it", LIMIT, () => {
    assert.equal(tower.hostname, LOOPBACK);
    assert.ok(tower.port > 0 && tower.port < 65536, String(tower.port));
  });

  it("answers every command byte for byte", LIMIT, async () => {
    const p = tower.port;
    assert.equal(await probe.ask(p, "PING"), "OK|PONG|tower");
    assert.equal(await probe.ask(p, "LOOKUP|web"), "ERR|NOT_FOUND|web");
    assert.equal(await probe.ask(p, "REGISTER|web|127.0.0.1|8081"), "OK|REGISTERED|web");
    assert.equal(await probe.ask(p, "REGISTER|web|::1|8082\n"), "OK|REGISTERED|web");
    assert.equal(await probe.ask(p, "LOOKUP|web"), "OK|LOOKUP|web|127.0.0.1|8081");
    assert.equal(
      await probe.ask(p, "LOOKUPALL|web"),
      "OK|LOOKUPALL|web|2|[::1]:8082,127.0.0.1:8081",
    );
    assert.equal(await probe.ask(p, "LIST"), "OK|LIST|2|web:127.0.0.1:8081:30,web:[::1]:8082:30");
    assert.equal(await probe.ask(p, "DEREGISTER|web|::1|8082\r\n"), "OK|DEREGISTERED|web");
    assert.equal(await probe.ask(p, "DEREGISTER|web|::1|8082"), "ERR|NOT_FOUND|web");
    assert.equal(await probe.ask(p, "HELLO"), "ERR|unknown command");
    assert.equal(
      await probe.ask(p, "REGISTER|web|127.0.0.1"),
      "ERR|REGISTER syntax: name|ip|port",
    );
    assert.equal(await probe.ask(p, "LIST"), "OK|LIST|1|web:127.0.0.1:8081:30");
  });

  it("drops a datagram over 1024 bytes without a reply", LIMIT, async () => {
    probe.send(tower.port, "PING|" + "x".repeat(1020)); // 1025 bytes
    probe.send(tower.port, "PING");
    // The first answer is the PING's: the oversized one got none.
    assert.equal(await probe.next(), "OK|PONG|tower");
    assert.equal(await probe.ask(tower.port, "PING|" + "x".repeat(1019)), "ERR|unknown command");
  });

  it("survives garbage and keeps its state", LIMIT, async () => {
    assert.equal(await probe.ask(tower.port, "REGISTER|web|127.0.0.1|8081"), "OK|REGISTERED|web");
    const garbage = [
      new Uint8Array([0]),
      new Uint8Array([0xff, 0x7c, 0xff]),
      encoder.encode("REGISTER|web|127.0.0.1|8081|x"),
      encoder.encode("REGISTER|||"),
      encoder.encode("|".repeat(1000)),
      encoder.encode("REGISTER|a|1.2.3.4|99999999999999999999"),
      encoder.encode("DEREGISTER|web|127.0.0.1|8081 "),
    ];
    for (let i = 0; i < 20; i++) for (const g of garbage) probe.send(tower.port, g);
    for (let i = 0; i < 20 * garbage.length; i++) {
      assert.match(
        await probe.next(),
        /^ERR\|(?:unknown command|(?:DE)?REGISTER syntax: name\|ip\|port)$/,
      );
    }
    assert.equal(await probe.ask(tower.port, "PING"), "OK|PONG|tower");
    assert.equal(await probe.ask(tower.port, "LIST"), "OK|LIST|1|web:127.0.0.1:8081:30");
  });

  it("accepts the seed's registration sent by bash's /dev/udp", LIMIT, async () => {
    await run(`printf 'REGISTER|frontend|127.0.0.1|8181' > /dev/udp/127.0.0.1/${tower.port}`);
    const reply = await askUntil(probe, tower.port, "LOOKUP|frontend", (r) => r.startsWith("OK"));
    assert.equal(reply, "OK|LOOKUP|frontend|127.0.0.1|8181");
  });

  it("accepts echo's trailing newline from bash", LIMIT, async () => {
    await run(`echo 'REGISTER|backend|127.0.0.1|8282' > /dev/udp/127.0.0.1/${tower.port}`);
    const reply = await askUntil(probe, tower.port, "LOOKUP|backend", (r) => r.startsWith("OK"));
    assert.equal(reply, "OK|LOOKUP|backend|127.0.0.1|8282");
  });

  it("an exception while answering costs that datagram only", LIMIT, async () => {
    class ExplodingState extends TowerState {
      override lookup(): never {
        throw new Error("boom");
      }
    }
    const state = new ExplodingState({ sweepIntervalMs: 0 });
    const fragile = await startTowerServer({ hostname: LOOPBACK, port: 0, bindUdp, state });
    try {
      probe.send(fragile.port, "LOOKUP|web");
      probe.send(fragile.port, "PING");
      assert.equal(await probe.next(), "OK|PONG|tower");
    } finally {
      fragile.close();
      state.close();
    }
  });

  it("shares its state with an embedded registry", LIMIT, async () => {
    const registry = new EmbeddedTowerRegistry(tower.state);
    assert.deepEqual(registry.resolve("api"), []);
    assert.equal(await probe.ask(tower.port, "REGISTER|api|127.0.0.1|9001"), "OK|REGISTERED|api");
    assert.deepEqual(registry.resolve("api"), [{ host: "127.0.0.1", port: 9001 }]);
    registry.close();
  });

  it("close() frees the port", LIMIT, async () => {
    const port = tower.port;
    tower.close();
    tower.close(); // idempotent
    let again: TowerServer | undefined;
    for (let i = 0; i < 20 && again === undefined; i++) {
      try {
        again = await startTowerServer({ hostname: LOOPBACK, port, bindUdp });
      } catch {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    }
    assert.ok(again, "could bind the port again");
    assert.equal(again.port, port);
    assert.equal(await probe.ask(port, "PING"), "OK|PONG|tower");
    again.close();
  });
});

describe("Tower UDP server options", () => {
  it("rejects with a clear error when the port is taken", LIMIT, async () => {
    const first = await startTowerServer({ hostname: LOOPBACK, port: 0, bindUdp });
    try {
      await assert.rejects(
        startTowerServer({ hostname: LOOPBACK, port: first.port, bindUdp }),
        (err: Error) =>
          err.message.includes(`${LOOPBACK}:${first.port}`) &&
          err.message.includes("address already in use") &&
          err.message.includes("EADDRINUSE"),
      );
    } finally {
      first.close();
    }
  });

  it("rejects with a clear error for an address not on this machine", LIMIT, async () => {
    await assert.rejects(
      startTowerServer({ hostname: "192.0.2.1", port: 0, bindUdp }),
      /cannot bind UDP 192\.0\.2\.1:0: address not available/,
    );
  });

  it("rejects an out-of-range port instead of wrapping it", LIMIT, async () => {
    await assert.rejects(
      startTowerServer({ hostname: LOOPBACK, port: 70_000, bindUdp }),
      /port must be an integer 0-65535/,
    );
  });

  it("mayRegister refuses REGISTER from other senders; lookups stay open", LIMIT, async () => {
    const state = new TowerState({ sweepIntervalMs: 0 });
    state.register("web", "127.0.0.1", 8081);
    const senders: string[] = [];
    const tower = await startTowerServer({
      hostname: LOOPBACK,
      port: 0,
      bindUdp,
      state,
      mayRegister: (ip) => {
        senders.push(ip);
        return false;
      },
    });
    const probe = await Probe.open();
    try {
      assert.equal(await probe.ask(tower.port, "REGISTER|web|127.0.0.1|8082"), "ERR|FORBIDDEN|web");
      assert.equal(
        await probe.ask(tower.port, "DEREGISTER|web|127.0.0.1|8081"),
        "ERR|FORBIDDEN|web",
      );
      assert.equal(await probe.ask(tower.port, "LOOKUP|web"), "OK|LOOKUP|web|127.0.0.1|8081");
      assert.equal(senders[0], LOOPBACK);
      assert.equal(state.size, 1);
    } finally {
      probe.close();
      tower.close();
      // A state passed in is not closed by the server.
      assert.equal(state.size, 1);
      state.close();
    }
  });

  it("serves IPv6", LIMIT, async () => {
    const tower = await startTowerServer({ hostname: "::1", port: 0, bindUdp });
    const client = await TowerClient.open("::1", tower.port, { bindUdp });
    try {
      assert.deepEqual(await client.send("REGISTER|web|::1|8080"), {
        kind: "REGISTERED",
        name: "web",
      });
      assert.deepEqual(await client.send("LOOKUP|web"), {
        kind: "LOOKUP",
        name: "web",
        replica: { host: "::1", port: 8080 },
      });
    } finally {
      client.close();
      tower.close();
    }
  });
});

describe("Tower UDP server with a secret", () => {
  const SECRET = "e2e-shared-secret";
  let tower: TowerServer;
  let probe: Probe;

  beforeEach(async () => {
    tower = await startTowerServer({ hostname: LOOPBACK, port: 0, bindUdp, secret: SECRET });
    probe = await Probe.open();
  });

  afterEach(() => {
    probe.close();
    tower.close();
  });

  it("TowerClient signs; lookups stay plain; others are refused", LIMIT, async () => {
    const signer = await TowerClient.open(LOOPBACK, tower.port, { bindUdp, secret: SECRET });
    const plain = await TowerClient.open(LOOPBACK, tower.port, { bindUdp });
    const wrong = await TowerClient.open(LOOPBACK, tower.port, { bindUdp, secret: "not-it" });
    try {
      assert.deepEqual(await signer.send("REGISTER|web|127.0.0.1|8081"), {
        kind: "REGISTERED",
        name: "web",
      });
      // A heartbeat: the same request signed again (new nonce) is accepted.
      assert.deepEqual(await signer.send("REGISTER|web|127.0.0.1|8081"), {
        kind: "REGISTERED",
        name: "web",
      });
      assert.deepEqual(await plain.send("REGISTER|web|127.0.0.1|8082"), {
        kind: "ERR",
        reason: "UNAUTHORIZED",
        name: "web",
      });
      assert.deepEqual(await wrong.send("DEREGISTER|web|127.0.0.1|8081"), {
        kind: "ERR",
        reason: "UNAUTHORIZED",
        name: "web",
      });
      assert.deepEqual(await plain.send("LOOKUP|web"), {
        kind: "LOOKUP",
        name: "web",
        replica: { host: "127.0.0.1", port: 8081 },
      });
      assert.equal(await probe.ask(tower.port, "LIST"), "OK|LIST|1|web:127.0.0.1:8081:30");
      assert.equal(await probe.ask(tower.port, "PING"), "OK|PONG|tower");
      assert.deepEqual(await signer.send("DEREGISTER|web|127.0.0.1|8081"), {
        kind: "DEREGISTERED",
        name: "web",
      });
      assert.equal(await probe.ask(tower.port, "LOOKUP|web"), "ERR|NOT_FOUND|web");
    } finally {
      signer.close();
      plain.close();
      wrong.close();
    }
  });

  it("a replayed or stale datagram changes nothing", LIMIT, async () => {
    const register = signTowerRequest(SECRET, "REGISTER|web|127.0.0.1|8081", Date.now());
    assert.equal(await probe.ask(tower.port, register), "OK|REGISTERED|web");
    const deregister = signTowerRequest(SECRET, "DEREGISTER|web|127.0.0.1|8081", Date.now());
    assert.equal(await probe.ask(tower.port, deregister), "OK|DEREGISTERED|web");
    assert.equal(await probe.ask(tower.port, register), "ERR|REPLAY|web");
    const old = Date.now() - SIGNATURE_WINDOW_MS - 5_000;
    const stale = signTowerRequest(SECRET, "REGISTER|web|127.0.0.1|8081", old);
    assert.equal(await probe.ask(tower.port, stale), "ERR|STALE|web");
    assert.equal(await probe.ask(tower.port, "LIST"), "OK|LIST|0|");
  });

  it(
    "accepts a registration signed in bash with openssl",
    { ...LIMIT, skip: !HAS_OPENSSL },
    async () => {
      // What docs/tower-signing.md tells other clients to do.
      await run(
        `ts=$(date +%s%3N); nonce=$(openssl rand -hex 16); ` +
          `msg="REGISTER|shell|127.0.0.1|8383|$ts|$nonce"; ` +
          `mac=$(printf '%s' "$msg" | openssl dgst -sha256 -hmac '${SECRET}' | sed 's/^.*= //'); ` +
          `printf '%s|%s' "$msg" "$mac" > /dev/udp/127.0.0.1/${tower.port}`,
      );
      const reply = await askUntil(probe, tower.port, "LOOKUP|shell", (r) => r.startsWith("OK"));
      assert.equal(reply, "OK|LOOKUP|shell|127.0.0.1|8383");
    },
  );
});

describe("Tower UDP server limits", () => {
  it("rateLimit refuses the burst+1-th REGISTER from one sender", LIMIT, async () => {
    const tower = await startTowerServer({
      hostname: LOOPBACK,
      port: 0,
      bindUdp,
      rateLimit: { perSecond: 0.5, burst: 2 },
    });
    const probe = await Probe.open();
    const other = await Probe.open();
    try {
      assert.equal(await probe.ask(tower.port, "REGISTER|web|127.0.0.1|8081"), "OK|REGISTERED|web");
      assert.equal(await probe.ask(tower.port, "REGISTER|web|127.0.0.1|8081"), "OK|REGISTERED|web");
      assert.equal(
        await probe.ask(tower.port, "REGISTER|web|127.0.0.1|8082"),
        "ERR|RATE_LIMITED|web",
      );
      assert.equal(await probe.ask(tower.port, "LOOKUP|web"), "OK|LOOKUP|web|127.0.0.1|8081");
      // Same address, so the same bucket: the limit is per source IP, not per port.
      assert.equal(
        await other.ask(tower.port, "REGISTER|web|127.0.0.1|8082"),
        "ERR|RATE_LIMITED|web",
      );
    } finally {
      probe.close();
      other.close();
      tower.close();
    }
  });

  it("maxEntries refuses new entries and keeps refreshing old ones", LIMIT, async () => {
    const tower = await startTowerServer({ hostname: LOOPBACK, port: 0, bindUdp, maxEntries: 1 });
    const probe = await Probe.open();
    try {
      assert.equal(await probe.ask(tower.port, "REGISTER|web|127.0.0.1|8081"), "OK|REGISTERED|web");
      assert.equal(await probe.ask(tower.port, "REGISTER|api|127.0.0.1|9001"), "ERR|registry full");
      assert.equal(await probe.ask(tower.port, "REGISTER|web|127.0.0.1|8081"), "OK|REGISTERED|web");
      assert.equal(await probe.ask(tower.port, "LIST"), "OK|LIST|1|web:127.0.0.1:8081:30");
    } finally {
      probe.close();
      tower.close();
    }
  });
});

describe("TowerClient", () => {
  let tower: TowerServer;
  let counts: Map<string, number>;

  /** Count the lines the server receives. */
  const counting: BindUdp = (hostname, port, onMessage) =>
    bindUdp(hostname, port, (datagram) => {
      const line = decoder.decode(datagram.data);
      counts.set(line, (counts.get(line) ?? 0) + 1);
      onMessage(datagram);
    });

  beforeEach(async () => {
    counts = new Map();
    tower = await startTowerServer({ hostname: LOOPBACK, port: 0, bindUdp: counting });
    tower.state.register("web", "127.0.0.1", 8081);
    tower.state.register("api", "127.0.0.1", 9001);
  });

  afterEach(() => tower.close());

  it("coalesces concurrent identical requests into one datagram", LIMIT, async () => {
    const client = await TowerClient.open(LOOPBACK, tower.port, { bindUdp });
    try {
      const replies = await Promise.all(
        Array.from({ length: 10 }, () => client.send({ kind: "LOOKUP", name: "web" })),
      );
      for (const reply of replies) {
        assert.deepEqual(reply, {
          kind: "LOOKUP",
          name: "web",
          replica: { host: "127.0.0.1", port: 8081 },
        });
      }
      assert.equal(counts.get("LOOKUP|web"), 1);
      // Once answered, the next request is a new datagram.
      await client.send("LOOKUP|web");
      assert.equal(counts.get("LOOKUP|web"), 2);
    } finally {
      client.close();
    }
  });

  it("matches concurrent replies to requests by service name", LIMIT, async () => {
    const client = await TowerClient.open(LOOPBACK, tower.port, { bindUdp });
    try {
      const [web, api, none, pong] = await Promise.all([
        client.send("LOOKUPALL|web"),
        client.send("LOOKUPALL|api"),
        client.send("LOOKUPALL|none"),
        client.send("PING"),
      ]);
      assert.deepEqual(web, {
        kind: "LOOKUPALL",
        name: "web",
        replicas: [{ host: "127.0.0.1", port: 8081 }],
      });
      assert.deepEqual(api, {
        kind: "LOOKUPALL",
        name: "api",
        replicas: [{ host: "127.0.0.1", port: 9001 }],
      });
      assert.deepEqual(none, { kind: "ERR", reason: "NOT_FOUND", name: "none" });
      assert.deepEqual(pong, { kind: "PONG" });
    } finally {
      client.close();
    }
  });

  it("rejects a line that is not a request, without sending it", LIMIT, async () => {
    const client = await TowerClient.open(LOOPBACK, tower.port, { bindUdp });
    try {
      await assert.rejects(client.send("LOOKUP|a|b"), TypeError);
      assert.equal(counts.size, 0);
    } finally {
      client.close();
    }
  });

  it("close() rejects requests in flight, and later sends", LIMIT, async () => {
    const silent = await startFakeTower(() => {});
    const client = await TowerClient.open(LOOPBACK, silent.port, { bindUdp, timeoutMs: 5_000 });
    const pending = client.send("LOOKUP|web");
    client.close();
    await assert.rejects(pending, /closed/);
    await assert.rejects(client.send("PING"), /closed/);
    silent.close();
  });
});

describe("TowerClient against scripted Towers", () => {
  it("matches replies that arrive out of order", LIMIT, async () => {
    const held: ((text: string) => void)[] = [];
    const fake = await startFakeTower((line, reply) => {
      held.push((text) => reply(text));
      if (held.length === 2) {
        // Answer the second request first.
        held[1]("OK|LOOKUP|b|10.0.0.2|2");
        held[0]("OK|LOOKUP|a|10.0.0.1|1");
      }
      void line;
    });
    const client = await TowerClient.open(LOOPBACK, fake.port, { bindUdp, timeoutMs: 2_000 });
    try {
      const [a, b] = await Promise.all([client.send("LOOKUP|a"), client.send("LOOKUP|b")]);
      assert.deepEqual(a, { kind: "LOOKUP", name: "a", replica: { host: "10.0.0.1", port: 1 } });
      assert.deepEqual(b, { kind: "LOOKUP", name: "b", replica: { host: "10.0.0.2", port: 2 } });
    } finally {
      client.close();
      fake.close();
    }
  });

  it("never hands a duplicate NOT_FOUND to another service", LIMIT, async () => {
    const fake = await startFakeTower((line, reply) => {
      if (line === "LOOKUPALL|a") {
        reply("ERR|NOT_FOUND|a");
        reply("ERR|NOT_FOUND|a"); // as if our retry had crossed the first answer
      } else {
        setTimeout(() => reply("OK|LOOKUPALL|b|1|10.0.0.2:2"), 100);
      }
    });
    const client = await TowerClient.open(LOOPBACK, fake.port, { bindUdp, timeoutMs: 2_000 });
    try {
      const [a, b] = await Promise.all([client.send("LOOKUPALL|a"), client.send("LOOKUPALL|b")]);
      assert.deepEqual(a, { kind: "ERR", reason: "NOT_FOUND", name: "a" });
      assert.equal(b.kind, "LOOKUPALL");
    } finally {
      client.close();
      fake.close();
    }
  });

  it("ignores datagrams that do not come from the Tower's port", LIMIT, async () => {
    const intruder = createSocket("udp4");
    await new Promise<void>((resolve) => intruder.bind(0, LOOPBACK, () => resolve()));
    const fake = await startFakeTower((_line, reply, clientPort) => {
      // A forged answer from another port first, then the Tower's own.
      intruder.send(encoder.encode("OK|LOOKUP|web|6.6.6.6|666"), clientPort, LOOPBACK);
      setTimeout(() => reply("OK|LOOKUP|web|10.0.0.1|80"), 50);
    });
    const client = await TowerClient.open(LOOPBACK, fake.port, { bindUdp, timeoutMs: 2_000 });
    try {
      const reply = await client.send("LOOKUP|web");
      assert.deepEqual(reply, {
        kind: "LOOKUP",
        name: "web",
        replica: { host: "10.0.0.1", port: 80 },
      });
    } finally {
      client.close();
      fake.close();
      intruder.close();
    }
  });
});

describe("RemoteTowerRegistry", () => {
  let tower: TowerServer;

  before(async () => {
    tower = await startTowerServer({ hostname: LOOPBACK, port: 0, bindUdp });
  });

  after(() => tower.close());

  it("resolves every replica, round-robin pick first", LIMIT, async () => {
    tower.state.register("web", "127.0.0.1", 8081);
    tower.state.register("web", "127.0.0.1", 8082);
    tower.state.register("web", "::1", 8083);
    const registry = await RemoteTowerRegistry.connect({ host: LOOPBACK, port: tower.port });
    try {
      assert.equal(registry.address, `${LOOPBACK}:${tower.port}`);
      const first = await registry.resolve("web");
      assert.deepEqual(first, [
        { host: "127.0.0.1", port: 8081 },
        { host: "127.0.0.1", port: 8082 },
        { host: "::1", port: 8083 },
      ]);
      const second = await registry.resolve("web");
      assert.deepEqual(second.map((r) => r.port), [8082, 8083, 8081]);
      assert.deepEqual(await registry.resolve("nobody"), []);
      assert.equal(registry.usesLookupFallback, false);
    } finally {
      registry.close();
    }
  });

  it("connects by host name", LIMIT, async () => {
    tower.state.register("named", "127.0.0.1", 8181);
    const registry = await RemoteTowerRegistry.connect({ host: "localhost", port: tower.port });
    try {
      assert.deepEqual(await registry.resolve("named"), [{ host: "127.0.0.1", port: 8181 }]);
    } finally {
      registry.close();
    }
  });

  it("refuses a service name the protocol cannot carry", LIMIT, async () => {
    const registry = await RemoteTowerRegistry.connect({ host: LOOPBACK, port: tower.port });
    try {
      await assert.rejects(registry.resolve("web|LIST"), /invalid service name/);
      assert.equal(registry.usesLookupFallback, false);
    } finally {
      registry.close();
    }
  });

  it("falls back to LOOKUP against a seed Tower that lacks LOOKUPALL", LIMIT, async () => {
    let turn = 0;
    const seed = await startFakeTower((line, reply) => {
      if (line === "LOOKUP|web") reply(`OK|LOOKUP|web|127.0.0.1|${8081 + (turn++ % 2)}`);
      else if (line.startsWith("LOOKUP|")) reply(`ERR|NOT_FOUND|${line.slice(7)}`);
      else reply("ERR|unknown command");
    });
    const registry = await RemoteTowerRegistry.connect({ host: LOOPBACK, port: seed.port });
    try {
      assert.deepEqual(await registry.resolve("web"), [{ host: "127.0.0.1", port: 8081 }]);
      assert.equal(registry.usesLookupFallback, true);
      assert.deepEqual(await registry.resolve("web"), [{ host: "127.0.0.1", port: 8082 }]);
      assert.deepEqual(await registry.resolve("gone"), []);
      // LOOKUPALL was tried once, then never again.
      assert.deepEqual(seed.received, ["LOOKUPALL|web", "LOOKUP|web", "LOOKUP|web", "LOOKUP|gone"]);
    } finally {
      registry.close();
      seed.close();
    }
  });

  it("a NOT_FOUND to LOOKUPALL is an answer, not a reason to fall back", LIMIT, async () => {
    const registry = await RemoteTowerRegistry.connect({ host: LOOPBACK, port: tower.port });
    try {
      assert.deepEqual(await registry.resolve("absent"), []);
      assert.equal(registry.usesLookupFallback, false);
    } finally {
      registry.close();
    }
  });

  it("rejects when the Tower never answers (300 ms, one retry by default)", LIMIT, async () => {
    const silent = await startFakeTower(() => {});
    const registry = await RemoteTowerRegistry.connect({ host: LOOPBACK, port: silent.port });
    try {
      const started = Date.now();
      await assert.rejects(registry.resolve("web"), (err: Error) => {
        assert.ok(err instanceof TowerTimeoutError);
        assert.match(err.message, /did not answer/);
        assert.ok(err.message.includes(`${LOOPBACK}:${silent.port}`), err.message);
        return true;
      });
      const elapsed = Date.now() - started;
      assert.ok(elapsed >= 550 && elapsed < 2_000, `took ${elapsed} ms`);
      assert.deepEqual(silent.received, ["LOOKUPALL|web", "LOOKUPALL|web"]);
    } finally {
      registry.close();
      silent.close();
    }
  });

  it("a retry rescues a lost datagram", LIMIT, async () => {
    let seen = 0;
    const lossy = await startFakeTower((line, reply) => {
      // Drop the first datagram, answer the retry.
      if (seen++ > 0) reply("OK|LOOKUPALL|web|1|127.0.0.1:8081");
      void line;
    });
    const registry = await RemoteTowerRegistry.connect({ host: LOOPBACK, port: lossy.port }, {
      timeoutMs: 100,
    });
    try {
      assert.deepEqual(await registry.resolve("web"), [{ host: "127.0.0.1", port: 8081 }]);
      assert.equal(lossy.received.length, 2);
    } finally {
      registry.close();
      lossy.close();
    }
  });

  it("rejects when the Tower's host name does not resolve", LIMIT, async () => {
    await assert.rejects(
      RemoteTowerRegistry.connect({ host: "no-such-tower.invalid", port: 7772 }),
      /cannot resolve Tower host "no-such-tower.invalid"/,
    );
  });
});
