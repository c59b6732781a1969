// Unit tests for the benchmark harness's pure modules (bench/lib). Written
// with node:test so they run unchanged under `deno test` and `bun test`.
import { describe, it } from "node:test";
import assert from "node:assert/strict";

import { median, medianDefined, medianInterval } from "../../bench/lib/stats.ts";
import {
  countErrors,
  parseWrkOutput,
  parseWrkSize,
  parseWrkTime,
  wrkArgs,
} from "../../bench/lib/wrk.ts";
import {
  type CoreTimes,
  cpuUsage,
  descendants,
  parseCoreTimes,
  parseProcessStat,
} from "../../bench/lib/cpu.ts";
import {
  barChartSvg,
  escapeXml,
  formatShort,
  formatValue,
  niceTicks,
} from "../../bench/lib/svg.ts";
import { compareP99, type RunRecord, summarize } from "../../bench/lib/results.ts";
import {
  GATEHOUSE_VARIANTS,
  p99PairOrder,
  PROXY_COLORS,
  PROXY_IDS,
  type ProxyId,
  referenceOf,
  routeFlags,
  SCENARIOS,
  variantArgs,
} from "../../bench/lib/scenarios.ts";
import { parseVmRssKiB, PeakSampler, sumDefined } from "../../bench/lib/memory.ts";
import { parseBenchOptions } from "../../bench/lib/options.ts";
import { nginxBackendConfig, nginxProxyConfig } from "../../bench/lib/nginx.ts";
import { haproxyConfig } from "../../bench/lib/haproxy.ts";
import {
  formatLatency,
  formatMiB,
  formatNumber,
  formatTable,
  metricsCostLine,
  p99ComparisonText,
  parseCpuInfo,
  resultsChart,
  resultsMarkdown,
  routeCostLine,
  rssLine,
} from "../../bench/lib/report.ts";
import { registerMessage } from "../../bench/lib/tower.ts";
import type { WrkResult } from "../../bench/lib/wrk.ts";

const WRK_OK = `Running 10s test @ http://127.0.0.1:18081/
  1 threads and 50 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   553.43us  155.04us   4.58ms   80.67%
    Req/Sec    83.49k     1.62k   85.57k    73.33%
  Latency Distribution
     50%  541.00us
     75%  638.00us
     90%  716.00us
     99%    1.20ms
  830660 requests in 10.00s, 127.55MB read
Requests/sec:  83066.52
Transfer/sec:     12.75MB
`;

const WRK_ERRORS = `Running 3s test @ http://127.0.0.1:18081/big
  1 threads and 10 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     7.93ms    7.30ms    1.08s   91.29%
    Req/Sec     1.32k   412.87     1.84k    60.00%
  Latency Distribution
     50%    5.99ms
     75%    8.35ms
     90%   14.30ms
     99%    2.00s
  3984 requests in 3.02s, 3.89GB read
  Socket errors: connect 1, read 2, write 3, timeout 4
  Non-2xx or 3xx responses: 5
Requests/sec:   1319.10
Transfer/sec:      1.29GB
`;

describe("stats.median", () => {
  it("takes the middle of an odd count", () => assert.equal(median([3, 1, 2]), 2));
  it("averages the middle two of an even count", () => assert.equal(median([4, 1, 2, 3]), 2.5));
  it("leaves its input unsorted", () => {
    const xs = [3, 1, 2];
    median(xs);
    assert.deepEqual(xs, [3, 1, 2]);
  });
  it("rejects an empty list", () => assert.throws(() => median([]), RangeError));
  it("skips undefined values in medianDefined", () => {
    assert.equal(medianDefined([undefined, 2, 4]), 3);
    assert.equal(medianDefined([undefined]), undefined);
  });
});

describe("stats.medianInterval", () => {
  it("bounds the median by order statistics from the binomial distribution", () => {
    // n = 9: P(X <= 1) = 10/512 <= 2.5%, P(X <= 2) = 46/512 > 2.5%, so the
    // 2nd smallest and 2nd largest, covering 1 - 20/512.
    assert.deepEqual(medianInterval([5, 1, 4, 2, 3, 6, 7, 9, 8]), {
      median: 5,
      low: 2,
      high: 8,
      confidence: 1 - 20 / 512,
    });
    // n = 15: the 4th and the 12th of 15.
    const fifteen = medianInterval(Array.from({ length: 15 }, (_, i) => (i + 1) / 10));
    assert.equal(fifteen?.low, 0.4);
    assert.equal(fifteen?.high, 1.2);
    assert.equal(fifteen?.median, 0.8);
    assert.ok(fifteen !== undefined && fifteen.confidence >= 0.95 && fifteen.confidence < 0.97);
  });
  it("gives the extremes of 6 values and nothing for fewer", () => {
    assert.deepEqual(medianInterval([6, 5, 4, 3, 2, 1]), {
      median: 3.5,
      low: 1,
      high: 6,
      confidence: 1 - 2 / 64,
    });
    assert.equal(medianInterval([1, 2, 3, 4, 5]), undefined);
    assert.equal(medianInterval([]), undefined);
  });
  it("widens for a higher level", () => {
    const values = Array.from({ length: 20 }, (_, i) => i);
    const at95 = medianInterval(values)!;
    const at99 = medianInterval(values, 0.99)!;
    assert.ok(at99.low < at95.low && at99.high > at95.high);
    assert.ok(at99.confidence >= 0.99);
  });
});

describe("wrk", () => {
  it("parses times and sizes with their units", () => {
    assert.equal(parseWrkTime("541.00us"), 541e-6);
    assert.equal(parseWrkTime("1.20ms"), 0.0012);
    assert.equal(parseWrkTime("2.00s"), 2);
    assert.equal(parseWrkTime("1.00m"), 60);
    assert.equal(parseWrkSize("512.00B"), 512);
    assert.equal(parseWrkSize("2.00KB"), 2048);
    assert.equal(parseWrkSize("1.00MB"), 1048576);
    assert.throws(() => parseWrkTime("fast"), SyntaxError);
    assert.throws(() => parseWrkSize("12"), SyntaxError);
  });

  it("parses a clean run", () => {
    const r = parseWrkOutput(WRK_OK);
    assert.equal(r.requestsPerSec, 83066.52);
    assert.equal(r.requests, 830660);
    assert.equal(r.durationS, 10);
    assert.equal(r.bytesPerSec, 12.75 * 1048576);
    assert.equal(r.bytesRead, 127.55 * 1048576);
    assert.ok(Math.abs(r.latency.p50S! - 541e-6) < 1e-12);
    assert.ok(Math.abs(r.latency.p99S! - 0.0012) < 1e-12);
    assert.ok(Math.abs(r.latency.avgS! - 553.43e-6) < 1e-12);
    assert.ok(Math.abs(r.latency.maxS! - 0.00458) < 1e-12);
    assert.deepEqual(r.errors, { connect: 0, read: 0, write: 0, timeout: 0, non2xx3xx: 0 });
    assert.equal(countErrors(r.errors), 0);
  });

  it("parses socket errors, non-2xx counts and large units", () => {
    const r = parseWrkOutput(WRK_ERRORS);
    assert.deepEqual(r.errors, { connect: 1, read: 2, write: 3, timeout: 4, non2xx3xx: 5 });
    assert.equal(countErrors(r.errors), 15);
    assert.equal(r.latency.p99S, 2);
    assert.equal(r.latency.maxS, 1.08);
    assert.equal(r.bytesPerSec, 1.29 * 1024 ** 3);
  });

  it("rejects output of a run that did not complete", () => {
    assert.throws(
      () => parseWrkOutput("unable to connect to 127.0.0.1:1 Connection refused\n"),
      SyntaxError,
    );
  });

  it("builds the command line", () => {
    assert.deepEqual(
      wrkArgs({
        url: "http://127.0.0.1:1/",
        connections: 50,
        threads: 1,
        durationS: 10,
        headers: ["Connection: close"],
        timeoutS: 5,
      }),
      [
        "-t1",
        "-c50",
        "-d10s",
        "--timeout",
        "5s",
        "-H",
        "Connection: close",
        "--latency",
        "http://127.0.0.1:1/",
      ],
    );
  });
});

describe("cpu accounting", () => {
  const STAT =
    "cpu  9 9 9 9 9 9 9 9 0 0\ncpu0 100 1 50 1000 2 3 4 5 0 0\ncpu1 7 0 7 7 0 0 0 0 0 0\n";

  it("reads one core's line", () => {
    assert.deepEqual(parseCoreTimes(STAT, 0), {
      user: 100,
      nice: 1,
      system: 50,
      idle: 1000,
      iowait: 2,
      irq: 3,
      softirq: 4,
      steal: 5,
    });
    assert.throws(() => parseCoreTimes(STAT, 7), SyntaxError);
  });

  it("reads a process stat whose name has spaces and parentheses", () => {
    const s = parseProcessStat(
      "4242 (deno (main) x) S 17 4242 4242 0 -1 4194560 9 0 0 0 250 75 0 0 20 0",
    );
    assert.deepEqual(s, {
      pid: 4242,
      comm: "deno (main) x",
      ppid: 17,
      utime: 250,
      stime: 75,
      cutime: 0,
      cstime: 0,
    });
    assert.throws(() => parseProcessStat("garbage"), SyntaxError);
  });

  it("finds a process tree", () => {
    const procs = [
      { pid: 10, ppid: 1 },
      { pid: 12, ppid: 11 },
      { pid: 11, ppid: 10 },
      { pid: 13, ppid: 2 },
    ];
    assert.deepEqual([...descendants(10, procs)].sort(), [10, 11, 12]);
  });

  it("splits a core's time into proxy, foreign and interrupts", () => {
    const core = (user: number, system: number, softirq: number, steal: number): CoreTimes => ({
      user,
      nice: 0,
      system,
      idle: 0,
      iowait: 0,
      irq: 0,
      softirq,
      steal,
    });
    const usage = cpuUsage(
      { atMs: 0, core: core(0, 0, 0, 0), proxyTicks: 0 },
      { atMs: 10_000, core: core(600, 300, 50, 20), proxyTicks: 800 },
      100,
    );
    assert.equal(usage.elapsedS, 10);
    assert.equal(usage.proxy, 0.8);
    assert.equal(usage.interrupts, 0.05);
    assert.equal(usage.foreign, 0.12); // (900 - 800 + 20) / 1000
    assert.equal(usage.loadForeign, undefined);
  });

  it("measures foreign use of the load core when sampled", () => {
    const zero: CoreTimes = {
      user: 0,
      nice: 0,
      system: 0,
      idle: 0,
      iowait: 0,
      irq: 0,
      softirq: 0,
      steal: 0,
    };
    const usage = cpuUsage(
      { atMs: 0, core: zero, proxyTicks: 0, loadCore: zero, loadTicks: 10 },
      {
        atMs: 2000,
        core: zero,
        proxyTicks: 0,
        loadCore: { ...zero, user: 150, system: 30 },
        loadTicks: 160,
      },
      100,
    );
    assert.equal(usage.loadForeign, 0.15); // (180 - 150) / 200
  });

  it("never reports negative foreign time", () => {
    const zero: CoreTimes = {
      user: 0,
      nice: 0,
      system: 0,
      idle: 0,
      iowait: 0,
      irq: 0,
      softirq: 0,
      steal: 0,
    };
    const u = cpuUsage(
      { atMs: 0, core: zero, proxyTicks: 0 },
      { atMs: 1000, core: { ...zero, user: 90 }, proxyTicks: 95 },
      100,
    );
    assert.equal(u.foreign, 0);
  });
});

/** Checks that every opened element is closed in order (a cheap well-formedness test). */
function assertBalancedXml(xml: string): void {
  const stack: string[] = [];
  for (const m of xml.matchAll(/<(\/?)([a-zA-Z][\w:-]*)[^>]*?(\/?)>/g)) {
    const [, closing, name, selfClosing] = m;
    if (selfClosing) continue;
    if (closing) assert.equal(stack.pop(), name, `unbalanced </${name}>`);
    else stack.push(name);
  }
  assert.deepEqual(stack, []);
}

describe("svg chart", () => {
  it("picks round ticks that cover the maximum", () => {
    assert.deepEqual(niceTicks(83000), [0, 20000, 40000, 60000, 80000, 100000]);
    assert.deepEqual(niceTicks(1319), [0, 500, 1000, 1500]);
    assert.deepEqual(niceTicks(0.3), [0, 0.1, 0.2, 0.3]);
    assert.deepEqual(niceTicks(0), [0, 1]);
    for (const max of [1, 7, 99, 12345, 0.042]) {
      const t = niceTicks(max);
      assert.ok(t[t.length - 1] >= max, `ticks for ${max} end at ${t[t.length - 1]}`);
      assert.ok(t.length >= 3 && t.length <= 11);
    }
  });

  it("formats short numbers", () => {
    assert.equal(formatShort(83066), "83.1k");
    assert.equal(formatShort(66000), "66k");
    assert.equal(formatShort(1_250_000), "1.3M");
    assert.equal(formatShort(950), "950");
    assert.equal(formatShort(0.5), "0.5");
    assert.equal(formatValue(1402), "1.40k");
    assert.equal(formatValue(63401), "63.4k");
    assert.equal(formatValue(180000), "180k");
    assert.equal(formatValue(950.4), "950");
    assert.equal(formatValue(12.34), "12.3");
  });

  it("escapes XML", () => assert.equal(escapeXml(`a<b & "c">`), "a&lt;b &amp; &quot;c&quot;&gt;"));

  it("draws one bar per present value, a legend, axes and failed markers", () => {
    const svg = barChartSvg({
      title: "req/s <by proxy>",
      yLabel: "requests per second",
      xLabel: "scenario",
      series: [
        { name: "nginx", color: "#2b8a3e" },
        { name: "gate&house", color: "#e8590c" },
      ],
      panels: [
        { title: "keep-alive", values: [80000, 40000], annotations: ["1.00x", "0.50x"] },
        { title: "1 MiB", values: [1300, undefined] },
      ],
    });
    assert.ok(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"'));
    assert.ok(svg.trimEnd().endsWith("</svg>"));
    assertBalancedXml(svg);
    assert.ok(svg.includes("req/s &lt;by proxy&gt;"));
    assert.ok(svg.includes("gate&amp;house"));
    assert.ok(svg.includes("requests per second"));
    assert.ok(svg.includes(">scenario<"));
    assert.ok(svg.includes(">0.50x<"));
    // Three bars (one value is missing), each with a tooltip title.
    assert.equal([...svg.matchAll(/<rect [^>]*><title>/g)].length, 3);
    assert.equal([...svg.matchAll(/>failed</g)].length, 1);
    assert.ok(!svg.includes("NaN"));
  });
});

/** A record of a paired run in the first scenario, without figures. */
function baseRecord(proxy: ProxyId, pair: number): RunRecord {
  return {
    proxy,
    scenario: SCENARIOS[0].id,
    run: pair,
    pair,
    foreignByAttempt: [0],
    disturbed: false,
  };
}

function fakeWrk(rps: number, p99: number): WrkResult {
  return {
    requests: rps * 10,
    durationS: 10,
    bytesRead: 0,
    requestsPerSec: rps,
    bytesPerSec: rps * 1048576,
    latency: { p50S: p99 / 2, p99S: p99 },
    errors: { connect: 0, read: 0, write: 0, timeout: 0, non2xx3xx: 0 },
  };
}

describe("results.summarize", () => {
  const scenario = SCENARIOS[0];
  const rec = (proxy: "nginx" | "haproxy", run: number, rps: number, tries = 1): RunRecord => ({
    proxy,
    scenario: scenario.id,
    run,
    wrk: fakeWrk(rps, rps / 1e7),
    foreignByAttempt: Array(tries).fill(0),
    disturbed: false,
  });

  it("takes medians and ratios to the reference", () => {
    const records = [
      rec("nginx", 1, 100),
      rec("nginx", 2, 300),
      rec("nginx", 3, 200),
      rec("haproxy", 1, 50),
      rec("haproxy", 2, 150, 3),
      rec("haproxy", 3, 100),
    ];
    const cells = summarize(records, ["nginx", "haproxy"], [scenario], "nginx", new Map());
    assert.equal(cells.length, 2);
    const [nginx, haproxy] = cells;
    assert.equal(nginx.reqPerSec, 200);
    assert.equal(nginx.ratio, 1);
    assert.equal(haproxy.reqPerSec, 100);
    assert.equal(haproxy.ratio, 0.5);
    assert.equal(haproxy.retries, 2);
    assert.equal(haproxy.p99S, 100 / 1e7);
    assert.equal(haproxy.status, "ok");
    assert.equal(haproxy.loadDisturbedRuns, 0);
  });

  it("takes each ratio within pairs when runs are paired with a reference run", () => {
    // The host slowed down between the two pairs: nginx measured 100, then 200.
    const paired = (proxy: ProxyId, pair: number, rps: number): RunRecord => ({
      ...rec(proxy as "nginx", 1, rps),
      proxy,
      pair,
    });
    const records = [
      paired("nginx", 1, 100),
      paired("haproxy", 1, 95),
      paired("nginx", 2, 200),
      paired("gatehouse-bin", 2, 190),
      paired("nginx", 3, 110),
      paired("haproxy", 3, 99),
      // A failed run leaves its pair out.
      { ...paired("nginx", 4, 100), wrk: undefined, error: "wrk: boom" },
      paired("gatehouse-bin", 4, 500),
    ];
    const cells = summarize(
      records,
      ["nginx", "haproxy", "gatehouse-bin"],
      [scenario],
      "nginx",
      new Map(),
    );
    const [nginx, haproxy, gatehouse] = cells;
    assert.equal(nginx.reqPerSec, 110);
    assert.equal(nginx.ratio, 1);
    // Medians alone would give 97 / 110 and 345 / 110.
    assert.equal(haproxy.ratio, (95 / 100 + 99 / 110) / 2);
    assert.equal(gatehouse.ratio, 190 / 200);
  });

  it("marks proxies that failed to start or to run", () => {
    const records: RunRecord[] = [
      rec("nginx", 1, 100),
      {
        proxy: "haproxy",
        scenario: scenario.id,
        run: 1,
        error: "proxy exited",
        foreignByAttempt: [],
        disturbed: false,
      },
    ];
    const cells = summarize(
      records,
      ["nginx", "haproxy", "gatehouse-bin"],
      [scenario],
      "nginx",
      new Map([["gatehouse-bin", "did not start: boom"]]),
    );
    assert.equal(cells[1].status, "failed");
    assert.equal(cells[1].reason, "proxy exited");
    assert.equal(cells[1].ratio, undefined);
    assert.equal(cells[2].status, "failed");
    assert.equal(cells[2].reason, "did not start: boom");
    const table = formatTable(cells, [scenario]);
    assert.match(table, /FAILED: did not start: boom/);
    assert.match(table, /^proxy\s+scenario\s+req\/s/);
  });
});

describe("the access log comparison", () => {
  const env = (vars: Record<string, string>) => (k: string) => vars[k];

  it("is run only when asked for, with nginx-log as the reference", () => {
    assert.ok(!parseBenchOptions([], env({})).proxies.some((p) => p.endsWith("-log")));
    const o = parseBenchOptions(
      [],
      env({ BENCH_PROXIES: "gatehouse-bin-log,nginx-log", BENCH_SCENARIOS: "keepalive-c50" }),
    );
    assert.deepEqual(o.proxies, ["nginx-log", "gatehouse-bin-log"]);
    assert.equal(referenceOf(o.proxies), "nginx-log");
    assert.equal(referenceOf(["nginx", "nginx-log", "gatehouse-bin-log"]), "nginx");
    assert.equal(referenceOf(["gatehouse-bin"]), "nginx");
    assert.deepEqual(GATEHOUSE_VARIANTS["gatehouse-bin-log"], {
      program: "binary",
      routes: 3,
      accessLog: "json",
    });
  });

  it("names its reference in the table", () => {
    const scenario = SCENARIOS[0];
    const run = (proxy: ProxyId, pair: number, rps: number): RunRecord => ({
      proxy,
      scenario: scenario.id,
      run: 1,
      pair,
      foreignByAttempt: [0],
      disturbed: false,
      wrk: fakeWrk(rps, 0.001),
    });
    const cells = summarize(
      [run("nginx-log", 1, 50_000), run("gatehouse-bin-log", 1, 60_000)],
      ["nginx-log", "gatehouse-bin-log"],
      [scenario],
      "nginx-log",
      new Map(),
    );
    assert.equal(cells[1].ratio, 1.2);
    assert.match(formatTable(cells, [scenario], "nginx-log"), /vs nginx-log/);
  });
});

describe("p99PairOrder", () => {
  it("runs the reference first in odd pairs and second in even ones", () => {
    const orders = [1, 2, 3, 4].map((i) => p99PairOrder(i, "nginx", "gatehouse-bin").join(" "));
    assert.deepEqual(orders, [
      "nginx gatehouse-bin",
      "gatehouse-bin nginx",
      "nginx gatehouse-bin",
      "gatehouse-bin nginx",
    ]);
  });

  it("over any even number of pairs puts each side first equally often", () => {
    for (const pairs of [2, 12, 30]) {
      let referenceFirst = 0;
      for (let i = 1; i <= pairs; i++) {
        if (p99PairOrder(i, "ref", "p")[0] === "ref") referenceFirst++;
      }
      assert.equal(referenceFirst, pairs / 2);
    }
  });
});

describe("results.compareP99", () => {
  const scenario = SCENARIOS[0];
  const run = (
    proxy: ProxyId,
    pair: number,
    p99: number,
    more: Partial<RunRecord> = {},
  ): RunRecord => ({
    proxy,
    scenario: scenario.id,
    run: pair,
    pair,
    wrk: fakeWrk(1000, p99),
    foreignByAttempt: [0],
    disturbed: false,
    ...more,
  });
  /** n pairs: nginx's p99 1 ms, Gatehouse's 1 ms times each factor. */
  const pairs = (factors: number[], more: (i: number) => Partial<RunRecord> = () => ({})) =>
    factors.flatMap((f, i) => [
      run("nginx", i + 1, 0.001, more(i)),
      run("gatehouse-bin", i + 1, 0.001 * f, more(i)),
    ]);

  /** Gatehouse against nginx over {@link pairs} of these factors. */
  const compare = (factors: number[]) =>
    compareP99(pairs(factors), "gatehouse-bin", "nginx", scenario.id);

  it("says lower when the whole interval of the pairs' ratios is below 1", () => {
    const factors = [0.9, 0.95, 0.92, 1.01, 0.88, 0.97, 0.93, 0.96, 0.94];
    const c = compare(factors);
    assert.equal(c.pairs.length, 9);
    assert.equal(c.lower, 8);
    assert.equal(c.verdict, "lower");
    assert.ok(Math.abs(c.median! - 0.94) < 1e-9);
    assert.ok(Math.abs(c.high! - 0.97) < 1e-9);
    assert.match(
      p99ComparisonText(c, [scenario]),
      /^p99 in keep-alive GET, 50 conns, gatehouse-bin \/ nginx over 9 pairs: lower in 8; median 0\.94x \(96% interval 0\.90x-0\.97x\): lower than nginx's$/,
    );
  });

  it("says higher, or no measurable difference, from the same rule", () => {
    const higher = compare([1.1, 1.05, 1.2, 0.99, 1.08, 1.07, 1.3, 1.06, 1.04]);
    assert.equal(higher.verdict, "higher");
    const mixed = compare([0.9, 1.1, 0.95, 1.05, 0.97, 1.02, 0.99, 1.01, 0.96]);
    assert.equal(mixed.verdict, "no measurable difference");
    assert.match(p99ComparisonText(mixed, [scenario]), /no difference from nginx's that these/);
  });

  it("leaves out disturbed and failed pairs, and needs 6 pairs for a verdict", () => {
    const records = pairs(
      [0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9],
      (i) => i === 1 ? { disturbed: true } : {},
    );
    // Gatehouse's run of pair 3 failed.
    records[5] = { ...records[5], wrk: undefined, error: "wrk: boom" };
    const c = compareP99(records, "gatehouse-bin", "nginx", scenario.id);
    assert.deepEqual(c.pairs.map((p) => p.pair), [1, 4, 5, 6, 7]);
    assert.equal(c.verdict, "too few pairs");
    assert.equal(c.median, undefined);
    assert.match(p99ComparisonText(c, [scenario]), /over 5 pairs: lower in 5; too few pairs/);
  });

  it("counts the extra pairs there, while the table's medians use the regular rounds only", () => {
    const regular = pairs([1.0, 1.0, 1.0]);
    const extra = pairs([0.5, 0.5, 0.5, 0.5], () => ({ p99Extra: true })).map((r, i) => ({
      ...r,
      pair: 4 + (i >> 1),
    }));
    const records = [...regular, ...extra];
    const [, gatehouse] = summarize(
      records,
      ["nginx", "gatehouse-bin"],
      [scenario],
      "nginx",
      new Map(),
    );
    assert.equal(gatehouse.p99S, 0.001);
    assert.equal(gatehouse.ratio, 1);
    assert.equal(gatehouse.pairs, 3);
    assert.equal(gatehouse.runs, 3);
    const c = compareP99(records, "gatehouse-bin", "nginx", scenario.id);
    assert.equal(c.pairs.length, 7);
    assert.equal(c.lower, 4);
  });
});

describe("options", () => {
  const env = (vars: Record<string, string>) => (k: string) => vars[k];

  it("defaults to 3 runs of 10 s over every proxy and scenario", () => {
    const o = parseBenchOptions([], env({}));
    assert.equal(o.runs, 3);
    assert.equal(o.durationS, 10);
    assert.equal(o.maxRetries, 2);
    assert.equal(o.foreignLimit, 0.1);
    assert.deepEqual(o.proxies, [
      "nginx",
      "haproxy",
      "gatehouse-bin",
      "gatehouse-deno",
      "gatehouse-bin-1k",
      "gatehouse-bin-metrics",
    ]);
    assert.equal(o.scenarios.length, 4);
  });

  it("reads the environment and --quick", () => {
    const o = parseBenchOptions(
      [],
      env({ BENCH_DURATION: "5s", BENCH_RUNS: "5", BENCH_PROXIES: "haproxy, nginx" }),
    );
    assert.equal(o.durationS, 5);
    assert.equal(o.runs, 5);
    assert.deepEqual(o.proxies, ["nginx", "haproxy"]);
    const q = parseBenchOptions(["--quick"], env({ BENCH_RUNS: "5" }));
    assert.equal(q.runs, 1);
    assert.equal(q.durationS, 3);
    assert.equal(q.quick, true);
  });

  it("loads each proxy unrecorded for 2 s before every run unless told otherwise", () => {
    assert.equal(parseBenchOptions([], env({})).settleS, 2);
    assert.equal(parseBenchOptions([], env({ BENCH_SETTLE: "5s" })).settleS, 5);
    assert.equal(parseBenchOptions([], env({ BENCH_SETTLE: "0" })).settleS, 0);
    assert.equal(parseBenchOptions(["--quick"], env({})).settleS, 0);
    assert.throws(() => parseBenchOptions([], env({ BENCH_SETTLE: "1.5" })), /whole seconds/);
    assert.throws(() => parseBenchOptions([], env({ BENCH_SETTLE: "-1" })), /whole seconds/);
  });

  it("runs 24 extra pairs for the p99 comparison unless told otherwise", () => {
    assert.equal(parseBenchOptions([], env({})).p99Pairs, 24);
    assert.equal(parseBenchOptions([], env({ BENCH_P99_PAIRS: "20" })).p99Pairs, 20);
    assert.equal(parseBenchOptions([], env({ BENCH_P99_PAIRS: "0" })).p99Pairs, 0);
    assert.equal(parseBenchOptions(["--quick"], env({})).p99Pairs, 0);
    assert.throws(
      () => parseBenchOptions([], env({ BENCH_P99_PAIRS: "2.5" })),
      /BENCH_P99_PAIRS must be a whole number/,
    );
  });

  it("selects the Gatehouse variants alone, the 1k-route one included", () => {
    const o = parseBenchOptions(
      ["--quick"],
      env({ BENCH_PROXIES: "gatehouse-bin-1k,gatehouse-bin" }),
    );
    assert.deepEqual(o.proxies, ["gatehouse-bin", "gatehouse-bin-1k"]);
    assert.equal(o.quick, true);
  });

  it("rejects bad values", () => {
    assert.throws(() => parseBenchOptions([], env({ BENCH_RUNS: "zero" })), RangeError);
    assert.throws(() => parseBenchOptions([], env({ BENCH_PROXIES: "envoy" })), RangeError);
    assert.throws(() => parseBenchOptions(["--fast"], env({})));
  });
});

describe("proxy configs", () => {
  const files = { prefix: "/o/p", pidFile: "/o/p/nginx.pid", errorLog: "/o/p/error.log" };

  it("backend serves 13 bytes at / and a file at /big, pid and logs inside the prefix", () => {
    const conf = nginxBackendConfig({
      ...files,
      port: 18080,
      smallBody: "hello, world\n",
      bigFile: "/o/big.bin",
    });
    assert.match(conf, /worker_processes 1;/);
    assert.match(conf, /daemon off;/);
    assert.match(conf, /access_log off;/);
    assert.match(conf, /pid \/o\/p\/nginx\.pid;/);
    assert.match(conf, /error_log \/o\/p\/error\.log/);
    assert.match(conf, /listen 127\.0\.0\.1:18080/);
    assert.ok(conf.includes('return 200 "hello, world\\n";'));
    assert.match(conf, /alias \/o\/big\.bin;/);
  });

  it("nginx proxy keeps 64 upstream connections alive over HTTP/1.1", () => {
    const conf = nginxProxyConfig({ ...files, port: 18081, upstreamPort: 18080 });
    assert.match(conf, /server 127\.0\.0\.1:18080;/);
    assert.match(conf, /keepalive 64;/);
    assert.match(conf, /proxy_http_version 1\.1;/);
    assert.match(conf, /proxy_set_header Connection "";/);
    assert.equal((conf.match(/\{/g) ?? []).length, (conf.match(/\}/g) ?? []).length);
  });

  it("nginx-log writes JSON lines to its file, buffered 64 KiB, flushed every second", () => {
    const plain = nginxProxyConfig({ ...files, port: 18081, upstreamPort: 18080 });
    assert.doesNotMatch(plain, /log_format|access_log \//);
    const conf = nginxProxyConfig({
      ...files,
      port: 18081,
      upstreamPort: 18080,
      accessLog: "/o/p/access.log",
    });
    // The server's access_log overrides the http context's "access_log off".
    assert.match(conf, /\n {4}access_log \/o\/p\/access\.log json_lines buffer=64k flush=1s;\n/);
    const format = /log_format json_lines escape=json '([^']*)';/.exec(conf)?.[1];
    assert.ok(format !== undefined, conf);
    for (const field of ["time", "client", "method", "host", "path", "status", "bytes_out"]) {
      assert.ok(format.includes(`"${field}":`), field);
    }
    assert.equal((conf.match(/\{/g) ?? []).length, (conf.match(/\}/g) ?? []).length);
  });

  it("haproxy runs one thread and reuses server connections", () => {
    const cfg = haproxyConfig({ port: 18082, upstreamPort: 18080 });
    assert.match(cfg, /nbthread 1/);
    assert.match(cfg, /http-reuse always/);
    assert.match(cfg, /bind 127\.0\.0\.1:18082/);
    assert.match(cfg, /server \S+ 127\.0\.0\.1:18080/);
  });

  it("registers the backend with a Tower REGISTER line", () => {
    assert.equal(
      registerMessage({
        towerHost: "127.0.0.1",
        towerPort: 7772,
        service: "bench",
        ip: "127.0.0.1",
        port: 18080,
      }),
      "REGISTER|bench|127.0.0.1|18080",
    );
  });
});

describe("report", () => {
  it("formats numbers and latencies", () => {
    assert.equal(formatNumber(83066.52), "83,067");
    assert.equal(formatNumber(12.34), "12.3");
    assert.equal(formatNumber(undefined), "-");
    assert.equal(formatLatency(0.000541), "541us");
    assert.equal(formatLatency(0.00107), "1.07ms");
    assert.equal(formatLatency(2.1), "2.10s");
  });

  it("reads the CPU model and count from /proc/cpuinfo", () => {
    const info =
      "processor\t: 0\nmodel name\t: AMD EPYC\n\nprocessor\t: 1\nmodel name\t: AMD EPYC\n";
    assert.deepEqual(parseCpuInfo(info), { model: "AMD EPYC", processors: 2 });
  });

  it("charts req/s per proxy per scenario with ratios under the bars", () => {
    const scenario = SCENARIOS[0];
    const cells = summarize(
      [{
        proxy: "nginx",
        scenario: scenario.id,
        run: 1,
        wrk: fakeWrk(1000, 0.001),
        foreignByAttempt: [0],
        disturbed: false,
      }, {
        proxy: "haproxy",
        scenario: scenario.id,
        run: 1,
        wrk: fakeWrk(1500, 0.001),
        foreignByAttempt: [0],
        disturbed: false,
      }],
      ["nginx", "haproxy", "gatehouse-bin"],
      [scenario],
      "nginx",
      new Map([["gatehouse-bin", "did not start"]]),
    );
    const chart = resultsChart({
      machine: {
        date: "2026-01-01T00:00:00.000Z",
        nproc: 2,
        cpuModel: "AMD EPYC",
        kernel: "6.1",
        versions: {},
      },
      options: {
        ...parseBenchOptions([], () => undefined),
        proxies: ["nginx", "haproxy", "gatehouse-bin"],
      },
      clockTicksPerSecond: 100,
      scenarios: [scenario],
      startFailures: { "gatehouse-bin": "did not start" },
      notes: [],
      cells,
      records: [],
    });
    assert.deepEqual(chart.series.map((s) => s.name), ["nginx", "haproxy", "gatehouse-bin"]);
    assert.deepEqual(chart.panels[0].values, [1000, 1500, undefined]);
    assert.deepEqual(chart.panels[0].annotations, ["1.00x", "1.50x", undefined]);
    assert.match(chart.subtitle ?? "", /median of 3 runs of 10 s/);
  });

  it("writes RESULTS.md with the table, ratios, method and machine facts", () => {
    const scenario = SCENARIOS[0];
    const cells = summarize(
      [{
        proxy: "nginx",
        scenario: scenario.id,
        run: 1,
        wrk: fakeWrk(1000, 0.001),
        foreignByAttempt: [0],
        disturbed: false,
      }],
      ["nginx"],
      [scenario],
      "nginx",
      new Map(),
    );
    const doc = {
      cells,
      scenarios: [scenario],
      proxies: ["nginx"],
      options: parseBenchOptions([], () => undefined),
      machine: {
        date: "2026-01-01T00:00:00.000Z",
        nproc: 2,
        cpuModel: "AMD EPYC",
        kernel: "6.1",
        versions: { nginx: "1.22.1" },
      },
      chartFile: "results.svg",
      notes: ["gatehouse-bin: did not start"],
    };
    const md = resultsMarkdown(doc);
    assert.match(md, /^# Gatehouse benchmark results/);
    assert.doesNotMatch(md, /pair by pair/);
    const records: RunRecord[] = [0.0012, 0.0011, 0.001, 0.0013, 0.0009, 0.0011].flatMap((
      p99,
      i,
    ) => [
      { ...baseRecord("nginx", i + 1), wrk: fakeWrk(1000, 0.001) },
      { ...baseRecord("gatehouse-bin", i + 1), wrk: fakeWrk(1000, p99) },
    ]);
    const withP99 = resultsMarkdown({
      ...doc,
      p99: compareP99(records, "gatehouse-bin", "nginx", scenario.id),
    });
    assert.match(withP99, /## p99 at 50 connections, pair by pair/);
    assert.match(withP99, /over 6 pairs: lower in 1; median 1\.10x \(96% interval 0\.90x-1\.30x\)/);
    assert.match(withP99, /\| 5 \| 1\.00ms \| 900us \| 0\.90x \|/);
    assert.match(md, /2026-01-01/);
    assert.match(md, /2 CPUs, AMD EPYC/);
    assert.match(md, /median of 3 runs of 10 s/);
    assert.match(md, /!\[[^\]]*\]\(results\.svg\)/);
    assert.match(md, /## Method/);
    assert.match(md, /\| nginx \| keep-alive GET, 50 conns \| 1,000 \|/);
    assert.match(md, /gatehouse-bin: did not start/);
  });
});

/** /proc/<pid>/status of a running process, trimmed. */
const STATUS = `Name:\tgatehouse
Umask:\t0022
State:\tS (sleeping)
Tgid:\t4242
Pid:\t4242
PPid:\t17
VmPeak:\t 1203456 kB
VmSize:\t 1198080 kB
VmHWM:\t   61440 kB
VmRSS:\t   52736 kB
RssAnon:\t   30208 kB
RssFile:\t   22528 kB
Threads:\t6
`;

describe("memory", () => {
  it("reads VmRSS in KiB from /proc/<pid>/status, not VmHWM or RssAnon", () => {
    assert.equal(parseVmRssKiB(STATUS), 52736);
    assert.equal(parseVmRssKiB("VmRSS:\t       0 kB\n"), 0);
  });

  it("has no figure for a process without memory of its own", () => {
    // Kernel threads and zombies have no Vm* lines.
    assert.equal(parseVmRssKiB("Name:\tkworker/0:1\nState:\tI (idle)\nPid:\t9\n"), undefined);
    assert.equal(parseVmRssKiB(""), undefined);
  });

  it("rejects a malformed VmRSS line", () => {
    assert.throws(() => parseVmRssKiB("VmRSS:\t lots\n"), SyntaxError);
    assert.throws(() => parseVmRssKiB("VmRSS:\t 12 MB\n"), SyntaxError);
  });

  it("sums a process tree, skipping processes that are gone", () => {
    assert.equal(sumDefined([1024, undefined, 512]), 1536);
    assert.equal(sumDefined([undefined, undefined]), undefined);
    assert.equal(sumDefined([]), undefined);
  });

  it("keeps the peak of the readings, including one at start and one at stop", () => {
    const readings = [100, undefined, 300, 200];
    let calls = 0;
    const sampler = new PeakSampler(() => readings[calls++], 60_000);
    sampler.start(); // reads 100
    sampler.sample(); // undefined: skipped
    sampler.sample(); // 300
    assert.equal(sampler.peak, 300);
    assert.equal(sampler.stop(), 300); // reads 200 on the way out
    assert.equal(calls, 4);
    assert.equal(sampler.samples, 3);
    assert.equal(sampler.stop(), 300, "a second stop takes no reading");
    assert.equal(calls, 4);
  });

  it("treats a reader that throws as no reading", () => {
    const sampler = new PeakSampler(() => {
      throw new Error("gone");
    }, 60_000);
    sampler.start();
    assert.equal(sampler.stop(), undefined);
    assert.equal(sampler.samples, 0);
  });

  it("samples on its interval until stopped", async () => {
    let value = 0;
    const sampler = new PeakSampler(() => ++value, 5);
    sampler.start();
    await new Promise((r) => setTimeout(r, 100));
    const peak = sampler.stop();
    // 1 at start + about 20 on the timer + 1 at stop; a busy machine may delay timers.
    assert.ok(sampler.samples >= 3, `only ${sampler.samples} samples in 100 ms at 5 ms`);
    assert.equal(peak, value);
    const after = value;
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(value, after, "no reading after stop");
  });

  it("reports the median of the runs' peaks in MiB", () => {
    const scenario = SCENARIOS[1];
    const rec = (proxy: ProxyId, run: number, rssKiB?: number): RunRecord => ({
      proxy,
      scenario: scenario.id,
      run,
      wrk: fakeWrk(1000, 0.001),
      foreignByAttempt: [0],
      disturbed: false,
      ...(rssKiB === undefined ? {} : { rssKiB }),
    });
    const cells = summarize(
      [
        rec("nginx", 1, 10 * 1024),
        rec("nginx", 2, 30 * 1024),
        rec("nginx", 3, 20 * 1024),
        rec("haproxy", 1, 4 * 1024),
        rec("haproxy", 2),
        rec("haproxy", 3, 5 * 1024),
        rec("gatehouse-bin", 1),
      ],
      ["nginx", "haproxy", "gatehouse-bin"],
      [scenario],
      "nginx",
      new Map(),
    );
    assert.equal(cells[0].rssMiB, 20);
    assert.equal(cells[1].rssMiB, 4.5, "runs without a sample are left out");
    assert.equal(cells[2].rssMiB, undefined);
    assert.equal(formatMiB(cells[1].rssMiB), "4.5 MiB");
    assert.equal(formatMiB(41.26), "41.3 MiB");
    assert.equal(formatMiB(undefined), "-");
  });
});

describe("route-table variant", () => {
  it("builds the --route flags of a table of N routes, /:bench last", () => {
    assert.deepEqual(routeFlags(1), ["--route", "/:bench"]);
    assert.deepEqual(routeFlags(3), [
      "--route",
      "/r0/a:svc0",
      "--route",
      "/r1/a:svc1",
      "--route",
      "/:bench",
    ]);
    const big = routeFlags(1000);
    assert.equal(big.length, 2000);
    const routes = big.filter((_, i) => i % 2 === 1);
    assert.equal(new Set(routes).size, 1000, "no route repeats another");
    assert.equal(routes[998], "/r998/a:svc998");
    assert.equal(routes[999], "/:bench");
    assert.ok(big.filter((_, i) => i % 2 === 0).every((f) => f === "--route"));
    assert.throws(() => routeFlags(0), RangeError);
    assert.throws(() => routeFlags(2.5), RangeError);
  });

  it("runs the same binary with 1,000 routes against 3", () => {
    assert.deepEqual(GATEHOUSE_VARIANTS["gatehouse-bin-1k"], { program: "binary", routes: 1000 });
    assert.deepEqual(GATEHOUSE_VARIANTS["gatehouse-bin"], { program: "binary", routes: 3 });
    assert.ok(PROXY_IDS.includes("gatehouse-bin-1k"));
    // Every proxy has its own chart colour.
    const colors = PROXY_IDS.map((id) => PROXY_COLORS[id]);
    assert.ok(colors.every((c) => /^#[0-9a-f]{6}$/.test(c)));
    assert.equal(new Set(colors).size, PROXY_IDS.length);
  });

  const c50 = SCENARIOS.find((s) => s.id === "keepalive-c50")!;
  const c500 = SCENARIOS.find((s) => s.id === "keepalive-c500")!;
  const one = (proxy: ProxyId, scenario: string, rps: number, rssKiB?: number): RunRecord => ({
    proxy,
    scenario,
    run: 1,
    wrk: fakeWrk(rps, 0.001),
    foreignByAttempt: [0],
    disturbed: false,
    rssKiB,
  });

  it("compares 1,000 routes with 3 at keep-alive c50", () => {
    const cells = summarize(
      [one("gatehouse-bin", c50.id, 30000), one("gatehouse-bin-1k", c50.id, 28500)],
      ["gatehouse-bin", "gatehouse-bin-1k"],
      [c50],
      "nginx",
      new Map(),
    );
    assert.equal(
      routeCostLine(cells, [c50]),
      "1,000 routes vs 3: 28,500 req/s vs 30,000 req/s (5.0% slower) in keep-alive GET, 50 conns",
    );
  });

  it("says faster when the big table came out ahead, and 0.0% slower for a tie", () => {
    const line = (large: number) =>
      routeCostLine(
        summarize(
          [one("gatehouse-bin", c50.id, 20000), one("gatehouse-bin-1k", c50.id, large)],
          ["gatehouse-bin", "gatehouse-bin-1k"],
          [c50],
          "nginx",
          new Map(),
        ),
        [c50],
      );
    assert.match(line(20300) ?? "", /: 20,300 req\/s vs 20,000 req\/s \(1\.5% faster\)/);
    assert.match(line(20005) ?? "", /\(0\.0% slower\)/);
  });

  it("compares by the paired ratios when the runs were paired with nginx runs", () => {
    const paired = (proxy: ProxyId, pair: number, rps: number): RunRecord => ({
      ...one(proxy, c50.id, rps),
      pair,
    });
    // The host sped up between the pairs: by req/s alone 1,000 routes would look 20% faster.
    const cells = summarize(
      [
        paired("nginx", 1, 50000),
        paired("gatehouse-bin", 1, 48000),
        paired("nginx", 2, 62500),
        paired("gatehouse-bin-1k", 2, 57600),
      ],
      ["nginx", "gatehouse-bin", "gatehouse-bin-1k"],
      [c50],
      "nginx",
      new Map(),
    );
    assert.equal(
      routeCostLine(cells, [c50]),
      "1,000 routes vs 3: 0.92x vs 0.96x nginx (4.0% slower) in keep-alive GET, 50 conns",
    );
  });

  it("has no comparison line unless both variants have figures", () => {
    const cells = summarize(
      [one("gatehouse-bin", c50.id, 30000)],
      ["gatehouse-bin", "gatehouse-bin-1k"],
      [c50],
      "nginx",
      new Map([["gatehouse-bin-1k", "did not start: boom"]]),
    );
    assert.equal(routeCostLine(cells, [c50]), undefined);
    assert.equal(routeCostLine([], SCENARIOS), undefined);
  });

  it("compares the binary with metrics on against off, by their paired ratios", () => {
    const paired = (proxy: ProxyId, pair: number, rps: number): RunRecord => ({
      ...one(proxy, c50.id, rps),
      pair,
    });
    const cells = summarize(
      [
        paired("nginx", 1, 50000),
        paired("gatehouse-bin", 1, 51000),
        paired("nginx", 2, 60000),
        paired("gatehouse-bin-metrics", 2, 60600),
      ],
      ["nginx", "gatehouse-bin", "gatehouse-bin-metrics"],
      [c50],
      "nginx",
      new Map(),
    );
    assert.equal(
      metricsCostLine(cells, [c50]),
      "metrics on vs off: 1.01x vs 1.02x nginx (1.0% slower) in keep-alive GET, 50 conns",
    );
    assert.equal(metricsCostLine([], SCENARIOS), undefined);
    // The variant is the same binary with its admin listener on (which turns metrics on).
    assert.deepEqual(variantArgs("gatehouse-bin-metrics"), ["--admin", "127.0.0.1:0"]);
    assert.deepEqual(variantArgs("gatehouse-bin"), []);
  });

  it("calls out every proxy's RSS at 500 connections", () => {
    const proxies: ProxyId[] = ["nginx", "gatehouse-bin", "gatehouse-bin-1k"];
    const cells = summarize(
      [one("nginx", c500.id, 30000, 5325), one("gatehouse-bin", c500.id, 15000, 45056)],
      proxies,
      [c50, c500],
      "nginx",
      new Map([["gatehouse-bin-1k", "did not start: boom"]]),
    );
    assert.equal(
      rssLine(cells, [c50, c500], proxies),
      "RSS at 500 connections: nginx 5.2 MiB, gatehouse-bin 44.0 MiB, gatehouse-bin-1k failed " +
        "(goal for Gatehouse: under 64 MiB)",
    );
    assert.equal(rssLine(cells, [c50], proxies), undefined, "scenario not run");
    // Results recorded before memory was sampled have no figure at all.
    const old = summarize(
      [one("nginx", c500.id, 30000), one("gatehouse-bin", c500.id, 15000)],
      ["nginx", "gatehouse-bin"],
      [c500],
      "nginx",
      new Map(),
    );
    assert.equal(rssLine(old, [c500], ["nginx", "gatehouse-bin"]), undefined);
  });

  it("puts the RSS column, both call-outs and the memory method in RESULTS.md", () => {
    const proxies: ProxyId[] = ["nginx", "gatehouse-bin", "gatehouse-bin-1k"];
    const cells = summarize(
      [
        one("nginx", c50.id, 60000, 5000),
        one("gatehouse-bin", c50.id, 30000, 40000),
        one("gatehouse-bin-1k", c50.id, 29000, 41000),
        one("nginx", c500.id, 30000, 5325),
        one("gatehouse-bin", c500.id, 15000, 45056),
        one("gatehouse-bin-1k", c500.id, 14500, 46080),
      ],
      proxies,
      [c50, c500],
      "nginx",
      new Map(),
    );
    const md = resultsMarkdown({
      cells,
      scenarios: [c50, c500],
      proxies,
      options: { ...parseBenchOptions([], () => undefined), proxies },
      machine: {
        date: "2026-01-01T00:00:00.000Z",
        nproc: 2,
        cpuModel: "AMD EPYC",
        kernel: "6.1",
        versions: {},
      },
      chartFile: "results.svg",
      notes: [],
    });
    assert.match(md, /\| proxy CPU \| RSS \| notes \|/);
    assert.match(md, /\| gatehouse-bin \| keep-alive GET, 500 conns \| 15,000 \|.*\| 44\.0 MiB \|/);
    assert.match(
      md,
      /RSS at 500 connections: nginx 5\.2 MiB, gatehouse-bin 44\.0 MiB, gatehouse-bin-1k 45\.0 MiB/,
    );
    assert.match(md, /1,000 routes vs 3: 29,000 req\/s vs 30,000 req\/s \(3\.3% slower\)/);
    // The call-outs sit between the ratios table and the chart.
    const ratios = md.indexOf("## Ratios");
    const callout = md.indexOf("RSS at 500 connections");
    assert.ok(ratios < callout && callout < md.indexOf("![requests per second"));
    assert.match(md, /VmRSS/);
    assert.match(md, /every 250 ms/);
    assert.match(md, /`gatehouse-bin-1k` \(binary, 1,000 routes\)/);
    const table = formatTable(cells, [c50, c500]);
    assert.match(table.split("\n")[0], /proxy CPU\s+RSS\s+notes/);
    assert.match(table, /45\.0 MiB/);
  });

  it("charts the 1k-route variant in its own colour", () => {
    const proxies: ProxyId[] = ["gatehouse-bin", "gatehouse-bin-1k"];
    const cells = summarize(
      [one("gatehouse-bin", c50.id, 30000), one("gatehouse-bin-1k", c50.id, 29000)],
      proxies,
      [c50],
      "nginx",
      new Map(),
    );
    const chart = resultsChart({
      machine: {
        date: "2026-01-01T00:00:00.000Z",
        nproc: 2,
        cpuModel: "x",
        kernel: "6.1",
        versions: {},
      },
      options: { ...parseBenchOptions(["--quick"], () => undefined), proxies },
      clockTicksPerSecond: 100,
      scenarios: [c50],
      startFailures: {},
      notes: [],
      cells,
      records: [],
    });
    assert.deepEqual(chart.series, [
      { name: "gatehouse-bin", color: PROXY_COLORS["gatehouse-bin"] },
      { name: "gatehouse-bin-1k", color: PROXY_COLORS["gatehouse-bin-1k"] },
    ]);
    assert.deepEqual(chart.panels[0].values, [30000, 29000]);
    assertBalancedXml(barChartSvg(chart));
  });
});
