/**
 * The registry's freshness in /metrics: seconds since etcd or a remote
 * Tower was last heard from, growing while it is gone and back near zero
 * once it answers again, and etcd's watch reconnects.
 */

import { after, afterEach, describe, it } from "node:test";
import assert from "node:assert/strict";
import { type Gatehouse, startGatehouse } from "../helpers/gatehouse.ts";
import { type EtcdCluster, startEtcdCluster } from "../helpers/etcd.ts";
import { adminPort, scrapeMetrics, scrapeUntil } from "../helpers/metrics.ts";
import { sleep } from "../helpers/backends.ts";

const BASE_PORT = 23500;
const running: Gatehouse[] = [];
let cluster: EtcdCluster | undefined;

afterEach(async () => {
  for (const gh of running.splice(0)) await gh.kill();
});

after(async () => {
  await cluster?.stop();
});

async function ingress(args: string[]): Promise<{ gh: Gatehouse; admin: number }> {
  const gh = await startGatehouse(
    ["--listen", "127.0.0.1:0", "--route", "/:web", "--admin", "127.0.0.1:0", ...args],
    { ready: ["http"] },
  );
  running.push(gh);
  return { gh, admin: adminPort(gh) };
}

describe("registry freshness", () => {
  it("etcd: fresh while the watch talks, stale and reconnecting while etcd is gone", async () => {
    cluster = await startEtcdCluster({ size: 1, basePort: BASE_PORT });
    const { admin } = await ingress(["--registry", cluster.url("/gatehouse")]);
    const staleness = 'gatehouse_registry_staleness_seconds{proc="0",registry="etcd"}';
    const reconnects = 'gatehouse_registry_reconnects_total{registry="etcd"}';
    // Progress notifications every second keep it heard from.
    await sleep(2_500);
    let values = (await scrapeMetrics(admin)).values;
    assert.ok(values.get(staleness)! < 1.5, String(values.get(staleness)));
    assert.equal(values.get(reconnects), 0);
    await cluster.kill(0);
    values = await scrapeUntil(admin, "etcd stale", (v) => v.get(staleness)! >= 2 ? v : undefined);
    assert.ok(values.get(reconnects)! >= 1, String(values.get(reconnects)));
    await cluster.restart(0);
    await scrapeUntil(admin, "etcd heard again", (v) => v.get(staleness)! < 1 ? v : undefined);
  });

  it("remote Tower: heard from by lookups and the routes poller, stale once it is gone", async () => {
    const tower = await startGatehouse(["tower", "--listen", "127.0.0.1:0"]);
    running.push(tower);
    const { admin } = await ingress(["--tower", `127.0.0.1:${tower.towerPort}`]);
    const staleness = 'gatehouse_registry_staleness_seconds{proc="0",registry="tower"}';
    // The declared routes are read every second.
    const values = await scrapeUntil(
      admin,
      "the Tower heard",
      (v) => v.has(staleness) && v.get(staleness)! < 1.5 ? v : undefined,
    );
    assert.equal(values.has('gatehouse_registry_reconnects_total{registry="tower"}'), false);
    await tower.kill();
    await scrapeUntil(admin, "the Tower stale", (v) => v.get(staleness)! >= 2.5 ? v : undefined);
  });
});
