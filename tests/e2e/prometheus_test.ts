/**
 * A real Prometheus server (Debian's `prometheus`, which the test command
 * installs) scrapes Gatehouse's admin listener every second with the
 * bearer token, and a query through its HTTP API returns the requests
 * Gatehouse served: the scrape config, the token, content negotiation
 * (Prometheus asks for OpenMetrics first) and the format all hold up.
 */

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type EchoBackend, sleep, startEchoBackend } from "../helpers/backends.ts";
import { type Gatehouse, startGatehouse } from "../helpers/gatehouse.ts";
import { request } from "../helpers/http.ts";
import { register } from "../helpers/tower.ts";
import { adminPort } from "../helpers/metrics.ts";
import { type Started, stopProcess } from "../helpers/process.ts";

const TOKEN = "prometheus-scrapes-with-this";

let dir: string;
let api: EchoBackend;
let gh: Gatehouse;
let prometheus: Started & { output: () => string };
let promPort: number;

/** A TCP port free now on loopback. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => resolve(port));
    });
  });
}

/** Start `prometheus` with `config`, its data in `dataDir`, its API on `port`. */
function startPrometheus(config: string, dataDir: string, port: number) {
  const child = spawn("prometheus", [
    `--config.file=${config}`,
    `--storage.tsdb.path=${dataDir}`,
    `--web.listen-address=127.0.0.1:${port}`,
  ], { stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout!.on("data", (c) => output += c);
  child.stderr!.on("data", (c) => output += c);
  const closed = new Promise<void>((resolve, reject) => {
    child.on("error", (e) =>
      reject(
        new Error(`cannot run prometheus (the test command installs Debian's prometheus): ${e}`),
      ));
    child.on("close", () => resolve());
  });
  return { child, closed, output: () => output };
}

/** An instant query through Prometheus's HTTP API: the first result's value, or undefined. */
async function query(expr: string): Promise<number | undefined> {
  const res = await fetch(
    `http://127.0.0.1:${promPort}/api/v1/query?query=${encodeURIComponent(expr)}`,
  );
  const body = await res.json() as {
    status: string;
    data?: { result: { value: [number, string] }[] };
  };
  if (body.status !== "success" || body.data === undefined) return undefined;
  const first = body.data.result[0];
  return first === undefined ? undefined : Number(first.value[1]);
}

/** Poll `expr` until it equals `want` (within `ms`); fails with the last value and the logs. */
async function queryBecomes(expr: string, want: number, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  let last: number | undefined;
  while (Date.now() < deadline) {
    last = await query(expr).catch(() => undefined);
    if (last === want) return;
    await sleep(250);
  }
  assert.fail(`${expr} = ${last}, not ${want}, after ${ms} ms\n${prometheus.output()}`);
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "gatehouse-prometheus-"));
  api = await startEchoBackend("api");
  gh = await startGatehouse([
    "--listen",
    "127.0.0.1:0",
    "--tower-listen",
    "127.0.0.1:0",
    "--route",
    "/api:api",
    "--admin",
    "127.0.0.1:0",
    "--admin-token",
    TOKEN,
  ]);
  await register(gh.towerPort!, "api", api.port);
  const config = join(dir, "prometheus.yml");
  await writeFile(
    config,
    [
      "global:",
      "  scrape_interval: 1s",
      "  evaluation_interval: 1s",
      "scrape_configs:",
      "  - job_name: gatehouse",
      "    scrape_interval: 1s",
      "    scrape_timeout: 1s",
      "    authorization:",
      `      credentials: ${TOKEN}`,
      "    static_configs:",
      `      - targets: ["127.0.0.1:${adminPort(gh)}"]`,
      "",
    ].join("\n"),
  );
  promPort = await freePort();
  prometheus = startPrometheus(config, join(dir, "data"), promPort);
});

after(async () => {
  if (prometheus !== undefined) await stopProcess(prometheus);
  await gh?.kill();
  await api?.close();
  await rm(dir, { recursive: true, force: true });
});

describe("Prometheus scraping Gatehouse", () => {
  it("scrapes with the token, and a query returns the requests served", async () => {
    await queryBecomes('up{job="gatehouse"}', 1);
    for (let i = 0; i < 17; i++) {
      assert.equal((await request(gh.httpPort, { path: `/api/${i}` })).status, 200);
    }
    await queryBecomes(
      'sum(gatehouse_requests_total{job="gatehouse",route="/api",service="api",code="200"})',
      17,
    );
    await queryBecomes('gatehouse_request_duration_seconds_count{service="api"}', 17);
    await queryBecomes('gatehouse_replicas{service="api",state="healthy"}', 1);
  });
});
