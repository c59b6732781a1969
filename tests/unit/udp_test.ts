/**
 * The running runtime's UDP binder on real loopback sockets: node:dgram
 * under Deno, Bun's native UDP socket under Bun (the unit tests run under
 * both), and the node:dgram one from runtime/udp.ts under either; and the
 * on-demand loader of node built-ins.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { Datagram, Runtime, UdpSocket } from "../../src/runtime/types.ts";
import { denoRuntime } from "../../src/runtime/deno.ts";
import { bunRuntime } from "../../src/runtime/bun/runtime.ts";
import { bindUdp as dgramBindUdp } from "../../src/runtime/udp.ts";
import { builtin } from "../../src/runtime/builtin.ts";

const runtime: Runtime = "Deno" in globalThis ? denoRuntime : bunRuntime;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The next datagram `socket`'s handler receives (the handler pushes to `inbox`). */
function nextDatagram(inbox: Datagram[], ms = 2000): Promise<Datagram> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const poll = () => {
      const d = inbox.shift();
      if (d !== undefined) return resolve(d);
      if (Date.now() - started > ms) return reject(new Error("no datagram within " + ms + " ms"));
      setTimeout(poll, 5);
    };
    poll();
  });
}

const binders: [string, Runtime["bindUdp"]][] = [
  [`${runtime.name} runtime`, runtime.bindUdp],
  ["node:dgram (runtime/udp.ts)", dgramBindUdp],
];

for (const [label, bindUdp] of binders) {
  describe(`bindUdp: ${label}`, () => {
    it("binds port 0 to a real port; datagrams go both ways with the sender's address", async () => {
      const serverInbox: Datagram[] = [];
      const clientInbox: Datagram[] = [];
      let server: UdpSocket | undefined;
      let client: UdpSocket | undefined;
      try {
        server = await bindUdp("127.0.0.1", 0, (d) => {
          serverInbox.push(d);
          server!.send(encoder.encode("PONG"), d.port, d.host);
        });
        client = await bindUdp("127.0.0.1", 0, (d) => clientInbox.push(d));
        assert.ok(server.port > 0 && server.port !== client.port);
        assert.equal(server.hostname, "127.0.0.1");
        client.send(encoder.encode("PING"), server.port, "127.0.0.1");
        const got = await nextDatagram(serverInbox);
        assert.equal(decoder.decode(got.data), "PING");
        assert.equal(got.host, "127.0.0.1");
        assert.equal(got.port, client.port);
        const reply = await nextDatagram(clientInbox);
        assert.equal(decoder.decode(reply.data), "PONG");
        assert.equal(reply.port, server.port);
      } finally {
        server?.close();
        client?.close();
      }
    });

    it("a taken port rejects in plain words, naming the address", async () => {
      const first = await bindUdp("127.0.0.1", 0, () => {});
      try {
        await assert.rejects(
          bindUdp("127.0.0.1", first.port, () => {}),
          (e: Error) => {
            assert.match(e.message, new RegExp(`^cannot bind UDP 127\\.0\\.0\\.1:${first.port}: `));
            assert.match(e.message, /address already in use/);
            return true;
          },
        );
      } finally {
        first.close();
      }
    });

    it("an address not on this machine and an out-of-range port reject", async () => {
      await assert.rejects(bindUdp("192.0.2.1", 0, () => {}), /cannot bind UDP 192\.0\.2\.1:0: /);
      await assert.rejects(
        bindUdp("127.0.0.1", 70000, () => {}),
        /port must be an integer 0-65535/,
      );
      await assert.rejects(bindUdp("127.0.0.1", -1, () => {}), /port must be an integer 0-65535/);
    });

    it("a send that cannot go (other family, closed socket) is dropped, not thrown", async () => {
      const socket = await bindUdp("127.0.0.1", 0, () => {});
      socket.send(encoder.encode("x"), 9, "::1");
      socket.send(encoder.encode("x"), 1, "127.0.0.1");
      socket.close();
      socket.close();
      socket.send(encoder.encode("x"), 9, "127.0.0.1");
    });

    it("close() frees the port", async () => {
      const first = await bindUdp("127.0.0.1", 0, () => {});
      const port = first.port;
      first.close();
      // The runtime may release the port a moment after close returns.
      let again: UdpSocket | undefined;
      for (let i = 0; i < 50 && again === undefined; i++) {
        again = await bindUdp("127.0.0.1", port, () => {}).catch(() => undefined);
        if (again === undefined) await new Promise((r) => setTimeout(r, 20));
      }
      assert.ok(again, `port ${port} was not free again after close`);
      again.close();
    });
  });
}

describe("builtin", () => {
  it("loads a node built-in on demand and names one that does not exist", () => {
    const crypto = builtin<typeof import("node:crypto")>("node:crypto");
    assert.equal(crypto.createHash("sha256").update("abc").digest("hex").slice(0, 8), "ba7816bf");
    assert.throws(() => builtin("node:no-such-module"), /node:no-such-module/);
  });
});
