/**
 * The exposition formats: Prometheus text 0.0.4 and OpenMetrics 1.0, which
 * one an Accept header gets, and the escaping of help texts and labels.
 */

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { formatNumber, negotiate, render } from "../../src/metrics/exposition.ts";
import { escapeLabel, family, labels } from "../../src/metrics/snapshot.ts";
import { CATALOG, type FamilySpec } from "../../src/metrics/catalog.ts";

const prometheusAccept = "application/openmetrics-text;version=1.0.0," +
  "application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

describe("negotiate", () => {
  it("gives OpenMetrics to a scraper that prefers it (Prometheus's own Accept)", () => {
    assert.equal(negotiate(prometheusAccept), "openmetrics");
    assert.equal(negotiate("application/openmetrics-text"), "openmetrics");
  });

  it("gives the text format otherwise", () => {
    assert.equal(negotiate(undefined), "text");
    assert.equal(negotiate("*/*"), "text");
    assert.equal(negotiate("text/plain;version=0.0.4"), "text");
    // Listed, but less wanted than the text format.
    assert.equal(
      negotiate("application/openmetrics-text;q=0.3,text/plain;version=0.0.4;q=0.9"),
      "text",
    );
    assert.equal(negotiate("application/openmetrics-text;q=0"), "text");
  });
});

describe("render", () => {
  const retries = family(CATALOG.retries);
  retries.samples.set(labels(["service", "web"]), 2);
  retries.samples.set(labels(["service", "api"]), 5);
  const clients = family(CATALOG.clientConnections);
  clients.samples.set("", 3);

  it("writes counters with _total in the text format, sorted by labels", () => {
    const text = render([retries, clients], "text");
    assert.equal(
      text,
      `# HELP gatehouse_retries_total ${CATALOG.retries.help}\n` +
        "# TYPE gatehouse_retries_total counter\n" +
        'gatehouse_retries_total{service="api"} 5\n' +
        'gatehouse_retries_total{service="web"} 2\n' +
        `# HELP gatehouse_client_connections ${CATALOG.clientConnections.help}\n` +
        "# TYPE gatehouse_client_connections gauge\n" +
        "gatehouse_client_connections 3\n",
    );
    assert.ok(!text.includes("# EOF"));
  });

  it("names a counter's family without _total in OpenMetrics, its samples with, and ends in # EOF", () => {
    const text = render([retries], "openmetrics");
    assert.match(text, /^# HELP gatehouse_retries /m);
    assert.match(text, /^# TYPE gatehouse_retries counter$/m);
    assert.match(text, /^gatehouse_retries_total\{service="api"\} 5$/m);
    assert.ok(text.endsWith("# EOF\n"));
  });

  it("writes a histogram cumulatively, with +Inf, sum and count, and a unit in OpenMetrics", () => {
    const spec: FamilySpec = { ...CATALOG.requestDuration, buckets: [0.01, 1] };
    const h = family(spec);
    h.samples.set(labels(["service", "api"]), { counts: [2, 1, 1], sum: 3.5, count: 4 });
    const text = render([h], "text");
    assert.match(text, /^gatehouse_request_duration_seconds_bucket\{service="api",le="0.01"\} 2$/m);
    assert.match(text, /^gatehouse_request_duration_seconds_bucket\{service="api",le="1"\} 3$/m);
    assert.match(
      text,
      /^gatehouse_request_duration_seconds_bucket\{service="api",le="\+Inf"\} 4$/m,
    );
    assert.match(text, /^gatehouse_request_duration_seconds_sum\{service="api"\} 3.5$/m);
    assert.match(text, /^gatehouse_request_duration_seconds_count\{service="api"\} 4$/m);
    assert.ok(!text.includes("# UNIT"));
    const om = render([h], "openmetrics");
    assert.match(om, /^# UNIT gatehouse_request_duration_seconds seconds$/m);
    // OpenMetrics' canonical float for a whole bound.
    assert.match(om, /le="1.0"\} 3$/m);
  });

  it("escapes label values, and help texts as each format wants", () => {
    assert.equal(escapeLabel('a\\b"c\nd'), 'a\\\\b\\"c\\nd');
    const folded = family(CATALOG.folded);
    folded.samples.set(labels(["label", 'x"y']), 1);
    const text = render([folded], "text");
    assert.match(text, /gatehouse_metrics_folded_total\{label="x\\"y"\} 1/);
    // The help text says "other" in quotes: kept in the text format, escaped in OpenMetrics.
    assert.match(text, /^# HELP gatehouse_metrics_folded_total .*"other"/m);
    assert.match(
      render([folded], "openmetrics"),
      /^# HELP gatehouse_metrics_folded .*\\"other\\"/m,
    );
  });

  it("writes numbers as Go does", () => {
    assert.equal(formatNumber(NaN), "NaN");
    assert.equal(formatNumber(-Infinity), "-Inf");
    assert.equal(formatNumber(1e21), "1e+21");
    assert.equal(formatNumber(42), "42");
  });
});
