/**
 * The access log end to end: JSON lines to a file for known traffic (a
 * proxied GET whose bytes_out is every byte the client got, a 404, a 502
 * after two tries, a POST whose bytes_in is its body, a 101), combined lines
 * on stderr, and the settings as config file keys (gatehouse check too).
 * Rotation, failures and --procs: access_log_file_test.ts.
 */

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Buffer } from "node:buffer";
import {
  closedPort,
  type EchoBackend,
  type RawBackend,
  readRequest,
  startEchoBackend,
  startRawBackend,
} from "../helpers/backends.ts";
import {
  freePortFlags,
  type Gatehouse,
  runGatehouse,
  startGatehouse,
} from "../helpers/gatehouse.ts";
import { rawExchange, request } from "../helpers/http.ts";
import { register } from "../helpers/tower.ts";
import { fileNotes, hasLines, idOf, RFC3339_MS, until } from "../helpers/access_log.ts";

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), "gatehouse-access-log-"));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("access log: JSON lines to a file", () => {
  let gh: Gatehouse;
  let web: EchoBackend;
  let ws: RawBackend;
  let file: string;
  const WELCOME = "welcome|";

  before(async () => {
    file = join(dir, "access.log");
    web = await startEchoBackend("web");
    ws = await startRawBackend(async (socket) => {
      try {
        await readRequest(socket);
      } catch {
        return;
      }
      socket.write(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n" +
          WELCOME,
      );
    });
    gh = await startGatehouse([
      ...freePortFlags(),
      "--access-log-format",
      "json",
      "--access-log-file",
      file,
      "--route",
      "/web:web",
      "--route",
      "/dead:dead",
      "--route",
      "/ws:ws",
    ]);
    await register(gh.towerPort!, "web", web.port);
    await register(gh.towerPort!, "ws", ws.port);
    for (let i = 0; i < 2; i++) await register(gh.towerPort!, "dead", await closedPort());
  });

  after(async () => {
    await gh?.kill();
    await web?.close();
    await ws?.close();
  });

  it("writes one line per request, with what each request was", async () => {
    const started = Date.now();
    // A proxied GET: bytes_out is every byte the client got.
    const get = await rawExchange(
      gh.httpPort,
      "GET /web/a?x=1 HTTP/1.1\r\nHost: shop.example.com\r\nConnection: close\r\n\r\n",
    );
    assert.match(get.text, /^HTTP\/1\.1 200 /);
    // The ingress's own answers.
    const missing = await rawExchange(
      gh.httpPort,
      "GET /nowhere HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    );
    assert.match(missing.text, /^HTTP\/1\.1 404 /);
    const dead = await rawExchange(
      gh.httpPort,
      "GET /dead/x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    );
    assert.match(dead.text, /^HTTP\/1\.1 502 /);
    // A body of known size.
    const body = Buffer.alloc(12_345, "b");
    const post = await rawExchange(
      gh.httpPort,
      Buffer.concat([
        Buffer.from(
          `POST /web/upload HTTP/1.1\r\nHost: a\r\nContent-Length: ${body.length}\r\n` +
            "Connection: close\r\n\r\n",
        ),
        body,
      ]),
    );
    assert.match(post.text, /^HTTP\/1\.1 200 /);
    // A 101: observed as it is relayed, with the bytes sent by then (its head).
    const upgraded = await upgrade(gh.httpPort, WELCOME);

    const lines = await hasLines(file, 5);
    const byId = new Map(lines.map((l) => [l.request_id, l]));
    for (const l of lines) {
      assert.match(l.time, RFC3339_MS);
      const t = Date.parse(l.time);
      assert.ok(t >= started - 1000 && t <= Date.now(), l.time);
      assert.equal(l.client, "127.0.0.1");
      assert.equal(typeof l.duration_ms, "number");
      assert.ok(l.duration_ms >= 0);
      assert.equal(l.generation, 1);
    }

    const g = byId.get(idOf(get.text))!;
    assert.deepEqual(
      { ...g, time: undefined, duration_ms: undefined },
      {
        time: undefined,
        client: "127.0.0.1",
        method: "GET",
        host: "shop.example.com",
        path: "/web/a?x=1",
        status: 200,
        bytes_in: 0,
        bytes_out: get.data.length,
        duration_ms: undefined,
        upstream: `127.0.0.1:${web.port}`,
        tries: 1,
        route: "/web:web",
        service: "web",
        generation: 1,
        request_id: idOf(get.text),
      },
    );

    const m = byId.get(idOf(missing.text))!;
    assert.deepEqual(
      [m.status, m.error, m.upstream, m.tries, m.route, m.service, m.bytes_out],
      [404, "NoRoute", "", 0, "", "", missing.data.length],
    );
    const d = byId.get(idOf(dead.text))!;
    assert.deepEqual(
      [d.status, d.error, d.tries, d.route, d.service, d.bytes_out],
      [502, "UpstreamFailed", 2, "/dead:dead", "dead", dead.data.length],
    );
    const p = byId.get(idOf(post.text))!;
    assert.deepEqual(
      [p.method, p.status, p.bytes_in, p.bytes_out, p.error],
      ["POST", 200, 12_345, post.data.length, undefined],
    );
    const u = byId.get(upgraded.id)!;
    assert.deepEqual(
      [u.status, u.bytes_out, u.upstream, u.path],
      [101, upgraded.headBytes, `127.0.0.1:${ws.port}`, "/ws/chat"],
    );
    assert.deepEqual(fileNotes(gh), [], "nothing went wrong with the file");
    assert.doesNotMatch(gh.stderr, /"GET \/web\/a/, "the lines go to the file, not stderr");
  });
});

/** An upgrade through the ingress: the 101 head's size as received, and its request id. */
async function upgrade(port: number, welcome: string): Promise<{ headBytes: number; id: string }> {
  const socket = net.connect({ host: "127.0.0.1", port });
  let data = Buffer.alloc(0);
  socket.on("data", (c: Buffer) => (data = Buffer.concat([data, c])));
  socket.write(
    "GET /ws/chat HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
  );
  try {
    await until("the 101 and the greeting", 5_000, () => Promise.resolve(data.includes(welcome)));
  } finally {
    socket.destroy();
  }
  const text = data.toString("latin1");
  assert.match(text, /^HTTP\/1\.1 101 /);
  return { headBytes: text.indexOf("\r\n\r\n") + 4, id: idOf(text) };
}

describe("access log: other formats and the config file", () => {
  it("writes combined lines to stderr without a file, Referer and User-Agent included", async () => {
    const web = await startEchoBackend("web");
    const gh = await startGatehouse([
      ...freePortFlags(),
      "--access-log-format",
      "combined",
      "--route",
      "/:web",
    ]);
    try {
      await register(gh.towerPort!, "web", web.port);
      const res = await request(gh.httpPort, {
        path: "/c?q=1",
        headers: [["Referer", "http://r.example/"], ["User-Agent", 'agent "7"']],
      });
      assert.equal(res.status, 200);
      const bodyBytes = res.body.length;
      await until("the line", 5_000, () => Promise.resolve(/"GET \/c\?q=1/.test(gh.stderr)));
      assert.match(
        gh.stderr,
        new RegExp(
          String.raw`^gatehouse: 127\.0\.0\.1 - - \[\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\] ` +
            String
              .raw`"GET /c\?q=1 HTTP/1\.1" 200 ${bodyBytes} "http://r\.example/" "agent \\x227\\x22"$`,
          "m",
        ),
      );
    } finally {
      await gh.kill();
      await web.close();
    }
  });

  it("takes the settings as config file keys, and gatehouse check shows them", async () => {
    const config = join(dir, "gatehouse.yaml");
    const file = join(dir, "from-config.log");
    await writeFile(
      config,
      `access-log-format: common\naccess-log-file: ${file}\nroutes: [/:web]\n`,
    );
    const r = await runGatehouse(["check", "--config", config]);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(r.stdout.includes(`access log: common to ${file} (reopened on SIGUSR1)\n`), r.stdout);
    const bad = join(dir, "bad.yaml");
    await writeFile(bad, "access-log-format: apache\nroutes: [/:web]\n");
    const refused = await runGatehouse(["check", "--config", bad]);
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /bad\.yaml:1: access-log-format: "apache" must be classic, json/);

    const web = await startEchoBackend("web");
    const gh = await startGatehouse([...freePortFlags(), "--config", config]);
    try {
      await register(gh.towerPort!, "web", web.port);
      const res = await request(gh.httpPort, { path: "/from-config" });
      assert.equal(res.status, 200);
      await until(
        "the line",
        5_000,
        async () => (await readFile(file, "utf8").catch(() => "")) !== "",
      );
      assert.match(
        await readFile(file, "utf8"),
        new RegExp(
          String
            .raw`^127\.0\.0\.1 - - \[[^\]]+\] "GET /from-config HTTP/1\.1" 200 ${res.body.length}\n$`,
        ),
      );
    } finally {
      await gh.kill();
      await web.close();
    }
  });
});
