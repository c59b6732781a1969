/**
 * The access log file's life: nothing lost at shutdown, rotation (rename,
 * SIGUSR1, the next lines in a new file, none lost, no debugger port
 * opened), a path that cannot be written (a folder, a full disk) said once
 * while requests keep succeeding and the dropped lines counted and said
 * when writing works again, and `--procs 2` with both processes appending
 * whole lines to one file and both reopening it on SIGUSR1.
 */

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rename, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type EchoBackend, sleep, startEchoBackend } from "../helpers/backends.ts";
import { freePortFlags, type Gatehouse, startGatehouse } from "../helpers/gatehouse.ts";
import { HttpConnection, request } from "../helpers/http.ts";
import { register } from "../helpers/tower.ts";
import { fileNotes, hasLines, linesOf, listensOn, until } from "../helpers/access_log.ts";

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), "gatehouse-access-log-"));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

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
    // The primary relays the registration to the worker: wait until both route it.
    await until("both processes routing", 10_000, async () => {
      const answers = await Promise.all(
        Array.from({ length: 20 }, () => request(gh.httpPort).then((r) => r.status, () => 0)),
      );
      return answers.every((status) => status === 200);
    });
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
    // The lines of the requests that waited for the worker are written (100 ms) and left aside.
    await sleep(300);
    const before = (await linesOf(file)).length;
    const ids = await fresh(200);
    assert.equal(new Set(ids.map(processOf)).size, 2, "both processes answered");
    const lines = (await hasLines(file, before + 200)).slice(before);
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
    assert.equal((await linesOf(`${file}.1`)).length, before + 200, "the moved file got no more");
    assert.equal(gh.hasExited, false);
  });
});
