/**
 * The benchmark compares proxies doing the same work: nginx and haproxy, as
 * `deno task bench` configures them, must hand the backend the same
 * forwarding headers Gatehouse does, and make a request id, send it to the
 * backend and return it to the client as Gatehouse does (each proxy makes
 * ids of its own form, so what is compared is that they do). Real nginx and
 * haproxy processes (the CI installs both), one echo backend behind all
 * three.
 */

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { nginxProxyConfig } from "../../bench/lib/nginx.ts";
import { haproxyConfig } from "../../bench/lib/haproxy.ts";
import { closedPort, sleep } from "../helpers/backends.ts";
import { echoOf, type EchoView, rawExchange, request, tryParseResponse } from "../helpers/http.ts";
import { type Started, stopProcess } from "../helpers/process.ts";
import { type Stack, startStack } from "../helpers/stack.ts";

/** A reference proxy started for the test. */
interface Reference extends Started {
  port: number;
  output: () => string;
}

function launch(port: number, cmd: string, args: string[]): Reference {
  const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
  let text = "";
  child.stdout!.on("data", (d) => text += d);
  child.stderr!.on("data", (d) => text += d);
  child.on("error", (e) => text += `spawn failed: ${e.message}`);
  const closed = new Promise<void>((resolve) => child.once("close", () => resolve()));
  return { port, child, closed, output: () => text.trim().split("\n").slice(-5).join("\n") };
}

/** Wait until a GET through the proxy reaches the backend. */
async function untilServing(ref: Reference, name: string): Promise<void> {
  let exited = false;
  void ref.closed.then(() => exited = true);
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline && !exited) {
    try {
      const res = await request(ref.port, { path: "/ready" });
      if (res.status === 200) return;
    } catch {
      // not listening yet
    }
    await sleep(50);
  }
  throw new Error(`${name} did not start serving: ${ref.output() || "(no output)"}`);
}

/** The id a client sends, which none of the proxies may pass on (the client is no trusted proxy). */
const CLIENT_ID = "client-made-id";

/**
 * What the backend saw of one request sent through `port`, with the
 * request id the client got back as `returned-request-id`.
 */
async function forwarded(port: number): Promise<EchoView["headers"]> {
  const res = await request(port, {
    path: "/fwd",
    host: "shop.example.com",
    headers: [["X-Forwarded-For", "10.1.1.1"], ["Via", "1.0 fred"], ["X-Request-Id", CLIENT_ID]],
  });
  assert.equal(res.status, 200, res.text);
  return { ...echoOf(res).headers, "returned-request-id": res.headers["x-request-id"] };
}

/** What the backend saw of an HTTP/1.0 request sent through `port`. */
async function forwarded10(port: number): Promise<EchoView["headers"]> {
  const reply = await rawExchange(
    port,
    "GET /fwd10 HTTP/1.0\r\nHost: shop.example.com\r\n\r\n",
  );
  const parsed = tryParseResponse(reply.data, true);
  assert.ok(parsed, `no response: ${reply.text}`);
  assert.equal(parsed.response.status, 200, parsed.response.text);
  return echoOf(parsed.response).headers;
}

/** The forwarding headers an ingress is expected to set. */
function forwardingView(h: EchoView["headers"]) {
  return {
    host: h["host"],
    "x-forwarded-for": h["x-forwarded-for"],
    "x-real-ip": h["x-real-ip"],
    "x-forwarded-proto": h["x-forwarded-proto"],
    "x-forwarded-host": h["x-forwarded-host"],
    via: h["via"],
    "x-request-id": requestIdView(h["x-request-id"], h["returned-request-id"]),
  };
}

/** How a proxy handled the request id: its own, sent on and returned, is "made, sent, returned". */
function requestIdView(
  sent: string | string[] | undefined,
  returned: string | string[] | undefined,
) {
  if (typeof sent !== "string" || sent === "") return `not one id sent: ${JSON.stringify(sent)}`;
  if (sent === CLIENT_ID) return "the client's passed on";
  if (returned !== sent) return `returned ${JSON.stringify(returned)}, sent ${sent}`;
  return "made, sent, returned";
}

/** Two requests through `port` get two ids. */
async function distinctIds(port: number): Promise<void> {
  const a = await forwarded(port), b = await forwarded(port);
  assert.notEqual(a["x-request-id"], b["x-request-id"]);
}

describe("benchmark reference proxies set the forwarding headers Gatehouse sets", () => {
  let stack: Stack;
  let dir: string;
  let nginx: Reference | undefined;
  let haproxy: Reference | undefined;

  before(async () => {
    stack = await startStack(["--route", "/:bench"], ["bench"]);
    dir = await mkdtemp(join(tmpdir(), "gatehouse-bench-eq-"));
    const upstreamPort = stack.backends.bench.port;

    const nginxPort = await closedPort();
    const conf = join(dir, "nginx.conf");
    await writeFile(
      conf,
      nginxProxyConfig({
        prefix: dir,
        pidFile: join(dir, "nginx.pid"),
        errorLog: join(dir, "error.log"),
        user: process.getuid?.() === 0 ? "root" : undefined,
        port: nginxPort,
        upstreamPort,
      }),
    );
    nginx = launch(nginxPort, "nginx", ["-p", dir, "-e", "stderr", "-c", conf]);
    await untilServing(nginx, "nginx");

    const haproxyPort = await closedPort();
    const cfg = join(dir, "haproxy.cfg");
    await writeFile(cfg, haproxyConfig({ port: haproxyPort, upstreamPort }));
    haproxy = launch(haproxyPort, "haproxy", ["-db", "-f", cfg]);
    await untilServing(haproxy, "haproxy");
  });

  after(async () => {
    if (nginx) await stopProcess(nginx);
    if (haproxy) await stopProcess(haproxy);
    await stack?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("Gatehouse: the routed host, the client appended to X-Forwarded-For, its own id", async () => {
    assert.deepEqual(forwardingView(await forwarded(stack.port)), {
      host: "shop.example.com",
      "x-forwarded-for": "10.1.1.1, 127.0.0.1",
      "x-real-ip": "127.0.0.1",
      "x-forwarded-proto": "http",
      "x-forwarded-host": "shop.example.com",
      via: "1.0 fred, 1.1 gatehouse",
      "x-request-id": "made, sent, returned",
    });
    assert.equal((await forwarded10(stack.port))["via"], "1.0 gatehouse");
    await distinctIds(stack.port);
  });

  it("nginx, as the benchmark configures it, sends the same", async () => {
    assert.deepEqual(
      forwardingView(await forwarded(nginx!.port)),
      forwardingView(await forwarded(stack.port)),
    );
    assert.equal((await forwarded10(nginx!.port))["via"], "1.0 gatehouse");
    await distinctIds(nginx!.port);
  });

  it("haproxy, as the benchmark configures it, sends the same", async () => {
    assert.deepEqual(
      forwardingView(await forwarded(haproxy!.port)),
      forwardingView(await forwarded(stack.port)),
    );
    assert.equal((await forwarded10(haproxy!.port))["via"], "1.0 gatehouse");
    await distinctIds(haproxy!.port);
  });
});
