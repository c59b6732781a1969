/**
 * GET /metrics on the admin listener, end to end: known traffic gives the
 * counts and durations it should, reloads and the generation, the Tower's
 * refusals, replicas ejected and unhealthy, the output passes
 * `promtool check metrics`, and under `--procs 2` one scrape of the primary
 * counts the requests every process served.
 */

import { after, afterEach, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type EchoBackend, startEchoBackend } from "../helpers/backends.ts";
import { type Gatehouse, startGatehouse } from "../helpers/gatehouse.ts";
import { request } from "../helpers/http.ts";
import { register, towerRequest } from "../helpers/tower.ts";
import { adminPort, scrapeMetrics, scrapeUntil } from "../helpers/metrics.ts";
import { type NamedReplica, startNamedReplica } from "../helpers/named_replica.ts";
import { signTowerRequest } from "../../src/tower/signing.ts";

let dir: string;
let api: EchoBackend;
const running: Gatehouse[] = [];
const replicas: NamedReplica[] = [];

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "gatehouse-metrics-"));
  api = await startEchoBackend("api");
});

after(async () => {
  await api.close();
  await rm(dir, { recursive: true, force: true });
});

afterEach(async () => {
  for (const gh of running.splice(0)) await gh.kill();
  for (const r of replicas.splice(0)) await r.close();
});

/** Start Gatehouse with an admin listener on free ports; it and its admin port. */
async function start(args: string[]): Promise<{ gh: Gatehouse; admin: number }> {
  const gh = await startGatehouse([
    "--listen",
    "127.0.0.1:0",
    "--tower-listen",
    "127.0.0.1:0",
    "--admin",
    "127.0.0.1:0",
    ...args,
  ]);
  running.push(gh);
  return { gh, admin: adminPort(gh) };
}

const API_200 = 'gatehouse_requests_total{route="/api",service="api",class="2xx",code="200"}';
const UNROUTED_404 = 'gatehouse_requests_total{route="",service="",class="4xx",code="404"}';

/** Run `cmd args` with `input` on stdin; its exit code and output. */
function run(cmd: string, args: string[], input: string): Promise<{ code: number; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ["pipe", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (c) => out += c);
    child.stderr.on("data", (c) => out += c);
    child.on(
      "error",
      (e) =>
        reject(
          new Error(`cannot run ${cmd} (the test command installs Debian's prometheus): ${e}`),
        ),
    );
    child.on("close", (code) => resolve({ code: code ?? -1, out }));
    child.stdin.end(input);
  });
}

describe("metrics", () => {
  it("count N requests as +N, with their durations, and the ingress's own 404s", async () => {
    const { gh, admin } = await start(["--route", "/api:api"]);
    await register(gh.towerPort!, "api", api.port);
    const before = await scrapeMetrics(admin);
    assert.equal(before.type, "text/plain; version=0.0.4; charset=utf-8");
    assert.equal(before.values.get(API_200), undefined);
    for (let i = 0; i < 25; i++) {
      assert.equal((await request(gh.httpPort, { path: `/api/x${i}` })).status, 200);
    }
    for (let i = 0; i < 3; i++) {
      assert.equal((await request(gh.httpPort, { path: "/elsewhere" })).status, 404);
    }
    const { values } = await scrapeMetrics(admin);
    assert.equal(values.get(API_200), 25);
    assert.equal(values.get(UNROUTED_404), 3);
    const count = 'gatehouse_request_duration_seconds_count{service="api"}';
    assert.equal(values.get(count), 25);
    assert.equal(
      values.get('gatehouse_request_duration_seconds_bucket{service="api",le="+Inf"}'),
      25,
    );
    const sum = values.get('gatehouse_request_duration_seconds_sum{service="api"}')!;
    assert.ok(sum >= 0 && sum < 25, String(sum));
    // Each request came on its own connection, but the backend connections were pooled.
    const connects = values.get(
      'gatehouse_upstream_connect_duration_seconds_count{service="api"}',
    )!;
    assert.ok(connects >= 1 && connects <= 25, String(connects));
    assert.equal(
      values.get("gatehouse_backend_connections"),
      values.get(
        "gatehouse_backend_idle_connections",
      ),
    );
    assert.equal(values.get('gatehouse_replicas{proc="0",service="api",state="healthy"}'), 1);
    assert.equal(values.get('gatehouse_tower_registrations_total{command="register"}'), 1);
    assert.ok(values.get('process_resident_memory_bytes{proc="0"}')! > 1_000_000);
    assert.ok(values.get('gatehouse_event_loop_delay_seconds_count{proc="0"}')! >= 0);
  });

  it("pass promtool check metrics, and serve OpenMetrics to whoever asks for it", async () => {
    const { gh, admin } = await start(["--route", "/api:api", "--admin-token", "s3cret"]);
    await register(gh.towerPort!, "api", api.port);
    for (let i = 0; i < 5; i++) await request(gh.httpPort, { path: "/api" });
    await request(gh.httpPort, { path: "/nowhere" });
    assert.equal((await request(admin, { path: "/metrics" })).status, 401);
    const text = await scrapeMetrics(admin, { token: "s3cret" });
    const checked = await run("promtool", ["check", "metrics"], text.text);
    assert.equal(checked.code, 0, checked.out);
    assert.equal(checked.out.trim(), "", "promtool's lint has nothing to say");
    const om = await scrapeMetrics(admin, {
      token: "s3cret",
      accept: "application/openmetrics-text;version=1.0.0,text/plain;q=0.5",
    });
    assert.equal(om.type, "application/openmetrics-text; version=1.0.0; charset=utf-8");
    assert.ok(om.text.endsWith("# EOF\n"));
    assert.match(om.text, /^# TYPE gatehouse_requests counter$/m);
    assert.equal(om.values.get(API_200), 5);
  });

  it("count reloads applied and refused, and show the generation", async () => {
    const file = join(dir, "reload.yaml");
    const config = (routes: string) => `tower-listen: 127.0.0.1:0\nroutes:\n${routes}`;
    await writeFile(file, config("  - /api:api\n"));
    const { gh, admin } = await start(["--config", file]);
    await register(gh.towerPort!, "api", api.port);
    let values = (await scrapeMetrics(admin)).values;
    assert.equal(values.get("gatehouse_config_generation"), 1);
    assert.equal(values.get('gatehouse_config_reloads_total{result="ok"}'), 0);
    const started = values.get("gatehouse_config_last_reload_success_timestamp_seconds")!;
    await writeFile(file, config("  - /api:api\n  - /more:api\n"));
    values = await scrapeUntil(
      admin,
      "a reload",
      (v) => v.get('gatehouse_config_reloads_total{result="ok"}') === 1 ? v : undefined,
    );
    assert.equal(values.get("gatehouse_config_generation"), 2);
    assert.equal(values.get("gatehouse_config_last_reload_successful"), 1);
    assert.ok(values.get("gatehouse_config_last_reload_success_timestamp_seconds")! >= started);
    await writeFile(file, config("  - { prefix: nope, service: api }\n"));
    values = await scrapeUntil(
      admin,
      "a refused reload",
      (v) => v.get('gatehouse_config_reloads_total{result="refused"}') === 1 ? v : undefined,
    );
    assert.equal(values.get("gatehouse_config_last_reload_successful"), 0);
    assert.equal(values.get("gatehouse_config_generation"), 2);
    // The route that came with the reload is counted under its own label.
    await request(gh.httpPort, { path: "/more" });
    values = (await scrapeMetrics(admin)).values;
    assert.equal(
      values.get('gatehouse_requests_total{route="/more",service="api",class="2xx",code="200"}'),
      1,
    );
  });

  it("count the Tower's refusals by reason", async () => {
    const secret = "metrics-test-secret";
    const { gh, admin } = await start(["--route", "/api:api", "--tower-secret", secret]);
    const port = gh.towerPort!;
    const line = `REGISTER|api|127.0.0.1|${api.port}`;
    assert.equal(await towerRequest(port, line), "ERR|UNAUTHORIZED|api");
    assert.equal(await towerRequest(port, line), "ERR|UNAUTHORIZED|api");
    const signed = signTowerRequest(secret, line, Date.now());
    const forged = signTowerRequest("another-secret-entirely", line, Date.now());
    assert.equal(await towerRequest(port, forged), "ERR|UNAUTHORIZED|api");
    assert.equal(await towerRequest(port, signed), "OK|REGISTERED|api");
    assert.equal(await towerRequest(port, signed), "ERR|REPLAY|api");
    const { values } = await scrapeMetrics(admin);
    assert.equal(values.get('gatehouse_tower_refusals_total{reason="unsigned"}'), 2);
    assert.equal(values.get('gatehouse_tower_refusals_total{reason="bad_signature"}'), 1);
    assert.equal(values.get('gatehouse_tower_refusals_total{reason="replay"}'), 1);
    assert.equal(values.get('gatehouse_tower_refusals_total{reason="forbidden"}'), 0);
    assert.equal(values.get('gatehouse_tower_registrations_total{command="register"}'), 1);
    assert.equal(values.get("gatehouse_tower_entries"), 1);
  });

  it("show an ejected replica and an unhealthy one in their states", async () => {
    const { gh, admin } = await start([
      "--route",
      "/:web",
      "--outlier-5xx",
      "3",
      "--health-path",
      "/healthz",
    ]);
    const good = await startNamedReplica("good");
    const failing = await startNamedReplica("failing");
    const sick = await startNamedReplica("sick", 503);
    replicas.push(good, failing, sick);
    for (const r of [good, failing, sick]) await register(gh.towerPort!, "web", r.port);
    const state = (s: string) => `gatehouse_replicas{proc="0",service="web",state="${s}"}`;
    await scrapeUntil(
      admin,
      "health checks' verdicts",
      (v) => v.get(state("healthy")) === 2 && v.get(state("unhealthy")) === 1 ? true : undefined,
    );
    // A passing check ends an ejection: the next is due 5 s after the first (the default
    // interval), so the ejection below stays in place until well after it is scraped.
    failing.status = 500;
    // GETs the failing replica answers 500 are retried on the good one: the clients see 200.
    for (let i = 0; i < 12; i++) {
      assert.equal((await request(gh.httpPort, { path: "/" })).status, 200);
    }
    const values = await scrapeUntil(
      admin,
      "an ejection",
      (v) => v.get(state("ejected")) === 1 ? v : undefined,
    );
    assert.equal(values.get(state("healthy")), 1);
    assert.equal(values.get(state("unhealthy")), 1);
    assert.equal(values.get(state("draining")), 0);
    assert.equal(
      values.get('gatehouse_ejections_total{service="web",reason="server_errors"}'),
      1,
    );
    assert.ok(values.get('gatehouse_retries_total{service="web"}')! >= 3);
  });

  it("under --procs 2, one scrape of the primary counts every process's requests", async () => {
    const { gh, admin } = await start(["--route", "/api:api", "--procs", "2"]);
    await register(gh.towerPort!, "api", api.port);
    // The worker learns of the registration down the relay pipe: wait until both processes
    // answer 200 (each has its own request id prefix), then count from a scrape taken after.
    const ready = new Set<string>();
    for (const deadline = Date.now() + 10_000; ready.size < 2 && Date.now() < deadline;) {
      const res = await request(gh.httpPort, { path: "/api/warm" });
      if (res.status === 200) ready.add(res.headers["x-request-id"].split("-")[0]);
    }
    assert.equal(ready.size, 2, "both processes route the registered replica");
    const before = (await scrapeMetrics(admin)).values;
    const n = 40;
    // Each on a connection of its own: the kernel spreads them over both processes.
    const answers = await Promise.all(
      Array.from({ length: n }, (_, i) => request(gh.httpPort, { path: `/api/${i}` })),
    );
    const prefixes = new Set(answers.map((res) => {
      assert.equal(res.status, 200);
      return res.headers["x-request-id"].split("-")[0];
    }));
    assert.equal(prefixes.size, 2, "both processes answered (each has its own request id prefix)");
    const { values } = await scrapeMetrics(admin);
    const durations = 'gatehouse_request_duration_seconds_count{service="api"}';
    assert.equal(values.get(API_200)! - before.get(API_200)!, n);
    assert.equal(values.get(durations)! - before.get(durations)!, n);
    assert.ok(values.get('process_resident_memory_bytes{proc="1"}')! > 1_000_000);
    assert.equal(values.get('gatehouse_replicas{proc="1",service="api",state="healthy"}'), 1);
  });
});
