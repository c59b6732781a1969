/**
 * A hundred reloads while 20 WebSocket tunnels stream and keep-alive clients
 * send requests: no connection dropped, no request failed, and every
 * request routed by one whole table (all the requests a generation routed
 * went to the same service) and never by an older one than the request
 * before it on its connection.
 */

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  type EchoBackend,
  type RawBackend,
  readRequest,
  startEchoBackend,
  startRawBackend,
} from "../helpers/backends.ts";
import { type Gatehouse, startGatehouse, stderrMatching } from "../helpers/gatehouse.ts";
import { echoOf, HttpConnection } from "../helpers/http.ts";
import { register } from "../helpers/tower.ts";

const RELOADS = 100;
const TUNNELS = 20;
const CLIENTS = 4;

const UPGRADE = "GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n";

describe("reloads under load", () => {
  let dir: string;
  let gh: Gatehouse;
  let a: EchoBackend, b: EchoBackend;
  let ws: RawBackend;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "gatehouse-reloads-"));
    a = await startEchoBackend("a");
    b = await startEchoBackend("b");
    ws = await startRawBackend(async (socket) => {
      try {
        await readRequest(socket);
      } catch {
        return;
      }
      socket.write(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
      );
      socket.on("data", (d: Buffer) => socket.write(d));
    });
  });

  after(async () => {
    await gh?.kill();
    await a?.close();
    await b?.close();
    await ws?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it(`${RELOADS} reloads: 0 dropped connections, 0 failed requests, one table per generation`, async () => {
    const file = join(dir, "gatehouse.yaml");
    const config = (service: string) =>
      `tower-listen: 127.0.0.1:0\naccess-log: true\nroutes:\n` +
      `  - { prefix: /x, service: ${service} }\n  - { prefix: /ws, service: ws }\n`;
    await writeFile(file, config("a"));
    gh = await startGatehouse(["--config", file, "--listen", "127.0.0.1:0"]);
    await register(gh.towerPort!, "a", a.port);
    await register(gh.towerPort!, "b", b.port);
    await register(gh.towerPort!, "ws", ws.port);

    // 20 tunnels, each echoing a numbered message over and over.
    const tunnels: HttpConnection[] = [];
    for (let i = 0; i < TUNNELS; i++) {
      const conn = await HttpConnection.open(gh.httpPort);
      conn.write(UPGRADE);
      assert.equal((await conn.readResponse()).status, 101);
      tunnels.push(conn);
    }
    let done = false;
    let echoes = 0;
    const streams = tunnels.map(async (conn, i) => {
      for (let n = 0; !done; n++) {
        const msg = `tunnel ${i} message ${n};`;
        conn.write(msg);
        const got = (await conn.readBytes(msg.length)).toString();
        assert.equal(got, msg, `tunnel ${i}`);
        echoes++;
      }
    });
    // Keep-alive clients: each request's answer, and its request id (to find its log line).
    const answers: { client: number; backend: string; id: string }[] = [];
    const clients = Array.from({ length: CLIENTS }, async (_, client) => {
      const conn = await HttpConnection.open(gh.httpPort);
      try {
        while (!done) {
          conn.write("GET /x HTTP/1.1\r\nHost: h\r\n\r\n");
          const res = await conn.readResponse();
          assert.equal(res.status, 200, `client ${client}: ${res.status} ${res.text}`);
          answers.push({ client, backend: echoOf(res).backend, id: res.headers["x-request-id"]! });
        }
      } finally {
        conn.close();
      }
    });

    // Reloads: rewrite the file and send SIGHUP; wait for each new generation.
    const started = Date.now();
    let generation = 1;
    for (let i = 0; i < RELOADS; i++) {
      await writeFile(file, config(i % 2 === 0 ? "b" : "a"));
      gh.signal("SIGHUP");
      const want = generation + 1;
      await stderrMatching(gh, new RegExp(`config generation ${want}:`), 10_000);
      generation = want;
    }
    const reloadMs = Date.now() - started;
    done = true;
    await Promise.all([...streams, ...clients]);

    // Every tunnel is still open and still echoes.
    for (const [i, conn] of tunnels.entries()) {
      assert.equal(conn.ended, false, `tunnel ${i} was dropped`);
      conn.write("last;");
      assert.equal((await conn.readBytes(5)).toString(), "last;");
      conn.close();
    }
    assert.ok(echoes > TUNNELS, `the tunnels streamed (${echoes} echoes)`);
    assert.ok(answers.length > CLIENTS, `the clients sent requests (${answers.length})`);

    // The access log: the generation that routed each request.
    const routedBy = new Map<string, { service: string; generation: number }>();
    for (const m of gh.stderr.matchAll(/"GET \/x" 200 (\S+) \S+ (\S+) g(\d+)\n/g)) {
      routedBy.set(m[2], { service: m[1], generation: Number(m[3]) });
    }
    const servicesOf = new Map<number, Set<string>>();
    const lastOf = new Map<number, number>();
    for (const answer of answers) {
      const logged = routedBy.get(answer.id);
      assert.ok(logged !== undefined, `request ${answer.id} is in the access log`);
      assert.equal(logged.service, answer.backend);
      let set = servicesOf.get(logged.generation);
      if (set === undefined) servicesOf.set(logged.generation, set = new Set());
      set.add(logged.service);
      // On one connection, a request is never routed by an older table than the one before.
      assert.ok(logged.generation >= (lastOf.get(answer.client) ?? 0), "generations only move on");
      lastOf.set(answer.client, logged.generation);
    }
    for (const [g, set] of servicesOf) {
      assert.equal(set.size, 1, `generation ${g} routed /x to ${[...set].join(" and ")}`);
    }
    assert.ok(
      servicesOf.size > 10,
      `requests were routed by many generations (${servicesOf.size})`,
    );
    assert.equal(gh.stderr.match(/reload refused/g), null);
    console.log(
      `${RELOADS} reloads in ${reloadMs} ms; ${answers.length} requests; ${echoes} echoes`,
    );
  });
});
