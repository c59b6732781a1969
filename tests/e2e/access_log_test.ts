/**
 * The access log to a file: JSON lines for known traffic (a proxied GET
 * whose bytes_out is every byte the client got, a 404, a 502 after two
 * tries, a POST whose bytes_in is its body, a 101), nothing lost at
 * shutdown, rotation (rename, SIGUSR1, the next lines in a new file, none
 * lost), a path that cannot be written (a folder, a full disk) said once
 * while requests keep succeeding, and the count of dropped lines said when
 * writing works again, and `--procs 2` with both processes appending whole
 * lines to one file and both reopening it on SIGUSR1.
 */

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { existsSync, readdirSync, readFileSync, readlinkSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rename, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Buffer } from "node:buffer";
import {
  closedPort,
  type EchoBackend,
  type RawBackend,
  readRequest,
  sleep,
  startEchoBackend,
  startRawBackend,
} from "../helpers/backends.ts";
import {
  freePortFlags,
  type Gatehouse,
  runGatehouse,
  startGatehouse,
} from "../helpers/gatehouse.ts";
import { HttpConnection, rawExchange, request } from "../helpers/http.ts";
import { register } from "../helpers/tower.ts";

/** One JSON access log line. */
interface Line {
  time: string;
  client: string;
  method: string;
  host: string;
  path: string;
  status: number;
  bytes_in: number;
  bytes_out: number;
  duration_ms: number;
  upstream: string;
  tries: number;
  route: string;
  service: string;
  generation: number;
  request_id: string;
  error?: string;
}

const RFC3339_MS = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

/** The file's lines, each parsed (a line that is no whole JSON object fails the test). */
async function linesOf(path: string): Promise<Line[]> {
  const text = await readFile(path, "utf8").catch(() => "");
  if (text === "") return [];
  assert.ok(text.endsWith("\n"), "the file ends with a whole line");
  return text.slice(0, -1).split("\n").map((l) => {
    try {
      return JSON.parse(l) as Line;
    } catch {
      return assert.fail(`not a whole JSON line: ${JSON.stringify(l)}`);
    }
  });
}

/** Polls until `check` holds (every 50 ms), or fails after `ms` with `what`. */
async function until(what: string, ms: number, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(50);
  }
}

/** The file has `n` lines (and, a few flushes later, still `n`). */
async function hasLines(path: string, n: number): Promise<Line[]> {
  await until(`${n} lines in ${path}`, 5_000, async () => (await linesOf(path)).length >= n);
  await sleep(300);
  const lines = await linesOf(path);
  assert.equal(lines.length, n, JSON.stringify(lines.map((l) => `${l.method} ${l.path}`)));
  return lines;
}

/** The stderr lines of `gh` that speak of the access log file. */
function fileNotes(gh: Gatehouse): string[] {
  return gh.stderr.split("\n").filter((l) => l.startsWith("gatehouse: access log "));
}

/**
 * Whether process `pid` has a TCP socket listening on `port` (Linux /proc:
 * its descriptors' socket inodes against the listening sockets' table).
 */
function listensOn(pid: number, port: number): boolean {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.add(m[1]);
    } catch {
      // Closed meanwhile.
    }
  }
  const hexPort = port.toString(16).toUpperCase().padStart(4, "0");
  for (const table of ["tcp", "tcp6"]) {
    const rows = readFileSync(`/proc/${pid}/net/${table}`, "utf8").trim().split("\n").slice(1);
    for (const row of rows) {
      const f = row.trim().split(/\s+/);
      // local address, state (0A: LISTEN), inode.
      if (f[1].endsWith(`:${hexPort}`) && f[3] === "0A" && inodes.has(f[9])) return true;
    }
  }
  return false;
}

/** The X-Request-Id of a raw response. */
function idOf(text: string): string {
  return /\r\nX-Request-Id: (\S+)\r\n/i.exec(text)?.[1] ?? assert.fail(`no id in ${text}`);
}

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

describe("access log: shutdown and rotation", () => {
  let web: EchoBackend;

  before(async () => {
    web = await startEchoBackend("web");
  });
  after(async () => {
    await web?.close();
  });

  async function start(file: string, more: string[] = []): Promise<Gatehouse> {
    const gh = await startGatehouse([
      ...freePortFlags(),
      "--access-log-format",
      "json",
      "--access-log-file",
      file,
      "--route",
      "/:web",
      ...more,
    ]);
    await register(gh.towerPort!, "web", web.port);
    return gh;
  }

  it("writes every line before it exits on SIGTERM", async () => {
    const file = join(dir, "shutdown.log");
    const gh = await start(file);
    try {
      const ids: string[] = [];
      const conn = await HttpConnection.open(gh.httpPort);
      for (let i = 0; i < 30; i++) {
        conn.write(`GET /s/${i} HTTP/1.1\r\nHost: a\r\n\r\n`);
        ids.push((await conn.readResponse()).headers["x-request-id"]);
      }
      conn.close();
      // At once: the batch's 100 ms have not passed.
      assert.equal(await gh.stop("SIGTERM"), 0);
      const lines = await linesOf(file);
      assert.deepEqual(lines.map((l) => l.request_id).sort(), ids.sort());
    } finally {
      await gh.kill();
    }
  });

  it("reopens the file on SIGUSR1: the next lines go to a new file, and none is lost", async () => {
    const file = join(dir, "rotate.log");
    const gh = await start(file);
    try {
      // Four clients keep asking while the file is moved away and reopened.
      const ids: string[] = [];
      let stop = false;
      const clients = Array.from({ length: 4 }, async () => {
        const conn = await HttpConnection.open(gh.httpPort);
        for (let i = 0; !stop; i++) {
          conn.write(`GET /r/${i} HTTP/1.1\r\nHost: a\r\n\r\n`);
          const res = await conn.readResponse();
          assert.equal(res.status, 200);
          ids.push(res.headers["x-request-id"]);
        }
        conn.close();
      });
      await until("some lines", 5_000, async () => (await linesOf(file)).length >= 20);
      // A second in, as a rotation comes (Deno hears SIGUSR1 itself only 500 ms after start).
      await sleep(1000);
      // logrotate: rename, then postrotate's kill -USR1.
      await rename(file, `${file}.1`);
      gh.signal("SIGUSR1");
      await until("the new file", 5_000, () => Promise.resolve(existsSync(file)));
      await until("lines in the new file", 5_000, async () => (await linesOf(file)).length >= 20);
      stop = true;
      await Promise.all(clients);
      await until(
        "every request's line",
        5_000,
        async () =>
          (await linesOf(file)).length + (await linesOf(`${file}.1`)).length >= ids.length,
      );
      await sleep(300);
      const moved = await linesOf(`${file}.1`);
      const fresh = await linesOf(file);
      const logged = [...moved, ...fresh].map((l) => l.request_id);
      assert.equal(new Set(logged).size, logged.length, "no line twice");
      assert.deepEqual(logged.sort(), [...ids].sort(), "every request once, in one of the files");
      // The moved file got nothing after the new one began.
      const firstFresh = Math.min(...fresh.map((l) => Date.parse(l.time)));
      assert.ok(moved.length >= 20 && fresh.length >= 20);
      assert.ok(moved.every((l) => Date.parse(l.time) <= firstFresh + 1000));
      assert.deepEqual(fileNotes(gh), []);
      // The signal opened no debugger port (Deno opens its inspector on SIGUSR1 unless closed).
      assert.equal(listensOn(gh.proc.pid!, 9229), false, "a debugger listens on 9229");
    } finally {
      await gh.kill();
    }
  });
});

describe("access log: a file that cannot be written", () => {
  let web: EchoBackend;

  before(async () => {
    web = await startEchoBackend("web");
  });
  after(async () => {
    await web?.close();
  });

  /** Start with the log at `path`, send `n` requests (all 200), and wait some flushes. */
  async function withLogAt(path: string, n: number): Promise<Gatehouse> {
    const gh = await startGatehouse([
      ...freePortFlags(),
      "--access-log-format",
      "json",
      "--access-log-file",
      path,
      "--route",
      "/:web",
    ]);
    await register(gh.towerPort!, "web", web.port);
    await send(gh, n);
    return gh;
  }

  async function send(gh: Gatehouse, n: number): Promise<void> {
    for (let i = 0; i < n; i++) {
      const res = await request(gh.httpPort, { path: `/w/${i}` });
      assert.equal(res.status, 200);
      // Spread over several batches.
      if (i % 5 === 4) await sleep(120);
    }
    await sleep(300);
  }

  it("says a folder once and keeps proxying", async () => {
    const folder = join(dir, "a-folder");
    await mkdir(folder);
    const gh = await withLogAt(folder, 20);
    try {
      assert.equal(gh.hasExited, false);
      const notes = fileNotes(gh);
      assert.equal(notes.length, 1, gh.stderr);
      assert.match(
        notes[0],
        /^gatehouse: access log \S+a-folder: cannot open it: .+; dropping lines until it works again$/,
      );
    } finally {
      await gh.kill();
    }
  });

  it("says a full disk once and keeps proxying", { skip: !existsSync("/dev/full") }, async () => {
    const gh = await withLogAt("/dev/full", 20);
    try {
      const notes = fileNotes(gh);
      assert.equal(notes.length, 1, gh.stderr);
      assert.match(
        notes[0],
        /^gatehouse: access log \/dev\/full: cannot write: .*(No space left on device|ENOSPC).*; dropping lines until it works again$/i,
      );
    } finally {
      await gh.kill();
    }
  });

  it("says how many lines it dropped once it can write again", async () => {
    const later = join(dir, "not-yet");
    const file = join(later, "access.log");
    const gh = await withLogAt(file, 5);
    try {
      assert.equal(fileNotes(gh).length, 1, gh.stderr);
      await mkdir(later);
      await send(gh, 3);
      const lines = await hasLines(file, 3);
      assert.deepEqual(lines.map((l) => l.path), ["/w/0", "/w/1", "/w/2"]);
      assert.deepEqual(fileNotes(gh).slice(1), [
        `gatehouse: access log ${file}: writing again; 5 lines dropped`,
      ]);
    } finally {
      await gh.kill();
    }
  });
});

describe("access log: --procs 2 share one file", () => {
  let web: EchoBackend;
  let gh: Gatehouse;
  let file: string;

  before(async () => {
    file = join(dir, "procs.log");
    web = await startEchoBackend("web");
    gh = await startGatehouse([
      ...freePortFlags(),
      "--procs",
      "2",
      "--access-log-format",
      "json",
      "--access-log-file",
      file,
      "--route",
      "/:web",
    ]);
    await register(gh.towerPort!, "web", web.port);
  });
  after(async () => {
    await gh?.kill();
    await web?.close();
  });

  /** `n` requests on fresh connections, 20 at a time (the kernel spreads them over both). */
  async function fresh(n: number): Promise<string[]> {
    const ids: string[] = [];
    for (let i = 0; i < n; i += 20) {
      const batch = await Promise.all(
        Array.from({ length: 20 }, (_, k) => request(gh.httpPort, { path: `/p/${i + k}` })),
      );
      for (const res of batch) {
        assert.equal(res.status, 200);
        ids.push(res.headers["x-request-id"]);
      }
    }
    return ids;
  }

  /** Each process makes ids with its own prefix. */
  const processOf = (id: string) => id.split("-")[0];

  it("has both processes append whole lines, and both reopen on SIGUSR1", async () => {
    const ids = await fresh(200);
    assert.equal(new Set(ids.map(processOf)).size, 2, "both processes answered");
    const lines = await hasLines(file, 200);
    assert.deepEqual(lines.map((l) => l.request_id).sort(), [...ids].sort());
    assert.equal(new Set(lines.map((l) => processOf(l.request_id))).size, 2);

    await rename(file, `${file}.1`);
    gh.signal("SIGUSR1");
    await until("the new file", 5_000, () => Promise.resolve(existsSync(file)));
    await sleep(200);
    const after = await fresh(200);
    const fresher = await hasLines(file, 200);
    assert.deepEqual(fresher.map((l) => l.request_id).sort(), [...after].sort());
    assert.equal(
      new Set(fresher.map((l) => processOf(l.request_id))).size,
      2,
      "both processes write to the new file",
    );
    assert.equal((await linesOf(`${file}.1`)).length, 200, "the moved file got no more");
    assert.equal(gh.hasExited, false);
  });
});

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
