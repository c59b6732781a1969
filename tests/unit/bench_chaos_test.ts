// Unit tests for the chaos benchmark's pure modules (bench/lib/chaos). Written
// with node:test so they run unchanged under `deno test` and `bun test`.
import { describe, it } from "node:test";
import assert from "node:assert/strict";

import {
  ArrivalTally,
  parseProcNetTcp,
  QueueArrivals,
  type RunWindows,
} from "../../bench/lib/chaos/arrivals.ts";
import { FAULT_IDS, faultById, FAULTS, SLOW_REPLY_S } from "../../bench/lib/chaos/faults.ts";
import { COMPLETED_TOLERANCE, goalsWithRuns, goalVerdicts } from "../../bench/lib/chaos/goals.ts";
import {
  MIN_DURATION_S,
  parseChaosOptions,
  QUICK_DURATION_S,
} from "../../bench/lib/chaos/options.ts";
import {
  commonest,
  parseLogLine,
  replicaConfig,
  replicaPaths,
  tallyAccessLog,
} from "../../bench/lib/chaos/replica.ts";
import {
  chaosChart,
  chaosConsole,
  type ChaosResults,
  chaosSection,
  faultRows,
  formatErrors,
  formatShare,
  formatStop,
  SECTION_BEGIN,
  SECTION_END,
  sectionOf,
  spliceSection,
} from "../../bench/lib/chaos/report.ts";
import {
  type ChaosCell,
  type ChaosRecord,
  disturbanceNote,
  medianStop,
  runFigures,
  STILL_AT_END_S,
  summarizeChaos,
} from "../../bench/lib/chaos/results.ts";
import {
  chaosHaproxyConfig,
  chaosNginxConfig,
  gatehouseChaosFlags,
  HAPROXY_SETTINGS,
  NGINX_SETTINGS,
  settingsLines,
} from "../../bench/lib/chaos/settings.ts";
import {
  clientErrors,
  parseStatusLines,
  STATUS_SCRIPT,
  totalErrors,
} from "../../bench/lib/chaos/statuses.ts";
import { alignedTable, markdownTable } from "../../bench/lib/tables.ts";
import { wrkArgs, type WrkResult } from "../../bench/lib/wrk.ts";

const env = (vars: Record<string, string>) => (k: string) => vars[k];
const files = { prefix: "/o/r1", pidFile: "/o/r1/nginx.pid", errorLog: "/o/r1/error.log" };
const W: RunWindows = { startMs: 10_000, faultMs: 13_000, endMs: 22_000 };

function wrk(requests: number, p99S = 0.001, maxS = 0.005, socket = {}): WrkResult {
  return {
    requests,
    durationS: 9,
    bytesRead: 0,
    requestsPerSec: requests / 9,
    bytesPerSec: 0,
    latency: { p99S, maxS },
    errors: { connect: 0, read: 0, write: 0, timeout: 0, non2xx3xx: 0, ...socket },
  };
}

function record(over: Partial<ChaosRecord> = {}): ChaosRecord {
  return {
    fault: "none",
    proxy: "gatehouse-bin",
    run: 1,
    windows: W,
    wrk: wrk(1000),
    statuses: { "200": 1000 },
    replicas: [
      { beforeFault: 100, afterFault: 100, afterGrace: 80, lastAfterFaultMs: 21_990 },
      { beforeFault: 100, afterFault: 200, afterGrace: 160, lastAfterFaultMs: 21_990 },
      { beforeFault: 100, afterFault: 200, afterGrace: 160, lastAfterFaultMs: 21_990 },
    ],
    ...over,
  };
}

/** A cell with figures, for the goals and the tables. */
function cell(fault: ChaosCell["fault"], proxy: ChaosCell["proxy"], over: Partial<ChaosCell> = {}) {
  return {
    fault,
    proxy,
    status: "ok",
    runs: 1,
    completed: 1000,
    errors: {},
    errorsTotal: 0,
    p99S: 0.001,
    maxS: 0.004,
    status500Share: 0,
    sickShare: 0.001,
    sickShareAfterGrace: 0.001,
    stopAfterS: 0.1,
    ...over,
  } as ChaosCell;
}

describe("faults", () => {
  it("lists every fault once, in report order, each described", () => {
    assert.deepEqual(FAULTS.map((f) => f.id), [...FAULT_IDS]);
    for (const f of FAULTS) assert.match(f.how, /^[A-Z]/);
    assert.equal(faultById("slow").title, `answers after ${SLOW_REPLY_S} s`);
    assert.throws(() => faultById("sigterm"), RangeError);
  });
});

describe("replica config", () => {
  const conf = replicaConfig({
    ...files,
    port: 18080,
    smallBody: "hello, world\n",
    echoModule: "/m/ngx_http_echo_module.so",
  });
  const paths = replicaPaths("/o/r1/");

  it("runs one process that a signal stops whole, with the echo module loaded first", () => {
    assert.match(conf, /master_process off;/);
    assert.match(conf, /daemon off;/);
    assert.ok(conf.startsWith("load_module /m/ngx_http_echo_module.so;"));
    assert.match(conf, /listen 127\.0\.0\.1:18080 backlog=4096;/);
  });

  it("switches to 500 and to the slow location by files checked per request", () => {
    assert.equal(paths.answer500, "/o/r1/answer-500");
    assert.ok(conf.includes(`if (-f ${paths.answer500}) {\n      return 500;`));
    assert.ok(conf.includes(`if (-f ${paths.answerSlow}) {\n      rewrite ^ /__slow last;`));
    assert.match(
      conf,
      /location = \/__slow \{\s+internal;\s+echo_sleep 2;\s+echo -n "hello, world\\n";/,
    );
    assert.ok(conf.includes('return 200 "hello, world\\n";'));
    assert.match(conf, /location = \/health/);
  });

  it("logs arrivals to its own access log", () => {
    assert.ok(conf.includes(`access_log ${paths.accessLog} chaos buffer=64k flush=100ms;`));
    assert.match(conf, /log_format chaos '\$msec \$request_time \$status/);
    assert.equal((conf.match(/\{/g) ?? []).length, (conf.match(/\}/g) ?? []).length);
  });
});

describe("access log", () => {
  it("dates a request by its arrival: the line's time less the request's", () => {
    assert.deepEqual(parseLogLine("1700000002.500 2.000 200 250 GET /"), {
      arrivalMs: 1700000000500,
      status: 200,
      requestLength: 250,
      method: "GET",
      target: "/",
    });
    assert.equal(parseLogLine("garbage"), undefined);
    assert.equal(parseLogLine("x 0.000 200 250 GET /"), undefined);
  });

  it("counts only the load's requests, in the run's windows, and their sizes", () => {
    const tally = new ArrivalTally(W);
    const sizes = new Map<number, number>();
    const log = [
      "9.000 0.000 200 250 GET /", // warm-up: before the run
      "12.000 0.000 200 250 GET /",
      "13.500 0.000 500 251 GET /",
      "14.100 0.000 200 250 GET /",
      "14.200 0.000 200 30 GET /health", // a health check
      "25.000 0.000 200 250 GET /", // after the run (a frozen replica's backlog)
      "",
    ].join("\n");
    tallyAccessLog(log, tally, sizes);
    assert.deepEqual(tally.count(), {
      beforeFault: 1,
      afterFault: 2,
      afterGrace: 1,
      lastAfterFaultMs: 14_100,
    });
    assert.equal(commonest(sizes), 250);
    assert.equal(commonest(new Map()), undefined);
  });

  it("counts a fault that ends while it lasts, from the grace on", () => {
    const tally = new ArrivalTally({ ...W, faultEndMs: 15_000 });
    const log = ["13.500 0 200 250 GET /", "14.500 0 200 250 GET /", "16.000 0 200 250 GET /"];
    tallyAccessLog(log.join("\n"), tally, new Map());
    assert.equal(tally.count().whileFaulty, 1);
    assert.equal(tally.count().afterGrace, 2);
  });
});

describe("receive queues", () => {
  const text = [
    "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt",
    "   0: 0100007F:4E20 00000000:0000 0A 00000000:00000003 00:00000000 00000000",
    "   1: 0100007F:4E20 0100007F:9C40 01 00000000:000000FA 00:00000000 00000000",
    "   2: 0100007F:9C40 0100007F:4E20 01 00000000:00000000 00:00000000 00000000",
    "   3: 0100007F:4E21 0100007F:9C41 01 00000000:00000010 00:00000000 00000000",
  ].join("\n");

  it("lists the connections to one port, not its listening socket", () => {
    assert.deepEqual(parseProcNetTcp(text, 0x4e20), [{ remote: "0100007F:9C40", rxQueue: 250 }]);
    assert.deepEqual(parseProcNetTcp("", 80), []);
  });

  it("counts what the queues gained after the baseline, in whole requests", () => {
    const q = new QueueArrivals();
    q.observe(0, [{ remote: "a", rxQueue: 250 }]); // queued before the freeze
    q.observe(50, [{ remote: "a", rxQueue: 500 }, { remote: "b", rxQueue: 249 }]);
    q.observe(100, [{ remote: "a", rxQueue: 500 }, { remote: "b", rxQueue: 251 }]);
    q.observe(150, [{ remote: "c", rxQueue: 30 }]); // a health check
    q.observe(200, [{ remote: "a", rxQueue: 250 }]); // port reused after a reset
    assert.deepEqual(q.arrivals(250), [
      { atMs: 50, requests: 1 },
      { atMs: 50, requests: 1 },
      { atMs: 200, requests: 1 },
    ]);
  });

  it("adds estimated requests to a tally as weights", () => {
    const tally = new ArrivalTally(W);
    tally.add(13_050, 2);
    tally.add(13_060, 0);
    assert.equal(tally.count().afterFault, 2);
  });
});

describe("statuses", () => {
  it("the wrk script counts statuses and prints them when done", () => {
    for (const f of ["function response(", "function done(", 'thread:get("statuses")']) {
      assert.ok(STATUS_SCRIPT.includes(f), f);
    }
    assert.deepEqual(
      parseStatusLines("Requests/sec: 9\nstatus 200 90\nstatus 502 3\nstatus 200 1"),
      {
        "200": 91,
        "502": 3,
      },
    );
  });

  it("client-visible errors: statuses outside 200-399 and socket errors, by kind", () => {
    const errors = clientErrors(
      { "200": 10, "301": 1, "500": 2, "504": 1 },
      { connect: 0, read: 3, write: 0, timeout: 1, non2xx3xx: 3 },
    );
    assert.deepEqual(errors, { "500": 2, "504": 1, read: 3, timeout: 1 });
    assert.equal(totalErrors(errors), 7);
  });

  it("wrk runs the script with -s", () => {
    const args = wrkArgs({
      url: "http://x/",
      connections: 50,
      threads: 1,
      durationS: 12,
      script: "s.lua",
    });
    assert.deepEqual(args.slice(-4), ["-s", "s.lua", "--latency", "http://x/"]);
  });
});

describe("run figures", () => {
  it("shares are the sick replica's over all replicas', from the fault and from the grace on", () => {
    const f = runFigures(record())!;
    assert.equal(f.sickShare, 0.2);
    assert.equal(f.sickShareAfterGrace, 0.2);
    assert.equal(f.completed, 1000);
    assert.equal(f.errorsTotal, 0);
  });

  it("time to stop: 0 without requests after the fault, never near the end, else the last", () => {
    const stopWith = (last?: number) =>
      runFigures(record({
        replicas: [{
          beforeFault: 1,
          afterFault: last ? 1 : 0,
          afterGrace: 0,
          lastAfterFaultMs: last,
        }],
      }))!.stopAfterS;
    assert.equal(stopWith(undefined), 0);
    assert.equal(stopWith(13_450), 0.45);
    assert.equal(stopWith(W.endMs - STILL_AT_END_S * 1000 + 1), null);
    assert.equal(
      stopWith(W.endMs - STILL_AT_END_S * 1000 - 1),
      (W.endMs - STILL_AT_END_S * 1000 - 1 - W.faultMs) / 1000,
    );
  });

  it("the 500s' share is of the client's responses", () => {
    const f = runFigures(record({ statuses: { "200": 990, "500": 10 } }))!;
    assert.equal(f.status500Share, 0.01);
    assert.deepEqual(f.errors, { "500": 10 });
  });

  it("a failed run has no figures", () => {
    assert.equal(runFigures({ fault: "none", proxy: "nginx", run: 1, error: "x" }), undefined);
  });
});

describe("cells", () => {
  it("take each figure's median over the runs; never ranks above every time", () => {
    const records = [1, 2, 3].map((run) =>
      record({
        run,
        wrk: wrk(1000 * run, 0.001 * run),
        statuses: { "200": 1000 * run, "502": run === 2 ? 4 : 0 },
      })
    );
    const [c] = summarizeChaos(records, ["none"], ["gatehouse-bin"]);
    assert.equal(c.status, "ok");
    assert.equal(c.runs, 3);
    assert.equal(c.completed, 2000);
    assert.equal(c.p99S, 0.002);
    assert.deepEqual(c.errors, {});
    assert.equal(c.stopAfterS, null);
    assert.equal(medianStop([0.5, 0.7, null]), 0.7);
    assert.equal(medianStop([null, null, 1]), null);
  });

  it("a cell without a run with figures is failed, with the reason", () => {
    const cells = summarizeChaos(
      [{ fault: "sigkill", proxy: "nginx", run: 1, error: "did not start" }],
      ["sigkill"],
      ["nginx", "haproxy"],
    );
    assert.deepEqual(cells.map((c) => [c.status, c.reason]), [
      ["failed", "did not start"],
      ["failed", "no runs"],
    ]);
  });

  it("notes the runs other processes disturbed", () => {
    const cpu = (foreign: number) => ({ elapsedS: 12, proxy: 0.9, interrupts: 0, foreign });
    assert.equal(disturbanceNote([record({ cpu: cpu(0.05) })]), undefined);
    assert.match(
      disturbanceNote([record({ cpu: cpu(0.05) }), record({ cpu: cpu(0.3), fault: "slow" })])!,
      /^1 of 2 runs: .*\(at most 30%: gatehouse-bin slow run 1\)$/,
    );
  });
});

describe("goals", () => {
  const good = [
    cell("none", "gatehouse-bin"),
    cell("sigkill", "gatehouse-bin"),
    cell("sigstop", "gatehouse-bin", { completed: 960 }),
    cell("http500", "gatehouse-bin", { status500Share: 0.005 }),
    cell("slow", "gatehouse-bin", { p99S: 0.002 }),
    cell("unready", "gatehouse-bin", { sickShareWhileFaulty: 0.005 }),
    ...FAULT_IDS.map((f) => cell(f, "nginx", { completed: f === "sigstop" ? 1000 : 1040 })),
  ];

  it("all met when every number is within its goal", () => {
    const v = goalVerdicts(good);
    assert.deepEqual(v.map((x) => x.met), [true, true, true, true, true, true]);
    assert.match(v[4].goal, /^not ready: no client-visible error/);
    assert.match(v[5].goal, /no worse than nginx on errors/);
  });

  it("each goal fails on its own number", () => {
    const replace = (fault: ChaosCell["fault"], over: Partial<ChaosCell>) =>
      good.map((c) => c.fault === fault && c.proxy === "gatehouse-bin" ? { ...c, ...over } : c);
    const met = (cells: ChaosCell[]) => goalVerdicts(cells).map((x) => x.met);
    assert.equal(met(replace("sigkill", { errorsTotal: 1 }))[0], false);
    assert.equal(met(replace("sigstop", { completed: 940 }))[1], false);
    assert.equal(met(replace("sigstop", { errorsTotal: 1 }))[1], false);
    assert.equal(met(replace("http500", { status500Share: 0.01 }))[2], false);
    assert.equal(met(replace("slow", { sickShareAfterGrace: 0.01 }))[3], false);
    assert.equal(met(replace("slow", { p99S: 0.0021 }))[3], false);
    assert.equal(met(replace("slow", { sickShareAfterGrace: undefined }))[3], false);
    assert.equal(met(replace("unready", { sickShareWhileFaulty: 0.01 }))[4], false);
    assert.equal(met(replace("unready", { errorsTotal: 1 }))[4], false);
    const worse = goalVerdicts(replace("http500", { errorsTotal: 2, completed: 900 }))[5];
    assert.equal(worse.met, false);
    assert.equal(worse.detail, "answers 500: errors 2 vs nginx 0; completed 900 vs nginx 1,040");
  });

  it("completed within the tolerance counts as no worse", () => {
    const mine = (fault: string) =>
      good.find((c) => c.fault === fault && c.proxy === "gatehouse-bin")!.completed!;
    const limit = (c: ChaosCell) => mine(c.fault) / (1 - COMPLETED_TOLERANCE);
    const near = good.map((c) => c.proxy === "nginx" ? { ...c, completed: limit(c) - 1 } : c);
    assert.equal(goalVerdicts(near)[5].met, true);
    const beyond = good.map((c) => c.proxy === "nginx" ? { ...c, completed: limit(c) + 1 } : c);
    assert.equal(goalVerdicts(beyond)[5].met, false);
  });

  it("a goal whose runs are missing is not measured", () => {
    const v = goalVerdicts([cell("none", "gatehouse-bin")]);
    assert.deepEqual(v.map((x) => x.met), Array(6).fill(undefined));
    assert.match(v[0].detail, /not measured/);
  });

  it("says in how many single runs each goal was met", () => {
    const records = [1, 2, 3].map((run) =>
      record({ run, fault: "sigkill", statuses: { "200": 1000, "502": run === 2 ? 1 : 0 } })
    );
    const cells = summarizeChaos(records, ["sigkill"], ["gatehouse-bin"]);
    const [kill] = goalsWithRuns(cells, records, ["sigkill"], ["gatehouse-bin"]);
    assert.equal(kill.met, true); // median of 0, 1 and 0 errors
    assert.deepEqual(kill.runsMet, { met: 2, of: 3 });
  });
});

describe("proxy settings", () => {
  it("nginx: every replica with its failure settings, the retries in the location", () => {
    const conf = chaosNginxConfig(files, 18090, [18080, 18081, 18082]);
    for (const port of [18080, 18081, 18082]) {
      assert.ok(conf.includes(`server 127.0.0.1:${port} ${NGINX_SETTINGS.serverParameters};`));
    }
    for (const d of NGINX_SETTINGS.proxyDirectives) assert.ok(conf.includes(`      ${d}`), d);
    assert.match(conf, /keepalive 64;/);
    assert.equal((conf.match(/\{/g) ?? []).length, (conf.match(/\}/g) ?? []).length);
  });

  it("haproxy: checks on every server, retries and the fault timeouts", () => {
    const cfg = chaosHaproxyConfig(18091, [18080, 18081]);
    assert.match(cfg, /server backend1 127\.0\.0\.1:18080 maxconn 8192 check inter 250ms/);
    assert.match(cfg, /server backend2 127\.0\.0\.1:18081 .* on-error mark-down/);
    assert.match(cfg, /timeout connect 250ms/);
    assert.match(cfg, /timeout server 500ms/);
    assert.match(cfg, /timeout check 250ms/);
    assert.doesNotMatch(cfg, /timeout server 30s/);
    for (const d of HAPROXY_SETTINGS.backendDirectives) assert.ok(cfg.includes(`  ${d}\n`), d);
  });

  it("gatehouse: its defaults, then the user's flags", () => {
    assert.deepEqual(gatehouseChaosFlags([]), []);
    assert.deepEqual(gatehouseChaosFlags(["--upstream-timeout", "1s"]), [
      "--upstream-timeout",
      "1s",
    ]);
    assert.match(settingsLines("gatehouse-bin", [])[0], /^gatehouse --route \/:bench$/);
    assert.match(
      settingsLines("gatehouse-bin", ["--stall-window", "2s"])[0],
      /^gatehouse --route \/:bench --stall-window 2s$/,
    );
    assert.ok(settingsLines("nginx", []).includes("proxy_read_timeout 500ms;"));
    assert.ok(settingsLines("haproxy", []).includes("retry-on all-retryable-errors"));
  });
});

describe("options", () => {
  it("defaults: 3 runs of 12 s, every fault and proxy", () => {
    const o = parseChaosOptions([], env({}));
    assert.equal(o.runs, 3);
    assert.equal(o.durationS, MIN_DURATION_S);
    assert.equal(o.faultAtS, 3);
    assert.equal(o.warmupS, 2);
    assert.deepEqual(o.faults, [...FAULT_IDS]);
    assert.deepEqual(o.proxies, ["nginx", "haproxy", "gatehouse-bin"]);
    assert.deepEqual(o.gatehouseArgs, []);
  });

  it("--quick, lists in report order, extra Gatehouse flags", () => {
    const o = parseChaosOptions(
      ["--quick"],
      env({
        BENCH_CHAOS_RUNS: "5",
        BENCH_CHAOS_FAULTS: "slow,none",
        BENCH_CHAOS_PROXIES: "gatehouse-bin",
        BENCH_CHAOS_GATEHOUSE_ARGS: " --retries  2 ",
      }),
    );
    assert.equal(o.runs, 1);
    assert.equal(o.durationS, QUICK_DURATION_S);
    assert.deepEqual(o.faults, ["none", "slow"]);
    assert.deepEqual(o.gatehouseArgs, ["--retries", "2"]);
  });

  it("rejects short runs, unknown names and flags", () => {
    assert.throws(() => parseChaosOptions([], env({ BENCH_CHAOS_DURATION: "10" })), RangeError);
    assert.throws(() => parseChaosOptions([], env({ BENCH_CHAOS_FAULTS: "sigterm" })), RangeError);
    assert.throws(() => parseChaosOptions(["--fast"], env({})));
  });
});

describe("report", () => {
  const cells = [
    cell("sigstop", "nginx"),
    cell("sigstop", "gatehouse-bin", {
      completed: 57_798,
      errors: { "504": 50 },
      errorsTotal: 50,
      p99S: 2.85,
      sickShare: 0.333,
      stopAfterS: null,
    }),
  ];
  const results: ChaosResults = {
    machine: { date: "2026-12-04T00:00:00Z", nproc: 2, cpuModel: "cpu", kernel: "6", versions: {} },
    options: {
      ...parseChaosOptions([], env({})),
      faults: ["sigstop"],
      proxies: ["nginx", "gatehouse-bin"],
    },
    settings: { nginx: ["proxy_read_timeout 500ms;"], "gatehouse-bin": ["gatehouse --retries 3"] },
    notes: ["a note"],
    records: [],
    cells,
    goals: goalVerdicts(cells),
  };

  it("formats errors, shares and times to stop", () => {
    assert.equal(formatErrors({ "500": 28187, read: 2 }, 28189), "28,189 (500: 28,187, read: 2)");
    assert.equal(formatErrors({}, 0), "0");
    assert.equal(formatErrors(undefined, undefined), "-");
    assert.equal(formatShare(0.333), "33.3%");
    assert.equal(formatShare(0.0004), "0.04%");
    assert.equal(formatStop(null), "never");
    assert.equal(formatStop(0), "0.00 s");
  });

  it("a row per proxy, failed cells saying why", () => {
    const rows = faultRows(
      [...cells, { ...cell("sigstop", "haproxy"), status: "failed", reason: "x" }],
      "sigstop",
      [
        "nginx",
        "haproxy",
        "gatehouse-bin",
      ],
    );
    assert.deepEqual(rows[2], [
      "gatehouse-bin",
      "57,798",
      "50 (504: 50)",
      "2.85s",
      "4.00ms",
      "33.3%",
      "never",
    ]);
    assert.equal(rows[1][2], "FAILED: x");
  });

  it("the console shows settings, a table per fault and the goals", () => {
    const text = chaosConsole(results);
    assert.match(text, /nginx settings:\n {2}proxy_read_timeout 500ms;/);
    assert.match(text, /SIGSTOP:\nproxy +completed/);
    assert.match(text, /Goals for gatehouse-bin:\n {2}not measured: SIGKILL/);
  });

  it("the section sits between its markers and can replace an older one", () => {
    const section = chaosSection(results, "chaos.svg");
    assert.ok(section.startsWith(`${SECTION_BEGIN}\n`));
    assert.ok(section.trimEnd().endsWith(SECTION_END));
    assert.match(section, /!\[requests completed per fault and proxy\]\(chaos\.svg\)/);
    assert.match(section, /\| gatehouse-bin \| 57,798 \| 50 \(504: 50\) \|/);
    assert.match(section, /- a note/);
    const doc = `# R\n\ntext\n`;
    const once = spliceSection(doc, section);
    assert.equal(once, `# R\n\ntext\n\n${section}`);
    const twice = spliceSection(`${once}\n## After\n`, `${SECTION_BEGIN}\nnew\n${SECTION_END}\n`);
    assert.equal(twice, `# R\n\ntext\n\n${SECTION_BEGIN}\nnew\n${SECTION_END}\n\n## After\n`);
    assert.equal(sectionOf(twice), `${SECTION_BEGIN}\nnew\n${SECTION_END}\n`);
    assert.equal(sectionOf(doc), undefined);
  });

  it("the chart: a panel per fault, completed requests per proxy, errors under the bars", () => {
    const chart = chaosChart(results);
    assert.deepEqual(chart.series.map((s) => s.name), ["nginx", "gatehouse-bin"]);
    assert.deepEqual(chart.panels[0].values, [1000, 57_798]);
    assert.deepEqual(chart.panels[0].annotations, ["0 errors", "50 errors"]);
  });

  it("tables: aligned text and Markdown", () => {
    assert.equal(
      alignedTable(["a", "n"], [["xy", "1"], ["z", "22"]], new Set([1])),
      "a    n\n--  --\nxy   1\nz   22",
    );
    assert.equal(markdownTable(["a|b"], [["c"]], new Set()), "| a\\|b |\n| --- |\n| c |");
  });
});
