/**
 * What is read at a scrape rather than counted: the state a replica is
 * counted in, the process's memory, CPU and event-loop delay, and the
 * reload series.
 */

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { replicaState } from "../../src/metrics/ingress_gauges.ts";
import { LoopProbe, processFamilies } from "../../src/metrics/process_metrics.ts";
import { IngressMetrics } from "../../src/metrics/metrics.ts";
import { ReplicaState } from "../../src/replicas/state.ts";
import type { HistogramValue, Snapshot } from "../../src/metrics/snapshot.ts";

function sample(snapshot: Snapshot, name: string, labels = ""): unknown {
  return snapshot.find((f) => f.spec.name === name)?.samples.get(labels);
}

describe("replicaState", () => {
  const at = 100_000;
  const fresh = () => new ReplicaState("api", { host: "10.0.0.7", port: 8081 });

  it("is healthy unless something says otherwise", () => {
    assert.equal(replicaState(fresh(), at, false, 0), "healthy");
    const checked = fresh();
    checked.health = "healthy";
    assert.equal(replicaState(checked, at, true, 0), "healthy");
  });

  it("puts a replica in the first state that applies: draining, ejected, unhealthy, unchecked, slow-starting", () => {
    const s = fresh();
    s.rampFrom = at - 1_000;
    assert.equal(replicaState(s, at, false, 5_000), "slow_starting");
    assert.equal(replicaState(s, at, false, 500), "healthy");
    assert.equal(replicaState(s, at, true, 5_000), "unchecked");
    s.health = "unhealthy";
    assert.equal(replicaState(s, at, true, 5_000), "unhealthy");
    // Health says nothing when checks are off.
    assert.equal(replicaState(s, at, false, 0), "healthy");
    s.ejectedUntil = at + 1;
    assert.equal(replicaState(s, at, true, 5_000), "ejected");
    assert.equal(replicaState(s, at + 1, true, 0), "unhealthy");
    (s as unknown as { drained: boolean }).drained = true;
    assert.equal(replicaState(s, at, true, 5_000), "draining");
  });
});

describe("process metrics", () => {
  it("reads resident memory, CPU time and the start time", () => {
    const snap = processFamilies(null);
    assert.ok((sample(snap, "process_resident_memory_bytes") as number) > 1_000_000);
    const cpu = sample(snap, "process_cpu_seconds") as number;
    assert.ok(cpu > 0 && cpu < 10_000, String(cpu));
    const start = sample(snap, "process_start_time_seconds") as number;
    assert.ok(Math.abs(start - Date.now() / 1000) < 3_600, String(start));
    assert.equal(sample(snap, "gatehouse_event_loop_delay_seconds"), undefined);
  });

  it("sees the event loop blocked: a late timer lands in a high bucket", async () => {
    const probe = new LoopProbe();
    try {
      await new Promise((resolve) => setTimeout(resolve, 120));
      const end = performance.now() + 300;
      while (performance.now() < end) { /* hold the loop */ }
      await new Promise((resolve) => setTimeout(resolve, 150));
      const h = sample(
        processFamilies(probe),
        "gatehouse_event_loop_delay_seconds",
      ) as HistogramValue;
      assert.ok(h.count >= 2, `${h.count} firings`);
      // At least one firing came 100 ms or more late: above the 0.1 s bound.
      const above = h.counts.slice(7).reduce((a, b) => a + b, 0);
      assert.ok(above >= 1, JSON.stringify(h));
      assert.ok(h.sum >= 0.15, String(h.sum));
    } finally {
      probe.close();
    }
  });
});

describe("IngressMetrics", () => {
  it("counts reloads applied and refused, and when the last one was applied", () => {
    const m = new IngressMetrics({ primary: true, loopProbe: false });
    const before = sample(m.snapshot(), "gatehouse_config_last_reload_success_timestamp_seconds");
    m.reloaded(true);
    m.reloaded(false);
    m.reloaded(false);
    const snap = m.snapshot();
    assert.equal(sample(snap, "gatehouse_config_reloads", 'result="ok"'), 1);
    assert.equal(sample(snap, "gatehouse_config_reloads", 'result="refused"'), 2);
    assert.equal(sample(snap, "gatehouse_config_last_reload_successful"), 0);
    const last = sample(snap, "gatehouse_config_last_reload_success_timestamp_seconds") as number;
    assert.ok(last >= (before as number));
    m.close();
  });

  it("leaves the Tower and the configuration to the primary", () => {
    const m = new IngressMetrics({ primary: false, loopProbe: false });
    const names = m.snapshot().map((f) => f.spec.name);
    assert.ok(!names.includes("gatehouse_config_reloads"));
    assert.ok(names.includes("process_cpu_seconds"));
    m.close();
  });
});
