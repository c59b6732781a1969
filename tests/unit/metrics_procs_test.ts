/**
 * `--procs`: snapshots cross the pipe as one line and back, workers'
 * numbers are summed into the primary's (or kept per process under a
 * `proc` label), and a scrape waits for the workers only so long.
 */

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  family,
  labelled,
  labels,
  mergeSnapshot,
  parseSnapshot,
  serializeSnapshot,
  type Snapshot,
} from "../../src/metrics/snapshot.ts";
import { CATALOG, FAMILIES } from "../../src/metrics/catalog.ts";
import { workerAnswer, WorkerScrapes } from "../../src/metrics/procs.ts";

/** A process's snapshot: requests, a histogram, connections and its memory. */
function processSnapshot(requests: number, connections: number, rss: number): Snapshot {
  const r = family(CATALOG.requests);
  r.samples.set('route="/",service="web",class="2xx",code="200"', requests);
  const d = family(CATALOG.requestDuration);
  const counts = new Array(CATALOG.requestDuration.buckets.length + 1).fill(0);
  counts[0] = requests;
  d.samples.set('service="web"', { counts, sum: requests * 0.0005, count: requests });
  const c = family(CATALOG.clientConnections);
  c.samples.set("", connections);
  const m = family(CATALOG.residentMemory);
  m.samples.set("", rss);
  return [r, d, c, m];
}

describe("snapshots across processes", () => {
  it("survive the pipe: serialized to one line and read back alike", () => {
    const snap = processSnapshot(5, 2, 1000);
    const line = serializeSnapshot(snap);
    assert.ok(!line.includes("\n"));
    const back = parseSnapshot(line, FAMILIES);
    assert.deepEqual(
      back.map((f) => [f.spec.name, [...f.samples]]),
      snap.map((f) => [
        f.spec.name,
        [...f.samples],
      ]),
    );
  });

  it("leave out what they cannot read", () => {
    const back = parseSnapshot(
      JSON.stringify([
        ["no_such_family", [["", 1]]],
        ["gatehouse_client_connections", [["", "three"], ["", 3]]],
        ["gatehouse_request_duration_seconds", [['service="x"', {
          counts: [1],
          sum: 1,
          count: 1,
        }]]],
      ]),
      FAMILIES,
    );
    assert.equal(back.length, 2);
    assert.equal(back[0].samples.get(""), 3);
    assert.equal(back[1].samples.size, 0);
    assert.throws(() => parseSnapshot("{not json", FAMILIES));
  });

  it("sum counters, histograms and connections; keep per-process gauges apart", () => {
    const all = labelled(processSnapshot(5, 2, 1000), 0);
    mergeSnapshot(all, processSnapshot(7, 3, 2000), 1);
    mergeSnapshot(all, processSnapshot(1, 0, 3000), 2);
    const get = (name: string) => all.find((f) => f.spec.name === name)!.samples;
    assert.equal(
      get("gatehouse_requests").get('route="/",service="web",class="2xx",code="200"'),
      13,
    );
    const h = get("gatehouse_request_duration_seconds").get('service="web"') as {
      counts: number[];
      count: number;
      sum: number;
    };
    assert.equal(h.count, 13);
    assert.equal(h.counts[0], 13);
    assert.ok(Math.abs(h.sum - 0.0065) < 1e-12);
    assert.equal(get("gatehouse_client_connections").get(""), 5);
    const rss = get("process_resident_memory_bytes");
    assert.deepEqual([...rss.entries()].sort(), [
      ['proc="0"', 1000],
      ['proc="1"', 2000],
      ['proc="2"', 3000],
    ]);
  });

  it("merge into a copy: the worker's snapshot is not changed", () => {
    const worker = processSnapshot(2, 1, 10);
    const all = labelled(processSnapshot(1, 1, 10), 0);
    mergeSnapshot(all, worker, 1);
    mergeSnapshot(all, worker, 2);
    const h = worker[1].samples.get('service="web"') as { counts: number[]; count: number };
    assert.equal(h.count, 2);
    assert.equal(h.counts[0], 2);
    assert.equal(labels(["proc", "1"]), 'proc="1"');
  });
});

describe("WorkerScrapes", () => {
  it("asks every worker and resolves once each answered", async () => {
    const sent: string[] = [];
    const scrapes = new WorkerScrapes((line) => sent.push(line), () => 2);
    const asked = scrapes.ask(5_000);
    assert.deepEqual(sent, ["M|1\n"]);
    const answer = workerAnswer("M|1", () => processSnapshot(4, 1, 1));
    assert.ok(answer !== null);
    assert.equal(scrapes.heard(1, answer), true);
    assert.equal(scrapes.heard(2, answer), true);
    const got = await asked;
    assert.deepEqual([...got.keys()].sort(), [1, 2]);
    assert.equal(got.get(2)![0].samples.get('route="/",service="web",class="2xx",code="200"'), 4);
  });

  it("serves what came when a worker does not answer in time", async () => {
    const scrapes = new WorkerScrapes(() => {}, () => 2);
    const started = Date.now();
    const asked = scrapes.ask(150);
    scrapes.heard(1, workerAnswer("M|1", () => [])!);
    const got = await asked;
    assert.deepEqual([...got.keys()], [1]);
    assert.ok(Date.now() - started >= 140);
    // A late answer to a finished scrape is dropped; other lines are not answers.
    assert.equal(scrapes.heard(2, workerAnswer("M|1", () => [])!), true);
    assert.equal(scrapes.heard(2, "gatehouse: something else"), false);
  });

  it("does not wait without workers, and answers only scrape lines", async () => {
    const scrapes = new WorkerScrapes(() => assert.fail("nothing to ask"), () => 0);
    assert.equal((await scrapes.ask(5_000)).size, 0);
    assert.equal(workerAnswer("R|web|10.0.0.7|8080|0", () => []), null);
    assert.equal(workerAnswer("M|12", () => []), "M|12|[]");
  });
});
