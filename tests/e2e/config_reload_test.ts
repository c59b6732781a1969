/**
 * The config file end to end: start from it, reload it on a change of the
 * file (an atomic rename, a Kubernetes ConfigMap's symlink swap, a plain
 * write) and on SIGHUP, keep the running config when the file is broken or
 * gone, open and drain listeners, route the next request on an open
 * keep-alive connection by the new table, and follow the primary under
 * `--procs 2`.
 */

import { after, afterEach, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rename, rm, symlink, unlink, writeFile } from "node:fs/promises";
import { mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type EchoBackend, sleep, startEchoBackend } from "../helpers/backends.ts";
import {
  type Gatehouse,
  runGatehouse,
  startGatehouse,
  stderrMatching,
} from "../helpers/gatehouse.ts";
import { echoOf, HttpConnection, request } from "../helpers/http.ts";
import { register } from "../helpers/tower.ts";

let dir: string;
const backends: Record<string, EchoBackend> = {};
const running: Gatehouse[] = [];

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "gatehouse-config-"));
  for (const name of ["a", "b", "c"]) backends[name] = await startEchoBackend(name);
});

after(async () => {
  for (const b of Object.values(backends)) await b.close();
  await rm(dir, { recursive: true, force: true });
});

afterEach(async () => {
  for (const gh of running.splice(0)) await gh.kill();
});

/** Write `text` to `path` the way editors do: a temporary file renamed over it. */
async function writeAtomically(path: string, text: string): Promise<void> {
  const tmp = `${path}.tmp-${Math.random().toString(36).slice(2)}`;
  await writeFile(tmp, text);
  await rename(tmp, path);
}

/** A config routing each `prefix: service` pair, plus `extra` lines at the top. */
function yaml(routes: Record<string, string>, extra = ""): string {
  const lines = [
    "tower-listen: 127.0.0.1:0",
    "access-log: true",
    extra,
    "routes:",
    ...Object.entries(routes).map(([prefix, service]) =>
      `  - { prefix: ${prefix}, service: ${service} }`
    ),
  ];
  return lines.join("\n") + "\n";
}

/** Start Gatehouse on `file` (listening on a free port) and register every backend. */
async function start(file: string, args: string[] = []): Promise<Gatehouse> {
  const gh = await startGatehouse(["--config", file, "--listen", "127.0.0.1:0", ...args]);
  running.push(gh);
  for (const [name, b] of Object.entries(backends)) await register(gh.towerPort!, name, b.port);
  return gh;
}

/** Which backend answers `path` now (or the status when none does). */
async function who(port: number, path: string): Promise<string> {
  const res = await request(port, { path });
  return res.status === 200 ? echoOf(res).backend : String(res.status);
}

/** How many times stderr says a new generation was swapped in. */
function generations(gh: Gatehouse): number[] {
  return [...gh.stderr.matchAll(/config generation (\d+):/g)].map((m) => Number(m[1]));
}

async function eventually(what: string, check: () => Promise<boolean> | boolean, ms = 10_000) {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`not within ${ms} ms: ${what}`);
    await sleep(50);
  }
}

describe("config file: start and reload", () => {
  it("reloads once on an atomic rename, and routes the next request by the new table", async () => {
    const file = join(dir, "rename.yaml");
    await writeFile(file, yaml({ "/x": "a" }));
    const gh = await start(file);
    assert.equal(await who(gh.httpPort, "/x"), "a");
    assert.equal(await who(gh.httpPort, "/y"), "404");
    // A keep-alive connection opened before the reload.
    const conn = await HttpConnection.open(gh.httpPort);
    conn.write("GET /x HTTP/1.1\r\nHost: h\r\n\r\n");
    assert.equal(echoOf(await conn.readResponse()).backend, "a");

    await writeAtomically(file, yaml({ "/x": "b", "/y": "c" }));
    await stderrMatching(
      gh,
      /config generation 2: the file changed; 2 routes; added \/y; changed \/x\n/,
    );
    conn.write("GET /x HTTP/1.1\r\nHost: h\r\n\r\n");
    assert.equal(echoOf(await conn.readResponse()).backend, "b", "same connection, new table");
    assert.equal(await who(gh.httpPort, "/y"), "c");
    conn.close();
    // The access log says which generation routed each request.
    await stderrMatching(gh, /"GET \/x" 200 a \S+ \S+ g1\n[^]*"GET \/x" 200 b \S+ \S+ g2\n/);
    await sleep(500);
    assert.deepEqual(generations(gh), [2], "one reload for one change");
  });

  it("follows a ConfigMap's symlink swap (..data -> a new folder)", async () => {
    const cm = join(dir, "configmap");
    mkdirSync(join(cm, "..v1"), { recursive: true });
    mkdirSync(join(cm, "..v2"), { recursive: true });
    await writeFile(join(cm, "..v1", "gatehouse.yaml"), yaml({ "/x": "a" }));
    await writeFile(join(cm, "..v2", "gatehouse.yaml"), yaml({ "/x": "c" }));
    await symlink("..v1", join(cm, "..data"));
    await symlink("..data/gatehouse.yaml", join(cm, "gatehouse.yaml"));
    const gh = await start(join(cm, "gatehouse.yaml"));
    assert.equal(await who(gh.httpPort, "/x"), "a");
    // What kubelet does: a new ..data link made aside, renamed over the old one.
    await symlink("..v2", join(cm, "..data_tmp"));
    await rename(join(cm, "..data_tmp"), join(cm, "..data"));
    await eventually("/x goes to c", async () => (await who(gh.httpPort, "/x")) === "c");
    await sleep(500);
    assert.deepEqual(generations(gh), [2]);
  });

  it("keeps the running config when the file is broken or deleted, and says why once", async () => {
    const file = join(dir, "broken.yaml");
    await writeFile(file, yaml({ "/x": "a" }));
    const gh = await start(file);
    await writeFile(
      file,
      "routes:\n  - { prefix: /x, service: a }\n  - { prefix: y, service: b }\n",
    );
    await stderrMatching(
      gh,
      /reload refused, the running config stays: \S*broken\.yaml:3: routes\[1\]\.prefix: must start with "\/"\n/,
    );
    assert.equal(await who(gh.httpPort, "/x"), "a");
    await unlink(file);
    await stderrMatching(
      gh,
      /reload refused, the running config stays: cannot read \S*broken\.yaml/,
    );
    assert.equal(await who(gh.httpPort, "/x"), "a");
    await writeFile(file, yaml({ "/x": "b" }));
    await eventually("/x goes to b", async () => (await who(gh.httpPort, "/x")) === "b");
    assert.deepEqual(generations(gh), [2]);
    assert.equal(gh.stderr.match(/must start with/g)?.length, 1, "a broken file is reported once");
  });

  it("reloads on SIGHUP even when the text is unchanged, and names settings that need a restart", async () => {
    const file = join(dir, "hup.yaml");
    await writeFile(file, yaml({ "/x": "a" }));
    const gh = await start(file);
    gh.signal("SIGHUP");
    await stderrMatching(gh, /config generation 2: SIGHUP; 1 routes; no route changed\n/);
    await writeFile(file, yaml({ "/x": "a" }, "header-timeout: 5s"));
    gh.signal("SIGHUP");
    await stderrMatching(
      gh,
      /config generation 3: SIGHUP; header-timeout changed, which takes a restart; 1 routes; no route changed\n/,
    );
  });

  it("keeps --route flags across reloads; a file route repeating one is refused", async () => {
    const file = join(dir, "flags.yaml");
    await writeFile(file, yaml({ "/x": "a" }));
    const gh = await start(file, ["--route", "/f:c"]);
    await writeAtomically(file, yaml({ "/x": "b" }));
    await eventually("/x goes to b", async () => (await who(gh.httpPort, "/x")) === "b");
    assert.equal(await who(gh.httpPort, "/f"), "c");
    await writeAtomically(file, yaml({ "/x": "b", "/f": "a" }));
    await stderrMatching(
      gh,
      /reload refused, the running config stays: route "\/f:a" repeats "\/f:c"/,
    );
    assert.equal(await who(gh.httpPort, "/f"), "c");
  });

  it("opens added listeners and drains removed ones", async () => {
    const file = join(dir, "listeners.yaml");
    const one = (ports: number[]) =>
      yaml(
        { "/x": "a" },
        `listeners:\n${ports.map((p) => `  - listen: 127.0.0.1:${p}`).join("\n")}`,
      );
    const first = await freePort();
    await writeFile(file, one([first]));
    const gh = await startGatehouse(["--config", file]);
    running.push(gh);
    await register(gh.towerPort!, "a", backends.a.port);
    assert.equal(gh.httpPort, first);
    const kept = await HttpConnection.open(first);
    kept.write("GET /x HTTP/1.1\r\nHost: h\r\n\r\n");
    assert.equal((await kept.readResponse()).status, 200);

    const second = await freePort();
    await writeAtomically(file, one([second]));
    await stderrMatching(
      gh,
      new RegExp(
        `config generation 2: the file changed; opened http://127\\.0\\.0\\.1:${second}; closed http://127\\.0\\.0\\.1:${first} \\(draining 1 connections\\)`,
      ),
    );
    assert.equal(await who(second, "/x"), "a");
    // The removed listener accepts no more; its idle keep-alive connection is closed.
    await eventually("the old connection closes", () => kept.ended);
    await assert.rejects(request(first, { path: "/x" }));
  });
});

describe("config file: --procs and service settings", () => {
  it("under --procs 2 the primary reloads and the worker follows", async () => {
    const file = join(dir, "procs.yaml");
    await writeFile(file, yaml({ "/x": "a" }));
    const gh = await start(file, ["--procs", "2"]);
    await writeAtomically(file, yaml({ "/x": "b" }));
    // Both processes log the new generation: the primary for the file, the worker following it.
    await stderrMatching(
      gh,
      /config generation 2: the file changed[^]*config generation 2: the primary reloaded/,
    );
    // Fresh connections land on either process (SO_REUSEPORT): every one routes by the new table.
    for (let i = 0; i < 30; i++) assert.equal(await who(gh.httpPort, "/x"), "b", `request ${i}`);
    gh.signal("SIGHUP");
    await stderrMatching(
      gh,
      /config generation 3: SIGHUP[^]*config generation 3: the primary reloaded/,
    );
  });

  it("gives a service its own settings, changed by a reload", async () => {
    // Service a's replica fails its health checks; b has none: only a's replica is taken out.
    const file = join(dir, "services.yaml");
    const sick = await startEchoBackend("sick", {
      respond: (req, res) => {
        if (req.url !== "/healthz") return false;
        res.writeHead(503).end();
        return true;
      },
    });
    try {
      const text = (service: string) =>
        yaml(
          { "/x": "a", "/y": "b" },
          `services:\n  ${service}: { health-path: /healthz, health-interval: 200ms }`,
        );
      await writeFile(file, text("a"));
      const gh = await start(file);
      await register(gh.towerPort!, "a", sick.port);
      await register(gh.towerPort!, "b", sick.port);
      await stderrMatching(gh, new RegExp(`replica a 127\\.0\\.0\\.1:${sick.port} unhealthy`));
      // Its healthy replica passes its first check too (until then a has none: a panic).
      await stderrMatching(gh, new RegExp(`replica a 127\\.0\\.0\\.1:${backends.a.port} healthy`));
      assert.equal(gh.stderr.includes(`replica b 127.0.0.1:${sick.port} unhealthy`), false);
      // Requests to a reach its healthy replica only; b's replicas are all routed.
      for (let i = 0; i < 6; i++) assert.equal(await who(gh.httpPort, "/x"), "a");
      const seen = new Set<string>();
      for (let i = 0; i < 12; i++) seen.add(await who(gh.httpPort, "/y"));
      assert.deepEqual([...seen].sort(), ["b", "sick"]);
      // The reload moves the checks to b.
      await writeAtomically(file, text("b"));
      await stderrMatching(gh, /config generation 2: .*service settings changed/);
      await stderrMatching(gh, new RegExp(`replica b 127\\.0\\.0\\.1:${sick.port} unhealthy`));
    } finally {
      await sick.close();
    }
  });
});

describe("config file: gatehouse check", () => {
  it("prints listeners, services and routes, and exits 0", async () => {
    const file = join(dir, "check.yaml");
    await writeFile(
      file,
      [
        "listeners:",
        "  - listen: 127.0.0.1:8080",
        "services:",
        "  api: { lb: round-robin, retries: 2, health-path: /healthz }",
        "routes:",
        "  - { host: shop.example.com, prefix: /api, service: api }",
        "  - /:web",
      ].join("\n"),
    );
    const r = await runGatehouse(["check", "--config", file]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /listeners:\n {2}http:\/\/127\.0\.0\.1:8080\n/);
    assert.match(r.stdout, / {2}api: lb round-robin, retries 2, .*health GET \/healthz every 5s/);
    assert.match(
      r.stdout,
      / {2}shop\.example\.com\/api -> api \(\S*check\.yaml:6\)\n {2}\/ -> web \(\S*check\.yaml:7\)/,
    );
  });

  it("names the file, the line and the key of a mistake, and exits 2", async () => {
    const cases: [string, RegExp][] = [
      [
        "grace: 10s\nroutes:\n  - { prefix: /a, servce: a }\n",
        /:3: routes\[0\]\.servce: is not a route key/,
      ],
      [
        "services:\n  api:\n    lb: fastest\n",
        /:3: services\.api\.lb: "fastest" must be least-outstanding/,
      ],
      ["listeners:\n  - listen: 127.0.0.1:99999\n", /:2: listeners\[0\]\.listen: /],
      ["connect-timeout: soon\n", /:1: connect-timeout: "soon" is not a duration/],
      ["routes: [\n", /bad\.yaml:2: /],
      ["routes:\n  - /a:a\n  - /a:b\n", /route "\/a:b" repeats "\/a:a"/],
      ["acces-log: true\n", /:1: acces-log: is not a setting/],
    ];
    for (const [text, message] of cases) {
      const file = join(dir, "bad.yaml");
      await writeFile(file, text);
      const r = await runGatehouse(["check", "--config", file]);
      assert.equal(r.code, 2, `${text}: ${r.stderr}`);
      assert.match(r.stderr, message, text);
      assert.equal(r.stderr.trim().split("\n").length, 1, "one line");
      // The ingress refuses it at start the same way.
      const run = await runGatehouse(["--config", file]);
      assert.equal(run.code, 2, text);
    }
  });

  it("reads JSON too", async () => {
    const file = join(dir, "config.json");
    await writeFile(
      file,
      JSON.stringify({ routes: [{ prefix: "/api", service: "api" }], grace: "3s" }),
    );
    const r = await runGatehouse(["check", "--config", file]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /\/api -> api/);
  });
});

/** A port free now (bound and released). */
async function freePort(): Promise<number> {
  const net = await import("node:net");
  return await new Promise((resolve) => {
    const server = net.createServer();
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => resolve(port));
    });
  });
}
